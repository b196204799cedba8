"""Symbolic derivation of the limiting drift at 10 parameters, against the AD fallback.

Issue 6 target: "symbolic derivation for a 10-parameter polynomial loss: drift expression in
under 10 s on the CI machine".  Cases (manifold-drift.md §5, §9), exact rational data and
points on the zero set Gamma:

- diagonal linear network f(x) = sum_i u_i v_i x_i, d = 5 coordinates (D = 10), n = 3 data
  points: label noise (slow scale, the sharpness form) and DropConnect (fast scale);
- a polynomial loss written directly, L = 1/2 sum_j r_j(w)^2 with 3 polynomial residuals of
  degree <= 3 in 10 parameters: perturbed GD (fast scale) and SGLD-type additive noise (the
  general slow drift, whose expression exceeds the symbolic size limit: value at the point
  only).

Printed per case: the wall time of `theory.derive_drift(..., symbolic=True)` (median of
`--repeats` runs and the first run; sympy's cache is cleared before each run, so each is like
a run in a fresh process), whether the drift expression was built and its size
(`sympy.count_ops`, with the time to count), whether the median is under the 10 s target, and
the peak traced Python memory of one derivation (tracemalloc, a separate untimed run).  Then
the AD fallback at the same point (`numerics.fast_drift` / `slow_drift`, float64): compile
time (with the first call), median time per call after compilation, the ratio of the symbolic
derivation time to the AD compile time, and the largest difference between the AD drift and
the exact symbolic value at the point relative to its largest component; and the symbolic
drift through `numerics.lambdify` + `jax.jit` (translation time, XLA compile time, time per
call: the expression trees of 3e4-1e5 operations compile slowly).
Finally AD-only cases the symbolic layer cannot handle in reasonable time (its third-derivative
tensor alone has D^3 = 8e6 entries): the diagonal network with d = 100 (D = 200), n = 3.
Peak resident memory (ru_maxrss) is printed after the symbolic part (JAX not yet imported) and
at the end.  Not a test: machines are shared and noisy.

    python3 benchmarks/manifold_drift_symbolic.py [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
import tracemalloc

from _threads import pin_threads  # benchmarks/ is the script directory

TARGET_S = 10.0


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def _median_time(fn, repeats: int, before=None) -> tuple[float, float, object]:
    """(median, first, last result) of `repeats` timed calls, `before()` untimed before each."""
    runs, out = [], None
    for _ in range(repeats):
        if before is not None:
            before()
        t0 = time.perf_counter()
        out = fn()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs), runs[0], out


# --------------------------------------------------------------------------------------------
# the problems


def diagonal_network(d: int, n: int, seed: int):
    """f(x) = sum_i u_i v_i x_i with integer inputs, rational (u, v) and labels y = X (u*v)."""
    import numpy as np
    import sympy as sp

    rng = np.random.default_rng(seed)
    X = rng.integers(-2, 3, size=(n, d))
    u = [sp.Rational(int(a), 2) for a in rng.choice([-3, -2, -1, 1, 2, 3, 4], size=d)]
    v = [sp.Rational(int(a), 2) for a in rng.choice([-3, -2, -1, 1, 2, 3, 4], size=d)]
    beta = [a * b for a, b in zip(u, v, strict=True)]
    y = [sum(int(x) * b for x, b in zip(row, beta, strict=True)) for row in X]
    us = sp.symbols(f"u1:{d + 1}", real=True)
    vs = sp.symbols(f"v1:{d + 1}", real=True)
    xs = sp.symbols(f"x1:{d + 1}", real=True)
    model = sum(a * b * x for a, b, x in zip(us, vs, xs, strict=True))
    data = [(tuple(int(x) for x in row), yj) for row, yj in zip(X, y, strict=True)]
    return dict(model=model, parameters=us + vs, inputs=xs, data=data, point=u + v,
                X=X.astype(float), y=np.array([float(t) for t in y]))


def polynomial_loss():
    """L = 1/2 sum_j r_j(w)^2, three residuals of degree <= 3 in w_1..w_10, zero at a
    rational point (Gamma has codimension 3 there)."""
    import sympy as sp

    w = sp.symbols("w1:11", real=True)
    point = [1, 2, sp.Rational(1, 2), -1, 1, sp.Rational(3, 2), 2, -1, sp.Rational(1, 2), 1]
    residuals = [
        w[0] * w[1] + w[2] ** 2 - w[3] * w[4],
        w[4] * w[5] - w[6] + w[7] * w[8] * w[9],
        w[0] * w[9] + w[1] * w[8] - w[2] * w[3] * w[5],
    ]
    subs = dict(zip(w, point, strict=True))
    residuals = [r - r.xreplace(subs) for r in residuals]
    return dict(loss=sp.Add(*[r**2 for r in residuals]) / 2, parameters=w, point=point,
                residuals=residuals)


def symbolic_cases():
    diag = diagonal_network(d=5, n=3, seed=0)
    poly = polynomial_loss()
    model_args = dict(data=diag["data"], inputs=diag["inputs"], point=diag["point"])
    return [
        ("diag d=5 n=3 (D=10), label noise", "label", "slow", "diag",
         (diag["model"], diag["parameters"], "label"), model_args),
        ("diag d=5 n=3 (D=10), DropConnect", "dropconnect", "fast", "diag",
         (diag["model"], diag["parameters"], "dropconnect"), model_args),
        ("polynomial loss (D=10, r=3), perturbed GD", "perturbed", "fast", "poly",
         (poly["loss"], poly["parameters"], "perturbed"), dict(point=poly["point"])),
        ("polynomial loss (D=10, r=3), additive", "additive", "slow", "poly",
         (poly["loss"], poly["parameters"], "additive"), dict(point=poly["point"])),
    ], diag, poly


# --------------------------------------------------------------------------------------------


def run_symbolic(name, args, kwargs, repeats):
    import sympy as sp
    from sympy.core.cache import clear_cache

    from limitlab.theory import derive_drift

    median, first, d = _median_time(
        lambda: derive_drift(*args, symbolic=True, **kwargs), repeats, before=clear_cache)
    built = d.drift is not None
    if built:
        t0 = time.perf_counter()
        size = sp.count_ops(d.drift)
        t_count = time.perf_counter() - t0
        size_text = f"count_ops {size:7d} ({t_count:4.1f} s to count)"
    else:
        size_text = "not built: " + next(
            (note.split(":")[0] for note in d.notes if note.startswith("drift")), "no note")
    clear_cache()
    tracemalloc.start()
    derive_drift(*args, symbolic=True, **kwargs)
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    under = "yes" if median < TARGET_S else "NO"
    print(f"  {name:42} {d.case:14} median {median:6.2f} s (first {first:5.2f} s)  "
          f"under {TARGET_S:.0f} s: {under}")
    print(f"  {'':42} drift expression built: {built}; {size_text}; "
          f"peak traced memory {traced_peak / 1e6:6.1f} MB")
    return d, median


def run_ad(problem, point, kind, scale, repeats):
    """(compile + first call, median per call) of the AD drift, and the drift (float64)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from limitlab.numerics import fast_drift, float64, slow_drift

    drift = fast_drift if scale == "fast" else slow_drift
    with float64():
        w = jnp.asarray(point, dtype=jnp.float64)
        t0 = time.perf_counter()
        jax.block_until_ready(drift(problem, w, noise=kind))
        t_first = time.perf_counter() - t0
        median, _, out = _median_time(
            lambda: jax.block_until_ready(drift(problem, w, noise=kind)), max(repeats, 5))
    return t_first, median, np.asarray(out)


def run_lambdified(d, point, repeats):
    import jax
    import jax.numpy as jnp

    from limitlab.numerics import float64, lambdify

    with float64():
        t0 = time.perf_counter()
        fn = jax.jit(lambdify(d.parameters, list(d.drift)))
        t_translate = time.perf_counter() - t0
        w = [jnp.asarray(float(v)) for v in point]
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*w))
        t_compile = time.perf_counter() - t0
        median, _, _ = _median_time(lambda: jax.block_until_ready(fn(*w)), max(repeats, 5))
    return t_translate, t_compile, median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="BLAS/XLA threads (default 1)")
    args = parser.parse_args()
    pin_threads(args.threads)

    print(f"threads: {args.threads}; symbolic: derive_drift(symbolic=True), median of "
          f"{args.repeats} runs with sympy's cache cleared; target < {TARGET_S:.0f} s")
    cases, diag, poly = symbolic_cases()
    derivations = []
    for name, kind, scale, which, call_args, kwargs in cases:
        d, median = run_symbolic(name, call_args, kwargs, args.repeats)
        derivations.append((name, kind, scale, which, d, median))
    print(f"peak resident memory after the symbolic part (no JAX yet): {_peak_rss_mb():.0f} MB")

    import jax.numpy as jnp
    import numpy as np

    from limitlab.numerics import LeastSquares, Loss, lambdify

    X, y = diag["X"], diag["y"]
    poly_loss = lambdify(poly["parameters"], poly["loss"])  # the same L as the symbolic side
    problems = {
        "diag": LeastSquares(lambda w: jnp.asarray(X, w.dtype) @ (w[:5] * w[5:])
                             - jnp.asarray(y, w.dtype)),
        "poly": Loss(lambda w: poly_loss(*w)),
    }
    print("AD fallback at the same points (float64, jit-compiled; per-call times after "
          "compilation) and the lambdified symbolic drift:")
    for name, kind, scale, which, d, median in derivations:
        point = [float(v) for v in d.point]
        t_compile, t_ad, ad = run_ad(problems[which], point, kind, scale, args.repeats)
        exact = np.array([float(v) for v in d.drift_at_point])
        diff = np.abs(ad - exact).max() / np.abs(exact).max()
        print(f"  {name:42} AD compile+run {t_compile:5.2f} s, {t_ad * 1e3:7.3f} ms/call; "
              f"symbolic / AD compile+run {median / t_compile:5.1f}; "
              f"max |AD - exact| / max |exact| {diff:.1e}")
        if d.drift is not None:
            t_translate, t_lam, t_eval = run_lambdified(d, point, args.repeats)
            print(f"  {'':42} lambdified symbolic drift: lambdify {t_translate:5.2f} s, "
                  f"jit compile+run {t_lam:5.2f} s, {t_eval * 1e3:7.3f} ms/call")

    print("AD only (the symbolic layer is not attempted: D^3 = 8e6 third-derivative entries):")
    for n in (3, 10):
        big = diagonal_network(d=100, n=n, seed=1)
        Xb, yb = big["X"], big["y"]
        problem = LeastSquares(lambda w, Xb=Xb, yb=yb: jnp.asarray(Xb, w.dtype)
                               @ (w[:100] * w[100:]) - jnp.asarray(yb, w.dtype))
        point = [float(v) for v in big["point"]]
        for kind, scale in (("label", "slow"), ("dropconnect", "fast")):
            t_compile, t_ad, ad = run_ad(problem, point, kind, scale, args.repeats)
            print(f"  diag d=100 n={n:<2} (D=200), {kind:11} ({scale}) AD compile+run "
                  f"{t_compile:5.2f} s, {t_ad * 1e3:8.2f} ms/call, |drift| "
                  f"{np.linalg.norm(ad):.3g}")
    print(f"peak resident memory of the process (ru_maxrss): {_peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
