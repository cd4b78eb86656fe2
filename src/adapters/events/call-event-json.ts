import type { CallEvent } from "../../application/ports/index.ts";

/**
 * Marks a Date in the JSON text: a plain ISO string would come back a string, and every reader of
 * the event (the feeds' JSON, metrics) expects a Date, whatever field a row grows later.
 */
const DATE_TAG = "callbridge:date";

/** The event as JSON text that decodeCallEvent turns back into the same event, Dates included. */
export function encodeCallEvent(event: CallEvent): string {
  return JSON.stringify(event, function (this: Record<string, unknown>, key, value: unknown) {
    // `value` has been through Date#toJSON already; the holder still has the Date.
    const raw = this[key];
    return raw instanceof Date ? { [DATE_TAG]: raw.getTime() } : value;
  });
}

/** The event encodeCallEvent encoded, or null for text that is not one. */
export function decodeCallEvent(text: string): CallEvent | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text, (_key, value: unknown) => {
      if (isRecord(value) && DATE_TAG in value && Object.keys(value).length === 1) {
        const ms = value[DATE_TAG];
        return new Date(typeof ms === "number" ? ms : Number.NaN);
      }
      return value;
    });
  } catch {
    return null;
  }
  return isCallEvent(parsed) ? parsed : null;
}

const ENTITY_OF = {
  "call.started": "call",
  "call.ended": "call",
  "transcript.created": "transcript",
  "analytics.created": "analytics",
  "recording.created": "recording",
} as const satisfies Record<CallEvent["type"], string>;

function isCallEvent(value: unknown): value is CallEvent {
  if (!isRecord(value) || typeof value.type !== "string" || !Object.hasOwn(ENTITY_OF, value.type)) {
    return false;
  }
  const entity = value[ENTITY_OF[value.type as CallEvent["type"]]];
  return isRecord(entity) && typeof entity.id === "string";
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
