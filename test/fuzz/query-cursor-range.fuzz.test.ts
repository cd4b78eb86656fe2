import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decideRange } from "../../src/adapters/http/api/byte-range.ts";
import {
  decodeCallCursor,
  decodeSearchCursor,
  encodeCallCursor,
  encodeSearchCursor,
  MAX_SEARCH_OFFSET,
} from "../../src/adapters/http/api/cursor.ts";
import {
  CallListParams,
  ID_PATTERN,
  SearchParams,
} from "../../src/adapters/http/api/query-schemas.ts";
import { HttpError } from "../../src/adapters/http/errors.ts";
import type { TranscriptSearchPosition } from "../../src/application/ports/index.ts";
import {
  anyString,
  nastyString,
  structurallyMutated,
  textuallyMutated,
  toJsonText,
} from "../support/fuzz-arbitraries.ts";

/** Runs `decode`; it must either return or throw the API's 400 for the cursor field. */
function decodeOr400<T>(decode: () => T): T | "refused" {
  try {
    return decode();
  } catch (error) {
    expect(error).toBeInstanceOf(HttpError);
    expect((error as HttpError).status).toBe(400);
    expect((error as HttpError).message).toBe("cursor: is not a cursor this API issued");
    return "refused";
  }
}

const position = fc.record({
  startedAt: fc.integer({ min: 0, max: 8.64e15 }).map((ms) => new Date(ms)),
  id: fc.stringMatching(/^[A-Za-z0-9_-]{1,128}$/),
});

const base64url = (value: unknown) => Buffer.from(toJsonText(value)).toString("base64url");

describe("cursors under damage", () => {
  it("refuses a damaged call cursor with a 400, or reads it as the position it spells exactly", () => {
    const damaged = position.chain((p) => textuallyMutated(encodeCallCursor(p)));
    fc.assert(
      fc.property(damaged, (text) => {
        const decoded = decodeOr400(() => decodeCallCursor(text));
        if (decoded === "refused") return;
        expect(Number.isNaN(decoded.startedAt.getTime())).toBe(false);
        expect(decoded.id).toMatch(ID_PATTERN);
        expect(encodeCallCursor(decoded)).toBe(text);
      }),
      { numRuns: 1000 },
    );
  });

  it("refuses forged cursors whose JSON holds the wrong shapes, with a 400", () => {
    const forged = position
      .map((p) => ({ s: p.startedAt.getTime(), i: p.id }))
      .chain((json) => structurallyMutated(json))
      .map(base64url);
    fc.assert(
      fc.property(forged, (text) => {
        const decoded = decodeOr400(() => decodeCallCursor(text));
        if (decoded === "refused") return;
        expect(Number.isNaN(decoded.startedAt.getTime())).toBe(false);
        expect(decoded.id).toMatch(ID_PATTERN);
      }),
      { numRuns: 1000 },
    );
  });

  it("reads a search cursor only as a position of the sort asked for, every number in range", () => {
    const seq = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER });
    const offset = fc.integer({ min: 1, max: MAX_SEARCH_OFFSET });
    const recent = seq.map((before) => ({ sort: "recent", before }) as const);
    const relevance = fc
      .tuple(seq, offset)
      .map(([anchor, o]) => ({ sort: "relevance", anchor, offset: o }) as const);
    const candidates = fc.oneof(
      fc.oneof(recent, relevance).chain((p) => textuallyMutated(encodeSearchCursor(p))),
      seq.chain((b) => structurallyMutated({ b })).map(base64url),
      fc
        .tuple(seq, offset)
        .chain(([a, o]) => structurallyMutated({ a, o }))
        .map(base64url),
      anyString(40),
    );
    fc.assert(
      fc.property(candidates, fc.constantFrom("recent", "relevance"), (text, sort) => {
        let position: TranscriptSearchPosition;
        try {
          position = decodeSearchCursor(text, sort);
        } catch (error) {
          // Refused as not a cursor at all, or as one issued for the other sort.
          expect(error).toBeInstanceOf(HttpError);
          expect((error as HttpError).status).toBe(400);
          expect((error as HttpError).message).toMatch(/^cursor: /);
          return;
        }
        expect(position.sort).toBe(sort);
        const numbers =
          position.sort === "recent" ? [position.before] : [position.anchor, position.offset];
        for (const n of numbers) {
          expect(Number.isSafeInteger(n) && n >= 1).toBe(true);
        }
        if (position.sort === "relevance") {
          expect(position.offset).toBeLessThanOrEqual(MAX_SEARCH_OFFSET);
        }
        expect(encodeSearchCursor(position)).toBe(text);
      }),
      { numRuns: 1000 },
    );
  });
});

/** Query strings as a client could send them: known keys with hostile values, and strays. */
const queryValue = fc.oneof(
  anyString(80),
  fc.integer().map(String),
  fc.double().map(String),
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc.stringMatching(/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2})?(\.\d{1,9})?([+-]\d{2}:\d{2}|Z)?)?$/),
  fc.string({ minLength: 200, maxLength: 2000 }),
  nastyString(),
);

const queryOf = (keys: readonly string[]) =>
  fc.dictionary(fc.oneof(fc.constantFrom(...keys), fc.string({ maxLength: 8 })), queryValue, {
    maxKeys: 6,
  });

describe("query parameter schemas under random input", () => {
  it("parse any call-list query into valid values or name the field that is wrong", () => {
    fc.assert(
      fc.property(queryOf(Object.keys(CallListParams.shape)), (query) => {
        const result = CallListParams.safeParse(query);
        if (!result.success) {
          expect(Object.keys(CallListParams.shape)).toContain(
            String(result.error.issues[0]?.path[0]),
          );
          return;
        }
        const p = result.data;
        expect(Number.isInteger(p.limit) && p.limit >= 1 && p.limit <= 200).toBe(true);
        // What the route turns into a Date must be a real instant, never NaN.
        for (const t of [p.since, p.until]) {
          if (t !== undefined) expect(Number.isNaN(new Date(t).getTime())).toBe(false);
        }
        for (const text of [p.caller, p.callSid, p.streamSid]) {
          if (text !== undefined) expect(text.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 1500 },
    );
  });

  it("parse any search query into a bounded q and page, or name the field that is wrong", () => {
    fc.assert(
      fc.property(queryOf(Object.keys(SearchParams.shape)), (query) => {
        const result = SearchParams.safeParse(query);
        if (!result.success) {
          expect(Object.keys(SearchParams.shape)).toContain(
            String(result.error.issues[0]?.path[0]),
          );
          return;
        }
        expect(result.data.q.trim().length).toBeGreaterThan(0);
        expect(result.data.q.length).toBeLessThanOrEqual(500);
        expect(result.data.limit).toBeGreaterThanOrEqual(1);
        expect(result.data.limit).toBeLessThanOrEqual(100);
        expect(["relevance", "recent"]).toContain(result.data.sort);
      }),
      { numRuns: 1500 },
    );
  });
});

describe("decideRange under random headers", () => {
  const size = fc.oneof(
    fc.nat(4096),
    fc.nat(),
    fc.constant(0),
    fc.constant(Number.MAX_SAFE_INTEGER),
  );
  const header = fc.oneof(
    anyString(60),
    fc
      .tuple(
        fc.constantFrom("bytes=", "BYTES=", "bytes =", " bytes=", "bytes=="),
        fc.array(
          fc.tuple(
            fc.oneof(
              fc.nat().map(String),
              fc.constant(""),
              fc.bigInt({ min: 0n, max: 10n ** 30n }).map(String),
            ),
            fc.constantFrom("-", "--", "", " - "),
            fc.oneof(fc.nat().map(String), fc.constant(""), fc.constant("99999999999999999999999")),
          ),
          { minLength: 0, maxLength: 3 },
        ),
      )
      .map(([unit, specs]) => unit + specs.map(([a, dash, b]) => a + dash + b).join(",")),
  );

  it("answers any header with full, unsatisfiable, or a range inside the file", () => {
    fc.assert(
      fc.property(header, size, (h, n) => {
        const decision = decideRange(h, n);
        expect(["full", "partial", "unsatisfiable"]).toContain(decision.kind);
        if (decision.kind !== "partial") return;
        // The store opens exactly this byte range: it must be whole, ordered and inside the file.
        expect(Number.isSafeInteger(decision.start)).toBe(true);
        expect(Number.isSafeInteger(decision.end)).toBe(true);
        expect(decision.start).toBeGreaterThanOrEqual(0);
        expect(decision.end).toBeGreaterThanOrEqual(decision.start);
        expect(decision.end).toBeLessThan(n);
      }),
      { numRuns: 3000 },
    );
  });

  it("agrees with RFC 9110 arithmetic for every single first-last range", () => {
    fc.assert(
      fc.property(fc.nat(10_000), fc.nat(10_000), fc.nat(10_000), (first, length, n) => {
        const last = first + length;
        const decision = decideRange(`bytes=${first}-${last}`, n);
        if (first >= n) expect(decision).toEqual({ kind: "unsatisfiable" });
        else
          expect(decision).toEqual({ kind: "partial", start: first, end: Math.min(last, n - 1) });
      }),
      { numRuns: 1000 },
    );
  });
});
