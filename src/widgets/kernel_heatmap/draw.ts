/**
 * Canvas drawing of the heatmap: the matrix (scaled from a one-pixel-per-cell
 * image), class strips, boundaries and names, and the colour bar. Colours
 * other than the colour maps come from JupyterLab's theme variables, read by
 * the caller through `Theme`.
 */

import { categoricalColour, LUT_SIZE } from '../colormap';
import {
  type ColourRange,
  formatTick,
  niceTicks,
  type Rgba,
} from './colour_scale';
import type { ClassRun } from './order';
import { className, pixelOf, type Viewport } from './zoom';

/** Longest side of the matrix on screen, in CSS pixels. */
export const PLOT_SIZE_PX = 320;
/** Shortest side, so very thin matrices stay visible. */
const MIN_SIDE_PX = 24;
/** Width of the class-label strips beside the rows and above the columns. */
const LABEL_STRIP_PX = 6;
const LABEL_GAP_PX = 3;
/** Colour bar: bar width, tick length and the gap before tick labels. */
const BAR_WIDTH_PX = 14;
const TICK_PX = 4;
const TICK_GAP_PX = 4;

/** Theme colours and font, read from the --jp-* CSS variables. */
export interface Theme {
  background: string;
  missing: string;
  border: string;
  text: string;
  tick: string;
  font: string;
  fontSize: number;
}

/** Where the matrix lies on the canvas, in CSS pixels. */
export interface PlotGeometry {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * On-screen size of a `rows` x `cols` view: the longest side `PLOT_SIZE_PX`,
 * snapped to whole device pixels per cell when that costs at most a quarter
 * of the size, so every cell is drawn the same size.
 */
export function plotSize(
  rows: number,
  cols: number,
  dpr: number,
): [number, number] {
  if (rows === 0 || cols === 0) {
    return [PLOT_SIZE_PX, PLOT_SIZE_PX];
  }
  const longest = Math.max(rows, cols);
  const cellPx = Math.floor((PLOT_SIZE_PX * dpr) / longest);
  const snapped = cellPx >= 1 && cellPx * longest >= 0.75 * PLOT_SIZE_PX * dpr;
  const scale = snapped ? cellPx / dpr : PLOT_SIZE_PX / longest;
  return [
    Math.max(MIN_SIDE_PX, cols * scale),
    Math.max(MIN_SIDE_PX, rows * scale),
  ];
}

/** Runs clipped to the positions [start, end) shown. */
function visibleRuns(
  runs: readonly ClassRun[],
  start: number,
  end: number,
): ClassRun[] {
  return runs
    .filter(run => run.end > start && run.start < end)
    .map(run => ({
      ...run,
      start: Math.max(run.start, start),
      end: Math.min(run.end, end),
    }));
}

/** What the heatmap canvas draws. */
export interface MatrixScene {
  /** One pixel per cell, display order; null while there is no data. */
  cells: HTMLCanvasElement | null;
  view: Viewport;
  rowRuns: readonly ClassRun[];
  colRuns: readonly ClassRun[];
  classNames: readonly string[];
}

/**
 * Size `canvas` and draw the scene; returns where the matrix went, for
 * pointer handling.
 */
export function drawMatrix(
  canvas: HTMLCanvasElement,
  scene: MatrixScene,
  theme: Theme,
  dpr: number,
): PlotGeometry {
  const { view, rowRuns, colRuns } = scene;
  const [width, height] = plotSize(
    view.row1 - view.row0,
    view.col1 - view.col0,
    dpr,
  );
  const context = canvas.getContext('2d');
  const rows = visibleRuns(rowRuns, view.row0, view.row1);
  const cols = visibleRuns(colRuns, view.col0, view.col1);
  const font = `${theme.fontSize}px ${theme.font}`;
  // Names only where a run is tall enough to hold one line of text.
  const y = (p: number) => pixelOf(p, view.row0, view.row1, height);
  const x = (p: number) => pixelOf(p, view.col0, view.col1, width);
  const named = rows.filter(run => y(run.end) - y(run.start) >= theme.fontSize);
  let namesWidth = 0;
  if (context !== null && named.length > 0) {
    context.font = font;
    namesWidth =
      Math.ceil(
        Math.max(
          ...named.map(
            run =>
              context.measureText(className(run.label, scene.classNames)).width,
          ),
        ),
      ) + LABEL_GAP_PX;
  }
  const left =
    rowRuns.length > 0 ? namesWidth + LABEL_STRIP_PX + LABEL_GAP_PX : 0;
  const top = colRuns.length > 0 ? LABEL_STRIP_PX + LABEL_GAP_PX : 0;
  const geometry = { x: left, y: top, width, height };

  canvas.width = Math.round((left + width) * dpr);
  canvas.height = Math.round((top + height) * dpr);
  canvas.style.width = `${left + width}px`;
  canvas.style.height = `${top + height}px`;
  if (context === null) {
    return geometry;
  }
  context.setTransform(dpr, 0, 0, dpr, 0, 0);
  context.clearRect(0, 0, left + width, top + height);

  if (scene.cells !== null) {
    const shownCols = view.col1 - view.col0;
    const shownRows = view.row1 - view.row0;
    // Upscaling keeps cells crisp; downscaling averages them so large
    // kernels do not alias into moire.
    context.imageSmoothingEnabled =
      shownCols > width * dpr || shownRows > height * dpr;
    context.drawImage(
      scene.cells,
      view.col0,
      view.row0,
      shownCols,
      shownRows,
      left,
      top,
      width,
      height,
    );
  } else {
    context.fillStyle = theme.missing;
    context.fillRect(left, top, width, height);
  }

  // Class strips, then boundaries in the page background colour: they
  // separate blocks in any theme without a colour of their own.
  for (const run of rows) {
    context.fillStyle = categoricalColour(run.label);
    context.fillRect(
      left - LABEL_STRIP_PX - LABEL_GAP_PX,
      top + y(run.start),
      LABEL_STRIP_PX,
      y(run.end) - y(run.start),
    );
  }
  for (const run of cols) {
    context.fillStyle = categoricalColour(run.label);
    context.fillRect(
      left + x(run.start),
      0,
      x(run.end) - x(run.start),
      LABEL_STRIP_PX,
    );
  }
  context.strokeStyle = theme.background;
  context.lineWidth = 1;
  context.beginPath();
  for (const run of rows.slice(1)) {
    const at = Math.round(top + y(run.start)) + 0.5;
    context.moveTo(left, at);
    context.lineTo(left + width, at);
  }
  for (const run of cols.slice(1)) {
    const at = Math.round(left + x(run.start)) + 0.5;
    context.moveTo(at, top);
    context.lineTo(at, top + height);
  }
  context.stroke();

  context.font = font;
  context.fillStyle = theme.text;
  context.textAlign = 'right';
  context.textBaseline = 'middle';
  for (const run of named) {
    context.fillText(
      className(run.label, scene.classNames),
      namesWidth - LABEL_GAP_PX,
      top + (y(run.start) + y(run.end)) / 2,
    );
  }
  context.strokeStyle = theme.border;
  context.strokeRect(left + 0.5, top + 0.5, width - 1, height - 1);
  return geometry;
}

/**
 * Draw the colour bar for `range` (null: an empty grey bar) beside a matrix
 * `height` pixels tall that starts `top` pixels down its canvas.
 */
export function drawColourbar(
  canvas: HTMLCanvasElement,
  range: ColourRange | null,
  lut: Uint8ClampedArray,
  theme: Theme,
  height: number,
  top: number,
  dpr: number,
): void {
  const context = canvas.getContext('2d');
  if (context === null) {
    return;
  }
  const font = `${theme.fontSize}px ${theme.font}`;
  const ticks =
    range === null
      ? []
      : niceTicks(range.lo, range.hi).map(v => ({
          text: formatTick(v),
          // Top is hi; a zero-width range puts its one tick mid-bar.
          t: range.hi > range.lo ? (range.hi - v) / (range.hi - range.lo) : 0.5,
        }));
  context.font = font;
  const labelWidth = Math.max(
    0,
    ...ticks.map(tick => context.measureText(tick.text).width),
  );
  // Room above and below the bar for labels centred on its end ticks; the
  // canvas is shifted up by the same amount so the bar lines up with the
  // matrix.
  const pad = Math.ceil(theme.fontSize / 2);
  const width = Math.ceil(
    BAR_WIDTH_PX + TICK_PX + TICK_GAP_PX + labelWidth + 1,
  );
  canvas.width = Math.round(width * dpr);
  canvas.height = Math.round((height + 2 * pad) * dpr);
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height + 2 * pad}px`;
  canvas.style.marginTop = `${top - pad}px`;
  // Resizing resets the context state, so the font is set again.
  context.setTransform(dpr, 0, 0, dpr, 0, pad * dpr);
  context.font = font;

  if (range === null) {
    context.fillStyle = theme.missing;
  } else {
    const gradient = context.createLinearGradient(0, height, 0, 0);
    for (let i = 0; i < LUT_SIZE; i++) {
      gradient.addColorStop(
        i / (LUT_SIZE - 1),
        `rgb(${lut[3 * i]}, ${lut[3 * i + 1]}, ${lut[3 * i + 2]})`,
      );
    }
    context.fillStyle = gradient;
  }
  context.fillRect(0, 0, BAR_WIDTH_PX, height);
  context.strokeStyle = theme.border;
  context.lineWidth = 1;
  context.strokeRect(0.5, 0.5, BAR_WIDTH_PX - 1, height - 1);

  context.fillStyle = theme.text;
  context.strokeStyle = theme.tick;
  context.textBaseline = 'middle';
  for (const tick of ticks) {
    // Half-pixel offset puts a 1-pixel line on a pixel row, not between.
    const y = Math.round(tick.t * (height - 1)) + 0.5;
    context.beginPath();
    context.moveTo(BAR_WIDTH_PX, y);
    context.lineTo(BAR_WIDTH_PX + TICK_PX, y);
    context.stroke();
    context.fillText(tick.text, BAR_WIDTH_PX + TICK_PX + TICK_GAP_PX, y);
  }
}

/** Parsed CSS colours; themes use a handful, parsed once each. */
const colourCache = new Map<string, Rgba>();
let colourContext: CanvasRenderingContext2D | null = null;

/** Parse a CSS colour into RGBA bytes by painting it on a 1x1 canvas. */
export function cssColourToRgba(colour: string): Rgba {
  const cached = colourCache.get(colour);
  if (cached !== undefined) {
    return cached;
  }
  colourContext ??= document
    .createElement('canvas')
    .getContext('2d', { willReadFrequently: true });
  if (colourContext === null) {
    return [0, 0, 0, 0];
  }
  colourContext.clearRect(0, 0, 1, 1);
  colourContext.fillStyle = colour;
  colourContext.fillRect(0, 0, 1, 1);
  const [r = 0, g = 0, b = 0, a = 0] = colourContext.getImageData(
    0,
    0,
    1,
    1,
  ).data;
  const rgba: Rgba = [r, g, b, a];
  colourCache.set(colour, rgba);
  return rgba;
}
