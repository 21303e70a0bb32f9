/**
 * The `%%nk` vocabulary the editor knows: settings, layers and their argument
 * names, datasets, predictors, functions and constants. It comes from
 * `layer_catalog.json`, generated from the Python layer registry by
 * `scripts/generate_layer_catalog.py`, so the editor and the parser agree.
 */

/** One layer of `nkwidgets.stax`, as the catalog lists it. */
export interface LayerInfo {
  name: string;
  params: string[];
  signature: string;
  doc: string;
  takes_layers: boolean;
  takes_functions: boolean;
}

/** A keyword-only call (dataset, predictor) and its argument names. */
export interface CallInfo {
  name: string;
  params: string[];
}

/** The JSON written by scripts/generate_layer_catalog.py. */
export interface Catalog {
  settings: { name: string; doc: string }[];
  layers: LayerInfo[];
  functions: string[];
  kernels: string[];
  dtypes: string[];
  datasets: CallInfo[];
  predictors: CallInfo[];
  constants: string[];
  /** Subscriptable names: `Slice[...]` builds an index for `Index`. */
  indexers: string[];
}

/** Lookups over a catalog. */
export class Vocabulary {
  readonly settings: Map<string, string>;
  readonly layers: Map<string, LayerInfo>;
  readonly calls: Map<string, CallInfo>;
  readonly functions: Set<string>;
  readonly kernels: Set<string>;
  readonly dtypes: Set<string>;
  readonly constants: Set<string>;
  readonly indexers: Set<string>;

  constructor(readonly catalog: Catalog) {
    this.settings = new Map(catalog.settings.map(s => [s.name, s.doc]));
    this.layers = new Map(catalog.layers.map(l => [l.name, l]));
    this.calls = new Map(
      [...catalog.datasets, ...catalog.predictors].map(c => [c.name, c]),
    );
    this.functions = new Set(catalog.functions);
    this.kernels = new Set(catalog.kernels);
    this.dtypes = new Set(catalog.dtypes);
    this.constants = new Set(catalog.constants);
    this.indexers = new Set(catalog.indexers);
  }

  /** Argument names of a layer, dataset or predictor; undefined if unknown. */
  paramsOf(callee: string): string[] | undefined {
    return this.layers.get(callee)?.params ?? this.calls.get(callee)?.params;
  }
}

/** True when `text` is a `%%nk` cell: its first non-blank line is the magic. */
export function isNkCell(text: string): boolean {
  return magicLineIndex(text) !== null;
}

/**
 * The 0-based line of the `%%nk` magic, or null. IPython drops blank lines
 * before a cell magic, so they may precede it.
 */
export function magicLineIndex(text: string): number | null {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (line.trim() === '') {
      continue;
    }
    return /^%%nk(\s|$)/.test(line) ? i : null;
  }
  return null;
}
