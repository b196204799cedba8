"""The symbolic drift (`theory.derive_drift`) against the automatic-differentiation one
(`numerics`), and both against closed forms derived by hand (manifold-drift.md §5, §7, §9).

Both layers use the §5 convention $L=\\frac1{2n}\\sum_j(f_j-y_j)^2$ and the same noisy losses
(label noise $\\frac1{2n}\\sum_j(r_j-\\eta_j)^2$, $\\mathrm{Cov}\\,\\eta=\\sigma^2I$), and factor
$\\sigma^2$ out of $\\Sigma$: the drifts are per unit $\\tau=k\\alpha\\sigma^2$ (fast) or
$\\tau=k\\alpha^2\\sigma^2$ (slow) on both sides, so they must agree exactly (to rounding).
Symbolic values at the point are exact rationals; the symbolic `drift` and
`tangent_projection` expressions (valid on $\\Gamma$) are lambdified and evaluated at other
points of $\\Gamma$; `regulariser` and `gradient_noise_covariance` are exact everywhere and are
compared off $\\Gamma$ too.
"""

import functools

import jax.numpy as jnp
import numpy as np
import pytest
import sympy as sp

from limitlab import numerics, theory
from limitlab.numerics import LeastSquares, Loss, float64

RTOL = 1e-10

X_, Y_ = sp.symbols("x y", real=True)
TOY = LeastSquares(lambda w: w[0] * w[1] - 1.0)
TOY_LOSS = Loss(lambda w: 0.5 * (w[0] * w[1] - 1.0) ** 2)
TOY_POINT = (2, sp.Rational(1, 2))
TOY_GAMMA = [np.array([x, 1 / x]) for x in (0.5, 1.3, 3.0)]  # other points of xy = 1

# Toy 3 of §9, small: f(x) = sum_i u_i v_i x_i with n = 2 points in d = 3 (D = 6, codim 2).
DIAG_X = np.array([[1, 2, -1], [0, 1, 2]])
DIAG_U = [sp.Integer(1), sp.Rational(1, 2), sp.Integer(2)]
DIAG_V = [sp.Integer(2), sp.Integer(-1), sp.Rational(1, 2)]
DIAG_BETA = [a * b for a, b in zip(DIAG_U, DIAG_V, strict=True)]
DIAG_Y = [sum(int(x) * b for x, b in zip(row, DIAG_BETA, strict=True)) for row in DIAG_X]
DIAG_POINT = DIAG_U + DIAG_V
U_SYM = sp.symbols("u1:4", real=True)
V_SYM = sp.symbols("v1:4", real=True)
IN_SYM = sp.symbols("x1:4", real=True)
_y = np.array([float(y) for y in DIAG_Y])
DIAG = LeastSquares(lambda w: jnp.asarray(DIAG_X, w.dtype) @ (w[:3] * w[3:]) - _y)


def toy(kind):
    if kind == "additive":  # needs no model: the loss as written
        return theory.derive_drift("(x*y - 1)**2/2", ["x", "y"], kind, point=TOY_POINT)
    return theory.derive_drift("x*y", ["x", "y"], kind, data=[((), 1)], point=TOY_POINT)


@functools.cache
def diag(kind):
    model = sum(u * v * x for u, v, x in zip(U_SYM, V_SYM, IN_SYM, strict=True))
    data = [(tuple(int(x) for x in row), y) for row, y in zip(DIAG_X, DIAG_Y, strict=True)]
    return theory.derive_drift(model, U_SYM + V_SYM, kind, data=data, inputs=IN_SYM,
                               point=DIAG_POINT)


def diag_gamma_points(count=3, seed=0):
    """Points of Gamma = {X (u*v) = y}: beta moved along ker X, u perturbed, v = beta / u."""
    rng = np.random.default_rng(seed)
    beta0 = np.array([float(b) for b in DIAG_BETA])
    u0 = np.array([float(u) for u in DIAG_U])
    null = np.linalg.svd(DIAG_X.astype(float))[2][-1]
    points = []
    for _ in range(count):
        beta = beta0 + 0.3 * rng.standard_normal() * null
        u = u0 * (1 + 0.2 * rng.standard_normal(3))
        points.append(np.concatenate([u, beta / u]))
    return points


def floats(matrix):
    return np.array(sp.Matrix(matrix).tolist(), dtype=float)


def close(actual, expected, rtol=RTOL):
    expected = np.asarray(expected, dtype=float)
    np.testing.assert_allclose(np.asarray(actual, dtype=float), expected, rtol=0,
                               atol=rtol * max(1e-300, np.abs(expected).max()))


def evaluate(derivation, field, w):
    """The symbolic field (a sympy Matrix or expression) at w, through numerics.lambdify."""
    expr = getattr(derivation, field)
    entries = list(expr) if isinstance(expr, sp.MatrixBase) else [expr]
    with float64():
        values = numerics.lambdify(derivation.parameters, entries)(*jnp.asarray(w))
    out = np.array([float(v) for v in values])
    if not isinstance(expr, sp.MatrixBase):
        return out[0]
    return out if expr.cols == 1 else out.reshape(expr.shape)  # column vectors as (D,)


def toy_direction(w):
    """(x^4 - 1)/(x^4 + 1) (x, -y) = P_T grad (x^2 + y^2)/2 on xy = 1 (§9)."""
    x, y = w
    return (x**4 - 1) / (x**4 + 1) * np.array([x, -y])


def point_float(derivation):
    return np.array([float(v) for v in derivation.point])


# --------------------------------------------------------------------------------------------
# toy 1: L = (xy - 1)^2 / 2


def test_toy_label_noise():
    # Slow drift -(1/(4n)) P_T grad tr H, n = 1: dx/dtau = -(1/2) x (x^4-1)/(x^4+1) (§9).
    d = toy("label")
    assert d.case == "degenerate" and d.sharpness_coefficient == 1
    assert d.time_scale == 1 / (sp.Symbol("alpha", positive=True) ** 2
                                * sp.Symbol("sigma", positive=True) ** 2)
    w0 = point_float(d)
    with float64():
        close(floats(d.drift_at_point).ravel(), -0.5 * toy_direction(w0))
        for w in [w0, *TOY_GAMMA]:
            numeric = np.asarray(numerics.slow_drift(TOY, w, noise="label"))
            close(numeric, -0.5 * toy_direction(w))
            close(evaluate(d, "drift", w), numeric)
            close(evaluate(d, "tangent_projection", w), numerics.tangent_projector(TOY, w))
        close(floats(d.tangent_projection_at_point), numerics.tangent_projector(TOY, w0))
        sigma = np.asarray(numerics.noise_covariance(TOY, w0, noise="label"))
        close(floats(d.gradient_noise_covariance_at_point), sigma)
        close(floats(d.flow_map_second_derivative_at_point).ravel(),
              numerics.flow_map_second_derivative(TOY, w0, sigma))
        for w in ([1.0, 3.0], [-0.5, 0.2]):  # Reg and Sigma are exact everywhere
            assert float(d.regulariser) == float(numerics.regulariser(TOY, w, noise="label"))
            close(evaluate(d, "gradient_noise_covariance", w),
                  numerics.noise_covariance(TOY, w, noise="label"))
    assert np.all(floats(d.diffusion_at_point) == 0)


def test_toy_perturbed_gd():
    # Fast drift -P_T grad Reg, Reg = (x^2 + y^2)/2: dx/dtau = -x (x^4-1)/(x^4+1) (§9).
    d = toy("perturbed")
    assert d.case == "non-degenerate"
    assert sp.simplify(d.regulariser - (X_**2 + Y_**2) / 2) == 0
    w0 = point_float(d)
    with float64():
        close(floats(d.drift_at_point).ravel(), -toy_direction(w0))
        for w in [w0, *TOY_GAMMA]:
            numeric = np.asarray(numerics.fast_drift(TOY, w, noise="perturbed"))
            close(numeric, -toy_direction(w))
            close(evaluate(d, "drift", w), numeric)
            close(np.asarray(numerics.fast_drift(TOY_LOSS, w, noise="perturbed")), numeric)
        for w in ([1.0, 3.0], [-0.5, 0.2]):
            close(evaluate(d, "regulariser", w),
                  numerics.regulariser(TOY, w, noise="perturbed"))
            close(evaluate(d, "gradient_noise_covariance", w),
                  numerics.noise_covariance(TOY, w, noise="perturbed"))
        sigma = np.asarray(numerics.noise_covariance(TOY, w0, noise="perturbed"))
        close(floats(d.flow_map_second_derivative_at_point).ravel(),
              numerics.flow_map_second_derivative(TOY, w0, sigma))


def toy_additive_drift(w):
    """Slow SGLD drift on xy = 1 by hand (§5 item 6): the normal part is half the curvature
    vector of the curve y = g(x) = 1/x, g''/(1 + g'^2)^2 (-g', 1) / 2 (Ito correction of a
    unit-speed tangent Brownian motion); the tangent part is -(1/4) P_T grad log pdet H with
    pdet H = |grad f|^2 = x^2 + y^2."""
    x, y = w
    g1, g2 = -1 / x**2, 2 / x**3
    normal = 0.5 * g2 / (1 + g1**2) ** 2 * np.array([-g1, 1.0])
    t = np.array([x, -y]) / np.hypot(x, y)
    grad_log_pdet = np.array([2 * x, 2 * y]) / (x**2 + y**2)
    return normal - 0.25 * t * (t @ grad_log_pdet)


def test_toy_additive_noise():
    d = toy("additive")
    assert d.case == "degenerate" and d.drift is not None
    w0 = point_float(d)
    assert d.drift_at_point == sp.Matrix([sp.Rational(-52, 289), sp.Rational(47, 289)])
    with float64():
        for w in [w0, *TOY_GAMMA]:
            expected = toy_additive_drift(w)
            for problem in (TOY, TOY_LOSS):
                numeric = np.asarray(numerics.slow_drift(problem, w, noise="additive"))
                close(numeric, expected)
            close(evaluate(d, "drift", w), numeric)
            p_t = np.asarray(numerics.tangent_projector(TOY_LOSS, w))
            close(evaluate(d, "tangent_projection", w), p_t)
            # diffusion P_T A F = -P_T (theory, A = -I) and P_T Sigma^(1/2) = P_T (numerics):
            # the same law of the noise term; compare the diffusion matrices G G^T
            g_theory = evaluate(d, "diffusion", w)
            g_numeric = np.asarray(numerics.diffusion(TOY_LOSS, w, noise="additive"))
            close(g_theory @ g_theory.T, g_numeric @ g_numeric.T)
            close(g_numeric @ g_numeric.T, p_t)
        numeric = np.asarray(numerics.slow_drift(TOY_LOSS, w0, noise="additive"))
        p_n = np.eye(2) - np.asarray(numerics.tangent_projector(TOY_LOSS, w0))
        close(floats(d.drift_normal_part_at_point).ravel(), p_n @ numeric)
        close(floats(d.flow_map_second_derivative_at_point).ravel(),
              numerics.flow_map_second_derivative(TOY_LOSS, w0, np.eye(2)))


# --------------------------------------------------------------------------------------------
# toy 3: the diagonal linear network, n = 2, d = 3


def diag_dropconnect_drift(w):
    """§9 toy 3: -P_T (2/n) (C beta * v, C beta * u), C = diag |X_:i|^2, P_T from
    G = [X diag(v), X diag(u)]."""
    u, v = w[:3], w[3:]
    n = DIAG_X.shape[0]
    c = (DIAG_X.astype(float) ** 2).sum(axis=0)
    beta = u * v
    g = np.hstack([DIAG_X * v, DIAG_X * u])
    p_t = np.eye(6) - g.T @ np.linalg.solve(g @ g.T, g)
    return -p_t @ (2 / n * np.concatenate([c * beta * v, c * beta * u]))


def test_diagonal_network_dropconnect():
    d = diag("dropconnect")
    assert d.case == "non-degenerate" and d.exact and d.normal_rank == 2
    beta = sp.Matrix([u * v for u, v in zip(U_SYM, V_SYM, strict=True)])
    c = [sum(int(x) ** 2 for x in column) for column in DIAG_X.T]
    assert sp.expand(d.regulariser - sum(ci * b**2 for ci, b in zip(c, beta, strict=True)) / 2) == 0
    w0 = point_float(d)
    with float64():
        close(floats(d.drift_at_point).ravel(), diag_dropconnect_drift(w0))
        for w in [w0, *diag_gamma_points()]:
            numeric = np.asarray(numerics.fast_drift(DIAG, w, noise="dropconnect"))
            close(numeric, diag_dropconnect_drift(w))
            close(evaluate(d, "drift", w), numeric)
            close(evaluate(d, "tangent_projection", w), numerics.tangent_projector(DIAG, w))
        close(floats(d.tangent_projection_at_point), numerics.tangent_projector(DIAG, w0))
        sigma = np.asarray(numerics.noise_covariance(DIAG, w0, noise="dropconnect"))
        close(floats(d.gradient_noise_covariance_at_point), sigma)
        close(floats(d.flow_map_second_derivative_at_point).ravel(),
              numerics.flow_map_second_derivative(DIAG, w0, sigma))
        rng = np.random.default_rng(1)
        for w in rng.standard_normal((2, 6)):  # off Gamma: Reg and Sigma exact everywhere
            close(evaluate(d, "regulariser", w),
                  numerics.regulariser(DIAG, w, noise="dropconnect"))
            close(evaluate(d, "gradient_noise_covariance", w),
                  numerics.noise_covariance(DIAG, w, noise="dropconnect"))


def test_diagonal_network_label_noise():
    d = diag("label")
    assert d.case == "degenerate" and d.sharpness_coefficient == sp.Rational(1, 2)
    w0 = point_float(d)
    with float64():
        close(floats(d.drift_at_point).ravel(), numerics.slow_drift(DIAG, w0, noise="label"))
        for w in diag_gamma_points():
            close(evaluate(d, "drift", w), numerics.slow_drift(DIAG, w, noise="label"))
        sigma = np.asarray(numerics.noise_covariance(DIAG, w0, noise="label"))
        close(floats(d.flow_map_second_derivative_at_point).ravel(),
              numerics.flow_map_second_derivative(DIAG, w0, sigma))


def test_diagonal_network_additive_noise_at_the_point():
    # The general slow drift (isotropic Sigma = I, Sylvester-free): the symbolic expression
    # exceeds the size limit at D = 6, so only the exact value at the point is compared.
    d = diag("additive")
    assert d.case == "degenerate"
    w0 = point_float(d)
    with float64():
        numeric = np.asarray(numerics.slow_drift(DIAG, w0, noise="additive"))
        close(floats(d.drift_at_point).ravel(), numeric)
        p_n = np.eye(6) - np.asarray(numerics.tangent_projector(DIAG, w0))
        close(floats(d.drift_normal_part_at_point).ravel(), p_n @ numeric)
        hess = np.asarray(numerics.loss_hessian(DIAG, w0))
        p_t = np.eye(6) - p_n
        curvature = -0.5 * np.linalg.pinv(hess, rcond=1e-8, hermitian=True) @ np.asarray(
            numerics.third_derivative_action(DIAG, w0, p_t))
        close(p_n @ numeric, curvature)  # -1/2 H^+ T[P_T Sigma P_T], Sigma = I (§7)
        g = floats(d.diffusion_at_point)
        close(g @ g.T, p_t)


@pytest.mark.parametrize("seed", [0, 1])
def test_exact_second_derivative_of_phi_for_a_general_sigma(seed):
    # The exact (rational) boxed formula of §7 in theory against the AD one, for a random
    # rational Sigma with all blocks (tangent, normal, mixed) non-zero; also P_T and L_H^-1.
    d = diag("dropconnect")
    subs = dict(zip(d.parameters, d.point, strict=True))
    hess = d.hessian.xreplace(subs)
    third = [[[sp.diff(d.loss, a, b, c).xreplace(subs) for c in d.parameters]
              for b in d.parameters] for a in d.parameters]
    rng = np.random.default_rng(seed)
    g = sp.Matrix(6, 6, [sp.Rational(int(k), 4) for k in rng.integers(-8, 9, 36)])
    sigma = g + g.T
    exact = theory.second_derivative_of_flow_map(third, hess, sigma)
    assert all(e.is_Rational for e in exact)
    p_t = theory.tangent_projection(hess)
    w0 = point_float(d)
    with float64():
        close(floats(exact).ravel(),
              numerics.flow_map_second_derivative(DIAG, w0, floats(sigma)))
        close(floats(p_t), numerics.tangent_projector(DIAG, w0))
        normal_part = sigma - p_t * sigma * p_t
        close(floats(theory.lyapunov_inverse(hess, normal_part)),
              numerics.lyapunov_inverse(floats(hess), floats(normal_part)))
