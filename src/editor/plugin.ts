/**
 * The `%%nk` language in JupyterLab's notebook editor: highlighting of layer
 * names, settings, argument names and numbers; Tab completion of layers and
 * their arguments; parse errors marked at their line and column.
 */

import type {
  JupyterFrontEnd,
  JupyterFrontEndPlugin,
} from '@jupyterlab/application';
import {
  EditorExtensionRegistry,
  IEditorExtensionRegistry,
} from '@jupyterlab/codemirror';
import { ICompletionProviderManager } from '@jupyterlab/completer';
import { INotebookTracker } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';

import { NkCompletionProvider } from './completer';
import { nkHighlighting } from './highlight';
import catalog from './layer_catalog.json';
import { nkLintSupport } from './lint';
import { followDiagnostics } from './notebooks';
import { diagnosticRendererFactory } from './renderer';
import { type Catalog, Vocabulary } from './vocabulary';

export const editorPlugin: JupyterFrontEndPlugin<void> = {
  id: 'nkwidgets:nk-language',
  description:
    'Highlighting, completion and error markers for %%nk cells in notebooks.',
  requires: [IEditorExtensionRegistry],
  optional: [ICompletionProviderManager, INotebookTracker, IRenderMimeRegistry],
  autoStart: true,
  activate: (
    _app: JupyterFrontEnd,
    extensions: IEditorExtensionRegistry,
    completions: ICompletionProviderManager | null,
    notebooks: INotebookTracker | null,
    rendermime: IRenderMimeRegistry | null,
  ) => {
    const vocabulary = new Vocabulary(catalog as Catalog);
    extensions.addExtension({
      name: 'nkwidgets:nk-language',
      factory: () =>
        EditorExtensionRegistry.createImmutableExtension([
          nkHighlighting(vocabulary),
          nkLintSupport(),
        ]),
    });
    completions?.registerProvider(new NkCompletionProvider(vocabulary));
    if (notebooks) {
      followDiagnostics(notebooks);
    }
    rendermime?.addFactory(diagnosticRendererFactory);
  },
};
