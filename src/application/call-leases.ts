import { type Call, endCall } from "../domain/call.ts";
import { describeError } from "../domain/errors.ts";
import type {
  CallEventSink,
  CallRepository,
  Clock,
  JobLock,
  Logger,
  OwnedActiveCall,
  RecordingStore,
} from "./ports/index.ts";
import { writeCallSidecars } from "./sidecars.ts";

/**
 * Instances renew this often within their lease: two renewals may fail (a slow database, a long
 * pause) before the lease runs out.
 */
export const RENEWALS_PER_LEASE = 3;

/**
 * The longest time from an instance's death to its calls' `failed` status: its lease runs out at
 * most `leaseMs` after its last renewal, and a sweep comes at most one sweep interval later
 * (the sweep's own queries are not counted: tens of milliseconds).
 */
export const failedWithinMs = (leaseMs: number): number =>
  leaseMs + Math.ceil(leaseMs / RENEWALS_PER_LEASE);

export interface InstanceLeaseDeps {
  calls: CallRepository;
  clock: Clock;
  logger: Logger;
  instanceId: string;
  leaseMs: number;
}

/**
 * This instance's claim on the calls it runs. It is renewed from start (before the first call
 * is stored, so that no call of a live instance is ever seen without a lease) until shutdown,
 * which releases it once every call has ended.
 */
export class InstanceLease {
  private lastRenewalFailed = false;

  constructor(private readonly deps: InstanceLeaseDeps) {}

  get instanceId(): string {
    return this.deps.instanceId;
  }

  get renewEveryMs(): number {
    return Math.ceil(this.deps.leaseMs / RENEWALS_PER_LEASE);
  }

  async renew(): Promise<void> {
    const { calls, clock, logger, instanceId, leaseMs } = this.deps;
    const now = clock.now();
    try {
      await calls.renewLease(instanceId, now, new Date(now.getTime() + leaseMs));
      if (this.lastRenewalFailed) logger.info({ instanceId }, "call lease renewed again");
      this.lastRenewalFailed = false;
    } catch (error) {
      // Once the lease runs out other instances mark this one's live calls failed; a call that
      // then ends normally stores its own end over that.
      this.lastRenewalFailed = true;
      throw error;
    }
  }

  release(): Promise<void> {
    return this.deps.calls.releaseLease(this.deps.instanceId);
  }
}

export interface ExpiredLeaseSweepDeps {
  calls: CallRepository;
  recordings: RecordingStore;
  clock: Clock;
  logger: Logger;
  /** This instance: its own calls are never swept (recovery at its start handles them). */
  instanceId: string;
  lock: JobLock;
  events?: CallEventSink;
  /**
   * Whether this process runs the call of that stream now. A call of this instance's that is
   * `active` in the database but not live here lost its end (the database was unreachable when
   * it ended): the sweep marks it failed too, instead of leaving it active until a restart.
   */
  isLive?: (streamSid: string) => boolean;
}

export interface SweepResult {
  /** Calls this sweep marked failed (others may have been won by another instance). */
  failed: number;
  skipped?: boolean;
}

/** Whether `owned` is a call of another instance whose lease has run out at `now`. */
export function isOrphaned(owned: OwnedActiveCall, instanceId: string, now: Date): boolean {
  if (owned.owner === null || owned.owner === instanceId) return false;
  // No lease row: its owner released it (it shut down) or never renewed; nobody runs the call.
  return owned.leaseExpiresAt === null || owned.leaseExpiresAt.getTime() <= now.getTime();
}

/**
 * Marks failed the live calls of instances whose lease ran out: a process or machine that died
 * without ending them. Any instance may run it; the job lock keeps it to one at a time, and the
 * conditional update makes exactly one instance fail each call even without the lock. The call
 * ends when its owner last renewed (the last moment it is known to have run); its recordings
 * are the owner's to recover when it starts again with the same INSTANCE_ID.
 */
export class ExpiredLeaseSweep {
  constructor(private readonly deps: ExpiredLeaseSweepDeps) {}

  async run(): Promise<SweepResult> {
    const run = await this.deps.lock.runExclusive("lease-sweep", () => this.sweep(true));
    if (run.ran) return run.result;
    // Another instance sweeps the dead; this instance's own lost ends are only its to find.
    const own = await this.sweep(false);
    return { failed: own.failed, skipped: true };
  }

  private async sweep(othersToo: boolean): Promise<SweepResult> {
    const { calls, clock, logger, instanceId, events } = this.deps;
    const now = clock.now();
    const began = performance.now();
    const { isLive } = this.deps;
    const lostItsEnd = (owned: OwnedActiveCall) =>
      isLive !== undefined && owned.owner === instanceId && !isLive(owned.call.streamSid);
    const orphaned = (await calls.getOwnedActiveCalls()).filter(
      (owned) => (othersToo && isOrphaned(owned, instanceId, now)) || lostItsEnd(owned),
    );
    const failed: Call[] = [];
    for (const { call, owner, renewedAt } of orphaned) {
      const lastSeen = owner === instanceId ? now : (renewedAt ?? now);
      const endedAt = new Date(Math.max(lastSeen.getTime(), call.startedAt.getTime()));
      const ended = endCall(call, "failed", endedAt, { endReason: "server_crash" });
      if (!(await calls.failCallIfOwnedBy(ended, owner))) continue;
      failed.push(ended);
      events?.publish({ type: "call.ended", call: ended });
    }
    // After every status: the files take longer, and the statuses are what the bound is about.
    for (const ended of failed) {
      try {
        await writeCallSidecars(calls, this.deps.recordings, ended);
      } catch (error) {
        logger.error(
          { err: describeError(error), callId: ended.id },
          "sidecar files of a call whose owner died could not be written",
        );
      }
    }
    if (failed.length > 0) {
      const owners = [...new Set(orphaned.map((o) => o.owner))];
      logger.warn(
        { calls: failed.length, owners, tookMs: Math.round(performance.now() - began) },
        "marked failed the live calls of instances whose lease expired",
      );
    }
    return { failed: failed.length };
  }
}
