/**
 * Data handling of the kernel heatmap view (src/widgets/kernel_heatmap.ts):
 * decoding block buffers into the matrix, and colouring by the colour range.
 */

import { LUT_SIZE, viridis, viridisLut } from '../colormap';
import {
  applyBlockMessage,
  colourRange,
  decodeFloat32,
  formatTick,
  HeatmapMatrix,
  KERNEL_HEATMAP_DEFAULTS,
  type KernelHeatmapModel,
  niceTicks,
  paintBlock,
  type Rgba,
} from '../kernel_heatmap';
import type { AnyModel } from '../types';

const NAN_COLOUR: Rgba = [1, 2, 3, 255];

/** A model holding an all-NaN `rows` x `cols` matrix; no events. */
function mockModel(rows: number, cols: number): AnyModel<KernelHeatmapModel> {
  const state: KernelHeatmapModel = {
    ...KERNEL_HEATMAP_DEFAULTS,
    n_rows: rows,
    n_cols: cols,
    values: new Float32Array(rows * cols).fill(NaN),
  };
  return {
    get: key => state[key],
    on: () => undefined,
    off: () => undefined,
  };
}

function pixel(rgba: Uint8ClampedArray, cols: number, r: number, c: number) {
  const i = 4 * (r * cols + c);
  return Array.from(rgba.subarray(i, i + 4));
}

describe('block buffers', () => {
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

  it('land in the model matrix at their offset, row-major', () => {
    const model = mockModel(3, 4);
    const data = new Float32Array([1, 2, 3, 4]);
    const header = { type: 'block', row0: 1, col0: 2, rows: 2, cols: 2 };
    expect(
      applyBlockMessage(model, header, [new DataView(data.buffer)]),
    ).toEqual({ row0: 1, col0: 2, rows: 2, cols: 2 });
    // prettier-ignore
    expect(Array.from(model.get('values'))).toEqual([
      NaN, NaN, NaN, NaN,
      NaN, NaN, 1, 2,
      NaN, NaN, 3, 4,
    ]);
    expect(HeatmapMatrix.fromModel(model)?.hasData()).toBe(true);
  });

  it('that do not fit, or are not blocks, change nothing', () => {
    const model = mockModel(2, 2);
    const data = new DataView(new Float32Array([1, 2, 3, 4]).buffer);
    const outside = { type: 'block', row0: 1, col0: 0, rows: 2, cols: 2 };
    expect(applyBlockMessage(model, outside, [data])).toBeNull();
    expect(applyBlockMessage(model, { type: 'other' }, [data])).toBeNull();
    expect(model.get('values').some(Number.isFinite)).toBe(false);
  });
});

describe('colour range', () => {
  const lut = viridisLut();
  const first = [lut[0], lut[1], lut[2], 255];
  const last = [
    lut[3 * LUT_SIZE - 3],
    lut[3 * LUT_SIZE - 2],
    lut[3 * LUT_SIZE - 1],
    255,
  ];

  it('maps vmin and vmax to the ends of the colour map, NaN apart', () => {
    const matrix = new HeatmapMatrix(1, 3, new Float32Array([0, 10, NaN]));
    const rgba = new Uint8ClampedArray(4 * 3);
    paintBlock(
      matrix,
      matrix.whole,
      colourRange(0, 10)!,
      lut,
      NAN_COLOUR,
      rgba,
    );
    expect(pixel(rgba, 3, 0, 0)).toEqual(first);
    expect(pixel(rgba, 3, 0, 1)).toEqual(last);
    expect(pixel(rgba, 3, 0, 2)).toEqual([...NAN_COLOUR]);
  });

  it('recolours when the range widens', () => {
    const matrix = new HeatmapMatrix(1, 2, new Float32Array([0, 10]));
    const rgba = new Uint8ClampedArray(4 * 2);
    paintBlock(
      matrix,
      matrix.whole,
      colourRange(0, 10)!,
      lut,
      NAN_COLOUR,
      rgba,
    );
    const before = pixel(rgba, 2, 0, 1);
    paintBlock(
      matrix,
      matrix.whole,
      colourRange(0, 20)!,
      lut,
      NAN_COLOUR,
      rgba,
    );
    const mid = viridis(Math.round(0.5 * (LUT_SIZE - 1)) / (LUT_SIZE - 1));
    expect(pixel(rgba, 2, 0, 1)).toEqual([...mid, 255]);
    expect(pixel(rgba, 2, 0, 1)).not.toEqual(before);
    expect(colourRange(NaN, 1)).toBeNull();
    expect(colourRange(2, 1)).toBeNull();
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

  it('labels ticks briefly', () => {
    expect(formatTick(0.123456)).toBe('0.123');
    expect(formatTick(-2)).toBe('\u22122');
    expect(formatTick(12345)).toBe('1.23e+4');
    expect(niceTicks(2.56e-4, 1)).toEqual([0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(-0.3, 0.7)).toEqual([-0.2, 0, 0.2, 0.4, 0.6]);
    expect(niceTicks(3, 3)).toEqual([3]);
  });
});
