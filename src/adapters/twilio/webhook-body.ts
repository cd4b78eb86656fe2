/**
 * The body of a Twilio webhook, read with the limits a webhook deserves. Twilio posts a few KB
 * in ~30 form fields; parsing and signing a 1 MB form of 100,000 fields held the event loop (and
 * every live call's audio) for hundreds of milliseconds before the request could be refused. So
 * the bytes and the fields are counted as the body arrives, and reading stops at either limit.
 */

/** Twilio's voice webhooks carry about 30 fields; this leaves room for new ones. */
export const MAX_WEBHOOK_FIELDS = 100;

export type WebhookForm =
  | { ok: true; params: Record<string, string> }
  | { ok: false; reason: "too_large" | "too_many_fields" };

const AMPERSAND = 0x26;
const FORM_URLENCODED = "application/x-www-form-urlencoded";
const MULTIPART = "multipart/form-data";

/**
 * The request's form fields (string values; the last of a repeated name wins), or why it was
 * refused. Bodies of other content types give no fields, as Hono's parseBody does.
 */
export async function readWebhookForm(
  request: Request,
  maxBytes: number,
  maxFields = MAX_WEBHOOK_FIELDS,
): Promise<WebhookForm> {
  const contentType = (request.headers.get("content-type") ?? "").toLowerCase();
  const urlencoded = contentType.startsWith(FORM_URLENCODED);
  const bytes = await readCapped(request, maxBytes, urlencoded ? maxFields : Infinity);
  if (typeof bytes === "string") return { ok: false, reason: bytes };
  const params: Record<string, string> = {};
  if (urlencoded) {
    for (const [key, value] of new URLSearchParams(new TextDecoder().decode(bytes))) {
      params[key] = value;
    }
    return { ok: true, params };
  }
  if (!contentType.startsWith(MULTIPART)) return { ok: true, params };
  // Twilio never sends multipart, but it was accepted before: parsed only once it is small.
  let form: FormData;
  try {
    form = await new Response(bytes, { headers: { "content-type": contentType } }).formData();
  } catch {
    return { ok: true, params };
  }
  let fields = 0;
  for (const [key, value] of form) {
    if (++fields > maxFields) return { ok: false, reason: "too_many_fields" };
    if (typeof value === "string") params[key] = value;
  }
  return { ok: true, params };
}

/**
 * The whole body, or the first limit it broke. Fields of a urlencoded form are counted by their
 * `&` separators as the chunks arrive, so a form of too many fields is refused without being
 * parsed or read to its end.
 */
async function readCapped(
  request: Request,
  maxBytes: number,
  maxFields: number,
): Promise<Uint8Array | "too_large" | "too_many_fields"> {
  const body = request.body;
  if (body === null) return new Uint8Array(0);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  let separators = 0;
  let refused: "too_large" | "too_many_fields" | null = null;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > maxBytes) {
      refused = "too_large";
      break;
    }
    for (let at = value.indexOf(AMPERSAND); at !== -1; at = value.indexOf(AMPERSAND, at + 1)) {
      separators++;
    }
    // n separators make n + 1 fields.
    if (separators >= maxFields) {
      refused = "too_many_fields";
      break;
    }
    chunks.push(value);
  }
  if (refused) {
    // The rest is not wanted; the server discards whatever of it still arrives.
    await reader.cancel().catch(() => undefined);
    return refused;
  }
  if (chunks.length === 1 && chunks[0]) return chunks[0];
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}
