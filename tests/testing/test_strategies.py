"""The public strategies generate valid objects of the toolkit (checked with the layers' own
validators) and shrink towards the smallest object of their kind."""

import numpy as np
import sympy as sp
from hypothesis import find, given, settings

from limitlab import theory
from limitlab.testing import strategies as lst

QUICK = settings(max_examples=20, derandomize=True, deadline=None, database=None)
Z = theory.KERNEL_VARIABLE


@QUICK
@given(lst.taylor_kernels())
def test_taylor_kernels_have_nonnegative_taylor_coefficients(h):
    coefficients = sp.Poly(sp.series(h, Z, 0, 7).removeO(), Z).all_coeffs()
    assert all(c >= 0 for c in coefficients) and h.subs(Z, 1) > 0


@QUICK
@given(lst.named_kernels(max_depth=2))
def test_named_kernels_parse(spec):
    h = theory.named_kernel(spec)
    assert h.free_symbols <= {Z}


@QUICK
@given(lst.sphere_problems(max_n=100))
def test_sphere_problems_satisfy_the_oracle_assumptions(p):
    assert 6 <= p.spectrum.d <= 30 and 1 <= p.n <= 100 and p.noise >= 0
    assert all(p.spectrum.eigenvalues[k] > 0 and F >= 0 for k, F in p.energies.items())
    theory.oracle_risk([0.0, 1.0], p.spectrum, p.energies, p.noise)  # accepted


@QUICK
@given(lst.power_law_spectra())
def test_power_law_spectra(s):
    assert np.all(np.diff(s.eigenvalues) < 0) and s.expanded().size == sum(s.multiplicities)


@QUICK
@given(lst.correlation_functions(), lst.correlation_functions(5, connected=True))
def test_correlation_functions_round_trip_through_the_parser(c, connected):
    assert theory.parse_correlation(str(c)) == c
    assert len(theory.cluster_graph(connected).components) == 1 and connected.m >= 3


@QUICK
@given(lst.manifold_losses())
def test_manifold_losses_vanish_with_full_rank_constraints_at_the_point(m):
    at = dict(zip(m.parameters, m.point))
    assert m.loss.xreplace(at) == 0
    J = sp.Matrix(m.constraints).jacobian(m.parameters).xreplace(at)
    assert J.rank() == m.codimension < len(m.parameters)


@QUICK
@given(lst.noise_models())
def test_noise_models(noise):
    assert noise.kind in theory.NOISE_KINDS and noise.variance > 0


@QUICK
@given(lst.jacobian_problems())
def test_jacobian_problems_respect_the_stability_assumption(p):
    lam = np.linalg.norm(p.jacobian, 2) ** 2
    assert p.learning_rate * lam <= 1.0 + 1e-9 and p.residual.shape == (p.jacobian.shape[0],)


@QUICK
@given(lst.random_features_problems(realisable=True))
def test_realisable_problems_start_at_the_targets(p):
    assert theory.mean_field_loss(p.objective, p.output_weights) < 1e-20


def test_network_configs_build_mlp_configs():
    from limitlab.numerics import MLPConfig

    config = find(lst.network_configs(), lambda c: c.depth >= 2)
    assert isinstance(config, MLPConfig) and config.width == 1 and config.depth == 2


def test_strategies_shrink_to_the_smallest_object():
    smallest = find(lst.taylor_kernels(), lambda h: True)
    assert smallest.is_Rational and smallest > 0  # a positive constant kernel
    assert str(find(lst.correlation_functions(), lambda c: True)) == "E[f(x1)]"
    assert find(lst.seeds(), lambda s: s > 10) == 11


def test_bad_size_knobs_raise():
    import pytest

    with pytest.raises(ValueError, match="max_degree"):
        lst.taylor_kernels(-1)
    with pytest.raises(ValueError, match="activations"):
        lst.named_kernels(activations=("tanh",))
    with pytest.raises(ValueError, match="max_tensors"):
        lst.correlation_functions(2, connected=True)
    with pytest.raises(ValueError, match="kinds"):
        lst.noise_models(("label",))
