/**
 * The API client of bench/api-under-load.ts: one person (or one script) using the JSON API and
 * the call browser as hard as one connection allows: requests back to back, one at a time,
 * cycling through searches, list pages, call details, transcripts, waveform peaks and ranged
 * recording downloads. It runs in its own process, pinned to the generator's core (not the
 * server's), and reports each route's latencies over IPC.
 */

import { prng } from "../lib/prng.ts";
import type {
  ApiClientMessage,
  ApiClientRequest,
  ApiClientResult,
  ApiPlan,
  RouteSamples,
  SortSupport,
} from "./api-protocol.ts";

/** A request that takes longer than this is recorded as an error (the server is stuck). */
const REQUEST_TIMEOUT_MS = 60_000;
const LIST_LIMIT = 50;
const SEARCH_LIMIT = 20;
/** Bytes asked for by each ranged download: a player's first chunk. */
const RANGE_BYTES = 64 * 1024;
const WAV_HEADER_BYTES = 44;

function post(message: ApiClientMessage): void {
  process.send?.(message);
}

interface Answer {
  status: number;
  body: Buffer;
}

async function get(url: string, headers: Record<string, string> = {}): Promise<Answer> {
  const response = await fetch(url, { headers, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  return { status: response.status, body: Buffer.from(await response.arrayBuffer()) };
}

interface Route {
  name: string;
  /** The path and headers of the next request, or null to skip this turn (no cursor yet). */
  next(): { path: string; headers?: Record<string, string>; ok: number[] } | null;
  /** Reads what the following requests need (a cursor) from a successful answer. */
  after?(body: Buffer): void;
}

async function probeSort(baseUrl: string, rareWord: string): Promise<SortSupport> {
  const search = (sort: string) =>
    get(`${baseUrl}/api/search?q=${encodeURIComponent(rareWord)}&limit=1&sort=${sort}`);
  if ((await search("relevance")).status === 400) return "refused";
  // A server that does not know the parameter ignores it, as it ignores every unknown one.
  return (await search("bench-probe-not-a-sort")).status === 400 ? "supported" : "ignored";
}

function buildRoutes(plan: ApiPlan, sort: SortSupport): Route[] {
  const random = prng(plan.seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  // Each recording once before any repeats: the server keeps the peaks of the last 32 it drew,
  // and a person browsing calls rarely opens the same one twice.
  const recordings = [...plan.recordings];
  for (let i = recordings.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [recordings[i], recordings[j]] = [recordings[j]!, recordings[i]!];
  }
  let recordingTurn = 0;
  const nextRecording = () => recordings[recordingTurn++ % recordings.length]!;
  // About 300 calls between since and until, however large the table.
  const spanMs = plan.lastStartedAtMs - plan.firstStartedAtMs;
  const windowMs = Math.max(3_600_000, Math.floor((spanMs * 300) / Math.max(1, plan.calls)));

  let list: { query: string; cursor: string | null } = { query: "", cursor: null };
  const listRoute = (name: string, query: () => string): Route => {
    let last = "";
    return {
      name,
      next: () => {
        last = query();
        return { path: `/api/calls?limit=${LIST_LIMIT}${last}`, ok: [200] };
      },
      after: (body) => {
        const page = JSON.parse(body.toString("utf8")) as { nextCursor: string | null };
        list = { query: last, cursor: page.nextCursor };
      },
    };
  };
  const nextPage: Route = {
    name: "calls list: next page (cursor)",
    next: () =>
      list.cursor === null
        ? null
        : {
            path: `/api/calls?limit=${LIST_LIMIT}${list.query}&cursor=${encodeURIComponent(list.cursor)}`,
            ok: [200],
          },
    after: (body) => {
      const page = JSON.parse(body.toString("utf8")) as { nextCursor: string | null };
      list = { ...list, cursor: page.nextCursor };
    },
  };
  const searchRoute = (which: "common" | "rare", order: "relevance" | "recent"): Route => {
    const word = which === "common" ? plan.commonWord : plan.rareWord;
    const param = sort === "supported" ? `&sort=${order}` : "";
    return {
      // Without sort both turns make the same request, and share one row of the report.
      name:
        sort === "supported"
          ? `search: ${which} word "${word}", sort=${order}`
          : `search: ${which} word "${word}", no sort`,
      next: () => ({
        path: `/api/search?q=${encodeURIComponent(word)}&limit=${SEARCH_LIMIT}${param}`,
        ok: [200],
      }),
    };
  };
  const iso = (ms: number) => new Date(ms).toISOString();
  return [
    searchRoute("common", "relevance"),
    listRoute("calls list: newest", () => ""),
    nextPage,
    {
      name: "call detail",
      next: () => ({ path: `/api/calls/${pick(plan.callIds)}`, ok: [200] }),
    },
    searchRoute("rare", "relevance"),
    listRoute("calls list: status=failed", () => "&status=failed"),
    {
      name: "call transcripts",
      next: () => ({ path: `/api/calls/${pick(plan.callIds)}/transcripts`, ok: [200] }),
    },
    searchRoute("common", "recent"),
    listRoute("calls list: since/until", () => {
      const since = plan.firstStartedAtMs + Math.floor(random() * Math.max(1, spanMs - windowMs));
      return `&since=${iso(since)}&until=${iso(since + windowMs)}`;
    }),
    nextPage,
    {
      name: "waveform peaks",
      next: () => ({ path: `/ui/recordings/${nextRecording().id}/peaks`, ok: [200] }),
    },
    searchRoute("rare", "recent"),
    listRoute("calls list: caller", () => `&caller=${encodeURIComponent(pick(plan.callers))}`),
    {
      name: "recording audio, Range 64 KB",
      next: () => {
        const recording = nextRecording();
        const last = Math.max(WAV_HEADER_BYTES, recording.sizeBytes - RANGE_BYTES);
        const start = WAV_HEADER_BYTES + Math.floor(random() * (last - WAV_HEADER_BYTES));
        return {
          path: `/api/recordings/${recording.id}/audio`,
          headers: { Range: `bytes=${start}-${start + RANGE_BYTES - 1}` },
          ok: [206],
        };
      },
    },
  ];
}

let windowOpen = false;
let stopping = false;

async function run(baseUrl: string, plan: ApiPlan): Promise<ApiClientResult> {
  const sort = await probeSort(baseUrl, plan.rareWord);
  const routes = buildRoutes(plan, sort);
  const results = new Map<string, RouteSamples>();
  for (const route of routes) {
    results.set(route.name, { route: route.name, samplesMs: [], statuses: {}, failures: [] });
  }
  let warmupRequests = 0;
  for (let turn = 0; !stopping; turn = (turn + 1) % routes.length) {
    const route = routes[turn]!;
    const request = route.next();
    if (request === null) continue;
    const measured = windowOpen;
    const started = performance.now();
    let status: string;
    let failure: string | null = null;
    try {
      const answer = await get(baseUrl + request.path, request.headers);
      status = String(answer.status);
      if (request.ok.includes(answer.status)) route.after?.(answer.body);
      else failure = `${request.path} → ${answer.status} ${answer.body.toString("utf8", 0, 200)}`;
    } catch (error) {
      status = "error";
      failure = `${request.path} → ${error instanceof Error ? error.message : String(error)}`;
    }
    const elapsed = performance.now() - started;
    if (!measured) {
      warmupRequests++;
      continue;
    }
    const samples = results.get(route.name)!;
    samples.samplesMs.push(elapsed);
    samples.statuses[status] = (samples.statuses[status] ?? 0) + 1;
    if (failure !== null && samples.failures.length < 3) samples.failures.push(failure);
  }
  return { sort, routes: [...results.values()], warmupRequests };
}

function main(): void {
  // The parent owns this process: if it goes away, so does the client.
  process.on("disconnect", () => process.exit(0));
  process.on("message", (message: ApiClientRequest) => {
    if (message.type === "window-start") windowOpen = true;
    else if (message.type === "stop") stopping = true;
    else if (message.type === "start") {
      run(message.baseUrl, message.plan).then(
        (result) => post({ type: "result", result }),
        (error: unknown) =>
          post({ type: "error", message: error instanceof Error ? error.message : String(error) }),
      );
    }
  });
  post({ type: "ready" });
}

main();
