"""Reports: `report.json` (schema below), `report.md` and the terminal table.

`report.json` schema (version 1)::

    {
      "schema": "limitlab-report", "schema_version": 1,
      "created": ISO-8601 time, "size": "quick" | "full", "seed": int,
      "passed": bool (all claims passed), "n_claims": int, "n_failed": int,
      "versions": {package: version, ...},
      "claims": [ClaimResult, ...]
    }

and each `ClaimResult`::

    {
      "claim": name, "statement": one line, "reference": citation,
      "size": "quick" | "full", "seeds": int, "criterion": the rule in words,
      "predicted": number or list, "measured": number or list, "stderr": number or list,
      "passed": bool, "summary": one line, "details": {...}, "expression": str | null,
      "figure": path relative to the report directory | null,
      "error": null, or the message of an exception that stopped the claim,
      "elapsed_s": float, "versions": {package: version, ...}
    }
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import tempfile
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from limitlab import __version__
from limitlab.config import REPORT_SCHEMA_VERSION

__all__ = ["ClaimResult", "Report", "environment_versions"]


def environment_versions() -> dict[str, str]:
    """Versions of limitlab, Python and the numerical stack, and the JAX backend."""
    versions = {"limitlab": __version__, "python": platform.python_version()}
    for package in ("jax", "jaxlib", "numpy", "scipy", "sympy", "mpmath", "diffrax"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    try:
        import jax

        versions["jax_backend"] = jax.default_backend()
        versions["devices"] = str(len(jax.devices()))
    except Exception as err:  # pragma: no cover - a broken JAX is reported, not hidden
        versions["jax_backend"] = f"unavailable: {err}"
    return versions


@dataclass
class ClaimResult:
    """The outcome of one claim at one size (one entry of `report.json`)."""

    claim: str
    statement: str
    reference: str
    size: str
    seeds: int
    criterion: str
    predicted: Any
    measured: Any
    stderr: Any
    passed: bool
    summary: str
    elapsed_s: float
    versions: dict[str, str]
    details: dict[str, Any] = field(default_factory=dict)
    expression: str | None = None
    figure: str | None = None
    error: str | None = None


@dataclass
class Report:
    """All claim results of one `limitlab validate` run."""

    size: str
    seed: int
    results: list[ClaimResult]
    versions: dict[str, str]
    created: str = field(
        default_factory=lambda: _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    )

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": "limitlab-report",
            "schema_version": REPORT_SCHEMA_VERSION,
            "created": self.created,
            "size": self.size,
            "seed": self.seed,
            "passed": self.passed,
            "n_claims": len(self.results),
            "n_failed": sum(not r.passed for r in self.results),
            "versions": self.versions,
            "claims": [asdict(r) for r in self.results],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False, default=_jsonable)

    def table(self) -> str:
        """A plain-text table for the terminal."""
        rows = [("claim", "size", "seeds", "result", "summary")]
        for r in self.results:
            verdict = "PASS" if r.passed else ("ERROR" if r.error else "FAIL")
            rows.append((r.claim, r.size, str(r.seeds), verdict, r.summary))
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = []
        for i, row in enumerate(rows):
            lines.append("  ".join(c.ljust(w) for c, w in zip(row[:4], widths, strict=True))
                         + "  " + row[4])
            if i == 0:
                lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 7)
        failed = sum(not r.passed for r in self.results)
        lines.append(f"{len(self.results) - failed} passed, {failed} failed")
        return "\n".join(lines)

    def markdown(self) -> str:
        out = [
            f"# limitlab validation report ({self.size})",
            "",
            f"Created {self.created}; base seed {self.seed}; limitlab {self.versions.get('limitlab')}, "
            f"jax {self.versions.get('jax')} on {self.versions.get('jax_backend')}.",
            "",
            "| claim | seeds | result | criterion | summary | figure |",
            "|---|---|---|---|---|---|",
        ]
        for r in self.results:
            verdict = "**PASS**" if r.passed else ("**ERROR**" if r.error else "**FAIL**")
            fig = f"[png]({r.figure})" if r.figure else ""
            summary = (r.error or r.summary).replace("|", "\\|")
            out.append(
                f"| `{r.claim}` | {r.seeds} | {verdict} | {r.criterion} | {summary} | {fig} |"
            )
        out += ["", "## Statements", ""]
        for r in self.results:
            out.append(f"- `{r.claim}`: {r.statement} ({r.reference})")
        return "\n".join(out) + "\n"

    def write(self, out_dir: Path) -> None:
        """Write `report.json` and `report.md` into `out_dir` (atomically)."""
        _write_text(out_dir / "report.json", self.to_json() + "\n")
        _write_text(out_dir / "report.md", self.markdown())


def _jsonable(value):
    try:
        import numpy as np

        if isinstance(value, np.ndarray):
            return value.tolist()
        if isinstance(value, np.generic):
            return value.item()
    except ImportError:  # pragma: no cover
        pass
    return str(value)


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
