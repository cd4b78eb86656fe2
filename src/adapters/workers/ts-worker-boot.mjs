// Entry of every worker thread: loads the TypeScript module named in workerData.entry through
// tsx, so a worker runs the same sources whether the parent is `npm start` (tsx), vitest or a
// bench script. Plain JavaScript because nothing has registered a TypeScript loader yet here.
import { workerData } from "node:worker_threads";
import { tsImport } from "tsx/esm/api";

await tsImport(workerData.entry, import.meta.url);
