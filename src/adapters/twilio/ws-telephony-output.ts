import type { WebSocket } from "ws";
import type { TelephonyOutput } from "../../application/ports/index.ts";
import { audioFrame, type FrameSocket } from "../ws/audio-frame.ts";
import { audioMessage } from "../ws/audio-message.ts";

const MEDIA_SUFFIX = Buffer.from('"}}', "latin1");
const TEXT = { binary: false } as const;

/**
 * The TCP socket under a WebSocket: writes made while it is corked go out in one, and whole
 * frames may be written to it.
 */
export interface Corkable extends FrameSocket {
  cork(): void;
  uncork(): void;
}

/**
 * Twilio-bound messages on the media-stream socket. The JSON is assembled by hand: the only
 * variable parts are a validated streamSid, base64 and our own mark names, none of which
 * needs escaping, and this runs for every 20 ms of assistant audio.
 */
export class WsTelephonyOutput implements TelephonyOutput {
  private mediaPrefix = Buffer.alloc(0);
  private streamSid = "";
  private corked = false;
  private readonly uncork = () => {
    this.corked = false;
    this.transport?.uncork();
  };

  /**
   * @param transport the TCP socket under `socket`. One assistant delta becomes several 20 ms
   * frames and a mark, sent in one turn of the event loop: corked until the turn ends, they
   * leave in one system call instead of one each.
   */
  constructor(
    private readonly socket: WebSocket,
    private readonly transport: Corkable | null = null,
  ) {}

  /** Set once the `start` frame has told us the stream. */
  bind(streamSid: string): void {
    this.streamSid = streamSid;
    this.mediaPrefix = Buffer.from(
      `{"event":"media","streamSid":"${streamSid}","media":{"payload":"`,
      "latin1",
    );
  }

  sendAudio(mulaw: Uint8Array): void {
    if (!this.isOpen()) return;
    const transport = this.transport;
    if (transport?.writable) {
      // A whole server frame (unmasked), straight to the socket: ws's own frames are whole
      // writes to it as well, so the two never interleave.
      this.corkTurn(transport);
      transport.write(audioFrame(this.mediaPrefix, mulaw, MEDIA_SUFFIX, false));
      return;
    }
    this.send(audioMessage(this.mediaPrefix, mulaw, MEDIA_SUFFIX));
  }

  sendMark(name: string): void {
    if (!this.isOpen()) return;
    this.send(
      `{"event":"mark","streamSid":"${this.streamSid}","mark":{"name":${JSON.stringify(name)}}}`,
    );
  }

  sendClear(): void {
    if (!this.isOpen()) return;
    this.send(`{"event":"clear","streamSid":"${this.streamSid}"}`);
  }

  get backlogBytes(): number {
    return this.socket.bufferedAmount;
  }

  close(): void {
    if (this.isOpen()) this.socket.close(1000, "call ended");
  }

  private send(message: string | Buffer): void {
    if (this.transport !== null) this.corkTurn(this.transport);
    this.socket.send(message, TEXT);
  }

  /** Corks the socket until the end of this turn of the event loop, once per turn. */
  private corkTurn(transport: Corkable): void {
    if (this.corked) return;
    this.corked = true;
    transport.cork();
    // Microtasks run once the current socket event has been handled: the end of the burst.
    queueMicrotask(this.uncork);
  }

  private isOpen(): boolean {
    return this.socket.readyState === 1;
  }
}
