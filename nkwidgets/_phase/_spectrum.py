r"""The top eigenvalue of the empirical NTK, from NTK-vector products only.

Normalization (Lewkowycz et al. 2020, eq. 2-3): for the loss
:math:`L = \frac{1}{2n}\sum_{i=1}^{n}\|f(x_i) - y_i\|^2` over ``n`` training
points, one step of gradient descent moves the outputs, to first order, by
:math:`-\eta\,(\Theta / n)\,(f - y)`, where :math:`\Theta` is the full
:math:`(n k) \times (n k)` empirical NTK of the ``k`` outputs (no trace over
logits). :math:`\lambda_0` is the top eigenvalue of :math:`\Theta / n` at
initialization, so the linearized dynamics are stable iff
:math:`\eta < \eta_\mathrm{crit} = 2 / \lambda_0`.

The eigenvalue comes from Lanczos iterations on the operator
:math:`v \mapsto \Theta v / n`, each one vector-Jacobian product followed by a
Jacobian-vector product (:func:`nkwidgets.empirical.empirical_ntk_vp_fn`), so
the NTK is never formed. Lanczos rather than power iteration because a network
with ``k`` outputs has a top cluster of ``k`` nearly equal eigenvalues
(:math:`\Theta \approx \Theta_1 \otimes I_k` at large width), which power
iteration cannot resolve in a few dozen steps: on a width-2048 ReLU MLP on 64
digits it stalled 0.5 % below the top after 100 products, while Lanczos
reaches it to rounding in about 30.

References:
  Lewkowycz, Bahri, Dyer, Sohl-Dickstein, Gur-Ari, `The large learning rate
  phase of deep learning: the catapult mechanism
  <https://arxiv.org/abs/2003.02218>`_, 2020.

  Golub, Van Loan, *Matrix Computations*, 4th ed., 2013, §10.1 (Lanczos).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..empirical import empirical_ntk_vp_fn
from ..errors import InputError

# Lanczos steps for a cold start (lambda_0, and the final lambda_T of a run).
# 32 products resolve the k-fold top cluster of a 10-output MLP to ~1e-6.
LANCZOS_ITERATIONS = 32

# The paper's divergence bounds, as multiples of 1 / lambda_0
# (Lewkowycz et al. 2020):
# 4 is proven for a wide two-layer linear network (section 2); about 12 is what
# the paper measured for wide ReLU networks (section 3). Architecture,
# number of outputs and data move the real value; PhaseSweep measures it.
ETA_MAX_LINEAR = 4.0
ETA_MAX_RELU = 12.0


class CriticalRates(NamedTuple):
    """The learning rates that separate the phases, for one :math:`\\lambda_0`.

    Attributes:
      lambda0: top eigenvalue of :math:`\\Theta / n` at initialization.
      eta_crit: :math:`2 / \\lambda_0`, end of the lazy phase.
      eta_max_linear: :math:`4 / \\lambda_0`, the divergence bound proven
        for the wide two-layer linear network.
      eta_max_relu: :math:`12 / \\lambda_0`, the divergence point the paper
        reports for wide ReLU networks (empirical, architecture dependent).
    """

    lambda0: float
    eta_crit: float
    eta_max_linear: float
    eta_max_relu: float


def critical_learning_rates(lambda0: float) -> CriticalRates:
    """:math:`2/\\lambda_0`, and the paper's divergence bounds :math:`4/\\lambda_0`, :math:`12/\\lambda_0`.

    Examples:
      >>> from nkwidgets.phase import critical_learning_rates
      >>> critical_learning_rates(0.5)
      CriticalRates(lambda0=0.5, eta_crit=4.0, eta_max_linear=8.0, eta_max_relu=24.0)
    """
    lam = float(lambda0)
    if not np.isfinite(lam) or lam <= 0:
        raise InputError(
            f"`lambda0={lambda0!r}` must be a positive finite eigenvalue; "
            "an NTK of a network whose outputs do not depend on its parameters "
            "has none. Fix: check that the parameters feed the outputs."
        )
    return CriticalRates(lam, 2.0 / lam, ETA_MAX_LINEAR / lam, ETA_MAX_RELU / lam)


def lanczos_top(
    matvec: Callable[[jax.Array], jax.Array], v0: jax.Array, iterations: int
) -> tuple[jax.Array, jax.Array]:
    """Top eigenpair of a symmetric operator by Lanczos with full reorthogonalisation.

    Pure JAX (``fori_loop`` and a small ``eigh``), so it runs under ``jit`` and
    ``vmap``. Breakdown (an invariant subspace found before ``iterations``)
    leaves zero couplings in the tridiagonal matrix, which decouples the rest.

    Args:
      matvec: ``v -> A v`` on arrays shaped like ``v0``.
      v0: start vector (any nonzero array; a previous eigenvector warm-starts).
      iterations: Krylov dimension.

    Returns:
      ``(eigenvalue, unit eigenvector shaped like v0)``.
    """
    shape = v0.shape
    flat = v0.reshape(-1)
    size = flat.shape[0]
    m = int(min(iterations, size))
    dtype = flat.dtype

    def mv(v: jax.Array) -> jax.Array:
        return matvec(v.reshape(shape)).reshape(-1)

    basis = jnp.zeros((m, size), dtype)
    alpha = jnp.zeros(m, dtype)
    beta = jnp.zeros(m, dtype)
    v = flat / jnp.linalg.norm(flat)
    rows = jnp.arange(m)

    def body(j: int, state: tuple[Any, ...]) -> tuple[Any, ...]:
        basis, alpha, beta, v = state
        basis = basis.at[j].set(v)
        w = mv(v)
        a = jnp.vdot(v, w)
        # Twice-applied Gram-Schmidt against every basis vector so far: the
        # classical three-term recurrence loses orthogonality exactly when a
        # Ritz value converges, which is the regime we run in.
        for _ in range(2):
            coeffs = jnp.where(rows <= j, basis @ w, 0.0)
            w = w - coeffs @ basis
        b = jnp.linalg.norm(w)
        v_next = jnp.where(b > 0, w / jnp.where(b > 0, b, 1.0), 0.0)
        return basis, alpha.at[j].set(a), beta.at[j].set(b), v_next

    basis, alpha, beta, _ = jax.lax.fori_loop(0, m, body, (basis, alpha, beta, v))
    off = beta[:-1]
    tri = jnp.diag(alpha) + jnp.diag(off, 1) + jnp.diag(off, -1)
    values, vectors = jnp.linalg.eigh(tri)
    top = vectors[:, -1] @ basis
    return values[-1], (top / jnp.linalg.norm(top)).reshape(shape)


def ntk_operator(
    apply_fn: Callable[..., Any], params: Any, x: Any, n: int, **apply_kwargs: Any
) -> Callable[[jax.Array], jax.Array]:
    """``v -> Theta v / n`` for the NTK of ``apply_fn`` on ``x`` at ``params``."""
    vp = empirical_ntk_vp_fn(apply_fn, x, None, params, **apply_kwargs)
    return lambda v: vp(v) / n


def ntk_top_eigenvalue(
    apply_fn: Callable[..., Any],
    params: Any,
    x: Any,
    *,
    iterations: int = LANCZOS_ITERATIONS,
    v0: jax.Array | None = None,
    seed: int = 0,
    **apply_kwargs: Any,
) -> tuple[float, jax.Array]:
    r""":math:`\lambda_0`: the top eigenvalue of :math:`\Theta / n`, the MSE curvature in function space.

    :math:`\Theta` is the full empirical NTK of all outputs on the ``n``
    examples of ``x``; dividing by ``n`` matches the loss
    :math:`\frac{1}{2n}\sum_i \|f(x_i) - y_i\|^2` (see the module docstring),
    so gradient descent on it is linearly stable iff
    :math:`\eta < 2 / \lambda_0`.

    Args:
      apply_fn: ``apply_fn(params, x, **apply_kwargs)`` with examples on axis
        0 of the output (``stax`` networks, ``flax`` ``apply``, any function).
      params: parameters the NTK is taken with respect to.
      x: inputs, ``n`` examples on axis 0.
      iterations: Lanczos steps (NTK-vector products).
      v0: start vector shaped like ``apply_fn(params, x)``; default random
        from ``seed``.
      seed: seed of the default start vector.
      **apply_kwargs: passed to ``apply_fn``.

    Returns:
      ``(lambda0, eigenvector)``, the eigenvector shaped like the outputs.

    Examples:
      >>> import jax.numpy as jnp
      >>> from nkwidgets.phase import ntk_top_eigenvalue
      >>> f = lambda w, x: x @ w  # Theta = x x^T, so lambda0 = top eig / n
      >>> x = jnp.array([[1.0, 0.0], [0.0, 2.0]])
      >>> lam, _ = ntk_top_eigenvalue(f, jnp.ones((2, 1)), x)
      >>> round(lam, 4)
      2.0

    References:
      Lewkowycz et al., `The large learning rate phase of deep learning: the
      catapult mechanism <https://arxiv.org/abs/2003.02218>`_, 2020, eq. 3.
    """
    if int(iterations) < 1:
        raise InputError(f"`iterations={iterations!r}` must be at least 1.")
    out = jax.eval_shape(lambda p: apply_fn(p, x, **apply_kwargs), params)
    if not hasattr(out, "shape") or len(out.shape) < 1 or out.shape[0] < 1:
        raise InputError(
            "`apply_fn(params, x)` must return one array with examples on axis 0; "
            f"got {out!r}. Fix: wrap a pytree-valued function to return one array."
        )
    n = out.shape[0]
    if v0 is None:
        v0 = jax.random.normal(jax.random.PRNGKey(seed), out.shape, out.dtype)
    op = ntk_operator(apply_fn, params, x, n, **apply_kwargs)
    lam, vec = jax.jit(lambda v: lanczos_top(op, v, int(iterations)))(
        jnp.asarray(v0, out.dtype)
    )
    return float(lam), vec
