/**
 * Follows every notebook's cell outputs: when a code cell gets the `%%nk`
 * magic's diagnostic output, its editor shows the diagnostic; when the output
 * goes (the cell is re-run or cleared), so does the marker.
 */

import type { CodeMirrorEditor } from '@jupyterlab/codemirror';
import type { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import type { ICellModel, ICodeCellModel } from '@jupyterlab/cells';

import {
  DIAGNOSTIC_MIME,
  isSpecDiagnostic,
  placeDiagnostic,
} from './diagnostics';
import { clearDiagnostic, showDiagnostic } from './lint';

export function followDiagnostics(tracker: INotebookTracker): void {
  tracker.widgetAdded.connect((_, panel) => {
    void panel.context.ready.then(() => followNotebook(panel));
  });
  tracker.forEach(panel => {
    void panel.context.ready.then(() => followNotebook(panel));
  });
}

const followed = new WeakSet<ICellModel>();

function followNotebook(panel: NotebookPanel): void {
  const model = panel.content.model;
  if (!model) {
    return;
  }
  const followAll = () => {
    for (let i = 0; i < model.cells.length; i++) {
      followCell(panel, model.cells.get(i));
    }
  };
  model.cells.changed.connect(followAll);
  followAll();
}

function followCell(panel: NotebookPanel, cell: ICellModel): void {
  if (cell.type !== 'code' || followed.has(cell)) {
    return;
  }
  followed.add(cell);
  const codeCell = cell as ICodeCellModel;
  const sync = () => void syncCell(panel, codeCell);
  codeCell.outputs.changed.connect(sync);
  sync();
}

/** The diagnostic payload among a cell's outputs, if any. */
function diagnosticOf(cell: ICodeCellModel): unknown {
  for (let i = 0; i < cell.outputs.length; i++) {
    const data = cell.outputs.get(i).data[DIAGNOSTIC_MIME];
    if (data !== undefined) {
      return data;
    }
  }
  return undefined;
}

async function syncCell(
  panel: NotebookPanel,
  cell: ICodeCellModel,
): Promise<void> {
  const widget = panel.content.widgets.find(w => w.model === cell);
  if (!widget) {
    return;
  }
  await widget.ready;
  const editor = widget.editor as CodeMirrorEditor | null;
  const view = editor?.editor;
  if (!view) {
    return;
  }
  const payload = diagnosticOf(cell);
  const placed = isSpecDiagnostic(payload)
    ? placeDiagnostic(view.state.doc.toString(), payload)
    : null;
  if (placed) {
    showDiagnostic(view, placed);
  } else {
    clearDiagnostic(view);
  }
}
