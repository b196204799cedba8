import dataclasses
import string

import jax
import numpy as np
import pytest

from limitlab.numerics import (
    MLPConfig,
    correlation_estimate,
    correlation_integrand,
    correlation_sample,
    default_inputs,
    float64,
    init_mlp,
    ravel_mlp,
    run_ensemble,
    width_sweep,
)

Z = 4.0  # statistical checks: |estimate - exact| < Z standard errors


# A local stand-in for limitlab.theory's CorrelationFunction (duck-typed: `.tensors` of objects
# with `.order`, `.input`, `.indices`).
@dataclasses.dataclass(frozen=True)
class Tensor:
    order: int
    input: str
    indices: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Correlation:
    tensors: tuple[Tensor, ...]


def corr(*specs):
    """`corr("x1:a", "x2:a")`: one tensor per spec, `input:indices` (one letter per index)."""
    tensors = []
    for spec in specs:
        label, _, indices = spec.partition(":")
        tensors.append(Tensor(len(indices), label, tuple(indices)))
    return Correlation(tuple(tensors))


NNGP = corr("x1:", "x2:")
NTK = corr("x1:a", "x2:a")
FOUR = corr("x1:", "x2:", "x3:", "x4:")
DTHETA = corr("x1:a", "x2:b", "x3:ab", "x4:")  # reference §8 #4
THIRD = corr("x1:a", "x2:b", "x3:c", "x4:abc")  # #5
SIX = corr("x1:a", "x2:b", "x3:ab", "x4:c", "x1:d", "x2:cd")  # #6 (inputs reused)
THETA_THETA = corr("x1:a", "x2:a", "x3:b", "x4:b")  # #8: two clusters
NTK_DIAGONAL = corr("x1:a", "x1:a")
SAME_GRADIENT = corr("x2:a", "x3:ab", "x2:b")
EXACT_PATTERNS = [NNGP, NTK, FOUR, DTHETA, THIRD, SIX, THETA_THETA, NTK_DIAGONAL, SAME_GRADIENT]

HESSIAN_FROBENIUS = corr("x1:ab", "x2:ab")  # #11: two Hutchinson pairs
HESSIAN_TRACE = corr("x1:aa")  # a trace
HVP_NORM = corr("x1:ab", "x2:b", "x1:ac", "x2:c")  # #13: ||H(x1) g(x2)||^2
MIXED = corr("x1:aab", "x2:b", "x3:")  # trace inside an order-3 tensor, one gradient
SKETCHED_PATTERNS = [HESSIAN_FROBENIUS, HESSIAN_TRACE, HVP_NORM, MIXED]


def brute_force(correlation, config, params, inputs, cache=None):
    """Materialise every derivative tensor (nested jacfwd) and contract with einsum."""
    theta, apply = ravel_mlp(config, params)
    cache = {} if cache is None else cache
    letters = {}
    operands, subscripts = [], []
    for tensor in correlation.tensors:
        key = (tensor.order, tensor.input)
        if key not in cache:

            def fun(t, x=inputs[tensor.input]):
                return apply(t, x)

            for _ in range(tensor.order):
                fun = jax.jacfwd(fun)
            cache[key] = np.asarray(fun(theta))
        operands.append(cache[key])
        subscripts.append(
            "".join(letters.setdefault(i, string.ascii_letters[len(letters)])
                    for i in tensor.indices)
        )
    return float(np.einsum(",".join(subscripts) + "->", *operands))


# P = 56; one shape for all, so that eager op caches are shared between them.
SMALL = [
    MLPConfig(depth=2, width=5, input_dim=3, activation="tanh", bias_std=0.3),
    MLPConfig(depth=2, width=5, input_dim=3, activation="erf", bias_std=0.3,
              parametrization="standard", input_scaling=False),
    MLPConfig(depth=2, width=5, input_dim=3, activation="relu", bias_std=0.3,
              parametrization="mean-field"),
]


@pytest.fixture(scope="module")
def inputs():
    return default_inputs(["x1", "x2", "x3", "x4"], 3, radius=np.sqrt(3.0))


def test_exact_patterns_match_materialised_tensors(inputs):
    with float64():
        for c, config in enumerate(SMALL):
            params = init_mlp(config, key=jax.random.key(20 + c))
            cache = {}
            # The order-3 brute force (P^3 entries, slow to compile) only for the first.
            for pattern in EXACT_PATTERNS if c == 0 else [p for p in EXACT_PATTERNS if p != THIRD]:
                got = float(correlation_integrand(pattern, config, params, inputs))
                expected = brute_force(pattern, config, params, inputs, cache)
                assert got == pytest.approx(expected, rel=1e-10, abs=1e-14), (config, pattern)


def test_correlation_sample_uses_split_key(inputs):
    config = SMALL[0]
    key = jax.random.key(3)
    with float64():
        k_params, _ = jax.random.split(key)
        params = init_mlp(config, key=k_params)
        sample = correlation_sample(DTHETA, config, inputs, key=key)
        assert float(sample) == pytest.approx(brute_force(DTHETA, config, params, inputs),
                                              rel=1e-10)
        # No Hutchinson pairs: the probe key is irrelevant.
        a = correlation_integrand(SIX, config, params, inputs, key=jax.random.key(1))
        b = correlation_integrand(SIX, config, params, inputs, key=jax.random.key(2))
    assert float(a) == float(b)


def test_hutchinson_patterns_are_unbiased(inputs):
    config = SMALL[0]
    n_draws = 2000
    with float64():
        params = init_mlp(config, key=jax.random.key(7))
        cache = {}
        expected = [brute_force(p, config, params, inputs, cache) for p in SKETCHED_PATTERNS]

        @jax.jit
        @jax.vmap
        def draws(k):
            return [correlation_integrand(p, config, params, inputs, key=k)
                    for p in SKETCHED_PATTERNS]

        values = np.asarray(draws(jax.random.split(jax.random.key(8), n_draws)))
        averaged = float(jax.jit(lambda k: correlation_integrand(
            HESSIAN_FROBENIUS, config, params, inputs, key=k, n_probes=n_draws
        ))(jax.random.key(9)))
    for pattern, exact, samples in zip(SKETCHED_PATTERNS, expected, values, strict=True):
        sem = samples.std(ddof=1) / np.sqrt(n_draws)
        assert np.std(samples) > 1e-6 * abs(exact)  # the sketch really is random
        assert abs(samples.mean() - exact) < Z * sem, (pattern, samples.mean(), exact, sem)
    frobenius_sem = values[0].std(ddof=1) / np.sqrt(n_draws)
    assert abs(averaged - expected[0]) < Z * frobenius_sem


def test_through_theory_parse_correlation(inputs):
    from limitlab.theory import parametrization, parse_correlation

    config = SMALL[0]
    with float64():
        params = init_mlp(config, key=jax.random.key(20))
        parsed = parse_correlation("-2*E[df(x1)_a df(x2)_b d2f(x3)_ab f(x4)]")
        # The coefficient is not applied: the sample is the bare contracted product.
        assert float(correlation_integrand(parsed, config, params, inputs)) == pytest.approx(
            float(correlation_integrand(DTHETA, config, params, inputs)), rel=1e-12
        )
        key = jax.random.key(5)
        trace = parse_correlation("E[d2f(x1)_aa]")
        assert float(correlation_integrand(trace, config, params, inputs, key=key)) == float(
            correlation_integrand(HESSIAN_TRACE, config, params, inputs, key=key)
        )
    mean_field = MLPConfig(depth=1, width=4, input_dim=3, activation="relu",
                           parametrization=parametrization("mean-field"))
    assert mean_field.parametrization == "mean-field"


def test_one_hidden_layer_linear_exact_finite_width_values():
    # random-tensor-orders.md §8, end: f = n^-1/2 sum_i V_i U_i x, D_in = 1.
    n, n_seeds = 4, 12000
    x, xp = 1.0, -0.7
    config = MLPConfig(depth=1, width=n, input_dim=1, activation="linear")
    inputs = {"x": np.array([x]), "y": np.array([xp])}
    nngp, fourth, theta = corr("x:", "y:"), corr("x:", "x:", "x:", "x:"), corr("x:a", "y:a")

    def simulate(key):
        return {
            "nngp": correlation_sample(nngp, config, inputs, key=key),
            "fourth": correlation_sample(fourth, config, inputs, key=key),
            "theta": correlation_sample(theta, config, inputs, key=key),
        }

    out = run_ensemble(simulate, seed=11, n_seeds=n_seeds)

    def check(samples, exact):
        sem = samples.std(ddof=1) / np.sqrt(samples.size)
        assert abs(samples.mean() - exact) < Z * sem, (samples.mean(), exact, sem)

    check(out["nngp"], x * xp)  # E f(x) f(x') = x x'
    check(out["fourth"], 3 + 6 / n)  # E f^4 = 3 + 6/n at x = 1
    check(out["theta"], 2 * x * xp)  # E Theta = 2 x x'
    # Var Theta = 4 (x x')^2 / n; standard error of the sample variance from the 4th moment.
    centred = out["theta"] - out["theta"].mean()
    variance = np.mean(centred**2)
    var_sem = np.sqrt((np.mean(centred**4) - variance**2) / n_seeds)
    assert abs(variance - 4 * (x * xp) ** 2 / n) < Z * var_sem
    # Per sample, Theta is exactly (1/n) sum (U^2 + V^2) x x'.
    with float64():
        key = jax.random.fold_in(jax.random.key(11), 5)
        params = init_mlp(config, key=jax.random.split(key)[0])
        u, v = np.asarray(params[0]["W"][:, 0]), np.asarray(params[1]["W"][0])
    assert out["theta"][5] == pytest.approx(np.sum(u**2 + v**2) / n * x * xp, rel=1e-12)


def test_odd_number_of_tensors_has_mean_zero(inputs):
    config = MLPConfig(depth=2, width=8, input_dim=3, activation="relu", bias_std=0.2)
    patterns = (corr("x1:", "x2:", "x3:"), corr("x1:a", "x2:a", "x3:"))

    def simulate(key):
        return [correlation_sample(p, config, inputs, key=key) for p in patterns]

    for samples in run_ensemble(simulate, seed=2, n_seeds=2000):
        sem = samples.std(ddof=1) / np.sqrt(samples.size)
        assert sem > 0 and abs(samples.mean()) < Z * sem


def test_jit_vmap_and_ensemble_agree(inputs):
    # run_ensemble vmaps correlation_sample over micro-batches of keys.
    config = SMALL[0]
    samples = correlation_estimate(HESSIAN_TRACE, config, inputs, seed=4, n_seeds=5,
                                   microbatch=2)
    assert samples.shape == (5,) and samples.dtype == np.float64
    static = jax.jit(correlation_sample, static_argnums=(0, 1))
    with float64():
        for i in (0, 3, 4):
            key = jax.random.fold_in(jax.random.key(4), i)
            assert samples[i] == pytest.approx(
                float(static(HESSIAN_TRACE, config, inputs, key=key)), rel=1e-10
            )


def test_default_inputs_are_fixed_unit_vectors():
    a = default_inputs(["x1", "x2"], 5)
    b = default_inputs(["x2", "x7", "x1"], 5)
    for label in ("x1", "x2"):
        np.testing.assert_array_equal(a[label], b[label])
        assert np.linalg.norm(a[label]) == pytest.approx(1.0)
    assert not np.allclose(a["x1"], a["x2"])
    assert not np.allclose(default_inputs(["x1"], 5, seed=1)["x1"], a["x1"])
    with pytest.raises(ValueError, match="input_dim"):
        default_inputs(["x"], 0)
    with pytest.raises(ValueError, match="labels"):
        default_inputs("x1", 3)


def test_width_sweep_shapes_and_statistics(tmp_path):
    out = width_sweep(NTK, [4, 8], depth=1, activation="tanh", seed=0, n_seeds=32,
                      statistic="rms", checkpoint=tmp_path / "sweep.npz")
    assert out["samples"].shape == (32, 2)
    np.testing.assert_array_equal(out["widths"], [4, 8])
    np.testing.assert_allclose(out["mean"], out["samples"].mean(axis=0))
    np.testing.assert_allclose(out["rms"], np.sqrt(np.mean(out["samples"] ** 2, axis=0)))
    np.testing.assert_array_equal(out["value"], out["rms"])
    assert np.all(out["sem"] > 0) and np.all(out["rms_sem"] > 0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep-n4.npz", "sweep-n8.npz"]
    with pytest.raises(ValueError, match="statistic"):
        width_sweep(NTK, [4], depth=1, activation="tanh", seed=0, n_seeds=4, statistic="median")
    with pytest.raises(ValueError, match="widths"):
        width_sweep(NTK, [4, 0], depth=1, activation="tanh", seed=0, n_seeds=4)


@pytest.mark.parametrize(
    ("pattern", "inputs", "match"),
    [
        (corr("x1:a", "x2:b"), None, "appears 1 time"),
        (corr("x1:a", "x2:a", "x3:a"), None, "appears 3 time"),
        (Correlation((Tensor(2, "x1", ("a",)), Tensor(1, "x2", ("a",)))), None, "order 2"),
        (Correlation((Tensor(-1, "x1", ()),)), None, "order"),
        (Correlation((Tensor(0, 3, ()),)), None, "input"),
        (Correlation(()), None, "no tensors"),
        (NTK, {"x1": np.ones(3)}, "x2"),
        (NTK, {"x1": np.ones(3), "x2": np.ones(4)}, "shape"),
        (HESSIAN_TRACE, "nokey", "key is required"),
    ],
)
def test_bad_arguments_raise(pattern, inputs, match):
    config = SMALL[0]
    params = init_mlp(config, key=jax.random.key(0))
    given = {"x1": np.ones(3), "x2": np.ones(3), "x3": np.ones(3)}
    if isinstance(inputs, dict):
        given = inputs
    with pytest.raises(ValueError, match=match):
        correlation_integrand(pattern, config, params, given)


def test_bad_types_raise():
    config = SMALL[0]
    with pytest.raises(TypeError, match="tensors"):
        correlation_sample("x1:a x2:a", config, {}, key=jax.random.key(0))
    with pytest.raises(TypeError, match="inputs"):
        correlation_sample(NTK, config, [np.ones(3)] * 2, key=jax.random.key(0))
    with pytest.raises(ValueError, match="n_probes"):
        correlation_sample(NTK, config, {"x1": np.ones(3), "x2": np.ones(3)},
                           key=jax.random.key(0), n_probes=0)
