// Test worker: takes peaks jobs and never answers, so a job stays running as long as a test needs.
import { parentPort } from "node:worker_threads";

parentPort?.on("message", () => {});
