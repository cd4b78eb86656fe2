import type { JsonObject } from "../../domain/analytics.ts";
import type { CallFacts } from "../../domain/call-review.ts";
import { describeError } from "../../domain/errors.ts";
import type { ActiveCall, CallOutcome } from "../active-call.ts";
import { endReasonOf } from "../end-reason.ts";
import type {
  FunctionCall,
  Logger,
  MediaStreamSession,
  ModelCloseKind,
  RealtimeListener,
  ResponseOutcome,
  StartCallInput,
  StopReason,
} from "../ports/index.ts";
import {
  END_CALL_ACCEPTED,
  END_CALL_TOOL,
  endCallReason,
  functionCallError,
} from "./assistant-hang-up.ts";
import { type CallSessionDeps, createStages, type Stages } from "./call-stages.ts";

export type { CallSessionDeps } from "./call-stages.ts";

type SessionState = "new" | "live" | "ending" | "ended";

const monotonicSeconds = () => performance.now() / 1000;
const DEFAULT_MODEL_DRAIN_MS = 3000;

/**
 * One media stream's call: the state machine (new → live → ending → ended) and the model's
 * events handed to the stage that owns them. One instance per connection.
 */
export class CallSession implements MediaStreamSession, RealtimeListener {
  private state: SessionState = "new";
  private log: Logger;
  private stages: Stages | null = null;
  private stopping: Promise<void> | null = null;
  private maxDurationTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly now: () => number;

  constructor(private readonly deps: CallSessionDeps) {
    this.log = deps.logger;
    this.now = deps.now ?? monotonicSeconds;
  }

  start(input: StartCallInput): Promise<void> {
    if (this.state !== "new") throw new Error("a media stream can start only once");
    const { deps } = this;
    this.log = deps.logger.child({ streamSid: input.streamSid, callSid: input.callSid ?? null });
    // Throws at once for a live or ended stream, before this session touches any call. The
    // call is live from here: frames that come while its row is written are recorded, and the
    // model connects in parallel, so no first words are lost.
    let call: ActiveCall;
    try {
      call = deps.callManager.startCall(input, { hangUp: (reason) => this.hangUp(reason) });
    } catch (error) {
      this.state = "ended";
      throw error;
    }
    this.state = "live";
    this.stages = createStages(call, this.deps, this, this.log, () => {
      void this.hangUp("assistant_ended");
    });
    this.stages.model.connect();
    return this.started(this.stages);
  }

  private async started(stages: Stages): Promise<void> {
    try {
      await stages.call.stored;
    } catch (error) {
      this.state = "ended";
      stages.model.close();
      throw error;
    }
    if (this.state !== "live") return;
    this.log.info({ recordOnly: stages.model.isRecordOnly }, "call started");
    this.maxDurationTimer = setTimeout(() => {
      this.log.warn({ maxCallSeconds: this.deps.maxCallSeconds }, "call reached MAX_CALL_SECONDS");
      void this.hangUp("max_duration");
    }, this.deps.maxCallSeconds * 1000);
    this.maxDurationTimer.unref?.();
    stages.telemetry.startSnapshots();
    stages.caller.start();
  }

  callerAudio(mulaw: Uint8Array, timestampMs: number | null): void {
    if (this.state !== "live") return;
    const started = this.now();
    this.deps.metrics.frameIn();
    this.stages!.caller.frame(mulaw, started * 1000, timestampMs);
    this.deps.metrics.frameProcessed(this.now() - started);
  }

  mark(name: string): void {
    const stages = this.stages;
    if (!stages) return;
    stages.assistant.mark(name);
    stages.assistantHangUp.playbackChanged();
  }

  dtmf(digit: string): void {
    if (this.state !== "live") return;
    const { telemetry, timeline } = this.stages!;
    telemetry.dtmf(digit, timeline.ms);
  }

  /**
   * `stop` from Twilio, a closed socket, shutdown, the duration limit, or the assistant hanging
   * up (its last words played).
   */
  stop(reason: StopReason, outcome: CallOutcome = "completed"): Promise<void> {
    this.stopping ??= this.end(reason, outcome);
    return this.stopping;
  }

  /** Closes the stream at once and ends the call (shutdown, duration limit). */
  private hangUp(reason: StopReason): Promise<void> {
    const stopping = this.stop(reason);
    this.deps.output.close();
    return stopping;
  }

  private async end(reason: StopReason, outcome: CallOutcome): Promise<void> {
    const stages = this.stages;
    const wasLive = this.state === "live";
    this.state = "ending";
    if (this.maxDurationTimer) clearTimeout(this.maxDurationTimer);
    // Whoever ended the call first, the assistant's hang-up has nothing left to end.
    stages?.assistantHangUp.cancel();
    stages?.telemetry.stopSnapshots();
    stages?.caller.stop();
    if (!wasLive || !stages) {
      stages?.model.close();
      this.state = "ended";
      return;
    }
    // The call's audio ends now, whatever the model still has to say about it.
    stages.call.audioEnded();
    try {
      stages.caller.finish();
    } catch {
      // The call was ended elsewhere: its recordings are finalized and take nothing more.
    }
    // The caller's last words and an answer still generating arrive while the model drains.
    await stages.model.drain(this.deps.modelDrainMs ?? DEFAULT_MODEL_DRAIN_MS);
    await stages.writes.settled();
    let facts: Partial<CallFacts> = {};
    try {
      facts = await stages.telemetry.storeFinal(reason);
    } catch (error) {
      // The call still ends: its recordings and status matter more than its last figures.
      this.log.error({ err: describeError(error) }, "final analytics could not be stored");
    }
    facts = { ...facts, endReason: endReasonOf(reason, outcome, stages.model.hasFailed) };
    try {
      const call = await stages.call.end(outcome, facts);
      const { interruptions } = stages.telemetry;
      this.log.info({ reason, durationSeconds: call.durationSeconds, interruptions }, "call ended");
    } catch (error) {
      this.log.error({ err: describeError(error), reason }, "call could not be ended cleanly");
    } finally {
      this.state = "ended";
    }
  }

  // ---- RealtimeListener: the model's events, to the stage that owns them -----------------

  onReady(): void {
    this.stages?.model.ready();
  }

  onSpeechStarted(itemId: string | null, audioStartMs: number): void {
    this.stages?.caller.speechActive(true);
    const { model, transcripts, assistant, telemetry } = this.stages!;
    if (itemId) transcripts.callerSpeechStarted(itemId, model.toTimeline(audioStartMs));
    // Barge-in: the caller talks over assistant audio that is still playing.
    const cut = assistant.interrupt();
    if (!cut) return;
    if (cut.itemId) {
      model.truncate(cut.itemId, cut.heardMs);
      transcripts.interrupted(cut.itemId, cut.heardMs, cut.generatedMs);
    }
    telemetry.bargeIn();
    this.log.debug({ item: cut.itemId, heardMs: cut.heardMs }, "barge-in");
    // Nothing is left playing: an assistant that has hung up need not wait for it.
    this.stages!.assistantHangUp.playbackChanged();
  }

  onSpeechStopped(): void {
    this.stages?.caller.speechActive(false);
  }

  onAudioDelta(itemId: string, pcm24k: Int16Array): void {
    if (this.state !== "live") return;
    const { assistant, timeline } = this.stages!;
    assistant.delta(itemId, pcm24k, timeline.ms);
  }

  onMuLawDelta(itemId: string, mulaw: Uint8Array): void {
    if (this.state !== "live") return;
    const { assistant, timeline } = this.stages!;
    assistant.muLawDelta(itemId, mulaw, timeline.ms);
  }

  onAudioDone(itemId: string): void {
    this.stages?.assistant.done(itemId);
  }

  onCallerTranscript(itemId: string, text: string, usage: JsonObject | null): void {
    if (this.state !== "live" && this.state !== "ending") return;
    const { telemetry, transcripts } = this.stages!;
    telemetry.callerSaid(text);
    if (usage) telemetry.addTranscriptionUsage(usage);
    transcripts.caller(itemId, text);
  }

  onAssistantTranscript(itemId: string, text: string): void {
    if (this.state !== "live" && this.state !== "ending") return;
    const { assistant, transcripts, telemetry } = this.stages!;
    telemetry.assistantSaid();
    transcripts.assistant(
      itemId,
      text,
      assistant.startOf(itemId),
      assistant.wasInterrupted(itemId),
      assistant.generatedMs(itemId),
    );
  }

  onCallerTranscriptFailed(itemId: string, message: string): void {
    this.deps.metrics.upstreamError("transcription_failed");
    this.log.warn({ item: itemId, message }, "a caller turn could not be transcribed");
    if (this.state !== "live" && this.state !== "ending") return;
    this.stages!.transcripts.callerFailed(itemId);
  }

  onResponseDone(outcome: ResponseOutcome): void {
    if (!this.stages) return;
    this.stages.assistantHangUp.responseDone();
    if (outcome.status === "completed") return;
    const { telemetry, transcripts } = this.stages;
    if (outcome.status === "failed") {
      // Rate limits, quota, server errors: the caller hears nothing, so say why.
      this.deps.metrics.upstreamError("response_failed");
      this.log.error({ code: outcome.errorCode }, "the assistant's response failed");
      telemetry.responseFailed(outcome.errorCode);
    }
    // Cancelled or cut short: what was stored of those answers was not all said.
    for (const itemId of outcome.itemIds) transcripts.cut(itemId);
  }

  onUsage(usage: JsonObject): void {
    this.stages?.telemetry.addUsage(usage);
  }

  onFunctionCall(call: FunctionCall): void {
    const stages = this.stages;
    if (!stages) return;
    const { model, assistantHangUp } = stages;
    if (call.name === END_CALL_TOOL.name && this.deps.assistantHangUp) {
      // Once the call is ending there is no connection left to answer on (it drains).
      if (this.state !== "live") return;
      const reason = endCallReason(call.arguments);
      // Answered at once: the model is told before its socket closes, whatever the wait.
      model.answerFunctionCall(call.callId, END_CALL_ACCEPTED);
      if (assistantHangUp.requested) return;
      this.log.info({ reason }, "the assistant is hanging up");
      stages.telemetry.assistantHungUp(reason);
      assistantHangUp.request(reason);
      return;
    }
    // The session declares only the tools it has: another name is the model's invention (its
    // text, so only so much of it goes into the log and the answer).
    const name = call.name.slice(0, 64);
    this.deps.metrics.upstreamError("unknown_function");
    this.log.warn({ name }, "the assistant called a function it does not have");
    model.answerFunctionCall(call.callId, functionCallError(`there is no function ${name}`));
  }

  onError(kind: string, message: string): void {
    this.deps.metrics.upstreamError(kind);
    this.log.warn({ kind, message }, "assistant model reported an error");
  }

  onClosed(kind: ModelCloseKind, message: string): void {
    this.stages?.model.closed(kind, message, this.state === "live");
  }
}
