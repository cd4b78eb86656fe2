import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { type WebSocket, WebSocketServer } from "ws";
import { decodeMuLaw, encodeMuLaw } from "../../src/domain/audio/index.ts";
import { concat, silence, tone } from "../support/signals.ts";
import { playCall, TwilioSimulator, UpgradeRejectedError } from "../support/twilio-simulator.ts";

type Json = { [key: string]: unknown };

/** A bare media-stream endpoint that records what the simulator sends and lets tests reply. */
interface Peer {
  socket: WebSocket;
  headers: IncomingHttpHeaders;
  received: Json[];
  /** performance.now() at arrival, parallel to `received`. */
  arrivedAt: number[];
  waitFor(pred: (m: Json) => boolean, timeoutMs?: number): Promise<Json>;
}

interface PeerServer {
  url: string;
  peers: Peer[];
  nextPeer(): Promise<Peer>;
  close(): Promise<void>;
}

const servers: PeerServer[] = [];
const sims: TwilioSimulator[] = [];

afterEach(async () => {
  for (const s of sims.splice(0)) s.terminate();
  for (const s of servers.splice(0)) await s.close();
});

async function startPeerServer(opts: { status?: number } = {}): Promise<PeerServer> {
  const http: Server = createServer((_q, r) => r.writeHead(404).end());
  const wss = new WebSocketServer({ noServer: true });
  const peers: Peer[] = [];
  const peerWaiters: ((p: Peer) => void)[] = [];
  http.on("upgrade", (req, socket, head) => {
    if (opts.status) {
      socket.end(
        `HTTP/1.1 ${opts.status} Forbidden\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno`,
      );
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const received: Json[] = [];
      const arrivedAt: number[] = [];
      const waiters = new Set<() => void>();
      ws.on("message", (d) => {
        received.push(JSON.parse(d.toString()) as Json);
        arrivedAt.push(performance.now());
        for (const w of [...waiters]) w();
      });
      const peer: Peer = {
        socket: ws,
        headers: req.headers,
        received,
        arrivedAt,
        waitFor(pred, timeoutMs = 10_000) {
          const hit = received.find(pred);
          if (hit) return Promise.resolve(hit);
          return new Promise((resolve, reject) => {
            const check = () => {
              const h = received.find(pred);
              if (h) {
                waiters.delete(check);
                clearTimeout(timer);
                resolve(h);
              }
            };
            const timer = setTimeout(() => reject(new Error("peer wait timed out")), timeoutMs);
            waiters.add(check);
          });
        },
      };
      peers.push(peer);
      for (const w of peerWaiters.splice(0)) w(peer);
    });
  });
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  const server: PeerServer = {
    url: `ws://127.0.0.1:${(http.address() as AddressInfo).port}/twilio/media-stream`,
    peers,
    nextPeer: () =>
      peers.length > 0
        ? Promise.resolve(peers[peers.length - 1]!)
        : new Promise((r) => peerWaiters.push(r)),
    async close() {
      for (const p of peers) p.socket.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
  servers.push(server);
  return server;
}

async function connect(
  url: string,
  opts: Partial<Parameters<typeof TwilioSimulator.connect>[0]> = {},
) {
  const sim = await TwilioSimulator.connect({ url, ...opts });
  sims.push(sim);
  return sim;
}

const sendMedia = (peer: Peer, streamSid: string, samples8k: Int16Array) => {
  const mu = encodeMuLaw(samples8k);
  for (let i = 0; i < mu.length; i += 160) {
    peer.socket.send(
      JSON.stringify({
        event: "media",
        streamSid,
        media: { payload: Buffer.from(mu.subarray(i, i + 160)).toString("base64") },
      }),
    );
  }
};
const sendMark = (peer: Peer, streamSid: string, name: string) =>
  peer.socket.send(JSON.stringify({ event: "mark", streamSid, mark: { name } }));

describe("TwilioSimulator outbound protocol", () => {
  it("opens with connected and start carrying Twilio-shaped ids, parameters and media format", async () => {
    const server = await startPeerServer();
    const sim = await connect(server.url, {
      headers: { "X-Twilio-Signature": "sig123" },
      caller: "+441234567890",
      customParameters: { campaign: "spring" },
    });
    const peer = await server.nextPeer();
    const start = await peer.waitFor((m) => m.event === "start");
    expect(peer.received[0]).toEqual({ event: "connected", protocol: "Call", version: "1.0.0" });
    expect(peer.headers["x-twilio-signature"]).toBe("sig123");
    expect(sim.streamSid).toMatch(/^MZ[0-9a-f]{32}$/);
    expect(sim.callSid).toMatch(/^CA[0-9a-f]{32}$/);
    expect(start).toEqual({
      event: "start",
      sequenceNumber: "1",
      streamSid: sim.streamSid,
      start: {
        accountSid: sim.accountSid,
        streamSid: sim.streamSid,
        callSid: sim.callSid,
        tracks: ["inbound"],
        customParameters: { caller: "+441234567890", callSid: sim.callSid, campaign: "spring" },
        mediaFormat: { encoding: "audio/x-mulaw", sampleRate: 8000, channels: 1 },
      },
    });
  });

  it("sends 20 ms mu-law frames with consecutive sequence numbers, chunks and timestamps", async () => {
    const server = await startPeerServer();
    const sim = await connect(server.url, { realtime: false });
    const peer = await server.nextPeer();
    const signal = tone(440, 1010, 8000, 0.4);
    await sim.play(signal);
    sim.sendDtmf("7");
    await peer.waitFor((m) => m.event === "dtmf");
    const media = peer.received.filter((m) => m.event === "media");
    expect(media).toHaveLength(51);
    media.forEach((m, i) => {
      expect(m.sequenceNumber).toBe(String(i + 2));
      expect(m.streamSid).toBe(sim.streamSid);
      const body = m.media as { track: string; chunk: string; timestamp: string; payload: string };
      expect(body.track).toBe("inbound");
      expect(body.chunk).toBe(String(i + 1));
      expect(body.timestamp).toBe(String(i * 20));
      expect(Buffer.from(body.payload, "base64")).toHaveLength(160);
    });
    const payload = concat(
      ...media.map((m) =>
        decodeMuLaw(
          new Uint8Array(Buffer.from((m.media as { payload: string }).payload, "base64")),
        ),
      ),
    );
    expect(payload.subarray(0, signal.length)).toEqual(decodeMuLaw(encodeMuLaw(signal)));
    expect(payload.subarray(signal.length)).toEqual(new Int16Array(80));
    expect(peer.received.at(-1)).toEqual({
      event: "dtmf",
      sequenceNumber: "53",
      streamSid: sim.streamSid,
      dtmf: { track: "inbound_track", digit: "7" },
    });
  });

  it("never sends a real-time frame before its slot on the 20 ms schedule", async () => {
    const server = await startPeerServer();
    const sim = await connect(server.url);
    const peer = await server.nextPeer();
    await peer.waitFor((m) => m.event === "start");
    const before = performance.now();
    await sim.play(silence(500, 8000));
    await peer.waitFor((m) => (m.media as { chunk?: string } | undefined)?.chunk === "25");
    const arrivals = peer.arrivedAt.filter((_, i) => peer.received[i]!.event === "media");
    expect(arrivals).toHaveLength(25);
    arrivals.forEach((t, i) => {
      expect(t - before).toBeGreaterThanOrEqual(i * 20 - 1);
    });
    const stamps = peer.received
      .filter((m) => m.event === "media")
      .map((m) => Number((m.media as { timestamp: string }).timestamp));
    stamps.slice(1).forEach((s, i) => {
      expect(s - stamps[i]!).toBeGreaterThanOrEqual(20);
    });
  });

  it("hangs up with stop then a normal close, and resolves finished", async () => {
    const server = await startPeerServer();
    const sim = await connect(server.url);
    const peer = await server.nextPeer();
    const closed = await sim.hangUp();
    expect(closed.code).toBe(1000);
    const stop = await peer.waitFor((m) => m.event === "stop");
    expect(stop).toEqual({
      event: "stop",
      sequenceNumber: "2",
      streamSid: sim.streamSid,
      stop: { accountSid: sim.accountSid, callSid: sim.callSid },
    });
  });

  it("resolves finished when the server closes the stream", async () => {
    const server = await startPeerServer();
    const sim = await connect(server.url);
    const peer = await server.nextPeer();
    peer.socket.close(4000, "bye");
    expect(await sim.finished).toEqual({ code: 4000, reason: "bye" });
  });

  it("reports a refused upgrade with its HTTP status", async () => {
    const server = await startPeerServer({ status: 403 });
    const err = await connect(server.url).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpgradeRejectedError);
    expect((err as UpgradeRejectedError).status).toBe(403);
  });
});

describe("TwilioSimulator playback of server audio", () => {
  it("echoes a mark only after the audio queued before it has played", async () => {
    const server = await startPeerServer();
    const sim = await connect(server.url);
    const peer = await server.nextPeer();
    const audio = tone(440, 600, 8000, 0.5);
    sendMedia(peer, sim.streamSid, audio.subarray(0, 1600));
    sendMark(peer, sim.streamSid, "first");
    sendMedia(peer, sim.streamSid, audio.subarray(1600));
    sendMark(peer, sim.streamSid, "second");
    const echo = await peer.waitFor(
      (m) => m.event === "mark" && (m.mark as { name: string }).name === "second",
    );
    expect(echo).toMatchObject({ streamSid: sim.streamSid, mark: { name: "second" } });
    const echoes = sim.echoedMarks;
    expect(echoes.map((m) => [m.name, m.cleared])).toEqual([
      ["first", false],
      ["second", false],
    ]);
    const heard = sim.heard();
    const firstAudio = heard[0]!.atMs;
    // Lower bounds: a gap in arrival can only delay playback, never advance it.
    expect(echoes[0]!.atMs - firstAudio).toBeGreaterThanOrEqual(199.999);
    expect(echoes[1]!.atMs - firstAudio).toBeGreaterThanOrEqual(599.999);
    expect(echoes[1]!.atMs - echoes[0]!.atMs).toBeGreaterThanOrEqual(399.999);
    expect(sim.heardAudio()).toEqual(decodeMuLaw(encodeMuLaw(audio)));
    expect(sim.mediaReceived).toBe(30);
    expect(sim.protocolErrors).toEqual([]);
  });

  it("echoes a mark at once when nothing is queued", async () => {
    const server = await startPeerServer();
    const sim = await connect(server.url);
    const peer = await server.nextPeer();
    sendMark(peer, sim.streamSid, "empty");
    await peer.waitFor((m) => m.event === "mark");
    expect(sim.echoedMarks).toEqual([{ name: "empty", atMs: expect.any(Number), cleared: false }]);
    expect(sim.heardAudio()).toHaveLength(0);
  });

  it("on clear drops unplayed audio and immediately echoes every pending mark", async () => {
    const server = await startPeerServer();
    const sim = await connect(server.url);
    const peer = await server.nextPeer();
    sendMedia(peer, sim.streamSid, tone(440, 3000, 8000, 0.5));
    sendMark(peer, sim.streamSid, "a");
    sendMedia(peer, sim.streamSid, tone(440, 3000, 8000, 0.5));
    sendMark(peer, sim.streamSid, "b");
    await sim.waitForMedia(300);
    peer.socket.send(JSON.stringify({ event: "clear", streamSid: sim.streamSid }));
    await peer.waitFor((m) => m.event === "mark" && (m.mark as { name: string }).name === "b");
    expect(sim.clearsReceived).toBe(1);
    expect(sim.echoedMarks.map((m) => [m.name, m.cleared])).toEqual([
      ["a", true],
      ["b", true],
    ]);
    const heardBefore = sim.heardAudio().length;
    expect(heardBefore).toBeLessThan(6 * 8000);
    expect(sim.queuedMs()).toBe(0);
    // Audio after a clear plays from then on.
    sendMedia(peer, sim.streamSid, silence(100, 8000));
    sendMark(peer, sim.streamSid, "c");
    await sim.waitForMark("c");
    expect(sim.heardAudio().length).toBe(heardBefore + 800);
  });

  it("records server messages Twilio would reject as protocol errors", async () => {
    const server = await startPeerServer();
    const sim = await connect(server.url);
    const peer = await server.nextPeer();
    peer.socket.send(
      JSON.stringify({ event: "media", streamSid: "MZwrong", media: { payload: "AAAA" } }),
    );
    peer.socket.send(JSON.stringify({ event: "media", streamSid: sim.streamSid, media: {} }));
    peer.socket.send(JSON.stringify({ event: "play", streamSid: sim.streamSid }));
    peer.socket.send("nope");
    await sim.waitFor(() => (sim.protocolErrors.length === 4 ? true : undefined));
    expect(sim.protocolErrors).toEqual([
      "media with streamSid MZwrong",
      "media without payload",
      "unknown event play",
      "invalid JSON: nope",
    ]);
    expect(sim.mediaReceived).toBe(0);
  });
});

describe("playCall", () => {
  it("plays a whole call and returns what was sent and heard", async () => {
    const server = await startPeerServer();
    const callPromise = playCall({
      url: server.url,
      samples8k: concat(tone(300, 400, 8000), silence(200, 8000)),
      realtime: false,
      settleMs: 500,
    });
    const peer = await server.nextPeer();
    const start = await peer.waitFor((m) => m.event === "start");
    const streamSid = (start.start as { streamSid: string }).streamSid;
    sendMedia(peer, streamSid, tone(440, 200, 8000));
    sendMark(peer, streamSid, "reply");
    const summary = await callPromise;
    expect(summary.framesSent).toBe(30);
    expect(summary.mediaReceived).toBe(10);
    expect(summary.echoedMarks.map((m) => m.name)).toEqual(["reply"]);
    expect(summary.heardAudio).toHaveLength(1600);
    expect(summary.close.code).toBe(1000);
    expect(peer.received.at(-1)?.event).toBe("stop");
  });
});
