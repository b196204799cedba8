"""Float64 policy and finiteness checks.

limitlab never flips `jax_enable_x64` globally on import.  Every theory-vs-simulation
comparison runs inside [`float64()`][limitlab.numerics.float64], a local context that switches
JAX to double precision for the code traced inside it (ecosystem.md §1.1 [derived]).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import jax
import numpy as np

__all__ = ["check_finite", "float64"]


@contextlib.contextmanager
def float64() -> Iterator[None]:
    """Context manager: JAX computes in float64 inside, global state is restored on exit.

    **Example:**

    ```pycon
    >>> import jax.numpy as jnp
    >>> with float64():
    ...     print(jnp.ones(2).dtype)
    float64
    ```
    """
    with jax.enable_x64(True):
        yield


def check_finite(name: str, value) -> None:
    """Raise `FloatingPointError` naming `name` if any leaf of the pytree `value` is not finite.

    Used where results leave a function, so that a NaN never propagates silently.
    """
    for path, leaf in jax.tree_util.tree_leaves_with_path(value):
        arr = np.asarray(leaf)
        if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
            where = jax.tree_util.keystr(path)
            bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
            raise FloatingPointError(f"{name}{where} has {bad} non-finite value(s) (NaN or inf)")
