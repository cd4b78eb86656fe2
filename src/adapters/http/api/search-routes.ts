import { Hono } from "hono";
import type { CallQueries } from "../../../application/queries.ts";
import { decodeSearchCursor, encodeSearchCursor, MAX_SEARCH_OFFSET } from "./cursor.ts";
import { SearchParams } from "./query-schemas.ts";
import { searchHitJson } from "./to-json.ts";
import { parseQuery } from "./validation.ts";

export function searchRoutes({ queries }: { queries: CallQueries }): Hono {
  const app = new Hono();

  app.get("/api/search", async (c) => {
    const params = parseQuery(c, SearchParams);
    const page = await queries.search({
      q: params.q,
      limit: params.limit,
      speaker: params.speaker,
      offset: params.cursor === undefined ? 0 : decodeSearchCursor(params.cursor),
    });
    const next =
      page.nextOffset !== null && page.nextOffset <= MAX_SEARCH_OFFSET
        ? encodeSearchCursor(page.nextOffset)
        : null;
    return c.json({ data: page.data.map(searchHitJson), nextCursor: next });
  });

  return app;
}
