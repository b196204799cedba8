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
from ._mean_field import MEAN_FIELD_SOLVERS as MEAN_FIELD_SOLVERS
from ._mean_field import mean_field_flow as mean_field_flow
from ._mean_field_fluctuation import finite_width_ensemble as finite_width_ensemble
from ._mean_field_fluctuation import finite_width_run as finite_width_run
from ._mean_field_fluctuation import fluctuation_summary as fluctuation_summary
from ._mean_field_fluctuation import linear_response_fluctuation as linear_response_fluctuation
from ._mean_field_models import MEAN_FIELD_MODELS as MEAN_FIELD_MODELS
from ._mean_field_models import DataMeasure as DataMeasure
from ._mean_field_models import KernelMeasure as KernelMeasure
from ._mean_field_models import MeanFieldModel as MeanFieldModel
from ._mean_field_models import Particles as Particles
from ._mean_field_models import gaussian_units_model as gaussian_units_model
from ._mean_field_models import initial_particles as initial_particles
from ._mean_field_models import mean_field_model as mean_field_model
from ._mean_field_models import reference_particles as reference_particles
from ._mean_field_models import relu_teacher_student_model as relu_teacher_student_model
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
    "DataMeasure",
    "Dataset",
    "KernelMeasure",
    "LABEL_DISTRIBUTIONS",
    "LeastSquares",
    "Loss",
    "MEAN_FIELD_MODELS",
    "MEAN_FIELD_SOLVERS",
    "MLPConfig",
    "MeanFieldModel",
    "NOISE_KINDS",
    "NoiseModel",
    "Objective",
    "PARAMETRIZATIONS",
    "Particles",
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
    "finite_width_ensemble",
    "finite_width_run",
    "float64",
    "flow_limit",
    "flow_map_second_derivative",
    "fluctuation_summary",
    "gaussian_units_model",
    "gegenbauer",
    "gegenbauer_normalised",
    "harmonic_features",
    "harmonic_target",
    "hermite",
    "init_mlp",
    "initial_particles",
    "iterative_linearised_training",
    "key_from_seed",
    "laguerre",
    "lambdify",
    "learning_rate_scale",
    "legendre",
    "limiting_flow",
    "linear_response_fluctuation",
    "loss_hessian",
    "lyapunov_inverse",
    "mean_field_flow",
    "mean_field_model",
    "mlp_apply",
    "model_ntk",
    "noise_covariance",
    "noisy_gd",
    "num_parameters",
    "online_sgd",
    "random_feature_kernel",
    "random_quadratic_normal_loss",
    "ravel_mlp",
    "reference_particles",
    "regulariser",
    "relu_teacher_student_model",
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
