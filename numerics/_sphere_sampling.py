"""Uniform points on the sphere $\\mathbb S^{d-1}(\\sqrt d)$ and normalised harmonic targets.

The targets are the product harmonics of kernel-gradient-flow.md §3.8 [derived, checked
analytically]: a product of $k$ distinct coordinates is a degree-$k$ spherical harmonic, and

$$Y^{(k)}(x)=x_1x_2\\cdots x_k\\,\\sqrt{\\textstyle\\prod_{j=0}^{k-1}(d+2j)\\big/d^{k}},\\qquad
Y^{(0)}=1,$$

has unit $L^2$ norm because $\\mathbb E[x_1^2\\cdots x_k^2]=d^k/\\prod_{j<k}(d+2j)$ on
$\\mathbb S^{d-1}(\\sqrt d)$.  Different degrees are orthogonal (they lie in different
$V_{d,k}$), so $f_d=\\sum_k\\sqrt{F_k}\\,Y^{(k)}$ has $\\lVert P_kf_d\\rVert^2=F_k$ exactly.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ._custom_types import Array, Energies, Float, Key

__all__ = ["harmonic_features", "harmonic_target", "sample_sphere"]


def _positive_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def _normalise_energies(energies: Energies, d: int | None = None) -> tuple[tuple[int, float], ...]:
    """`energies` as a sorted tuple of `(k, F_k)` with Python types (hashable, jit-static)."""
    if isinstance(energies, Mapping):
        pairs = list(energies.items())
    elif isinstance(energies, Sequence) and not isinstance(energies, str):
        pairs = list(energies)
    else:
        raise ValueError(
            "energies must be a mapping {k: F_k} or a sequence of (k, F_k) pairs, "
            f"got {type(energies).__name__} {energies!r}"
        )
    if not pairs:
        raise ValueError("energies must name at least one degree, got an empty collection")
    out: dict[int, float] = {}
    for pair in pairs:
        try:
            k, energy = pair
        except (TypeError, ValueError):
            raise ValueError(f"energies must hold (k, F_k) pairs, got {pair!r}") from None
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 0:
            raise ValueError(f"energies: degree k must be a non-negative integer, got {k!r}")
        if d is not None and k > d:
            raise ValueError(
                f"energies: degree k={k} needs k distinct coordinates, so k <= d = {d}"
            )
        try:
            energy = float(energy)
        except (TypeError, ValueError):
            raise ValueError(
                f"energies: F_{k} must be a real number, got {energy!r}"
            ) from None
        if not math.isfinite(energy) or energy < 0:
            raise ValueError(f"energies: F_{k} must be finite and >= 0, got {energy}")
        if int(k) in out:
            raise ValueError(f"energies: degree k={k} appears more than once")
        out[int(k)] = energy
    return tuple(sorted(out.items()))


def _degrees(degrees: Sequence[int] | int, d: int) -> tuple[int, ...]:
    if isinstance(degrees, numbers.Integral) and not isinstance(degrees, bool):
        degrees = (degrees,)
    out = []
    for k in degrees:
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or not 0 <= k <= d:
            raise ValueError(f"degrees must be integers in [0, d] = [0, {d}], got {k!r}")
        out.append(int(k))
    return tuple(out)


def _harmonic_norms(degrees: tuple[int, ...], d: int) -> np.ndarray:
    # sqrt(prod_{j<k} (d + 2j) / d^k) = exp(1/2 sum_j log1p(2j/d)): no overflow at large d, k.
    return np.array(
        [math.exp(0.5 * math.fsum(math.log1p(2 * j / d) for j in range(k))) for k in degrees]
    )


def sample_sphere(n: int, d: int, *, key: Key) -> Float[Array, "n d"]:
    """$n$ independent points uniform on $\\mathbb S^{d-1}(\\sqrt d)$, so $\\lVert x\\rVert^2=d$.

    Normalised standard Gaussian vectors times $\\sqrt d$ [literature: rotation invariance of
    the Gaussian].  The dtype is JAX's default float: float64 inside
    [`float64()`][limitlab.numerics.float64].

    **Arguments:**

    - `n`: number of points ($\\ge1$, static).
    - `d`: dimension of the ambient space ($\\ge1$, static).
    - `key`: PRNG key.

    **Returns:** an `(n, d)` array with rows of squared norm $d$.

    **Raises:** `ValueError` if `n` or `d` is not a positive integer.
    """
    n = _positive_int("n", n, 1)
    d = _positive_int("d", d, 1)
    g = jax.random.normal(key, (n, d), dtype=jnp.result_type(float))
    return g * (math.sqrt(d) / jnp.linalg.norm(g, axis=-1, keepdims=True))


def harmonic_features(
    x: Float[Array, "*batch d"], degrees: Sequence[int] | int
) -> Float[Array, "*batch K"]:
    """The normalised product harmonics $Y^{(k)}(x_i)$ for the given degrees.

    $Y^{(0)}=1$ and $Y^{(k)}(x)=x_1\\cdots x_k\\sqrt{\\prod_{j=0}^{k-1}(d+2j)/d^k}$ for
    $k\\ge1$: unit $L^2$ norm on $\\mathbb S^{d-1}(\\sqrt d)$ and exactly of degree $k$
    (kernel-gradient-flow.md §3.8 [derived, checked analytically]).

    **Arguments:**

    - `x`: points on $\\mathbb S^{d-1}(\\sqrt d)$, last axis of length $d$.
    - `degrees`: the degrees $k$ (integers in $[0,d]$), in output-column order.

    **Returns:** an array of shape `x.shape[:-1] + (len(degrees),)`.

    **Raises:** `ValueError` for a degree outside $[0,d]$.
    """
    x = jnp.asarray(x)
    d = x.shape[-1]
    degrees = _degrees(degrees, d)
    if not degrees:
        return jnp.zeros(x.shape[:-1] + (0,), dtype=jnp.result_type(x, float))
    top = max(degrees)
    ones = jnp.ones(x.shape[:-1] + (1,), dtype=jnp.result_type(x, float))
    # products[..., k] = x_1 ... x_k (the empty product is 1)
    products = jnp.concatenate([ones, jnp.cumprod(x[..., :top], axis=-1)], axis=-1)
    norms = jnp.asarray(_harmonic_norms(degrees, d), dtype=ones.dtype)
    return products[..., np.asarray(degrees)] * norms


def harmonic_target(x: Float[Array, "*batch d"], energies: Energies) -> Float[Array, "*batch"]:
    """The target $f_d(x)=\\sum_k\\sqrt{F_k}\\,Y^{(k)}(x)$ with $\\lVert P_kf_d\\rVert^2_{L^2}=F_k$.

    $Y^{(k)}$ are the normalised product harmonics of
    [`harmonic_features`][limitlab.numerics.harmonic_features]; since they are orthonormal,
    $\\mathbb E f_d^2=\\sum_kF_k$ exactly (kernel-gradient-flow.md §3.8 [derived]).  E.g.
    `{1: 1, 2: 1, 3: 1}` is the target of the three-stages validation case (§16 A).

    **Arguments:**

    - `x`: points on $\\mathbb S^{d-1}(\\sqrt d)$, last axis of length $d$.
    - `energies`: a mapping `{k: F_k}` or a sequence of `(k, F_k)` pairs of Python numbers
      (static under `jit`), degrees $0\\le k\\le d$, each once, energies $F_k\\ge0$ finite.

    **Returns:** $f_d$ at every point, shape `x.shape[:-1]`.

    **Raises:** `ValueError` for a malformed `energies`.
    """
    x = jnp.asarray(x)
    pairs = _normalise_energies(energies, x.shape[-1])
    degrees = tuple(k for k, _ in pairs)
    amplitudes = jnp.asarray(
        np.sqrt([energy for _, energy in pairs]), dtype=jnp.result_type(x, float)
    )
    return harmonic_features(x, degrees) @ amplitudes
