"""Random-feature sketches of NNGP and NTK kernels (public face: ``nkwidgets.sketch``).

One concept per module: ``_features`` (the ``Features`` pair and layer type),
``_hermite`` (Hermite coefficients of an activation by quadrature),
``_polysketch`` (randomized Hadamard transforms, TensorSRHT, PolySketch),
``_random_features`` (Gaussian random features of any activation),
``_dual`` (one nonlinearity as a feature layer), ``_linear`` (Dense, LayerNorm,
serial), ``_spatial`` (Conv, pooling, Flatten) and ``_regression``
(gradient-descent MSE on features in ``O(n d^2)``).

References:
  Han, Zandieh, Lee, Novak, Xiao, Karbasi, `Fast Neural Kernel Embeddings for
  General Activations <https://arxiv.org/abs/2209.04121>`_, NeurIPS 2022.
"""
