"""Activation functions by name (a whitelist shared by every network in limitlab)."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import jax.scipy.special as jss

__all__ = ["ACTIVATIONS", "activation"]


def _gelu(u):
    # The exact GELU u * Phi(u), matching limitlab.theory's sympy expression (not the tanh fit).
    return 0.5 * u * (1.0 + jss.erf(u / jnp.sqrt(2.0)))


ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "linear": lambda u: u,
    "relu": lambda u: jnp.maximum(u, 0.0),
    "tanh": jnp.tanh,
    "erf": jss.erf,
    "gelu": _gelu,
}
"""Activation name -> elementwise JAX function."""


def activation(name: str) -> Callable[[jax.Array], jax.Array]:
    """The activation called `name`; `ValueError` listing the allowed names otherwise."""
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]
