"""Running claims: prediction, simulation, criterion, figure, report."""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from limitlab.config import DEFAULT_OUT_DIR, DEFAULT_SEED, SIZES

from ._claim import Claim, SimulationContext
from ._figures import plot_claim
from ._registry import claim_names, get_claim
from ._report import ClaimResult, Report, environment_versions

__all__ = ["check_out_dir", "run_claim", "validate"]


def check_out_dir(out: str | os.PathLike) -> Path:
    """Create `out` if needed and check that it is a writable directory (`ValueError` if not)."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ValueError(f"out directory {str(path)!r} exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"out directory {str(path)!r} cannot be created: {err.strerror}") from None
    if not path.is_dir():
        raise ValueError(f"out directory {str(path)!r} is not a directory")
    probe = path / f".limitlab-write-test-{os.getpid()}"
    try:
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise ValueError(f"out directory {str(path)!r} is not writable: {err.strerror}") from None
    return path


def run_claim(
    claim: Claim,
    *,
    size: str = "quick",
    seeds: int | None = None,
    seed: int = DEFAULT_SEED,
    out_dir: Path | None = None,
    resume: bool = False,
    progress: bool | None = None,
    versions: dict[str, str] | None = None,
) -> ClaimResult:
    """Run one claim and return its result; an exception inside the claim is recorded as a
    failure with its message (and the traceback on stderr), never swallowed silently."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {list(SIZES)}, got {size!r}")
    spec = claim.sizes[size]
    n_seeds = spec.seeds if seeds is None else seeds
    versions = versions or environment_versions()
    context = SimulationContext(
        claim=claim.name,
        size=size,
        seed=seed,
        n_seeds=n_seeds,
        checkpoint_dir=None if out_dir is None else out_dir / "checkpoints",
        resume=resume,
        progress=progress,
    )
    start = time.perf_counter()
    common = dict(
        claim=claim.name,
        statement=claim.statement,
        reference=claim.reference,
        size=size,
        seeds=n_seeds,
        criterion=claim.criterion.describe(),
        versions=versions,
    )
    try:
        prediction = claim.predict(spec.params)
        measurement = claim.simulate(spec.params, context)
        verdict = claim.criterion.evaluate(prediction, measurement)
    except Exception as err:  # a broken claim is a failed claim, reported as such
        traceback.print_exc(file=sys.stderr)
        return ClaimResult(
            predicted=None,
            measured=None,
            stderr=None,
            passed=False,
            summary=f"error: {type(err).__name__}: {err}",
            elapsed_s=time.perf_counter() - start,
            error=f"{type(err).__name__}: {err}",
            **common,
        )
    figure = None
    if out_dir is not None:
        path = plot_claim(
            claim,
            prediction,
            measurement,
            passed=verdict.passed,
            summary=verdict.summary,
            size=size,
            path=out_dir / "figures" / f"{claim.name}.png",
        )
        figure = str(path.relative_to(out_dir))
    return ClaimResult(
        predicted=verdict.predicted,
        measured=verdict.measured,
        stderr=verdict.stderr,
        passed=verdict.passed,
        summary=verdict.summary,
        elapsed_s=round(time.perf_counter() - start, 3),
        details={**verdict.details, **dict(measurement.extra.get("details", {}))},
        expression=prediction.expression,
        figure=figure,
        **common,
    )


def validate(
    names: Sequence[str] | None = None,
    *,
    size: str = "quick",
    seeds: int | None = None,
    seed: int = DEFAULT_SEED,
    out: str | os.PathLike | None = DEFAULT_OUT_DIR,
    resume: bool = False,
    progress: bool | None = None,
    on_result=None,
) -> Report:
    """Run claims (all registered ones by default) and write the report to `out`.

    **Arguments:**

    - `names`: claim names (default: every registered claim).
    - `size`: `"quick"` or `"full"`.
    - `seeds`: number of seeds, overriding each claim's default for `size` (>= 2).
    - `seed`: base integer seed.
    - `out`: report directory (`report.json`, `report.md`, `figures/`, `checkpoints/`), or
      `None` to write nothing.
    - `resume`: continue simulations from the checkpoints in `out`.
    - `progress`: progress bars (default: when stderr is a terminal).
    - `on_result`: optional callback receiving each `ClaimResult` as it finishes.

    **Returns:** the [`Report`][limitlab.validation.Report].

    **Raises:** `ValueError` for an unknown claim or size, bad seeds, or an unwritable `out`.
    """
    if size not in SIZES:
        raise ValueError(f"size must be one of {list(SIZES)}, got {size!r}")
    if seeds is not None and (isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 2):
        raise ValueError(f"seeds must be an integer >= 2 (a standard error needs two), got {seeds!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an integer in [0, 2**32), got {seed!r}")
    claims = [get_claim(n) for n in (claim_names() if not names else names)]
    out_dir = None if out is None else check_out_dir(out)
    versions = environment_versions()
    results = []
    for claim in claims:
        result = run_claim(
            claim,
            size=size,
            seeds=seeds,
            seed=seed,
            out_dir=out_dir,
            resume=resume,
            progress=progress,
            versions=versions,
        )
        results.append(result)
        if on_result is not None:
            on_result(result)
    report = Report(size=size, seed=seed, results=results, versions=versions)
    if out_dir is not None:
        report.write(out_dir)
    return report
