"""Jupyter widgets that draw kernels and predictions while they are computed."""

from ._architecture_builder import ArchitectureBuilder as ArchitectureBuilder
from ._empirical_vs_infinite import EmpiricalVsInfinite as EmpiricalVsInfinite
from ._kernel_heatmap import KernelHeatmap as KernelHeatmap
from ._kip_view import KipView as KipView
from ._log_ticks import log_axis_ticks as log_axis_ticks
from ._order_chaos_plot import OrderChaosPlot as OrderChaosPlot
from ._parameterization_plot import ParameterizationPlot as ParameterizationPlot
from ._phase_plot import PhasePlot as PhasePlot
from ._power_law_plot import PowerLawPlot as PowerLawPlot
from ._prediction_view import PredictionView as PredictionView
from ._spectrum_plot import SpectrumPlot as SpectrumPlot
