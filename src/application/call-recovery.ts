import { endCall as endCallState } from "../domain/call.ts";
import type { CallStorage } from "./call-storage.ts";

/**
 * After a crash: unfinished recordings become valid files with Recording rows, and calls left
 * `active` by the dead process are marked `failed`, ending when their audio ended.
 */
export async function recoverInterruptedCalls(
  storage: CallStorage,
  isLive: (streamSid: string) => boolean,
): Promise<{ calls: number; recordings: number }> {
  const { calls, recordings, logger, clock } = storage;
  const audioEnd = new Map<string, number>();
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
  }
  const stale = (await calls.getActiveCalls()).filter((call) => !isLive(call.streamSid));
  for (const call of stale) {
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
    await calls.updateCall(endCallState(call, "failed", safeEnd));
  }
  if (stale.length > 0 || recordingRows > 0) {
    logger.warn(
      { calls: stale.length, recordings: recordingRows },
      "recovered calls interrupted by a previous crash",
    );
  }
  return { calls: stale.length, recordings: recordingRows };
}
