/**
 * Renders the `%%nk` magic's diagnostic output: the offending spec line with a
 * caret under the column (the error message itself is the cell's error
 * output, just below), instead of raw JSON.
 */

import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Widget } from '@lumino/widgets';

import {
  DIAGNOSTIC_MIME,
  diagnosticLines,
  isSpecDiagnostic,
} from './diagnostics';

class DiagnosticRenderer extends Widget implements IRenderMime.IRenderer {
  constructor() {
    super();
    this.addClass('nk-diagnostic');
  }

  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const data = model.data[DIAGNOSTIC_MIME];
    this.node.textContent = '';
    if (!isSpecDiagnostic(data)) {
      this.node.textContent = 'nkwidgets: malformed %%nk diagnostic output';
      return;
    }
    // Spec line L is cell line L + 1: the first cell line is `%%nk`.
    const [where, source, caret] = diagnosticLines(
      data.line,
      data.col,
      data.source ?? '',
    );
    const header = document.createElement('div');
    header.className = 'nk-diagnostic-where';
    header.textContent = where;
    const pre = document.createElement('pre');
    pre.textContent = `${source}\n${caret}`;
    this.node.title = data.message;
    this.node.append(header, pre);
  }
}

/** Registered with the notebook's rendermime registry by the editor plugin. */
export const diagnosticRendererFactory: IRenderMime.IRendererFactory = {
  safe: true,
  mimeTypes: [DIAGNOSTIC_MIME],
  defaultRank: 10,
  createRenderer: () => new DiagnosticRenderer(),
};
