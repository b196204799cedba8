import time

import numpy as np
import pytest
import sympy as sp
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.integrate import solve_ivp

from limitlab.testing.strategies import manifold_losses
from limitlab.theory import (
    NOISE_KINDS,
    SAMPLE_COUNT,
    DriftDerivation,
    NoiseModel,
    derive_drift,
    lyapunov_inverse,
    noise_model,
    second_derivative_of_flow_map,
    tangent_projection,
)

X, Y = sp.symbols("x y", real=True)
TOY_POINT = (2, sp.Rational(1, 2))
TOY_DATA = [((), 1)]  # f(w) = x*y with label 1: L = (x*y - 1)^2/2


def toy(kind, **kwargs):
    return derive_drift("x*y", ["x", "y"], kind, data=TOY_DATA, point=TOY_POINT, **kwargs)


def on_manifold(expr):
    """The expression on Gamma = {y = 1/x}, simplified."""
    return sp.simplify(sp.sympify(expr).subs(Y, 1 / X))


def third_derivatives(loss, params, point):
    subs = dict(zip(params, point, strict=True))
    return [
        [[sp.diff(loss, a, b, c).xreplace(subs) for c in params] for b in params] for a in params
    ]


def hessian_at(loss, params, point):
    return sp.hessian(loss, params).xreplace(dict(zip(params, point, strict=True)))


# --------------------------------------------------------------------------------------------
# finite differences of the gradient-flow limit map Phi (scipy, independent of the module)


def flow_limit(gradient, w, t_end):
    solution = solve_ivp(
        lambda t, z: -gradient(z), (0.0, t_end), w, method="DOP853", rtol=1e-12, atol=1e-14
    )
    assert solution.success
    return solution.y[:, -1]


def finite_difference_d2phi(loss, params, point, Sigma, t_end=40.0, h=1e-3):
    """sum_k lambda_k (Phi(w + h q_k) - 2 Phi(w) + Phi(w - h q_k)) / h^2 for
    Sigma = sum_k lambda_k q_k q_k^T."""
    gradient_function = sp.lambdify(params, [sp.diff(loss, p) for p in params], "numpy")

    def gradient(z):
        return np.array(gradient_function(*z), dtype=float)

    w = np.array([float(v) for v in point])
    values, vectors = np.linalg.eigh(np.array(Sigma, dtype=float))
    centre = flow_limit(gradient, w, t_end)
    total = np.zeros_like(w)
    for lam, q in zip(values, vectors.T, strict=True):
        plus = flow_limit(gradient, w + h * q, t_end)
        minus = flow_limit(gradient, w - h * q, t_end)
        total += lam * (plus - 2 * centre + minus) / h**2
    return total


# --------------------------------------------------------------------------------------------
# noise models


def test_noise_kinds_and_variances():
    assert NOISE_KINDS == (
        "label",
        "perturbed",
        "dropconnect",
        "dropout",
        "minibatch",
        "sample_weights",
        "additive",
    )
    sigma, p, B = sp.Symbol("sigma", positive=True), sp.Symbol("p", positive=True), sp.Symbol(
        "B", positive=True, integer=True
    )
    assert noise_model("label").variance == sigma**2
    assert noise_model("perturbed", sigma=sp.Rational(1, 10)).variance == sp.Rational(1, 100)
    assert noise_model("dropconnect").variance == p / (1 - p)
    assert noise_model("dropout", p=sp.Rational(1, 4)).variance == sp.Rational(1, 3)
    assert noise_model("minibatch").variance == (SAMPLE_COUNT - B) / B
    assert noise_model("minibatch", batch=4).variance == (SAMPLE_COUNT - 4) / 4
    assert noise_model("sample_weights", sigma=2).variance == 4
    model = noise_model("dropout", units=["a*x"])
    assert isinstance(model, NoiseModel) and model.units == ("a*x",)
    assert "Bernoulli" in noise_model("dropconnect").description


@pytest.mark.parametrize(
    ("kind", "parameters", "error", "match"),
    [
        ("gaussian", {}, ValueError, "kind must be one of"),
        ("label", {"p": 0.1}, ValueError, "takes the parameters"),
        ("dropconnect", {"p": 1.5}, ValueError, "p must be a positive number below 1"),
        ("dropconnect", {"p": 0}, ValueError, "p must be"),
        ("minibatch", {"batch": 2.5}, ValueError, "batch must be a positive integer"),
        ("perturbed", {"sigma": -1}, ValueError, "sigma must be a positive number"),
        ("perturbed", {"sigma": "s"}, TypeError, "sympy.Symbol"),
        ("perturbed", {"sigma": True}, ValueError, "sigma"),
        ("dropout", {"units": "a*x"}, TypeError, "units must be a sequence"),
        ("dropout", {"units": []}, ValueError, "at least one unit"),
    ],
)
def test_noise_model_errors(kind, parameters, error, match):
    with pytest.raises(error, match=match):
        noise_model(kind, **parameters)


# --------------------------------------------------------------------------------------------
# Toy 1: L = (x y - 1)^2 / 2 at (2, 1/2) (reference §9)


def test_toy_label_noise_is_degenerate_slow_with_the_reference_drift():
    d = toy("label")
    assert isinstance(d, DriftDerivation)
    assert d.regulariser == sp.Rational(1, 2)
    assert d.case == "degenerate" and not d.trivial
    alpha, sigma = sp.Symbol("alpha", positive=True), sp.Symbol("sigma", positive=True)
    assert d.time_scale == 1 / (alpha**2 * sigma**2)
    assert d.sharpness_coefficient == 1  # Sigma = H / n with n = 1
    assert d.exact and d.normal_rank == 1
    assert on_manifold(d.drift[0] + X * (X**4 - 1) / (X**4 + 1) / 2) == 0
    assert on_manifold(d.drift[1] - Y * (X**4 - 1) / (X**4 + 1) / 2) == 0
    assert d.diffusion == sp.zeros(2, 1) and d.diffusion_at_point == sp.zeros(2, 1)
    # the simplified symbolic drift agrees with the boxed formula at the point, exactly
    assert d.drift.xreplace({X: 2, Y: sp.Rational(1, 2)}).applyfunc(sp.simplify) == d.drift_at_point
    assert d.drift_at_point == sp.Matrix([sp.Rational(-15, 17), sp.Rational(15, 68)])


def test_toy_perturbed_gd_is_non_degenerate_fast():
    d = toy("perturbed")
    assert sp.expand(d.regulariser - (X**2 + Y**2) / 2) == 0
    assert d.case == "non-degenerate"
    alpha, sigma = sp.Symbol("alpha", positive=True), sp.Symbol("sigma", positive=True)
    assert d.time_scale == 1 / (alpha * sigma**2)
    assert on_manifold(d.drift[0] + X * (X**4 - 1) / (X**4 + 1)) == 0
    assert d.drift_at_point == -d.tangent_projection_at_point * sp.Matrix([2, sp.Rational(1, 2)])
    assert d.diffusion_at_point == sp.zeros(2, 2)
    # the same from the loss itself, and with a numeric step size
    e = derive_drift("(x*y - 1)^2/2", ["x", "y"], "perturbed", point=TOY_POINT, alpha=0.01)
    assert e.drift_at_point == d.drift_at_point
    assert sp.simplify(e.time_scale - 100 / sigma**2) == 0


def test_expanded_polynomial_loss_is_accepted_and_gives_the_same_drift():
    # float64 evaluation of x^2 y^2/2 - x y + 1/2 on Gamma cancels to ~1e-16, not ~1e-32:
    # the nearby-point manifold test must evaluate L precisely (it once rejected this loss)
    expanded = sp.expand((X * Y - 1) ** 2 / 2)
    assert expanded.is_Add and len(expanded.args) == 3
    factored = derive_drift((X * Y - 1) ** 2 / 2, [X, Y], "perturbed", point=TOY_POINT)
    e = derive_drift(expanded, [X, Y], "perturbed", point=TOY_POINT)
    assert e.case == factored.case == "non-degenerate"
    assert e.drift_at_point == factored.drift_at_point == sp.Matrix([-sp.Rational(30, 17),
                                                                     sp.Rational(15, 34)])
    f = derive_drift(expanded, [X, Y], "perturbed", point=(2.0, 0.5))
    np.testing.assert_allclose(np.array(f.drift_at_point, dtype=float).ravel(),
                               [-30 / 17, 15 / 34], rtol=1e-12)


@settings(max_examples=10, deadline=None)
@given(manifold_losses(max_parameters=3, max_constraints=1))
def test_expanding_a_random_manifold_loss_changes_nothing(problem):
    point = dict(zip(problem.parameters, problem.point, strict=True))
    a = derive_drift(problem.loss, list(problem.parameters), "perturbed", point=point)
    b = derive_drift(sp.expand(problem.loss), list(problem.parameters), "perturbed", point=point)
    assert a.case == b.case
    assert sp.simplify(a.drift_at_point - b.drift_at_point) == sp.zeros(*a.drift_at_point.shape)


def test_toy_closed_form_solution_solves_the_limiting_odes():
    # x^2 - x^-2 = (x0^2 - x0^-2) exp(-2 c tau) with c = 1/2 (label noise), 1 (perturbed GD)
    for kind, c in (("label", sp.Rational(1, 2)), ("perturbed", 1)):
        rate = on_manifold(toy(kind).drift[0])
        assert sp.simplify((2 * X + 2 / X**3) * rate + 2 * c * (X**2 - 1 / X**2)) == 0


def test_toy_sample_weights_and_minibatch_are_trivial_on_both_scales():
    # toy 1 has one sample: multiplicative noise w <- w - alpha (1 + eta) grad L (reference §9)
    d = toy("sample_weights", alpha=sp.Rational(1, 100))
    assert d.regulariser == 0
    assert d.case == "degenerate" and d.trivial
    assert d.drift == sp.zeros(2, 1) and d.drift_at_point == sp.zeros(2, 1)
    assert d.gradient_noise_covariance_at_point == sp.zeros(2, 2)
    assert d.time_scale == 10**4 / sp.Symbol("sigma", positive=True) ** 2
    # classical SGD on the same manifold written with three samples: B of n = 3 without
    # replacement, Cov eta = (n - B)/B (n I - 1 1^T)/(n - 1)
    data = [(1, 1), (2, 2), (3, 3)]
    e = derive_drift("x*y*t", ["x", "y"], noise_model("minibatch", batch=2), data=data,
                     inputs=["t"], point=TOY_POINT)
    assert e.noise_covariance == (3 * sp.eye(3) - sp.ones(3, 3)) / 2
    assert e.noise_variance == sp.Rational(1, 2)
    assert e.trivial and e.regulariser == 0 and e.drift == sp.zeros(2, 1)
    with pytest.raises(ValueError, match="batch must be smaller than the number of samples"):
        derive_drift("x*y*t", ["x", "y"], noise_model("minibatch", batch=3), data=data,
                     inputs=["t"])
    with pytest.raises(ValueError, match="batch must be smaller"):
        toy("minibatch")


def test_toy_dropconnect_is_a_degenerate_edge_case():
    d = toy("dropconnect")
    assert sp.expand(d.regulariser - X**2 * Y**2) == 0
    assert on_manifold(d.regulariser) == 1
    assert d.case == "degenerate" and "nearby points" in d.reason
    assert any("caveat" in note for note in d.notes)
    p = sp.Symbol("p", positive=True)
    assert sp.simplify(d.time_scale - (1 - p) / (sp.Symbol("alpha", positive=True) ** 2 * p)) == 0
    # Sigma = A A^T = 2 H on Gamma: drift -(1/2) P_T grad tr H, as fast as perturbed GD
    assert d.sharpness_coefficient == 2
    assert on_manifold(d.drift[0] + X * (X**4 - 1) / (X**4 + 1)) == 0


def test_toy_additive_noise_sde_matches_finite_differences_of_phi():
    d = toy("additive")
    assert d.regulariser == 0 and d.case == "degenerate" and d.simplified is None
    loss = (X * Y - 1) ** 2 / 2
    fd = finite_difference_d2phi(loss, [X, Y], TOY_POINT, np.eye(2))
    assert np.allclose(np.array(d.flow_map_second_derivative_at_point, dtype=float).ravel(), fd,
                       rtol=1e-5, atol=1e-6)
    assert d.drift.xreplace({X: 2, Y: sp.Rational(1, 2)}).applyfunc(sp.simplify) == d.drift_at_point
    # diffusion = P_T A with A = -I: tangent Brownian motion
    assert d.diffusion_at_point == -d.tangent_projection_at_point
    # the tangential part is -(1/4) P_T grad_Gamma log pdet H, pdet H = x^2 + y^2 on Gamma
    P = d.tangent_projection_at_point
    grad_log = sp.Matrix([2 * X, 2 * Y]) / (X**2 + Y**2)
    expected = -P * grad_log.xreplace({X: 2, Y: sp.Rational(1, 2)}) / 4
    assert (P * d.drift_at_point - expected).applyfunc(sp.simplify) == sp.zeros(2, 1)


def test_toy_dropout_on_a_single_unit():
    d = toy("dropout")
    assert sp.expand(d.regulariser - X**2 * Y**2 / 2) == 0
    assert d.sharpness_coefficient == 1


def test_float_point_gives_float_values_close_to_the_exact_ones():
    exact = toy("perturbed")
    inexact = derive_drift("x*y", ["x", "y"], "perturbed", data=TOY_DATA, point=(2.0, 0.5))
    assert not inexact.exact and any("float64" in note for note in inexact.notes)
    assert np.allclose(np.array(inexact.drift_at_point, dtype=float),
                       np.array(exact.drift_at_point, dtype=float), atol=1e-12)
    third = derive_drift("x*y", ["x", "y"], "label", data=TOY_DATA, point=(3.0, 1 / 3))
    assert third.case == "degenerate" and abs(float(third.sharpness_coefficient) - 1) < 1e-9
    assert np.allclose(np.array(third.drift_at_point, dtype=float).ravel(),
                       [-0.5 * 3 * 80 / 82, 0.5 / 3 * 80 / 82], atol=1e-9)


def test_without_a_point_only_the_point_free_fields():
    d = derive_drift("x*y", ["x", "y"], "label", data=TOY_DATA)
    assert d.case == "degenerate" and d.drift is None and d.point is None
    e = derive_drift("x*y", ["x", "y"], "perturbed", data=TOY_DATA)
    assert e.case == "undetermined" and e.time_scale is None
    assert sp.expand(e.regulariser - (X**2 + Y**2) / 2) == 0
    eta = e.noise_symbols
    assert sp.expand(e.noisy_loss - ((X + eta[0]) * (Y + eta[1]) - 1) ** 2 / 2) == 0


def test_stationary_point_of_reg_is_still_non_degenerate():
    d = derive_drift("x*y", ["x", "y"], "perturbed", data=TOY_DATA, point=(1, 1))
    assert d.case == "non-degenerate" and "stationary point" in d.reason
    assert d.drift_at_point == sp.zeros(2, 1)


# --------------------------------------------------------------------------------------------
# Toy 3: diagonal linear network f = sum_i u_i v_i x_i


def diagonal_network(d=3):
    u = sp.symbols(f"u0:{d}", real=True)
    v = sp.symbols(f"v0:{d}", real=True)
    x = sp.symbols(f"x0:{d}", real=True)
    return u, v, x, sum(ui * vi * xi for ui, vi, xi in zip(u, v, x, strict=True))


DIAGONAL_X = [[1, 2, -1], [0, 1, 3]]
DIAGONAL_W = [1, 2, -1, 2, 1, 1]  # u then v: beta = (2, 2, -1)


def diagonal_derivation(kind):
    u, v, x, f = diagonal_network()
    beta = [a * b for a, b in zip(DIAGONAL_W[:3], DIAGONAL_W[3:], strict=True)]
    data = [(row, sum(c * b for c, b in zip(row, beta, strict=True))) for row in DIAGONAL_X]
    return u, v, derive_drift(f, u + v, kind, data=data, inputs=x, point=DIAGONAL_W)


def test_diagonal_network_dropconnect_regulariser_is_exact():
    u, v, d = diagonal_derivation("dropconnect")
    n = len(DIAGONAL_X)
    column_norms = [sum(row[i] ** 2 for row in DIAGONAL_X) for i in range(3)]
    expected = sum(column_norms[i] * (u[i] * v[i]) ** 2 for i in range(3)) / n
    assert sp.expand(d.regulariser - expected) == 0
    assert d.case == "non-degenerate" and d.normal_rank == 2
    H0 = hessian_at(d.loss, u + v, DIAGONAL_W)
    assert H0 * d.drift_at_point == sp.zeros(6, 1)


def test_diagonal_network_label_noise_is_the_trace_regulariser():
    u, v, d = diagonal_derivation("label")
    n = len(DIAGONAL_X)
    assert d.case == "degenerate" and d.sharpness_coefficient == sp.Rational(1, n)
    trace = sum((u[i] ** 2 + v[i] ** 2) * row[i] ** 2 for row in DIAGONAL_X for i in range(3)) / n
    assert sp.expand(d.hessian.trace() - trace) == 0  # everywhere: f is linear in each u_i, v_i
    point = dict(zip(u + v, DIAGONAL_W, strict=True))
    gradient = sp.Matrix([sp.diff(trace, w) for w in u + v]).xreplace(point)
    expected = -sp.Rational(1, 4 * n) * d.tangent_projection_at_point * gradient
    assert d.drift_at_point == expected
    assert d.drift.xreplace(point).applyfunc(sp.nsimplify) == expected


def test_ten_parameter_polynomial_loss_is_fast():
    # diagonal network, d = 5 (10 parameters), n = 3, normal rank 3
    u, v, x, f = diagonal_network(5)
    rows = [[1, 2, -1, 0, 1], [0, 1, 3, 1, -2], [2, 0, 1, 1, 1]]
    w = [1, 2, 1, -1, 1, 1, 1, 3, 2, -1]
    beta = [a * b for a, b in zip(w[:5], w[5:], strict=True)]
    data = [(row, sum(c * b for c, b in zip(row, beta, strict=True))) for row in rows]
    start = time.perf_counter()
    d = derive_drift(f, u + v, "dropconnect", data=data, inputs=x, point=w)
    elapsed = time.perf_counter() - start
    assert elapsed < 10.0, elapsed  # about 1 s
    assert d.drift is not None and d.case == "non-degenerate"
    assert d.drift.xreplace(dict(zip(u + v, w, strict=True))) == d.drift_at_point


# --------------------------------------------------------------------------------------------
# dropout units


def test_dropout_units_two_layer_network():
    a1, a2, b1, b2, t = sp.symbols("a1 a2 b1 b2 t", real=True)
    model = "a1*tanh(b1*t) + a2*tanh(b2*t)"
    data = [(1, 0), (2, 0)]
    d = derive_drift(model, ["a1", "a2", "b1", "b2"], "dropout", data=data, inputs=["t"])
    expected = sum(
        (a * sp.tanh(b * x)) ** 2 for a, b in ((a1, b1), (a2, b2)) for x, _ in data
    ) / (2 * len(data))
    assert sp.simplify(d.regulariser - expected) == 0
    units = noise_model("dropout", units=["tanh(b1*t)", "tanh(b2*t)"])
    e = derive_drift(model, ["a1", "a2", "b1", "b2"], units, data=data, inputs=["t"])
    assert sp.simplify(e.regulariser - expected) == 0


def test_dropout_errors():
    with pytest.raises(ValueError, match="needs a model"):
        derive_drift("(x*y - 1)^2", ["x", "y"], "dropout")
    with pytest.raises(ValueError, match="does not occur in the model"):
        derive_drift("a*t", ["a"], noise_model("dropout", units=["2*a"]), data=[(1, 1)],
                     inputs=["t"])
    with pytest.raises(ValueError, match="does not depend on the parameters"):
        derive_drift("a*t + t", ["a"], noise_model("dropout", units=["t"]), data=[(1, 1)],
                     inputs=["t"])
    with pytest.raises(ValueError, match="no additive term that depends"):
        derive_drift("t", ["a"], "dropout", data=[(1, 1)], inputs=["t"])


# --------------------------------------------------------------------------------------------
# §7 identities and the matrix helpers


def random_loss(seed):
    """L = (g1^2 + 2 g2^2)/2 in R^3, g_k quadratic with g_k(w*) = 0: Gamma is a curve."""
    rng = np.random.default_rng(seed)
    w = sp.symbols("w0:3", real=True)
    point = [int(v) for v in rng.integers(-2, 3, size=3)]
    monomials = [1, *w, *(a * b for i, a in enumerate(w) for b in w[i:])]
    gs = []
    for _ in range(2):
        p = sum(int(c) * m for c, m in zip(rng.integers(-2, 3, size=len(monomials)), monomials,
                                            strict=True))
        p += w[len(gs)]  # keep the Jacobian at w* of full rank
        gs.append(p - p.xreplace(dict(zip(w, point, strict=True))))
    return w, point, (gs[0] ** 2 + 2 * gs[1] ** 2) / 2, gs


def test_lyapunov_identities_exact_and_numeric():
    H = sp.Matrix([[2, 1, 0], [1, 1, 0], [0, 0, 0]])
    P_T = tangent_projection(H)
    assert P_T == sp.diag(0, 0, 1)
    P_N = sp.eye(3) - P_T
    assert lyapunov_inverse(H, H) == P_N / 2
    H_plus = H.pinv()
    assert lyapunov_inverse(H, P_N) == H_plus / 2
    S = sp.Matrix([[1, 2, 3], [2, 0, 1], [3, 1, 0]])
    X = lyapunov_inverse(H, S)
    assert H * X + X * H == S
    Xf = lyapunov_inverse(np.array(H, dtype=float), np.array(S, dtype=float))
    assert np.allclose(Xf, np.array(X, dtype=float))
    with pytest.raises(ValueError, match="tangent-tangent block"):
        lyapunov_inverse(H, sp.eye(3))


def test_key_identity_and_finite_differences_on_a_random_loss():
    w, point, loss, _ = random_loss(3)
    H = hessian_at(loss, w, point)
    T = third_derivatives(loss, w, point)
    P_T = tangent_projection(H)
    assert P_T.rank() == 1 and H * P_T == sp.zeros(3, 3)
    M = sp.Matrix([[1, 2, 0], [2, -1, 1], [0, 1, 3]])

    def contract(A):
        return sp.Matrix([sum(T[i][j][k] * A[i, j] for i in range(3) for j in range(3))
                          for k in range(3)])

    lhs = second_derivative_of_flow_map(T, H, H * M + M * H)
    assert lhs == -P_T * contract(M)
    # callable contraction, float input and the exact result agree
    Sigma = sp.Matrix([[2, 1, 0], [1, 3, 1], [0, 1, 1]])
    exact = second_derivative_of_flow_map(contract, H, Sigma)
    assert exact == second_derivative_of_flow_map(T, H, Sigma)
    numeric = second_derivative_of_flow_map(np.array(T, dtype=float), np.array(H, dtype=float),
                                            np.array(Sigma, dtype=float))
    assert np.allclose(numeric, np.array(exact, dtype=float).ravel(), rtol=1e-9, atol=1e-9)
    # P_T d2(grad L)[P_T] = 0 on Gamma
    assert P_T * contract(P_T) == sp.zeros(3, 1)
    # the boxed formula against finite differences of the gradient-flow map
    lam_min = min(e for e in np.linalg.eigvalsh(np.array(H, dtype=float)) if e > 1e-9)
    fd = finite_difference_d2phi(loss, w, point, Sigma, t_end=60.0 / lam_min)
    assert np.allclose(fd, np.array(exact, dtype=float).ravel(), rtol=1e-4, atol=1e-5)


def test_second_fundamental_form_from_curves_on_the_manifold():
    """The normal part of the SGLD drift, -1/2 H^+ T[P_T], is half the normal acceleration
    of a curve through Gamma with unit velocity (the curve built by Gauss-Newton projection)."""
    w, point, loss, gs = random_loss(5)
    d = derive_drift(loss, w, "additive", point=point)
    assert d.case == "degenerate" and d.normal_rank == 2
    g = sp.lambdify(w, gs, "numpy")
    J = sp.lambdify(w, sp.Matrix(gs).jacobian(w), "numpy")

    def project(z):
        for _ in range(50):
            z = z - np.linalg.pinv(np.array(J(*z), dtype=float)) @ np.array(g(*z), dtype=float)
        return z

    w0 = np.array(point, dtype=float)
    P_T = np.array(d.tangent_projection_at_point, dtype=float)
    tangent = np.linalg.eigh(P_T)[1][:, -1]
    t = 1e-3
    acceleration = (project(w0 + t * tangent) - 2 * w0 + project(w0 - t * tangent)) / t**2
    normal = (np.eye(3) - P_T) @ acceleration
    assert np.allclose(np.array(d.drift_normal_part_at_point, dtype=float).ravel(), normal / 2,
                       atol=1e-5)
    assert np.allclose(P_T @ np.array(d.drift_normal_part_at_point, dtype=float).ravel(), 0)


def test_tangent_projection_helper():
    assert tangent_projection(sp.Matrix([[1, 2], [2, 4]])) == sp.Matrix(
        [[sp.Rational(4, 5), sp.Rational(-2, 5)], [sp.Rational(-2, 5), sp.Rational(1, 5)]]
    )
    P = tangent_projection([[1.0, 2.0], [2.0, 4.0]])
    assert isinstance(P, np.ndarray) and np.allclose(P, [[0.8, -0.4], [-0.4, 0.2]])
    with pytest.raises(ValueError, match="numeric entries"):
        tangent_projection(sp.Matrix([[X, 0], [0, 1]]))
    with pytest.raises(ValueError, match="square"):
        tangent_projection(np.ones((2, 3)))
    with pytest.raises(ValueError, match="positive semi-definite"):
        tangent_projection(sp.Matrix([[1, 0], [0, -1]]))
    with pytest.raises(ValueError, match="symmetric"):
        tangent_projection(sp.Matrix([[1, 1], [0, 1]]))
    with pytest.raises(ValueError, match="shape"):
        second_derivative_of_flow_map(np.zeros((2, 2, 3)), np.eye(2), np.eye(2))


# --------------------------------------------------------------------------------------------
# properties on random polynomial losses with a known point of the zero set


@st.composite
def constrained_losses(draw):
    D = draw(st.integers(2, 4))
    K = draw(st.integers(1, min(2, D - 1)))
    w = sp.symbols(f"w0:{D}", real=True)
    point = draw(st.lists(st.integers(-2, 2), min_size=D, max_size=D))
    monomials = [*w, *(a * b for i, a in enumerate(w) for b in w[i:])]
    total = sp.Integer(0)
    gs = []
    for _ in range(K):
        coefficients = draw(st.lists(st.integers(-2, 2), min_size=len(monomials),
                                     max_size=len(monomials)))
        p = sum(c * m for c, m in zip(coefficients, monomials, strict=True))
        g = p - p.xreplace(dict(zip(w, point, strict=True)))
        gs.append(g)
        total += draw(st.integers(1, 3)) * g**2
    kind = draw(st.sampled_from(["perturbed", "dropconnect", "additive"]))
    return w, point, total / 2, gs, kind


@settings(max_examples=15, deadline=None)
@given(constrained_losses())
def test_properties_on_random_constrained_losses(example):
    w, point, loss, gs, kind = example
    J = sp.Matrix(gs).jacobian(w).xreplace(dict(zip(w, point, strict=True)))
    assume(J.rank() == len(gs))
    d = derive_drift(loss, w, kind, point=point)
    D = len(w)
    H = hessian_at(loss, w, point)
    P = d.tangent_projection_at_point
    assert d.exact and d.normal_rank == len(gs)
    assert P == P.T and P * P == P and H * P == sp.zeros(D, D)
    assert P.rank() == D - len(gs)
    if d.case == "non-degenerate":
        assert H * d.drift_at_point == sp.zeros(D, 1)
    else:
        # SDE drift: its normal part is the curvature term -1/2 H^+ T[P_T Sigma P_T]
        T = np.array(third_derivatives(loss, w, point), dtype=float)
        Sigma = np.array(d.gradient_noise_covariance_at_point, dtype=float)
        Pf = np.array(P, dtype=float)
        curvature = -np.linalg.pinv(np.array(H, dtype=float)) @ np.einsum(
            "ijk,ij->k", T, Pf @ Sigma @ Pf) / 2
        drift = np.array(d.drift_at_point, dtype=float).ravel()
        assert np.allclose((np.eye(D) - Pf) @ drift, curvature, atol=1e-9)
        assert np.allclose(np.array(d.drift_normal_part_at_point, dtype=float).ravel(),
                           curvature, atol=1e-9)
    if d.drift is not None:
        at_point = d.drift.xreplace(dict(zip(w, point, strict=True)))
        assert at_point == d.drift_at_point
        allowed = (sp.Add, sp.Mul, sp.Pow, sp.Symbol, sp.Number)
        assert all(isinstance(node, allowed) for e in d.drift for node in sp.preorder_traversal(e))
        assert set().union(*(e.free_symbols for e in d.drift)) <= set(w)


# --------------------------------------------------------------------------------------------
# bad inputs


@pytest.mark.parametrize(
    ("loss", "point", "match"),
    [
        ("(x*y - 1)^2/2", (1, 2), "not a minimiser with zero loss"),
        ("(x*y - 1)^2/2 + x - 2", (2, sp.Rational(1, 2)), "not a minimiser with zero loss"),
        ("(x*y - 1)^2/2", (1.0, 1.1), "not a minimiser"),
        ("x^2 - y^2", (0, 0), "negative eigenvalue"),
        ("(x*y)^2/2", (0, 0), "not a manifold"),
        ("x^4 + y^2", (0, 0), "not a manifold"),
    ],
)
def test_bad_points(loss, point, match):
    with pytest.raises(ValueError, match=match):
        derive_drift(loss, ["x", "y"], "perturbed", point=point)


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"unknown name 'z'"):
        derive_drift("x*y + z", ["x", "y"], "perturbed")
    with pytest.raises(ValueError, match=r"unknown symbols \['z'\]"):
        derive_drift(X * Y + sp.Symbol("z"), ["x", "y"], "perturbed")
    with pytest.raises(ValueError, match="name the model's input variables"):
        derive_drift("a*t", ["a"], "label", data=[(1, 1)])
    with pytest.raises(ValueError, match="'label' needs a model"):
        derive_drift("(x*y - 1)^2/2", ["x", "y"], "label", point=TOY_POINT)
    with pytest.raises(ValueError, match="minibatch' needs a model"):
        derive_drift("(x*y - 1)^2/2", ["x", "y"], "minibatch")
    with pytest.raises(ValueError, match="point must have 2 coordinates"):
        derive_drift("(x*y - 1)^2/2", ["x", "y"], "perturbed", point=(1,))
    with pytest.raises(ValueError, match="point must give a value"):
        derive_drift("(x*y - 1)^2/2", ["x", "y"], "perturbed", point={"x": 1})
    with pytest.raises(ValueError, match="repeats the names"):
        derive_drift("x^2", ["x", "x"], "perturbed")
    with pytest.raises(ValueError, match="x must have 1 coordinates"):
        derive_drift("a*t", ["a"], "label", data=[((1, 2), 1)], inputs=["t"])
    with pytest.raises(ValueError, match="both model/loss variables and noise"):
        derive_drift("(sigma*y - 1)^2", ["sigma", "y"], "perturbed")
    with pytest.raises(TypeError, match="noise must be a NoiseModel"):
        derive_drift("x^2", ["x"], 3)
    with pytest.raises(ValueError, match="kind must be one of"):
        derive_drift("x^2", ["x"], "gaussian")
    with pytest.raises(ValueError, match="inputs=.*data is None"):
        derive_drift("x^2", ["x"], "perturbed", inputs=["t"])


def test_point_as_mapping_and_symbols():
    point = {"y": sp.Rational(1, 2), X: 2}
    d = derive_drift((X * Y - 1) ** 2 / 2, [X, Y], "perturbed", point=point)
    assert d.point == (2, sp.Rational(1, 2)) and d.parameters == (X, Y)
