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

# Blocked kernels against one unblocked call (nkwidgets/compute/), as a
# norm-wise relative error (max |a - b| / max |b|): the same arithmetic on
# smaller matmuls and other XLA fusions, so only rounding differs. float64
# lands at ~4e-16. In float32 the unblocked call alone differs between eager
# and jit by ~3e-7 (NNGP) and ~1e-6 (NTK after three layers), about 10 ulp, so
# 4e-6 is that noise with margin. (Sharded vs one device with the same blocks
# is bit-identical and tested with assert_array_equal.) Smooth activations
# only: arc-cosine kernels amplify a rounding error eps in a unit correlation
# to sqrt(eps) (see tests/compute/test_job.py).
BLOCKED_RTOL = {"float64": 1e-12, "float32": 4e-6}

# jax.test_util.check_grads against central finite differences in float64.
# Smooth kernels agree to ~1e-8; at correlation exactly 1 (x2 == x1, tested on
# purpose) arc-cosine kernels are C^1 but their curvature diverges like
# 1 / sin(theta), so the differences there reach ~1.1e-5 relative.
GRAD_RTOL = {"float64": 1e-4}
