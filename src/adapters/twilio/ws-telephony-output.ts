import type { WebSocket } from "ws";
import type { TelephonyOutput } from "../../application/bridge-ports.ts";

/**
 * Twilio-bound messages on the media-stream socket. The JSON is assembled by hand: the only
 * variable parts are a validated streamSid, base64 and our own mark names, none of which
 * needs escaping, and this runs for every 20 ms of assistant audio.
 */
export class WsTelephonyOutput implements TelephonyOutput {
  private prefix = "";
  private streamSid = "";

  constructor(private readonly socket: WebSocket) {}

  /** Set once the `start` frame has told us the stream. */
  bind(streamSid: string): void {
    this.streamSid = streamSid;
    this.prefix = `{"event":"media","streamSid":"${streamSid}","media":{"payload":"`;
  }

  sendAudio(mulaw: Uint8Array): void {
    if (!this.isOpen()) return;
    const payload = Buffer.from(mulaw.buffer, mulaw.byteOffset, mulaw.byteLength).toString(
      "base64",
    );
    this.socket.send(`${this.prefix}${payload}"}}`);
  }

  sendMark(name: string): void {
    if (!this.isOpen()) return;
    this.socket.send(
      `{"event":"mark","streamSid":"${this.streamSid}","mark":{"name":${JSON.stringify(name)}}}`,
    );
  }

  sendClear(): void {
    if (!this.isOpen()) return;
    this.socket.send(`{"event":"clear","streamSid":"${this.streamSid}"}`);
  }

  get backlogBytes(): number {
    return this.socket.bufferedAmount;
  }

  close(): void {
    if (this.isOpen()) this.socket.close(1000, "call ended");
  }

  private isOpen(): boolean {
    return this.socket.readyState === 1;
  }
}
