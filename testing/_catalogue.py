"""The catalogue: bounds and identities of the five capabilities, as [`Bound`][limitlab.testing.Bound]s.

Each entry states its source (with a provenance word, as in the theory reference) and its
assumptions, and its strategy generates only examples inside those assumptions: a bound
checked outside its assumptions is not a counterexample.  `false_variants()` holds
deliberately false versions (a constant too small, an assumption dropped) and one reconstructed
conjecture that hypothesis refutes; the tests assert that counterexamples are found.

Sides that need JAX import the numeric layer when they are first evaluated, not at import.
"""

from __future__ import annotations

import functools

import numpy as np
import sympy as sp
from hypothesis import assume
from hypothesis import strategies as st

from limitlab import theory

from . import _strategies as lst
from ._bound import Bound, Estimate, bound, estimate

__all__ = ["bound_names", "catalogue", "false_variants", "get_bound"]


# --------------------------------------------------------------------------------------------
# kernel gradient flow


def _times(max_log10: float = 4.0):
    return st.floats(0.0, max_log10).map(lambda e: 10.0**e - 1.0)


def _oracle_monotone() -> Bound:
    strategy = st.tuples(lst.sphere_problems(), _times(), _times())

    def later(x):
        p, s, t = x
        return theory.oracle_risk(max(s, t), p.spectrum, p.energies, p.noise)

    def earlier(x):
        p, s, t = x
        return theory.oracle_risk(min(s, t), p.spectrum, p.energies, p.noise)

    return bound(
        strategy, later, earlier, name="oracle-risk-monotone", capability="kernel-flow",
        statement="R(f_t^or) <= R(f_s^or) for 0 <= s <= t: the Oracle-World risk never increases",
        source="kernel-gradient-flow.md §4.1 [derived, exact]: R(f_t^or) = sigma^2 + "
               "sum_k exp(-2 lambda_k t) F_k with lambda_k >= 0",
        assumptions="a PSD inner-product kernel on the sphere (non-negative Taylor "
                    "coefficients), F_k >= 0 on degrees with lambda_k > 0; float rounding "
                    "allowance rtol = 1e-12",
        rtol=1e-12)


def _oracle_floor() -> Bound:
    strategy = st.tuples(lst.sphere_problems(), st.lists(_times(7.0), min_size=1, max_size=5))
    return bound(
        strategy,
        lambda x: theory.oracle_risk(np.array(x[1]), x[0].spectrum, x[0].energies, x[0].noise),
        lambda x: x[0].noise,
        relation=">=", name="oracle-risk-above-approximation-error", capability="kernel-flow",
        statement="R(f_t^or) >= sigma^2 + (RKHS approximation error) at every t",
        source="kernel-gradient-flow.md §4.1 [derived, exact]: the limit t -> infinity is "
               "sigma^2 + the energy of f_d outside the RKHS closure",
        assumptions="energies only on degrees with lambda_k > 0 (oracle_risk rejects the "
                    "others), so the approximation error is 0 and the floor is sigma^2; "
                    "rtol = 1e-12",
        rtol=1e-12)


def _trace_identity() -> Bound:
    strategy = st.tuples(lst.taylor_kernels(4, exponential=False), st.integers(3, 60))

    def partial_trace(x):
        h, d = x
        degree = sp.Poly(h, theory.KERNEL_VARIABLE).degree()
        return sum((theory.harmonic_degeneracy(d, k) * theory.funk_hecke_eigenvalue(h, d, k)
                    for k in range(degree + 1)), sp.Integer(0))

    return bound(
        strategy, partial_trace, lambda x: x[0].subs(theory.KERNEL_VARIABLE, 1),
        relation="==", name="trace-identity", capability="kernel-flow",
        statement="sum_{k<=p} N(d,k) lambda_{d,k} = h(1) exactly for a polynomial h of degree p",
        source="kernel-gradient-flow.md §3.3–§3.6 [literature]: the trace of the integral "
               "operator is K(x,x) = h(1); a degree-p polynomial has lambda_{d,k} = 0 for k > p",
        assumptions="polynomial h with non-negative rational coefficients, integer d >= 3; "
                    "exact rational arithmetic (no tolerance)")


def _train_below_initial() -> Bound:
    @st.composite
    def problems(draw):
        h = draw(lst.taylor_kernels(2, max_coefficient=2))
        d = draw(st.integers(3, 6))
        spectrum = theory.kernel_spectrum(h, d, 2)
        energies = draw(lst.targets(spectrum, max_energy=1.0))
        return (spectrum, energies, draw(lst.noise_levels(1.0)), draw(st.sampled_from([8, 16])),
                draw(_times(3.0)), draw(lst.seeds(2**16)))

    samples = 16

    def train_risk(x):
        from limitlab import numerics

        spectrum, energies, noise, n, t, seed = x
        lambdified = numerics.lambdify("z", spectrum.kernel)

        def h(z):
            # numerics.lambdify returns a scalar for a constant kernel such as h = 1, which
            # simulate_kernel_flow cannot use as a kernel matrix: broadcast it.
            return lambdified(z) + 0.0 * z

        eigenvalues = np.asarray(spectrum.eigenvalues, dtype=float)
        values = [float(np.asarray(numerics.simulate_kernel_flow(
            h, eigenvalues, d=spectrum.d, n=n, energies=tuple(sorted(energies.items())),
            noise=noise, times=np.array([t]), key=numerics.key_from_seed(seed + i))["train"])[0])
            for i in range(samples)]
        return estimate(values)

    return bound(
        problems(), train_risk, lambda x: x[2] + sum(x[1].values()),
        name="empirical-train-risk-below-initial", capability="kernel-flow",
        statement="E R_n(f_t) <= E R_n(f_0) = sigma^2 + sum_k F_k: kernel gradient flow never "
                  "raises the (mean) training risk",
        source="kernel-gradient-flow.md §4.2 [derived, exact]: R_n(f_t) = (1/n) sum_i "
               "exp(-2 t s_i / n) (U^T y)_i^2 is non-increasing in t for each sample",
        assumptions="Monte Carlo over 16 data sets from consecutive seeds of the example "
                    "(simulate_kernel_flow, exact per data set), z = 4 standard errors; "
                    "Taylor kernels, d in 3..6, n in {8, 16}",
        z=4.0, rtol=1e-6, max_examples=6)


def _krr_problems():
    @st.composite
    def build(draw):
        problem = draw(lst.sphere_problems(max_n=5000))
        return problem, draw(st.floats(0.0, 3.0).map(lambda e: 10.0**e - 1.0))

    return build()


def _krr_bias_noise() -> Bound:
    def test_risk(x):
        p, ridge = x
        return theory.eigenlearning(p.spectrum, p.energies, p.noise, p.n, ridge=ridge).test

    def floor(x):
        p, ridge = x
        r = theory.eigenlearning(p.spectrum, p.energies, p.noise, p.n, ridge=ridge)
        return p.noise + sum((1 - r.learnabilities[k]) ** 2 * F for k, F in p.energies.items())

    return bound(
        _krr_problems(), test_risk, floor, relation=">=",
        name="krr-risk-above-bias-and-noise", capability="kernel-flow",
        statement="KRR test MSE >= sigma^2 + sum_k (1 - L_k)^2 F_k (the overfitting factor "
                  "E_0 >= 1), at every ridge",
        source="kernel-gradient-flow.md §10 [literature; Simon et al. 2023]: test = E_0 "
               "(sum_k (1-L_k)^2 F_k + sigma^2), E_0 = n / (n - sum N_i L_i^2) >= 1",
        assumptions="spectrum of a PSD kernel with its tail level, ridge >= 0, n >= 1; "
                    "rtol = 1e-9 for the root-finding of kappa",
        rtol=1e-9)


def _krr_train_test() -> Bound:
    def result(x):
        p, ridge = x
        return theory.eigenlearning(p.spectrum, p.energies, p.noise, p.n, ridge=ridge)

    return bound(
        _krr_problems(), lambda x: result(x).train, lambda x: result(x).test,
        name="krr-train-below-test", capability="kernel-flow",
        statement="KRR train MSE <= test MSE: train = (delta / (n kappa))^2 test and "
                  "delta / kappa <= n",
        source="kernel-gradient-flow.md §10 [literature] (train formula) and the kappa "
               "equation sum_i N_i L_i + delta/kappa = n [derived]",
        assumptions="as krr-risk-above-bias-and-noise; rtol = 1e-9", rtol=1e-9)


# --------------------------------------------------------------------------------------------
# random tensor orders


def _cluster_nonpositive() -> Bound:
    return bound(
        lst.correlation_functions(), lambda c: theory.cluster_graph(c).exponent,
        lambda c: sp.Integer(0), name="cluster-exponent-nonpositive", capability="tensor-orders",
        statement="s_C = n_e + n_o/2 - m/2 <= 0 for every correlation function at "
                  "initialisation (NTK parametrisation)",
        source="random-tensor-orders.md §2 [paper: Dyer & Gur-Ari 2020, Conjecture 1 / "
               "Theorem 1]: each cluster of v vertices contributes -floor((v-1)/2)",
        assumptions="valid patterns (every index contracted exactly twice); exact rationals")


def _connected_suppressed() -> Bound:
    return bound(
        lst.correlation_functions(7, connected=True),
        lambda c: theory.cluster_graph(c).exponent, lambda c: sp.Integer(-1),
        name="connected-cluster-exponent", capability="tensor-orders",
        statement="a connected pattern of m >= 3 derivative tensors is O(n^-1) or smaller: "
                  "s_C <= -1",
        source="random-tensor-orders.md §2 [paper: Dyer & Gur-Ari 2020]: one cluster of m "
               "vertices gives s_C = -floor((m-1)/2)",
        assumptions="connected cluster graph, m >= 3; exact rationals")


def _width_exponent() -> Bound:
    # even m only: for odd m the mean vanishes and the RMS is not bounded by n^s_C
    patterns = st.sampled_from([
        "E[f(x1) f(x2)]", "E[df(x1)_a df(x2)_a]", "E[df(x1)_a df(x2)_a df(x3)_b df(x4)_b]",
        "E[d2f(x1)_ab df(x2)_a df(x3)_b f(x4)]", "E[df(x1)_a d2f(x2)_ab d2f(x3)_bc df(x4)_c]",
        "E[d3f(x1)_abc df(x2)_a df(x3)_b df(x4)_c]"])
    strategy = st.tuples(patterns, st.integers(1, 2), st.sampled_from(["tanh", "erf", "relu"]),
                         lst.seeds(2**16))
    widths = (32, 256)

    def sweep(x):
        from limitlab import numerics

        text, depth, activation, seed = x
        c = theory.parse_correlation(text)
        out = numerics.width_sweep(c, list(widths), depth=depth, activation=activation,
                                   seed=seed, n_seeds=96, statistic="rms", progress=False)
        v, s = np.asarray(out["value"], float), np.asarray(out["value_sem"], float)
        slope = float(np.log(v[1] / v[0]) / np.log(widths[1] / widths[0]))
        stderr = float(np.hypot(s[0] / v[0], s[1] / v[1]) / np.log(widths[1] / widths[0]))
        return slope, stderr

    def measured(x):
        return Estimate(*sweep(x))

    return bound(
        strategy, measured,
        lambda x: float(theory.correlation_exponent(theory.parse_correlation(x[0]),
                                                    theory.parametrization("ntk"))),
        name="width-exponent-below-prediction", capability="tensor-orders",
        statement="the measured width exponent of the RMS of a correlation function (log-log "
                  "slope between widths 32 and 256) <= the cluster-graph exponent s_C",
        source="random-tensor-orders.md §5.1, §10 [paper: Dyer & Gur-Ari 2020; the variance "
               "lemma for the RMS, derived]",
        assumptions="NTK parametrisation, depth 1-2, even m (the RMS is then O(n^s_C)); "
                    "96 initialisations per width from the example's seed, delta-method "
                    "standard error of the slope, z = 4; atol = 0.15 for finite-width "
                    "corrections O(1/n) between the two widths",
        z=4.0, atol=0.15, max_examples=4)


# --------------------------------------------------------------------------------------------
# iterative linearisation


def _round_within_gauss_newton(max_stability: float = 1.0, *, holds: bool = True,
                               name: str = "linearisation-round-within-gauss-newton") -> Bound:
    return bound(
        lst.jacobian_problems(max_stability=max_stability),
        lambda p: float(np.linalg.norm(theory.k_step_update(
            p.jacobian, p.residual, p.learning_rate, p.steps))),
        lambda p: float(np.linalg.norm(theory.gauss_newton_step(p.jacobian, p.residual))),
        name=name, capability="iterative-linearisation", holds=holds,
        statement="one round of K gradient steps on the linearised loss moves no further than "
                  "the minimum-norm Gauss–Newton step: |delta_K| <= |J^+ r|"
                  + ("" if holds else f" (assumption weakened to eta*lambda_max < "
                                      f"{max_stability:g})"),
        source="iterative-linearisation.md §4, §6 [derived, exact]: delta_K = sum_i "
               "sigma_i g_K(sigma_i^2) (u_i.r) v_i and 0 <= lambda g_K(lambda) <= 1 for "
               "0 < eta lambda <= 1",
        assumptions=f"eta * lambda_max(J J^T) <= {max_stability:g} (by construction); "
                    "rtol = 1e-10 for the SVD",
        rtol=1e-10)


# --------------------------------------------------------------------------------------------
# manifold drift


def _drift(example):
    loss, noise = example
    return theory.derive_drift(loss.loss, loss.parameters, noise, point=loss.point,
                               symbolic=False)


def _projection_orthogonal() -> Bound:
    strategy = st.tuples(lst.manifold_losses(), lst.noise_models())

    def defect(x):
        d = _drift(x)
        P, H = d.tangent_projection_at_point, d.hessian.xreplace(
            dict(zip(x[0].parameters, x[0].point)))
        return sp.Matrix.vstack(P - P.T, P * P - P, H * P)

    return bound(
        strategy, defect, lambda x: sp.zeros(3 * len(x[0].parameters), len(x[0].parameters)),
        relation="==", name="tangent-projection-orthogonal", capability="manifold-drift",
        statement="P_T at a point of the zero set is an orthogonal projection onto ker "
                  "Hess L: P = P^T, P^2 = P, H P = 0",
        source="manifold-drift.md §6 [literature: d Phi = P_T, Katzenberger / Li–Wang–Arora]",
        assumptions="sum-of-squares polynomial loss with full-rank constraint Jacobian at an "
                    "integer point (Morse–Bott by construction); exact rational arithmetic",
        max_examples=15)


def _drift_tangent() -> Bound:
    strategy = st.tuples(lst.manifold_losses(), lst.noise_models())

    def normal_part(x):
        d = _drift(x)
        assume(d.case == "non-degenerate")
        P = d.tangent_projection_at_point
        return (sp.eye(P.shape[0]) - P) * d.drift_at_point

    return bound(
        strategy, normal_part, lambda x: sp.zeros(len(x[0].parameters), 1), relation="==",
        name="fast-drift-tangent", capability="manifold-drift",
        statement="the fast-scale limiting drift -P_T grad Reg is tangent to the manifold: "
                  "(I - P_T) drift = 0",
        source="manifold-drift.md §4 [paper: Shalova–Schlichting–Peletier; derived form]",
        assumptions="as tangent-projection-orthogonal, and the non-degenerate case "
                    "(P_T grad Reg != 0; degenerate examples are discarded with assume and "
                    "count in the filter ratio); exact",
        max_examples=15)


# --------------------------------------------------------------------------------------------
# mean field


def _resampling_two_norm() -> Bound:
    return bound(
        lst.random_features_problems(),
        lambda p: theory.resampling_bound(p.objective, p.output_weights),
        lambda p: theory.two_norm_bound(p.objective, p.output_weights),
        name="resampling-below-two-norm", capability="mean-field",
        statement="V_mu <= sup_z ||phi(., z)||_nu^2 * int c^2 dmu",
        source="mean-field-clt.md §5 [derived, exact inequality]",
        assumptions="any particle measure with probability weights; ReLU units, unit-norm "
                    "inputs; rtol = 1e-12", rtol=1e-12)


def _fluctuation_at_zero() -> Bound:
    return bound(
        lst.random_features_problems(),
        lambda p: theory.random_features_fluctuation(p.objective, p.output_weights, [0.0])[0],
        lambda p: theory.resampling_bound(p.objective, p.output_weights),
        relation="==", name="clt-fluctuation-starts-at-resampling", capability="mean-field",
        statement="E||g_0||_nu^2 = V_0: the initial CLT fluctuation is the Monte Carlo "
                  "resampling error",
        source="mean-field-clt.md §4.3, §5 [derived, exact]",
        assumptions="random-features dynamics with i.i.d. atoms; rtol = 1e-9, atol = 1e-14",
        rtol=1e-9, atol=1e-14)


_FLUCTUATION_TIMES = np.array([0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 64.0])


def _fluctuation_nonincreasing() -> Bound:
    def increments(p):
        g = theory.random_features_fluctuation(p.objective, p.output_weights, _FLUCTUATION_TIMES)
        return np.diff(g)

    return bound(
        lst.random_features_problems(realisable=True), increments, lambda p: 0.0,
        name="clt-fluctuation-nonincreasing-when-realisable", capability="mean-field",
        statement="if f_0 = y on the data, the random-features CLT fluctuation E||g_t||_nu^2 "
                  "is non-increasing in t",
        source="mean-field-clt.md §5 [derived, exact]: r_0 = 0 leaves g_t = e^{-KDt} g_0",
        assumptions="random features (only c trained), targets = the student's initial "
                    "prediction; atol = 1e-12 for rounding", atol=1e-12)


def _fluctuation_below_resampling() -> Bound:
    def fluctuation(p):
        return theory.random_features_dynamics(p.objective, p.output_weights,
                                               _FLUCTUATION_TIMES).fluctuation

    def resampling(p):
        return theory.random_features_dynamics(p.objective, p.output_weights,
                                               _FLUCTUATION_TIMES).resampling_bound

    return bound(
        lst.random_features_problems(realisable=False), fluctuation, resampling,
        name="clt-fluctuation-below-resampling-bound", capability="mean-field", holds=False,
        statement="E||g_t||_nu^2 <= V_t at every time t on teacher-student problems (the "
                  "sharp form of the paper's bound)",
        source="mean-field-clt.md §7 [reconstructed; the reference asks to test it as a soft "
               "check, not as a theorem]",
        assumptions="random features, ReLU teacher; rtol = 1e-9. REFUTED: hypothesis finds "
                    "problems where the fluctuation exceeds V_t at intermediate times",
        rtol=1e-9)


# --------------------------------------------------------------------------------------------
# false variants


def _cluster_too_negative() -> Bound:
    return bound(
        lst.correlation_functions(), lambda c: theory.cluster_graph(c).exponent,
        lambda c: sp.Integer(-1), name="cluster-exponent-negative", capability="tensor-orders",
        holds=False,
        statement="FALSE VARIANT (constant too small): s_C <= -1 for every correlation function",
        source="cluster-exponent-nonpositive with the constant 0 replaced by -1",
        assumptions="as cluster-exponent-nonpositive; fails already for E[f(x1)] (s_C = 0)")


_BUILDERS = (
    _oracle_monotone, _oracle_floor, _trace_identity, _train_below_initial, _krr_bias_noise,
    _krr_train_test, _cluster_nonpositive, _connected_suppressed, _width_exponent,
    _round_within_gauss_newton, _projection_orthogonal, _drift_tangent, _resampling_two_norm,
    _fluctuation_at_zero, _fluctuation_nonincreasing,
)


@functools.cache
def _catalogue() -> dict[str, Bound]:
    bounds = [build() for build in _BUILDERS]
    return {b.name: b for b in bounds}


@functools.cache
def _false_variants() -> dict[str, Bound]:
    bounds = [
        _round_within_gauss_newton(1.99, holds=False,
                                   name="linearisation-round-within-gauss-newton-unstable"),
        _cluster_too_negative(),
        _fluctuation_below_resampling(),
    ]
    return {b.name: b for b in bounds}


def catalogue() -> dict[str, Bound]:
    """The catalogue of true bounds and identities, `{name: Bound}` in a fixed order.

    **Returns:** a new dict of [`Bound`][limitlab.testing.Bound]s (the objects are shared).
    """
    return dict(_catalogue())


def false_variants() -> dict[str, Bound]:
    """Deliberately false variants (`holds=False`): a constant too small, an assumption dropped,
    and the reconstructed conjecture $\\mathbb E\\lVert g_t\\rVert^2\\le V_t$ that hypothesis
    refutes.  `{name: Bound}`."""
    return dict(_false_variants())


def bound_names(*, include_false: bool = False) -> list[str]:
    """The catalogue's names (and, with `include_false`, the false variants' names)."""
    names = list(_catalogue())
    return names + list(_false_variants()) if include_false else names


def get_bound(name: str) -> Bound:
    """The catalogue entry (or false variant) called `name`.

    **Raises:** `ValueError` for an unknown name, listing the known ones.
    """
    everything = {**_catalogue(), **_false_variants()}
    if name not in everything:
        raise ValueError(f"unknown bound {name!r}; known bounds: {', '.join(everything)}")
    return everything[name]
