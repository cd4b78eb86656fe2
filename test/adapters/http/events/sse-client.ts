/** A minimal Server-Sent Events reader over fetch, for tests: it keeps comments too. */

export interface SseFrame {
  /** `message` when the frame names no event; `comment` for a `: ...` line. */
  event: string;
  data: string;
}

export interface SseStream {
  response: Response;
  frames: SseFrame[];
  /** Resolves with the first frame (past or future) that matches; rejects after `timeoutMs`. */
  next(match: (frame: SseFrame) => boolean, timeoutMs?: number): Promise<SseFrame>;
  /** Resolves when the stream ends: true when the server ended it, false when it broke off. */
  ended: Promise<boolean>;
  close(): void;
}

export async function openSse(
  url: string,
  headers: Record<string, string> = {},
): Promise<SseStream> {
  const controller = new AbortController();
  const response = await fetch(url, { headers, signal: controller.signal });
  const frames: SseFrame[] = [];
  const waiters = new Set<() => void>();
  const notify = () => {
    for (const waiter of [...waiters]) waiter();
  };
  let finished = false;
  const ended = (async () => {
    if (!response.body) return true;
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buffer += value;
        let end = buffer.indexOf("\n\n");
        while (end >= 0) {
          frames.push(...parseBlock(buffer.slice(0, end)));
          buffer = buffer.slice(end + 2);
          end = buffer.indexOf("\n\n");
        }
        notify();
      }
      return true;
    } catch {
      // Aborted by close(), or the connection was cut.
      return false;
    } finally {
      finished = true;
      notify();
    }
  })();
  return {
    response,
    frames,
    ended,
    close: () => controller.abort(),
    next(match, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = frames.find(match);
          if (found) {
            cleanup();
            resolve(found);
          } else if (finished) {
            cleanup();
            reject(new Error("the stream ended first"));
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`no matching SSE frame within ${timeoutMs} ms`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
  };
}

function parseBlock(block: string): SseFrame[] {
  const out: SseFrame[] = [];
  let event = "message";
  const data: string[] = [];
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) out.push({ event: "comment", data: line.slice(1).trim() });
    else if (line.startsWith("event:")) event = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
  }
  if (data.length > 0) out.push({ event, data: data.join("\n") });
  return out;
}
