/**
 * A heatmap of a kernel matrix that fills in block by block.
 *
 * TypeScript twin of `nkwidgets/widgets/_kernel_heatmap.py`: the Python traits
 * are the protocol, and `KernelHeatmapModel` lists the same keys in the same
 * order. The matrix arrives twice over: whole, as the `values` buffer (on load,
 * and re-synced now and then), and piecewise, as custom `block` messages that
 * are painted the moment they arrive.
 */

import { categoricalColour, LUT_SIZE, viridisLut } from './colormap';
import type {
  AnyModel,
  Cleanup,
  CustomMessageCallback,
  RenderProps,
  WireBuffer,
} from './types';

/** Synced state of a `KernelHeatmap` (snake_case wire keys, Python order). */
export interface KernelHeatmapModel {
  n_rows: number;
  n_cols: number;
  title: string;
  row_labels: Int32Array;
  values: Float32Array;
  vmin: number;
  vmax: number;
  blocks_done: number;
  blocks_total: number;
  error: string;
}

/**
 * Values the model holds before the kernel's first state message; they mirror
 * the Python defaults, which are the real ones.
 */
export const KERNEL_HEATMAP_DEFAULTS: KernelHeatmapModel = {
  n_rows: 0,
  n_cols: 0,
  title: '',
  row_labels: new Int32Array(0),
  values: new Float32Array(0),
  vmin: 0,
  vmax: 1,
  blocks_done: 0,
  blocks_total: 0,
  error: '',
};

// ---------------------------------------------------------------------------
// Data handling (no DOM; unit-tested in __tests__/kernel_heatmap.test.ts)
// ---------------------------------------------------------------------------

function bytesOf(buffer: WireBuffer): Uint8Array {
  return buffer instanceof ArrayBuffer
    ? new Uint8Array(buffer)
    : new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

function decodeTyped<T>(
  buffer: WireBuffer,
  make: (source: ArrayBuffer, offset: number, length: number) => T,
  what: string,
): T {
  const bytes = bytesOf(buffer);
  if (bytes.byteLength % 4 !== 0) {
    throw new RangeError(
      `${what} buffer of ${bytes.byteLength} bytes is not a whole number of 4-byte values`,
    );
  }
  // Typed arrays need 4-byte-aligned offsets; the wire protocol only
  // promises byte alignment, so unaligned buffers are copied once.
  const aligned =
    bytes.byteOffset % 4 === 0 && bytes.buffer instanceof ArrayBuffer
      ? bytes
      : bytes.slice();
  return make(
    aligned.buffer as ArrayBuffer,
    aligned.byteOffset,
    aligned.byteLength / 4,
  );
}

/**
 * Read little-endian float32 values (what Python's `<f4` sends; every
 * platform browsers run on is little-endian) without parsing or copying
 * unless the buffer is misaligned.
 */
export function decodeFloat32(buffer: WireBuffer): Float32Array {
  return decodeTyped(
    buffer,
    (source, offset, length) => new Float32Array(source, offset, length),
    'float32',
  );
}

/** Read little-endian int32 values, as `decodeFloat32` does. */
export function decodeInt32(buffer: WireBuffer): Int32Array {
  return decodeTyped(
    buffer,
    (source, offset, length) => new Int32Array(source, offset, length),
    'int32',
  );
}

/**
 * A typed array as a buffer the widget manager sends whole: it ships
 * `view.buffer`, so a view into a larger buffer is copied first.
 */
function ownBuffer<T extends Float32Array | Int32Array>(array: T): T {
  const whole =
    array.byteOffset === 0 && array.byteLength === array.buffer.byteLength;
  return whole ? array : (array.slice() as T);
}

/** Serializers for the binary traits, keyed like `KernelHeatmapModel`. */
export const KERNEL_HEATMAP_SERIALIZERS = {
  values: {
    deserialize: (value: WireBuffer | null): Float32Array =>
      value ? decodeFloat32(value) : new Float32Array(0),
    serialize: (value: Float32Array): Float32Array => ownBuffer(value),
  },
  row_labels: {
    deserialize: (value: WireBuffer | null): Int32Array =>
      value ? decodeInt32(value) : new Int32Array(0),
    serialize: (value: Int32Array): Int32Array => ownBuffer(value),
  },
};

/** A rectangle of cells: the header of a block message. */
export interface Block {
  row0: number;
  col0: number;
  rows: number;
  cols: number;
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0;
}

/** The header of a `{"type": "block", ...}` message, or null for others. */
export function parseBlockHeader(content: unknown): Block | null {
  if (typeof content !== 'object' || content === null) {
    return null;
  }
  const c = content as Record<string, unknown>;
  if (c.type !== 'block') {
    return null;
  }
  const { row0, col0, rows, cols } = c;
  if (isCount(row0) && isCount(col0) && isCount(rows) && isCount(cols)) {
    return { row0, col0, rows, cols };
  }
  return null;
}

/**
 * A row-major matrix over a `Float32Array`, NaN where not yet computed.
 *
 * It wraps the model's own `values` array rather than a copy, so applying a
 * block also brings the model state up to date: a notebook saved between two
 * full syncs from the kernel, or a second view of the same model, sees every
 * block that has arrived.
 */
export class HeatmapMatrix {
  constructor(
    readonly rows: number,
    readonly cols: number,
    readonly values: Float32Array,
  ) {
    if (values.length !== rows * cols) {
      throw new RangeError(
        `values has ${values.length} entries, expected ${rows} x ${cols}`,
      );
    }
  }

  /** The model's matrix, or null while `values` and the shape disagree. */
  static fromModel(model: AnyModel<KernelHeatmapModel>): HeatmapMatrix | null {
    const rows = model.get('n_rows');
    const cols = model.get('n_cols');
    const values = model.get('values');
    return values.length === rows * cols && rows * cols > 0
      ? new HeatmapMatrix(rows, cols, values)
      : null;
  }

  /** Whether `block` lies inside the matrix. */
  contains(block: Block): boolean {
    return (
      block.row0 + block.rows <= this.rows &&
      block.col0 + block.cols <= this.cols
    );
  }

  /** Copy a block's row-major `data` into place. */
  applyBlock(block: Block, data: Float32Array): void {
    if (!this.contains(block)) {
      throw new RangeError(
        `block ${block.rows} x ${block.cols} at (${block.row0}, ${block.col0}) ` +
          `lies outside the ${this.rows} x ${this.cols} matrix`,
      );
    }
    if (data.length !== block.rows * block.cols) {
      throw new RangeError(
        `block data has ${data.length} values, expected ${block.rows} x ${block.cols}`,
      );
    }
    for (let r = 0; r < block.rows; r++) {
      const source = data.subarray(r * block.cols, (r + 1) * block.cols);
      this.values.set(source, (block.row0 + r) * this.cols + block.col0);
    }
  }

  /** Whether any cell has been computed. */
  hasData(): boolean {
    return this.values.some(Number.isFinite);
  }

  /** The whole matrix as a block. */
  get whole(): Block {
    return { row0: 0, col0: 0, rows: this.rows, cols: this.cols };
  }
}

/**
 * Apply a custom `block` message to the model's `values`; returns the block,
 * or null if the message is not a block that fits.
 *
 * Runs once per message on the model, before any view hears of it, so the
 * model state stays whole between the kernel's throttled full syncs: views
 * created later, and the notebook's saved widget state, see every block.
 */
export function applyBlockMessage(
  model: AnyModel<KernelHeatmapModel>,
  content: unknown,
  buffers: ReadonlyArray<WireBuffer> | undefined,
): Block | null {
  const block = parseBlockHeader(content);
  const buffer = buffers?.[0];
  const matrix = HeatmapMatrix.fromModel(model);
  if (block === null || buffer === undefined || matrix === null) {
    return null;
  }
  if (!matrix.contains(block)) {
    // Sent before a resize that has not arrived yet; the kernel's next full
    // `values` sync carries it.
    return null;
  }
  matrix.applyBlock(block, decodeFloat32(buffer));
  return block;
}

/** Keep the model's `values` current as block messages arrive. */
export function initializeModel(model: AnyModel<KernelHeatmapModel>): void {
  model.on('msg:custom', (content, buffers) => {
    applyBlockMessage(model, content, buffers);
  });
}

/** The colour range a view draws with. */
export interface ColourRange {
  lo: number;
  hi: number;
}

/**
 * The model's `vmin`/`vmax` as a drawable range, or null if they do not form
 * one (a view then waits for the next update rather than guessing).
 */
export function colourRange(vmin: number, vmax: number): ColourRange | null {
  return Number.isFinite(vmin) && Number.isFinite(vmax) && vmin <= vmax
    ? { lo: vmin, hi: vmax }
    : null;
}

/** An RGBA colour, each channel 0-255. */
export type Rgba = readonly [number, number, number, number];

/**
 * Colour the cells of `block` into `rgba` (RGBA bytes laid out like the
 * matrix). Values map linearly from `range` onto `lut`; NaN cells get `nan`.
 * A zero-width range paints the middle colour, since every value then sits at
 * the one value the range admits.
 */
export function paintBlock(
  matrix: HeatmapMatrix,
  block: Block,
  range: ColourRange,
  lut: Uint8ClampedArray,
  nan: Rgba,
  rgba: Uint8ClampedArray,
): void {
  const span = range.hi - range.lo;
  const scale = span > 0 ? (LUT_SIZE - 1) / span : 0;
  const middle = (LUT_SIZE - 1) >> 1;
  const { values, cols } = matrix;
  for (let r = block.row0; r < block.row0 + block.rows; r++) {
    for (let c = block.col0; c < block.col0 + block.cols; c++) {
      const cell = r * cols + c;
      const v = values[cell] as number;
      const out = 4 * cell;
      if (Number.isNaN(v)) {
        rgba[out] = nan[0];
        rgba[out + 1] = nan[1];
        rgba[out + 2] = nan[2];
        rgba[out + 3] = nan[3];
        continue;
      }
      let index = span > 0 ? Math.round((v - range.lo) * scale) : middle;
      index = index < 0 ? 0 : index >= LUT_SIZE ? LUT_SIZE - 1 : index;
      rgba[out] = lut[3 * index] as number;
      rgba[out + 1] = lut[3 * index + 1] as number;
      rgba[out + 2] = lut[3 * index + 2] as number;
      rgba[out + 3] = 255;
    }
  }
}

/**
 * A short tick label: 3 significant digits, exponents outside [1e-3, 1e4),
 * and a true minus sign so labels typeset well in figures.
 */
export function formatTick(value: number): string {
  if (value === 0) {
    return '0';
  }
  const magnitude = Math.abs(value);
  const text =
    magnitude >= 1e4 || magnitude < 1e-3
      ? value.toExponential(2).replace(/\.?0+e/, 'e')
      : String(Number(value.toPrecision(3)));
  return text.replace('-', '\u2212');
}

/** Step multipliers for tick spacing, as in most plotting libraries. */
const NICE_STEPS = [1, 2, 5, 10];

/**
 * Round-numbered ticks inside [lo, hi]: at most `count`, spaced 1, 2 or 5
 * times a power of ten. The ends themselves are labelled only when no round
 * number falls inside, so a colour bar reads "0.2 0.4 ... 1" rather than
 * "0.000256 ... 1".
 */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) {
    return [lo];
  }
  const power = 10 ** Math.floor(Math.log10((hi - lo) / count));
  const step =
    NICE_STEPS.map(m => m * power).find(s => (hi - lo) / s <= count) ??
    10 * power;
  // Tolerances of a millionth of a step absorb floating-point drift.
  const ticks: number[] = [];
  for (let k = Math.ceil(lo / step - 1e-6); k * step <= hi + step * 1e-6; k++) {
    ticks.push(k === 0 ? 0 : Number((k * step).toPrecision(12)));
  }
  return ticks.length > 0 ? ticks : [lo, hi];
}

// ---------------------------------------------------------------------------
// View
// ---------------------------------------------------------------------------

/** Longest side of the matrix on screen, in CSS pixels. */
const PLOT_SIZE_PX = 320;
/** Shortest side, so very thin matrices stay visible. */
const MIN_SIDE_PX = 24;
/** Width of the class-label strip beside the rows, and its gap. */
const LABEL_STRIP_PX = 6;
const LABEL_GAP_PX = 3;
/** Colour bar: bar width, tick length and the gap before tick labels. */
const BAR_WIDTH_PX = 14;
const TICK_PX = 4;
const TICK_GAP_PX = 4;

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

/** Parsed CSS colours; themes use a handful, parsed once each. */
const colourCache = new Map<string, Rgba>();
let colourContext: CanvasRenderingContext2D | null = null;

/** Parse a CSS colour into RGBA bytes by painting it on a 1x1 canvas. */
function cssColourToRgba(colour: string): Rgba {
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

/**
 * Render a `KernelHeatmap` into `el`; returns a cleanup that removes every
 * listener, observer and pending frame this added.
 */
export function render({
  model,
  el,
}: RenderProps<KernelHeatmapModel>): Cleanup {
  el.classList.add('nk-kernel-heatmap-widget');
  const root = element('div', 'nk-kernel-heatmap-root', el);
  const header = element('div', 'nk-kernel-heatmap-header', root);
  const title = element('div', 'nk-kernel-heatmap-title', header);
  const progress = element('div', 'nk-kernel-heatmap-progress', header);
  const bar = element('div', 'nk-kernel-heatmap-progressbar', root);
  const barFill = element('div', 'nk-kernel-heatmap-progressbar-fill', bar);
  const stage = element('div', 'nk-kernel-heatmap-stage', root);
  const plot = element('div', 'nk-kernel-heatmap-plot', stage);
  const canvas = element('canvas', 'nk-kernel-heatmap', plot);
  const empty = element('div', 'nk-kernel-heatmap-empty', plot);
  empty.textContent = 'waiting for blocks\u2026';
  const colourbar = element('canvas', 'nk-kernel-heatmap-colorbar', stage);
  const errorBox = element('div', 'nk-kernel-heatmap-error', root);
  errorBox.setAttribute('role', 'alert');
  canvas.setAttribute('role', 'img');

  const lut = viridisLut();
  // The matrix at one pixel per cell; scaled onto `canvas` when drawn.
  const cells = document.createElement('canvas');
  let image: ImageData | null = null;
  // The `values` array `image` was painted from. Backbone swaps in a new
  // array without a change event when the contents are equal, so the view
  // compares identities instead of trusting events alone.
  let paintedValues: Float32Array | null = null;
  // Cells to recolour at the next frame; `true` means all of them.
  let dirty: Block[] | true = true;
  let frame: number | null = null;

  const cssVar = (name: string, fallback: string): string => {
    // Theme variables live on :root; read them from `el` once it is in the
    // page so a container that overrides them is honoured.
    const scope = el.isConnected ? el : document.documentElement;
    return getComputedStyle(scope).getPropertyValue(name).trim() || fallback;
  };

  const schedule = (): void => {
    if (frame === null) {
      frame = requestAnimationFrame(draw);
    }
  };

  const updateText = (): void => {
    const text = model.get('title');
    title.textContent = text;
    title.hidden = text === '';
    canvas.setAttribute('aria-label', text || 'kernel heatmap');
    const done = model.get('blocks_done');
    const total = model.get('blocks_total');
    progress.textContent =
      total > 0
        ? `${done} / ${total} blocks`
        : done > 0
          ? `${done} blocks`
          : '';
    bar.hidden = total === 0;
    // Invisible rather than removed when complete, so the layout holds still.
    bar.style.visibility = done >= total ? 'hidden' : 'visible';
    barFill.style.width = `${total > 0 ? Math.min(100, (100 * done) / total) : 0}%`;
    const error = model.get('error');
    errorBox.textContent = error;
    errorBox.hidden = error === '';
    root.classList.toggle('nk-mod-error', error !== '');
  };

  const plotSize = (
    rows: number,
    cols: number,
    dpr: number,
  ): [number, number] => {
    if (rows === 0 || cols === 0) {
      return [PLOT_SIZE_PX, PLOT_SIZE_PX];
    }
    const longest = Math.max(rows, cols);
    // Whole device pixels per cell keep every cell the same size when the
    // matrix is enlarged, as long as that costs at most a quarter of the size.
    const cellPx = Math.floor((PLOT_SIZE_PX * dpr) / longest);
    const snapped =
      cellPx >= 1 && cellPx * longest >= 0.75 * PLOT_SIZE_PX * dpr;
    const scale = snapped ? cellPx / dpr : PLOT_SIZE_PX / longest;
    return [
      Math.max(MIN_SIDE_PX, cols * scale),
      Math.max(MIN_SIDE_PX, rows * scale),
    ];
  };

  function draw(): void {
    frame = null;
    const rows = model.get('n_rows');
    const cols = model.get('n_cols');
    const labels = model.get('row_labels');
    const hasLabels = labels.length === rows && rows > 0;
    const dpr = window.devicePixelRatio || 1;
    const [width, height] = plotSize(rows, cols, dpr);
    const offset = hasLabels ? LABEL_STRIP_PX + LABEL_GAP_PX : 0;

    canvas.width = Math.round((offset + width) * dpr);
    canvas.height = Math.round(height * dpr);
    canvas.style.width = `${offset + width}px`;
    canvas.style.height = `${height}px`;
    const context = canvas.getContext('2d');
    if (context === null) {
      return;
    }
    const nanColour = cssColourToRgba(cssVar('--jp-layout-color2', '#eeeeee'));
    context.setTransform(dpr, 0, 0, dpr, 0, 0);
    context.clearRect(0, 0, offset + width, height);

    const range = colourRange(model.get('vmin'), model.get('vmax'));
    const matrix = HeatmapMatrix.fromModel(model);
    if (matrix !== null && matrix.values !== paintedValues) {
      paintedValues = matrix.values;
      dirty = true;
    }
    if (matrix !== null) {
      if (cells.width !== cols || cells.height !== rows || image === null) {
        cells.width = cols;
        cells.height = rows;
        image = new ImageData(cols, rows);
        dirty = true;
      }
      const cellContext = cells.getContext('2d');
      const blocks =
        dirty === true
          ? [matrix.whole]
          : dirty.filter(block => matrix.contains(block));
      for (const block of blocks) {
        paintBlock(
          matrix,
          block,
          range ?? { lo: 0, hi: 0 },
          lut,
          nanColour,
          image.data,
        );
        cellContext?.putImageData(
          image,
          0,
          0,
          block.col0,
          block.row0,
          block.cols,
          block.rows,
        );
      }
      // Upscaling keeps cells crisp; downscaling averages them so large
      // kernels do not alias into moire.
      context.imageSmoothingEnabled = cols > width * dpr || rows > height * dpr;
      context.drawImage(cells, offset, 0, width, height);
    } else {
      context.fillStyle = cssVar('--jp-layout-color2', '#eeeeee');
      context.fillRect(offset, 0, width, height);
    }
    dirty = [];

    if (hasLabels) {
      // Rows sorted by class form runs; one rectangle per run.
      let start = 0;
      for (let r = 1; r <= rows; r++) {
        if (r === rows || labels[r] !== labels[start]) {
          context.fillStyle = categoricalColour(labels[start] as number);
          const y0 = (start / rows) * height;
          const y1 = (r / rows) * height;
          context.fillRect(0, y0, LABEL_STRIP_PX, y1 - y0);
          start = r;
        }
      }
    }
    context.strokeStyle = cssVar('--jp-border-color1', '#bdbdbd');
    context.lineWidth = 1;
    context.strokeRect(offset + 0.5, 0.5, width - 1, height - 1);

    empty.hidden = matrix !== null && matrix.hasData();
    drawColourbar(height, dpr, empty.hidden ? range : null);
  }

  function drawColourbar(
    height: number,
    dpr: number,
    range: ColourRange | null,
  ): void {
    const context = colourbar.getContext('2d');
    if (context === null) {
      return;
    }
    const fontSize = parseFloat(cssVar('--jp-ui-font-size1', '13px')) || 13;
    const font = `${fontSize}px ${cssVar('--jp-ui-font-family', 'sans-serif')}`;
    const ticks =
      range === null
        ? []
        : niceTicks(range.lo, range.hi).map(v => ({
            text: formatTick(v),
            // Top is hi; a zero-width range puts its one tick mid-bar.
            t:
              range.hi > range.lo
                ? (range.hi - v) / (range.hi - range.lo)
                : 0.5,
          }));
    context.font = font;
    const labelWidth = Math.max(
      0,
      ...ticks.map(tick => context.measureText(tick.text).width),
    );
    // Room above and below the bar for labels centred on its end ticks; the
    // canvas is shifted up by the same amount so the bar lines up with the
    // matrix.
    const pad = Math.ceil(fontSize / 2);
    const width = Math.ceil(
      BAR_WIDTH_PX + TICK_PX + TICK_GAP_PX + labelWidth + 1,
    );
    colourbar.width = Math.round(width * dpr);
    colourbar.height = Math.round((height + 2 * pad) * dpr);
    colourbar.style.width = `${width}px`;
    colourbar.style.height = `${height + 2 * pad}px`;
    colourbar.style.marginTop = `${-pad}px`;
    // Resizing resets the context state, so the font is set again.
    context.setTransform(dpr, 0, 0, dpr, 0, pad * dpr);
    context.font = font;

    if (range === null) {
      context.fillStyle = cssVar('--jp-layout-color2', '#eeeeee');
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
    context.strokeStyle = cssVar('--jp-border-color1', '#bdbdbd');
    context.lineWidth = 1;
    context.strokeRect(0.5, 0.5, BAR_WIDTH_PX - 1, height - 1);

    context.fillStyle = cssVar('--jp-ui-font-color1', '#212121');
    context.strokeStyle = cssVar('--jp-ui-font-color2', '#616161');
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

  // -- listeners ------------------------------------------------------------

  const onMatrix = (): void => {
    dirty = true;
    schedule();
  };
  const onRepaint = (): void => {
    dirty = true;
    schedule();
  };
  const onLayout = (): void => schedule();
  const onText = (): void => updateText();
  const onCustom: CustomMessageCallback = content => {
    // The model has already written the block into `values`
    // (`initializeModel`); the view only repaints those cells.
    const block = parseBlockHeader(content);
    if (block === null) {
      return;
    }
    if (dirty !== true) {
      dirty.push(block);
    }
    schedule();
  };

  model.on('change:n_rows', onMatrix);
  model.on('change:n_cols', onMatrix);
  model.on('change:values', onMatrix);
  model.on('change:vmin', onRepaint);
  model.on('change:vmax', onRepaint);
  model.on('change:row_labels', onLayout);
  model.on('change:title', onText);
  model.on('change:blocks_done', onText);
  model.on('change:blocks_total', onText);
  model.on('change:error', onText);
  model.on('msg:custom', onCustom);

  // Theme switches change the CSS variables the canvas was painted with.
  const themeObserver = new MutationObserver(onRepaint);
  themeObserver.observe(document.body, {
    attributes: true,
    attributeFilter: ['data-jp-theme-name', 'data-jp-theme-light'],
  });

  updateText();
  schedule();

  return () => {
    model.off('change:n_rows', onMatrix);
    model.off('change:n_cols', onMatrix);
    model.off('change:values', onMatrix);
    model.off('change:vmin', onRepaint);
    model.off('change:vmax', onRepaint);
    model.off('change:row_labels', onLayout);
    model.off('change:title', onText);
    model.off('change:blocks_done', onText);
    model.off('change:blocks_total', onText);
    model.off('change:error', onText);
    model.off('msg:custom', onCustom);
    themeObserver.disconnect();
    if (frame !== null) {
      cancelAnimationFrame(frame);
      frame = null;
    }
    root.remove();
    el.classList.remove('nk-kernel-heatmap-widget');
  };
}
