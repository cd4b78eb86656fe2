/**
 * fast-check building blocks for the fuzz tests: strings that have broken parsers before, JSON
 * whose keys shadow Object.prototype, and mutations of valid inputs (the cheapest way to reach
 * the corners of a parser is to start from something it accepts and damage it).
 */
import fc from "fast-check";

/** Strings that have broken real parsers, servers and databases. */
export const NASTY_STRINGS: readonly string[] = [
  "",
  " ",
  "\u0000",
  "%00",
  "\uD800",
  "\uDFFF\uD800",
  "\uFEFF",
  "\u202E",
  "𝄞",
  "👩‍👩‍👧‍👦",
  "Ω≈ç√∫",
  "__proto__",
  "constructor",
  "prototype",
  "toString",
  "valueOf",
  "hasOwnProperty",
  "null",
  "undefined",
  "NaN",
  "Infinity",
  "-0",
  "1e309",
  "-1",
  "0x10",
  "9007199254740993",
  "' OR '1'='1",
  "'; DROP TABLE calls; --",
  '" OR ""="',
  "1; SELECT * FROM sqlite_master",
  "UNION SELECT sql FROM sqlite_master--",
  "../../../../etc/passwd",
  "..%2F..%2F..%2Fetc%2Fpasswd",
  "..\\..\\windows\\win.ini",
  "/tmp",
  "%2e%2e%2f",
  "%",
  "%zz",
  "%ff%fe",
  "<script>alert(1)</script>",
  "{{7*7}}",
  // A template-injection probe, spelled out so it is not read as a placeholder.
  "$" + "{7*7}",
  "AND 1=1",
  "NEAR(a b)",
  '"unterminated',
  "a*",
  "*",
  "-",
  "^",
  "\r\nSet-Cookie: x=1",
  "\t\n\r",
];

/** Keys that collide with Object.prototype members, plus the fields parsers look at. */
const SHADOWING_KEYS = [
  "__proto__",
  "constructor",
  "toString",
  "valueOf",
  "toJSON",
  "hasOwnProperty",
  "event",
  "type",
  "streamSid",
  "media",
  "payload",
  "start",
  "error",
  "response",
  "usage",
  "item_id",
] as const;

export const nastyString = (): fc.Arbitrary<string> => fc.constantFrom(...NASTY_STRINGS);

/** Any string: unicode, lone surrogates, control characters and the nasty list. */
export const anyString = (maxLength = 64): fc.Arbitrary<string> =>
  fc.oneof(
    fc.string({ maxLength }),
    fc.string({ unit: "binary", maxLength }),
    fc.string({ unit: fc.constantFrom("%", "2", "F", ".", "/", "\\", "'", '"', "\u0000") }),
    nastyString(),
  );

/** JSON values whose objects use keys like `__proto__` and `toString` as often as plain ones. */
export const hostileJson = (): fc.Arbitrary<unknown> =>
  fc.letrec<{ value: unknown }>((tie) => ({
    value: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      fc.constantFrom(null, true, false, 0, -1, 1e308, -0.5, Number.MAX_SAFE_INTEGER + 2),
      fc.double(),
      anyString(),
      fc.array(tie("value"), { maxLength: 4 }),
      fc.dictionary(
        fc.oneof(fc.constantFrom(...SHADOWING_KEYS), fc.string({ maxLength: 8 })),
        tie("value"),
        { maxKeys: 4 },
      ),
    ),
  })).value;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Every path to a value inside `value`, the root included (as the empty path). */
function pathsOf(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  const paths: (string | number)[][] = [prefix];
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) paths.push(...pathsOf(value[i], [...prefix, i]));
  } else if (typeof value === "object" && value !== null) {
    for (const key of Object.keys(value)) {
      paths.push(...pathsOf((value as Record<string, unknown>)[key], [...prefix, key]));
    }
  }
  return paths;
}

const isPlainObject = (value: unknown): boolean =>
  typeof value === "object" && value !== null && !Array.isArray(value);

function valueAt(value: unknown, path: (string | number)[]): unknown {
  let current = value;
  for (const key of path) current = (current as Record<string | number, unknown>)[key];
  return current;
}

/** A deep copy of `value` with the value at `path` replaced (or, for `undefined`, removed). */
function replaceAt(value: unknown, path: (string | number)[], next: unknown): unknown {
  if (path.length === 0) return next;
  const [head, ...rest] = path as [string | number, ...(string | number)[]];
  if (Array.isArray(value)) {
    const copy = [...value];
    const replaced = replaceAt(copy[head as number], rest, next);
    if (replaced === undefined && rest.length === 0) copy.splice(head as number, 1);
    else copy[head as number] = replaced;
    return copy;
  }
  const copy: Record<string, unknown> = {};
  // A key added under a primitive turns that primitive into an object.
  const source = typeof value === "object" && value !== null ? value : {};
  for (const key of Object.keys(source)) {
    // defineProperty keeps a `__proto__` key an own, serialisable property.
    Object.defineProperty(copy, key, {
      value: (source as Record<string, unknown>)[key],
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  const replaced = replaceAt(copy[head as string], rest, next);
  if (replaced === undefined && rest.length === 0) delete copy[head as string];
  else
    Object.defineProperty(copy, head as string, {
      value: replaced,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  return copy;
}

/**
 * Structural damage to a valid JSON value: one value anywhere in it replaced by hostile JSON,
 * dropped, or given a sibling key; applied one to three times.
 */
export function structurallyMutated(valid: unknown): fc.Arbitrary<unknown> {
  const step = (value: unknown): fc.Arbitrary<unknown> => {
    const paths = pathsOf(value);
    return fc
      .tuple(fc.nat({ max: paths.length - 1 }), fc.nat(2), hostileJson())
      .map(([index, op, replacement]) => {
        const path = paths[index]!;
        if (op === 0) return replaceAt(value, path, replacement);
        if (op === 1 && path.length > 0) return replaceAt(value, path, undefined);
        if (isPlainObject(valueAt(value, path))) {
          return replaceAt(value, [...path, "__proto__"], replacement);
        }
        return replaceAt(value, path, replacement);
      });
  };
  return fc
    .integer({ min: 1, max: 3 })
    .chain((times) =>
      Array.from({ length: times - 1 }).reduce<fc.Arbitrary<unknown>>(
        (acc) => acc.chain(step),
        step(valid),
      ),
    );
}

/** Text-level damage: truncation, insertion, deletion, duplication and character flips. */
export function textuallyMutated(text: string): fc.Arbitrary<string> {
  const edit = (t: string): fc.Arbitrary<string> =>
    fc
      .tuple(
        fc.nat(5),
        fc.nat({ max: Math.max(0, t.length) }),
        fc.nat({ max: Math.max(0, t.length) }),
        fc.oneof(
          fc.string({ maxLength: 4 }),
          fc.constantFrom('"', "{", "}", "[", "]", ",", ":", "\\", "\u0000", "\uD800"),
        ),
      )
      .map(([op, a, b, insert]) => {
        const [from, to] = a <= b ? [a, b] : [b, a];
        switch (op) {
          case 0:
            return t.slice(0, from);
          case 1:
            return t.slice(0, from) + insert + t.slice(from);
          case 2:
            return t.slice(0, from) + t.slice(to);
          case 3:
            return t.slice(0, to) + t.slice(from, to) + t.slice(to);
          case 4:
            return t.slice(0, from) + insert + t.slice(from + 1);
          default:
            return t.slice(from) + t.slice(0, from);
        }
      });
  return fc
    .integer({ min: 1, max: 4 })
    .chain((times) =>
      Array.from({ length: times - 1 }).reduce<fc.Arbitrary<string>>(
        (acc) => acc.chain(edit),
        edit(text),
      ),
    );
}

/** JSON text of a value built with `structurallyMutated` (which may hold own `__proto__` keys). */
export const toJsonText = (value: unknown): string => JSON.stringify(value as Json) ?? "null";
