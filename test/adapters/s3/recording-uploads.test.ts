import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import {
  DEFAULT_UPLOAD_CONCURRENCY,
  workerShare,
} from "../../../src/application/recording-uploads.ts";
import type { Call } from "../../../src/domain/call.ts";
import { type LocalS3, startLocalS3 } from "../../support/local-s3.ts";
import { metricValue, parsePrometheus } from "../../support/prometheus-text.ts";
import { type S3FaultProxy, startS3FaultProxy } from "../../support/s3-fault-proxy.ts";
import { S3World } from "./s3-world.ts";

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
  proxy.stallWhen(null);
  proxy.down = false;
  proxy.corruptBodies = false;
  proxy.failWhen(null);
  await world?.close();
});

const md5 = (bytes: Buffer) => createHash("md5").update(bytes).digest("hex");
const MiB = 1024 * 1024;

/** The spooled files of a call, by name, with their bytes (read before they go). */
function spooled(call: Call): Map<string, Buffer> {
  const stem = `${call.streamSid}_${call.startedAt.getTime()}`;
  return new Map(
    world.spoolFiles(stem).map((name) => [name, readFileSync(join(world.spool, name))]),
  );
}

/** Requests that write an object (PUT, multipart POSTs), since `from` in the proxy's log. */
const writesSince = (from: number) =>
  proxy.seen.slice(from).filter((r) => r.method === "PUT" || r.method === "POST");

async function metric(name: string): Promise<number> {
  const text = (await world.metrics.render()).body;
  return metricValue(parsePrometheus(text), name) ?? Number.NaN;
}

describe("uploads from a spool that WORKERS share (issue 19)", () => {
  it("uploads each file once: every worker takes only its share of the calls, and together all", async () => {
    const first = new S3World(s3, { endpoint: proxy.endpoint, share: workerShare(1, 2) });
    const second = new S3World(s3, {
      endpoint: proxy.endpoint,
      dir: first.dir,
      share: workerShare(2, 2),
    });
    world = first;
    try {
      const calls: Call[] = [];
      for (let i = 0; i < 12; i++) calls.push(await (i % 2 === 0 ? first : second).recordedCall());
      const from = proxy.seen.length;
      await Promise.all([first.uploads.sweep(), second.uploads.sweep()]);
      await Promise.all([first.uploads.sweep(), second.uploads.sweep()]);
      for (const call of calls) expect(first.spoolFiles(call.streamSid)).toEqual([]);
      const keys = writesSince(from).map((r) => r.path);
      // 12 calls × (caller recording + 2 sidecars), each written once.
      expect(keys).toHaveLength(36);
      expect(new Set(keys).size).toBe(36);
      // Both workers had a share (the split is by a hash of the file stem).
      const shares = calls.map((c) => workerShare(1, 2)(`${c.streamSid}_${c.startedAt.getTime()}`));
      expect(new Set(shares).size).toBe(2);
    } finally {
      await second.close();
    }
  });

  it("splits stems evenly and the same way in every worker", () => {
    const stems = Array.from({ length: 3000 }, (_, i) => `MZ${i.toString(16)}_17000000${i}`);
    for (const workers of [2, 3, 8]) {
      const counts = Array.from(
        { length: workers },
        (_, w) => stems.filter((stem) => workerShare(w + 1, workers)(stem)).length,
      );
      expect(counts.reduce((a, b) => a + b, 0)).toBe(stems.length);
      for (const count of counts) expect(count).toBeGreaterThan((stems.length / workers) * 0.85);
    }
  });
});

describe("uploads to object storage", () => {
  it("uploads a finished call's recording and sidecars, verified, then empties the spool", async () => {
    world = new S3World(s3, { endpoint: proxy.endpoint });
    const call = await world.recordedCall();
    const files = spooled(call);
    expect([...files.keys()].map((n) => n.slice(n.lastIndexOf("_")))).toHaveLength(3);

    await world.uploads.sweep();

    expect(world.spoolFiles(call.streamSid)).toEqual([]);
    const keys = await world.objectsOf(call);
    expect(keys).toEqual([...files.keys()].map((name) => world.key(name)).sort());
    for (const [name, bytes] of files) {
      const stored = await s3.get(world.key(name));
      expect(stored?.equals(bytes)).toBe(true);
      expect((await s3.head(world.key(name)))?.etag).toBe(md5(bytes));
    }
    const [recording] = await world.repository.getRecordingsByCallId(call.id);
    expect(recording?.cloudUrl).toBe(`s3://${s3.bucket}/calls/${recording?.fileKey}`);
    expect(world.uploads.status()).toMatchObject({ pending: 0, failing: false });
  });

  it("sends a file spooled since start in one request, and looks for an older file's copy first", async () => {
    world = new S3World(s3, { endpoint: proxy.endpoint });
    const fresh = await world.finishedCallWithFile(4096);
    const from = proxy.seen.length;
    await world.uploads.sweep();
    // No HeadObject before (it cannot be there) nor after (the PUT's answer carries the ETag).
    expect(proxy.seen.slice(from).map((r) => `${r.method} ${r.status}`)).toEqual(["PUT 200"]);
    expect(world.spoolFiles(fresh.call.streamSid)).toEqual([]);

    // A file an earlier process spooled may be in the store already: it is looked for first.
    const dir = world.dir;
    const old = await world.finishedCallWithFile(4096);
    await world.close(false);
    world = new S3World(s3, { endpoint: proxy.endpoint, dir });
    const restarted = proxy.seen.length;
    await world.uploads.sweep();
    expect(proxy.seen.slice(restarted).map((r) => `${r.method} ${r.status}`)).toEqual([
      "HEAD 404",
      "PUT 200",
    ]);
    expect(world.spoolFiles(old.call.streamSid)).toEqual([]);
  });

  it("uploads a file above the part size in parts, retrying a part the store answered 503", async () => {
    world = new S3World(s3, { endpoint: proxy.endpoint });
    const { call, fileKey } = await world.finishedCallWithFile(11 * MiB + 123);
    const bytes = readFileSync(join(world.spool, fileKey));
    const from = proxy.seen.length;
    proxy.failPartOnce(2);

    await world.uploads.sweep();

    const parts = writesSince(from).filter((r) => r.query.has("partNumber"));
    expect(parts.map((r) => `${r.query.get("partNumber")}:${r.status}`).sort()).toEqual([
      "1:200",
      "2:200",
      "2:503",
      "3:200",
    ]);
    expect((await s3.get(world.key(fileKey)))?.equals(bytes)).toBe(true);
    expect(world.spoolFiles(call.streamSid)).toEqual([]);
    const [recording] = await world.repository.getRecordingsByCallId(call.id);
    expect(recording?.cloudUrl).toBe(`s3://${s3.bucket}/calls/${fileKey}`);
    // Bodies go unsigned: the SDK would hash each 5 MiB part synchronously to sign it.
    expect(new Set(parts.map((r) => r.payloadHash))).toEqual(new Set(["UNSIGNED-PAYLOAD"]));
  });

  it("keeps a file whose upload keeps failing mid-way, and uploads it once the store is back", async () => {
    world = new S3World(s3, { endpoint: proxy.endpoint });
    const { call, fileKey } = await world.finishedCallWithFile(11 * MiB);
    const bytes = readFileSync(join(world.spool, fileKey));
    proxy.failWhen((r) => r.query.get("partNumber") === "2");

    await world.uploads.sweep();
    expect(world.spoolFiles(call.streamSid)).toEqual([fileKey]);
    expect(await s3.head(world.key(fileKey))).toBeNull();
    expect((await world.repository.getRecordingsByCallId(call.id))[0]?.cloudUrl).toBeNull();

    proxy.failWhen(null);
    world.clock.advance(1000);
    await world.uploads.sweep();
    expect((await s3.get(world.key(fileKey)))?.equals(bytes)).toBe(true);
    expect(world.spoolFiles(call.streamSid)).toEqual([]);
  });

  it("survives the store being down: backoff, degraded health and metrics, then nothing lost", async () => {
    world = new S3World(s3, { endpoint: proxy.endpoint });
    const call = await world.recordedCall();
    const files = spooled(call);
    proxy.down = true;

    await world.uploads.sweep();
    expect(world.spoolFiles(call.streamSid)).toEqual([...files.keys()]);
    world.clock.advance(30_000);
    expect(world.uploads.status()).toMatchObject({ pending: 3, failing: true });
    const down = await world.app.request("/healthz");
    expect(down.status).toBe(503);
    const body = (await down.json()) as { uploads: { oldestAgeSeconds: number } };
    expect(body).toMatchObject({
      status: "degraded",
      db: "ok",
      storage: "ok",
      uploads: { pending: 3, oldestAgeSeconds: expect.any(Number), failing: true },
      reasons: ["recording uploads to object storage are failing"],
    });
    expect(body.uploads.oldestAgeSeconds).toBeGreaterThanOrEqual(30);
    expect(await metric("callbridge_recording_uploads_pending")).toBe(3);
    expect(await metric("callbridge_recording_upload_oldest_age_seconds")).toBeGreaterThanOrEqual(
      30,
    );
    // The recording failed; its sidecars wait behind it, so only one attempt failed.
    expect(await metric("callbridge_recording_upload_failures_total")).toBe(1);

    // Back up, but the failed file waits out its backoff: no request is made for it.
    proxy.down = false;
    const from = proxy.seen.length;
    world.clock.advance(-29_500);
    await world.uploads.sweep();
    expect(proxy.seen.length).toBe(from);
    expect(world.spoolFiles(call.streamSid)).toHaveLength(3);

    world.clock.advance(1000);
    await world.uploads.sweep();
    expect(world.spoolFiles(call.streamSid)).toEqual([]);
    for (const [name, bytes] of files) {
      expect((await s3.get(world.key(name)))?.equals(bytes)).toBe(true);
    }
    const up = await world.app.request("/healthz");
    expect(up.status).toBe(200);
    expect(await up.json()).toMatchObject({
      status: "ok",
      uploads: { pending: 0, oldestAgeSeconds: 0, failing: false },
    });
    expect(await metric("callbridge_recording_uploads_pending")).toBe(0);
  });

  it("stops reporting failures once the file that failed has left the spool another way", async () => {
    world = new S3World(s3, { endpoint: proxy.endpoint });
    const { call } = await world.finishedCallWithFile(1024);
    proxy.down = true;
    await world.uploads.sweep();
    expect(world.uploads.status().failing).toBe(true);
    proxy.down = false;
    await world.repository.deleteCall(call.id);
    await world.uploads.sweep();
    expect(world.uploads.status()).toMatchObject({ pending: 0, failing: false });
  });

  it("ends a sweep after a few failures in a row rather than trying every file against a dead store", async () => {
    world = new S3World(s3, { endpoint: proxy.endpoint });
    const files = DEFAULT_UPLOAD_CONCURRENCY * 3;
    for (let i = 0; i < files; i++) await world.finishedCallWithFile(1024);
    proxy.down = true;
    await world.uploads.sweep();
    // Three in a row end it; the other workers may each have started one meanwhile.
    const failed = await metric("callbridge_recording_upload_failures_total");
    expect(failed).toBeGreaterThanOrEqual(3);
    expect(failed).toBeLessThanOrEqual(DEFAULT_UPLOAD_CONCURRENCY + 2);
    expect(world.uploads.status().pending).toBe(files);
  });

  it("abandons an upload in flight at shutdown and keeps the file spooled", async () => {
    world = new S3World(s3, { endpoint: proxy.endpoint });
    const { fileKey } = await world.finishedCallWithFile(11 * MiB);
    proxy.stallWhen((r) => r.method === "PUT");
    const sweep = world.uploads.sweep();
    // Held in its parts, after the multipart upload was created.
    await vi.waitFor(() => expect(proxy.seen.at(-1)).toMatchObject({ method: "PUT", status: 0 }), {
      timeout: 5000,
    });
    const started = performance.now();
    await world.uploads.stop();
    await sweep;
    expect(performance.now() - started).toBeLessThan(1000);
    proxy.stallWhen(null);
    expect(world.spoolFiles(fileKey)).toEqual([fileKey]);
    expect(await metric("callbridge_recording_upload_failures_total")).toBe(0);
  });

  it("after a crash between upload and local delete, a restart neither uploads again nor loses anything", async () => {
    world = new S3World(s3, { endpoint: proxy.endpoint });
    const call = await world.recordedCall();
    const files = spooled(call);
    // The dead process had uploaded and verified every file, then died before its row update
    // and local deletes.
    for (const file of await world.archive.pending()) await world.archive.upload(file);
    const dir = world.dir;
    await world.close(false);

    world = new S3World(s3, { endpoint: proxy.endpoint, dir });
    const from = proxy.seen.length;
    await world.uploads.sweep();

    // This call's writes only: a part an earlier test abandoned may still reach the store.
    expect(writesSince(from).filter((r) => r.path.includes(call.streamSid))).toEqual([]);
    expect(world.spoolFiles(call.streamSid)).toEqual([]);
    expect(await world.objectsOf(call)).toEqual([...files.keys()].map((n) => world.key(n)).sort());
    for (const [name, bytes] of files) {
      expect((await s3.get(world.key(name)))?.equals(bytes)).toBe(true);
    }
    const [recording] = await world.repository.getRecordingsByCallId(call.id);
    expect(recording?.cloudUrl).toBe(`s3://${s3.bucket}/calls/${recording?.fileKey}`);
  });

  it("trusts no copy that fails verification: the file stays spooled and its row unchanged", async () => {
    world = new S3World(s3, { endpoint: proxy.endpoint });
    const { call, fileKey } = await world.finishedCallWithFile(4096);
    const bytes = readFileSync(join(world.spool, fileKey));
    proxy.corruptBodies = true;
    try {
      await world.uploads.sweep();
    } finally {
      proxy.corruptBodies = false;
    }
    // The store kept what it received: the same length, other bytes.
    const stored = await s3.get(world.key(fileKey));
    expect(stored?.length).toBe(bytes.length);
    expect(stored?.equals(bytes)).toBe(false);
    expect(world.spoolFiles(fileKey)).toEqual([fileKey]);
    expect((await world.repository.getRecordingsByCallId(call.id))[0]?.cloudUrl).toBeNull();
    expect(world.uploads.status()).toMatchObject({ pending: 1, failing: true });

    world.clock.advance(1000);
    await world.uploads.sweep();
    expect((await s3.get(world.key(fileKey)))?.equals(bytes)).toBe(true);
    expect(world.spoolFiles(fileKey)).toEqual([]);
  });

  it("uploads again a file whose stored copy differs from the spooled one", async () => {
    world = new S3World(s3, { endpoint: proxy.endpoint });
    const { fileKey } = await world.finishedCallWithFile(4096);
    const bytes = readFileSync(join(world.spool, fileKey));
    // A stored copy of the same size with other bytes (a torn earlier attempt, another writer).
    writeFileSync(join(world.spool, fileKey), Buffer.alloc(4096, 7));
    const [other] = await world.archive.pending();
    await world.archive.upload(other!);
    writeFileSync(join(world.spool, fileKey), bytes);

    await world.uploads.sweep();
    expect((await s3.get(world.key(fileKey)))?.equals(bytes)).toBe(true);
    expect(world.spoolFiles(fileKey)).toEqual([]);
  });

  it("does not remove a spooled file that changed after it was listed", async () => {
    world = new S3World(s3, { endpoint: proxy.endpoint });
    const { fileKey } = await world.finishedCallWithFile(2048);
    const [listed] = await world.archive.pending();
    writeFileSync(join(world.spool, fileKey), Buffer.alloc(4096, 1));
    await world.archive.removeLocal(listed!);
    expect(world.spoolFiles(fileKey)).toEqual([fileKey]);
    await expect(world.archive.upload(listed!)).rejects.toThrow(/changed since it was listed/);
  });

  it("never uploads a live call's files, a recording without its row, or files with no call row", async () => {
    world = new S3World(s3, { endpoint: proxy.endpoint });
    // Live: a final file already in the spool (the call is ending) is not touched.
    const active = world.manager.startCall({ streamSid: "MZlivecall1" });
    await active.stored;
    const stem = `MZlivecall1_${active.call.startedAt.getTime()}`;
    writeFileSync(join(world.spool, `${stem}_transcript.txt`), "early\n");
    // No row: the recording's row was never stored.
    const noRow = await world.finishedCallWithFile(2048);
    const [row] = await world.repository.getRecordingsByCallId(noRow.call.id);
    await world.repository.deleteRecording(row!.id);
    // No call row (a crash before it was written, or a delete that raced an upload): the audio
    // may be all there is, so it stays in the spool, out of the pending count.
    const deleted = await world.finishedCallWithFile(2048);
    await world.repository.deleteCall(deleted.call.id);

    const from = proxy.seen.length;
    await world.uploads.sweep();

    expect(writesSince(from)).toEqual([]);
    expect(world.spoolFiles(stem)).toContain(`${stem}_transcript.txt`);
    expect(world.spoolFiles(noRow.fileKey)).toEqual([noRow.fileKey]);
    expect(world.spoolFiles(deleted.fileKey)).toEqual([deleted.fileKey]);
    expect(await s3.head(world.key(deleted.fileKey))).toBeNull();
    expect(world.uploads.status().pending).toBe(2);
    await world.uploads.sweep();
    expect(world.spoolFiles(deleted.fileKey)).toEqual([deleted.fileKey]);
    expect(world.uploads.status().pending).toBe(2);

    await active.end();
    await world.uploads.sweep();
    expect(world.spoolFiles(stem)).toEqual([]);
    expect(await s3.keys(world.key(stem))).toHaveLength(3);
  });
});
