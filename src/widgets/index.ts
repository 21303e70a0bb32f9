/**
 * The widget models and views, looked up by the names the Python widgets
 * send as `_model_name` and `_view_name`.
 */

import { defineWidget } from './define';
import {
  KERNEL_HEATMAP_DEFAULTS,
  KERNEL_HEATMAP_SERIALIZERS,
  initializeModel as initializeKernelHeatmap,
  render as renderKernelHeatmap,
} from './kernel_heatmap/index';

const kernelHeatmap = defineWidget({
  name: 'KernelHeatmap',
  defaults: KERNEL_HEATMAP_DEFAULTS,
  serializers: KERNEL_HEATMAP_SERIALIZERS,
  initialize: initializeKernelHeatmap,
  render: renderKernelHeatmap,
});

export const KernelHeatmapModel = kernelHeatmap.Model;
export const KernelHeatmapView = kernelHeatmap.View;
