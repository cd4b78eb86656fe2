/**
 * A deliberately tiny Twilio <-> OpenAI Realtime relay, independent of src/, used only to prove
 * that the two test peers speak compatible protocols. Barge-in follows the usual recipe: on
 * speech_started, `clear` Twilio and truncate the assistant item at what was played.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { type RawData, WebSocket, WebSocketServer } from "ws";
import { decodeMuLaw, encodeMuLaw } from "../../src/domain/audio/index.ts";
import { base64ToPcm16, naiveResample, pcm16ToBase64 } from "../support/signals.ts";

type Json = { [key: string]: unknown };

export interface BridgedCall {
  streamSid: string | null;
  twilioEvents: Json[];
  openaiEvents: Json[];
  truncatesSent: Json[];
  clearsSent: number;
  marksSent: string[];
  marksEchoed: string[];
  closed: Promise<void>;
}

export interface MiniBridge {
  url: string;
  calls: BridgedCall[];
  close(): Promise<void>;
}

export async function startMiniBridge(opts: {
  openaiUrl: string;
  apiKey: string;
}): Promise<MiniBridge> {
  const http: Server = createServer((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ server: http, path: "/twilio/media-stream" });
  const calls: BridgedCall[] = [];
  const sockets = new Set<WebSocket>();

  wss.on("connection", (twilio) => {
    sockets.add(twilio);
    let resolveClosed: () => void = () => {};
    const call: BridgedCall = {
      streamSid: null,
      twilioEvents: [],
      openaiEvents: [],
      truncatesSent: [],
      clearsSent: 0,
      marksSent: [],
      marksEchoed: [],
      closed: new Promise((r) => {
        resolveClosed = r;
      }),
    };
    calls.push(call);
    const openai = new WebSocket(opts.openaiUrl, {
      headers: { Authorization: `Bearer ${opts.apiKey}` },
    });
    sockets.add(openai);
    const pendingToOpenai: string[] = [];
    const toOpenai = (ev: Json) => {
      const text = JSON.stringify(ev);
      if (openai.readyState === WebSocket.OPEN) openai.send(text);
      else pendingToOpenai.push(text);
    };
    const toTwilio = (ev: Json) => {
      if (twilio.readyState === WebSocket.OPEN) twilio.send(JSON.stringify(ev));
    };

    // Assistant playback bookkeeping, in Twilio media-clock milliseconds.
    let latestMediaMs = 0;
    let currentItem: string | null = null;
    let itemStartMs: number | null = null;
    let itemSentMs = 0;
    const pendingMarks = new Set<string>();

    openai.on("open", () => {
      openai.send(
        JSON.stringify({
          type: "session.update",
          session: {
            type: "realtime",
            instructions: "test",
            audio: {
              input: {
                format: { type: "audio/pcm", rate: 24000 },
                turn_detection: { type: "server_vad" },
                transcription: { model: "gpt-4o-mini-transcribe" },
              },
              output: { format: { type: "audio/pcm", rate: 24000 }, voice: "alloy" },
            },
          },
        }),
      );
      for (const t of pendingToOpenai.splice(0)) openai.send(t);
    });
    openai.on("error", () => {});
    openai.on("message", (data: RawData) => {
      let ev: Json;
      try {
        ev = JSON.parse(data.toString()) as Json;
      } catch {
        return;
      }
      call.openaiEvents.push(ev);
      switch (ev.type) {
        case "response.output_audio.delta": {
          const itemId = String(ev.item_id);
          if (itemId !== currentItem) {
            currentItem = itemId;
            itemStartMs = latestMediaMs;
            itemSentMs = 0;
          }
          const mu = encodeMuLaw(naiveResample(base64ToPcm16(String(ev.delta)), 24000, 8000));
          for (let i = 0; i < mu.length; i += 160) {
            const frame = mu.subarray(i, i + 160);
            toTwilio({
              event: "media",
              streamSid: call.streamSid,
              media: { payload: Buffer.from(frame).toString("base64") },
            });
          }
          itemSentMs += mu.length / 8;
          break;
        }
        case "response.output_audio.done": {
          const name = `${String(ev.item_id)}:end`;
          pendingMarks.add(name);
          call.marksSent.push(name);
          toTwilio({ event: "mark", streamSid: call.streamSid, mark: { name } });
          break;
        }
        case "input_audio_buffer.speech_started": {
          if (currentItem && pendingMarks.size > 0 && itemStartMs !== null) {
            toTwilio({ event: "clear", streamSid: call.streamSid });
            call.clearsSent++;
            const played = Math.max(0, Math.min(latestMediaMs - itemStartMs, itemSentMs));
            const truncate = {
              type: "conversation.item.truncate",
              item_id: currentItem,
              content_index: 0,
              audio_end_ms: Math.floor(played),
            };
            call.truncatesSent.push(truncate);
            toOpenai(truncate);
          }
          break;
        }
        default:
          break;
      }
    });

    twilio.on("message", (data: RawData) => {
      const msg = JSON.parse(data.toString()) as Json;
      call.twilioEvents.push(msg);
      switch (msg.event) {
        case "start":
          call.streamSid = String((msg.start as Json).streamSid);
          break;
        case "media": {
          const media = msg.media as Json;
          latestMediaMs = Number(media.timestamp);
          const pcm8 = decodeMuLaw(new Uint8Array(Buffer.from(String(media.payload), "base64")));
          toOpenai({
            type: "input_audio_buffer.append",
            audio: pcm16ToBase64(naiveResample(pcm8, 8000, 24000)),
          });
          break;
        }
        case "mark": {
          const name = String((msg.mark as Json).name);
          call.marksEchoed.push(name);
          pendingMarks.delete(name);
          break;
        }
        default:
          break;
      }
    });
    twilio.on("close", () => {
      openai.close();
      resolveClosed();
    });
  });

  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  const port = (http.address() as AddressInfo).port;
  return {
    url: `ws://127.0.0.1:${port}/twilio/media-stream`,
    calls,
    async close() {
      for (const s of sockets) s.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}
