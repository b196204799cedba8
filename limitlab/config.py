"""Configuration defaults shared by the command line and the validation engine."""

from __future__ import annotations

SIZES: tuple[str, ...] = ("quick", "full")
"""The claim sizes every claim defines: `quick` runs in seconds on a CPU (tests, CI), `full` is paper scale."""

DEFAULT_SIZE = "quick"
"""Default size of `limitlab validate`."""

DEFAULT_OUT_DIR = "limitlab-report"
"""Default output directory of `limitlab validate`, relative to the working directory."""

DEFAULT_SEED = 0
"""Default base seed: every simulation is reproducible from this one integer."""

REPORT_SCHEMA_VERSION = 1
"""Version of the `report.json` schema (see docs/validation.md)."""
