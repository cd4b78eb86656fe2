import { Hono } from "hono";
import type { CallQueries } from "../../../application/queries.ts";
import { renderTranscriptText } from "../../../application/transcript-text.ts";
import { callFilterOf, callSortOf } from "./call-filter.ts";
import { decodeCallCursor, encodeCallCursor } from "./cursor.ts";
import { CallListParams, TranscriptFormatParams } from "./query-schemas.ts";
import {
  analyticsJson,
  callDetailJson,
  callJson,
  metadataJson,
  recordingJson,
  transcriptJson,
} from "./to-json.ts";
import { parseQuery, pathId } from "./validation.ts";

export interface CallRoutesDeps {
  queries: CallQueries;
  isCallActive: (callId: string) => boolean;
}

/** Relative to "/api" (see api-routes.ts). */
export function callRoutes({ queries, isCallActive }: CallRoutesDeps): Hono {
  const app = new Hono();

  app.get("/calls", async (c) => {
    const params = parseQuery(c, CallListParams);
    const sort = callSortOf(params);
    const page = await queries.listCalls({
      limit: params.limit,
      sort,
      after: params.cursor === undefined ? undefined : decodeCallCursor(params.cursor, sort),
      ...callFilterOf(params),
    });
    return c.json({
      data: page.data.map(callJson),
      nextCursor: page.next === null ? null : encodeCallCursor(page.next),
    });
  });

  app.get("/calls/:id", async (c) => {
    return c.json(callDetailJson(await queries.getCall(pathId(c, "call"))));
  });

  app.get("/calls/:id/transcripts", async (c) => {
    const callId = pathId(c, "call");
    const { format } = parseQuery(c, TranscriptFormatParams);
    const transcripts = await queries.getTranscripts(callId);
    if (format === "text") {
      // The same text as the call's _transcript.txt file, for people rather than programs.
      return c.body(renderTranscriptText(transcripts), 200, {
        "Content-Type": "text/plain; charset=utf-8",
        "Content-Disposition": `attachment; filename="call-${callId}-transcript.txt"`,
      });
    }
    return c.json({ data: transcripts.map(transcriptJson) });
  });

  app.get("/calls/:id/analytics", async (c) => {
    const analytics = await queries.getAnalytics(pathId(c, "call"));
    return c.json({ data: analytics.map(analyticsJson) });
  });

  app.get("/calls/:id/metadata", async (c) => {
    return c.json(metadataJson(await queries.getMetadata(pathId(c, "call"))));
  });

  app.get("/calls/:id/recordings", async (c) => {
    const recordings = await queries.getRecordings(pathId(c, "call"));
    return c.json({ data: recordings.map(recordingJson) });
  });

  app.delete("/calls/:id", async (c) => {
    await queries.deleteCall(pathId(c, "call"), isCallActive);
    return c.body(null, 204);
  });

  return app;
}
