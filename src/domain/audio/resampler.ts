import { invalidArgument } from "../errors.ts";
import { type PolyphaseFilter, polyphaseFilter } from "./polyphase-filter.ts";
import { simdInterpolator } from "./simd-kernels.ts";

/**
 * Input samples copied per pass through the working buffer; bounds its size for any chunk. A
 * Twilio frame (160 samples) and a 20 ms frame at 24 kHz (480) are one pass; larger chunks take
 * several. The buffer is float64 and every live call keeps three resamplers, so this is per-call
 * memory: 2048 cost 48 KB a call, 512 costs 13 KB; 256 made 480-sample chunks 8% slower.
 */
const BLOCK = 512;

/** "No limit" as a small integer, so that loop bounds stay in V8's fast integer representation. */
const NO_LIMIT = 0x10000000;

const toInt16 = (value: number): number =>
  value >= 32767 ? 32767 : value <= -32768 ? -32768 : Math.round(value);

/**
 * Streaming band-limited resampler (Kaiser-windowed-sinc polyphase FIR, see polyphase-filter.ts).
 *
 * Filter delay: the linear-phase prototype delays by `lookahead` input samples (1.75 ms for
 * 8k↔16k and 8k↔24k, 0.875 ms for 16k↔24k). It is compensated, not added: output sample k is the
 * signal at time k / toRate, aligned with input sample k · from / to. process() emits output k as
 * soon as the last input it depends on has arrived, so a stream's first call returns `lookahead`
 * inputs' worth less than chunk · to / from (steady state then returns exactly that, ±1);
 * flush() emits the rest, treating the signal as silence after its end, and a whole stream yields
 * exactly round(n · to / from) samples. Before its start the signal is taken as silence too.
 * Outputs are rounded to the nearest integer (halves up) and saturated to int16.
 *
 * Every output sample is computed by the same arithmetic on the same inputs however the stream
 * is chunked, so process()* + flush() is bit-identical to resample() of the whole signal.
 * process()/flush() allocate only their result; processInto()/flushInto() allocate nothing.
 * After flush() the resampler starts afresh.
 */
export class Resampler {
  readonly fromRate: number;
  readonly toRate: number;
  private readonly filter: PolyphaseFilter;
  /** Recent inputs, oldest first: the history the next output needs, then unused input. */
  private readonly buffer: Float64Array;
  private held = 0;
  /** Where in `buffer` the next output's newest input is (or will be), and that output's phase. */
  private position = 0;
  private nextPhase = 0;
  private inputCount = 0;
  private emitted = 0;

  constructor(fromRate: number, toRate: number) {
    this.filter = polyphaseFilter(fromRate, toRate);
    this.fromRate = fromRate;
    this.toRate = toRate;
    this.buffer = new Float64Array(this.filter.taps - 1 + BLOCK);
    this.reset();
  }

  /** Input samples an output waits for beyond its own instant (the filter's look-ahead). */
  get lookahead(): number {
    return Math.ceil(this.filter.delay / this.filter.up);
  }

  /** Upper bound on what process()/processInto() returns for a chunk of `inputLength`. */
  maxOutputLength(inputLength: number): number {
    return Math.ceil((inputLength * this.filter.up) / this.filter.down);
  }

  /** Exactly what the next process()/processInto() returns for a chunk of `inputLength`. */
  outputLength(inputLength: number): number {
    return availableAfter(this.inputCount + inputLength, this.filter) - this.emitted;
  }

  /** Exactly what flush()/flushInto() returns now. */
  get pendingFlushLength(): number {
    return expectedLength(this.inputCount, this.filter) - this.emitted;
  }

  /** Upper bound on what flush()/flushInto() can ever return. */
  get maxFlushLength(): number {
    return Math.ceil((this.filter.delay + 1) / this.filter.down) + 1;
  }

  /** Forgets all buffered input, as if newly constructed. */
  reset(): void {
    const { taps, delay, up } = this.filter;
    // Zero history stands for the silence before the stream starts.
    this.buffer.fill(0, 0, taps - 1);
    this.held = taps - 1;
    this.position = taps - 1 + Math.floor(delay / up);
    this.nextPhase = delay % up;
    this.inputCount = 0;
    this.emitted = 0;
  }

  process(chunk: Int16Array): Int16Array {
    const out = new Int16Array(this.outputLength(chunk.length));
    this.processInto(chunk, out);
    return out;
  }

  /** Writes the outputs now available to `out` at `outOffset`; returns how many were written. */
  processInto(chunk: Int16Array, out: Int16Array, outOffset = 0): number {
    checkRoom(out, outOffset, this.outputLength(chunk.length), "processInto");
    if (this.filter.kind === "identity") {
      out.set(chunk, outOffset);
      this.inputCount += chunk.length;
      this.emitted += chunk.length;
      return chunk.length;
    }
    let written = 0;
    let consumed = 0;
    while (consumed < chunk.length) {
      const buffer = this.buffer;
      const base = this.held;
      const take = Math.min(buffer.length - base, chunk.length - consumed);
      // The whole chunk (the usual case) by set(), which converts int16 to float64 natively,
      // four to seven times faster than this loop; the loop for a chunk larger than the room.
      if (consumed === 0 && take === chunk.length) buffer.set(chunk, base);
      else for (let i = 0; i < take; i++) buffer[base + i] = chunk[consumed + i]!;
      this.held += take;
      consumed += take;
      this.inputCount += take;
      written += this.emit(out, outOffset + written, NO_LIMIT);
      this.compact();
    }
    return written;
  }

  flush(): Int16Array {
    const out = new Int16Array(this.pendingFlushLength);
    this.flushInto(out);
    return out;
  }

  /** Emits the tail (the input continued by silence), then resets; returns how many were written. */
  flushInto(out: Int16Array, outOffset = 0): number {
    const total = expectedLength(this.inputCount, this.filter);
    checkRoom(out, outOffset, total - this.emitted, "flushInto");
    let written = 0;
    while (this.emitted < total) {
      this.buffer.fill(0, this.held);
      this.held = this.buffer.length;
      written += this.emit(out, outOffset + written, total - this.emitted);
      this.compact();
    }
    this.reset();
    return written;
  }

  private emit(out: Int16Array, offset: number, limit: number): number {
    switch (this.filter.kind) {
      case "interpolate":
        return this.emitInterpolated(out, offset, limit);
      case "decimate":
        return this.emitDecimated(out, offset, limit);
      default:
        return this.emitRational(out, offset, limit);
    }
  }

  /*
   * down = 1: the `up` outputs of one input index share a window; phase 0 is the input sample
   * itself (band-filter zero crossings). Four input indices are handled per pass so that each
   * loaded sample and coefficient feeds several independent accumulators; the single-index loop
   * adds in the same order, so the result never depends on how the work was grouped.
   * Outputs always come in whole groups of `up` (delay is a multiple of up).
   */
  private emitInterpolated(out: Int16Array, offset: number, limit: number): number {
    const { taps, up, coefficients: c, delay } = this.filter;
    const x = this.buffer;
    const end = this.held;
    const centreBack = taps - 1 - delay / up;
    let input = this.position;
    let o = offset;
    const stop = offset + limit;
    if (up === 2 || up === 3) {
      // Blocks of four input indices, all present, whose outputs fit within the limit.
      const blocks = Math.min((end - input) >> 2, Math.floor((stop - o) / (4 * up)));
      if (blocks > 0) {
        const s = input - taps + 1;
        // WebAssembly SIMD where it runs (bit-identical, see simd-kernels.ts), else these loops.
        if (!simdInterpolator?.interpolate(up, x, s, blocks, out, o, c, taps, centreBack)) {
          if (up === 3) interpolateBy3(x, s, blocks, out, o, c, taps, centreBack);
          else interpolateBy2(x, s, blocks, out, o, c, taps, centreBack);
        }
        input += 4 * blocks;
        o += 4 * up * blocks;
      }
    }
    for (; input < end && o + up <= stop; input++, o += up) {
      const s = input - taps + 1;
      out[o] = x[s + centreBack]!;
      for (let phase = 1; phase < up; phase++) {
        const row = phase * taps;
        let acc = 0;
        for (let j = 0; j < taps; j++) acc += c[row + j]! * x[s + j]!;
        out[o + phase] = toInt16(acc);
      }
    }
    this.position = input;
    this.emitted += o - offset;
    return o - offset;
  }

  /*
   * up = 1: the prototype is symmetric, so mirrored taps are folded (one multiply per pair) and
   * the band-filter zeros (every down-th offset) are skipped. For down = 2 and 3 the surviving
   * offsets are regular, so four outputs are computed per pass without an offset table; every
   * path adds the pairs in increasing offset order, so grouping never changes a result.
   */
  private emitDecimated(out: Int16Array, offset: number, limit: number): number {
    const {
      delay,
      down,
      centre,
      pairOffsets: po,
      pairCoefficients: pc,
      regularPairs,
    } = this.filter;
    const pairs = po.length;
    const x = this.buffer;
    const end = this.held;
    let input = this.position;
    let o = offset;
    const stop = offset + limit;
    if (regularPairs && (down === 2 || down === 3) && input + 3 * down < end) {
      // Blocks of four outputs whose newest inputs are all present, within the limit.
      const blocks = Math.min(
        Math.floor((end - 1 - 3 * down - input) / (4 * down)) + 1,
        (stop - o) >> 2,
      );
      if (blocks > 0) {
        if (down === 3) decimateBy3(x, input - delay, blocks, out, o, centre, pc);
        else decimateBy2(x, input - delay, blocks, out, o, centre, pc);
        input += blocks * 4 * down;
        o += blocks * 4;
      }
    }
    for (; input < end && o < stop; input += down, o++) {
      const m0 = input - delay;
      let a0 = centre * x[m0]!;
      for (let i = 0; i < pairs; i++) {
        const d = po[i]!;
        a0 += pc[i]! * (x[m0 - d]! + x[m0 + d]!);
      }
      out[o] = toInt16(a0);
    }
    this.position = input;
    this.emitted += o - offset;
    return o - offset;
  }

  /*
   * General up/down: outputs k and k + up share a phase (coefficient row) and their windows are
   * `down` inputs apart, so whole periods of `up` outputs are computed four at a time, each row
   * load feeding four accumulators. Rows that are a unit impulse (band-filter zero crossings)
   * copy the input. The one-output loop adds in the same order, so grouping never changes a result.
   */
  private emitRational(out: Int16Array, offset: number, limit: number): number {
    const { taps, up, down, coefficients: c, periodPhases, periodInputs, unitTaps } = this.filter;
    const x = this.buffer;
    const end = this.held;
    let input = this.position;
    let phase = this.nextPhase;
    let o = offset;
    const stop = offset + limit;
    // Periods start where the phase is that of output 0.
    const emitted = this.emitted - offset;
    while (input < end && o < stop && (emitted + o) % up !== 0) {
      const s = input - taps + 1;
      const row = phase * taps;
      let acc = 0;
      for (let j = 0; j < taps; j++) acc += c[row + j]! * x[s + j]!;
      out[o++] = toInt16(acc);
      phase += down;
      while (phase >= up) {
        phase -= up;
        input++;
      }
    }
    const span = 3 * down;
    const lastOffset = periodInputs[up - 1]! + span;
    for (; input + lastOffset < end && o + 4 * up <= stop; input += 4 * down, o += 4 * up) {
      for (let q = 0; q < up; q++) {
        const s = input + periodInputs[q]! - taps + 1;
        const p = periodPhases[q]!;
        const unit = unitTaps[p]!;
        if (unit >= 0) {
          out[o + q] = x[s + unit]!;
          out[o + q + up] = x[s + unit + down]!;
          out[o + q + 2 * up] = x[s + unit + 2 * down]!;
          out[o + q + 3 * up] = x[s + unit + span]!;
          continue;
        }
        const row = p * taps;
        const s1 = s + down;
        const s2 = s1 + down;
        const s3 = s2 + down;
        let a0 = 0;
        let a1 = 0;
        let a2 = 0;
        let a3 = 0;
        for (let j = 0; j < taps; j++) {
          const k = c[row + j]!;
          a0 += k * x[s + j]!;
          a1 += k * x[s1 + j]!;
          a2 += k * x[s2 + j]!;
          a3 += k * x[s3 + j]!;
        }
        out[o + q] = toInt16(a0);
        out[o + q + up] = toInt16(a1);
        out[o + q + 2 * up] = toInt16(a2);
        out[o + q + 3 * up] = toInt16(a3);
      }
    }
    while (input < end && o < stop) {
      const s = input - taps + 1;
      const row = phase * taps;
      let acc = 0;
      for (let j = 0; j < taps; j++) acc += c[row + j]! * x[s + j]!;
      out[o++] = toInt16(acc);
      phase += down;
      while (phase >= up) {
        phase -= up;
        input++;
      }
    }
    this.position = input;
    this.nextPhase = phase;
    this.emitted += o - offset;
    return o - offset;
  }

  /** Drops inputs no future output needs, keeping the taps - 1 history in front of the next one. */
  private compact(): void {
    const drop = Math.min(this.position - this.filter.taps + 1, this.held);
    if (drop <= 0) return;
    this.buffer.copyWithin(0, drop, this.held);
    this.held -= drop;
    this.position -= drop;
  }
}

/*
 * Interpolation kernels: four consecutive input indices per pass. Their windows start at s, s+1,
 * s+2, s+3, so one newly loaded sample per tap feeds every accumulator; phase 0 is the input
 * sample itself. Each accumulator adds taps 0..taps-1 in order, exactly like the one-index loop.
 * Exported as the reference the WebAssembly kernels are tested against.
 */
export function interpolateBy3(
  x: Float64Array,
  s: number,
  blocks: number,
  out: Int16Array,
  o: number,
  c: Float64Array,
  taps: number,
  centreBack: number,
): void {
  const r1 = taps;
  const r2 = 2 * taps;
  for (let b = 0; b < blocks; b++, s += 4, o += 12) {
    let a1 = 0;
    let a2 = 0;
    let b1 = 0;
    let b2 = 0;
    let c1 = 0;
    let c2 = 0;
    let d1 = 0;
    let d2 = 0;
    let v1 = x[s]!;
    let v2 = x[s + 1]!;
    let v3 = x[s + 2]!;
    for (let j = 0; j < taps; j++) {
      const v0 = v1;
      v1 = v2;
      v2 = v3;
      v3 = x[s + j + 3]!;
      const k1 = c[r1 + j]!;
      const k2 = c[r2 + j]!;
      a1 += k1 * v0;
      a2 += k2 * v0;
      b1 += k1 * v1;
      b2 += k2 * v1;
      c1 += k1 * v2;
      c2 += k2 * v2;
      d1 += k1 * v3;
      d2 += k2 * v3;
    }
    const centre = s + centreBack;
    out[o] = x[centre]!;
    out[o + 1] = toInt16(a1);
    out[o + 2] = toInt16(a2);
    out[o + 3] = x[centre + 1]!;
    out[o + 4] = toInt16(b1);
    out[o + 5] = toInt16(b2);
    out[o + 6] = x[centre + 2]!;
    out[o + 7] = toInt16(c1);
    out[o + 8] = toInt16(c2);
    out[o + 9] = x[centre + 3]!;
    out[o + 10] = toInt16(d1);
    out[o + 11] = toInt16(d2);
  }
}

export function interpolateBy2(
  x: Float64Array,
  s: number,
  blocks: number,
  out: Int16Array,
  o: number,
  c: Float64Array,
  taps: number,
  centreBack: number,
): void {
  const r1 = taps;
  for (let b = 0; b < blocks; b++, s += 4, o += 8) {
    let a1 = 0;
    let b1 = 0;
    let c1 = 0;
    let d1 = 0;
    let v1 = x[s]!;
    let v2 = x[s + 1]!;
    let v3 = x[s + 2]!;
    for (let j = 0; j < taps; j++) {
      const v0 = v1;
      v1 = v2;
      v2 = v3;
      v3 = x[s + j + 3]!;
      const k = c[r1 + j]!;
      a1 += k * v0;
      b1 += k * v1;
      c1 += k * v2;
      d1 += k * v3;
    }
    const centre = s + centreBack;
    out[o] = x[centre]!;
    out[o + 1] = toInt16(a1);
    out[o + 2] = x[centre + 1]!;
    out[o + 3] = toInt16(b1);
    out[o + 4] = x[centre + 2]!;
    out[o + 5] = toInt16(c1);
    out[o + 6] = x[centre + 3]!;
    out[o + 7] = toInt16(d1);
  }
}

/*
 * Decimation kernels: four outputs per pass, `down` inputs apart, centred on x[m], x[m + down], …
 * Output j adds centre·x[m_j] then, for each surviving offset d in increasing order,
 * k_d·(x[m_j - d] + x[m_j + d]) — the very sequence of the one-output loop, so results never
 * depend on the grouping. Since m_{j+1} = m_j + down and the offsets advance by `down` per run,
 * the samples one output reads in this run are the ones its neighbour read in the previous (or
 * will read in the next) run: they are carried in locals, so each run loads 4 samples, not 16.
 */
function decimateBy3(
  x: Float64Array,
  m: number,
  blocks: number,
  out: Int16Array,
  o: number,
  centre: number,
  pc: Float64Array,
): void {
  const runs = pc.length >> 1;
  for (let b = 0; b < blocks; b++, m += 12, o += 4) {
    let a0 = centre * x[m]!;
    let a1 = centre * x[m + 3]!;
    let a2 = centre * x[m + 6]!;
    let a3 = centre * x[m + 9]!;
    // Run r uses offsets d = 3r + 1 and d + 1. Low side of output j: x[m + 3j - d] (and -1);
    // high side: x[m + 3j + d] (and +1).
    let l1 = x[m + 2]!;
    let l2 = x[m + 5]!;
    let l3 = x[m + 8]!;
    let q1 = x[m + 1]!;
    let q2 = x[m + 4]!;
    let q3 = x[m + 7]!;
    let h0 = x[m + 1]!;
    let h1 = x[m + 4]!;
    let h2 = x[m + 7]!;
    let g0 = x[m + 2]!;
    let g1 = x[m + 5]!;
    let g2 = x[m + 8]!;
    for (let r = 0, d = 1; r < runs; r++, d += 3) {
      const k1 = pc[2 * r]!;
      const k2 = pc[2 * r + 1]!;
      const l0 = x[m - d]!;
      const q0 = x[m - d - 1]!;
      const h3 = x[m + d + 9]!;
      const g3 = x[m + d + 10]!;
      a0 += k1 * (l0 + h0);
      a0 += k2 * (q0 + g0);
      a1 += k1 * (l1 + h1);
      a1 += k2 * (q1 + g1);
      a2 += k1 * (l2 + h2);
      a2 += k2 * (q2 + g2);
      a3 += k1 * (l3 + h3);
      a3 += k2 * (q3 + g3);
      l3 = l2;
      l2 = l1;
      l1 = l0;
      q3 = q2;
      q2 = q1;
      q1 = q0;
      h0 = h1;
      h1 = h2;
      h2 = h3;
      g0 = g1;
      g1 = g2;
      g2 = g3;
    }
    out[o] = toInt16(a0);
    out[o + 1] = toInt16(a1);
    out[o + 2] = toInt16(a2);
    out[o + 3] = toInt16(a3);
  }
}

function decimateBy2(
  x: Float64Array,
  m: number,
  blocks: number,
  out: Int16Array,
  o: number,
  centre: number,
  pc: Float64Array,
): void {
  const runs = pc.length;
  for (let b = 0; b < blocks; b++, m += 8, o += 4) {
    let a0 = centre * x[m]!;
    let a1 = centre * x[m + 2]!;
    let a2 = centre * x[m + 4]!;
    let a3 = centre * x[m + 6]!;
    // Run r uses offset d = 2r + 1: low side x[m + 2j - d], high side x[m + 2j + d].
    let l1 = x[m + 1]!;
    let l2 = x[m + 3]!;
    let l3 = x[m + 5]!;
    let h0 = x[m + 1]!;
    let h1 = x[m + 3]!;
    let h2 = x[m + 5]!;
    for (let r = 0, d = 1; r < runs; r++, d += 2) {
      const k = pc[r]!;
      const l0 = x[m - d]!;
      const h3 = x[m + d + 6]!;
      a0 += k * (l0 + h0);
      a1 += k * (l1 + h1);
      a2 += k * (l2 + h2);
      a3 += k * (l3 + h3);
      l3 = l2;
      l2 = l1;
      l1 = l0;
      h0 = h1;
      h1 = h2;
      h2 = h3;
    }
    out[o] = toInt16(a0);
    out[o + 1] = toInt16(a1);
    out[o + 2] = toInt16(a2);
    out[o + 3] = toInt16(a3);
  }
}

function checkRoom(out: Int16Array, offset: number, needed: number, what: string): void {
  if (!Number.isInteger(offset) || offset < 0 || offset + needed > out.length) {
    throw invalidArgument(
      `${what}: output has room for ${Math.max(0, out.length - offset)} samples at offset ${offset}, needs ${needed}`,
    );
  }
}

/** Outputs computable once `count` inputs have arrived: output k needs input ⌊(k·down + delay) / up⌋. */
function availableAfter(count: number, filter: PolyphaseFilter): number {
  if (filter.kind === "identity") return count;
  const last = Math.floor((count * filter.up - 1 - filter.delay) / filter.down);
  return last < 0 ? 0 : last + 1;
}

/** round(n · to / from) in exact integer arithmetic (ties round up). */
function expectedLength(inputCount: number, filter: PolyphaseFilter): number {
  return Math.floor((2 * inputCount * filter.up + filter.down) / (2 * filter.down));
}

/** One-shot resampling: exactly a Resampler fed the whole signal, then flushed. */
export function resample(samples: Int16Array, fromRate: number, toRate: number): Int16Array {
  const resampler = new Resampler(fromRate, toRate);
  const out = new Int16Array(expectedLength(samples.length, polyphaseFilter(fromRate, toRate)));
  const written = resampler.processInto(samples, out);
  resampler.flushInto(out, written);
  return out;
}
