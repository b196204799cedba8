"""`bound`: turn "lhs(x) <= rhs(x) for every x of a strategy" into a hypothesis test.

Exact sides (sympy numbers) are compared exactly; float sides with a stated rounding tolerance;
a Monte Carlo side is an [`Estimate`][limitlab.testing.Estimate] (mean and standard error)
and the comparison allows `z` combined standard errors.  The Monte Carlo seed belongs to the
example (draw it with [`seeds`][limitlab.testing.strategies.seeds]) and the quick profile is
derandomized, so a failure is reproducible from the printed example, never flaky.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable

import numpy as np
import sympy as sp
from hypothesis import given, note
from hypothesis import settings as Settings
from hypothesis import strategies as st
from hypothesis.errors import HypothesisException

from ._profiles import profile_settings

__all__ = [
    "Bound",
    "BoundResult",
    "BoundViolation",
    "Comparison",
    "Estimate",
    "RELATIONS",
    "bound",
    "estimate",
]

RELATIONS = ("<=", ">=", "==")
"""The relations a [`Bound`][limitlab.testing.Bound] can state."""


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A Monte Carlo estimate: `mean` and its standard error `stderr` ($\\ge0$)."""

    mean: float
    stderr: float

    def __post_init__(self):
        if not math.isfinite(self.stderr) or self.stderr < 0:
            raise ValueError(f"stderr must be a finite number >= 0, got {self.stderr!r}")

    def __str__(self) -> str:
        return f"{self.mean:.6g} ± {self.stderr:.3g} (s.e.)"


def estimate(samples) -> Estimate:
    """The mean of i.i.d. samples and its standard error $s/\\sqrt S$ (sample standard deviation
    with $S-1$ in the denominator).

    **Arguments:**

    - `samples`: at least two finite numbers (a 1-D array-like).

    **Returns:** an [`Estimate`][limitlab.testing.Estimate].

    **Raises:** `ValueError` for fewer than two samples or a non-finite sample.
    """
    values = np.asarray(samples, dtype=float).ravel()
    if values.size < 2 or not np.all(np.isfinite(values)):
        raise ValueError(f"samples must be at least two finite numbers, got {values!r}")
    return Estimate(float(values.mean()), float(values.std(ddof=1) / math.sqrt(values.size)))


class BoundViolation(AssertionError):
    """Raised by [`Bound.check`][limitlab.testing.Bound.check] when a bound fails; the message
    names the bound, the example and both sides."""


@dataclasses.dataclass(frozen=True)
class Comparison:
    """The outcome of one example: both sides as evaluated, `holds`, and `margin` (how far
    inside the bound, after tolerances: $\\ge0$ iff it holds; exact zero for an exact
    identity that holds)."""

    lhs: object
    rhs: object
    holds: bool
    margin: float


def _is_exact(value) -> bool:
    if isinstance(value, sp.MatrixBase):
        return all(_is_exact(v) for v in value)
    return isinstance(value, sp.Basic) and value.is_number and value.is_real is not False and (
        value.is_Rational or value.is_Integer or not value.has(sp.Float))


def _compare_exact(lhs, rhs, relation) -> tuple[bool, float]:
    if isinstance(lhs, sp.MatrixBase) or isinstance(rhs, sp.MatrixBase):
        if relation != "==":
            raise TypeError("matrices can only be compared with the relation '=='")
        difference = sp.Matrix(lhs) - sp.Matrix(rhs)
        size = max((abs(sp.nsimplify(v)) for v in difference), default=sp.Integer(0))
        zero = all(sp.simplify(v) == 0 for v in difference)
        return zero, 0.0 if zero else -float(size)
    difference = sp.simplify(sp.sympify(rhs) - sp.sympify(lhs))
    if relation == "==":
        return difference == 0, -abs(float(difference))
    if relation == ">=":
        difference = -difference
    return bool(difference >= 0), float(difference)


def _as_float_array(value) -> np.ndarray:
    if isinstance(value, sp.MatrixBase):
        return np.array(value.evalf(), dtype=float)
    if isinstance(value, sp.Basic):
        return np.array(float(value))
    return np.asarray(value, dtype=float)


class Bound:
    """A stated inequality or identity over a hypothesis strategy; build it with
    [`bound`][limitlab.testing.bound].

    **Attributes:** `name`, `statement`, `strategy`, `lhs`, `rhs`, `relation`, `z`, `rtol`,
    `atol`, `source`, `assumptions`, `capability`, `max_examples` (a cap at every profile, for
    expensive bounds, or `None`), `holds` (`False` for a deliberately false variant: the
    catalogue test then asserts that hypothesis finds a counterexample).
    """

    def __init__(self, strategy, lhs, rhs, *, relation="<=", name=None, statement="", z=4.0,
                 rtol=0.0, atol=0.0, source="", assumptions="", capability="",
                 max_examples=None, holds=True):
        if not isinstance(strategy, st.SearchStrategy):
            raise TypeError(f"strategy must be a hypothesis strategy, got {type(strategy).__name__}")
        for side, function in (("lhs", lhs), ("rhs", rhs)):
            if not callable(function):
                raise TypeError(f"{side} must be callable (example -> value), got {function!r}")
        if relation not in RELATIONS:
            raise ValueError(f"relation must be one of {', '.join(RELATIONS)}, got {relation!r}")
        for argument, value in (("z", z), ("rtol", rtol), ("atol", atol)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not (
                    math.isfinite(value) and value >= 0):
                raise ValueError(f"{argument} must be a finite number >= 0, got {value!r}")
        if max_examples is not None and (isinstance(max_examples, bool) or not isinstance(
                max_examples, int) or max_examples < 1):
            raise ValueError(f"max_examples must be None or an integer >= 1, got {max_examples!r}")
        self.strategy = strategy
        self.lhs, self.rhs, self.relation = lhs, rhs, relation
        self.name = name or f"{getattr(lhs, '__name__', 'lhs')} {relation} " \
                            f"{getattr(rhs, '__name__', 'rhs')}"
        self.statement = statement or f"lhs {relation} rhs"
        self.z, self.rtol, self.atol = float(z), float(rtol), float(atol)
        self.source, self.assumptions, self.capability = source, assumptions, capability
        self.max_examples = max_examples
        self.holds = bool(holds)

    def __repr__(self) -> str:
        return f"Bound({self.name!r}: {self.statement})"

    # ---------------------------------------------------------------------------------------
    # one example

    def compare(self, example) -> Comparison:
        """Evaluate both sides on `example` and compare them.

        Exact sympy numbers (or matrices, for `"=="`) are compared exactly.  Otherwise, with
        $\\Delta=\\text{rhs}-\\text{lhs}$ (for `"<="`; the sign is flipped for `">="`), the bound
        holds iff $\\Delta\\ge-(\\text{atol}+\\text{rtol}\\max(|\\text{lhs}|,|\\text{rhs}|)
        +z\\sqrt{s_l^2+s_r^2})$ elementwise, with $s$ the standard errors of
        [`Estimate`][limitlab.testing.Estimate] sides (0 for exact sides); `"=="` asks
        $|\\Delta|\\le$ the same allowance.  Arrays must hold everywhere; `margin` is the worst
        element.

        **Returns:** a [`Comparison`][limitlab.testing.Comparison].
        """
        lhs, rhs = self.lhs(example), self.rhs(example)
        if _is_exact(lhs) and _is_exact(rhs):
            holds, margin = _compare_exact(lhs, rhs, self.relation)
            return Comparison(lhs, rhs, holds, margin)
        se_l = lhs.stderr if isinstance(lhs, Estimate) else 0.0
        se_r = rhs.stderr if isinstance(rhs, Estimate) else 0.0
        left = _as_float_array(lhs.mean if isinstance(lhs, Estimate) else lhs)
        right = _as_float_array(rhs.mean if isinstance(rhs, Estimate) else rhs)
        difference = right - left
        if self.relation == ">=":
            difference = -difference
        allowance = (self.atol + self.rtol * np.maximum(np.abs(left), np.abs(right))
                     + self.z * math.hypot(se_l, se_r))
        if self.relation == "==":
            margins = allowance - np.abs(difference)
        else:
            margins = difference + allowance
        if np.any(np.isnan(margins)):
            return Comparison(lhs, rhs, False, float("nan"))
        margin = float(np.min(margins)) if margins.size else 0.0
        return Comparison(lhs, rhs, margin >= 0, margin)

    def check(self, example) -> Comparison:
        """[`compare`][limitlab.testing.Bound.compare], raising
        [`BoundViolation`][limitlab.testing.BoundViolation] (an `AssertionError`) with the
        example and both sides when the bound fails; returns the comparison otherwise."""
        comparison = self.compare(example)
        if not comparison.holds:
            raise BoundViolation(self.describe_failure(example, comparison))
        return comparison

    def describe_failure(self, example, comparison: Comparison) -> str:
        """The failure report: the bound, the example and both sides, several lines."""
        monte_carlo = isinstance(comparison.lhs, Estimate) or isinstance(comparison.rhs, Estimate)
        tolerance = [f"{k} = {v:g}" for k, v in (("z", self.z if monte_carlo else 0.0),
                                                 ("rtol", self.rtol), ("atol", self.atol)) if v]
        return "\n".join([
            f"bound {self.name!r} fails: {self.statement}",
            f"  example: {example!r}",
            f"  lhs = {_show(comparison.lhs)}",
            f"  rhs = {_show(comparison.rhs)}",
            f"  relation: lhs {self.relation} rhs"
            + (f" (allowance {', '.join(tolerance)})" if tolerance else " (exact)"),
            f"  margin = {comparison.margin:.6g}",
        ])

    # ---------------------------------------------------------------------------------------
    # as a test

    def test(self, settings: Settings | None = None) -> Callable[[], None]:
        """A zero-argument hypothesis test function for a pytest suite:

        ```python
        test_oracle_risk_monotone = catalogue()["oracle-risk-monotone"].test()
        ```

        Runs under the profile loaded in the suite (or the given `settings`), with
        `max_examples` capped at the bound's `max_examples`.  A failure raises
        [`BoundViolation`][limitlab.testing.BoundViolation] for the shrunk example, whose
        message prints the example and both sides.
        """
        bound_ = self

        def test_bound(example):
            comparison = bound_.compare(example)
            note(f"lhs = {_show(comparison.lhs)}; rhs = {_show(comparison.rhs)}")
            if not comparison.holds:
                raise BoundViolation(bound_.describe_failure(example, comparison))

        test_bound.__name__ = "test_" + "".join(c if c.isalnum() else "_" for c in self.name)
        wrapped = given(self.strategy)(test_bound)
        base = settings if settings is not None else Settings.default
        if self.max_examples is not None and base.max_examples > self.max_examples:
            base = Settings(base, max_examples=self.max_examples)
        if settings is not None or self.max_examples is not None:
            wrapped = base(wrapped)
        return wrapped

    def run(self, *, profile: str = "quick", max_examples: int | None = None,
            seed: int | None = None) -> BoundResult:
        """Search for a counterexample and report, without raising.

        **Arguments:**

        - `profile`: `"quick"` (derandomized) or `"thorough"`
          (see [`profile_settings`][limitlab.testing.profile_settings]).
        - `max_examples`: examples to try; default the profile's, capped at the bound's own
          `max_examples`.
        - `seed`: a hypothesis seed: the search is random but reproducible from it (instead of
          derandomized).

        **Returns:** a [`BoundResult`][limitlab.testing.BoundResult]: pass/fail, the shrunk
        counterexample and both sides on it, timing and the filter ratio.
        """
        base = profile_settings(profile)
        examples = max_examples if max_examples is not None else base.max_examples
        if max_examples is None and self.max_examples is not None:
            examples = min(examples, self.max_examples)
        options = {"max_examples": examples, "database": None}
        if seed is not None:
            options["derandomize"] = False
        counts = {"attempted": 0, "evaluated": 0}
        failures: list = []
        bound_ = self
        counted = _counted(self.strategy, counts)

        def test_bound(example):
            comparison = bound_.compare(example)
            counts["evaluated"] += 1
            if not comparison.holds:
                failures.append((example, comparison))
                raise BoundViolation(bound_.describe_failure(example, comparison))

        test = Settings(base, **options)(given(counted)(test_bound))
        if seed is not None:
            from hypothesis import seed as hypothesis_seed

            test = hypothesis_seed(seed)(test)
        start = time.perf_counter()
        error = None
        try:
            test()
        except BoundViolation:
            pass
        except (HypothesisException, Exception) as err:  # noqa: BLE001 - reported, not raised
            error = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
        elapsed = time.perf_counter() - start
        example, comparison = failures[-1] if failures and error is None else (None, None)
        return BoundResult(
            name=self.name, statement=self.statement, passed=not failures and error is None,
            counterexample=example, lhs=None if comparison is None else comparison.lhs,
            rhs=None if comparison is None else comparison.rhs,
            report=None if comparison is None else self.describe_failure(example, comparison),
            error=error, elapsed_s=elapsed, attempted=counts["attempted"],
            evaluated=counts["evaluated"], expected_to_hold=self.holds,
        )


def _counted(strategy, counts):
    @st.composite
    def counted(draw):
        # A draw that a filter or assume() rejects never reaches `evaluated`.
        counts["attempted"] += 1
        return draw(strategy)

    return counted()


def _show(value) -> str:
    if isinstance(value, np.ndarray):
        return np.array2string(value, precision=8, max_line_width=200)
    return str(value)


@dataclasses.dataclass(frozen=True)
class BoundResult:
    """The result of [`Bound.run`][limitlab.testing.Bound.run].

    **Fields:** `name`, `statement`, `passed` (no counterexample and no error), `counterexample`
    (the shrunk failing example, or `None`), `lhs`, `rhs` (both sides on it), `report` (the
    failure message), `error` (an exception raised by a side, one line, or `None`),
    `elapsed_s`, `attempted` (examples whose generation started, shrinking included),
    `evaluated` (examples that reached the comparison), `expected_to_hold`.
    """

    name: str
    statement: str
    passed: bool
    counterexample: object
    lhs: object
    rhs: object
    report: str | None
    error: str | None
    elapsed_s: float
    attempted: int
    evaluated: int
    expected_to_hold: bool = True

    @property
    def filter_ratio(self) -> float:
        """Rejected over attempted examples (filters in strategies and `assume` in the sides)."""
        if self.attempted == 0:
            return 0.0
        return (self.attempted - self.evaluated) / self.attempted

    @property
    def as_expected(self) -> bool:
        """Passed for a true bound; failed without error for a deliberately false variant."""
        return self.passed if self.expected_to_hold else (not self.passed and self.error is None)

    def to_dict(self) -> dict:
        """JSON-friendly summary (the counterexample and sides as strings)."""
        return {
            "name": self.name, "statement": self.statement, "passed": self.passed,
            "expected_to_hold": self.expected_to_hold, "as_expected": self.as_expected,
            "counterexample": None if self.counterexample is None else repr(self.counterexample),
            "lhs": None if self.lhs is None else _show(self.lhs),
            "rhs": None if self.rhs is None else _show(self.rhs),
            "error": self.error, "elapsed_s": self.elapsed_s, "attempted": self.attempted,
            "evaluated": self.evaluated, "filter_ratio": self.filter_ratio,
        }


def bound(strategy, lhs, rhs, *, relation: str = "<=", name: str | None = None,
          statement: str = "", z: float = 4.0, rtol: float = 0.0, atol: float = 0.0,
          source: str = "", assumptions: str = "", capability: str = "",
          max_examples: int | None = None, holds: bool = True) -> Bound:
    """State "lhs(x) relation rhs(x) for every x drawn from `strategy`" as a testable
    [`Bound`][limitlab.testing.Bound].

    ```python
    from limitlab import theory
    from limitlab.testing import bound, strategies as lst

    monotone = bound(
        lst.sphere_problems(),
        lhs=lambda p: theory.oracle_risk(10.0, p.spectrum, p.energies, p.noise),
        rhs=lambda p: theory.oracle_risk(1.0, p.spectrum, p.energies, p.noise),
        rtol=1e-12, name="oracle risk decreases from t=1 to t=10")
    test_monotone = monotone.test()      # a pytest test
    result = monotone.run()              # or run it and inspect the result
    ```

    **Arguments:**

    - `strategy`: a hypothesis strategy of examples (use
      [`limitlab.testing.strategies`][limitlab.testing.strategies]; put Monte Carlo seeds
      into the example).
    - `lhs`, `rhs`: callables `example -> value`; a value is a sympy number (exact
      comparison), a float or array (elementwise), an [`Estimate`][limitlab.testing.Estimate]
      (Monte Carlo), or for `"=="` a sympy matrix.  Call `hypothesis.assume(...)` inside them
      to discard an example outside the bound's assumptions (counted in the filter ratio).
    - `relation`: `"<="`, `">="` or `"=="`.
    - `name`, `statement`: for reports.
    - `z`: standard errors allowed for Monte Carlo sides (default 4: a correct bound fails
      with probability $\\approx3\\cdot10^{-5}$ per example, and the fixed seeds make even that
      reproducible).
    - `rtol`, `atol`: rounding allowance for float sides (state why in `assumptions`).
    - `source`, `assumptions`: provenance and the conditions the strategy guarantees.
    - `capability`: which part of the toolkit the bound is about (for grouping in reports).
    - `max_examples`: a cap for expensive bounds.
    - `holds`: `False` for a deliberately false variant.

    **Returns:** a [`Bound`][limitlab.testing.Bound].

    **Raises:** `ValueError` for an unknown relation or a negative tolerance; `TypeError` for a
    strategy that is not a hypothesis strategy or sides that are not callable.
    """
    return Bound(strategy, lhs, rhs, relation=relation, name=name, statement=statement, z=z,
                 rtol=rtol, atol=atol, source=source, assumptions=assumptions,
                 capability=capability, max_examples=max_examples, holds=holds)
