import { createHash, createHmac, timingSafeEqual } from "node:crypto";

/** What a signed voice webhook said about its call: the only caller details a stream may use. */
export interface SignedCall {
  callSid: string;
  /** The webhook's `From`, when it had one. */
  caller: string | null;
  /** The parameters our TwiML gave the stream (caller, callSid, To, FromCountry, ...). */
  parameters: Readonly<Record<string, string>>;
}

/** 144 bits of HMAC-SHA256, base64url: as hard to guess as the random tokens it replaced. */
const MAC_BYTES = 18;
/** A stream token: when it was issued (ms, base 36), a dot, and its MAC; nothing to escape. */
export const STREAM_TOKEN = /^[0-9a-z]{1,11}\.[A-Za-z0-9_-]{24}$/;
/** The `<Parameter>` (and so the `start` frame's custom parameter) that carries the token. */
export const STREAM_TOKEN_PARAMETER = "streamToken";

/**
 * Single-use stream tokens, one per signed voice webhook. The TwiML gives the token to the
 * stream as a `<Parameter>` (the `<Stream url>` stays the fixed one), and Twilio sends it back in
 * the `start` frame with the other parameters, where it is taken. Twilio's upgrade signature is
 * over that fixed URL, the same for every call, so it cannot tell one call's stream from
 * another's: the token's protection is that it is unforgeable, short-lived, tied to its CallSid
 * and to the parameters our TwiML gave the stream, and single-use.
 *
 * The token is a MAC (keyed from TWILIO_AUTH_TOKEN) over the issue time, the CallSid and those
 * parameters, so any instance that shares the auth token can check it: the webhook and the
 * stream of one call may land on different workers or machines (issue 19). What each instance
 * keeps is only what was used: tokens and CallSids that had their stream, bounded by age and
 * count, so one signed call gets one stream per instance. A replay on another instance within
 * the TTL would need the `start` frame of a live call, which only Twilio and the server see.
 */
export class SignedCalls {
  private readonly key: Buffer;
  /** Tokens taken here, kept while they could still be valid. */
  private readonly used = new Map<string, number>();
  /** CallSids that have had their stream, kept as long as any token for them can live. */
  private readonly streamed = new Map<string, number>();

  constructor(
    authToken: string,
    private readonly ttlMs = 10 * 60_000,
    private readonly maxEntries = 50_000,
    private readonly now: () => number = Date.now,
  ) {
    // A key of its own: a stream token never doubles as anything Twilio signs.
    this.key = createHash("sha256").update(`callbridge stream token\0${authToken}`).digest();
  }

  /** A new token for `call`, valid for one stream within the TTL. */
  issue(call: SignedCall): string {
    const now = this.now();
    // A call that already had its stream here stays marked for as long as this new token lives.
    if (this.hasStreamed(call.callSid, now)) {
      remember(this.streamed, call.callSid, now, now - this.ttlMs, this.maxEntries);
    }
    const at = now.toString(36);
    return `${at}.${this.mac(at, call)}`;
  }

  /** Whether `token` is well formed, unexpired and not used here (its MAC is checked by take). */
  has(token: string): boolean {
    const at = this.issuedAt(token);
    return at !== null && this.now() - at <= this.ttlMs && !this.used.has(token);
  }

  /**
   * Uses up `token` and its CallSid and answers the call it was issued for; null when the token
   * is forged, expired or taken, was issued for another CallSid or other parameters than the
   * `start` frame carries, or its CallSid already had a stream. A refused token is left as it
   * was: its own call may still use it.
   */
  take(
    token: string,
    callSid: string,
    parameters: Readonly<Record<string, string>>,
  ): SignedCall | null {
    const at = this.issuedAt(token);
    const now = this.now();
    if (at === null || now - at > this.ttlMs || now < at - this.ttlMs) return null;
    if (this.used.has(token)) return null;
    const call: SignedCall = { callSid, caller: parameters.caller || null, parameters };
    const [stamp, mac] = token.split(".") as [string, string];
    const expected = Buffer.from(this.mac(stamp, call));
    const given = Buffer.from(mac);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    if (this.hasStreamed(callSid, now)) return null;
    remember(this.used, token, now, now - this.ttlMs, this.maxEntries);
    remember(this.streamed, callSid, now, now - this.ttlMs, this.maxEntries);
    return { ...call, parameters: { ...parameters } };
  }

  private issuedAt(token: string): number | null {
    if (!STREAM_TOKEN.test(token)) return null;
    const at = Number.parseInt(token.slice(0, token.indexOf(".")), 36);
    return Number.isSafeInteger(at) ? at : null;
  }

  /** Over every field the stream will be trusted for, in a fixed order. */
  private mac(at: string, call: SignedCall): string {
    const fields = Object.entries(call.parameters).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return createHmac("sha256", this.key)
      .update(JSON.stringify([at, call.callSid, call.caller, fields]))
      .digest()
      .subarray(0, MAC_BYTES)
      .toString("base64url");
  }

  private hasStreamed(callSid: string, now: number): boolean {
    const at = this.streamed.get(callSid);
    return at !== undefined && now - at <= this.ttlMs;
  }
}

/** Adds `key` as the newest entry, dropping those older than `oldest` or beyond `max`. */
function remember(
  map: Map<string, number>,
  key: string,
  now: number,
  oldest: number,
  max: number,
): void {
  map.delete(key);
  map.set(key, now);
  for (const [k, at] of map) {
    if (at >= oldest && map.size <= max) break;
    map.delete(k);
  }
}
