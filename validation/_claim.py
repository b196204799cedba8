"""The claim: a paper's statement, a prediction, a simulation, a criterion and a figure."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from limitlab.config import SIZES
from limitlab.numerics import run_ensemble

from ._statistics import bootstrap

__all__ = [
    "Claim",
    "ClaimSize",
    "FigureSpec",
    "Measurement",
    "Prediction",
    "SimulationContext",
]

_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


def _series(series, x: np.ndarray, what: str) -> tuple[str, ...] | None:
    if series is None:
        return None
    series = tuple(str(s) for s in series)
    if len(series) != x.size:
        raise ValueError(f"{what} series has {len(series)} labels for {x.size} points")
    return series


@dataclass(frozen=True)
class ClaimSize:
    """One size of a claim: the default number of seeds and the parameters of that size."""

    seeds: int
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if isinstance(self.seeds, bool) or not isinstance(self.seeds, int) or self.seeds < 2:
            raise ValueError(f"seeds must be an integer >= 2, got {self.seeds!r}")


@dataclass(frozen=True)
class Prediction:
    """What theory predicts, at the abscissae `x` where the simulation measures.

    - `x`, `y`: abscissae (widths, times, ...) and predicted values there.
    - `exponent`: predicted log-log slope, for claims about an order in `x`.
    - `curve`: an optional dense `(x, y)` for the figure's prediction line.
    - `expression`: the formula as text (e.g. a sympy expression), for the report.
    - `series`: optional label of every point (e.g. `"test"`, `"train"`, `"k=2"`) when one claim
      predicts several curves; criteria and figures then treat each label separately.
    - `curves`: optional dense `(x, y)` per series label, for the figure.
    - `extra`: anything else a claim's own figure needs (see `FigureSpec.draw`).
    - `exponents`: predicted exponent per series label, where the series differ (otherwise
      `exponent` applies to every series).
    """

    x: np.ndarray
    y: np.ndarray
    exponent: float | None = None
    curve: tuple[np.ndarray, np.ndarray] | None = None
    expression: str | None = None
    series: tuple[str, ...] | None = None
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    exponents: Mapping[str, float] | None = None

    def __post_init__(self):
        object.__setattr__(self, "x", np.asarray(self.x, dtype=float))
        object.__setattr__(self, "y", np.asarray(self.y, dtype=float))
        if self.x.shape != self.y.shape:
            raise ValueError(f"prediction x and y differ in shape: {self.x.shape}, {self.y.shape}")
        if not (np.all(np.isfinite(self.x)) and np.all(np.isfinite(self.y))):
            raise FloatingPointError("prediction has non-finite values")
        object.__setattr__(self, "series", _series(self.series, self.x, "prediction"))


@dataclass(frozen=True)
class Measurement:
    """What the simulation measured.

    - `x`: abscissae; `y`: the statistic at each; `stderr`: its standard error.
    - `samples`: per-seed results, shape `(seeds, ...)`, kept so that criteria can
      bootstrap over seeds; `statistic` maps such an array to `y`.
    - `series`: optional label of every point, as in `Prediction`.
    - `extra`: anything else a claim's own figure needs; a mapping under `extra["details"]`
      is also written to the claim's `details` in `report.json` (per-point tables).

    A deterministic measurement (an exact computation rather than a Monte Carlo one) has
    `stderr` zero and no samples.
    """

    x: np.ndarray
    y: np.ndarray
    stderr: np.ndarray
    n_seeds: int
    samples: np.ndarray | None = None
    statistic: Callable[[np.ndarray], np.ndarray] | None = None
    series: tuple[str, ...] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        for name in ("x", "y", "stderr"):
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=float))
        if not (self.x.shape == self.y.shape == self.stderr.shape):
            raise ValueError("measurement x, y and stderr must have one shape")
        object.__setattr__(self, "series", _series(self.series, self.x, "measurement"))

    @classmethod
    def from_samples(
        cls,
        x: Sequence[float],
        samples: np.ndarray,
        statistic: Callable[[np.ndarray], np.ndarray],
        *,
        n_boot: int = 500,
        seed: int = 0,
        **kwargs,
    ) -> Measurement:
        """Apply `statistic` to per-seed `samples` (shape `(seeds, len(x))`); the standard
        error is the bootstrap standard deviation over resampled seeds.  Other keyword
        arguments (`series`, `extra`) are passed to the constructor."""
        samples = np.asarray(samples, dtype=float)
        y = np.asarray(statistic(samples), dtype=float)
        stderr = bootstrap(samples, statistic, n_boot=n_boot, seed=seed).std(axis=0, ddof=1)
        return cls(np.asarray(x), y, stderr, samples.shape[0], samples, statistic, **kwargs)


@dataclass(frozen=True)
class FigureSpec:
    """How the claim's figure is drawn.

    By default: the prediction as lines and the measurement as points with error bars (one
    colour per series), on the given axis labels and scales.  A claim with a richer figure
    passes `draw(fig, prediction, measurement)`, which lays out its own axes on the matplotlib
    figure; the engine adds the verdict as the figure's title.
    """

    xlabel: str
    ylabel: str
    logx: bool = False
    logy: bool = False
    draw: Callable[..., None] | None = None


@dataclass
class SimulationContext:
    """What a claim's simulation gets from the engine: seeds, checkpoints, progress.

    Use [`ensemble`][limitlab.validation.SimulationContext.ensemble] to run a per-seed
    simulation; it checkpoints under the run's output directory and resumes with `--resume`.
    """

    claim: str
    size: str
    seed: int
    n_seeds: int
    checkpoint_dir: Path | None = None
    resume: bool = False
    progress: bool | None = None

    def ensemble(self, simulate, *, tag: str, config: Mapping[str, Any] | None = None, **kwargs):
        """[`run_ensemble`][limitlab.numerics.run_ensemble] over this run's seeds.

        `tag` names this ensemble within the claim (e.g. `"width-64"`); `config` describes
        the simulation so that a checkpoint of another configuration is never resumed.
        """
        checkpoint = None
        if self.checkpoint_dir is not None:
            checkpoint = self.checkpoint_dir / f"{self.claim}--{self.size}--{tag}.npz"
        return run_ensemble(
            simulate,
            seed=self.seed,
            n_seeds=self.n_seeds,
            checkpoint=checkpoint,
            resume=self.resume,
            config={"claim": self.claim, "tag": tag, **dict(config or {})},
            progress=self.progress,
            description=f"{self.claim} [{tag}]",
            **kwargs,
        )


@dataclass(frozen=True)
class Claim:
    """A checkable statement.

    - `name`: kebab-case identifier used on the command line.
    - `statement`: one line, what is claimed.
    - `reference`: the paper or reference file it comes from, with a provenance word.
    - `predict(params) -> Prediction`: the theory side (no randomness).
    - `simulate(params, context) -> Measurement`: the Monte Carlo side.
    - `criterion`: the stated comparison rule (see `limitlab.validation` criteria).
    - `sizes`: a [`ClaimSize`][limitlab.validation.ClaimSize] for `quick` and for `full`.
    - `figure`: axis labels and scales.
    """

    name: str
    statement: str
    reference: str
    predict: Callable[[Mapping[str, Any]], Prediction]
    simulate: Callable[[Mapping[str, Any], SimulationContext], Measurement]
    criterion: Any
    sizes: Mapping[str, ClaimSize]
    figure: FigureSpec

    def __post_init__(self):
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(f"claim name must be kebab-case (a-z, 0-9, '-'), got {self.name!r}")
        missing = [s for s in SIZES if s not in self.sizes]
        if missing:
            raise ValueError(f"claim {self.name!r} lacks the size(s) {missing}; needs {SIZES}")
        if not self.statement or "\n" in self.statement:
            raise ValueError(f"claim {self.name!r}: statement must be one non-empty line")
