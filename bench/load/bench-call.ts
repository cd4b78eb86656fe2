import WebSocket from "ws";
import { FRAME_MS } from "./audio.ts";
import type { CallResult } from "./protocol.ts";
import { Samples } from "./stats.ts";

/** Send times kept per call; far more than can be in flight between the bridge and the fake. */
const RING = 1 << 13;
const RING_MASK = RING - 1;
const UTF8_M = 0x6d;
const UTF8_E = 0x65;

/** Latencies of the measured window, shared by every call of the run. */
export class RunStats {
  readonly inbound = new Samples();
  readonly outbound = new Samples();
  readonly sendLag = new Samples();
  windowOpen = false;
  /** Frames sent (or deltas sent) inside the window are the only ones whose latency counts. */
  windowStartedAt = Number.POSITIVE_INFINITY;
  windowEndedAt = Number.POSITIVE_INFINITY;

  inWindow(t: number): boolean {
    return t >= this.windowStartedAt && t < this.windowEndedAt;
  }
}

export interface CallPlan {
  turnPeriodMs: number;
  toneMs: number;
  /** Everything a turn needs after its start: tone, end-of-turn silence, answer, margin. */
  turnSpanMs: number;
  payloads: { tone: string; silence: string };
}

/**
 * One simulated Twilio media stream: a lighter twin of test/support/twilio-simulator.ts. It never
 * decodes what the bridge sends, only counts media frames and echoes marks once the audio before
 * them would have played, as Twilio does (an unanswered mark would look like a barge-in).
 */
export class BenchCall {
  readonly streamSid: string;
  readonly callSid: string;
  private ws: WebSocket | null = null;
  private sequence = 0;
  startedAt = 0;
  nextDue = Number.POSITIVE_INFINITY;
  nextTurnAt = Number.POSITIVE_INFINITY;
  private toneUntil = 0;
  /** No turn may start unless it ends by then (set once the run's end is known). */
  endAt = Number.POSITIVE_INFINITY;
  active = false;

  framesSent = 0;
  private readonly sentAt = new Float64Array(RING);
  appendsReceived = 0;
  modelOpenAt: number | null = null;
  /** The output format the bridge's session.update asked the model for (set by the fake). */
  modelOutputFormat: string | null = null;
  framesBeforeModelOpen = 0;

  answers = 0;
  outboundExpected = 0;
  outboundReceived = 0;
  private pendingFrame: number[] = [];
  private pendingSentAt: number[] = [];
  private pendingHead = 0;
  private playheadEnd = 0;
  private markNames: string[] = [];
  private markDue: number[] = [];
  private markHead = 0;
  clears = 0;
  truncates = 0;
  failure: string | null = null;
  private hangingUp = false;
  private closedResolve: (() => void) | null = null;
  readonly closed: Promise<void>;

  constructor(
    readonly index: number,
    idPrefix: string,
    private readonly plan: CallPlan,
    private readonly stats: RunStats,
  ) {
    const id = String(index).padStart(5, "0");
    this.streamSid = `MZ${idPrefix}${id}`;
    this.callSid = `CA${idPrefix}${id}`;
    this.closed = new Promise((resolve) => {
      this.closedResolve = resolve;
    });
  }

  /** Opens the media stream and sends connected + start; frames begin within one frame. */
  async connect(url: string, timeoutMs: number): Promise<void> {
    const ws = new WebSocket(url, { perMessageDeflate: false, skipUTF8Validation: true });
    this.ws = ws;
    ws.on("close", (code) => {
      this.active = false;
      if (!this.hangingUp && this.failure === null) this.failure = `closed by server (${code})`;
      this.closedResolve?.();
    });
    ws.on("message", (data: Buffer, isBinary: boolean) => {
      if (!isBinary) this.onServerMessage(data);
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("connect timed out")), timeoutMs);
      ws.once("open", () => {
        clearTimeout(timer);
        resolve();
      });
      ws.once("error", (error) => {
        clearTimeout(timer);
        reject(error);
      });
    }).catch((error: unknown) => {
      this.failure = `connect: ${error instanceof Error ? error.message : String(error)}`;
      ws.terminate();
      throw error;
    });
    ws.on("error", () => {
      // A socket error always ends in 'close', which records the failure.
    });
    ws.send('{"event":"connected","protocol":"Call","version":"1.0.0"}');
    ws.send(
      JSON.stringify({
        event: "start",
        sequenceNumber: String(++this.sequence),
        start: {
          accountSid: "ACbench",
          streamSid: this.streamSid,
          callSid: this.callSid,
          tracks: ["inbound"],
          customParameters: { caller: "+15550100000", callSid: this.callSid },
          mediaFormat: { encoding: "audio/x-mulaw", sampleRate: 8000, channels: 1 },
        },
        streamSid: this.streamSid,
      }),
    );
    const now = performance.now();
    this.startedAt = now;
    this.active = true;
    // Each call has its own phase within the 20 ms frame period.
    this.nextDue = now + Math.random() * FRAME_MS;
    this.nextTurnAt = now + 500 + Math.random() * this.plan.turnPeriodMs;
  }

  /** Called by the shared timer: sends every frame that is due, and every mark that played. */
  tick(now: number): void {
    if (!this.active) return;
    const ws = this.ws!;
    while (this.nextDue <= now) {
      const due = this.nextDue;
      if (due >= this.nextTurnAt) {
        if (this.nextTurnAt + this.plan.turnSpanMs <= this.endAt) {
          this.toneUntil = this.nextTurnAt + this.plan.toneMs;
        }
        this.nextTurnAt += this.plan.turnPeriodMs;
      }
      const payload = due < this.toneUntil ? this.plan.payloads.tone : this.plan.payloads.silence;
      const n = this.framesSent++;
      const seq = ++this.sequence;
      const timestamp = n * FRAME_MS;
      const sentAt = performance.now();
      ws.send(
        `{"event":"media","sequenceNumber":"${seq}","media":{"track":"inbound","chunk":"${n + 1}","timestamp":"${timestamp}","payload":"${payload}"},"streamSid":"${this.streamSid}"}`,
      );
      this.sentAt[n & RING_MASK] = sentAt;
      if (this.modelOpenAt === null) this.framesBeforeModelOpen++;
      if (this.stats.windowOpen) this.stats.sendLag.add(sentAt - due);
      this.nextDue = due + FRAME_MS;
    }
    while (this.markHead < this.markNames.length && this.markDue[this.markHead]! <= now) {
      const name = this.markNames[this.markHead++]!;
      ws.send(
        `{"event":"mark","sequenceNumber":"${++this.sequence}","streamSid":"${this.streamSid}","mark":{"name":${JSON.stringify(name)}}}`,
      );
    }
    if (this.markHead > 256) {
      this.markNames = this.markNames.slice(this.markHead);
      this.markDue = this.markDue.slice(this.markHead);
      this.markHead = 0;
    }
  }

  /** The fake received the bridge's next append: one per inbound frame, in order. */
  appendReceived(now: number): void {
    const n = this.appendsReceived++;
    if (n < this.framesSent) {
      const sentAt = this.sentAt[n & RING_MASK]!;
      if (this.stats.inWindow(sentAt)) this.stats.inbound.add(now - sentAt);
    }
  }

  /** The fake is starting an answer; its frames follow everything already expected. */
  answerStarted(framesPerAnswer: number): number {
    const base = this.outboundExpected;
    this.outboundExpected += framesPerAnswer;
    this.answers++;
    return base;
  }

  /** The fake sent a delta whose first frame is `frameIndex` of this call's outbound stream. */
  deltaSent(frameIndex: number, at: number): void {
    this.pendingFrame.push(frameIndex);
    this.pendingSentAt.push(at);
  }

  async hangUp(): Promise<void> {
    this.hangingUp = true;
    this.active = false;
    const ws = this.ws;
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(
        `{"event":"stop","sequenceNumber":"${++this.sequence}","streamSid":"${this.streamSid}","stop":{"accountSid":"ACbench","callSid":"${this.callSid}"}}`,
      );
      ws.close(1000, "call ended");
    } else if (ws) {
      ws.terminate();
    }
    if (ws) await this.closed;
  }

  result(): CallResult {
    return {
      streamSid: this.streamSid,
      framesSent: this.framesSent,
      framesBeforeModelOpen: this.framesBeforeModelOpen,
      appendsReceived: this.appendsReceived,
      modelConnectMs: this.modelOpenAt === null ? null : this.modelOpenAt - this.startedAt,
      modelOutputFormat: this.modelOutputFormat,
      answers: this.answers,
      outboundExpected: this.outboundExpected,
      outboundReceived: this.outboundReceived,
      clears: this.clears,
      truncates: this.truncates,
      failure: this.failure,
    };
  }

  private onServerMessage(data: Buffer): void {
    const now = performance.now();
    // `{"event":"media"` — the bridge writes these by hand, so the shape is fixed; no JSON.parse.
    if (data[10] === UTF8_M && data[11] === UTF8_E) {
      this.mediaReceived(now);
      return;
    }
    let message: { event?: unknown; mark?: { name?: unknown } };
    try {
      message = JSON.parse(data.toString()) as typeof message;
    } catch {
      this.failure ??= "bridge sent invalid JSON";
      return;
    }
    if (message.event === "mark" && typeof message.mark?.name === "string") {
      this.markNames.push(message.mark.name);
      this.markDue.push(Math.max(now, this.playheadEnd));
    } else if (message.event === "clear") {
      this.clears++;
      this.playheadEnd = now;
      for (let i = this.markHead; i < this.markDue.length; i++) this.markDue[i] = now;
    }
  }

  private mediaReceived(now: number): void {
    const n = this.outboundReceived++;
    this.playheadEnd = Math.max(now, this.playheadEnd) + FRAME_MS;
    while (this.pendingHead < this.pendingFrame.length) {
      const frame = this.pendingFrame[this.pendingHead]!;
      if (frame > n) break;
      const sentAt = this.pendingSentAt[this.pendingHead]!;
      this.pendingHead++;
      if (frame === n && this.stats.inWindow(sentAt)) this.stats.outbound.add(now - sentAt);
    }
    if (this.pendingHead > 256) {
      this.pendingFrame = this.pendingFrame.slice(this.pendingHead);
      this.pendingSentAt = this.pendingSentAt.slice(this.pendingHead);
      this.pendingHead = 0;
    }
  }
}
