import { S3Client } from "@aws-sdk/client-s3";

export interface S3ClientOptions {
  /** Path-style URLs (`http://host/bucket/key`), which MinIO, s3rver and most self-hosted stores need. */
  forcePathStyle: boolean;
  /** Tests name their local server here; production leaves it to AWS_ENDPOINT_URL_S3. */
  endpoint?: string;
  region?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

/**
 * The SDK's own opt-out of its NodeVersionSupportWarning ("versions published after January 2027
 * will require node >= 22"), read once when the first client is built. That warning goes to
 * stderr through process.emitWarning on every start on Node 20, which this server runs on by
 * design, and says nothing an operator can act on at run time. Set only when the operator has not
 * chosen: AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=false brings it back.
 */
const WARNING_SWITCH = "AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED";

/**
 * A client for any S3-compatible store. Endpoint, region and credentials come from the SDK's
 * standard chain (AWS_ENDPOINT_URL_S3, AWS_REGION, AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY,
 * AWS_PROFILE, instance roles...) unless given here.
 */
export function createS3Client(options: S3ClientOptions): S3Client {
  process.env[WARNING_SWITCH] ??= "true";
  const client = new S3Client({
    forcePathStyle: options.forcePathStyle,
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    ...(options.region === undefined ? {} : { region: options.region }),
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
    // SDK >= 3.729 adds CRC32 checksums to every upload by default, sent as aws-chunked trailers
    // that many S3-compatible stores (older MinIO, Ceph RGW, R2, Backblaze, s3rver...) reject or
    // store wrongly. Checksums only where the API requires them; the copy is verified by its
    // size and MD5/ETag after the upload instead (s3-recording-archive.ts).
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
  // SigV4 signs a request's body by its SHA-256, which the SDK computes synchronously over the
  // whole buffer: 15-20 ms per 5 MiB part on a 2-core VM, on the thread that carries every call's
  // audio. Uploads go with S3's UNSIGNED-PAYLOAD instead (accepted by S3, MinIO and the rest; the
  // headers are still signed). The bytes are checked anyway: by TLS in transit, and by the
  // archive's size and MD5/ETag check of the stored copy.
  client.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { method?: unknown; headers?: Record<string, string> };
      if (request.method === "PUT" && request.headers !== undefined) {
        request.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD";
      }
      return next(args);
    },
    { step: "build", name: "callbridgeUnsignedUploadBodies" },
  );
  return client;
}
