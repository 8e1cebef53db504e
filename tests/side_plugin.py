"""A toy side study for the pipeline's side-study wiring: two Gaussian arms, one claim."""

import numpy as np
import pandas as pd

from analysis import plots
from analysis.claims import Claim, Comparison
from analysis.side import SideFigure, SideStudy


def run_seed(settings: dict, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    rows = [
        {"seed": seed, "arm": arm, "mean": float(rng.normal(loc, 1.0, settings["n"]).mean())}
        for arm, loc in (("a", settings["gap"]), ("b", 0.0))
    ]
    return {"toy_means": pd.DataFrame(rows)}


def claims(settings: dict) -> tuple:
    comparison = Comparison("mean: a - b", "toy_means", "mean", "arm", "a", "b")
    return (Claim("T1", "Arm a lies above arm b.", (comparison,)),)


def report(tables: dict, settings: dict) -> list:
    means = tables["toy_means"].groupby("arm")["mean"].mean()
    return [f"Arm means over seeds: a = {means['a']:.3f}, b = {means['b']:.3f} (n = {settings['n']})."]


def draw(tables: dict, stem) -> list:
    fig, axes = plots._figure(1, 1)
    means = tables["toy_means"].groupby("arm")["mean"].mean()
    axes[0, 0].bar(means.index, means.to_numpy())
    return plots._save(fig, stem)


STUDY = SideStudy(
    name="toy",
    title="Toy side study",
    defaults={"n": 400, "gap": 1.0},
    profiles={"smoke": {"n": 50}},
    own_files=("tests/side_plugin.py",),
    run_seed=run_seed,
    claims=claims,
    report=report,
    figures=(SideFigure("toy_means", ("toy_means",), draw),),
)
