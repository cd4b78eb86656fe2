import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { describe, expect, it } from "vitest";
import { emptyDigest, etagMatches, PartHasher } from "../../../src/adapters/s3/part-hasher.ts";

const md5 = (bytes: Buffer) => createHash("md5").update(bytes).digest();

async function digestOf(bytes: Buffer, partSize: number, chunk: number) {
  const hasher = new PartHasher(partSize);
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += chunk) chunks.push(bytes.subarray(i, i + chunk));
  await pipeline(Readable.from(chunks), hasher, async (out: AsyncIterable<Buffer>) => {
    for await (const _ of out) {
      // drain
    }
  });
  return hasher.result();
}

/** The ETag S3 gives a multipart upload: md5 of the parts' binary md5s, then -N. */
function multipartEtag(bytes: Buffer, partSize: number): string {
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += partSize) parts.push(md5(bytes.subarray(i, i + partSize)));
  return `"${createHash("md5").update(Buffer.concat(parts)).digest("hex")}-${parts.length}"`;
}

describe("PartHasher and etagMatches", () => {
  it.each([
    [1000, 100, 7],
    [1000, 100, 100],
    [1001, 100, 33],
    [99, 100, 10],
  ])("%i bytes in %i-byte parts, read %i at a time", async (size, partSize, chunk) => {
    const bytes = randomBytes(size);
    const digest = await digestOf(bytes, partSize, chunk);
    expect(digest.sizeBytes).toBe(size);
    expect(digest.partMd5s).toHaveLength(Math.ceil(size / partSize));
    // Both forms a store may give these bytes verify, quoted or not.
    expect(etagMatches(`"${md5(bytes).toString("hex")}"`, digest)).toBe(true);
    expect(etagMatches(multipartEtag(bytes, partSize), digest)).toBe(true);
    // Another object's ETag, a wrong part count, or none do not.
    expect(etagMatches(`"${md5(randomBytes(size)).toString("hex")}"`, digest)).toBe(false);
    expect(etagMatches(multipartEtag(bytes, partSize).replace(/-\d+"$/, '-99"'), digest)).toBe(
      false,
    );
    expect(etagMatches(undefined, digest)).toBe(false);
  });

  it("digests no bytes as one empty part", () => {
    const digest = emptyDigest();
    expect(etagMatches('"d41d8cd98f00b204e9800998ecf8427e"', digest)).toBe(true);
  });
});
