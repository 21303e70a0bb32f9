"""Jupyter widgets that draw kernels and predictions while they are computed."""

from ._architecture_builder import ArchitectureBuilder as ArchitectureBuilder
from ._kernel_heatmap import KernelHeatmap as KernelHeatmap
from ._prediction_view import PredictionView as PredictionView
