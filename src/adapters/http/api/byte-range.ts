/** What to send for a GET of a `size`-byte file, given its Range header (RFC 9110 §14). */
export type RangeDecision =
  | { kind: "full" }
  | { kind: "partial"; start: number; end: number }
  | { kind: "unsatisfiable" };

const FIRST_LAST = /^(\d+)-(\d*)$/;
const SUFFIX = /^-(\d+)$/;

/**
 * Single ranges only. A header that does not parse is ignored (RFC 9110 §14.2: a server MAY
 * ignore Range), and so is a multi-range request: answering it would need multipart/byteranges,
 * which audio players never ask for, and the full file is always a correct answer.
 */
export function decideRange(header: string | undefined, size: number): RangeDecision {
  if (header === undefined) return { kind: "full" };
  const match = /^bytes=(.*)$/i.exec(header.trim());
  if (!match) return { kind: "full" };
  const specs = (match[1] ?? "")
    .split(",")
    .map((spec) => spec.trim())
    .filter((spec) => spec.length > 0);
  if (specs.length !== 1) return { kind: "full" };
  const spec = specs[0] ?? "";

  const firstLast = FIRST_LAST.exec(spec);
  if (firstLast) {
    const start = Number(firstLast[1]);
    const last = firstLast[2] === "" ? Number.POSITIVE_INFINITY : Number(firstLast[2]);
    // last < first is not a valid range-spec at all, so the header is ignored (§14.1.1).
    if (last < start) return { kind: "full" };
    if (start >= size) return { kind: "unsatisfiable" };
    return { kind: "partial", start, end: Math.min(last, size - 1) };
  }

  const suffix = SUFFIX.exec(spec);
  if (suffix) {
    const length = Number(suffix[1]);
    // A zero-length suffix selects nothing, as does any range of an empty file (§14.1.1).
    if (length === 0 || size === 0) return { kind: "unsatisfiable" };
    return { kind: "partial", start: Math.max(0, size - length), end: size - 1 };
  }
  return { kind: "full" };
}
