"""Random-feature sketches of NNGP and NTK kernels: ``nkwidgets.sketch``.

Feature maps :math:`\\Phi` whose inner products approximate a network's
infinite-width kernels, for any activation (Hermite expansion of the dual
activation + PolySketch, or Gaussian random features), fully connected and
convolutional, after Han et al. (NeurIPS 2022). Exact kernels cost
:math:`O(n^2)` memory and :math:`O(n^3)` regression; with ``D``-dimensional
features regression costs :math:`O(n D^2)` time and :math:`O(D^2)` memory, and
streams over batches of data.

For a whole fully connected network, :func:`TaylorFeatures` builds one
deterministic feature map from the network's own ``kernel_fn`` instead: on a
sphere the kernel is a power series in the cosine, its low degrees are kept
exactly and the rest enters regression as ridge (``diagonal_tail``).

The layers mirror ``nkwidgets.stax``; each returns
``FeatureLayer(init_fn, feature_fn)`` with
``init_fn(key, input_shape) -> (out_shapes, params)`` and
``feature_fn(x, params) -> Features(nngp_feat, ntk_feat)``. Regression on
features (:func:`gradient_descent_mse`, :func:`gradient_descent_mse_streamed`)
follows ``nkwidgets.predict.gradient_descent_mse``.

Example:
    >>> import jax
    >>> from nkwidgets import sketch
    >>> init_fn, feature_fn = sketch.serial(
    ...     sketch.DenseFeatures(1.5, 0.05), sketch.ReluFeatures(2048),
    ...     sketch.DenseFeatures(1.5, 0.05))
    >>> x = jax.random.normal(jax.random.PRNGKey(0), (4, 64))
    >>> _, params = init_fn(jax.random.PRNGKey(1), x.shape)
    >>> phi = feature_fn(x, params)
    >>> phi.ntk_feat.shape
    (4, 4097)

References:
  Han, Zandieh, Lee, Novak, Xiao, Karbasi, `Fast Neural Kernel Embeddings for
  General Activations <https://arxiv.org/abs/2209.04121>`_, NeurIPS 2022.
"""

from nkwidgets._sketch._dual import ElementwiseFeatures as ElementwiseFeatures
from nkwidgets._sketch._dual import ReluFeatures as ReluFeatures
from nkwidgets._sketch._features import FeatureLayer as FeatureLayer
from nkwidgets._sketch._features import Features as Features
from nkwidgets._sketch._features import FeatureShapes as FeatureShapes
from nkwidgets._sketch._hermite import HermiteExpansion as HermiteExpansion
from nkwidgets._sketch._hermite import derivative_expansion as derivative_expansion
from nkwidgets._sketch._hermite import dual_series as dual_series
from nkwidgets._sketch._hermite import hermite_coefficients as hermite_coefficients
from nkwidgets._sketch._linear import DenseFeatures as DenseFeatures
from nkwidgets._sketch._linear import LayerNormFeatures as LayerNormFeatures
from nkwidgets._sketch._linear import serial as serial
from nkwidgets._sketch._regression import FeatureStatistics as FeatureStatistics
from nkwidgets._sketch._regression import feature_batches as feature_batches
from nkwidgets._sketch._regression import feature_statistics as feature_statistics
from nkwidgets._sketch._regression import (
    gradient_descent_mse as gradient_descent_mse,
)
from nkwidgets._sketch._regression import (
    gradient_descent_mse_streamed as gradient_descent_mse_streamed,
)
from nkwidgets._sketch._spatial import AvgPoolFeatures as AvgPoolFeatures
from nkwidgets._sketch._spatial import ConvFeatures as ConvFeatures
from nkwidgets._sketch._spatial import FlattenFeatures as FlattenFeatures
from nkwidgets._sketch._spatial import GlobalAvgPoolFeatures as GlobalAvgPoolFeatures
from nkwidgets._sketch._taylor import TaylorFeatures as TaylorFeatures
from nkwidgets._sketch._taylor import TaylorParams as TaylorParams
from nkwidgets._sketch._taylor import TaylorSeries as TaylorSeries
from nkwidgets._sketch._taylor import taylor_series as taylor_series
