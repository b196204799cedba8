"""Mean-field two-layer networks: linear response against brute force, and ensemble throughput.

Model: the 1-D Gaussian units of mean-field-clt.md §9.1 (population loss, 81-node trapezoid
grid), float64, times t = 0, 2.5, 5, 10, adaptive Tsit5 (rtol 1e-6, atol 1e-8) everywhere.
Printed, all measured in this one run:

1. The limiting fluctuation E||g_t||^2 on the grid by linear response (§6) on Gauss-Legendre x
   Gauss-Hermite quadratures of mu_0 (exact covariance, and Gaussian weight directions with
   their standard error), and by brute force: `--seeds` (200) independent networks per width
   through `run_ensemble` (widths 256 and 4096: the 200 x 4096 ensemble must fit in memory and
   go through the sharded runner).  Agreement in standard errors, wall times, and the speed-up
   of linear response (16x6 quadrature; 32x8 shows its discretisation error) at equal standard
   error: brute-force wall time over the time linear response needs for the same standard
   error, with compilation on both sides (brute force then includes its mean-field reference
   solve) and warm (compilation subtracted; run_ensemble compiles on every call, its
   compilation is measured on a 2-seed run).  Exact covariance: standard error 0, its time as
   measured; Gaussian directions: time per direction x the number of directions that gives the
   brute-force standard error.  Target: >= 10 against the brute force at width 4096.
2. Throughput in particle-steps per second of fixed-step RK4 (dt 0.05, 40 steps) for one
   width-m network per seed: `finite_width_run` vmapped over seeds under `jit` (warm) against a
   straightforward NumPy loop over seeds (each seed's RK4 vectorised over its m x n unit
   matrix).  Target ratio >= 10.  Sanity checks: the mean final loss of both sides agrees within
   standard errors, and from the same start both give the same final loss to round-off.
3. The peak resident memory of the process.

Not a test: machines are shared and noisy.

    python3 benchmarks/mean_field.py [--quick] [--seeds 200] [--threads 1]
"""

from __future__ import annotations

import argparse
import math
import resource
import time

from _threads import pin_threads  # benchmarks/ is the script directory

TIMES = (0.0, 2.5, 5.0, 10.0)
TOL = {"rtol": 1e-6, "atol": 1e-8}


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


# --------------------------------------------------------------------------------------------
# NumPy baseline: RK4 for one width-m network of the 1-D model, seed after seed


def numpy_ensemble(width, seeds, steps, dt, x, nu, target, s2=0.5, start=None):
    import numpy as np

    norm = 1.0 / math.sqrt(2 * math.pi * s2)

    def velocity(c, y):
        d = x[None, :] - y[:, None]
        phi = norm * np.exp(-d * d / (2 * s2))
        a = nu * ((c / width) @ phi - target)
        return -(phi @ a), -c * ((phi * d) @ a) / s2

    losses = []
    for seed in range(seeds):
        if start is None:
            rng = np.random.default_rng(seed)
            y = rng.uniform(-2.0, 2.0, width)
            c = rng.standard_normal(width)
        else:
            c, y = start
        for _ in range(steps):
            k1 = velocity(c, y)
            k2 = velocity(c + dt / 2 * k1[0], y + dt / 2 * k1[1])
            k3 = velocity(c + dt / 2 * k2[0], y + dt / 2 * k2[1])
            k4 = velocity(c + dt * k3[0], y + dt * k3[1])
            c = c + dt / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0])
            y = y + dt / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1])
        d = x[None, :] - y[:, None]
        f = (c / width) @ (norm * np.exp(-d * d / (2 * s2)))
        losses.append(0.5 * np.sum(nu * (f - target) ** 2))
    return np.array(losses)


def throughput(model, width, jax_seeds, numpy_seeds, steps=40, dt=0.05):
    import jax
    import numpy as np

    from limitlab.numerics import finite_width_run, float64, initial_particles

    times = [0.0, steps * dt]
    with float64():
        keys = jax.random.split(jax.random.key(0), jax_seeds)
        run = jax.jit(jax.vmap(lambda k: finite_width_run(
            model, width, times, key=k, solver="rk4", dt=dt)["loss_train"][-1]))
        t0 = time.perf_counter()
        jax.block_until_ready(run(keys))
        t_first = time.perf_counter() - t0
        t0 = time.perf_counter()
        loss_jax = np.asarray(jax.block_until_ready(run(keys)))
        t_jax = time.perf_counter() - t0
    grid = model.train
    t0 = time.perf_counter()
    loss_np = numpy_ensemble(width, numpy_seeds, steps, dt, grid.x, grid.weights, grid.y)
    t_np = time.perf_counter() - t0
    # Same start on both sides: the final losses must agree to round-off.
    with float64():
        p = initial_particles(model, width, key=keys[0])
    same = numpy_ensemble(width, 1, steps, dt, grid.x, grid.weights, grid.y,
                          start=(np.asarray(p.c), np.asarray(p.z[:, 0])))[0]
    same_rel = abs(same - loss_jax[0]) / abs(loss_jax[0])
    rate_jax = width * steps * jax_seeds / t_jax
    rate_np = width * steps * numpy_seeds / t_np
    se = math.hypot(loss_jax.std() / math.sqrt(jax_seeds), loss_np.std() / math.sqrt(numpy_seeds))
    print(f"  m = {width:5d}: numpy {rate_np:9.3g}/s ({numpy_seeds:3d} seeds)   jax {rate_jax:9.3g}/s "
          f"({jax_seeds:3d} seeds, compile+run {t_first:5.1f} s)   ratio {rate_jax / rate_np:6.1f}"
          f"   mean final loss numpy {loss_np.mean():.5f} jax {loss_jax.mean():.5f} "
          f"(|diff|/se {abs(loss_np.mean() - loss_jax.mean()) / se:.1f}; same start: relative "
          f"difference {same_rel:.1e})")
    return rate_jax / rate_np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run (short times, fewer "
                        "seeds, small widths)")
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1, help="BLAS/XLA threads (default 1)")
    args = parser.parse_args()
    pin_threads(args.threads)

    import jax
    import numpy as np

    from limitlab.numerics import (
        finite_width_ensemble,
        float64,
        gaussian_units_model,
        linear_response_fluctuation,
        mean_field_flow,
        reference_particles,
    )

    times = np.array(TIMES[:2] if args.quick else TIMES)
    seeds = 20 if args.quick else args.seeds
    widths = (64, 256) if args.quick else (256, 4096)
    # The first quadrature is the one timed against brute force; the second shows that its
    # discretisation error is far below the brute-force standard error.
    quadratures = ((16, 6),) if args.quick else ((16, 6), (32, 8))
    model = gaussian_units_model()
    print(f"1-D Gaussian units (§9.1), population loss on {model.train.x.shape[0]} grid nodes, "
          f"times {times.tolist()}, Tsit5 rtol {TOL['rtol']:g} atol {TOL['atol']:g}; threads "
          f"{args.threads}; devices {jax.local_devices()}")

    # ---- 1. linear response and brute force
    print("E||g_t||^2 on the grid (train = test = Lebesgue):")
    t0 = time.perf_counter()
    with float64():
        reference = mean_field_flow(model, reference_particles(model, (64, 10)), times, **TOL)
    t_reference = time.perf_counter() - t0
    print(f"  resampling variance V_t (quadrature 64x10):  {np.round(reference['resampling_train'], 4)}"
          f"   (mean-field reference for brute force: {t_reference:4.1f} s with compilation)")
    n_dir = 128
    lr = {}
    for size in quadratures:
        with float64():
            particles = reference_particles(model, size)
        batch = particles.c.shape[0] + 1

        def exact(particles=particles, batch=batch):
            return linear_response_fluctuation(model, particles, times, method="exact",
                                               batch=batch, **TOL)

        def gaussian(key, particles=particles):
            return linear_response_fluctuation(model, particles, times, directions=n_dir,
                                               batch=n_dir, key=jax.random.key(key), **TOL)

        (t_exact_cold, ex), (t_exact, _) = _timed(exact), _timed(exact)
        (t_gauss_cold, ga), (t_gauss, _) = _timed(lambda: gaussian(1)), _timed(lambda: gaussian(2))
        lr[size] = dict(exact=ex, gauss=ga, t_exact_cold=t_exact_cold, t_exact=t_exact,
                        t_gauss_cold=t_gauss_cold, t_dir=t_gauss / n_dir)
        print(f"  linear response {size[0]}x{size[1]}, exact ({batch} dirs):  "
              f"{np.round(ex['train'], 4)}   ({t_exact_cold:5.1f} s with compilation, "
              f"{t_exact:5.2f} s warm)")
        print(f"  linear response {size[0]}x{size[1]}, {n_dir} Gaussian dirs: "
              f"{np.round(ga['train'], 4)} +- {np.round(ga['train_se'], 4)}   "
              f"({t_gauss_cold:5.1f} s with compilation, {t_gauss:5.2f} s warm)")
    print(f"  peak memory so far {_peak_mb():.0f} MB")

    main_size = quadratures[0]
    main = lr[main_size]
    label = f"{main_size[0]}x{main_size[1]}"
    ratios = {}
    for m in widths:
        # Compilation of the ensemble, measured on a 2-seed run (run_ensemble compiles anew on
        # every call, so the brute-force run below includes it too).
        t_compile, _ = _timed(lambda m=m: finite_width_ensemble(
            model, [m], times, n_seeds=2, seed=99, reference=reference, microbatch=1, **TOL))
        t_bf, res = _timed(lambda m=m: finite_width_ensemble(
            model, [m], times, n_seeds=seeds, seed=7, reference=reference, **TOL))
        out = res[m]
        z = (out["train"] - main["exact"]["train"]) / out["train_se"]
        print(f"  brute force m = {m:4d}, {seeds} seeds:      {np.round(out['train'], 4)} +- "
              f"{np.round(out['train_se'], 4)}   ({t_bf:5.1f} s with compilation, about "
              f"{t_compile:4.1f} s of it compiling; (bf - LR {label})/se = {np.round(z, 1)}; "
              f"peak memory {_peak_mb():.0f} MB)")
        # Gaussian directions needed for the brute-force standard error at every t > 0.
        later = slice(1, None)
        need = int(np.ceil(n_dir * np.max(
            (main["gauss"]["train_se"][later] / out["train_se"][later]) ** 2)))
        cold_bf, warm_bf = t_reference + t_bf, t_bf - t_compile
        ratios[f"m={m}: exact, with compilation"] = (cold_bf, main["t_exact_cold"])
        ratios[f"m={m}: exact, warm"] = (warm_bf, main["t_exact"])
        ratios[f"m={m}: Gaussian ({need} dirs), warm"] = (warm_bf, need * main["t_dir"])
        # Brute force costs a fixed part (reference, compilation) plus a part per seed, linear
        # response exact a fixed time: the seed count, and the standard error, beyond which the
        # exact linear response (with compilation) is >= 10x cheaper.
        per_seed = (t_bf - t_compile) / seeds
        fixed = t_reference + t_compile
        r_star = max(2, math.ceil((10 * main["t_exact_cold"] - fixed) / per_seed))
        se_star = float(np.max(out["train_se"][later])) * math.sqrt(seeds / r_star)
        print(f"  m = {m:4d}: exact linear response with compilation is >= 10x cheaper than "
              f"brute force from {r_star} seeds on (standard error <= {se_star:.2g}); "
              f"{per_seed * 1e3:.0f} ms per seed, {fixed:.1f} s fixed")
    print(f"linear response ({label}) speed-up at the brute-force standard error (brute force "
          "with compilation includes its mean-field reference; target >= 10 against m = 4096):")
    for k, (t_bf, t_lr) in ratios.items():
        ratio = f"{t_bf / t_lr:7.1f}" if t_bf > 0.5 else "    n/a (brute force run time within " \
            "the noise of its compile time)"
        print(f"  {k:40} {ratio}   (brute force {t_bf:5.1f} s, linear response {t_lr:5.2f} s)")

    # ---- 2. throughput
    print("throughput, fixed-step RK4 dt 0.05, 40 steps, particle-steps per second:")
    cases = ((32, 200, 50), (256, 200, 20), (1024, 50, 5)) if args.quick else (
        (32, 200, 200), (256, 200, 50), (4096, 25, 5))
    tratios = {m: throughput(model, m, js, ns) for m, js, ns in cases}
    print("throughput ratios jax / numpy (target >= 10): "
          + ", ".join(f"m={m} {r:.1f}" for m, r in tratios.items()))
    print(f"peak resident memory of the process (ru_maxrss): {_peak_mb():.0f} MB")


if __name__ == "__main__":
    main()
