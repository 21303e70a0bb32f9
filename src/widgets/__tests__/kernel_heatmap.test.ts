/**
 * Data handling of the kernel heatmap view (src/widgets/kernel_heatmap/):
 * block messages into the kernel stack, class sorting, what is shown
 * (correlation, difference), colour scale, zoom geometry and the tooltip.
 */

import {
  COOL_WARM_ANCHORS,
  coolWarmLut,
  labToSrgb,
  LUT_SIZE,
  srgbToLab,
  viridis,
  viridisLut,
} from '../colormap';
import {
  colourRangeOf,
  formatTick,
  niceTicks,
  paintMatrix,
  quantile,
  type Rgba,
} from '../kernel_heatmap/colour_scale';
import {
  correlation,
  DIFFERENCE,
  difference,
  kernelChoices,
  shownMatrix,
} from '../kernel_heatmap/derive';
import {
  applyBlocksMessage,
  decodeFloat32,
  KERNEL_HEATMAP_DEFAULTS,
  type KernelHeatmapModel,
  KernelStack,
} from '../kernel_heatmap/model';
import { arrange, classOrder, classRuns } from '../kernel_heatmap/order';
import {
  cellAt,
  clickZoom,
  lookup,
  rectangleZoom,
  tooltipLines,
  tooltipPosition,
  viewportOf,
  zoomOf,
} from '../kernel_heatmap/zoom';
import type { AnyModel } from '../types';

const NAN_COLOUR: Rgba = [1, 2, 3, 255];

/** A model holding all-NaN `rows` x `cols` matrices of `kernels`. */
function mockModel(
  rows: number,
  cols: number,
  kernels = ['kernel'],
): AnyModel<KernelHeatmapModel> {
  const state: KernelHeatmapModel = {
    ...KERNEL_HEATMAP_DEFAULTS,
    n_rows: rows,
    n_cols: cols,
    kernels,
    kernel: kernels[0]!,
    values: new Float32Array(kernels.length * rows * cols).fill(NaN),
  };
  return {
    get: key => state[key],
    on: () => undefined,
    off: () => undefined,
  };
}

function buffer(values: number[]): DataView {
  return new DataView(new Float32Array(values).buffer);
}

function pixel(rgba: Uint8ClampedArray, cols: number, r: number, c: number) {
  const i = 4 * (r * cols + c);
  return Array.from(rgba.subarray(i, i + 4));
}

const identity = (n: number) => Int32Array.from({ length: n }, (_, i) => i);

describe('block messages', () => {
  it('decode from a DataView at any byte offset', () => {
    const block = new Float32Array([0.5, -1, 2, 3.25]);
    // An unaligned view, as a websocket frame may hand over.
    const bytes = new Uint8Array(1 + block.byteLength);
    bytes.set(new Uint8Array(block.buffer), 1);
    const view = new DataView(bytes.buffer, 1, block.byteLength);
    expect(Array.from(decodeFloat32(view))).toEqual([0.5, -1, 2, 3.25]);
    expect(() => decodeFloat32(new DataView(new ArrayBuffer(6)))).toThrow(
      RangeError,
    );
  });

  it('land in their kernel matrix at their offset, row-major', () => {
    const model = mockModel(2, 3, ['nngp', 'ntk']);
    const content = {
      type: 'blocks',
      blocks: [
        { kernel: 'ntk', row0: 0, col0: 1, rows: 2, cols: 2 },
        { kernel: 'nngp', row0: 1, col0: 0, rows: 1, cols: 1 },
      ],
    };
    const applied = applyBlocksMessage(model, content, [
      buffer([1, 2, 3, 4]),
      buffer([9]),
    ]);
    expect(applied.map(b => b.kernel)).toEqual(['ntk', 'nngp']);
    // prettier-ignore
    expect(Array.from(model.get('values'))).toEqual([
      NaN, NaN, NaN, // nngp
      9, NaN, NaN,
      NaN, 1, 2, // ntk
      NaN, 3, 4,
    ]);
    const stack = KernelStack.fromModel(model)!;
    expect(Array.from(stack.matrix('nngp')!)).toEqual([
      NaN,
      NaN,
      NaN,
      9,
      NaN,
      NaN,
    ]);
    expect(stack.matrix('other')).toBeNull();
    expect(stack.hasData()).toBe(true);
  });

  it('that do not fit, name no kernel held, or are not blocks, change nothing', () => {
    const model = mockModel(2, 2);
    const data = buffer([1, 2, 3, 4]);
    const outside = { kernel: 'kernel', row0: 1, col0: 0, rows: 2, cols: 2 };
    const unknown = { kernel: 'ntk', row0: 0, col0: 0, rows: 2, cols: 2 };
    expect(
      applyBlocksMessage(
        model,
        { type: 'blocks', blocks: [outside, unknown] },
        [data, data],
      ),
    ).toEqual([]);
    expect(applyBlocksMessage(model, { type: 'other' }, [data])).toEqual([]);
    expect(model.get('values').some(Number.isFinite)).toBe(false);
  });
});

describe('class sorting', () => {
  const labels = new Int32Array([2, 0, 1, 0, 2, 1]);

  it('orders by label, stably, and keeps original indices', () => {
    expect(Array.from(classOrder(labels, 6))).toEqual([1, 3, 2, 5, 0, 4]);
    // Missing or mismatched labels leave the order alone.
    expect(Array.from(classOrder(new Int32Array(0), 3))).toEqual([0, 1, 2]);
  });

  it('forms one run per class, boundaries at class changes', () => {
    const order = classOrder(labels, 6);
    expect(classRuns(labels, order)).toEqual([
      { label: 0, start: 0, end: 2 },
      { label: 1, start: 2, end: 4 },
      { label: 2, start: 4, end: 6 },
    ]);
  });

  it('sorts the columns of a square matrix like its rows', () => {
    const square = arrange(6, 6, labels, new Int32Array(0), true);
    expect(Array.from(square.colOrder)).toEqual(Array.from(square.rowOrder));
    expect(square.colLabels).toBe(labels);
    const testTrain = arrange(2, 6, new Int32Array([1, 0]), labels, true);
    expect(Array.from(testTrain.rowOrder)).toEqual([1, 0]);
    expect(Array.from(testTrain.colOrder)).toEqual([1, 3, 2, 5, 0, 4]);
    const unsorted = arrange(6, 6, labels, new Int32Array(0), false);
    expect(Array.from(unsorted.rowOrder)).toEqual([0, 1, 2, 3, 4, 5]);
  });
});

describe('what is shown', () => {
  // A PSD matrix with diagonal 4, 1, 9: correlations are K_ij / (d_i d_j).
  // prettier-ignore
  const k = new Float32Array([
    4, 1, 3,
    1, 1, 0.5,
    3, 0.5, 9,
  ]);

  it('correlation is K_ij / sqrt(K_ii K_jj)', () => {
    const c = correlation(k, 3);
    const d = [2, 1, 3];
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        expect(c[i * 3 + j]).toBeCloseTo(k[i * 3 + j]! / (d[i]! * d[j]!), 6);
      }
    }
    // A missing diagonal entry leaves its row and column undefined.
    const partial = Float32Array.from(k);
    partial[4] = NaN;
    const cp = correlation(partial, 3);
    expect(Number.isNaN(cp[1]!)).toBe(true);
    expect(Number.isNaN(cp[3 * 2 + 1]!)).toBe(true);
    expect(cp[2]).toBeCloseTo(0.5, 6);
  });

  it('difference compares shapes: a kernel minus a multiple of itself is 0', () => {
    const ntk = Float32Array.from(k, v => 7 * v);
    expect(
      Array.from(difference(ntk, k, true)).every(v => Math.abs(v) < 1e-6),
    ).toBe(true);
    // rms over cells both have: [3, 4] -> 3.5355..., [1, 1] -> 1.
    const d = difference(
      new Float32Array([3, 4, NaN]),
      new Float32Array([1, 1, 5]),
      true,
    );
    const rms = Math.sqrt(12.5);
    expect(d[0]).toBeCloseTo(3 / rms - 1, 6);
    expect(d[1]).toBeCloseTo(4 / rms - 1, 6);
    expect(Number.isNaN(d[2]!)).toBe(true);
    expect(
      Array.from(
        difference(new Float32Array([3]), new Float32Array([1]), false),
      ),
    ).toEqual([2]);
  });

  it('resolves kernel and mode against the stack', () => {
    const values = new Float32Array(18);
    values.set(k, 0); // nngp
    values.set(
      Float32Array.from(k, v => 2 * v + 1),
      9,
    ); // ntk
    const stack = new KernelStack(['nngp', 'ntk'], 3, 3, values);
    expect(kernelChoices(stack.kernels)).toEqual(['nngp', 'ntk', DIFFERENCE]);
    expect(kernelChoices(['kernel'])).toEqual(['kernel']);
    expect(shownMatrix(stack, { kernel: 'ntk', mode: 'values' })![4]).toBe(3);
    const corrDiff = shownMatrix(stack, {
      kernel: DIFFERENCE,
      mode: 'correlation',
    })!;
    // Diagonals of both correlation matrices are 1, so their difference is 0.
    expect(corrDiff[0]).toBeCloseTo(0, 6);
    const ntkCorr01 = 3 / Math.sqrt(9 * 3);
    expect(corrDiff[1]).toBeCloseTo(ntkCorr01 - 0.5, 6);
    expect(shownMatrix(stack, { kernel: 'rbf', mode: 'values' })).toBeNull();
  });
});

describe('colour scale', () => {
  const lut = viridisLut();
  const first = [lut[0], lut[1], lut[2], 255];
  const last = [
    lut[3 * LUT_SIZE - 3],
    lut[3 * LUT_SIZE - 2],
    lut[3 * LUT_SIZE - 1],
    255,
  ];
  const full = { range: 'full', skipDiagonal: false, symmetric: false };

  it('spans min to max, ignores NaN, and can skip the diagonal or centre on 0', () => {
    const m = new Float32Array([1, 0.25, NaN, 1]);
    expect(colourRangeOf(m, 2, full)).toEqual({ lo: 0.25, hi: 1 });
    expect(colourRangeOf(m, 2, { ...full, skipDiagonal: true })?.hi).toBe(0.25);
    const d = new Float32Array([-0.5, 2]);
    expect(colourRangeOf(d, 2, { ...full, symmetric: true })).toEqual({
      lo: -2,
      hi: 2,
    });
    expect(colourRangeOf(new Float32Array([NaN]), 1, full)).toBeNull();
  });

  it('robust range is the 1st to 99th percentile, so outliers do not set it', () => {
    const values = Float32Array.from({ length: 1001 }, (_, i) => i / 1000);
    values[0] = -1e6; // one huge outlier
    const range = colourRangeOf(values, 1001, { ...full, range: 'robust' })!;
    expect(range.lo).toBeCloseTo(
      quantile(
        [...values].sort((a, b) => a - b),
        0.01,
      ),
      6,
    );
    expect(range.lo).toBeGreaterThan(0);
    expect(range.hi).toBeCloseTo(0.99, 6);
  });

  it('paints display cell (r, c) from original (rowOrder[r], colOrder[c])', () => {
    // prettier-ignore
    const m = new Float32Array([
      0, 10,
      NaN, 5,
    ]);
    const rgba = new Uint8ClampedArray(16);
    const swapped = new Int32Array([1, 0]);
    paintMatrix(
      m,
      2,
      swapped,
      swapped,
      { lo: 0, hi: 10 },
      lut,
      NAN_COLOUR,
      rgba,
    );
    const mid = viridis(Math.round(0.5 * (LUT_SIZE - 1)) / (LUT_SIZE - 1));
    expect(pixel(rgba, 2, 0, 0)).toEqual([...mid, 255]); // original (1, 1) = 5
    expect(pixel(rgba, 2, 0, 1)).toEqual([...NAN_COLOUR]); // original (1, 0)
    expect(pixel(rgba, 2, 1, 0)).toEqual(last); // original (0, 1) = 10
    expect(pixel(rgba, 2, 1, 1)).toEqual(first); // original (0, 0) = 0
  });

  it('is perceptually ordered: lightness rises along the map', () => {
    // CIE L* from sRGB; 8-bit rounding may dip it by a few hundredths, far
    // below the ~1 unit a viewer can see, hence the 0.1 allowance.
    const linear = (v: number) => {
      const s = v / 255;
      return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    };
    const lightness = Array.from({ length: LUT_SIZE }, (_, i) => {
      const [r, g, b] = [lut[3 * i]!, lut[3 * i + 1]!, lut[3 * i + 2]!];
      const y = 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
      return y > 216 / 24389 ? 116 * Math.cbrt(y) - 16 : (24389 / 27) * y;
    });
    for (let i = 1; i < LUT_SIZE; i++) {
      expect(lightness[i]!).toBeGreaterThan(lightness[i - 1]! - 0.1);
    }
    expect(lightness[LUT_SIZE - 1]! - lightness[0]!).toBeGreaterThan(70);
  });

  it('diverges through grey for differences: even lightness on both sides', () => {
    const diverging = coolWarmLut();
    const entry = (i: number) =>
      Array.from(diverging.subarray(3 * i, 3 * i + 3)) as [
        number,
        number,
        number,
      ];
    // 8-bit rounding of the CIELAB path moves a channel by at most 1.
    const near = (a: number[], b: readonly number[]) =>
      a.every((v, k) => Math.abs(v - (b[k] as number)) <= 1);
    expect(near(entry(0), COOL_WARM_ANCHORS[0]!)).toBe(true);
    expect(near(entry(LUT_SIZE - 1), COOL_WARM_ANCHORS[2]!)).toBe(true);
    const lightness = Array.from(
      { length: LUT_SIZE },
      (_, i) => srgbToLab(entry(i))[0],
    );
    const middle = LUT_SIZE / 2;
    for (let i = 1; i < middle; i++) {
      // Lightness rises to the middle and falls after it; 8-bit rounding
      // may move L* by ~0.3 while a step is ~0.4, hence the allowance.
      expect(lightness[i]!).toBeGreaterThan(lightness[i - 1]! - 0.5);
      expect(lightness[LUT_SIZE - i]!).toBeLessThan(
        lightness[LUT_SIZE - i - 1]! + 0.5,
      );
    }
    expect(lightness[middle]! - lightness[0]!).toBeGreaterThan(40);
    // Moreland's end colours differ by ~1 unit of L*; the path keeps that.
    for (let i = 0; i < LUT_SIZE; i++) {
      expect(
        Math.abs(lightness[i]! - lightness[LUT_SIZE - 1 - i]!),
      ).toBeLessThan(2);
    }
    for (const colour of [
      [0, 0, 0],
      [255, 255, 255],
      [12, 200, 99],
    ] as const) {
      expect(labToSrgb(srgbToLab(colour))).toEqual([...colour]);
    }
  });

  it('labels ticks briefly', () => {
    expect(formatTick(0.123456)).toBe('0.123');
    expect(formatTick(-2)).toBe('\u22122');
    expect(formatTick(12345)).toBe('1.23e+4');
    expect(niceTicks(2.56e-4, 1)).toEqual([0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(-0.3, 0.7)).toEqual([-0.2, 0, 0.2, 0.4, 0.6]);
    expect(niceTicks(3, 3)).toEqual([3]);
  });
});

describe('zoom', () => {
  it('round-trips through the synced list; bad or stale zooms show everything', () => {
    expect(viewportOf([], 4, 6)).toEqual({
      row0: 0,
      row1: 4,
      col0: 0,
      col1: 6,
    });
    expect(viewportOf([1, 3, 2, 6], 4, 6)).toEqual({
      row0: 1,
      row1: 3,
      col0: 2,
      col1: 6,
    });
    expect(viewportOf([1, 9, 2, 6], 4, 6)).toEqual(viewportOf([], 4, 6));
    expect(zoomOf(viewportOf([1, 3, 2, 6], 4, 6), 4, 6)).toEqual([1, 3, 2, 6]);
    expect(zoomOf(viewportOf([], 4, 6), 4, 6)).toEqual([]);
  });

  it('maps pixels to cells of the zoomed view', () => {
    const view = viewportOf([10, 20, 0, 40], 100, 100);
    // 10 rows over 200 px, 40 columns over 400 px.
    expect(cellAt(view, 0, 0, 400, 200)).toEqual({ r: 10, c: 0 });
    expect(cellAt(view, 399.9, 199.9, 400, 200)).toEqual({ r: 19, c: 39 });
    expect(cellAt(view, 105, 45, 400, 200)).toEqual({ r: 12, c: 10 });
    expect(cellAt(view, 400, 10, 400, 200)).toBeNull();
  });

  it('zooms a dragged rectangle to the cells it touches, either direction', () => {
    expect(rectangleZoom({ r: 7, c: 2 }, { r: 3, c: 5 })).toEqual({
      row0: 3,
      row1: 8,
      col0: 2,
      col1: 6,
    });
  });

  it('zooms a click to its class block, then halves around the cell', () => {
    const labels = new Int32Array([0, 0, 0, 0, 1, 1, 1, 1]);
    const runs = classRuns(labels, identity(8));
    const whole = viewportOf([], 8, 8);
    const block = clickZoom(whole, { r: 5, c: 1 }, runs, runs)!;
    expect(block).toEqual({ row0: 4, row1: 8, col0: 0, col1: 4 });
    // Inside the class block, a click halves the view around the cell.
    expect(clickZoom(block, { r: 7, c: 0 }, runs, runs)).toEqual({
      row0: 6,
      row1: 8,
      col0: 0,
      col1: 2,
    });
    // Without classes, straight to halving; a single cell stays put.
    expect(clickZoom(whole, { r: 0, c: 0 }, [], [])).toEqual({
      row0: 0,
      row1: 4,
      col0: 0,
      col1: 4,
    });
    expect(
      clickZoom(viewportOf([2, 3, 2, 3], 8, 8), { r: 2, c: 2 }, [], []),
    ).toBeNull();
  });
});

describe('tooltip', () => {
  it('reports original indices, the shown value and both labels', () => {
    const labels = new Int32Array([1, 0, 1]);
    const layout = arrange(3, 3, labels, new Int32Array(0), true);
    // Display order is [1, 0, 2]; m[i][j] = 10 i + j.
    const m = Float32Array.from(
      { length: 9 },
      (_, cell) => 10 * Math.floor(cell / 3) + (cell % 3),
    );
    const info = lookup(m, 3, layout, { r: 0, c: 2 });
    expect(info).toEqual({ i: 1, j: 2, value: 12, rowLabel: 0, colLabel: 1 });
    expect(tooltipLines(info, 'NTK', ['cat', 'dog'])).toEqual([
      'row i = 1, column j = 2',
      'NTK = 12.0000',
      'class of i: cat, class of j: dog',
    ]);
    const unlabelled = arrange(
      3,
      3,
      new Int32Array(0),
      new Int32Array(0),
      true,
    );
    const nan = lookup(new Float32Array(9).fill(NaN), 3, unlabelled, {
      r: 2,
      c: 1,
    });
    expect(tooltipLines(nan, 'K', [])).toEqual([
      'row i = 2, column j = 1',
      'K = not computed yet',
    ]);
  });

  it('sits beside the pointer towards the middle of the matrix', () => {
    const plot = { x: 30, y: 10, width: 300, height: 200 };
    const size = { width: 120, height: 50 };
    // Top-left quarter: right of and below the pointer.
    expect(tooltipPosition({ x: 20, y: 20 }, size, plot, 10)).toEqual({
      x: 60,
      y: 40,
    });
    // Bottom-right quarter: left of and above it, inside the widget.
    expect(tooltipPosition({ x: 290, y: 190 }, size, plot, 10)).toEqual({
      x: 190,
      y: 140,
    });
  });
});
