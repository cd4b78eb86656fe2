import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../../src/adapters/logging/pino-logger.ts";
import { loadConfig } from "../../src/config.ts";
import { type RunningServer, start } from "../../src/main.ts";

export interface TestServer {
  running: RunningServer;
  dir: string;
  baseUrl: string;
  mediaStreamUrl: string;
  recordingsDir: string;
  databasePath: string;
  stop(): Promise<void>;
}

/**
 * The real server, composed as `npm start` composes it, on 127.0.0.1 with a free port and its
 * own temp database and recordings folder.
 */
export interface TestServerOptions {
  /** Where the server's pino lines go (for tests that read the log); stdout by default. */
  logDestination?: NodeJS.WritableStream;
}

export async function startTestServer(
  env: Record<string, string> = {},
  options: TestServerOptions = {},
): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), "callbridge-e2e-"));
  const databasePath = join(dir, "calls.db");
  const recordingsDir = join(dir, "recordings");
  const config = loadConfig({
    PORT: "0",
    HOST: "127.0.0.1",
    DATABASE_URL: databasePath,
    RECORDING_STORAGE_PATH: recordingsDir,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
    // Tests that want it point OPENAI_BASE_URL at the fake Responses API and turn it on: a key
    // alone would send every test's calls to api.openai.com.
    POST_CALL_ANALYSIS: "off",
    ...env,
  });
  const running = await start(config, {
    logger: createLogger(config.logLevel, options.logDestination),
  });
  const baseUrl = `http://127.0.0.1:${running.port}`;
  return {
    running,
    dir,
    baseUrl,
    mediaStreamUrl: `ws://127.0.0.1:${running.port}/twilio/media-stream`,
    recordingsDir,
    databasePath,
    async stop() {
      await running.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls until `check` returns a value (not undefined), or fails after `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 10_000,
  label = "condition",
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${label}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
