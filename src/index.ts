/**
 * JupyterLab entry point of nkwidgets: registers the widget views with the
 * Jupyter widget manager, and the `%%nk` editor support (src/editor/).
 */

import type {
  JupyterFrontEnd,
  JupyterFrontEndPlugin,
} from '@jupyterlab/application';
import { IJupyterWidgetRegistry } from '@jupyter-widgets/base';

import { editorPlugin } from './editor/plugin';
import { MODULE_NAME, MODULE_VERSION } from './version';

const widgetsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'nkwidgets:widgets',
  description: 'Registers the nkwidgets Jupyter widget views.',
  requires: [IJupyterWidgetRegistry],
  autoStart: true,
  activate: (_app: JupyterFrontEnd, registry: IJupyterWidgetRegistry) => {
    registry.registerWidget({
      name: MODULE_NAME,
      version: MODULE_VERSION,
      // Loaded on first use, so notebooks without nkwidgets pay nothing.
      exports: async () => import('./widgets'),
    });
  },
};

export default [widgetsPlugin, editorPlugin];
