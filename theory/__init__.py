"""The symbolic layer: exact and high-precision derivations with sympy and mpmath.

This package never imports JAX (a test enforces it), so derivations run anywhere sympy does.
"""

from ._arccos import arccos_j as arccos_j
from ._arccos import relu_feature_kernel as relu_feature_kernel
from ._arccos import relu_feature_product_variance as relu_feature_product_variance
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
from ._parsing import DEFAULT_CONSTANTS as DEFAULT_CONSTANTS
from ._parsing import DEFAULT_FUNCTIONS as DEFAULT_FUNCTIONS
from ._parsing import parse_expression as parse_expression
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

__all__ = [
    "DEFAULT_CONSTANTS",
    "DEFAULT_FUNCTIONS",
    "KERNEL_ACTIVATIONS",
    "KERNEL_KINDS",
    "KERNEL_VARIABLE",
    "WEIGHT_VARIANCE",
    "arccos_j",
    "check_positive_definite",
    "eigenvalue_asymptotic",
    "funk_hecke_eigenvalue",
    "gaussian_expectation",
    "gegenbauer_normalised",
    "harmonic_degeneracy",
    "hypercube_degeneracy",
    "hypercube_eigenvalue",
    "kappa_tail",
    "kappa_tail_limit",
    "kernel_expression",
    "kernel_taylor_coefficients",
    "mu_coefficient",
    "named_kernel",
    "nngp_kernel",
    "ntk_kernel",
    "parse_expression",
    "relu_feature_kernel",
    "relu_feature_product_variance",
    "two_layer_excess_kurtosis",
    "two_layer_fourth_cumulant",
]
