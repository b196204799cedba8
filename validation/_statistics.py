"""Statistics for honest comparisons: standard errors, bootstrap over seeds, log-log slopes."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = [
    "bootstrap",
    "excess_kurtosis",
    "loglog_slope",
    "mean_and_stderr",
    "root_mean_square",
]


def mean_and_stderr(samples: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Sample mean and its standard error $s/\\sqrt S$ along `axis` ($S\\ge2$ samples)."""
    samples = np.asarray(samples, dtype=float)
    count = samples.shape[axis]
    if count < 2:
        raise ValueError(f"need at least 2 samples for a standard error, got {count}")
    return samples.mean(axis=axis), samples.std(axis=axis, ddof=1) / np.sqrt(count)


def root_mean_square(samples: np.ndarray, axis: int = 0) -> np.ndarray:
    """$\\sqrt{\\frac1S\\sum_s e_s^2}$ along `axis`: the RMS of per-seed errors."""
    samples = np.asarray(samples, dtype=float)
    return np.sqrt(np.mean(samples**2, axis=axis))


def excess_kurtosis(samples: np.ndarray, axis: int = 0) -> np.ndarray:
    """Plug-in excess kurtosis $m_4/m_2^2-3$ (central moments) along `axis`."""
    samples = np.asarray(samples, dtype=float)
    centred = samples - samples.mean(axis=axis, keepdims=True)
    m2 = np.mean(centred**2, axis=axis)
    m4 = np.mean(centred**4, axis=axis)
    return m4 / m2**2 - 3.0


def bootstrap(
    samples: np.ndarray,
    statistic: Callable[[np.ndarray], np.ndarray],
    *,
    n_boot: int = 500,
    seed: int = 0,
) -> np.ndarray:
    """Bootstrap replicates of `statistic` by resampling seeds (axis 0) with replacement.

    Resampling whole seeds keeps every dependence between the columns of one seed (e.g. the same
    seed's results at several widths), which is what a confidence interval of a fitted slope
    needs.

    **Returns:** an array of shape `(n_boot, *statistic(samples).shape)`.
    """
    samples = np.asarray(samples)
    if samples.shape[0] < 2:
        raise ValueError(f"need at least 2 seeds to bootstrap, got {samples.shape[0]}")
    rng = np.random.default_rng(seed)
    count = samples.shape[0]
    return np.stack(
        [statistic(samples[rng.integers(0, count, count)]) for _ in range(n_boot)]
    )


def loglog_slope(x: np.ndarray, y: np.ndarray, correction: float | None = None) -> float:
    """Least-squares slope of $\\log|y|$ against $\\log x$ (the measured exponent).

    With `correction` $=c$ the fit is $\\log|y|=a+p\\log x+b\\,x^{c}$ and the returned slope is
    $p$: the leading exponent of $y\\approx Ax^p(1+bx^c)$ with its first correction fitted
    instead of ignored (e.g. $c=1$ for an $O(x)$ relative bias as $x\\to0$, $c=-1$ for an
    $O(1/x)$ one as $x\\to\\infty$).  Needs at least four points, so that one degree of
    freedom is left.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or x.size < 2:
        raise ValueError(f"x and y must be 1-d of equal length >= 2, got {x.shape}, {y.shape}")
    if np.any(x <= 0) or np.any(y == 0):
        raise ValueError("log-log slope needs x > 0 and y != 0")
    if correction is None:
        return float(np.polyfit(np.log(x), np.log(np.abs(y)), 1)[0])
    if not (np.isfinite(correction) and correction != 0):
        raise ValueError(f"correction must be a finite non-zero power, got {correction!r}")
    if x.size < 4:
        raise ValueError(f"a fit with a correction term needs >= 4 points, got {x.size}")
    design = np.stack([np.ones_like(x), np.log(x), x**correction], axis=1)
    coef = np.linalg.lstsq(design, np.log(np.abs(y)), rcond=None)[0]
    return float(coef[1])
