"""The wheel contains the three layers and `limitlab.testing` under `limitlab/`."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_contains_the_three_layers(tmp_path):
    src = tmp_path / "src"
    for name in ("limitlab", "theory", "numerics", "validation", "testing"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "-w", str(tmp_path / "dist"), str(src)],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("limitlab-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for package in ("limitlab", "limitlab/theory", "limitlab/numerics", "limitlab/validation",
                    "limitlab/validation/claims", "limitlab/testing"):
        assert f"{package}/__init__.py" in names, sorted(names)
    assert not any(n.startswith(("theory/", "numerics/", "validation/", "testing/"))
                   for n in names)
    assert any(n.endswith("entry_points.txt") for n in names)
