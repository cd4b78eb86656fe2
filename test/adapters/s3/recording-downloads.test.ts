import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { RecordingRetention } from "../../../src/application/retention.ts";
import type { Call } from "../../../src/domain/call.ts";
import type { Recording } from "../../../src/domain/recording.ts";
import { type LocalS3, startLocalS3 } from "../../support/local-s3.ts";
import { type S3FaultProxy, startS3FaultProxy } from "../../support/s3-fault-proxy.ts";
import { logger, S3World } from "./s3-world.ts";

let s3: LocalS3;
let proxy: S3FaultProxy;
let world: S3World;

beforeAll(async () => {
  s3 = await startLocalS3();
  proxy = await startS3FaultProxy(s3.port);
});

afterAll(async () => {
  await proxy.close();
  await s3.stop();
});

afterEach(async () => {
  await world?.close();
});

/** A recorded call, its recording row and the WAV's bytes; uploaded unless `keepSpooled`. */
async function archivedCall(
  options: { presigned?: boolean; keepSpooled?: boolean } = {},
): Promise<{ call: Call; recording: Recording; bytes: Buffer }> {
  world = new S3World(s3, { endpoint: proxy.endpoint, presignedDownloads: options.presigned });
  const call = await world.recordedCall(2);
  const [recording] = await world.repository.getRecordingsByCallId(call.id);
  if (!recording) throw new Error("no recording row");
  const bytes = readFileSync(join(world.spool, recording.fileKey));
  if (!options.keepSpooled) {
    await world.uploads.sweep();
    expect(world.spoolFiles(call.streamSid)).toEqual([]);
  }
  return { call, recording, bytes };
}

const audioUrl = (recording: Recording) => `/api/recordings/${recording.id}/audio`;

/** GETs of the object since `from`, with their Range headers. */
const objectGets = (from: number, recording: Recording) =>
  proxy.seen
    .slice(from)
    .filter((r) => r.method === "GET" && r.path.endsWith(`/${recording.fileKey}`))
    .map((r) => r.range ?? "none");

describe("downloads of archived recordings", () => {
  it("streams the whole file from the store, with the download headers", async () => {
    const { recording, bytes } = await archivedCall();
    const response = await world.app.request(audioUrl(recording));
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("audio/wav");
    expect(response.headers.get("content-length")).toBe(String(bytes.length));
    expect(response.headers.get("accept-ranges")).toBe("bytes");
    expect(response.headers.get("content-disposition")).toBe(
      `inline; filename="${recording.callId}-caller.wav"`,
    );
    expect(Buffer.from(await response.arrayBuffer()).equals(bytes)).toBe(true);
  });

  it("passes a Range through to the store and answers 206", async () => {
    const { recording, bytes } = await archivedCall();
    const from = proxy.seen.length;
    const first = await world.app.request(audioUrl(recording), {
      headers: { Range: "bytes=100-1099" },
    });
    expect(first.status).toBe(206);
    expect(first.headers.get("content-range")).toBe(`bytes 100-1099/${bytes.length}`);
    expect(first.headers.get("content-length")).toBe("1000");
    expect(Buffer.from(await first.arrayBuffer()).equals(bytes.subarray(100, 1100))).toBe(true);
    const tail = await world.app.request(audioUrl(recording), { headers: { Range: "bytes=-10" } });
    expect(tail.status).toBe(206);
    expect(Buffer.from(await tail.arrayBuffer()).equals(bytes.subarray(-10))).toBe(true);
    // Only the asked-for bytes left the store.
    expect(objectGets(from, recording)).toEqual([
      "bytes=100-1099",
      `bytes=${bytes.length - 10}-${bytes.length - 1}`,
    ]);
  });

  it("answers HEAD without fetching the object, and 416 past the end", async () => {
    const { recording, bytes } = await archivedCall();
    const from = proxy.seen.length;
    const head = await world.app.request(audioUrl(recording), { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe(String(bytes.length));
    expect(await head.text()).toBe("");
    const past = await world.app.request(audioUrl(recording), {
      headers: { Range: `bytes=${bytes.length}-` },
    });
    expect(past.status).toBe(416);
    expect(past.headers.get("content-range")).toBe(`bytes */${bytes.length}`);
    expect(objectGets(from, recording)).toEqual([]);
  });

  it("serves a file still in the spool from the spool", async () => {
    const { recording, bytes } = await archivedCall({ keepSpooled: true });
    const from = proxy.seen.length;
    const response = await world.app.request(audioUrl(recording), {
      headers: { Range: "bytes=0-43" },
    });
    expect(response.status).toBe(206);
    expect(Buffer.from(await response.arrayBuffer()).equals(bytes.subarray(0, 44))).toBe(true);
    expect(proxy.seen.length).toBe(from);
  });

  it("with S3_PRESIGNED_DOWNLOADS, redirects GET to a short-lived signed URL that honours Range", async () => {
    const { recording, bytes } = await archivedCall({ presigned: true });
    const response = await world.app.request(audioUrl(recording), {
      headers: { Range: "bytes=0-99" },
    });
    expect(response.status).toBe(302);
    expect(response.headers.get("cache-control")).toBe("no-store");
    const location = new URL(response.headers.get("location") ?? "");
    expect(location.origin).toBe(proxy.endpoint);
    expect(location.searchParams.get("X-Amz-Expires")).toBe("300");
    expect(location.searchParams.get("X-Amz-Signature")).toMatch(/^[0-9a-f]{64}$/);
    const fetched = await fetch(location, { headers: { Range: "bytes=0-99" } });
    expect(fetched.status).toBe(206);
    expect(fetched.headers.get("content-disposition")).toBe(
      `inline; filename="${recording.callId}-caller.wav"`,
    );
    expect(Buffer.from(await fetched.arrayBuffer()).equals(bytes.subarray(0, 100))).toBe(true);
    // HEAD is answered here: a URL signed for GET does not sign HEAD.
    const head = await world.app.request(audioUrl(recording), { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe(String(bytes.length));
  });

  it("lends the waveform worker a private temporary copy of an archived file", async () => {
    const { recording, bytes } = await archivedCall();
    let lent = "";
    const copy = await world.store.withLocalFile!(recording.fileKey, async (path) => {
      lent = path;
      expect((statSync(path).mode & 0o777).toString(8)).toBe("600");
      return readFileSync(path);
    });
    expect(copy.equals(bytes)).toBe(true);
    expect(lent.startsWith(world.spool)).toBe(false);
    expect(existsSync(lent)).toBe(false);
  });

  it("is a 404 once the object is gone", async () => {
    const { recording } = await archivedCall();
    await world.objects.deleteAll([recording.fileKey]);
    expect((await world.app.request(audioUrl(recording))).status).toBe(404);
  });
});

describe("deleting archived recordings", () => {
  it("DELETE of a call removes its objects", async () => {
    const { call } = await archivedCall();
    expect(await world.objectsOf(call)).toHaveLength(3);
    const response = await world.app.request(`/api/calls/${call.id}`, { method: "DELETE" });
    expect(response.status).toBe(204);
    expect(await world.objectsOf(call)).toEqual([]);
  });

  it("DELETE of a call whose files are still spooled removes them there", async () => {
    const { call } = await archivedCall({ keepSpooled: true });
    const response = await world.app.request(`/api/calls/${call.id}`, { method: "DELETE" });
    expect(response.status).toBe(204);
    expect(world.spoolFiles(call.streamSid)).toEqual([]);
    await world.uploads.sweep();
    expect(await world.objectsOf(call)).toEqual([]);
  });

  it("retention removes old recordings' objects and sidecar objects", async () => {
    const { call, recording } = await archivedCall();
    world.clock.advance(40 * 24 * 60 * 60 * 1000);
    const result = await new RecordingRetention({
      calls: world.repository,
      recordings: world.store,
      clock: world.clock,
      logger,
      retentionDays: 30,
    }).run();
    expect(result).toMatchObject({ deleted: 1, failed: 0 });
    expect(await world.objectsOf(call)).toEqual([]);
    expect(await world.repository.getRecordingById(recording.id)).toBeNull();
  });
});
