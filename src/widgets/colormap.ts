/**
 * Colour maps for the kernel views, computed here rather than shipped as
 * tables so the bundle stays small and the maps are testable.
 */

/** Number of entries in a lookup table: one per 8-bit colour step. */
export const LUT_SIZE = 256;

/**
 * Coefficients of a degree-6 polynomial fit to matplotlib's viridis, one row
 * per power of t, columns r, g, b. Viridis is perceptually uniform and ordered
 * (lightness rises monotonically), and readable by most colour-blind viewers,
 * so kernel magnitudes read the same in a paper figure and on screen. Fit by
 * Matt Zucker, released CC0 (https://www.shadertoy.com/view/WlfXRN); its
 * largest error against the matplotlib table is below one 8-bit step.
 */
const VIRIDIS_COEFFICIENTS: ReadonlyArray<readonly [number, number, number]> = [
  [0.2777273272234177, 0.005407344544966578, 0.3340998053353061],
  [0.1050930431085774, 1.404613529898575, 1.384590162594685],
  [-0.3308618287255563, 0.214847559468213, 0.09509516302823659],
  [-4.634230498983486, -5.799100973351585, -19.33244095627987],
  [6.228269936347081, 14.17993336680509, 56.69055260068105],
  [4.776384997670288, -13.74514537774601, -65.35303263337234],
  [-5.435455855934631, 4.645852612178535, 26.3124352495832],
];

/** Evaluate the viridis fit at `t` in [0, 1]; returns 8-bit r, g, b. */
export function viridis(t: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, t));
  const rgb: [number, number, number] = [0, 0, 0];
  for (let channel = 0; channel < 3; channel++) {
    // Horner's rule, highest power first.
    let acc = 0;
    for (let power = VIRIDIS_COEFFICIENTS.length - 1; power >= 0; power--) {
      const row = VIRIDIS_COEFFICIENTS[power] as readonly number[];
      acc = acc * x + (row[channel] as number);
    }
    rgb[channel] = Math.round(255 * Math.min(1, Math.max(0, acc)));
  }
  return rgb;
}

/**
 * A `LUT_SIZE`-entry RGB lookup table, 3 bytes per entry, so painting a
 * matrix costs one table read per cell instead of a polynomial.
 */
export function viridisLut(): Uint8ClampedArray {
  const lut = new Uint8ClampedArray(LUT_SIZE * 3);
  for (let i = 0; i < LUT_SIZE; i++) {
    lut.set(viridis(i / (LUT_SIZE - 1)), 3 * i);
  }
  return lut;
}

/**
 * Categorical colours for class labels (Tableau 10, the matplotlib default
 * cycle), chosen to stay apart from each other on light and dark backgrounds.
 */
export const CATEGORICAL: ReadonlyArray<string> = [
  '#4e79a7',
  '#f28e2b',
  '#e15759',
  '#76b7b2',
  '#59a14f',
  '#edc948',
  '#b07aa1',
  '#ff9da7',
  '#9c755f',
  '#bab0ac',
];

/** Colour of class `label`; labels beyond the palette wrap around. */
export function categoricalColour(label: number): string {
  const n = CATEGORICAL.length;
  return CATEGORICAL[((Math.trunc(label) % n) + n) % n] as string;
}
