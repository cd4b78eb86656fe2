import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type S3Client,
} from "@aws-sdk/client-s3";
import S3rver from "s3rver";
import { createS3Client } from "../../src/adapters/s3/s3-client.ts";

/** s3rver's fixed credentials: it checks signatures, so clients must sign with these. */
export const LOCAL_S3_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };
export const LOCAL_S3_REGION = "us-east-1";

export interface LocalS3 {
  endpoint: string;
  port: number;
  bucket: string;
  /** A client of this server (path-style, as the server needs; checksums as production). */
  client(endpoint?: string): S3Client;
  /** Every key in the bucket (under `prefix`), sorted. */
  keys(prefix?: string): Promise<string[]>;
  get(key: string): Promise<Buffer | null>;
  head(key: string): Promise<{ size: number; etag: string } | null>;
  /** The variables the server reads through the AWS SDK's default chain. */
  env(endpoint?: string): Record<string, string>;
  stop(): Promise<void>;
}

/**
 * A real S3-protocol server (s3rver, serving a temp folder) on 127.0.0.1 and a free port, with
 * one bucket. Tests talk to it with the real SDK, as production talks to S3 or MinIO.
 */
export async function startLocalS3(bucket = "recordings"): Promise<LocalS3> {
  const directory = mkdtempSync(join(tmpdir(), "callbridge-s3-"));
  const server = new S3rver({
    port: 0,
    address: "127.0.0.1",
    silent: true,
    directory,
    configureBuckets: [{ name: bucket, configs: [] }],
  });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const clientOf = (url = endpoint) =>
    createS3Client({
      forcePathStyle: true,
      endpoint: url,
      region: LOCAL_S3_REGION,
      credentials: LOCAL_S3_CREDENTIALS,
    });
  const own = clientOf();
  return {
    endpoint,
    port,
    bucket,
    client: clientOf,
    async keys(prefix) {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const page = await own.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
        );
        for (const item of page.Contents ?? []) if (item.Key) keys.push(item.Key);
        token = page.NextContinuationToken;
      } while (token);
      return keys.sort();
    },
    async get(key) {
      try {
        const out = await own.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        return Buffer.from((await out.Body?.transformToByteArray()) ?? []);
      } catch (error) {
        if (isMissing(error)) return null;
        throw error;
      }
    },
    async head(key) {
      try {
        const out = await own.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
        return { size: out.ContentLength ?? 0, etag: (out.ETag ?? "").replaceAll('"', "") };
      } catch (error) {
        if (isMissing(error)) return null;
        throw error;
      }
    },
    env(url = endpoint) {
      return {
        AWS_ENDPOINT_URL_S3: url,
        AWS_REGION: LOCAL_S3_REGION,
        AWS_ACCESS_KEY_ID: LOCAL_S3_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: LOCAL_S3_CREDENTIALS.secretAccessKey,
      };
    },
    async stop() {
      own.destroy();
      await server.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

function isMissing(error: unknown): boolean {
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return status === 404;
}
