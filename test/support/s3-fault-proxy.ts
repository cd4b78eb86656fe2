import http from "node:http";
import type { AddressInfo } from "node:net";

/** One request as the proxy saw it, before deciding to forward or fail it. */
export interface SeenRequest {
  method: string;
  /** Path without the query. */
  path: string;
  query: URLSearchParams;
  /** The Range header, when there was one. */
  range: string | undefined;
  /** x-amz-content-sha256: how the body was signed (a hash, or UNSIGNED-PAYLOAD). */
  payloadHash: string | undefined;
  /** 503 from the proxy, or the upstream's status. */
  status: number;
}

/** A request to fail: decides on the request alone, and may keep its own state ("first time"). */
export type FaultRule = (request: Omit<SeenRequest, "status">) => boolean;

export interface S3FaultProxy {
  endpoint: string;
  /** Every request so far, oldest first. */
  readonly seen: SeenRequest[];
  /** While true, every request gets 503 (the store is down). */
  down: boolean;
  /**
   * While true, the first byte of every PUT body is flipped on its way to the store: a copy
   * that arrives with the right length and the wrong bytes (what only a checksum catches).
   */
  corruptBodies: boolean;
  /** Requests this rule picks are held unanswered (a store that hangs); null cuts the held ones. */
  stallWhen(rule: FaultRule | null): void;
  /** Requests this rule picks get 503; null = none. */
  failWhen(rule: FaultRule | null): void;
  /** UploadPart of this part number gets 503 the first `times` times it is sent. */
  failPartOnce(partNumber: number, times?: number): void;
  close(): Promise<void>;
}

const SLOW_DOWN =
  '<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable</Code><Message>injected by the test proxy</Message></Error>';

/**
 * An HTTP proxy in front of a local S3 server that answers 503 ServiceUnavailable to the
 * requests a test chooses: a store that is down, or one that fails some parts of an upload.
 * Everything else is forwarded byte for byte (signatures cover the Host header, which is kept,
 * so clients must sign for the proxy's endpoint: they do, since that is the one they call).
 */
export async function startS3FaultProxy(upstreamPort: number): Promise<S3FaultProxy> {
  const seen: SeenRequest[] = [];
  let rule: FaultRule | null = null;
  let stallRule: FaultRule | null = null;
  const stalled: http.ServerResponse[] = [];
  const proxy = {
    endpoint: "",
    seen,
    down: false,
    corruptBodies: false,
    stallWhen(next: FaultRule | null) {
      stallRule = next;
      if (next === null) for (const held of stalled.splice(0)) held.destroy();
    },
    failWhen(next: FaultRule | null) {
      rule = next;
    },
    failPartOnce(partNumber: number, times = 1) {
      let left = times;
      rule = (request) => {
        if (request.method !== "PUT" || request.query.get("partNumber") !== String(partNumber)) {
          return false;
        }
        if (left <= 0) return false;
        left--;
        return true;
      };
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://proxy");
    const request = {
      method: req.method ?? "GET",
      path: url.pathname,
      query: url.searchParams,
      range: req.headers.range,
      payloadHash: header(req.headers["x-amz-content-sha256"]),
    };
    if (stallRule?.(request)) {
      seen.push({ ...request, status: 0 });
      stalled.push(res);
      return;
    }
    if (proxy.down || rule?.(request)) {
      seen.push({ ...request, status: 503 });
      // Read the body first, as a real server would, so the client sees the answer, not a reset.
      req.resume();
      req.once("end", () => {
        res.writeHead(503, { "Content-Type": "application/xml", Connection: "close" });
        res.end(SLOW_DOWN);
      });
      return;
    }
    const upstream = http.request(
      {
        host: "127.0.0.1",
        port: upstreamPort,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        seen.push({ ...request, status: answer.statusCode ?? 0 });
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.once("error", () => {
      seen.push({ ...request, status: 502 });
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    if (proxy.corruptBodies && req.method === "PUT") {
      let first = true;
      req.on("data", (chunk: Buffer) => {
        if (first && chunk.length > 0) {
          chunk[0] = (chunk[0] ?? 0) ^ 0xff;
          first = false;
        }
        upstream.write(chunk);
      });
      req.on("end", () => upstream.end());
      return;
    }
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  proxy.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return proxy;
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
