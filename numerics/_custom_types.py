"""jaxtyping aliases so that signatures read like the maths."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray, PyTree, Real, Shaped

#: A real scalar or array that broadcasts.
RealLike = Real[ArrayLike, "..."]
#: A typed PRNG key (`jax.random.key(seed)`), scalar shape.
Key = PRNGKeyArray
#: Target energies $F_k=\lVert P_kf_d\rVert^2$: `{k: F_k}` or `((k, F_k), ...)` (static).
Energies = Mapping[int, float] | Sequence[tuple[int, float]]
#: A pytree of arrays with a leading seed axis.
SeedBatch = PyTree[Shaped[Array, "seeds ..."]]
#: Parameters of a fully connected network: one dict per layer, `"W"` (fan-out x fan-in) and
#: optionally `"b"` (fan-out).
MLPParams = list[dict[str, Float[Array, "..."]]]

__all__ = [
    "Array",
    "ArrayLike",
    "Energies",
    "Float",
    "Int",
    "Key",
    "MLPParams",
    "PyTree",
    "RealLike",
    "SeedBatch",
]
