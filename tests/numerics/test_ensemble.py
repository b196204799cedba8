import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from limitlab.numerics import CheckpointMismatchError, run_ensemble


def simulate(key):
    k1, k2 = jax.random.split(key)
    x = jax.random.normal(k1, (3,))
    return {"x": x, "stat": jnp.sum(x**2) * jax.random.uniform(k2)}


def _equal(a, b):
    return all(np.array_equal(a[k], b[k]) for k in a)


class Interrupt(Exception):
    pass


def test_shapes_dtype_and_float64():
    out = run_ensemble(simulate, seed=3, n_seeds=10)
    assert out["x"].shape == (10, 3) and out["stat"].shape == (10,)
    assert out["x"].dtype == np.float64


def test_seed_index_key_is_fold_in():
    out = run_ensemble(simulate, seed=3, n_seeds=5)
    with jax.enable_x64(True):
        direct = simulate(jax.random.fold_in(jax.random.key(3), 4))
    np.testing.assert_array_equal(out["x"][4], np.asarray(direct["x"]))


@settings(max_examples=6)
@given(
    n_seeds=st.integers(1, 40),
    chunk=st.integers(1, 64),
    microbatch=st.sampled_from([4, 16]),
)
def test_chunking_does_not_change_results(n_seeds, chunk, microbatch):
    reference = run_ensemble(simulate, seed=0, n_seeds=n_seeds, microbatch=microbatch)
    chunked = run_ensemble(
        simulate, seed=0, n_seeds=n_seeds, chunk_size=chunk, microbatch=microbatch
    )
    assert _equal(reference, chunked)


@settings(max_examples=6)
@given(
    n_seeds=st.integers(2, 60),
    chunk=st.integers(1, 20),
    stop_after=st.integers(1, 5),
    resume_chunk=st.integers(1, 20),
)
def test_resume_after_interruption_equals_uninterrupted(
    tmp_path_factory, n_seeds, chunk, stop_after, resume_chunk
):
    path = tmp_path_factory.mktemp("ckpt") / "run.npz"
    full = run_ensemble(simulate, seed=7, n_seeds=n_seeds, microbatch=4)
    calls = []

    def interrupt(done, total):
        calls.append(done)
        if len(calls) >= stop_after and done < total:
            raise Interrupt

    try:
        run_ensemble(
            simulate, seed=7, n_seeds=n_seeds, chunk_size=chunk, microbatch=4,
            checkpoint=path, on_chunk=interrupt,
        )
    except Interrupt:
        pass
    # Every chunk finished before the interruption is in the checkpoint.
    with np.load(path) as data:
        assert json.loads(str(data["__meta__"]))["n_done"] == calls[-1]
    resumed = run_ensemble(
        simulate, seed=7, n_seeds=n_seeds, chunk_size=resume_chunk, microbatch=4,
        checkpoint=path, resume=True,
    )
    assert _equal(full, resumed)


def test_resume_extends_and_truncates(tmp_path):
    path = tmp_path / "c.npz"
    first = run_ensemble(simulate, seed=1, n_seeds=8, checkpoint=path, microbatch=4)
    more = run_ensemble(simulate, seed=1, n_seeds=20, checkpoint=path, resume=True, microbatch=4)
    direct = run_ensemble(simulate, seed=1, n_seeds=20, microbatch=4)
    assert _equal(more, direct)
    assert np.array_equal(first["x"], more["x"][:8])
    fewer = run_ensemble(simulate, seed=1, n_seeds=5, checkpoint=path, resume=True)
    assert np.array_equal(fewer["x"], direct["x"][:5])


def test_without_resume_starts_afresh(tmp_path):
    path = tmp_path / "c.npz"
    run_ensemble(simulate, seed=1, n_seeds=4, checkpoint=path, config={"a": 1})
    out = run_ensemble(simulate, seed=2, n_seeds=4, checkpoint=path, config={"a": 2})
    assert np.array_equal(out["x"], run_ensemble(simulate, seed=2, n_seeds=4)["x"])


@pytest.mark.parametrize(
    "change, field",
    [({"seed": 2}, "seed"), ({"config": {"width": 9}}, "config"), ({"offset": 3}, "offset")],
)
def test_mismatched_checkpoint_is_refused(tmp_path, change, field):
    path = tmp_path / "c.npz"
    base = {"seed": 1, "config": {"width": 8}, "offset": 0}
    run_ensemble(simulate, n_seeds=4, checkpoint=path, **base)
    with pytest.raises(CheckpointMismatchError, match=field):
        run_ensemble(simulate, n_seeds=8, checkpoint=path, resume=True, **(base | change))


def test_checkpoint_of_other_shapes_is_refused(tmp_path):
    path = tmp_path / "c.npz"
    run_ensemble(simulate, seed=1, n_seeds=4, checkpoint=path)
    with pytest.raises(CheckpointMismatchError, match="shapes"):
        run_ensemble(lambda k: {"x": jax.random.normal(k, (4,)), "stat": jnp.zeros(())},
                     seed=1, n_seeds=8, checkpoint=path, resume=True)


def test_no_temporary_files_are_left(tmp_path):
    run_ensemble(simulate, seed=1, n_seeds=10, chunk_size=2, microbatch=2,
                 checkpoint=tmp_path / "c.npz")
    assert sorted(os.listdir(tmp_path)) == ["c.npz"]


def test_non_finite_results_stop_the_run_and_keep_finished_seeds(tmp_path):
    path = tmp_path / "c.npz"

    def sometimes_nan(key):
        u = jax.random.uniform(key)
        return jnp.where(u < 0.05, jnp.nan, u)

    with pytest.raises(FloatingPointError, match="seed index"):
        run_ensemble(sometimes_nan, seed=0, n_seeds=400, chunk_size=8, microbatch=8,
                     checkpoint=path)
    with np.load(path) as data:
        kept = data["leaf_0"]
    assert np.all(np.isfinite(kept))


def test_offset_blocks_concatenate_to_the_whole():
    whole = run_ensemble(simulate, seed=4, n_seeds=12, microbatch=4)
    a = run_ensemble(simulate, seed=4, n_seeds=5, microbatch=4)
    b = run_ensemble(simulate, seed=4, n_seeds=7, offset=5, microbatch=4)
    assert np.array_equal(whole["x"], np.concatenate([a["x"], b["x"]]))


@pytest.mark.parametrize(
    "kwargs, error, fragment",
    [
        ({"n_seeds": 0}, ValueError, "n_seeds must be >= 1"),
        ({"n_seeds": 2.5}, TypeError, "n_seeds must be an integer"),
        ({"n_seeds": 3, "seed": -1}, ValueError, "seed must lie in"),
        ({"n_seeds": 3, "seed": "a"}, TypeError, "seed must be an integer"),
        ({"n_seeds": 3, "chunk_size": 0}, ValueError, "chunk_size must be >= 1"),
        ({"n_seeds": 3, "devices": []}, ValueError, "devices must contain"),
    ],
)
def test_bad_arguments(kwargs, error, fragment):
    kwargs = {"seed": 0, **kwargs}
    with pytest.raises(error, match=fragment):
        run_ensemble(simulate, **kwargs)


_DEVICE_SCRIPT = textwrap.dedent(
    """
    import sys
    import jax, jax.numpy as jnp, numpy as np
    from limitlab.numerics import run_ensemble, two_layer_output

    def simulate(key):
        k1, k2 = jax.random.split(key)
        x = jax.random.normal(k1, (5, 4))
        return {"f": two_layer_output(x, 64, key=k2), "s": jnp.sum(jnp.sin(x) @ x.T)}

    out = run_ensemble(simulate, seed=11, n_seeds=300, chunk_size=int(sys.argv[2]),
                       microbatch=16)
    assert len(jax.devices()) == int(sys.argv[3]), jax.devices()
    np.savez(sys.argv[1], **out)
    """
)


@pytest.mark.parametrize("devices", [4])
def test_identical_results_on_one_and_several_devices(tmp_path, devices):
    outputs = []
    for n_dev, chunk in ((1, 48), (devices, 128)):
        env = dict(os.environ, JAX_PLATFORMS="cpu",
                   XLA_FLAGS=f"--xla_force_host_platform_device_count={n_dev}")
        target = tmp_path / f"out{n_dev}.npz"
        proc = subprocess.run(
            [sys.executable, "-c", _DEVICE_SCRIPT, str(target), str(chunk), str(n_dev)],
            env=env, capture_output=True, text=True,
        )
        assert proc.returncode == 0, proc.stderr
        with np.load(target) as data:
            outputs.append({k: data[k] for k in data.files})
    assert outputs[0].keys() == outputs[1].keys()
    for name in outputs[0]:
        np.testing.assert_array_equal(outputs[0][name], outputs[1][name])


def test_simulations_with_diffrax_solvers_run_sharded():
    """diffrax starts loop buffers from constants inside a seed; the sharded runner accepts it
    (shard_map's varying-axes typing is off, since seeds never communicate) and the result
    equals the same solve outside the runner."""
    import diffrax

    def simulate(key):
        rate = 1.0 + jax.random.uniform(key, dtype=jnp.float64)
        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(lambda t, y, args: -args * y), diffrax.Tsit5(), 0.0, 1.0, 0.05,
            jnp.ones(2), args=rate, saveat=diffrax.SaveAt(t1=True),
            stepsize_controller=diffrax.PIDController(rtol=1e-10, atol=1e-12))
        return {"y": sol.ys[-1], "rate": rate}

    out = run_ensemble(simulate, seed=3, n_seeds=5, microbatch=2, progress=False)
    np.testing.assert_allclose(out["y"], np.exp(-out["rate"])[:, None] * np.ones(2), rtol=1e-8)
    assert len(set(np.round(out["rate"], 12))) == 5
