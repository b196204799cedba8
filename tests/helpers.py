"""Helpers shared by several test modules (on the path through pytest's `pythonpath`)."""

import os
import subprocess
import sys

import sympy as sp
from hypothesis import strategies as st

from limitlab.theory import CorrelationFunction, Tensor


def run_cli(*args, cwd=None):
    """`python -m limitlab ARGS` in a subprocess on the CPU; the completed process."""
    return subprocess.run(
        [sys.executable, "-m", "limitlab", *args], capture_output=True, text=True, cwd=cwd,
        env=dict(os.environ, JAX_PLATFORMS="cpu"),
    )


@st.composite
def correlation_functions(draw, max_tensors=6, max_order=3):
    """Random valid correlation-function patterns: random orders 0..`max_order`, a random
    pairing of all index slots, random inputs and a random rational coefficient."""
    m = draw(st.integers(1, max_tensors))
    orders = [draw(st.integers(0, max_order)) for _ in range(m)]
    if sum(orders) % 2:
        i = draw(st.integers(0, m - 1))
        orders[i] += 1 if orders[i] < max_order else -1
    slots = [i for i, k in enumerate(orders) for _ in range(k)]
    slots = draw(st.permutations(slots))
    letters = draw(st.permutations("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    indices: list[list[str]] = [[] for _ in range(m)]
    for pair in range(len(slots) // 2):
        for slot in slots[2 * pair:2 * pair + 2]:
            indices[slot].append(letters[pair])
    inputs = [draw(st.sampled_from(["x1", "x2", "x'", "x'1", "x_t"])) for _ in range(m)]
    coefficient = draw(st.fractions(min_value=-5, max_value=5, max_denominator=7))
    return CorrelationFunction(
        tuple(Tensor(k, x, tuple(ix)) for k, x, ix in zip(orders, inputs, indices)),
        coefficient=sp.Rational(coefficient.numerator, coefficient.denominator),
    )
