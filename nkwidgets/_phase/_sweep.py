r"""Training sweeps over the learning rate: loss and top-NTK-eigenvalue curves per run.

Real finite networks are trained by full-batch gradient descent on
:math:`L = \frac{1}{2n}\sum_i \|f(x_i) - y_i\|^2` at learning rates
:math:`\eta = c / \lambda_0` for a grid of ``c`` (``eta_lambda0``). All runs of
a batch start from the same parameters and train side by side: one
``jax.vmap`` over the learning rate inside one ``jit``-compiled chunk of
``record_every`` steps (``lax.scan``), which is what makes a sweep fast on
CPU. After each chunk the top eigenvalue :math:`\lambda_t` of each run's
:math:`\Theta / n` is updated by a few Lanczos steps warm-started from the
previous eigenvector; the last one gets a full Lanczos run.

A run whose loss is not finite or exceeds ``divergence_factor`` times the
initial loss is frozen at that step and reported as divergent, never raised.

References:
  Lewkowycz, Bahri, Dyer, Sohl-Dickstein, Gur-Ari, `The large learning rate
  phase of deep learning: the catapult mechanism
  <https://arxiv.org/abs/2003.02218>`_, 2020, figures 1 and 3.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import InputError
from ._classify import Phase, Thresholds, classify_run, phase_boundaries
from ._spectrum import (
    LANCZOS_ITERATIONS,
    CriticalRates,
    critical_learning_rates,
    lanczos_top,
    ntk_operator,
    ntk_top_eigenvalue,
)

# The grid: from deep in the lazy phase (0.5) past the paper's ReLU
# divergence point (12) to clear divergence (20), log-spaced.
DEFAULT_ETA_LAMBDA0 = tuple(float(v) for v in np.geomspace(0.5, 20.0, 10))

# Lanczos steps per recorded lambda_t during training. Warm-started from the
# last eigenvector, 8 steps track the top eigenvalue to ~1e-4 relative while
# the kernel changes by a few percent per chunk.
TRACK_ITERATIONS = 8


@dataclasses.dataclass(frozen=True)
class PhaseRun:
    """One training run of a sweep.

    Attributes:
      label: the model's label (e.g. ``"width 2048"``).
      index: position of the run in the sweep's grid.
      eta_lambda0: learning rate times :math:`\\lambda_0`.
      learning_rate: :math:`\\eta`.
      lambda0: the model's :math:`\\lambda_0`.
      loss: ``(steps + 1,)`` loss before every step and after the last;
        ``nan`` after a divergent run was stopped.
      lambda_steps: ``(m,)`` steps at which :math:`\\lambda_t` was measured,
        0 first and ``steps`` last.
      lambdas: ``(m,)`` top eigenvalue of :math:`\\Theta / n`; ``nan`` after a
        stop.
      phase: ``lazy``, ``catapult``, ``divergent`` or ``unresolved``.
      diverged_at: the step whose loss stopped the run, ``None`` if it ran on.
    """

    label: str
    index: int
    eta_lambda0: float
    learning_rate: float
    lambda0: float
    loss: np.ndarray
    lambda_steps: np.ndarray
    lambdas: np.ndarray
    phase: Phase
    diverged_at: int | None

    @property
    def final_loss(self) -> float:
        """Loss after the last step (``nan`` for a stopped run)."""
        return float(self.loss[-1])

    @property
    def final_lambda_ratio(self) -> float:
        """:math:`\\lambda_T / \\lambda_0` (``nan`` for a stopped run)."""
        return float(self.lambdas[-1] / self.lambda0)

    @property
    def peak_loss(self) -> float:
        """Largest loss reached before any stop."""
        return float(np.nanmax(self.loss))


@dataclasses.dataclass(frozen=True)
class PhaseSweep:
    """All runs of one model, with the boundaries measured from their phases.

    Attributes:
      label: the model's label.
      rates: :math:`\\lambda_0` and the paper's critical rates
        (:class:`CriticalRates`).
      eta_lambda0: ``(R,)`` the grid.
      runs: the ``R`` runs, in grid order.
      lazy_end: measured end of the lazy phase, in units of
        :math:`1/\\lambda_0` (theory: 2); ``nan`` if the grid does not
        straddle it.
      divergence: measured start of divergence, same units.
      thresholds: the thresholds the phases were labelled with.
      steps: training steps per run.
      seconds: wall time of the sweep.
    """

    label: str
    rates: CriticalRates
    eta_lambda0: np.ndarray
    runs: tuple[PhaseRun, ...]
    lazy_end: float
    divergence: float
    thresholds: Thresholds
    steps: int
    seconds: float

    @property
    def lambda0(self) -> float:
        return self.rates.lambda0

    @property
    def phases(self) -> tuple[Phase, ...]:
        return tuple(r.phase for r in self.runs)

    @property
    def loss(self) -> np.ndarray:
        """``(R, steps + 1)`` loss curves."""
        return np.stack([r.loss for r in self.runs])

    @property
    def lambdas(self) -> np.ndarray:
        """``(R, m)`` top-eigenvalue curves, at :attr:`lambda_steps`."""
        return np.stack([r.lambdas for r in self.runs])

    @property
    def lambda_steps(self) -> np.ndarray:
        return self.runs[0].lambda_steps

    @property
    def final_loss(self) -> np.ndarray:
        return np.array([r.final_loss for r in self.runs])

    @property
    def final_lambda_ratio(self) -> np.ndarray:
        return np.array([r.final_lambda_ratio for r in self.runs])


@dataclasses.dataclass(frozen=True)
class SweepSettings:
    """Everything about a sweep except the model: validated once."""

    eta_lambda0: np.ndarray
    steps: int
    record_every: int
    track_iterations: int
    lanczos_iterations: int
    thresholds: Thresholds
    runs_per_batch: int
    seed: int

    @classmethod
    def make(
        cls,
        eta_lambda0: Any = DEFAULT_ETA_LAMBDA0,
        steps: int = 300,
        record_every: int = 10,
        track_iterations: int = TRACK_ITERATIONS,
        lanczos_iterations: int = LANCZOS_ITERATIONS,
        thresholds: Thresholds | None = None,
        runs_per_batch: int | None = None,
        seed: int = 0,
    ) -> SweepSettings:
        grid = np.asarray(eta_lambda0, np.float64)
        if (
            grid.ndim != 1
            or grid.size == 0
            or not np.all(np.isfinite(grid) & (grid > 0))
        ):
            raise InputError(
                f"`eta_lambda0` must be a non-empty 1-D list of positive learning "
                f"rates in units of 1/lambda0; got {eta_lambda0!r}. "
                "Fix: e.g. eta_lambda0=np.geomspace(0.5, 20, 10)."
            )
        for name, value in (
            ("steps", steps),
            ("record_every", record_every),
            ("track_iterations", track_iterations),
            ("lanczos_iterations", lanczos_iterations),
        ):
            if not isinstance(value, int | np.integer) or value < 1:
                raise InputError(f"`{name}={value!r}` must be a positive integer.")
        batch = grid.size if runs_per_batch is None else runs_per_batch
        if not isinstance(batch, int | np.integer) or batch < 1:
            raise InputError(
                f"`runs_per_batch={runs_per_batch!r}` must be a positive integer "
                "or None (all runs in one vmapped batch)."
            )
        return cls(
            grid,
            int(steps),
            int(min(record_every, steps)),
            int(track_iterations),
            int(lanczos_iterations),
            thresholds or Thresholds(),
            int(min(batch, grid.size)),
            int(seed),
        )

    @property
    def chunks(self) -> list[int]:
        """Steps per compiled chunk: ``record_every`` each, the rest last."""
        full, rest = divmod(self.steps, self.record_every)
        return [self.record_every] * full + ([rest] if rest else [])


def _check_model(apply_fn: Callable[..., Any], params: Any, x: Any, y: Any, label: str):
    try:
        out = jax.eval_shape(apply_fn, params, x)
    except Exception as e:  # noqa: BLE001 - any failure here is the user's model
        raise InputError(
            f"model {label!r}: `apply_fn(params, x)` failed ({type(e).__name__}: {e}). "
            "Fix: pass the apply_fn and params of one network, e.g. from stax.serial(...)."
        ) from e
    if not hasattr(out, "shape") or tuple(out.shape) != tuple(np.shape(y)):
        raise InputError(
            f"model {label!r}: `apply_fn(params, x)` returns "
            f"{getattr(out, 'shape', type(out).__name__)} but `y` has shape "
            f"{np.shape(y)}; MSE needs one target per output. "
            "Fix: give the readout layer y.shape[1] outputs."
        )
    if not np.all(np.isfinite(np.asarray(x))) or not np.all(np.isfinite(np.asarray(y))):
        raise InputError("`x` and `y` must be finite (found NaN or inf).")
    return out


class _BatchTrainer:
    """The compiled pieces for one model: a chunk of steps, and the final Lanczos."""

    def __init__(self, apply_fn, x, y, settings: SweepSettings):
        n = y.shape[0]

        def loss_fn(p: Any) -> jax.Array:
            r = apply_fn(p, x) - y
            return 0.5 * jnp.sum(r * r) / n

        def top(p: Any, v: jax.Array, iterations: int) -> tuple[jax.Array, jax.Array]:
            return lanczos_top(ntk_operator(apply_fn, p, x, n), v, iterations)

        def chunk(state: tuple[Any, ...], etas: jax.Array, limit: jax.Array, k: int):
            def step(carry: tuple[Any, ...], step_index: jax.Array):
                params, alive, diverged_at = carry
                loss, grads = jax.vmap(jax.value_and_grad(loss_fn))(params)
                bad = ~jnp.isfinite(loss) | (loss > limit)
                diverged_at = jnp.where(alive & bad, step_index, diverged_at)
                recorded = jnp.where(alive, loss, jnp.nan)
                alive = alive & ~bad

                def update(p: jax.Array, g: jax.Array) -> jax.Array:
                    keep = alive.reshape((-1,) + (1,) * (p.ndim - 1))
                    return jnp.where(keep, p - etas.reshape(keep.shape) * g, p)

                params = jax.tree_util.tree_map(update, params, grads)
                return (params, alive, diverged_at), recorded

            params, vecs, alive, diverged_at, start = state
            (params, alive, diverged_at), losses = jax.lax.scan(
                step, (params, alive, diverged_at), start + jnp.arange(k)
            )
            lam, vecs = jax.vmap(lambda p, v: top(p, v, settings.track_iterations))(
                params, vecs
            )
            lam = jnp.where(alive, lam, jnp.nan)
            return (params, vecs, alive, diverged_at, start + k), losses.T, lam

        def finish(state: tuple[Any, ...], limit: jax.Array):
            params, vecs, alive, diverged_at, end = state
            loss = jax.vmap(loss_fn)(params)
            bad = ~jnp.isfinite(loss) | (loss > limit)
            diverged_at = jnp.where(alive & bad, end, diverged_at)
            recorded = jnp.where(alive, loss, jnp.nan)
            alive = alive & ~bad
            lam, _ = jax.vmap(lambda p, v: top(p, v, settings.lanczos_iterations))(
                params, vecs
            )
            return recorded, jnp.where(alive, lam, jnp.nan), diverged_at

        self.loss_fn = jax.jit(loss_fn)
        self.chunk = jax.jit(chunk, static_argnums=3)
        self.finish = jax.jit(finish)


def run_sweep(
    apply_fn: Callable[..., Any],
    params: Any,
    x: Any,
    y: Any,
    settings: SweepSettings,
    label: str = "",
    on_run: Callable[[PhaseRun], None] | None = None,
    on_chunk: Callable[[int], None] | None = None,
    on_lambda0: Callable[[CriticalRates], None] | None = None,
) -> PhaseSweep:
    """The sweep of one model; callbacks let a Job stream runs and notice cancel.

    ``on_chunk(run_steps)`` is called after every compiled chunk with the
    number of run-steps it trained (runs in the batch times steps), and may
    raise to stop the sweep there.
    """
    started = time.monotonic()
    out = _check_model(apply_fn, params, x, y, label)
    x = jnp.asarray(x)
    y = jnp.asarray(y, out.dtype)
    lambda0, vec0 = ntk_top_eigenvalue(
        apply_fn, params, x, iterations=settings.lanczos_iterations, seed=settings.seed
    )
    rates = critical_learning_rates(lambda0)
    if on_lambda0 is not None:
        on_lambda0(rates)
    trainer = _BatchTrainer(apply_fn, x, y, settings)
    loss0 = float(trainer.loss_fn(params))
    limit = jnp.asarray(settings.thresholds.divergence_factor * loss0, out.dtype)
    grid = settings.eta_lambda0
    size = settings.runs_per_batch
    lambda_steps = np.concatenate([[0], np.cumsum(settings.chunks)])
    runs: list[PhaseRun] = []
    for first in range(0, grid.size, size):
        index = np.arange(first, min(first + size, grid.size))
        # Pad the last batch to the compiled batch size by repeating its last
        # rate; the copies are dropped below.
        padded = np.concatenate([index, np.full(size - index.size, index[-1])])
        etas = jnp.asarray(grid[padded] / lambda0, out.dtype)
        stacked = jax.tree_util.tree_map(
            lambda a: jnp.broadcast_to(a, (size, *jnp.shape(a))), params
        )
        state = (
            stacked,
            jnp.broadcast_to(vec0, (size, *vec0.shape)),
            jnp.ones(size, bool),
            jnp.full(size, -1, jnp.int32),
            jnp.asarray(0, jnp.int32),
        )
        losses, lams = [], [np.full(size, lambda0)]
        for k in settings.chunks:
            state, chunk_loss, lam = trainer.chunk(state, etas, limit, k)
            losses.append(np.asarray(chunk_loss))
            lams.append(np.asarray(lam))
            if on_chunk is not None:
                on_chunk(index.size * k)
        last_loss, last_lam, diverged_at = trainer.finish(state, limit)
        lams[-1] = np.asarray(last_lam)
        loss = np.concatenate([*losses, np.asarray(last_loss)[:, None]], axis=1)
        lam = np.stack(lams, axis=1)
        stops = np.asarray(diverged_at)
        for row, i in enumerate(index):
            stop = int(stops[row])
            run_loss = loss[row].astype(np.float64)
            run_lam = lam[row].astype(np.float64)
            phase = classify_run(
                run_loss, run_lam, lambda0, stop >= 0, settings.thresholds
            )
            run = PhaseRun(
                label=label,
                index=int(i),
                eta_lambda0=float(grid[i]),
                learning_rate=float(grid[i] / lambda0),
                lambda0=lambda0,
                loss=run_loss,
                lambda_steps=lambda_steps.copy(),
                lambdas=run_lam,
                phase=phase,
                diverged_at=stop if stop >= 0 else None,
            )
            runs.append(run)
            if on_run is not None:
                on_run(run)
    lazy_end, divergence = phase_boundaries(grid, [r.phase for r in runs])
    return PhaseSweep(
        label=label,
        rates=rates,
        eta_lambda0=grid.copy(),
        runs=tuple(runs),
        lazy_end=lazy_end,
        divergence=divergence,
        thresholds=settings.thresholds,
        steps=settings.steps,
        seconds=time.monotonic() - started,
    )
