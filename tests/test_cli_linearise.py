"""`limitlab linearise`: the sweep of iterative linearisation over the period K."""

import json
import math
import sys

import jax
import numpy as np
import pytest

from helpers import run_cli

from limitlab import _cli_linearise
from limitlab.cli import main

_TINY = ["linearise", "--data", "teacher", "--model", "mlp:width=16,depth=2", "--K", "1,5,inf",
         "--steps", "50", "--seeds", "2", "--no-progress"]


def _strict_json(text):
    def reject(constant):
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=reject)


def _one_error_line(capsys):
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("limitlab: error:"), lines[0]
    return lines[0]


def test_tiny_run_table_json_and_plot(tmp_path, capsys):
    assert main(_TINY) == 0
    table = capsys.readouterr().out
    plot = tmp_path / "sweep.png"
    assert main(_TINY + ["--json", "--plot", str(plot)]) == 0
    out = _strict_json(capsys.readouterr().out)

    assert out["data"] == "teacher" and (out["n_train"], out["n_test"]) == (512, 1000)
    assert out["model"] == {"family": "mlp", "width": 16, "depth": 2, "activation": "relu",
                            "parametrization": "ntk", "input_dim": 8, "output_dim": 2}
    assert out["steps"] == 50 and out["seeds"] == 2 and out["reference_added"] is False
    rows = out["rows"]
    assert [r["K"] for r in rows] == [1, 5, "inf"]
    # ceil(steps / K) distinct linearisation points; K = 1 is plain SGD, K = inf has one
    assert [r["feature_updates"] for r in rows] == [50, 10, 1]
    for row in rows:
        acc = row["test_accuracy"]
        seeds = np.asarray(acc["seeds"])
        assert seeds.shape == (2,) and np.all((seeds >= 0) & (seeds <= 1))
        assert acc["mean"] == pytest.approx(seeds.mean())
        assert acc["stderr"] == pytest.approx(seeds.std(ddof=1) / math.sqrt(2))
        assert math.isfinite(row["train_loss"]["mean"]) and row["train_loss"]["mean"] > 0
    # K = inf minus K = 1, paired over seeds
    difference = np.asarray(rows[2]["test_accuracy"]["seeds"]) - rows[0]["test_accuracy"]["seeds"]
    gap = out["inf_minus_1"]
    assert gap["mean"] == pytest.approx(difference.mean())
    assert gap["stderr"] == pytest.approx(difference.std(ddof=1) / math.sqrt(2))
    # the fewest feature updates (K != 1) within 1 percentage point of K = 1
    reference = rows[0]["test_accuracy"]["mean"]
    close = [r for r in rows[1:] if r["test_accuracy"]["mean"] >= reference - 0.01 - 1e-12]
    best = out["within_1pp_of_K1"]
    if close:
        assert best["feature_updates"] == min(r["feature_updates"] for r in close)
    else:
        assert best is None

    # the table says the same
    lines = table.splitlines()
    head = next(i for i, line in enumerate(lines) if "feature updates" in line and "K" in line)
    cells = [line.split() for line in lines[head + 1:head + 4]]
    assert [c[0] for c in cells] == ["1", "5", "inf"]
    assert [int(c[1]) for c in cells] == [50, 10, 1]
    assert float(cells[0][2]) == pytest.approx(100 * reference, abs=0.006)
    assert "feature updates needed to get within 1 percentage point of K=1: " in table
    assert "K=inf minus K=1 test accuracy:" in table

    assert out["plot"] == str(plot)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 10_000


def test_digits_one_seed_adds_the_reference(capsys):
    pytest.importorskip("sklearn.datasets")
    args = ["linearise", "--data", "digits", "--model", "mlp:width=8,depth=1,act=tanh",
            "--K", "inf", "--steps", "10", "--seeds", "1", "--train-points", "300",
            "--optimizer", "adam", "--lr", "0.01", "--batch", "full", "--json", "--no-progress"]
    assert main(args) == 0
    out = _strict_json(capsys.readouterr().out)
    assert (out["n_train"], out["n_test"]) == (300, 1497)
    assert out["model"]["input_dim"] == 64 and out["model"]["output_dim"] == 10
    assert out["reference_added"] is True and [r["K"] for r in out["rows"]] == [1, "inf"]
    assert [r["feature_updates"] for r in out["rows"]] == [10, 1]
    assert out["batch_size"] is None and out["optimizer"] == "adam"
    # one seed: no standard errors (null, never NaN)
    assert out["rows"][0]["test_accuracy"]["stderr"] is None
    assert out["inf_minus_1"]["stderr"] is None


def test_the_k_sweep_compiles_once():
    """All K of all seeds run one compiled program: more K values or seeds add no compilation."""
    compiled = []

    def listener(event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            compiled.append(kwargs.get("fun_name"))

    def sweep_compilations(periods, seeds):
        compiled.clear()
        args = ["linearise", "--data", "teacher", "--model", "mlp:width=12,depth=1",
                "--K", periods, "--steps", "12", "--seeds", seeds, "--no-progress", "--json"]
        assert main(args) == 0
        return sum(name == "jit(linearised_sweep)" for name in compiled)

    cache = _cli_linearise._compiled_sweep()
    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        before = cache._cache_size()
        assert sweep_compilations("1,inf", "1") == 1
        # three times the K values, three seeds: still one compilation (a new array shape)
        assert sweep_compilations("1,2,3,4,6,inf", "3") == 1
        # the same sweep again: none
        assert sweep_compilations("1,2,3,4,6,inf", "2") == 0
        assert cache._cache_size() == before + 2
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


@pytest.mark.parametrize(
    "changes, fragment",
    [
        (["--K", "0,10"], "every K must be an integer >= 1 (and < 2**31) or 'inf', got 0"),
        (["--K", "1,4294967296"], "got 4294967296"),
        (["--K", "1,-3"], "got -3"),
        (["--K", "ten"], "got 'ten'"),
        (["--K", "1,2.5"], "got '2.5'"),
        (["--K", "10,10"], "listed twice"),
        (["--K", ","], "at least one period"),
        (["--steps", "0"], "--steps must be >= 1, got 0"),
        (["--steps", "many"], "--steps must be an integer"),
        (["--seeds", "0"], "--seeds must be >= 1, got 0"),
        (["--data", "mnist"], "invalid choice: 'mnist'"),
        (["--model", "mlp:width=16,height=3"],
         "unknown key 'height'; allowed keys: width, depth, act, param"),
        (["--model", "cnn:width=16"], "model must be mlp:KEY=VALUE"),
        (["--model", "mlp:width=0"], "width must be an integer >= 1"),
        (["--model", "mlp:depth"], "expected KEY=VALUE"),
        (["--model", "mlp:act=swish"], "act must be one of linear, relu, tanh, erf, gelu"),
        (["--model", "mlp:param=general:a=1,b=0"], "param must be one of"),
        (["--model", "mlp:width=4,width=8"], "given twice"),
        (["--model", "__import__('os')"], "model must be mlp:KEY=VALUE"),
        (["--optimizer", "rmsprop"], "invalid choice: 'rmsprop'"),
        (["--lr", "-1"], "--lr must be a finite number > 0"),
        (["--lr", "nan"], "--lr must be a finite number > 0"),
        (["--batch", "0"], "--batch must be an integer >= 1 or 'full'"),
        (["--train-points", "0"], "--train-points must be >= 1"),
        (["--seed", "-2"], "--seed: must be >= 0"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(changes, fragment, capsys):
    assert main(_TINY + changes) == 2
    assert fragment in _one_error_line(capsys)


def test_missing_data_argument(capsys):
    assert main(["linearise", "--steps", "5"]) == 2
    assert "--data" in _one_error_line(capsys)


@pytest.mark.parametrize(
    "changes, fragment",
    [
        (["--batch", "600"], "--batch must be at most the training set size 512, got 600"),
        (["--data", "digits", "--train-points", "1797"], "--train-points must be at most 1796"),
    ],
)
def test_bad_sizes_after_the_data_are_one_line(changes, fragment, capsys):
    if "digits" in changes:
        pytest.importorskip("sklearn.datasets")
    assert main(_TINY + changes) == 2
    assert fragment in _one_error_line(capsys)


def test_divergence_is_one_line(capsys):
    assert main(_TINY + ["--lr", "1e30"]) == 2
    line = _one_error_line(capsys)
    assert "training diverged" in line and "lower --lr" in line


def test_digits_without_scikit_learn_names_the_extra(monkeypatch, capsys):
    # A None entry in sys.modules makes the import fail as if the package were missing.
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    assert main(["linearise", "--data", "digits", "--steps", "5", "--no-progress"]) == 2
    assert "pip install 'limitlab[data]'" in _one_error_line(capsys)


def test_bad_input_fails_before_jax_in_a_subprocess():
    proc = run_cli("linearise", "--data", "teacher", "--K", "0")
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "every K must be" in lines[0], proc.stderr


@pytest.mark.parametrize(
    "text, expected",
    [
        ("mlp", {"width": 512, "depth": 2, "act": "relu", "param": "ntk"}),
        ("mlp:width=64", {"width": 64, "depth": 2, "act": "relu", "param": "ntk"}),
        ("mlp: depth=3 , act=erf,param=mean-field",
         {"width": 512, "depth": 3, "act": "erf", "param": "mean-field"}),
    ],
)
def test_parse_model(text, expected):
    assert _cli_linearise.parse_model(text) == expected


def test_parse_periods_sorts_with_inf_last():
    assert _cli_linearise.parse_periods("inf, 100,1,10") == [1, 10, 100, math.inf]
