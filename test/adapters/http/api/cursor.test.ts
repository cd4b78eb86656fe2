import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decodeCallCursor,
  decodeSearchCursor,
  encodeCallCursor,
  encodeSearchCursor,
  MAX_SEARCH_OFFSET,
} from "../../../../src/adapters/http/api/cursor.ts";
import { HttpError } from "../../../../src/adapters/http/errors.ts";

describe("cursors", () => {
  it("round-trips any call position", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4_102_444_800_000 }),
        fc.stringMatching(/^[A-Za-z0-9_-]{1,128}$/),
        (ms, id) => {
          const position = { startedAt: new Date(ms), id };
          expect(decodeCallCursor(encodeCallCursor(position))).toEqual(position);
        },
      ),
    );
  });

  it("round-trips a sorted position, its value exactly, and refuses it for another sort", () => {
    const fields = ["startedAt", "durationSeconds", "costUsd", "p95ResponseLatencyMs"] as const;
    fc.assert(
      fc.property(
        fc.constantFrom(...fields),
        fc.constantFrom("asc" as const, "desc" as const),
        fc.option(fc.double({ noNaN: true, noDefaultInfinity: true }), { nil: null }),
        fc.option(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { nil: null }),
        fc.integer({ min: 0, max: 4_102_444_800_000 }),
        fc.stringMatching(/^[A-Za-z0-9_-]{1,128}$/),
        (field, order, double, integer, ms, id) => {
          const sort = { field, order };
          const value = field === "p95ResponseLatencyMs" ? integer : double;
          const position =
            field === "startedAt" && order === "desc"
              ? { startedAt: new Date(ms), id }
              : field === "startedAt"
                ? { startedAt: new Date(ms), id, sort }
                : { startedAt: new Date(ms), id, sort, value: Object.is(value, -0) ? 0 : value };
          const text = encodeCallCursor(position);
          expect(decodeCallCursor(text, sort)).toEqual(position);
          const other = { field, order: order === "asc" ? "desc" : "asc" } as const;
          expect(() => decodeCallCursor(text, other)).toThrow(/^cursor: was issued for sort=/);
        },
      ),
    );
  });

  it("round-trips search positions of either sort", () => {
    for (const before of [1, 20, 9_999, Number.MAX_SAFE_INTEGER]) {
      const position = { sort: "recent", before } as const;
      expect(decodeSearchCursor(encodeSearchCursor(position), "recent")).toEqual(position);
    }
    for (const [anchor, offset] of [
      [2, 1],
      [1_000_001, 20],
      [Number.MAX_SAFE_INTEGER, MAX_SEARCH_OFFSET],
    ] as const) {
      const position = { sort: "relevance", anchor, offset } as const;
      expect(decodeSearchCursor(encodeSearchCursor(position), "relevance")).toEqual(position);
    }
  });

  it("refuses a search cursor issued for the other sort with a 400 naming cursor", () => {
    const recent = encodeSearchCursor({ sort: "recent", before: 42 });
    const relevance = encodeSearchCursor({ sort: "relevance", anchor: 43, offset: 20 });
    for (const [text, sort] of [
      [recent, "relevance"],
      [relevance, "recent"],
    ] as const) {
      const error = (() => {
        try {
          decodeSearchCursor(text, sort);
        } catch (thrown) {
          return thrown;
        }
      })();
      expect(error).toBeInstanceOf(HttpError);
      expect((error as HttpError).status).toBe(400);
      expect((error as HttpError).message).toMatch(/^cursor: was issued for sort=/);
    }
  });

  it("refuses any text that is not a cursor this API issued with a 400 naming cursor", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (text) => {
        let decoded: unknown;
        try {
          decoded = decodeCallCursor(text);
        } catch (error) {
          expect(error).toBeInstanceOf(HttpError);
          expect((error as HttpError).status).toBe(400);
          expect((error as HttpError).message).toBe("cursor: is not a cursor this API issued");
          return;
        }
        // The few random strings that decode are exactly the canonical encoding of a position.
        const position = decoded as { startedAt: Date; id: string };
        expect(encodeCallCursor(position)).toBe(text);
      }),
    );
  });
});
