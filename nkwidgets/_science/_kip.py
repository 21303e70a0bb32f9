"""Kernel Inducing Points (KIP): learn a small support set that a kernel regresses well from.

The support images (and optionally their labels) are parameters; the loss is
how badly kernel ridge regression *from* the support set predicts a batch of
real target examples. Gradients flow through ``kernel_fn`` into the images,
which is why every ``stax`` kernel here is differentiable in its inputs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Final, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.typing import ArrayLike

from ._errors import ScienceError
from ._krr import krr_predict

KernelFn = Callable[..., Any]

# Ridge relative to the mean diagonal of K_ss. Small enough that the support
# set is interpolated (what the paper's KIP does), large enough that a 10x10
# float32 Cholesky of a ReLU NTK never meets a non-positive pivot.
DEFAULT_REG: Final = 1e-6

# Target examples drawn per step. The loss is a mean over them; 200 of 1000+
# digits gives gradients that are stable enough for Adam at lr ~1e-2 while a
# step stays a few milliseconds on two CPU cores.
DEFAULT_TARGET_BATCH: Final = 200


class EventSink(Protocol):
    """Where :func:`kip` reports progress: a ``Job`` context, or anything alike."""

    def emit(self, kind: str, **data: Any) -> None: ...


class KipResult(NamedTuple):
    """What :func:`kip` learned and how it got there."""

    x_support: np.ndarray  # (n_support, *x_target.shape[1:]) learned inputs
    y_support: np.ndarray  # (n_support, n_classes) learned (or fixed) labels
    x_init: np.ndarray  # the real examples the support started from
    y_init: np.ndarray  # their labels
    losses: np.ndarray  # (steps,) KRR loss on each step's target batch
    eval_steps: np.ndarray  # (n_evals,) steps after which the test set was scored
    test_accuracy: np.ndarray  # (n_evals,) KRR test accuracy from the support set
    init_accuracy: float  # the same accuracy from the initial real support set
    seconds: float  # wall time of the optimisation


def kip(
    kernel_fn: KernelFn,
    x_target: ArrayLike,
    y_target: ArrayLike,
    n_support: int,
    steps: int,
    lr: float,
    learn_labels: bool = True,
    seed: int = 0,
    *,
    x_test: ArrayLike | None = None,
    y_test: ArrayLike | None = None,
    get: str = "ntk",
    reg: float = DEFAULT_REG,
    target_batch: int = DEFAULT_TARGET_BATCH,
    eval_every: int = 25,
    context: EventSink | None = None,
) -> KipResult:
    r"""Learn ``n_support`` inputs (and labels) by Kernel Inducing Points.

    Each step draws ``target_batch`` examples :math:`(X_t, y_t)` from the
    target set and takes an Adam step on

    .. math:: L(X_s, y_s) = \frac{1}{2 n_t} \left\| y_t - K_{ts}
       \left(K_{ss} + \lambda \tfrac{\mathrm{tr} K_{ss}}{n_s} I\right)^{-1} y_s
       \right\|^2

    with gradients taken through ``kernel_fn`` with respect to the support
    inputs :math:`X_s` (and the labels :math:`y_s` when ``learn_labels``).
    The support set starts from real target examples, the same number of each
    class (argmax of ``y_target``), drawn with ``seed``.

    The step is one ``jax.jit``-compiled function (batch draw, kernel, solve,
    gradient, Adam update). With a ``context`` (a ``Job``'s), :func:`kip`
    emits, for a live view:

    * ``kip_started``: ``steps``, ``x_support``, ``y_support``,
      ``test_accuracy`` (of the initial real support, or ``None``);
    * ``kip_step`` after every step: ``step`` (1-based), ``loss``;
    * ``kip_snapshot`` every ``eval_every`` steps and after the last:
      ``step``, ``loss``, ``x_support``, ``y_support``, ``test_accuracy``;
    * ``progress``: ``done``, ``total`` (steps), ``elapsed`` seconds;

    and calls ``context.check_cancelled()`` (if it has one) between steps.

    Args:
      kernel_fn: ``kernel_fn(x1, x2, get)`` of a ``stax`` network, or any
        function of that signature that JAX can differentiate in ``x1``.
      x_target: target inputs ``(n_target, ...)``.
      y_target: target labels ``(n_target, n_classes)`` (e.g. centred one-hot).
      n_support: size of the support set; at least one example per class.
      steps: Adam steps.
      lr: Adam learning rate.
      learn_labels: also learn the support labels.
      seed: seed of the initial support draw and of the target batches.
      x_test: optional held-out inputs, scored every ``eval_every`` steps.
      y_test: their labels (one-hot rows or integer classes).
      get: which kernel of ``kernel_fn`` to use, ``"ntk"`` or ``"nngp"``.
      reg: ridge relative to the mean diagonal of :math:`K_{ss}`.
      target_batch: target examples per step (all of them if fewer).
      eval_every: steps between test evaluations and support snapshots.
      context: receives the events above; ``None`` runs silently.

    Returns:
      A :class:`KipResult`.

    Examples:
      >>> from nkwidgets import stax
      >>> from nkwidgets.data import digits
      >>> from nkwidgets.kip import kip
      >>> ds = digits(train=300, test=100)
      >>> _, _, kernel_fn = stax.serial(stax.Dense(1), stax.Relu(), stax.Dense(1))
      >>> r = kip(kernel_fn, ds.x_train, ds.y_train, n_support=10, steps=20,
      ...         lr=0.01, x_test=ds.x_test, y_test=ds.y_test)
      >>> r.x_support.shape
      (10, 64)

    References:
      Nguyen, Chen, Lee, `Dataset Meta-Learning from Kernel Ridge-Regression
      <https://arxiv.org/abs/2011.00050>`_, ICLR 2021 (Algorithm 1).
      Nguyen, Novak, Xiao, Lee, `Dataset Distillation with Infinitely Wide
      Convolutional Networks <https://arxiv.org/abs/2107.13034>`_, NeurIPS 2021.
    """
    x_t, y_t = _check_targets(x_target, y_target)
    _check_options(n_support, steps, lr, get, reg, target_batch, eval_every, y_t)
    test = _check_test(x_test, y_test, x_t)
    rng = np.random.RandomState(seed)
    init_idx = _balanced_draw(np.argmax(y_t, axis=1), n_support, y_t.shape[1], rng)
    x_init, y_init = x_t[init_idx], y_t[init_idx]
    batch = min(target_batch, x_t.shape[0])

    def predict(params: dict[str, jax.Array], x_query: jax.Array) -> jax.Array:
        xs = params["x"]
        return krr_predict(
            kernel_fn(xs, xs, get), kernel_fn(x_query, xs, get), params["y"], reg
        )

    def loss_fn(
        params: dict[str, jax.Array], xb: jax.Array, yb: jax.Array
    ) -> jax.Array:
        return 0.5 * jnp.mean(jnp.sum((predict(params, xb) - yb) ** 2, axis=-1))

    # Fixed labels still get a gradient (it is cheap); their update is zeroed.
    # (`optax.masked` would not do: it passes unmasked gradients through raw.)
    optimizer = optax.multi_transform(
        {"learn": optax.adam(lr), "fixed": optax.set_to_zero()},
        {"x": "learn", "y": "learn" if learn_labels else "fixed"},
    )
    x_all, y_all = jnp.asarray(x_t), jnp.asarray(y_t)

    @jax.jit
    def step(params, opt_state, key):
        idx = jax.random.choice(key, x_all.shape[0], (batch,), replace=False)
        loss, grads = jax.value_and_grad(loss_fn)(params, x_all[idx], y_all[idx])
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    @jax.jit
    def test_accuracy(params):
        x_q, labels = test
        return jnp.mean(jnp.argmax(predict(params, x_q), axis=-1) == labels)

    def score(params: dict[str, jax.Array]) -> float | None:
        return None if test is None else float(test_accuracy(params))

    params = {"x": jnp.asarray(x_init), "y": jnp.asarray(y_init)}
    opt_state = optimizer.init(params)
    init_accuracy = score(params)
    emit = context.emit if context is not None else _silent
    check = getattr(context, "check_cancelled", None)
    emit(
        "kip_started",
        steps=steps,
        x_support=np.asarray(x_init),
        y_support=np.asarray(y_init),
        test_accuracy=init_accuracy,
    )
    key = jax.random.PRNGKey(seed)
    losses = np.empty(steps)
    eval_steps: list[int] = []
    accuracies: list[float] = []
    started = time.monotonic()
    for i in range(1, steps + 1):
        if check is not None:
            check()
        key, sub = jax.random.split(key)
        params, opt_state, loss = step(params, opt_state, sub)
        losses[i - 1] = float(loss)
        emit("kip_step", step=i, loss=losses[i - 1])
        if i % eval_every == 0 or i == steps:
            accuracy = score(params)
            if accuracy is not None:
                eval_steps.append(i)
                accuracies.append(accuracy)
            emit(
                "kip_snapshot",
                step=i,
                loss=losses[i - 1],
                x_support=np.asarray(params["x"]),
                y_support=np.asarray(params["y"]),
                test_accuracy=accuracy,
            )
            emit("progress", done=i, total=steps, elapsed=time.monotonic() - started)
    x_final = np.asarray(params["x"])
    if not np.all(np.isfinite(x_final)):
        raise ScienceError(MSG_DIVERGED.format(lr=lr, reg=reg))
    return KipResult(
        x_support=x_final,
        y_support=np.asarray(params["y"]),
        x_init=np.asarray(x_init),
        y_init=np.asarray(y_init),
        losses=losses,
        eval_steps=np.asarray(eval_steps, dtype=int),
        test_accuracy=np.asarray(accuracies),
        init_accuracy=np.nan if init_accuracy is None else init_accuracy,
        seconds=time.monotonic() - started,
    )


def kernel_ridge_accuracy(
    kernel_fn: KernelFn,
    x_support: ArrayLike,
    y_support: ArrayLike,
    x_test: ArrayLike,
    y_test: ArrayLike,
    *,
    get: str = "ntk",
    reg: float = DEFAULT_REG,
) -> float:
    """Test accuracy of kernel ridge regression from a support set (as KIP scores it).

    Args:
      kernel_fn: ``kernel_fn(x1, x2, get)``.
      x_support: support inputs; y_support: their labels ``(n, n_classes)``.
      x_test: test inputs; y_test: one-hot rows or integer classes.
      get: ``"ntk"`` or ``"nngp"``.
      reg: ridge relative to the mean diagonal of the support kernel.

    Returns:
      The fraction of test examples whose largest prediction is their class.
    """
    xs, ys = _check_targets(x_support, y_support, names=("x_support", "y_support"))
    x_q, labels = _check_test(x_test, y_test, xs)
    k_ss = kernel_fn(jnp.asarray(xs), None, get)
    k_qs = kernel_fn(x_q, jnp.asarray(xs), get)
    fx = krr_predict(k_ss, k_qs, jnp.asarray(ys), reg)
    return float(jnp.mean(jnp.argmax(fx, axis=-1) == labels))


MSG_DIVERGED: Final = (
    "KIP diverged: the support inputs became NaN or infinite (lr={lr:g}, "
    "reg={reg:g}). The learning rate is too large for this kernel's scale, or "
    "the ridge too small for a nearly singular support kernel. Fix: lower `lr` "
    "(e.g. by 10x) or raise `reg` (e.g. to 1e-4)."
)


def _silent(kind: str, **data: Any) -> None:
    del kind, data


def _check_targets(
    x: ArrayLike, y: ArrayLike, names: tuple[str, str] = ("x_target", "y_target")
) -> tuple[np.ndarray, np.ndarray]:
    x_arr, y_arr = np.asarray(x), np.asarray(y)
    if x_arr.ndim < 2:
        raise ScienceError(
            f"`{names[0]}` has shape {x_arr.shape}; it needs a batch axis and "
            "features. Fix: pass (n_examples, n_features) or images (n, H, W, C)."
        )
    if y_arr.ndim != 2 or y_arr.shape[1] < 2:
        raise ScienceError(
            f"`{names[1]}` has shape {y_arr.shape}; KIP regresses label vectors "
            "(n_examples, n_classes) with n_classes >= 2. Fix: one-hot encode the "
            "classes, e.g. `nkwidgets.data.centred_one_hot(labels, n_classes)`."
        )
    if len(x_arr) != len(y_arr):
        raise ScienceError(
            f"`{names[0]}` has {len(x_arr)} examples but `{names[1]}` has "
            f"{len(y_arr)}. Fix: pass labels for exactly the given inputs."
        )
    for name, arr in zip(names, (x_arr, y_arr), strict=True):
        if not np.all(np.isfinite(arr)):
            raise ScienceError(
                f"`{name}` contains NaN or infinite values. Fix: clean the data."
            )
    return x_arr, y_arr


def _check_options(
    n_support: Any,
    steps: Any,
    lr: Any,
    get: Any,
    reg: Any,
    target_batch: Any,
    eval_every: Any,
    y_t: np.ndarray,
) -> None:
    n_classes = y_t.shape[1]
    for name, value in (
        ("steps", steps),
        ("target_batch", target_batch),
        ("eval_every", eval_every),
    ):
        if not isinstance(value, int | np.integer) or value < 1:
            raise ScienceError(f"`{name}={value!r}` must be a positive integer.")
    if (
        not isinstance(n_support, int | np.integer)
        or n_support < n_classes
        or n_support > len(y_t)
    ):
        raise ScienceError(
            f"`n_support={n_support!r}` must be an integer between the number of "
            f"classes ({n_classes}, one image each) and the number of target "
            f"examples ({len(y_t)}). Fix: e.g. n_support={n_classes}."
        )
    if not isinstance(lr, int | float) or not lr > 0:
        raise ScienceError(f"`lr={lr!r}` must be a positive number, e.g. lr=0.01.")
    if not isinstance(reg, int | float) or not reg >= 0:
        raise ScienceError(
            f"`reg={reg!r}` must be a non-negative number (ridge relative to the "
            f"kernel's mean diagonal), e.g. reg={DEFAULT_REG:g}."
        )
    if get not in ("ntk", "nngp"):
        raise ScienceError(f"`get={get!r}` must be 'ntk' or 'nngp'.")


def _check_test(
    x_test: ArrayLike | None, y_test: ArrayLike | None, x_ref: np.ndarray
) -> tuple[jax.Array, jax.Array] | None:
    if x_test is None and y_test is None:
        return None
    if x_test is None or y_test is None:
        raise ScienceError(
            "Pass both `x_test` and `y_test` (or neither): accuracy needs the "
            "inputs and their classes."
        )
    x_q, y_q = np.asarray(x_test), np.asarray(y_test)
    if x_q.shape[1:] != x_ref.shape[1:]:
        raise ScienceError(
            f"`x_test` examples have shape {x_q.shape[1:]} but the support inputs "
            f"have {x_ref.shape[1:]}. Fix: prepare test inputs like the targets."
        )
    labels = np.argmax(y_q, axis=-1) if y_q.ndim == 2 else y_q
    if labels.shape != (len(x_q),):
        raise ScienceError(
            f"`y_test` has shape {y_q.shape}; expected ({len(x_q)}, n_classes) or "
            f"({len(x_q)},) integer classes."
        )
    return jnp.asarray(x_q), jnp.asarray(labels)


def _balanced_draw(
    labels: np.ndarray, n_support: int, n_classes: int, rng: np.random.RandomState
) -> np.ndarray:
    """Indices of ``n_support`` examples, classes as equal as the count allows."""
    per_class = np.full(n_classes, n_support // n_classes)
    per_class[rng.permutation(n_classes)[: n_support % n_classes]] += 1
    chosen = []
    for c in range(n_classes):
        pool = np.flatnonzero(labels == c)
        if len(pool) < per_class[c]:
            raise ScienceError(
                f"The targets have {len(pool)} examples of class {c} but the "
                f"support set needs {per_class[c]} per class to start from real "
                "examples. Fix: lower `n_support` or pass more target examples."
            )
        chosen.append(rng.choice(pool, per_class[c], replace=False))
    return np.concatenate(chosen)
