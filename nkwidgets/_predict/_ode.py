"""Function-space gradient descent on any loss, by an adaptive ODE solver.

`gradient_descent` integrates the linearised (kernel) dynamics
``df/dt = -Theta grad_f L(f)`` with diffrax's Tsit5 under a PID step-size
controller. With momentum it integrates NT's continuous heavy-ball system

    df/dt = q,   dq/dt = -Theta grad_f L(f) - (1 - momentum) / sqrt(lr) * q,

in time units of ``sqrt(learning_rate)`` per step, so ``t`` still counts steps.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Final, Protocol

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from ._errors import ODESolverError
from ._inputs import broadcast_outputs, canonical_times, check_inputs
from ._layout import OutputLayout, make_2d
from ._linalg import as_float, is_concrete
from ._types import Axes, ODEState, TimeLike

# Default tolerances of the step-size controller, per dtype. float64 matches the
# 1.4e-8 of jax.experimental.ode.odeint that Neural Tangents used; float32 stays
# two orders above its epsilon (1.2e-7) so round-off does not force tiny steps.
DEFAULT_TOLERANCE: Final = {np.dtype("float32"): 1e-5, np.dtype("float64"): 1.4e-8}
# Four times diffrax's default: stiff problems (large lambda_max * t / N) need
# many steps, and a solve that runs out raises ODESolverError naming this knob.
DEFAULT_MAX_STEPS: Final = 16_384

_OK_RESULTS = (diffrax.RESULTS.successful, diffrax.RESULTS.event_occurred)


class PredictFnODE(Protocol):
    """Signature of the function `gradient_descent` returns."""

    def __call__(
        self,
        t: TimeLike = None,
        fx_train_or_state_0: ArrayLike | ODEState | None = 0.0,
        fx_test_0: ArrayLike | None = None,
        k_test_train: ArrayLike | None = None,
    ) -> jax.Array | tuple[jax.Array, jax.Array] | ODEState:
        """Outputs (or the full state) at time[s] `t`."""
        ...


def _make_vector_field(loss, y, layout, train_nt, friction):
    grad_loss = jax.grad(lambda fx: loss(fx, y))

    def vector_field(t, state: ODEState, args) -> ODEState:
        del t
        k_dd, k_td = args
        fx = layout.unflatten(state.fx_train, train_nt)
        g = layout.flatten(grad_loss(fx).astype(k_dd.dtype))
        force_train = -(k_dd @ g)
        force_test = None if state.fx_test is None else -(k_td @ g)
        if friction is None:
            return ODEState(force_train, force_test)
        acc_train = force_train + friction * state.qx_train
        acc_test = None if force_test is None else force_test + friction * state.qx_test
        return ODEState(state.qx_train, state.qx_test, acc_train, acc_test)

    return vector_field


def _solve(
    vector_field, state0, t0, ts, args, *, to_steady_state, rtol, atol, max_steps, throw
):
    controller = diffrax.PIDController(rtol=rtol, atol=atol)
    if to_steady_state:
        return diffrax.diffeqsolve(
            diffrax.ODETerm(vector_field),
            diffrax.Tsit5(),
            t0,
            jnp.inf,
            None,
            state0,
            args=args,
            saveat=diffrax.SaveAt(t1=True),
            stepsize_controller=controller,
            event=diffrax.Event(diffrax.steady_state_event()),
            max_steps=max_steps,
            throw=throw,
        )
    return diffrax.diffeqsolve(
        diffrax.ODETerm(vector_field),
        diffrax.Tsit5(),
        t0,
        ts[-1],
        None,
        state0,
        args=args,
        saveat=diffrax.SaveAt(ts=ts),
        stepsize_controller=controller,
        max_steps=max_steps,
        throw=throw,
    )


def gradient_descent(
    loss: Callable[[jax.Array, jax.Array], jax.Array],
    k_train_train: ArrayLike,
    y_train: ArrayLike,
    learning_rate: float = 1.0,
    momentum: float | None = None,
    trace_axes: Axes = (-1,),
    *,
    rtol: float | None = None,
    atol: float | None = None,
    max_steps: int = DEFAULT_MAX_STEPS,
) -> PredictFnODE:
    r"""Outputs of a linearised network trained by [momentum] gradient descent.

    Integrates the function-space dynamics of the linearised network under any
    differentiable `loss` (cross-entropy included),

    .. math::

        \dot f(X) = -\eta\,\Theta\,\nabla_{f(X)} L, \qquad
        \dot f(x) = -\eta\,\Theta(x, X)\,\nabla_{f(X)} L,

    with an adaptive Runge-Kutta solver (diffrax ``Tsit5``). Times are in steps:
    absolute time is ``learning_rate * t``. With `momentum`, NT's
    continuous-time heavy ball is solved instead; its time unit is
    ``sqrt(learning_rate)`` per step, so `learning_rate` and `t` are no longer
    interchangeable. For the MSE loss :func:`gradient_descent_mse` is exact and
    faster.

    Computation runs in the kernel's dtype: float32 by default, float64 for a
    float64 kernel under ``jax_enable_x64``; tolerances default per dtype
    (``DEFAULT_TOLERANCE``).

    Args:
      loss: ``loss(fx_train, y_train) -> scalar``, treating batch and output
        axes symmetrically (e.g. a mean).
      k_train_train: train-train kernel, zipped, trace axes left out.
      y_train: training targets.
      learning_rate: step size.
      momentum: heavy-ball momentum, or ``None`` for plain gradient descent.
      trace_axes: output axes along which the kernel is ``Theta ⊗ I``.
      rtol: relative tolerance of the step-size controller (keyword only; not
        in Neural Tangents).
      atol: absolute tolerance of the step-size controller (keyword only).
      max_steps: most solver steps per call before giving up (keyword only).

    Returns:
      ``predict_fn(t=None, fx_train_or_state_0=0., fx_test_0=None,
      k_test_train=None)``. `t` may have any shape and order, with ``None`` or
      ``inf`` meaning "run until the outputs stop moving" (it may never happen:
      cross-entropy has no finite minimiser). Pass an :class:`ODEState` as
      `fx_train_or_state_0` to get one back (with momentum variables);
      otherwise the train outputs, the test outputs (``fx_train_or_state_0=None``;
      the flow still starts the train outputs at 0) or both are returned, with
      ``t``'s shape as leading axes.

    Raises:
      ODESolverError: the solver used up `max_steps` before reaching the largest
        `t`, or found no steady state for ``t=inf``.

    Examples:
      >>> import jax.numpy as jnp
      >>> import numpy as np
      >>> from nkwidgets import predict
      >>> k = jnp.array([[2.0, 1.0], [1.0, 2.0]])
      >>> y = jnp.array([[1.0], [-1.0]])
      >>> mse = lambda fx, y_hat: 0.5 * jnp.mean((fx - y_hat) ** 2)
      >>> predict_fn = predict.gradient_descent(mse, k, y)
      >>> print(np.asarray(predict_fn(1.0, 0.0)[:, 0]).round(4))
      [ 0.3935 -0.3935]

    References:
      Lee et al., `Wide Neural Networks of Any Depth Evolve as Linear Models
      Under Gradient Descent <https://arxiv.org/abs/1902.06720>`_, 2019 (function-space dynamics of the linearised network).

      Kidger, `On Neural Differential Equations
      <https://arxiv.org/abs/2202.02435>`_, 2021 (diffrax).
    """
    k = as_float(k_train_train)
    dtype = k.dtype
    y = as_float(y_train, dtype)
    layout = OutputLayout.of(y.shape, trace_axes)
    train_nt = layout.non_trace_shape(y.shape)
    layout.check_kernel(k, "k_train_train", rows=train_nt, cols=train_nt)
    k_dd = make_2d(k)
    if max_steps < 1:
        raise ValueError(f"`max_steps` must be a positive integer, got {max_steps}.")
    tol = DEFAULT_TOLERANCE.get(np.dtype(dtype), 1e-5)
    rtol = tol if rtol is None else rtol
    atol = tol if atol is None else atol

    time_scale = learning_rate
    friction = None
    if momentum is not None:
        time_scale = math.sqrt(learning_rate)
        friction = (momentum - 1.0) / time_scale
    vector_field = _make_vector_field(loss, y, layout, train_nt, friction)

    @functools.partial(jax.jit, static_argnames=("to_steady_state", "throw"))
    def solve(state0, t0, ts, args, to_steady_state, throw):
        sol = _solve(
            vector_field,
            state0,
            t0,
            ts,
            args,
            to_steady_state=to_steady_state,
            rtol=rtol,
            atol=atol,
            max_steps=max_steps,
            throw=throw,
        )
        return sol.ys, sol.result

    def check(result, what: str) -> None:
        if not any(bool(result == ok) for ok in _OK_RESULTS):
            raise ODESolverError(f"{what} ({result.__str__()})", max_steps=max_steps)

    def initial_state(fx_train_or_state_0, fx_test_0, test_shape) -> ODEState:
        if isinstance(fx_train_or_state_0, ODEState):
            state = fx_train_or_state_0
        else:
            state = ODEState(fx_train_or_state_0, fx_test_0)
        if momentum is None and (
            state.qx_train is not None or state.qx_test is not None
        ):
            raise ValueError(
                "The initial `ODEState` has momentum variables (`qx_train` / "
                "`qx_test`) but `momentum is None`; drop them or set `momentum`."
            )
        fx_train = (
            jnp.zeros(y.shape, dtype)
            if state.fx_train is None
            else broadcast_outputs(state.fx_train, y.shape, dtype, "fx_train_0")
        )
        fx_test = None
        if state.fx_test is not None:
            fx_test = broadcast_outputs(state.fx_test, test_shape, dtype, "fx_test_0")
        q_train = q_test = None
        if momentum is not None:
            q_train = (
                jnp.zeros(y.shape, dtype)
                if state.qx_train is None
                else broadcast_outputs(state.qx_train, y.shape, dtype, "qx_train")
            )
            if fx_test is not None:
                q_test = (
                    jnp.zeros(test_shape, dtype)
                    if state.qx_test is None
                    else broadcast_outputs(state.qx_test, test_shape, dtype, "qx_test")
                )
        return ODEState(fx_train, fx_test, q_train, q_test)

    def predict_fn(
        t: TimeLike = None,
        fx_train_or_state_0: ArrayLike | ODEState | None = 0.0,
        fx_test_0: ArrayLike | None = None,
        k_test_train: ArrayLike | None = None,
    ) -> jax.Array | tuple[jax.Array, jax.Array] | ODEState:
        """Outputs (or the full ODE state) at time[s] `t`; see `gradient_descent`."""
        given_state = isinstance(fx_train_or_state_0, ODEState)
        if given_state:
            if fx_test_0 is not None:
                raise ValueError(
                    "`fx_test_0` must be None when `fx_train_or_state_0` is an "
                    "`ODEState`: put the test outputs in its `fx_test` field."
                )
            fx_test_0 = fx_train_or_state_0.fx_test
            check_inputs(fx_train_or_state_0.fx_train, fx_test_0, k_test_train)
        else:
            check_inputs(fx_train_or_state_0, fx_test_0, k_test_train)

        k_td = None
        test_nt: tuple[int, ...] = ()
        if fx_test_0 is not None:
            ktd = as_float(k_test_train, dtype)
            layout.check_kernel(ktd, "k_test_train", rows=None, cols=train_nt)
            test_nt = tuple(ktd.shape[::2])
            k_td = make_2d(ktd)
        state0 = initial_state(
            fx_train_or_state_0, fx_test_0, layout.output_shape(test_nt)
        )
        flat0 = jax.tree_util.tree_map(layout.flatten, state0)
        times, t_shape = canonical_times(t, time_scale, dtype)
        args = (k_dd, k_td)
        zero = jnp.zeros((), dtype)

        if not is_concrete(times):
            # Inside a user's jit: times are finite by assumption, and diffrax
            # raises through equinox if the solver fails.
            order = jnp.argsort(times)
            ys, _ = solve(flat0, zero, times[order], args, False, True)
            ys = jax.tree_util.tree_map(lambda a: a[jnp.argsort(order)], ys)
        else:
            host = np.asarray(times)
            finite = np.isfinite(host)
            order = np.argsort(host[finite], kind="stable")
            sorted_times = host[finite][order]
            pieces = jax.tree_util.tree_map(
                lambda a: jnp.zeros((host.size,) + a.shape, dtype), flat0
            )
            last_state, last_t = flat0, zero
            if sorted_times.size and sorted_times[-1] > 0:
                ys, result = solve(
                    flat0, zero, jnp.asarray(sorted_times, dtype), args, False, False
                )
                check(result, f"stopped before t={sorted_times[-1] / time_scale:g}")
                last_state = jax.tree_util.tree_map(lambda a: a[-1], ys)
                last_t = jnp.asarray(sorted_times[-1], dtype)
            elif sorted_times.size:
                ys = jax.tree_util.tree_map(
                    lambda a: jnp.broadcast_to(a, (sorted_times.size,) + a.shape), flat0
                )
            finite_idx = np.flatnonzero(finite)[order]
            if sorted_times.size:
                pieces = jax.tree_util.tree_map(
                    lambda p, v: p.at[finite_idx].set(v), pieces, ys
                )
            if not finite.all():
                y_inf, result = solve(last_state, last_t, None, args, True, False)
                check(result, "found no steady state for t=inf")
                pieces = jax.tree_util.tree_map(
                    lambda p, v: p.at[np.flatnonzero(~finite)].set(v[-1]), pieces, y_inf
                )
            ys = pieces

        def finish(a, nt_shape):
            return layout.unflatten(a.reshape(t_shape + a.shape[1:]), nt_shape)

        out = ODEState(
            finish(ys.fx_train, train_nt),
            None if ys.fx_test is None else finish(ys.fx_test, test_nt),
            None if ys.qx_train is None else finish(ys.qx_train, train_nt),
            None if ys.qx_test is None else finish(ys.qx_test, test_nt),
        )
        if given_state:
            return out
        if fx_test_0 is None:
            return out.fx_train
        if fx_train_or_state_0 is None:
            return out.fx_test
        return out.fx_train, out.fx_test

    return predict_fn
