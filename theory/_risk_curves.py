"""Risk curves of kernel gradient flow: Oracle World, Empirical World, and the three stages.

Setting (`kernel-gradient-flow.md` §2 [reconstructed]): $x\\sim\\mathrm{Unif}(\\mathbb
S^{d-1}(\\sqrt d))$, $y=f_d(x)+\\varepsilon$ with $\\mathrm{Var}\\,\\varepsilon=\\sigma^2$
(`noise`),
inner-product kernel $K(x,x')=h(\\langle x,x'\\rangle/d)$ with Funk–Hecke eigenvalues
$\\lambda_k=\\lambda_{d,k}$ of multiplicity $N_k=N(d,k)$, and target energies
$F_k=\\lVert P_kf_d\\rVert_{L^2}^2$ per degree (`energies`).  Both worlds start at $f_0=0$ and
share the clock $t$:

- **Oracle World**: gradient flow on $\\tfrac12$ of the population squared loss,
  $\\partial_tf=-\\mathbb H(f-f_d)$;
- **Empirical World**: gradient flow on $\\frac1{2n}\\sum_{i\\le n}(y_i-f(x_i))^2$,
  $\\partial_t\\hat f=-\\frac1n\\sum_iK(\\cdot,x_i)(\\hat f(x_i)-y_i)$.

Risks include the label noise: $R(f)=\\sigma^2+\\lVert f-f_d\\rVert^2_{L^2}$ (test),
$\\hat R_n(f)=\\frac1n\\sum_i(y_i-f(x_i))^2$ (train).  If the loss is written without the
$\\tfrac12$, every time below is halved; boundaries measured in powers of $d$ do not move.

This module never imports JAX.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping

import numpy as np
import sympy as sp

from ._spectrum import KernelSpectrum
from ._sphere import _integer

__all__ = [
    "RiskCurves",
    "StageWindows",
    "empirical_risk_asymptotic",
    "empirical_risk_expression",
    "oracle_risk",
    "oracle_risk_expression",
    "polynomial_level",
    "risk_curves",
    "stage_windows",
]

TIME = sp.Symbol("t", nonnegative=True)


# --------------------------------------------------------------------------------------------
# argument checking (shared with the boundary regime, eigenlearning and online SGD modules)


def _check_spectrum(spectrum) -> KernelSpectrum:
    if not isinstance(spectrum, KernelSpectrum):
        raise TypeError(
            "spectrum must be a KernelSpectrum (from kernel_spectrum), got "
            f"{type(spectrum).__name__}"
        )
    return spectrum


def _real(value, name: str, *, minimum: float = 0.0, strict: bool = False) -> float:
    relation = ">" if strict else ">="
    allowed = f"{name} must be a finite real number {relation} {minimum}"
    if isinstance(value, bool):
        raise ValueError(f"{allowed}, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{allowed}, got {value!r}") from None
    if not math.isfinite(number) or number < minimum or (strict and number == minimum):
        raise ValueError(f"{allowed}, got {value!r}")
    return number


def _check_noise(noise) -> float:
    return _real(noise, "noise")


def _check_n(n) -> float:
    return _real(n, "n", strict=True)


def _nonnegative_array(values, name: str, what: str) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of {what}, got {values!r}") from None
    if not np.all(np.isfinite(array)) or np.any(array < 0):
        bad = array[~(np.isfinite(array) & (array >= 0))].ravel()
        raise ValueError(f"{name} must be {what}, got the value {bad[0]!r}")
    return array


def _check_times(times, name: str = "times") -> np.ndarray:
    return _nonnegative_array(times, name, "finite non-negative real numbers")


def _check_level(level, name: str = "level") -> int:
    return _integer(level, name, 0)


def _check_energies(energies, spectrum: KernelSpectrum) -> dict[int, float]:
    """{k: F_k} with integer k in [0, kmax], F_k finite >= 0, and lambda_k > 0 where F_k > 0."""
    if not isinstance(energies, Mapping):
        raise TypeError(
            "energies must be a mapping {degree k: F_k = ||P_k f_d||^2}, got "
            f"{type(energies).__name__}"
        )
    checked: dict[int, float] = {}
    for key, value in energies.items():
        if isinstance(key, bool) or not isinstance(key, numbers.Integral) or key < 0:
            raise ValueError(f"energies: degrees must be integers >= 0, got the key {key!r}")
        k = int(key)
        energy = _real(value, f"energies[{k}]")
        if k in checked:
            raise ValueError(f"energies: degree {k} is given twice")
        if energy > 0:
            if k > spectrum.kmax:
                raise ValueError(
                    f"energies: degree {k} carries energy {energy} but the spectrum stops at "
                    f"kmax={spectrum.kmax}; compute the spectrum with kmax >= {k}"
                )
            if spectrum.eigenvalues[k] <= 0:
                raise ValueError(
                    f"energies: degree {k} carries energy {energy} but lambda_(d,{k}) = 0, so it "
                    "is never learned (RKHS approximation error); such targets are not supported"
                )
        checked[k] = energy
    return dict(sorted(checked.items()))


def _finite(array: np.ndarray, what: str) -> np.ndarray:
    if not np.all(np.isfinite(array)):
        raise FloatingPointError(f"{what} is not finite (overflow or invalid operation)")
    return array


def _sympy_number(value) -> sp.Expr:
    """An exact sympy number for ints, fractions and sympy numbers; a Float for floats."""
    if isinstance(value, sp.Basic):
        return value
    if isinstance(value, numbers.Rational):
        return sp.Rational(value.numerator, value.denominator)
    return sp.Float(float(value))


# --------------------------------------------------------------------------------------------
# numerical curves


def polynomial_level(d: int, n) -> int:
    """The level $\\ell=\\lfloor\\log n/\\log d\\rfloor$: the largest $\\ell$ with $d^\\ell\\le n$.

    In the polynomial regime $d^{\\ell+\\delta}\\le n\\le d^{\\ell+1-\\delta}$
    (`kernel-gradient-flow.md` §2 [reconstructed]) the Empirical World learns the degrees
    $k\\le\\ell$ and interpolates the rest.  Computed with exact integer/float comparisons, so
    $n=d^\\ell$ gives $\\ell$ (the float $\\log n/\\log d$ can round below the integer:
    $\\log 1000/\\log 10=2.9999999999999996$ in float64).  Near an integer
    $\\alpha=\\log n/\\log d$ the polynomial-regime formulas are poor; use the boundary regime
    ([`boundary_regime_risk`][limitlab.theory.boundary_regime_risk]) there.

    **Arguments:**

    - `d`: the dimension, an integer $\\ge2$.
    - `n`: the number of samples, a real number $\\ge1$.

    **Returns:** $\\ell$, an `int`.

    **Raises:** `ValueError` for `d` not an integer $\\ge2$ or `n` not a finite number $\\ge1$.

    **Example:**

    ```pycon
    >>> polynomial_level(100, 1000), polynomial_level(100, 10_000), polynomial_level(100, 9_999)
    (1, 2, 1)
    ```
    """
    d = _integer(d, "d", 2)
    if isinstance(n, numbers.Integral) and not isinstance(n, bool):
        n_value = int(n)
        if n_value < 1:
            raise ValueError(f"n must be a finite real number >= 1, got {n!r}")
    else:
        n_value = _real(n, "n", minimum=1.0)
    level = 0
    while d ** (level + 1) <= n_value:  # int <= int or int <= float: exact in Python
        level += 1
    return level


def oracle_risk(times, spectrum: KernelSpectrum, energies, noise=0.0) -> np.ndarray:
    """Oracle World test risk $R(f^{\\rm or}_t)=\\sigma^2+\\sum_ke^{-2\\lambda_kt}F_k$, exactly.

    Gradient flow on $\\tfrac12\\mathbb E(y-f(x))^2$ from $f_0=0$ gives
    $f^{\\rm or}_t=(I-e^{-t\\mathbb H})f_d=\\sum_k(1-e^{-\\lambda_kt})P_kf_d$ [derived from §2,
    exact; `kernel-gradient-flow.md` §4.1].  $t$ is gradient-flow time; the limit $t\\to\\infty$ is
    $\\sigma^2$ + RKHS approximation error (zero here: energies on degrees with
    $\\lambda_k=0$ are rejected).

    **Arguments:**

    - `times`: $t$, an array (any shape) of finite non-negative floats.
    - `spectrum`: a [`KernelSpectrum`][limitlab.theory.KernelSpectrum].
    - `energies`: $\\{k:F_k\\}$, $F_k=\\lVert P_kf_d\\rVert^2\\ge0$ for degrees $k\\le k_{\\max}$.
    - `noise`: $\\sigma^2\\ge0$.

    **Returns:** a float64 array of the shape of `times` (risk including $\\sigma^2$).

    **Raises:** `ValueError` naming `times`, `noise` or `energies` (and the degree) for bad
    values; `TypeError` for a spectrum or energies of the wrong type; `FloatingPointError` if a
    result is not finite.
    """
    times = _check_times(times)
    spectrum = _check_spectrum(spectrum)
    energies = _check_energies(energies, spectrum)
    noise = _check_noise(noise)
    risk = np.full(times.shape, noise)
    with np.errstate(over="ignore", invalid="ignore"):
        for k, energy in energies.items():
            if energy:
                risk = risk + energy * np.exp(-2.0 * spectrum.eigenvalues[k] * times)
    return _finite(risk, "oracle_risk")


def _empirical(times, spectrum, energies, noise, n, level):
    times = _check_times(times)
    spectrum = _check_spectrum(spectrum)
    energies = _check_energies(energies, spectrum)
    noise = _check_noise(noise)
    n = _check_n(n)
    level = polynomial_level(spectrum.d, n) if level is None else _check_level(level)
    return times, spectrum, energies, noise, n, level


def empirical_risk_asymptotic(
    times, spectrum: KernelSpectrum, energies, noise, n, *, level: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Polynomial-regime asymptotic Empirical World train and test risk.

    In the regime $d^{\\ell+\\delta}\\le n\\le d^{\\ell+1-\\delta}$, with
    $\\kappa=\\kappa_{>\\ell}=\\sum_{k>\\ell}N_k\\lambda_k$ (exact, finite $d$) and
    $\\lVert P_{>\\ell}f_d\\rVert^2=\\sum_{k>\\ell}F_k$:

    $$R(\\hat f_t)\\approx\\sigma^2+\\sum_{k\\le\\ell}e^{-2\\lambda_kt}F_k
    +\\lVert P_{>\\ell}f_d\\rVert^2,$$
    $$\\hat R_n(\\hat f_t)\\approx\\sum_{k\\le\\ell}e^{-2\\lambda_kt}F_k
    +e^{-2\\kappa t/n}\\big(\\lVert P_{>\\ell}f_d\\rVert^2+\\sigma^2\\big)$$

    [reconstructed; `kernel-gradient-flow.md` §5]: the low degrees are learned as in the Oracle
    World, the high-degree part and the noise see the effective ridge $\\kappa$ (eigenvalue
    $\\kappa/n$ of $K/n$) and are interpolated on the time scale $n/\\kappa$ without changing the
    test predictions.  These are $d\\to\\infty$ shapes, uniform in $t$; at finite $d$ they are off
    by $O(1/d)$-type corrections and are poor when $\\log n/\\log d$ is close to an integer.  Time
    $t$ is gradient-flow time on $\\frac1{2n}\\sum_i(y_i-f(x_i))^2$.

    **Arguments:**

    - `times`: $t$, an array (any shape) of finite non-negative floats.
    - `spectrum`: a [`KernelSpectrum`][limitlab.theory.KernelSpectrum].
    - `energies`: $\\{k:F_k\\}$ for degrees $k\\le k_{\\max}$.
    - `noise`: $\\sigma^2\\ge0$.
    - `n`: the number of samples, $>0$.
    - `level`: $\\ell$; default
      [`polynomial_level(d, n)`][limitlab.theory.polynomial_level] (which needs $n\\ge1$).

    **Returns:** `(train, test)`, two float64 arrays of the shape of `times`, both including
    the noise.

    **Raises:** `ValueError` naming `times`, `noise`, `n`, `level` or `energies`;
    `FloatingPointError` for a non-finite result.
    """
    times, spectrum, energies, noise, n, level = _empirical(
        times, spectrum, energies, noise, n, level
    )
    kappa = spectrum.tail(level)
    low = np.zeros(times.shape)
    high = 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        for k, energy in energies.items():
            if k <= level:
                low = low + energy * np.exp(-2.0 * spectrum.eigenvalues[k] * times)
            else:
                high += energy
        train = low + np.exp(-2.0 * kappa * times / n) * (high + noise)
        test = noise + low + high
    return _finite(train, "empirical train risk"), _finite(test, "empirical test risk")


@dataclasses.dataclass(frozen=True, eq=False)
class RiskCurves:
    """Oracle, Empirical-World train and Empirical-World test risk on one time grid.

    Built by [`risk_curves`][limitlab.theory.risk_curves].  All risks include the label noise.

    **Fields:** `times`, `oracle`, `train`, `test` (float64 arrays of one shape), `level`
    ($\\ell$ of the polynomial regime), `n`, `noise` ($\\sigma^2$).
    """

    times: np.ndarray
    oracle: np.ndarray
    train: np.ndarray
    test: np.ndarray
    level: int
    n: float
    noise: float

    def to_dict(self) -> dict:
        """JSON-friendly: the arrays as (nested) lists, the scalars as they are."""
        return {
            "times": self.times.tolist(),
            "oracle": self.oracle.tolist(),
            "train": self.train.tolist(),
            "test": self.test.tolist(),
            "level": self.level,
            "n": self.n,
            "noise": self.noise,
        }


def risk_curves(
    times, spectrum: KernelSpectrum, energies, noise, n, *, level: int | None = None
) -> RiskCurves:
    """The three curves of the three-stages picture on one time grid.

    The oracle curve is exact ([`oracle_risk`][limitlab.theory.oracle_risk], §4.1 [derived]);
    train and test are the polynomial-regime asymptotics
    ([`empirical_risk_asymptotic`][limitlab.theory.empirical_risk_asymptotic], §5
    [reconstructed]).  Arguments and errors as there.

    **Returns:** a [`RiskCurves`][limitlab.theory.RiskCurves].
    """
    times, spectrum, energies, noise, n, level = _empirical(
        times, spectrum, energies, noise, n, level
    )
    oracle = oracle_risk(times, spectrum, energies, noise)
    train, test = empirical_risk_asymptotic(times, spectrum, energies, noise, n, level=level)
    return RiskCurves(
        times=times, oracle=oracle, train=train, test=test, level=level, n=n, noise=noise
    )


@dataclasses.dataclass(frozen=True)
class StageWindows:
    """Where the three stages of kernel gradient flow begin and end, and their plateaus.

    Built by [`stage_windows`][limitlab.theory.stage_windows]; see there for the formulas.

    **Fields:**

    - `d`, `n`, `noise`: the set-up ($\\sigma^2$ = `noise`).
    - `level`: $\\ell$; `alpha`: $\\alpha=\\log n/\\log d$; `kappa`: $\\kappa_{>\\ell}$.
    - `stage12_exponent`: $\\alpha$ (stage 1 | 2 at $t\\asymp d^\\alpha=n$);
      `stage12_time`: $n/\\kappa_{>\\ell}$, the time constant of the train-loss collapse
      ($\\infty$ if $\\kappa_{>\\ell}=0$).
    - `stage23_exponent`: $\\ell+1$ (stage 2 | 3 at $t\\asymp d^{\\ell+1}$);
      `stage23_time`: $1/\\lambda_{d,\\ell+1}$ ($\\infty$ if $\\lambda_{d,\\ell+1}=0$).
    - `stage2_decades`: $(\\ell+1-\\alpha)\\log_{10}d$, the length of stage 2 in decades of $t$.
    - `initial_risk`: $\\sigma^2+\\sum_kF_k$; `plateau_risk`: the stage-2/3 test plateau
      $\\sigma^2+\\lVert P_{>\\ell}f_d\\rVert^2$; `oracle_final_risk`: $\\sigma^2$ + RKHS
      approximation error; `rkhs_approximation_error`: $\\sum_{k:\\lambda_k=0}F_k$.
    - `learning_times`: $\\{k:1/\\lambda_{d,k}\\}$ for the degrees with $F_k>0$ (Oracle World
      learns degree $k$ at $t\\asymp1/\\lambda_{d,k}\\approx d^k/h^{(k)}(0)$).
    """

    d: int
    n: float
    noise: float
    level: int
    alpha: float
    kappa: float
    stage12_exponent: float
    stage12_time: float
    stage23_exponent: int
    stage23_time: float
    stage2_decades: float
    initial_risk: float
    plateau_risk: float
    oracle_final_risk: float
    rkhs_approximation_error: float
    learning_times: dict

    def to_dict(self) -> dict:
        """JSON-friendly dictionary of the fields; infinite times become `None`."""

        def clean(value):
            if isinstance(value, float) and not math.isfinite(value):
                return None
            return value

        out = {f.name: clean(getattr(self, f.name)) for f in dataclasses.fields(self)}
        out["learning_times"] = {str(k): clean(v) for k, v in self.learning_times.items()}
        return out


def stage_windows(
    spectrum: KernelSpectrum, energies, noise, n, *, level: int | None = None
) -> StageWindows:
    """Stage boundaries (as powers of $d$ and as times) and plateaus of the three stages.

    With $\\alpha=\\log n/\\log d$ and $\\ell$ the level [reconstructed;
    `kernel-gradient-flow.md` §5–§6]:

    | stage | window | train | test | oracle |
    |---|---|---|---|---|
    | 1 | $t\\ll n$ | ≈ test | ≈ oracle | $\\sigma^2+\\lVert P_{>b}f\\rVert^2$ |
    | 2 | $n\\ll t\\ll d^{\\ell+1}$ | $\\propto e^{-2\\kappa t/n}$ | $\\sigma^2+R_\\ell$ | ≈test |
    | 3 | $t\\gg d^{\\ell+1}$ | ≈ 0 | $\\sigma^2+R_\\ell$ | $\\to\\sigma^2$ + RKHS approx. error |

    ($t=d^\\beta$, $b=\\lfloor\\beta\\rfloor$, $f=f_d$, $R_\\ell=\\lVert P_{>\\ell}f\\rVert^2$,
    $\\kappa=\\kappa_{>\\ell}$.)

    Stage 1 | 2 sits at $\\beta=\\alpha$ ($t\\asymp n$; the train loss decays with time constant
    $n/\\kappa_{>\\ell}$, reported as `stage12_time`), stage 2 | 3 at $\\beta=\\ell+1$ (the Oracle
    World learns degree $\\ell+1$ at $t\\asymp1/\\lambda_{d,\\ell+1}$, `stage23_time`).  Stage 2
    lasts $(\\ell+1-\\alpha)\\log_{10}d$ decades [derived].  Time units as in
    [`oracle_risk`][limitlab.theory.oracle_risk].

    **Arguments:** `spectrum`, `energies`, `noise`, `n`, `level` as in
    [`empirical_risk_asymptotic`][limitlab.theory.empirical_risk_asymptotic].

    **Returns:** a [`StageWindows`][limitlab.theory.StageWindows].

    **Raises:** `ValueError` naming `noise`, `n`, `level` or `energies`.
    """
    spectrum = _check_spectrum(spectrum)
    energies = _check_energies(energies, spectrum)
    noise = _check_noise(noise)
    n = _check_n(n)
    level = polynomial_level(spectrum.d, n) if level is None else _check_level(level)
    d = spectrum.d
    alpha = math.log(n) / math.log(d)
    kappa = spectrum.tail(level)
    next_eigenvalue = spectrum.eigenvalue(level + 1)
    total = sum(energies.values(), 0.0)
    higher = sum((energy for k, energy in energies.items() if k > level), 0.0)
    # Energies on degrees with lambda_k = 0 are rejected by _check_energies, so this is 0 for
    # every accepted target; it is kept general in case that restriction is lifted.
    unlearnable = sum(
        (energy for k, energy in energies.items() if spectrum.eigenvalues[k] == 0), 0.0
    )
    return StageWindows(
        d=d,
        n=n,
        noise=noise,
        level=level,
        alpha=alpha,
        kappa=kappa,
        stage12_exponent=alpha,
        stage12_time=n / kappa if kappa > 0 else math.inf,
        stage23_exponent=level + 1,
        stage23_time=1.0 / next_eigenvalue if next_eigenvalue > 0 else math.inf,
        stage2_decades=(level + 1 - alpha) * math.log10(d),
        initial_risk=noise + total,
        plateau_risk=noise + higher,
        oracle_final_risk=noise + unlearnable,
        rkhs_approximation_error=unlearnable,
        learning_times={
            k: 1.0 / spectrum.eigenvalues[k] for k, energy in energies.items() if energy > 0
        },
    )


# --------------------------------------------------------------------------------------------
# sympy closed forms


def _symbolic_energies(energies, spectrum) -> dict[int, sp.Expr]:
    checked = _check_energies(energies, spectrum)
    return {k: _sympy_number(energies[k]) for k in checked if checked[k] > 0}


def oracle_risk_expression(
    spectrum: KernelSpectrum, energies, noise, t: sp.Symbol = TIME
) -> sp.Expr:
    """[`oracle_risk`][limitlab.theory.oracle_risk] in closed form, a sympy expression in `t`.

    $$R(f^{\\rm or}_t)=\\sigma^2+\\sum_kF_ke^{-2\\lambda_{d,k}t}$$ [derived, exact; §4.1], with the
    eigenvalues exact for a polynomial kernel (rationals) and sympy `Float`s (20–30 digits)
    otherwise.  Integer, `Fraction` and sympy energies and noise stay exact.

    **Arguments:** `spectrum`, `energies`, `noise` as in
    [`oracle_risk`][limitlab.theory.oracle_risk]; `t`: the time symbol (default
    `Symbol("t", nonnegative=True)`).

    **Returns:** a sympy expression in `t`.

    **Raises:** as [`oracle_risk`][limitlab.theory.oracle_risk].
    """
    spectrum = _check_spectrum(spectrum)
    _check_noise(noise)
    terms = [
        energy * sp.exp(-2 * spectrum.eigenvalue_expression(k) * t)
        for k, energy in _symbolic_energies(energies, spectrum).items()
    ]
    return _sympy_number(noise) + sp.Add(*terms)


def empirical_risk_expression(
    spectrum: KernelSpectrum, energies, noise, n, *, level: int | None = None, t: sp.Symbol = TIME
) -> tuple[sp.Expr, sp.Expr]:
    """[`empirical_risk_asymptotic`][limitlab.theory.empirical_risk_asymptotic] in closed form.

    $$\\hat R_n\\approx\\sum_{k\\le\\ell}F_ke^{-2\\lambda_kt}+e^{-2\\kappa_{>\\ell}t/n}
    \\big(\\lVert P_{>\\ell}f_d\\rVert^2+\\sigma^2\\big),\\qquad
    R\\approx\\sigma^2+\\sum_{k\\le\\ell}F_ke^{-2\\lambda_kt}+\\lVert P_{>\\ell}f_d\\rVert^2$$

    [reconstructed; §5], with $\\lambda_k$ and $\\kappa_{>\\ell}$ exact for a polynomial kernel
    and sympy `Float`s otherwise; an integer `n` stays exact.

    **Arguments:** as [`empirical_risk_asymptotic`][limitlab.theory.empirical_risk_asymptotic],
    plus the time symbol `t`.

    **Returns:** `(train, test)`, sympy expressions in `t`.

    **Raises:** as [`empirical_risk_asymptotic`][limitlab.theory.empirical_risk_asymptotic].
    """
    spectrum = _check_spectrum(spectrum)
    _check_noise(noise)
    n_value = _check_n(n)
    level = polynomial_level(spectrum.d, n) if level is None else _check_level(level)
    energies = _symbolic_energies(energies, spectrum)
    sigma2 = _sympy_number(noise)
    n_symbolic = _sympy_number(n) if isinstance(n, numbers.Number | sp.Basic) else n_value
    kappa = spectrum.tail_expression(level)
    low = sp.Add(
        *[
            energy * sp.exp(-2 * spectrum.eigenvalue_expression(k) * t)
            for k, energy in energies.items()
            if k <= level
        ]
    )
    high = sp.Add(*[energy for k, energy in energies.items() if k > level])
    train = low + sp.exp(-2 * kappa * t / n_symbolic) * (high + sigma2)
    test = sigma2 + low + high
    return train, test
