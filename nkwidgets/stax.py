"""Layers whose infinite-width kernels are computed in closed form.

A drop-in for ``neural_tangents.stax``: each layer returns
``(init_fn, apply_fn, kernel_fn)`` with Neural Tangents' names, arguments and
conventions, so ``from nkwidgets import stax`` ports NT code.

Example:
    >>> from nkwidgets import stax
    >>> init_fn, apply_fn, kernel_fn = stax.serial(
    ...     stax.Dense(512, W_std=1.5, b_std=0.05), stax.Relu(), stax.Dense(1))
"""

from .kernels._combinators import FanInSum as FanInSum
from .kernels._combinators import FanOut as FanOut
from .kernels._combinators import Identity as Identity
from .kernels._combinators import parallel as parallel
from .kernels._combinators import serial as serial
from .kernels._dense import Dense as Dense
from .kernels._elementwise import ABRelu as ABRelu
from .kernels._elementwise import Abs as Abs
from .kernels._elementwise import Erf as Erf
from .kernels._elementwise import LeakyRelu as LeakyRelu
from .kernels._elementwise import Relu as Relu
from .kernels._kernel import Kernel as Kernel
from .kernels._layer import Layer as Layer
