import { createHash, type Hash } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";

/**
 * MD5 of a byte stream, whole and per upload part, computed while the bytes pass through on
 * their way to the store (no second read, no whole file in memory). The per-part digests give
 * the ETag a multipart upload gets; the whole digest the ETag of a single PUT.
 */
export class PartHasher extends Transform {
  private readonly whole = createHash("md5");
  private part: Hash = createHash("md5");
  private partBytes = 0;
  private readonly partDigests: Buffer[] = [];
  private total = 0;

  constructor(private readonly partSize: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.whole.update(chunk);
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(this.partSize - this.partBytes, chunk.length - offset);
      this.part.update(chunk.subarray(offset, offset + take));
      this.partBytes += take;
      offset += take;
      if (this.partBytes === this.partSize) this.closePart();
    }
    this.total += chunk.length;
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    if (this.partBytes > 0 || this.partDigests.length === 0) this.closePart();
    done();
  }

  /** After the stream ended: the digests and the byte count. */
  result(): StreamDigest {
    return {
      sizeBytes: this.total,
      md5Hex: this.whole.digest("hex"),
      partMd5s: this.partDigests,
    };
  }

  private closePart(): void {
    this.partDigests.push(this.part.digest());
    this.part = createHash("md5");
    this.partBytes = 0;
  }
}

/** The digest of no bytes: one empty part, as an empty single PUT is. */
export function emptyDigest(): StreamDigest {
  const md5 = createHash("md5").digest();
  return { sizeBytes: 0, md5Hex: md5.toString("hex"), partMd5s: [md5] };
}

export interface StreamDigest {
  sizeBytes: number;
  md5Hex: string;
  partMd5s: Buffer[];
}

/**
 * Whether an object's ETag shows it holds exactly these bytes. Two forms are accepted:
 * - the MD5 of the whole object, which S3 gives a single PUT (unencrypted or SSE-S3), and which
 *   s3rver gives every object, multipart ones included (s3rver 3.7.1, lib/controllers/object.js
 *   completeMultipartUpload: `etag: JSON.stringify(md5)` of the concatenated parts);
 * - `md5(concat(md5 of each part))-N`, what S3 and MinIO give a multipart upload of N parts (not
 *   documented as a contract by AWS, but stable and relied on by the AWS CLI's own `s3 sync` and
 *   by MinIO's docs on ETags: https://docs.aws.amazon.com/AmazonS3/latest/API/API_Object.html says
 *   an ETag "may or may not be an MD5 digest"; the part-digest form is what multipart returns).
 * Anything else (SSE-KMS, SSE-C ETags) does not verify, so the file stays in the spool: safe.
 */
export function etagMatches(etag: string | undefined, digest: StreamDigest): boolean {
  if (etag === undefined) return false;
  const value = etag.replaceAll('"', "").toLowerCase();
  if (value === digest.md5Hex) return true;
  const n = digest.partMd5s.length;
  const multipart = createHash("md5").update(Buffer.concat(digest.partMd5s)).digest("hex");
  return value === `${multipart}-${n}`;
}
