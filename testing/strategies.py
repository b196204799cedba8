"""Hypothesis strategies for limitlab objects: `from limitlab.testing import strategies as lst`.

Each strategy generates objects that are valid by construction (see each docstring for what
it can produce and its size knobs) and shrinks towards the smallest object of its kind.
"""

from ._strategies import JacobianProblem as JacobianProblem
from ._strategies import ManifoldLoss as ManifoldLoss
from ._strategies import PowerLawSpectrum as PowerLawSpectrum
from ._strategies import RandomFeaturesProblem as RandomFeaturesProblem
from ._strategies import SphereProblem as SphereProblem
from ._strategies import correlation_functions as correlation_functions
from ._strategies import jacobian_problems as jacobian_problems
from ._strategies import kernels as kernels
from ._strategies import manifold_losses as manifold_losses
from ._strategies import named_kernels as named_kernels
from ._strategies import network_configs as network_configs
from ._strategies import noise_levels as noise_levels
from ._strategies import noise_models as noise_models
from ._strategies import power_law_spectra as power_law_spectra
from ._strategies import random_features_problems as random_features_problems
from ._strategies import seeds as seeds
from ._strategies import sphere_problems as sphere_problems
from ._strategies import sphere_spectra as sphere_spectra
from ._strategies import targets as targets
from ._strategies import taylor_kernels as taylor_kernels

__all__ = [
    "JacobianProblem",
    "ManifoldLoss",
    "PowerLawSpectrum",
    "RandomFeaturesProblem",
    "SphereProblem",
    "correlation_functions",
    "jacobian_problems",
    "kernels",
    "manifold_losses",
    "named_kernels",
    "network_configs",
    "noise_levels",
    "noise_models",
    "power_law_spectra",
    "random_features_problems",
    "seeds",
    "sphere_problems",
    "sphere_spectra",
    "targets",
    "taylor_kernels",
]
