import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { CallOwner } from "../../src/application/active-call.ts";
import { startCall as newCall } from "../../src/domain/call.ts";
import { flush, SessionHarness, START_TIME } from "../support/session-harness.ts";

/** Edges of a call's end that could lose or skew its record; each test pins the behaviour. */

let h: SessionHarness;

beforeEach(() => {
  vi.useFakeTimers({ now: START_TIME });
  h = new SessionHarness();
});

afterEach(() => {
  vi.useRealTimers();
});

describe("edges of a call's end", () => {
  it.each(["createAnalytics", "createOrUpdateMetadata"] as const)(
    "CallSession.stop ends the call even when the final %s write fails",
    async (method) => {
      const s = h.session();
      await s.start();
      s.speech(10);
      h.repository.failNext(method);
      await s.session.stop("stop");

      // A failed last write must not keep the row active and the recordings unfinalized.
      const call = await s.call();
      expect(call.status).toBe("completed");
      expect(h.manager.isCallActive(call.id)).toBe(false);
      expect(h.store.finishedKeys()).toHaveLength(2);
    },
  );

  it("the last frame of an answer is followed by a mark, so it can be acknowledged", async () => {
    // With 100 ms deltas the resampler's tail (14 samples) completes a frame exactly: that
    // frame needs a mark of its own too, not only a padded partial one.
    const s = h.session({ recordConversation: false });
    await s.start();
    s.connection.ready();
    s.answer("out1", 200);
    s.connection.audioDone("out1");
    expect(s.output.summary().at(-1)).toMatch(/^mark:/);
  });

  it("without the stereo mix, a fully acknowledged answer leaves nothing queued for the next", async () => {
    // Without a mark after the last frame, playback.outstandingMs would never return to 0 and
    // the next answer's offset would be placed 20 ms late (recordConversation=false).
    const s = h.session({ recordConversation: false });
    await s.start();
    s.connection.ready();
    for (const item of ["out1", "out2", "out3"]) {
      s.answer(item, 200);
      s.connection.audioDone(item);
      for (const name of s.output.marks()) s.session.mark(name);
      s.silence(50);
    }
    s.answer("out4", 100);
    s.connection.assistantTranscript("out4", "Anything else?");
    await flush();
    // Timeline 3000 ms, every mark acknowledged: it starts at 3000.
    expect(await s.transcripts()).toMatchObject([{ offsetMs: 3000 }]);
  });

  it("CallManager.endAll ends a call whose owner fails to hang up", async () => {
    const failing: CallOwner = { hangUp: () => Promise.reject(new Error("socket gone")) };
    const active = h.manager.startCall({ streamSid: "MZbroken" }, failing);
    await active.stored;
    await h.manager.endAll("shutdown");
    expect((await h.callOf("MZbroken")).status).toBe("completed");
    expect(h.manager.activeCount).toBe(0);
  });

  it("recoverInterruptedCalls counts only the calls it recovered, not live ones", async () => {
    const live = h.manager.startCall({ streamSid: "MZlive" });
    await live.stored;
    await h.repository.createCall(
      newCall({ id: "stale-1", streamSid: "MZgone", startedAt: new Date(START_TIME - 5000) }),
    );
    expect(await h.manager.recoverInterruptedCalls()).toEqual({ calls: 1, recordings: 0 });
  });
});
