"""Jupyter widgets that draw kernels and predictions while they are computed."""

from ._kernel_heatmap import KernelHeatmap as KernelHeatmap
