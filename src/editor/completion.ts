/**
 * Completion inside `%%nk` cells: what may be typed at the cursor, from the
 * vocabulary. At a statement's start: settings. After `net =` or inside a
 * combinator: layer names. Inside a call: that layer's (or dataset's,
 * predictor's) argument names not given yet, as `name=`. After `data =`,
 * `predict =`, `compute =`, `dtype =`: the names each accepts.
 */

import { followedByAssignment } from './tokenizer';
import {
  isNkCell,
  type LayerInfo,
  magicLineIndex,
  type Vocabulary,
} from './vocabulary';

export type CompletionType =
  'setting' | 'layer' | 'argument' | 'function' | 'keyword';

export interface CompletionItem {
  /** What the list shows and what filtering matches. */
  label: string;
  /** What is inserted, when it differs from the label (`W_std=`). */
  insertText: string;
  type: CompletionType;
  /** A line of help: a layer's signature and summary, a setting's meaning. */
  detail: string;
}

/** Items to replace the text `[from, to)` (the word being typed) with. */
export interface CompletionResult {
  from: number;
  to: number;
  items: CompletionItem[];
}

/** Where the cursor is, as far as completion cares. */
export interface CursorContext {
  /** Inside brackets: the innermost call's name (null for a bare list/tuple). */
  callee: string | null;
  /** Inside brackets: argument names already given in the innermost call. */
  givenArguments: string[];
  /** True right after `name=` inside a call (a value goes here). */
  afterArgumentEquals: boolean;
  /** The setting whose value is being written; null at a statement's start. */
  setting: string | null;
  /** Bracket depth at the cursor. */
  depth: number;
}

interface Frame {
  callee: string | null;
  given: string[];
}

const WORD_BEFORE = /[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Completions at `offset` of a cell's `text`, or null outside `%%nk` cells,
 * on the magic line, in comments and in strings.
 */
export function complete(
  text: string,
  offset: number,
  vocabulary: Vocabulary,
): CompletionResult | null {
  if (!isNkCell(text)) {
    return null;
  }
  const magic = magicLineIndex(text) ?? 0;
  const bodyStart = nthLineStart(text, magic + 1);
  if (bodyStart < 0 || offset < bodyStart) {
    return null;
  }
  const prefix = (WORD_BEFORE.exec(text.slice(bodyStart, offset)) ?? [''])[0];
  const from = offset - prefix.length;
  const context = cursorContext(text.slice(bodyStart, from));
  if (context === null) {
    return null;
  }
  const items = candidates(context, vocabulary).filter(item =>
    item.label.toLowerCase().startsWith(prefix.toLowerCase()),
  );
  // The completer replaces the whole word under the cursor, so a name typed
  // in the middle is not left half old, half new.
  let to = offset;
  while (to < text.length && /[A-Za-z0-9_]/.test(text[to] as string)) {
    to++;
  }
  return { from, to, items };
}

/**
 * Reads a spec body up to the cursor; null when the cursor is in a comment or
 * a string (nothing to complete there).
 */
export function cursorContext(body: string): CursorContext | null {
  const stack: Frame[] = [];
  let setting: string | null = null;
  let statementStart = true;
  let lastSignificant = '';
  let i = 0;
  while (i < body.length) {
    const c = body[i] as string;
    if (c === '\n') {
      if (stack.length === 0) {
        statementStart = true;
        setting = null;
        lastSignificant = '';
      }
      i++;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r') {
      i++;
      continue;
    }
    if (c === '#') {
      const end = body.indexOf('\n', i);
      if (end < 0) {
        return null;
      }
      i = end;
      continue;
    }
    if (c === '"' || c === "'") {
      const end = closingQuote(body, i);
      if (end < 0) {
        return null;
      }
      i = end;
      lastSignificant = 'value';
      continue;
    }
    const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(body.slice(i));
    if (word) {
      const name = word[0];
      const end = i + name.length;
      if (
        statementStart &&
        stack.length === 0 &&
        followedByAssignment(body, end)
      ) {
        setting = name;
      } else if (stack.length > 0 && followedByAssignment(body, end)) {
        stack[stack.length - 1]?.given.push(name);
      }
      statementStart = false;
      lastSignificant = name;
      i = end;
      continue;
    }
    if (c === '(' || c === '[' || c === '{') {
      const isCall = c === '(' && /^[A-Za-z_]/.test(lastSignificant);
      stack.push({ callee: isCall ? lastSignificant : null, given: [] });
    } else if ((c === ')' || c === ']' || c === '}') && stack.length > 0) {
      stack.pop();
    }
    statementStart = false;
    lastSignificant = c;
    i++;
  }
  const top = stack[stack.length - 1];
  return {
    callee: top?.callee ?? null,
    givenArguments: top?.given ?? [],
    afterArgumentEquals: stack.length > 0 && lastSignificant === '=',
    setting: statementStart ? null : setting,
    depth: stack.length,
  };
}

/** Everything that fits the context, before filtering by the typed prefix. */
export function candidates(
  context: CursorContext,
  vocabulary: Vocabulary,
): CompletionItem[] {
  const v = vocabulary;
  if (context.setting === null) {
    return context.depth === 0
      ? [...v.settings].map(([name, doc]) => ({
          label: name,
          insertText: `${name} = `,
          type: 'setting' as const,
          detail: doc,
        }))
      : [];
  }
  if (context.depth === 0) {
    return valuesOfSetting(context.setting, v);
  }
  const callee = context.callee;
  const layer = callee === null ? undefined : v.layers.get(callee);
  const items: CompletionItem[] = [];
  if (!context.afterArgumentEquals && callee !== null) {
    const given = new Set(context.givenArguments);
    for (const param of v.paramsOf(callee) ?? []) {
      if (!given.has(param)) {
        items.push({
          label: param,
          insertText: `${param}=`,
          type: 'argument',
          detail: layer ? layer.signature : `${callee}(${param}=...)`,
        });
      }
    }
  }
  if (layer?.takes_layers || (callee === null && context.setting === 'net')) {
    items.push(...layerItems(v));
  }
  if (layer?.takes_functions) {
    items.push(...functionItems(v));
  }
  // `Index(idx=...)`: the index is written with `Slice[...]`.
  if (layer?.params.includes('idx') && indexValueExpected(context, layer)) {
    items.push(...indexerItems(v));
  }
  if (context.setting === 'predict' && callee === null) {
    items.push(...keywordItems(['inf'], 'training time'));
  }
  return items;
}

function valuesOfSetting(setting: string, v: Vocabulary): CompletionItem[] {
  switch (setting) {
    case 'net':
      return layerItems(v);
    case 'data':
      return v.catalog.datasets.map(d => callItem(d.name, d.params, 'dataset'));
    case 'predict':
      return [
        ...v.catalog.predictors.map(p =>
          callItem(p.name, p.params, 'prediction'),
        ),
        ...keywordItems(['None'], 'no prediction'),
      ];
    case 'compute':
      return keywordItems(v.catalog.kernels, 'kernel');
    case 'dtype':
      return keywordItems(v.catalog.dtypes, 'floating point precision');
    case 'block_size':
      return keywordItems(['auto'], 'sized from the memory estimate');
    default:
      return [];
  }
}

function layerItems(v: Vocabulary): CompletionItem[] {
  return v.catalog.layers.map(layer => ({
    label: layer.name,
    insertText: `${layer.name}(`,
    type: 'layer' as const,
    detail: layer.doc ? `${layer.signature} — ${layer.doc}` : layer.signature,
  }));
}

function functionItems(v: Vocabulary): CompletionItem[] {
  return v.catalog.functions.map(name => ({
    label: name,
    insertText: name,
    type: 'function' as const,
    detail: 'activation function',
  }));
}

/**
 * At `idx=` (the name read last before `=`), or where the first positional
 * argument goes when that is `idx`.
 */
function indexValueExpected(context: CursorContext, layer: LayerInfo): boolean {
  if (context.afterArgumentEquals) {
    return context.givenArguments[context.givenArguments.length - 1] === 'idx';
  }
  return layer.params[0] === 'idx' && context.givenArguments.length === 0;
}

function indexerItems(v: Vocabulary): CompletionItem[] {
  return [...v.indexers].map(name => ({
    label: name,
    insertText: `${name}[`,
    type: 'function' as const,
    detail: `${name}[...]: an index for Index, e.g. ${name}[:, 1:3] or ${name}[..., 0]`,
  }));
}

function keywordItems(names: string[], detail: string): CompletionItem[] {
  return names.map(name => ({
    label: name,
    insertText: name,
    type: 'keyword' as const,
    detail,
  }));
}

function callItem(
  name: string,
  params: string[],
  what: string,
): CompletionItem {
  return {
    label: name,
    insertText: `${name}(`,
    type: 'keyword',
    detail: `${what}: ${name}(${params.map(p => `${p}=`).join(', ')})`,
  };
}

/** Offset of the start of 0-based line `n`, or -1 if the text is shorter. */
function nthLineStart(text: string, n: number): number {
  let at = 0;
  for (let line = 0; line < n; line++) {
    const next = text.indexOf('\n', at);
    if (next < 0) {
      return -1;
    }
    at = next + 1;
  }
  return at;
}

/** Offset just after the string opened at `from`, or -1 if it is still open. */
function closingQuote(text: string, from: number): number {
  const quote = text[from] as string;
  const triple = text.startsWith(quote.repeat(3), from);
  const close = triple ? quote.repeat(3) : quote;
  let j = from + close.length;
  while (j < text.length) {
    if (text[j] === '\\') {
      j += 2;
      continue;
    }
    if (!triple && text[j] === '\n') {
      return j;
    }
    if (text.startsWith(close, j)) {
      return j + close.length;
    }
    j++;
  }
  return -1;
}
