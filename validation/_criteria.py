"""Comparison rules: how a measurement is judged against a prediction.

Every rule states its tolerance up front (it is printed in the report) and uses the
measurement's standard errors; none may be loosened after seeing the data.  With `z = 3` a
correct prediction fails a single comparison with probability about 0.3% (Gaussian errors);
rules that compare at several points accept a correspondingly small family-wise error.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._claim import Measurement, Prediction
from ._statistics import bootstrap, loglog_slope

__all__ = ["Agreement", "BoundHolds", "Criterion", "SlopeMatches", "Verdict"]


@dataclass(frozen=True)
class Verdict:
    """The outcome of a criterion: pass/fail and the numbers behind it."""

    passed: bool
    predicted: Any
    measured: Any
    stderr: Any
    summary: str
    details: dict[str, Any] = field(default_factory=dict)


def _list(a):
    return np.asarray(a, dtype=float).tolist()


class Criterion(abc.ABC):
    """Interface: `describe()` states the rule; `evaluate(prediction, measurement)` applies it."""

    @abc.abstractmethod
    def describe(self) -> str: ...

    @abc.abstractmethod
    def evaluate(self, prediction: Prediction, measurement: Measurement) -> Verdict: ...


def _pointwise_verdict(passed, prediction, measurement, summary, details) -> Verdict:
    """A verdict that reports predicted, measured and stderr point by point."""
    return Verdict(
        bool(passed),
        _list(prediction.y),
        _list(measurement.y),
        _list(measurement.stderr),
        summary,
        {"x": _list(measurement.x), **details},
    )


def _check_aligned(prediction: Prediction, measurement: Measurement) -> None:
    if prediction.x.shape != measurement.x.shape or not np.allclose(prediction.x, measurement.x):
        raise ValueError("prediction and measurement are at different abscissae")


@dataclass(frozen=True)
class Agreement(Criterion):
    """$|\\text{measured}-\\text{predicted}|\\le\\max(\\text{rel\\_tol}\\,|\\text{predicted}|,\\ z\\cdot\\text{stderr})$
    at every abscissa.

    `rel_tol` must be justified by the claim (e.g. a known finite-size correction); for an
    exact prediction it is 0 and only sampling error is allowed.
    """

    rel_tol: float = 0.0
    z: float = 3.0

    def __post_init__(self):
        if not (self.rel_tol >= 0 and self.z > 0):
            raise ValueError(f"need rel_tol >= 0 and z > 0, got {self.rel_tol}, {self.z}")

    def describe(self) -> str:
        return f"|measured - predicted| <= max({self.rel_tol:g}*|predicted|, {self.z:g}*stderr) at every point"

    def evaluate(self, prediction, measurement):
        _check_aligned(prediction, measurement)
        gap = np.abs(measurement.y - prediction.y)
        allowed = np.maximum(self.rel_tol * np.abs(prediction.y), self.z * measurement.stderr)
        ok = gap <= allowed
        worst = int(np.argmax(gap / np.where(allowed > 0, allowed, np.inf)))
        summary = (
            f"{int(ok.sum())}/{ok.size} points within tolerance; worst at x={measurement.x[worst]:g}: "
            f"gap {gap[worst]:.3g} vs allowed {allowed[worst]:.3g}"
        )
        details = {"gap": _list(gap), "allowed": _list(allowed)}
        return _pointwise_verdict(ok.all(), prediction, measurement, summary, details)


@dataclass(frozen=True)
class SlopeMatches(Criterion):
    """The fitted log-log slope of the measured statistic against `x` is consistent with the
    predicted exponent: the exponent lies in the two-sided bootstrap confidence interval (seeds
    resampled) at `level`.  With `bound="upper"` the prediction is only an upper bound on the
    order: it passes when the interval reaches down to the predicted exponent or below it, i.e.
    the measured slope is not significantly above the prediction.
    """

    level: float = 0.997
    n_boot: int = 1000
    bound: str = "equal"

    def __post_init__(self):
        if not 0 < self.level < 1:
            raise ValueError(f"level must lie in (0, 1), got {self.level}")
        if self.bound not in ("equal", "upper"):
            raise ValueError(f"bound must be 'equal' or 'upper', got {self.bound!r}")

    def describe(self) -> str:
        rel = "inside" if self.bound == "equal" else "at or above the lower end of"
        return (
            f"predicted exponent {rel} the {self.level:.1%} bootstrap CI "
            f"(seeds resampled, {self.n_boot} replicates) of the fitted log-log slope"
        )

    def evaluate(self, prediction, measurement):
        _check_aligned(prediction, measurement)
        if prediction.exponent is None:
            raise ValueError("SlopeMatches needs a prediction with an exponent")
        if measurement.samples is None or measurement.statistic is None:
            raise ValueError("SlopeMatches needs per-seed samples and a statistic to bootstrap")
        x = measurement.x
        slope = loglog_slope(x, measurement.y)
        replicates = bootstrap(
            measurement.samples,
            lambda s: loglog_slope(x, measurement.statistic(s)),
            n_boot=self.n_boot,
            seed=1,
        )
        alpha = 1 - self.level
        low, high = np.quantile(replicates, [alpha / 2, 1 - alpha / 2])
        p = prediction.exponent
        passed = bool(low <= p <= high) if self.bound == "equal" else bool(low <= p)
        summary = f"slope {slope:.4f}, {self.level:.1%} CI [{low:.4f}, {high:.4f}], predicted {p:.4f}"
        return Verdict(
            passed,
            float(p),
            slope,
            float(np.std(replicates, ddof=1)),
            summary,
            {"ci": [float(low), float(high)], "x": _list(x), "y": _list(measurement.y)},
        )


@dataclass(frozen=True)
class BoundHolds(Criterion):
    """A one-sided bound holds at every abscissa, up to sampling error:
    `measured <= predicted + z*stderr` (`direction="upper"`) or
    `measured >= predicted - z*stderr` (`direction="lower"`)."""

    direction: str = "upper"
    z: float = 3.0

    def __post_init__(self):
        if self.direction not in ("upper", "lower"):
            raise ValueError(f"direction must be 'upper' or 'lower', got {self.direction!r}")

    def describe(self) -> str:
        if self.direction == "upper":
            return f"measured <= predicted + {self.z:g}*stderr at every point"
        return f"measured >= predicted - {self.z:g}*stderr at every point"

    def evaluate(self, prediction, measurement):
        _check_aligned(prediction, measurement)
        sign = 1.0 if self.direction == "upper" else -1.0
        excess = sign * (measurement.y - prediction.y) - self.z * measurement.stderr
        ok = excess <= 0
        summary = f"{int(ok.sum())}/{ok.size} points satisfy the bound"
        return _pointwise_verdict(
            ok.all(), prediction, measurement, summary, {"excess": _list(excess)}
        )
