// Test worker: reports its own thread's nice value, read from /proc/thread-self/stat.
import { readFileSync } from "node:fs";
import { parentPort } from "node:worker_threads";

const stat = readFileSync("/proc/thread-self/stat", "utf8");
const nice = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
parentPort?.postMessage({ nice });
