/**
 * The picture a heatmap view paints: the shown matrix (kernel, difference or
 * correlation), its colour range, the class-sorted arrangement, and the
 * matrix coloured at one pixel per cell. Each is recomputed only when its
 * inputs change, so hovering and zooming cost no repaint.
 */

import { coolWarmLut, viridisLut } from '../colormap';
import type { AnyModel } from '../types';
import {
  type ColourRange,
  colourRangeOf,
  paintMatrix,
  type Rgba,
} from './colour_scale';
import { type Choice, DIFFERENCE, shownMatrix } from './derive';
import { type KernelHeatmapModel, KernelStack } from './model';
import { type Arrangement, arrange } from './order';

/** What is shown, resolved against what the model holds. */
export interface Shown extends Choice {
  /** The shown matrix in the original order; null if not held. */
  matrix: Float32Array | null;
  range: ColourRange | null;
}

export class Picture {
  /** The coloured matrix, one pixel per cell in display order. */
  readonly cells: HTMLCanvasElement = document.createElement('canvas');
  // Viridis for kernels (ordered magnitudes), cool-warm for the signed
  // difference, whose zero should read as neutral.
  private readonly luts = { ordered: viridisLut(), diverging: coolWarmLut() };
  private image: ImageData | null = null;
  private imageKey = '';
  // Bumped whenever `values` may have changed: block messages write it in
  // place, and Backbone may swap in an equal array without an event.
  private dataVersion = 0;
  private paintedValues: Float32Array | null = null;
  private shownKey = '';
  private shownCache: Shown | null = null;
  private arrangementInputs: readonly unknown[] = [];
  private arrangementVersion = 0;
  private arrangementCache: Arrangement | null = null;

  constructor(private readonly model: AnyModel<KernelHeatmapModel>) {}

  /** Note that `values` changed in place. */
  dataChanged(): void {
    this.dataVersion++;
  }

  /** Which colour map `shown` is drawn with. */
  lut(shown: Shown): Uint8ClampedArray {
    return shown.kernel === DIFFERENCE
      ? this.luts.diverging
      : this.luts.ordered;
  }

  /** Row and column order, recomputed when labels, shape or sorting change. */
  arrangement(): Arrangement {
    const m = this.model;
    const inputs = [
      m.get('n_rows'),
      m.get('n_cols'),
      m.get('row_labels'),
      m.get('col_labels'),
      m.get('sort_by_class'),
    ] as const;
    // Label arrays are replaced, never edited in place, so comparing them by
    // identity is enough.
    if (
      this.arrangementCache === null ||
      inputs.some((input, i) => input !== this.arrangementInputs[i])
    ) {
      this.arrangementInputs = inputs;
      this.arrangementVersion++;
      this.arrangementCache = arrange(...inputs);
    }
    return this.arrangementCache;
  }

  /** The shown matrix and its colour range for `choice`. */
  shown(choice: Choice, stack: KernelStack | null): Shown {
    if (stack !== null && stack.values !== this.paintedValues) {
      this.paintedValues = stack.values;
      this.dataVersion++;
    }
    const range = this.model.get('color_range');
    const key = [this.dataVersion, choice.kernel, choice.mode, range].join('|');
    if (this.shownCache === null || key !== this.shownKey) {
      this.shownKey = key;
      const matrix = stack && shownMatrix(stack, choice);
      this.shownCache = {
        ...choice,
        matrix,
        range:
          matrix &&
          colourRangeOf(matrix, stack.cols, {
            range,
            skipDiagonal: choice.mode === 'correlation',
            symmetric: choice.kernel === DIFFERENCE,
          }),
      };
    }
    return this.shownCache;
  }

  /**
   * Colour `shown` into `cells` (NaN cells in `nan`) unless it already holds
   * that picture; returns `cells`, or null when there is nothing to show.
   */
  paint(shown: Shown, nan: Rgba): HTMLCanvasElement | null {
    const { matrix, range } = shown;
    const rows = this.model.get('n_rows');
    const cols = this.model.get('n_cols');
    if (matrix === null || matrix.length !== rows * cols) {
      return null;
    }
    const layout = this.arrangement();
    const key = [
      this.shownKey,
      this.arrangementVersion,
      nan.join(','),
      range?.lo,
      range?.hi,
    ].join('|');
    if (
      this.image === null ||
      this.image.width !== cols ||
      this.image.height !== rows
    ) {
      this.cells.width = cols;
      this.cells.height = rows;
      this.image = new ImageData(cols, rows);
      this.imageKey = '';
    }
    if (key !== this.imageKey) {
      this.imageKey = key;
      paintMatrix(
        matrix,
        cols,
        layout.rowOrder,
        layout.colOrder,
        range ?? { lo: 0, hi: 0 },
        this.lut(shown),
        nan,
        this.image.data,
      );
      this.cells.getContext('2d')?.putImageData(this.image, 0, 0);
    }
    return this.cells;
  }
}
