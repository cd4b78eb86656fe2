import { z } from "zod";

/**
 * The OpenAI Realtime (GA) server events the bridge acts on, parsed by `type`. Others (rate
 * limits, item bookkeeping, text deltas) are valid but of no use here and are skipped.
 * https://platform.openai.com/docs/api-reference/realtime-server-events
 */
const SessionCreated = z.object({ type: z.literal("session.created") });
const SessionUpdated = z.object({ type: z.literal("session.updated") });

const SpeechStarted = z.object({
  type: z.literal("input_audio_buffer.speech_started"),
  audio_start_ms: z.number().nonnegative(),
  item_id: z.string().nullish(),
});

const SpeechStopped = z.object({
  type: z.literal("input_audio_buffer.speech_stopped"),
  audio_end_ms: z.number().nonnegative(),
  item_id: z.string().nullish(),
});

const Usage = z.record(z.string(), z.unknown());

const CallerTranscript = z.object({
  type: z.literal("conversation.item.input_audio_transcription.completed"),
  item_id: z.string(),
  transcript: z.string(),
  // Transcription is billed apart from the model (openai-node: `usage` is TranscriptTextUsageTokens
  // or TranscriptTextUsageDuration).
  usage: Usage.nullish(),
});

/** openai-node ConversationItemInputAudioTranscriptionFailedEvent: the turn got no text. */
const CallerTranscriptFailed = z.object({
  type: z.literal("conversation.item.input_audio_transcription.failed"),
  item_id: z.string(),
  error: z.object({ code: z.string().nullish(), message: z.string().nullish() }).loose().nullish(),
});

/** A caller turn was committed (by server VAD or by us): its transcription is now pending. */
const Committed = z.object({
  type: z.literal("input_audio_buffer.committed"),
  item_id: z.string(),
});

const ResponseCreated = z.object({
  type: z.literal("response.created"),
  response: z.object({ id: z.string() }).loose(),
});

const AudioDelta = z.object({
  type: z.literal("response.output_audio.delta"),
  item_id: z.string(),
  delta: z.string(),
});

const AudioDone = z.object({
  type: z.literal("response.output_audio.done"),
  item_id: z.string(),
});

const AssistantTranscript = z.object({
  type: z.literal("response.output_audio_transcript.done"),
  item_id: z.string(),
  transcript: z.string(),
});

/**
 * An output item of a response is done (openai-node ResponseOutputItemDoneEvent; its `item` is a
 * ConversationItem). Read for the model's function calls: a `function_call` item
 * (RealtimeConversationItemFunctionCall) carries `name`, `arguments` (JSON text) and `call_id`,
 * and its `status` is `completed` only when the call is whole. That is where openai-agents-js
 * takes a call from (packages/agents-realtime/src/openaiRealtimeBase.ts: `item.type ===
 * 'function_call' && item.status === 'completed'`), not from
 * response.function_call_arguments.done, which openai-node says is "also emitted when a
 * Response is interrupted, incomplete, or cancelled". Every other item type (the assistant's
 * audio messages above all) comes here too and is left alone.
 */
const OutputItemDone = z.object({
  type: z.literal("response.output_item.done"),
  response_id: z.string().nullish(),
  item: z.looseObject({
    type: z.string(),
    id: z.string().nullish(),
    status: z.string().nullish(),
    name: z.string().nullish(),
    call_id: z.string().nullish(),
    arguments: z.string().nullish(),
  }),
});

/**
 * openai-node RealtimeResponse: `status` is completed, cancelled, failed or incomplete, and
 * `status_details` says why (`reason`: turn_detected / client_cancelled for cancelled,
 * max_output_tokens / content_filter for incomplete; `error` for failed).
 */
const ResponseDone = z.object({
  type: z.literal("response.done"),
  response: z.looseObject({
    id: z.string().nullish(),
    status: z.string().nullish(),
    status_details: z
      .object({
        type: z.string().nullish(),
        reason: z.string().nullish(),
        error: z
          .object({ type: z.string().nullish(), code: z.string().nullish() })
          .loose()
          .nullish(),
      })
      .loose()
      .nullish(),
    output: z.array(z.object({ id: z.string().nullish() }).loose()).nullish(),
    usage: Usage.nullish(),
  }),
});

const ErrorEvent = z.object({
  type: z.literal("error"),
  error: z.object({
    type: z.string().nullish(),
    code: z.string().nullish(),
    message: z.string().nullish(),
    /** The client event that caused it, when it was one (e.g. our session.update). */
    event_id: z.string().nullish(),
  }),
});

export const RealtimeServerEvent = z.discriminatedUnion("type", [
  SessionCreated,
  SessionUpdated,
  SpeechStarted,
  SpeechStopped,
  CallerTranscript,
  CallerTranscriptFailed,
  Committed,
  ResponseCreated,
  AudioDelta,
  AudioDone,
  AssistantTranscript,
  OutputItemDone,
  ResponseDone,
  ErrorEvent,
]);
export type RealtimeServerEvent = z.infer<typeof RealtimeServerEvent>;

const HANDLED: ReadonlySet<string> = new Set<string>(
  RealtimeServerEvent.options.map((o) => o.shape.type.value),
);

export type ParsedServerEvent =
  | { ok: true; event: RealtimeServerEvent }
  | { ok: false; kind: "malformed_event" | "invalid_event"; message: string }
  | { ok: "ignored" };

export function parseServerEvent(text: string): ParsedServerEvent {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, kind: "malformed_event", message: "event is not JSON" };
  }
  const type =
    typeof json === "object" && json !== null && "type" in json && typeof json.type === "string"
      ? json.type
      : null;
  if (type === null) return { ok: false, kind: "malformed_event", message: "event has no type" };
  if (!HANDLED.has(type)) return { ok: "ignored" };
  // Ten deltas a second while the assistant talks: a plain one is taken as the schema would
  // give it (its three fields), without zod; any other shape goes through zod below.
  if (type === "response.output_audio.delta") {
    const { item_id, delta } = json as { item_id?: unknown; delta?: unknown };
    if (typeof item_id === "string" && typeof delta === "string") {
      return { ok: true, event: { type, item_id, delta } };
    }
  }
  const parsed = RealtimeServerEvent.safeParse(json);
  if (parsed.success) return { ok: true, event: parsed.data };
  const issue = parsed.error.issues[0];
  return {
    ok: false,
    kind: "invalid_event",
    message: `${type}: ${issue?.path.join(".") || "event"} ${issue?.message ?? "is invalid"}`,
  };
}
