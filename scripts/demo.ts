/**
 * `npm run demo`: the real server wired to the local fakes of the OpenAI Realtime and Responses
 * APIs from test/support, so a newcomer without an OpenAI key still gets an assistant that
 * answers, with transcripts on both sides to browse and search and a post-call analysis of each
 * call. Use `npm start` for real calls.
 */
import { createLogger } from "../src/adapters/logging/pino-logger.ts";
import { ConfigError, loadConfig } from "../src/config.ts";
import { start } from "../src/main.ts";
import { FakeRealtimeServer } from "../test/support/fake-openai-realtime.ts";
import { FakeResponsesServer } from "../test/support/fake-openai-responses.ts";

const fake = await FakeRealtimeServer.start({
  apiKey: "sk-demo",
  callerTranscript: "Hello, I would like to check the status of my order please",
  assistantTranscript: "Of course. Your order shipped this morning and arrives tomorrow.",
  responseDelayMs: 300,
  keepAudio: false,
});
// A model takes a moment to read a call: the analysis shows `pending` before its summary.
const analysisFake = await FakeResponsesServer.start({ apiKey: "sk-demo", delayMs: 1_500 });

let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig({
    ...process.env,
    OPENAI_API_KEY: "sk-demo",
    OPENAI_REALTIME_URL: fake.url,
    OPENAI_BASE_URL: analysisFake.url,
    POST_CALL_ANALYSIS: "on",
  });
} catch (error) {
  process.stderr.write(`${error instanceof ConfigError ? error.message : String(error)}\n`);
  process.exit(1);
}
const running = await start(config, { logger: createLogger(config.logLevel) });
process.stdout.write(
  `demo: the assistant is a local fake of OpenAI Realtime (${fake.url}), ` +
    `and calls are analysed by a local fake of the Responses API (${analysisFake.url}).\n` +
    `demo: open http://localhost:${running.port}/ and run \`npm run simulate\` in another terminal.\n`,
);
const stop = async () => {
  await running.stop();
  await fake.close();
  await analysisFake.close();
  process.exit(0);
};
process.once("SIGINT", () => void stop());
process.once("SIGTERM", () => void stop());
