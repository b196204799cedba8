"""`limitlab drift`: the limiting drift on the manifold of minimisers from the command line.

Reference formulas (manifold-drift.md §9, toy 1, L = (xy - 1)^2 / 2 from (2, 1/2)):
label noise, slow scale tau = k alpha^2 sigma^2, dx/dtau = -(1/2) x (x^4 - 1)/(x^4 + 1);
perturbed GD, Reg = (x^2 + y^2)/2, fast scale tau = k alpha sigma^2,
dx/dtau = -x (x^4 - 1)/(x^4 + 1); on xy = 1, dy/dtau = -(dx/dtau) / x^2.
Closed form: x(tau)^2 = (u + sqrt(u^2 + 4))/2 with u = 3.75 exp(-2 c tau), c = 1/2 (label
noise) or 1 (perturbed GD).
"""

import json
import math

import pytest
import sympy as sp

from helpers import run_cli

from limitlab import theory
from limitlab._cli_drift import NOISE_KINDS
from limitlab.cli import main

LOSS = ["--loss", "(x*y - 1)**2/2", "--params", "x,y"]
TOY = ["drift", *LOSS]
LABEL = [*TOY, "--noise", "label", "--sigma", "1", "--at", "x=2,y=0.5"]
x, y, alpha = sp.symbols("x y alpha", real=True)


def _toy_drift(c, x0):
    dx = -c * x0 * (x0**4 - 1) / (x0**4 + 1)
    return dx, -dx / x0**2


def _toy_flow(c, tau, x0=2.0):
    u = (x0**2 - x0**-2) * math.exp(-2 * c * tau)
    return math.sqrt((u + math.sqrt(u * u + 4)) / 2)


def _json(capsys, args):
    assert main([*args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _sympy(text):
    return theory.parse_expression(text, {"x": x, "y": y, "alpha": alpha})


def test_noise_kinds_match_the_theory():
    assert NOISE_KINDS == theory.NOISE_KINDS


def test_label_noise_toy_text(capsys):
    assert main(LABEL) == 0
    out = capsys.readouterr().out
    assert "residuals   L = 1/(2n) sum_j f_j^2 with n = 1: f_1 = x*y - 1" in out
    assert "Reg         1/2" in out
    assert "case        degenerate" in out
    assert "time scale  alpha**(-2) steps per unit tau (= 40000 at alpha = 0.005)" in out
    assert "at x = 2, y = 1/2: dW/dtau = (-15/17, 15/68)" in out
    assert "dx/dtau = " in out and "dy/dtau = " in out
    assert "diffusion" not in out.split("simplified")[0]  # deterministic limit


@pytest.mark.parametrize("sigma, scale", [("1", 1), ("0.5", 4)])
def test_label_noise_toy_json(capsys, sigma, scale):
    out = _json(capsys, [*TOY, "--noise", "label", "--sigma", sigma, "--at", "x=2,y=0.5"])
    assert out["regulariser"] == "1/2"
    assert out["case"] == "degenerate" and not out["trivial"] and not out["stochastic"]
    # slow scale: 1/(alpha^2 sigma^2) steps per unit tau
    assert sp.simplify(_sympy(out["time_scale"]) - scale / alpha**2) == 0
    assert out["steps_per_unit_tau"] == pytest.approx(scale / 0.005**2)
    assert out["exact"] and out["point"] == {"x": "2", "y": "1/2"}
    assert out["drift_at_point"] == ["-15/17", "15/68"]
    assert out["drift_at_point_float"] == pytest.approx(_toy_drift(0.5, 2.0), rel=1e-14)
    # the expression, restricted to the zero set xy = 1, is the reference ODE
    drift = [_sympy(e).subs(y, 1 / x) for e in out["drift"]]
    for x0 in (0.5, 1.3, 2.0, 3.7):
        got = [float(e.subs(x, x0)) for e in drift]
        assert got == pytest.approx(_toy_drift(0.5, x0), rel=1e-12)
    assert out["sharpness_coefficient"] == "1" and out["simulation"] is None


def test_perturbed_noise_toy_json(capsys):
    out = _json(capsys, [*TOY, "--noise", "perturbed", "--sigma", "0.1", "--at", "x=2,y=0.5"])
    assert sp.simplify(_sympy(out["regulariser"]) - (x**2 + y**2) / 2) == 0
    assert out["case"] == "non-degenerate"
    assert sp.simplify(_sympy(out["time_scale"]) - 1 / (alpha * sp.Rational(1, 100))) == 0
    assert out["steps_per_unit_tau"] == pytest.approx(1 / (0.005 * 0.01))
    assert out["drift_at_point"] == ["-30/17", "15/34"]
    drift = [_sympy(e).subs(y, 1 / x) for e in out["drift"]]
    for x0 in (0.7, 2.0):
        assert [float(e.subs(x, x0)) for e in drift] == pytest.approx(_toy_drift(1.0, x0))
    assert out["residuals"] is None  # perturbed noise acts on the loss itself


def test_model_with_data(capsys):
    # L = 1/4 ((ab - 1)^2 + (2ab - 2)^2) = (5/4)(ab - 1)^2; label noise: Sigma = H / n, n = 2,
    # drift -(1/8) P_T grad tr H = -(5/8) P_T (a, b): -(5/8) a (a^4 - 1)/(a^4 + 1) on ab = 1
    out = _json(capsys, ["drift", "--model", "a*b*t", "--inputs", "t", "--data", "1:1;2:2",
                         "--params", "a,b", "--noise", "label", "--sigma", "1", "--at",
                         "a=2,b=1/2"])
    assert out["case"] == "degenerate" and out["sharpness_coefficient"] == "1/2"
    assert out["drift_at_point"] == ["-75/68", "75/272"]
    assert out["data"] == [{"x": ["1"], "y": "1"}, {"x": ["2"], "y": "2"}]


def test_minibatch_on_a_sum_of_squares_is_trivial(capsys):
    out = _json(capsys, ["drift", "--loss", "(x - 1)**2 + 3*(y + x)**2", "--params", "x,y",
                         "--noise", "minibatch", "--batch", "1", "--at", "x=1,y=-1"])
    assert len(out["residuals"]) == 2 and out["residuals_from_loss"]
    assert out["trivial"] and out["drift_at_point"] == ["0", "0"]


def test_without_a_point(capsys):
    out = _json(capsys, [*TOY, "--noise", "perturbed", "--sigma", "1"])
    assert out["case"] == "undetermined" and out["time_scale"] is None
    assert out["drift"] is None and out["point"] is None
    assert main([*TOY, "--noise", "perturbed", "--sigma", "1"]) == 0
    assert "time scale  undetermined" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--loss", "(x*z - 1)**2", "--params", "x,y", "--noise", "label", "--sigma", "1"],
         "--loss '(x*z - 1)**2': unknown name 'z'"),
        ([*LOSS, "--noise", "label", "--sigma", "1", "--at", "x=2,q=1"],
         "--at: 'q' is not a parameter"),
        ([*LOSS, "--noise", "label", "--sigma", "1", "--at", "x=2"], "missing y"),
        ([*LOSS, "--noise", "label", "--sigma", "1", "--at", "x=2,y=1"],
         "--at x=2,y=1: point (2, 1) is not a minimiser"),
        (["--loss", "x**2*y**2", "--params", "x,y", "--noise", "perturbed", "--sigma", "1",
          "--at", "x=0,y=0"], "is not a manifold"),
        ([*LOSS, "--noise", "label", "--sigma", "1", "--at", "x=foo(1),y=1"],
         "unknown function 'foo'"),
        ([*LOSS, "--noise", "dropout", "--p", "0.1"], "--noise dropout needs --model"),
        (["--loss", "(x-1)**2 + (y-2)**2", "--params", "x,y", "--noise", "minibatch", "--batch",
          "2", "--at", "x=1,y=2"], "--batch must be below the number of residuals n = 2"),
        ([*LABEL[1:], "--simulate", "--alpha", "0"], "--alpha must be a finite number > 0"),
        ([*LABEL[1:], "--simulate", "--alpha", "-0.1"], "--alpha must be a finite number > 0"),
        ([*LABEL[1:], "--simulate", "--chains", "0"], "--chains must be >= 1"),
        ([*LABEL[1:], "--simulate", "--tau", "1,0.5"], "--tau must be strictly increasing"),
        ([*LABEL[1:], "--simulate", "--tau", "1e-9,2e-9"], "fall on the same step counts"),
        ([*LABEL[1:], "--plot", "figure.png"], "--plot needs --simulate"),
        ([*LOSS, "--noise", "perturbed", "--sigma", "0.0001", "--at", "x=2,y=0.5",
          "--simulate"], "more than 1e+10 chain-steps"),
        ([*LOSS, "--noise", "label", "--sigma", "1", "--at", "x:2,y:1"],
         "--at must be NAME=VALUE pairs"),
        (["--loss", "x**3 + y**2", "--params", "x,y", "--noise", "label", "--sigma", "1"],
         "--loss must be a sum of squares"),
        ([*LOSS, "--noise", "label"], "--noise label needs --sigma"),
        ([*LOSS, "--noise", "label", "--sigma", "1", "--p", "0.5"],
         "--noise label takes no --p (it takes --sigma)"),
        ([*LOSS, "--noise", "dropconnect", "--p", "1"], "--p must be a number in (0, 1)"),
        ([*LOSS, "--noise", "label", "--sigma", "1", "--data", "1:1"], "--data is only for"),
        (["--model", "a*b", "--params", "a,b", "--noise", "label", "--sigma", "1"],
         "--model needs --data"),
        ([*LOSS, "--noise", "perturbed", "--sigma", "1", "--simulate"], "--simulate needs --at"),
        (["--model", "a*b*t", "--inputs", "t", "--data", "1:1", "--params", "a,b", "--noise",
          "dropout", "--p", "0.5", "--at", "a=1,b=1", "--simulate"],
         "there is no simulator for dropout"),
        ([*LOSS, "--noise", "bogus"], "invalid choice: 'bogus'"),
        (["--params", "x", "--noise", "label", "--sigma", "1"],
         "one of the arguments --loss --model is required"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, args, fragment):
    assert main(["drift", *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("limitlab: error:") and fragment in lines[0], lines[0]


def test_bad_input_through_the_real_command():
    proc = run_cli(*TOY, "--noise", "label", "--sigma", "1", "--at", "x=__import__('os'),y=1")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        proc.stderr.strip()] and "unknown function '__import__'" in proc.stderr


def test_simulate_and_plot(tmp_path, capsys):
    plot = tmp_path / "drift.png"
    args = [*LABEL, "--simulate", "--chains", "16", "--alpha", "0.02", "--tau", "0.05,0.1",
            "--seed", "3", "--plot", str(plot)]
    out = _json(capsys, args)
    sim = out["simulation"]
    assert sim["scale"] == "slow" and sim["tau_per_step"] == pytest.approx(0.02**2)
    assert [r["steps"] for r in sim["rows"]] == [125, 250] and sim["steps"] == 250
    for row in sim["rows"]:
        # the limiting ODE at the recorded tau is the closed form of the reference
        assert row["limit"][0] == pytest.approx(_toy_flow(0.5, row["tau"]), rel=1e-6)
        assert row["limit"][1] == pytest.approx(1 / _toy_flow(0.5, row["tau"]), rel=1e-6)
        assert all(s > 0 for s in row["stderr"])
    # the chains move along the manifold as predicted: a displacement of ~16 s.e., matched to
    # within 30% (loose: 16 chains and an O(alpha) finite-step bias at alpha = 0.02)
    last = sim["rows"][-1]
    moved, predicted = 2 - last["mean"][0], 2 - last["limit"][0]
    assert moved > 8 * last["stderr"][0]
    assert abs(moved - predicted) < 0.3 * predicted
    assert plot.stat().st_size > 10_000 and sim["plot"] == str(plot)
    # the text table
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "simulation: noisy GD in float64 from (2, 0.5), alpha = 0.02, 16 chains" in text
    assert "gap/s.e." in text and "O(alpha) and O(sigma^2)" in text
    assert f"figure written to {plot}" in text
