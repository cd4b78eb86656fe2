import fs from "node:fs";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { Upload } from "@aws-sdk/lib-storage";
import type {
  RecordingArchive,
  SpooledFile,
  UploadOptions,
} from "../../application/ports/index.ts";
import { storageUnavailable } from "../../domain/errors.ts";
import { parseFileKey, parseFileKeyOrThrow } from "../fs/file-names.ts";
import { errorCode } from "../fs/store-io.ts";
import { emptyDigest, etagMatches, PartHasher, type StreamDigest } from "./part-hasher.ts";
import type { S3Objects } from "./s3-objects.ts";

/** S3's smallest part (all but the last); real S3 refuses smaller ones, s3rver does not check. */
export const MIN_PART_SIZE = 5 * 1024 * 1024;
/** Parts of one file in flight at once: each is a buffer of partSize bytes. */
const PARTS_IN_FLIGHT = 2;

export interface S3RecordingArchiveOptions {
  /** The spool: RECORDING_STORAGE_PATH, where finished files wait. */
  spoolRoot: string;
  objects: S3Objects;
  /** Multipart part size, at least MIN_PART_SIZE; files up to it go up in one PUT. */
  partSize?: number;
}

const CONTENT_TYPES = { ".wav": "audio/wav", ".txt": "text/plain; charset=utf-8" } as const;

/**
 * The spool folder as the upload queue, and S3 (or any S3-compatible store) as the archive. A
 * file is uploaded streaming (multipart above partSize, via lib-storage's Upload), hashed and
 * counted as it is read, then checked: the ETag the store answers (HeadObject's when the answer
 * has none) against the MD5s computed on the way, the bytes read against the size. Keys are the
 * file names under the prefix, so uploading a file again after a crash writes the same object:
 * never a duplicate; and a file this process did not spool itself is first looked for in the
 * store, so a crash between a verified upload and the local delete costs no second upload.
 */
export class S3RecordingArchive implements RecordingArchive {
  private readonly root: string;
  private readonly objects: S3Objects;
  private readonly partSize: number;

  constructor(options: S3RecordingArchiveOptions) {
    this.root = path.resolve(options.spoolRoot);
    this.objects = options.objects;
    this.partSize = Math.max(MIN_PART_SIZE, options.partSize ?? MIN_PART_SIZE);
  }

  async pending(): Promise<SpooledFile[]> {
    let names: string[];
    try {
      names = await fs.promises.readdir(this.root);
    } catch (error) {
      if (errorCode(error) === "ENOENT") return [];
      throw storageUnavailable(`the recording spool cannot be listed (${errorCode(error)})`);
    }
    const files: SpooledFile[] = [];
    for (const name of names) {
      // Final names only: `.part` files and interrupted sidecar temp files do not parse.
      const parsed = parseFileKey(name);
      if (parsed === null) continue;
      const stat = await fs.promises.stat(this.pathOf(name)).catch(() => null);
      if (stat === null || !stat.isFile()) continue;
      files.push({
        fileKey: name,
        streamSid: parsed.streamSid,
        startedAtMs: parsed.startedAtMs,
        kind: parsed.kind,
        sizeBytes: stat.size,
        modifiedAtMs: stat.mtimeMs,
      });
    }
    return files.sort((a, b) => a.modifiedAtMs - b.modifiedAtMs);
  }

  async upload(
    file: SpooledFile,
    signal?: AbortSignal,
    options: UploadOptions = {},
  ): Promise<string> {
    parseFileKeyOrThrow(file.fileKey);
    signal?.throwIfAborted();
    if (!options.fresh) {
      const existing = await this.objects.head(file.fileKey, signal);
      // A crash between a verified upload and the local delete: the object is already right.
      if (existing !== null && existing.sizeBytes === file.sizeBytes) {
        const digest = await this.digestOf(file);
        if (etagMatches(existing.etag, digest)) return this.objects.urlOf(file.fileKey);
      }
    }
    const { digest, etag } = await this.put(file, signal);
    // The store's ETag for what it received (its MD5, or the MD5 of the parts' MD5s) against
    // the MD5s of the bytes sent, which were counted to the file's size as they were read: the
    // same bytes, so the same size. Asked with HeadObject only when the answer did not carry it.
    if (etag !== undefined) {
      if (!etagMatches(etag, digest)) {
        throw new Error(
          `the stored copy of ${file.fileKey} has an ETag that does not match its MD5`,
        );
      }
      return this.objects.urlOf(file.fileKey);
    }
    const head = await this.objects.head(file.fileKey, signal);
    if (head === null || head.sizeBytes !== digest.sizeBytes) {
      throw new Error(`the stored copy of ${file.fileKey} has the wrong size`);
    }
    if (!etagMatches(head.etag, digest)) {
      throw new Error(`the stored copy of ${file.fileKey} has an ETag that does not match its MD5`);
    }
    return this.objects.urlOf(file.fileKey);
  }

  async removeLocal(file: SpooledFile): Promise<void> {
    const filePath = this.pathOf(file.fileKey);
    const stat = await fs.promises.stat(filePath).catch(() => null);
    // Gone already, or rewritten since it was uploaded (then the next sweep uploads it again).
    if (stat === null || !this.unchanged(file, stat)) return;
    await fs.promises.rm(filePath, { force: true });
  }

  async removeArchived(fileKey: string): Promise<void> {
    parseFileKeyOrThrow(fileKey);
    await this.objects.deleteAll([fileKey]);
  }

  /** Streams the file through the hasher into the store; the file must still be as listed. */
  private async put(
    file: SpooledFile,
    signal?: AbortSignal,
  ): Promise<{ digest: StreamDigest; etag: string | undefined }> {
    // lib-storage takes a controller, not a signal: done() rejects at once when it aborts.
    const abortController = new AbortController();
    const abort = () => abortController.abort();
    signal?.addEventListener("abort", abort, { once: true });
    const params = {
      Bucket: this.objects.location.bucket,
      Key: this.objects.keyOf(file.fileKey),
      ContentLength: file.sizeBytes,
      ContentType: contentTypeOf(file.fileKey),
    };
    if (file.sizeBytes === 0) {
      const done = await new Upload({
        client: this.objects.client,
        abortController,
        params: { ...params, Body: Buffer.alloc(0) },
      })
        .done()
        .finally(() => signal?.removeEventListener("abort", abort));
      return { digest: emptyDigest(), etag: done.ETag };
    }
    const handle = await fs.promises.open(this.pathOf(file.fileKey), "r");
    const source = handle.createReadStream({ start: 0, end: file.sizeBytes - 1, autoClose: false });
    try {
      if (!this.unchanged(file, await handle.stat())) {
        throw new Error(`${file.fileKey} changed since it was listed`);
      }
      const hasher = new PartHasher(this.partSize);
      source.once("error", (error) => hasher.destroy(error));
      const upload = new Upload({
        client: this.objects.client,
        partSize: this.partSize,
        queueSize: PARTS_IN_FLIGHT,
        abortController,
        params: { ...params, Body: source.pipe(hasher) },
      });
      const done = await upload.done();
      const digest = hasher.result();
      if (digest.sizeBytes !== file.sizeBytes) {
        throw new Error(`${file.fileKey} was ${digest.sizeBytes} bytes, not ${file.sizeBytes}`);
      }
      return { digest, etag: done.ETag };
    } finally {
      signal?.removeEventListener("abort", abort);
      source.destroy();
      await handle.close().catch(() => undefined);
    }
  }

  /** The MD5s of a spooled file, read as a stream (only to check a copy already in the store). */
  private async digestOf(file: SpooledFile): Promise<StreamDigest> {
    const hasher = new PartHasher(this.partSize);
    await pipeline(
      fs.createReadStream(this.pathOf(file.fileKey)),
      hasher,
      async (chunks: AsyncIterable<Buffer>) => {
        for await (const _ of chunks) {
          // Drained: the hasher has seen the bytes.
        }
      },
    );
    return hasher.result();
  }

  private unchanged(file: SpooledFile, stat: fs.Stats): boolean {
    return stat.size === file.sizeBytes && stat.mtimeMs === file.modifiedAtMs;
  }

  private pathOf(name: string): string {
    const resolved = path.resolve(this.root, name);
    if (path.dirname(resolved) !== this.root) throw new Error("file name escapes the spool");
    return resolved;
  }
}

function contentTypeOf(fileKey: string): string {
  if (fileKey.endsWith(".wav")) return CONTENT_TYPES[".wav"];
  if (fileKey.endsWith(".txt")) return CONTENT_TYPES[".txt"];
  return "application/json";
}
