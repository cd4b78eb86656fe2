/** Small measurement helpers for the audio tests (test code, not part of the library). */

export function tone(
  frequency: number,
  rate: number,
  length: number,
  amplitude: number,
  phase = 0,
): Int16Array {
  const out = new Int16Array(length);
  for (let i = 0; i < length; i++) {
    out[i] = Math.round(amplitude * Math.sin((2 * Math.PI * frequency * i) / rate + phase));
  }
  return out;
}

export interface ToneFit {
  amplitude: number;
  /** Phase of the fitted sine at sample 0 of the whole signal (radians). */
  phase: number;
  /** RMS of what is left after removing the fitted sine (and any DC). */
  residualRms: number;
}

/**
 * Least-squares fit of a sine of known frequency over samples [from, from + length). With an
 * integer number of cycles in the window, the sine/cosine basis is orthogonal and the fit exact.
 */
export function fitTone(
  signal: ArrayLike<number>,
  frequency: number,
  rate: number,
  from: number,
  length: number,
): ToneFit {
  let s = 0;
  let c = 0;
  let mean = 0;
  for (let i = from; i < from + length; i++) {
    const w = (2 * Math.PI * frequency * i) / rate;
    s += signal[i]! * Math.sin(w);
    c += signal[i]! * Math.cos(w);
    mean += signal[i]!;
  }
  s *= 2 / length;
  c *= 2 / length;
  mean /= length;
  let residual = 0;
  for (let i = from; i < from + length; i++) {
    const w = (2 * Math.PI * frequency * i) / rate;
    const r = signal[i]! - mean - s * Math.sin(w) - c * Math.cos(w);
    residual += r * r;
  }
  return {
    amplitude: Math.hypot(s, c),
    phase: Math.atan2(c, s),
    residualRms: Math.sqrt(residual / length),
  };
}

export function rms(signal: ArrayLike<number>, from = 0, length = signal.length - from): number {
  let sum = 0;
  for (let i = from; i < from + length; i++) sum += signal[i]! * signal[i]!;
  return Math.sqrt(sum / length);
}

export const db = (ratio: number): number => 20 * Math.log10(ratio);

/** In-place iterative radix-2 FFT; re/im lengths must be a power of two. */
export function fft(re: Float64Array, im: Float64Array): void {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      [re[i], re[j]] = [re[j]!, re[i]!];
      [im[i], im[j]] = [im[j]!, im[i]!];
    }
  }
  for (let size = 2; size <= n; size <<= 1) {
    const angle = (-2 * Math.PI) / size;
    const wr = Math.cos(angle);
    const wi = Math.sin(angle);
    for (let start = 0; start < n; start += size) {
      let cr = 1;
      let ci = 0;
      for (let k = 0; k < size / 2; k++) {
        const a = start + k;
        const b = a + size / 2;
        const tr = re[b]! * cr - im[b]! * ci;
        const ti = re[b]! * ci + im[b]! * cr;
        re[b] = re[a]! - tr;
        im[b] = im[a]! - ti;
        re[a] = re[a]! + tr;
        im[a] = im[a]! + ti;
        const next = cr * wr - ci * wi;
        ci = cr * wi + ci * wr;
        cr = next;
      }
    }
  }
}

/**
 * Energy of `signal` between 0 and `maxHz` (one-sided), from the FFT of the whole signal
 * zero-padded to a power of two. Parseval makes this the band-limited energy, up to scale.
 */
export function bandEnergy(signal: ArrayLike<number>, rate: number, maxHz: number): number {
  let n = 1;
  while (n < signal.length) n <<= 1;
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  for (let i = 0; i < signal.length; i++) re[i] = signal[i]!;
  fft(re, im);
  const top = Math.floor((maxHz / rate) * n);
  let energy = 0;
  for (let k = 0; k <= top; k++) energy += (k === 0 ? 1 : 2) * (re[k]! * re[k]! + im[k]! * im[k]!);
  return energy;
}
