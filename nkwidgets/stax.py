"""Layers whose infinite-width kernels are computed in closed form.

A drop-in for ``neural_tangents.stax``: each layer returns
``(init_fn, apply_fn, kernel_fn)`` with Neural Tangents' names, arguments and
conventions, so ``from nkwidgets import stax`` ports NT code.

Example:
    >>> from nkwidgets import stax
    >>> init_fn, apply_fn, kernel_fn = stax.serial(
    ...     stax.Dense(512, W_std=1.5, b_std=0.05), stax.Relu(), stax.Dense(1))
"""

from .kernels._activations import Cos as Cos
from .kernels._activations import Elementwise as Elementwise
from .kernels._activations import Exp as Exp
from .kernels._activations import ExpNormalized as ExpNormalized
from .kernels._activations import Gaussian as Gaussian
from .kernels._activations import Gelu as Gelu
from .kernels._activations import Rbf as Rbf
from .kernels._activations import Sigmoid_like as Sigmoid_like
from .kernels._activations import Sign as Sign
from .kernels._activations import Sin as Sin
from .kernels._aggregate import Aggregate as Aggregate
from .kernels._attention import GlobalSelfAttention as GlobalSelfAttention
from .kernels._branching import FanInConcat as FanInConcat
from .kernels._branching import FanInProd as FanInProd
from .kernels._combinators import FanInSum as FanInSum
from .kernels._combinators import FanOut as FanOut
from .kernels._combinators import Identity as Identity
from .kernels._combinators import parallel as parallel
from .kernels._combinators import repeat as repeat
from .kernels._combinators import serial as serial
from .kernels._conv import Conv as Conv
from .kernels._conv import ConvLocal as ConvLocal
from .kernels._conv import ConvTranspose as ConvTranspose
from .kernels._dense import Dense as Dense
from .kernels._dropout import Dropout as Dropout
from .kernels._elementwise import ABRelu as ABRelu
from .kernels._elementwise import Abs as Abs
from .kernels._elementwise import Erf as Erf
from .kernels._elementwise import LeakyRelu as LeakyRelu
from .kernels._elementwise import Relu as Relu
from .kernels._flatten import Flatten as Flatten
from .kernels._index import Index as Index
from .kernels._index import Slice as Slice
from .kernels._kernel import Kernel as Kernel
from .kernels._layer import Layer as Layer
from .kernels._layernorm import LayerNorm as LayerNorm
from .kernels._numerical import ElementwiseNumerical as ElementwiseNumerical
from .kernels._polynomial import Hermite as Hermite
from .kernels._polynomial import Monomial as Monomial
from .kernels._polynomial import Polynomial as Polynomial
from .kernels._polynomial import RectifiedMonomial as RectifiedMonomial
from .kernels._pooling import AvgPool as AvgPool
from .kernels._pooling import GlobalAvgPool as GlobalAvgPool
from .kernels._pooling import GlobalSumPool as GlobalSumPool
from .kernels._pooling import MaxPool as MaxPool
from .kernels._pooling import SumPool as SumPool
from .kernels._resize import ImageResize as ImageResize
