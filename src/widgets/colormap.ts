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

type Triple = readonly [number, number, number];

/** D65 white point of sRGB, for CIELAB. */
const WHITE: Triple = [0.95047, 1, 1.08883];

function linearOf(channel: number): number {
  const s = channel / 255;
  return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
}

function channelOf(linear: number): number {
  const s =
    linear <= 0.0031308 ? 12.92 * linear : 1.055 * linear ** (1 / 2.4) - 0.055;
  return Math.round(255 * Math.min(1, Math.max(0, s)));
}

/** 8-bit sRGB to CIELAB (D65). */
export function srgbToLab(rgb: Triple): [number, number, number] {
  const [r, g, b] = rgb.map(linearOf) as [number, number, number];
  const xyz = [
    0.4124 * r + 0.3576 * g + 0.1805 * b,
    0.2126 * r + 0.7152 * g + 0.0722 * b,
    0.0193 * r + 0.1192 * g + 0.9505 * b,
  ];
  const f = xyz.map((v, i) => {
    const t = (v as number) / (WHITE[i] as number);
    return t > 216 / 24389 ? Math.cbrt(t) : ((24389 / 27) * t + 16) / 116;
  }) as [number, number, number];
  return [116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])];
}

/** CIELAB (D65) to 8-bit sRGB, clipped to the gamut. */
export function labToSrgb(lab: Triple): [number, number, number] {
  const fy = (lab[0] + 16) / 116;
  const f = [fy + lab[1] / 500, fy, fy - lab[2] / 200];
  const [x, y, z] = f.map((v, i) => {
    const t = v ** 3 > 216 / 24389 ? v ** 3 : (116 * v - 16) / (24389 / 27);
    return t * (WHITE[i] as number);
  }) as [number, number, number];
  return [
    channelOf(3.2406 * x - 1.5372 * y - 0.4986 * z),
    channelOf(-0.9689 * x + 1.8758 * y + 0.0415 * z),
    channelOf(0.0557 * x - 0.204 * y + 1.057 * z),
  ];
}

/**
 * End and middle colours of Moreland's cool-warm diverging map (K. Moreland,
 * "Diverging Color Maps for Scientific Visualization", ISVC 2009): blue and
 * red of equal lightness around a light grey.
 */
export const COOL_WARM_ANCHORS: ReadonlyArray<Triple> = [
  [59, 76, 192],
  [221, 221, 221],
  [180, 4, 38],
];

/**
 * A diverging lookup table for signed quantities centred on 0 (the NTK -
 * NNGP difference): blue below, grey at the middle, red above. Interpolated
 * linearly in CIELAB between `COOL_WARM_ANCHORS`, so lightness rises evenly
 * to the middle and falls evenly after it, and equal distances from 0 read
 * equally strong on both sides. (Moreland interpolates in his Msh space,
 * which bends the path through more saturated colours; CIELAB is close and
 * simpler.)
 */
export function coolWarmLut(): Uint8ClampedArray {
  const labs = COOL_WARM_ANCHORS.map(srgbToLab);
  const lut = new Uint8ClampedArray(LUT_SIZE * 3);
  for (let i = 0; i < LUT_SIZE; i++) {
    const t = (2 * i) / (LUT_SIZE - 1);
    const segment = t < 1 ? 0 : 1;
    const u = t - segment;
    const a = labs[segment] as Triple;
    const b = labs[segment + 1] as Triple;
    lut.set(
      labToSrgb([
        a[0] + u * (b[0] - a[0]),
        a[1] + u * (b[1] - a[1]),
        a[2] + u * (b[2] - a[2]),
      ]),
      3 * i,
    );
  }
  return lut;
}
