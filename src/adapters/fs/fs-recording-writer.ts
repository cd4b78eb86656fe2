import type {
  FinishedRecording,
  RecordingSpec,
  RecordingWriter,
} from "../../application/ports/index.ts";
import { LITTLE_ENDIAN_HOST } from "../../domain/audio/index.ts";
import { storageUnavailable } from "../../domain/errors.ts";
import {
  errorCode,
  fsyncDirectory,
  type StoreErrorKind,
  type StoreLogger,
  type WriterIo,
} from "./store-io.ts";
import { WAV_HEADER_BYTES, wavHeader } from "./wav-header.ts";

/** Partial buffers are handed to the disk at least this often, bounding loss on SIGKILL. */
export const FLUSH_INTERVAL_MS = 500;

/**
 * Audio one buffer holds. The flush timer hands a buffer to the disk every FLUSH_INTERVAL_MS, so
 * a buffer larger than that interval would never fill: it would only cost memory per call.
 */
export const BUFFER_MS = FLUSH_INTERVAL_MS;

/**
 * Buffers per writer: one filling, the others queued for the disk. A live call normally holds
 * one (the write of the previous ends long before the next fills); only a stalled disk fills the
 * rest, after MAX_BUFFERS × BUFFER_MS = 3 s. Beyond that a writer borrows up to
 * MAX_BORROWED_BUFFERS more from its store's shared budget, and only then drops audio.
 */
export const MAX_BUFFERS = 6;

/**
 * Buffers a writer may borrow beyond MAX_BUFFERS, 10 s more, while the store's budget lasts.
 * The disk is seldom stalled for all calls alike: with the process overloaded (every core busy,
 * libuv's four file threads queued behind other calls' file work) one call's writes fell 3 s
 * behind and lost audio, while the machine had memory to spare.
 */
export const MAX_BORROWED_BUFFERS = 20;

/**
 * What all of a store's writers may borrow together: 64 MB, about 11 minutes of call audio (a
 * call's two tracks are 96 KB a second), however many calls fall behind at once.
 */
export const BORROW_BUDGET_BYTES = 64 * 1024 * 1024;

/** Idle buffers kept per size for the next writer that needs one; more are left to the GC. */
const MAX_POOLED_SLOTS = 64;

/**
 * Buffers no writer is using, shared by the writers of one store. A writer keeps the buffer it
 * fills; the one it has just written comes back here rather than staying with it as a spare for
 * its next one, so a live call holds one buffer of audio per track, not two.
 */
export class SlotPool {
  private readonly idle = new Map<number, Slot[]>();
  private borrowed = 0;

  /** @param budgetBytes what this store's writers may borrow beyond MAX_BUFFERS, together. */
  constructor(private readonly budgetBytes = BORROW_BUDGET_BYTES) {}

  /** Takes `bytes` of the budget; false when it would go over. */
  borrow(bytes: number): boolean {
    if (this.borrowed + bytes > this.budgetBytes) return false;
    this.borrowed += bytes;
    return true;
  }

  repay(bytes: number): void {
    this.borrowed -= bytes;
  }

  take(capacityBytes: number): Slot | undefined {
    return this.idle.get(capacityBytes)?.pop();
  }

  give(slot: Slot): void {
    const list = this.idle.get(slot.bytes.byteLength) ?? [];
    this.idle.set(slot.bytes.byteLength, list);
    if (list.length < MAX_POOLED_SLOTS) list.push(slot);
  }
}

export interface Slot {
  readonly bytes: Uint8Array;
  /** Int16 view of `bytes`, so little-endian hosts copy samples with one typed-array set(). */
  readonly samples: Int16Array;
  readonly view: DataView;
  /** Bytes filled. */
  fill: number;
  /** File offset this buffer is written at, fixed when it is handed to the disk. */
  position: number;
}

export interface WriterDeps {
  spec: RecordingSpec;
  fd: number;
  fileKey: string;
  dir: string;
  partPath: string;
  finalPath: string;
  io: WriterIo;
  logger: StoreLogger;
  onBytesWritten: (n: number) => void;
  onError: (kind: StoreErrorKind) => void;
  /** Called once the writer no longer owns its `.part` file (finalized or given up). */
  onSettled: () => void;
  /** Idle buffers shared with the store's other writers; a writer alone keeps its own. */
  pool?: SlotPool;
}

/**
 * Streams PCM16 to `<final name>.part`: append() copies into a preallocated buffer of BUFFER_MS and
 * never waits on the disk; full buffers (and, every FLUSH_INTERVAL_MS, a partial one) are written with
 * positional writes, one at a time. When the disk cannot keep up and every buffer is taken, new
 * audio is dropped and counted instead of growing memory without bound: a live call cannot wait,
 * and a gap in a recording is better than a server that runs out of memory.
 */
export class FsRecordingWriter implements RecordingWriter {
  readonly spec: RecordingSpec;
  private readonly deps: WriterDeps;
  private readonly pool: SlotPool;
  private readonly capacityBytes: number;
  private readonly blockAlign: number;

  private active: Slot | null;
  /** Handed-off buffers in file order; the head is being written while `writing`. */
  private readonly queue: Slot[] = [];
  /**
   * Buffers this writer holds (the filling one and the queued ones): at most MAX_BUFFERS of its
   * own, and `borrowedSlots` more from the store's budget.
   */
  private allocated = 1;
  private borrowedSlots = 0;
  private writing = false;
  private nextPosition = WAV_HEADER_BYTES;
  private idleWaiters: Array<() => void> = [];
  private timer: ReturnType<typeof setInterval> | null;

  private accepted = 0;
  private dropped = 0;
  private buffered = 0;
  private onDisk = 0;
  private overflowing = false;
  private failure: unknown = null;
  private closed = false;
  private finalizing: Promise<FinishedRecording> | null = null;

  constructor(deps: WriterDeps) {
    this.deps = deps;
    this.spec = deps.spec;
    this.blockAlign = deps.spec.channels * 2;
    // Whole sample frames, so a buffer never splits one.
    this.capacityBytes = Math.ceil((deps.spec.sampleRate * BUFFER_MS) / 1000) * this.blockAlign;
    this.pool = deps.pool ?? new SlotPool();
    this.active = this.pool.take(this.capacityBytes) ?? this.newSlot();
    // One timer per writer; unref so an idle recording never keeps the process alive.
    this.timer = setInterval(() => this.handOff(), FLUSH_INTERVAL_MS);
    this.timer.unref?.();
  }

  /** Bytes of PCM accepted so far (dropped audio is not counted). */
  get bytesWritten(): number {
    return this.accepted;
  }

  /** Bytes of audio dropped because the disk failed or could not keep up. */
  get droppedBytes(): number {
    return this.dropped;
  }

  /** Bytes accepted but not yet handed to the kernel; never above `maxBufferedBytes`. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** The most this writer ever buffers: its own buffers and all it may borrow. */
  get maxBufferedBytes(): number {
    return (MAX_BUFFERS + MAX_BORROWED_BUFFERS) * this.capacityBytes;
  }

  append(samples: Int16Array): void {
    const total = samples.length * 2;
    if (total === 0) return;
    if (this.closed || this.failure !== null) {
      this.dropped += total;
      return;
    }
    let from = 0;
    while (from < samples.length) {
      const slot = this.active ?? this.takeSlot();
      if (slot === null) {
        this.overflow((samples.length - from) * 2);
        return;
      }
      this.active = slot;
      const room = (this.capacityBytes - slot.fill) >> 1;
      const count = Math.min(room, samples.length - from);
      this.copy(samples, from, count, slot);
      from += count;
      slot.fill += count * 2;
      this.accepted += count * 2;
      this.buffered += count * 2;
      if (slot.fill === this.capacityBytes) this.handOff();
    }
    this.overflowing = false;
  }

  finalize(): Promise<FinishedRecording> {
    this.finalizing ??= this.finish();
    return this.finalizing;
  }

  private copy(samples: Int16Array, from: number, count: number, slot: Slot): void {
    if (LITTLE_ENDIAN_HOST) {
      // The whole-chunk case (the usual one) copies without creating a subarray view.
      const source =
        from === 0 && count === samples.length ? samples : samples.subarray(from, from + count);
      slot.samples.set(source, slot.fill >> 1);
      return;
    }
    for (let i = 0; i < count; i++) {
      slot.view.setInt16(slot.fill + i * 2, samples[from + i] ?? 0, true);
    }
  }

  private newSlot(): Slot {
    const buffer = new ArrayBuffer(this.capacityBytes);
    return {
      bytes: new Uint8Array(buffer),
      samples: new Int16Array(buffer),
      view: new DataView(buffer),
      fill: 0,
      position: 0,
    };
  }

  private takeSlot(): Slot | null {
    if (this.allocated >= MAX_BUFFERS) {
      if (this.borrowedSlots >= MAX_BORROWED_BUFFERS) return null;
      if (!this.pool.borrow(this.capacityBytes)) return null;
      // Once each time this writer starts borrowing.
      if (++this.borrowedSlots === 1) {
        this.deps.logger.warn(
          { fileKey: this.deps.fileKey, bufferedBytes: this.buffered },
          "recording disk writes are falling behind; buffering more from the shared budget",
        );
      }
    }
    this.allocated += 1;
    return this.pool.take(this.capacityBytes) ?? this.newSlot();
  }

  private overflow(bytes: number): void {
    this.dropped += bytes;
    if (this.overflowing) return;
    this.overflowing = true;
    this.deps.onError("recording_overflow");
    this.deps.logger.warn(
      { fileKey: this.deps.fileKey, bufferedBytes: this.buffered, droppedBytes: this.dropped },
      "recording disk writes are falling behind; dropping audio",
    );
  }

  /** Queues the filling buffer for the disk, if it holds anything. */
  private handOff(): void {
    const slot = this.active;
    if (slot === null || slot.fill === 0 || this.failure !== null) return;
    slot.position = this.nextPosition;
    this.nextPosition += slot.fill;
    this.queue.push(slot);
    this.active = this.takeSlot();
    this.pump();
  }

  private pump(): void {
    if (this.writing) return;
    const slot = this.queue[0];
    if (slot === undefined) {
      this.settleIdle();
      return;
    }
    this.writing = true;
    void this.writeSlot(slot);
  }

  /** Regular-file writes may be short (e.g. a disk filling up): finish or fail, never spin. */
  private async writeFully(bytes: Uint8Array, length: number, position: number): Promise<void> {
    let offset = 0;
    while (offset < length) {
      const n = await this.deps.io.write(
        this.deps.fd,
        bytes,
        offset,
        length - offset,
        position + offset,
      );
      if (n <= 0) throw Object.assign(new Error("write made no progress"), { code: "EIO" });
      offset += n;
    }
  }

  private async writeSlot(slot: Slot): Promise<void> {
    try {
      await this.writeFully(slot.bytes, slot.fill, slot.position);
    } catch (error) {
      this.writing = false;
      this.fail(error);
      return;
    }
    this.onDisk += slot.fill;
    this.buffered -= slot.fill;
    this.deps.onBytesWritten(slot.fill);
    this.queue.shift();
    this.release(slot);
    this.writing = false;
    this.pump();
  }

  private release(slot: Slot): void {
    slot.fill = 0;
    if (this.active === null) {
      this.active = slot;
      return;
    }
    this.allocated -= 1;
    if (this.borrowedSlots > 0) {
      this.borrowedSlots -= 1;
      this.pool.repay(this.capacityBytes);
    }
    this.pool.give(slot);
  }

  /** A write failed: keep the call going, drop what is buffered and everything after. */
  private fail(error: unknown): void {
    if (this.failure !== null) return;
    this.failure = error;
    for (const slot of this.queue.splice(0)) {
      this.dropped += slot.fill;
      this.buffered -= slot.fill;
      this.release(slot);
    }
    if (this.active !== null) {
      this.dropped += this.active.fill;
      this.buffered -= this.active.fill;
      this.active.fill = 0;
    }
    this.deps.onError("storage_write");
    this.deps.logger.error(
      { fileKey: this.deps.fileKey, code: errorCode(error) },
      "recording write failed; the rest of this recording is dropped",
    );
    this.settleIdle();
  }

  private settleIdle(): void {
    if (this.writing || this.queue.length > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private whenIdle(): Promise<void> {
    if (!this.writing && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async finish(): Promise<FinishedRecording> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.handOff();
    this.closed = true;
    await this.whenIdle();

    const { io, fd, spec, logger, fileKey } = this.deps;
    let closed = false;
    try {
      if (this.failure !== null) throw this.failure;
      // A caller that appended a partial stereo frame leaves a ragged tail: keep whole frames only.
      const dataBytes = this.onDisk - (this.onDisk % this.blockAlign);
      if (dataBytes !== this.onDisk) await io.ftruncate(fd, WAV_HEADER_BYTES + dataBytes);
      const header = wavHeader(spec.sampleRate, spec.channels, dataBytes);
      await this.writeFully(header, header.byteLength, 0);
      await io.fsync(fd);
      closed = true;
      await io.close(fd);
      await io.rename(this.deps.partPath, this.deps.finalPath);
      await fsyncDirectory(this.deps.dir);
      if (this.dropped > 0) {
        logger.warn(
          { fileKey, droppedBytes: this.dropped },
          "recording finalized with dropped audio",
        );
      }
      return {
        fileKey,
        streamSid: spec.streamSid,
        startedAtMs: spec.startedAtMs,
        sizeBytes: WAV_HEADER_BYTES + dataBytes,
        durationSeconds: dataBytes / (spec.sampleRate * this.blockAlign),
        sampleRate: spec.sampleRate,
        channels: spec.channels,
        track: spec.track,
      };
    } catch (error) {
      // The .part file stays where it is: recoverPartials() makes whatever reached the disk a
      // valid WAV at the next start.
      if (error !== this.failure) {
        this.deps.onError("storage_write");
        logger.error({ fileKey, code: errorCode(error) }, "recording could not be finalized");
      }
      throw storageUnavailable("the recording could not be written to storage");
    } finally {
      if (!closed) await io.close(fd).catch(() => undefined);
      this.deps.onSettled();
    }
  }
}
