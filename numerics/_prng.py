"""Explicit PRNG keys, reproducible from one integer seed.

Every simulation in limitlab takes a keyword-only `key=` (new-style typed key,
`jax.random.key`).  Ensembles derive the key of seed index `i` as
`fold_in(key(seed), i)`: it depends only on `(seed, i)`, not on chunking, devices or
interruption, which is what makes runs resumable and device-count independent.
"""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp

from ._custom_types import Key

__all__ = ["key_from_seed", "seed_key"]


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an integer, got {type(seed).__name__} {seed!r}")
    if not 0 <= int(seed) < 2**32:
        raise ValueError(f"seed must lie in [0, 2**32), got {seed}")
    return int(seed)


def key_from_seed(seed: int) -> Key:
    """The base key `jax.random.key(seed)`, after checking that `seed` is a valid integer."""
    return jax.random.key(_check_seed(seed))


def seed_key(seed: int, index) -> Key:
    """Key of seed index `index` in an ensemble with base seed `seed`: `fold_in(key(seed), index)`.

    `index` may be a traced integer, so this works under `jit`/`vmap`.
    """
    return jax.random.fold_in(key_from_seed(seed), jnp.asarray(index, dtype=jnp.uint32))
