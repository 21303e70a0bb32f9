"""The width sweep as a :class:`~nkwidgets.compute.Job` that publishes what it measures.

The one floor-3 file of this package: the science is the generator in
:mod:`._sweep`; this module runs it on the Job's thread, turns its records into
events for the widgets, and lets Cancel stop it between two networks.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Final

import jax
import numpy as np
import numpy.typing as npt

from nkwidgets._empirical._types import NtkImplementation
from nkwidgets.compute._job import Job, JobCancelled, JobContext

from ._sweep import (
    ConvergenceResult,
    NetworkAtWidth,
    SampleStep,
    SweepPlan,
    WidthEnd,
    WidthPoint,
    WidthStart,
    summarize,
    sweep,
)

#: Default shortest time between two events that carry the running mean kernel:
#: a front end redraws at most ~20 times a second, and an N x N float64 matrix
#: per network would otherwise be copied thousands of times for small networks.
KERNEL_EVENT_INTERVAL_S: Final = 0.05

#: Events of a sweep, in order: ``started``; per width ``width_started``, one
#: ``sample`` per network, ``width_done``; then ``done`` (or ``failed`` /
#: ``cancelled``, from the Job itself).
SWEEP_EVENT_KINDS: Final = ("started", "width_started", "sample", "width_done", "done")


def width_convergence(
    network_at_width: NetworkAtWidth,
    x: npt.ArrayLike,
    widths: Sequence[int],
    n_samples: int,
    key: jax.Array,
    *,
    implementation: NtkImplementation | int = NtkImplementation.AUTO,
    vmap_axes: Any = None,
    kernel_event_interval_s: float = KERNEL_EVENT_INTERVAL_S,
) -> Job:
    r"""A Job measuring how the empirical NTK approaches the infinite NTK as width grows.

    For each width, draws ``n_samples`` networks from
    ``network_at_width(width)`` and compares each empirical NTK on ``x`` with
    the network's ``kernel_fn`` NTK (the same for all widths under the NTK
    parameterization):

    .. math:: e_n = \mathbb{E}\, \frac{\|\hat\Theta_n(x, x) - \Theta(x, x)\|_F}
       {\|\Theta(x, x)\|_F} \propto n^{-1/2} .

    The Job is returned unstarted: subscribe a view first
    (``EmpiricalVsInfinite(job)``), then ``job.start()``; or
    ``job.run_here()`` (see :func:`run_width_convergence`). Inputs are checked
    here, before any work; errors found while computing (e.g. a network whose
    output is not a vector per example) reach subscribers as ``failed``.

    Events (``event.data``):

    * ``started``: ``widths``, ``n_samples``, ``n_examples``, ``total``
      (networks in all).
    * ``width_started``: ``width``, ``index``, ``infinite`` ((N, N) float64).
    * ``sample``: ``point`` (:class:`WidthPoint`: running mean error, its
      standard error, error of the averaged kernel), ``sample_error``,
      ``kernel`` (a copy of the running mean (N, N), or ``None`` when the
      previous one went out less than ``kernel_event_interval_s`` ago; the
      first and last network of a width always carry it), ``done``, ``total``,
      ``elapsed`` seconds.
    * ``width_done``: ``point``, ``fit`` (:class:`PowerLawFit` over finished
      widths, ``None`` below two).
    * ``done``: ``result`` (:class:`ConvergenceResult`). After Cancel,
      ``JobCancelled.partial`` holds the finished widths.

    Args:
      network_at_width: ``width -> (init_fn, apply_fn, kernel_fn)``, e.g.
        ``lambda n: stax.serial(stax.Dense(n), stax.Relu(), stax.Dense(1))``.
      x: inputs, ``(N, ...)``; kernels are ``N x N``.
      widths: at least two distinct positive widths, measured in this order.
      n_samples: networks per width (2 or more for standard errors).
      key: PRNG key; width ``n`` uses ``jax.random.fold_in(key, n)``.
      implementation: of :func:`~nkwidgets.empirical.empirical_ntk_fn`.
      vmap_axes: of :func:`~nkwidgets.empirical.empirical_ntk_fn`; ``0`` is
        much faster and right for networks that treat examples independently.
      kernel_event_interval_s: shortest time between ``sample`` events that
        carry the running mean kernel.

    Returns:
      An unstarted :class:`~nkwidgets.compute.Job` whose result is a
      :class:`ConvergenceResult`.

    Raises:
      SweepError: for widths, ``n_samples`` or a ``network_at_width`` that
        cannot be swept. InputError: for ``x`` that is not a batch of finite
        inputs.

    Examples:
      >>> import jax
      >>> from nkwidgets import stax
      >>> from nkwidgets.convergence import width_convergence
      >>> net = lambda n: stax.serial(stax.Dense(n), stax.Relu(), stax.Dense(1))
      >>> x = jax.random.normal(jax.random.PRNGKey(0), (4, 3))
      >>> job = width_convergence(net, x, [32, 512], 4, jax.random.PRNGKey(1))
      >>> result = job.run_here()
      >>> bool(result.errors[1] < result.errors[0]), result.widths.tolist()
      (True, [32, 512])

    References:
      Jacot, Gabriel, Hongler, `Neural Tangent Kernel: Convergence and
      Generalization in Neural Networks <https://arxiv.org/abs/1806.07572>`_,
      NeurIPS 2018 (convergence in width).

      Lee et al., `Finite Versus Infinite Neural Networks: an Empirical Study
      <https://arxiv.org/abs/2007.15801>`_, NeurIPS 2020.
    """
    plan = SweepPlan.build(
        network_at_width, x, widths, n_samples, key, implementation, vmap_axes
    )
    interval = float(kernel_event_interval_s)
    if not interval >= 0:
        raise ValueError(
            f"`kernel_event_interval_s={kernel_event_interval_s!r}` must be >= 0 seconds."
        )

    def work(context: JobContext) -> ConvergenceResult:
        return _run(plan, context, interval)

    return Job(work, name="width-convergence")


def run_width_convergence(
    network_at_width: NetworkAtWidth,
    x: npt.ArrayLike,
    widths: Sequence[int],
    n_samples: int,
    key: jax.Array,
    *,
    implementation: NtkImplementation | int = NtkImplementation.AUTO,
    vmap_axes: Any = None,
) -> ConvergenceResult:
    """:func:`width_convergence` run on the calling thread, for scripts and tests.

    Same arguments; returns the :class:`ConvergenceResult` (or raises what
    stopped the sweep).
    """
    return width_convergence(
        network_at_width,
        x,
        widths,
        n_samples,
        key,
        implementation=implementation,
        vmap_axes=vmap_axes,
    ).run_here()


def _run(plan: SweepPlan, context: JobContext, interval: float) -> ConvergenceResult:
    points: list[WidthPoint] = []
    means: dict[int, np.ndarray] = {}
    infinite: dict[int, np.ndarray] = {}
    context.emit(
        "started",
        widths=plan.widths,
        n_samples=plan.n_samples,
        n_examples=int(plan.x.shape[0]),
        total=plan.total,
    )
    done = 0
    last_kernel = -float("inf")
    steps = sweep(plan)
    try:
        for step in steps:
            if isinstance(step, WidthStart):
                infinite[step.width] = step.infinite
                context.emit(
                    "width_started",
                    width=step.width,
                    index=step.index,
                    infinite=step.infinite,
                )
            elif isinstance(step, SampleStep):
                done += 1
                point = step.point
                now = time.monotonic()
                edge = point.n_samples in (1, plan.n_samples)
                kernel = None
                if edge or now - last_kernel >= interval:
                    kernel = step.mean_kernel.copy()
                    last_kernel = now
                if point.n_samples == plan.n_samples:
                    means[point.width] = step.mean_kernel.copy()
                context.emit(
                    "sample",
                    point=point,
                    sample_error=step.sample_error,
                    kernel=kernel,
                    done=done,
                    total=plan.total,
                    elapsed=context.elapsed,
                )
            elif isinstance(step, WidthEnd):
                points.append(step.point)
                context.emit("width_done", point=step.point, fit=step.fit)
            # Between networks, never inside one: a cancel loses no finished width.
            context.check_cancelled()
    except JobCancelled as cancelled:
        steps.close()
        cancelled.partial = summarize(points, plan.n_samples, means, infinite)
        raise
    return summarize(points, plan.n_samples, means, infinite)
