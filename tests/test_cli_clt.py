"""`limitlab clt`: the mean-field dynamical CLT from the command line.

Reference values (mean-field-clt.md §9.1, §10.5): for the 1-D Gaussian units, f_0 = 0 and
V_0 = E||g_0||^2 = 1/sqrt(2 pi) exactly; at t = 0, m E||f_m - f_0||^2 = V_0 in expectation
for every width m, and the exact-covariance linear response equals V_0 to round-off.

Compilation dominates: one small gauss1d run (two widths, linear response, plot, checkpoints)
is shared by most tests, and the resumed runs reuse its checkpoints and compiled solvers.
"""

import contextlib
import io
import json
import math
import shutil

import numpy as np
import pytest

from helpers import run_cli

from limitlab import _cli_clt
from limitlab.cli import build_parser, main

V0 = 1 / math.sqrt(2 * math.pi)
SMALL = ["--widths", "4,8", "--seeds", "4", "--time", "1", "--points", "3", "--no-progress"]
GAUSS = ["clt", "--model", "gauss1d", *SMALL, "--quadrature", "8", "4"]


def _run_json(args):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main([*args, "--json"])
    assert code == 0
    return json.loads(out.getvalue())


@pytest.fixture(scope="module")
def gauss(tmp_path_factory):
    """The shared run: gauss1d, widths 4 and 8, 4 seeds, t in {0, 0.5, 1}, linear response,
    a plot and checkpoints, with the default solver (adaptive Tsit5)."""
    folder = tmp_path_factory.mktemp("clt")
    args = [*GAUSS, "--linear-response", "--checkpoint-dir", str(folder / "checkpoints")]
    result = _run_json([*args, "--plot", str(folder / "clt.png")])
    return args, folder, result


def test_names_match_the_numerics():
    from limitlab import numerics

    assert _cli_clt.SOLVERS == numerics.MEAN_FIELD_SOLVERS


def test_gauss1d_json(gauss):
    _, _, out = gauss
    assert out["model"] == "gauss1d" and out["widths"] == [4, 8] and out["seeds"] == 4
    assert out["times"] == [0.0, 0.5, 1.0] and out["same_measure"]
    assert out["reference"] == {"kind": "quadrature", "quadrature": [8, 4], "particles": 32}
    assert out["solver"] == {"name": "tsit5", "dt": None, "rtol": 1e-6, "atol": 1e-8}
    mean_field = out["mean_field"]
    assert mean_field["resampling_train"][0] == pytest.approx(V0, rel=1e-10)
    assert mean_field["norm2"][0] == pytest.approx(1.0, rel=1e-10)  # E c^2 = 1
    for values in mean_field.values():
        assert len(values) == 3 and all(math.isfinite(v) for v in values)
    # exact-covariance linear response: V_0 at t = 0 to round-off, no statistical error
    response = out["linear_response"]
    assert response["method"] == "exact" and response["directions"] == 33
    assert response["train"][0] == pytest.approx(V0, rel=1e-9)
    assert response["train_se"] == [0.0, 0.0, 0.0]
    assert all(0 < g < v for g, v in zip(response["train"][1:],
                                         mean_field["resampling_train"][1:], strict=True))
    assert [e["width"] for e in out["finite_width"]] == [4, 8]
    for entry in out["finite_width"]:
        for key in ("train", "train_se", "test", "test_se", "loss_gap_train", "norm2"):
            assert len(entry[key]) == 3 and all(math.isfinite(v) for v in entry[key]), key
        assert all(v > 0 for v in entry["train"] + entry["train_se"])
        assert entry["test"] == entry["train"]  # population loss: train = test measure
        # acceptance test (a): m E||f_m - f_0||^2 = V_0 in expectation (4 seeds: 4 s.e.)
        assert abs(entry["train"][0] - V0) < 4 * entry["train_se"][0]


def test_plot_is_written(gauss):
    _, folder, out = gauss
    assert out["plot"] == str(folder / "clt.png")
    assert (folder / "clt.png").stat().st_size > 10_000


def test_resume_reuses_the_checkpoints_and_gives_the_same_result(gauss, capsys):
    args, folder, first = gauss
    checkpoints = folder / "checkpoints"
    files = sorted(p.name for p in checkpoints.iterdir())
    assert files == ["clt.json", "mean_field_m4.npz", "mean_field_m8.npz"]
    stamps = {name: (checkpoints / name).stat().st_mtime_ns for name in files if "npz" in name}
    again = _run_json([*args, "--resume"])
    assert again["resumed"] and not first["resumed"]
    first = {k: v for k, v in first.items() if k not in ("resumed", "plot")}
    assert {k: v for k, v in again.items() if k != "resumed"} == first
    # every seed came from the checkpoints: none was run (or written) again
    assert {n: (checkpoints / n).stat().st_mtime_ns for n in stamps} == stamps
    # the text table, from the checkpoints as well
    assert main([*args, "--resume"]) == 0
    text = capsys.readouterr().out
    assert "population (train = test): m E||f_m - f_t||^2 (± s.e.)" in text
    assert "8 x 4 Gauss-Legendre x Gauss-Hermite quadrature of mu_0 (32 particles)" in text
    assert "linear response: exact covariance, 33 tangent directions" in text
    rows = [line.split() for line in text.splitlines() if line.startswith("       0  ")]
    assert len(rows) == 1 and rows[0][1] == f"{V0:.4g}"
    cell = _cli_clt._cell(first["finite_width"][1]["train"][0],
                          first["finite_width"][1]["train_se"][0])
    assert cell in text
    assert {n: (checkpoints / n).stat().st_mtime_ns for n in stamps} == stamps


def test_resume_with_other_settings_is_refused(gauss, capsys):
    args, _, _ = gauss
    assert main([*args, "--resume", "--reg", "0.1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--resume: the checkpoints in" in err[0]
    assert "written with regularisation 0.0, this run has 0.1" in err[0]


def test_non_finite_run_stops_with_one_line_and_keeps_the_checkpoints(gauss, tmp_path,
                                                                       monkeypatch, capsys):
    # Seed index 2 of width 8 "fails" (its solver status says so, as after a NaN): the run
    # stops with one line naming the width, the seed and the step; the checkpoints stay.
    from limitlab.numerics import _mean_field_fluctuation as fluctuation

    args, folder, _ = gauss
    checkpoints = tmp_path / "checkpoints"
    shutil.copytree(folder / "checkpoints", checkpoints)
    before = {p.name: p.read_bytes() for p in checkpoints.glob("*.npz")}
    real = fluctuation.run_ensemble

    def failing(simulate, **options):
        runs = real(simulate, **options)
        if options["config"]["width"] == 8:
            runs = dict(runs, ok=np.array([True, True, False, True]),
                        steps=np.array([5, 5, 3, 5]), reached=np.array([1.0, 1.0, 0.5, 1.0]))
        return runs

    monkeypatch.setattr(fluctuation, "run_ensemble", failing)
    args = [a if a != str(folder / "checkpoints") else str(checkpoints) for a in args]
    assert main([*args, "--resume"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("limitlab: error: width 8, seed index 2 (1 seed(s) failed)")
    assert "stopped at t = 0.5 after 3 accepted steps (step 4 could not be completed" in lines[0]
    assert f"the checkpoints in {checkpoints} keep the finished seeds" in lines[0]
    assert {p.name: p.read_bytes() for p in checkpoints.glob("*.npz")} == before


def test_relu_teacher_tiny(tmp_path, monkeypatch, capsys):
    # 16 training inputs on the sphere drawn with key(S); test norm: the population (kernel
    # form); the reference is a width-32 i.i.d. network.  Euler steps: the cheapest compile.
    # The linear response by Gaussian directions is recorded, not solved (its compilation
    # alone takes ~15 s; tests/numerics/test_mean_field.py checks it against brute force).
    from limitlab import numerics

    calls = []

    def response(model, particles, times, **options):
        calls.append((particles, times, options))
        values = np.linspace(0.3, 0.2, len(times))
        return {"directions": np.asarray(options["directions"]), "train": values,
                "train_se": values / 10, "test": values + 0.1, "test_se": values / 10}

    monkeypatch.setattr(numerics, "linear_response_fluctuation", response)
    plot = tmp_path / "relu.svg"
    args = ["clt", "--model", "relu-teacher", "--d", "3", "--reference-width", "32",
            "--train-points", "16", "--inputs", "sphere", "--widths", "2,4", "--seeds", "3",
            "--time", "1", "--points", "2", "--solver", "euler", "--dt", "0.25",
            "--linear-response", "--directions", "4", "--no-progress", "--plot", str(plot)]
    out = _run_json(args)
    (particles, times, options), = calls
    assert particles.w.shape == (32,) and list(times) == [0.0, 1.0]
    assert options["method"] == "gaussian" and options["directions"] == 4
    assert options["key"] is not None and options["solver"] == "euler" and options["dt"] == 0.25
    assert out["linear_response"] == {"method": "gaussian", "directions": 4,
                                      "train": [0.3, 0.2], "train_se": [0.03, 0.02],
                                      "test": [0.4, 0.30000000000000004],
                                      "test_se": [0.03, 0.02]}
    assert out["reference"] == {"kind": "network", "width": 32, "particles": 32,
                                "largest_width_ratio": 4 / 32}
    assert out["d"] == 3 and out["inputs"] == "sphere" and out["train_points"] == 16
    assert not out["same_measure"] and "16 training inputs (sphere)" in out["description"]
    assert out["solver"] == {"name": "euler", "dt": 0.25, "rtol": None, "atol": None}
    assert out["times"] == [0.0, 1.0]
    assert 0 < out["mean_field"]["resampling_train"][0] < 10
    for entry in out["finite_width"]:
        for key in ("train", "train_se", "test", "test_se", "norm2"):
            assert all(math.isfinite(v) and v > 0 for v in entry[key]), key
    assert plot.stat().st_size > 10_000
    # train and test differ: one table each
    _cli_clt._print_text(out)
    text = capsys.readouterr().out
    assert "train measure: m E||f_m - f_t||^2" in text and "test measure:" in text
    assert "reference: a width-32 i.i.d. network" in text and "figure written to" in text
    assert "linear response: Gaussian directions, 4 tangent directions" in text
    assert "0.4 ± 0.03" in text  # the test-measure linear response at t = 0


def test_gauss1d_interpolation_model():
    settings = {"model": "gauss1d", "train_points": 5, "seed": 0}
    model, description = _cli_clt._model_and_description(settings)
    np.testing.assert_allclose(model.train.x, np.linspace(-3, 3, 5))
    assert model.test.x.shape == (201,) and model.train is not model.test
    assert description.startswith("1-D Gaussian units (§9.1), interpolation: 5 equispaced")
    assert _cli_clt._model_and_description(settings)[0] is model  # cached: compilations reused


def test_defaults():
    settings = _cli_clt._settings(build_parser().parse_args(["clt", "--model", "gauss1d"]))
    assert settings["solver"] == {"name": "tsit5", "dt": None, "rtol": 1e-6, "atol": 1e-8}
    assert settings["reference"] == {"kind": "quadrature", "quadrature": [64, 10]}
    assert (settings["time"], settings["points"], settings["regularisation"]) == (10.0, 5, 0.0)
    args = build_parser().parse_args(["clt", "--model", "relu-teacher"])
    assert args.widths == [32, 64, 128, 256] and args.seeds == 200
    settings = _cli_clt._settings(args)
    assert settings["reference"] == {"kind": "network", "width": 64 * 256}
    assert settings["d"] == 10 and settings["inputs"] == "gaussian"
    assert settings["solver"]["name"] == "tsit5"
    # On finite data a ReLU unit's velocity jumps: fixed-step RK4 by default.
    args = build_parser().parse_args(["clt", "--model", "relu-teacher", "--train-points", "8"])
    assert _cli_clt._settings(args)["solver"] == {"name": "rk4", "dt": 0.05, "rtol": None,
                                                  "atol": None}
    args = build_parser().parse_args(["clt", "--model", "relu-teacher", "--widths", "8,16"])
    assert _cli_clt._settings(args)["reference"]["width"] == 4096


def test_help_names_the_defaults(capsys):
    with pytest.raises(SystemExit) as info:
        main(["clt", "--help"])
    assert info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "max(4096, 64 x the largest width) capped at 16384" in text
    assert "--linear-response" in text and "--checkpoint-dir" in text


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--widths", "0,4"], "argument --widths: every width must be >= 1, got 0"),
        (["--widths", "4,x"], "argument --widths: widths must be integers, got 'x'"),
        (["--widths", "4"], "argument --widths: widths must list at least two distinct"),
        (["--seeds", "1"], "argument --seeds: --seeds must be >= 2, got 1"),
        (["--time", "-1"], "argument --time: --time must be a finite number > 0, got '-1'"),
        (["--time", "0"], "--time must be a finite number > 0"),
        (["--reg", "-0.1"], "argument --reg: --reg must be a finite number >= 0, got '-0.1'"),
        (["--points", "1"], "argument --points: --points must be >= 2"),
        (["--model", "gauss2d"],
         "argument --model: invalid choice: 'gauss2d' (choose from 'gauss1d', 'relu-teacher')"),
        (["--plot", "figure.xyz"], "--plot 'figure.xyz' has extension 'xyz'; matplotlib writes"),
        (["--plot", "figure"], "--plot 'figure' has no extension; matplotlib writes"),
        (["--plot", "no/such/folder/figure.png"], "the directory 'no/such/folder' does not exist"),
        (["--d", "5"], "--d is only for --model relu-teacher"),
        (["--reference-width", "64"], "--reference-width is only for --model relu-teacher"),
        (["--model", "relu-teacher", "--quadrature", "4", "4"],
         "--quadrature is only for --model gauss1d"),
        (["--directions", "8"], "--directions needs --linear-response"),
        (["--linear-response", "--directions", "8"], "--directions is only for --model relu"),
        (["--solver", "rk4"], "--solver rk4 needs --dt"),
        (["--resume"], "--resume needs --checkpoint-dir"),
        (["--dt", "-0.1"], "argument --dt: --dt must be a finite number > 0"),
        (["--rtol", "0"], "argument --rtol: --rtol must be a finite number > 0"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, args, fragment):
    # The later --model wins, so every case also carries the small sizes (nothing heavy runs).
    assert main([*GAUSS, *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("limitlab: error:") and fragment in lines[0], lines[0]


def test_checkpoint_dir_that_is_a_file(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("x")
    assert main([*GAUSS, "--checkpoint-dir", str(target)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--checkpoint-dir: out directory" in err[0]


def test_a_fresh_start_replaces_earlier_checkpoints(tmp_path):
    (tmp_path / "mean_field_m99.npz").write_bytes(b"an earlier run")
    args = build_parser().parse_args([*GAUSS, "--checkpoint-dir", str(tmp_path)])
    settings = _cli_clt._settings(args)
    assert _cli_clt._prepare_checkpoints(args, settings) == tmp_path
    assert [p.name for p in tmp_path.iterdir()] == ["clt.json"]
    assert json.loads((tmp_path / "clt.json").read_text())["settings"] == settings


def test_bad_input_through_the_real_command():
    proc = run_cli("clt", "--model", "gauss1d", "--seeds", "1")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == "limitlab: error: argument --seeds: --seeds must be >= 2, got 1"
