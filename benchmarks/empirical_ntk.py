"""Cost of the layer-wise empirical NTK against materialising the Jacobian.

Network: 2 hidden layers, ReLU, width 1024, input dimension 10, NTK parametrisation, float32
(P = 1,059,840 parameters); 256 random inputs.  Two ways to get the 256 x 256 kernel
Theta = J J^T, both compiled with `jax.jit`:

(a) `limitlab.numerics.empirical_ntk`: one forward pass storing the layer inputs H_{l-1}, one
    reverse pass giving the pre-activation gradients Delta_l, then
    sum_l (Delta_l Delta_l^T) * (c_l^2 H_{l-1} H_{l-1}^T): O(N^2 n L) work, O(N n L) memory;
(b) the Jacobian J = `jax.jacrev` over the flat parameter vector (N x P, about 1.1 GB here),
    then J @ J.T: O(N^2 P) work, O(N P) memory.

Prints the warm times (best of `--repeats`, compilation excluded and reported separately),
the ratio (b) / (a) (target >= 10), XLA's buffer plan of each (`memory_analysis`) and the
largest relative difference between the two kernels.  BLAS/XLA threads are pinned
(`--threads`, default 1) before JAX is imported.  Not a test: machines are shared and noisy.

    python3 benchmarks/empirical_ntk.py [--inputs 256] [--width 1024] [--repeats 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import time

from _threads import pin_threads  # benchmarks/ is the script directory


def _timed(fn, args, repeats: int) -> tuple[float, float, object]:
    """(first call, best warm call) in seconds, and the result."""
    import jax

    t0 = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    first = time.perf_counter() - t0
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = jax.block_until_ready(fn(*args))
        runs.append(time.perf_counter() - t0)
    return first, min(runs), out


def _bytes(fn, args) -> int:
    analysis = fn.lower(*args).compile().memory_analysis()
    return analysis.temp_size_in_bytes + analysis.output_size_in_bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=256)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="BLAS/XLA threads (default 1)")
    args = parser.parse_args()
    pin_threads(args.threads)

    import jax
    import jax.numpy as jnp
    import numpy as np

    from limitlab.numerics import MLPConfig, empirical_ntk, init_mlp, num_parameters, ravel_mlp

    config = MLPConfig(depth=2, width=args.width, input_dim=10, activation="relu")
    params = init_mlp(config, key=jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (args.inputs, 10), jnp.float32)
    theta, apply = ravel_mlp(config, params)
    assert theta.dtype == jnp.float32

    layerwise = jax.jit(lambda p, x: empirical_ntk(config, p, x))

    @jax.jit
    def materialised(theta, x):
        jac = jax.jacrev(apply)(theta, x)
        return jac @ jac.T

    p = num_parameters(config)
    print(f"threads: {args.threads}; depth 2, ReLU, width {args.width}, input dim 10, "
          f"{args.inputs} inputs, float32, P = {p:,}")
    first_a, warm_a, theta_a = _timed(layerwise, (params, x), args.repeats)
    first_b, warm_b, theta_b = _timed(materialised, (theta, x), args.repeats)
    mem_a, mem_b = _bytes(layerwise, (params, x)), _bytes(materialised, (theta, x))
    diff = float(jnp.max(jnp.abs(theta_a - theta_b)) / jnp.max(jnp.abs(theta_b)))
    print(f"{'':32} {'warm (best)':>12} {'compile':>10} {'XLA temp+out':>14}")
    print(f"{'(a) empirical_ntk (layer-wise)':32} {warm_a * 1e3:>9.1f} ms "
          f"{(first_a - warm_a):>8.2f} s {mem_a / 2**20:>11.1f} MB")
    print(f"{'(b) jacrev + J @ J.T':32} {warm_b * 1e3:>9.1f} ms "
          f"{(first_b - warm_b):>8.2f} s {mem_b / 2**20:>11.1f} MB")
    print(f"ratio (b) / (a): {warm_b / warm_a:.1f}x   (target >= 10x)")
    print(f"max |Theta_a - Theta_b| / max |Theta_b| = {diff:.1e} (float32); "
          f"mean diagonal {float(np.mean(np.diag(np.asarray(theta_a)))):.3f}")


if __name__ == "__main__":
    main()
