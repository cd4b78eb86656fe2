import { Hono } from "hono";

export interface MetricsSource {
  render(): Promise<{ contentType: string; body: string }>;
}

/** GET /metrics in the Prometheus text format. */
export function metricsRoutes(metrics: MetricsSource): Hono {
  const routes = new Hono();
  routes.get("/metrics", async (c) => {
    const { contentType, body } = await metrics.render();
    return c.body(body, 200, { "Content-Type": contentType });
  });
  return routes;
}
