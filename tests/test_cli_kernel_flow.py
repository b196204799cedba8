"""`limitlab spectrum` and `limitlab risk-curve`."""

import json
import math

import numpy as np
import pytest

from helpers import run_cli

from limitlab import theory
from limitlab.cli import main


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["spectrum", "--kernel", "exp(z)", "--d", "2"], "--d must be >= 3"),
        (["spectrum", "--kernel", "exp(z)", "--d", "10", "--kmax", "-1"], "--kmax must be >= 0"),
        (["spectrum", "--kernel", "exp(y)", "--d", "10"], "unknown name 'y'"),
        (["spectrum", "--kernel", "__import__('os')", "--d", "10"], "kernel"),
        (["spectrum", "--kernel", "z - z**3", "--d", "10"], "degree"),
        (["spectrum", "--kernel", "relu-ntk:depth=99", "--d", "10"], "depth"),
        (["risk-curve", "--kernel", "exp(z)", "--d", "10", "--n", "0", "--energies", "1:1"],
         "--n must be >= 1"),
        (["risk-curve", "--kernel", "exp(z)", "--d", "10", "--n", "50", "--energies", "1:-1"],
         "energy of degree 1"),
        (["risk-curve", "--kernel", "exp(z)", "--d", "10", "--n", "50", "--energies", "one"],
         "DEGREE:ENERGY"),
        (["risk-curve", "--kernel", "exp(z)", "--d", "10", "--n", "50", "--energies", "1:1",
          "--times", "1,-2"], "finite number >= 0"),
        (["risk-curve", "--kernel", "exp(z)", "--d", "10", "--n", "50", "--energies", "1:1",
          "--times", "1,nan"], "finite number >= 0"),
        (["risk-curve", "--kernel", "exp(z)", "--d", "10", "--n", "50", "--energies", "1:1",
          "--noise", "-0.1"], "--noise must be a finite number >= 0"),
        # an energy on a degree the kernel cannot learn (lambda = 0 for an even kernel)
        (["risk-curve", "--kernel", "cosh(z)", "--d", "10", "--n", "50", "--energies", "1:1"],
         "energies"),
        (["risk-curve", "--kernel", "exp(z)", "--d", "10", "--n", "50", "--energies", "1:1",
          "--seeds", "1"], "--seeds must be >= 2"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, fragment):
    proc = run_cli(*args)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("limitlab: error:") and fragment in lines[0], lines[0]


def test_spectrum_json_matches_the_theory_layer(capsys):
    assert main(["spectrum", "--kernel", "exp(z)", "--d", "100", "--kmax", "4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["d"] == 100 and len(out["degrees"]) == 5
    row = out["degrees"][2]
    assert row["degeneracy"] == 5049
    assert row["eigenvalue"] == pytest.approx(float(theory.funk_hecke_eigenvalue("exp(z)", 100, 2)),
                                              rel=1e-13)
    assert row["asymptotic"] == pytest.approx(1e-4)
    assert row["tail"] == pytest.approx(float(theory.kappa_tail("exp(z)", 100, 2)), rel=1e-12)
    # trace identity through the table: sum_k N lambda + kappa_{>kmax} = h(1)
    total = sum(r["degeneracy"] * r["eigenvalue"] for r in out["degrees"]) + out["degrees"][-1]["tail"]
    assert total == pytest.approx(math.e, rel=1e-12)


def test_spectrum_exact_and_named_kernels(capsys):
    assert main(["spectrum", "--kernel", "1 + z**2", "--d", "10", "--kmax", "2", "--exact"]) == 0
    text = capsys.readouterr().out
    assert "exact lambda_{d,2} = 1/60" in text  # h'' = 2: 2/(d (d + 2)) at d = 10
    assert main(["spectrum", "--kernel", "relu-nngp:depth=1", "--d", "200", "--kmax", "2",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert all(r["eigenvalue"] >= 0 for r in out["degrees"])


def test_risk_curve_prediction_json(capsys):
    args = ["risk-curve", "--kernel", "exp(z)", "--d", "100", "--n", "1000", "--energies",
            "1:1,2:1,3:1", "--noise", "0.25", "--times", "1,100,1e3,1e4,1e6", "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    points = out["points"]
    assert [p["t"] for p in points] == [1, 100, 1e3, 1e4, 1e6]
    assert points[0]["oracle"] == pytest.approx(3.25, abs=0.03)
    assert points[-1]["test"] == pytest.approx(2.25)  # stage-3 plateau sigma^2 + ||P_{>1} f||^2
    assert points[-1]["train"] == pytest.approx(0.0, abs=1e-12)
    oracle = [p["oracle"] for p in points]
    assert all(a >= b for a, b in zip(oracle, oracle[1:]))
    assert out["stages"]["level"] == 1 and out["stages"]["plateau_risk"] == pytest.approx(2.25)
    assert "simulated" not in points[0]


def test_risk_curve_simulation_and_plot(tmp_path, capsys):
    plot = tmp_path / "curve.png"
    args = ["risk-curve", "--kernel", "exp(z)", "--d", "20", "--n", "100", "--energies", "1:1",
            "--noise", "0.1", "--times", "geom:1:1e4:5", "--simulate", "--seeds", "4",
            "--heldout", "500", "--plot", str(plot), "--json", "--no-progress"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert plot.stat().st_size > 10_000
    assert np.allclose([p["t"] for p in out["points"]], np.geomspace(1, 1e4, 5))
    sim = [p["simulated"] for p in out["points"]]
    train = [s["train"]["mean"] for s in sim]
    assert all(a >= b - 1e-12 for a, b in zip(train, train[1:]))
    for s in sim:
        assert s["test"]["stderr"] >= 0 and s["heldout"]["mean"] > 0
        # exact and held-out test risks agree within Monte Carlo error
        both = math.hypot(s["test"]["stderr"], s["heldout"]["stderr"])
        assert abs(s["test"]["mean"] - s["heldout"]["mean"]) < 5 * both + 0.05
