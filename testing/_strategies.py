"""Hypothesis strategies that generate valid objects of the toolkit.

Every strategy builds its objects *directly valid* (non-negative Taylor coefficients by
construction, constraints whose Jacobian has full rank by construction, learning rates scaled
to the spectrum, ...), so a bound test rejects almost nothing; the benchmark
`benchmarks/check_bounds.py` reports the filter ratio.  Every strategy shrinks towards the
smallest object of its kind (low degree, small dimension, few tensors, coefficient 1).

The objects are those of the layers, built by their own constructors
([`kernel_spectrum`][limitlab.theory.kernel_spectrum],
[`named_kernel`][limitlab.theory.named_kernel],
[`noise_model`][limitlab.theory.noise_model],
[`MLPConfig`][limitlab.numerics.MLPConfig], ...): nothing is re-implemented here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import sympy as sp
from hypothesis import strategies as st

from limitlab import theory

__all__ = [
    "JacobianProblem",
    "ManifoldLoss",
    "PowerLawSpectrum",
    "RandomFeaturesProblem",
    "SphereProblem",
    "correlation_functions",
    "jacobian_problems",
    "kernels",
    "manifold_losses",
    "named_kernels",
    "network_configs",
    "noise_levels",
    "noise_models",
    "power_law_spectra",
    "random_features_problems",
    "seeds",
    "sphere_problems",
    "sphere_spectra",
    "taylor_kernels",
    "targets",
]

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _rationals(low, high, denominator: int = 4):
    """Exact rationals k/`denominator` in [low, high] (numbers or strings such as "1/4");
    shrink towards `low`."""
    a = int(sp.ceiling(sp.Rational(low) * denominator))
    b = int(sp.floor(sp.Rational(high) * denominator))
    return st.integers(a, b).map(lambda k: sp.Rational(k, denominator))


# --------------------------------------------------------------------------------------------
# seeds and scalar knobs


def seeds(max_value: int = 2**32 - 1) -> st.SearchStrategy[int]:
    """Integer seeds in $[0,$ `max_value`$]$ for `numpy.random.default_rng` or
    [`key_from_seed`][limitlab.numerics.key_from_seed]; shrink towards 0.

    Put the seed of a Monte Carlo side *into the example*: the failing example then names the
    seed, and running the bound on it reproduces the failure exactly.
    """
    _check_int(max_value, "max_value", 0)
    return st.integers(0, max_value)


def noise_levels(max_variance: float = 2.0, *, allow_zero: bool = True) -> st.SearchStrategy[float]:
    """Label-noise variances $\\sigma^2\\in[0,$ `max_variance`$]$ (or $(0,\\dots]$ with
    `allow_zero=False`); shrink towards 0 (or towards the smallest positive value)."""
    low = 0.0 if allow_zero else 1e-3
    return st.floats(low, float(max_variance), allow_nan=False, allow_infinity=False)


# --------------------------------------------------------------------------------------------
# kernels and spectra


def taylor_kernels(
    max_degree: int = 4, *, max_coefficient: int = 3, exponential: bool = True
) -> st.SearchStrategy[sp.Expr]:
    """Inner-product kernels $h(z)$ with non-negative Taylor coefficients, as sympy expressions
    in [`KERNEL_VARIABLE`][limitlab.theory.KERNEL_VARIABLE].

    Produces $h(z)=\\sum_{k\\le p}a_kz^k$ with rationals $a_k\\in[0,$ `max_coefficient`$]$
    (at least one positive), $p\\le$ `max_degree`, and with `exponential=True` also
    $h(z)\\,e^{bz}$ with a rational $b\\in[1/4,2]$.  Non-negative Taylor coefficients make
    $K(x,x')=h(\\langle x,x'\\rangle/d)$ positive semi-definite on every sphere (Schoenberg;
    `kernel-gradient-flow.md` §3 [literature]); a product of two such series is one again.
    Shrinks towards a positive constant kernel.

    **Arguments:**

    - `max_degree`: the largest polynomial degree $p\\ge0$.
    - `max_coefficient`: the largest coefficient, an integer $\\ge1$.
    - `exponential`: also produce the factor $e^{bz}$ (non-polynomial kernels; their
      Funk–Hecke eigenvalues are then 30-digit series instead of exact rationals).
    """
    _check_int(max_degree, "max_degree", 0)
    _check_int(max_coefficient, "max_coefficient", 1)
    z = theory.KERNEL_VARIABLE

    @st.composite
    def build(draw):
        degree = draw(st.integers(0, max_degree))
        coefficients = [draw(_rationals(0, max_coefficient)) for _ in range(degree + 1)]
        if all(a == 0 for a in coefficients):
            coefficients[draw(st.integers(0, degree))] = sp.Integer(1)
        h = sum((a * z**k for k, a in enumerate(coefficients)), sp.Integer(0))
        if exponential and draw(st.booleans()):
            h = h * sp.exp(draw(_rationals("1/4", 2)) * z)
        return h

    return build()


def named_kernels(
    activations: Sequence[str] = ("relu", "erf"),
    kinds: Sequence[str] = ("nngp", "ntk"),
    *,
    max_depth: int = 3,
    bias: bool = True,
) -> st.SearchStrategy[str]:
    """Names of the built-in NN kernels, e.g. `"relu-ntk:depth=2,bias=1/4"`, for
    [`named_kernel`][limitlab.theory.named_kernel] or
    [`kernel_spectrum`][limitlab.theory.kernel_spectrum].

    Produces the NNGP and NTK kernels of fully connected networks (every one has non-negative
    Taylor coefficients: a dual activation is a positive combination of squared Hermite
    coefficients [literature]), depth $1..$`max_depth`, bias variance $0$ or a rational in
    $(0,1]$ when `bias`.  Shrinks towards `"<first activation>-<first kind>:depth=1"`.
    """
    _check_int(max_depth, "max_depth", 1)
    for name, values, allowed in (("activations", activations, theory.KERNEL_ACTIVATIONS),
                                  ("kinds", kinds, theory.KERNEL_KINDS)):
        if not values or any(v not in allowed for v in values):
            raise ValueError(f"{name} must be a non-empty subset of {list(allowed)}, got {values!r}")

    @st.composite
    def build(draw):
        activation = draw(st.sampled_from(list(activations)))
        kind = draw(st.sampled_from(list(kinds)))
        depth = draw(st.integers(1, max_depth))
        spec = f"{activation}-{kind}:depth={depth}"
        if bias:
            b = draw(st.sampled_from([0, sp.Rational(1, 4), sp.Rational(1, 2), 1]))
            if b:
                spec += f",bias={b}"
        return spec

    return build()


def kernels(
    max_degree: int = 3, *, max_depth: int = 2, activations: Sequence[str] = ("erf",)
) -> st.SearchStrategy[sp.Expr]:
    """Either a [`taylor_kernels`][limitlab.testing.strategies.taylor_kernels] expression or a
    [`named_kernels`][limitlab.testing.strategies.named_kernels] kernel turned into its sympy
    expression by [`named_kernel`][limitlab.theory.named_kernel]; shrinks towards $h=1$.

    The default NN kernels are the erf ones: their Funk–Hecke eigenvalues are Taylor series
    (0.01–0.2 s per spectrum for $d\\ge6$).  ReLU kernels are not analytic at $z=\\pm1$ and go
    through 20-digit quadrature: 0.5–8 s per spectrum ($d=10..100$, $k_{\\max}=4$, depth 1–3);
    pass `activations=("relu", "erf")` to include them in a thorough run.
    """
    return st.one_of(taylor_kernels(max_degree),
                     named_kernels(activations, max_depth=max_depth).map(theory.named_kernel))


def sphere_spectra(
    kernel_strategy: st.SearchStrategy | None = None,
    *,
    min_d: int = 6,
    max_d: int = 30,
    kmax: int = 3,
) -> st.SearchStrategy:
    """Funk–Hecke spectra with multiplicities $(\\lambda_{d,k},N(d,k))_{k\\le k_{\\max}}$ on
    $\\mathbb S^{d-1}(\\sqrt d)$ at a random dimension $d\\in[$`min_d`$,$`max_d`$]$, as a
    [`KernelSpectrum`][limitlab.theory.KernelSpectrum] built by
    [`kernel_spectrum`][limitlab.theory.kernel_spectrum] (cached, a few ms per degree).

    **Arguments:**

    - `kernel_strategy`: the kernels (default [`kernels()`][limitlab.testing.strategies.kernels]).
    - `min_d`, `max_d`: the dimension range, $3\\le$ `min_d` $\\le$ `max_d` (default
      $6..30$: below $d=6$ the series of the NN kernels converge slowly, 0.5–2.5 s each).
    - `kmax`: the largest stored degree.
    """
    _check_int(min_d, "min_d", 3)
    _check_int(max_d, "max_d", min_d)
    _check_int(kmax, "kmax", 0)
    kernel_strategy = kernels() if kernel_strategy is None else kernel_strategy
    return st.builds(lambda h, d: theory.kernel_spectrum(h, d, kmax),
                     kernel_strategy, st.integers(min_d, max_d))


@dataclasses.dataclass(frozen=True)
class PowerLawSpectrum:
    """A spectrum with multiplicities: level $k$ has the eigenvalue
    $\\lambda_k=\\lambda_0(k+1)^{-\\alpha}$ repeated $N_k$ times.

    **Fields:** `eigenvalues` ($\\lambda_k$, float64, decreasing), `multiplicities` ($N_k$,
    ints $\\ge1$), `exponent` ($\\alpha$), `scale` ($\\lambda_0$).  `expanded()` lists every
    eigenvalue with its multiplicity (length $\\sum_kN_k$).
    """

    eigenvalues: np.ndarray
    multiplicities: tuple[int, ...]
    exponent: float
    scale: float

    def expanded(self) -> np.ndarray:
        """Every eigenvalue repeated by its multiplicity, decreasing."""
        return np.repeat(self.eigenvalues, self.multiplicities)


def power_law_spectra(
    max_levels: int = 5, *, max_multiplicity: int = 3, exponents: tuple[float, float] = (0.5, 4.0)
) -> st.SearchStrategy[PowerLawSpectrum]:
    """Power-law spectra with multiplicities ([`PowerLawSpectrum`][limitlab.testing.strategies.PowerLawSpectrum]):
    $1..$`max_levels` levels, multiplicities $1..$`max_multiplicity`, exponent $\\alpha$ in
    `exponents`, scale $\\lambda_0\\in[10^{-2},10^2]$.  Shrinks towards one level of
    multiplicity 1."""
    _check_int(max_levels, "max_levels", 1)
    _check_int(max_multiplicity, "max_multiplicity", 1)

    @st.composite
    def build(draw):
        levels = draw(st.integers(1, max_levels))
        alpha = draw(st.floats(*exponents))
        scale = 10.0 ** draw(st.floats(-2.0, 2.0))
        mult = tuple(draw(st.integers(1, max_multiplicity)) for _ in range(levels))
        eigenvalues = scale * (np.arange(levels) + 1.0) ** (-alpha)
        return PowerLawSpectrum(eigenvalues, mult, alpha, scale)

    return build()


def targets(spectrum, *, max_energy: float = 2.0) -> st.SearchStrategy[dict[int, float]]:
    """Target energies per degree $\\{k:F_k=\\lVert P_kf_d\\rVert^2\\}$ for a
    [`KernelSpectrum`][limitlab.theory.KernelSpectrum]: only degrees with $\\lambda_{d,k}>0$
    (the assumption of [`oracle_risk`][limitlab.theory.oracle_risk]: the target lies in the
    closure of the RKHS), $F_k\\in[0,$ `max_energy`$]$, at least one degree.  Shrinks towards
    $\\{k_0:0\\}$ for the first degree $k_0$ with $\\lambda_{k_0}>0$."""
    degrees = [k for k in spectrum.degrees if spectrum.eigenvalues[k] > 0]
    if not degrees:
        raise ValueError("spectrum has no positive eigenvalue up to kmax: no target is learnable")
    energy = st.floats(0.0, float(max_energy))
    return st.dictionaries(st.sampled_from(degrees), energy, min_size=1, max_size=len(degrees))


@dataclasses.dataclass(frozen=True)
class SphereProblem:
    """A kernel regression problem on the sphere: `spectrum` (a
    [`KernelSpectrum`][limitlab.theory.KernelSpectrum]), `energies` ($\\{k:F_k\\}$), `noise`
    ($\\sigma^2$) and `n` (samples)."""

    spectrum: object
    energies: dict
    noise: float
    n: int

    def __repr__(self) -> str:
        return (f"SphereProblem(kernel={self.spectrum.kernel}, d={self.spectrum.d}, "
                f"kmax={self.spectrum.kmax}, energies={self.energies}, noise={self.noise!r}, "
                f"n={self.n})")


def sphere_problems(
    spectra: st.SearchStrategy | None = None, *, max_n: int = 2000, max_noise: float = 1.0
) -> st.SearchStrategy[SphereProblem]:
    """[`SphereProblem`][limitlab.testing.strategies.SphereProblem]s: a spectrum from `spectra`
    (default [`sphere_spectra()`][limitlab.testing.strategies.sphere_spectra]), energies from
    [`targets`][limitlab.testing.strategies.targets], a noise variance in $[0,$
    `max_noise`$]$ and $n\\in[1,$ `max_n`$]$."""
    spectra = sphere_spectra() if spectra is None else spectra

    @st.composite
    def build(draw):
        spectrum = draw(spectra)
        return SphereProblem(spectrum, draw(targets(spectrum)), draw(noise_levels(max_noise)),
                             draw(st.integers(1, max_n)))

    return build()


# --------------------------------------------------------------------------------------------
# correlation functions (tensor orders)


def correlation_functions(
    max_tensors: int = 6, max_order: int = 3, *, connected: bool = False
) -> st.SearchStrategy:
    """Valid correlation-function patterns in the notation of
    [`parse_correlation`][limitlab.theory.parse_correlation], as
    [`CorrelationFunction`][limitlab.theory.CorrelationFunction]s.

    Default: $m\\in[1,$ `max_tensors`$]$ tensors of orders $0..$`max_order` (one order moved by
    one when their sum is odd), all index slots paired at random, inputs from
    `x1, x2, x', x'1, x_t`, a rational coefficient in $[-5,5]$.  With `connected=True`: $m\\ge3$
    and a connected cluster graph (a random spanning tree of contractions plus up to three
    extra pairs; the orders follow from the pairs), coefficient 1, inputs `x0..x{m-1}`.  Shrinks
    towards `E[f(x1)]` (or the path of three tensors).  Same law as
    [`random_correlation_function`][limitlab.theory.random_correlation_function], but drawn
    through hypothesis so that failures shrink.
    """
    if connected:
        _check_int(max_tensors, "max_tensors", 3)
        return _connected_functions(max_tensors)
    _check_int(max_tensors, "max_tensors", 1)
    _check_int(max_order, "max_order", 0)
    return _correlation_functions(max_tensors, max_order)


@st.composite
def _correlation_functions(draw, max_tensors, max_order):
    m = draw(st.integers(1, max_tensors))
    orders = [draw(st.integers(0, max_order)) for _ in range(m)]
    if sum(orders) % 2:
        i = draw(st.integers(0, m - 1))
        orders[i] += 1 if orders[i] < max_order else -1
    slots = draw(st.permutations([i for i, k in enumerate(orders) for _ in range(k)]))
    indices: list[list[str]] = [[] for _ in range(m)]
    for pair in range(len(slots) // 2):
        for slot in slots[2 * pair:2 * pair + 2]:
            indices[slot].append(_LETTERS[pair])
    inputs = [draw(st.sampled_from(["x1", "x2", "x'", "x'1", "x_t"])) for _ in range(m)]
    # a nonzero rational in [-5, 5], built directly (no filter), shrinking towards 1
    numerator, denominator = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    coefficient = sp.Rational(min(numerator, 5 * denominator), denominator)
    if draw(st.booleans()):
        coefficient = -coefficient
    return theory.CorrelationFunction(
        tuple(theory.Tensor(k, x, tuple(ix)) for k, x, ix in zip(orders, inputs, indices)),
        coefficient=coefficient,
    )


@st.composite
def _connected_functions(draw, max_tensors):
    m = draw(st.integers(3, max_tensors))
    letters = iter(_LETTERS)
    indices: list[list[str]] = [[] for _ in range(m)]
    pairs = [(draw(st.integers(0, v - 1)), v) for v in range(1, m)]
    pairs += [(draw(st.integers(0, m - 1)), draw(st.integers(0, m - 1)))
              for _ in range(draw(st.integers(0, 3)))]
    for u, v in pairs:
        letter = next(letters)
        indices[u].append(letter)
        indices[v].append(letter)
    return theory.CorrelationFunction(
        tuple(theory.Tensor(len(ix), f"x{i}", tuple(ix)) for i, ix in enumerate(indices)))


# --------------------------------------------------------------------------------------------
# losses with a manifold of minimisers, noise models


@dataclasses.dataclass(frozen=True)
class ManifoldLoss:
    """A polynomial loss $L=\\frac12\\sum_iw_ig_i^2\\ge0$ whose zero set
    $\\Gamma=\\{g_1=\\dots=g_r=0\\}$ is a manifold of dimension $D-r$ near `point`.

    **Fields:** `parameters` (sympy symbols $w$), `loss` ($L$), `point` (a point of $\\Gamma$,
    integers), `constraints` ($g_i$), `weights` (positive integers $w_i$).
    """

    parameters: tuple
    loss: sp.Expr
    point: tuple[int, ...]
    constraints: tuple
    weights: tuple[int, ...]

    @property
    def codimension(self) -> int:
        """$r$, the number of constraints (= rank of $\\nabla^2L$ on $\\Gamma$)."""
        return len(self.constraints)

    def __repr__(self) -> str:
        return f"ManifoldLoss(loss={self.loss}, point={self.point})"


def manifold_losses(
    max_parameters: int = 4, max_constraints: int = 2, *, max_coefficient: int = 2
) -> st.SearchStrategy[ManifoldLoss]:
    """Polynomial losses with a manifold of minimisers together with a point on it
    ([`ManifoldLoss`][limitlab.testing.strategies.ManifoldLoss]).

    Each constraint is $g_i(w)=u_i+\\sum_jc_{ij}u_j+q_i(u)$ in the shifted coordinates
    $u=w-w_0$ around an integer point $w_0\\in[-2,2]^D$, with a random quadratic form $q_i$
    (products $u_au_b$: the zero set is curved) and the linear parts of distinct pivot
    coordinates, so $\\nabla g(w_0)$ has full rank $r$ by construction: $\\Gamma$ is a manifold
    of dimension $D-r$ near $w_0$ and $\\nabla^2L(w_0)=\\nabla g^\\top W\\nabla g$ has rank $r$
    (the Morse–Bott assumption of `manifold-drift.md` §1).  The loss is
    $\\frac12\\sum_iw_ig_i^2$ with integer weights $w_i\\in\\{1,2,3\\}$ (sums of squares; a
    single constraint that is a product such as $u_0u_1+u_0$ gives a product-type loss).

    **Arguments:**

    - `max_parameters`: $D\\le$ this, $D\\ge2$.
    - `max_constraints`: $r\\le\\min($this$,D-1)$, so that $\\dim\\Gamma\\ge1$.
    - `max_coefficient`: the integer coefficients lie in $[-$this, this$]$.
    """
    _check_int(max_parameters, "max_parameters", 2)
    _check_int(max_constraints, "max_constraints", 1)
    _check_int(max_coefficient, "max_coefficient", 0)
    coefficient = st.integers(-max_coefficient, max_coefficient)

    @st.composite
    def build(draw):
        D = draw(st.integers(2, max_parameters))
        r = draw(st.integers(1, min(max_constraints, D - 1)))
        w = sp.symbols(f"w0:{D}", real=True)
        point = tuple(draw(st.lists(st.integers(-2, 2), min_size=D, max_size=D)))
        u = [wi - pi for wi, pi in zip(w, point)]
        pivots = draw(st.permutations(range(D)))[:r]
        free = [j for j in range(D) if j not in pivots]
        constraints, weights = [], []
        for i in range(r):
            g = u[pivots[i]] + sum((draw(coefficient) * u[j] for j in free), sp.Integer(0))
            g += sum((draw(coefficient) * u[a] * u[b] for a in range(D) for b in range(a, D)),
                     sp.Integer(0))
            constraints.append(sp.expand(g))
            weights.append(draw(st.integers(1, 3)))
        loss = sum((c * g**2 for c, g in zip(weights, constraints)), sp.Integer(0)) / 2
        # Kept factored (readable); derive_drift accepts the expanded form too (its manifold
        # test evaluates L in 50-digit arithmetic, so cancellation in float64 does not matter).
        return ManifoldLoss(w, loss, point, tuple(constraints), tuple(weights))

    return build()


def noise_models(
    kinds: Sequence[str] = ("perturbed", "dropconnect", "additive"),
) -> st.SearchStrategy:
    """Noise models for [`derive_drift`][limitlab.theory.derive_drift], built by
    [`noise_model`][limitlab.theory.noise_model]: `sigma` a rational in $[1/4,2]$, a drop
    probability `p` in $\\{1/10,1/4,1/2\\}$ for DropConnect.  The default kinds are those that
    apply to a bare loss (no model or data); label, dropout, minibatch and sample-weight noise
    need a model with data (see [`NOISE_KINDS`][limitlab.theory.NOISE_KINDS])."""
    allowed = ("perturbed", "dropconnect", "additive")
    if not kinds or any(k not in allowed for k in kinds):
        raise ValueError(f"kinds must be a non-empty subset of {list(allowed)}, got {kinds!r}")

    @st.composite
    def build(draw):
        kind = draw(st.sampled_from(list(kinds)))
        if kind == "dropconnect":
            return theory.noise_model(kind, p=draw(st.sampled_from(
                [sp.Rational(1, 10), sp.Rational(1, 4), sp.Rational(1, 2)])))
        return theory.noise_model(kind, sigma=draw(_rationals("1/4", 2)))

    return build()


# --------------------------------------------------------------------------------------------
# networks, linearisation, mean field


def network_configs(
    max_depth: int = 3,
    max_width: int = 64,
    *,
    activations: Sequence[str] = ("relu", "tanh", "erf", "linear"),
    parametrizations: Sequence[str] = ("ntk", "standard", "mean-field"),
    max_input_dim: int = 4,
) -> st.SearchStrategy:
    """Network configurations [`MLPConfig`][limitlab.numerics.MLPConfig]: depth
    $1..$`max_depth`, width $1..$`max_width`, input dimension $1..$`max_input_dim`, an
    activation and a parametrisation from the lists.  Building the config imports JAX (the
    numeric layer).  Shrinks towards depth 1, width 1, the first activation and
    parametrisation."""
    from limitlab.numerics import MLPConfig

    _check_int(max_depth, "max_depth", 1)
    _check_int(max_width, "max_width", 1)
    _check_int(max_input_dim, "max_input_dim", 1)
    return st.builds(MLPConfig, depth=st.integers(1, max_depth), width=st.integers(1, max_width),
                     input_dim=st.integers(1, max_input_dim),
                     activation=st.sampled_from(list(activations)),
                     parametrization=st.sampled_from(list(parametrizations)))


@dataclasses.dataclass(frozen=True)
class JacobianProblem:
    """One linearised least-squares round: `jacobian` $J$ ($N\\times P$), `residual` $r$
    ($N$), `learning_rate` $\\eta$, `steps` $K$, and `stability` $=\\eta\\lambda_{\\max}(JJ^\\top)$."""

    jacobian: np.ndarray
    residual: np.ndarray
    learning_rate: float
    steps: int
    stability: float

    def __repr__(self) -> str:
        s = np.linalg.svd(self.jacobian, compute_uv=False)
        return (f"JacobianProblem(N={self.jacobian.shape[0]}, P={self.jacobian.shape[1]}, "
                f"singular_values={np.round(s, 6).tolist()}, "
                f"residual={np.round(self.residual, 6).tolist()}, "
                f"learning_rate={self.learning_rate!r}, steps={self.steps}, "
                f"eta*lambda_max={self.stability!r})")


def jacobian_problems(
    max_rows: int = 5, max_columns: int = 5, *, max_steps: int = 50,
    max_stability: float = 1.0, spectra: st.SearchStrategy | None = None,
) -> st.SearchStrategy[JacobianProblem]:
    """[`JacobianProblem`][limitlab.testing.strategies.JacobianProblem]s for
    [`k_step_update`][limitlab.theory.k_step_update] and
    [`gauss_newton_step`][limitlab.theory.gauss_newton_step].

    $J=U\\,\\mathrm{diag}(s)\\,V^\\top$ with random orthonormal $U,V$ (from a seed) and singular
    values $s$ from a [`power_law_spectra`][limitlab.testing.strategies.power_law_spectra]
    spectrum ($s^2$ = the eigenvalues with multiplicities, truncated to $\\min(N,P)$; zero
    singular values fill the rest, so $J$ can be rank deficient), a residual in $[-3,3]^N$,
    $K\\in[1,$ `max_steps`$]$ and $\\eta=c/\\lambda_{\\max}$ with $c\\in(0,$ `max_stability`$]$, so
    the assumption $\\eta\\lambda_{\\max}\\le$ `max_stability` holds by construction.
    """
    _check_int(max_rows, "max_rows", 1)
    _check_int(max_columns, "max_columns", 1)
    _check_int(max_steps, "max_steps", 1)
    spectra = power_law_spectra() if spectra is None else spectra

    @st.composite
    def build(draw):
        N = draw(st.integers(1, max_rows))
        P = draw(st.integers(1, max_columns))
        spectrum = draw(spectra)
        rank = min(N, P)
        s2 = np.zeros(rank)
        values = spectrum.expanded()[:rank]
        s2[: values.size] = values
        rng = np.random.default_rng(draw(seeds()))
        U, _ = np.linalg.qr(rng.normal(size=(N, N)))
        V, _ = np.linalg.qr(rng.normal(size=(P, P)))
        J = U[:, :rank] @ np.diag(np.sqrt(s2)) @ V[:, :rank].T
        residual = np.array(draw(st.lists(st.floats(-3, 3), min_size=N, max_size=N)))
        stability = draw(st.floats(1e-3, float(max_stability)))
        lam = float(np.max(s2))
        return JacobianProblem(J, residual, stability / lam, draw(st.integers(1, max_steps)),
                               stability)

    return build()


@dataclasses.dataclass(frozen=True)
class RandomFeaturesProblem:
    """A small mean-field teacher-student problem with ReLU units
    $\\varphi(x,z)=\\max(\\langle x,z\\rangle,0)$: `objective` (a
    [`MeanFieldObjective`][limitlab.theory.MeanFieldObjective] on $n$ unit-norm inputs),
    `output_weights` $c_i$ of the $p$ student atoms (uniform weights $1/p$), `realisable`
    (targets $=$ the student's own initial prediction $f_{\\mu_0}$), `seed`."""

    objective: object
    output_weights: np.ndarray
    realisable: bool
    seed: int
    input_dim: int

    def __repr__(self) -> str:
        n, p = self.objective.features.shape
        return (f"RandomFeaturesProblem(seed={self.seed}, input_dim={self.input_dim}, n={n}, "
                f"p={p}, realisable={self.realisable})")


def _relu_unit(x, z):
    return np.maximum(np.sum(x * z, axis=-1), 0.0)


def random_features_problems(
    max_input_dim: int = 3, max_points: int = 5, max_atoms: int = 10, *,
    realisable: bool | None = None, max_teacher_units: int = 3,
) -> st.SearchStrategy[RandomFeaturesProblem]:
    """Random small teacher-student problems for the mean-field layer
    ([`RandomFeaturesProblem`][limitlab.testing.strategies.RandomFeaturesProblem]), built with
    [`mean_field_objective`][limitlab.theory.mean_field_objective]: input dimension
    $1..$`max_input_dim`, $n\\le$ `max_points` unit-norm inputs, $p\\in[2,$ `max_atoms`$]$
    student atoms with Gaussian centres and output weights, and targets from a ReLU teacher of
    $1..$`max_teacher_units` units (`realisable=False`), or the student's own initial prediction
    (`realisable=True`: $f_0=y$ on the data), or either (`None`).  The random draws come from a
    seed in the example, so a failing problem is rebuilt exactly from its repr."""
    _check_int(max_input_dim, "max_input_dim", 1)
    _check_int(max_points, "max_points", 1)
    _check_int(max_atoms, "max_atoms", 2)

    @st.composite
    def build(draw):
        seed = draw(seeds(2**16))
        d = draw(st.integers(1, max_input_dim))
        n = draw(st.integers(1, max_points))
        p = draw(st.integers(2, max_atoms))
        real = draw(st.booleans()) if realisable is None else realisable
        return _random_features_problem(seed, d, n, p, real, max_teacher_units)

    return build()


def _random_features_problem(seed, d, n, p, realisable, teacher_units):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    z = rng.normal(size=(p, d))
    c = rng.normal(size=p)
    if realisable:
        y = theory.mean_field_prediction(
            theory.mean_field_objective(_relu_unit, x, np.zeros(n), z), c)
    else:
        teacher = rng.normal(size=(int(rng.integers(1, teacher_units + 1)), d))
        y = _relu_unit(x[:, None, :], teacher[None]).mean(axis=1)
    objective = theory.mean_field_objective(_relu_unit, x, y, z)
    return RandomFeaturesProblem(objective, c, realisable, seed, d)
