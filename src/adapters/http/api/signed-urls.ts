import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from "node:crypto";
import { Hono } from "hono";
import { type SignedUrlJson, SignedUrlRequestJson } from "./json-schemas.ts";
import { badRequest } from "./validation.ts";

/**
 * What a signed URL may open, and for how long: only what a browser loads without being able to
 * send an Authorization header. A feed's signature is checked when it connects, so its lifetime
 * only bounds when it can be (re)started; audio is re-requested for every Range the player
 * needs, so it lives long enough to listen to a long call.
 */
const SIGNABLE: readonly { pattern: RegExp; ttlSeconds: number }[] = [
  { pattern: /^\/api\/recordings\/[A-Za-z0-9_-]{1,128}\/audio$/, ttlSeconds: 60 * 60 },
  { pattern: /^\/api\/(events|calls\/[A-Za-z0-9_-]{1,128}\/events)$/, ttlSeconds: 10 * 60 },
];

/** Leeway for clocks of several servers that verify each other's URLs. */
const CLOCK_SKEW_SECONDS = 60;
const SIG = /^[A-Za-z0-9_-]{43}$/; // 32 bytes of HMAC-SHA256, base64url without padding.
const EXPIRES = /^\d{1,12}$/;
/** Changing it (say, to bind more of the request) invalidates every URL already handed out. */
const VERSION = "v1";

const ttlOf = (path: string): number | undefined =>
  SIGNABLE.find(({ pattern }) => pattern.test(path))?.ttlSeconds;

export interface SignedUrl {
  /** Path and query: `<path>?expires=<unix seconds>&sig=<base64url HMAC>`. */
  url: string;
  expiresAt: Date;
}

/**
 * Short-lived, read-only URLs for one path, so that a page can hand `<audio>` and EventSource a
 * URL without putting the API key in it (browser history, a copied link, a proxy's log).
 * The signature is an HMAC-SHA256 over the method (GET), the path and the expiry.
 */
export class UrlSigner {
  /**
   * Keyed by HKDF over API_KEY: every process started with the same key accepts the others'
   * URLs (several servers behind one balancer, a restart), and changing the key revokes them.
   * The derived key is not the API key, so a leaked signing key cannot call the API.
   */
  static forApiKey(apiKey: string, now?: () => number): UrlSigner {
    const key = hkdfSync("sha256", apiKey, "callbridge", "signed-url v1", 32);
    return new UrlSigner(Buffer.from(key), now);
  }

  /** Without API_KEY nothing checks signatures; a random key keeps the URLs well-formed. */
  static random(now?: () => number): UrlSigner {
    return new UrlSigner(randomBytes(32), now);
  }

  constructor(
    private readonly key: Buffer,
    private readonly now: () => number = Date.now,
  ) {}

  /** True when `path` is one that signed URLs may open. */
  static canSign(path: string): boolean {
    return ttlOf(path) !== undefined;
  }

  /** A URL for GET `path`, valid for that path's lifetime from now. */
  sign(path: string): SignedUrl {
    const ttl = ttlOf(path);
    if (ttl === undefined) throw new Error(`${path} cannot be signed`);
    return this.signUntil(path, Math.floor(this.now() / 1000) + ttl);
  }

  /** A URL for GET `path` that expires at `expires` (unix seconds). */
  signUntil(path: string, expires: number): SignedUrl {
    const query = new URLSearchParams({ expires: String(expires), sig: this.mac(path, expires) });
    return { url: `${path}?${query}`, expiresAt: new Date(expires * 1000) };
  }

  /**
   * Whether `sig` signs this method, path and expiry, and the expiry is still ahead (but not
   * further than any URL this server hands out: a longer one was not made by this code).
   */
  verify(method: string, path: string, expires?: string, sig?: string): boolean {
    const ttl = ttlOf(path);
    if (method !== "GET" || ttl === undefined) return false;
    if (expires === undefined || sig === undefined) return false;
    if (!EXPIRES.test(expires) || !SIG.test(sig)) return false;
    // Compared as text, not decoded: base64url ignores the last character's low bits, so four
    // spellings would decode to one MAC. Equal lengths (SIG), as timingSafeEqual needs.
    const expected = Buffer.from(this.mac(path, Number(expires)), "ascii");
    if (!timingSafeEqual(Buffer.from(sig, "ascii"), expected)) return false;
    const nowSeconds = this.now() / 1000;
    return (
      nowSeconds <= Number(expires) && Number(expires) <= nowSeconds + ttl + CLOCK_SKEW_SECONDS
    );
  }

  private mac(path: string, expires: number): string {
    return createHmac("sha256", this.key)
      .update(`${VERSION}\nGET\n${path}\n${expires}`, "utf8")
      .digest("base64url");
  }
}

/** The signer for a server: derived from API_KEY when set (see UrlSigner.forApiKey). */
export function urlSignerFor(apiKey: string | undefined): UrlSigner {
  return apiKey === undefined ? UrlSigner.random() : UrlSigner.forApiKey(apiKey);
}

/**
 * `POST /api/signed-urls` with `{"path": "/api/recordings/<id>/audio"}` (or a feed's path):
 * answers `{url, expiresAt}`. Relative to "/api"; behind the API key like the rest of /api, so
 * only a holder of the key can mint URLs, and only read-only ones.
 */
export function signedUrlRoutes(signer: UrlSigner): Hono {
  const app = new Hono();
  app.post("/signed-urls", async (c) => {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      throw badRequest("body", 'must be JSON such as {"path":"/api/recordings/<id>/audio"}');
    }
    const parsed = SignedUrlRequestJson.safeParse(body);
    const path = parsed.success ? parsed.data.path : undefined;
    if (path === undefined || !UrlSigner.canSign(path)) {
      throw badRequest(
        "path",
        "must be /api/recordings/<id>/audio, /api/events or /api/calls/<id>/events",
      );
    }
    const { url, expiresAt } = signer.sign(path);
    const answer: SignedUrlJson = { url, expiresAt: expiresAt.toISOString() };
    return c.json(answer, 200);
  });
  return app;
}
