"""Property tests of the limiting-flow objects on random losses (manifold-drift.md §7-§8).

The losses come from `random_quadratic_normal_loss`: $L=\\frac12(b-h(a))^\\top M(a)(b-h(a))$ in
rotated coordinates $w=R(a,b)$, whose zero set is the graph $\\Gamma=\\{R(a,h(a))\\}$ with
chart $\\varphi$.  The chart gives independent answers for the tangent space and for
$\\partial^2\\Phi$ on tangent directions ($\\partial^2\\Phi[E_iE_j^\\top+E_jE_i^\\top]/2=
P_N\\partial_i\\partial_j\\varphi$, $E=\\partial\\varphi$), and finite differences of the
numerically integrated flow map (`flow_limit`) give $\\partial^2\\Phi$ in every direction.

All pointwise quantities of one random loss are computed by one `jax.jit`-compiled function
of the loss's coefficients (a pytree), so that the examples of one shape share a single
compilation; only `flow_limit` compiles per example.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from limitlab.numerics import (
    Loss,
    fast_drift,
    flow_limit,
    flow_map_second_derivative,
    float64,
    loss_hessian,
    random_quadratic_normal_loss,
    slow_drift,
    tangent_projector,
    third_derivative_action,
)

# (tangent dimension k, normal dimension r): a curved surface with a 2 x 2 normal block
# (Lyapunov solve and metric M(a) both non-trivial), one compilation of `pointwise`.
K, R = 2, 2
D = K + R
RTOL = 1e-10  # pointwise identities: AD against AD or closed forms, all float64
FLOW = dict(rtol=1e-12, atol=1e-14, gtol=1e-10)

seeds = st.integers(0, 2**32 - 1)


def _problem(f):
    return Loss(lambda w: f(w))


@jax.jit
def pointwise(f, a0, tangent_block, sigmas, m, c):
    """Everything the pointwise properties need, at the point phi(a0) of Gamma.

    `tangent_block` is S (k x k, symmetric): Sigma = E S E^T is tangent-tangent; `sigmas` a
    stack of symmetric D x D matrices for d2Phi; `m` a symmetric D x D matrix for the
    identity d2Phi[HM + MH] = -P_T T[M]; `c` the factor of the label-like Sigma = c H.
    """
    problem = _problem(f)
    r = f.normal_dim
    w = f.chart(a0)
    hess = loss_hessian(problem, w)
    p_t = tangent_projector(problem, w, codim=r)
    frame = jax.jacfwd(f.chart)(a0)  # E, D x k: spans T Gamma
    curvature = jax.hessian(f.chart)(a0)  # d_i d_j phi, D x k x k

    def d2phi(sigma):
        return flow_map_second_derivative(problem, w, sigma, codim=r)

    def dropconnect_reg(x):
        return 0.5 * jnp.sum(x * x * jnp.diag(jax.hessian(problem.loss)(x)))

    return dict(
        w=w,
        loss=problem.loss(w),
        hess=hess,
        p_t=p_t,
        frame=frame,
        curvature=curvature,
        fast_perturbed=fast_drift(problem, w, noise="perturbed", codim=r),
        fast_dropconnect=fast_drift(problem, w, noise="dropconnect", codim=r),
        slow_additive=slow_drift(problem, w, noise="additive", codim=r),
        grad_trace=jax.grad(lambda x: jnp.trace(jax.hessian(problem.loss)(x)))(w),
        grad_dropconnect_reg=jax.grad(dropconnect_reg)(w),
        third_p_t=third_derivative_action(problem, w, p_t),
        third_m=third_derivative_action(problem, w, m),
        label_like=0.5 * d2phi(c * hess),
        tangent_tangent=d2phi(frame @ tangent_block @ frame.T),
        lyapunov_identity=d2phi(hess @ m + m @ hess),
        sigmas=jax.vmap(d2phi)(sigmas),
    )


def _symmetric(rng, n):
    g = rng.standard_normal((n, n))
    return (g + g.T) / 2


def _evaluate(loss_seed, other_seed, c=1.0):
    """The random loss, `pointwise` at its point, and the random matrices and directions used:
    S (k x k), M (D x D), unit vectors u, v with Sigma_s = u u^T, v v^T, u v^T + v u^T."""
    problem = random_quadratic_normal_loss(loss_seed, K, R)
    rng = np.random.default_rng(other_seed)
    block, m = _symmetric(rng, K), _symmetric(rng, D)
    u, v = rng.standard_normal((2, D))
    u, v = u / np.linalg.norm(u), v / np.linalg.norm(v)
    sigmas = np.stack([np.outer(u, u), np.outer(v, v), np.outer(u, v) + np.outer(v, u)])
    with float64():
        out = pointwise(problem.function, jnp.asarray(problem.tangent_coordinates),
                        jnp.asarray(block), jnp.asarray(sigmas), jnp.asarray(m),
                        jnp.asarray(c))
    out = {k: np.asarray(v) for k, v in out.items()}
    return problem, out, dict(block=block, m=m, u=u, v=v)


def _close(actual, expected, rtol=RTOL, scale=None):
    scale = max(1.0, np.abs(expected).max()) if scale is None else scale
    np.testing.assert_allclose(actual, expected, rtol=0, atol=rtol * scale)


# --------------------------------------------------------------------------------------------
# the generator


def test_generator_builds_a_morse_bott_zero_set():
    problem = random_quadratic_normal_loss(3, tangent_dim=2, normal_dim=3, features=3)
    f = problem.function
    rng = np.random.default_rng(0)
    with float64():
        assert float(problem.loss.loss(problem.point)) < 1e-28
        np.testing.assert_allclose(problem.point, f.chart(problem.tangent_coordinates),
                                   atol=1e-15)
        for a in rng.standard_normal((3, 2)):
            on = jnp.asarray(f.chart(jnp.asarray(a)))
            assert float(problem.loss.loss(on)) < 1e-26  # chart lands on Gamma
            values = np.linalg.eigvalsh(np.asarray(loss_hessian(problem.loss, on)))
            assert np.all(np.abs(values[:2]) < 1e-12)  # rank r = 3, nonzero eigenvalues >= mu
            assert values[2] >= 1.0 - 1e-12
            off = on + rng.standard_normal(5)
            assert float(problem.loss.loss(off)) > 0
    again = random_quadratic_normal_loss(np.random.default_rng(3), 2, 3, features=3)
    np.testing.assert_array_equal(again.point, problem.point)
    flat = random_quadratic_normal_loss(3, 2, 3, rotate=False)
    np.testing.assert_array_equal(flat.function.rotation, np.eye(5))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(tangent_dim=0), ValueError, "tangent_dim must be an integer >= 1"),
        (dict(normal_dim=1.5), ValueError, "normal_dim must be an integer >= 1"),
        (dict(features=-1), ValueError, "features must be an integer >= 0"),
        (dict(scale=0.0), ValueError, "scale must be a finite real number > 0"),
        (dict(stiffness=float("inf")), ValueError, "stiffness must be a finite"),
        (dict(rng="seed"), TypeError, "rng must be a numpy.random.Generator"),
    ],
)
def test_generator_rejects_bad_arguments(kwargs, error, match):
    args = dict(rng=0, tangent_dim=1, normal_dim=1)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        random_quadratic_normal_loss(args.pop("rng"), **args)


# --------------------------------------------------------------------------------------------
# pointwise properties (one compilation for all examples)


@settings(max_examples=15, derandomize=True, deadline=None)
@given(loss_seed=seeds, other_seed=seeds, c=st.floats(0.1, 10.0))
def test_projection_drifts_and_tangent_second_derivative(loss_seed, other_seed, c):
    _, out, drawn = _evaluate(loss_seed, other_seed, c)
    block = drawn["block"]
    p_t, hess, frame = out["p_t"], out["hess"], out["frame"]
    assert out["loss"] < 1e-28
    # P_T: an orthogonal projection of rank k onto ker H, equal to the projection onto the
    # chart's tangent vectors (computed without the Hessian).
    _close(p_t, p_t.T)
    _close(p_t @ p_t, p_t)
    assert np.trace(p_t) == pytest.approx(K, abs=1e-10)
    _close(p_t @ hess, np.zeros((D, D)), scale=np.abs(hess).max())
    chart_p_t = frame @ np.linalg.solve(frame.T @ frame, frame.T)
    _close(p_t, chart_p_t)
    p_n = np.eye(D) - chart_p_t
    h_plus = np.linalg.pinv(hess, rcond=1e-8, hermitian=True)

    # Fast drifts: tangent, and -P_T grad Reg with Reg = tr H / 2 (perturbed GD) and
    # Reg = sum_i w_i^2 H_ii / 2 (DropConnect), §5.
    for name, grad_reg in (("fast_perturbed", out["grad_trace"] / 2),
                           ("fast_dropconnect", out["grad_dropconnect_reg"])):
        drift = out[name]
        _close(p_n @ drift, np.zeros(D), scale=max(1.0, np.abs(drift).max()))
        _close(drift, -chart_p_t @ grad_reg)

    # Label-like noise Sigma = c H: 1/2 d2Phi[Sigma] = -(c/4) P_T grad tr H, tangent (§7).
    label_like = out["label_like"]
    _close(p_n @ label_like, np.zeros(D), scale=max(1.0, np.abs(label_like).max()))
    _close(label_like, -c / 4 * chart_p_t @ out["grad_trace"])

    # Isotropic (SGLD-type) noise: the normal part of the slow drift is the curvature term
    # -1/2 H^+ T[P_T Sigma P_T] (Sigma = I), which also equals half the mean-curvature vector
    # 1/2 P_N sum_ij g^ij d_i d_j phi from the chart (g = E^T E).
    slow = out["slow_additive"]
    curvature_term = -0.5 * h_plus @ out["third_p_t"]
    _close(p_n @ slow, curvature_term)
    inverse_metric = np.linalg.inv(frame.T @ frame)
    mean_curvature = np.einsum("dij,ij->d", out["curvature"], inverse_metric)
    _close(curvature_term, 0.5 * p_n @ mean_curvature)

    # Tangent-tangent Sigma = E S E^T: d2Phi[Sigma] = P_N sum_ij S_ij d_i d_j phi (chart),
    # normal-valued (the second fundamental form).
    expected = p_n @ np.einsum("dij,ij->d", out["curvature"], block)
    _close(out["tangent_tangent"], expected)
    # Key identity of §7: d2Phi[HM + MH] = -P_T T[M] for every symmetric M.
    _close(out["lyapunov_identity"], -p_t @ out["third_m"])


# --------------------------------------------------------------------------------------------
# d2Phi against finite differences of the numerical flow map


def _second_differences(loss, point, u, v, h):
    """(Phi(p+hu) - 2Phi(p) + Phi(p-hu))/h^2, the same for v, and
    (Phi(p+hu+hv) - Phi(p+hu-hv) - Phi(p-hu+hv) + Phi(p-hu-hv))/(2h^2); Phi(p) = p on Gamma."""
    starts = [point + h * u, point - h * u, point + h * v, point - h * v,
              point + h * (u + v), point + h * (u - v), point - h * (u - v), point - h * (u + v)]
    phi = np.asarray(flow_limit(loss, np.array(starts), codim=R, **FLOW))
    uu = (phi[0] - 2 * point + phi[1]) / h**2
    vv = (phi[2] - 2 * point + phi[3]) / h**2
    mixed = (phi[4] - phi[5] - phi[6] + phi[7]) / (2 * h**2)
    return np.stack([uu, vv, mixed])


@settings(max_examples=3, derandomize=True, deadline=None)
@given(loss_seed=seeds, direction_seed=seeds)
def test_second_derivative_matches_finite_differences_of_the_flow_map(loss_seed, direction_seed):
    # d2Phi[Sigma] = sum_ij d_i d_j Phi Sigma_ij, so d2Phi[u u^T] is the second directional
    # derivative along u and d2Phi[u v^T + v u^T] = 2 d_u d_v Phi, whose central difference
    # is the four-point formula above divided by 2 h^2 (not 4 h^2).  Directions are random
    # unit vectors with tangent and normal parts, so all blocks of §7's formula enter.
    problem, out, drawn = _evaluate(loss_seed, direction_seed)
    u, v = drawn["u"], drawn["v"]
    ad = out["sigmas"]
    point = problem.point
    h = 1e-2
    with float64():
        levels = [_second_differences(problem.loss, point, u, v, h / 2**j) for j in range(3)]
    # Central differences: D(h) = d + c2 h^2 + c4 h^4 + ..., so Richardson (4 D(h/2) - D(h))/3
    # is d + O(h^4).  Its truncation error is estimated by the difference to the next level
    # (whose own error is 16 times smaller), and each flow_limit value carries an error
    # eps ~ rtol |w| + atol (plus the Newton polish, eps^2), which the second differences
    # divide by h^2: each second difference above is off by at most 2 eps / h^2, so the
    # Richardson combination by at most (4 * 2 eps / (h/2)^2 + 2 eps / h^2) / 3 = 34/3 eps/h^2.
    fine = (4 * levels[1] - levels[0]) / 3
    finer = (4 * levels[2] - levels[1]) / 3
    eps = FLOW["rtol"] * (1 + np.abs(point).max()) + FLOW["atol"]
    noise = 34 / 3 * eps / h**2
    truncation = np.abs(fine - finer)
    tolerance = 2 * truncation + 2 * noise
    scale = max(1.0, np.abs(ad).max())
    assert truncation.max() < 1e-5 * scale  # the estimate is not vacuous
    np.testing.assert_array_less(np.abs(fine - ad), tolerance + 1e-12 * scale)
