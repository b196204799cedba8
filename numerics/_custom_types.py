"""jaxtyping aliases so that signatures read like the maths."""

from __future__ import annotations

from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray, PyTree, Real, Shaped

#: A real scalar or array that broadcasts.
RealLike = Real[ArrayLike, "..."]
#: A typed PRNG key (`jax.random.key(seed)`), scalar shape.
Key = PRNGKeyArray
#: A pytree of arrays with a leading seed axis.
SeedBatch = PyTree[Shaped[Array, "seeds ..."]]

__all__ = ["Array", "ArrayLike", "Float", "Int", "Key", "PyTree", "RealLike", "SeedBatch"]
