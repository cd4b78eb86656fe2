import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Hono } from "hono";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { apiRoutes } from "../../../../src/adapters/http/api/api-routes.ts";
import { createHttpApp } from "../../../../src/adapters/http/app.ts";
import { PeaksWorker } from "../../../../src/adapters/http/ui/peaks-worker-client.ts";
import { ASSET_NAMES } from "../../../../src/adapters/http/ui/static-assets.ts";
import { browserNotFound, uiRoutes } from "../../../../src/adapters/http/ui/ui-routes.tsx";
import { createLogger } from "../../../../src/adapters/logging/pino-logger.ts";
import { CallQueries } from "../../../../src/application/queries.ts";
import { decodeWav } from "../../../../src/domain/audio/index.ts";
import { type ApiWorld, createApiWorld, seedCall, seedRecording } from "../api/api-test-world.ts";

const API_KEY = "ui-key-41d2";
let world: ApiWorld | null = null;
let app: Hono;
// One worker for the file: each one boots tsx, which takes a few hundred milliseconds.
const peaks = new PeaksWorker();

afterEach(() => {
  world?.close();
  world = null;
});

afterAll(() => peaks.close());

function start(apiKey?: string, pageNotFound?: ReturnType<typeof browserNotFound>): ApiWorld {
  world = createApiWorld({ apiKey });
  const queries = new CallQueries({ calls: world.repository, recordings: world.store });
  const store = world.store;
  app = createHttpApp({
    logger: createLogger("silent"),
    health: { calls: world.repository, recordings: world.store, activeCalls: () => 0 },
    bodyLimit: { maxBytes: 1024, paths: ["/api/*"] },
    auth: { apiKey, paths: ["/api/*"] },
    ...(pageNotFound ? { pageNotFound } : {}),
    mounts: [
      { prefix: "/api", routes: apiRoutes({ queries, isCallActive: () => false }) },
      {
        prefix: "/",
        routes: uiRoutes({
          queries,
          apiKey,
          computePeaks: (fileKey, sizeBytes, buckets) =>
            peaks.compute(store.filePath(fileKey), sizeBytes, buckets),
        }),
      },
    ],
  });
  return world;
}

const get = (path: string, headers: Record<string, string> = {}) => app.request(path, { headers });

/** Every src and href in the page. */
const links = (html: string) => [...html.matchAll(/\s(?:src|href)="([^"]*)"/g)].map((m) => m[1]!);

describe("the pages", () => {
  it("serve the call list at / with everything it loads coming from this server", async () => {
    start();
    const response = await get("/");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/html");
    const csp = response.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain("unsafe-inline");
    expect(response.headers.get("referrer-policy")).toBe("no-referrer");
    const html = await response.text();
    expect(html.startsWith("<!doctype html>")).toBe(true);
    expect(html).toContain('data-api-key="open"');
    const assets = links(html).filter((link) => link.startsWith("/ui/"));
    expect(assets.length).toBeGreaterThan(0);
    for (const link of links(html)) {
      // Same-origin paths or fragments only: no CDN, no other host.
      expect(/^(\/(?!\/)|#)/.test(link), link).toBe(true);
    }
    for (const asset of assets) expect((await get(asset)).status, asset).toBe(200);
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
  });

  it("render the filters and the search words of the URL, escaped", async () => {
    start(API_KEY);
    const html = await (
      await get(`/?status=failed&caller=${encodeURIComponent('<b>"x')}&from=2026-01-02&to=nope`)
    ).text();
    expect(html).toContain('data-api-key="required"');
    expect(html).toMatch(/<option value="failed" selected="">Failed<\/option>/);
    expect(html).toContain('value="&lt;b&gt;&quot;x"');
    expect(html).toContain('value="2026-01-02"');
    expect(html).not.toContain('value="nope"');
    const search = await (await get(`/?q=${encodeURIComponent("<img src=x>")}`)).text();
    expect(search).toContain("&lt;img src=x&gt;");
    expect(search).not.toContain("<img src=x>");
  });

  it("render the list's order of the URL: heading, aria-sort, select and the form's fields", async () => {
    start();
    const sorted = await (await get("/?sort=durationSeconds&order=asc")).text();
    expect(sorted).toContain('<h2 id="list-heading">Shortest first</h2>');
    expect(sorted).toMatch(
      /<th scope="col" class="num" aria-sort="ascending" data-sort="durationSeconds">/,
    );
    expect(sorted.match(/aria-sort=/g)).toHaveLength(1);
    expect(sorted).toMatch(
      /<option value="durationSeconds:asc" selected="">Shortest first<\/option>/,
    );
    expect(sorted).toContain(
      '<input type="hidden" id="f-sort" name="sort" value="durationSeconds"/>',
    );
    expect(sorted).toContain('<input type="hidden" id="f-order" name="order" value="asc"/>');

    // Newest first, and anything the page does not offer: the form sends no order.
    for (const query of ["", "?sort=p95ResponseLatencyMs&order=sideways", "?q=&sort=relevance"]) {
      const plain = await (await get(`/${query}`)).text();
      expect(plain).toContain('<h2 id="list-heading">Newest first</h2>');
      expect(plain).toMatch(/<th scope="col" aria-sort="descending" data-sort="startedAt">/);
      expect(plain).toMatch(
        /<input type="hidden" id="f-sort" name="sort" value="startedAt" disabled=""\/>/,
      );
    }
  });

  it("serve a call page for a well-formed id and a 404 page otherwise", async () => {
    start();
    const page = await get("/calls/call-1");
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('data-call-id="call-1"');
    const bad = await get("/calls/not%20an%20id");
    expect(bad.status).toBe(404);
    expect(await bad.text()).toContain("Not found");
  });
});

describe("the page's assets", () => {
  it("are served with their type and an ETag, and revalidate to 304", async () => {
    start();
    const script = await get("/ui/assets/call.js");
    expect(script.status).toBe(200);
    expect(script.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(script.headers.get("cache-control")).toBe("no-cache");
    const etag = script.headers.get("etag") ?? "";
    expect(etag).toMatch(/^"[\w-]+"$/);
    const again = await get("/ui/assets/call.js", { "if-none-match": etag });
    expect(again.status).toBe(304);
    expect((await get("/ui/assets/app.css")).headers.get("content-type")).toContain("text/css");
  });

  it("are a fixed list: other names and paths out of the folder are 404", async () => {
    start();
    for (const path of [
      "/ui/assets/nope.js",
      "/ui/assets/tsconfig.json",
      "/ui/assets/..%2Fui-routes.tsx",
      "/ui/assets/../pages.tsx",
    ]) {
      expect((await get(path)).status, path).toBe(404);
    }
  });

  it("import only one another, so the browser needs nothing from elsewhere", () => {
    const folder = join(process.cwd(), "src/adapters/http/ui/assets");
    for (const name of ASSET_NAMES.filter((n) => n.endsWith(".js"))) {
      const source = readFileSync(join(folder, name), "utf8");
      for (const [, target] of source.matchAll(/\bfrom\s+"([^"]+)"/g)) {
        expect(target?.startsWith("./"), `${name} imports ${target}`).toBe(true);
        expect(ASSET_NAMES as readonly string[]).toContain(target?.slice(2));
      }
      // The SVG namespace is a name, not an address; any other URL would be a fetch.
      expect(source.replaceAll("http://www.w3.org/2000/svg", "")).not.toMatch(/https?:\/\//);
    }
  });

  it("never put the API key in a URL: what the browser loads alone gets a signed URL", async () => {
    start(API_KEY);
    for (const name of ASSET_NAMES.filter((n) => n.endsWith(".js"))) {
      const source = await (await get(`/ui/assets/${name}`)).text();
      expect(source, name).not.toContain("access_token");
    }
    const common = await (await get("/ui/assets/common.js")).text();
    expect(common).toContain("/api/signed-urls");
  });
});

describe("headers of the pages and assets", () => {
  it("are nosniff; the shell and its assets are revalidated on every load", async () => {
    start(API_KEY);
    for (const path of ["/", "/calls/call-1", "/calls/not%20an%20id", "/ui/assets/common.js"]) {
      const response = await get(path);
      expect(response.headers.get("x-content-type-options"), path).toBe("nosniff");
      expect(response.headers.get("cache-control"), path).toBe("no-cache");
    }
    // An answer without a policy of its own (here a refused peaks request) is not kept at all.
    expect((await get("/ui/recordings/x/peaks")).headers.get("cache-control")).toBe("no-store");
  });
});

describe("waveform peaks", () => {
  it("are the min and max of each channel over equal slices of the recording", async () => {
    const w = start();
    const call = await seedCall(w, { id: "call-1" });
    const { bytes } = await seedRecording(w, call, "rec-1", {
      track: "conversation",
      sampleCount: 16_000,
    });
    const response = await get("/ui/recordings/rec-1/peaks?buckets=100");
    expect(response.status).toBe(200);
    const body = (await response.json()) as {
      recordingId: string;
      track: string;
      channels: number;
      buckets: number;
      durationSeconds: number;
      peaks: number[][];
    };
    expect(body).toMatchObject({
      recordingId: "rec-1",
      track: "conversation",
      channels: 2,
      buckets: 100,
      durationSeconds: 1,
    });
    const { samples } = decodeWav(new Uint8Array(bytes));
    for (const channel of [0, 1]) {
      const bucket = 37;
      let min = 32767;
      let max = -32768;
      for (let f = bucket * 160; f < (bucket + 1) * 160; f++) {
        min = Math.min(min, samples[2 * f + channel]!);
        max = Math.max(max, samples[2 * f + channel]!);
      }
      expect(body.peaks[channel]?.slice(2 * bucket, 2 * bucket + 2)).toEqual([min, max]);
      expect(body.peaks[channel]).toHaveLength(200);
    }
  });

  it.each(["0", "15", "4001", "abc", "1e3"])("refuse buckets=%s with 400", async (buckets) => {
    const w = start();
    await seedRecording(w, await seedCall(w, { id: "call-1" }), "rec-1", { sampleCount: 160 });
    const response = await get(`/ui/recordings/rec-1/peaks?buckets=${buckets}`);
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { message: string } }).error.message).toMatch(
      /^buckets: /,
    );
  });

  it("answer 404 for an unknown recording", async () => {
    start();
    expect((await get("/ui/recordings/nope/peaks")).status).toBe(404);
  });

  it("need the API key as a bearer header when API_KEY is set", async () => {
    const w = start(API_KEY);
    await seedRecording(w, await seedCall(w, { id: "call-1" }), "rec-1", { sampleCount: 160 });
    expect((await get("/ui/recordings/rec-1/peaks")).status).toBe(401);
    expect((await get(`/ui/recordings/rec-1/peaks?access_token=${API_KEY}`)).status).toBe(401);
    const ok = await get("/ui/recordings/rec-1/peaks", { authorization: `Bearer ${API_KEY}` });
    expect(ok.status).toBe(200);
  });
});

describe("an unknown path", () => {
  const BROWSER = { accept: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8" };

  const startWithPages = (apiKey?: string) => start(apiKey, browserNotFound(apiKey !== undefined));

  it("is the call browser's 'not found' page for a browser", async () => {
    startWithPages();
    const res = await get("/no/such/page", BROWSER);
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain("Not found");
    expect(html).toContain('href="/"');
  });

  it("is JSON for an API client, and for every machine path even from a browser", async () => {
    startWithPages("k-1");
    const json = async (path: string, headers: Record<string, string>) => {
      const res = await get(path, headers);
      expect(res.status, path).toBe(404);
      expect(res.headers.get("content-type"), path).toMatch(/^application\/json/);
      expect(await res.json()).toMatchObject({ error: { code: "not_found" } });
    };
    await json("/no/such/page", {});
    await json("/no/such/page", { accept: "application/json" });
    await json("/api/nope", { ...BROWSER, authorization: "Bearer k-1" });
    await json("/twilio/nope", BROWSER);
    await json("/metrics/nope", BROWSER);
    const post = await app.request("/no/such/page", { method: "POST", headers: BROWSER });
    expect(post.status).toBe(404);
    expect(post.headers.get("content-type")).toMatch(/^application\/json/);
  });
});
