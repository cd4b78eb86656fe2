import { invalidArgument } from "../errors.ts";

/**
 * Immutable polyphase tables for resampling by up/down (= to/from in lowest terms), derived from
 * one linear-phase Kaiser-windowed-sinc low-pass prototype running at the virtual rate up·from.
 *
 * Timing: output k sits at virtual index k·down + delay, i.e. the prototype's group delay is
 * compensated, so output k is the signal at time k / to. The cut-off is exactly the lower Nyquist
 * frequency and `delay` is a multiple of `up` (and of `down` when up = 1), which makes the
 * prototype an up-th (down-th) band filter: every up-th (down-th) tap from the centre is zero.
 * Hence interpolation keeps input samples unchanged in phase 0 and decimation skips those taps.
 */
export interface PolyphaseFilter {
  readonly fromRate: number;
  readonly toRate: number;
  readonly up: number;
  readonly down: number;
  readonly kind: "identity" | "interpolate" | "decimate" | "rational";
  /** Prototype length (odd, = 2·delay + 1) at the virtual rate. */
  readonly length: number;
  /** Group delay of the prototype, in virtual samples. */
  readonly delay: number;
  /** Input samples in the window of one output: the history the streaming state keeps. */
  readonly taps: number;
  /**
   * interpolate / rational: coefficients[phase·taps + j] multiplies x[i0 - taps + 1 + j] for the
   * output at virtual index i0·up + phase (oldest input first). Phase 0 of "interpolate" is unused.
   */
  readonly coefficients: Float64Array;
  /** decimate: output = centre·x[c] + Σ pairCoefficients[i]·(x[c - pairOffsets[i]] + x[c + pairOffsets[i]]). */
  readonly centre: number;
  readonly pairOffsets: Int32Array;
  readonly pairCoefficients: Float64Array;
  /**
   * rational: output k (k a multiple of up) and the up - 1 after it use phases periodPhases[q]
   * and newest inputs first + periodInputs[q]; a period of up outputs consumes `down` inputs.
   */
  readonly periodPhases: Int32Array;
  readonly periodInputs: Int32Array;
  /** Per phase: the tap index of a unit-impulse row (output = that input), or -1. */
  readonly unitTaps: Int32Array;
  /** decimate: pairOffsets are exactly the offsets 1..delay that are not multiples of down. */
  readonly regularPairs: boolean;
  /** Edge of the flat band and start of the stop band, in Hz. */
  readonly passbandHz: number;
  readonly stopbandHz: number;
}

/*
 * Design targets: ≤ 0.1 dB ripple up to 0.85 × the lower Nyquist frequency (3.4 kHz when 8 kHz is
 * involved) and ≥ 60 dB rejection from 1.15 × it (4.6 kHz), so nothing folds into the flat band
 * and no image of it survives. The Kaiser formula aims at 66 dB to leave room for the per-phase
 * gain normalisation and int16 output rounding (measured worst case ≈ 64.7 dB, see the tests).
 * Prototypes: 57 taps for 8k↔16k, 85 taps for 8k↔24k and 16k↔24k, i.e. 29 taps per phase,
 * a third of them zero. A flatter band to 3.8 kHz (like sox -v) would need about twice the taps.
 */
const PASSBAND_FRACTION = 0.85;
const ATTENUATION_DB = 66;
const MAX_FACTOR = 1000;

const gcd = (a: number, b: number): number => {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
};

/** Zeroth-order modified Bessel function of the first kind, by its power series. */
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 200; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

function kaiserBeta(attenuationDb: number): number {
  if (attenuationDb > 50) return 0.1102 * (attenuationDb - 8.7);
  if (attenuationDb >= 21) {
    return 0.5842 * (attenuationDb - 21) ** 0.4 + 0.07886 * (attenuationDb - 21);
  }
  return 0;
}

export function assertSampleRate(rate: number, what: string): void {
  if (!Number.isInteger(rate) || rate <= 0 || rate > 384_000) {
    throw invalidArgument(
      `${what} must be a positive integer number of Hz up to 384000, got ${rate}`,
    );
  }
}

/** Kaiser-windowed sinc with cut-off `cutoff` (cycles per sample), centred on `delay`. */
function prototypeFilter(delay: number, cutoff: number, bandSpacing: number): Float64Array {
  const length = 2 * delay + 1;
  const beta = kaiserBeta(ATTENUATION_DB);
  const i0Beta = besselI0(beta);
  const h = new Float64Array(length);
  for (let n = 0; n < length; n++) {
    const t = n - delay;
    if (t !== 0 && t % bandSpacing === 0) continue; // exact zero crossing of the sinc
    const sinc = t === 0 ? 2 * cutoff : Math.sin(2 * Math.PI * cutoff * t) / (Math.PI * t);
    const r = t / delay;
    h[n] = sinc * (besselI0(beta * Math.sqrt(1 - r * r)) / i0Beta);
  }
  return h;
}

const EMPTY_INT = new Int32Array(0);
const EMPTY_FLOAT = new Float64Array(0);

function design(fromRate: number, toRate: number): PolyphaseFilter {
  const g = gcd(fromRate, toRate);
  const up = toRate / g;
  const down = fromRate / g;
  if (up > MAX_FACTOR || down > MAX_FACTOR) {
    throw invalidArgument(
      `resampling ${fromRate} Hz → ${toRate} Hz needs a ratio of ${up}/${down}; factors above ${MAX_FACTOR} are not supported`,
    );
  }
  const nyquist = Math.min(fromRate, toRate) / 2;
  const passbandHz = PASSBAND_FRACTION * nyquist;
  const stopbandHz = (2 - PASSBAND_FRACTION) * nyquist;
  const common = { fromRate, toRate, up, down, passbandHz, stopbandHz };
  const none = {
    centre: 0,
    pairOffsets: EMPTY_INT,
    pairCoefficients: EMPTY_FLOAT,
    regularPairs: false,
    periodPhases: EMPTY_INT,
    periodInputs: EMPTY_INT,
    unitTaps: EMPTY_INT,
  };
  if (up === 1 && down === 1) {
    return {
      ...common,
      ...none,
      kind: "identity",
      length: 1,
      delay: 0,
      taps: 1,
      coefficients: Float64Array.of(1),
    };
  }
  const virtualRate = fromRate * up;
  const transition = (stopbandHz - passbandHz) / virtualRate;
  const minLength = Math.ceil((ATTENUATION_DB - 7.95) / (14.36 * transition)) + 1;
  // Band spacing: distance between sinc zero crossings, in virtual samples.
  const bandSpacing = virtualRate / (2 * nyquist);
  const align = up === 1 ? down : up;
  const delay = Math.ceil((minLength - 1) / 2 / align) * align;
  const length = 2 * delay + 1;
  const h = prototypeFilter(
    delay,
    nyquist / virtualRate,
    Number.isInteger(bandSpacing) ? bandSpacing : 0,
  );

  if (up === 1) {
    let sum = 0;
    for (let n = 0; n < length; n++) sum += h[n]!;
    const offsets: number[] = [];
    const values: number[] = [];
    for (let d = 1; d <= delay; d++) {
      if (h[delay + d] === 0) continue;
      offsets.push(d);
      values.push(h[delay + d]! / sum);
    }
    return {
      ...common,
      ...none,
      kind: "decimate",
      length,
      delay,
      taps: length,
      coefficients: EMPTY_FLOAT,
      centre: h[delay]! / sum,
      pairOffsets: Int32Array.from(offsets),
      pairCoefficients: Float64Array.from(values),
      regularPairs: isRegular(offsets, delay, down),
    };
  }

  const taps = Math.ceil(length / up);
  // Each phase is scaled to unity DC gain, so a constant input stays exactly constant.
  const coefficients = new Float64Array(taps * up);
  for (let phase = 0; phase < up; phase++) {
    let sum = 0;
    for (let t = 0; t < taps; t++) sum += h[phase + t * up] ?? 0;
    for (let t = 0; t < taps; t++) {
      coefficients[phase * taps + (taps - 1 - t)] = (h[phase + t * up] ?? 0) / sum;
    }
  }
  const periodPhases = new Int32Array(up);
  const periodInputs = new Int32Array(up);
  for (let q = 0; q < up; q++) {
    const virtual = q * down + delay;
    periodPhases[q] = virtual % up;
    periodInputs[q] = Math.floor(virtual / up) - Math.floor(delay / up);
  }
  const unitTaps = new Int32Array(up).fill(-1);
  for (let phase = 0; phase < up; phase++) {
    const row = coefficients.subarray(phase * taps, (phase + 1) * taps);
    const one = row.indexOf(1);
    if (one >= 0 && row.every((v, j) => v === 0 || j === one)) unitTaps[phase] = one;
  }
  return {
    ...common,
    ...none,
    kind: down === 1 ? "interpolate" : "rational",
    length,
    delay,
    taps,
    coefficients,
    periodPhases,
    periodInputs,
    unitTaps,
  };
}

function isRegular(offsets: readonly number[], delay: number, down: number): boolean {
  let i = 0;
  for (let d = 1; d <= delay; d++) {
    if (d % down === 0) continue;
    if (offsets[i++] !== d) return false;
  }
  return i === offsets.length;
}

/** Bounded so that arbitrary rates (e.g. from uploaded files) cannot grow memory without limit. */
const CACHE_LIMIT = 32;
const cache = new Map<string, PolyphaseFilter>();

/** Designed once per rate pair and shared; the tables are never written after design. */
export function polyphaseFilter(fromRate: number, toRate: number): PolyphaseFilter {
  assertSampleRate(fromRate, "fromRate");
  assertSampleRate(toRate, "toRate");
  const key = `${fromRate}:${toRate}`;
  let filter = cache.get(key);
  if (filter === undefined) {
    filter = design(fromRate, toRate);
    if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value!);
    cache.set(key, filter);
  }
  return filter;
}
