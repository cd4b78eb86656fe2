import { describe, expect, it } from "vitest";
import { ConversationMixer } from "../../src/application/bridge/conversation-mixer.ts";
import type { RecordingSpec, RecordingWriter } from "../../src/application/ports/index.ts";
import { encodeMuLaw, Resampler } from "../../src/domain/audio/index.ts";

/** Keeps a copy of everything appended, as the file writer does. */
class CapturingWriter implements RecordingWriter {
  readonly spec = { sampleRate: 16000, channels: 2 } as unknown as RecordingSpec;
  readonly chunks: number[] = [];
  bytesWritten = 0;
  append(samples: Int16Array): void {
    this.chunks.push(...samples);
    this.bytesWritten += samples.length * 2;
  }
  finalize(): never {
    throw new Error("not used");
  }
}

function signal(seed: number, length: number): Int16Array {
  const out = new Int16Array(length);
  let state = seed;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    out[i] = (state >>> 16) - 32768;
  }
  return out;
}

interface Script {
  caller: Int16Array[];
  /** Assistant frames sent before each caller chunk. */
  assistant: Uint8Array[][];
}

function scriptOf(seed: number, sizes: number[]): Script {
  return {
    caller: sizes.map((n, i) => signal(seed + i, n)),
    assistant: sizes.map((_, i) => (i % 3 === 0 ? [encodeMuLaw(signal(seed * 7 + i, 160))] : [])),
  };
}

/** A mixer fed as the caller stage feeds it: the caller track's 8 → 16 kHz resampling. */
function mixerFor() {
  const stereo = new CapturingWriter();
  const caller: number[] = [];
  const up = new Resampler(8000, 16000);
  const mixer = new ConversationMixer(stereo);
  const finish = () => {
    const tail = up.flush();
    caller.push(...tail);
    mixer.finish(tail);
  };
  return { mixer, stereo, caller, up, finish };
}

function step(m: ReturnType<typeof mixerFor>, script: Script, i: number): void {
  for (const frame of script.assistant[i]!) m.mixer.assistantFrameSent(frame);
  const chunk = script.caller[i]!;
  const caller16k = new Int16Array(m.up.maxOutputLength(chunk.length));
  const c = m.up.processInto(chunk, caller16k);
  m.caller.push(...caller16k.subarray(0, c));
  m.mixer.callerChunk(caller16k.subarray(0, c), chunk.length);
}

describe("ConversationMixer", () => {
  it("gives each call the same recording whether calls are mixed alone or interleaved", () => {
    // Call b sends a chunk larger than Twilio's frame halfway, which grows the shared buffers.
    const a = scriptOf(
      1,
      Array.from({ length: 40 }, () => 160),
    );
    const b = scriptOf(
      2,
      Array.from({ length: 40 }, (_, i) => (i === 20 ? 3000 : 160)),
    );
    const alone = [a, b].map((script) => {
      const m = mixerFor();
      for (let i = 0; i < script.caller.length; i++) step(m, script, i);
      m.finish();
      return m;
    });
    const together = [mixerFor(), mixerFor()];
    for (let i = 0; i < 40; i++) {
      step(together[0]!, a, i);
      step(together[1]!, b, i);
    }
    for (const m of together) m.finish();
    for (const k of [0, 1]) {
      expect(together[k]!.stereo.chunks.length).toBeGreaterThan(0);
      expect(together[k]!.stereo.chunks).toEqual(alone[k]!.stereo.chunks);
      expect(together[k]!.caller).toEqual(alone[k]!.caller);
    }
    expect(together[0]!.stereo.chunks).not.toEqual(together[1]!.stereo.chunks);
  });
});
