"""Draw every figure of a run from its saved tables (nothing is recomputed).

Each figure is one :class:`Figure`: its name, the tables it reads and a function
that draws it from them. Adding a figure is adding an entry to :data:`FIGURES`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import plots

__all__ = ["draw_figures", "FIGURES", "Figure"]


@dataclass(frozen=True)
class Figure:
    """A figure, the tables it is drawn from, and ``draw(tables, path, context) -> paths``.

    ``context`` holds ``tc`` (T_c or None) and ``matrix_temperatures``.
    """

    name: str
    tables: tuple
    draw: Callable[[dict, Path, dict], list]


def _selected_temperatures(df: pd.DataFrame, wanted) -> pd.DataFrame:
    temps = np.unique(df["T"])
    keep = {min(temps, key=lambda t, w=w: abs(t - w)) for w in wanted}
    return df[df["T"].isin(keep)]


def _critical(df: pd.DataFrame, tc: float | None) -> pd.DataFrame:
    return df if tc is None else df.assign(T_c=tc)


def _correlation_length(t, path, ctx):
    corr = t["correlations"]
    if not corr["xi"].notna().any():  # the second-moment length needs a hypercubic lattice
        return []
    return plots.plot_correlation_length(_critical(corr, ctx["tc"]), path)


def _receptive_fields(t, path, ctx):
    fields = t["receptive_fields"]
    return plots.plot_receptive_fields(fields[fields["seed"] == fields["seed"].min()], path)


def _rg_flow(method: str):
    """The flow read by one method (raw thermometer, calibrated thermometer, energy matching)."""

    def draw(t, path, ctx):
        flow = t["rg_flow"]
        flow = flow[(flow["step"] > 0) & (flow["method"] == method) & flow["beta_prime"].notna()]
        if ctx["tc"] is not None:
            flow = flow.assign(beta_c=1.0 / ctx["tc"])
        return plots.plot_rg_flow(flow, path) if len(flow) else []  # none where the method is unavailable

    return draw


def _training_curves(t, path, ctx):
    hist = t["training_histories"]
    return plots.plot_training_curves(hist.assign(model=hist["family"]), path)


FIGURES = (
    Figure("correlation_length", ("correlations",), _correlation_length),
    Figure(
        "correlation_matrices",
        ("correlation_matrices",),
        lambda t, path, ctx: plots.plot_correlation_matrices(t["correlation_matrices"], path),
    ),
    Figure(
        "correlation_function",
        ("correlation_function",),
        lambda t, path, ctx: plots.plot_correlation_function(
            _selected_temperatures(t["correlation_function"], ctx["matrix_temperatures"]), path
        ),
    ),
    Figure(
        "entropy",
        ("entropy",),
        lambda t, path, ctx: plots.plot_entropy(_critical(t["entropy"], ctx["tc"]), path),
    ),
    Figure("sparsity", ("sparsity",), lambda t, path, ctx: plots.plot_sparsity(t["sparsity"], path)),
    Figure("receptive_fields", ("receptive_fields",), _receptive_fields),
    Figure("rg_flow", ("rg_flow",), _rg_flow("calibrated")),
    Figure("rg_flow_energy", ("rg_flow",), _rg_flow("energy")),
    Figure("rg_flow_raw", ("rg_flow",), _rg_flow("raw")),
    Figure(
        "thermometer_predictions",
        ("thermometer_predictions",),
        lambda t, path, ctx: plots.plot_thermometer_predictions(t["thermometer_predictions"], path),
    ),
    Figure("training_curves", ("training_histories",), _training_curves),
)


def _read(tables: Path, name: str) -> pd.DataFrame:
    path = tables / f"{name}.csv"
    if not path.is_file():
        raise ValueError(f"table {path} is missing; run the measure stage first")
    return pd.read_csv(path)


def _side_figures(tables: Path) -> tuple:
    """Figures of the side studies whose tables the run holds (as its ``index.json`` lists them)."""
    from .collect import table_names
    from .side import side_studies

    held = set(table_names(tables))
    return tuple(
        Figure(f.name, f.tables, lambda t, path, ctx, f=f: f.draw({n: t[n] for n in f.tables}, path))
        for study in side_studies()
        for f in study.figures
        if set(f.tables) <= held
    )


def draw_figures(tables: Path, figures: Path, tc: float | None, matrix_temperatures) -> list:
    """Draw all figures into ``figures`` (PNG and PDF); returns the written paths."""
    figures.mkdir(parents=True, exist_ok=True)
    context = {"tc": tc, "matrix_temperatures": list(matrix_temperatures)}
    cache: dict[str, pd.DataFrame] = {}
    out = []
    for figure in FIGURES + _side_figures(tables):
        for name in figure.tables:
            if name not in cache:
                cache[name] = _read(tables, name)
        out += figure.draw(cache, figures / figure.name, context)
    return out
