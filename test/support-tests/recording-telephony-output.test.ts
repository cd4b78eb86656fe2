import { describe, expect, it } from "vitest";
import { RecordingTelephonyOutput } from "../support/recording-telephony-output.ts";

describe("RecordingTelephonyOutput", () => {
  it("keeps every message in order, with copies of the audio", () => {
    const output = new RecordingTelephonyOutput();
    const frame = new Uint8Array(160).fill(0x7f);
    output.sendAudio(frame);
    frame.fill(0x01);
    output.sendAudio(frame);
    output.sendMark("cb-1");
    output.sendClear();
    expect(output.summary()).toEqual(["audio:160", "audio:160", "mark:cb-1", "clear"]);
    expect(output.frames().map((f) => f[0])).toEqual([0x7f, 0x01]);
    expect(output.audio()).toHaveLength(320);
    expect(output.marks()).toEqual(["cb-1"]);
    expect(output.clears).toBe(1);
  });

  it("reports the backlog it is given and sends nothing once closed", () => {
    const output = new RecordingTelephonyOutput();
    output.backlogBytes = 64_000;
    expect(output.backlogBytes).toBe(64_000);
    output.close();
    output.sendMark("late");
    output.sendAudio(new Uint8Array(160));
    expect(output.closed).toBe(true);
    expect(output.messages).toEqual([]);
    expect(output.sentAfterClose).toBe(2);
  });
});
