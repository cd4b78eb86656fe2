/**
 * HTTP clients for fuzzing that send exactly what they are given: `fetch` normalises paths
 * (`/a/../b` becomes `/b`) and refuses odd methods or headers, which would hide the very requests
 * a fuzzer is for.
 */
import http from "node:http";
import net from "node:net";

export interface FuzzRequest {
  method: string;
  /** Sent as is: it must already be percent-encoded where Node requires it. */
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

export interface FuzzResponse {
  status: number;
  contentType: string;
  /** At most `maxBodyBytes` of the body, decoded as UTF-8. */
  body: string;
}

/** Sends one request with node:http and reads at most `maxBodyBytes` of the answer. */
export function sendRequest(
  port: number,
  request: FuzzRequest,
  options: { agent?: http.Agent; timeoutMs?: number; maxBodyBytes?: number } = {},
): Promise<FuzzResponse> {
  const maxBody = options.maxBodyBytes ?? 256 * 1024;
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port,
        method: request.method,
        path: request.path,
        headers: request.headers,
        agent: options.agent,
        timeout: options.timeoutMs ?? 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const contentType = String(res.headers["content-type"] ?? "");
        const finish = () =>
          resolve({
            status: res.statusCode ?? 0,
            contentType,
            body: Buffer.concat(chunks).toString("utf8"),
          });
        res.on("data", (chunk: Buffer) => {
          chunks.push(chunk);
          size += chunk.length;
          // Streams (SSE, large files) are cut once enough has been seen.
          if (size >= maxBody || contentType.startsWith("text/event-stream")) {
            finish();
            res.destroy();
          }
        });
        res.on("end", finish);
        res.on("error", () => finish());
        if (contentType.startsWith("text/event-stream")) {
          // A feed may stay quiet: its headers are the answer.
          setTimeout(() => {
            finish();
            res.destroy();
          }, 50);
        }
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${request.method} ${request.path} timed out`)));
    req.on("error", reject);
    if (request.body !== undefined) req.write(request.body);
    req.end();
  });
}

/**
 * Writes `text` on a bare TCP connection and collects what comes back until a response head has
 * arrived, the server closes the connection, or `timeoutMs` passes (then `timedOut` is true).
 */
export function sendRaw(
  port: number,
  text: string | Buffer,
  timeoutMs = 2000,
): Promise<{ response: string; timedOut: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.write(text));
    let response = "";
    let settled = false;
    const settle = (timedOut: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ response, timedOut });
    };
    const timer = setTimeout(() => settle(true), timeoutMs);
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => {
      response += chunk;
      // A complete head is an answer (a 101 sends nothing more); a moment more for the body.
      if (response.includes("\r\n\r\n")) setTimeout(() => settle(false), 20);
    });
    socket.on("close", () => settle(false));
    socket.on("error", () => settle(false));
  });
}

/** Status code of a raw HTTP response, or null when there was none. */
export const rawStatus = (response: string): number | null => {
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(response);
  return match ? Number(match[1]) : null;
};

const WS_HEADERS =
  "Upgrade: websocket\r\nConnection: Upgrade\r\n" +
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

/**
 * Request heads no ordinary client sends: targets that are not URLs, broken hosts, upgrade
 * requests in odd shapes. Each must get an answer (or a close), never take the server down.
 */
export function hostileRequestHeads(): string[] {
  const targets = [
    "//",
    "///",
    "http://[",
    "http://a:99999/",
    "http://x/twilio/media-stream",
    "*",
    "/%zz",
    "/%",
    "/twilio/media-stream?%",
    "/twilio/media-stream?a=%zz",
    "//twilio/media-stream",
    "/twilio/media-stream/../twilio/media-stream",
    "/twilio/./media-stream",
    "/twilio%2Fmedia-stream",
    "/api/calls/..%2F..%2Fetc%2Fpasswd",
    `/${"a".repeat(8000)}`,
    "/twilio/media-stream#frag",
  ];
  const heads: string[] = [];
  for (const target of targets) {
    heads.push(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${WS_HEADERS}\r\n`);
    heads.push(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
  }
  const path = "/twilio/media-stream";
  heads.push(
    `GET ${path} HTTP/1.1\r\nHost: [::1\r\n${WS_HEADERS}\r\n`,
    `GET ${path} HTTP/1.1\r\nHost: a b\r\n${WS_HEADERS}\r\n`,
    `GET ${path} HTTP/1.1\r\n${WS_HEADERS}\r\n`,
    `GET ${path} HTTP/1.0\r\n${WS_HEADERS}\r\n`,
    `POST ${path} HTTP/1.1\r\nHost: x\r\n${WS_HEADERS}Content-Length: 3\r\n\r\nabc`,
    `GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n`,
    `GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    `GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 99\r\n\r\n`,
    `GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n`,
    `GET ${path} HTTP/1.1\r\nHost: x\r\n${WS_HEADERS}X-Twilio-Signature: ${"A".repeat(10_000)}\r\n\r\n`,
    `GET ${path} HTTP/1.1\r\nHost: x\r\n${WS_HEADERS}X-Big: ${"b".repeat(20_000)}\r\n\r\n`,
    `GET ${path} HTTP/1.1\r\nHost: x\r\n${WS_HEADERS}Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=99\r\n\r\n`,
    `GET ${path} HTTP/1.1\r\nHost: x\r\n${WS_HEADERS}Sec-WebSocket-Protocol: ,,,\r\n\r\n`,
    "GET / HTTP/9.9\r\nHost: x\r\n\r\n",
    "BREW /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    "POST /twilio/voice HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    "POST /twilio/voice HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "\u0000\u0001\u0002 garbage \r\n\r\n",
    "GET /healthz HTTP/1.1\r\nHost: x\r\nX: \u0000\r\n\r\n",
  );
  return heads;
}
