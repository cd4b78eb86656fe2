import type { AddressInfo, Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import { WsTelephonyOutput } from "../../../src/adapters/twilio/ws-telephony-output.ts";

interface Pair {
  server: WebSocket;
  tcp: Socket;
  client: WebSocket;
  received: string[];
  close(): Promise<void>;
}

/** A real WebSocket pair on loopback; `tcp` is the server side's TCP socket. */
async function pair(): Promise<Pair> {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise<void>((resolve) => wss.once("listening", resolve));
  const accepted = new Promise<{ ws: WebSocket; tcp: Socket }>((resolve) =>
    wss.once("connection", (ws, req) => resolve({ ws, tcp: req.socket as Socket })),
  );
  const { port } = wss.address() as AddressInfo;
  const client = new WebSocket(`ws://127.0.0.1:${port}`);
  const received: string[] = [];
  client.on("message", (data) => received.push(data.toString()));
  await new Promise((resolve) => client.once("open", resolve));
  const { ws, tcp } = await accepted;
  return {
    server: ws,
    tcp,
    client,
    received,
    close: async () => {
      client.terminate();
      await new Promise((resolve) => wss.close(resolve));
    },
  };
}

/** Counts the write calls the TCP socket makes to the kernel (one per write or writev). */
function countWrites(tcp: Socket): () => number {
  let writes = 0;
  const target = tcp as unknown as {
    _write: (...args: unknown[]) => void;
    _writev: (...args: unknown[]) => void;
  };
  const write = target._write.bind(tcp);
  const writev = target._writev.bind(tcp);
  target._write = (...args) => {
    writes++;
    write(...args);
  };
  target._writev = (...args) => {
    writes++;
    writev(...args);
  };
  return () => writes;
}

const until = async (check: () => boolean) => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
};

let open: Pair | null = null;
afterEach(async () => {
  await open?.close();
  open = null;
});

function burst(output: WsTelephonyOutput): void {
  for (let i = 0; i < 5; i++) output.sendAudio(new Uint8Array(160).fill(i));
  output.sendMark("m-1");
}

describe("WsTelephonyOutput", () => {
  it("sends the frames and mark of one turn in one write, in order and intact", async () => {
    open = await pair();
    const writes = countWrites(open.tcp);
    const output = new WsTelephonyOutput(open.server, open.tcp);
    output.bind("MZabc");

    burst(output);
    await until(() => open!.received.length === 6);

    expect(writes()).toBe(1);
    const messages = open.received.map((m) => JSON.parse(m));
    for (let i = 0; i < 5; i++) {
      expect(messages[i]).toEqual({
        event: "media",
        streamSid: "MZabc",
        media: { payload: Buffer.alloc(160, i).toString("base64") },
      });
    }
    expect(messages[5]).toEqual({ event: "mark", streamSid: "MZabc", mark: { name: "m-1" } });

    // The next turn is corked afresh: a clear goes out on its own.
    output.sendClear();
    await until(() => open!.received.length === 7);
    expect(writes()).toBe(2);
    expect(JSON.parse(open.received[6]!)).toEqual({ event: "clear", streamSid: "MZabc" });
  });

  it("without the TCP socket, makes one write per message", async () => {
    open = await pair();
    const writes = countWrites(open.tcp);
    const output = new WsTelephonyOutput(open.server);
    output.bind("MZabc");

    burst(output);
    await until(() => open!.received.length === 6);

    expect(writes()).toBe(6);
  });
});
