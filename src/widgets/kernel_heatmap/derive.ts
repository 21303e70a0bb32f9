/**
 * What the heatmap shows, derived from the kernels it holds: one kernel, or
 * the normalized difference NTK - NNGP; as values or as correlations. Pure
 * functions over row-major matrices in the original (unsorted) order.
 */

import type { KernelStack } from './model';

/** The derived kernel offered when both the NNGP and the NTK are held. */
export const DIFFERENCE = 'difference';

/** What `kernel` may be set to: the kernels held, plus the difference. */
export function kernelChoices(kernels: readonly string[]): string[] {
  const choices = [...kernels];
  if (kernels.includes('nngp') && kernels.includes('ntk')) {
    choices.push(DIFFERENCE);
  }
  return choices;
}

/** Whether `mode` can be shown for an `rows` x `cols` matrix. */
export function correlationAllowed(rows: number, cols: number): boolean {
  return rows === cols && rows > 0;
}

/**
 * K_ij / sqrt(K_ii K_jj) of a square matrix: the cosine of the angle between
 * two inputs' feature vectors, so per-input magnitude (which in CNN kernels
 * varies with an image's ink and hides class structure) drops out. NaN where
 * a cell or either diagonal entry is missing or the diagonal is not
 * positive.
 */
export function correlation(matrix: Float32Array, n: number): Float32Array {
  const scale = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const d = matrix[i * n + i] as number;
    scale[i] = d > 0 ? 1 / Math.sqrt(d) : NaN;
  }
  const out = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    const si = scale[i] as number;
    for (let j = 0; j < n; j++) {
      out[i * n + j] =
        (matrix[i * n + j] as number) * si * (scale[j] as number);
    }
  }
  return out;
}

/**
 * Root mean square of the cells where both `a` and `b` are finite: the size
 * each kernel is divided by before they are compared.
 */
export function jointRms(a: Float32Array, b: Float32Array): [number, number] {
  let sa = 0;
  let sb = 0;
  let count = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    if (Number.isFinite(x) && Number.isFinite(y)) {
      sa += x * x;
      sb += y * y;
      count++;
    }
  }
  return count > 0
    ? [Math.sqrt(sa / count), Math.sqrt(sb / count)]
    : [NaN, NaN];
}

/**
 * `ntk / rms(ntk) - nngp / rms(nngp)`, the rms over cells both have. With
 * `normalized` false the two are subtracted as they are (used for
 * correlation matrices, which already share one scale). NaN where either is
 * missing, and everywhere when a kernel is identically zero.
 */
export function difference(
  ntk: Float32Array,
  nngp: Float32Array,
  normalized: boolean,
): Float32Array {
  const [rmsNtk, rmsNngp] = normalized ? jointRms(ntk, nngp) : [1, 1];
  const a = rmsNtk > 0 ? 1 / rmsNtk : NaN;
  const b = rmsNngp > 0 ? 1 / rmsNngp : NaN;
  const out = new Float32Array(ntk.length);
  for (let i = 0; i < ntk.length; i++) {
    out[i] = (ntk[i] as number) * a - (nngp[i] as number) * b;
  }
  return out;
}

/** What to show: a kernel name (or `difference`) and a colour mode. */
export interface Choice {
  kernel: string;
  mode: string;
}

/** The matrix that is shown, in the original order; null if not held. */
export function shownMatrix(
  stack: KernelStack,
  choice: Choice,
): Float32Array | null {
  const correlate =
    choice.mode === 'correlation' && correlationAllowed(stack.rows, stack.cols);
  const prepare = (matrix: Float32Array): Float32Array =>
    correlate ? correlation(matrix, stack.rows) : matrix;
  if (choice.kernel === DIFFERENCE) {
    const ntk = stack.matrix('ntk');
    const nngp = stack.matrix('nngp');
    return ntk && nngp
      ? difference(prepare(ntk), prepare(nngp), !correlate)
      : null;
  }
  const matrix = stack.matrix(choice.kernel);
  return matrix && prepare(matrix);
}
