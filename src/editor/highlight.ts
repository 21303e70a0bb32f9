/**
 * Highlighting of `%%nk` cells: mark decorations from the tokenizer, layered
 * under the notebook's Python highlighting so the `%%nk` colours win.
 */

import { type Extension, Prec, RangeSetBuilder } from '@codemirror/state';
import {
  Decoration,
  type DecorationSet,
  EditorView,
  ViewPlugin,
  type ViewUpdate,
} from '@codemirror/view';

import { type TokenKind, tokenize } from './tokenizer';
import { isNkCell, type Vocabulary } from './vocabulary';

/** Cells longer than this are not `%%nk` specs (the parser's limit is 20,000). */
const MAX_HIGHLIGHT_CHARS = 40_000;

const KINDS: TokenKind[] = [
  'magic',
  'setting',
  'layer',
  'argument',
  'function',
  'keyword',
  'number',
  'string',
  'comment',
];

/** The CSS class of a token kind, e.g. `cm-nk-layer`. */
export function tokenClass(kind: TokenKind): string {
  return `cm-nk-${kind}`;
}

/** The CodeMirror extension that colours `%%nk` cells. */
export function nkHighlighting(vocabulary: Vocabulary): Extension {
  const marks = new Map(
    KINDS.map(kind => [kind, Decoration.mark({ class: tokenClass(kind) })]),
  );
  const decorate = (view: EditorView): DecorationSet => {
    const text = view.state.doc.toString();
    if (text.length > MAX_HIGHLIGHT_CHARS || !isNkCell(text)) {
      return Decoration.none;
    }
    const builder = new RangeSetBuilder<Decoration>();
    for (const token of tokenize(text, vocabulary)) {
      builder.add(token.from, token.to, marks.get(token.kind) as Decoration);
    }
    return builder.finish();
  };
  const plugin = ViewPlugin.fromClass(
    class {
      decorations: DecorationSet;
      constructor(view: EditorView) {
        this.decorations = decorate(view);
      }
      update(update: ViewUpdate): void {
        if (update.docChanged) {
          this.decorations = decorate(update.view);
        }
      }
    },
    { decorations: plugin => plugin.decorations },
  );
  // Lowest precedence: mark decorations of lower precedence are drawn inside
  // higher ones, so these spans sit innermost and their colour shows.
  return [Prec.lowest(plugin), THEME];
}

/**
 * Okabe-Ito colours (as the widgets: blue for layers), bold for settings;
 * numbers, strings and comments keep JupyterLab's theme colours.
 */
const THEME = EditorView.baseTheme({
  '.cm-nk-magic': {
    color: 'var(--jp-mirror-editor-keyword-color)',
    fontWeight: 'bold',
  },
  '.cm-nk-setting': {
    color: 'var(--jp-mirror-editor-keyword-color)',
    fontWeight: 'bold',
  },
  '.cm-nk-layer': { color: '#0072B2', fontWeight: 'bold' },
  '.cm-nk-argument': { color: '#009E73' },
  '.cm-nk-function': { color: '#CC79A7' },
  '.cm-nk-keyword': { color: '#D55E00' },
  '.cm-nk-number': { color: 'var(--jp-mirror-editor-number-color)' },
  '.cm-nk-string': { color: 'var(--jp-mirror-editor-string-color)' },
  '.cm-nk-comment': {
    color: 'var(--jp-mirror-editor-comment-color)',
    fontStyle: 'italic',
  },
});
