"""Exact finite-$n$ simulation of kernel gradient flow on the sphere (the Empirical World).

Set-up (kernel-gradient-flow.md §2): $x_i$ uniform on $\\mathbb S^{d-1}(\\sqrt d)$,
$y_i=f_d(x_i)+\\varepsilon_i$ with $\\varepsilon_i\\sim\\mathcal N(0,\\sigma^2)$, kernel
$K(x,x')=h(\\langle x,x'\\rangle/d)$, gradient flow on $\\frac1{2n}\\sum_i(y_i-f(x_i))^2$ from
$f_0=0$.  One eigendecomposition $K=U\\operatorname{diag}(s)U^\\top$ gives the whole trajectory
(§4.2 [derived, exact]):

$$\\hat f_t=\\sum_i(a_t)_iK(\\cdot,x_i),\\qquad
a_t=U\\operatorname{diag}\\big(\\varphi_t(s)\\big)U^\\top y,\\qquad
\\varphi_t(s)=\\frac{1-e^{-ts/n}}{s}\\ \\ (t/n\\text{ at }s=0),$$

and the test risk needs no test set: with $K^{(2)}_{ij}=\\langle K(\\cdot,x_i),K(\\cdot,x_j)
\\rangle_{L^2}=\\sum_k\\lambda_k^2N_kP_k(\\langle x_i,x_j\\rangle/d)$ (addition theorem, §3.3),

$$\\lVert\\hat f_t-f_d\\rVert^2_{L^2}=\\lVert f_d\\rVert^2-2a_t^\\top(\\mathbb Hf_d)(X)
+a_t^\\top K^{(2)}a_t .$$
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ._custom_types import Array, ArrayLike, Energies, Float, Key
from ._sphere_sampling import _normalise_energies, harmonic_features, sample_sphere

__all__ = ["simulate_kernel_flow"]

# Rows of an n x n matrix processed at once when K^(2) or a held-out kernel block is built:
# about 2**22 doubles (32 MB) per block, so K^(2) is never materialised in full.
_BLOCK_ELEMENTS = 2**22


# --------------------------------------------------------------------------------------------
# argument checks (shared with _online_sgd)


def _concrete(value) -> np.ndarray | None:
    """`value` as a numpy array, or `None` if it is a tracer (then no value checks)."""
    try:
        return np.asarray(value)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return None


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_dimension(d) -> int:
    if isinstance(d, bool) or not isinstance(d, numbers.Integral) or d < 3:
        raise ValueError(
            f"d must be an integer >= 3 (the Gegenbauer normalisation needs d >= 3), got {d!r}"
        )
    return int(d)


def _check_scalar(name: str, value, *, positive: bool = False) -> None:
    array = _concrete(value)
    if array is None:
        if jnp.ndim(value) != 0:
            raise ValueError(f"{name} must be a scalar, got shape {jnp.shape(value)}")
        return
    if array.ndim != 0 or array.dtype.kind not in "fiu":
        raise ValueError(f"{name} must be a real scalar, got {value!r}")
    allowed = "> 0" if positive else ">= 0"
    if not np.isfinite(array) or array < 0 or (positive and array == 0):
        raise ValueError(f"{name} must be finite and {allowed}, got {value!r}")


def _check_times(times) -> Array:
    array = _concrete(times)
    shape = jnp.shape(times) if array is None else array.shape
    if len(shape) != 1 or shape[0] < 1:
        raise ValueError(f"times must be a non-empty 1-D array, got shape {shape}")
    if array is not None:
        if array.dtype.kind not in "fiu":
            raise ValueError(f"times must be real, got dtype {array.dtype}")
        bad = ~np.isfinite(array) | (array < 0)
        if bad.any():
            raise ValueError(
                f"times must be finite and >= 0, got {array[bad][:3].tolist()} among them"
            )
    return jnp.asarray(times, dtype=jnp.result_type(float))


def _check_eigenvalues(eigenvalues, degrees: tuple[int, ...]) -> Array:
    array = _concrete(eigenvalues)
    shape = jnp.shape(eigenvalues) if array is None else array.shape
    if len(shape) != 1 or shape[0] < 1:
        raise ValueError(
            f"eigenvalues must be a 1-D array (lambda_0, ..., lambda_K), got shape {shape}"
        )
    top = max(degrees)
    if shape[0] <= top:
        raise ValueError(
            f"eigenvalues must include every target degree: the target has degree {top}, so "
            f"at least {top + 1} eigenvalues (lambda_0, ..., lambda_{top}) are needed, got "
            f"{shape[0]}"
        )
    if array is not None:
        if array.dtype.kind not in "fiu":
            raise ValueError(f"eigenvalues must be real, got dtype {array.dtype}")
        bad = ~np.isfinite(array) | (array < 0)
        if bad.any():
            raise ValueError(
                "eigenvalues must be finite and >= 0 (a positive-definite kernel), got "
                f"{array[bad][:3].tolist()} at degree(s) {np.flatnonzero(bad)[:3].tolist()}"
            )
    return jnp.asarray(eigenvalues, dtype=jnp.result_type(float))


def _check_tail_trace(tail_trace) -> Array | None:
    if tail_trace is None:
        return None
    array = _concrete(tail_trace)
    if array is not None and (
        array.ndim != 0 or not np.isfinite(array) or array < -1e-10
    ):
        raise ValueError(
            f"tail_trace must be a finite scalar >= 0 (round-off down to -1e-10 is read as 0), "
            f"got {tail_trace!r}"
        )
    return jnp.maximum(jnp.asarray(tail_trace, dtype=jnp.result_type(float)), 0.0)


def _check_kernel(kernel) -> Callable:
    if not callable(kernel):
        raise TypeError(
            f"kernel must be a JAX callable h(z), e.g. numerics.lambdify('z', expr), got "
            f"{type(kernel).__name__}"
        )
    return kernel


def _cosines(a, b, d: int):
    """$\\langle a_i,b_j\\rangle/d$ for points on the sphere of radius $\\sqrt d$, clipped to
    $[-1,1]$: round-off can put the diagonal just above 1, where kernels built on
    $\\arccos$ (the ReLU NNGP/NTK) are NaN."""
    return jnp.clip((a @ b.T) / d, -1.0, 1.0)


def _kernel_matrix(kernel: Callable, a, b, d: int):
    """$h(\\langle a_i,b_j\\rangle/d)$, broadcast to the matrix shape (a constant kernel's
    lambdified function returns a scalar)."""
    z = _cosines(a, b, d)
    return jnp.broadcast_to(kernel(z), z.shape)


# --------------------------------------------------------------------------------------------
# harmonic-analysis helpers


def _degeneracies(d: int, top: int) -> tuple[np.ndarray, np.ndarray]:
    """$N(d,k)$ and $\\log N(d,k)$ for $k=0..$`top`, in float64 without overflow.

    $N(d,k)=\\frac{2k+d-2}{k}\\binom{k+d-3}{k-1}$ (§3.1) with the binomial as the running
    product $\\prod_{j=1}^{k-1}(d-2+j)/j$ (relative error $O(k\\epsilon)$); the logarithm is
    summed separately so that it stays finite where $N$ overflows.
    """
    values = np.ones(top + 1)
    logs = np.zeros(top + 1)
    binomial, log_binomial = 1.0, 0.0
    for k in range(1, top + 1):
        if k > 1:
            binomial *= (d - 2 + (k - 1)) / (k - 1)
            log_binomial += math.log((d - 2 + (k - 1)) / (k - 1))
        with np.errstate(over="ignore"):
            values[k] = (2 * k + d - 2) / k * binomial
        logs[k] = math.log((2 * k + d - 2) / k) + log_binomial
    return values, logs


def _squared_coefficients(eigenvalues: Array, d: int) -> Array:
    """$c_k=\\lambda_k^2N(d,k)$, the coefficients of $K^{(2)}$ in the $P_k$ basis."""
    top = eigenvalues.shape[0] - 1
    values, logs = _degeneracies(d, top)
    out = []
    for k in range(top + 1):
        lam = eigenvalues[k]
        if np.isfinite(values[k]):
            # lambda_k * N_k <= h(1) is O(1): no overflow or underflow in the product.
            out.append(lam * (lam * values[k]))
        else:
            safe = jnp.where(lam > 0, lam, 1.0)
            out.append(jnp.where(lam > 0, jnp.exp(2 * jnp.log(safe) + logs[k]), 0.0))
    return jnp.stack(out)


def _gegenbauer_series(z, coefficients, d: int, wanted: tuple[int, ...] = ()):
    """$\\sum_{k\\le K}c_kP_k^{(d)}(z)$ and the $P_k^{(d)}(z)$ for $k$ in `wanted`, elementwise.

    Normalised recurrence of §3.2: $(k+d-2)P_{k+1}=(2k+d-2)zP_k-kP_{k-1}$.  A Python loop
    over the static $K$, so XLA fuses the whole chain into one elementwise pass.
    """
    top = coefficients.shape[0] - 1
    ones = jnp.ones_like(z)
    polys = {0: ones}
    total = coefficients[0] * ones
    p_prev, p = ones, z
    for k in range(1, top + 1):
        if k > 1:
            j = k - 1
            p_prev, p = p, ((2 * j + d - 2) / (j + d - 2)) * z * p - (j / (j + d - 2)) * p_prev
        total = total + coefficients[k] * p
        if k in wanted:
            polys[k] = p
    return total, [polys[k] for k in wanted]


def _row_blocks(n_rows: int, n_cols: int) -> tuple[int, int]:
    """(number of blocks, block size) covering `n_rows` rows with about 2**22 elements each."""
    size = min(n_rows, max(64, _BLOCK_ELEMENTS // max(n_cols, 1)))
    count = -(-n_rows // size)
    size = -(-n_rows // count)
    return count, size


def _blocked_rows(x: Array, count: int, size: int) -> Array:
    pad = count * size - x.shape[0]
    return jnp.pad(x, ((0, pad), (0, 0))).reshape(count, size, x.shape[1])


def _filter(times: Array, s: Array, n: int) -> tuple[Array, Array]:
    """$\\varphi_t(s)=(1-e^{-ts/n})/s$ and $e^{-2ts/n}$ for all times, shape `(T, n)`.

    Written as $(t/n)\\,g(ts/n)$ with $g(u)=-\\mathrm{expm1}(-u)/u$, $g(0)=1$: exact at $s=0$
    and free of cancellation for $ts/n\\ll1$.  Directions with $s\\le n\\epsilon\\max s$ are
    numerically in the null space of $K$; a coefficient along the null space changes $a_t$ but
    not $\\hat f_t$ ($\\lVert\\sum_ia_iK(\\cdot,x_i)\\rVert_{\\mathcal H}^2=a^\\top Ka=0$), so
    $\\varphi_t$ is set to 0 there: exact in exact arithmetic, and without it the round-off in
    those eigenvectors is amplified by $t/n$ (e.g. a polynomial kernel with $n$ above its
    number of features).  The train decay keeps every direction.
    """
    u = times[:, None] * s[None, :] / n
    positive = u > 0
    g = jnp.where(positive, -jnp.expm1(-u) / jnp.where(positive, u, 1.0), 1.0)
    resolved = s > n * jnp.finfo(s.dtype).eps * jnp.max(s)
    return jnp.where(resolved, (times[:, None] / n) * g, 0.0), jnp.exp(-2 * u)


# --------------------------------------------------------------------------------------------
# the simulator


@functools.partial(
    jax.jit,
    static_argnames=("kernel", "n", "d", "energies", "heldout", "per_degree", "return_data"),
)
def _kernel_flow(
    eigenvalues,
    times,
    noise,
    tail_trace,
    key,
    *,
    kernel,
    n,
    d,
    energies,
    heldout,
    per_degree,
    return_data,
):
    dtype = jnp.result_type(float)
    degrees = tuple(k for k, _ in energies)
    amplitudes = jnp.asarray(np.sqrt([f for _, f in energies]), dtype=dtype)
    total_energy = float(sum(f for _, f in energies))
    key_x, key_noise, key_test = jax.random.split(key, 3)

    x = sample_sphere(n, d, key=key_x)
    features = harmonic_features(x, degrees)  # (n, J)
    y = features @ amplitudes + jnp.sqrt(noise) * jax.random.normal(key_noise, (n,), dtype)

    gram = _kernel_matrix(kernel, x, x, d)
    # The Gram matrix is symmetric up to round-off; eigh reads its lower triangle.
    s, u = jnp.linalg.eigh(gram, symmetrize_input=False)
    s = jnp.maximum(s, 0.0)  # round-off can make tiny eigenvalues of a PSD matrix negative
    uy = u.T @ y
    phi, decay = _filter(times, s, n)
    a = u @ (phi * uy).T  # (n, T): a_t for every t, O(n^2 T)

    out = {"train": decay @ (uy * uy) / n}
    if return_data:
        out["x"], out["y"] = x, y

    # Exact excess test risk.  K^(2) a is accumulated over row blocks, each block rebuilt
    # from x (an extra O(n^2 d), cheaper than holding another n x n array through eigh).
    lam = eigenvalues
    lam_target = lam[np.asarray(degrees)]
    hf = features @ (lam_target * amplitudes)  # (H f_d)(x_i)
    coefficients = _squared_coefficients(lam, d)
    wanted = degrees if per_degree else ()
    count, size = _row_blocks(n, n)

    def second_moment(rows):
        total, polys = _gegenbauer_series(_cosines(rows, x, d), coefficients, d, wanted)
        return total @ a, jnp.stack([p @ a for p in polys]) if polys else jnp.zeros((0,))

    k2a, pa = lax.map(second_moment, _blocked_rows(x, count, size))
    k2a = k2a.reshape(count * size, -1)[:n]
    out["test"] = total_energy - 2 * (hf @ a) + jnp.sum(a * k2a, axis=0)

    if per_degree:
        pa = jnp.moveaxis(pa, 1, 0).reshape(len(degrees), count * size, -1)[:, :n]
        quad = jnp.sum(a[None] * pa, axis=1)  # (J, T): a^T P_k(Z) a
        cross = features.T @ a  # (J, T): a^T Y^(k)(X)
        energy = jnp.asarray([f for _, f in energies], dtype=dtype)
        c_target = coefficients[np.asarray(degrees)]
        out["degree_error"] = (
            c_target[:, None] * quad
            - 2 * (lam_target * amplitudes)[:, None] * cross
            + energy[:, None]
        ).T

    if tail_trace is not None:
        top = eigenvalues.shape[0] - 1
        next_degeneracy = _degeneracies(d, top + 1)[0][top + 1]
        l1 = jnp.sum(jnp.abs(a), axis=0)
        out["truncation_bound"] = l1 * l1 * (tail_trace * tail_trace / next_degeneracy)

    if heldout > 0:
        count, size = _row_blocks(heldout, n)
        x_test = sample_sphere(count * size, d, key=key_test)
        weight = (jnp.arange(count * size) < heldout).astype(dtype).reshape(count, size)

        def squared_errors(block):
            rows, w = block
            target = harmonic_features(rows, degrees) @ amplitudes
            err2 = (_kernel_matrix(kernel, rows, x, d) @ a - target[:, None]) ** 2
            return w @ err2, w @ (err2 * err2)

        s1, s2 = lax.map(squared_errors, (x_test.reshape(count, size, d), weight))
        s1, s2 = jnp.sum(s1, axis=0), jnp.sum(s2, axis=0)
        mean = s1 / heldout
        out["heldout"] = mean
        var = jnp.maximum(s2 - heldout * mean * mean, 0.0) / max(heldout - 1, 1)
        out["heldout_se"] = jnp.sqrt(var / heldout)
    return out


def simulate_kernel_flow(
    kernel: Callable[[Array], Array],
    eigenvalues: Float[ArrayLike, " K+1"],
    *,
    d: int,
    n: int,
    energies: Energies,
    noise: float | ArrayLike,
    times: Float[ArrayLike, " T"],
    key: Key,
    heldout: int = 0,
    per_degree: bool = False,
    tail_trace: float | ArrayLike | None = None,
    return_data: bool = False,
) -> dict[str, Float[Array, "..."]]:
    """One seed of kernel gradient flow on $n$ samples (Empirical World), exactly, at all times.

    Draws $x_i$ uniform on $\\mathbb S^{d-1}(\\sqrt d)$
    ([`sample_sphere`][limitlab.numerics.sample_sphere]),
    $y_i=f_d(x_i)+\\sqrt{\\sigma^2}\\,g_i$ with $g_i\\sim\\mathcal N(0,1)$ and $f_d$ the
    [`harmonic_target`][limitlab.numerics.harmonic_target] with energies $F_k$, and runs
    gradient flow on $\\frac1{2n}\\sum_i(y_i-f(x_i))^2$ from $f_0=0$ in the RKHS of
    $K(x,x')=h(\\langle x,x'\\rangle/d)$, i.e.
    $\\partial_t\\hat f_t=-\\frac1n\\sum_iK(\\cdot,x_i)(\\hat f_t(x_i)-y_i)$
    (kernel-gradient-flow.md §2, §4.2 [derived, exact]).  With
    $K=U\\operatorname{diag}(s)U^\\top$ (one `eigh`, tiny negative $s_i$ clipped to 0) and
    $a_t=U\\operatorname{diag}\\big((1-e^{-ts/n})/s\\big)U^\\top y$ (limit $t/n$ at
    $s=0$; directions with $s_i\\le n\\epsilon\\max s$, numerically in the null space of $K$,
    are left out of $a_t$, which does not change $\\hat f_t$ in exact arithmetic and keeps
    round-off from growing like $t/n$):

    - train MSE (includes the label noise):
      $\\hat R_n(\\hat f_t)=\\frac1n\\sum_ie^{-2ts_i/n}(U^\\top y)_i^2$;
    - exact excess test risk, no test set:
      $\\lVert\\hat f_t-f_d\\rVert^2=\\sum_kF_k-2a_t^\\top(\\mathbb Hf_d)(X)+a_t^\\top K^{(2)}a_t$
      with $(\\mathbb Hf_d)(x_i)=\\sum_k\\lambda_k\\sqrt{F_k}\\,Y^{(k)}(x_i)$ and
      $K^{(2)}_{ij}=\\sum_{k\\le K}\\lambda_k^2N(d,k)\\,P_k^{(d)}(\\langle x_i,x_j\\rangle/d)$;
      the full risk is $\\sigma^2$ plus this;
    - per target degree $k$ (exact, because
      $P_kK(\\cdot,x_j)=\\lambda_kN_kP_k(\\langle\\cdot,x_j\\rangle/d)$):
      $\\lVert P_k(\\hat f_t-f_d)\\rVert^2=\\lambda_k^2N_k\\,a_t^\\top P_k(Z)a_t
      -2\\lambda_k\\sqrt{F_k}\\,a_t^\\top Y^{(k)}(X)+F_k$.

    **Truncation.** $K^{(2)}$ is summed up to $K=$ `len(eigenvalues) - 1`.  The neglected part
    $a^\\top R\\,a$, $R=\\sum_{k>K}\\lambda_k^2N_kP_k(Z)$, is a squared norm, so the returned test
    risk is a lower bound, and since $|P_k|\\le1$, $\\lambda_k\\le\\kappa_{>K}/N_k$ for $k>K$
    and $N(d,k)$ increases with $k$,
    $0\\le a^\\top Ra\\le\\lVert a\\rVert_1^2\\sum_{k>K}\\lambda_k^2N_k
    \\le\\lVert a\\rVert_1^2\\,\\kappa_{>K}^2/N(d,K+1)$ with
    $\\kappa_{>K}=h(1)-\\sum_{k\\le K}N_k\\lambda_k$ [derived].  Pass $\\kappa_{>K}$ as
    `tail_trace` to get this bound.  Degrees of the target are never truncated.

    Cost $O(n^2d+n^3+n^2T+n^2K)$ with a single $O(n^3)$ step (the `eigh`); memory $O(n^2+nT)$:
    $K^{(2)}$ is accumulated in row blocks, never as an $n\\times n\\times T$ or
    $K\\times n\\times n$ array.  Jit-compiled with `n`, `d`, `energies`, `heldout`,
    `per_degree`, the kernel and the shape of `times` static; works under `jax.vmap` over `key`
    (as in [`run_ensemble`][limitlab.numerics.run_ensemble]).  Call it inside
    [`float64()`][limitlab.numerics.float64]: in float32 the exact test risk, a difference of
    $O(1)$ terms, loses its accuracy.

    **Arguments:**

    - `kernel`: $h$ as a JAX callable of $z$, e.g.
      `numerics.lambdify("z", theory.kernel_expression("exp(z)"))`; static under `jit`.
    - `eigenvalues`: $(\\lambda_{d,0},\\dots,\\lambda_{d,K})$ of $h$ on $\\mathbb S^{d-1}(\\sqrt d)$
      (e.g. from [`funk_hecke_eigenvalue`][limitlab.theory.funk_hecke_eigenvalue]); $K$ at least
      the largest target degree.
    - `d`: dimension, integer $\\ge3$.
    - `n`: number of samples, integer $\\ge1$.
    - `energies`: target energies $F_k$, see [`harmonic_target`][limitlab.numerics.harmonic_target].
    - `noise`: label-noise variance $\\sigma^2\\ge0$.
    - `times`: the times $t\\ge0$, a 1-D array.
    - `key`: PRNG key (data, noise and held-out points).
    - `heldout`: if $m>0$, also estimate the excess risk on $m$ fresh points as
      $\\frac1m\\sum_{j}(k(x_j)^\\top a_t-f_d(x_j))^2$ (a Monte Carlo cross-check of the exact
      formula, with no truncation).
    - `per_degree`: also return the per-degree errors.
    - `tail_trace`: $\\kappa_{>K}\\ge0$; also return the truncation bound.
    - `return_data`: also return the training sample.

    **Returns:** a dict of float arrays:

    - `"train"`: `(T,)` train MSE $\\hat R_n(\\hat f_t)$;
    - `"test"`: `(T,)` exact excess test risk $\\lVert\\hat f_t-f_d\\rVert^2$ (truncated $K^{(2)}$);
    - `"degree_error"`: `(T, J)` per-degree excess errors for the target degrees in increasing
      order (only with `per_degree`);
    - `"truncation_bound"`: `(T,)` upper bound on what the truncation leaves out of `"test"`
      (only with `tail_trace`);
    - `"heldout"`, `"heldout_se"`: `(T,)` held-out estimate and its standard error
      (only with `heldout > 0`);
    - `"x"` `(n, d)`, `"y"` `(n,)`: the training inputs and labels (only with `return_data`).

    **Raises:** `ValueError` naming the argument for $d<3$, $n<1$, malformed `energies`,
    `noise` or `times` negative or not finite, `times` not 1-D, `eigenvalues` negative or
    missing a target degree, `heldout < 0`; `TypeError` if `kernel` is not callable.

    !!! cite "Source"

        kernel-gradient-flow.md §4.2 [derived, exact; checked numerically]; the setting of
        Ghosh, Mei & Yu, *The Three Stages of Learning Dynamics in High-Dimensional Kernel
        Methods*, ICLR 2022 (arXiv:2111.07167) [reconstructed].
    """
    kernel = _check_kernel(kernel)
    d = _check_dimension(d)
    n = _check_int("n", n, 1)
    pairs = _normalise_energies(energies, d)
    eigenvalues = _check_eigenvalues(eigenvalues, tuple(k for k, _ in pairs))
    times = _check_times(times)
    _check_scalar("noise", noise)
    heldout = _check_int("heldout", heldout, 0)
    for name, flag in (("per_degree", per_degree), ("return_data", return_data)):
        if not isinstance(flag, bool):
            raise ValueError(f"{name} must be True or False, got {flag!r}")
    tail = _check_tail_trace(tail_trace)
    return _kernel_flow(
        eigenvalues,
        times,
        jnp.asarray(noise, dtype=jnp.result_type(float)),
        tail,
        key,
        kernel=kernel,
        n=n,
        d=d,
        energies=pairs,
        heldout=heldout,
        per_degree=per_degree,
        return_data=return_data,
    )
