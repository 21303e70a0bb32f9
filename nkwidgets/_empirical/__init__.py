"""Finite-width (empirical) kernels: private implementation of ``nkwidgets.empirical``.

One concept per module:

* ``_types``: the :class:`NtkImplementation` enum, ``vmap_axes`` and kwargs splitting.
* ``_call``: one call in canonical form (per-example functions and their vmap axes).
* ``_layout``: output-kernel layout (trace / diagonal axes), shared by all methods.
* ``_symmetric``: ``Theta(x, x)`` from its upper block triangle.
* ``_nngp``: the empirical NNGP.
* ``_jacobian``: NTK by Jacobian contraction (implementation 1).
* ``_ntk_vector``: NTK by NTK-vector products (implementation 2).
* Structured derivatives (implementation 3): ``_ir`` (flat graph of the jaxpr,
  evaluation with probes), ``_linmap`` (factored linear maps), ``_rules``
  (per-primitive rules), ``_structured`` (plans and ``df/dy``), ``_einsum``
  (labelled einsums) and ``_contract`` (the contraction).
* ``_implementations``: the three behind one interface; ``_cost`` and
  ``_auto``: the time / memory model and the AUTO choice.
* ``_ntk``: the public NTK / kernel factories.
* ``_linearize``: first-order and Taylor expansions in the parameters.
* ``_monte_carlo``: Monte Carlo kernels with standard errors.
"""
