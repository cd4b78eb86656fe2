/**
 * The reference point, rebuilt for calibration: a minimal `ws` forwarder that passes
 * Twilio's mu-law payloads to OpenAI as they are and forwards each audio delta back as one media
 * message, storing nothing. Run through the same harness as the real server
 * (`npx tsx bench/load.ts --server passthrough`), it shows what this machine's sockets cost on
 * the day, so the server's figures can be read against it rather than against a number measured
 * in other conditions. Only its CPU, memory and inbound latency are comparable: it sends one
 * frame per delta, so outbound frame counts do not apply. It declares `audio/pcmu` both ways, so
 * the load fake answers it in 8 kHz mu-law as the real service would (a 100 ms delta: one media
 * message of 800 bytes).
 */
import { createServer } from "node:http";
import { WebSocket, WebSocketServer } from "ws";

const APPEND_PREFIX = '{"type":"input_audio_buffer.append","audio":"';
const SESSION_UPDATE = JSON.stringify({
  type: "session.update",
  session: {
    type: "realtime",
    audio: {
      input: { format: { type: "audio/pcmu" } },
      output: { format: { type: "audio/pcmu" } },
    },
  },
});

const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST ?? "127.0.0.1";
const upstream = process.env.OPENAI_REALTIME_URL ?? "ws://127.0.0.1:1/";
const apiKey = process.env.OPENAI_API_KEY ?? "";
let active = 0;

const http = createServer((req, res) => {
  if (req.url === "/healthz") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ status: "ok", activeCalls: active }));
    return;
  }
  res.writeHead(404).end();
});
const wss = new WebSocketServer({ server: http, perMessageDeflate: false });

wss.on("connection", (twilio) => {
  let openai: WebSocket | null = null;
  let streamSid = "";
  let queue: string[] = [];
  let counted = false;
  const end = () => {
    if (counted) active--;
    counted = false;
    openai?.close(1000);
    openai = null;
  };
  twilio.on("message", (data: Buffer) => {
    const message = JSON.parse(data.toString()) as {
      event: string;
      streamSid?: string;
      media?: { payload: string };
    };
    if (message.event === "start") {
      streamSid = message.streamSid ?? "";
      active++;
      counted = true;
      const socket = new WebSocket(upstream, {
        headers: { Authorization: `Bearer ${apiKey}` },
        perMessageDeflate: false,
      });
      openai = socket;
      socket.on("open", () => {
        socket.send(SESSION_UPDATE);
        for (const m of queue) socket.send(m);
        queue = [];
      });
      socket.on("message", (raw: Buffer) => {
        const event = JSON.parse(raw.toString()) as { type: string; delta?: string };
        if (event.type === "response.output_audio.delta" && twilio.readyState === WebSocket.OPEN) {
          twilio.send(
            `{"event":"media","streamSid":"${streamSid}","media":{"payload":"${event.delta}"}}`,
          );
        }
      });
      socket.on("error", () => {});
    } else if (message.event === "media" && message.media) {
      const append = `${APPEND_PREFIX}${message.media.payload}"}`;
      if (openai?.readyState === WebSocket.OPEN) openai.send(append);
      else queue.push(append);
    } else if (message.event === "stop") {
      end();
    }
  });
  twilio.on("close", end);
  twilio.on("error", () => {});
});

http.listen(port, host);
process.once("SIGTERM", () => process.exit(0));
