"""Finite-width (empirical) kernels of any JAX function: ``nkwidgets.empirical``.

A drop-in for Neural Tangents 0.6.5's empirical kernels on current JAX:
``import neural_tangents as nt; nt.empirical_ntk_fn(...)`` ports as
``from nkwidgets import empirical as nt``.

* :func:`empirical_ntk_fn`, :func:`empirical_nngp_fn`,
  :func:`empirical_kernel_fn`: one sample of the NTK / NNGP of
  ``f(params, x, **kwargs)``, for ``stax`` networks, ``flax.linen`` ``apply``,
  equinox modules (``eqx.partition``) or plain functions.
* :class:`NtkImplementation`: Jacobian contraction, NTK-vector products,
  structured derivatives, or ``AUTO``, which estimates time and memory per
  call signature and picks the fastest method within ``memory_budget``
  (:class:`MemoryBudgetError` otherwise, naming a batch size that fits).
* :func:`empirical_ntk_vp_fn`: NTK-vector products without the NTK.
* :func:`linearize`, :func:`taylor_expand`: a network's Taylor expansion in
  its parameters (Lee et al. 2019).

References:
  Novak, Sohl-Dickstein, Schoenholz, `Fast Finite Width Neural Tangent Kernel
  <https://arxiv.org/abs/2206.08720>`_, ICML 2022.
"""

from nkwidgets._empirical._auto import Decision as Decision
from nkwidgets._empirical._auto import MemoryBudgetError as MemoryBudgetError
from nkwidgets._empirical._cost import Estimate as Estimate
from nkwidgets._empirical._linearize import linearize as linearize
from nkwidgets._empirical._linearize import taylor_expand as taylor_expand
from nkwidgets._empirical._nngp import empirical_nngp_fn as empirical_nngp_fn
from nkwidgets._empirical._ntk import EmpiricalNtkFn as EmpiricalNtkFn
from nkwidgets._empirical._ntk import empirical_kernel_fn as empirical_kernel_fn
from nkwidgets._empirical._ntk import empirical_ntk_fn as empirical_ntk_fn
from nkwidgets._empirical._ntk_vector import empirical_ntk_vp_fn as empirical_ntk_vp_fn
from nkwidgets._empirical._types import NtkImplementation as NtkImplementation
