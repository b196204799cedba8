"""Cost of iterative linearisation against plain SGD, and of a sweep over the period K.

(a) Time of one step of `iterative_linearised_training` (K = 1, 10 and inf) against one plain
    `optax.sgd` step of the same network on the same batch: MLP width 512, depth 2, ReLU, NTK
    parametrisation, input dimension 64, 10 outputs (P = 300,032), cross-entropy, a full
    batch of 128 examples, float32 and float64.  A linearised step evaluates
    `jax.linearize` at the linearisation point (forward + JVP) and the transposed JVP (VJP):
    target <= 2.5x a plain step (forward + VJP).  Both run many steps inside one compiled
    `fori_loop`; the time of one step is (time of S2 steps - time of S1 steps) / (S2 - S1),
    which cancels the fixed cost of the call (the two records of the linearised run, the
    transfers).  Each repetition times all four in turn (the ratios are medians of the
    per-repetition ratios, robust to a shared machine's changing load); compilation excluded.
(b) A sweep over 6 periods K = 1, 3, 10, 30, 100, inf of one initialisation (width 512,
    depth 2, x ~ N(0, I_8), y = 1[x_1 x_2 > 0], 512 training points, minibatch 64, float64):
    one `vmap`-ed call over an int32 array of periods (what `limitlab linearise` runs) against
    6 separate calls.  Printed: backend compilations of the training program (from
    `jax.monitoring`) and wall times, cold (compilation included) and warm (median of at
    most 3 interleaved repetitions).  K is not a
    static argument, so both compile once.
(c) Peak memory of the sweep of (b) in a fresh process: XLA's buffer plan (`memory_analysis`:
    temporaries + outputs) of the vmapped and of one single-K program, the growth of the
    resident set during one run of the compiled sweep (`VmHWM` after a reset) and the
    process's `ru_maxrss`.

BLAS/XLA threads are pinned (`--threads`, default 1) before JAX is imported.  Not a test:
machines are shared and noisy.

    python3 benchmarks/iterative_linearisation.py [--quick] [--repeats 9] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

from _threads import pin_threads  # benchmarks/ is the script directory

WIDTH, DEPTH, INPUT_DIM, CLASSES, BATCH = 512, 2, 64, 10, 128
SWEEP = (1, 3, 10, 30, 100, None)  # None: K = inf
COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


def _elapsed(fn, args) -> float:
    import jax

    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - t0


def _step_times(x64: bool, steps: tuple[int, int], repeats: int) -> dict[str, list[float]]:
    """Seconds per step of plain SGD and of iterative linearisation with K = 1, 10, inf, one
    value per repetition.  Every repetition times all of them in turn, so that a change of the
    machine's load between repetitions shifts them together and their ratios stay fair."""
    import contextlib
    import functools

    import jax
    import jax.numpy as jnp
    import optax

    from limitlab.numerics import (
        MLPConfig,
        float64,
        init_mlp,
        iterative_linearised_training,
        mlp_apply,
    )

    config = MLPConfig(depth=DEPTH, width=WIDTH, input_dim=INPUT_DIM, activation="relu",
                       output_dim=CLASSES)
    apply_fn = functools.partial(mlp_apply, config)
    with float64() if x64 else contextlib.nullcontext():
        dtype = jnp.result_type(float)
        key_x, key_y, key_p = jax.random.split(jax.random.key(0), 3)
        x = jax.random.normal(key_x, (BATCH + 1, INPUT_DIM), dtype=dtype)
        y = jax.random.randint(key_y, (BATCH + 1,), 0, CLASSES)
        params = init_mlp(config, key=key_p)
        lr = jnp.asarray(0.1, dtype)

        def plain(n):
            opt = optax.sgd(0.1)

            def loss(p):
                f = apply_fn(p, x[:BATCH])
                return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(f, y[:BATCH]))

            def step(_, carry):
                p, state = carry
                updates, state = opt.update(jax.grad(loss)(p), state, p)
                return optax.apply_updates(p, updates), state

            return jax.jit(lambda p: jax.lax.fori_loop(0, n, step, (p, opt.init(p)))[0])

        def linearised(n, period):
            # full batch of 128 (the first 128 rows), one test point, records at 0 and n only
            def run(p):
                out = iterative_linearised_training(
                    apply_fn, p, x_train=x[:BATCH], y_train=y[:BATCH], x_test=x[BATCH:],
                    y_test=y[BATCH:], steps=n, period=period, learning_rate=lr,
                    key=jax.random.key(1), loss="cross-entropy", record_every=n,
                    evaluate_network=False)
                return out["params"]

            return run

        runs = {"plain SGD (optax)": [plain(n) for n in steps]}
        for label, period in (("K = 1", 1), ("K = 10", 10), ("K = inf", None)):
            runs[f"linearised, {label}"] = [linearised(n, period) for n in steps]
        for pair in runs.values():  # warm-up: compilation
            for fn in pair:
                _elapsed(fn, (params,))
        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(repeats):
            for name, (low, high) in runs.items():
                times[name].append((_elapsed(high, (params,)) - _elapsed(low, (params,)))
                                   / (steps[1] - steps[0]))
    return times


def time_ratio(steps: tuple[int, int], repeats: int) -> None:
    from limitlab.numerics import MLPConfig, num_parameters

    config = MLPConfig(depth=DEPTH, width=WIDTH, input_dim=INPUT_DIM, activation="relu",
                       output_dim=CLASSES)
    print(f"(a) one step: width {WIDTH}, depth {DEPTH}, input dim {INPUT_DIM}, {CLASSES} "
          f"outputs, P = {num_parameters(config):,}, batch {BATCH}, cross-entropy")
    print(f"    per step = (t({steps[1]} steps) - t({steps[0]} steps)) / {steps[1] - steps[0]}; "
          f"medians over {repeats} interleaved repetitions (ratios: median of the per-"
          "repetition ratios)")
    for x64 in (False, True):
        times = _step_times(x64, steps, repeats)
        plain = times["plain SGD (optax)"]
        print(f"    {'float32' if not x64 else 'float64'}:")
        worst = 0.0
        for name, values in times.items():
            ratio = ""
            if not name.startswith("plain"):
                r = statistics.median(v / p for v, p in zip(values, plain, strict=True))
                worst = max(worst, r)
                ratio = f"   ratio {r:5.2f}"
            print(f"      {name:22} {statistics.median(values) * 1e3:8.3f} ms{ratio}")
        print(f"      largest ratio linearised / plain: {worst:.2f}   (target <= 2.5)")


# ------------------------------------------------------------------------------------------
# (b) and (c): the K sweep


def _sweep_setup(steps: int):
    import functools

    import jax
    import jax.numpy as jnp

    from limitlab.numerics import (
        MLPConfig,
        init_mlp,
        iterative_linearised_training,
        mlp_apply,
        sign_product_dataset,
    )

    config = MLPConfig(depth=DEPTH, width=WIDTH, input_dim=8, activation="relu", output_dim=2)
    apply_fn = functools.partial(mlp_apply, config)
    data = sign_product_dataset(n_train=512, n_test=1000, key=jax.random.key(0))
    params = init_mlp(config, key=jax.random.key(1))
    kwargs = dict(**data._asdict(), steps=steps, learning_rate=0.5, key=jax.random.key(2),
                  loss="cross-entropy", batch_size=64, record_every=steps,
                  evaluate_network=False)

    def single(p, period):
        out = iterative_linearised_training(apply_fn, p, period=period, **kwargs)
        return out["test_accuracy"][-1]

    @jax.jit
    def vmapped(p, periods):
        return jax.vmap(lambda k: single(p, k))(periods)

    periods = jnp.asarray([0 if k is None else k for k in SWEEP], dtype=jnp.int32)
    return single, vmapped, params, periods


class _Compilations:
    """Backend compilations whose function name contains one of `names` (jax.monitoring)."""

    def __init__(self, *names: str):
        self.names, self.count = names, 0

    def __call__(self, event, duration, **kwargs):
        if event == COMPILE_EVENT and any(n in str(kwargs.get("fun_name")) for n in self.names):
            self.count += 1

    def __enter__(self):
        import jax

        jax.monitoring.register_event_duration_secs_listener(self)
        return self

    def __exit__(self, *exc):
        import jax

        jax.monitoring.unregister_event_duration_listener(self)


def sweep(steps: int, repeats: int) -> None:
    import jax
    import numpy as np

    from limitlab.numerics import float64

    labels = ", ".join("inf" if k is None else str(k) for k in SWEEP)
    print(f"(b) sweep over K = {labels}: width {WIDTH}, depth {DEPTH}, 512 points x ~ N(0, I_8), "
          f"batch 64, {steps} steps, float64")
    with float64():
        single, vmapped, params, periods = _sweep_setup(steps)
        with _Compilations("vmapped") as vm:
            t0 = time.perf_counter()
            together = np.asarray(jax.block_until_ready(vmapped(params, periods)))
            cold_vmap = time.perf_counter() - t0
        with _Compilations("_train") as sep:
            t0 = time.perf_counter()
            apart = np.asarray([float(single(params, k)) for k in SWEEP])
            cold_sep = time.perf_counter() - t0

        def separate():
            return [single(params, k) for k in SWEEP]

        warm_vmap, warm_sep = [], []
        for _ in range(repeats):  # interleaved, as in (a)
            warm_vmap.append(_elapsed(vmapped, (params, periods)))
            warm_sep.append(_elapsed(separate, ()))
        ratio = statistics.median(v / s for v, s in zip(warm_vmap, warm_sep, strict=True))
        warm_vmap, warm_sep = statistics.median(warm_vmap), statistics.median(warm_sep)
    print(f"    one vmapped call:  {vm.count} compilation(s); cold {cold_vmap:6.2f} s, "
          f"warm {warm_vmap:6.2f} s")
    print(f"    {len(SWEEP)} separate calls: {sep.count} compilation(s); cold {cold_sep:6.2f} s, "
          f"warm {warm_sep:6.2f} s")
    print(f"    warm ratio vmapped / separate: {ratio:.2f}; largest difference "
          f"of the test accuracies {np.max(np.abs(together - apart)):.1e}")
    print(f"    test accuracy per K: {', '.join(f'{a:.3f}' for a in together)}")


def _memory_child(steps: int) -> None:
    """In a fresh process: compile the sweep, run it once, print memory as JSON."""
    import jax

    from limitlab.numerics import float64

    def status(field: str) -> int:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
        raise OSError(field)

    def plan(compiled) -> int:
        analysis = compiled.memory_analysis()
        return analysis.temp_size_in_bytes + analysis.output_size_in_bytes

    with float64():
        single, vmapped, params, periods = _sweep_setup(steps)
        compiled = vmapped.lower(params, periods).compile()
        one = jax.jit(single).lower(params, periods[0]).compile()
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
            before = status("VmRSS")
            jax.block_until_ready(compiled(params, periods))
            growth = status("VmHWM") - before
        except OSError:  # no /proc: not measurable this way
            jax.block_until_ready(compiled(params, periods))
            growth = -1
    print(json.dumps({"plan_sweep": plan(compiled), "plan_one": plan(one), "growth": growth,
                      "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))


def memory(steps: int, threads: int) -> None:
    print(f"(c) memory of the sweep of (b), {len(SWEEP)} K values (fresh process)")
    command = [sys.executable, __file__, "--child-memory", str(steps), "--threads", str(threads)]
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="1048576")
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        print(result.stderr[-3000:], file=sys.stderr)
        print("    child process failed")
        return
    info = json.loads(result.stdout.strip().splitlines()[-1])
    mb = 1e6
    print(f"    XLA buffer plan, vmapped sweep:  {info['plan_sweep'] / mb:8.1f} MB "
          f"({info['plan_sweep'] / info['plan_one']:.1f}x one K: {info['plan_one'] / mb:.1f} MB)")
    if info["growth"] >= 0:
        print(f"    peak RSS growth during one run:  {info['growth'] / mb:8.1f} MB")
    print(f"    peak RSS of the process:         {info['maxrss'] / mb:8.1f} MB (ru_maxrss)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="fewer steps and 5 repetitions (a few minutes on one core)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="warm repetitions (default 9, 5 with --quick)")
    parser.add_argument("--threads", type=int, default=1, help="BLAS/XLA threads (default 1)")
    parser.add_argument("--child-memory", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    pin_threads(args.threads)
    if args.child_memory is not None:
        _memory_child(args.child_memory)
        return
    repeats = args.repeats or (5 if args.quick else 9)
    step_counts = (20, 80) if args.quick else (50, 250)
    sweep_steps = 100 if args.quick else 1000
    print(f"threads: {args.threads}")
    time_ratio(step_counts, repeats)
    sweep(sweep_steps, min(repeats, 3))
    memory(sweep_steps, args.threads)


if __name__ == "__main__":
    main()
