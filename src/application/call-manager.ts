import type { JsonObject } from "../domain/analytics.ts";
import { type Call, startCall as newCall } from "../domain/call.ts";
import { conflict } from "../domain/errors.ts";
import { ActiveCall, type CallOwner } from "./active-call.ts";
import { recoverInterruptedCalls } from "./call-recovery.ts";
import { CallStorage, type CallStorageDeps } from "./call-storage.ts";
import type { StartCallInput, StopReason } from "./ports/index.ts";

export type CallManagerDeps = CallStorageDeps;

/** How many ended streamSids are remembered, so that an ended stream cannot start again. */
const RECENTLY_ENDED_LIMIT = 4096;

/**
 * The registry of live calls, and the seed's lifecycle: startCall() hands out an ActiveCall
 * (audio, transcripts, analytics, metadata, end) that is live until its end() completes.
 * Audio is streamed to the RecordingStore as it arrives, so a call's memory does not grow with
 * its length and a crash loses at most the store's buffer.
 */
export class CallManager {
  private readonly live = new Map<string, ActiveCall>();
  private readonly recentlyEnded = new Set<string>();
  private readonly storage: CallStorage;

  constructor(deps: CallManagerDeps) {
    this.storage = new CallStorage(deps);
  }

  get activeCount(): number {
    return this.live.size;
  }

  /** Whether the stream's call is live in this process (its row may not be stored yet). */
  isStreamLive(streamSid: string): boolean {
    return this.live.has(streamSid);
  }

  isCallActive(callId: string): boolean {
    for (const active of this.live.values()) if (active.call.id === callId) return true;
    return false;
  }

  /**
   * Starts a call. A stream that is live or has ended is refused synchronously (this throws
   * `conflict`), so no connection can act on another's call; `stored` settles once it is saved.
   */
  startCall(input: StartCallInput, owner?: CallOwner): ActiveCall {
    const { streamSid } = input;
    if (this.live.has(streamSid) || this.recentlyEnded.has(streamSid)) {
      throw conflict(`stream ${streamSid} has already started`);
    }
    const call = newCall({
      id: this.storage.ids.newId(),
      streamSid,
      caller: input.caller ?? null,
      called: input.called ?? null,
      callSid: input.callSid ?? null,
      startedAt: this.storage.clock.now(),
    });
    const active = new ActiveCall(
      call,
      this.storage,
      (started) => this.persist(started, input),
      (ended) => this.release(ended),
    );
    if (owner) active.setOwner(owner);
    // Registered before the first await: frames that come while the row is written are kept.
    this.live.set(streamSid, active);
    return active;
  }

  /** Hangs up every live call (each through its owner, if it has one) and ends it. */
  async endAll(reason: StopReason = "shutdown"): Promise<void> {
    await Promise.allSettled([...this.live.values()].map((active) => active.hangUp(reason)));
  }

  recoverInterruptedCalls(): Promise<{ calls: number; recordings: number }> {
    return recoverInterruptedCalls(this.storage, (streamSid) => this.live.has(streamSid));
  }

  private async persist(active: ActiveCall, input: StartCallInput): Promise<Call> {
    const { call } = active;
    try {
      const { instanceId } = this.storage;
      await (instanceId === undefined
        ? this.storage.calls.createCall(call)
        : this.storage.calls.createCall(call, instanceId));
    } catch (error) {
      this.live.delete(call.streamSid);
      // The call was never stored: its files would belong to nothing.
      await active.discardRecordings();
      throw error;
    }
    const customData: JsonObject | undefined = input.customParameters
      ? { ...input.customParameters }
      : undefined;
    if (customData || input.metadata) await active.setMetadata({ ...input.metadata, customData });
    this.storage.events?.publish({ type: "call.started", call });
    return call;
  }

  private release(active: ActiveCall): void {
    const { streamSid } = active.call;
    if (this.live.get(streamSid) === active) this.live.delete(streamSid);
    this.recentlyEnded.add(streamSid);
    if (this.recentlyEnded.size > RECENTLY_ENDED_LIMIT) {
      const oldest = this.recentlyEnded.values().next().value;
      if (oldest !== undefined) this.recentlyEnded.delete(oldest);
    }
  }
}
