"""Built-in claims; importing this package registers them.  Later capabilities add modules here."""

# Registration order is the order of `limitlab list` and of the report.
from . import random_features as random_features  # isort: skip
from . import finite_width as finite_width  # isort: skip

__all__ = ["finite_width", "random_features"]
