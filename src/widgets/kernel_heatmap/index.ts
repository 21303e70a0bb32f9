/**
 * A heatmap of kernel matrices that fills in block by block: the pieces the
 * widget registry needs. `model.ts` holds the synced state and block
 * messages, `derive.ts` what is shown (kernel, difference, correlation),
 * `order.ts` the class sorting, `colour_scale.ts` the colour range and
 * ticks, `picture.ts` the cached coloured matrix, `zoom.ts` the zoom and
 * pointer geometry, `draw.ts` the canvas, `interaction.ts` hover and zoom
 * gestures, `controls.ts` the buttons and `view.ts` the wiring.
 */

export {
  initializeModel,
  KERNEL_HEATMAP_DEFAULTS,
  KERNEL_HEATMAP_SERIALIZERS,
  type KernelHeatmapModel,
} from './model';
export { render } from './view';
