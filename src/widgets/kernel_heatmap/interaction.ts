/**
 * Pointer and keyboard interaction with the heatmap canvas: hover tooltip,
 * click-to-zoom on a class block, dragged-rectangle zoom, and zooming out by
 * double-click or Escape. It reads what is drawn through `PlotScene` and
 * reports zooms to the view, which writes them to the model.
 */

import type { PlotGeometry } from './draw';
import type { ClassRun } from './order';
import {
  type Cell,
  cellAt,
  clickZoom,
  type Point,
  rectangleZoom,
  tooltipPosition,
  type Viewport,
} from './zoom';

/** Pointer travel, in CSS pixels, that makes a press a drag, not a click. */
const DRAG_THRESHOLD_PX = 4;
/** Gap between the pointer and the tooltip. */
const TOOLTIP_OFFSET_PX = 14;

/** What the canvas shows now, as the last draw left it. */
export interface PlotScene {
  geometry: PlotGeometry;
  view: Viewport;
  rowRuns: readonly ClassRun[];
  colRuns: readonly ClassRun[];
  /** The tooltip's lines for a display cell; null when nothing is shown. */
  describe(cell: Cell): string[] | null;
}

/** The elements the interaction works on, all inside the plot container. */
export interface PlotElements {
  canvas: HTMLCanvasElement;
  selection: HTMLElement;
  tooltip: HTMLElement;
}

/**
 * Wire pointer and key events of `elements.canvas`; `zoomTo` receives the
 * viewport to show, or null to show everything. Returns the handle the view
 * uses to refresh the tooltip after a redraw and to remove the listeners.
 */
export function attachInteraction(
  elements: PlotElements,
  scene: () => PlotScene,
  zoomTo: (view: Viewport | null) => void,
): { refresh: () => void; dispose: () => void } {
  const { canvas, selection, tooltip } = elements;
  let hover: Point | null = null;
  let press: (Point & { cell: Cell }) | null = null;

  const pointer = (event: MouseEvent): Point => {
    const box = canvas.getBoundingClientRect();
    const { geometry } = scene();
    return {
      x: event.clientX - box.left - geometry.x,
      y: event.clientY - box.top - geometry.y,
    };
  };
  const cellUnder = (p: Point): Cell | null => {
    const { view, geometry } = scene();
    return cellAt(view, p.x, p.y, geometry.width, geometry.height);
  };
  // A drag may end outside the matrix; it then stops at the edge.
  const clampedCell = (p: Point): Cell => {
    const { view, geometry } = scene();
    return (
      cellUnder({
        x: Math.min(Math.max(p.x, 0), geometry.width - 1e-6),
        y: Math.min(Math.max(p.y, 0), geometry.height - 1e-6),
      }) ?? { r: view.row0, c: view.col0 }
    );
  };
  const travel = (p: Point): number =>
    press === null ? 0 : Math.hypot(p.x - press.x, p.y - press.y);

  function refresh(): void {
    const cell = hover && press === null ? cellUnder(hover) : null;
    const lines = cell && scene().describe(cell);
    if (!lines || hover === null) {
      tooltip.hidden = true;
      return;
    }
    tooltip.replaceChildren(
      ...lines.map(line => {
        const div = document.createElement('div');
        div.textContent = line;
        return div;
      }),
    );
    tooltip.hidden = false;
    const at = tooltipPosition(
      hover,
      { width: tooltip.offsetWidth, height: tooltip.offsetHeight },
      scene().geometry,
      TOOLTIP_OFFSET_PX,
    );
    tooltip.style.left = `${at.x}px`;
    tooltip.style.top = `${at.y}px`;
  }

  const onPointerDown = (event: PointerEvent): void => {
    const p = pointer(event);
    const cell = cellUnder(p);
    if (event.button !== 0 || cell === null) {
      return;
    }
    press = { ...p, cell };
    canvas.setPointerCapture?.(event.pointerId);
  };
  const onPointerMove = (event: PointerEvent): void => {
    const p = pointer(event);
    hover = p;
    if (press !== null && travel(p) >= DRAG_THRESHOLD_PX) {
      const { geometry } = scene();
      const x0 = Math.max(0, Math.min(press.x, p.x));
      const y0 = Math.max(0, Math.min(press.y, p.y));
      const x1 = Math.min(geometry.width, Math.max(press.x, p.x));
      const y1 = Math.min(geometry.height, Math.max(press.y, p.y));
      selection.hidden = false;
      selection.style.left = `${geometry.x + x0}px`;
      selection.style.top = `${geometry.y + y0}px`;
      selection.style.width = `${x1 - x0}px`;
      selection.style.height = `${y1 - y0}px`;
    }
    refresh();
  };
  const onPointerUp = (event: PointerEvent): void => {
    if (press === null) {
      return;
    }
    const p = pointer(event);
    const dragged = travel(p) >= DRAG_THRESHOLD_PX;
    const start = press.cell;
    press = null;
    selection.hidden = true;
    const { view, rowRuns, colRuns } = scene();
    const next = dragged
      ? rectangleZoom(start, clampedCell(p))
      : clickZoom(view, start, rowRuns, colRuns);
    if (next !== null) {
      zoomTo(next);
    }
    refresh();
  };
  const onPointerLeave = (): void => {
    hover = null;
    refresh();
  };
  const onReset = (): void => zoomTo(null);
  const onKey = (event: KeyboardEvent): void => {
    if (event.key === 'Escape') {
      onReset();
    }
  };

  canvas.addEventListener('pointerdown', onPointerDown);
  canvas.addEventListener('pointermove', onPointerMove);
  canvas.addEventListener('pointerup', onPointerUp);
  canvas.addEventListener('pointerleave', onPointerLeave);
  canvas.addEventListener('dblclick', onReset);
  canvas.addEventListener('keydown', onKey);

  return {
    refresh,
    dispose: () => {
      canvas.removeEventListener('pointerdown', onPointerDown);
      canvas.removeEventListener('pointermove', onPointerMove);
      canvas.removeEventListener('pointerup', onPointerUp);
      canvas.removeEventListener('pointerleave', onPointerLeave);
      canvas.removeEventListener('dblclick', onReset);
      canvas.removeEventListener('keydown', onKey);
    },
  };
}
