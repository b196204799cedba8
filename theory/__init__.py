"""The symbolic layer: exact and high-precision derivations with sympy and mpmath.

This package never imports JAX (a test enforces it), so derivations run anywhere sympy does.
"""

from ._arccos import arccos_j as arccos_j
from ._arccos import relu_feature_kernel as relu_feature_kernel
from ._arccos import relu_feature_product_variance as relu_feature_product_variance
from ._gaussian import gaussian_expectation as gaussian_expectation
from ._gaussian import two_layer_excess_kurtosis as two_layer_excess_kurtosis
from ._gaussian import two_layer_fourth_cumulant as two_layer_fourth_cumulant
from ._parsing import DEFAULT_CONSTANTS as DEFAULT_CONSTANTS
from ._parsing import DEFAULT_FUNCTIONS as DEFAULT_FUNCTIONS
from ._parsing import parse_expression as parse_expression

__all__ = [
    "DEFAULT_CONSTANTS",
    "DEFAULT_FUNCTIONS",
    "arccos_j",
    "gaussian_expectation",
    "parse_expression",
    "relu_feature_kernel",
    "relu_feature_product_variance",
    "two_layer_excess_kurtosis",
    "two_layer_fourth_cumulant",
]
