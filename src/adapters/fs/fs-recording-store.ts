import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import type {
  CallFiles,
  FinishedRecording,
  ReadableRecording,
  RecordingSpec,
  RecordingStore,
  SidecarKind,
} from "../../application/ports/index.ts";
import { conflict, invalidArgument, storageUnavailable } from "../../domain/errors.ts";
import { RECORDING_SAMPLE_RATE, type RecordingTrack } from "../../domain/recording.ts";
import {
  PART_SUFFIX,
  parseFileKey,
  parseFileKeyOrThrow,
  recordingFileName,
  sidecarFileName,
} from "./file-names.ts";
import { FsRecordingWriter, SlotPool } from "./fs-recording-writer.ts";
import {
  errorCode,
  fsyncDirectory,
  nodeWriterIo,
  type StoreErrorKind,
  type StoreLogger,
  silentLogger,
  type WriterIo,
} from "./store-io.ts";
import { readHeaderFormat, streamingHeader, WAV_HEADER_BYTES, wavHeader } from "./wav-header.ts";

export interface FsRecordingStoreOptions {
  root: string;
  logger?: StoreLogger;
  onBytesWritten?: (n: number) => void;
  onError?: (kind: StoreErrorKind) => void;
  /** Test seam for writer file operations (to inject ENOSPC and the like); node:fs by default. */
  io?: Partial<WriterIo>;
  /** What all writers may buffer beyond their own 3 s while the disk is behind (default 64 MB). */
  borrowBudgetBytes?: number;
  /**
   * The instance (INSTANCE_ID) whose spool this is: unfinished `.part` files live in
   * `<root>/.spool/<instance>/` and recovery finalizes only those (and any a version before
   * issue 19 left in root), so that processes sharing a folder never finish each other's live
   * recordings. Unset: `.part` files stay in root.
   */
  instance?: string;
}

/** Per-instance folders of unfinished recordings, inside root (a rename there is atomic). */
export const SPOOL_FOLDER = ".spool";
const INSTANCE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

const MAX_CHANNELS = 8;
const MAX_SAMPLE_RATE = 384_000;
const DEFAULT_CHANNELS: Record<RecordingTrack, number> = { caller: 1, conversation: 2 };
const TEMP_SIDECAR = /^(.+)\.[0-9a-f]{16}\.tmp$/;
/**
 * Owner-only: recordings and sidecars hold full phone numbers and what was said. The mode given
 * at creation is narrowed by the umask, never widened, so no umask makes these files looser.
 */
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;
/** Group and other permission bits. */
const SHARED_BITS = 0o077;
/** The sticky bit marks a folder shared by design (/tmp): never made private. */
const STICKY_BIT = 0o1000;

/**
 * Recordings and their sidecar files in one flat folder (contract: "Files under
 * RECORDING_STORAGE_PATH"). Names are validated against a fixed grammar before any path is
 * built; fs failures surface as DomainError without paths.
 */
export class FsRecordingStore implements RecordingStore {
  private readonly root: string;
  /** Where `.part` files are written and recovered: root, or this instance's spool folder. */
  private readonly partsDir: string;
  private readonly logger: StoreLogger;
  private readonly onBytesWritten: (n: number) => void;
  private readonly onError: (kind: StoreErrorKind) => void;
  private readonly io: WriterIo;
  /** `.part` files owned by live writers of this process, which recovery must not touch. */
  private readonly livePartNames = new Set<string>();
  /** Idle recording buffers shared by this store's writers. */
  private readonly slots: SlotPool;
  private readonly liveTempNames = new Set<string>();

  constructor(options: FsRecordingStoreOptions) {
    this.root = path.resolve(options.root);
    const { instance } = options;
    if (instance !== undefined && (!INSTANCE_NAME.test(instance) || /^\.+$/.test(instance))) {
      throw invalidArgument("instance must be 1-64 letters, digits, '.', '_' or '-'");
    }
    this.partsDir =
      instance === undefined ? this.root : path.join(this.root, SPOOL_FOLDER, instance);
    this.logger = options.logger ?? silentLogger;
    this.onBytesWritten = options.onBytesWritten ?? (() => undefined);
    this.onError = options.onError ?? (() => undefined);
    this.io = { ...nodeWriterIo, ...options.io };
    this.slots = new SlotPool(options.borrowBudgetBytes);
    this.makeRootPrivate();
  }

  /**
   * Opens `<final name>.part` synchronously: the port's create() is synchronous, and this way an
   * unusable folder is a thrown storage_unavailable at call start rather than a recording that
   * silently never existed. It costs one open and one 44-byte write per recording.
   */
  create(spec: RecordingSpec): FsRecordingWriter {
    assertValidFormat(spec.sampleRate, spec.channels);
    const fileKey = recordingFileName(spec.streamSid, spec.startedAtMs, spec.track);
    const partName = fileKey + PART_SUFFIX;
    const finalPath = this.pathOf(fileKey);
    const partPath = this.partPathOf(partName);
    if (this.livePartNames.has(partName) || fs.existsSync(finalPath)) {
      throw conflict("a recording for this call and track already exists");
    }
    let fd: number;
    try {
      fd = this.openNewSync(partPath);
    } catch (error) {
      if (errorCode(error) === "EEXIST") {
        throw conflict("a recording for this call and track already exists");
      }
      throw this.unavailable("create", error);
    }
    try {
      const header = streamingHeader(spec.sampleRate, spec.channels);
      let offset = 0;
      while (offset < header.byteLength) {
        const n = fs.writeSync(fd, header, offset, header.byteLength - offset, offset);
        if (n <= 0) throw Object.assign(new Error("write made no progress"), { code: "EIO" });
        offset += n;
      }
    } catch (error) {
      try {
        fs.closeSync(fd);
        fs.rmSync(partPath, { force: true });
      } catch {
        // Already failing; a leftover .part with no header is handled by recoverPartials().
      }
      throw this.unavailable("create", error);
    }
    this.livePartNames.add(partName);
    return new FsRecordingWriter({
      spec: { ...spec },
      fd,
      fileKey,
      dir: this.root,
      partPath,
      finalPath,
      io: this.io,
      logger: this.logger,
      onBytesWritten: this.onBytesWritten,
      onError: this.onError,
      onSettled: () => this.livePartNames.delete(partName),
      pool: this.slots,
    });
  }

  /** The folder's file names; none when it does not exist (yet). */
  private async namesForRecovery(): Promise<string[]> {
    try {
      return await fs.promises.readdir(this.root);
    } catch (error) {
      if (errorCode(error) === "ENOENT") return [];
      throw this.unavailable("recovery", error);
    }
  }

  async recoverPartials(): Promise<FinishedRecording[]> {
    const names = await this.namesForRecovery();
    const recovered: FinishedRecording[] = [];
    if (this.partsDir !== this.root) {
      for (const name of (await this.spoolNames()).sort()) {
        if (!name.endsWith(PART_SUFFIX) || this.livePartNames.has(name)) continue;
        const result = await this.recoverOne(name, this.partPathOf(name));
        if (result !== null) recovered.push(result);
      }
    }
    for (const name of names.sort()) {
      if (name.endsWith(PART_SUFFIX) && !this.livePartNames.has(name)) {
        const result = await this.recoverOne(name, this.pathOf(name));
        if (result !== null) recovered.push(result);
      } else if (TEMP_SIDECAR.test(name) && !this.liveTempNames.has(name)) {
        // An interrupted sidecar write: the previous version (if any) is still intact.
        await fs.promises.rm(this.pathOf(name), { force: true }).catch(() => undefined);
      }
    }
    if (recovered.length > 0) await fsyncDirectory(this.root);
    return recovered;
  }

  async findFinished(streamSid: string, startedAtMs: number): Promise<FinishedRecording[]> {
    const found: FinishedRecording[] = [];
    for (const track of ["caller", "conversation"] as const) {
      const fileKey = recordingFileName(streamSid, startedAtMs, track);
      let handle: fs.promises.FileHandle | undefined;
      try {
        handle = await fs.promises.open(this.pathOf(fileKey), "r");
        const { size } = await handle.stat();
        const head = new Uint8Array(WAV_HEADER_BYTES);
        const { bytesRead } = await handle.read(head, 0, WAV_HEADER_BYTES, 0);
        // Renamed only once its header was final, so a header that does not parse is not ours.
        const format = readHeaderFormat(head.subarray(0, bytesRead));
        if (format === null) continue;
        const blockAlign = format.channels * 2;
        const present = Math.max(0, size - WAV_HEADER_BYTES);
        const dataBytes = present - (present % blockAlign);
        found.push({
          fileKey,
          streamSid,
          startedAtMs,
          sizeBytes: WAV_HEADER_BYTES + dataBytes,
          durationSeconds: dataBytes / (format.sampleRate * blockAlign),
          sampleRate: format.sampleRate,
          channels: format.channels,
          track,
        });
      } catch (error) {
        if (errorCode(error) !== "ENOENT") throw this.unavailable("recovery", error);
      } finally {
        await handle?.close().catch(() => undefined);
      }
    }
    return found;
  }

  async writeSidecar(
    streamSid: string,
    startedAtMs: number,
    kind: SidecarKind,
    content: string,
  ): Promise<string> {
    const fileKey = sidecarFileName(streamSid, startedAtMs, kind);
    if (typeof content !== "string") throw invalidArgument("sidecar content must be a string");
    const tempName = `${fileKey}.${randomBytes(8).toString("hex")}.tmp`;
    const tempPath = this.pathOf(tempName);
    this.liveTempNames.add(tempName);
    let handle: fs.promises.FileHandle | undefined;
    try {
      await this.ensureRoot();
      handle = await fs.promises.open(tempPath, "wx", FILE_MODE);
      await handle.writeFile(content, "utf8");
      await handle.sync();
      await handle.close();
      handle = undefined;
      await fs.promises.rename(tempPath, this.pathOf(fileKey));
      await fsyncDirectory(this.root);
      return fileKey;
    } catch (error) {
      await handle?.close().catch(() => undefined);
      await fs.promises.rm(tempPath, { force: true }).catch(() => undefined);
      throw this.unavailable("write_sidecar", error);
    } finally {
      this.liveTempNames.delete(tempName);
    }
  }

  async findMissingSidecars(): Promise<CallFiles[]> {
    const names = await this.namesForRecovery();
    const recorded = new Map<string, CallFiles>();
    const sidecars = new Map<string, number>();
    for (const name of names) {
      const parsed = parseFileKey(name);
      if (parsed === null) continue;
      const stem = `${parsed.streamSid}_${parsed.startedAtMs}`;
      if (parsed.kind === "recording") {
        recorded.set(stem, { streamSid: parsed.streamSid, startedAtMs: parsed.startedAtMs });
      } else {
        sidecars.set(stem, (sidecars.get(stem) ?? 0) + 1);
      }
    }
    return [...recorded].filter(([stem]) => sidecars.get(stem) !== 2).map(([, call]) => call);
  }

  async read(fileKey: string): Promise<ReadableRecording | null> {
    parseFileKeyOrThrow(fileKey);
    const filePath = this.pathOf(fileKey);
    let stat: fs.Stats;
    try {
      stat = await fs.promises.stat(filePath);
    } catch (error) {
      const code = errorCode(error);
      if (code === "ENOENT" || code === "ENOTDIR") return null;
      throw this.unavailable("read", error);
    }
    if (!stat.isFile()) return null;
    const sizeBytes = stat.size;
    return {
      sizeBytes,
      open: (start: number, end: number) => {
        if (
          !Number.isSafeInteger(start) ||
          !Number.isSafeInteger(end) ||
          start < 0 ||
          end < start ||
          end >= sizeBytes
        ) {
          throw invalidArgument("byte range is outside the recording");
        }
        const stream = fs.createReadStream(filePath, { start, end });
        return Readable.toWeb(stream) as ReadableStream<Uint8Array>;
      },
    };
  }

  /**
   * Where a stored file lives, for another adapter that reads it on another thread (waveform
   * peaks). Not part of the port: use cases deal in file keys, and paths never reach a client.
   */
  filePath(fileKey: string): string {
    parseFileKeyOrThrow(fileKey);
    return this.pathOf(fileKey);
  }

  async delete(fileKey: string): Promise<void> {
    const parsed = parseFileKeyOrThrow(fileKey);
    const names =
      parsed.kind === "recording"
        ? [
            fileKey,
            sidecarFileName(parsed.streamSid, parsed.startedAtMs, "transcript"),
            sidecarFileName(parsed.streamSid, parsed.startedAtMs, "metadata"),
          ]
        : [fileKey];
    try {
      for (const name of names) await fs.promises.rm(this.pathOf(name), { force: true });
    } catch (error) {
      throw this.unavailable("delete", error);
    }
  }

  async check(): Promise<void> {
    const probe = this.pathOf(`.probe-${randomBytes(8).toString("hex")}`);
    try {
      await this.ensureRoot();
      await fs.promises.writeFile(probe, "", { flag: "wx", mode: FILE_MODE });
      await fs.promises.rm(probe, { force: true });
    } catch (error) {
      await fs.promises.rm(probe, { force: true }).catch(() => undefined);
      // Not counted as an error: /healthz polls this and reports it itself.
      const code = errorCode(error);
      this.logger.warn({ code }, "recording storage is not writable");
      throw storageUnavailable(`recording storage is not usable (${code})`);
    }
  }

  private async recoverOne(partName: string, partPath: string): Promise<FinishedRecording | null> {
    const fileKey = partName.slice(0, -PART_SUFFIX.length);
    const parsed = parseFileKey(fileKey);
    if (parsed === null || parsed.kind !== "recording") {
      this.logger.warn({ file: partName }, "ignoring a .part file this store did not name");
      return null;
    }
    const finalPath = this.pathOf(fileKey);
    let handle: fs.promises.FileHandle | undefined;
    try {
      if (fs.existsSync(finalPath)) {
        this.logger.warn({ fileKey }, "not recovering a .part file whose final file exists");
        return null;
      }
      handle = await fs.promises.open(partPath, "r+");
      const { size } = await handle.stat();
      const head = new Uint8Array(WAV_HEADER_BYTES);
      const { bytesRead } = await handle.read(head, 0, WAV_HEADER_BYTES, 0);
      let format = readHeaderFormat(head.subarray(0, bytesRead));
      if (format === null) {
        // Killed before (or while) its header was written: the format follows from the track.
        format = { sampleRate: RECORDING_SAMPLE_RATE, channels: DEFAULT_CHANNELS[parsed.track] };
        this.logger.warn(
          { fileKey, sizeBytes: size },
          "recovered recording had no valid header; wrote a fresh one",
        );
      }
      const blockAlign = format.channels * 2;
      const present = Math.max(0, size - WAV_HEADER_BYTES);
      // A process killed mid-write can leave an odd byte or half a stereo frame at the end.
      const dataBytes = present - (present % blockAlign);
      if (size !== WAV_HEADER_BYTES + dataBytes) {
        await handle.truncate(WAV_HEADER_BYTES + dataBytes);
      }
      await handle.write(
        wavHeader(format.sampleRate, format.channels, dataBytes),
        0,
        WAV_HEADER_BYTES,
        0,
      );
      await handle.sync();
      await handle.close();
      handle = undefined;
      await fs.promises.rename(partPath, finalPath);
      return {
        fileKey,
        sizeBytes: WAV_HEADER_BYTES + dataBytes,
        durationSeconds: dataBytes / (format.sampleRate * blockAlign),
        sampleRate: format.sampleRate,
        channels: format.channels,
        track: parsed.track,
        streamSid: parsed.streamSid,
        startedAtMs: parsed.startedAtMs,
      };
    } catch (error) {
      await handle?.close().catch(() => undefined);
      this.onError("storage_recovery");
      this.logger.error(
        { fileKey, code: errorCode(error) },
        "could not recover a partial recording",
      );
      return null;
    }
  }

  /** This instance's spool folder's names; none when it does not exist (yet). */
  private async spoolNames(): Promise<string[]> {
    try {
      return await fs.promises.readdir(this.partsDir);
    } catch (error) {
      if (errorCode(error) === "ENOENT") return [];
      throw this.unavailable("recovery", error);
    }
  }

  /** A `.part` file's path: a bare name directly inside the folder `.part` files live in. */
  private partPathOf(name: string): string {
    if (this.partsDir === this.root) return this.pathOf(name);
    const resolved = path.resolve(this.partsDir, name);
    if (path.dirname(resolved) !== this.partsDir || path.basename(resolved) !== name) {
      throw invalidArgument("file name escapes the recording folder");
    }
    return resolved;
  }

  /** Every path is a bare, grammar-checked name directly inside root; checked once more here. */
  private pathOf(name: string): string {
    const resolved = path.resolve(this.root, name);
    if (path.dirname(resolved) !== this.root || path.basename(resolved) !== name) {
      throw invalidArgument("file name escapes the recording folder");
    }
    return resolved;
  }

  private openNewSync(filePath: string): number {
    try {
      return fs.openSync(filePath, "wx", FILE_MODE);
    } catch (error) {
      if (errorCode(error) !== "ENOENT") throw error;
      fs.mkdirSync(path.dirname(filePath), { recursive: true, mode: DIR_MODE });
      return fs.openSync(filePath, "wx", FILE_MODE);
    }
  }

  private async ensureRoot(): Promise<void> {
    await fs.promises.mkdir(this.root, { recursive: true, mode: DIR_MODE });
  }

  /**
   * The folder is made owner-only (0700) at start: created so if missing, and tightened if it is
   * open to other users (a folder made before files were private, or by `mkdir` with the default
   * umask, as the start-up writability check does). Tightening also chmods to 0600 every file in
   * it that this store named, once: afterwards the folder's own mode says it was done, so later
   * starts cost one stat. A folder with the sticky bit (shared by design, like /tmp) or owned by
   * another user is left alone and logged: changing it would take access from others it is not
   * ours to take. Failures are logged, not thrown: files are still created 0600, and whether the
   * folder is writable is for create() and check() to say.
   */
  private makeRootPrivate(): void {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(this.root);
    } catch (error) {
      if (errorCode(error) !== "ENOENT") return;
      try {
        fs.mkdirSync(this.root, { recursive: true, mode: DIR_MODE });
        // mkdir's mode is narrowed by the umask; set it exactly.
        fs.chmodSync(this.root, DIR_MODE);
      } catch {
        // Reported by create() and check(), which need the folder.
      }
      return;
    }
    if (!stat.isDirectory() || (stat.mode & SHARED_BITS) === 0) return;
    const uid = process.getuid?.();
    if ((stat.mode & STICKY_BIT) !== 0 || (uid !== undefined && stat.uid !== uid)) {
      this.logger.warn(
        { mode: (stat.mode & 0o7777).toString(8) },
        "the recording folder is open to other users and not ours to close; recordings in it are private files",
      );
      return;
    }
    try {
      let tightened = 0;
      for (const name of fs.readdirSync(this.root)) {
        if (!this.isOurs(name)) continue;
        fs.chmodSync(this.pathOf(name), FILE_MODE);
        tightened++;
      }
      // Last, so a start killed half-way tightens again next time.
      fs.chmodSync(this.root, DIR_MODE);
      // An empty folder is the one the start-up check just made with the umask's mode: nothing
      // was exposed, nothing to say.
      if (tightened === 0) return;
      this.logger.warn(
        { files: tightened, previousMode: (stat.mode & 0o777).toString(8) },
        "the recording folder was open to other users; made it and its files owner-only",
      );
    } catch (error) {
      this.logger.error(
        { code: errorCode(error) },
        "could not make the recording folder owner-only",
      );
    }
  }

  /** A file this store names: a recording or sidecar, its `.part`, or an interrupted temp file. */
  private isOurs(name: string): boolean {
    const base = name.endsWith(PART_SUFFIX) ? name.slice(0, -PART_SUFFIX.length) : name;
    const temp = TEMP_SIDECAR.exec(base);
    return parseFileKey(temp?.[1] ?? base) !== null;
  }

  private unavailable(
    operation: "create" | "write_sidecar" | "read" | "delete" | "recovery",
    error: unknown,
  ) {
    const code = errorCode(error);
    this.onError(
      operation === "create" || operation === "write_sidecar"
        ? "storage_write"
        : `storage_${operation}`,
    );
    this.logger.error({ operation, code }, "recording storage operation failed");
    return storageUnavailable(`recording storage is not usable (${code})`);
  }
}

function assertValidFormat(sampleRate: number, channels: number): void {
  if (!Number.isSafeInteger(sampleRate) || sampleRate < 1 || sampleRate > MAX_SAMPLE_RATE) {
    throw invalidArgument("sampleRate must be an integer between 1 and 384000");
  }
  if (!Number.isSafeInteger(channels) || channels < 1 || channels > MAX_CHANNELS) {
    throw invalidArgument("channels must be an integer between 1 and 8");
  }
}
