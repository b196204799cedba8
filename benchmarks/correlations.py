"""Cost and memory of one Monte Carlo sample of a correlation function of derivative tensors.

(a) Time, width 1024, depth 3, input dimension 4, tanh, NTK parametrisation, float64 (the
    precision of `correlation_estimate`), P = 2,102,272: one sample of the 4-tensor function
    E[df(x1)_a df(x2)_b d2f(x3)_ab f(x4)] (the dTheta/dt integrand, random-tensor-orders.md
    §5.2) against one forward + backward pass (`value_and_grad` of f at one input).  Printed:
    - the derivative work at fixed parameters (`correlation_integrand`: two gradients, one
      nested forward-mode second derivative, one forward) / forward+backward (target <= 20);
    - the whole sample, network draw included (`correlation_sample`) / (draw + forward +
      backward): drawing P float64 Gaussians costs several forward+backward passes of one
      input, and every Monte Carlo sample pays it;
    - a Hutchinson pattern for comparison, E[d2f(x1)_ab df(x2)_b d2f(x1)_ac df(x2)_c].
    Warm times, best of `--repeats`; compilation excluded.
(b) Peak memory of one sample at width 4096, depth 3, input dimension 4, float64
    (P = 33,574,912, one P-vector = 269 MB) for the 6-tensor function
    E[df(x1)_a df(x2)_b d2f(x3)_ab df(x4)_c df(x5)_d d2f(x6)_cd] (D&G #6): XLA's buffer plan
    (`memory_analysis`: temporaries + outputs) and the peak resident memory of a fresh
    process running one compiled sample (its growth during the run, from `VmHWM` after a
    reset, and the process's total `ru_maxrss`).  Target < 4 GB.  A derivative tensor of
    order 2 would need P^2 = 1.1e15 numbers.

BLAS/XLA threads are pinned (`--threads`, default 1) before JAX is imported.  Not a test:
machines are shared and noisy.

    python3 benchmarks/correlations.py [--repeats 5] [--threads 1] [--memory-width 4096]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

from _threads import pin_threads  # benchmarks/ is the script directory

FOUR = "E[df(x1)_a df(x2)_b d2f(x3)_ab f(x4)]"
HUTCHINSON = "E[d2f(x1)_ab df(x2)_b d2f(x1)_ac df(x2)_c]"
SIX = "E[df(x1)_a df(x2)_b d2f(x3)_ab df(x4)_c df(x5)_d d2f(x6)_cd]"


def _correlation(text: str):
    """The parsed correlation function (limitlab.theory), or a minimal stand-in."""
    try:
        from limitlab.theory import parse_correlation

        return parse_correlation(text)
    except ImportError:  # theory layer unavailable: the estimator only needs `.tensors`
        import re
        from types import SimpleNamespace

        tensors = []
        for name, label, indices in re.findall(r"(d?\d*f)\((\w+)\)_?([a-z]*)", text):
            order = 0 if name == "f" else 1 if name == "df" else int(name[1:-1])
            tensors.append(SimpleNamespace(order=order, input=label, indices=tuple(indices)))
        return SimpleNamespace(tensors=tuple(tensors))


def _best(fn, args, repeats: int) -> float:
    import jax

    jax.block_until_ready(fn(*args))
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        runs.append(time.perf_counter() - t0)
    return min(runs)


def time_ratio(repeats: int) -> None:
    import jax
    import jax.numpy as jnp

    from limitlab.numerics import (
        MLPConfig,
        correlation_integrand,
        correlation_sample,
        default_inputs,
        float64,
        init_mlp,
        mlp_apply,
        num_parameters,
    )

    config = MLPConfig(depth=3, width=1024, input_dim=4, activation="tanh")
    four, hutchinson = _correlation(FOUR), _correlation(HUTCHINSON)
    print(f"(a) time: depth 3, width 1024, input dim 4, tanh, float64, "
          f"P = {num_parameters(config):,}")
    with float64():
        xs = {k: jnp.asarray(v) for k, v in default_inputs(["x1", "x2", "x3", "x4"], 4).items()}
        key = jax.random.key(0)
        params = init_mlp(config, key=key)
        fwd_bwd = jax.jit(
            lambda p, x: jax.value_and_grad(lambda q: mlp_apply(config, q, x))(p)
        )
        forward = jax.jit(lambda p, x: mlp_apply(config, p, x))
        draw = jax.jit(lambda k: init_mlp(config, key=k))
        times = {
            "forward": _best(forward, (params, xs["x1"]), repeats),
            "forward + backward": _best(fwd_bwd, (params, xs["x1"]), repeats),
            "network draw (init_mlp)": _best(draw, (key,), repeats),
            "4-tensor integrand": _best(
                jax.jit(lambda p: correlation_integrand(four, config, p, xs)), (params,), repeats
            ),
            "4-tensor sample (draw incl.)": _best(
                jax.jit(lambda k: correlation_sample(four, config, xs, key=k)), (key,), repeats
            ),
            "Hutchinson integrand": _best(
                jax.jit(lambda p, k: correlation_integrand(hutchinson, config, p, xs, key=k)),
                (params, key), repeats,
            ),
        }
    for name, seconds in times.items():
        print(f"    {name:32} {seconds * 1e3:9.2f} ms")
    fb = times["forward + backward"]
    print(f"    ratio 4-tensor integrand / (forward + backward): "
          f"{times['4-tensor integrand'] / fb:.1f}   (target <= 20)")
    print(f"    ratio 4-tensor sample / (draw + forward + backward): "
          f"{times['4-tensor sample (draw incl.)'] / (times['network draw (init_mlp)'] + fb):.1f}")
    print(f"    ratio 4-tensor sample / (forward + backward): "
          f"{times['4-tensor sample (draw incl.)'] / fb:.1f}   (the draw dominates)")
    print(f"    ratio Hutchinson integrand / (forward + backward): "
          f"{times['Hutchinson integrand'] / fb:.1f}")


def _memory_child(width: int) -> None:
    """In a fresh process: compile one 6-tensor sample, run it once, print memory as JSON."""
    import jax
    import jax.numpy as jnp

    from limitlab.numerics import (
        MLPConfig,
        correlation_sample,
        default_inputs,
        float64,
        num_parameters,
    )

    def status(field: str) -> int:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
        raise OSError(field)

    config = MLPConfig(depth=3, width=width, input_dim=4, activation="tanh")
    six = _correlation(SIX)
    with float64():
        labels = [f"x{i}" for i in range(1, 7)]
        xs = {k: jnp.asarray(v) for k, v in default_inputs(labels, 4).items()}
        key = jax.random.key(0)
        sample = jax.jit(lambda k: correlation_sample(six, config, xs, key=k))
        compiled = sample.lower(key).compile()
        analysis = compiled.memory_analysis()
        plan = analysis.temp_size_in_bytes + analysis.output_size_in_bytes
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
            before = status("VmRSS")
            t0 = time.perf_counter()
            value = float(compiled(key))
            seconds = time.perf_counter() - t0
            growth = status("VmHWM") - before
        except OSError:  # no /proc: not measurable this way
            t0 = time.perf_counter()
            value = float(compiled(key))
            seconds = time.perf_counter() - t0
            growth = -1
    print(json.dumps({
        "P": num_parameters(config), "plan": plan, "growth": growth, "seconds": seconds,
        "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "value": value,
    }))


def memory(width: int, threads: int) -> None:
    print(f"(b) memory: one sample of {SIX}")
    print(f"    depth 3, width {width}, input dim 4, tanh, float64 (fresh process)")
    command = [sys.executable, __file__, "--child-memory", str(width), "--threads", str(threads)]
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="1048576")
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        print(result.stderr[-3000:], file=sys.stderr)
        print("    child process failed")
        return
    info = json.loads(result.stdout.strip().splitlines()[-1])
    vector = 8 * info["P"]
    gb = 1e9
    print(f"    P = {info['P']:,}; one P-vector = {vector / 1e6:.0f} MB")
    print(f"    XLA buffer plan (temporaries + output): {info['plan'] / gb:6.2f} GB "
          f"= {info['plan'] / vector:.1f} P-vectors")
    if info["growth"] >= 0:
        print(f"    peak RSS growth during the run:         {info['growth'] / gb:6.2f} GB "
              f"= {info['growth'] / vector:.1f} P-vectors")
    print(f"    peak RSS of the process (ru_maxrss):    {info['maxrss'] / gb:6.2f} GB   "
          "(target < 4 GB)")
    print(f"    one sample took {info['seconds']:.1f} s (value {info['value']:.3e})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="BLAS/XLA threads (default 1)")
    parser.add_argument("--memory-width", type=int, default=4096)
    parser.add_argument("--child-memory", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    pin_threads(args.threads)
    if args.child_memory is not None:
        _memory_child(args.child_memory)
        return
    print(f"threads: {args.threads}")
    time_ratio(args.repeats)
    memory(args.memory_width, args.threads)


if __name__ == "__main__":
    main()
