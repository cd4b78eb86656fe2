import { randomBytes } from "node:crypto";

/** What a signed voice webhook said about its call: the only caller details a stream may use. */
export interface SignedCall {
  callSid: string;
  /** The webhook's `From`, when it had one. */
  caller: string | null;
  /** The parameters our TwiML gave the stream (caller, callSid, To, FromCountry, ...). */
  parameters: Readonly<Record<string, string>>;
}

/** A stream token: 144 random bits, base64url, so it needs no escaping anywhere. */
const TOKEN_BYTES = 18;
export const STREAM_TOKEN = /^[A-Za-z0-9_-]{24}$/;
/** The `<Parameter>` (and so the `start` frame's custom parameter) that carries the token. */
export const STREAM_TOKEN_PARAMETER = "streamToken";

/**
 * Single-use stream tokens, one per signed voice webhook. The TwiML gives the token to the
 * stream as a `<Parameter>` (the `<Stream url>` stays the fixed one), and Twilio sends it back in
 * the `start` frame, where it is taken. Twilio's upgrade signature is over that fixed URL, the
 * same for every call, so it cannot tell one call's stream from another's: the token's protection
 * is that it is secret, single-use, short-lived and tied to its CallSid. A token lasts `ttlMs`;
 * taking it also uses up its CallSid, so one signed call gets one stream. Both maps are bounded
 * by age and count, oldest first, so a flood of signed webhooks cannot grow them forever.
 */
export class SignedCalls {
  private readonly tokens = new Map<string, { call: SignedCall; at: number }>();
  /** CallSids that have had their stream, kept as long as any token for them can live. */
  private readonly streamed = new Map<string, number>();

  constructor(
    private readonly ttlMs = 10 * 60_000,
    private readonly maxEntries = 50_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** A new token for `call`, valid for one stream within the TTL. */
  issue(call: SignedCall): string {
    const now = this.now();
    const token = randomBytes(TOKEN_BYTES).toString("base64url");
    this.tokens.set(token, { call, at: now });
    prune(this.tokens, now - this.ttlMs, this.maxEntries, (entry) => entry.at);
    // A call that already had its stream stays marked for as long as this new token lives.
    if (this.hasStreamed(call.callSid, now)) this.markStreamed(call.callSid, now);
    return token;
  }

  /** Whether `token` may still open a stream (issued, unexpired, not taken). */
  has(token: string): boolean {
    const entry = this.tokens.get(token);
    return entry !== undefined && this.now() - entry.at <= this.ttlMs;
  }

  /**
   * Uses up `token` and its CallSid and answers the call it was issued for; null when the token
   * is unknown, expired or taken, or its CallSid already had a stream. Given `callSid`, a token
   * issued for another call is refused too, and left as it was: that call may still use it.
   */
  take(token: string, callSid?: string): SignedCall | null {
    const entry = this.tokens.get(token);
    if (entry === undefined) return null;
    if (callSid !== undefined && entry.call.callSid !== callSid) return null;
    this.tokens.delete(token);
    const now = this.now();
    if (now - entry.at > this.ttlMs) return null;
    if (this.hasStreamed(entry.call.callSid, now)) return null;
    this.markStreamed(entry.call.callSid, now);
    return entry.call;
  }

  private hasStreamed(callSid: string, now: number): boolean {
    const at = this.streamed.get(callSid);
    return at !== undefined && now - at <= this.ttlMs;
  }

  private markStreamed(callSid: string, now: number): void {
    this.streamed.delete(callSid);
    this.streamed.set(callSid, now);
    prune(this.streamed, now - this.ttlMs, this.maxEntries, (at) => at);
  }
}

/** Drops entries (insertion order = oldest first) older than `oldest`, or beyond `max`. */
function prune<V>(map: Map<string, V>, oldest: number, max: number, at: (v: V) => number): void {
  for (const [key, value] of map) {
    if (at(value) >= oldest && map.size <= max) break;
    map.delete(key);
  }
}
