"""Monte Carlo NNGP and NTK estimates of a family of networks: ``nkwidgets.monte_carlo``.

A drop-in for Neural Tangents 0.6.5's ``nt.monte_carlo_kernel_fn``, plus the
sample standard errors of the estimates (``kernel_fn.estimate``) and a stream
of running estimates (``kernel_fn.stream``), which the widgets draw as the
finite-width kernel converging to the infinite-width one.
"""

from nkwidgets._empirical._monte_carlo import MonteCarloEstimate as MonteCarloEstimate
from nkwidgets._empirical._monte_carlo import MonteCarloKernelFn as MonteCarloKernelFn
from nkwidgets._empirical._monte_carlo import (
    monte_carlo_kernel_fn as monte_carlo_kernel_fn,
)
