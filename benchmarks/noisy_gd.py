"""Throughput of `noisy_gd` against a straightforward NumPy implementation vectorised over chains.

Problems (manifold-drift.md §9), 400 chains, float64 on both sides:
- toy 1, L = 1/2 (xy - 1)^2 from (2, 0.5): label noise (+-1 Rademacher, alpha = 0.005) and
  perturbed GD (sigma = 0.1, Gaussian);
- a diagonal linear network f(x) = sum_i u_i v_i x_i, d = 100 (D = 200 parameters), n = 3 and
  n = 10 data points: label noise (sigma = 0.1) and DropConnect (p = 0.01).
The NumPy baseline is the loop a user would write: one `numpy.random.Generator`, the update in
array operations over the (chains, D) state.  Printed: chain-steps per second of each, their
ratio measured in this one run (JAX warm: compilation excluded and printed separately; both
best of `--repeats`), the mean of the final first coordinate on both sides as a sanity check
(they agree within a few standard errors), and the peak resident memory of the process.  The
target is a ratio >= 20 (the Gaussian rows are bound by random-number generation; see the
docstring of `noisy_gd`).  Not a test: machines are shared and noisy.

    python3 benchmarks/noisy_gd.py [--quick] [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import resource
import time

from _threads import pin_threads  # benchmarks/ is the script directory

CHAINS = 400


def _best(fn, repeats: int) -> tuple[float, object]:
    runs, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        runs.append(time.perf_counter() - t0)
    return min(runs), out


# --------------------------------------------------------------------------------------------
# NumPy baselines


def numpy_toy_label(steps, alpha, sigma, seed):
    import numpy as np

    rng = np.random.default_rng(seed)
    x, y = np.full(CHAINS, 2.0), np.full(CHAINS, 0.5)
    for _ in range(steps):
        eps = sigma * (2.0 * rng.integers(0, 2, CHAINS) - 1.0)
        r = x * y - 1.0 - eps
        x, y = x - alpha * r * y, y - alpha * r * x
    return x


def numpy_toy_perturbed(steps, alpha, sigma, seed):
    import numpy as np

    rng = np.random.default_rng(seed)
    x, y = np.full(CHAINS, 2.0), np.full(CHAINS, 0.5)
    for _ in range(steps):
        xi = rng.standard_normal((2, CHAINS))
        xp, yp = x + sigma * xi[0], y + sigma * xi[1]
        r = xp * yp - 1.0
        x, y = x - alpha * r * yp, y - alpha * r * xp
    return x


def numpy_diag_label(steps, alpha, sigma, X, y, u0, v0, seed):
    import numpy as np

    rng = np.random.default_rng(seed)
    n = X.shape[0]
    u, v = np.tile(u0, (CHAINS, 1)), np.tile(v0, (CHAINS, 1))
    for _ in range(steps):
        eps = sigma * (2.0 * rng.integers(0, 2, (CHAINS, n)) - 1.0)
        r = (u * v) @ X.T - y - eps
        g = r @ X / n
        u, v = u - alpha * g * v, v - alpha * g * u
    return u[:, 0]


def numpy_diag_dropconnect(steps, alpha, p, X, y, u0, v0, seed):
    import numpy as np

    rng = np.random.default_rng(seed)
    n, d = X.shape
    keep = 1.0 - p
    u, v = np.tile(u0, (CHAINS, 1)), np.tile(v0, (CHAINS, 1))
    for _ in range(steps):
        scale = (rng.random((2, CHAINS, d)) < keep) / keep
        a, b = u * scale[0], v * scale[1]
        r = (a * b) @ X.T - y
        g = r @ X / n
        u, v = u - alpha * g * b * scale[0], v - alpha * g * a * scale[1]
    return u[:, 0]


# --------------------------------------------------------------------------------------------


def run_case(name, numpy_fn, problem, w0, noise, alpha, steps, repeats, noise_dtype=None):
    import jax
    import jax.numpy as jnp
    import numpy as np

    from limitlab.numerics import float64, noisy_gd

    t_np, x_np = _best(lambda: numpy_fn(steps), repeats)
    with float64():
        w0 = jnp.asarray(w0)

        def run():
            out = noisy_gd(problem, w0, noise=noise, alpha=alpha, steps=steps, chains=CHAINS,
                           key=jax.random.key(0), noise_dtype=noise_dtype)
            return jax.block_until_ready(out)

        t0 = time.perf_counter()
        run()
        t_first = time.perf_counter() - t0
        t_jax, out = _best(run, repeats)
    x_jax = np.asarray(out[-1, :, 0])
    work = CHAINS * steps
    se = np.hypot(np.std(x_np), np.std(x_jax)) / np.sqrt(CHAINS)
    print(f"  {name:34} numpy {work / t_np:9.3g}/s   jax {work / t_jax:9.3g}/s   "
          f"ratio {t_np / t_jax:6.1f}   (compile+run {t_first:5.1f} s;  mean w_1 numpy "
          f"{np.mean(x_np):.4f} jax {np.mean(x_jax):.4f}, |diff|/se "
          f"{abs(np.mean(x_np) - np.mean(x_jax)) / se:.1f})")
    return t_np / t_jax


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps (a smoke run)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="BLAS/XLA threads (default 1)")
    args = parser.parse_args()
    pin_threads(args.threads)

    import numpy as np

    from limitlab.numerics import LeastSquares, NoiseModel

    toy_steps = 2_000 if args.quick else 20_000
    diag_steps = 200 if args.quick else 2_000
    repeats = 1 if args.quick else args.repeats
    print(f"threads: {args.threads}; {CHAINS} chains; float64; chain-steps per second")
    ratios = {}

    toy = LeastSquares(lambda w: w[0] * w[1] - 1.0)
    print(f"toy L = 1/2 (xy - 1)^2, {toy_steps} steps")
    ratios["toy label"] = run_case(
        "label noise +-1, alpha 0.005",
        lambda s: numpy_toy_label(s, 0.005, 1.0, 0),
        toy, [2.0, 0.5], NoiseModel("label", sigma=1.0), 0.005, toy_steps, repeats)
    ratios["toy perturbed"] = run_case(
        "perturbed GD sigma 0.1, alpha 0.005",
        lambda s: numpy_toy_perturbed(s, 0.005, 0.1, 0),
        toy, [2.0, 0.5], NoiseModel("perturbed", sigma=0.1), 0.005, toy_steps, repeats)
    ratios["toy perturbed f32 noise"] = run_case(
        "  same, noise_dtype=float32",
        lambda s: numpy_toy_perturbed(s, 0.005, 0.1, 0),
        toy, [2.0, 0.5], NoiseModel("perturbed", sigma=0.1), 0.005, toy_steps, repeats,
        noise_dtype="float32")

    d = 100
    for n in (3, 10):
        rng = np.random.default_rng(n)
        X = rng.standard_normal((n, d))
        beta = np.zeros(d)
        beta[0], beta[3] = 1.5, -1.0
        y = X @ beta
        u0, v0 = 1 + 0.3 * rng.standard_normal(d), 1 + 0.3 * rng.standard_normal(d)
        problem = LeastSquares(lambda w, X=X, y=y: X @ (w[:d] * w[d:]) - y)
        w0 = np.concatenate([u0, v0])
        alpha = 0.2 / (np.linalg.norm(X, 2) ** 2 / n * 4)
        print(f"diagonal linear network d = {d}, n = {n}, alpha = {alpha:.3g}, {diag_steps} steps")
        ratios[f"diag n={n} label"] = run_case(
            "label noise +-0.1",
            lambda s, X=X, y=y, u0=u0, v0=v0: numpy_diag_label(s, alpha, 0.1, X, y, u0, v0, 0),
            problem, w0, NoiseModel("label", sigma=0.1), alpha, diag_steps, repeats)
        ratios[f"diag n={n} dropconnect"] = run_case(
            "DropConnect p 0.01",
            lambda s, X=X, y=y, u0=u0, v0=v0: numpy_diag_dropconnect(
                s, alpha, 0.01, X, y, u0, v0, 0),
            problem, w0, NoiseModel("dropconnect", p=0.01), alpha, diag_steps, repeats)

    print("ratios (target >= 20): " + ", ".join(f"{k} {v:.1f}" for k, v in ratios.items()))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"peak resident memory of the process (ru_maxrss): {peak / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
