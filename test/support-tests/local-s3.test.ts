import { randomBytes } from "node:crypto";
import { GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalS3, startLocalS3 } from "../support/local-s3.ts";
import { type S3FaultProxy, startS3FaultProxy } from "../support/s3-fault-proxy.ts";

let s3: LocalS3;
let proxy: S3FaultProxy;

beforeAll(async () => {
  s3 = await startLocalS3("self-test");
  proxy = await startS3FaultProxy(s3.port);
});

afterAll(async () => {
  await proxy.close();
  await s3.stop();
});

describe("the local S3 server", () => {
  it("stores, lists, heads and serves objects, with Range", async () => {
    const client = s3.client();
    const body = Buffer.from("hello, object storage");
    await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: "a/b.txt", Body: body }));
    expect(await s3.keys("a/")).toEqual(["a/b.txt"]);
    expect(await s3.get("a/b.txt")).toEqual(body);
    expect((await s3.head("a/b.txt"))?.size).toBe(body.length);
    expect(await s3.get("a/missing.txt")).toBeNull();
    const ranged = await client.send(
      new GetObjectCommand({ Bucket: s3.bucket, Key: "a/b.txt", Range: "bytes=7-12" }),
    );
    expect(Buffer.from(await ranged.Body!.transformToByteArray()).toString()).toBe("object");
  });

  it("takes multipart uploads (and gives them a plain MD5 ETag)", async () => {
    const body = randomBytes(11 * 1024 * 1024);
    await new Upload({
      client: s3.client(),
      partSize: 5 * 1024 * 1024,
      params: { Bucket: s3.bucket, Key: "big.bin", Body: body },
    }).done();
    const head = await s3.head("big.bin");
    expect(head?.size).toBe(body.length);
    expect(head?.etag).toMatch(/^[0-9a-f]{32}$/);
    expect((await s3.get("big.bin"))?.equals(body)).toBe(true);
  });
});

describe("the fault-injecting proxy", () => {
  it("forwards requests, signed for the proxy's address", async () => {
    const client = s3.client(proxy.endpoint);
    await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: "via-proxy.txt", Body: "x" }));
    expect(await s3.get("via-proxy.txt")).toEqual(Buffer.from("x"));
    expect(proxy.seen.at(-1)).toMatchObject({ method: "PUT", status: 200 });
  });

  it("answers 503 to everything while down", async () => {
    const client = s3.client(proxy.endpoint);
    client.config.maxAttempts = async () => 1;
    proxy.down = true;
    try {
      await expect(
        client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: "down.txt", Body: "x" })),
      ).rejects.toMatchObject({ $metadata: { httpStatusCode: 503 } });
    } finally {
      proxy.down = false;
    }
    expect(await s3.get("down.txt")).toBeNull();
  });

  it("fails one part of a multipart upload once; the SDK's retry sends it again", async () => {
    proxy.failPartOnce(2);
    const body = randomBytes(11 * 1024 * 1024);
    const before = proxy.seen.length;
    await new Upload({
      client: s3.client(proxy.endpoint),
      partSize: 5 * 1024 * 1024,
      params: { Bucket: s3.bucket, Key: "retried.bin", Body: body },
    }).done();
    proxy.failWhen(null);
    const parts = proxy.seen
      .slice(before)
      .filter((r) => r.query.get("partNumber") === "2")
      .map((r) => r.status);
    expect(parts).toEqual([503, 200]);
    expect((await s3.get("retried.bin"))?.equals(body)).toBe(true);
  });

  it("flips the first byte of a PUT body while corrupting, keeping its length", async () => {
    proxy.corruptBodies = true;
    try {
      await s3
        .client(proxy.endpoint)
        .send(new PutObjectCommand({ Bucket: s3.bucket, Key: "corrupt.txt", Body: "abc" }));
    } finally {
      proxy.corruptBodies = false;
    }
    const stored = await s3.get("corrupt.txt");
    expect(stored?.length).toBe(3);
    expect(stored?.subarray(1).toString()).toBe("bc");
    expect(stored?.[0]).toBe("a".charCodeAt(0) ^ 0xff);
  });

  it("holds chosen requests unanswered until released", async () => {
    const client = s3.client(proxy.endpoint);
    proxy.stallWhen((r) => r.method === "PUT");
    let settled = false;
    const put = client
      .send(new PutObjectCommand({ Bucket: s3.bucket, Key: "held.txt", Body: "x" }))
      .finally(() => {
        settled = true;
      });
    await new Promise((r) => setTimeout(r, 300));
    expect(settled).toBe(false);
    expect(proxy.seen.at(-1)).toMatchObject({ method: "PUT", status: 0 });
    // Releasing cuts the held connection; the SDK's own retry then gets through.
    proxy.stallWhen(null);
    await put;
    expect(await s3.get("held.txt")).toEqual(Buffer.from("x"));
  });
});
