import type { SidecarKind } from "../../application/ports/index.ts";
import { isValidStreamSid } from "../../domain/call.ts";
import { invalidArgument } from "../../domain/errors.ts";
import type { RecordingTrack } from "../../domain/recording.ts";

/**
 * The only names this store ever builds or accepts. Every name is checked against this grammar
 * before a path is built from it, so a hostile streamSid or fileKey never reaches the filesystem.
 */
export type StoredFile =
  | { kind: "recording"; streamSid: string; startedAtMs: number; track: RecordingTrack }
  | { kind: "sidecar"; streamSid: string; startedAtMs: number; sidecar: SidecarKind };

export const PART_SUFFIX = ".part";

const TRACK_SUFFIX: Record<RecordingTrack, string> = {
  caller: ".wav",
  conversation: "_conversation.wav",
};

const SIDECAR_SUFFIX: Record<SidecarKind, string> = {
  transcript: "_transcript.txt",
  metadata: "_metadata.json",
};

/**
 * Leading zeros are refused so that one (streamSid, startedAtMs) pair has exactly one name.
 * The suffix words are not digits, so the split between streamSid and timestamp is unambiguous.
 */
const FILE_KEY =
  /^([A-Za-z0-9_-]{1,64})_(0|[1-9][0-9]{0,15})(_conversation\.wav|\.wav|_transcript\.txt|_metadata\.json)$/;

export function assertValidStem(streamSid: string, startedAtMs: number): void {
  if (typeof streamSid !== "string" || !isValidStreamSid(streamSid)) {
    throw invalidArgument("streamSid must match [A-Za-z0-9_-]{1,64}");
  }
  if (!Number.isSafeInteger(startedAtMs) || startedAtMs < 0) {
    throw invalidArgument("startedAtMs must be a non-negative safe integer");
  }
}

export function stemOf(streamSid: string, startedAtMs: number): string {
  assertValidStem(streamSid, startedAtMs);
  return `${streamSid}_${startedAtMs}`;
}

export function recordingFileName(
  streamSid: string,
  startedAtMs: number,
  track: RecordingTrack,
): string {
  const suffix = Object.hasOwn(TRACK_SUFFIX, track) ? TRACK_SUFFIX[track] : undefined;
  if (suffix === undefined) throw invalidArgument("track must be caller or conversation");
  return stemOf(streamSid, startedAtMs) + suffix;
}

export function sidecarFileName(streamSid: string, startedAtMs: number, kind: SidecarKind): string {
  const suffix = Object.hasOwn(SIDECAR_SUFFIX, kind) ? SIDECAR_SUFFIX[kind] : undefined;
  if (suffix === undefined) throw invalidArgument("sidecar kind must be transcript or metadata");
  return stemOf(streamSid, startedAtMs) + suffix;
}

/** Parses a bare file name of the grammar; anything else (slashes, `..`, NUL, `.part`) is null. */
export function parseFileKey(fileKey: unknown): StoredFile | null {
  if (typeof fileKey !== "string") return null;
  const match = FILE_KEY.exec(fileKey);
  if (match === null) return null;
  const [, streamSid, digits, suffix] = match;
  if (streamSid === undefined || digits === undefined || suffix === undefined) return null;
  const startedAtMs = Number(digits);
  if (!Number.isSafeInteger(startedAtMs) || !isValidStreamSid(streamSid)) return null;
  switch (suffix) {
    case ".wav":
      return { kind: "recording", streamSid, startedAtMs, track: "caller" };
    case "_conversation.wav":
      return { kind: "recording", streamSid, startedAtMs, track: "conversation" };
    case "_transcript.txt":
      return { kind: "sidecar", streamSid, startedAtMs, sidecar: "transcript" };
    case "_metadata.json":
      return { kind: "sidecar", streamSid, startedAtMs, sidecar: "metadata" };
    default:
      return null;
  }
}

export function parseFileKeyOrThrow(fileKey: unknown): StoredFile {
  const parsed = parseFileKey(fileKey);
  if (parsed === null) throw invalidArgument("fileKey is not a recording or sidecar file name");
  return parsed;
}
