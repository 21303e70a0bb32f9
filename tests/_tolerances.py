"""One table of numerical tolerances, by precision, used by every kernel test.

Closed-form kernels are a handful of arithmetic steps per layer; in float64 they
agree with independent formulas to ~1e-12, so 1e-6 leaves room for arccos near
±1 (error ~ sqrt(eps)). In float32 the same computations reach ~1e-5 relative.
"""

CLOSED_FORM_RTOL = {"float64": 1e-6, "float32": 2e-4}

# Neural Tangents parity: different operation order, same maths (issue #4).
NT_PARITY_RTOL = 1e-4

# Number of standard errors a Monte Carlo estimate may stray from the
# analytic kernel. With ~50 comparisons per test file, 5 sigma keeps the chance
# of a spurious failure below 1e-4 per file under a Gaussian approximation.
MC_SIGMAS = 5.0

# Finite width bias: kernels of width-n networks differ from the limit by
# O(1/n); at n = 1024 and depth <= 3 we allow 2 % of the kernel's scale.
MC_WIDTH_BIAS = 0.02
