import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from limitlab.numerics import float64, online_sgd, run_ensemble
from limitlab.theory import kernel_spectrum


def eigenvalues(kernel, d, top):
    """lambda_{d,k}, k <= top, from the theory layer (checked there against quadrature; the
    kernel-flow tests use an independent series implementation)."""
    return np.array(kernel_spectrum(kernel, d, top).eigenvalues)


def exp_kernel(z):
    return jnp.exp(z)


def cubic_kernel(z):
    return (1 + z) ** 3 / 8


D = 5
EXP_EIGENVALUES = eigenvalues("exp(z)", D, 12)
CUBIC_EIGENVALUES = eigenvalues("(1 + z)**3 / 8", D, 3)
ENERGIES = {1: 1.0, 2: 1.0, 3: 1.0}


def second_moment_recursion(lam, n_levels, energies, noise, eta, batch, steps):
    """Exact E||P_k(f_s - f_d)||^2 of one-pass SGD on the sphere, summed over k [derived]:
    E_k <- ((1 - eta lam_k)^2 - eta^2 lam_k^2 / b) E_k + (eta^2 / b) lam_k^2 N_k (E + sigma^2),
    from ||P_k K(., x)||^2 = lam_k^2 N_k for every x (addition theorem)."""
    levels = np.zeros(len(lam))
    for k, f in energies.items():
        levels[k] = f
    out = [levels.sum()]
    for _ in range(steps):
        total = levels.sum()
        levels = ((1 - eta * lam) ** 2 - eta**2 * lam**2 / batch) * levels + (
            eta**2 / batch * lam**2 * n_levels * (total + noise)
        )
        out.append(levels.sum())
    return np.array(out)


def test_mean_learned_fraction_and_excess_are_exact(batch=2, eta=0.6):
    # E f_{s+1} = E f_s - eta H (E f_s - f_d) exactly, so the mean learned fraction of degree k
    # is 1 - (1 - eta lambda_k)^s; compared over 64 seeds within 4 standard errors.
    out = run_ensemble(
        lambda key: online_sgd(exp_kernel, EXP_EIGENVALUES, d=D, energies=ENERGIES, noise=0.25,
                               eta=eta, steps=48, batch=batch, key=key, record_every=12,
                               heldout=0),
        seed=11, n_seeds=64, microbatch=16,
    )
    steps = out["steps"][0]
    np.testing.assert_array_equal(steps, [0, 12, 24, 36, 48])
    lam = EXP_EIGENVALUES[[1, 2, 3]]
    expected = 1 - (1 - eta * lam[None, :]) ** steps[:, None]
    fraction = out["learned_fraction"]
    mean, se = fraction.mean(axis=0), fraction.std(axis=0, ddof=1) / math.sqrt(64)
    np.testing.assert_array_equal(mean[0], 0.0)
    assert np.all(np.abs(mean[1:] - expected[1:]) <= 4 * se[1:])
    # ... and the degrees are learned in order of their eigenvalues.
    assert mean[-1, 0] > mean[-1, 1] > mean[-1, 2] > 0
    # The mean excess risk follows the exact second-moment recursion (all levels to k = 30).
    top = 30
    n_levels = [math.comb(D + k - 1, k) - (math.comb(D + k - 3, k - 2) if k >= 2 else 0)
                for k in range(top + 1)]
    expected = second_moment_recursion(eigenvalues("exp(z)", D, top), np.array(n_levels),
                                       ENERGIES, 0.25, eta, batch, 48)[steps]
    excess = out["excess"]
    mean, se = excess.mean(axis=0), excess.std(axis=0, ddof=1) / math.sqrt(64)
    assert mean[0] == pytest.approx(3.0)
    assert np.all(np.abs(mean[1:] - expected[1:]) <= 4 * se[1:])


def test_exact_excess_equals_heldout_estimate():
    # The cubic kernel has exactly 4 eigenvalues, so alpha^T K2 alpha is not truncated.
    with float64():
        out = online_sgd(cubic_kernel, CUBIC_EIGENVALUES, d=D, energies={0: 0.5, 1: 1.0, 3: 1.0},
                         noise=0.3, eta=0.5, steps=40, batch=2, key=jax.random.key(1),
                         record_at=[40, 0, 5, 10, 20], heldout=20_000)
    excess, heldout, se = (np.asarray(out[k]) for k in ("excess", "heldout_excess", "heldout_se"))
    np.testing.assert_array_equal(np.asarray(out["steps"]), [0, 5, 10, 20, 40])
    assert out["learned_fraction"].shape == (5, 3)
    assert excess[0] == pytest.approx(2.5)
    assert np.all(np.abs(excess - heldout) <= 5 * se)
    assert excess[-1] < 0.5 * excess[0]
    np.testing.assert_allclose(np.asarray(out["time"]), 0.5 * np.asarray(out["steps"]))


def test_truncation_bound_covers_the_neglected_part():
    # exp kernel truncated at K = 3 and K = 12 on the same draws.
    kw = dict(d=D, energies=ENERGIES, noise=0.1, eta=0.4, steps=20, key=jax.random.key(2),
              record_every=5, heldout=0)
    n_levels = [1.0]
    for k in range(1, 13):
        n_levels.append(math.comb(D + k - 1, k) - (math.comb(D + k - 3, k - 2) if k >= 2 else 0))
    tail3 = math.e - float(np.dot(n_levels[:4], EXP_EIGENVALUES[:4]))
    with float64():
        short = online_sgd(exp_kernel, EXP_EIGENVALUES[:4], tail_trace=tail3, **kw)
        long = online_sgd(exp_kernel, EXP_EIGENVALUES, **kw)
    gap = np.asarray(long["excess"]) - np.asarray(short["excess"])
    assert np.all(gap >= -1e-12) and np.all(gap <= np.asarray(short["truncation_bound"]) + 1e-12)
    np.testing.assert_allclose(short["learned_fraction"], long["learned_fraction"], rtol=1e-12)


@pytest.mark.parametrize(
    "change, name",
    [
        ({"d": 2}, "d"),
        ({"eta": 0.0}, "eta"),
        ({"eta": -1.0}, "eta"),
        ({"noise": -1.0}, "noise"),
        ({"steps": 0}, "steps"),
        ({"batch": 0}, "batch"),
        ({"record_every": 0}, "record_every"),
        ({"record_at": [11]}, "record_at"),
        ({"heldout": -2}, "heldout"),
        ({"energies": {13: 1.0}}, "energies"),
        ({"energies": {4: 1.0}}, "eigenvalues"),
    ],
)
def test_bad_inputs_raise_value_error_naming_the_argument(change, name):
    args = dict(d=D, energies={1: 1.0}, noise=0.1, eta=0.1, steps=10)
    args.update(change)
    with pytest.raises(ValueError, match=rf"^{name} |{name}:"):
        online_sgd(exp_kernel, EXP_EIGENVALUES[:4], key=jax.random.key(0), **args)
