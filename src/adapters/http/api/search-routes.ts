import { Hono } from "hono";
import type { CallQueries } from "../../../application/queries.ts";
import { decodeSearchCursor, encodeSearchCursor, MAX_SEARCH_OFFSET } from "./cursor.ts";
import { SearchParams } from "./query-schemas.ts";
import { searchHitJson } from "./to-json.ts";
import { parseQuery } from "./validation.ts";

/** Relative to "/api" (see api-routes.ts). */
export function searchRoutes({ queries }: { queries: CallQueries }): Hono {
  const app = new Hono();

  app.get("/search", async (c) => {
    const params = parseQuery(c, SearchParams);
    const page = await queries.search({
      q: params.q,
      limit: params.limit,
      speaker: params.speaker,
      sort: params.sort,
      after:
        params.cursor === undefined ? undefined : decodeSearchCursor(params.cursor, params.sort),
    });
    const next =
      page.next !== null && (page.next.sort === "recent" || page.next.offset <= MAX_SEARCH_OFFSET)
        ? encodeSearchCursor(page.next)
        : null;
    return c.json({ data: page.data.map(searchHitJson), nextCursor: next });
  });

  return app;
}
