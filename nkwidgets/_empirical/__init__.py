"""Finite-width (empirical) kernels: private implementation of ``nkwidgets.empirical``.

One concept per module:

* ``_types``: the :class:`NtkImplementation` enum, axes and kwargs helpers.
* ``_layout``: output-kernel layout (trace / diagonal axes), shared by all methods.
* ``_nngp``: the empirical NNGP.
* ``_jacobian``: NTK by Jacobian contraction (implementation 1).
* ``_ntk_vector``: NTK by NTK-vector products (implementation 2).
* ``_ir``, ``_linmap``, ``_rules``, ``_structured``: structured derivatives
  (implementation 3): a flat graph of the jaxpr, linear maps from each parameter
  to the first non-linear use, per-primitive propagation rules, and the
  contraction.
* ``_cost``, ``_auto``: the time / memory model and the AUTO choice.
* ``_ntk``: the public NTK / kernel factories.
* ``_linearize``: first-order and Taylor expansions in the parameters.
* ``_monte_carlo``: Monte Carlo kernels with standard errors.
"""
