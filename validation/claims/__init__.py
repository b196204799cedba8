"""Built-in claims; importing this package registers them.  Later capabilities add modules here."""

# Registration order is the order of `limitlab list` and of the report.
from . import random_features as random_features  # isort: skip
from . import finite_width as finite_width  # isort: skip
from . import kernel_spectrum as kernel_spectrum  # isort: skip
from . import kernel_flow as kernel_flow  # isort: skip
from . import random_tensors as random_tensors  # isort: skip
from . import linearisation as linearisation  # isort: skip
from . import iterative_linearisation as iterative_linearisation  # isort: skip
from . import manifold_drift as manifold_drift  # isort: skip
from . import mean_field_clt as mean_field_clt  # isort: skip

__all__ = [
    "finite_width",
    "iterative_linearisation",
    "kernel_flow",
    "kernel_spectrum",
    "linearisation",
    "manifold_drift",
    "mean_field_clt",
    "random_features",
    "random_tensors",
]
