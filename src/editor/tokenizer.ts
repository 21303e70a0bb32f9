/**
 * Tokens of a `%%nk` cell for highlighting. A small hand-written scanner
 * rather than a grammar: the language is a handful of `setting = value` lines,
 * and what matters for colour is which *names* are settings, layers, argument
 * names or functions, which only the vocabulary can tell.
 */

import { type Vocabulary } from './vocabulary';

export type TokenKind =
  | 'magic'
  | 'setting'
  | 'layer'
  | 'argument'
  | 'function'
  | 'keyword'
  | 'number'
  | 'string'
  | 'comment';

/** A highlighted range `[from, to)` of the text (UTF-16 offsets, as CodeMirror). */
export interface Token {
  from: number;
  to: number;
  kind: TokenKind;
}

const IDENTIFIER = /[A-Za-z_][A-Za-z0-9_]*/y;
const NUMBER = /(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d+)?j?/y;
const WORD_CHAR = /[A-Za-z0-9_]/;

/** Every token worth a colour, in order; other characters get none. */
export function tokenize(text: string, vocabulary: Vocabulary): Token[] {
  const tokens: Token[] = [];
  let depth = 0;
  // At a statement's start (depth 0, nothing yet on the line) a name before
  // `=` is a setting; inside brackets a name before `=` is an argument name.
  let statementStart = true;
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (c === '\n') {
      if (depth === 0) {
        statementStart = true;
      }
      i++;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r') {
      i++;
      continue;
    }
    if (c === '%' && text.startsWith('%%nk', i) && isLineStart(text, i)) {
      const end = lineEnd(text, i);
      tokens.push({ from: i, to: end, kind: 'magic' });
      i = end;
      continue;
    }
    if (c === '#') {
      const end = lineEnd(text, i);
      tokens.push({ from: i, to: end, kind: 'comment' });
      i = end;
      continue;
    }
    if (c === '"' || c === "'") {
      const end = stringEnd(text, i);
      tokens.push({ from: i, to: end, kind: 'string' });
      i = end;
      statementStart = false;
      continue;
    }
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(text[i + 1] ?? ''))) {
      if (i === 0 || !WORD_CHAR.test(text[i - 1] as string)) {
        NUMBER.lastIndex = i;
        const match = NUMBER.exec(text);
        if (match) {
          tokens.push({ from: i, to: i + match[0].length, kind: 'number' });
          i += match[0].length;
          statementStart = false;
          continue;
        }
      }
    }
    IDENTIFIER.lastIndex = i;
    const word = IDENTIFIER.exec(text);
    if (word) {
      const name = word[0];
      const end = i + name.length;
      const kind = classify(name, {
        atStatementStart: statementStart && depth === 0,
        beforeEquals: followedByAssignment(text, end),
        insideCall: depth > 0,
        vocabulary,
      });
      if (kind) {
        tokens.push({ from: i, to: end, kind });
      }
      i = end;
      statementStart = false;
      continue;
    }
    if (c === '(' || c === '[' || c === '{') {
      depth++;
    } else if ((c === ')' || c === ']' || c === '}') && depth > 0) {
      depth--;
    }
    statementStart = false;
    i++;
  }
  return tokens;
}

interface NameContext {
  atStatementStart: boolean;
  beforeEquals: boolean;
  insideCall: boolean;
  vocabulary: Vocabulary;
}

function classify(name: string, context: NameContext): TokenKind | null {
  const v = context.vocabulary;
  if (context.atStatementStart && context.beforeEquals) {
    return v.settings.has(name) ? 'setting' : null;
  }
  if (context.insideCall && context.beforeEquals) {
    return 'argument';
  }
  if (v.layers.has(name)) {
    return 'layer';
  }
  if (v.functions.has(name) || v.indexers.has(name)) {
    return 'function';
  }
  if (
    v.calls.has(name) ||
    v.kernels.has(name) ||
    v.dtypes.has(name) ||
    v.constants.has(name)
  ) {
    return 'keyword';
  }
  return null;
}

/** True if the next non-blank character after `at` is `=` and not `==`. */
export function followedByAssignment(text: string, at: number): boolean {
  let j = at;
  while (text[j] === ' ' || text[j] === '\t') {
    j++;
  }
  return text[j] === '=' && text[j + 1] !== '=';
}

function isLineStart(text: string, at: number): boolean {
  return at === 0 || text[at - 1] === '\n';
}

function lineEnd(text: string, from: number): number {
  const end = text.indexOf('\n', from);
  return end < 0 ? text.length : end;
}

/** End of a quoted string (after its closing quote), or of the line if unclosed. */
function stringEnd(text: string, from: number): number {
  const quote = text[from];
  const triple = text.startsWith((quote as string).repeat(3), from);
  const close = triple ? (quote as string).repeat(3) : (quote as string);
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
  return text.length;
}
