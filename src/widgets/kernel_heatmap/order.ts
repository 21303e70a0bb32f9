/**
 * Class-sorted order of rows and columns, and the class runs it forms.
 *
 * The view draws display position `p` from original index `order[p]`; the
 * tooltip maps back through the same array, so it always reports original
 * indices.
 */

/** 0, 1, ..., n - 1. */
export function identityOrder(n: number): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    order[i] = i;
  }
  return order;
}

/**
 * Indices sorted by label, stably (inputs keep their order within a class).
 * Without labels (length other than `n`) the order is the identity.
 */
export function classOrder(labels: Int32Array, n: number): Int32Array {
  const order = identityOrder(n);
  if (labels.length !== n) {
    return order;
  }
  // Array.prototype.sort is stable (ES2019); ties fall back on the index for
  // engines that are not.
  return order.sort(
    (a, b) => (labels[a] as number) - (labels[b] as number) || a - b,
  );
}

/** A run of equal labels in display order: positions [start, end). */
export interface ClassRun {
  label: number;
  start: number;
  end: number;
}

/** The runs of equal labels along `order` (one per class once sorted). */
export function classRuns(labels: Int32Array, order: Int32Array): ClassRun[] {
  const runs: ClassRun[] = [];
  if (labels.length !== order.length) {
    return runs;
  }
  let start = 0;
  for (let p = 1; p <= order.length; p++) {
    const label = labels[order[start] as number] as number;
    if (p === order.length || labels[order[p] as number] !== label) {
      runs.push({ label, start, end: p });
      start = p;
    }
  }
  return runs;
}

/** The run holding display position `p`, or null. */
export function runAt(runs: readonly ClassRun[], p: number): ClassRun | null {
  return runs.find(run => run.start <= p && p < run.end) ?? null;
}

/** Display order of rows and columns, with the labels along each. */
export interface Arrangement {
  rowOrder: Int32Array;
  colOrder: Int32Array;
  rowLabels: Int32Array | null;
  colLabels: Int32Array | null;
}

/**
 * How rows and columns are arranged. A square matrix without column labels
 * is taken to be train x train: its columns get the row labels and the same
 * order, so classes form diagonal blocks.
 */
export function arrange(
  rows: number,
  cols: number,
  rowLabels: Int32Array,
  colLabels: Int32Array,
  sortByClass: boolean,
): Arrangement {
  const rowL = rowLabels.length === rows && rows > 0 ? rowLabels : null;
  let colL = colLabels.length === cols && cols > 0 ? colLabels : null;
  if (colL === null && rowL !== null && rows === cols) {
    colL = rowL;
  }
  const order = (labels: Int32Array | null, n: number) =>
    sortByClass && labels !== null ? classOrder(labels, n) : identityOrder(n);
  return {
    rowOrder: order(rowL, rows),
    colOrder: order(colL, cols),
    rowLabels: rowL,
    colLabels: colL,
  };
}
