/**
 * `npm run demo`: the real server wired to the local fakes of the OpenAI Realtime and Responses
 * APIs from test/support, so a newcomer without an OpenAI key still gets an assistant that
 * answers, with transcripts on both sides to browse and search and a post-call analysis of each
 * call. Use `npm start` for real calls.
 *
 * The fake assistant cannot understand audio, so it says so rather than invent words: a caller
 * turn is transcribed only from the script `npm run simulate` gives the call (--say, --script or
 * file.txt next to file.wav), and answered with the script's line for it or, without one, by
 * repeating the caller's words back (test/support/turn-scripts.ts); a turn without a script
 * line is stored as not transcribed, and the assistant answers that it did not catch it.
 *
 * How a script finds its call: the fake sees only what the server sends it (the session's
 * settings, the same for every call, and the caller's audio), nothing of Twilio's. So the
 * simulator registers the script with the fake before it opens the media stream (POST
 * /v1/fake/scripts on the fake's port, PORT + 1, keyed by the streamSid it is about to use), and
 * each new model connection takes the oldest script whose stream this server has live: the server
 * starts the call (and so makes the stream live) in the same step that opens its model
 * connection. Scripts whose call never started are never taken (they expire after two minutes);
 * two calls started within the same few milliseconds could swap scripts.
 */
import { createLogger } from "../src/adapters/logging/pino-logger.ts";
import { ConfigError, loadConfig } from "../src/config.ts";
import { type RunningServer, start } from "../src/main.ts";
import { FakeRealtimeServer, SCRIPT_PATH } from "../test/support/fake-openai-realtime.ts";
import { FakeResponsesServer } from "../test/support/fake-openai-responses.ts";

let running: RunningServer | undefined;
const serverPort = Number(process.env.PORT || 3000);
const fakePort = process.env.DEMO_FAKE_PORT
  ? Number(process.env.DEMO_FAKE_PORT)
  : Number.isInteger(serverPort) && serverPort > 0
    ? serverPort + 1
    : 0;
let fake: FakeRealtimeServer;
try {
  fake = await FakeRealtimeServer.start({
    apiKey: "sk-demo",
    port: fakePort,
    responseDelayMs: 300,
    keepAudio: false,
    scriptEndpoint: true,
    unscripted: "unheard",
    pickScript: (queued) =>
      queued.find((q) => q.key !== null && running?.composition.callManager.isStreamLive(q.key)) ??
      null,
  });
} catch (error) {
  const code = (error as NodeJS.ErrnoException).code;
  process.stderr.write(
    code === "EADDRINUSE"
      ? `demo: port ${fakePort} (for the fake assistant) is in use: set DEMO_FAKE_PORT\n`
      : `demo: the fake assistant could not start: ${String(error)}\n`,
  );
  process.exit(1);
}
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
const server = await start(config, { logger: createLogger(config.logLevel) });
running = server;
process.stdout.write(
  `demo: the assistant is a local fake of OpenAI Realtime (${fake.url}), ` +
    `and calls are analysed by a local fake of the Responses API (${analysisFake.url}).\n` +
    `demo: scripts for its calls go to http://127.0.0.1:${fake.port}${SCRIPT_PATH}\n` +
    `demo: open http://localhost:${server.port}/ and run \`npm run simulate\` in another terminal.\n`,
);
const stop = async () => {
  await server.stop();
  await fake.close();
  await analysisFake.close();
  process.exit(0);
};
process.once("SIGINT", () => void stop());
process.once("SIGTERM", () => void stop());
