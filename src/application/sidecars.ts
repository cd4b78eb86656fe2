import type { Call } from "../domain/call.ts";
import type { CallRepository, RecordingStore } from "./ports/index.ts";
import { renderTranscriptText } from "./transcript-text.ts";

/**
 * Writes a call's `_transcript.txt` and `_metadata.json` from what the database holds. Shared by
 * the end of a live call and by recovery at start, so a call recovered after a crash gets the
 * same files as one that ended normally. Throws what the ports throw; callers decide whether a
 * failure is logged or counted.
 */
export async function writeCallSidecars(
  calls: CallRepository,
  recordings: RecordingStore,
  call: Call,
): Promise<void> {
  const transcripts = await calls.getTranscriptsByCallId(call.id);
  const metadata = await calls.getMetadataByCallId(call.id);
  const startedAtMs = call.startedAt.getTime();
  const text = renderTranscriptText(transcripts);
  await recordings.writeSidecar(call.streamSid, startedAtMs, "transcript", text);
  const json = `${JSON.stringify({ call, metadata }, null, 2)}\n`;
  await recordings.writeSidecar(call.streamSid, startedAtMs, "metadata", json);
}
