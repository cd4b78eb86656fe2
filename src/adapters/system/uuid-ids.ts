import { randomFillSync } from "node:crypto";
import type { IdGenerator } from "../../application/ports/index.ts";

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/**
 * A UUID version 7 (RFC 9562 §5.7): 48 bits of Unix milliseconds, then 74 random bits.
 *
 * Why not v4: every table keys its rows by these ids, and a random key lands each insert on a
 * random page of its B-tree. Ids that grow with time are appended at the end of the index,
 * which made transcript inserts under load about a third faster (BENCHMARKS.md). The random
 * part keeps them unguessable across calls; within one millisecond their order is random.
 */
export function uuidV7(nowMs: number = Date.now(), bytes: Uint8Array = new Uint8Array(16)): string {
  randomFillSync(bytes, 6, 10);
  // 48-bit big-endian milliseconds; division, since bit operators would cut it to 32 bits.
  let ms = nowMs;
  for (let i = 5; i >= 0; i--) {
    bytes[i] = ms % 256;
    ms = Math.floor(ms / 256);
  }
  bytes[6] = 0x70 | (bytes[6]! & 0x0f); // version 7
  bytes[8] = 0x80 | (bytes[8]! & 0x3f); // variant 10
  let text = "";
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) text += "-";
    text += HEX[bytes[i]!];
  }
  return text;
}

export const uuidIds: IdGenerator = { newId: () => uuidV7() };
