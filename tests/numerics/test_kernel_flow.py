import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from limitlab import theory
from limitlab.numerics import (
    float64,
    harmonic_features,
    harmonic_target,
    lambdify,
    sample_sphere,
    simulate_kernel_flow,
)
from limitlab.numerics._kernel_flow import _degeneracies


def eigenvalues(taylor, d, top):
    """lambda_{d,k}, k <= top, from the derivatives h^(j)(0) by the series of reference §3.5."""
    out = []
    for k in range(top + 1):
        total = 0.0
        for j in range(k, len(taylor), 2):
            m = (j - k) // 2
            total += taylor[j] / 2**j / math.factorial(m) * math.exp(
                math.lgamma(d / 2) - math.lgamma(d / 2 + k + m)
            )
        out.append(total)
    return np.array(out)


def tail_trace(taylor, d, top):
    """kappa_{>top} = h(1) - sum_{k <= top} N(d, k) lambda_k for h with these derivatives."""
    h1 = sum(c / math.factorial(j) for j, c in enumerate(taylor))
    return h1 - float(_degeneracies(d, top)[0] @ eigenvalues(taylor, d, top))


# Kernels with non-negative Taylor coefficients, as (callable, derivatives h^(j)(0)).
def exp_kernel(z):
    return jnp.exp(z)


def exp_half_kernel(z):
    return jnp.exp(0.5 * z)


def cubic_kernel(z):
    return (1 + z) ** 3 / 8


def quadratic_kernel(z):
    return (1 + z) ** 2 / 4


KERNELS = {
    "exp": (exp_kernel, [1.0] * 40),
    "exp-half": (exp_half_kernel, [0.5**j for j in range(40)]),
    "cubic": (cubic_kernel, [1 / 8, 3 / 8, 6 / 8, 6 / 8]),
}
TIMES = np.array([0.0, 0.3, 3.0, 30.0, 1e3, 1e6])


def run(kernel="exp", *, d=5, n=20, top=14, energies=None, noise=0.1, times=TIMES, seed=0, **kw):
    h, taylor = KERNELS[kernel]
    energies = {1: 1.0, 2: 0.5} if energies is None else energies
    with float64():
        out = simulate_kernel_flow(
            h, eigenvalues(taylor, d, top), d=d, n=n, energies=energies, noise=noise,
            times=times, key=jax.random.key(seed), **kw
        )
    return {k: np.asarray(v) for k, v in out.items()}


def test_sample_sphere_radius_and_dtype():
    with float64():
        x = sample_sphere(50, 7, key=jax.random.key(1))
    assert x.shape == (50, 7) and x.dtype == jnp.float64
    np.testing.assert_allclose(np.sum(np.asarray(x) ** 2, axis=1), 7.0, rtol=1e-13)


def test_harmonic_features_are_orthonormal():
    # Monte Carlo Gram matrix of Y^(0..4) at d = 5: identity within 5 standard errors.
    d, m, degrees = 5, 200_000, (0, 1, 2, 3, 4)
    with float64():
        y = np.asarray(harmonic_features(sample_sphere(m, d, key=jax.random.key(2)), degrees))
    products = y[:, :, None] * y[:, None, :]
    mean = products.mean(axis=0)
    se = products.std(axis=0) / math.sqrt(m)
    se[0, 0] = 1e-12  # Y^(0) = 1 exactly
    assert np.all(np.abs(mean - np.eye(len(degrees))) <= 5 * se + 1e-12)


def test_harmonic_target_energy_and_degree():
    d, m = 6, 200_000
    energies = {0: 0.25, 1: 1.0, 3: 2.0}
    with float64():
        x = sample_sphere(m, d, key=jax.random.key(3))
        f = np.asarray(harmonic_target(x, energies))
        y3 = np.asarray(harmonic_features(x, [3]))[:, 0]
    f2 = f**2
    assert abs(f2.mean() - 3.25) <= 5 * f2.std() / math.sqrt(m)
    # <f, Y^(3)> = sqrt(F_3): the target has exactly this much degree-3 content.
    c = f * y3
    assert abs(c.mean() - math.sqrt(2.0)) <= 5 * c.std() / math.sqrt(m)
    # A Mapping and a sequence of pairs in any order give the same function.
    with float64():
        g = harmonic_target(x[:10], [(3, 2.0), (0, 0.25), (1, 1.0)])
    np.testing.assert_allclose(np.asarray(g), f[:10], rtol=1e-15)


def test_harmonic_norm_matches_reference_formula():
    d = 7
    x = np.linspace(0.5, 1.5, d)[None]
    with float64():
        y = np.asarray(harmonic_features(jnp.asarray(x), (1, 2, 3)))[0]
    expected = [x[0, 0], math.sqrt((d + 2) / d) * x[0, 0] * x[0, 1],
                math.sqrt((d + 2) * (d + 4) / d**2) * x[0, 0] * x[0, 1] * x[0, 2]]
    np.testing.assert_allclose(y, expected, rtol=1e-14)


@pytest.mark.parametrize(
    "energies, message",
    [
        ({7: 1.0}, "k <= d"),
        ({1: -1.0}, ">= 0"),
        ({1: float("nan")}, ">= 0"),
        ({-1: 1.0}, "non-negative integer"),
        ([(1, 1.0), (1, 2.0)], "more than once"),
        ({}, "at least one"),
        ("x", "mapping"),
    ],
)
def test_harmonic_target_rejects_bad_energies(energies, message):
    with pytest.raises(ValueError, match="energies") as err:
        harmonic_target(jnp.ones((2, 5)), energies)
    assert message in str(err.value)


def test_degeneracies_exact_and_stable():
    for d in (3, 4, 100):
        values, logs = _degeneracies(d, 12)
        exact = [math.comb(d + k - 1, k) - (math.comb(d + k - 3, k - 2) if k >= 2 else 0)
                 for k in range(13)]
        np.testing.assert_allclose(values, exact, rtol=1e-14)
        np.testing.assert_allclose(logs, np.log(exact), rtol=1e-14, atol=1e-14)
    assert _degeneracies(100, 2)[0][2] == 5049
    values, logs = _degeneracies(10_000, 40)
    assert np.all(np.isfinite(values)) and np.all(np.diff(values) > 0)
    values, logs = _degeneracies(10_000, 200)  # N overflows float64; its logarithm does not
    assert np.isinf(values[-1]) and np.all(np.isfinite(logs))


def test_eigenvalue_helper_matches_theory():
    expected = [float(theory.funk_hecke_eigenvalue("exp(z)", 5, k, dps=20)) for k in range(4)]
    np.testing.assert_allclose(eigenvalues([1.0] * 40, 5, 3), expected, rtol=1e-13)


@settings(max_examples=6, derandomize=True)
@given(
    kernel=st.sampled_from(["exp-half", "cubic"]),
    size=st.sampled_from([(3, 4), (5, 24)]),
    noise=st.floats(0.0, 0.5),
    seed=st.integers(0, 2**16),
)
def test_exact_test_risk_equals_heldout_estimate(kernel, size, noise, seed):
    d, n = size
    out = run(kernel, d=d, n=n, noise=noise, seed=seed, heldout=4096,
              tail_trace=tail_trace(KERNELS[kernel][1], d, 14))
    # The held-out mean is unbiased for the excess risk (no truncation); its standard error is
    # estimated from the same points, hence 5 standard errors plus the truncation bound.
    assert np.all(out["truncation_bound"] < 1e-10)
    assert np.all(np.abs(out["test"] - out["heldout"]) <= 5 * out["heldout_se"] + 1e-9)
    # Train MSE is non-increasing in t (each mode decays like exp(-2ts/n)).
    assert np.all(np.diff(out["train"]) <= 1e-12 * out["train"][:-1])
    assert np.all(out["test"] >= -1e-12)


@settings(max_examples=10, derandomize=True)
@given(times=st.lists(st.floats(0, 1e7), min_size=2, max_size=6), seed=st.integers(0, 100))
def test_train_risk_non_increasing(times, seed):
    # Pad to len(TIMES) times so that every example reuses one compilation.
    times = np.sort(np.concatenate([times, np.full(len(TIMES) - len(times), max(times))]))
    train = run(times=times, seed=seed)["train"]
    assert np.all(np.diff(train) <= 1e-12 * train[:-1])


def test_initial_values():
    energies = {0: 0.3, 1: 1.0, 2: 0.5}
    out = run(energies=energies, noise=0.2, return_data=True)
    np.testing.assert_allclose(out["train"][0], np.mean(out["y"] ** 2), rtol=1e-13)
    np.testing.assert_allclose(out["test"][0], 1.8, rtol=1e-14)
    np.testing.assert_allclose(np.sum(out["x"] ** 2, axis=1), 5.0, rtol=1e-13)
    with float64():
        f = harmonic_target(jnp.asarray(out["x"]), energies)
    assert out["y"].shape == (20,) and np.std(out["y"] - np.asarray(f)) > 0.1


def test_polynomial_kernel_learns_its_span_without_noise():
    # h = (1+z)^2/4 spans 1 + d + N(d,2) = 15 features at d = 4; with n = 120 samples and no
    # noise the flow converges to the target (all its degrees have lambda_k > 0).
    with float64():
        out = simulate_kernel_flow(
            quadratic_kernel, eigenvalues([1 / 4, 2 / 4, 2 / 4], 4, 2), d=4, n=120,
            energies={0: 0.5, 1: 1.0, 2: 1.0}, noise=0.0, times=np.array([0.0, 1e2, 1e4, 1e6]),
            key=jax.random.key(4), per_degree=True,
        )
    test = np.asarray(out["test"])
    assert test[0] == pytest.approx(2.5) and test[1] < 0.1 and abs(test[-1]) < 1e-10
    # The eigenvalue array covers the whole kernel and the target covers every degree, so the
    # per-degree errors add up to the total.
    np.testing.assert_allclose(np.asarray(out["degree_error"]).sum(axis=1), test, atol=1e-11)


def test_per_degree_errors_sum_to_total_with_noise():
    out = run("cubic", d=4, n=80, top=3, energies={0: 0.2, 1: 1.0, 2: 0.5, 3: 0.7}, noise=0.5,
              per_degree=True)
    assert out["degree_error"].shape == (len(TIMES), 4)
    assert np.all(out["degree_error"] >= -1e-12)
    np.testing.assert_allclose(out["degree_error"].sum(axis=1), out["test"], rtol=1e-10)
    np.testing.assert_allclose(out["degree_error"][0], [0.2, 1.0, 0.5, 0.7], rtol=1e-14)


def test_truncation_of_second_moment_converges_within_bound():
    # Every neglected term a^T N_k P_k(Z) a is >= 0: the truncated risk grows with K, and the
    # gap to a much longer series stays below the documented bound.
    taylor = KERNELS["exp"][1]
    runs = {top: run(d=3, n=16, top=top, tail_trace=tail_trace(taylor, 3, top))
            for top in (2, 4, 8, 20)}
    reference = runs[20]["test"]
    previous = None
    for top in (2, 4, 8):
        gap = reference - runs[top]["test"]
        assert np.all(gap >= -1e-12) and np.all(gap <= runs[top]["truncation_bound"] + 1e-12)
        if previous is not None:
            assert np.all(gap <= previous + 1e-12)
        previous = gap
    assert np.max(previous) < 1e-6 and np.min(runs[2]["test"] - runs[20]["test"]) < -1e-4


def test_vmap_over_keys_matches_single_runs():
    # The configuration of run(): the single runs reuse its compilation.
    lam = eigenvalues(KERNELS["exp"][1], 5, 14)
    with float64():
        def simulate(key):
            return simulate_kernel_flow(exp_kernel, lam, d=5, n=20, energies={1: 1.0, 2: 0.5},
                                        noise=0.1, times=TIMES, key=key)

        keys = jax.random.split(jax.random.key(9), 3)
        batched = jax.vmap(simulate)(keys)
        for i in range(3):
            single = simulate(keys[i])
            for name in single:
                np.testing.assert_allclose(batched[name][i], single[name], rtol=1e-9,
                                           atol=1e-12)


def test_kernel_from_theory_and_lambdify():
    expr = theory.kernel_expression("exp(z)")
    lam = [float(theory.funk_hecke_eigenvalue(expr, 4, k, dps=20)) for k in range(9)]
    with float64():
        a = simulate_kernel_flow(lambdify("z", expr), lam, d=4, n=10, energies={1: 1.0},
                                 noise=0.1, times=TIMES, key=jax.random.key(0))
        b = simulate_kernel_flow(exp_kernel, lam, d=4, n=10, energies={1: 1.0},
                                 noise=0.1, times=TIMES, key=jax.random.key(0))
    np.testing.assert_allclose(np.asarray(a["test"]), np.asarray(b["test"]), rtol=1e-12)
    assert a["test"].dtype == jnp.float64


@pytest.mark.parametrize(
    "change, name",
    [
        ({"d": 2}, "d"),
        ({"d": 4.0}, "d"),
        ({"n": 0}, "n"),
        ({"times": np.array([1.0, -1.0])}, "times"),
        ({"times": np.array([1.0, np.inf])}, "times"),
        ({"times": np.ones((2, 2))}, "times"),
        ({"times": np.array([])}, "times"),
        ({"noise": -0.1}, "noise"),
        ({"noise": np.nan}, "noise"),
        ({"eigenvalues": np.array([1.0, 0.1])}, "eigenvalues"),
        ({"eigenvalues": np.array([1.0, -0.1, 0.1])}, "eigenvalues"),
        ({"energies": {9: 1.0}}, "energies"),
        ({"heldout": -1}, "heldout"),
        ({"tail_trace": -1.0}, "tail_trace"),
        ({"per_degree": 1}, "per_degree"),
    ],
)
def test_bad_inputs_raise_value_error_naming_the_argument(change, name):
    args = dict(d=5, n=10, energies={1: 1.0, 2: 1.0}, noise=0.1, times=TIMES,
                eigenvalues=np.ones(4) * 0.1)
    args.update(change)
    lam = args.pop("eigenvalues")
    with pytest.raises(ValueError, match=rf"^{name} |{name}:"):
        simulate_kernel_flow(exp_kernel, lam, key=jax.random.key(0), **args)


def test_kernel_must_be_callable():
    with pytest.raises(TypeError, match="kernel"):
        simulate_kernel_flow("exp", np.ones(3), d=5, n=4, energies={1: 1.0}, noise=0.0,
                             times=TIMES, key=jax.random.key(0))


def test_constant_and_arccos_kernels_on_the_sphere():
    """A constant kernel (lambdify returns a scalar) and the ReLU NTK (arccos of a Gram
    diagonal that round-off can put above 1) give finite risks."""
    import sympy as sp

    from limitlab.numerics import lambdify

    z = sp.Symbol("z")
    relu_spectrum = np.asarray(theory.kernel_spectrum("relu-ntk", 6, 4).eigenvalues, dtype=float)
    cases = ((lambdify([z], sp.Integer(1)), np.array([1.0, 0.0])),
             (lambdify([z], theory.named_kernel("relu-ntk")), relu_spectrum))
    with float64():
        for h, lam in cases:
            out = simulate_kernel_flow(h, lam, d=6, n=12, energies={0: 0.5, 1: 1.0}, noise=0.1,
                                       times=np.array([0.0, 1.0, 1e6]), key=jax.random.key(1))
            for name in ("train", "test"):
                assert np.all(np.isfinite(np.asarray(out[name]))), (h.__doc__, name)
