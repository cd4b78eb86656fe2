import { Readable } from "node:stream";
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  type S3Client,
  S3ServiceException,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";

/** Where the archive lives: `s3://bucket/prefix` (the prefix may be empty). */
export interface BucketLocation {
  bucket: string;
  /** Without leading or trailing slashes; keys are `prefix/fileKey`. */
  prefix: string;
}

export interface ObjectHead {
  sizeBytes: number;
  etag: string | undefined;
}

/** Presigned download URLs live this long: enough to start playing, short enough to leak little. */
export const PRESIGNED_URL_SECONDS = 300;

/** The few object operations the archive needs, on one bucket and prefix. */
export class S3Objects {
  constructor(
    readonly client: S3Client,
    readonly location: BucketLocation,
  ) {}

  keyOf(fileKey: string): string {
    return this.location.prefix === "" ? fileKey : `${this.location.prefix}/${fileKey}`;
  }

  urlOf(fileKey: string): string {
    return `s3://${this.location.bucket}/${this.keyOf(fileKey)}`;
  }

  /** Size and ETag, or null when there is no such object. */
  async head(fileKey: string, signal?: AbortSignal): Promise<ObjectHead | null> {
    try {
      const out = await this.client.send(
        new HeadObjectCommand({ Bucket: this.location.bucket, Key: this.keyOf(fileKey) }),
        { abortSignal: signal },
      );
      return { sizeBytes: out.ContentLength ?? 0, etag: out.ETag };
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  /** Bytes [start, end] inclusive, fetched when first read (so HEAD-like uses cost nothing). */
  openRange(fileKey: string, start: number, end: number): ReadableStream<Uint8Array> {
    let reader: ReadableStreamDefaultReader<Uint8Array> | null = null;
    const command = new GetObjectCommand({
      Bucket: this.location.bucket,
      Key: this.keyOf(fileKey),
      Range: `bytes=${start}-${end}`,
    });
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        if (reader === null) {
          const out = await this.client.send(command);
          if (out.Body === undefined) throw new Error("the store sent no body");
          reader = out.Body.transformToWebStream().getReader();
        }
        const { done, value } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      },
      cancel: async (reason) => {
        await reader?.cancel(reason);
      },
    });
  }

  /** The whole object as a byte stream, or null when there is none. */
  async download(fileKey: string): Promise<Readable | null> {
    try {
      const out = await this.client.send(
        new GetObjectCommand({ Bucket: this.location.bucket, Key: this.keyOf(fileKey) }),
      );
      if (!(out.Body instanceof Readable)) throw new Error("the store sent no body");
      return out.Body;
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  presignedGet(
    fileKey: string,
    response: { contentType: string; contentDisposition: string },
  ): Promise<string> {
    const command = new GetObjectCommand({
      Bucket: this.location.bucket,
      Key: this.keyOf(fileKey),
      ResponseContentType: response.contentType,
      ResponseContentDisposition: response.contentDisposition,
      ResponseCacheControl: "private, no-store",
    });
    return getSignedUrl(this.client, command, { expiresIn: PRESIGNED_URL_SECONDS });
  }

  /**
   * One DeleteObject per key: DeleteObjects needs a Content-MD5 or checksum header, which the SDK
   * now sends as CRC32 and several S3-compatible stores reject. A missing object is no error.
   */
  async deleteAll(fileKeys: string[]): Promise<void> {
    await Promise.all(
      fileKeys.map((fileKey) =>
        this.client.send(
          new DeleteObjectCommand({ Bucket: this.location.bucket, Key: this.keyOf(fileKey) }),
        ),
      ),
    );
  }
}

export function isNotFound(error: unknown): boolean {
  if (error instanceof S3ServiceException) {
    return error.$metadata.httpStatusCode === 404 || error.name === "NotFound";
  }
  return false;
}
