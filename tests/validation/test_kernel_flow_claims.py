"""The kernel-gradient-flow claims can fail: predictions that are wrong are rejected."""

import dataclasses

import numpy as np

from limitlab import theory
from limitlab.validation import Prediction, get_claim, run_claim
from limitlab.validation.claims import kernel_flow


def test_the_gaussian_closure_of_the_reference_is_rejected(tmp_path):
    claim = get_claim("online-sgd-risk")

    def gaussian(params):
        right = kernel_flow.predict_sgd_risk(params)
        spectrum = theory.kernel_spectrum(params["kernel"], params["d"], params["kmax"])
        energies = {int(k): v for k, v in params["energies"].items()}
        y = np.concatenate([
            theory.online_sgd_risk(kernel_flow._sgd_steps(params, eta), spectrum, energies,
                                   params["noise"], eta=eta, batch=params["batch"],
                                   closure="gaussian")
            for eta in params["etas"]
        ])
        return Prediction(right.x, y, series=right.series)

    wrong = dataclasses.replace(claim, name="online-sgd-risk-gaussian", predict=gaussian)
    result = run_claim(wrong, size="quick")
    assert result.error is None and not result.passed, result.summary


def test_swapping_the_two_kernels_fails(tmp_path):
    claim = get_claim("faster-training-not-better")

    def swapped(params):
        right = kernel_flow.predict_two_kernels(params)
        return Prediction(right.x, -right.y, series=right.series)

    result = run_claim(dataclasses.replace(claim, predict=swapped), size="quick")
    assert result.error is None and not result.passed
