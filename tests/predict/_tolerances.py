"""Tolerances of the predict tests, each with what bounds it.

Extends the project table ``tests/_tolerances.py`` (imported below) with the
entries the predictors need; kept here until the table's owner merges them.
"""

from .._tolerances import MC_SIGMAS, MC_WIDTH_BIAS, NT_PARITY_RTOL

__all__ = [
    "DISCRETE_RTOL",
    "EXACT_RTOL",
    "MC_SIGMAS",
    "MC_WIDTH_BIAS",
    "NT_PARITY_RTOL",
    "ODE_RTOL",
]

# Closed form (eigendecomposition) against a direct dense solve of the same
# system. Both are backward stable; the test kernels have condition numbers
# below ~1e4, so float64 results agree to ~cond * eps = 2e-12 (1e-8 leaves
# room), float32 to ~cond * 1.2e-7 = 1e-3 at worst.
EXACT_RTOL = {"float64": 1e-8, "float32": 2e-3}

# diffrax Tsit5 at NT's float64 tolerances (rtol = atol = 1.4e-8): the global
# error of an adaptive solve is typically 10-100x the local tolerance.
ODE_RTOL = 2e-6

# Step-by-step discrete dynamics against the continuous flow. Forward Euler /
# heavy ball with step h has a global error ~ h * (lambda_max / N) * T * |f|;
# each test states its h and the resulting bound next to its assertion.
DISCRETE_RTOL = 1e-3
