import { type Context, Hono } from "hono";
import type { CallQueries } from "../../../application/queries.ts";
import { END_REASONS } from "../../../domain/call-review.ts";
import { bearerAuth } from "../api/bearer-auth.ts";
import { ID_PATTERN } from "../api/query-schemas.ts";
import { badRequest, pathId } from "../api/validation.ts";
import { HttpError } from "../errors.ts";
import { type CallFilters, CallPage, LIST_SORT_FIELDS, ListPage, NotFoundPage } from "./pages.tsx";
import { PeaksBusyError } from "./peaks-worker-client.ts";
import { loadAssets } from "./static-assets.ts";
import { type PeaksJson, WAV_HEADER_BYTES } from "./waveform-peaks.ts";

export interface UiRoutesDeps {
  queries: CallQueries;
  /** Set = the page asks for the key, and the peaks route needs it like /api does. */
  apiKey?: string;
  /**
   * Peaks of the recording file `fileKey`, reading its first `sizeBytes`. Off the audio thread:
   * main.ts hands in a PeaksWorker, and this route never reads the samples itself.
   */
  computePeaks(fileKey: string, sizeBytes: number, buckets: number): Promise<PeaksJson>;
}

/**
 * Everything the page loads comes from this server (no CDN), and the policy says so: scripts,
 * styles, audio and API calls are same-origin only, and nothing runs inline.
 */
const PAGE_HEADERS = {
  "Content-Security-Policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
    "media-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; " +
    "frame-ancestors 'none'",
  // The audio and feed URLs carry a signature (a short-lived credential): never hand them to
  // another site.
  "Referrer-Policy": "no-referrer",
  "X-Content-Type-Options": "nosniff",
  // The shell holds no call data (the script fetches it), so it may be kept, but revalidated
  // so that a new version of the page is never hidden behind an old copy.
  "Cache-Control": "no-cache",
};

const DEFAULT_BUCKETS = 800;
const MIN_BUCKETS = 16;
const MAX_BUCKETS = 4000;
const PEAK_CACHE_SIZE = 32;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

const oneOf = <T extends string>(value: string | undefined, allowed: readonly T[]): T | "" =>
  allowed.find((option) => option === value) ?? "";

/**
 * The list's filters from the URL, for the form to show. Typed text is kept as it is (trimmed
 * and bounded) so that the API's message about it can stand next to what was typed; choices the
 * form does not offer, and dates that are not dates, are dropped.
 */
function filtersFrom(c: Context): CallFilters {
  const text = (name: string, max = 256) => (c.req.query(name) ?? "").trim().slice(0, max);
  const date = (name: string) => {
    const value = c.req.query(name) ?? "";
    return DATE.test(value) ? value : "";
  };
  return {
    status: oneOf(c.req.query("status"), ["active", "completed", "failed"] as const),
    caller: text("caller"),
    called: text("called"),
    outcome: text("outcome", 40),
    endReason: oneOf(c.req.query("endReason"), END_REASONS),
    sentiment: oneOf(c.req.query("sentiment"), ["positive", "neutral", "negative"] as const),
    minDuration: text("minDuration", 12),
    maxDuration: text("maxDuration", 12),
    from: date("from"),
    to: date("to"),
    speaker: oneOf(c.req.query("speaker"), ["caller", "assistant"] as const),
    sort: c.req.query("sort") === "relevance" ? "relevance" : "recent",
    listSort: oneOf(c.req.query("sort"), LIST_SORT_FIELDS) || "startedAt",
    listOrder: oneOf(c.req.query("order"), ["asc", "desc"] as const) || "desc",
  };
}

function renderPage(c: Context, page: { toString(): string }, status: 200 | 404 = 200) {
  return c.html(`<!doctype html>${page.toString()}`, status, PAGE_HEADERS);
}

/** Paths of machine interfaces, whose unknown paths stay JSON 404s whoever asks. */
const MACHINE_PATHS = /^\/(api|twilio|metrics|healthz|openapi)(\/|\.|$)/;

/**
 * The "not found" page for a browser that opens an unknown path (a GET whose Accept names
 * text/html, as browsers' page loads do), or null: the API's clients, and every path of the API,
 * Twilio's routes and the metrics, get the JSON 404.
 */
export function browserNotFound(apiKeyRequired: boolean): (c: Context) => Response | null {
  return (c) => {
    if (c.req.method !== "GET" && c.req.method !== "HEAD") return null;
    if (MACHINE_PATHS.test(c.req.path)) return null;
    if (!(c.req.header("accept") ?? "").includes("text/html")) return null;
    return renderPage(c, <NotFoundPage apiKeyRequired={apiKeyRequired} />, 404);
  };
}

/** The call browser: the pages at `/` and `/calls/:id`, their assets, and waveform peaks. */
export function uiRoutes(deps: UiRoutesDeps): Hono {
  const app = new Hono();
  const assets = loadAssets();
  const apiKeyRequired = deps.apiKey !== undefined;

  app.get("/", (c) => {
    const query = (c.req.query("q") ?? "").trim().slice(0, 500);
    return renderPage(
      c,
      <ListPage apiKeyRequired={apiKeyRequired} filters={filtersFrom(c)} query={query} />,
    );
  });

  app.get("/calls/:id", (c) => {
    const id = c.req.param("id");
    if (!ID_PATTERN.test(id)) return renderPage(c, <NotFoundPage apiKeyRequired={false} />, 404);
    return renderPage(c, <CallPage apiKeyRequired={apiKeyRequired} callId={id} />);
  });

  app.get("/ui/assets/:name", (c) => {
    const asset = assets.get(c.req.param("name"));
    if (!asset) return renderPage(c, <NotFoundPage apiKeyRequired={false} />, 404);
    const headers = {
      "Content-Type": asset.contentType,
      // Revalidated on every load, so a restarted server never leaves a stale script behind.
      "Cache-Control": "no-cache",
      ETag: asset.etag,
      "X-Content-Type-Options": "nosniff",
    };
    if (c.req.header("if-none-match") === asset.etag) return c.body(null, 304, headers);
    return c.body(asset.body, 200, headers);
  });

  if (deps.apiKey) app.use("/ui/recordings/*", bearerAuth(deps.apiKey));
  // Promises, so concurrent requests for the same peaks share one job; a failure is not kept.
  const peakCache = new Map<string, Promise<Record<string, unknown>>>();
  app.get("/ui/recordings/:id/peaks", async (c) => {
    const id = pathId(c, "recording");
    const buckets = parseBuckets(c.req.query("buckets"));
    // Opened every time, so a deleted recording is a 404 even when its peaks are cached.
    const { recording, audio } = await deps.queries.openRecording(id);
    if (audio.sizeBytes < WAV_HEADER_BYTES) throw new Error(`recording ${id} has no WAV header`);
    const key = `${id}:${buckets}`;
    let body = peakCache.get(key);
    if (body === undefined) {
      const pending = deps.computePeaks(recording.fileKey, audio.sizeBytes, buckets).then(
        (peaks) => ({ recordingId: recording.id, track: recording.track, ...peaks }),
        (error: unknown) => {
          if (peakCache.get(key) === pending) peakCache.delete(key);
          if (error instanceof PeaksBusyError) {
            throw new HttpError(503, "unavailable", "waveform peaks are busy; try again shortly");
          }
          throw error;
        },
      );
      body = pending;
      // Finished recordings never change, so the peaks can be kept; the oldest entry goes first.
      peakCache.set(key, pending);
      if (peakCache.size > PEAK_CACHE_SIZE) peakCache.delete(peakCache.keys().next().value ?? "");
    }
    return c.json(await body, 200, { "Cache-Control": "private, no-cache" });
  });

  return app;
}

function parseBuckets(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_BUCKETS;
  const n = /^\d{1,5}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(n >= MIN_BUCKETS && n <= MAX_BUCKETS)) {
    throw badRequest("buckets", `must be an integer from ${MIN_BUCKETS} to ${MAX_BUCKETS}`);
  }
  return n;
}
