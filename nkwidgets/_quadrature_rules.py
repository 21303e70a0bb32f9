r"""Gauss rules for the Gaussian half-line weights :math:`r^p e^{-r^2/2}` on :math:`[0, \infty)`.

A shared numerical helper with no dependency beyond NumPy, so that every floor
can use it: the kink-aware kernels of ``nkwidgets.kernels`` (radial and 1-D
rules of ``ElementwiseNumerical``), the mean-field recursions of
``nkwidgets._phase`` and the Hermite expansions of ``nkwidgets._sketch``.
``p = 0`` gives the one-variable rule (apply it to :math:`g(z) + g(-z)`, which
splits a Gaussian expectation at the kink 0); ``p = 1`` the radial rule of
polar coordinates in the plane.
"""

from __future__ import annotations

import numpy as np


def half_range_rule(n: int, power: int) -> tuple[np.ndarray, np.ndarray]:
    r"""The ``n``-node Gauss rule for :math:`r^p e^{-r^2/2}` on :math:`[0, \infty)`.

    Exact, up to rounding, for :math:`\int_0^\infty P(r)\, r^p e^{-r^2/2}\, dr`
    with any polynomial :math:`P` of degree below ``2 n``. Computed in float64
    by the Lanczos process (discretised Stieltjes procedure) on a fine
    composite Gauss–Legendre discretisation of the weight, then Golub–Welsch
    for the nodes: no moments are formed (the moment matrix's condition number
    grows exponentially with ``n``), so all moments below degree ``2 n`` come
    out to ~1e-14 relative up to ``n = 60`` at least.

    Returns:
      nodes (ascending) and weights, float64 arrays of length ``n``.
    """
    # Discretise the weight: panels [k, k+1] with 32 Gauss–Legendre nodes each
    # integrate P(r) r^p exp(-r^2/2) to rounding for deg P < 2n; they run past
    # the largest node (about sqrt(5 n)) far enough that the weighted
    # top-degree polynomials have decayed by more than exp(-100).
    # Orthogonal polynomials of degree ~n oscillate with period ~1/sqrt(n)
    # near the origin, so above n ~ 16 the panels shrink to keep ~32 nodes per
    # few oscillations (with unit panels the rule degrades past n ~ 200).
    width = min(1.0, 4.0 / np.sqrt(max(n, 1)))
    extent = np.sqrt(8.0 * n + 8.0 * power) + 12.0
    panels = int(np.ceil(extent / width))
    t, w = np.polynomial.legendre.leggauss(32)
    x = width * (np.arange(panels)[:, None] + 0.5 * (t + 1.0)).ravel()
    wx = np.tile(0.5 * width * w, panels) * x**power * np.exp(-0.5 * x * x)

    # Lanczos on diag(x) from sqrt(wx): the recurrence coefficients of the
    # polynomials orthonormal for the discrete measure, which match the
    # continuous ones up to degree n. Full re-orthogonalisation (twice) keeps
    # the basis orthogonal to rounding.
    mass = float(np.sum(wx))
    basis = np.zeros((n, x.size))
    basis[0] = np.sqrt(wx / mass)
    alpha = np.zeros(n)
    beta = np.zeros(max(n - 1, 0))
    for k in range(n):
        vec = x * basis[k]
        alpha[k] = basis[k] @ vec
        for _ in range(2):
            vec -= basis[: k + 1].T @ (basis[: k + 1] @ vec)
        if k + 1 < n:
            beta[k] = np.linalg.norm(vec)
            basis[k + 1] = vec / beta[k]
    jacobi = np.diag(alpha) + np.diag(beta, 1) + np.diag(beta, -1)
    nodes = np.linalg.eigvalsh(jacobi)

    # Christoffel numbers 1 / sum_k p_k(x)^2 (p_k orthonormal, p_0 = 1 /
    # sqrt(mass)): a sum of positive terms, so the weights of the outer nodes,
    # down to 1e-100, keep their relative accuracy (the eigenvectors' first
    # components would give them only to an absolute 1e-16).
    # At large n (~> 150) the outermost nodes' sums overflow (and then give
    # inf - inf = NaN); their weights are below 1e-308 and are set to 0.
    prev, cur = np.zeros(n), np.full(n, 1.0 / np.sqrt(mass))
    total = cur * cur
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(n - 1):
            nxt = (nodes - alpha[k]) * cur - (beta[k - 1] * prev if k else 0.0)
            prev, cur = cur, nxt / beta[k]
            total += cur * cur
    weights = np.where(
        np.isfinite(total), 1.0 / np.where(np.isfinite(total), total, 1.0), 0.0
    )
    return nodes, weights
