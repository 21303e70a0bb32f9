"""Taylor expansions of a network in its parameters: ``linearize`` and ``taylor_expand``."""

from __future__ import annotations

from typing import Any

import jax

from ._types import ApplyFn, PyTree


def _sub(a: PyTree, b: PyTree) -> PyTree:
    return jax.tree_util.tree_map(lambda x, y: x - y, a, b)


def linearize(f: ApplyFn, params: PyTree) -> ApplyFn:
    r"""The first-order Taylor expansion of ``f`` in its parameters around ``params``.

    .. math:: f^{\mathrm{lin}}(\theta, x) = f(\theta_0, x) +
       \frac{\partial f(\theta_0, x)}{\partial \theta} (\theta - \theta_0) .

    Trained by gradient descent, a wide network stays close to this linear
    model, whose dynamics the NTK solves in closed form (Lee et al. 2019). One
    evaluation costs about one forward-mode pass (``jax.jvp``).

    Args:
      f: ``f(params, *args, **kwargs)`` returning a pytree.
      params: the expansion point :math:`\theta_0`.

    Returns:
      ``f_lin(new_params, *args, **kwargs)`` with the signature of ``f``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from nkwidgets.empirical import linearize
      >>> f = lambda p, x: jnp.sin(p * x)
      >>> f_lin = linearize(f, 0.0)
      >>> print(f_lin(0.1, jnp.array([1.0, 2.0])))
      [0.1 0.2]

    References:
      Lee, Xiao, Schoenholz, Bahri, Novak, Sohl-Dickstein, Pennington, `Wide
      Neural Networks of Any Depth Evolve as Linear Models Under Gradient
      Descent <https://arxiv.org/abs/1902.06720>`_, NeurIPS 2019.
    """

    def f_lin(p: PyTree, *args: Any, **kwargs: Any) -> PyTree:
        out, tangent = jax.jvp(
            lambda q: f(q, *args, **kwargs), (params,), (_sub(p, params),)
        )
        return jax.tree_util.tree_map(lambda a, b: a + b, out, tangent)

    return f_lin


def taylor_expand(f: ApplyFn, params: PyTree, degree: int) -> ApplyFn:
    r"""The Taylor expansion of ``f`` in its parameters to order ``degree``.

    .. math:: f^{(d)}(\theta, x) = \sum_{k=0}^{d} \frac{1}{k!}
       \left. \frac{d^k}{dt^k} f(\theta_0 + t (\theta - \theta_0), x) \right|_{t=0} .

    Computed with nested ``jax.jvp`` (Neural Tangents' recursion); ``degree=1``
    equals :func:`linearize`, ``degree=0`` is ``f(params, ...)``.

    Args:
      f: ``f(params, *args, **kwargs)`` returning a pytree.
      params: the expansion point :math:`\theta_0`.
      degree: a non-negative integer.

    Returns:
      ``f_tayl(new_params, *args, **kwargs)`` with the signature of ``f``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from nkwidgets.empirical import taylor_expand
      >>> f_2 = taylor_expand(lambda p, x: jnp.exp(p * x), 0.0, 2)
      >>> print(f_2(1.0, jnp.array([1.0])))
      [2.5]
    """
    if not isinstance(degree, int) or isinstance(degree, bool) or degree < 0:
        raise ValueError(f"`degree={degree!r}` must be a non-negative integer, e.g. 2.")

    def f_tayl(p: PyTree, *args: Any, **kwargs: Any) -> PyTree:
        delta = _sub(p, params)

        def expand(g: Any, k: int) -> PyTree:
            # g's value plus 1/(k+1) of the expansion of its derivative along delta.
            if k == degree:
                return g(params)

            def dg(q: PyTree) -> PyTree:
                return jax.jvp(g, (q,), (delta,))[1]

            rest = expand(dg, k + 1)
            return jax.tree_util.tree_map(lambda a, b: a + b / (k + 1), g(params), rest)

        return expand(lambda q: f(q, *args, **kwargs), 0)

    return f_tayl
