// Worker-thread entry (started by PeaksWorker through spawnWorker): reads a recording with its
// own file stream and reduces it to waveform peaks, so the thread that carries every call's audio
// never touches the samples. One job at a time arrives here; the parent queues the rest.
import fs from "node:fs";
import { Readable } from "node:stream";
import { parentPort } from "node:worker_threads";
import { errorMessage } from "../../../domain/errors.ts";
import type { PeaksJob, PeaksReply } from "./peaks-worker-client.ts";
import { computePeaks } from "./waveform-peaks.ts";

/** Big reads: a one-hour stereo file is 230 MB, and each chunk costs a round trip to libuv. */
const READ_CHUNK_BYTES = 1 << 20;

const port = parentPort;
if (!port) throw new Error("peaks-worker.ts runs only as a worker thread");

port.on("message", (job: PeaksJob) => {
  void run(job).then((reply) => port.postMessage(reply));
});

async function run(job: PeaksJob): Promise<PeaksReply> {
  try {
    const file = fs.createReadStream(job.path, {
      start: 0,
      end: job.sizeBytes - 1,
      highWaterMark: READ_CHUNK_BYTES,
    });
    const stream = Readable.toWeb(file) as ReadableStream<Uint8Array>;
    const peaks = await computePeaks(stream, job.sizeBytes, job.buckets);
    return { id: job.id, ok: true, peaks };
  } catch (error) {
    const code =
      error instanceof Error && "code" in error && typeof error.code === "string"
        ? error.code
        : undefined;
    // An fs error's message names the path; its code says enough, as in the store's own logs.
    const message = code ?? errorMessage(error);
    return { id: job.id, ok: false, code, message };
  }
}
