/** A bare `ws` client for poking the fake Realtime server directly in tests. */
import { WebSocket } from "ws";

type Json = { [key: string]: unknown };

export class RealtimeTestClient {
  readonly events: Json[] = [];
  /** Frames that were not JSON objects. */
  readonly garbage: string[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private readonly ws: WebSocket;
  private readonly waiters = new Set<() => void>();

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on("message", (data, isBinary) => {
      const text = isBinary ? null : data.toString();
      let parsed: unknown;
      try {
        parsed = text === null ? undefined : JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) {
        this.events.push(parsed as Json);
      } else {
        this.garbage.push(text ?? "<binary>");
      }
      for (const w of [...this.waiters]) w();
    });
    this.closed = new Promise((resolve) =>
      ws.on("close", (code, reason) => {
        resolve({ code, reason: reason.toString() });
        for (const w of [...this.waiters]) w();
      }),
    );
  }

  static connect(url: string, apiKey: string | null): Promise<RealtimeTestClient> {
    const headers: Record<string, string> = apiKey ? { Authorization: `Bearer ${apiKey}` } : {};
    const ws = new WebSocket(url, { headers });
    const client = new RealtimeTestClient(ws);
    return new Promise((resolve, reject) => {
      ws.once("open", () => resolve(client));
      ws.once("unexpected-response", (_req, res) => {
        reject(new Error(`HTTP ${res.statusCode}`));
        ws.terminate();
      });
      ws.once("error", reject);
    });
  }

  send(event: Json): void {
    this.ws.send(JSON.stringify(event));
  }

  sendRaw(data: string): void {
    this.ws.send(data);
  }

  /**
   * A barrier: resolves after the server has handled everything sent before it, because the pong
   * travels behind any answers the server wrote while processing those messages.
   */
  roundTrip(): Promise<void> {
    return new Promise((resolve) => {
      this.ws.once("pong", () => resolve());
      this.ws.ping();
    });
  }

  ofType(type: string): Json[] {
    return this.events.filter((e) => e.type === type);
  }

  waitFor(
    type: string,
    match: (e: Json) => boolean = () => true,
    timeoutMs = 10_000,
  ): Promise<Json> {
    const find = () => this.events.find((e) => e.type === type && match(e));
    const found = find();
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const check = () => {
        const f = find();
        if (f) {
          this.waiters.delete(check);
          clearTimeout(timer);
          resolve(f);
        }
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(
          new Error(
            `timed out waiting for ${type}; got ${this.events.map((e) => e.type).join(",")}`,
          ),
        );
      }, timeoutMs);
      this.waiters.add(check);
    });
  }

  close(): void {
    this.ws.close();
  }
}
