"""One PNG per claim: the prediction as a line, the simulation as points with error bars."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ._claim import Claim, Measurement, Prediction  # noqa: E402

__all__ = ["plot_claim"]


def plot_claim(
    claim: Claim,
    prediction: Prediction,
    measurement: Measurement,
    *,
    passed: bool,
    summary: str,
    size: str,
    path: Path,
) -> Path:
    """Draw the claim's figure to `path` (PNG) and return the path."""
    spec = claim.figure
    verdict = "PASS" if passed else "FAIL"
    title = f"{claim.name} [{size}]: {verdict}"
    if spec.draw is not None:
        fig = plt.figure(figsize=(11.0, 4.4), dpi=110)
        try:
            spec.draw(fig, prediction, measurement)
            fig.suptitle(title, fontsize=10)
            fig.text(0.01, 0.005, summary, fontsize=7, va="bottom", wrap=True)
            fig.tight_layout(rect=(0, 0.04, 1, 1))
            path.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path)
        finally:
            plt.close(fig)
        return path
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=110)
    try:
        labels = _labels(prediction, measurement)
        for i, label in enumerate(labels):
            colour = f"C{i}"
            p_mask = _mask(prediction.series, label, prediction.x.size)
            m_mask = _mask(measurement.series, label, measurement.x.size)
            name = "prediction" if label is None else f"{label} (line: prediction)"
            curve = prediction.curve if label is None else (prediction.curves or {}).get(label)
            if curve is not None:
                ax.plot(curve[0], curve[1], "-", color=colour, lw=1.8, label=name)
                ax.plot(prediction.x[p_mask], prediction.y[p_mask], "x", color=colour, ms=5)
            else:
                ax.plot(prediction.x[p_mask], prediction.y[p_mask], "-x", color=colour, lw=1.8,
                        label=name)
            what = (f"simulation ({measurement.n_seeds} seeds, ±1 s.e.)"
                    if np.any(measurement.stderr > 0) else "computed")
            ax.errorbar(
                measurement.x[m_mask],
                measurement.y[m_mask],
                yerr=measurement.stderr[m_mask],
                fmt="o",
                color=colour if label is not None else "C3",
                ms=5,
                capsize=3,
                label=what if label is None else (f"points: {what}" if i == 0 else None),
            )
        if spec.logx:
            ax.set_xscale("log")
        if spec.logy and np.all(measurement.y > 0) and np.all(prediction.y > 0):
            ax.set_yscale("log")
        ax.set_xlabel(spec.xlabel)
        ax.set_ylabel(spec.ylabel)
        ax.set_title(title, fontsize=10)
        ax.text(0.01, 0.01, summary, transform=ax.transAxes, fontsize=7, va="bottom", wrap=True)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path


def _labels(prediction: Prediction, measurement: Measurement) -> list[str | None]:
    if prediction.series is None and measurement.series is None:
        return [None]
    seen: dict[str, None] = {}
    for series in (prediction.series, measurement.series):
        for label in series or ():
            seen.setdefault(label)
    return list(seen)


def _mask(series, label, size: int) -> np.ndarray:
    if label is None or series is None:
        return np.ones(size, dtype=bool)
    return np.array([s == label for s in series], dtype=bool)


def draw_violation_counts(fig, measurement: Measurement, what: str) -> None:
    """A property claim's figure: one bar per property (the measurement's series) with the
    number of random `what` that violate it (predicted 0)."""
    labels = list(measurement.series)
    ax = fig.subplots()
    ax.barh(np.arange(len(labels)), measurement.y, color="C3")
    ax.set_yticks(np.arange(len(labels)), [p[:60] for p in labels], fontsize=7)
    ax.set_xlabel(f"violations among {measurement.n_seeds} random {what} (predicted 0)")
    ax.set_xlim(0, max(1.0, float(measurement.y.max()) * 1.2))
