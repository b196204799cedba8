"""Cost of the exact kernel-gradient-flow simulator against one dense eigendecomposition.

`simulate_kernel_flow` needs one `eigh` of the n x n kernel matrix; everything else (the
kernel matrix, the filters at all T times, K^(2) a_t in row blocks) is O(n^2 (d + T + K)).
Measured in one run, on the same n x n matrix size:

(a) time of the simulator (n = 4000, d = 100, h = exp, 100 times, train + exact test risk,
    K = 8) divided by the time of `numpy.linalg.eigh` (target <= 1.3; best of `--repeats`,
    compilation excluded and reported separately);
(b) peak memory in units of 8 n^2 bytes (one n x n float64 matrix) at three sizes: XLA's own
    buffer plan (`compiled.memory_analysis()`) and the peak growth of the resident set of a
    fresh process during one warm run; flat in n means O(n^2), and the largest intermediate
    of the traced program is printed to show that no n x n x T array exists;
(c) `theory_curve_timing()`: the asymptotic theory curves at 10^4 times against the simulator
    at n = 2000 (target: theory at least 100x cheaper).

BLAS threads are pinned (`--threads`, default 1) for both numpy and JAX before either is
imported: on small shared machines a multi-threaded LAPACK `eigh` can be an order of
magnitude slower and noisier than a single-threaded one, which would swamp the ratio.
Not a test: machines are shared and noisy.

    python3 benchmarks/kernel_flow.py [--n 4000] [--quick] [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from _threads import pin_threads  # benchmarks/ is the script directory

D = 100
TOP = 8  # eigenvalues lambda_0..lambda_8: the K^(2) tail is below 1e-20 at d = 100
ENERGIES = {1: 1.0, 2: 1.0, 3: 1.0}
NOISE = 0.25


def _eigenvalues(d: int):
    import numpy as np

    from limitlab.theory import funk_hecke_eigenvalue

    return np.array([float(funk_hecke_eigenvalue("exp(z)", d, k, dps=20)) for k in range(TOP + 1)])


def _simulator(n: int, d: int, n_times: int):
    """A jitted closure key -> outputs, plus its arguments."""
    import jax.numpy as jnp
    import numpy as np

    from limitlab.numerics import simulate_kernel_flow

    lam = _eigenvalues(d)
    times = np.logspace(0, 7, n_times)

    def simulate(key):
        return simulate_kernel_flow(jnp.exp, lam, d=d, n=n, energies=ENERGIES, noise=NOISE,
                                    times=times, key=key)

    return simulate


def _block(out):
    import jax

    return jax.block_until_ready(out)


def time_ratio(n: int, repeats: int) -> None:
    import jax
    import numpy as np

    from limitlab.numerics import float64, sample_sphere

    print(f"(a) time: n = {n}, d = {D}, h = exp, 100 times, train + exact test (K = {TOP})")
    with float64():
        simulate = _simulator(n, D, 100)
        t0 = time.perf_counter()
        _block(simulate(jax.random.key(0)))
        first = time.perf_counter() - t0
        runs = []
        for r in range(repeats):
            t0 = time.perf_counter()
            out = _block(simulate(jax.random.key(r + 1)))
            runs.append(time.perf_counter() - t0)
        x = np.asarray(sample_sphere(n, D, key=jax.random.key(0)))
    gram = np.exp(x @ x.T / D)
    eighs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.linalg.eigh(gram)
        eighs.append(time.perf_counter() - t0)
    best, best_eigh = min(runs), min(eighs)
    print(f"    simulator (warm, best of {repeats}): {best:8.2f} s   runs {_fmt(runs)}")
    print(f"    numpy.linalg.eigh (best of {repeats}): {best_eigh:8.2f} s   runs {_fmt(eighs)}")
    print(f"    compilation (first call - warm):    {first - best:8.2f} s")
    print(f"    ratio simulator / eigh: {best / best_eigh:.2f}   (target <= 1.3)")
    test = np.asarray(out["test"])
    print(f"    sanity: test excess t=1 {test[0]:.3f}, t=1e7 {test[-1]:.3f}; "
          f"train t=1e7 {np.asarray(out['train'])[-1]:.2e}")


def _fmt(values) -> str:
    return "[" + ", ".join(f"{v:.2f}" for v in values) + "]"


def _memory_child(n: int) -> None:
    """Run in a fresh process: print the peak resident-memory growth (bytes) of one run.

    The simulation is compiled ahead of time; then the kernel's high-water mark is reset
    (`clear_refs` 5, Linux >= 4.0) and the first execution's peak is read from `VmHWM`.  The
    parent sets `MALLOC_MMAP_THRESHOLD_` so that large buffers are mapped and unmapped directly.
    """
    import jax

    from limitlab.numerics import float64

    def status(field: str) -> int:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
        raise OSError(field)

    with float64():
        key = jax.random.key(1)
        compiled = jax.jit(_simulator(n, D, 100)).lower(key).compile()
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
            before = status("VmRSS")
            _block(compiled(key))
            growth = status("VmHWM") - before
        except OSError:
            growth = -1  # no /proc: not measurable this way
    print(json.dumps({"growth": growth}))


def _child_growth(n: int, threads: int) -> int:
    command = [sys.executable, __file__, "--child-memory", str(n), "--threads", str(threads)]
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="1048576")
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        print(result.stderr[-2000:], file=sys.stderr)
        return -1
    return json.loads(result.stdout.strip().splitlines()[-1])["growth"]


def _largest_intermediate(n: int, n_times: int):
    """Largest array (by elements) in the traced program of the simulator."""
    import jax

    from limitlab.numerics import float64

    with float64():
        jaxpr = jax.make_jaxpr(_simulator(n, D, n_times))(jax.random.key(0))
    largest = ()
    size = 0

    def inner_jaxprs(value):
        if hasattr(value, "eqns"):
            yield value
        elif hasattr(value, "jaxpr") and hasattr(value.jaxpr, "eqns"):
            yield value.jaxpr
        elif isinstance(value, tuple | list):
            for item in value:
                yield from inner_jaxprs(item)

    def visit(jaxpr):
        nonlocal largest, size
        for eqn in jaxpr.eqns:
            for var in eqn.outvars:
                shape = tuple(getattr(var.aval, "shape", ()))
                count = 1
                for s in shape:
                    count *= s
                if count > size:
                    largest, size = shape, count
            for param in eqn.params.values():
                for inner in inner_jaxprs(param):
                    visit(inner)

    visit(jaxpr.jaxpr)
    return largest


def memory_scaling(sizes: list[int], threads: int) -> None:
    import jax

    from limitlab.numerics import float64
    from limitlab.numerics._kernel_flow import _kernel_flow
    from limitlab.numerics._sphere_sampling import _normalise_energies

    print(f"(b) memory in units of 8 n^2 bytes (d = {D}, 100 times)")
    print(f"{'n':>8} {'XLA temp':>10} {'peak RSS growth':>16}   largest traced array")
    import jax.numpy as jnp
    import numpy as np

    lam = _eigenvalues(D)
    growths = []
    for n in sizes:
        with float64():
            compiled = _kernel_flow.lower(
                jnp.asarray(lam), jnp.asarray(np.logspace(0, 7, 100)), jnp.asarray(NOISE), None,
                jax.random.key(0), kernel=jnp.exp, n=n, d=D,
                energies=_normalise_energies(ENERGIES), heldout=0, per_degree=False,
                return_data=False,
            ).compile()
        temp = compiled.memory_analysis().temp_size_in_bytes
        growth = _child_growth(n, threads)
        unit = 8 * n * n
        shape = _largest_intermediate(n, 100)
        rss = f"{growth / unit:.2f}" if growth >= 0 else "n/a"
        print(f"{n:>8} {temp / unit:>10.2f} {rss:>16}   {shape}")
        growths.append(growth)
    if min(growths) >= 0:
        slope = (growths[-1] - growths[-2]) / (8 * (sizes[-1] ** 2 - sizes[-2] ** 2))
        print(f"    RSS growth between the two largest sizes: {slope:.2f} x 8 n^2 bytes per "
              "unit of n^2 (the rest is a fixed overhead of the runtime)")
    print("    (numpy.linalg.eigh alone holds about 4 such matrices: input, eigenvectors and a "
          "2 n^2 workspace)")


# ----------------------------------------------------------------------------------------------
# (c) THEORY CURVES vs SIMULATOR
# ----------------------------------------------------------------------------------------------


def theory_curve_timing(n_sim: int = 2000, d: int = 1000, n_times: int = 10_000) -> None:
    """Time `limitlab.theory.oracle_risk` and `limitlab.theory.empirical_risk_asymptotic` on
    `n_times` times at dimension `d` (the spectrum is computed once, outside the timing) and
    compare with one warm simulator run at `n_sim` samples and 100 times (target: theory at
    least 100x cheaper)."""
    import jax
    import numpy as np

    print(f"(c) theory curves at {n_times} times, d = {d}, vs the simulator at n = {n_sim}")
    try:
        from limitlab.theory import empirical_risk_asymptotic, kernel_spectrum, oracle_risk
    except ImportError:
        print("    skipped: theory curves not available")
        return
    times = np.logspace(0, 7, n_times)
    try:
        spectrum = kernel_spectrum("exp(z)", d, TOP)

        def curves():
            t0 = time.perf_counter()
            oracle_risk(times, spectrum, ENERGIES, NOISE)
            empirical_risk_asymptotic(times, spectrum, ENERGIES, NOISE, n_sim)
            return time.perf_counter() - t0

        theory = min(curves() for _ in range(5))
    except (TypeError, ValueError, AttributeError) as err:
        print(f"    skipped: theory curves have an unexpected interface ({err})")
        return
    from limitlab.numerics import float64

    with float64():
        simulate = _simulator(n_sim, d, 100)
        _block(simulate(jax.random.key(0)))
        t0 = time.perf_counter()
        _block(simulate(jax.random.key(1)))
        sim = time.perf_counter() - t0
    print(f"    theory (oracle + asymptotic empirical, best of 5): {theory * 1e3:8.3f} ms")
    print(f"    simulator (one seed, 100 times, warm):             {sim * 1e3:8.0f} ms")
    print(f"    ratio simulator / theory: {sim / theory:.0f}x   (target >= 100x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=None, help="size for (a) (default 4000)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, 2 repeats")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1, help="BLAS/XLA threads (default 1)")
    parser.add_argument("--child-memory", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    pin_threads(args.threads)
    if args.child_memory is not None:
        _memory_child(args.child_memory)
        return
    n = args.n or (1500 if args.quick else 4000)
    repeats = args.repeats or (2 if args.quick else 3)
    sizes = [n // 4, n // 2, n]
    print(f"threads: {args.threads}")
    time_ratio(n, repeats)
    memory_scaling(sizes, args.threads)
    theory_curve_timing(n_sim=min(2000, n))


if __name__ == "__main__":
    main()
