import { metricValue, parsePrometheus, type Sample } from "../../test/support/prometheus-text.ts";

/** One scrape of a running server's /metrics. */
export async function scrapeMetrics(baseUrl: string): Promise<Sample[]> {
  const response = await fetch(`${baseUrl}/metrics`);
  if (!response.ok) throw new Error(`GET /metrics answered ${response.status}`);
  return parsePrometheus(await response.text());
}

/** The value of a metric (summed over label sets matching `labels`), 0 when it is absent. */
export function metric(
  samples: Sample[],
  name: string,
  labels: Record<string, string> = {},
): number {
  return metricValue(samples, name, labels) ?? 0;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Scrapes until `done` holds for a scrape, and returns that scrape. */
export async function waitForMetrics(
  baseUrl: string,
  done: (samples: Sample[]) => boolean,
  timeoutMs: number,
  label: string,
): Promise<Sample[]> {
  const deadline = performance.now() + timeoutMs;
  for (let pause = 1; ; pause = Math.min(pause * 2, 50)) {
    const samples = await scrapeMetrics(baseUrl);
    if (done(samples)) return samples;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${label}`);
    await sleep(pause);
  }
}
