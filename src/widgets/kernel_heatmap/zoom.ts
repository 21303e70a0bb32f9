/**
 * Zoom and pointer geometry: which display cells are shown (the synced
 * `zoom`), which cell is under the pointer, and what a click or a dragged
 * rectangle zooms to. Display cells are in class-sorted order; `lookup`
 * maps them back to the original indices.
 */

import { type Arrangement, type ClassRun, runAt } from './order';

/** The display cells shown: rows [row0, row1) x columns [col0, col1). */
export interface Viewport {
  row0: number;
  row1: number;
  col0: number;
  col1: number;
}

/** A display cell. */
export interface Cell {
  r: number;
  c: number;
}

/** The whole matrix. */
export function fullViewport(rows: number, cols: number): Viewport {
  return { row0: 0, row1: rows, col0: 0, col1: cols };
}

/**
 * The synced `zoom` as a viewport; `[]`, or one that does not fit the matrix
 * (state saved before a resize), is the whole matrix.
 */
export function viewportOf(
  zoom: readonly number[],
  rows: number,
  cols: number,
): Viewport {
  if (zoom.length === 4) {
    const [row0, row1, col0, col1] = zoom as [number, number, number, number];
    if (
      0 <= row0 &&
      row0 < row1 &&
      row1 <= rows &&
      0 <= col0 &&
      col0 < col1 &&
      col1 <= cols
    ) {
      return { row0, row1, col0, col1 };
    }
  }
  return fullViewport(rows, cols);
}

/** The viewport as the synced `zoom`: `[]` for the whole matrix. */
export function zoomOf(view: Viewport, rows: number, cols: number): number[] {
  const full =
    view.row0 === 0 &&
    view.col0 === 0 &&
    view.row1 === rows &&
    view.col1 === cols;
  return full ? [] : [view.row0, view.row1, view.col0, view.col1];
}

/**
 * The display cell at (x, y), CSS pixels from the plot's top-left corner of
 * a `width` x `height` plot showing `view`; null outside.
 */
export function cellAt(
  view: Viewport,
  x: number,
  y: number,
  width: number,
  height: number,
): Cell | null {
  if (x < 0 || y < 0 || x >= width || y >= height) {
    return null;
  }
  const r = view.row0 + Math.floor((y / height) * (view.row1 - view.row0));
  const c = view.col0 + Math.floor((x / width) * (view.col1 - view.col0));
  return { r: Math.min(r, view.row1 - 1), c: Math.min(c, view.col1 - 1) };
}

/** Where display cell boundary `p` lies along an axis of `size` pixels. */
export function pixelOf(
  p: number,
  start: number,
  end: number,
  size: number,
): number {
  return ((p - start) / (end - start)) * size;
}

/** The viewport spanning two corner cells of a dragged rectangle. */
export function rectangleZoom(a: Cell, b: Cell): Viewport {
  return {
    row0: Math.min(a.r, b.r),
    row1: Math.max(a.r, b.r) + 1,
    col0: Math.min(a.c, b.c),
    col1: Math.max(a.c, b.c) + 1,
  };
}

function sameViewport(a: Viewport, b: Viewport): boolean {
  return (
    a.row0 === b.row0 &&
    a.row1 === b.row1 &&
    a.col0 === b.col0 &&
    a.col1 === b.col1
  );
}

/** `[start, end)` of half the span of [lo, hi), centred on p and kept inside. */
function halve(p: number, lo: number, hi: number): [number, number] {
  const span = Math.max(1, Math.ceil((hi - lo) / 2));
  const start = Math.min(Math.max(lo, p - Math.floor(span / 2)), hi - span);
  return [start, start + span];
}

/**
 * What a click on `cell` zooms to: the class block under it (row class x
 * column class) when classes are drawn and that block is smaller than what
 * is shown; otherwise half the current view in each direction, centred on
 * the cell. Null when already at a single cell.
 */
export function clickZoom(
  view: Viewport,
  cell: Cell,
  rowRuns: readonly ClassRun[],
  colRuns: readonly ClassRun[],
): Viewport | null {
  const rowRun = runAt(rowRuns, cell.r);
  const colRun = runAt(colRuns, cell.c);
  if (rowRun !== null && colRun !== null) {
    const block = {
      row0: Math.max(view.row0, rowRun.start),
      row1: Math.min(view.row1, rowRun.end),
      col0: Math.max(view.col0, colRun.start),
      col1: Math.min(view.col1, colRun.end),
    };
    if (!sameViewport(block, view)) {
      return block;
    }
  }
  if (view.row1 - view.row0 <= 1 && view.col1 - view.col0 <= 1) {
    return null;
  }
  const [row0, row1] = halve(cell.r, view.row0, view.row1);
  const [col0, col1] = halve(cell.c, view.col0, view.col1);
  return { row0, row1, col0, col1 };
}

/** What the tooltip says about one cell, in original indices. */
export interface CellInfo {
  i: number;
  j: number;
  value: number;
  rowLabel: number | null;
  colLabel: number | null;
}

/** The value and labels at display `cell` of the shown (unsorted) matrix. */
export function lookup(
  shown: Float32Array,
  cols: number,
  arrangement: Arrangement,
  cell: Cell,
): CellInfo {
  const i = arrangement.rowOrder[cell.r] as number;
  const j = arrangement.colOrder[cell.c] as number;
  return {
    i,
    j,
    value: shown[i * cols + j] as number,
    rowLabel: arrangement.rowLabels
      ? (arrangement.rowLabels[i] as number)
      : null,
    colLabel: arrangement.colLabels
      ? (arrangement.colLabels[j] as number)
      : null,
  };
}

/** A class label as text: its name if given, else the number. */
export function className(label: number, names: readonly string[]): string {
  return names[label] ?? String(label);
}

/** The tooltip's lines for `info` of the quantity called `what`. */
export function tooltipLines(
  info: CellInfo,
  what: string,
  names: readonly string[],
): string[] {
  const value = Number.isNaN(info.value)
    ? 'not computed yet'
    : info.value.toPrecision(6);
  const lines = [
    `row i = ${info.i}, column j = ${info.j}`,
    `${what} = ${value}`,
  ];
  if (info.rowLabel !== null || info.colLabel !== null) {
    const row =
      info.rowLabel === null ? '\u2014' : className(info.rowLabel, names);
    const col =
      info.colLabel === null ? '\u2014' : className(info.colLabel, names);
    lines.push(`class of i: ${row}, class of j: ${col}`);
  }
  return lines;
}

/** A point or a size in CSS pixels. */
export interface Point {
  x: number;
  y: number;
}

/**
 * Where the tooltip's top-left corner goes, relative to the canvas, for the
 * pointer at `pointer` (relative to the matrix at `plot`): beside the pointer
 * on the side of the matrix's centre, so it stays over the widget (output
 * areas clip what sticks out) and never covers the cell it describes.
 */
export function tooltipPosition(
  pointer: Point,
  size: { width: number; height: number },
  plot: { x: number; y: number; width: number; height: number },
  offset: number,
): Point {
  const right = pointer.x < plot.width / 2;
  const below = pointer.y < plot.height / 2;
  const x = plot.x + pointer.x + (right ? offset : -offset - size.width);
  const y = plot.y + pointer.y + (below ? offset : -offset - size.height);
  return { x: Math.max(0, x), y: Math.max(0, y) };
}
