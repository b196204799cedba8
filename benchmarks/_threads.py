"""Thread pinning shared by the benchmark scripts (imported before numpy or JAX load)."""

import os


def pin_threads(threads: int) -> None:
    """Fix the BLAS and XLA CPU thread counts and keep JAX on the CPU.

    On small shared machines a multi-threaded LAPACK can be an order of magnitude slower and
    noisier than a single-threaded one, which would swamp the measured ratios.  Must run before
    numpy, scipy or JAX is imported.
    """
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(threads)
    flags = os.environ.get("XLA_FLAGS", "")
    if threads == 1 and "xla_cpu_multi_thread_eigen" not in flags:
        os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false").strip()
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
