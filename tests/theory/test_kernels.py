import functools
import math

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

from limitlab.theory._kernels import (
    ACTIVATIONS,
    KERNEL_KINDS,
    KERNEL_VARIABLE,
    WEIGHT_VARIANCE,
    kernel_expression,
    kernel_taylor_coefficients,
    named_kernel,
    nngp_kernel,
    ntk_kernel,
)

z = KERNEL_VARIABLE
_BUILDERS = {"nngp": nngp_kernel, "ntk": ntk_kernel}


def _kernel(kind, activation, depth, bias=0):
    return _BUILDERS[kind](activation, depth, bias_variance=bias)


@functools.lru_cache(maxsize=None)
def _evaluator(kind, activation, depth, bias=0, module="mpmath"):
    # Exact `subs` at interior points is slow for nested kernels; evaluate numerically instead.
    return sp.lambdify(z, _kernel(kind, activation, depth, bias), modules=module)


# ---------------------------------------------------------------------------------------------
# Independent Monte Carlo check: finite-width networks in plain numpy.
#
# The network of the docstring of `nngp_kernel`, with standard-normal trainable parameters:
#   h_1 = W_1 x / sqrt(d) + s_b b_1,  h_{l+1} = s_w W_{l+1} phi(h_l) / sqrt(n) + s_b b_{l+1},
#   f = s_w w . phi(h_L) / sqrt(n) + s_b b_out,
# its gradient written out by hand (backpropagation), the NTK as the sum over parameter blocks
# of <grad_block f(x_i), grad_block f(x_j)> (outer-product gradients factorise).

_PHI = {
    "relu": (lambda h: np.maximum(h, 0.0), lambda h: (h > 0).astype(float)),
    "erf": (special.erf, lambda h: 2 / math.sqrt(math.pi) * np.exp(-h * h)),
}


def _constants(activation, bias_variance):
    return math.sqrt(float(WEIGHT_VARIANCE[activation])), math.sqrt(bias_variance)


def _gram(a, b=None):
    b = a if b is None else b
    return np.swapaxes(a, -1, -2) @ b


def _ntk_gram(x, post, deltas, activation, bias_variance):
    """sum over parameter blocks of the gradient Gram matrices, from activations and deltas."""
    sw2 = float(WEIGHT_VARIANCE[activation])
    n = post[-1].shape[-2]
    gram = sw2 * _gram(post[-1]) / n + bias_variance  # readout weights and bias
    gram = gram + _gram(deltas[0]) * (x.T @ x) / x.shape[0]  # W_1: delta_1 x^T / sqrt(d)
    for layer in range(1, len(deltas)):  # W_{l+1}: s_w delta_{l+1} phi(h_l)^T / sqrt(n)
        gram = gram + sw2 * _gram(deltas[layer]) * _gram(post[layer - 1]) / n
    return gram + bias_variance * sum(_gram(delta) for delta in deltas)  # hidden biases


def _sample_parameters(rng, d, width, depth):
    return {
        "W": [rng.standard_normal((width, d))]
        + [rng.standard_normal((width, width)) for _ in range(depth - 1)],
        "w": rng.standard_normal(width),
        "b": [rng.standard_normal(width) for _ in range(depth)],
        "b_out": rng.standard_normal(),
    }


def _dense_network(params, x, activation, bias_variance):
    """f at the columns of x, the conditional NNGP Gram matrix and the empirical NTK Gram
    matrix of one network with explicit weight matrices."""
    phi, dphi = _PHI[activation]
    sw, sb = _constants(activation, bias_variance)
    n = params["w"].shape[0]
    pre, post = [], []
    h = params["W"][0] @ x / math.sqrt(x.shape[0]) + sb * params["b"][0][:, None]
    for layer in range(len(params["b"])):
        if layer:
            h = sw * params["W"][layer] @ post[-1] / math.sqrt(n) + sb * params["b"][layer][:, None]
        pre.append(h)
        post.append(phi(h))
    f = sw * params["w"] @ post[-1] / math.sqrt(n) + sb * params["b_out"]
    deltas = [sw * params["w"][:, None] * dphi(pre[-1]) / math.sqrt(n)]  # df/dh_L
    for layer in range(len(params["b"]) - 1, 0, -1):
        back = sw * params["W"][layer].T @ deltas[0] / math.sqrt(n)
        deltas.insert(0, back * dphi(pre[layer - 1]))
    nngp = sw**2 * _gram(post[-1]) / n + bias_variance
    return f, nngp, _ntk_gram(x, post, deltas, activation, bias_variance)


def _projected_networks(rng, x, activation, bias_variance, width, depth, draws):
    """The same three quantities for `draws` independent networks, without n x n matrices.

    A hidden matrix W (i.i.d. N(0, 1)) enters only through W a (forward, a = phi(h_l)) and
    W^T delta (backward).  With Q an orthonormal basis of a's column span, W = W Q Q^T +
    W (I - Q Q^T): G = W Q is an n x m standard Gaussian matrix, the second part is independent
    of G and of everything delta depends on, and, given delta = Q_d R (QR), its product
    (I - Q Q^T) W^T delta has the law of (I - Q Q^T) Y R with Y standard Gaussian.  So the
    sampling below is exact in distribution; `test_projected_sampler_matches_dense_networks`
    checks it against `_dense_network`.
    """
    phi, dphi = _PHI[activation]
    sw, sb = _constants(activation, bias_variance)
    n, (d, m) = width, x.shape
    h = rng.standard_normal((draws, n, d)) @ x / math.sqrt(d)
    h = h + sb * rng.standard_normal((draws, n, 1))
    pre, post, bases, coordinates = [h], [phi(h)], [], []
    for _ in range(depth - 1):
        q, _ = np.linalg.qr(post[-1])
        g = rng.standard_normal((draws, n, m))
        h = sw * g @ _gram(q, post[-1]) / math.sqrt(n) + sb * rng.standard_normal((draws, n, 1))
        bases.append(q)
        coordinates.append(g)
        pre.append(h)
        post.append(phi(h))
    w = rng.standard_normal((draws, n, 1))
    f = sw * (w * post[-1]).sum(axis=1) / math.sqrt(n) + sb * rng.standard_normal((draws, 1))
    deltas = [sw * w * dphi(pre[-1]) / math.sqrt(n)]
    for layer in range(depth - 2, -1, -1):
        q, g = bases[layer], coordinates[layer]
        _, r = np.linalg.qr(deltas[0])
        rest = rng.standard_normal((draws, n, m)) @ r
        rest = rest - q @ _gram(q, rest)
        back = sw * (q @ _gram(g, deltas[0]) + rest) / math.sqrt(n)
        deltas.insert(0, back * dphi(pre[layer]))
    nngp = sw**2 * _gram(post[-1]) / n + bias_variance
    return f, nngp, _ntk_gram(x, post, deltas, activation, bias_variance)


ZS = (1.0, -0.7, 0.0, 0.5)
_BIASES = (0.0, 0.2)
_WIDTH = {1: 4000, 2: 2000}  # by depth
_DRAWS, _BATCH = 400, 50
_DIM = 3


def _inputs():
    # x_0 and x_k on the sphere of radius sqrt(d) with <x_0, x_k>/d = z_k; z = 1 is x_0 itself.
    columns = [np.array([1.0, 0.0, 0.0])]
    for value in ZS[1:]:
        columns.append(np.array([value, math.sqrt(1 - value**2), 0.0]))
    return math.sqrt(_DIM) * np.stack(columns, axis=1)


@functools.lru_cache(maxsize=None)
def _monte_carlo(activation, depth, bias_variance):
    """Mean and standard error over `_DRAWS` independent networks of width `_WIDTH[depth]`, for
    each z in ZS (pairs (x_0, x_k)), of the raw product f(x_0) f(x_k), of its conditional mean
    given the hidden layers s_w^2 phi(h_L(x_0)) . phi(h_L(x_k)) / n + s_b^2 (NNGP), and of the
    empirical NTK <grad f(x_0), grad f(x_k)>."""
    seed = [20240611, ACTIVATIONS.index(activation), depth, int(100 * bias_variance)]
    rng = np.random.default_rng(seed)
    x = _inputs()
    samples = {"raw": [], "nngp": [], "ntk": []}
    for _ in range(_DRAWS // _BATCH):
        f, nngp, ntk = _projected_networks(
            rng, x, activation, bias_variance, _WIDTH[depth], depth, _BATCH
        )
        samples["raw"].append(f[:, :1] * f)
        samples["nngp"].append(nngp[:, 0, :])
        samples["ntk"].append(ntk[:, 0, :])
    out = {}
    for kind, values in samples.items():
        values = np.concatenate(values)
        out[kind] = (values.mean(axis=0), values.std(axis=0, ddof=1) / math.sqrt(_DRAWS))
    return out


def _theory(kind, activation, depth, bias):
    h = _kernel(kind, activation, depth, sp.Rational(str(bias)))
    return np.array([float(h.subs(z, sp.Rational(str(value))).evalf(30)) for value in ZS])


def test_backprop_matches_finite_differences():
    rng = np.random.default_rng(7)
    d, width, depth, bias = 3, 4, 3, 0.3
    x = rng.standard_normal((d, 2))
    x *= math.sqrt(d) / np.linalg.norm(x, axis=0)
    params = _sample_parameters(rng, d, width, depth)
    leaves = [params["W"][i] for i in range(depth)] + [params["b"][i] for i in range(depth)]
    leaves.append(params["w"])
    for act in ACTIVATIONS:
        jacobian = []
        for array in leaves:
            for position in np.ndindex(array.shape):
                saved = array[position]
                array[position] = saved + 1e-6
                up = _dense_network(params, x, act, bias)[0]
                array[position] = saved - 1e-6
                down = _dense_network(params, x, act, bias)[0]
                array[position] = saved
                jacobian.append((up - down) / 2e-6)
        jacobian.append(np.full(2, math.sqrt(bias)))  # the readout bias
        jacobian = np.asarray(jacobian)
        ntk = _dense_network(params, x, act, bias)[2]
        assert ntk == pytest.approx(jacobian.T @ jacobian, rel=1e-6)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_projected_sampler_matches_dense_networks(activation):
    # Same law, two samplers: the means of f f', the NNGP and the NTK estimators agree within
    # 4 combined standard errors (width 24, depth 3, 3000 networks each).
    rng = np.random.default_rng([11, ACTIVATIONS.index(activation)])
    x, width, depth, bias, draws = _inputs(), 24, 3, 0.2, 3000
    dense = [_dense_network(_sample_parameters(rng, _DIM, width, depth), x, activation, bias)
             for _ in range(draws)]
    projected = _projected_networks(rng, x, activation, bias, width, depth, draws)
    for index in range(3):
        a = np.asarray([sample[index] for sample in dense])
        b = projected[index]
        if index == 0:
            a, b = a[:, :1] * a, b[:, :1] * b
        se = np.sqrt(a.var(axis=0) / draws + b.var(axis=0) / draws)
        assert np.all(np.abs(a.mean(axis=0) - b.mean(axis=0)) <= 4 * se + 1e-12)


@pytest.mark.parametrize("kind", ["nngp", "ntk", "raw"])
@pytest.mark.parametrize("bias", _BIASES)
@pytest.mark.parametrize("depth", [1, 2])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_closed_forms_match_finite_networks(activation, depth, bias, kind):
    # Tolerance: 4 standard errors of the mean over 400 independent networks (width 4000 at
    # depth 1, 2000 at depth 2), plus 4/width at depth 2 for the O(1/width) finite-width bias of
    # the mean (at depth 1 all three estimators are exactly unbiased: h_1 is exactly Gaussian).
    # The empirical NTK fluctuates by O(width^-1/2) per network, the raw product f(x)f(x') by
    # O(1), hence its much larger standard error.
    mean, se = _monte_carlo(activation, depth, bias)[kind]
    expected = _theory("nngp" if kind == "raw" else kind, activation, depth, bias)
    allowance = 0.0 if depth == 1 else 4 / _WIDTH[depth]
    deviation = np.abs(mean - expected)
    assert np.all(deviation <= 4 * se + allowance), (
        f"z={ZS}: measured {mean}, closed form {expected}, standard errors {se}"
    )


# ---------------------------------------------------------------------------------------------
# Exact values and identities


def test_kernel_variable_is_the_shared_symbol():
    assert KERNEL_VARIABLE == sp.Symbol("z", real=True)
    assert nngp_kernel("relu", 1).free_symbols == {sp.Symbol("z", real=True)}


def test_relu_exact_values():
    nngp, ntk = nngp_kernel("relu", 1), ntk_kernel("relu", 1)
    assert nngp.subs(z, 1) == 1  # He initialisation preserves the diagonal
    assert nngp.subs(z, 0) == 1 / sp.pi
    assert nngp.subs(z, -1) == 0
    assert ntk.subs(z, 1) == 2  # Sigma_1 + Theta_0 * dotSigma_1 = 1 + 1
    assert ntk.subs(z, 0) == 1 / sp.pi
    assert sp.simplify(nngp - (sp.sqrt(1 - z**2) + (sp.pi - sp.acos(z)) * z) / sp.pi) == 0
    assert sp.simplify(ntk - nngp - z * (sp.pi - sp.acos(z)) / sp.pi) == 0


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_relu_diagonal(depth):
    bias = sp.Rational(1, 4)
    assert nngp_kernel("relu", depth).subs(z, 1) == 1
    assert ntk_kernel("relu", depth).subs(z, 1) == depth + 1
    # q_l = 1 + (l + 1) b, Theta_L(1) = sum_{l <= L} q_l
    assert sp.simplify(nngp_kernel("relu", depth, bias_variance=bias).subs(z, 1)) == 1 + (
        depth + 1
    ) * bias
    assert sp.simplify(ntk_kernel("relu", depth, bias_variance=bias).subs(z, 1)) == (
        depth + 1 + bias * (depth + 1) * (depth + 2) / 2
    )


def test_erf_exact_values():
    q1 = 2 / sp.pi * sp.asin(sp.Rational(2, 3))
    assert nngp_kernel("erf", 1).subs(z, 1) == q1
    assert sp.simplify(ntk_kernel("erf", 1).subs(z, 1) - q1 - 4 / (sp.pi * sp.sqrt(5))) == 0
    assert nngp_kernel("erf", 1).subs(z, 0) == 0
    q2 = 2 / sp.pi * sp.asin(2 * q1 / (1 + 2 * q1))
    assert sp.simplify(nngp_kernel("erf", 2).subs(z, 1) - q2) == 0


@given(st.floats(-1, 1), st.integers(1, 4))
def test_symmetries(value, depth):
    with mpmath.workdps(30):
        t = mpmath.mpf(value)
        # relu(v) - relu(-v) = v gives Sigma_1(z) - Sigma_1(-z) = z; 1{v>0} + 1{-v>0} = 1 gives
        # dotSigma_1(z) + dotSigma_1(-z) = 1, so Theta_1(z) - Theta_1(-z) = 2z.
        nngp, ntk = _evaluator("nngp", "relu", 1), _evaluator("ntk", "relu", 1)
        assert abs(nngp(t) - nngp(-t) - t) < 1e-25
        assert abs(ntk(t) - ntk(-t) - 2 * t) < 1e-25
        # erf is odd: without bias the kernels are odd functions of z at every depth.
        for kind in KERNEL_KINDS:
            h = _evaluator(kind, "erf", depth)
            assert abs(h(t) + h(-t)) < 1e-25


_GRID = np.linspace(-1, 1, 401)[1:-1]  # the open interval (-1, 1); z = -1 is added


@settings(max_examples=20)
@given(
    st.sampled_from(ACTIVATIONS),
    st.sampled_from(KERNEL_KINDS),
    st.integers(1, 4),
    st.sampled_from([0, sp.Rational(1, 10), sp.Rational(1, 2)]),
)
def test_kernel_shape(activation, kind, depth, bias):
    top = float(_kernel(kind, activation, depth, bias).subs(z, 1))
    with np.errstate(invalid="raise"):  # a NaN would mean a complex value
        values = _evaluator(kind, activation, depth, bias, "numpy")(np.append(-1.0, _GRID))
    assert np.abs(values).max() <= top * (1 + 1e-12)  # |K(x, x')| <= K(x, x) = K(x', x')
    # Increasing on [0, 1] (non-negative Taylor coefficients); NNGPs and erf NTKs increase on
    # all of [-1, 1] (Price: Sigma_{l+1}' = dotSigma_{l+1} Sigma_l' >= 0).
    if (kind, activation) == ("ntk", "relu"):
        rising = np.append(values[1:][_GRID >= 0], top)
    else:
        rising = np.append(values, top)
    assert np.all(np.diff(rising) > 0)


@pytest.mark.parametrize(
    "depth, bias, argmin, minimum",
    [
        (1, 0, -0.794, -0.13679),
        (1, sp.Rational(1, 10), -0.9736, -0.050469),
        (2, 0, -0.8504, 0.26013),
        (3, 0, -0.8886, 0.65547),
        (4, 0, -0.9146, 1.04281),
    ],
)
def test_relu_ntk_is_not_monotone_on_the_negative_side(depth, bias, argmin, minimum):
    # The NTK's Theta_l * dotSigma_{l+1} term: Theta_l < 0 near z = -1 pulls h below h(-1).
    evaluate = _evaluator("ntk", "relu", depth, bias)
    with mpmath.workdps(30):
        location = mpmath.findroot(lambda t: mpmath.diff(evaluate, t), argmin)
        assert float(location) == pytest.approx(argmin, abs=2e-3)
        assert float(evaluate(location)) == pytest.approx(minimum, abs=1e-4)
        assert evaluate(location) < evaluate(mpmath.mpf(-1))
        if depth == 1 and bias == 0:
            # Theta_1' = (z / sqrt(1 - z^2) + 2 (pi - acos z)) / pi vanishes there
            t = location
            slope = t / mpmath.sqrt(1 - t**2) + 2 * (mpmath.pi - mpmath.acos(t))
            assert abs(slope) < 1e-20


# ---------------------------------------------------------------------------------------------
# Taylor coefficients


@settings(max_examples=25)
@given(
    st.sampled_from(ACTIVATIONS),
    st.sampled_from(KERNEL_KINDS),
    st.integers(1, 4),
    st.integers(0, 4).map(lambda k: sp.Rational(k, 4)),
)
def test_taylor_coefficients_are_non_negative(activation, kind, depth, bias):
    h = _kernel(kind, activation, depth, bias)
    coefficients = kernel_taylor_coefficients(h, 10, digits=20)
    assert len(coefficients) == 11
    assert all(c >= 0 for c in coefficients)
    # The series sums to the kernel: at z = 1/2 the remainder is in [0, 2^-11 h(1)], because the
    # coefficients are non-negative and sum to h(1).
    value = _evaluator(kind, activation, depth, bias, "numpy")(0.5)
    remainder = float(value) - sum(float(c) / 2**j for j, c in enumerate(coefficients))
    assert -1e-13 <= remainder <= 2.0**-11 * float(h.subs(z, 1))


def _recursion_value(activation, depth, bias, t):
    """Theta_L(t) by running the layer recursion of the docstring numerically (mpmath)."""
    sigma = theta = t + bias
    q = 1 + bias
    for _ in range(depth):
        if activation == "relu":
            angle = mpmath.acos(sigma / q)
            new_sigma = q * (mpmath.sin(angle) + (mpmath.pi - angle) * mpmath.cos(angle))
            dot = (mpmath.pi - angle) / mpmath.pi
            sigma, q = new_sigma / mpmath.pi + bias, q + bias
        else:
            dot = 4 / mpmath.pi / mpmath.sqrt((1 + 2 * q) ** 2 - 4 * sigma**2)
            sigma = 2 / mpmath.pi * mpmath.asin(2 * sigma / (1 + 2 * q)) + bias
            q = 2 / mpmath.pi * mpmath.asin(2 * q / (1 + 2 * q)) + bias
        theta = sigma + theta * dot
    return theta


@pytest.mark.parametrize("activation, depth, bias", [("relu", 8, "0.1"), ("erf", 5, "0.1")])
def test_deepest_kernels_expand(activation, depth, bias):
    # The series engine visits shared sub-expressions once (sympy's own `free_symbols` and
    # `series` are exponential in the depth here).
    h = ntk_kernel(activation, depth, bias_variance=sp.Rational(bias))
    coefficients = kernel_taylor_coefficients(h, 30, digits=20)
    assert all(c >= 0 for c in coefficients)
    with mpmath.workdps(20):
        expected = _recursion_value(activation, depth, mpmath.mpf(bias), mpmath.mpf(1) / 4)
    partial = sum(float(c) / 4**j for j, c in enumerate(coefficients))
    assert partial == pytest.approx(float(expected), rel=1e-15)


def _arcsin_coefficient(m):
    # asin(z) = sum_m binom(2m, m) 4^-m z^(2m+1) / (2m+1)
    return sp.binomial(2 * m, m) / sp.Integer(4) ** m / (2 * m + 1)


def test_relu_depth1_coefficients_exact():
    nngp = kernel_taylor_coefficients(nngp_kernel("relu", 1), 20)
    ntk = kernel_taylor_coefficients("relu-ntk", 20)
    assert nngp[:5] == (1 / sp.pi, sp.Rational(1, 2), 1 / (2 * sp.pi), 0, 1 / (24 * sp.pi))
    assert ntk[:2] == (1 / sp.pi, 1)
    for m in range(10):
        a = _arcsin_coefficient(m)
        assert nngp[2 * m + 2] == a / (sp.pi * (2 * m + 2))
        assert ntk[2 * m + 2] == (2 * m + 3) * a / (sp.pi * (2 * m + 2))
    assert all(c == 0 for c in nngp[3::2] + ntk[3::2])


def test_erf_depth1_coefficients_exact():
    # (2/pi) asin(2z/3) and the derivative term 4z / (pi sqrt(9 - 4z^2))
    nngp = kernel_taylor_coefficients("erf-nngp", 9)
    ntk = kernel_taylor_coefficients("erf-ntk", 9)
    for m in range(5):
        j = 2 * m + 1
        a = _arcsin_coefficient(m) * sp.Rational(2, 3) ** j
        assert nngp[j] == 2 / sp.pi * a
        dot = sp.Rational(4, 3) / sp.pi * sp.binomial(2 * m, m) * (sp.Rational(2, 3) ** 2 / 4) ** m
        assert sp.simplify(ntk[j] - 2 / sp.pi * a - dot) == 0
        assert nngp[j - 1] == 0 and ntk[j - 1] == 0


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("kind, exponent", [("nngp", -2.5), ("ntk", -1.5)])
def test_relu_coefficients_decay_polynomially(kind, exponent, depth):
    # sqrt(1 - z) singularity at z = 1 at every depth: h_j ~ C j^exponent (along even j at
    # depth 1, where the odd coefficients beyond j = 1 vanish).
    coefficients = kernel_taylor_coefficients(_kernel(kind, "relu", depth), 120, digits=20)
    slope = math.log(coefficients[120] / coefficients[60]) / math.log(2)
    assert slope == pytest.approx(exponent, abs=0.06)
    if depth == 1:
        constant = math.sqrt(2 / math.pi) / math.pi
        assert float(coefficients[120]) * 120 ** (-exponent) == pytest.approx(constant, rel=0.03)


@pytest.mark.parametrize(
    "spec",
    [
        "relu-nngp:depth=2",
        "relu-ntk:depth=3,bias=0.1",
        "erf-ntk:depth=2",
        "erf-nngp:depth=3,bias=1/2",
    ],
)
def test_taylor_coefficients_match_cauchy_integrals(spec):
    # Independent route: h_j = (1/N) sum_k h(r w^k) w^(-jk) / r^j on the circle |z| = r, with
    # mpmath's complex acos/asin/sqrt (the kernels are analytic in the unit disc).
    h = named_kernel(spec)
    coefficients = kernel_taylor_coefficients(h, 8, digits=25)
    evaluate = sp.lambdify(z, h, modules="mpmath")
    with mpmath.workdps(30):
        r, points = mpmath.mpf("0.5"), 64
        values = [evaluate(r * mpmath.expjpi(2 * mpmath.mpf(k) / points)) for k in range(points)]
        for j, c in enumerate(coefficients):
            integral = mpmath.fsum(
                v * mpmath.expjpi(-2 * mpmath.mpf(j * k) / points) for k, v in enumerate(values)
            ) / points / r**j
            assert abs(integral.imag) < 1e-20
            assert float(c) == pytest.approx(float(integral.real), rel=1e-15, abs=1e-20)


@pytest.mark.parametrize(
    "text",
    ["exp(z)", "exp(sin(z))", "cos(z)**2", "1/(1 - z/2)", "sqrt(1 + z)", "log(2 + z)", "atan(z/2)",
     "erf(z)", "tan(z)", "cosh(z)*asin(z/3)", "(1 + z)**3/8", "2**z"],
)
def test_taylor_coefficients_match_sympy_series(text):
    h = kernel_expression(text)
    expected = sp.series(h, z, 0, 8).removeO()
    exact = kernel_taylor_coefficients(text, 7)
    floats = kernel_taylor_coefficients(text, 7, digits=30)
    for j in range(8):
        assert sp.simplify(exact[j] - expected.coeff(z, j)) == 0
        assert abs(floats[j] - expected.coeff(z, j).evalf(30)) < 1e-28


def test_taylor_coefficients_exact_types():
    assert kernel_taylor_coefficients("exp(z)", 5) == tuple(1 / sp.factorial(j) for j in range(6))
    assert kernel_taylor_coefficients("(1 + z)^2", 3) == (1, 2, 1, 0)
    assert kernel_taylor_coefficients("3", 2) == (3, 0, 0)
    floats = kernel_taylor_coefficients("relu-ntk", 3, digits=12)
    assert all(isinstance(c, sp.Float) for c in floats)
    assert float(floats[3]) == 0.0 and float(floats[1]) == 1.0  # sympy: Float(0) != 0


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("sqrt(z)", "not analytic at z = 0"),
        ("1/z", "not analytic at z = 0"),
        ("abs(z)", "no Taylor series"),
        ("relu(z)", "no Taylor series"),
        ("log(z - 2)", "not real"),
        ("acos(z + 2)", "not real"),
    ],
)
def test_taylor_coefficients_reject_non_analytic_kernels(text, fragment):
    for digits in (None, 20):
        with pytest.raises(ValueError, match=fragment):
            kernel_taylor_coefficients(text, 4, digits=digits)


def test_taylor_coefficients_argument_errors():
    with pytest.raises(ValueError, match="pass digits=30"):
        kernel_taylor_coefficients(ntk_kernel("relu", 3), 10)
    with pytest.raises(ValueError, match="order must be a non-negative integer, got -1"):
        kernel_taylor_coefficients("exp(z)", -1)
    with pytest.raises(TypeError, match="order must be an int, got float"):
        kernel_taylor_coefficients("exp(z)", 2.0)
    with pytest.raises(ValueError, match="digits must be a positive integer or None, got 0"):
        kernel_taylor_coefficients("exp(z)", 2, digits=0)
    with pytest.raises(ValueError, match=r"free symbols \['y'\]"):
        kernel_taylor_coefficients(sp.exp(z * sp.Symbol("y")), 2)


# ---------------------------------------------------------------------------------------------
# Names, strings and argument checking


@pytest.mark.parametrize(
    "spec, kind, activation, depth, bias",
    [
        ("relu-ntk", "ntk", "relu", 1, 0),
        ("relu-nngp", "nngp", "relu", 1, 0),
        ("relu-ntk:depth=2", "ntk", "relu", 2, 0),
        ("erf-ntk:depth=3,bias=0.1", "ntk", "erf", 3, sp.Rational(1, 10)),
        (" erf-nngp : bias = 1/4 , depth = 2 ", "nngp", "erf", 2, sp.Rational(1, 4)),
        ("relu-nngp:bias=1e-2", "nngp", "relu", 1, sp.Rational(1, 100)),
    ],
)
def test_named_kernels(spec, kind, activation, depth, bias):
    expected = _kernel(kind, activation, depth, bias)
    assert named_kernel(spec) == expected
    assert kernel_expression(spec) == expected


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ("tanh-ntk", r"unknown activation 'tanh'; allowed activations are \['relu', 'erf'\]"),
        ("relu-gp", r"unknown kernel kind 'gp'; allowed kinds are \['nngp', 'ntk'\]"),
        ("relu-ntk:width=3", "unknown key 'width'; allowed keys are depth: .*; bias: "),
        ("relu-ntk:depth=0", "depth='0' is not allowed; depth must be an integer from 1 to 8"),
        ("erf-ntk:depth=6", "depth='6' is not allowed; depth must be an integer from 1 to 5 for"),
        ("relu-ntk:depth=2.5", "depth='2.5' is not allowed"),
        ("relu-ntk:depth=9", "depth='9' is not allowed"),
        ("relu-ntk:bias=-0.1", "bias='-0.1' is not allowed; bias .* must be a non-negative"),
        ("relu-ntk:bias=x", "bias='x' is not allowed"),
        ("relu-ntk:depth=2,depth=3", "key 'depth' is given twice"),
        ("relu-ntk:depth", "option 'depth' is not of the form key=value"),
        ("relu-ntk:", "option '' is not of the form key=value"),
        ("relu", "is not of the form '<activation>-<kind>"),
    ],
)
def test_named_kernel_errors(spec, fragment):
    with pytest.raises(ValueError, match=fragment):
        named_kernel(spec)


def test_named_kernel_errors_through_kernel_expression():
    with pytest.raises(ValueError, match="allowed activations"):
        kernel_expression("tanh-ntk:depth=2")
    with pytest.raises(ValueError, match="allowed kinds"):
        kernel_expression("relu-foo")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("exp(z)", sp.exp(z)),
        ("(1 + z)^3 / 8", (1 + z) ** 3 / 8),
        ("z-z", sp.Integer(0)),
        ("pi - z", sp.pi - z),
        ("0.5*z + asin(z)/pi", z / 2 + sp.asin(z) / sp.pi),
    ],
)
def test_kernel_expression_strings(text, expected):
    assert kernel_expression(text) == expected


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("x + z", "unknown name 'x'"),
        ("exp(y)", "unknown name 'y'"),
        ("__import__('os')", "unknown function '__import__'"),
        ("z.real", "Attribute is not allowed"),
        ("", "kernel is empty"),
    ],
)
def test_kernel_expression_rejects(text, fragment):
    with pytest.raises(ValueError, match=fragment):
        kernel_expression(text)


def test_kernel_expression_sympy_input():
    assert kernel_expression(sp.exp(sp.Symbol("z"))) == sp.exp(z)  # plain z is the variable
    with pytest.raises(ValueError, match=r"free symbols \['a'\]; a kernel may depend on z only"):
        kernel_expression(sp.Symbol("a") * z)
    with pytest.raises(TypeError, match="kernel must be a string or sympy expression"):
        kernel_expression(3)


def test_builder_argument_errors():
    with pytest.raises(ValueError, match=r"activation must be one of \['relu', 'erf'\], got 'ta"):
        nngp_kernel("tanh", 1)
    with pytest.raises(ValueError, match=r"must be an integer in \[1, 8\] for relu, got 0"):
        ntk_kernel("relu", 0)
    with pytest.raises(ValueError, match=r"integer in \[1, 5\] for erf, got 6"):
        nngp_kernel("erf", 6)
    with pytest.raises(TypeError, match="depth must be an int, got float"):
        ntk_kernel("relu", 2.0)
    with pytest.raises(ValueError, match="bias_variance must be a finite non-negative"):
        nngp_kernel("erf", 1, bias_variance=-0.5)
    with pytest.raises(ValueError, match="bias_variance must be a finite non-negative"):
        nngp_kernel("erf", 1, bias_variance=float("nan"))
    with pytest.raises(ValueError, match="bias_variance must be a finite non-negative"):
        nngp_kernel("erf", 1, bias_variance=sp.Symbol("b"))
    with pytest.raises(TypeError, match="bias_variance must be a real number"):
        nngp_kernel("erf", 1, bias_variance="0.1")
    assert nngp_kernel("relu", 2, bias_variance=0.1) == nngp_kernel(
        "relu", 2, bias_variance=sp.Rational(1, 10)
    )
