"""The public sweep entry points: one model, or several streaming events to a Job.

Like the rest of floor 2 this never imports the compute floor: the
several-model sweep reports to a duck-typed ``context`` (``emit(kind,
**data)`` and ``check_cancelled()``), which is what a
:class:`~nkwidgets.compute.Job` hands its work function::

    job = Job(lambda ctx: learning_rate_sweeps(models, x, y, context=ctx))
    PhasePlot(job); job.start()
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from ..errors import InputError
from ._classify import Thresholds
from ._spectrum import LANCZOS_ITERATIONS
from ._sweep import (
    DEFAULT_ETA_LAMBDA0,
    TRACK_ITERATIONS,
    PhaseRun,
    PhaseSweep,
    SweepSettings,
    run_sweep,
)

# Event kinds a sweep publishes besides Job's own started/progress/done/
# failed/cancelled; PhasePlot listens to these.
SWEEP_EVENT_KINDS = ("lambda0", "run_done", "sweep_done")


class Context(Protocol):
    """What a sweep reports to: a ``nkwidgets.compute`` ``JobContext`` fits."""

    def emit(self, kind: str, **data: Any) -> None: ...

    def check_cancelled(self) -> None: ...


def learning_rate_sweep(
    apply_fn: Callable[..., Any],
    params: Any,
    x: Any,
    y: Any,
    *,
    eta_lambda0: Sequence[float] | Any = DEFAULT_ETA_LAMBDA0,
    steps: int = 300,
    record_every: int = 10,
    track_iterations: int = TRACK_ITERATIONS,
    lanczos_iterations: int = LANCZOS_ITERATIONS,
    thresholds: Thresholds | None = None,
    runs_per_batch: int | None = None,
    seed: int = 0,
    label: str = "",
    on_run: Callable[[PhaseRun], None] | None = None,
) -> PhaseSweep:
    r"""Train one network at learning rates :math:`\eta = c/\lambda_0` and label each run's phase.

    Full-batch gradient descent on :math:`\frac{1}{2n}\sum_i\|f(x_i)-y_i\|^2`
    from the same initialization for every ``c`` in ``eta_lambda0``; the runs
    of a batch train side by side under one ``vmap``. :math:`\lambda_0` is
    the top eigenvalue of :math:`\Theta/n` (:func:`ntk_top_eigenvalue`), so
    the linearized theory puts the end of the lazy phase at ``c = 2``.

    Args:
      apply_fn: ``apply_fn(params, x)`` returning ``(n, k)`` outputs.
      params: initial parameters (shared by every run).
      x: ``n`` training inputs.
      y: ``(n, k)`` targets.
      eta_lambda0: learning rates in units of :math:`1/\lambda_0`.
      steps: gradient-descent steps per run.
      record_every: steps between measurements of :math:`\lambda_t` (also the
        length of one compiled chunk, between which a Job can be cancelled).
      track_iterations: Lanczos steps per :math:`\lambda_t`, warm-started.
      lanczos_iterations: Lanczos steps for :math:`\lambda_0` and the final
        :math:`\lambda_T`.
      thresholds: phase thresholds (:class:`Thresholds`).
      runs_per_batch: runs trained side by side; default all (fastest, most
        memory: ``runs_per_batch`` copies of the parameters and gradients).
      seed: seed of the Lanczos start vector.
      label: name of this model in the result and in plots.
      on_run: called with each :class:`PhaseRun` as its batch finishes.

    Returns:
      A :class:`PhaseSweep`.

    Examples:
      >>> import jax
      >>> from nkwidgets import stax
      >>> from nkwidgets.data import digits
      >>> from nkwidgets.phase import learning_rate_sweep
      >>> ds = digits(train=16, test=1)
      >>> init_fn, apply_fn, _ = stax.serial(stax.Dense(256, W_std=2**0.5), stax.Relu(), stax.Dense(10))
      >>> _, params = init_fn(jax.random.PRNGKey(0), ds.x_train.shape)
      >>> sweep = learning_rate_sweep(apply_fn, params, ds.x_train, ds.y_train,
      ...                             eta_lambda0=[0.5, 1.0], steps=20)
      >>> sweep.phases
      ('lazy', 'lazy')

    References:
      Lewkowycz, Bahri, Dyer, Sohl-Dickstein, Gur-Ari, `The large learning
      rate phase of deep learning: the catapult mechanism
      <https://arxiv.org/abs/2003.02218>`_, 2020.
    """
    settings = SweepSettings.make(
        eta_lambda0,
        steps,
        record_every,
        track_iterations,
        lanczos_iterations,
        thresholds,
        runs_per_batch,
        seed,
    )
    return run_sweep(apply_fn, params, x, y, settings, label=label, on_run=on_run)


def learning_rate_sweeps(
    models: Mapping[str, tuple[Callable[..., Any], Any]],
    x: Any,
    y: Any,
    *,
    context: Context | None = None,
    eta_lambda0: Sequence[float] | Any = DEFAULT_ETA_LAMBDA0,
    steps: int = 300,
    record_every: int = 10,
    track_iterations: int = TRACK_ITERATIONS,
    lanczos_iterations: int = LANCZOS_ITERATIONS,
    thresholds: Thresholds | None = None,
    runs_per_batch: int | None = None,
    seed: int = 0,
) -> dict[str, PhaseSweep]:
    """:func:`learning_rate_sweep` for several models (e.g. widths), reporting to ``context``.

    Run it as a :class:`~nkwidgets.compute.Job` to watch it in
    :class:`~nkwidgets.widgets.PhasePlot`::

        job = Job(lambda ctx: learning_rate_sweeps(models, x, y, context=ctx))
        plot = PhasePlot(job)
        job.start()

    Events emitted to ``context`` (a Job adds ``done``/``failed``/``cancelled``):

    * ``started``: ``labels`` (list), ``eta_lambda0`` (array), ``total``
      run-steps.
    * ``lambda0``: ``label``, ``rates`` (:class:`CriticalRates`), when a
      model's :math:`\\lambda_0` is known, before it trains.
    * ``run_done``: ``run`` (:class:`PhaseRun`), as each batch of runs ends.
    * ``progress``: ``done`` and ``total`` run-steps, ``elapsed`` seconds.
    * ``sweep_done``: ``sweep`` (:class:`PhaseSweep`) per model.

    ``context.check_cancelled()`` runs between compiled chunks of
    ``record_every`` steps, so a Job's cancel takes effect there.

    Args:
      models: ``{label: (apply_fn, params)}``, e.g. one entry per width.
      x, y: training data shared by all models.
      context: where events go; ``None`` runs silently.

    The other arguments (``eta_lambda0``, ``steps``, ``record_every``,
    ``track_iterations``, ``lanczos_iterations``, ``thresholds``,
    ``runs_per_batch``, ``seed``) are those of :func:`learning_rate_sweep`.

    Returns:
      ``{label: PhaseSweep}`` in the order of ``models``.
    """
    if not isinstance(models, Mapping) or not models:
        raise InputError(
            "`models` must be a non-empty mapping {label: (apply_fn, params)}, "
            "e.g. {'width 512': (apply_fn, params)}."
        )
    for label, model in models.items():
        if not (isinstance(model, tuple) and len(model) == 2 and callable(model[0])):
            raise InputError(
                f"`models[{label!r}]` must be a pair (apply_fn, params); "
                f"got {type(model).__name__}."
            )
    settings = SweepSettings.make(
        eta_lambda0,
        steps,
        record_every,
        track_iterations,
        lanczos_iterations,
        thresholds,
        runs_per_batch,
        seed,
    )
    labels = [str(label) for label in models]
    total = len(labels) * settings.eta_lambda0.size * settings.steps

    started = time.monotonic()
    emit = context.emit if context is not None else (lambda kind, **data: None)
    check = context.check_cancelled if context is not None else (lambda: None)
    emit("started", labels=labels, eta_lambda0=settings.eta_lambda0, total=total)
    done = 0

    def on_chunk(run_steps: int) -> None:
        nonlocal done
        done += run_steps
        emit("progress", done=done, total=total, elapsed=time.monotonic() - started)
        check()

    results: dict[str, PhaseSweep] = {}
    for label, (apply_fn, params) in zip(labels, models.values(), strict=True):
        check()
        sweep = run_sweep(
            apply_fn,
            params,
            x,
            y,
            settings,
            label=label,
            on_run=lambda run: emit("run_done", run=run),
            on_chunk=on_chunk,
            on_lambda0=lambda rates, label=label: emit(
                "lambda0", label=label, rates=rates
            ),
        )
        results[label] = sweep
        emit("sweep_done", sweep=sweep)
    return results
