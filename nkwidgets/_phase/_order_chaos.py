r"""The order–chaos phase diagram of deep fully connected networks.

For a network with weight variance :math:`\sigma_w^2`, bias variance
:math:`\sigma_b^2` and activation :math:`\phi`, the mean-field (infinite
width) recursions are

.. math::
    q^{l+1} = \sigma_w^2\,\mathbb E[\phi(\sqrt{q^l} z)^2] + \sigma_b^2,
    \qquad
    c^{l+1} = \frac{\sigma_w^2\,\mathbb E[\phi(u)\phi(v)] + \sigma_b^2}{q^*},

(:math:`u, v` centred Gaussians of variance :math:`q^*`, correlation
:math:`c^l`). Computed per grid point:

* :math:`q^*`: the stable fixed point of the variance map, from :math:`q^0 =
  1` (fixed-point iteration, then Newton). ``inf`` where no stable finite one
  exists (e.g. ReLU above :math:`\sigma_w^2 = 2`: the variance explodes);
  quantities that depend only on the correlation structure are then
  evaluated at a large variance, which is exact for positively homogeneous
  activations (ReLU) and the large-variance limit otherwise.
* :math:`\chi_1 = \sigma_w^2\,\mathbb E[\phi'(\sqrt{q^*} z)^2]`, the slope of
  the correlation map at :math:`c = 1`; :math:`\chi_1 = 1` is the edge of
  chaos (ordered below, chaotic above).
* :math:`\chi_q`, the slope of the variance map at :math:`q^*`, and
  :math:`\xi_q = -1/\log\chi_q`.
* :math:`c^*`, the stable fixed point of the correlation map (1 in the
  ordered phase, below 1 in the chaotic phase), its slope :math:`\chi_c =
  \sigma_w^2\,\mathbb E[\phi'(u)\phi'(v)]` there (:math:`=\chi_1` when
  :math:`c^* = 1`) and :math:`\xi_c = -1/\log\chi_c` (``inf`` on the
  critical line).
* :math:`\kappa_L`, the NTK condition number at depth ``L``: for a toy
  dataset of ``n_points`` inputs whose first-layer pre-activations already sit
  at the fixed point (variance :math:`q^*`, the mean-field convention) with
  pairwise correlation ``c_in``, the NTK recursion (NTK parameterization)

  .. math::
      \Theta^{l+1} = K^{l+1} + \sigma_w^2\,\dot T(K^l) \odot \Theta^l,
      \qquad \Theta^1 = K^1,

  through ``L`` nonlinearities and the readout layer gives
  :math:`\Theta = (\Theta_d - \Theta_o) I + \Theta_o 1 1^T`, with
  eigenvalues :math:`\Theta_d + (n-1)\Theta_o` and :math:`\Theta_d -
  \Theta_o`; :math:`\kappa_L` is the ratio of the larger to the smaller in
  absolute value. It diverges with depth in the ordered phase
  (:math:`\Theta_o \to \Theta_d`), which is why deep ordered networks do not
  train (Xiao et al. 2020, section 4). The same cancellation amplifies the
  quadrature error by about :math:`\kappa_L`: above ~1e4 only the order of
  magnitude is reliable (enough for the log-scale diagram).

Expectations use kink-aware Gaussian quadrature (:mod:`._quadrature`) for any
activation; everything is ``vmap``-ped over the grid and compiled once per
activation and grid size (depth and ``c_in`` are traced), so a 100 x 100 grid
recomputes in well under a second on CPU.

References:
  Poole, Lahiri, Raghu, Sohl-Dickstein, Ganguli, `Exponential expressivity in
  deep neural networks through transient chaos
  <https://arxiv.org/abs/1606.05340>`_, NeurIPS 2016 (:math:`q^*`,
  :math:`\chi_1`).

  Schoenholz, Gilmer, Ganguli, Sohl-Dickstein, `Deep information propagation
  <https://arxiv.org/abs/1611.01232>`_, ICLR 2017 (depth scales
  :math:`\xi_q`, :math:`\xi_c`).

  Xiao, Pennington, Schoenholz, `Disentangling trainability and
  generalization in deep neural networks
  <https://arxiv.org/abs/1912.13053>`_, ICML 2020 (NTK condition number).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import InputError
from ._quadrature import Rule, expect_1d, expect_pair, rule


@dataclasses.dataclass(frozen=True, eq=False)
class Activation:
    """An elementwise nonlinearity for the diagram.

    Attributes:
      name: shown in plots.
      fn: ``jax.numpy`` function.
      derivative: its derivative; default by forward-mode autodiff.
    """

    name: str
    fn: Callable[[jax.Array], jax.Array]
    derivative: Callable[[jax.Array], jax.Array] | None = None

    def df(self, x: jax.Array) -> jax.Array:
        if self.derivative is not None:
            return self.derivative(x)
        return jax.jvp(self.fn, (x,), (jnp.ones_like(x),))[1]


RELU = Activation("ReLU", jax.nn.relu, lambda x: (x > 0).astype(x.dtype))
ERF = Activation(
    "Erf",
    jax.scipy.special.erf,
    lambda x: 2.0 / math.sqrt(math.pi) * jnp.exp(-x * x),
)
TANH = Activation("Tanh", jnp.tanh, lambda x: 1.0 - jnp.tanh(x) ** 2)
ACTIVATIONS = {"relu": RELU, "erf": ERF, "tanh": TANH}

# Variance map: fixed-point steps from q = 1, then Newton steps (1-D, cheap:
# near a bifurcation of q* from 0, e.g. Erf at sigma_b^2 = 0, Newton starts
# outside its quadratic basin and halves the error per step); the variance
# is capped (CAP) so that exploding maps stay finite, and floored (FLOOR) so
# that a collapsing one (q* = 0) still tells a ReLU's sides apart.
Q_ITERATIONS = 32
Q_NEWTON = 32
Q_CAP = 1e6
Q_FLOOR = 1e-20
# A fixed point with chi_q above 1 + UNSTABLE is repelling: the variance runs
# away from it, to infinity for an unbounded activation.
UNSTABLE = 1e-6
# Correlation map: fixed-point steps from C_START, then Newton steps.
C_START = 0.5
C_ITERATIONS = 16
C_NEWTON = 4
# Bisection steps for the chi_1 = 1 line within one grid cell: 2^-40 of a cell.
BISECTIONS = 40
# Default quadrature sizes, for speed on a 100 x 100 grid. Measured against
# Erf's closed forms at q* <= 4 (tests/phase/test_order_chaos.py): 1-D below
# 1e-10; 2-D 6e-5 relative near c = 1 with 6 x 6 nodes (2e-8 with 10 x 10),
# which moves the ordered phase's NTK condition number (a cancelling
# difference) by up to ~10 %. ReLU: exact in 1-D and radially; the angular
# rule leaves ~1e-6 with 6 nodes, 1e-16 with 12.
LINE_NODES = 32
RADIAL_NODES = 6
ANGLE_NODES = 6


@dataclasses.dataclass(frozen=True)
class OrderChaosDiagram:
    """Mean-field quantities on a :math:`(\\sigma_b^2, \\sigma_w^2)` grid.

    Every 2-D array is ``(len(sigma_b2), len(sigma_w2))``: rows are bias
    variances, columns weight variances (``x = sigma_w2`` in a heatmap).

    Attributes:
      activation: the activation's name.
      sigma_w2, sigma_b2: the grid axes.
      q_star, chi1, chi_q, xi_q, c_star, chi_c, xi_c: see the module docstring.
      kappa: NTK condition number at ``depth``.
      depth, n_points, c_in: the toy dataset and depth of ``kappa``.
      critical_sigma_b2, critical_sigma_w2: the :math:`\\chi_1 = 1` line,
        one :math:`\\sigma_w^2` per row, by bisection between the grid columns
        that straddle it (``nan`` where none does).
    """

    activation: str
    sigma_w2: np.ndarray
    sigma_b2: np.ndarray
    q_star: np.ndarray
    chi1: np.ndarray
    chi_q: np.ndarray
    xi_q: np.ndarray
    c_star: np.ndarray
    chi_c: np.ndarray
    xi_c: np.ndarray
    kappa: np.ndarray
    depth: int
    n_points: int
    c_in: float
    critical_sigma_b2: np.ndarray
    critical_sigma_w2: np.ndarray

    def field(self, name: str) -> np.ndarray:
        """One of the 2-D quantities by name (for plots)."""
        if name not in DIAGRAM_FIELDS:
            raise InputError(
                f"`{name!r}` is not a diagram field; choose one of {DIAGRAM_FIELDS}."
            )
        return getattr(self, name)


DIAGRAM_FIELDS = ("q_star", "chi1", "chi_q", "xi_q", "c_star", "chi_c", "xi_c", "kappa")


def _q_map(act: Activation, r: Rule, sw: jax.Array, sb: jax.Array, q: jax.Array):
    return sw * expect_1d(lambda z: act.fn(jnp.sqrt(q) * z) ** 2, r, q.dtype) + sb


def _q_star(
    act: Activation, r: Rule, sw: jax.Array, sb: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """``(q*, chi_q)``: q* = inf where the variance runs away."""
    dtype = sw.dtype
    qmap = functools.partial(_q_map, act, r, sw, sb)
    q = jax.lax.fori_loop(
        0,
        Q_ITERATIONS,
        lambda _, q: jnp.clip(qmap(q), Q_FLOOR, Q_CAP),
        jnp.ones((), dtype),
    )

    def newton(_: int, q: jax.Array) -> jax.Array:
        value, slope = jax.jvp(qmap, (q,), (jnp.ones_like(q),))
        residual = value - q
        denom = slope - 1.0
        step = jnp.where(jnp.abs(denom) > UNSTABLE, residual / denom, 0.0)
        trial = jnp.clip(q - step, Q_FLOOR, Q_CAP)
        better = jnp.abs(qmap(trial) - trial) < jnp.abs(residual)
        return jnp.where(better & jnp.isfinite(trial), trial, q)

    q = jax.lax.fori_loop(0, Q_NEWTON, newton, q)
    chi_q = jax.jvp(qmap, (q,), (jnp.ones_like(q),))[1]
    runaway = (chi_q > 1.0 + UNSTABLE) | (q >= Q_CAP)
    return jnp.where(runaway, jnp.inf, q), chi_q


def _chi1(act: Activation, r: Rule, sw: jax.Array, q: jax.Array) -> jax.Array:
    return sw * expect_1d(lambda z: act.df(jnp.sqrt(q) * z) ** 2, r, q.dtype)


def _pair(
    act: Activation, r: Rule, q: jax.Array, c: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """``(E[phi(u) phi(v)], E[phi'(u) phi'(v)])`` at variance q, correlation c."""
    return expect_pair(
        lambda u, v: (act.fn(u) * act.fn(v), act.df(u) * act.df(v)), q, c, r
    )


def _point(
    act: Activation,
    r: Rule,
    sw: jax.Array,
    sb: jax.Array,
    depth: jax.Array,
    n_points: jax.Array,
    c_in: jax.Array,
) -> dict[str, jax.Array]:
    q_star, chi_q = _q_star(act, r, sw, sb)
    finite = jnp.isfinite(q_star)
    chi1 = _chi1(act, r, sw, jnp.where(finite, q_star, Q_CAP))
    # Where the variance collapses (q* = 0) or explodes (q* = inf) the
    # correlation map and the toy dataset start from variance 1 and follow it.
    q0 = jnp.where(finite & (q_star > Q_FLOOR), q_star, 1.0)
    qmap = functools.partial(_q_map, act, r, sw, sb)
    q1 = qmap(q0)

    def c_map(c: jax.Array) -> jax.Array:
        t = expect_pair(lambda u, v: act.fn(u) * act.fn(v), q0, c, r)
        return jnp.clip((sw * t + sb) / q1, -1.0, 1.0)

    def c_slope(c: jax.Array) -> jax.Array:
        return sw * expect_pair(lambda u, v: act.df(u) * act.df(v), q0, c, r) * q0 / q1

    c = jax.lax.fori_loop(
        0, C_ITERATIONS, lambda _, c: c_map(c), jnp.asarray(C_START, q0.dtype)
    )

    def newton(_: int, c: jax.Array) -> jax.Array:
        residual = c_map(c) - c
        denom = c_slope(c) - 1.0
        step = jnp.where(jnp.abs(denom) > UNSTABLE, residual / denom, 0.0)
        trial = jnp.clip(c - step, -1.0, 1.0)
        better = jnp.abs(c_map(trial) - trial) < jnp.abs(residual)
        return jnp.where(better, trial, c)

    c = jax.lax.fori_loop(0, C_NEWTON, newton, c)
    ordered = chi1 <= 1.0
    c_star = jnp.where(ordered, 1.0, c)
    chi_c = jnp.where(ordered, chi1, c_slope(c))

    # NTK of the toy dataset, diagonal (q, theta_d) and off-diagonal (k_o,
    # theta_o) entries, layer by layer.
    def layer(_: int, state: tuple[jax.Array, ...]) -> tuple[jax.Array, ...]:
        q, k_o, theta_d, theta_o = state
        t, dt = _pair(act, r, q, k_o / q)
        q_next = qmap(q)
        k_o = sw * t + sb
        theta_d = q_next + _chi1(act, r, sw, q) * theta_d
        return q_next, k_o, theta_d, k_o + sw * dt * theta_o

    _, _, theta_d, theta_o = jax.lax.fori_loop(
        0, depth, layer, (q0, q0 * c_in, q0, q0 * c_in)
    )
    big = jnp.abs(theta_d + (n_points - 1) * theta_o)
    small = jnp.abs(theta_d - theta_o)
    lo, hi = jnp.minimum(big, small), jnp.maximum(big, small)
    kappa = jnp.where(lo > 0, hi / jnp.where(lo > 0, lo, 1.0), jnp.inf)

    def scale(chi: jax.Array) -> jax.Array:
        below = chi < 1.0
        return jnp.where(below, -1.0 / jnp.log(jnp.where(below, chi, 0.5)), jnp.inf)

    return {
        "q_star": q_star,
        "chi1": chi1,
        "chi_q": jnp.where(finite, chi_q, jnp.nan),
        "xi_q": jnp.where(finite, scale(chi_q), jnp.nan),
        "c_star": c_star,
        "chi_c": chi_c,
        "xi_c": scale(chi_c),
        "kappa": kappa,
    }


def _critical_row(
    act: Activation, r: Rule, sb: jax.Array, w_lo: jax.Array, w_hi: jax.Array
) -> jax.Array:
    """sigma_w^2 with chi_1 = 1 in [w_lo, w_hi], by bisection (chi_1 grows with sigma_w^2)."""

    def excess(sw: jax.Array) -> jax.Array:
        q_star, _ = _q_star(act, r, sw, sb)
        q = jnp.where(jnp.isfinite(q_star), q_star, Q_CAP)
        return _chi1(act, r, sw, q) - 1.0

    def body(
        _: int, bounds: tuple[jax.Array, jax.Array]
    ) -> tuple[jax.Array, jax.Array]:
        lo, hi = bounds
        mid = 0.5 * (lo + hi)
        above = excess(mid) > 0
        return jnp.where(above, lo, mid), jnp.where(above, mid, hi)

    lo, hi = jax.lax.fori_loop(0, BISECTIONS, body, (w_lo, w_hi))
    return 0.5 * (lo + hi)


@functools.lru_cache(maxsize=32)
def _compiled(act: Activation, line: int, radial: int, angle: int):
    r = rule(line, radial, angle)

    def grid_fn(sw, sb, depth, n_points, c_in):
        point = functools.partial(_point, act, r)
        flat = jax.vmap(point, in_axes=(0, 0, None, None, None))(
            sw.reshape(-1), sb.reshape(-1), depth, n_points, c_in
        )
        return {k: v.reshape(sw.shape) for k, v in flat.items()}

    def line_fn(sb, lo, hi):
        return jax.vmap(functools.partial(_critical_row, act, r))(sb, lo, hi)

    return jax.jit(grid_fn), jax.jit(line_fn)


def _activation(activation: str | Activation) -> Activation:
    if isinstance(activation, Activation):
        return activation
    key = str(activation).lower()
    if key not in ACTIVATIONS:
        raise InputError(
            f"`activation={activation!r}` is not built in; choose one of "
            f"{sorted(ACTIVATIONS)} or pass Activation(name, fn)."
        )
    return ACTIVATIONS[key]


def _axis(name: str, values: object, allow_zero: bool) -> np.ndarray:
    a = np.asarray(values, np.float64)
    ok = a.ndim == 1 and a.size >= 1 and np.all(np.isfinite(a))
    ok = ok and np.all(a >= 0 if allow_zero else a > 0) and np.all(np.diff(a) > 0)
    if not ok:
        raise InputError(
            f"`{name}` must be an increasing 1-D grid of "
            f"{'non-negative' if allow_zero else 'positive'} variances; got {values!r}. "
            f"Fix: e.g. {name}=np.linspace({0.0 if allow_zero else 0.1}, 4.0, 100)."
        )
    return a


def order_chaos_diagram(
    activation: str | Activation = "erf",
    sigma_w2: object = None,
    sigma_b2: object = None,
    *,
    depth: int = 20,
    n_points: int = 2,
    c_in: float = 0.5,
    line_nodes: int = LINE_NODES,
    radial_nodes: int = RADIAL_NODES,
    angle_nodes: int = ANGLE_NODES,
) -> OrderChaosDiagram:
    r"""The order–chaos diagram: :math:`q^*`, :math:`\chi_1`, depth scales and NTK conditioning on a grid.

    Computed in the default JAX float type (float32 unless ``jax_enable_x64``).

    Args:
      activation: ``"relu"``, ``"erf"``, ``"tanh"`` or an :class:`Activation`.
      sigma_w2: weight variances (columns); default 100 values in
        ``[0.1, 4]``.
      sigma_b2: bias variances (rows); default 100 values in ``[0, 1]``.
      depth: hidden layers ``L`` for the NTK condition number.
      n_points: size of the toy dataset for the condition number (>= 2).
      c_in: correlation of the toy inputs, in ``(-1/(n_points-1), 1)``.
      line_nodes, radial_nodes, angle_nodes: quadrature sizes.

    Returns:
      An :class:`OrderChaosDiagram`.

    Examples:
      >>> import numpy as np
      >>> from nkwidgets.phase import order_chaos_diagram
      >>> d = order_chaos_diagram("relu", np.array([1.0, 2.0, 3.0]), np.array([0.0, 0.1]))
      >>> np.round(d.chi1, 6).tolist()
      [[0.5, 1.0, 1.5], [0.5, 1.0, 1.5]]

    References:
      Schoenholz et al., `Deep information propagation
      <https://arxiv.org/abs/1611.01232>`_, ICLR 2017; Xiao, Pennington,
      Schoenholz, `Disentangling trainability and generalization in deep
      neural networks <https://arxiv.org/abs/1912.13053>`_, ICML 2020.
    """
    act = _activation(activation)
    sw_axis = _axis(
        "sigma_w2", np.linspace(0.1, 4.0, 100) if sigma_w2 is None else sigma_w2, False
    )
    sb_axis = _axis(
        "sigma_b2", np.linspace(0.0, 1.0, 100) if sigma_b2 is None else sigma_b2, True
    )
    for name, value, low in (("depth", depth, 1), ("n_points", n_points, 2)):
        if not isinstance(value, int | np.integer) or value < low:
            raise InputError(f"`{name}={value!r}` must be an integer >= {low}.")
    if not (-1.0 / (n_points - 1) < c_in < 1.0):
        raise InputError(
            f"`c_in={c_in!r}` must lie in (-1/(n_points-1), 1) = "
            f"({-1.0 / (n_points - 1):.3g}, 1): equal pairwise correlations outside "
            "it are not a valid covariance (or make the inputs identical)."
        )
    for name, value in (
        ("line_nodes", line_nodes),
        ("radial_nodes", radial_nodes),
        ("angle_nodes", angle_nodes),
    ):
        if not isinstance(value, int | np.integer) or value < 2:
            raise InputError(f"`{name}={value!r}` must be an integer >= 2.")
    grid_fn, line_fn = _compiled(
        act, int(line_nodes), int(radial_nodes), int(angle_nodes)
    )
    dtype = jnp.asarray(0.0).dtype
    sw, sb = np.meshgrid(sw_axis, sb_axis)
    out = grid_fn(
        jnp.asarray(sw, dtype),
        jnp.asarray(sb, dtype),
        jnp.asarray(depth, jnp.int32),
        jnp.asarray(n_points, dtype),
        jnp.asarray(c_in, dtype),
    )
    values = {k: np.asarray(v, np.float64) for k, v in out.items()}
    critical = _critical_line(values["chi1"], sw_axis, sb_axis, line_fn, dtype)
    return OrderChaosDiagram(
        activation=act.name,
        sigma_w2=sw_axis,
        sigma_b2=sb_axis,
        depth=int(depth),
        n_points=int(n_points),
        c_in=float(c_in),
        critical_sigma_b2=sb_axis.copy(),
        critical_sigma_w2=critical,
        **values,
    )


def _critical_line(
    chi1: np.ndarray, sw: np.ndarray, sb: np.ndarray, line_fn, dtype
) -> np.ndarray:
    """Per row, the first grid cell where chi_1 - 1 changes sign, refined by bisection."""
    above = chi1 > 1.0
    if sw.size < 2:
        return np.where(np.isclose(chi1[:, 0], 1.0, rtol=0, atol=1e-12), sw[0], np.nan)
    crossing = above[:, 1:] & ~above[:, :-1]
    has = crossing.any(axis=1)
    j = np.argmax(crossing, axis=1)
    lo, hi = sw[j], sw[np.minimum(j + 1, sw.size - 1)]
    refined = np.asarray(
        line_fn(jnp.asarray(sb, dtype), jnp.asarray(lo, dtype), jnp.asarray(hi, dtype)),
        np.float64,
    )
    # chi_1 exactly 1 at a grid point (ReLU at sigma_w^2 = 2) is the line itself.
    exact = np.isclose(chi1, 1.0, rtol=0, atol=1e-12)
    on_grid = exact.any(axis=1) & ~has
    refined = np.where(has, refined, np.nan)
    return np.where(on_grid, sw[np.argmax(exact, axis=1)], refined)
