"""The symbolic layer: exact and high-precision derivations with sympy and mpmath.

This package never imports JAX (a test enforces it), so derivations run anywhere sympy does.
"""

from ._arccos import arccos_j as arccos_j
from ._arccos import relu_feature_kernel as relu_feature_kernel
from ._arccos import relu_feature_product_variance as relu_feature_product_variance
from ._cluster_graphs import ClusterGraph as ClusterGraph
from ._cluster_graphs import PARAMETRIZATIONS as PARAMETRIZATIONS
from ._cluster_graphs import Parametrization as Parametrization
from ._cluster_graphs import cluster_graph as cluster_graph
from ._cluster_graphs import correlation_exponent as correlation_exponent
from ._cluster_graphs import exponent_of_terms as exponent_of_terms
from ._cluster_graphs import is_identically_zero as is_identically_zero
from ._cluster_graphs import parametrization as parametrization
from ._correlations import CorrelationFunction as CorrelationFunction
from ._correlations import Tensor as Tensor
from ._correlations import ntk_function as ntk_function
from ._correlations import operator_tower as operator_tower
from ._correlations import parse_correlation as parse_correlation
from ._correlations import random_correlation_function as random_correlation_function
from ._correlations import time_derivative_tower as time_derivative_tower
from ._eigenlearning import EigenlearningResult as EigenlearningResult
from ._eigenlearning import eigenlearning as eigenlearning
from ._eigenlearning import krr_boundary_expression as krr_boundary_expression
from ._eigenlearning import krr_boundary_risk as krr_boundary_risk
from ._eigenlearning import krr_risk_curve as krr_risk_curve
from ._gauss_newton import GramSpectrum as GramSpectrum
from ._gauss_newton import effective_damping as effective_damping
from ._gauss_newton import effective_damping_expression as effective_damping_expression
from ._gauss_newton import gauss_newton_step as gauss_newton_step
from ._gauss_newton import gram_spectrum as gram_spectrum
from ._gauss_newton import k_step_filter as k_step_filter
from ._gauss_newton import k_step_filter_expression as k_step_filter_expression
from ._gauss_newton import k_step_update as k_step_update
from ._gauss_newton import kernel_regression_prediction as kernel_regression_prediction
from ._gauss_newton import levenberg_marquardt_step as levenberg_marquardt_step
from ._gauss_newton import lm_analogy_error as lm_analogy_error
from ._gauss_newton import lm_analogy_error_expression as lm_analogy_error_expression
from ._gauss_newton import lm_analogy_error_from_spectrum as lm_analogy_error_from_spectrum
from ._gaussian import gaussian_expectation as gaussian_expectation
from ._gaussian import two_layer_excess_kurtosis as two_layer_excess_kurtosis
from ._gaussian import two_layer_fourth_cumulant as two_layer_fourth_cumulant
from ._kernels import ACTIVATIONS as KERNEL_ACTIVATIONS
from ._kernels import KERNEL_KINDS as KERNEL_KINDS
from ._kernels import WEIGHT_VARIANCE as WEIGHT_VARIANCE
from ._kernels import kernel_expression as kernel_expression
from ._kernels import kernel_taylor_coefficients as kernel_taylor_coefficients
from ._kernels import named_kernel as named_kernel
from ._kernels import nngp_kernel as nngp_kernel
from ._kernels import ntk_kernel as ntk_kernel
from ._manifold_drift import DriftDerivation as DriftDerivation
from ._manifold_drift import NOISE_KINDS as NOISE_KINDS
from ._manifold_drift import NoiseModel as NoiseModel
from ._manifold_drift import SAMPLE_COUNT as SAMPLE_COUNT
from ._manifold_drift import derive_drift as derive_drift
from ._manifold_drift import lyapunov_inverse as lyapunov_inverse
from ._manifold_drift import noise_model as noise_model
from ._manifold_drift import second_derivative_of_flow_map as second_derivative_of_flow_map
from ._diagonal_network import weighted_l1_interpolant as weighted_l1_interpolant
from ._diagonal_network import weighted_min_norm_interpolant as weighted_min_norm_interpolant
from ._manifold_drift import tangent_projection as tangent_projection
from ._marchenko_pastur import BoundaryRegime as BoundaryRegime
from ._marchenko_pastur import boundary_level as boundary_level
from ._marchenko_pastur import boundary_regime as boundary_regime
from ._marchenko_pastur import boundary_regime_risk as boundary_regime_risk
from ._marchenko_pastur import marchenko_pastur_atom as marchenko_pastur_atom
from ._marchenko_pastur import marchenko_pastur_density as marchenko_pastur_density
from ._mean_field import MeanFieldObjective as MeanFieldObjective
from ._mean_field import RandomFeaturesSolution as RandomFeaturesSolution
from ._mean_field import clt_covariance as clt_covariance
from ._mean_field import empirical_norm_squared as empirical_norm_squared
from ._mean_field import mean_field_loss as mean_field_loss
from ._mean_field import mean_field_objective as mean_field_objective
from ._mean_field import mean_field_potential as mean_field_potential
from ._mean_field import mean_field_prediction as mean_field_prediction
from ._mean_field import measure_two_norm_squared as measure_two_norm_squared
from ._mean_field import random_features_dynamics as random_features_dynamics
from ._mean_field import random_features_fluctuation as random_features_fluctuation
from ._mean_field import resampling_bound as resampling_bound
from ._mean_field import two_norm_bound as two_norm_bound
from ._mean_field import unit_function as unit_function
from ._mean_field_models import GaussianUnitModel as GaussianUnitModel
from ._mean_field_models import ReducedReluState as ReducedReluState
from ._mean_field_models import gaussian_unit_model as gaussian_unit_model
from ._mean_field_models import isotropic_mixture_interaction as isotropic_mixture_interaction
from ._mean_field_models import isotropic_mixture_potential as isotropic_mixture_potential
from ._mean_field_models import ramp_gaussian_mean as ramp_gaussian_mean
from ._mean_field_models import reduced_overlap_density as reduced_overlap_density
from ._mean_field_models import reduced_overlap_quadrature as reduced_overlap_quadrature
from ._mean_field_models import reduced_relu_kernel as reduced_relu_kernel
from ._mean_field_models import reduced_relu_teacher_student as reduced_relu_teacher_student
from ._mean_field_models import relu_gaussian_kernel as relu_gaussian_kernel
from ._mean_field_models import relu_gaussian_kernel_gradient as relu_gaussian_kernel_gradient
from ._online_sgd import online_sgd_mean_learned_fraction as online_sgd_mean_learned_fraction
from ._online_sgd import online_sgd_risk as online_sgd_risk
from ._online_sgd import online_sgd_stability as online_sgd_stability
from ._parsing import DEFAULT_CONSTANTS as DEFAULT_CONSTANTS
from ._parsing import DEFAULT_FUNCTIONS as DEFAULT_FUNCTIONS
from ._parsing import parse_expression as parse_expression
from ._risk_curves import RiskCurves as RiskCurves
from ._risk_curves import StageWindows as StageWindows
from ._risk_curves import empirical_risk_asymptotic as empirical_risk_asymptotic
from ._risk_curves import empirical_risk_expression as empirical_risk_expression
from ._risk_curves import oracle_risk as oracle_risk
from ._risk_curves import oracle_risk_expression as oracle_risk_expression
from ._risk_curves import polynomial_level as polynomial_level
from ._risk_curves import risk_curves as risk_curves
from ._risk_curves import stage_windows as stage_windows
from ._spectrum import KernelSpectrum as KernelSpectrum
from ._spectrum import kernel_spectrum as kernel_spectrum
from ._sphere import KERNEL_VARIABLE as KERNEL_VARIABLE
from ._sphere import check_positive_definite as check_positive_definite
from ._sphere import eigenvalue_asymptotic as eigenvalue_asymptotic
from ._sphere import funk_hecke_eigenvalue as funk_hecke_eigenvalue
from ._sphere import gegenbauer_normalised as gegenbauer_normalised
from ._sphere import harmonic_degeneracy as harmonic_degeneracy
from ._sphere import hypercube_degeneracy as hypercube_degeneracy
from ._sphere import hypercube_eigenvalue as hypercube_eigenvalue
from ._sphere import kappa_tail as kappa_tail
from ._sphere import kappa_tail_limit as kappa_tail_limit
from ._sphere import mu_coefficient as mu_coefficient
from ._sum_of_squares import residuals_of as residuals_of
from ._weak_correlations import DERIVED_ORDERS as DERIVED_ORDERS
from ._weak_correlations import DerivedOrder as DerivedOrder
from ._weak_correlations import Order as Order
from ._weak_correlations import weak_correlation_function as weak_correlation_function
from ._weak_correlations import weak_correlation_order as weak_correlation_order

__all__ = [
    "BoundaryRegime",
    "ClusterGraph",
    "CorrelationFunction",
    "DEFAULT_CONSTANTS",
    "DEFAULT_FUNCTIONS",
    "DERIVED_ORDERS",
    "DerivedOrder",
    "DriftDerivation",
    "EigenlearningResult",
    "GaussianUnitModel",
    "GramSpectrum",
    "KERNEL_ACTIVATIONS",
    "KERNEL_KINDS",
    "KERNEL_VARIABLE",
    "KernelSpectrum",
    "MeanFieldObjective",
    "NOISE_KINDS",
    "NoiseModel",
    "Order",
    "PARAMETRIZATIONS",
    "Parametrization",
    "RandomFeaturesSolution",
    "ReducedReluState",
    "RiskCurves",
    "SAMPLE_COUNT",
    "StageWindows",
    "Tensor",
    "WEIGHT_VARIANCE",
    "arccos_j",
    "boundary_level",
    "boundary_regime",
    "boundary_regime_risk",
    "check_positive_definite",
    "clt_covariance",
    "cluster_graph",
    "correlation_exponent",
    "derive_drift",
    "effective_damping",
    "effective_damping_expression",
    "eigenlearning",
    "eigenvalue_asymptotic",
    "empirical_norm_squared",
    "empirical_risk_asymptotic",
    "empirical_risk_expression",
    "exponent_of_terms",
    "funk_hecke_eigenvalue",
    "gauss_newton_step",
    "gaussian_expectation",
    "gaussian_unit_model",
    "gegenbauer_normalised",
    "gram_spectrum",
    "harmonic_degeneracy",
    "hypercube_degeneracy",
    "hypercube_eigenvalue",
    "is_identically_zero",
    "isotropic_mixture_interaction",
    "isotropic_mixture_potential",
    "k_step_filter",
    "k_step_filter_expression",
    "k_step_update",
    "kappa_tail",
    "kappa_tail_limit",
    "kernel_expression",
    "kernel_regression_prediction",
    "kernel_spectrum",
    "kernel_taylor_coefficients",
    "krr_boundary_expression",
    "krr_boundary_risk",
    "krr_risk_curve",
    "levenberg_marquardt_step",
    "lm_analogy_error",
    "lm_analogy_error_expression",
    "lm_analogy_error_from_spectrum",
    "lyapunov_inverse",
    "marchenko_pastur_atom",
    "marchenko_pastur_density",
    "mean_field_loss",
    "mean_field_objective",
    "mean_field_potential",
    "mean_field_prediction",
    "measure_two_norm_squared",
    "mu_coefficient",
    "named_kernel",
    "nngp_kernel",
    "noise_model",
    "ntk_function",
    "ntk_kernel",
    "online_sgd_mean_learned_fraction",
    "online_sgd_risk",
    "online_sgd_stability",
    "operator_tower",
    "oracle_risk",
    "oracle_risk_expression",
    "parametrization",
    "parse_correlation",
    "parse_expression",
    "polynomial_level",
    "ramp_gaussian_mean",
    "random_correlation_function",
    "random_features_dynamics",
    "random_features_fluctuation",
    "reduced_overlap_density",
    "reduced_overlap_quadrature",
    "reduced_relu_kernel",
    "reduced_relu_teacher_student",
    "relu_feature_kernel",
    "relu_feature_product_variance",
    "relu_gaussian_kernel",
    "relu_gaussian_kernel_gradient",
    "resampling_bound",
    "residuals_of",
    "risk_curves",
    "second_derivative_of_flow_map",
    "stage_windows",
    "tangent_projection",
    "time_derivative_tower",
    "two_layer_excess_kurtosis",
    "two_layer_fourth_cumulant",
    "two_norm_bound",
    "unit_function",
    "weak_correlation_function",
    "weak_correlation_order",
    "weighted_l1_interpolant",
    "weighted_min_norm_interpolant",
]
