"""`limitlab order` and `limitlab width-sweep`."""

import json

import pytest

from helpers import run_cli

from limitlab.cli import main


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["order", "E[df(x1)_a df(x2)_b]"], "appears only once"),
        (["order", "E[df(x1)_a df(x2)_a df(x3)_a]"], "appears 3 times"),
        (["order", "E[]"], "empty product"),
        (["order", "E[g(x1)]"], "unknown tensor name 'g'"),
        (["order", "E[d2f(x1)_a df(x2)_a]"], "needs exactly 2"),
        (["order", "E[df(x1)_a df(x2)_a]", "--param", "weird"], "unknown parametrization"),
        (["width-sweep", "E[df(x1)_a df(x2)_a]", "--widths", "0,4"], "every width must be >= 1"),
        (["width-sweep", "E[df(x1)_a df(x2)_a]", "--widths", "8"], "at least two distinct"),
        (["width-sweep", "E[df(x1)_a df(x2)_a]", "--depth", "0"], "--depth must be >= 1"),
        (["width-sweep", "E[df(x1)_a df(x2)_a]", "--act", "swish"], "invalid choice: 'swish'"),
        (["width-sweep", "E[df(x1)_a df(x2)_a]", "--param", "nonsense"], "unknown parametrization"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, fragment):
    proc = run_cli(*args)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("limitlab: error:") and fragment in lines[0], lines[0]


@pytest.mark.parametrize(
    "pattern, param, exponent",
    [
        ("E[f(x1) f(x2)]", "ntk", "0"),
        ("E[df(x1)_a df(x2)_a]", "ntk", "0"),
        ("E[df(x1)_a df(x2)_a]", "standard", "1"),
        ("E[df(x1)_a df(x2)_a]", "mean-field", "-1"),
        ("E[df(x1)_a df(x2)_b d2f(x3)_ab f(x4)]", "ntk", "-1"),
        ("E[df(x1)_a df(x2)_b df(x3)_c d3f(x4)_abc]", "ntk", "-1"),
        ("E[df(x1)_a df(x2)_b d2f(x3)_ab df(x4)_c df(x5)_d d2f(x6)_cd]", "ntk", "-2"),
    ],
)
def test_order_json(pattern, param, exponent, capsys):
    assert main(["order", pattern, "--param", param, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["exponent"] == exponent and out["parametrization"] == param


def test_order_explains_the_clusters(capsys):
    assert main(["order", "E[df(x1)_a df(x2)_b d2f(x3)_ab f(x4)]"]) == 0
    text = capsys.readouterr().out
    assert "n_e = 0 even, n_o = 2 odd" in text and text.strip().endswith("-1")


def test_width_sweep_json_and_plot(tmp_path, capsys):
    plot = tmp_path / "sweep.png"
    args = ["width-sweep", "E[df(x1)_a df(x2)_a]", "--depth", "1", "--act", "tanh",
            "--widths", "16,64,256", "--seeds", "64", "--plot", str(plot), "--json",
            "--no-progress"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["widths"] == [16, 64, 256] and out["predicted_exponent"] == "0"
    low, high = out["ci_99.7"]
    assert low <= out["slope"] <= high
    assert abs(out["slope"]) < 0.1  # the mean NTK converges: slope 0
    assert plot.stat().st_size > 10_000
