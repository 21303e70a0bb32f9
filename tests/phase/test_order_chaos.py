"""Tests of ``nkwidgets/_phase/_order_chaos.py`` and ``_quadrature.py``.

References are independent of the module's quadrature: closed-form Gaussian
expectations (arc-cosine kernels for ReLU, arcsine kernels for Erf), scipy
root finding, and a plain numpy NTK recursion.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy.optimize import brentq

from nkwidgets.errors import InputError
from nkwidgets.phase import Activation, order_chaos_diagram

SW = np.linspace(0.1, 4.0, 40)
SB = np.array([0.0, 0.05, 0.2, 0.5, 1.0])


# Closed forms, variance q, correlation c (Williams 1997 for Erf; Cho & Saul
# 2009 for ReLU).
def erf_q(q):
    return 2 / np.pi * np.arcsin(2 * q / (1 + 2 * q))


def erf_dd(q):
    return 4 / np.pi / np.sqrt(1 + 4 * q)


def erf_pair(q, c):
    return 2 / np.pi * np.arcsin(2 * q * c / (1 + 2 * q)), 4 / np.pi / np.sqrt(
        (1 + 2 * q) ** 2 - (2 * q * c) ** 2
    )


def relu_pair(q, c):
    psi = np.arccos(np.clip(c, -1, 1))
    return q * (np.sin(psi) + (np.pi - psi) * c) / (2 * np.pi), (np.pi - psi) / (
        2 * np.pi
    )


def erf_q_star(sw, sb):
    return brentq(
        lambda q: sw * erf_q(q) + sb - q, 1e-300 if sb == 0 else 0.0, sw + sb + 1.0
    )


def reference_kappa(pair, qmap, dd, sw, sb, q0, depth, n, c_in):
    """The module's NTK definition, written out in numpy with closed-form duals."""
    q, k_o, th_d, th_o = q0, q0 * c_in, q0, q0 * c_in
    for _ in range(depth):
        t, dt = pair(q, k_o / q)
        q_next = qmap(q)
        k_o = sw * t + sb
        th_d = q_next + sw * dd(q) * th_d
        th_o = k_o + sw * dt * th_o
        q = q_next
    eig = sorted([abs(th_d + (n - 1) * th_o), abs(th_d - th_o)])
    return eig[1] / eig[0]


def test_relu_edge_of_chaos_is_sigma_w2_2(x64):
    d = order_chaos_diagram("relu", np.linspace(1.0, 3.0, 21), SB)
    # chi_1 = sigma_w^2 / 2 exactly: the kink-split rule integrates the step exactly.
    np.testing.assert_allclose(
        d.chi1, np.broadcast_to(d.sigma_w2 / 2, d.chi1.shape), rtol=1e-13
    )
    np.testing.assert_allclose(d.critical_sigma_w2, 2.0, rtol=1e-12)
    ordered = d.sigma_w2 < 2
    # q* = sigma_b^2 / (1 - sigma_w^2 / 2) below the line; the variance explodes above it.
    expected = SB[:, None] / (1 - d.sigma_w2[ordered] / 2)
    np.testing.assert_allclose(d.q_star[:, ordered][1:], expected[1:], rtol=1e-10)
    assert np.all(np.isinf(d.q_star[:, d.sigma_w2 > 2]))


def test_relu_depth_scale_and_kappa(x64):
    d = order_chaos_diagram(
        "relu",
        np.array([1.0, 1.5, 2.5]),
        np.array([0.1, 0.3]),
        depth=12,
        n_points=4,
        c_in=0.3,
        angle_nodes=12,
    )
    np.testing.assert_allclose(
        d.xi_c[:, :2], np.tile(-1 / np.log(d.sigma_w2[:2] / 2), (2, 1)), rtol=1e-12
    )
    assert np.all(np.isinf(d.xi_c[:, 2])) or np.all(d.chi_c[:, 2] < 1)
    for i, sb in enumerate(d.sigma_b2):
        for j, sw in enumerate(d.sigma_w2):
            q0 = d.q_star[i, j] if np.isfinite(d.q_star[i, j]) else 1.0
            ref = reference_kappa(
                relu_pair,
                lambda q, sw=sw, sb=sb: sw * q / 2 + sb,
                lambda q: 0.5,
                sw,
                sb,
                q0,
                12,
                4,
                0.3,
            )
            # ReLU's 2-D expectations are polynomial in r (the radial rule is
            # exact) and trigonometric in angle (12 Gauss-Legendre nodes:
            # ~1e-16); kappa amplifies that by itself (<= 411 here).
            assert d.kappa[i, j] == pytest.approx(ref, rel=1e-10)


def test_erf_edge_of_chaos_matches_root_finding(x64):
    d = order_chaos_diagram("erf", SW, SB)
    # sigma_b^2 = 0: q* = 0 below the line, so chi_1 = sigma_w^2 * 4 / pi;
    # above it chi_1 - 1 grows only quadratically (q* bifurcates from 0), so
    # an error e in chi_1 moves the crossing by ~sqrt(e): 1e-12 -> 1e-6.
    assert d.critical_sigma_w2[0] == pytest.approx(np.pi / 4, rel=1e-5)
    for sb, found in zip(SB[1:], d.critical_sigma_w2[1:], strict=True):
        ref = brentq(
            lambda sw, sb=sb: sw * erf_dd(erf_q_star(sw, sb)) - 1.0,
            0.1,
            4.0,
            xtol=1e-14,
        )
        # 1-D quadrature with 32 kink-split nodes on analytic erf: ~1e-12;
        # bisection to 2^-40 of a 0.1-wide cell: 1e-13.
        assert found == pytest.approx(ref, rel=1e-9)
        # The grid contour alone (linear interpolation of chi_1 between
        # columns 0.1 apart) lands within the curvature error h^2 chi'' / 8.
        row = d.chi1[list(SB).index(sb)]
        j = np.flatnonzero((row[:-1] <= 1) & (row[1:] > 1))[0]
        contour = SW[j] + (1 - row[j]) * (SW[j + 1] - SW[j]) / (row[j + 1] - row[j])
        assert contour == pytest.approx(ref, abs=5e-3)


def test_erf_fixed_points_and_kappa(x64):
    sw, sb = np.array([0.5, 1.5, 3.0]), np.array([0.05, 0.5])
    fine = order_chaos_diagram(
        "erf", sw, sb, depth=15, n_points=3, c_in=0.2, radial_nodes=12, angle_nodes=12
    )
    coarse = order_chaos_diagram("erf", sw, sb, depth=15, n_points=3, c_in=0.2)
    for i, b in enumerate(sb):
        for j, a in enumerate(sw):
            q = erf_q_star(a, b)
            assert fine.q_star[i, j] == pytest.approx(q, rel=1e-10)
            assert fine.chi1[i, j] == pytest.approx(a * erf_dd(q), rel=1e-10)
            if fine.chi1[i, j] > 1:
                c = brentq(
                    lambda c, a=a, b=b, q=q: (a * erf_pair(q, c)[0] + b) / q - c,
                    -0.999,
                    0.999999,
                )
                # 2-D polar quadrature with 12 x 12 nodes per sector: 2e-7
                # relative on E[erf(u) erf(v)] at q* = 1.75 (measured; 1e-11
                # with 20 x 20), the steepest case here; a fixed point moves by
                # that error over 1 - chi_c (chi_c = 0.87 at sigma_b^2 = 0.5).
                assert fine.c_star[i, j] == pytest.approx(c, abs=1e-5)
                # chi_c inherits c*'s error through its slope in c.
                assert fine.chi_c[i, j] == pytest.approx(
                    a * erf_pair(q, c)[1], rel=1e-4
                )
            else:
                assert fine.c_star[i, j] == 1.0
            ref = reference_kappa(
                erf_pair,
                lambda x, a=a, b=b: a * erf_q(x) + b,
                erf_dd,
                a,
                b,
                q,
                15,
                3,
                0.2,
            )
            # kappa = big / (theta_d - theta_o): in the ordered phase the
            # difference cancels, amplifying quadrature errors by about kappa
            # per layer; compared where kappa < 1e4 (deeper in the ordered
            # phase kappa ~ 5e6 here and only its order of magnitude holds).
            if ref < 1e4:
                assert fine.kappa[i, j] == pytest.approx(ref, rel=1e-4)
                # The default 6 x 6 rule (6e-5 error near c = 1, measured)
                # keeps kappa within 10 %: 0.04 decades on the log10 heatmap.
                assert coarse.kappa[i, j] == pytest.approx(ref, rel=0.1)
            else:
                assert 0.3 < fine.kappa[i, j] / ref < 3


def test_any_activation_and_the_interactive_grid():
    softsign = Activation("softsign", lambda x: x / (1 + abs(x)))
    d = order_chaos_diagram(softsign, np.linspace(0.5, 3, 6), np.array([0.0, 0.1]))
    assert np.all(np.isfinite(d.chi1)) and d.chi1.shape == (2, 6)
    order_chaos_diagram("erf")  # compile the default 100 x 100 grid
    start = time.perf_counter()
    d = order_chaos_diagram("erf", depth=21)
    seconds = time.perf_counter() - start
    # The issue asks for < 2 s on CPU; machines under test load vary, so this
    # is reported, not asserted.
    print(f"\n100 x 100 Erf order-chaos grid (float32, depth 21): {seconds:.2f} s")
    assert d.kappa.shape == (100, 100)


def test_bad_arguments_are_named():
    with pytest.raises(InputError, match="sigma_w2"):
        order_chaos_diagram("erf", np.array([2.0, 1.0]), SB)
    with pytest.raises(InputError, match="activation"):
        order_chaos_diagram("swish")
    with pytest.raises(InputError, match="c_in"):
        order_chaos_diagram("erf", SW, SB, n_points=3, c_in=-0.6)
    with pytest.raises(InputError, match="depth"):
        order_chaos_diagram("erf", SW, SB, depth=0)
