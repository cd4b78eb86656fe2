import type { AddressInfo } from "node:net";
import { type WebSocket, WebSocketServer } from "ws";
import { decodeMuLawSample } from "../../src/domain/audio/index.ts";
import type { AssistantAnswer, AssistantAnswers } from "./audio.ts";
import type { BenchCall } from "./bench-call.ts";

/**
 * A purpose-built fake of the OpenAI Realtime (GA) server for load runs. It speaks the same
 * protocol as test/support/fake-openai-realtime.ts (session.created / session.updated, server
 * VAD events, caller transcription, response.* with output_audio deltas and usage), but keeps
 * no event log and decodes only a slice of each append for its voice detector, so hundreds of
 * calls fit on one core next to the Twilio side. Like the real API it honours the session's
 * audio formats: `audio/pcmu` input is read as 8 kHz mu-law, and with `audio/pcmu` output the
 * answers are 8 kHz mu-law deltas instead of PCM16 24 kHz.
 */

const APPEND_PREFIX = '{"type":"input_audio_buffer.append","audio":"';
const APPEND_PREFIX_BYTES = Buffer.from(APPEND_PREFIX, "latin1");
/** 640 base64 characters = 480 bytes = 10 ms at 24 kHz: enough for a voice detector. */
const VAD_CHARS = 640;
const VAD_RMS = 500;
const END_OF_TURN_SILENCE_MS = 500;
const TRANSCRIPTION_DELAY_MS = 150;
const RESPONSE_DELAY_MS = 250;

let eventCounter = 0;
const eventId = () => `event_${(++eventCounter).toString(36)}`;

type FormatType = { format?: { type?: unknown } };

function formatTypes(event: { session?: unknown }): { input: unknown; output: unknown } {
  const session = event.session as { audio?: { input?: FormatType; output?: FormatType } };
  return {
    input: session?.audio?.input?.format?.type,
    output: session?.audio?.output?.format?.type,
  };
}

function startsWithAppend(data: Buffer): boolean {
  if (data.length <= APPEND_PREFIX_BYTES.length + 2) return false;
  for (let i = APPEND_PREFIX_BYTES.length - 1; i >= 0; i--) {
    if (data[i] !== APPEND_PREFIX_BYTES[i]) return false;
  }
  return true;
}

interface Answer {
  /** The deltas being sent, in the format the session asked for when the answer began. */
  spec: AssistantAnswer;
  responseId: string;
  itemId: string;
  base: number;
  next: number;
  nextAt: number;
}

class FakeConnection {
  /** Input audio per millisecond, as the bytes of the append: PCM16 24 kHz unless pcmu is asked. */
  private bytesPerMs = 48;
  /** Output audio: PCM16 24 kHz deltas unless the session asked for `audio/pcmu`. */
  private outputMuLaw = false;
  private appendedMs = 0;
  /** Audio appended since the last commit (VAD's or the client's). */
  private uncommittedMs = 0;
  private speaking = false;
  private silentMs = 0;
  private speechItem = "";
  private transcriptAt = Number.POSITIVE_INFINITY;
  private transcriptItem = "";
  private respondAt = Number.POSITIVE_INFINITY;
  private answer: Answer | null = null;
  open = true;

  constructor(
    private readonly fake: LightFakeRealtime,
    private readonly ws: WebSocket,
    readonly call: BenchCall | null,
  ) {
    ws.on("message", (data: Buffer, isBinary: boolean) => {
      if (!isBinary) this.onMessage(data);
    });
    ws.on("close", () => {
      this.open = false;
      fake.closed(this);
    });
    ws.on("error", () => {});
    this.send(
      `{"type":"session.created","event_id":"${eventId()}","session":{"type":"realtime","object":"realtime.session","id":"sess_${eventCounter}","model":"gpt-realtime","output_modalities":["audio"]}}`,
    );
  }

  /** Timed work: the caller transcript, the answer's start, and its deltas at real-time pace. */
  tick(now: number): void {
    if (!this.open) return;
    if (now >= this.transcriptAt) {
      this.transcriptAt = Number.POSITIVE_INFINITY;
      this.send(
        `{"type":"conversation.item.input_audio_transcription.completed","event_id":"${eventId()}","item_id":"${this.transcriptItem}","content_index":0,"transcript":"I would like to know my balance please","usage":{"type":"duration","seconds":2}}`,
      );
    }
    if (now >= this.respondAt) {
      this.respondAt = Number.POSITIVE_INFINITY;
      this.beginAnswer(now);
    }
    const answer = this.answer;
    if (answer === null) return;
    const spec = answer.spec;
    while (answer.next < spec.deltas.length && answer.nextAt <= now) {
      const k = answer.next++;
      this.send(
        `{"type":"response.output_audio.delta","event_id":"${eventId()}","response_id":"${answer.responseId}","item_id":"${answer.itemId}","output_index":0,"content_index":0,"delta":"${spec.deltas[k]}"}`,
      );
      const first = spec.firstFrameOfDelta[k]!;
      if (first >= 0) this.call?.deltaSent(answer.base + first, performance.now());
      answer.nextAt += spec.deltaMs;
    }
    if (answer.next === spec.deltas.length) this.finishAnswer(answer);
  }

  close(): void {
    this.ws.terminate();
  }

  private send(text: string): void {
    if (this.open) this.ws.send(text);
  }

  private onMessage(data: Buffer): void {
    const now = performance.now();
    if (startsWithAppend(data)) {
      this.call?.appendReceived(now);
      this.onAudio(data);
      return;
    }
    let event: { type?: unknown; session?: unknown };
    try {
      event = JSON.parse(data.toString()) as { type?: unknown; session?: unknown };
    } catch {
      this.error("invalid_json", "The client event is not a JSON object with a type.");
      return;
    }
    switch (event.type) {
      case "session.update": {
        if (this.call && this.call.modelOpenAt === null) this.call.modelOpenAt = now;
        // A session.update that names no output format leaves the one in force, as with the
        // real API; an answer already under way keeps the format it began with.
        const { input, output } = formatTypes(event);
        if (input === "audio/pcmu") this.bytesPerMs = 8;
        if (output !== undefined) this.outputMuLaw = output === "audio/pcmu";
        if (this.call && typeof output === "string") this.call.modelOutputFormat = output;
        this.send(
          `{"type":"session.updated","event_id":"${eventId()}","session":{"type":"realtime","object":"realtime.session","output_modalities":["audio"]}}`,
        );
        return;
      }
      case "input_audio_buffer.commit": {
        // As the real API (and test/support/fake-openai-realtime.ts, which cites its sources):
        // under 100 ms is the error input_audio_buffer_commit_empty; otherwise the buffer
        // becomes an item that is transcribed, with no response. The bridge commits at the end
        // of every call; what VAD left there is silence, which transcribes to nothing.
        if (this.uncommittedMs < 100) {
          this.error(
            "input_audio_buffer_commit_empty",
            "Error committing input audio buffer: buffer too small. Expected at least 100ms of audio.",
          );
          return;
        }
        this.uncommittedMs = 0;
        const item = `item_${eventId()}`;
        this.send(
          `{"type":"input_audio_buffer.committed","event_id":"${eventId()}","previous_item_id":null,"item_id":"${item}"}`,
        );
        this.send(
          `{"type":"conversation.item.input_audio_transcription.completed","event_id":"${eventId()}","item_id":"${item}","content_index":0,"transcript":"","usage":{"type":"duration","seconds":0}}`,
        );
        return;
      }
      case "conversation.item.truncate":
        if (this.call) this.call.truncates++;
        this.send(`{"type":"conversation.item.truncated","event_id":"${eventId()}"}`);
        return;
      default:
        this.error("invalid_value", `Unsupported event in the load fake: ${String(event.type)}`);
    }
  }

  private error(code: string, message: string): void {
    this.send(
      JSON.stringify({
        type: "error",
        event_id: eventId(),
        error: { type: "invalid_request_error", code, message, param: null, event_id: null },
      }),
    );
  }

  /** Server VAD, at the granularity of one append (20 ms), on its first 10 ms. */
  private onAudio(data: Buffer): void {
    const audioChars = data.length - APPEND_PREFIX_BYTES.length - 2;
    const appendMs = (audioChars * 0.75) / this.bytesPerMs;
    const atMs = this.appendedMs;
    this.appendedMs += appendMs;
    this.uncommittedMs += appendMs;
    const chars = Math.min(VAD_CHARS, audioChars - (audioChars % 4));
    const scratch = this.fake.vadScratch;
    const text = data.toString("latin1", APPEND_PREFIX_BYTES.length, APPEND_PREFIX.length + chars);
    const bytes = scratch.write(text, "base64");
    let energy = 0;
    let n = 0;
    if (this.bytesPerMs === 8) {
      for (; n < bytes; n++) energy += decodeMuLawSample(scratch[n]!) ** 2;
    } else {
      const pcm = this.fake.vadView;
      for (n = 0; n < bytes >> 1; n++) energy += pcm[n]! * pcm[n]!;
    }
    const loud = n > 0 && energy / n > VAD_RMS * VAD_RMS;
    if (!this.speaking) {
      if (!loud) return;
      this.speaking = true;
      this.silentMs = 0;
      this.speechItem = `item_${eventId()}`;
      this.send(
        `{"type":"input_audio_buffer.speech_started","event_id":"${eventId()}","audio_start_ms":${Math.floor(atMs)},"item_id":"${this.speechItem}"}`,
      );
      return;
    }
    if (loud) {
      this.silentMs = 0;
      return;
    }
    this.silentMs += appendMs;
    if (this.silentMs < END_OF_TURN_SILENCE_MS) return;
    this.speaking = false;
    const item = this.speechItem;
    this.send(
      `{"type":"input_audio_buffer.speech_stopped","event_id":"${eventId()}","audio_end_ms":${Math.floor(atMs + appendMs)},"item_id":"${item}"}`,
    );
    this.send(
      `{"type":"input_audio_buffer.committed","event_id":"${eventId()}","previous_item_id":null,"item_id":"${item}"}`,
    );
    this.uncommittedMs = 0;
    const now = performance.now();
    this.transcriptItem = item;
    this.transcriptAt = now + TRANSCRIPTION_DELAY_MS;
    if (this.answer === null) this.respondAt = now + RESPONSE_DELAY_MS;
  }

  private beginAnswer(now: number): void {
    const spec = this.outputMuLaw ? this.fake.answers.pcmu : this.fake.answers.pcm16;
    const base = this.call ? this.call.answerStarted(spec.framesPerAnswer) : 0;
    const answer: Answer = {
      spec,
      responseId: `resp_${eventId()}`,
      itemId: `item_${eventId()}`,
      base,
      next: 0,
      nextAt: now,
    };
    this.answer = answer;
    this.send(
      `{"type":"response.created","event_id":"${eventId()}","response":{"id":"${answer.responseId}","object":"realtime.response","status":"in_progress","status_details":null,"output":[],"usage":null}}`,
    );
    this.send(
      `{"type":"response.output_item.added","event_id":"${eventId()}","response_id":"${answer.responseId}","output_index":0,"item":{"id":"${answer.itemId}","object":"realtime.item","type":"message","status":"in_progress","role":"assistant","content":[]}}`,
    );
  }

  private finishAnswer(answer: Answer): void {
    this.answer = null;
    const ids = `"response_id":"${answer.responseId}","item_id":"${answer.itemId}","output_index":0,"content_index":0`;
    this.send(`{"type":"response.output_audio.done","event_id":"${eventId()}",${ids}}`);
    this.send(
      `{"type":"response.output_audio_transcript.done","event_id":"${eventId()}",${ids},"transcript":"Your balance is forty two dollars."}`,
    );
    this.send(
      `{"type":"response.done","event_id":"${eventId()}","response":{"id":"${answer.responseId}","object":"realtime.response","status":"completed","status_details":null,"output":[],"usage":{"total_tokens":180,"input_tokens":110,"output_tokens":70,"input_token_details":{"text_tokens":50,"audio_tokens":60,"cached_tokens":0},"output_token_details":{"text_tokens":10,"audio_tokens":60}}}}`,
    );
  }
}

export class LightFakeRealtime {
  readonly vadScratch = Buffer.allocUnsafeSlow(VAD_CHARS);
  readonly vadView = new Int16Array(this.vadScratch.buffer, 0, VAD_CHARS >> 1);
  private readonly wss: WebSocketServer;
  private readonly connections = new Set<FakeConnection>();
  private readonly byCall = new Map<BenchCall, FakeConnection>();
  private claim: { call: BenchCall; resolve: () => void } | null = null;
  private readonly closeWaiters = new Map<BenchCall, () => void>();
  /** Connections that arrived while no call was waiting for one. */
  unclaimed = 0;

  /**
   * What every answer says, in each output format (each connection picks one from its
   * session.update); set by the run before any call starts.
   */
  answers: AssistantAnswers = {
    pcm16: { format: "pcm16", deltas: [], deltaMs: 100, firstFrameOfDelta: [], framesPerAnswer: 0 },
    pcmu: { format: "pcmu", deltas: [], deltaMs: 100, firstFrameOfDelta: [], framesPerAnswer: 0 },
  };

  private constructor(wss: WebSocketServer) {
    this.wss = wss;
    wss.on("connection", (ws) => {
      const claim = this.claim;
      this.claim = null;
      if (claim === null) this.unclaimed++;
      const connection = new FakeConnection(this, ws, claim?.call ?? null);
      this.connections.add(connection);
      if (claim) {
        this.byCall.set(claim.call, connection);
        claim.resolve();
      }
    });
  }

  static async listen(): Promise<LightFakeRealtime> {
    const wss = new WebSocketServer({
      host: "127.0.0.1",
      port: 0,
      perMessageDeflate: false,
      skipUTF8Validation: true,
    });
    await new Promise<void>((resolve, reject) => {
      wss.once("listening", resolve);
      wss.once("error", reject);
    });
    return new LightFakeRealtime(wss);
  }

  get url(): string {
    const { port } = this.wss.address() as AddressInfo;
    return `ws://127.0.0.1:${port}/v1/realtime?model=gpt-realtime`;
  }

  /**
   * The next connection the bridge opens belongs to `call`. The bridge opens its OpenAI socket
   * when it handles a stream's `start`, and calls are started one at a time, so order is identity.
   */
  expect(call: BenchCall, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        if (this.claim?.call === call) this.claim = null;
        resolve(false);
      }, timeoutMs);
      this.claim = {
        call,
        resolve: () => {
          clearTimeout(timer);
          resolve(true);
        },
      };
    });
  }

  tick(now: number): void {
    for (const connection of this.connections) connection.tick(now);
  }

  /** Resolves once the bridge has closed `call`'s model socket (or after `timeoutMs`). */
  whenClosed(call: BenchCall, timeoutMs: number): Promise<boolean> {
    const connection = this.byCall.get(call);
    if (!connection?.open) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.closeWaiters.delete(call);
        resolve(false);
      }, timeoutMs);
      this.closeWaiters.set(call, () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  closed(connection: FakeConnection): void {
    this.connections.delete(connection);
    if (connection.call) {
      const waiter = this.closeWaiters.get(connection.call);
      this.closeWaiters.delete(connection.call);
      waiter?.();
    }
  }

  async close(): Promise<void> {
    for (const connection of this.connections) connection.close();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}
