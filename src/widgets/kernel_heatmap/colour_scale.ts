/**
 * The colour scale: which values map to the ends of the colour map, how cells
 * are coloured, and the colour bar's ticks.
 */

import { LUT_SIZE } from '../colormap';

/** The colour range a view draws with. */
export interface ColourRange {
  lo: number;
  hi: number;
}

/** An RGBA colour, each channel 0-255. */
export type Rgba = readonly [number, number, number, number];

/** Values looked at for the robust range; a strided sample of the matrix. */
export const ROBUST_SAMPLE = 20_000;

/** How the range is chosen (the synced `color_range`, plus two flags). */
export interface RangeOptions {
  /** `'full'`: min to max; `'robust'`: 1st to 99th percentile. */
  range: string;
  /** Leave out i == j (correlations are 1 there by construction). */
  skipDiagonal: boolean;
  /** Centre the range on 0 (differences: zero is the middle colour). */
  symmetric: boolean;
}

/** The `q`-quantile of sorted values, interpolated linearly (as numpy). */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  const position = q * (sorted.length - 1);
  const below = Math.floor(position);
  const above = Math.min(sorted.length - 1, below + 1);
  const lo = sorted[below] as number;
  return lo + (position - below) * ((sorted[above] as number) - lo);
}

/**
 * The colour range of a `rows` x `cols` matrix, or null if it has no finite
 * cell. The robust range reads a strided sample of at most `ROBUST_SAMPLE`
 * cells, so it costs the same for any matrix size.
 */
export function colourRangeOf(
  values: Float32Array,
  cols: number,
  options: RangeOptions,
): ColourRange | null {
  const robust = options.range === 'robust';
  const stride = robust
    ? Math.max(1, Math.floor(values.length / ROBUST_SAMPLE))
    : 1;
  const sample: number[] = [];
  let lo = Infinity;
  let hi = -Infinity;
  for (let cell = 0; cell < values.length; cell += stride) {
    const v = values[cell] as number;
    if (!Number.isFinite(v)) {
      continue;
    }
    if (options.skipDiagonal && Math.floor(cell / cols) === cell % cols) {
      continue;
    }
    if (robust) {
      sample.push(v);
    } else {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  }
  if (robust && sample.length > 0) {
    const sorted = Float64Array.from(sample).sort();
    lo = quantile(sorted, 0.01);
    hi = quantile(sorted, 0.99);
  }
  if (!(lo <= hi)) {
    return null;
  }
  if (options.symmetric) {
    const m = Math.max(Math.abs(lo), Math.abs(hi));
    return { lo: -m, hi: m };
  }
  return { lo, hi };
}

/**
 * Colour the matrix into `rgba` (RGBA bytes of a `rows` x `cols` image in
 * display order): display cell (r, c) shows `values[rowOrder[r], colOrder[c]]`.
 * Values map linearly from `range` onto `lut`, clamped at the ends; NaN
 * cells get `nan`. A zero-width range paints the middle colour, since every
 * value then sits at the one value the range admits.
 */
export function paintMatrix(
  values: Float32Array,
  cols: number,
  rowOrder: Int32Array,
  colOrder: Int32Array,
  range: ColourRange,
  lut: Uint8ClampedArray,
  nan: Rgba,
  rgba: Uint8ClampedArray,
): void {
  const span = range.hi - range.lo;
  const scale = span > 0 ? (LUT_SIZE - 1) / span : 0;
  const middle = (LUT_SIZE - 1) >> 1;
  let out = 0;
  for (let r = 0; r < rowOrder.length; r++) {
    const rowStart = (rowOrder[r] as number) * cols;
    for (let c = 0; c < colOrder.length; c++, out += 4) {
      const v = values[rowStart + (colOrder[c] as number)] as number;
      if (Number.isNaN(v)) {
        rgba[out] = nan[0];
        rgba[out + 1] = nan[1];
        rgba[out + 2] = nan[2];
        rgba[out + 3] = nan[3];
        continue;
      }
      let index = span > 0 ? Math.round((v - range.lo) * scale) : middle;
      index = index < 0 ? 0 : index >= LUT_SIZE ? LUT_SIZE - 1 : index;
      rgba[out] = lut[3 * index] as number;
      rgba[out + 1] = lut[3 * index + 1] as number;
      rgba[out + 2] = lut[3 * index + 2] as number;
      rgba[out + 3] = 255;
    }
  }
}

/**
 * A short tick label: 3 significant digits, exponents outside [1e-3, 1e4),
 * and a true minus sign so labels typeset well in figures.
 */
export function formatTick(value: number): string {
  if (value === 0) {
    return '0';
  }
  const magnitude = Math.abs(value);
  const text =
    magnitude >= 1e4 || magnitude < 1e-3
      ? value.toExponential(2).replace(/\.?0+e/, 'e')
      : String(Number(value.toPrecision(3)));
  return text.replace('-', '\u2212');
}

/** Step multipliers for tick spacing, as in most plotting libraries. */
const NICE_STEPS = [1, 2, 5, 10];

/**
 * Round-numbered ticks inside [lo, hi]: at most `count`, spaced 1, 2 or 5
 * times a power of ten. The ends themselves are labelled only when no round
 * number falls inside, so a colour bar reads "0.2 0.4 ... 1" rather than
 * "0.000256 ... 1".
 */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) {
    return [lo];
  }
  const power = 10 ** Math.floor(Math.log10((hi - lo) / count));
  const step =
    NICE_STEPS.map(m => m * power).find(s => (hi - lo) / s <= count) ??
    10 * power;
  // Tolerances of a millionth of a step absorb floating-point drift.
  const ticks: number[] = [];
  for (let k = Math.ceil(lo / step - 1e-6); k * step <= hi + step * 1e-6; k++) {
    ticks.push(k === 0 ? 0 : Number((k * step).toPrecision(12)));
  }
  return ticks.length > 0 ? ticks : [lo, hi];
}
