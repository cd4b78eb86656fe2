import { Hono } from "hono";
import type { ReadableRecording, RedirectableRecording } from "../../../application/ports/index.ts";
import type { CallQueries } from "../../../application/queries.ts";
import { errorBody } from "../errors.ts";
import { decideRange } from "./byte-range.ts";
import { pathId } from "./validation.ts";

/** Keeps the download name to the id alphabet, whatever is stored. */
const fileNamePart = (text: string): string => text.replace(/[^A-Za-z0-9_-]/g, "_");

/** An archived file with S3_PRESIGNED_DOWNLOADS: the client fetches it from the store itself. */
const isRedirectable = (audio: ReadableRecording): audio is RedirectableRecording =>
  "presignedUrl" in audio && typeof audio.presignedUrl === "function";

/** Relative to "/api" (see api-routes.ts). */
export function recordingRoutes({ queries }: { queries: CallQueries }): Hono {
  const app = new Hono();

  // Hono answers HEAD with this GET handler (and drops the body), so HEAD is handled here too:
  // it must not open the file, since nothing would ever read or close that stream.
  app.get("/recordings/:id/audio", async (c) => {
    const { recording, audio } = await queries.openRecording(pathId(c, "recording"));
    const size = audio.sizeBytes;
    const headers: Record<string, string> = {
      "Accept-Ranges": "bytes",
      "Content-Disposition": `inline; filename="${fileNamePart(recording.callId)}-${recording.track}.wav"`,
      "X-Content-Type-Options": "nosniff",
    };
    // Without validators (ETag, Last-Modified) an If-Range can never be known to match, so
    // RFC 9110 §13.1.5 asks for the whole file.
    const range =
      c.req.header("if-range") === undefined
        ? decideRange(c.req.header("range"), size)
        : ({ kind: "full" } as const);
    if (range.kind === "unsatisfiable") {
      return c.json(
        errorBody("range_not_satisfiable", `the recording is ${size} bytes long`),
        416,
        { "Accept-Ranges": "bytes", "Content-Range": `bytes */${size}` },
      );
    }
    headers["Content-Type"] = "audio/wav";
    // The store answers the Range (206/416) itself; HEAD is still answered here (a presigned
    // GET URL does not sign HEAD). Short-lived, so never cached.
    if (c.req.method === "GET" && isRedirectable(audio)) {
      const url = await audio.presignedUrl({
        contentType: headers["Content-Type"],
        contentDisposition: headers["Content-Disposition"] ?? "inline",
      });
      return c.redirect(url, 302);
    }
    const start = range.kind === "partial" ? range.start : 0;
    const end = range.kind === "partial" ? range.end : size - 1;
    const length = end - start + 1;
    headers["Content-Length"] = String(length);
    if (range.kind === "partial") headers["Content-Range"] = `bytes ${start}-${end}/${size}`;
    const status = range.kind === "partial" ? 206 : 200;
    if (c.req.method === "HEAD" || length === 0) return c.body(null, status, headers);
    return c.body(audio.open(start, end), status, headers);
  });

  return app;
}
