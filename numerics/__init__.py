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
from ._datasets import Dataset as Dataset
from ._datasets import digits_dataset as digits_dataset
from ._datasets import sign_product_dataset as sign_product_dataset
from ._datasets import teacher_student_dataset as teacher_student_dataset
from ._empirical_ntk import empirical_ntk as empirical_ntk
from ._ensemble import CheckpointMismatchError as CheckpointMismatchError
from ._ensemble import run_ensemble as run_ensemble
from ._iterative_linearisation import iterative_linearised_training as iterative_linearised_training
from ._iterative_linearisation import model_ntk as model_ntk
from ._kernel_flow import simulate_kernel_flow as simulate_kernel_flow
from ._lambdify import SUPPORTED_FUNCTIONS as SUPPORTED_FUNCTIONS
from ._lambdify import UnsupportedExpressionError as UnsupportedExpressionError
from ._lambdify import lambdify as lambdify
from ._linearisation import train_with_linearisation as train_with_linearisation
from ._manifold_flow import diffusion as diffusion
from ._manifold_flow import fast_drift as fast_drift
from ._manifold_flow import flow_limit as flow_limit
from ._manifold_flow import flow_map_second_derivative as flow_map_second_derivative
from ._manifold_flow import limiting_flow as limiting_flow
from ._manifold_flow import loss_hessian as loss_hessian
from ._manifold_flow import lyapunov_inverse as lyapunov_inverse
from ._manifold_flow import noise_covariance as noise_covariance
from ._manifold_flow import regulariser as regulariser
from ._manifold_flow import retract as retract
from ._manifold_flow import slow_drift as slow_drift
from ._manifold_flow import tangent_projector as tangent_projector
from ._manifold_flow import third_derivative_action as third_derivative_action
from ._mlp import PARAMETRIZATIONS as PARAMETRIZATIONS
from ._mlp import MLPConfig as MLPConfig
from ._mlp import init_mlp as init_mlp
from ._mlp import learning_rate_scale as learning_rate_scale
from ._mlp import mlp_apply as mlp_apply
from ._mlp import num_parameters as num_parameters
from ._mlp import ravel_mlp as ravel_mlp
from ._noisy_gd import LABEL_DISTRIBUTIONS as LABEL_DISTRIBUTIONS
from ._noisy_gd import NOISE_KINDS as NOISE_KINDS
from ._noisy_gd import LeastSquares as LeastSquares
from ._noisy_gd import Loss as Loss
from ._noisy_gd import NoiseModel as NoiseModel
from ._noisy_gd import Objective as Objective
from ._noisy_gd import noisy_gd as noisy_gd
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
from ._random_losses import QuadraticNormalLoss as QuadraticNormalLoss
from ._random_losses import RandomManifoldLoss as RandomManifoldLoss
from ._random_losses import random_quadratic_normal_loss as random_quadratic_normal_loss
from ._sphere_sampling import harmonic_features as harmonic_features
from ._sphere_sampling import harmonic_target as harmonic_target
from ._sphere_sampling import sample_sphere as sample_sphere

__all__ = [
    "ACTIVATIONS",
    "CheckpointMismatchError",
    "Dataset",
    "LABEL_DISTRIBUTIONS",
    "LeastSquares",
    "Loss",
    "MLPConfig",
    "NOISE_KINDS",
    "NoiseModel",
    "Objective",
    "PARAMETRIZATIONS",
    "QuadraticNormalLoss",
    "RandomManifoldLoss",
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
    "diffusion",
    "digits_dataset",
    "empirical_ntk",
    "fast_drift",
    "float64",
    "flow_limit",
    "flow_map_second_derivative",
    "gegenbauer",
    "gegenbauer_normalised",
    "harmonic_features",
    "harmonic_target",
    "hermite",
    "init_mlp",
    "iterative_linearised_training",
    "key_from_seed",
    "laguerre",
    "lambdify",
    "learning_rate_scale",
    "legendre",
    "limiting_flow",
    "loss_hessian",
    "lyapunov_inverse",
    "mlp_apply",
    "model_ntk",
    "noise_covariance",
    "noisy_gd",
    "num_parameters",
    "online_sgd",
    "random_feature_kernel",
    "random_quadratic_normal_loss",
    "ravel_mlp",
    "regulariser",
    "retract",
    "run_ensemble",
    "sample_sphere",
    "seed_key",
    "sign_product_dataset",
    "simulate_kernel_flow",
    "slow_drift",
    "tangent_projector",
    "teacher_student_dataset",
    "third_derivative_action",
    "train_with_linearisation",
    "two_layer_output",
    "width_sweep",
]
