import json

import pytest

from helpers import run_cli

from limitlab.cli import main


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["validate", "no-such-claim"], "unknown claim 'no-such-claim'"),
        (["validate", "--size", "medium"], "invalid choice: 'medium'"),
        (["validate", "--seeds", "0"], "--seeds: must be >= 2"),
        (["validate", "--seeds", "many"], "--seeds: expected an integer"),
        (["validate", "--seed", "-1"], "--seed: must be >= 0"),
        (["validate", "--out", "/proc/forbidden/report"], "out directory"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["validate", "--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, fragment):
    proc = run_cli(*args)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("limitlab: error:") and fragment in lines[0]


def test_out_that_is_a_file(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    assert main(["validate", "--out", str(target)]) == 2


def test_list_and_version(capsys):
    assert main(["list"]) == 0
    assert "relu-random-features-rate" in capsys.readouterr().out
    assert main(["list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["claim"] for r in rows} >= {"two-layer-fourth-cumulant"}
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0


def test_validate_json_and_exit_code(tmp_path):
    proc = run_cli("validate", "two-layer-fourth-cumulant", "--seeds", "3000", "--out",
                str(tmp_path / "r"), "--json")
    report = json.loads(proc.stdout)  # stdout is pure JSON
    assert proc.returncode == (0 if report["passed"] else 1)
    assert report["claims"][0]["seeds"] == 3000
    assert (tmp_path / "r" / "report.json").exists()
