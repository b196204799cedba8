"""Throughput of the ensemble runner against a plain NumPy loop over seeds.

Simulation: the output of a random two-layer ReLU network (input dimension 4) at widths 64 and
1024, one network per seed, as in the `two-layer-fourth-cumulant` claim.  Both sides draw the
same number of Gaussians per seed in float64; the NumPy baseline is the straightforward loop a
user would write (`numpy.random.Generator` per seed).  Prints seeds per second, the ratio
(runner / NumPy, measured in this one run, compilation included and excluded), and the peak
resident memory of the process.  Not a test: machines are shared and noisy.

    python3 benchmarks/ensemble_runner.py [--seeds 20000]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np


def numpy_loop(width: int, n_seeds: int) -> np.ndarray:
    x = np.ones(4)
    out = np.empty(n_seeds)
    for s in range(n_seeds):
        rng = np.random.default_rng(s)
        w = rng.standard_normal((width, 4))
        a = rng.standard_normal(width)
        out[s] = np.maximum(w @ x / 2.0, 0.0) @ a / np.sqrt(width)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20000)
    args = parser.parse_args()

    from limitlab.numerics import run_ensemble, two_layer_output

    x = np.ones(4)
    print(f"{'width':>6} {'numpy seeds/s':>14} {'runner seeds/s':>15} {'(warm)':>10} "
          f"{'ratio':>7} {'ratio warm':>11}")
    for width in (64, 1024):
        baseline_seeds = min(args.seeds, 5000)
        t0 = time.perf_counter()
        numpy_loop(width, baseline_seeds)
        numpy_rate = baseline_seeds / (time.perf_counter() - t0)

        def simulate(key, width=width):
            return two_layer_output(x, width, key=key)

        t0 = time.perf_counter()
        run_ensemble(simulate, seed=0, n_seeds=args.seeds, progress=False)
        cold = args.seeds / (time.perf_counter() - t0)
        # Warm: the same simulation again; jit's cache is keyed on the new closure, so time a
        # second, larger batch and subtract the first call's compile by differencing.
        t0 = time.perf_counter()
        run_ensemble(simulate, seed=1, n_seeds=2 * args.seeds, progress=False)
        t_two = time.perf_counter() - t0
        t0 = time.perf_counter()
        run_ensemble(simulate, seed=2, n_seeds=args.seeds, progress=False)
        t_one = time.perf_counter() - t0
        warm = args.seeds / max(t_two - t_one, 1e-9)
        print(f"{width:>6} {numpy_rate:>14.0f} {cold:>15.0f} {warm:>10.0f} "
              f"{cold / numpy_rate:>7.1f} {warm / numpy_rate:>11.1f}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory: {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
