/**
 * Parse errors of `%%nk` cells as CodeMirror lint diagnostics: a squiggle
 * under the offending word, a marker in a lint gutter, the message on hover.
 * The gutter is added only while a cell has a diagnostic, so other cells keep
 * their width; an edit of the cell clears the diagnostic (it described the
 * old text).
 */

import { diagnosticCount, lintGutter, setDiagnostics } from '@codemirror/lint';
import { Compartment, type Extension } from '@codemirror/state';
import { EditorView } from '@codemirror/view';

import { type PlacedDiagnostic } from './diagnostics';

const gutterSlot = new Compartment();

/** Added to every editor: the empty gutter slot and clear-on-edit. */
export function nkLintSupport(): Extension {
  return [
    gutterSlot.of([]),
    EditorView.updateListener.of(update => {
      if (update.docChanged && diagnosticCount(update.state) > 0) {
        // A view cannot be updated while it dispatches this update.
        setTimeout(() => clearDiagnostic(update.view), 0);
      }
    }),
  ];
}

/** Show `diagnostic` in `view`, replacing any earlier one. */
export function showDiagnostic(
  view: EditorView,
  diagnostic: PlacedDiagnostic,
): void {
  const length = view.state.doc.length;
  const from = Math.min(diagnostic.from, length);
  const to = Math.min(Math.max(diagnostic.to, from), length);
  view.dispatch({ effects: gutterSlot.reconfigure(lintGutter()) });
  view.dispatch(
    setDiagnostics(view.state, [
      {
        from,
        to,
        severity: 'error',
        source: '%%nk',
        message: diagnostic.message,
      },
    ]),
  );
}

/** Remove the diagnostic and the gutter, if any. */
export function clearDiagnostic(view: EditorView): void {
  if (diagnosticCount(view.state) > 0) {
    view.dispatch(setDiagnostics(view.state, []));
  }
  if (gutterSlot.get(view.state) !== undefined) {
    view.dispatch({ effects: gutterSlot.reconfigure([]) });
  }
}
