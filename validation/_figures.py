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
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=110)
    try:
        if prediction.curve is not None:
            cx, cy = prediction.curve
            ax.plot(cx, cy, "-", color="C0", lw=1.8, label="prediction")
            ax.plot(prediction.x, prediction.y, "x", color="C0", ms=5)
        else:
            ax.plot(prediction.x, prediction.y, "-x", color="C0", lw=1.8, label="prediction")
        ax.errorbar(
            measurement.x,
            measurement.y,
            yerr=measurement.stderr,
            fmt="o",
            color="C3",
            ms=5,
            capsize=3,
            label=f"simulation ({measurement.n_seeds} seeds, ±1 s.e.)",
        )
        if spec.logx:
            ax.set_xscale("log")
        if spec.logy and np.all(measurement.y > 0) and np.all(prediction.y > 0):
            ax.set_yscale("log")
        ax.set_xlabel(spec.xlabel)
        ax.set_ylabel(spec.ylabel)
        verdict = "PASS" if passed else "FAIL"
        ax.set_title(f"{claim.name} [{size}]: {verdict}", fontsize=10)
        ax.text(0.01, 0.01, summary, transform=ax.transAxes, fontsize=7, va="bottom", wrap=True)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path
