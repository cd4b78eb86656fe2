import { type Call, endCall as endCallState } from "../domain/call.ts";
import { describeError } from "../domain/errors.ts";
import type { CallStorage } from "./call-storage.ts";
import { writeCallSidecars } from "./sidecars.ts";

/** Calls looked up at once: enough to overlap the database thread's latency, not flood it. */
const LOOKUP_BATCH = 32;

/**
 * After a crash: unfinished recordings in this instance's spool become valid files with
 * Recording rows; calls this instance left `active` (same INSTANCE_ID) and unowned ones (stored
 * before owners existed) are marked `failed`, ending when their audio ended; and every call a
 * crash left without its sidecar files gets them. Other instances' live calls are never
 * touched: those whose owner died are the expired-lease sweep's (call-leases.ts).
 */
export async function recoverInterruptedCalls(
  storage: CallStorage,
  isLive: (streamSid: string) => boolean,
): Promise<{ calls: number; recordings: number }> {
  const { calls, recordings, logger, clock } = storage;
  const owner = storage.instanceId ?? null;
  const audioEnd = new Map<string, number>();
  /** Calls already ended (a sweep failed them while their owner was down) that gained files. */
  const endedWithNewFiles = new Map<string, Call>();
  let recordingRows = 0;
  const keep = (callId: string, startedAtMs: number, durationSeconds: number) => {
    recordingRows++;
    const end = startedAtMs + Math.round(durationSeconds * 1000);
    audioEnd.set(callId, Math.max(audioEnd.get(callId) ?? 0, end));
  };
  for (const finished of await recordings.recoverPartials()) {
    const call = await calls.getCallByStreamSid(finished.streamSid);
    if (!call) {
      logger.warn(
        { fileKey: finished.fileKey },
        "recovered recording has no call row; kept on disk",
      );
      continue;
    }
    await calls.createRecording(storage.recordingRow(call, finished));
    keep(call.id, call.startedAt.getTime(), finished.durationSeconds);
    if (call.status !== "active") endedWithNewFiles.set(call.id, call);
  }
  const stale = (await calls.getOwnedActiveCalls()).filter(
    (o) => !isLive(o.call.streamSid) && (o.owner === null || o.owner === owner),
  );
  const ended: Call[] = [];
  for (const { call, owner: callOwner } of stale) {
    const startedAtMs = call.startedAt.getTime();
    // A crash after a recording's rename but before its row leaves a final file with no row.
    const known = new Set((await calls.getRecordingsByCallId(call.id)).map((r) => r.fileKey));
    for (const finished of await recordings.findFinished(call.streamSid, startedAtMs)) {
      if (known.has(finished.fileKey)) continue;
      await calls.createRecording(storage.recordingRow(call, finished));
      keep(call.id, startedAtMs, finished.durationSeconds);
    }
    const endedAt = new Date(audioEnd.get(call.id) ?? clock.now().getTime());
    const safeEnd = endedAt < call.startedAt ? call.startedAt : endedAt;
    const failed = endCallState(call, "failed", safeEnd, { endReason: "server_crash" });
    // Conditional: another instance starting at the same time may recover an unowned call too.
    if (await calls.failCallIfOwnedBy(failed, callOwner)) ended.push(failed);
  }
  for (const call of endedWithNewFiles.values()) ended.push(call);
  let sidecars = 0;
  // Written even if a file exists: the status they record changed just now.
  for (const call of ended) if (await writeSidecars(storage, call)) sidecars++;
  try {
    for (const call of await endedWithoutSidecars(storage, isLive)) {
      if (await writeSidecars(storage, call)) sidecars++;
    }
  } catch (error) {
    // The calls and recordings above are what start-up needs; missing files are not worth
    // refusing to serve for.
    logger.error({ err: describeError(error) }, "could not look for calls missing sidecar files");
  }
  if (stale.length > 0 || recordingRows > 0 || sidecars > 0) {
    logger.warn(
      { calls: stale.length, recordings: recordingRows, sidecars },
      "recovered calls interrupted by a previous crash",
    );
  }
  return { calls: stale.length, recordings: recordingRows };
}

/**
 * Ended calls that have a recording file but not both sidecar files: a crash between a call's
 * status update and its sidecar writes leaves them (as does a write that failed). Found through
 * the recordings folder, not the database: one listing, which start-up already pays for to
 * recover `.part` files, instead of a scan of every call. A call without a recording file
 * (retention deleted it with its sidecars, or storage failed during the call) is not looked at.
 */
async function endedWithoutSidecars(
  storage: CallStorage,
  isLive: (streamSid: string) => boolean,
): Promise<Call[]> {
  const { calls, recordings } = storage;
  const candidates = (await recordings.findMissingSidecars()).filter((f) => !isLive(f.streamSid));
  const missing: Call[] = [];
  for (let i = 0; i < candidates.length; i += LOOKUP_BATCH) {
    const batch = candidates.slice(i, i + LOOKUP_BATCH);
    const found = await Promise.all(
      batch.map(async ({ streamSid, startedAtMs }) => {
        const call = await calls.getCallByStreamSid(streamSid);
        // No row: a recording kept on disk without a call (logged when it was recovered).
        if (call === null || call.startedAt.getTime() !== startedAtMs) return null;
        return call.status === "active" ? null : call;
      }),
    );
    for (const call of found) if (call !== null) missing.push(call);
  }
  return missing;
}

/** One call's sidecars; a failure is logged and leaves the rest of recovery going. */
async function writeSidecars(storage: CallStorage, call: Call): Promise<boolean> {
  try {
    await writeCallSidecars(storage.calls, storage.recordings, call);
    return true;
  } catch (error) {
    storage.logger.error(
      { err: describeError(error), callId: call.id, streamSid: call.streamSid },
      "sidecar files of a recovered call could not be written",
    );
    return false;
  }
}
