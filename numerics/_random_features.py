"""Random features and random two-layer networks at initialisation (Monte Carlo side of the
closed forms in `limitlab.theory`)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ._activations import activation as _activation
from ._custom_types import Array, Float, Key

__all__ = ["random_feature_kernel", "two_layer_output"]


def _check_width(width) -> int:
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ValueError(f"width must be a positive integer, got {width!r}")
    return width


def random_feature_kernel(
    x: Float[Array, " d"],
    y: Float[Array, " d"],
    width: int,
    *,
    key: Key,
    activation: str = "relu",
) -> Float[Array, ""]:
    """Monte Carlo random-feature kernel $k_m(x,y)=\\frac1m\\sum_{i=1}^m\\phi(w_i\\cdot x)\\,\\phi(w_i\\cdot y)$.

    $w_i\\sim\\mathcal N(0,I_d)$ i.i.d.  Unbiased for $\\mathbb E_w[\\phi(w\\cdot x)\\phi(w\\cdot y)]$;
    for ReLU that is [`relu_feature_kernel`][limitlab.theory.relu_feature_kernel].

    **Arguments:**

    - `x`, `y`: input vectors of dimension $d$.
    - `width`: number of features $m\\ge1$ (static).
    - `key`: PRNG key for the features.
    - `activation`: a name from [`ACTIVATIONS`][limitlab.numerics.ACTIVATIONS].
    """
    width = _check_width(width)
    phi = _activation(activation)
    x, y = jnp.asarray(x), jnp.asarray(y)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"x and y must be vectors of one shape, got {x.shape} and {y.shape}")
    w = jax.random.normal(key, (width, x.shape[0]), dtype=jnp.result_type(x, float))
    return jnp.mean(phi(w @ x) * phi(w @ y))


def two_layer_output(
    x: Float[Array, "*batch d"], width: int, *, key: Key, activation: str = "relu"
) -> Float[Array, "*batch"]:
    """Output of a random two-layer network in NTK scaling at initialisation.

    $f(x)=n^{-1/2}\\sum_{i=1}^n a_i\\,\\phi(w_i\\cdot x/\\sqrt d)$, $a_i\\sim\\mathcal N(0,1)$,
    $w_i\\sim\\mathcal N(0,I_d)$ i.i.d.; for $\\lVert x\\rVert^2=d$ its variance is
    $\\mathbb E\\phi(u)^2$ at every width and its excess kurtosis is
    [`two_layer_excess_kurtosis`][limitlab.theory.two_layer_excess_kurtosis].
    """
    width = _check_width(width)
    phi = _activation(activation)
    x = jnp.asarray(x)
    d = x.shape[-1]
    key_w, key_a = jax.random.split(key)
    dtype = jnp.result_type(x, float)
    w = jax.random.normal(key_w, (width, d), dtype=dtype)
    a = jax.random.normal(key_a, (width,), dtype=dtype)
    return phi(x @ w.T / jnp.sqrt(d)) @ a / jnp.sqrt(width)
