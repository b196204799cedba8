"""limitlab: derive, evaluate and check asymptotic predictions of learning theory.

The distribution has three layers, each its own subpackage:

- [`limitlab.theory`][limitlab.theory]: exact and symbolic derivations (sympy/mpmath; never JAX).
- [`limitlab.numerics`][limitlab.numerics]: JAX evaluation and finite-size Monte Carlo simulation.
- [`limitlab.validation`][limitlab.validation]: claims that join a prediction, a simulation and an
  honest statistical criterion, and the reports the CLI writes.

This root package only holds the version, the configuration defaults and the command line; it
imports none of the layers, so `import limitlab` is cheap.
"""

from pathlib import Path as _Path

from ._version import __version__ as __version__

# In a source checkout the layers live beside this folder (theory/, numerics/, validation/)
# and are mapped under `limitlab` only by the installer (pyproject's package-dir).  When this
# folder is imported straight from a checkout (e.g. `python -m pytest` from the repository
# root puts the root first on sys.path, ahead of an installed copy), let the import system
# find the layers there too.  An installed package has them inside this folder: no change.
_here = _Path(__file__).resolve().parent
if not (_here / "theory").is_dir() and (_here.parent / "theory" / "__init__.py").is_file():
    __path__.append(str(_here.parent))  # noqa: F821 - __path__ is defined for packages
del _Path, _here

__all__ = ["__version__"]
