import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * Twilio request signatures: base64 HMAC-SHA1, keyed with the auth token, over the full URL
 * followed by every POST parameter's name and value, sorted by name.
 * https://www.twilio.com/docs/usage/webhooks/webhooks-security
 */
export function computeTwilioSignature(
  authToken: string,
  url: string,
  params: Record<string, string> = {},
): string {
  const hmac = createHmac("sha1", authToken);
  hmac.update(url);
  for (const key of Object.keys(params).sort()) {
    hmac.update(key);
    hmac.update(params[key] ?? "");
  }
  return hmac.digest("base64");
}

const DEFAULT_PORTS: Record<string, string> = { https: "443", wss: "443", http: "80", ws: "80" };
const SCHEME_AUTHORITY_REST = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)(.*)$/is;
const HOST_PORT = /^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/;

/**
 * The URL as given, plus the same URL with its default port added or removed. String surgery,
 * not `new URL()`: WHATWG parsing drops an explicit default port and normalizes the path and
 * query, while Twilio signs the exact text of the URL it called.
 */
export function urlVariants(url: string): string[] {
  const parts = SCHEME_AUTHORITY_REST.exec(url);
  if (!parts) return [url];
  const [, scheme = "", authority = "", rest = ""] = parts;
  const defaultPort = DEFAULT_PORTS[scheme.toLowerCase()];
  const at = authority.lastIndexOf("@");
  const hostPort = HOST_PORT.exec(authority.slice(at + 1));
  if (!defaultPort || !hostPort) return [url];
  const [, host = "", port] = hostPort;
  const prefix = `${scheme}://${authority.slice(0, at + 1)}${host}`;
  if (port === undefined) return [url, `${prefix}:${defaultPort}${rest}`];
  if (port === defaultPort) return [url, `${prefix}${rest}`];
  return [url];
}

function sameSignature(expected: string, given: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  // Equal lengths first, as timingSafeEqual requires; a base64 SHA-1 is always 28 characters.
  return a.length === b.length && timingSafeEqual(a, b);
}

export function isValidTwilioSignature(
  authToken: string,
  signature: string | undefined,
  url: string,
  params: Record<string, string> = {},
): boolean {
  if (!signature) return false;
  let valid = false;
  for (const candidate of urlVariants(url)) {
    // No early exit: every variant is checked so timing does not reveal which one matched.
    if (sameSignature(computeTwilioSignature(authToken, candidate, params), signature))
      valid = true;
  }
  return valid;
}
