"""The numeric layer: JAX evaluation of formulas and the Monte Carlo simulations that test them.

Conventions: float64 inside [`float64()`][limitlab.numerics.float64] (never switched on globally),
explicit keyword-only `key=` arguments with new-style typed keys, and ensembles over seeds
through [`run_ensemble`][limitlab.numerics.run_ensemble].
"""

from ._activations import ACTIVATIONS as ACTIVATIONS
from ._activations import activation as activation
from ._correlation_estimator import correlation_estimate as correlation_estimate
from ._correlation_estimator import correlation_integrand as correlation_integrand
from ._correlation_estimator import correlation_sample as correlation_sample
from ._correlation_estimator import default_inputs as default_inputs
from ._correlation_estimator import width_sweep as width_sweep
from ._empirical_ntk import empirical_ntk as empirical_ntk
from ._ensemble import CheckpointMismatchError as CheckpointMismatchError
from ._ensemble import run_ensemble as run_ensemble
from ._kernel_flow import simulate_kernel_flow as simulate_kernel_flow
from ._lambdify import SUPPORTED_FUNCTIONS as SUPPORTED_FUNCTIONS
from ._lambdify import UnsupportedExpressionError as UnsupportedExpressionError
from ._lambdify import lambdify as lambdify
from ._linearisation import train_with_linearisation as train_with_linearisation
from ._mlp import PARAMETRIZATIONS as PARAMETRIZATIONS
from ._mlp import MLPConfig as MLPConfig
from ._mlp import init_mlp as init_mlp
from ._mlp import learning_rate_scale as learning_rate_scale
from ._mlp import mlp_apply as mlp_apply
from ._mlp import num_parameters as num_parameters
from ._mlp import ravel_mlp as ravel_mlp
from ._online_sgd import online_sgd as online_sgd
from ._orthopoly import chebyshev_t as chebyshev_t
from ._orthopoly import chebyshev_u as chebyshev_u
from ._orthopoly import gegenbauer as gegenbauer
from ._orthopoly import gegenbauer_normalised as gegenbauer_normalised
from ._orthopoly import hermite as hermite
from ._orthopoly import laguerre as laguerre
from ._orthopoly import legendre as legendre
from ._precision import check_finite as check_finite
from ._precision import float64 as float64
from ._prng import key_from_seed as key_from_seed
from ._prng import seed_key as seed_key
from ._random_features import random_feature_kernel as random_feature_kernel
from ._random_features import two_layer_output as two_layer_output
from ._sphere_sampling import harmonic_features as harmonic_features
from ._sphere_sampling import harmonic_target as harmonic_target
from ._sphere_sampling import sample_sphere as sample_sphere

__all__ = [
    "ACTIVATIONS",
    "CheckpointMismatchError",
    "MLPConfig",
    "PARAMETRIZATIONS",
    "SUPPORTED_FUNCTIONS",
    "UnsupportedExpressionError",
    "activation",
    "chebyshev_t",
    "chebyshev_u",
    "check_finite",
    "correlation_estimate",
    "correlation_integrand",
    "correlation_sample",
    "default_inputs",
    "empirical_ntk",
    "float64",
    "gegenbauer",
    "gegenbauer_normalised",
    "harmonic_features",
    "harmonic_target",
    "hermite",
    "init_mlp",
    "key_from_seed",
    "laguerre",
    "lambdify",
    "learning_rate_scale",
    "legendre",
    "mlp_apply",
    "num_parameters",
    "online_sgd",
    "random_feature_kernel",
    "ravel_mlp",
    "run_ensemble",
    "sample_sphere",
    "seed_key",
    "simulate_kernel_flow",
    "train_with_linearisation",
    "two_layer_output",
    "width_sweep",
]
