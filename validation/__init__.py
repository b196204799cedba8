"""The validation layer: claims that join a theory prediction, a simulation and a stated
statistical criterion, and the reports `limitlab validate` writes.

Adding a claim: build a [`Claim`][limitlab.validation.Claim] and pass it to
[`register`][limitlab.validation.register] in a module under `limitlab.validation.claims`
(see the documentation page "The validation engine").
"""

from ._claim import Claim as Claim
from ._claim import ClaimSize as ClaimSize
from ._claim import FigureSpec as FigureSpec
from ._claim import Measurement as Measurement
from ._claim import Prediction as Prediction
from ._claim import SimulationContext as SimulationContext
from ._criteria import Agreement as Agreement
from ._criteria import BoundHolds as BoundHolds
from ._criteria import Criterion as Criterion
from ._criteria import ExponentMatches as ExponentMatches
from ._criteria import SignMatches as SignMatches
from ._criteria import SlopeMatches as SlopeMatches
from ._criteria import Verdict as Verdict
from ._registry import claim_names as claim_names
from ._registry import get_claim as get_claim
from ._registry import register as register
from ._report import ClaimResult as ClaimResult
from ._report import Report as Report
from ._runner import run_claim as run_claim
from ._runner import validate as validate
from ._statistics import bootstrap as bootstrap
from ._statistics import excess_kurtosis as excess_kurtosis
from ._statistics import loglog_slope as loglog_slope
from ._statistics import mean_and_stderr as mean_and_stderr
from ._statistics import root_mean_square as root_mean_square

__all__ = [
    "Agreement",
    "BoundHolds",
    "Claim",
    "ClaimResult",
    "ClaimSize",
    "Criterion",
    "ExponentMatches",
    "FigureSpec",
    "Measurement",
    "Prediction",
    "Report",
    "SignMatches",
    "SimulationContext",
    "SlopeMatches",
    "Verdict",
    "bootstrap",
    "claim_names",
    "excess_kurtosis",
    "get_claim",
    "loglog_slope",
    "mean_and_stderr",
    "register",
    "root_mean_square",
    "run_claim",
    "validate",
]
