import type { AddressInfo, Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import { audioFrame } from "../../../src/adapters/ws/audio-frame.ts";
import { audioMessage } from "../../../src/adapters/ws/audio-message.ts";

const prefix = Buffer.from('{"audio":"', "latin1");
const suffix = Buffer.from('"}', "latin1");

interface Pair {
  /** The server's side and its TCP socket; the client's side and its TCP socket. */
  server: WebSocket;
  serverTcp: Socket;
  client: WebSocket;
  clientTcp: Socket;
  atServer: string[];
  atClient: string[];
  close(): Promise<void>;
}

/** A real WebSocket pair on loopback, as ws makes it (64 MB messages allowed for the test). */
async function pair(): Promise<Pair> {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, maxPayload: 64 << 20 });
  await new Promise<void>((resolve) => wss.once("listening", resolve));
  const accepted = new Promise<{ ws: WebSocket; tcp: Socket }>((resolve) =>
    wss.once("connection", (ws, req) => resolve({ ws, tcp: req.socket as Socket })),
  );
  const { port } = wss.address() as AddressInfo;
  const client = new WebSocket(`ws://127.0.0.1:${port}`, { maxPayload: 64 << 20 });
  let clientTcp: Socket | null = null;
  client.on("upgrade", (response) => {
    clientTcp = response.socket as Socket;
  });
  const atClient: string[] = [];
  client.on("message", (data, isBinary) => {
    expect(isBinary).toBe(false);
    atClient.push(data.toString());
  });
  await new Promise((resolve) => client.once("open", resolve));
  const { ws, tcp } = await accepted;
  const atServer: string[] = [];
  ws.on("message", (data, isBinary) => {
    expect(isBinary).toBe(false);
    atServer.push(data.toString());
  });
  return {
    server: ws,
    serverTcp: tcp,
    client,
    clientTcp: clientTcp!,
    atServer,
    atClient,
    close: async () => {
      client.terminate();
      await new Promise((resolve) => wss.close(resolve));
    },
  };
}

const until = async (check: () => boolean) => {
  for (let i = 0; i < 400 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
};

const expected = (bytes: Uint8Array) => `{"audio":"${Buffer.from(bytes).toString("base64")}"}`;

let open: Pair | null = null;
afterEach(async () => {
  await open?.close();
  open = null;
});

/** Audio whose message is exactly `length` bytes long (prefix and suffix are 12). */
function audioOfMessageLength(length: number): Uint8Array {
  const base64 = length - prefix.length - suffix.length;
  expect(base64 % 4).toBe(0);
  return Uint8Array.from({ length: (base64 / 4) * 3 }, (_, i) => (i * 37) & 0xff);
}

describe("audioFrame", () => {
  // 124, 128: one-byte and two-byte lengths; 65,532 / 65,540: two-byte and eight-byte.
  const lengths = [16, 124, 128, 65_532, 65_540, 1 << 20];

  it("is a frame ws reads as the same message, masked from a client, at every length size", async () => {
    open = await pair();
    const sent: string[] = [];
    for (const length of lengths) {
      const audio = audioOfMessageLength(length);
      open.clientTcp.write(audioFrame(prefix, audio, suffix, true));
      sent.push(expected(audio));
    }
    await until(() => open!.atServer.length === lengths.length);
    expect(open.atServer).toEqual(sent);
    expect(open.server.readyState).toBe(WebSocket.OPEN);
  });

  it("is a frame ws reads as the same message, unmasked from a server", async () => {
    open = await pair();
    const sent: string[] = [];
    for (const length of lengths) {
      const audio = audioOfMessageLength(length);
      open.serverTcp.write(audioFrame(prefix, audio, suffix, false));
      sent.push(expected(audio));
    }
    await until(() => open!.atClient.length === lengths.length);
    expect(open.atClient).toEqual(sent);
    expect(open.client.readyState).toBe(WebSocket.OPEN);
  });

  it("keeps its order among messages ws sends on the same socket", async () => {
    open = await pair();
    const sent: string[] = [];
    for (let i = 0; i < 50; i++) {
      const audio = Uint8Array.from({ length: 160 + i }, (_, k) => (k + i) & 0xff);
      if (i % 3 === 0) open.client.send(audioMessage(prefix, audio, suffix), { binary: false });
      else open.clientTcp.write(audioFrame(prefix, audio, suffix, true));
      sent.push(expected(audio));
    }
    await until(() => open!.atServer.length === 50);
    expect(open.atServer).toEqual(sent);
  });

  it("encodes only the view's own bytes (a subarray of a larger sample buffer)", () => {
    const samples = Int16Array.from({ length: 64 }, (_, i) => i * 1000 - 30000);
    const view = samples.subarray(5, 17);
    const frame = audioFrame(prefix, view, suffix, false);
    // A short frame: two header bytes, then the message.
    expect(frame[0]).toBe(0x81);
    expect(frame[1]).toBe(frame.length - 2);
    expect(frame.subarray(2).toString("latin1")).toBe(
      audioMessage(prefix, view, suffix).toString("latin1"),
    );
  });
});
