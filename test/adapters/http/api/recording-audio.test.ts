import fs from "node:fs";
import type http from "node:http";
import type { AddressInfo } from "node:net";
import net from "node:net";
import path from "node:path";
import { type ServerType, serve } from "@hono/node-server";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ErrorJson } from "../../../../src/adapters/http/api/json-schemas.ts";
import {
  type ApiWorld,
  describeEachBackend,
  internalsIn,
  seedCall,
  seedLargeRecording,
  seedRecording,
} from "./api-test-world.ts";

let world: ApiWorld;

async function aRecording() {
  const call = await seedCall(world, { id: "call-7" });
  return seedRecording(world, call, "rec-7", { sampleCount: 8000 });
}

/** How many of this process's descriptors point at `filePath` (Linux /proc). */
function openDescriptorsOf(filePath: string): number {
  let count = 0;
  for (const fd of fs.readdirSync("/proc/self/fd")) {
    try {
      if (fs.readlinkSync(`/proc/self/fd/${fd}`) === filePath) count++;
    } catch {
      // The descriptor closed while being listed.
    }
  }
  return count;
}

async function until(condition: () => boolean): Promise<void> {
  for (let attempt = 0; attempt < 500; attempt++) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error("condition never became true");
}

const bodyOf = async (response: Response) => Buffer.from(await response.arrayBuffer());

describeEachBackend("recording audio", (backend) => {
  beforeEach(async () => {
    world = await backend.createWorld();
  });
  afterEach(() => world.close());

  describe("GET /api/recordings/:id/audio", () => {
    it("sends the whole WAV file with its length, type, ranges and download name", async () => {
      const { bytes } = await aRecording();
      const response = await world.request("/api/recordings/rec-7/audio");
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toBe("audio/wav");
      expect(response.headers.get("content-length")).toBe(String(bytes.length));
      expect(response.headers.get("accept-ranges")).toBe("bytes");
      expect(response.headers.get("content-disposition")).toBe(
        'inline; filename="call-7-caller.wav"',
      );
      expect(response.headers.get("content-range")).toBeNull();
      const body = await bodyOf(response);
      expect(body.equals(bytes)).toBe(true);
      expect(body.subarray(0, 4).toString("latin1")).toBe("RIFF");
    });

    it("names the conversation track in the download name", async () => {
      const call = await seedCall(world, { id: "call-8" });
      await seedRecording(world, call, "rec-conv", { track: "conversation", sampleCount: 100 });
      const response = await world.request("/api/recordings/rec-conv/audio");
      expect(response.headers.get("content-disposition")).toBe(
        'inline; filename="call-8-conversation.wav"',
      );
    });

    it.each([
      ["bytes=0-99", 0, 99],
      ["bytes=44-44", 44, 44],
      ["bytes=100-", 100, "last"],
      ["bytes=-10", "tail10", "last"],
      ["bytes=16000-99999999", 16000, "last"],
      ["BYTES=1-2", 1, 2],
      ["bytes= 5-6 ", 5, 6],
    ] as const)("answers %s with 206 and exactly those bytes", async (range, from, to) => {
      const { bytes } = await aRecording();
      const size = bytes.length;
      const start = from === "tail10" ? size - 10 : from;
      const end = to === "last" ? size - 1 : to;
      const response = await world.request("/api/recordings/rec-7/audio", { headers: { range } });
      expect(response.status).toBe(206);
      expect(response.headers.get("content-range")).toBe(`bytes ${start}-${end}/${size}`);
      expect(response.headers.get("content-length")).toBe(String(end - start + 1));
      expect(response.headers.get("content-type")).toBe("audio/wav");
      expect((await bodyOf(response)).equals(bytes.subarray(start, end + 1))).toBe(true);
    });

    it("answers a suffix longer than the file with the whole file as 206", async () => {
      const { bytes } = await aRecording();
      const response = await world.request("/api/recordings/rec-7/audio", {
        headers: { range: `bytes=-${bytes.length + 500}` },
      });
      expect(response.status).toBe(206);
      expect(response.headers.get("content-range")).toBe(
        `bytes 0-${bytes.length - 1}/${bytes.length}`,
      );
      expect((await bodyOf(response)).equals(bytes)).toBe(true);
    });

    it.each(["bytes=16044-", "bytes=99999-100000", "bytes=-0"])(
      "answers an unsatisfiable %s with 416 and the size in Content-Range",
      async (range) => {
        const { bytes } = await aRecording();
        expect(bytes.length).toBe(16_044);
        const response = await world.request("/api/recordings/rec-7/audio", { headers: { range } });
        expect(response.status).toBe(416);
        expect(response.headers.get("content-range")).toBe(`bytes */${bytes.length}`);
        expect(ErrorJson.parse(await response.json()).error.code).toBe("range_not_satisfiable");
      },
    );

    it.each([
      "bytes=abc",
      "bytes=5-1",
      "items=0-10",
      "bytes=",
      "bytes=1-2-3",
      "0-10",
      "bytes=0-1, 4-5",
      "bytes=-",
    ])("ignores a malformed or multi-range header %s and sends the whole file", async (range) => {
      const { bytes } = await aRecording();
      const response = await world.request("/api/recordings/rec-7/audio", { headers: { range } });
      expect(response.status).toBe(200);
      expect(response.headers.get("content-range")).toBeNull();
      expect((await bodyOf(response)).equals(bytes)).toBe(true);
    });

    it("sends the whole file when If-Range is present, since no validator can match", async () => {
      const { bytes } = await aRecording();
      const response = await world.request("/api/recordings/rec-7/audio", {
        headers: { range: "bytes=0-9", "if-range": '"some-etag"' },
      });
      expect(response.status).toBe(200);
      expect((await bodyOf(response)).length).toBe(bytes.length);
    });

    it("answers HEAD with the GET headers and no body, leaving the file closed", async () => {
      const call = await seedCall(world, { id: "call-7" });
      fs.mkdirSync(world.recordingsDir, { recursive: true });
      // Larger than a read stream's buffer, so a stream opened for HEAD would keep the file open.
      const recording = await seedLargeRecording(world, call, "rec-7", 1 << 20);
      const size = recording.sizeBytes;
      const full = await world.request("/api/recordings/rec-7/audio", { method: "HEAD" });
      expect(full.status).toBe(200);
      expect(full.headers.get("content-length")).toBe(String(size));
      expect(full.headers.get("accept-ranges")).toBe("bytes");
      expect(full.headers.get("content-type")).toBe("audio/wav");
      expect((await bodyOf(full)).length).toBe(0);
      const partial = await world.request("/api/recordings/rec-7/audio", {
        method: "HEAD",
        headers: { range: "bytes=10-19" },
      });
      expect(partial.status).toBe(206);
      expect(partial.headers.get("content-length")).toBe("10");
      expect(partial.headers.get("content-range")).toBe(`bytes 10-19/${size}`);
      // A GET read to its end opens and closes the file after the HEADs would have opened it.
      await bodyOf(await world.request("/api/recordings/rec-7/audio"));
      expect(openDescriptorsOf(path.join(world.recordingsDir, recording.fileKey))).toBe(0);
    });

    it("answers 404 for an unknown recording and for a recording whose file is gone", async () => {
      const { recording } = await aRecording();
      const unknown = await world.request("/api/recordings/nope/audio");
      expect(unknown.status).toBe(404);
      expect(ErrorJson.parse(await unknown.json()).error.code).toBe("not_found");
      fs.rmSync(path.join(world.recordingsDir, recording.fileKey));
      const gone = await world.request("/api/recordings/rec-7/audio");
      expect(gone.status).toBe(404);
      const text = await gone.text();
      expect(ErrorJson.parse(JSON.parse(text)).error.code).toBe("not_found");
      expect(internalsIn(text, world)).toEqual([]);
    });

    it("answers 404 for hostile recording ids", async () => {
      await aRecording();
      for (const id of [
        encodeURIComponent("../calls.db"),
        encodeURIComponent("' OR 1=1 --"),
        "é",
      ]) {
        const response = await world.request(`/api/recordings/${id}/audio`);
        expect(response.status).toBe(404);
        ErrorJson.parse(await response.json());
      }
    });

    it("answers 500 without internals, and serves nothing, when a stored file key escapes the folder", async () => {
      const { recording } = await aRecording();
      fs.writeFileSync(path.join(world.dir, "secret.txt"), "do not serve");
      await world.sql("UPDATE recordings SET file_key = ? WHERE id = ?", [
        "../secret.txt",
        recording.id,
      ]);
      const response = await world.request("/api/recordings/rec-7/audio");
      expect(response.status).toBe(500);
      const text = await response.text();
      expect(ErrorJson.parse(JSON.parse(text)).error).toEqual({
        code: "internal_error",
        message: "internal server error",
      });
      expect(text).not.toContain("secret");
    });
  });

  describe("GET /api/recordings/:id/audio over a real socket", () => {
    let server: ServerType | undefined;
    afterEach(async () => {
      const running = server;
      server = undefined;
      if (!running) return;
      // fetch keeps connections alive; closing them lets close() return at once.
      (running as http.Server).closeAllConnections();
      await new Promise<void>((resolve) => running.close(() => resolve()));
    });

    async function listen(): Promise<string> {
      const started = await new Promise<ServerType>((resolve) => {
        const s = serve({ fetch: world.app.fetch, port: 0, hostname: "127.0.0.1" }, () =>
          resolve(s),
        );
      });
      server = started;
      const { port } = started.address() as AddressInfo;
      return `http://127.0.0.1:${port}`;
    }

    it("streams ranges, the whole file and HEAD with the exact bytes and headers", async () => {
      const call = await seedCall(world, { id: "big" });
      // 20 s of audio, so the body spans many stream chunks.
      const { bytes } = await seedRecording(world, call, "rec-big", { sampleCount: 320_000 });
      const base = await listen();
      const url = `${base}/api/recordings/rec-big/audio`;

      const whole = await fetch(url);
      expect(whole.status).toBe(200);
      expect(whole.headers.get("content-length")).toBe(String(bytes.length));
      expect((await bodyOf(whole)).equals(bytes)).toBe(true);

      const middle = await fetch(url, { headers: { range: "bytes=300000-400009" } });
      expect(middle.status).toBe(206);
      expect(middle.headers.get("content-range")).toBe(`bytes 300000-400009/${bytes.length}`);
      expect(middle.headers.get("content-length")).toBe("100010");
      expect((await bodyOf(middle)).equals(bytes.subarray(300_000, 400_010))).toBe(true);

      const tail = await fetch(url, { headers: { range: "bytes=-7" } });
      expect(tail.status).toBe(206);
      expect((await bodyOf(tail)).equals(bytes.subarray(bytes.length - 7))).toBe(true);

      const unsatisfiable = await fetch(url, { headers: { range: `bytes=${bytes.length}-` } });
      expect(unsatisfiable.status).toBe(416);
      expect(unsatisfiable.headers.get("content-range")).toBe(`bytes */${bytes.length}`);
      await unsatisfiable.arrayBuffer();

      const head = await fetch(url, { method: "HEAD" });
      expect(head.status).toBe(200);
      expect(head.headers.get("content-length")).toBe(String(bytes.length));
      expect((await bodyOf(head)).length).toBe(0);
    });

    it("closes the file and keeps serving after a client hangs up midway through a download", async () => {
      const call = await seedCall(world, { id: "big" });
      fs.mkdirSync(world.recordingsDir, { recursive: true });
      // 32 MB: far more than loopback socket buffers hold, so the download is mid-file.
      const recording = await seedLargeRecording(world, call, "rec-big", 32 << 20);
      const filePath = path.join(world.recordingsDir, recording.fileKey);
      const base = await listen();
      const socket = net.connect(Number(new URL(base).port), "127.0.0.1");
      socket.write("GET /api/recordings/rec-big/audio HTTP/1.1\r\nHost: x\r\n\r\n");
      await new Promise<void>((resolve) => {
        let received = 0;
        socket.on("data", (chunk: Buffer) => {
          received += chunk.length;
          if (received >= 256 * 1024) {
            socket.pause();
            resolve();
          }
        });
      });
      expect(openDescriptorsOf(filePath)).toBe(1);
      socket.destroy();
      await until(() => openDescriptorsOf(filePath) === 0);
      const again = await fetch(`${base}/api/recordings/rec-big/audio`, {
        headers: { range: "bytes=-4" },
      });
      expect(again.status).toBe(206);
      expect([...(await bodyOf(again))]).toEqual([0x5a, 0x5a, 0x5a, 0x5a]);
    });
  });
});
