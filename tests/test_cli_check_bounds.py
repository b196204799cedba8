"""`limitlab check-bounds`: pass/fail lines, the shrunk counterexample, JSON, exit codes."""

import json

from helpers import run_cli


def test_passing_bounds_exit_zero():
    proc = run_cli("check-bounds", "trace-identity", "connected-cluster-exponent",
                   "--examples", "5")
    assert proc.returncode == 0, proc.stderr
    assert "PASS   trace-identity" in proc.stdout and "2 of 2 bounds passed" in proc.stdout


def test_failing_bound_prints_the_counterexample_and_exits_one():
    proc = run_cli("check-bounds", "cluster-exponent-negative", "--json")
    assert proc.returncode == 1, proc.stderr
    out = json.loads(proc.stdout)
    (entry,) = out["bounds"]
    assert not out["passed"] and entry["counterexample"] == "parse_correlation('E[f(x1)]')"
    assert (entry["lhs"], entry["rhs"]) == ("0", "-1")
    text = run_cli("check-bounds", "cluster-exponent-negative", "--seed", "7")
    assert text.returncode == 1 and "FAIL" in text.stdout and "example:" in text.stdout


def test_bad_input_is_one_line_on_stderr_with_exit_code_two():
    proc = run_cli("check-bounds", "no-such-bound")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "known bounds: oracle-risk-monotone" in proc.stderr
    proc = run_cli("check-bounds", "--examples", "0")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
