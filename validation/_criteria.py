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

__all__ = [
    "Agreement",
    "BoundHolds",
    "Criterion",
    "ExponentMatches",
    "SignMatches",
    "SlopeMatches",
    "Verdict",
]


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
    """$|\\text{measured}-\\text{predicted}|\\le\\max(\\text{rel\\_tol}\\,|\\text{predicted}|,\\ \\text{abs\\_tol},\\ z\\cdot\\text{stderr})$
    at every abscissa.

    `rel_tol` must be justified by the claim (e.g. a known finite-size correction); for an
    exact prediction it is 0 and only sampling error is allowed.  `abs_tol` (default 0) is for
    predictions that become exponentially small, where a relative comparison measures only
    finite-size effects far below the scale of the claim.
    """

    rel_tol: float = 0.0
    z: float = 3.0
    abs_tol: float = 0.0

    def __post_init__(self):
        if not (self.rel_tol >= 0 and self.z > 0 and self.abs_tol >= 0):
            raise ValueError(
                f"need rel_tol >= 0, z > 0 and abs_tol >= 0, got {self.rel_tol}, {self.z}, "
                f"{self.abs_tol}"
            )

    def describe(self) -> str:
        absolute = f", {self.abs_tol:g}" if self.abs_tol else ""
        return (f"|measured - predicted| <= max({self.rel_tol:g}*|predicted|{absolute}, "
                f"{self.z:g}*stderr) at every point")

    def evaluate(self, prediction, measurement):
        _check_aligned(prediction, measurement)
        gap = np.abs(measurement.y - prediction.y)
        allowed = np.maximum(self.rel_tol * np.abs(prediction.y), self.z * measurement.stderr)
        allowed = np.maximum(allowed, self.abs_tol)
        ok = gap <= allowed
        worst = int(np.argmax(gap / np.where(allowed > 0, allowed, np.inf)))
        where = f"x={measurement.x[worst]:g}"
        if measurement.series is not None:
            where += f" ({measurement.series[worst]})"
        summary = (
            f"{int(ok.sum())}/{ok.size} points within tolerance; worst at {where}: "
            f"gap {gap[worst]:.3g} vs allowed {allowed[worst]:.3g}"
        )
        details = {"gap": _list(gap), "allowed": _list(allowed)}
        if measurement.series is not None:
            details["series"] = list(measurement.series)
        return _pointwise_verdict(ok.all(), prediction, measurement, summary, details)


@dataclass(frozen=True)
class SlopeMatches(Criterion):
    """The fitted log-log slope of the measured statistic against `x` is consistent with the
    predicted exponent: the exponent lies in the two-sided bootstrap confidence interval (seeds
    resampled) at `level`.  With `bound="upper"` the prediction is only an upper bound on the
    order: it passes when the interval reaches down to the predicted exponent or below it, i.e.
    the measured slope is not significantly above the prediction.  With `bound="below"` the
    measured slope must be significantly below the predicted exponent (the whole interval
    under it): e.g. exponent 0 for "this gap shrinks as the size grows", an $o(1)$ statement.

    With `correction` $=c$ the fit is $\\log y=a+p\\log x+b\\,x^c$ (see
    [`loglog_slope`][limitlab.validation.loglog_slope]): the leading exponent with its first
    correction fitted, for a prediction that is asymptotic ($x\\to0$ with $c>0$, $x\\to\\infty$
    with $c<0$) and a known order of the next term.  The claim must state why that order.
    """

    level: float = 0.997
    n_boot: int = 1000
    bound: str = "equal"
    correction: float | None = None

    def __post_init__(self):
        if not 0 < self.level < 1:
            raise ValueError(f"level must lie in (0, 1), got {self.level}")
        if self.bound not in ("equal", "upper", "below"):
            raise ValueError(f"bound must be 'equal', 'upper' or 'below', got {self.bound!r}")
        if self.correction is not None and not (
            np.isfinite(self.correction) and self.correction != 0
        ):
            raise ValueError(f"correction must be a finite non-zero power, got {self.correction!r}")

    def describe(self) -> str:
        rel = {"equal": "inside", "upper": "at or above the lower end of",
               "below": "above the upper end of"}[self.bound]
        fit = ("fitted log-log slope" if self.correction is None else
               f"log-log slope fitted with a correction term x^{self.correction:g}")
        return (
            f"predicted exponent {rel} the {self.level:.1%} bootstrap CI "
            f"(seeds resampled, {self.n_boot} replicates) of the {fit}"
        )

    def evaluate(self, prediction, measurement):
        _check_aligned(prediction, measurement)
        if prediction.exponent is None and not prediction.exponents:
            raise ValueError("SlopeMatches needs a prediction with an exponent")
        if measurement.samples is None or measurement.statistic is None:
            raise ValueError("SlopeMatches needs per-seed samples and a statistic to bootstrap")
        x = measurement.x
        groups = _groups(measurement)
        slopes = {}
        for label, idx in groups:
            slopes[label] = loglog_slope(x[idx], measurement.y[idx], self.correction)

        def all_slopes(s):
            y = measurement.statistic(s)
            return np.array([loglog_slope(x[idx], y[idx], self.correction) for _, idx in groups])

        replicates = bootstrap(measurement.samples, all_slopes, n_boot=self.n_boot, seed=1)
        replicates = np.asarray(replicates).reshape(self.n_boot, len(groups))
        alpha = 1 - self.level
        rows, passed = {}, []
        for j, (label, _) in enumerate(groups):
            p = _exponent_of(prediction, label)
            low, high = np.quantile(replicates[:, j], [alpha / 2, 1 - alpha / 2])
            ok = {"equal": low <= p <= high, "upper": low <= p, "below": high < p}[self.bound]
            passed.append(bool(ok))
            tight = ("tight" if low <= p <= high else
                     "below the prediction" if high < p else "above the prediction")
            rows["all" if label is None else label] = {
                "slope": float(slopes[label]), "ci": [float(low), float(high)],
                "predicted": float(p), "passed": bool(ok), "relation": tight,
                "stderr": float(np.std(replicates[:, j], ddof=1)),
            }
        if len(groups) == 1:
            row = next(iter(rows.values()))
            summary = (f"slope {row['slope']:.4f}, {self.level:.1%} CI [{row['ci'][0]:.4f}, "
                       f"{row['ci'][1]:.4f}], predicted {row['predicted']:.4f}")
            return Verdict(
                passed[0], row["predicted"], row["slope"], row["stderr"], summary,
                {"ci": row["ci"], "x": _list(x), "y": _list(measurement.y)},
            )
        worst = min(rows, key=lambda k: (rows[k]["passed"], -abs(rows[k]["slope"] - rows[k]["predicted"])))
        summary = (f"{sum(passed)}/{len(passed)} series pass; "
                   f"{sum(r['relation'] == 'tight' for r in rows.values())} tight, "
                   f"{sum(r['relation'] == 'below the prediction' for r in rows.values())} below; "
                   f"e.g. {worst}: slope {rows[worst]['slope']:.3f} "
                   f"[{rows[worst]['ci'][0]:.3f}, {rows[worst]['ci'][1]:.3f}] vs {rows[worst]['predicted']:g}")
        return Verdict(
            all(passed),
            [r["predicted"] for r in rows.values()],
            [r["slope"] for r in rows.values()],
            [r["stderr"] for r in rows.values()],
            summary,
            {"series": rows, "x": _list(x), "y": _list(measurement.y)},
        )


def _exponent_of(prediction, label) -> float:
    if prediction.exponents and label in prediction.exponents:
        return float(prediction.exponents[label])
    if prediction.exponent is None:
        raise ValueError(f"no predicted exponent for series {label!r}")
    return float(prediction.exponent)


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


def _groups(measurement: Measurement) -> list[tuple[str | None, np.ndarray]]:
    """Index sets of the measurement's series (one group when it has none)."""
    if measurement.series is None:
        return [(None, np.arange(measurement.x.size))]
    labels = list(dict.fromkeys(measurement.series))
    series = np.asarray(measurement.series)
    return [(label, np.flatnonzero(series == label)) for label in labels]


@dataclass(frozen=True)
class ExponentMatches(Criterion):
    """For a deterministic measurement (an exact or high-precision computation, no sampling
    error): the least-squares log-log slope of $|y|$ against $x$, fitted per series, lies
    within `tolerance` of the predicted exponent.

    `tolerance` must be justified by the claim, typically by the size of the next-order term
    over the fitted range (the local slope of $c_1x^p(1+c_2/x)$ is $p-c_2/x+O(x^{-2})$).
    """

    tolerance: float

    def __post_init__(self):
        if not (self.tolerance > 0 and np.isfinite(self.tolerance)):
            raise ValueError(f"tolerance must be a positive number, got {self.tolerance!r}")

    def describe(self) -> str:
        return (f"|fitted log-log slope - predicted exponent| <= {self.tolerance:g} "
                "for every series (deterministic values)")

    def evaluate(self, prediction, measurement):
        _check_aligned(prediction, measurement)
        if prediction.exponent is None:
            raise ValueError("ExponentMatches needs a prediction with an exponent")
        p = float(prediction.exponent)
        slopes, ok = {}, []
        for label, idx in _groups(measurement):
            if idx.size < 2:
                raise ValueError(f"series {label!r} has fewer than two points to fit a slope")
            slope = loglog_slope(measurement.x[idx], np.abs(measurement.y[idx]))
            slopes["all" if label is None else label] = slope
            ok.append(abs(slope - p) <= self.tolerance)
        worst = max(slopes, key=lambda k: abs(slopes[k] - p))
        summary = (f"{sum(ok)}/{len(ok)} series within {self.tolerance:g} of slope {p:g}; "
                   f"worst {worst}: {slopes[worst]:.4f}")
        return _pointwise_verdict(all(ok), prediction, measurement, summary,
                                  {"slopes": slopes, "exponent": p})


@dataclass(frozen=True)
class SignMatches(Criterion):
    """Every measured value has the sign of its prediction, significantly:
    $\\operatorname{sign}(\\text{measured})=\\operatorname{sign}(\\text{predicted})$ and
    $|\\text{measured}|>z\\cdot\\text{stderr}$ at every point.

    For qualitative claims ("A trains faster than B but generalises worse"): the prediction
    fixes the direction of each difference, the simulation must show it beyond sampling error.
    A zero prediction is not allowed (it has no sign).
    """

    z: float = 3.0

    def __post_init__(self):
        if not self.z > 0:
            raise ValueError(f"z must be positive, got {self.z!r}")

    def describe(self) -> str:
        return f"sign(measured) = sign(predicted) and |measured| > {self.z:g}*stderr at every point"

    def evaluate(self, prediction, measurement):
        _check_aligned(prediction, measurement)
        if np.any(prediction.y == 0):
            raise ValueError("SignMatches needs non-zero predictions")
        same = np.sign(measurement.y) == np.sign(prediction.y)
        significant = np.abs(measurement.y) > self.z * measurement.stderr
        ok = same & significant
        random = measurement.stderr > 0
        summary = f"{int(ok.sum())}/{ok.size} points with the predicted sign beyond {self.z:g} s.e."
        if random.any():  # exact points (s.e. 0) have no ratio
            ratio = np.abs(measurement.y[random]) / measurement.stderr[random]
            summary += f"; smallest |measured|/s.e. {float(np.min(ratio)):.3g}"
        if not random.all():
            summary += f"; {int((~random).sum())} exact point(s)"
        return _pointwise_verdict(ok.all(), prediction, measurement, summary,
                                  {"same_sign": same.tolist(), "significant": significant.tolist()})
