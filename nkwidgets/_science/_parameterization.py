r"""Finite networks in the NTK and the standard parameterization against their kernels.

Both parameterizations draw the same functions at initialization, so their
NNGPs are one and the same. Their NTKs differ, because gradients see the
weights differently (Sohl-Dickstein, Novak, Schoenholz, Lee 2020):

* NTK parameterization: :math:`\Theta' = \sigma_W^2 K + \sigma_b^2 +
  \sigma_W^2 \dot K \odot \Theta`, independent of the widths; the largest
  stable learning rate is O(1) in width.
* standard parameterization: :math:`\Theta' = \tfrac{n}{s} K + [\text{bias}] +
  \sigma_W^2 \dot K \odot \Theta` with :math:`n/s` the layer's fan-in over its
  width multiplier. The weight terms grow with the widths, in proportion to
  each layer's own width, so relative layer widths shape the kernel, weights
  outweigh biases, and the largest stable learning rate falls like 1/width.

:func:`compare_parameterizations` measures all of this on finite networks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from .. import stax
from .._empirical._ntk import empirical_ntk_fn
from .._predict._learning_rate import max_learning_rate
from .._predict._mse import gradient_descent_mse
from ._errors import ScienceError
from ._kip import DEFAULT_REG
from ._krr import krr_predict

PARAMETERIZATIONS: Final = ("ntk", "standard")

# Training steps happen at this fraction of the largest stable learning rate:
# well inside the stable range, where gradient descent tracks gradient flow
# (what the kernel predicts) and the comparison is about width, not step size.
DEFAULT_LR_FRACTION: Final = 0.5


class ParameterizationComparison(NamedTuple):
    """A width sweep of finite networks in both parameterizations (see the fields)."""

    widths: np.ndarray  # (n_widths,) hidden widths N
    ntk_distance: dict[
        str, np.ndarray
    ]  # p -> (n_widths,) ||eNTK - NTK||_F / ||NTK||_F, seed mean
    ntk_scale: dict[
        str, np.ndarray
    ]  # p -> (n_widths,) mean diagonal of the analytic NTK
    learning_rate: dict[
        str, np.ndarray
    ]  # p -> (n_widths,) largest stable GD rate 2n/lambda_max
    finite_accuracy: dict[
        str, np.ndarray
    ]  # p -> (n_widths,) test accuracy after GD, seed mean
    finite_accuracy_std: dict[str, np.ndarray]  # p -> (n_widths,) its std over seeds
    kernel_accuracy: dict[
        str, np.ndarray
    ]  # p -> (n_widths,) infinite width at the same time
    nngp_accuracy: float  # kernel regression with the (shared) NNGP
    nngp_max_difference: float  # max |NNGP_ntk - NNGP_standard| over widths, relative
    steps: int  # gradient descent steps per network
    lr_fraction: float  # learning rate used, as a fraction of `learning_rate`


def fc_network(
    width: int,
    depth: int,
    out_dim: int,
    parameterization: str,
    *,
    W_std: float = 1.5,
    b_std: float | None = 0.05,
    s: Sequence[int] | None = None,
) -> Any:
    """A ReLU network of ``depth`` hidden Dense layers of ``width`` (times ``s``).

    ``s`` gives each hidden layer's width multiplier in the standard
    parameterization (``s[l] * width`` units); ``None`` means all ones.
    """
    mult = [1] * depth if s is None else [int(v) for v in s]
    if len(mult) != depth or min(mult) < 1:
        raise ScienceError(
            f"`s={s!r}` must give one positive multiplier per hidden layer "
            f"({depth} of them), e.g. s={(1,) * depth}."
        )
    if parameterization == "ntk" and any(m != 1 for m in mult):
        raise ScienceError(
            "Width multipliers `s` belong to the standard parameterization; the NTK "
            "parameterization's kernels ignore widths. Fix: drop `s` or use "
            "parameterization='standard'."
        )
    layers = []
    s_in = 1
    for m in mult:
        layers += [
            stax.Dense(
                width, W_std, b_std, parameterization=parameterization, s=(s_in, m)
            ),
            stax.Relu(),
        ]
        s_in = m
    layers.append(
        stax.Dense(
            out_dim, W_std, b_std, parameterization=parameterization, s=(s_in, 1)
        )
    )
    return stax.serial(*layers)


def compare_parameterizations(
    x_train: ArrayLike,
    y_train: ArrayLike,
    x_test: ArrayLike,
    y_test: ArrayLike,
    widths: Sequence[int],
    *,
    depth: int = 2,
    W_std: float = 1.5,
    b_std: float | None = 0.05,
    steps: int = 100,
    lr_fraction: float = DEFAULT_LR_FRACTION,
    n_seeds: int = 2,
    seed: int = 0,
    reg: float = DEFAULT_REG,
) -> ParameterizationComparison:
    r"""Sweep widths; train finite networks in both parameterizations; compare to kernels.

    For each width ``N`` and parameterization ``p`` of a ReLU network with
    ``depth`` hidden layers:

    * the analytic NNGP and NTK on the training set (``stax`` kernels);
    * ``ntk_distance``: relative Frobenius distance of the empirical NTK of
      ``n_seeds`` initialised networks to the analytic NTK (shrinks like
      :math:`1/\sqrt N` in both parameterizations);
    * ``learning_rate``: the largest stable full-batch rate :math:`2 n /
      \lambda_{\max}(\Theta)` on MSE, ``n = y_train.size`` (flat in ``N`` for
      ``"ntk"``, about :math:`\propto 1/N` for ``"standard"``);
    * ``finite_accuracy``: test accuracy of the networks after ``steps`` steps
      of gradient descent at ``lr_fraction`` of that rate, centred (their
      initial function subtracted) so they start from zero as the kernel
      prediction does;
    * ``kernel_accuracy``: the infinitely wide network's mean prediction at
      the same training time (``predict.gradient_descent_mse``).

    Args:
      x_train: training inputs ``(n, d)``; y_train: targets ``(n, n_classes)``.
      x_test: test inputs; y_test: one-hot rows or integer classes.
      widths: hidden widths to sweep.
      depth: hidden layers.
      W_std: weight standard deviation; b_std: bias standard deviation.
      steps: gradient descent steps.
      lr_fraction: learning rate as a fraction of the largest stable one.
      n_seeds: networks per width and parameterization.
      seed: base seed of the initialisations.
      reg: relative ridge of the NNGP regression.

    Returns:
      A :class:`ParameterizationComparison`.

    References:
      Sohl-Dickstein, Novak, Schoenholz, Lee, `On the infinite width limit of
      neural networks with a standard parameterization
      <https://arxiv.org/abs/2001.07301>`_, 2020.
    """
    x_tr, y_tr, x_te = (jnp.asarray(a) for a in (x_train, y_train, x_test))
    labels = _labels(y_test, len(x_te))
    width_arr = _check_sweep(widths, depth, steps, lr_fraction, n_seeds, y_tr, x_tr)
    out_dim = y_tr.shape[1]
    fields: dict[str, dict[str, np.ndarray]] = {
        name: {p: np.empty(len(width_arr)) for p in PARAMETERIZATIONS}
        for name in (
            "ntk_distance",
            "ntk_scale",
            "learning_rate",
            "finite_accuracy",
            "finite_accuracy_std",
            "kernel_accuracy",
        )
    }
    nngp_by_p: dict[str, list[np.ndarray]] = {p: [] for p in PARAMETERIZATIONS}
    nngp_accuracy = np.nan
    for i, width in enumerate(width_arr):
        for p in PARAMETERIZATIONS:
            init_fn, apply_fn, kernel_fn = fc_network(
                int(width), depth, out_dim, p, W_std=W_std, b_std=b_std
            )
            k_train = kernel_fn(x_tr, None, ("nngp", "ntk"))
            k_test = kernel_fn(x_te, x_tr, ("nngp", "ntk"))
            nngp_by_p[p].append(np.asarray(k_train.nngp))
            if i == 0 and p == "ntk":
                fx = krr_predict(k_train.nngp, k_test.nngp, y_tr, reg)
                nngp_accuracy = float(jnp.mean(jnp.argmax(fx, -1) == labels))
            lr = float(max_learning_rate(k_train.ntk, y_tr.size)) * lr_fraction
            fields["ntk_scale"][p][i] = float(jnp.mean(jnp.diag(k_train.ntk)))
            fields["learning_rate"][p][i] = lr / lr_fraction
            predict_fn = gradient_descent_mse(k_train.ntk, y_tr, learning_rate=lr)
            _, fx_test = predict_fn(
                t=float(steps), fx_train_0=0.0, fx_test_0=0.0, k_test_train=k_test.ntk
            )
            fields["kernel_accuracy"][p][i] = float(
                jnp.mean(jnp.argmax(fx_test, -1) == labels)
            )
            distances, accuracies = [], []
            ntk_fn = jax.jit(empirical_ntk_fn(apply_fn, vmap_axes=0))
            for r in range(n_seeds):
                key = jax.random.PRNGKey(seed + 1000 * r + i)
                _, params = init_fn(key, x_tr.shape)
                entk = ntk_fn(x_tr, None, params)
                distances.append(
                    float(
                        jnp.linalg.norm(entk - k_train.ntk)
                        / jnp.linalg.norm(k_train.ntk)
                    )
                )
                trained = _train(apply_fn, params, x_tr, y_tr, lr, steps)
                fx_te = apply_fn(trained, x_te) - apply_fn(params, x_te)
                accuracies.append(float(jnp.mean(jnp.argmax(fx_te, -1) == labels)))
            fields["ntk_distance"][p][i] = np.mean(distances)
            fields["finite_accuracy"][p][i] = np.mean(accuracies)
            fields["finite_accuracy_std"][p][i] = np.std(accuracies)
    nngp_diff = max(
        float(np.max(np.abs(a - b)) / np.max(np.abs(a)))
        for a, b in zip(nngp_by_p["ntk"], nngp_by_p["standard"], strict=True)
    )
    return ParameterizationComparison(
        widths=width_arr,
        nngp_accuracy=nngp_accuracy,
        nngp_max_difference=nngp_diff,
        steps=steps,
        lr_fraction=lr_fraction,
        **fields,
    )


def _train(
    apply_fn: Any, params: Any, x: jax.Array, y: jax.Array, lr: float, steps: int
) -> Any:
    """Full-batch gradient descent on ``0.5 * ||f - f_0 - y||^2 / y.size`` (NT's MSE).

    The network is centred (its initial function ``f_0`` subtracted, Lee et al.
    2020, "Finite versus infinite neural networks"): the kernels predict the
    mean over initialisations, which starts at zero, and without centring each
    finite network's random ``f_0`` would be measured instead of its training.
    """
    f0 = apply_fn(params, x)

    def loss(p: Any) -> jax.Array:
        return 0.5 * jnp.sum((apply_fn(p, x) - f0 - y) ** 2) / y.size

    def body(_: int, p: Any) -> Any:
        return jax.tree_util.tree_map(lambda w, g: w - lr * g, p, jax.grad(loss)(p))

    return jax.jit(lambda p: jax.lax.fori_loop(0, steps, body, p))(params)


def _labels(y: ArrayLike, n: int) -> jax.Array:
    y_arr = np.asarray(y)
    labels = np.argmax(y_arr, -1) if y_arr.ndim == 2 else y_arr
    if labels.shape != (n,):
        raise ScienceError(
            f"`y_test` has shape {y_arr.shape}; expected ({n}, n_classes) or ({n},)."
        )
    return jnp.asarray(labels)


def _check_sweep(
    widths: Any,
    depth: Any,
    steps: Any,
    lr_fraction: Any,
    n_seeds: Any,
    y_tr: jax.Array,
    x_tr: jax.Array,
) -> np.ndarray:
    width_arr = np.asarray(widths)
    if width_arr.ndim != 1 or width_arr.size < 1 or not np.all(width_arr >= 1):
        raise ScienceError(
            f"`widths={widths!r}` must be a non-empty list of positive integers, "
            "e.g. widths=[64, 256, 1024]."
        )
    for name, value in (("depth", depth), ("steps", steps), ("n_seeds", n_seeds)):
        if not isinstance(value, int) or value < 1:
            raise ScienceError(f"`{name}={value!r}` must be a positive integer.")
    if not isinstance(lr_fraction, int | float) or not 0 < lr_fraction < 1:
        raise ScienceError(
            f"`lr_fraction={lr_fraction!r}` must lie in (0, 1): at or above 1 the "
            "gradient descent diverges along the NTK's top eigenvector."
        )
    if y_tr.ndim != 2 or len(y_tr) != len(x_tr) or x_tr.ndim != 2:
        raise ScienceError(
            f"Expected `x_train` (n, d) and `y_train` (n, n_classes); got "
            f"{tuple(x_tr.shape)} and {tuple(y_tr.shape)}."
        )
    return width_arr.astype(int)
