import { Hono } from "hono";
import type { CallRepository, RecordingStore } from "../../application/ports/index.ts";

export interface HealthDeps {
  calls: CallRepository;
  recordings: RecordingStore;
  activeCalls: () => number;
  /** Extra reasons to report degraded (for example recent storage write errors). */
  degradedReasons?: () => string[];
  /** Object storage's upload queue, when recordings are archived there. */
  uploads?: () => { pending: number; oldestAgeSeconds: number; failing: boolean };
  /**
   * Which worker answers, in a cluster (WORKERS > 1): each checks and reports only itself (its
   * own database connection and live calls), so the answer names it.
   */
  worker?: { instance: string; index: number };
}

async function probe(check: () => Promise<void>): Promise<"ok" | "error"> {
  try {
    await check();
    return "ok";
  } catch {
    return "error";
  }
}

function uploadsJson(status: { pending: number; oldestAgeSeconds: number; failing: boolean }) {
  const { pending, failing } = status;
  return { pending, oldestAgeSeconds: Math.round(status.oldestAgeSeconds), failing };
}

/** GET /healthz really touches the database and the storage folder. */
export function healthRoutes(deps: HealthDeps): Hono {
  const app = new Hono();
  app.get("/healthz", async (c) => {
    const [db, storage] = await Promise.all([
      probe(() => deps.calls.ping()),
      probe(() => deps.recordings.check()),
    ]);
    const reasons = deps.degradedReasons?.() ?? [];
    const ok = db === "ok" && storage === "ok" && reasons.length === 0;
    const body = {
      status: ok ? "ok" : "degraded",
      db,
      storage,
      activeCalls: deps.activeCalls(),
      ...(reasons.length > 0 ? { reasons } : {}),
      ...(deps.uploads ? { uploads: uploadsJson(deps.uploads()) } : {}),
      ...(deps.worker ? { instance: deps.worker.instance, worker: deps.worker.index } : {}),
    };
    return c.json(body, ok ? 200 : 503);
  });
  return app;
}
