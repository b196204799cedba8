"""Griffe extension: follow setuptools `package-dir` for the documentation build.

limitlab installs the top-level folders `theory/`, `numerics/` and `validation/` as
`limitlab.theory`, `limitlab.numerics` and `limitlab.validation` (`[tool.setuptools]
package-dir` in `pyproject.toml`).  Griffe finds the `limitlab` package in `limitlab/` but, by
static analysis or by inspection, only looks for its subpackages inside that folder, so it
never sees the three layers (in an editable install they live elsewhere; in the build
directory, `limitlab/` shadows the installed tree).  After the `limitlab` package is loaded,
this extension visits each remapped folder from the source checkout and attaches it under its
installed name, so every object gets its public path (`limitlab.theory.parse_expression`) and
relative imports resolve.  Only the standard library and griffe's public API are used.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import griffe

_ROOT = Path(__file__).resolve().parents[2]  # docs/_griffe/package_dir.py -> repository root


def _package_dirs(root: Path) -> dict[str, Path]:
    """`{"limitlab.theory": <root>/theory, ...}` from pyproject.toml (empty if absent)."""
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        return {}
    with pyproject.open("rb") as fh:
        table = tomllib.load(fh).get("tool", {}).get("setuptools", {})
    mapping = table.get("package-dir", {})
    return {name: root / folder for name, folder in mapping.items() if name and folder}


class PackageDir(griffe.Extension):
    """Attach the subpackages that `package-dir` maps outside their parent's folder."""

    def __init__(self, root: str | None = None) -> None:
        super().__init__()
        self.mapping = _package_dirs(Path(root).resolve() if root else _ROOT)

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        # Shallow names first, so that a parent is attached before its children.
        for dotted, folder in sorted(self.mapping.items(), key=lambda item: item[0].count(".")):
            parent_path, _, name = dotted.rpartition(".")
            if not parent_path or parent_path.split(".", 1)[0] != pkg.name:
                continue
            parent = pkg if parent_path == pkg.name else pkg.get_member(parent_path.split(".", 1)[1])
            if name in parent.members or not (folder / "__init__.py").is_file():
                continue
            parent.set_member(name, self._visit_tree(name, folder, parent, loader))

    def _visit_tree(
        self, name: str, folder: Path, parent: griffe.Module, loader: griffe.GriffeLoader
    ) -> griffe.Module:
        module = self._visit_file(name, folder / "__init__.py", parent, loader)
        for child in sorted(folder.iterdir()):
            if child.is_dir() and (child / "__init__.py").is_file():
                module.set_member(child.name, self._visit_tree(child.name, child, module, loader))
            elif child.suffix == ".py" and child.stem != "__init__" and "." not in child.stem:
                module.set_member(child.stem, self._visit_file(child.stem, child, module, loader))
        return module

    @staticmethod
    def _visit_file(
        name: str, path: Path, parent: griffe.Module, loader: griffe.GriffeLoader
    ) -> griffe.Module:
        code = path.read_text(encoding="utf-8-sig")
        loader.lines_collection[path] = code.splitlines(keepends=False)
        return griffe.visit(
            name,
            filepath=path,
            code=code,
            extensions=loader.extensions,
            parent=parent,
            docstring_parser=loader.docstring_parser,
            docstring_options=loader.docstring_options,
            lines_collection=loader.lines_collection,
            modules_collection=loader.modules_collection,
        )
