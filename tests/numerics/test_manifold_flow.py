import jax
import jax.numpy as jnp
import numpy as np
import pytest

from limitlab.numerics import (
    LeastSquares,
    Loss,
    NoiseModel,
    diffusion,
    fast_drift,
    flow_limit,
    flow_map_second_derivative,
    float64,
    limiting_flow,
    loss_hessian,
    lyapunov_inverse,
    noise_covariance,
    regulariser,
    retract,
    slow_drift,
    tangent_projector,
    third_derivative_action,
)

# Toy 1 of manifold-drift.md §9 as least squares (n = 1) and as a general loss.
TOY = LeastSquares(lambda w: w[0] * w[1] - 1.0)
TOY_LOSS = Loss(lambda w: 0.5 * (w[0] * w[1] - 1.0) ** 2)

# A small random least-squares problem: a diagonal linear network, n = 2 points in d = 3
# (D = 6, Gamma of codimension 2), with a random interpolating start point.
_RNG = np.random.default_rng(1)
_X = _RNG.standard_normal((2, 3))
_Y = _RNG.standard_normal(2)
DIAG = LeastSquares(lambda w: jnp.asarray(_X) @ (w[:3] * w[3:]) - jnp.asarray(_Y))
DIAG_W0 = 1 + 0.3 * _RNG.standard_normal(6)
FLOW_TOL = dict(rtol=1e-12, atol=1e-14, gtol=1e-10)


def closed_form_x(tau, c, x0=2.0):
    """x(tau) of dx/dtau = -c x (x^4 - 1) / (x^4 + 1) (§9, derived)."""
    u = (x0**2 - x0**-2) * np.exp(-2 * c * np.asarray(tau))
    return np.sqrt((u + np.sqrt(u * u + 4)) / 2)


@pytest.fixture(scope="module")
def diag_point():
    with float64():
        return np.asarray(flow_limit(DIAG, DIAG_W0, **FLOW_TOL))


@pytest.mark.parametrize(("noise", "c"), [("label", 0.5), ("perturbed", 1.0)])
def test_limiting_flow_matches_closed_form_and_stays_on_gamma(noise, c):
    # Label noise: slow scale tau = k alpha^2 sigma^2, c = 1/2; perturbed GD: fast scale
    # tau = k alpha sigma^2, c = 1 (§9).  Every step is retracted onto xy = 1.
    taus = [0.5, 1.0, 2.0]
    with float64():
        out = limiting_flow(TOY, [2.0, 0.5], noise=noise, taus=taus)
    w = np.asarray(out["w"])
    assert out["scale"] == ("slow" if noise == "label" else "fast")
    assert out["stochastic"] is False and out["codim"] == 1
    np.testing.assert_allclose(w[:, 0], closed_form_x(taus, c), rtol=0, atol=1e-6)
    np.testing.assert_allclose(w[:, 0] * w[:, 1], 1.0, rtol=0, atol=1e-10)


def test_drifts_match_closed_form_on_the_toy():
    # On xy = 1: P_T grad 1/2 (x^2 + y^2) = (x^4 - 1)/(x^4 + 1) (x, -y) (§9); perturbed GD
    # drifts by minus that (fast scale), label noise by half of it (slow scale), for the
    # least-squares form (Jacobian projector) and the general-loss form (Hessian projector).
    with float64():
        for x in (0.4, 1.0, 1.7, 3.0):
            w = jnp.array([x, 1 / x])
            direction = (x**4 - 1) / (x**4 + 1) * np.array([x, -1 / x])
            np.testing.assert_allclose(fast_drift(TOY, w, noise="perturbed"), -direction,
                                       rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(fast_drift(TOY_LOSS, w, noise="perturbed"), -direction,
                                       rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(slow_drift(TOY, w, noise="label"), -0.5 * direction,
                                       rtol=1e-12, atol=1e-14)
            # Multiplicative (sample-weight) noise: Reg = 0 and Sigma = 0 on Gamma, no drift.
            np.testing.assert_allclose(noise_covariance(TOY, w, noise="sample_weights"), 0.0,
                                       atol=1e-14)


def test_regularisers_match_section_5(diag_point):
    with float64():
        w = jnp.asarray(diag_point)
        hess = np.asarray(loss_hessian(DIAG, w))
        assert float(regulariser(DIAG, w, noise="label")) == pytest.approx(0.5, rel=1e-14)
        assert float(regulariser(DIAG, w, noise="perturbed")) == pytest.approx(
            0.5 * np.trace(hess), rel=1e-12)
        assert float(regulariser(DIAG, w, noise="dropconnect")) == pytest.approx(
            0.5 * np.sum(diag_point**2 * np.diag(hess)), rel=1e-12)
        # Toy 3: DropConnect on (u, v) of the diagonal network, Reg = (1/n) sum_i |X_:i|^2
        # beta_i^2 exactly (everywhere, not only on Gamma).
        w_off = jnp.asarray(DIAG_W0)
        beta = DIAG_W0[:3] * DIAG_W0[3:]
        exact = np.sum((_X**2).sum(axis=0) * beta**2) / 2
        reg = float(regulariser(DIAG, w_off, noise="dropconnect"))
        assert reg == pytest.approx(exact, rel=1e-12)
        assert float(regulariser(DIAG, w, noise="minibatch")) == 0.0
        # Label noise: Sigma = H / n on Gamma (§5 item 1); additive: Sigma = I.
        np.testing.assert_allclose(noise_covariance(DIAG, w, noise="label"), hess / 2,
                                   atol=1e-13)
        np.testing.assert_allclose(noise_covariance(DIAG, w, noise="additive"), np.eye(6),
                                   atol=1e-14)


@pytest.mark.parametrize("which", ["toy", "toy_loss", "diag"])
def test_tangent_projector_is_the_kernel_projector(which, diag_point):
    problem, w = {
        "toy": (TOY, np.array([1.7, 1 / 1.7])),
        "toy_loss": (TOY_LOSS, np.array([1.7, 1 / 1.7])),
        "diag": (DIAG, diag_point),
    }[which]
    with float64():
        p = np.asarray(tangent_projector(problem, w))
        h = np.asarray(loss_hessian(problem, w))
    np.testing.assert_allclose(p, p.T, atol=1e-14)
    np.testing.assert_allclose(p @ p, p, atol=1e-13)
    np.testing.assert_allclose(h @ p, 0.0, atol=1e-12)
    dim = w.size
    codim = np.linalg.matrix_rank(h)
    assert np.trace(p) == pytest.approx(dim - codim, abs=1e-12)


def second_difference(problem, point, sigma, h):
    """sum_k s_k (Phi(p + h u_k) - 2 Phi(p) + Phi(p - h u_k)) / h^2 for Sigma = sum_k s_k u_k
    u_k^T, Phi by gradient flow to convergence (flow_limit)."""
    s, u = np.linalg.eigh(sigma)
    points = [point] + [point + sign * h * u[:, k] for k in range(s.size) for sign in (1, -1)]
    phi = np.asarray(flow_limit(problem, np.array(points), **FLOW_TOL))
    second = (phi[1::2] - 2 * phi[0] + phi[2::2]) / h**2
    return s @ second


@pytest.mark.parametrize("which", ["toy", "diag"])
def test_second_derivative_of_phi_matches_finite_differences(which, diag_point):
    # The boxed formula of §7 against second differences of the numerically integrated
    # gradient-flow map, Richardson-extrapolated (h, h/2): agreement ~1e-9 relative is
    # observed; the tolerance 1e-6 leaves room for the ODE tolerances.
    problem, point = {"toy": (TOY, np.array([2.0, 0.5])), "diag": (DIAG, diag_point)}[which]
    rng = np.random.default_rng(7)
    g = rng.standard_normal((point.size, point.size))
    sigma = g @ g.T
    with float64():
        ad = np.asarray(flow_map_second_derivative(problem, point, sigma))
        h = 1e-2
        fd = (4 * second_difference(problem, point, sigma, h / 2)
              - second_difference(problem, point, sigma, h)) / 3
    np.testing.assert_allclose(fd, ad, rtol=0, atol=1e-6 * np.abs(ad).max())


def test_second_derivative_identities(diag_point):
    # On Gamma: d2Phi[HM + MH] = -P_T d2(grad L)[M] for every M, d2Phi is normal-valued on
    # tangent-tangent Sigma (second fundamental form), L_H^{-1}(H) = P_N / 2 (§7).
    rng = np.random.default_rng(8)
    with float64():
        w = jnp.asarray(diag_point)
        h = np.asarray(loss_hessian(DIAG, w))
        p_t = np.asarray(tangent_projector(DIAG, w))
        m = rng.standard_normal((6, 6))
        m = m + m.T
        lhs = np.asarray(flow_map_second_derivative(DIAG, w, h @ m + m @ h))
        rhs = -p_t @ np.asarray(third_derivative_action(DIAG, w, m))
        np.testing.assert_allclose(lhs, rhs, atol=1e-11 * np.abs(rhs).max())
        s = p_t @ m @ p_t
        tangent = np.asarray(flow_map_second_derivative(DIAG, w, s))
        np.testing.assert_allclose(p_t @ tangent, 0.0, atol=1e-12 * np.abs(tangent).max())
        np.testing.assert_allclose(lyapunov_inverse(h, h), (np.eye(6) - p_t) / 2, atol=1e-12)


def test_label_noise_drift_is_the_riemannian_gradient_of_the_sharpness(diag_point):
    # §5 item 1, §7 special case c = 1/n: 1/2 d2Phi[Sigma] = -(1/(4n)) P_T grad tr H.
    with float64():
        w = jnp.asarray(diag_point)
        grad_trace = jax.jit(jax.grad(lambda x: jnp.trace(jax.hessian(DIAG.loss)(x))))(w)
        expected = -np.asarray(tangent_projector(DIAG, w)) @ np.asarray(grad_trace) / (4 * 2)
        np.testing.assert_allclose(slow_drift(DIAG, w, noise="label"), expected,
                                   atol=1e-12 * np.abs(expected).max())


def test_retraction_and_flow_limit():
    with float64():
        on = np.asarray(retract(TOY_LOSS, np.array([2.0 + 1e-3, 0.5 - 2e-3])))
        assert abs(on[0] * on[1] - 1) < 1e-14
        phi = np.asarray(flow_limit(TOY, np.array([[2.0, 0.5], [1.0, 0.0]])))
    np.testing.assert_array_equal(phi[0], [2.0, 0.5])  # already on Gamma
    assert abs(phi[1, 0] * phi[1, 1] - 1) < 1e-14
    # From (1, 0) the flow conserves x^2 - y^2 (d/dt (x^2 - y^2) = 0 for L = 1/2 (xy - 1)^2):
    # it ends at x^2 - 1/x^2 = 1.
    assert phi[1, 0] ** 2 - phi[1, 1] ** 2 == pytest.approx(1.0, abs=1e-9)


def test_additive_noise_gives_a_tangent_sde_on_gamma():
    # SGLD-type noise (§5 item 6): slow scale, tangent Brownian motion plus drift, retracted
    # onto Gamma at every step; reproducible from the key.
    key = jax.random.key(11)
    kwargs = dict(noise="additive", taus=[0.05, 0.1], key=key, paths=64, dt=5e-3)
    with float64():
        out = limiting_flow(TOY, [2.0, 0.5], **kwargs)
        again = limiting_flow(TOY, [2.0, 0.5], **kwargs)
        point = jnp.array([1.5, 1 / 1.5])
        g = np.asarray(diffusion(TOY, point, noise="additive"))
        p_t = np.asarray(tangent_projector(TOY, point))
    np.testing.assert_allclose(g @ g.T, p_t, atol=1e-14)  # Sigma = I: diffusion P_T
    w = np.asarray(out["w"])
    assert out["stochastic"] is True and w.shape == (2, 64, 2)
    np.testing.assert_array_equal(w, np.asarray(again["w"]))
    np.testing.assert_allclose(w[..., 0] * w[..., 1], 1.0, atol=1e-12)
    # Tangent unit-variance Brownian motion: the arc length moved is ~N(0, tau) at small tau;
    # |dw|^2 ~ tau, tested loosely (chi-square with 64 dof, plus the O(tau) drift).
    disp = w[1] - np.array([2.0, 0.5])
    ratio = np.mean(np.sum(disp**2, axis=1)) / 0.1
    assert 0.5 < ratio < 1.6


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(noise="bogus"), "noise must be one of"),
        (dict(noise="label", scale="medium"), "scale must be 'fast' or 'slow'"),
        (dict(noise="label", taus=[1.0, 0.5]), "strictly increasing"),
        (dict(noise="label", taus=[-1.0]), "strictly increasing"),
        (dict(noise="additive"), "needs key"),
        (dict(noise="label", problem=TOY_LOSS), "needs residuals"),
        (dict(noise="label", w0=np.ones((2, 2))), "got shape"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    args = dict(problem=TOY, w0=[2.0, 0.5], taus=[1.0])
    args.update(kwargs)
    problem, w0 = args.pop("problem"), args.pop("w0")
    with pytest.raises(ValueError, match=match), float64():
        limiting_flow(problem, w0, **args)


def test_noise_model_is_accepted_in_place_of_its_kind():
    with float64():
        a = slow_drift(TOY, [1.5, 1 / 1.5], noise=NoiseModel("label", sigma=0.3))
        b = slow_drift(TOY, [1.5, 1 / 1.5], noise="label")
    np.testing.assert_array_equal(a, b)
