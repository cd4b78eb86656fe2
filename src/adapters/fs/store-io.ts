import fs from "node:fs";

/**
 * The file operations a recording writer performs on its open file descriptor. Production uses
 * node:fs; the seam exists so tests can inject errors (ENOSPC, EIO) that root cannot provoke
 * on a local disk.
 */
export interface WriterIo {
  write(
    fd: number,
    bytes: Uint8Array,
    offset: number,
    length: number,
    position: number,
  ): Promise<number>;
  ftruncate(fd: number, length: number): Promise<void>;
  fsync(fd: number): Promise<void>;
  close(fd: number): Promise<void>;
  rename(from: string, to: string): Promise<void>;
}

const done =
  (resolve: () => void, reject: (error: Error) => void) => (error: NodeJS.ErrnoException | null) =>
    error ? reject(error) : resolve();

export const nodeWriterIo: WriterIo = {
  write: (fd, bytes, offset, length, position) =>
    new Promise((resolve, reject) => {
      fs.write(fd, bytes, offset, length, position, (error, written) =>
        error ? reject(error) : resolve(written),
      );
    }),
  ftruncate: (fd, length) =>
    new Promise((resolve, reject) => fs.ftruncate(fd, length, done(resolve, reject))),
  fsync: (fd) => new Promise((resolve, reject) => fs.fsync(fd, done(resolve, reject))),
  close: (fd) => new Promise((resolve, reject) => fs.close(fd, done(resolve, reject))),
  rename: (from, to) => fs.promises.rename(from, to),
};

/** errno code of a filesystem failure, for logs (never the path). */
export function errorCode(error: unknown): string {
  if (error instanceof Error && "code" in error && typeof error.code === "string")
    return error.code;
  return "unknown";
}

/**
 * Makes a rename durable: the new directory entry is only on disk once the directory itself is
 * synced. Best effort because some filesystems refuse fsync on a directory.
 */
export async function fsyncDirectory(dir: string): Promise<void> {
  let handle: fs.promises.FileHandle | undefined;
  try {
    handle = await fs.promises.open(dir, "r");
    await handle.sync();
  } catch {
    // A rename that is not yet durable is still correct; only crash-durability is weaker.
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

export interface StoreLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export const silentLogger: StoreLogger = {
  warn: () => undefined,
  error: () => undefined,
};

/** What the store reports to metrics: a failed storage operation, or audio faster than real time. */
export type StoreErrorKind =
  | "storage_write"
  | "storage_read"
  | "storage_delete"
  | "storage_recovery"
  | "recording_overflow";
