import type { Worker } from "node:worker_threads";
import { notFound } from "../../../domain/errors.ts";
import { spawnWorker } from "../../workers/spawn-worker.ts";
import type { PeaksJson } from "./waveform-peaks.ts";

/** What the main thread sends: a few numbers and a path, never samples. */
export interface PeaksJob {
  id: number;
  path: string;
  sizeBytes: number;
  buckets: number;
}

export type PeaksReply =
  | { id: number; ok: true; peaks: PeaksJson }
  | { id: number; ok: false; code: string | undefined; message: string };

export interface PeaksWorkerOptions {
  /** Jobs waiting behind the running one; more are refused (PeaksBusyError), not buffered. */
  maxQueued?: number;
  /** An idle worker is stopped after this long: a thread and its heap cost memory per process. */
  idleMs?: number;
  /** A job still running after this is abandoned and its worker replaced (a stalled disk). */
  jobTimeoutMs?: number;
  /** The worker's nice value (Linux). */
  nice?: number;
  /** Test seam: starts the worker thread. */
  spawn?: (options: { nice: number }) => Worker;
}

/** The queue is full or the worker is shut down: try again later. */
export class PeaksBusyError extends Error {
  override readonly name = "PeaksBusyError";
}

interface Job extends PeaksJob {
  resolve(peaks: PeaksJson): void;
  reject(error: Error): void;
}

export const spawnPeaksWorker = (options: { nice: number }): Worker =>
  spawnWorker(new URL("./peaks-worker.ts", import.meta.url), { name: "peaks", nice: options.nice });

/**
 * Waveform peaks computed on one lazily started, low-priority worker thread, one job at a time.
 * Reducing a one-hour recording reads 230 MB, which on the main thread would take that CPU from
 * every live call's audio. The worker is unref'd while idle, so it never keeps the process alive,
 * and a worker that dies fails only the job it was running; the next job gets a fresh one.
 */
export class PeaksWorker {
  private readonly maxQueued: number;
  private readonly idleMs: number;
  private readonly jobTimeoutMs: number;
  private readonly nice: number;
  private readonly spawn: (options: { nice: number }) => Worker;
  private worker: Worker | null = null;
  private running: Job | null = null;
  private readonly queue: Job[] = [];
  private nextId = 1;
  private idleTimer: ReturnType<typeof setTimeout> | null = null;
  private jobTimer: ReturnType<typeof setTimeout> | null = null;
  private closed = false;

  constructor(options: PeaksWorkerOptions = {}) {
    this.maxQueued = options.maxQueued ?? 16;
    this.idleMs = options.idleMs ?? 60_000;
    this.jobTimeoutMs = options.jobTimeoutMs ?? 120_000;
    this.nice = options.nice ?? 10;
    this.spawn = options.spawn ?? spawnPeaksWorker;
  }

  /** Peaks of the canonical PCM16 WAV file at `path`, of which `sizeBytes` are read. */
  compute(path: string, sizeBytes: number, buckets: number): Promise<PeaksJson> {
    if (this.closed) return Promise.reject(new PeaksBusyError("the peaks worker is shut down"));
    if (this.running && this.queue.length >= this.maxQueued) {
      return Promise.reject(new PeaksBusyError("too many waveform requests are waiting"));
    }
    return new Promise<PeaksJson>((resolve, reject) => {
      this.queue.push({ id: this.nextId++, path, sizeBytes, buckets, resolve, reject });
      this.pump();
    });
  }

  /**
   * Starts the worker now rather than at the first request. Booting a worker costs about a
   * second of CPU (loading and compiling its modules, partly on V8's shared helper threads);
   * beside 100 live calls on one core that held the audio thread up to 200 ms in the bench, so
   * the server starts it before it serves and keeps it (idleMs Infinity).
   */
  warm(): void {
    if (this.worker || this.closed) return;
    this.start().unref();
  }

  /** Fails every pending job and stops the worker; compute() refuses from now on. */
  async close(): Promise<void> {
    this.closed = true;
    const stopped = new PeaksBusyError("the server is shutting down");
    for (const job of this.queue.splice(0)) job.reject(stopped);
    this.finishRunning()?.reject(stopped);
    this.clearIdleTimer();
    await this.stopWorker();
  }

  private pump(): void {
    if (this.running || this.closed) return;
    const job = this.queue.shift();
    if (!job) {
      this.worker?.unref();
      if (this.worker && !this.idleTimer && Number.isFinite(this.idleMs)) {
        this.idleTimer = setTimeout(() => {
          this.idleTimer = null;
          void this.stopWorker();
        }, this.idleMs);
        this.idleTimer.unref();
      }
      return;
    }
    this.clearIdleTimer();
    let worker: Worker;
    try {
      worker = this.worker ?? this.start();
    } catch (error) {
      job.reject(new Error("could not start the peaks worker", { cause: error }));
      this.pump();
      return;
    }
    this.running = job;
    // Held while a job runs, so a caller awaiting it keeps the process alive.
    worker.ref();
    this.jobTimer = setTimeout(() => {
      this.finishRunning()?.reject(new Error("computing waveform peaks timed out"));
      void this.stopWorker();
      this.pump();
    }, this.jobTimeoutMs);
    this.jobTimer.unref();
    const message: PeaksJob = {
      id: job.id,
      path: job.path,
      sizeBytes: job.sizeBytes,
      buckets: job.buckets,
    };
    worker.postMessage(message);
  }

  private start(): Worker {
    const worker = this.spawn({ nice: this.nice });
    this.worker = worker;
    let failure: Error | null = null;
    worker.on("message", (reply: PeaksReply) => {
      if (worker !== this.worker || reply.id !== this.running?.id) return;
      const job = this.finishRunning();
      if (!job) return;
      if (reply.ok) job.resolve(reply.peaks);
      else if (reply.code === "ENOENT") {
        // Deleted between the route's lookup and the worker's open: the same 404 as before it.
        job.reject(notFound("the audio file of the recording is missing"));
      } else {
        job.reject(new Error(`computing waveform peaks failed: ${reply.message}`));
      }
      this.pump();
    });
    worker.on("error", (error) => {
      failure = error;
    });
    worker.on("exit", (code) => {
      // A worker replaced on purpose (idle, timed out, closed) has nothing left to fail.
      if (worker !== this.worker) return;
      this.worker = null;
      const reason = failure ? `: ${failure.message}` : "";
      this.finishRunning()?.reject(
        new Error(`the peaks worker stopped (exit code ${code})${reason}`),
      );
      this.pump();
    });
    return worker;
  }

  private finishRunning(): Job | null {
    const job = this.running;
    this.running = null;
    if (this.jobTimer) clearTimeout(this.jobTimer);
    this.jobTimer = null;
    return job;
  }

  private clearIdleTimer(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }

  private async stopWorker(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    if (worker) await worker.terminate();
  }
}
