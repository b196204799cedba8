"""The ensemble runner: one simulation over many seeds, batched, sharded, resumable.

A simulation is a function `simulate(key) -> pytree of arrays` of one PRNG key.  The runner
evaluates it for seed indices `offset, ..., offset + n_seeds - 1` with the key of index `i`
equal to `fold_in(key(seed), i)`, as one `jit` call per chunk of seeds.  Each chunk's seed axis
is sharded across the given devices (`jax.sharding.Mesh` + `jax.shard_map`), and each device
runs `vmap(simulate)` on fixed-size micro-batches, finished chunks are appended to a
checkpoint written atomically (write to a temporary file, then `os.replace`), and
`resume=True` continues from the checkpoint.  Because a seed's key depends only on
`(seed, index)`, the result is the same whatever the chunk size, the number of devices, or the
number of interruptions.

Multi-host use: call `jax.distributed.initialize()` in every process, give each process a
disjoint block of seed indices through `offset` (e.g. `offset = jax.process_index() * block`),
run with `devices=jax.local_devices()`, and concatenate the blocks in process order: the result
equals a single-host run of `n_seeds = block * jax.process_count()`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from tqdm.auto import tqdm

from ._custom_types import Key, PyTree
from ._precision import float64
from ._prng import _check_seed

__all__ = ["CheckpointMismatchError", "run_ensemble"]

_FORMAT = "limitlab-ensemble-checkpoint/1"


class CheckpointMismatchError(ValueError):
    """A checkpoint exists but was written for a different simulation or seed."""


def _fingerprint(config: Mapping[str, Any] | None) -> str:
    text = json.dumps(config or {}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _positive_int(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _write_atomic(path: Path, leaves: list[np.ndarray], meta: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            arrays = {f"leaf_{i}": leaf for i, leaf in enumerate(leaves)}
            np.savez(fh, __meta__=np.array(json.dumps(meta)), **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _read_checkpoint(path: Path) -> tuple[dict, list[np.ndarray]]:
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["__meta__"]))
        leaves = [np.array(data[f"leaf_{i}"]) for i in range(meta["n_leaves"])]
    return meta, leaves


def run_ensemble(
    simulate: Callable[[Key], PyTree],
    *,
    seed: int,
    n_seeds: int,
    offset: int = 0,
    chunk_size: int | None = None,
    microbatch: int = 256,
    devices: Sequence[jax.Device] | None = None,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    config: Mapping[str, Any] | None = None,
    progress: bool | None = None,
    description: str | None = None,
    x64: bool = True,
    check_finite: bool = True,
    on_chunk: Callable[[int, int], None] | None = None,
) -> PyTree:
    """Run `simulate(key)` for `n_seeds` seeds and stack the results along a new leading axis.

    **Arguments:**

    - `simulate`: a JAX-traceable function of one typed PRNG key returning a pytree of arrays.
    - `seed`: the base integer seed; seed index `i` uses `fold_in(key(seed), i)`.
    - `n_seeds`: number of seeds ($\\ge1$).
    - `offset`: first seed index (for splitting one ensemble across hosts or jobs).
    - `chunk_size`: seeds per compiled call and per checkpoint write (default
      `min(n_seeds, 4096)`), rounded up to a multiple of `microbatch` times the device count;
      the last chunk is padded, never recompiled.
    - `microbatch`: seeds vectorised together on one device.  Every device evaluates
      `vmap(simulate)` on batches of exactly this many seeds (`lax.map` over the rest), so the
      floating-point result of a seed does not depend on the chunk size or the number of
      devices: XLA may pick other kernels, with other rounding, for other batch shapes.
    - `devices`: devices to shard the seed axis across (default: `jax.local_devices()`).
    - `checkpoint`: path of the checkpoint file (`.npz`); written atomically after every chunk.
    - `resume`: continue from an existing checkpoint instead of starting afresh.  Asking for
      more seeds than the checkpoint holds extends it; fewer returns the first `n_seeds`.
    - `config`: JSON-serialisable description of the simulation; its hash is stored in the
      checkpoint and must match on resume.
    - `progress`: show a progress bar (default: only when stderr is a terminal).
    - `description`: label of the progress bar.
    - `x64`: trace and run in float64 (default `True`).
    - `check_finite`: stop with `FloatingPointError` naming the first seeds whose results are
      not finite (earlier chunks stay in the checkpoint).
    - `on_chunk`: callback `on_chunk(n_done, n_seeds)` after each saved chunk.

    **Returns:** the pytree of `simulate`'s outputs as numpy arrays with a leading axis of
    length `n_seeds`, in seed-index order.

    **Raises:** `ValueError`/`TypeError` for bad arguments;
    [`CheckpointMismatchError`][limitlab.numerics.CheckpointMismatchError] when resuming from a
    checkpoint of another seed or configuration.
    """
    if not callable(simulate):
        raise TypeError(f"simulate must be callable, got {type(simulate).__name__}")
    seed = _check_seed(seed)
    n_seeds = _positive_int("n_seeds", n_seeds)
    offset = _positive_int("offset", offset, minimum=0)
    if offset + n_seeds > 2**32:
        raise ValueError(f"offset + n_seeds must be <= 2**32, got {offset + n_seeds}")
    devices = list(jax.local_devices() if devices is None else devices)
    if not devices:
        raise ValueError("devices must contain at least one device")
    n_dev = len(devices)
    microbatch = _positive_int("microbatch", microbatch)
    chunk = min(n_seeds, 4096) if chunk_size is None else _positive_int("chunk_size", chunk_size)
    unit = microbatch * n_dev
    chunk = -(-chunk // unit) * unit
    path = None if checkpoint is None else Path(checkpoint)
    meta_base = {
        "format": _FORMAT,
        "seed": seed,
        "offset": offset,
        "config": _fingerprint(config),
    }
    context = float64() if x64 else contextlib.nullcontext()
    with context:
        base_key = jax.random.key(seed)

        def one(index):
            return simulate(jax.random.fold_in(base_key, index))

        shapes = jax.eval_shape(one, jnp.zeros((), jnp.uint32))
        spec_leaves, treedef = jax.tree_util.tree_flatten(shapes)
        done: list[list[np.ndarray]] = [[] for _ in spec_leaves]
        n_done = 0
        if path is not None and resume and path.exists():
            n_done, stored = _load_for_resume(path, meta_base, spec_leaves)
            done = [[leaf] for leaf in stored]
        if n_done < n_seeds:
            mesh = Mesh(np.asarray(devices), ("seeds",))
            sharding = NamedSharding(mesh, PartitionSpec("seeds"))
            batched = jax.jit(
                jax.shard_map(
                    lambda idx: jax.lax.map(one, idx, batch_size=microbatch),
                    mesh=mesh,
                    in_specs=PartitionSpec("seeds"),
                    out_specs=PartitionSpec("seeds"),
                    # Seeds never communicate, so the varying-manual-axes typing (which only
                    # serves collectives) is off: it rejects solvers such as diffrax's that
                    # start loop buffers from constants inside a seed (diffrax issue #735).
                    check_vma=False,
                )
            )
            bar = tqdm(
                total=n_seeds,
                initial=n_done,
                desc=description,
                unit="seed",
                disable=(not progress) if progress is not None else None,
                leave=False,
                file=sys.stderr,
            )
            try:
                while n_done < n_seeds:
                    take = min(chunk, n_seeds - n_done)
                    start = offset + n_done
                    indices = np.arange(start, start + chunk, dtype=np.uint32)
                    out = batched(jax.device_put(indices, sharding))
                    leaves = [np.asarray(leaf)[:take] for leaf in jax.tree_util.tree_leaves(out)]
                    if check_finite:
                        _check_chunk(leaves, start, path)
                    for store, leaf in zip(done, leaves, strict=True):
                        store.append(leaf)
                    n_done += take
                    if path is not None:
                        merged = [np.concatenate(s) for s in done]
                        done = [[m] for m in merged]
                        meta = dict(meta_base, n_done=n_done, n_leaves=len(merged))
                        _write_atomic(path, merged, meta)
                    bar.update(take)
                    if on_chunk is not None:
                        on_chunk(n_done, n_seeds)
            finally:
                bar.close()
    result = [np.concatenate(s)[:n_seeds] if s else None for s in done]
    return jax.tree_util.tree_unflatten(treedef, result)


def _load_for_resume(path: Path, meta_base: dict, spec_leaves) -> tuple[int, list[np.ndarray]]:
    try:
        meta, stored = _read_checkpoint(path)
    except (OSError, ValueError, KeyError) as err:
        raise CheckpointMismatchError(f"checkpoint {path} cannot be read: {err}") from None
    for field in ("format", "seed", "offset", "config"):
        if meta.get(field) != meta_base[field]:
            raise CheckpointMismatchError(
                f"checkpoint {path} was written with {field}={meta.get(field)!r}, this run has "
                f"{field}={meta_base[field]!r}; remove it or run without resume"
            )
    if len(stored) != len(spec_leaves) or any(
        leaf.shape[1:] != spec.shape or leaf.dtype != spec.dtype
        for leaf, spec in zip(stored, spec_leaves, strict=False)
    ):
        raise CheckpointMismatchError(
            f"checkpoint {path} holds outputs of other shapes or dtypes than this simulation"
        )
    return int(meta["n_done"]), stored


def _check_chunk(leaves: list[np.ndarray], start: int, path: Path | None) -> None:
    for leaf in leaves:
        if leaf.dtype.kind not in "fc":
            continue
        finite = np.isfinite(leaf.reshape(leaf.shape[0], -1)).all(axis=1)
        if not finite.all():
            bad = start + np.flatnonzero(~finite)
            kept = f"; finished seeds are kept in {path}" if path is not None else ""
            raise FloatingPointError(
                f"simulation returned non-finite values for seed index(es) "
                f"{bad[:5].tolist()}{' ...' if bad.size > 5 else ''}{kept}"
            )
