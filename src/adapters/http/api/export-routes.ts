import { Hono } from "hono";
import { z } from "zod";
import type { CallFilter, CallPage } from "../../../application/ports/index.ts";
import type { CallQueries } from "../../../application/queries.ts";
import { csvHeader, csvRow, jsonLine } from "./call-export.ts";
import { callFilterOf, callSortOf } from "./call-filter.ts";
import { CallFilterQuery, CallSortParams } from "./query-schemas.ts";
import { callJson, callTotalsJson } from "./to-json.ts";
import { parseQuery } from "./validation.ts";

export interface ExportRoutesDeps {
  queries: CallQueries;
  /** Calls read per query while streaming (default 500). */
  exportPageSize?: number;
}

export const ExportParams = CallFilterQuery.extend({
  ...CallSortParams,
  format: z
    .enum(["csv", "jsonl"], { error: "must be csv or jsonl" })
    .default("csv")
    .describe("csv (one row per call, with a header) or jsonl (one Call per line)"),
});

const FORMATS = {
  csv: { type: "text/csv; charset=utf-8", extension: "csv", header: csvHeader, row: csvRow },
  jsonl: {
    type: "application/x-ndjson; charset=utf-8",
    extension: "jsonl",
    header: () => "",
    row: jsonLine,
  },
} as const;

/**
 * `GET /api/totals/calls`: what the calls the list's filters select add up to, and per day.
 *
 * `GET /api/export/calls`: every call the list's filters select, in the list's order (newest first
 * unless `sort` and `order` say otherwise), streamed page by page (each page one indexed query,
 * as the list's), so an export of any size holds one page in memory and a client that goes away
 * stops the reading.
 */
export function exportRoutes({ queries, exportPageSize = 500 }: ExportRoutesDeps): Hono {
  const app = new Hono();
  app.get("/totals/calls", async (c) => {
    const totals = await queries.callTotals(callFilterOf(parseQuery(c, CallFilterQuery)));
    return c.json(callTotalsJson(totals));
  });

  app.get("/export/calls", async (c) => {
    const { format, ...params } = parseQuery(c, ExportParams);
    const filter: CallFilter = callFilterOf(params);
    const sort = callSortOf(params);
    const { type, extension, header, row } = FORMATS[format];
    const encoder = new TextEncoder();
    // The first page is read before answering, so that a failing database is a JSON error
    // with its status rather than a download cut short.
    let page: CallPage | null = await queries.listCalls({ ...filter, sort, limit: exportPageSize });
    let text = header();
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (page === null) {
          controller.close();
          return;
        }
        for (const call of page.data) text += row(callJson(call));
        if (text !== "") controller.enqueue(encoder.encode(text));
        text = "";
        const after = page.next;
        page =
          after === null
            ? null
            : await queries.listCalls({ ...filter, sort, limit: exportPageSize, after });
      },
    });
    const day = new Date().toISOString().slice(0, 10);
    return c.body(body, 200, {
      "Content-Type": type,
      "Content-Disposition": `attachment; filename="calls-${day}.${extension}"`,
      "Cache-Control": "no-store",
    });
  });
  return app;
}
