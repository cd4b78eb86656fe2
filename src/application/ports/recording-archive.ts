import type { ReadableRecording } from "./recording-store.ts";

/** A finished file (recording or sidecar) still in the local spool: one entry of the upload queue. */
export interface SpooledFile {
  fileKey: string;
  streamSid: string;
  startedAtMs: number;
  kind: "recording" | "sidecar";
  sizeBytes: number;
  /** When the file last changed (its final rename): how long it has waited to be archived. */
  modifiedAtMs: number;
}

export interface UploadOptions {
  /**
   * The file was finished by this process after it started and has not been tried yet, so no
   * copy of it can be in the archive: the look for one (a request per file) is skipped.
   */
  fresh?: boolean;
}

/**
 * Durable storage beside the spool (object storage). The spool folder is the upload queue: a
 * final file still in it is pending, so the queue survives a crash with no state of its own.
 */
export interface RecordingArchive {
  /** Every finished file still in the spool, oldest first. */
  pending(): Promise<SpooledFile[]>;
  /**
   * Copies one spooled file into the archive and verifies the copy (size and checksum); returns
   * its URL (`s3://bucket/key`). Idempotent: a verified identical copy already there is kept.
   * `signal` abandons it (shutdown); the file then stays spooled.
   */
  upload(file: SpooledFile, signal?: AbortSignal, options?: UploadOptions): Promise<string>;
  /** Removes the spool copy, unless it changed since it was listed; a missing file is fine. */
  removeLocal(file: SpooledFile): Promise<void>;
  /** Removes an archived copy; a missing object is fine. */
  removeArchived(fileKey: string): Promise<void>;
}

/**
 * An archived recording a client can fetch from the archive itself, through a short-lived
 * signed URL, instead of through the server.
 */
export interface RedirectableRecording extends ReadableRecording {
  presignedUrl(response: { contentType: string; contentDisposition: string }): Promise<string>;
}

/** What /healthz and /metrics say about the upload queue. */
export interface UploadQueueStatus {
  pending: number;
  /** Age of the oldest pending file, 0 when none. */
  oldestAgeSeconds: number;
  /** Some pending file's last attempt failed (it waits out its backoff). */
  failing: boolean;
  failedAttempts: number;
}
