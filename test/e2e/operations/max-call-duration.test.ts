import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { decodeWav } from "../../../src/domain/audio/index.ts";
import { tone } from "../../support/signals.ts";
import { eventually, startTestServer, type TestServer } from "../../support/test-server.ts";
import { TwilioSimulator } from "../../support/twilio-simulator.ts";

let server: TestServer | null = null;
afterEach(async () => {
  await server?.stop();
  server = null;
});

describe("MAX_CALL_SECONDS", () => {
  it("ends an over-long call: socket closed, call completed at ~1 s, recording finalized", async () => {
    server = await startTestServer({ MAX_CALL_SECONDS: "1" });
    const s = server;
    const sim = await TwilioSimulator.connect({ url: s.mediaStreamUrl });
    // Three seconds in real time: the server must cut it short, the caller never hangs up.
    const playing = sim.play(tone(440, 3000, 8000, 0.3));
    const closed = await sim.finished;
    await playing;

    expect(closed).toEqual({ code: 1000, reason: "call ended" });
    // The simulator stops sending once the socket is closed: well short of 150 frames.
    expect(sim.framesSent).toBeLessThan(150);
    const call = await eventually(
      async () => {
        const found = await s.running.composition.calls.getCallByStreamSid(sim.streamSid);
        return found && found.status !== "active" ? found : undefined;
      },
      10_000,
      "the call to end",
    );
    expect(call.status).toBe("completed");
    expect(call.durationSeconds).toBeGreaterThanOrEqual(1);
    expect(call.durationSeconds).toBeLessThan(3);

    // The status is stored after every recording row, so the rows are all there.
    const recordings = await s.running.composition.calls.getRecordingsByCallId(call.id);
    const recording = recordings.find((r) => r.track === "caller");
    const wav = decodeWav(new Uint8Array(readFileSync(join(s.recordingsDir, recording!.fileKey))));
    expect(wav).toMatchObject({ sampleRate: 16_000, channels: 1 });
    expect(wav.samples.length).toBe(Math.round(recording!.durationSeconds * 16_000));
    // What arrived before the limit, not the three seconds the caller meant to send.
    expect(recording!.durationSeconds).toBeGreaterThan(0.5);
    expect(recording!.durationSeconds).toBeLessThan(3);
    expect(wav.samples.length).toBeLessThanOrEqual(sim.framesSent * 320);
    expect(readdirSync(s.recordingsDir).filter((f) => f.endsWith(".part"))).toEqual([]);
    // The call leaves the live set once its sidecar files are written, just after its status.
    await eventually(
      () => (s.running.composition.callManager.activeCount === 0 ? true : undefined),
      10_000,
      "the call to leave the live set",
    );
  });
});
