"""The quick size of every registered claim, plus the engine's behaviour on broken claims."""

import json

import numpy as np
import pytest

from limitlab.validation import (
    Agreement,
    Claim,
    ClaimSize,
    FigureSpec,
    Measurement,
    Prediction,
    claim_names,
    get_claim,
    run_claim,
    validate,
)


@pytest.mark.parametrize("name", claim_names())
def test_quick_size_passes(name, tmp_path):
    result = run_claim(get_claim(name), size="quick", out_dir=tmp_path)
    assert result.error is None
    assert result.passed, result.summary
    assert (tmp_path / result.figure).stat().st_size > 10_000


def test_registered_claims_are_complete():
    names = claim_names()
    assert {"relu-random-features-rate", "two-layer-fourth-cumulant"} <= set(names)
    for name in names:
        claim = get_claim(name)
        assert claim.sizes["quick"].seeds <= claim.sizes["full"].seeds
        assert claim.reference and claim.statement


def _toy_claim(name, offset=0.0, explode=False):
    def predict(params):
        return Prediction([1.0, 2.0], [0.0, 0.0], expression="0")

    def simulate(params, ctx):
        if explode:
            raise RuntimeError("simulation broke")
        samples = ctx.ensemble(
            lambda key: __import__("jax").random.normal(key, (2,)) * 0.1 + offset, tag="t"
        )
        return Measurement.from_samples([1.0, 2.0], samples, lambda s: s.mean(axis=0))

    return Claim(
        name=name,
        statement="A toy claim.",
        reference="test",
        predict=predict,
        simulate=simulate,
        criterion=Agreement(z=3),
        sizes={"quick": ClaimSize(seeds=200), "full": ClaimSize(seeds=400)},
        figure=FigureSpec("x", "y"),
    )


def test_a_false_claim_fails_and_a_broken_claim_is_an_error(tmp_path):
    wrong = run_claim(_toy_claim("toy-wrong", offset=1.0), out_dir=tmp_path)
    assert not wrong.passed and wrong.error is None
    broken = run_claim(_toy_claim("toy-broken", explode=True), out_dir=tmp_path)
    assert not broken.passed and "simulation broke" in broken.error


def test_claim_validation():
    with pytest.raises(ValueError, match="kebab-case"):
        _toy_claim("Not Kebab")
    with pytest.raises(ValueError, match="lacks the size"):
        Claim(**{**_toy_claim("ok").__dict__, "sizes": {"quick": ClaimSize(seeds=2)}})
    with pytest.raises(ValueError, match="seeds must be an integer >= 2"):
        ClaimSize(seeds=1)


def test_report_files_and_schema(tmp_path):
    report = validate(["two-layer-fourth-cumulant"], seeds=2000, out=tmp_path)
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["schema"] == "limitlab-report" and data["schema_version"] == 1
    entry = data["claims"][0]
    for field in ("claim", "statement", "reference", "size", "seeds", "criterion", "predicted",
                  "measured", "stderr", "passed", "elapsed_s", "versions"):
        assert field in entry
    assert entry["seeds"] == 2000 and entry["size"] == "quick"
    assert data["passed"] == report.passed
    assert "| `two-layer-fourth-cumulant` |" in (tmp_path / "report.md").read_text()
    assert (tmp_path / "figures" / "two-layer-fourth-cumulant.png").exists()


def test_resume_reproduces_the_report(tmp_path):
    first = validate(["relu-random-features-rate"], seeds=40, out=tmp_path)
    again = validate(["relu-random-features-rate"], seeds=40, out=tmp_path, resume=True)
    assert first.results[0].measured == again.results[0].measured
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir())


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"size": "huge"}, "size must be one of"),
        ({"seeds": 1}, "seeds must be an integer >= 2"),
        ({"names": ["no-such-claim"]}, "unknown claim"),
        ({"seed": -3}, "seed must be an integer"),
    ],
)
def test_validate_rejects_bad_input(tmp_path, kwargs, fragment):
    kwargs.setdefault("names", None)
    names = kwargs.pop("names")
    with pytest.raises(ValueError, match=fragment):
        validate(names, out=tmp_path, **kwargs)


def test_measurement_bootstrap_standard_error():
    rng = np.random.default_rng(3)
    samples = rng.standard_normal((4000, 1))
    m = Measurement.from_samples([1.0], samples, lambda s: s.mean(axis=0))
    assert m.stderr[0] == pytest.approx(1 / np.sqrt(4000), rel=0.15)
