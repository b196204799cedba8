"""limitlab: derive, evaluate and check asymptotic predictions of learning theory.

The distribution has three layers, each its own subpackage:

- [`limitlab.theory`][limitlab.theory]: exact and symbolic derivations (sympy/mpmath; never JAX).
- [`limitlab.numerics`][limitlab.numerics]: JAX evaluation and finite-size Monte Carlo simulation.
- [`limitlab.validation`][limitlab.validation]: claims that join a prediction, a simulation and an
  honest statistical criterion, and the reports the CLI writes.

This root package only holds the version, the configuration defaults and the command line; it
imports none of the layers, so `import limitlab` is cheap.
"""

from ._version import __version__ as __version__

__all__ = ["__version__"]
