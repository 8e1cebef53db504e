"""Side studies through the pipeline: configuration, cached units, tables, claims, figures, report."""

import json

import pandas as pd
import pytest

import pipeline.side as side
from pipeline.collect import _seed_tables
from pipeline.config import build_config
from pipeline.figures import _side_figures
from pipeline.plan import make_plan
from pipeline.report import _side_sections
from pipeline.stages import side_stage
from pipeline.store import Store, run_tasks


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.setattr(side, "SIDE_STUDIES", ("side_plugin:STUDY",))
    side.side_studies.cache_clear()
    yield
    side.side_studies.cache_clear()


def test_side_settings_follow_profile_and_overrides(toy, tmp_path):
    assert build_config("smoke")["toy"] == {"enabled": True, "n": 50, "gap": 1.0}
    assert build_config("quick")["toy"]["n"] == 400
    path = tmp_path / "c.toml"
    path.write_text("[toy]\ngap = 2.0\nenabled = false\n")
    config = build_config("smoke", file=path)
    assert config["toy"] == {"enabled": False, "n": 50, "gap": 2.0}
    assert side.enabled_side_studies(config) == ()
    path.write_text("[toy]\nwidth = 3\n")
    with pytest.raises(ValueError, match="unknown configuration key toy.'width'"):
        build_config("smoke", file=path)


def test_side_units_are_cached_and_their_tables_claims_figures_and_report_come_out(toy, tmp_path):
    config = build_config("smoke", seeds=5)
    plan, store = make_plan(config), Store(tmp_path / "store")
    tasks, index = side_stage(plan, store)
    assert [t.label for t in tasks] == [f"toy seed {s}" for s in range(5)]
    assert run_tasks(store, tasks, "side", progress=False) == 5
    assert run_tasks(store, side_stage(plan, store)[0], "side", progress=False) == 0
    # another setting is another unit
    assert side_stage(make_plan(build_config("smoke", seeds=5, toy={"n": 60})), store)[1] != index

    frames = _seed_tables(index["toy"])
    assert list(frames) == ["toy_means"] and sorted(frames["toy_means"]["seed"].unique()) == list(range(5))
    claims = side.run_claims(config)
    assert [c.id for c in claims][-1] == "T1"
    result = claims[-1].evaluate(frames)
    assert result["verdict"] == "reproduced"  # a gap of 1 with n = 50: every seed has a > b

    tables = tmp_path / "tables"
    tables.mkdir()
    frames["toy_means"].to_csv(tables / "toy_means.csv", index=False)
    (tables / "index.json").write_text(json.dumps(["toy_means"]))
    figures = _side_figures(tables)
    assert [f.name for f in figures] == ["toy_means"]
    paths = figures[0].draw({"toy_means": pd.read_csv(tables / "toy_means.csv")}, tmp_path / "toy", {})
    assert all(p.is_file() for p in paths)
    [(name, lines)] = _side_sections(tables, config)
    assert name == "toy" and lines[0] == "## Toy side study" and "n = 50" in lines[-1]


def test_a_side_table_outside_the_study_prefix_is_refused_and_leaves_no_entry(toy, monkeypatch, tmp_path):
    import dataclasses

    from pipeline.stages import build_side

    bad = dataclasses.replace(side.side_study("toy"), run_seed=lambda s, seed: {"means": pd.DataFrame()})
    monkeypatch.setattr(side, "side_study", lambda name: bad)
    spec = {"study": "toy", "settings": {}, "seed": 0}
    with pytest.raises(ValueError, match="returned table 'means', not named toy_"):
        build_side(str(tmp_path), "k", spec)
    assert not Store(tmp_path).has("toy", "k")
