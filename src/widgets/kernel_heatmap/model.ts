/**
 * The synced state of a `KernelHeatmap` and the block messages that fill it.
 *
 * TypeScript twin of `nkwidgets/widgets/_kernel_heatmap.py`: the Python traits
 * are the protocol, and `KernelHeatmapModel` lists the same keys in the same
 * order (a Python test holds the two to each other). The matrices arrive
 * twice over: whole, as the `values` buffer (on load, and re-synced now and
 * then), and piecewise, as `blocks` messages that are written into `values`
 * the moment they arrive.
 */

import type { AnyModel, WireBuffer } from '../types';

/** Synced state of a `KernelHeatmap` (snake_case wire keys, Python order). */
export interface KernelHeatmapModel {
  n_rows: number;
  n_cols: number;
  title: string;
  kernels: string[];
  kernel: string;
  row_labels: Int32Array;
  col_labels: Int32Array;
  class_names: string[];
  sort_by_class: boolean;
  values: Float32Array;
  color_mode: string;
  color_range: string;
  zoom: number[];
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
  kernels: ['kernel'],
  kernel: 'kernel',
  row_labels: new Int32Array(0),
  col_labels: new Int32Array(0),
  class_names: [],
  sort_by_class: true,
  values: new Float32Array(0),
  color_mode: 'values',
  color_range: 'full',
  zoom: [],
  blocks_done: 0,
  blocks_total: 0,
  error: '',
};

/** A model the view can also write to (the widget manager's models can). */
export interface WritableModel<T extends object> extends AnyModel<T> {
  set<K extends keyof T & string>(key: K, value: T[K]): void;
  save_changes(): void;
}

// -- buffers ----------------------------------------------------------------

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

const int32Trait = {
  deserialize: (value: WireBuffer | null): Int32Array =>
    value ? decodeInt32(value) : new Int32Array(0),
  serialize: (value: Int32Array): Int32Array => ownBuffer(value),
};

/** Serializers for the binary traits, keyed like `KernelHeatmapModel`. */
export const KERNEL_HEATMAP_SERIALIZERS = {
  values: {
    deserialize: (value: WireBuffer | null): Float32Array =>
      value ? decodeFloat32(value) : new Float32Array(0),
    serialize: (value: Float32Array): Float32Array => ownBuffer(value),
  },
  row_labels: int32Trait,
  col_labels: int32Trait,
};

// -- the kernel stack -----------------------------------------------------

/** A rectangle of cells. */
export interface Block {
  row0: number;
  col0: number;
  rows: number;
  cols: number;
}

/** A block of one kernel: the header of one entry of a `blocks` message. */
export interface KernelBlock extends Block {
  kernel: string;
}

/**
 * The model's kernels: `kernels.length` row-major `rows` x `cols` matrices
 * stacked in one `Float32Array`, NaN where not yet computed.
 *
 * It wraps the model's own `values` array rather than a copy, so applying a
 * block also brings the model state up to date: a notebook saved between two
 * full syncs from the kernel, or a second view of the same model, sees every
 * block that has arrived.
 */
export class KernelStack {
  constructor(
    readonly kernels: readonly string[],
    readonly rows: number,
    readonly cols: number,
    readonly values: Float32Array,
  ) {
    const expected = kernels.length * rows * cols;
    if (values.length !== expected) {
      throw new RangeError(
        `values has ${values.length} entries, expected ${kernels.length} x ${rows} x ${cols}`,
      );
    }
  }

  /** The model's stack, or null while `values` and the shape disagree. */
  static fromModel(model: AnyModel<KernelHeatmapModel>): KernelStack | null {
    const kernels = model.get('kernels');
    const rows = model.get('n_rows');
    const cols = model.get('n_cols');
    const values = model.get('values');
    const size = kernels.length * rows * cols;
    return size > 0 && values.length === size
      ? new KernelStack(kernels, rows, cols, values)
      : null;
  }

  /** One kernel's matrix (a view, not a copy), or null if not held. */
  matrix(kernel: string): Float32Array | null {
    const k = this.kernels.indexOf(kernel);
    const size = this.rows * this.cols;
    return k < 0 ? null : this.values.subarray(k * size, (k + 1) * size);
  }

  /** Whether `block` lies inside the matrices. */
  contains(block: Block): boolean {
    return (
      block.row0 + block.rows <= this.rows &&
      block.col0 + block.cols <= this.cols
    );
  }

  /** Copy a block's row-major `data` into its kernel's matrix. */
  applyBlock(block: KernelBlock, data: Float32Array): void {
    const matrix = this.matrix(block.kernel);
    if (matrix === null) {
      throw new RangeError(`block of unknown kernel ${block.kernel}`);
    }
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
      matrix.set(source, (block.row0 + r) * this.cols + block.col0);
    }
  }

  /** Whether any cell of any kernel has been computed. */
  hasData(): boolean {
    return this.values.some(Number.isFinite);
  }
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0;
}

/** One entry of a `blocks` message, or null if malformed. */
export function parseKernelBlock(entry: unknown): KernelBlock | null {
  if (typeof entry !== 'object' || entry === null) {
    return null;
  }
  const { kernel, row0, col0, rows, cols } = entry as Record<string, unknown>;
  if (
    typeof kernel === 'string' &&
    isCount(row0) &&
    isCount(col0) &&
    isCount(rows) &&
    isCount(cols)
  ) {
    return { kernel, row0, col0, rows, cols };
  }
  return null;
}

/**
 * The block headers of a `{"type": "blocks", "blocks": [...]}` message (one
 * per buffer, in order), or null for other messages.
 */
export function parseBlocksMessage(content: unknown): (KernelBlock | null)[] {
  if (typeof content !== 'object' || content === null) {
    return [];
  }
  const c = content as Record<string, unknown>;
  if (c.type !== 'blocks' || !Array.isArray(c.blocks)) {
    return [];
  }
  return c.blocks.map(parseKernelBlock);
}

/**
 * Apply a `blocks` message to the model's `values`; returns the blocks that
 * were written (those that do not fit, or name an unknown kernel, are
 * skipped).
 *
 * Runs once per message on the model, before any view hears of it, so the
 * model state stays whole between the kernel's throttled full syncs: views
 * created later, and the notebook's saved widget state, see every block.
 */
export function applyBlocksMessage(
  model: AnyModel<KernelHeatmapModel>,
  content: unknown,
  buffers: ReadonlyArray<WireBuffer> | undefined,
): KernelBlock[] {
  const stack = KernelStack.fromModel(model);
  const applied: KernelBlock[] = [];
  if (stack === null) {
    return applied;
  }
  parseBlocksMessage(content).forEach((block, i) => {
    const buffer = buffers?.[i];
    // A block sent before a resize that has not arrived yet is skipped: the
    // kernel's next full `values` sync carries it.
    if (
      block === null ||
      buffer === undefined ||
      stack.matrix(block.kernel) === null ||
      !stack.contains(block)
    ) {
      return;
    }
    stack.applyBlock(block, decodeFloat32(buffer));
    applied.push(block);
  });
  return applied;
}

/** Keep the model's `values` current as block messages arrive. */
export function initializeModel(model: AnyModel<KernelHeatmapModel>): void {
  model.on('msg:custom', (content, buffers) => {
    applyBlocksMessage(model, content, buffers);
  });
}
