import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { spawnWorker } from "../../../src/adapters/workers/spawn-worker.ts";

const niceOf = (path: string) => Number(readFileSync(path, "utf8").split(") ")[1]!.split(" ")[16]);

async function reportedNice(nice?: number): Promise<number> {
  const worker = spawnWorker(new URL("./report-nice-worker.ts", import.meta.url), { nice });
  try {
    const message = await new Promise<{ nice: number }>((resolve, reject) => {
      worker.once("message", resolve);
      worker.once("error", reject);
    });
    return message.nice;
  } finally {
    await worker.terminate();
  }
}

describe.runIf(process.platform === "linux")("spawnWorker", () => {
  it("runs a TypeScript module on a thread whose nice value is set before it loads", async () => {
    const own = niceOf("/proc/thread-self/stat");
    expect(await reportedNice(own + 7)).toBe(own + 7);
    // The calling thread keeps its own.
    expect(niceOf("/proc/thread-self/stat")).toBe(own);
    expect(await reportedNice()).toBe(own);
  });
});
