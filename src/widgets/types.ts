/**
 * The typed surface a view sees of its widget model.
 *
 * Views are written against this instead of the Backbone `DOMWidgetModel`, so
 * reading a key that the Python twin does not sync is a compile error, and
 * the views can be exercised with a plain mock model in unit tests.
 */

/** Binary buffers as the widget manager hands them to a view. */
export type WireBuffer = DataView | ArrayBuffer | ArrayBufferView;

/** Callback for a custom message sent with `widget.send(content, buffers)`. */
export type CustomMessageCallback = (
  content: unknown,
  buffers: ReadonlyArray<WireBuffer> | undefined,
) => void;

/** A widget model whose synced state has the shape `T`. */
export interface AnyModel<T extends object> {
  get<K extends keyof T & string>(key: K): T[K];
  on<K extends keyof T & string>(
    event: `change:${K}`,
    callback: () => void,
  ): void;
  on(event: 'msg:custom', callback: CustomMessageCallback): void;
  off(event: string, callback: (...args: never[]) => void): void;
}

/** What a view's `render` receives, as in anywidget. */
export interface RenderProps<T extends object> {
  model: AnyModel<T>;
  el: HTMLElement;
}

/** Removes everything `render` added: listeners, observers, frames. */
export type Cleanup = () => void;
