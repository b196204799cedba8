import jax
import jax.numpy as jnp
import numpy as np
import pytest

from limitlab.numerics import (
    NOISE_KINDS,
    LeastSquares,
    Loss,
    NoiseModel,
    float64,
    noisy_gd,
)

# Toy 1 of manifold-drift.md §9: L = 1/2 (xy - 1)^2, n = 1, started on Gamma at (2, 0.5).
TOY = LeastSquares(lambda w: w[0] * w[1] - 1.0)
W0 = (2.0, 0.5)
ALPHA = 0.01
CHAINS = 200
TAUS = (0.25, 0.5)


def closed_form_x(tau, c, x0=2.0):
    """x(tau) of dx/dtau = -c x (x^4 - 1) / (x^4 + 1) (§9, derived)."""
    u = (x0**2 - x0**-2) * np.exp(-2 * c * np.asarray(tau))
    return np.sqrt((u + np.sqrt(u * u + 4)) / 2)


def toy_run(noise, *, key, chains=CHAINS, record=None):
    steps = [round(t / noise.tau_per_step(ALPHA, n=1)) for t in TAUS]
    with float64():
        out = noisy_gd(TOY, W0, noise=noise, alpha=ALPHA, steps=steps[-1],
                       record_steps=[0, *steps] if record is None else record,
                       chains=chains, key=key)
    return np.asarray(out), steps


LABEL = NoiseModel("label", sigma=1.0)
PERTURBED = NoiseModel("perturbed", sigma=0.1)


@pytest.mark.parametrize(
    ("noise", "c"), [(LABEL, 0.5), (PERTURBED, 1.0)], ids=["label", "perturbed"]
)
def test_toy_drifts_towards_the_flattest_minimiser(noise, c):
    # Label noise moves on the slow scale tau = k alpha^2 sigma^2 with c = 1/2, perturbed GD on
    # the fast scale tau = k alpha sigma^2 with c = 1 (§9).  Both move x from 2 towards 1.  The
    # mean over 200 chains must be within 5 standard errors plus the expected O(alpha) and
    # O(sigma^2) bias (measured ~0.01 at alpha = 0.01) of the limiting ODE.
    out, _ = toy_run(noise, key=jax.random.key(1))
    x = out[..., 0]
    np.testing.assert_array_equal(x[0], 2.0)
    means = x.mean(axis=1)
    se = x.std(axis=1) / np.sqrt(CHAINS)
    assert means[0] > means[1] > means[2] > 1.0
    predicted = closed_form_x(TAUS, c)
    assert np.all(np.abs(means[1:] - predicted) < 5 * se[1:] + 0.02), (means, predicted, se)
    # ...and the bias, not the noise, must be the smaller effect: the motion is >= 0.3.
    assert 2.0 - means[2] > 0.3


def test_same_key_same_result_and_other_key_other_result():
    first, _ = toy_run(LABEL, key=jax.random.key(1))
    again, _ = toy_run(LABEL, key=jax.random.key(1))
    other, _ = toy_run(LABEL, key=jax.random.key(2))
    np.testing.assert_array_equal(first, again)
    assert np.abs(first[-1] - other[-1]).max() > 0.05


def test_chain_equals_single_run_whatever_the_records():
    # Chain c of a vmapped run uses fold_in(key, c); its noise depends only on (key, c, step),
    # so a separate single-chain run with more record steps reproduces it (up to vectorised
    # vs scalar rounding, which may differ in the last bit).
    key = jax.random.key(1)
    batched, steps = toy_run(LABEL, key=key)
    c = 7
    single, _ = toy_run(LABEL, key=jax.random.fold_in(key, c), chains=None,
                        record=[0, 1237, *steps])
    np.testing.assert_allclose(single[[0, 2, 3]], batched[:, c], rtol=1e-13, atol=0)


def test_multiplicative_noise_does_not_move_a_point_of_gamma():
    # Sample-weight noise with n = 1 is w <- w - alpha (1 + eta) grad L(w), eta ~ N(0, 1) (§9):
    # grad L = 0 on Gamma, so x stays exactly 2.
    with float64():
        out = noisy_gd(TOY, W0, noise="sample_weights", sigma=1.0, alpha=ALPHA, steps=3000,
                       chains=16, key=jax.random.key(3))
    np.testing.assert_array_equal(np.asarray(out[-1]), np.tile(W0, (16, 1)))


def test_minibatch_sgd_does_not_move_an_interpolating_point():
    # Diagonal linear network at an exact interpolant (integer data, exact arithmetic): every
    # per-sample gradient vanishes, so minibatch SGD is trivial (§5 item 2).
    x = np.array([[1.0, 2.0, 0.0, -1.0], [0.0, 1.0, 3.0, 1.0], [2.0, -1.0, 1.0, 0.0]])
    u, v = np.array([1.0, 2.0, -1.0, 3.0]), np.array([2.0, 1.0, 1.0, -1.0])
    y = x @ (u * v)
    problem = LeastSquares(lambda w: jnp.asarray(x) @ (w[:4] * w[4:]) - jnp.asarray(y))
    w0 = np.concatenate([u, v])
    with float64():
        out = noisy_gd(problem, w0, noise="minibatch", batch=1, alpha=0.05, steps=2000,
                       chains=8, key=jax.random.key(4))
    np.testing.assert_array_equal(np.asarray(out[-1]), np.tile(w0, (8, 1)))


def one_step_noise(problem, w0, noise, chains=4000, alpha=0.1):
    with float64():
        out = noisy_gd(problem, w0, noise=noise, alpha=alpha, steps=1, chains=chains,
                       key=jax.random.key(5))
    return np.asarray(out[0]), alpha


def test_label_noise_is_plus_minus_sigma():
    # r(w) = w (n = 3): grad_w 1/(2n) sum (w_j - eta_j)^2 = (w - eta) / n, so eta is read off
    # one step; Rademacher: exactly +-sigma, each sign with probability 1/2.
    problem = LeastSquares(lambda w: w)
    w0, sigma = np.array([0.3, -0.2, 0.1]), 0.7
    w1, alpha = one_step_noise(problem, w0, NoiseModel("label", sigma=sigma))
    eta = w0 - (w0 - w1) * 3 / alpha
    np.testing.assert_allclose(np.abs(eta), sigma, rtol=1e-12)
    frac = (eta > 0).mean(axis=0)
    assert np.all(np.abs(frac - 0.5) < 4 * 0.5 / np.sqrt(4000))


def test_dropconnect_masks():
    # L(w) = <c, w>: grad_w L(w (1 + eta)) = c (1 + eta) with 1 + eta = m / (1 - p),
    # m ~ Bernoulli(1 - p), so sigma^2 = Var eta = p / (1 - p).
    c = np.array([1.0, -2.0, 0.5, 3.0, 1.5])
    problem = Loss(lambda w: jnp.dot(jnp.asarray(c), w))
    p = 0.3
    w1, alpha = one_step_noise(problem, np.ones(5), NoiseModel("dropconnect", p=p))
    scale = (1.0 - w1) / (alpha * c)  # = 1 + eta
    kept = scale > 0.5
    np.testing.assert_allclose(scale[kept], 1 / (1 - p), rtol=1e-12)
    np.testing.assert_allclose(scale[~kept], 0.0, atol=1e-12)
    n = kept.size
    assert abs(kept.mean() - (1 - p)) < 4 * np.sqrt(p * (1 - p) / n)
    eta = scale - 1
    assert abs(eta.var() - p / (1 - p)) < 0.05 * p / (1 - p)


def test_minibatch_weights_sample_without_replacement():
    # r(w) = w (n = 4): grad_j = (1 + eta_j) w_j / n, 1 + eta_j = (n / B) 1[j in batch].
    problem = LeastSquares(lambda w: w)
    w0, batch = np.array([1.0, 2.0, -1.0, 0.5]), 2
    w1, alpha = one_step_noise(problem, w0, NoiseModel("minibatch", batch=batch))
    weights = (w0 - w1) * 4 / (alpha * w0)
    chosen = weights > 1
    np.testing.assert_allclose(weights[chosen], 4 / batch, rtol=1e-12)
    np.testing.assert_allclose(weights[~chosen], 0.0, atol=1e-12)
    np.testing.assert_array_equal(chosen.sum(axis=1), batch)
    assert np.all(np.abs(chosen.mean(axis=0) - batch / 4) < 4 * 0.5 / np.sqrt(4000))


def test_conventions():
    assert NoiseModel("label", sigma=0.5).sigma_squared() == 0.25
    assert NoiseModel("dropconnect", p=0.2).sigma_squared() == pytest.approx(0.25)
    assert NoiseModel("minibatch", batch=2).sigma_squared(n=6) == 2.0
    assert NoiseModel("perturbed", sigma=0.1).tau_per_step(0.01) == pytest.approx(1e-4)
    assert NoiseModel("label", sigma=2.0).tau_per_step(0.01) == pytest.approx(4e-4)
    assert NoiseModel("label", sigma=1.0).scale == "slow"
    assert NoiseModel("dropconnect", p=0.1).scale == "fast"
    assert set(NOISE_KINDS) >= {"label", "perturbed", "dropconnect", "minibatch", "additive"}


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(noise="bogus"), ValueError, "noise must be one of"),
        (dict(noise="label", sigma=1.0, alpha=0.0), ValueError, "alpha must be"),
        (dict(noise="label", sigma=1.0, alpha=-0.1), ValueError, "alpha must be"),
        (dict(noise="label", sigma=1.0, alpha=float("nan")), ValueError, "alpha must be"),
        (dict(noise="dropconnect", p=0.0), ValueError, r"p must be a drop probability in \(0, 1\)"),
        (dict(noise="dropconnect", p=1.0), ValueError, r"p must be a drop probability"),
        (dict(noise="dropconnect", p=-0.5), ValueError, r"p must be a drop probability"),
        (dict(noise="minibatch", batch=0), ValueError, r"batch must be an integer in \[1, n\]"),
        (dict(noise="minibatch", batch=2), ValueError, r"\[1, n\] = \[1, 1\], got 2"),
        (dict(noise="label"), ValueError, "noise 'label' needs sigma"),
        (dict(noise="label", sigma=1.0, p=0.1), ValueError, "noise 'label' takes no p"),
        (dict(noise="label", sigma=-1.0), ValueError, "sigma must be"),
        (dict(noise="label", sigma=1.0, distribution="uniform"), ValueError, "distribution"),
        (dict(noise="perturbed", sigma=1.0, distribution="gaussian"), ValueError,
         "takes no distribution"),
        (dict(noise="label", sigma=1.0, problem=Loss(lambda w: w[0] ** 2)), ValueError,
         "needs residuals"),
        (dict(noise="minibatch", batch=1, problem=Loss(lambda w: w[0] ** 2)), ValueError,
         "needs residuals"),
        (dict(noise="perturbed", sigma=0.1, problem=lambda w: w[0] ** 2), TypeError,
         "LeastSquares"),
        (dict(noise="perturbed", sigma=0.1, key=np.uint32([0, 1])), TypeError, "typed PRNG key"),
        (dict(noise="perturbed", sigma=0.1, record_steps=[5, 11]), ValueError,
         r"record_steps must hold integers in \[0, steps\]"),
        (dict(noise="perturbed", sigma=0.1, w0=np.ones((3, 2))), ValueError, "got shape"),
        (dict(noise="perturbed", sigma=0.1, w0=[np.nan, 1.0]), ValueError, "finite"),
        (dict(noise="perturbed", sigma=0.1, chains=0), ValueError, "chains must be"),
        (dict(noise=NoiseModel("perturbed", sigma=0.1), sigma=0.2), ValueError,
         "NoiseModel already"),
    ],
)
def test_bad_arguments_raise(kwargs, error, match):
    args = dict(problem=TOY, w0=W0, alpha=0.01, steps=10, key=jax.random.key(0))
    args.update(kwargs)
    problem, w0 = args.pop("problem"), args.pop("w0")
    with pytest.raises(error, match=match):
        noisy_gd(problem, w0, **args)
