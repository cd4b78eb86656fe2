import type { CallJson } from "./json-schemas.ts";

/** The CSV's columns, in order: what a spreadsheet of the day's calls wants first. */
export const CSV_COLUMNS = [
  "id",
  "startedAt",
  "endedAt",
  "durationSeconds",
  "status",
  "caller",
  "called",
  "endReason",
  "outcome",
  "summary",
  "topic",
  "sentiment",
  "networkQuality",
  "turns",
  "costUsd",
  "avgResponseLatencyMs",
  "p95ResponseLatencyMs",
  "analysisStatus",
  "analysisFields",
  "callSid",
  "streamSid",
] as const satisfies readonly (keyof CallJson)[];

/** A value that starts like a number (a phone number's +, a negative) is left as it is. */
const NUMBER_LIKE = /^[+-][\d\s().-]*$/;

/**
 * One CSV field (RFC 4180: quoted when it holds a comma, quote or line break). Text a
 * spreadsheet would run as a formula (=, +, -, @, tab or CR first: OWASP's "CSV injection") is
 * prefixed with an apostrophe, because callers' words and numbers are anyone's input.
 */
export function csvField(value: unknown): string {
  if (value === null || value === undefined) return "";
  let text = typeof value === "object" ? JSON.stringify(value) : String(value);
  if (/^[=+\-@\t\r]/.test(text) && !NUMBER_LIKE.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export const csvHeader = (): string => `${CSV_COLUMNS.join(",")}\r\n`;

export const csvRow = (call: CallJson): string =>
  `${CSV_COLUMNS.map((column) => csvField(call[column])).join(",")}\r\n`;

export const jsonLine = (call: CallJson): string => `${JSON.stringify(call)}\n`;
