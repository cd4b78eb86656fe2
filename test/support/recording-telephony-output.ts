import type { TelephonyOutput } from "../../src/application/ports/index.ts";

/** One message sent towards Twilio, in the order sent. */
export type TelephonyMessage =
  | { type: "audio"; bytes: Uint8Array }
  | { type: "mark"; name: string }
  | { type: "clear" };

/**
 * TelephonyOutput that keeps every message it is given. Like WsTelephonyOutput, once closed it
 * sends nothing more: later messages are dropped (and counted, so a test can see that a session
 * kept talking to a closed socket).
 */
export class RecordingTelephonyOutput implements TelephonyOutput {
  readonly messages: TelephonyMessage[] = [];
  /** Bytes the socket has not sent yet; set it to make the session see backpressure. */
  backlogBytes = 0;
  closed = false;
  /** close() calls, the first included. */
  closeCalls = 0;
  /** Messages given after close(), which the real output drops too. */
  sentAfterClose = 0;

  sendAudio(mulaw: Uint8Array): void {
    // A copy: the port lets the caller reuse its array once the call returns.
    this.push({ type: "audio", bytes: mulaw.slice() });
  }

  sendMark(name: string): void {
    this.push({ type: "mark", name });
  }

  sendClear(): void {
    this.push({ type: "clear" });
  }

  close(): void {
    this.closeCalls++;
    this.closed = true;
  }

  /** The audio frames sent, in order. */
  frames(): Uint8Array[] {
    return this.messages.flatMap((m) => (m.type === "audio" ? [m.bytes] : []));
  }

  /** Every audio byte sent, in order, as one array. */
  audio(): Uint8Array {
    const frames = this.frames();
    const out = new Uint8Array(frames.reduce((sum, f) => sum + f.byteLength, 0));
    let at = 0;
    for (const frame of frames) {
      out.set(frame, at);
      at += frame.byteLength;
    }
    return out;
  }

  /** The names of the marks sent, in order. */
  marks(): string[] {
    return this.messages.flatMap((m) => (m.type === "mark" ? [m.name] : []));
  }

  get clears(): number {
    return this.messages.filter((m) => m.type === "clear").length;
  }

  /** The messages in a compact form for toEqual: `audio:160`, `mark:cb-1`, `clear`. */
  summary(): string[] {
    return this.messages.map((m) =>
      m.type === "audio"
        ? `audio:${m.bytes.byteLength}`
        : m.type === "mark"
          ? `mark:${m.name}`
          : "clear",
    );
  }

  private push(message: TelephonyMessage): void {
    if (this.closed) {
      this.sentAfterClose++;
      return;
    }
    this.messages.push(message);
  }
}
