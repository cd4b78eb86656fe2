import type { Transcript } from "../domain/transcript.ts";

function clock(offsetMs: number | null): string {
  if (offsetMs === null) return "--:--.---";
  const minutes = Math.floor(offsetMs / 60_000);
  const seconds = Math.floor((offsetMs % 60_000) / 1000);
  const millis = offsetMs % 1000;
  return `${String(minutes).padStart(2, "0")}:${String(seconds).padStart(2, "0")}.${String(millis).padStart(3, "0")}`;
}

/** The human-readable `_transcript.txt` sidecar: one line per turn, in spoken order. */
export function renderTranscriptText(transcripts: readonly Transcript[]): string {
  return transcripts
    .map((t) => {
      const mark = t.interrupted ? " (interrupted)" : "";
      return `[${clock(t.offsetMs)}] ${t.speaker}${mark}: ${t.text.replace(/\s+/g, " ").trim()}\n`;
    })
    .join("");
}
