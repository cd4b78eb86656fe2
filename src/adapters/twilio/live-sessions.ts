import type { TelephonyOutput } from "../../application/ports/index.ts";
import type { MediaStreamSession } from "./twilio-routes.ts";

interface Entry {
  session: MediaStreamSession;
  output: TelephonyOutput;
}

/**
 * The media streams that have a session, so that shutdown can end each call the way a hang-up
 * does (recording finalized, status stored) before its socket is closed.
 */
export class LiveSessions {
  private readonly entries = new Set<Entry>();

  get size(): number {
    return this.entries.size;
  }

  /** Wraps a new session so that it is forgotten once it stops or fails to start. */
  track(session: MediaStreamSession, output: TelephonyOutput): MediaStreamSession {
    const entry: Entry = { session, output };
    this.entries.add(entry);
    const forget = () => this.entries.delete(entry);
    return {
      start: (input) =>
        session.start(input).catch((error: unknown) => {
          forget();
          throw error;
        }),
      media: (payload, timestampMs) => session.media(payload, timestampMs),
      mediaBytes: (src, start, end, timestampMs) =>
        session.mediaBytes(src, start, end, timestampMs),
      mark: (name) => session.mark(name),
      dtmf: (digit) => session.dtmf(digit),
      stop: (reason, outcome) => session.stop(reason, outcome).finally(forget),
    };
  }

  /** Ends every call, then closes its socket; resolves when all are settled. */
  async stopAll(reason: string): Promise<void> {
    await Promise.allSettled(
      [...this.entries].map(async (entry) => {
        try {
          await entry.session.stop(reason);
        } finally {
          entry.output.close();
          this.entries.delete(entry);
        }
      }),
    );
  }
}
