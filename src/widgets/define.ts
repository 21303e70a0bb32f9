/**
 * Turns a typed `render` function into the model and view classes the
 * Jupyter widget manager instantiates, so each widget file only describes its
 * state and drawing.
 */

import {
  DOMWidgetModel,
  DOMWidgetView,
  type ISerializers,
} from '@jupyter-widgets/base';

import { MODULE_NAME, MODULE_VERSION } from '../version';
import type { AnyModel, Cleanup, RenderProps } from './types';

/** What a widget twin provides on the TypeScript side. */
export interface WidgetDefinition<T extends object> {
  /** Class name prefix; Python's `_model_name`/`_view_name` add Model/View. */
  name: string;
  /** State before the kernel's first message (mirrors the Python defaults). */
  defaults: T;
  /** (De)serializers of binary traits. */
  serializers: ISerializers;
  /** Set up model-level listeners once per model, before any view exists. */
  initialize?: (model: AnyModel<T>) => void;
  /** Draw into `el`; return a cleanup that removes what was added. */
  render: (props: RenderProps<T>) => Cleanup;
}

/** The widget manager's classes for one widget definition. */
export interface WidgetClasses {
  Model: typeof DOMWidgetModel;
  View: typeof DOMWidgetView;
}

export function defineWidget<T extends object>(
  definition: WidgetDefinition<T>,
): WidgetClasses {
  class Model extends DOMWidgetModel {
    static override serializers: ISerializers = {
      ...DOMWidgetModel.serializers,
      ...definition.serializers,
    };

    override initialize(
      ...args: Parameters<DOMWidgetModel['initialize']>
    ): void {
      super.initialize(...args);
      definition.initialize?.(this as unknown as AnyModel<T>);
    }

    override defaults() {
      return {
        ...super.defaults(),
        _model_name: `${definition.name}Model`,
        _model_module: MODULE_NAME,
        _model_module_version: MODULE_VERSION,
        _view_name: `${definition.name}View`,
        _view_module: MODULE_NAME,
        _view_module_version: MODULE_VERSION,
        ...definition.defaults,
      };
    }
  }

  class View extends DOMWidgetView {
    private _cleanup: Cleanup | null = null;

    override render(): void {
      this._cleanup = definition.render({
        // Backbone's untyped get/on/off, seen through the typed state.
        model: this.model as unknown as AnyModel<T>,
        el: this.el,
      });
    }

    override remove(): unknown {
      this._cleanup?.();
      this._cleanup = null;
      return super.remove();
    }
  }

  return { Model, View };
}
