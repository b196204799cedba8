"""The empirical neural tangent kernel of a fully connected network, layer by layer.

For the networks of [`MLPConfig`][limitlab.numerics.MLPConfig]
($z_l=c_lW_lh_{l-1}+\\beta_lb_l$),
$\\partial f/\\partial (W_l)_{ij}=c_l\\,\\delta_{l,i}\\,h_{l-1,j}$ and
$\\partial f/\\partial (b_l)_i=\\beta_l\\,\\delta_{l,i}$ with
$\\delta_l(x)=\\partial f(x)/\\partial z_l$, so the NTK
$\\Theta(x,x')=\\nabla_\\theta f(x)^\\top\\nabla_\\theta f(x')$ (D&G §1 [paper]) is

$$\\Theta(x,x')=\\sum_{l=1}^{L+1}\\big(\\delta_l(x)\\cdot\\delta_l(x')\\big)
\\Big(c_l^2\\,h_{l-1}(x)\\cdot h_{l-1}(x')+\\beta_l^2\\Big)$$

[derived, exact; checked against the materialised Jacobian in the tests].  One forward pass
stores the $h_{l-1}$, one reverse pass (the gradient of $\\sum_xf(x)$ with respect to additive
shifts of the pre-activations) gives every $\\delta_l(x)$, and the kernel costs
$O(N_1N_2\\,nL)$ instead of the $O(N_1N_2P)$ of $J_1J_2^\\top$ with $P\\approx n^2L$.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ._custom_types import Array, Float, MLPParams
from ._mlp import (
    MLPConfig,
    _check_config,
    _check_inputs,
    _forward,
    _layer_constants,
    _require_scalar_output,
)

__all__ = ["empirical_ntk"]


def _features(config: MLPConfig, params, x):
    """Layer inputs $h_{l-1}(x)$ and back-propagated $\\delta_l(x)$ for a batch `x`."""
    sizes = config.layer_sizes
    shifts = [jnp.zeros((x.shape[0], fan_out), x.dtype) for fan_out in sizes[1:]]

    def total(shifts):
        out, inputs = _forward(config, params, x, shifts)
        return jnp.sum(out), inputs

    deltas, inputs = jax.grad(total, has_aux=True)(shifts)
    return inputs, deltas


def empirical_ntk(
    config: MLPConfig,
    params: MLPParams,
    x1: Float[Array, "N1 D"],
    x2: Float[Array, "N2 D"] | None = None,
) -> Float[Array, "N1 N2"]:
    """Empirical NTK $\\Theta(x_1,x_2)=\\nabla_\\theta f(x_1)^\\top\\nabla_\\theta f(x_2)$ without
    the Jacobian.

    $\\Theta=\\sum_l(\\Delta_l(X_1)\\Delta_l(X_2)^\\top)\\odot(c_l^2H_{l-1}(X_1)H_{l-1}(X_2)^\\top
    +\\beta_l^2)$ with $H_{l-1}$ the layer inputs and $\\Delta_l$ the gradients of $f$ with
    respect to the pre-activations (module docstring).  Exact (same floating-point operations
    as autodiff up to summation order), in the parametrisation of `config`: in the standard
    parametrisation it is the SP kernel, $O(n)$, not the NTK one (random-tensor-orders.md §7).
    Memory $O((N_1+N_2)\\,nL+N_1N_2)$.

    **Arguments:**

    - `config`: the network.
    - `params`: its parameters ([`init_mlp`][limitlab.numerics.init_mlp] layout).
    - `x1`: inputs of shape `(N1, input_dim)` (a single `(input_dim,)` vector counts as
      `N1 = 1`).
    - `x2`: second inputs `(N2, input_dim)`; default `x1` (then one pass, and the result is
      symmetric).

    **Returns:** the `(N1, N2)` kernel matrix.

    **Raises:** `ValueError` if the inputs or parameters do not fit `config`, or if
    `config.output_dim` is not 1.
    """
    _check_config(config)
    _require_scalar_output(config, "empirical_ntk")
    x1 = jnp.atleast_2d(_check_inputs(config, x1))
    if x2 is None:
        h1, d1 = _features(config, params, x1)
        h2, d2 = h1, d1
    else:
        x2 = jnp.atleast_2d(_check_inputs(config, x2))
        dtype = jnp.result_type(x1, x2)
        both = jnp.concatenate([x1.astype(dtype), x2.astype(dtype)])
        h, d = _features(config, params, both)
        n1 = x1.shape[0]
        h1, h2 = [a[:n1] for a in h], [a[n1:] for a in h]
        d1, d2 = [a[:n1] for a in d], [a[n1:] for a in d]
    theta = 0.0
    for (_, c, _, beta), a1, a2, e1, e2 in zip(_layer_constants(config), h1, h2, d1, d2):
        gram = c**2 * (a1 @ a2.T)
        if config.bias_std > 0:
            gram = gram + beta**2
        theta = theta + (e1 @ e2.T) * gram
    return theta
