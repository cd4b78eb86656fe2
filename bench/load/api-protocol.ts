/** Messages between bench/api-under-load.ts and its API client process (bench/load/api-client.ts). */

/** What the client needs to build its requests: ids and values that exist in the dataset. */
export interface ApiPlan {
  commonWord: string;
  rareWord: string;
  callIds: string[];
  callers: string[];
  recordings: { id: string; sizeBytes: number }[];
  calls: number;
  firstStartedAtMs: number;
  lastStartedAtMs: number;
  /** The same seed gives every run the same sequence of requests. */
  seed: number;
}

export type ApiClientRequest =
  | { type: "start"; baseUrl: string; plan: ApiPlan }
  /** Requests started from now on are the measured ones. */
  | { type: "window-start" }
  /** Start no more requests; report once the one in flight has finished. */
  | { type: "stop" };

/**
 * How the server took `sort=relevance|recent` on /api/search (the parameter is being added):
 * supported (a bogus value is refused with 400), refused (400 to `sort=relevance`: the searches
 * ran without it), ignored (a bogus value is answered 200: the parameter is unknown to the
 * server, and the searches ran without it).
 */
export type SortSupport = "supported" | "refused" | "ignored";

export interface RouteSamples {
  route: string;
  /** Wall time of each request started in the window, response body read, in ms. */
  samplesMs: number[];
  /** Count of each HTTP status (or `error` for a failed connection). */
  statuses: Record<string, number>;
  /** The first few unexpected answers, for the report. */
  failures: string[];
}

export interface ApiClientResult {
  sort: SortSupport;
  routes: RouteSamples[];
  /** Requests made before the window opened (warm-up), not in `routes`. */
  warmupRequests: number;
}

export type ApiClientMessage =
  | { type: "ready" }
  | { type: "result"; result: ApiClientResult }
  | { type: "error"; message: string };
