/**
 * `npm run demo`: the real server wired to the local fake of the OpenAI Realtime API from
 * test/support, so a newcomer without an OpenAI key still gets an assistant that answers, with
 * transcripts on both sides to browse and search. Use `npm start` for real calls.
 */
import { createLogger } from "../src/adapters/logging/pino-logger.ts";
import { ConfigError, loadConfig } from "../src/config.ts";
import { start } from "../src/main.ts";
import { FakeRealtimeServer } from "../test/support/fake-openai-realtime.ts";

const fake = await FakeRealtimeServer.start({
  apiKey: "sk-demo",
  callerTranscript: "Hello, I would like to check the status of my order please",
  assistantTranscript: "Of course. Your order shipped this morning and arrives tomorrow.",
  responseDelayMs: 300,
  keepAudio: false,
});

let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig({
    ...process.env,
    OPENAI_API_KEY: "sk-demo",
    OPENAI_REALTIME_URL: fake.url,
  });
} catch (error) {
  process.stderr.write(`${error instanceof ConfigError ? error.message : String(error)}\n`);
  process.exit(1);
}
const running = await start(config, { logger: createLogger(config.logLevel) });
process.stdout.write(
  `demo: the assistant is a local fake of OpenAI Realtime (${fake.url}).\n` +
    `demo: open http://localhost:${running.port}/ and run \`npm run simulate\` in another terminal.\n`,
);
const stop = async () => {
  await running.stop();
  await fake.close();
  process.exit(0);
};
process.once("SIGINT", () => void stop());
process.once("SIGTERM", () => void stop());
