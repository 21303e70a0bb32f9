/**
 * The view: DOM, event wiring and redraw scheduling. Everything it shows is
 * derived from the synced model (kernel, colour mode, sorting, zoom), so a
 * reloaded notebook draws the same picture, and every user action writes the
 * model rather than view state.
 */

import type { Cleanup, CustomMessageCallback, RenderProps } from '../types';
import { kernelLabel, kernelOptions, modeOptions, Segmented } from './controls';
import { correlationAllowed, DIFFERENCE, kernelChoices } from './derive';
import {
  cssColourToRgba,
  drawColourbar,
  drawMatrix,
  type PlotGeometry,
  type Theme,
} from './draw';
import { attachInteraction, type PlotScene } from './interaction';
import {
  type KernelHeatmapModel,
  KernelStack,
  parseBlocksMessage,
  type WritableModel,
} from './model';
import { type ClassRun, classRuns } from './order';
import { Picture, type Shown } from './picture';
import {
  type Cell,
  lookup,
  tooltipLines,
  type Viewport,
  viewportOf,
  zoomOf,
} from './zoom';

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  parent?: HTMLElement,
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  parent?.appendChild(node);
  return node;
}

/** The count beside the title: "3 / 12 blocks", "1 block", or nothing yet. */
export function progressText(done: number, total: number): string {
  const blocks = (n: number): string => (n === 1 ? 'block' : 'blocks');
  if (total > 0) {
    return `${done} / ${total} ${blocks(total)}`;
  }
  return done > 0 ? `${done} ${blocks(done)}` : '';
}

/**
 * Render a `KernelHeatmap` into `el`; returns a cleanup that removes every
 * listener, observer and pending frame this added.
 */
export function render({
  model: readModel,
  el,
}: RenderProps<KernelHeatmapModel>): Cleanup {
  // The widget manager's models are Backbone models, which can also be
  // written; `RenderProps` types only the reading side all views share.
  const model = readModel as WritableModel<KernelHeatmapModel>;
  el.classList.add('nk-kernel-heatmap-widget');
  const root = element('div', 'nk-kernel-heatmap-root', el);
  const header = element('div', 'nk-kernel-heatmap-header', root);
  const title = element('div', 'nk-kernel-heatmap-title', header);
  const progress = element('div', 'nk-kernel-heatmap-progress', header);
  const bar = element('div', 'nk-kernel-heatmap-progressbar', root);
  const barFill = element('div', 'nk-kernel-heatmap-progressbar-fill', bar);
  const toolbar = element('div', 'nk-kernel-heatmap-toolbar', root);
  const write = <K extends keyof KernelHeatmapModel & string>(
    key: K,
    value: KernelHeatmapModel[K],
  ) => {
    model.set(key, value);
    model.save_changes();
  };
  const kernelButtons = new Segmented('kernel', value =>
    write('kernel', value),
  );
  const modeButtons = new Segmented('colour by', value =>
    write('color_mode', value),
  );
  toolbar.append(kernelButtons.node, modeButtons.node);
  const resetZoom = element('button', 'nk-kernel-heatmap-reset', toolbar);
  resetZoom.type = 'button';
  resetZoom.textContent = 'reset zoom';
  resetZoom.title = 'show the whole matrix (double-click or Escape)';
  const stage = element('div', 'nk-kernel-heatmap-stage', root);
  const plot = element('div', 'nk-kernel-heatmap-plot', stage);
  const canvas = element('canvas', 'nk-kernel-heatmap', plot);
  const empty = element('div', 'nk-kernel-heatmap-empty', plot);
  const selection = element('div', 'nk-kernel-heatmap-selection', plot);
  const tooltip = element('div', 'nk-kernel-heatmap-tooltip', plot);
  const colourbar = element('canvas', 'nk-kernel-heatmap-colorbar', stage);
  const errorBox = element('div', 'nk-kernel-heatmap-error', root);
  errorBox.setAttribute('role', 'alert');
  canvas.setAttribute('role', 'img');
  // Focusable, so Escape can reset the zoom.
  canvas.tabIndex = 0;
  selection.hidden = true;
  tooltip.hidden = true;

  const picture = new Picture(model);
  let geometry: PlotGeometry = { x: 0, y: 0, width: 0, height: 0 };
  let rowRuns: ClassRun[] = [];
  let colRuns: ClassRun[] = [];
  let view: Viewport = { row0: 0, row1: 0, col0: 0, col1: 0 };
  let shown: Shown | null = null;
  let frame: number | null = null;

  const cssVar = (name: string, fallback: string): string => {
    // Theme variables live on :root; read them from `el` once it is in the
    // page so a container that overrides them is honoured.
    const scope = el.isConnected ? el : document.documentElement;
    return getComputedStyle(scope).getPropertyValue(name).trim() || fallback;
  };
  const readTheme = (): Theme => ({
    background: cssVar('--jp-layout-color0', 'white'),
    missing: cssVar('--jp-layout-color2', '#eeeeee'),
    border: cssVar('--jp-border-color1', '#bdbdbd'),
    text: cssVar('--jp-ui-font-color1', '#212121'),
    tick: cssVar('--jp-ui-font-color2', '#616161'),
    font: cssVar('--jp-ui-font-family', 'sans-serif'),
    fontSize: parseFloat(cssVar('--jp-ui-font-size1', '13px')) || 13,
  });

  const schedule = (): void => {
    if (frame === null) {
      frame = requestAnimationFrame(draw);
    }
  };

  const choices = (): string[] => kernelChoices(model.get('kernels'));
  const currentKernel = (): string => {
    const kernel = model.get('kernel');
    return choices().includes(kernel)
      ? kernel
      : (model.get('kernels')[0] ?? '');
  };
  const currentMode = (): string =>
    model.get('color_mode') === 'correlation' &&
    correlationAllowed(model.get('n_rows'), model.get('n_cols'))
      ? 'correlation'
      : 'values';

  const updateText = (): void => {
    const text = model.get('title');
    title.textContent = text;
    title.hidden = text === '';
    canvas.setAttribute('aria-label', text || 'kernel heatmap');
    const done = model.get('blocks_done');
    const total = model.get('blocks_total');
    progress.textContent = progressText(done, total);
    bar.hidden = total === 0;
    // Invisible rather than removed when complete, so the layout holds still.
    bar.style.visibility = done >= total ? 'hidden' : 'visible';
    barFill.style.width = `${total > 0 ? Math.min(100, (100 * done) / total) : 0}%`;
    const error = model.get('error');
    errorBox.textContent = error;
    errorBox.hidden = error === '';
    root.classList.toggle('nk-mod-error', error !== '');
    empty.textContent =
      error === '' ? 'waiting for blocks\u2026' : 'no blocks arrived';
  };

  const updateControls = (): void => {
    kernelButtons.update(kernelOptions(choices()), currentKernel());
    modeButtons.update(
      modeOptions(correlationAllowed(model.get('n_rows'), model.get('n_cols'))),
      currentMode(),
    );
    const zoomed =
      zoomOf(view, model.get('n_rows'), model.get('n_cols')).length > 0;
    resetZoom.hidden = !zoomed;
    toolbar.hidden =
      kernelButtons.node.hidden && modeButtons.node.hidden && !zoomed;
  };

  function draw(): void {
    frame = null;
    const stack = KernelStack.fromModel(model);
    view = viewportOf(
      model.get('zoom'),
      model.get('n_rows'),
      model.get('n_cols'),
    );
    const layout = picture.arrangement();
    shown = picture.shown(
      { kernel: currentKernel(), mode: currentMode() },
      stack,
    );
    const theme = readTheme();
    const dpr = window.devicePixelRatio || 1;
    const hasData = stack !== null && stack.hasData();
    const cells = picture.paint(shown, cssColourToRgba(theme.missing));
    const sorted = model.get('sort_by_class');
    rowRuns =
      layout.rowLabels && sorted
        ? classRuns(layout.rowLabels, layout.rowOrder)
        : [];
    colRuns =
      layout.colLabels && sorted
        ? classRuns(layout.colLabels, layout.colOrder)
        : [];
    geometry = drawMatrix(
      canvas,
      {
        cells,
        view,
        rowRuns,
        colRuns,
        classNames: model.get('class_names'),
      },
      theme,
      dpr,
    );
    empty.style.left = `${geometry.x}px`;
    empty.style.top = `${geometry.y}px`;
    empty.style.width = `${geometry.width}px`;
    empty.style.height = `${geometry.height}px`;
    empty.hidden = hasData;
    drawColourbar(
      colourbar,
      hasData ? shown.range : null,
      picture.lut(shown),
      theme,
      geometry.height,
      geometry.y,
      dpr,
    );
    updateControls();
    interaction.refresh();
  }

  // -- pointer --------------------------------------------------------------

  const describe = (cell: Cell): string[] | null => {
    const values = shown?.matrix;
    if (!values || shown === null) {
      return null;
    }
    const info = lookup(
      values,
      model.get('n_cols'),
      picture.arrangement(),
      cell,
    );
    const what =
      shown.kernel === DIFFERENCE
        ? 'NTK \u2212 NNGP (normalized)'
        : kernelLabel(shown.kernel) +
          (shown.mode === 'correlation' ? ' correlation' : '');
    return tooltipLines(info, what, model.get('class_names'));
  };
  const scene = (): PlotScene => ({
    geometry,
    view,
    rowRuns,
    colRuns,
    describe,
  });
  const zoomTo = (next: Viewport | null): void =>
    write(
      'zoom',
      next === null
        ? []
        : zoomOf(next, model.get('n_rows'), model.get('n_cols')),
    );
  const interaction = attachInteraction(
    { canvas, selection, tooltip },
    scene,
    zoomTo,
  );
  const onReset = (): void => zoomTo(null);

  // -- model listeners --------------------------------------------------------

  const onData = (): void => {
    picture.dataChanged();
    schedule();
  };
  const onLayout = (): void => schedule();
  const onText = (): void => updateText();
  const onCustom: CustomMessageCallback = content => {
    // The model has already written the blocks into `values`
    // (`initializeModel`); the view only redraws.
    if (parseBlocksMessage(content).length > 0) {
      onData();
    }
  };
  // Theme switches change the CSS variables the canvas was painted with.
  const onTheme = (): void => schedule();

  const dataKeys = ['n_rows', 'n_cols', 'kernels', 'values'] as const;
  const layoutKeys = [
    'kernel',
    'color_mode',
    'color_range',
    'row_labels',
    'col_labels',
    'class_names',
    'sort_by_class',
    'zoom',
  ] as const;
  const textKeys = ['title', 'blocks_done', 'blocks_total', 'error'] as const;
  for (const key of dataKeys) {
    model.on(`change:${key}`, onData);
  }
  for (const key of layoutKeys) {
    model.on(`change:${key}`, onLayout);
  }
  for (const key of textKeys) {
    model.on(`change:${key}`, onText);
  }
  model.on('msg:custom', onCustom);
  resetZoom.addEventListener('click', onReset);

  const themeObserver = new MutationObserver(onTheme);
  themeObserver.observe(document.body, {
    attributes: true,
    attributeFilter: ['data-jp-theme-name', 'data-jp-theme-light'],
  });

  updateText();
  schedule();

  return () => {
    for (const key of dataKeys) {
      model.off(`change:${key}`, onData);
    }
    for (const key of layoutKeys) {
      model.off(`change:${key}`, onLayout);
    }
    for (const key of textKeys) {
      model.off(`change:${key}`, onText);
    }
    model.off('msg:custom', onCustom);
    interaction.dispose();
    themeObserver.disconnect();
    if (frame !== null) {
      cancelAnimationFrame(frame);
      frame = null;
    }
    root.remove();
    el.classList.remove('nk-kernel-heatmap-widget');
  };
}
