import json
import math
import time

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from limitlab.theory import (
    KERNEL_VARIABLE,
    KernelSpectrum,
    funk_hecke_eigenvalue,
    harmonic_degeneracy,
    kappa_tail,
    kernel_spectrum,
)
from limitlab.theory._spectrum import _eigenvalue_expression, _kernel_spectrum

z = KERNEL_VARIABLE

nonneg_poly = st.lists(
    st.fractions(min_value=0, max_value=3, max_denominator=7), min_size=1, max_size=7
).map(lambda cs: sum(sp.Rational(c.numerator, c.denominator) * z**j for j, c in enumerate(cs)))
nonneg_poly = nonneg_poly.filter(lambda h: h != 0)
exponential = st.tuples(
    st.fractions(min_value=0, max_value=2, max_denominator=5),
    st.fractions(min_value=1, max_value=2, max_denominator=5),
).map(lambda ca: sp.Rational(ca[0]) * sp.exp(sp.Rational(ca[1]) * z))
kernels = st.one_of(
    nonneg_poly, st.tuples(nonneg_poly, exponential).map(lambda pe: pe[0] + pe[1])
).filter(lambda h: h != 0)


def test_values_against_funk_hecke_and_kappa_tail():
    s = kernel_spectrum("exp(z)", 100, 3)
    assert s.d == 100 and s.kmax == 3 and s.degrees == (0, 1, 2, 3)
    assert s.degeneracies == (1, 100, 5049, 171600)
    assert all(type(n) is int for n in s.degeneracies)
    assert all(type(x) is float for x in s.eigenvalues)
    for k in range(4):
        assert s.eigenvalue(k) == float(funk_hecke_eigenvalue("exp(z)", 100, k))
        assert s.degeneracy(k) == harmonic_degeneracy(100, k)
        assert s.mu(k) == pytest.approx(s.degeneracy(k) * s.eigenvalue(k), rel=1e-15)
    assert s.trace == pytest.approx(math.e, rel=1e-16)
    for l in range(7):  # noqa: E741 - beyond kmax as well
        assert s.tail(l) == pytest.approx(float(kappa_tail("exp(z)", 100, l)), rel=1e-14)
    # degrees beyond kmax on demand
    assert s.eigenvalue(5) == pytest.approx(float(funk_hecke_eigenvalue("exp(z)", 100, 5)), 1e-15)
    assert s.degeneracy(5) == harmonic_degeneracy(100, 5)


def test_tail_keeps_relative_accuracy_when_tiny():
    # kappa_{>12} at d = 10^4 is ~1.7e-10 of h(1): subtracting floats would leave ~1e-6 relative
    # accuracy at best; the high-precision tail matches an independent mpmath sum of the tail.
    s = kernel_spectrum("exp(z)", 10_000, 12)
    with mpmath.workdps(40):
        direct = mpmath.fsum(
            harmonic_degeneracy(10_000, k)
            * mpmath.mpf(str(funk_hecke_eigenvalue("exp(z)", 10_000, k)))
            for k in range(13, 30)
        )
    assert s.tail(12) == pytest.approx(float(direct), rel=1e-12)
    assert 1e-10 < s.tail(12) < 1e-9


def test_polynomial_is_exact_and_tail_vanishes():
    h = z + z**3 / 2
    s = kernel_spectrum(h, 50, 3)
    assert s.eigenvalue_expression(1) == funk_hecke_eigenvalue(h, 50, 1, method="exact")
    assert isinstance(s.eigenvalue_expression(3), sp.Rational)
    assert s.tail(3) == 0.0 and s.tail(9) == 0.0 and s.tail_expression(3) == 0
    assert s.eigenvalues[0] == 0.0 and s.eigenvalues[2] == 0.0
    expected = float(harmonic_degeneracy(50, 3) * s.eigenvalue_expression(3))
    assert s.tail(1) == pytest.approx(expected)


def test_named_kernel_and_sympy_kernel_agree():
    a = kernel_spectrum("relu-ntk", 100, 2)
    from limitlab.theory import ntk_kernel

    b = kernel_spectrum(ntk_kernel("relu", 1), 100, 2)
    assert a.eigenvalues == b.eigenvalues
    assert a.trace == pytest.approx(2.0)
    # a plain Symbol("z") is accepted
    c = kernel_spectrum(sp.exp(sp.Symbol("z")), 20, 2)
    assert c.eigenvalues == kernel_spectrum("exp(z)", 20, 2).eigenvalues


def test_negative_eigenvalue_names_the_degree():
    with pytest.raises(ValueError, match=r"k=0"):
        kernel_spectrum("z**2 - 1/10", 20, 3)
    # lambda_2 of -z^2 is -2/(d(d+2)) < 0
    with pytest.raises(ValueError, match=r"k=2"):
        kernel_spectrum("1 + z - z**2", 10, 4)
    kernel_spectrum("1 + z - z**2 + z**2", 10, 4)  # fine
    # degrees 0 and 1 are fine; the negative degree 2 shows up as a negative tail
    with pytest.raises(ValueError, match="kmax=1"):
        kernel_spectrum("2 + z - z**2", 10, 1)


@pytest.mark.parametrize(
    ("args", "name"),
    [(("exp(z)", 2, 3), "d"), (("exp(z)", 3.5, 3), "d"), (("exp(z)", 10, -1), "kmax"),
     (("exp(z)", True, 1), "d"), (("exp(z)", 10, 1.0), "kmax")],
)
def test_bad_arguments(args, name):
    with pytest.raises(ValueError, match=name):
        kernel_spectrum(*args)


def test_bad_kernel():
    with pytest.raises(TypeError):
        kernel_spectrum(True, 10, 1)
    with pytest.raises(ValueError):
        kernel_spectrum("exp(z*w)", 10, 1)
    with pytest.raises(ValueError, match="method"):
        kernel_spectrum("exp(z)", 10, 1, method="magic")


def test_cached_and_arrays_and_dict():
    s = kernel_spectrum("exp(z)", 30, 4)
    assert kernel_spectrum("exp(z)", 30, 4) is s
    degrees, degeneracies, eigenvalues = s.as_arrays()
    for array in (degrees, degeneracies, eigenvalues):
        assert array.dtype == np.float64 and array.shape == (5,)
    np.testing.assert_array_equal(degeneracies, [float(n) for n in s.degeneracies])
    data = json.loads(json.dumps(s.to_dict(), allow_nan=False))
    assert data["d"] == 30 and data["kernel"] == "exp(z)" and len(data["tails"]) == 5
    assert data["degeneracies"] == list(s.degeneracies)


def test_large_dimension_is_fast():
    _kernel_spectrum.cache_clear()
    _eigenvalue_expression.cache_clear()
    start = time.perf_counter()
    s = kernel_spectrum("exp(z)", 10_000, 12)
    assert time.perf_counter() - start < 3.0
    # lambda_{d,k} = h^{(k)}(0)/d^k (1 + O(1/d)) [§3.6]
    for k in range(13):
        assert s.eigenvalue(k) * 10_000**k == pytest.approx(1.0, rel=20 * (k * k + 1) / 10_000)


def test_user_built_spectrum():
    # Synthetic spectra (used in tests of the risk formulas) are plain dataclass instances.
    s = KernelSpectrum(
        kernel=sp.Integer(0), d=3, degrees=(0, 1), degeneracies=(1, 3),
        eigenvalues=(1.0, 0.1), trace=1.5, tails=(0.5, 0.2),
    )
    assert s.kmax == 1 and s.tail(0) == 0.5 and s.mu(1) == pytest.approx(0.3)


@settings(max_examples=25, deadline=None)
@given(kernels, st.integers(3, 2000), st.integers(0, 6))
def test_trace_identity_and_positivity(h, d, kmax):
    s = kernel_spectrum(h, d, kmax)
    assert all(x >= 0 for x in s.eigenvalues)
    assert all(t >= 0 for t in s.tails)
    total = math.fsum(n * x for n, x in zip(s.degeneracies, s.eigenvalues, strict=True))
    h1 = float(h.subs(z, 1))
    assert total + s.tail(kmax) == pytest.approx(h1, rel=1e-12)
    # tails decrease with the level
    assert all(a >= b for a, b in zip(s.tails, s.tails[1:]))
    if h.is_polynomial(z) and sp.degree(h, z) <= kmax:
        assert s.tail(kmax) == 0.0


@settings(max_examples=10, deadline=None)
@given(exponential.filter(lambda h: h != 0), st.integers(20, 300), st.integers(0, 3))
def test_tail_is_the_sum_of_the_higher_masses(h, d, level):
    # kappa_{>l} from the trace identity vs. the direct sum over the next degrees (converges
    # like 1/k! for exp(a z)): an independent check of the trace identity.
    s = kernel_spectrum(h, d, level)
    direct = math.fsum(s.mu(k) for k in range(level + 1, level + 25))
    assert s.tail(level) == pytest.approx(direct, rel=1e-12, abs=1e-300)
