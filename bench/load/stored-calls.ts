/** What the server stored for each call of a run, read back through its public API. */

import { metric, scrapeMetrics } from "../lib/server-metrics.ts";

export interface StoredCall {
  status: string;
  /** Seconds of audio per recording track. */
  tracks: Record<string, number>;
  transcripts: number;
}

interface ApiCall {
  id: string;
  streamSid: string;
  status: string;
}

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`GET ${url} answered ${response.status}`);
  return (await response.json()) as T;
}

/**
 * Waits until the server reports no active call: every recording has been finalized. With
 * WORKERS > 1 (`workers`), /healthz speaks for the one worker that answers it, so the count is
 * `callbridge_active_calls` summed over every worker's /metrics, from a scrape that every worker
 * answered.
 */
export async function waitForNoActiveCalls(
  baseUrl: string,
  timeoutMs: number,
  workers = 1,
): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (workers > 1) {
      const samples = await scrapeMetrics(baseUrl).catch(() => null);
      if (
        samples &&
        metric(samples, "callbridge_cluster_workers") >= workers &&
        metric(samples, "callbridge_cluster_workers_unanswered") === 0 &&
        metric(samples, "callbridge_active_calls") === 0
      ) {
        return true;
      }
    } else {
      const health = await getJson<{ activeCalls?: number }>(`${baseUrl}/healthz`).catch(
        () => null,
      );
      if (health?.activeCalls === 0) return true;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

export async function storedCalls(baseUrl: string): Promise<Map<string, StoredCall>> {
  const calls: ApiCall[] = [];
  let cursor: string | null = null;
  do {
    const query: string = cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`;
    const page: { data: ApiCall[]; nextCursor: string | null } = await getJson(
      `${baseUrl}/api/calls?limit=200${query}`,
    );
    calls.push(...page.data);
    cursor = page.nextCursor;
  } while (cursor !== null);

  const stored = new Map<string, StoredCall>();
  // A few requests at a time: the server is still the one being measured until it stops.
  for (let i = 0; i < calls.length; i += 16) {
    await Promise.all(
      calls.slice(i, i + 16).map(async (call) => {
        const detail = await getJson<{
          recordings: { track: string; durationSeconds: number }[];
          transcriptCount: number;
        }>(`${baseUrl}/api/calls/${call.id}`);
        const tracks: Record<string, number> = {};
        for (const r of detail.recordings) tracks[r.track] = r.durationSeconds;
        stored.set(call.streamSid, {
          status: call.status,
          tracks,
          transcripts: detail.transcriptCount,
        });
      }),
    );
  }
  return stored;
}
