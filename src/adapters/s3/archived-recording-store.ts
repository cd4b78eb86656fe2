import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import type {
  CallFiles,
  FinishedRecording,
  ReadableRecording,
  RecordingSpec,
  RecordingStore,
  RecordingWriter,
  RedirectableRecording,
  SidecarKind,
} from "../../application/ports/index.ts";
import { invalidArgument, storageUnavailable } from "../../domain/errors.ts";
import { parseFileKeyOrThrow, sidecarFileName } from "../fs/file-names.ts";
import type { FsRecordingStore } from "../fs/fs-recording-store.ts";
import type { StoreLogger } from "../fs/store-io.ts";
import type { S3Objects } from "./s3-objects.ts";

export interface ArchivedRecordingStoreOptions {
  /** The local folder every file is written to first, and stays in until it is archived. */
  spool: FsRecordingStore;
  objects: S3Objects;
  /** GET of an archived file answers a 302 to a presigned URL instead of streaming it. */
  presignedDownloads: boolean;
  logger: StoreLogger;
  onError?: (kind: "storage_read" | "storage_delete") => void;
}

/**
 * The RecordingStore when recordings are archived in object storage: writing, recovery and
 * sidecars are the spool's (unchanged, crash-safe), reads come from the spool while the file is
 * still there and from the store after, and deletes remove both copies.
 */
export class ArchivedRecordingStore implements RecordingStore {
  private readonly spool: FsRecordingStore;
  private readonly objects: S3Objects;
  private readonly options: ArchivedRecordingStoreOptions;

  constructor(options: ArchivedRecordingStoreOptions) {
    this.spool = options.spool;
    this.objects = options.objects;
    this.options = options;
  }

  create(spec: RecordingSpec): RecordingWriter {
    return this.spool.create(spec);
  }

  recoverPartials(): Promise<FinishedRecording[]> {
    return this.spool.recoverPartials();
  }

  findFinished(streamSid: string, startedAtMs: number): Promise<FinishedRecording[]> {
    return this.spool.findFinished(streamSid, startedAtMs);
  }

  writeSidecar(
    streamSid: string,
    startedAtMs: number,
    kind: SidecarKind,
    content: string,
  ): Promise<string> {
    return this.spool.writeSidecar(streamSid, startedAtMs, kind, content);
  }

  findMissingSidecars(): Promise<CallFiles[]> {
    return this.spool.findMissingSidecars();
  }

  async read(fileKey: string): Promise<ReadableRecording | null> {
    const local = await this.spool.read(fileKey);
    if (local !== null) return local;
    let head: Awaited<ReturnType<S3Objects["head"]>>;
    try {
      head = await this.objects.head(fileKey);
    } catch (error) {
      throw this.unavailable("storage_read", error);
    }
    if (head === null) return null;
    const sizeBytes = head.sizeBytes;
    const objects = this.objects;
    const readable: ReadableRecording = {
      sizeBytes,
      open(start: number, end: number) {
        if (
          !Number.isSafeInteger(start) ||
          !Number.isSafeInteger(end) ||
          start < 0 ||
          end < start ||
          end >= sizeBytes
        ) {
          throw invalidArgument("byte range is outside the recording");
        }
        return objects.openRange(fileKey, start, end);
      },
    };
    if (!this.options.presignedDownloads) return readable;
    const redirectable: RedirectableRecording = {
      ...readable,
      presignedUrl: (response) => objects.presignedGet(fileKey, response),
    };
    return redirectable;
  }

  /** Where a spooled file lives, for the waveform worker; an archived file has no path. */
  filePath(fileKey: string): string {
    return this.spool.filePath(fileKey);
  }

  /**
   * A local file of `fileKey` while `use` runs: the spooled one, or else the archived copy
   * downloaded (streamed) to a private temp file, removed afterwards. For the waveform worker,
   * which reads files on its own thread. A file in neither place gives `use` the spool path,
   * which is missing, as it would be without object storage.
   */
  async withLocalFile<T>(fileKey: string, use: (path: string) => Promise<T>): Promise<T> {
    const spooled = this.spool.filePath(fileKey);
    if (await exists(spooled)) return use(spooled);
    const temp = path.join(os.tmpdir(), `callbridge-${randomBytes(8).toString("hex")}.tmp`);
    try {
      const body = await this.objects.download(fileKey);
      if (body === null) return await use(spooled);
      await pipeline(body, fs.createWriteStream(temp, { flags: "wx", mode: 0o600 }));
      return await use(temp);
    } finally {
      await fs.promises.rm(temp, { force: true });
    }
  }

  /** The spool copies first (as before), then the archived ones; missing ones are no error. */
  async delete(fileKey: string): Promise<void> {
    const parsed = parseFileKeyOrThrow(fileKey);
    await this.spool.delete(fileKey);
    const keys =
      parsed.kind === "recording"
        ? [
            fileKey,
            sidecarFileName(parsed.streamSid, parsed.startedAtMs, "transcript"),
            sidecarFileName(parsed.streamSid, parsed.startedAtMs, "metadata"),
          ]
        : [fileKey];
    try {
      await this.objects.deleteAll(keys);
    } catch (error) {
      throw this.unavailable("storage_delete", error);
    }
  }

  /** The spool must be writable; the store's health shows in the upload queue instead. */
  check(): Promise<void> {
    return this.spool.check();
  }

  private unavailable(kind: "storage_read" | "storage_delete", error: unknown) {
    this.options.onError?.(kind);
    const name = error instanceof Error ? error.name : "unknown";
    this.options.logger.error({ operation: kind, code: name }, "object storage operation failed");
    return storageUnavailable(`object storage is not usable (${name})`);
  }
}

async function exists(filePath: string): Promise<boolean> {
  return fs.promises.stat(filePath).then(
    () => true,
    () => false,
  );
}
