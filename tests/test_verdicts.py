"""The one verdict rule and claims as data, on hand-made inputs."""

import numpy as np
import pandas as pd
import pytest

from analysis.claims import Claim, Comparison, claims_table, evaluate_claims
from analysis.verdicts import combine_verdicts, sign_test_p, verdict


@pytest.mark.parametrize(
    ("d", "expected"),
    [
        ([1, 1, 1], "inconclusive"),  # zero spread is not evidence: 3 seeds cannot reach p <= 0.05
        ([1, 2, 1], "inconclusive"),
        ([0, 0, 0], "inconclusive"),  # ties support neither side
        ([-1, 1, 1], "inconclusive"),
        ([1], "inconclusive"),  # one seed is never enough
        ([np.nan, 1, 1], "inconclusive"),
        ([1, 1, 1, 1, 1], "reproduced"),  # p = 1/32
        ([1, 2, 1, 2, 1], "reproduced"),
        ([-1, -1, -2, -1, -3], "not reproduced"),
        ([1, 1, 1, 1, 0], "inconclusive"),  # a tie among five: p = 6/32
        ([1, 1, 1, 1, 1, 1, 1, -1], "reproduced"),  # 7 of 8: p = 9/256
    ],
)
def test_verdict_on_hand_made_differences(d, expected):
    assert verdict(d)["verdict"] == expected


def test_verdict_is_monotone_in_every_difference():
    # Raising any seed's difference never weakens the verdict (stronger evidence, same or
    # stronger verdict); a large spread does not undo a unanimous sign as a t-interval would.
    rank = {"not reproduced": 0, "inconclusive": 1, "reproduced": 2}
    rng = np.random.default_rng(0)
    for _ in range(300):
        d = rng.normal(0.3, 1.0, size=rng.integers(1, 9))
        i = rng.integers(d.size)
        raised = d.copy()
        raised[i] += abs(rng.normal(0, 2))
        assert rank[verdict(raised)["verdict"]] >= rank[verdict(d)["verdict"]]
    assert verdict([0.1, 0.1, 0.1, 0.1, 50.0])["verdict"] == "reproduced"


def test_tolerance_turns_small_differences_into_ties():
    d = [0.01, 0.02, 0.01, 0.03, 0.02]
    assert verdict(d)["verdict"] == "reproduced"
    assert verdict(d, tolerance=0.05)["verdict"] == "inconclusive"
    assert verdict(d, tolerance=[0.0, 0.0, 0.0, 0.0, 0.05])["verdict"] == "inconclusive"
    with pytest.raises(ValueError, match="non-negative"):
        verdict(d, tolerance=-1.0)


def test_summary_numbers():
    r = verdict([1.0, 2.0, 3.0])
    assert r["mean"] == pytest.approx(2.0)
    assert r["se"] == pytest.approx(1.0 / np.sqrt(3))
    assert r["lo"] < 2.0 < r["hi"]
    assert (r["n_support"], r["n_oppose"], r["n_seeds"]) == (3, 0, 3)
    assert r["p_support"] == pytest.approx(1 / 8)
    assert np.isnan(verdict([1.0])["se"])
    assert sign_test_p(5, 5) == pytest.approx(1 / 32)
    assert sign_test_p(0, 0) == 1.0


def test_combine_verdicts():
    assert combine_verdicts(["reproduced", "reproduced"]) == "reproduced"
    assert combine_verdicts(["reproduced", "not reproduced"]) == "not reproduced"
    assert combine_verdicts(["reproduced", "inconclusive"]) == "inconclusive"
    assert combine_verdicts([]) == "inconclusive"


def _table(a_values, b_values, err=None):
    rows = []
    for seed, (a, b) in enumerate(zip(a_values, b_values, strict=True)):
        for name, value in (("rg", a), ("ae", b)):
            rows.append({"seed": seed, "what": name, "m": value, "err": 0.0 if err is None else err})
    return pd.DataFrame(rows)


def test_claim_rows_from_a_table():
    shown = Comparison("shown", "t", "m", "what", "ae", "rg", role="shown")
    decided = Comparison("decided", "t", "m", "what", "rg", "ae")
    claim = Claim("CX", "rg above ae", (decided, shown))
    tables = {"t": _table([2, 3, 2, 4, 3], [1, 1, 1, 1, 1])}
    result = evaluate_claims([claim], tables)["CX"]
    assert result["verdict"] == "reproduced"  # the shown comparison (not reproduced) does not decide
    assert [p["verdict"] for p in result["parts"]] == ["reproduced", "not reproduced"]
    table = claims_table({"CX": result})
    assert list(table.columns[:10]) == [
        "claim", "comparison", "measure", "mean", "se", "lo", "hi", "n_seeds", "verdict", "note",
    ]  # fmt: skip
    assert "5/5 seeds support" in table["note"].iloc[0]


def test_per_seed_errors_make_ties():
    decided = Comparison("decided", "t", "m", "what", "rg", "ae", errors=("err",))
    claim = Claim("CX", "rg above ae", (decided,))
    small = {"t": _table([1.1] * 5, [1.0] * 5, err=0.01)}
    large = {"t": _table([1.1] * 5, [1.0] * 5, err=0.1)}
    assert evaluate_claims([claim], small)["CX"]["verdict"] == "reproduced"
    assert evaluate_claims([claim], large)["CX"]["verdict"] == "inconclusive"


def test_missing_table_or_side_is_inconclusive():
    claim = Claim("CX", "s", (Comparison("c", "t", "m", "what", "rg", "nothing"),))
    assert evaluate_claims([claim], {"t": _table([1] * 5, [0] * 5)})["CX"]["verdict"] == "inconclusive"
    assert evaluate_claims([claim], {})["CX"]["verdict"] == "inconclusive"


def test_seeds_with_an_unfaithful_learned_encoder_are_excluded_and_named():
    seeds = range(6)
    metrics = pd.DataFrame(
        [{"model": "rg", "seed": s, "epochs": 1.0, "rg_check_passed": s != 2} for s in seeds]
        + [{"model": "ae", "seed": s, "epochs": 3.0, "rg_check_passed": None} for s in seeds]
    )
    tables = {"transfer_metrics": metrics}
    strict = Comparison("ae - rg", "transfer_metrics", "epochs", "model", "ae", "rg", faithful=True)
    lax = Comparison("ae - rg", "transfer_metrics", "epochs", "model", "ae", "rg")
    d, _ = strict.differences(tables)
    assert np.isnan(d[2]) and (d.drop(2) == 2.0).all()
    assert not lax.differences(tables)[0].isna().any()
    [part] = Claim("C", "rg learns faster", (strict,)).evaluate(tables)["parts"]
    assert part["n_seeds"] == 5 and "seeds [2] excluded" in part["note"]
