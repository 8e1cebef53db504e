"""Draw every figure of a run from its saved tables (nothing is recomputed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis import plots

__all__ = ["draw_figures", "FIGURES"]


def _read(tables: Path, name: str) -> pd.DataFrame:
    path = tables / f"{name}.csv"
    if not path.is_file():
        raise ValueError(f"table {path} is missing; run the measure stage first")
    return pd.read_csv(path)


def _selected_temperatures(df: pd.DataFrame, wanted: list[float]) -> pd.DataFrame:
    temps = np.unique(df["T"])
    keep = {min(temps, key=lambda t, w=w: abs(t - w)) for w in wanted}
    return df[df["T"].isin(keep)]


def _critical(df: pd.DataFrame, tc: float | None) -> pd.DataFrame:
    return df if tc is None else df.assign(T_c=tc)


def draw_figures(tables: Path, figures: Path, tc: float | None, matrix_temperatures: list[float]) -> list:
    """Draw all figures into ``figures`` (PNG and PDF); returns the written paths."""
    figures.mkdir(parents=True, exist_ok=True)
    out = []
    corr = _read(tables, "correlations")
    if corr["xi"].notna().any():  # the second-moment length needs a hypercubic lattice
        out += plots.plot_correlation_length(_critical(corr, tc), figures / "correlation_length")
    out += plots.plot_correlation_matrices(
        _read(tables, "correlation_matrices"), figures / "correlation_matrices"
    )
    cr = _selected_temperatures(_read(tables, "correlation_function"), matrix_temperatures)
    out += plots.plot_correlation_function(cr, figures / "correlation_function")
    out += plots.plot_entropy(_critical(_read(tables, "entropy"), tc), figures / "entropy")
    out += plots.plot_sparsity(_read(tables, "sparsity"), figures / "sparsity")
    fields = _read(tables, "receptive_fields")
    out += plots.plot_receptive_fields(
        fields[fields["seed"] == fields["seed"].min()], figures / "receptive_fields"
    )
    flow = _read(tables, "rg_flow")
    flow = flow[flow["step"] > 0]
    if tc is not None:
        flow = flow.assign(beta_c=1.0 / tc)
    if len(flow):  # needs a thermometer on at least one coarse level
        out += plots.plot_rg_flow(flow, figures / "rg_flow")
    out += plots.plot_thermometer_predictions(
        _read(tables, "thermometer_predictions"), figures / "thermometer_predictions"
    )
    hist = _read(tables, "training_histories")
    out += plots.plot_training_curves(hist.assign(model=hist["family"]), figures / "training_curves")
    return out


FIGURES = (
    "correlation_length",
    "correlation_matrices",
    "correlation_function",
    "entropy",
    "sparsity",
    "receptive_fields",
    "rg_flow",
    "thermometer_predictions",
    "training_curves",
)
