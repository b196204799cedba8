"""One-pass (online) SGD in a kernel's function space: the Oracle World at finite step size.

Each step draws a fresh batch $x_1,\\dots,x_b$ uniform on $\\mathbb S^{d-1}(\\sqrt d)$ with
labels $y_i=f_d(x_i)+\\varepsilon_i$ and takes one SGD step on
$\\frac1{2b}\\sum_i(y_i-f(x_i))^2$ in the RKHS of $K(x,x')=h(\\langle x,x'\\rangle/d)$:

$$f_{s+1}=f_s-\\frac\\eta b\\sum_{i=1}^bK(\\cdot,x_i)\\big(f_s(x_i)-y_i\\big),\\qquad f_0=0 .$$

The iterate is kept in its kernel expansion $f_s=\\sum_j\\alpha_jK(\\cdot,x_j)$ over all centres
seen so far (the "dual" form), which is exact for any kernel; time is $t=\\eta s$
(kernel-gradient-flow.md §13 [literature: Bordelon & Pehlevan, ICLR 2022]).  Because the
update is linear in $f_s$ and the batch is fresh, the mean obeys
$\\mathbb Ef_{s+1}=\\mathbb Ef_s-\\eta\\mathbb H(\\mathbb Ef_s-f_d)$ exactly, so
$\\mathbb E\\langle f_s,Y^{(k)}\\rangle=(1-(1-\\eta\\lambda_k)^s)\\sqrt{F_k}$ [derived, exact].
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ._custom_types import Array, ArrayLike, Energies, Float, Key
from ._kernel_flow import (
    _check_dimension,
    _check_eigenvalues,
    _check_int,
    _check_kernel,
    _check_scalar,
    _check_tail_trace,
    _degeneracies,
    _gegenbauer_series,
    _squared_coefficients,
)
from ._sphere_sampling import _normalise_energies, harmonic_features, sample_sphere

__all__ = ["online_sgd"]


def _record_steps(steps: int, record_every, record_at) -> tuple[int, ...]:
    if record_at is not None:
        if isinstance(record_at, numbers.Integral | str) or not isinstance(
            record_at, Sequence | np.ndarray
        ):
            raise ValueError(f"record_at must be a sequence of step counts, got {record_at!r}")
        out = set()
        for s in record_at:
            if isinstance(s, bool) or not isinstance(s, numbers.Integral) or not 0 <= s <= steps:
                raise ValueError(
                    f"record_at must hold integers in [0, steps] = [0, {steps}], got {s!r}"
                )
            out.add(int(s))
        if not out:
            raise ValueError("record_at must hold at least one step count, got none")
        return tuple(sorted(out))
    every = _check_int("record_every", record_every, 1)
    out = set(range(0, steps + 1, every)) | {steps}
    return tuple(sorted(out))


@functools.partial(
    jax.jit,
    static_argnames=("kernel", "d", "energies", "steps", "batch", "heldout", "records"),
)
def _online_sgd(
    eigenvalues, noise, eta, tail_trace, key, *, kernel, d, energies, steps, batch, heldout, records
):
    dtype = jnp.result_type(float)
    degrees = tuple(k for k, _ in energies)
    amplitudes = jnp.asarray(np.sqrt([f for _, f in energies]), dtype=dtype)
    total_energy = float(sum(f for _, f in energies))
    lam_target = eigenvalues[np.asarray(degrees)]
    coefficients = _squared_coefficients(eigenvalues, d)
    size = steps * batch
    slots = jnp.arange(size)
    key_test, key_steps = jax.random.split(key)
    x_test = sample_sphere(max(heldout, 1), d, key=key_test)
    f_test = harmonic_features(x_test, degrees) @ amplitudes

    def step(carry, s):
        centres, alpha, pred_test, proj, norm2, l1 = carry
        key_x, key_noise = jax.random.split(jax.random.fold_in(key_steps, s))
        x = sample_sphere(batch, d, key=key_x)
        filled = slots[None, :] < s * batch
        # z against the whole preallocated buffer; empty slots are masked (their alpha is 0,
        # the mask only keeps a kernel that is not finite at z = 0 from producing NaN).
        z = (x @ centres.T) / d  # (b, steps * b)
        f_x = jnp.where(filled, kernel(z), 0.0) @ alpha
        features = harmonic_features(x, degrees)
        y = features @ amplitudes + jnp.sqrt(noise) * jax.random.normal(key_noise, (batch,), dtype)
        new = -(eta / batch) * (f_x - y)
        # ||f||^2 incrementally: <K(., x_i), f_s> = (H f_s)(x_i) = sum_j alpha_j K2(x_i, x_j).
        hf_x = jnp.where(filled, _gegenbauer_series(z, coefficients, d)[0], 0.0) @ alpha
        k2_new = _gegenbauer_series((x @ x.T) / d, coefficients, d)[0]
        norm2 = norm2 + 2 * new @ hf_x + new @ k2_new @ new
        proj = proj + lam_target * (features.T @ new)
        l1 = l1 + jnp.sum(jnp.abs(new))
        if heldout > 0:
            pred_test = pred_test + kernel((x_test @ x.T) / d) @ new
        centres = lax.dynamic_update_slice(centres, x, (s * batch, 0))
        alpha = lax.dynamic_update_slice(alpha, new, (s * batch,))
        err2 = (pred_test - f_test) ** 2
        record = (proj, norm2, l1, jnp.mean(err2), jnp.mean(err2 * err2))
        return (centres, alpha, pred_test, proj, norm2, l1), record

    # Zeros derived from a key-dependent array, so that the scan carry has the same type as
    # the body's output when this runs under shard_map (run_ensemble), where values that
    # depend on the key vary across the seed axis.
    zero = jnp.zeros_like(f_test[0])
    init = (
        jnp.zeros((size, d), dtype) + zero,
        jnp.zeros((size,), dtype) + zero,
        jnp.zeros_like(f_test),
        jnp.zeros((len(degrees),), dtype) + zero,
        zero,
        zero,
    )
    _, trace = lax.scan(step, init, jnp.arange(steps))
    first = (init[3], zero, zero, jnp.mean(f_test**2), jnp.mean(f_test**4))
    trace = [jnp.concatenate([a[None], b]) for a, b in zip(first, trace, strict=True)]
    proj, norm2, l1, m2, m4 = (leaf[np.asarray(records)] for leaf in trace)

    cross = proj @ amplitudes  # <f_s, f_d>
    energy = amplitudes * amplitudes
    scale = jnp.where(energy > 0, jnp.sqrt(jnp.where(energy > 0, energy, 1.0)), 1.0)
    out = {
        "steps": jnp.asarray(records),
        "time": eta * jnp.asarray(records, dtype=dtype),
        "learned_fraction": proj / scale,
        "excess": norm2 - 2 * cross + total_energy,
    }
    if tail_trace is not None:
        top = eigenvalues.shape[0] - 1
        next_degeneracy = _degeneracies(d, top + 1)[0][top + 1]
        out["truncation_bound"] = l1 * l1 * (tail_trace * tail_trace / next_degeneracy)
    if heldout > 0:
        out["heldout_excess"] = m2
        out["heldout_se"] = jnp.sqrt(jnp.maximum(m4 - m2 * m2, 0.0) / max(heldout - 1, 1))
    return out


def online_sgd(
    kernel: Callable[[Array], Array],
    eigenvalues: Float[ArrayLike, " K+1"],
    *,
    d: int,
    energies: Energies,
    noise: float | ArrayLike,
    eta: float | ArrayLike,
    steps: int,
    key: Key,
    batch: int = 1,
    record_every: int = 1,
    record_at: Sequence[int] | None = None,
    heldout: int = 1000,
    tail_trace: float | ArrayLike | None = None,
) -> dict[str, Array]:
    """One seed of one-pass SGD with fresh samples, in function space, started at $f_0=0$.

    Step $s$ draws $b$ fresh points $x_i$ uniform on $\\mathbb S^{d-1}(\\sqrt d)$, labels
    $y_i=f_d(x_i)+\\sqrt{\\sigma^2}g_i$, and appends the centres $x_i$ with coefficients
    $\\alpha_i=-\\frac\\eta b(f_s(x_i)-y_i)$ to $f_s=\\sum_j\\alpha_jK(\\cdot,x_j)$: SGD with step
    $\\eta$ on the per-batch loss $\\frac1{2b}\\sum_i(y_i-f(x_i))^2$ in the RKHS of
    $K(x,x')=h(\\langle x,x'\\rangle/d)$, exact for any kernel.  Time $t=\\eta s$; as
    $\\eta\\to0$ this is the Oracle-World gradient flow $\\partial_tf=-\\mathbb H(f-f_d)$
    (kernel-gradient-flow.md §2, §13).

    Reported at the recorded steps:

    - learned fraction of each target degree,
      $\\langle f_s,Y^{(k)}\\rangle_{L^2}/\\sqrt{F_k}
      =\\lambda_k\\sum_j\\alpha_jY^{(k)}(x_j)/\\sqrt{F_k}$,
      exact because $\\langle K(\\cdot,x),Y^{(k)}\\rangle=\\lambda_kY^{(k)}(x)$.  Its mean is
      exactly $1-(1-\\eta\\lambda_k)^s$ (the mean dynamics are linear) [derived];
    - excess risk
      $\\lVert f_s-f_d\\rVert^2=\\alpha^\\top K^{(2)}\\alpha-2\\langle f_s,f_d\\rangle+\\sum_kF_k$,
      with $\\alpha^\\top K^{(2)}\\alpha$ updated incrementally from the same inner products
      as $f_s(x_i)$; $K^{(2)}$ is truncated at $K=$ `len(eigenvalues) - 1` as in
      [`simulate_kernel_flow`][limitlab.numerics.simulate_kernel_flow] (a lower bound,
      exact for a polynomial kernel of degree $\\le K$; the bound on the neglected part is
      $\\lVert\\alpha\\rVert_1^2\\kappa_{>K}^2/N(d,K+1)$ when `tail_trace` $=\\kappa_{>K}$ is
      given);
    - excess risk on `heldout` fresh points, with $f_s$ kept on them incrementally
      ($O(mbd)$ per step).

    The mean excess risk also closes exactly on the sphere [derived; checked against this
    simulator in the tests]: since $\\lVert P_kK(\\cdot,x)\\rVert^2=\\lambda_k^2N_k$ for every $x$
    (addition theorem), $E_k=\\mathbb E\\lVert P_k(f_s-f_d)\\rVert^2$ and $E=\\sum_kE_k$ obey
    $E_k\\leftarrow\\big((1-\\eta\\lambda_k)^2-\\frac{\\eta^2}b\\lambda_k^2\\big)E_k
    +\\frac{\\eta^2}b\\lambda_k^2N_k(E+\\sigma^2)$, summed over all degrees.  The Gaussian
    closure of reference §13 has $+\\frac{\\eta^2}b\\lambda_k^2E_k$ instead (the fourth moment of
    a Gaussian feature, not of a spherical harmonic).

    Implementation: a `lax.scan` over steps with a preallocated buffer of `steps * batch`
    centres (masked sums), so the total cost is $O(\\text{steps}^2b^2d)$ and the memory
    $O(\\text{steps}\\,b\\,d+md)$; jit-compiled (kernel, `d`, `energies`, `steps`, `batch`,
    `heldout` and the recorded steps static) and vmappable over `key`.  Call inside
    [`float64()`][limitlab.numerics.float64].  The iteration diverges for $\\eta$ above
    about $2b/h(1)$.

    **Arguments:**

    - `kernel`: $h$ as a JAX callable of $z$ (static).
    - `eigenvalues`: $(\\lambda_{d,0},\\dots,\\lambda_{d,K})$, $K\\ge$ the largest target degree.
    - `d`: dimension, integer $\\ge3$.
    - `energies`: target energies, see [`harmonic_target`][limitlab.numerics.harmonic_target].
    - `noise`: label-noise variance $\\sigma^2\\ge0$.
    - `eta`: step size $\\eta>0$.
    - `steps`: number of SGD steps, integer $\\ge1$.
    - `key`: PRNG key.
    - `batch`: batch size $b\\ge1$.
    - `record_every`: record at steps $0, r, 2r,\\dots$ and at the last step.
    - `record_at`: explicit step counts in $[0,\\text{steps}]$ to record instead (e.g. a
      logarithmic grid).
    - `heldout`: number $m\\ge0$ of held-out points (0: no held-out estimate).
    - `tail_trace`: $\\kappa_{>K}\\ge0$; also return the truncation bound.

    **Returns:** a dict with `"steps"` `(R,)` (integers, starting at 0 unless `record_at` omits
    it), `"time"` `(R,)` $=\\eta s$, `"learned_fraction"` `(R, J)` for the target degrees in
    increasing order (the raw projection $\\langle f_s,Y^{(k)}\\rangle$ where $F_k=0$),
    `"excess"` `(R,)`, and with `heldout > 0` `"heldout_excess"`, `"heldout_se"` `(R,)`; with
    `tail_trace`, `"truncation_bound"` `(R,)`.

    **Raises:** `ValueError` naming the argument for $d<3$, malformed `energies`,
    `eigenvalues` negative or missing a target degree, `noise < 0`, `eta <= 0`, `steps`,
    `batch`, `record_every` $<1$, `heldout < 0`, or `record_at` outside $[0,\\text{steps}]$;
    `TypeError` if `kernel` is not callable.

    !!! cite "Source"

        B. Bordelon & C. Pehlevan, *Learning Curves for SGD on Structured Features*, ICLR 2022
        [literature]; kernel-gradient-flow.md §13.
    """
    kernel = _check_kernel(kernel)
    d = _check_dimension(d)
    pairs = _normalise_energies(energies, d)
    eigenvalues = _check_eigenvalues(eigenvalues, tuple(k for k, _ in pairs))
    _check_scalar("noise", noise)
    _check_scalar("eta", eta, positive=True)
    steps = _check_int("steps", steps, 1)
    batch = _check_int("batch", batch, 1)
    heldout = _check_int("heldout", heldout, 0)
    records = _record_steps(steps, record_every, record_at)
    tail = _check_tail_trace(tail_trace)
    dtype = jnp.result_type(float)
    return _online_sgd(
        eigenvalues,
        jnp.asarray(noise, dtype=dtype),
        jnp.asarray(eta, dtype=dtype),
        tail,
        key,
        kernel=kernel,
        d=d,
        energies=pairs,
        steps=steps,
        batch=batch,
        heldout=heldout,
        records=records,
    )
