"""Figures of the study, each drawn from one saved table.

Every function takes a :class:`pandas.DataFrame` (the table as saved to CSV)
and an output path stem, checks the columns it needs, draws with matplotlib
and seaborn, and writes ``<stem>.png`` and ``<stem>.pdf``. They compute
nothing beyond grouping rows and averaging over seeds, so every figure can be
regenerated from its table in seconds. Figures are built as
:class:`matplotlib.figure.Figure` objects and saved through matplotlib's Agg
and PDF canvases, never through pyplot's global state, so no display or
backend setting is needed.

Where a table holds several rows per plotted point (seeds, or one row per
configuration), the point is their mean and the error bar their standard
deviation (``sd``), unless an explicit error column is given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from analysis.sparsity import SPARSITY_MEASURES

__all__ = [
    "plot_correlation_matrices",
    "plot_correlation_function",
    "plot_correlation_length",
    "plot_entropy",
    "plot_sparsity",
    "plot_receptive_fields",
    "plot_rg_flow",
    "plot_thermometer_predictions",
    "plot_training_curves",
]

_PANEL = 3.2  # inches per panel side
_DPI = 150


def _require(df: pd.DataFrame, columns: Sequence[str], figure: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"{figure} draws from a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(
            f"{figure} needs the table columns {missing}, which are missing; the table has {list(df.columns)}"
        )
    if df.empty:
        raise ValueError(f"{figure} got an empty table; nothing to draw")


def _figure(n_rows: int, n_cols: int, width: float = _PANEL, height: float = _PANEL):
    with sns.axes_style("ticks"):
        fig = Figure(figsize=(width * n_cols, height * n_rows), layout="constrained")
        axes = fig.subplots(n_rows, n_cols, squeeze=False)
    return fig, axes


def _save(fig: Figure, stem) -> list[Path]:
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [Path(f"{stem}.png"), Path(f"{stem}.pdf")]
    fig.savefig(paths[0], dpi=_DPI)
    fig.savefig(paths[1])
    return paths


def _mark_critical(ax, df: pd.DataFrame, column: str = "T_c") -> None:
    if column in df.columns:
        for value in pd.unique(df[column].dropna()):
            ax.axvline(value, color="0.5", linestyle=":", linewidth=1)


def _mean_sd(df: pd.DataFrame, by: list[str], value: str, error: str | None = None) -> pd.DataFrame:
    """Mean of ``value`` per group; error = mean of the ``error`` column if given, else sd over rows."""
    grouped = df.groupby(by, sort=True)
    out = grouped[value].mean().rename("mean").to_frame()
    if error is not None and error in df.columns:
        out["err"] = grouped[error].mean()
    else:
        out["err"] = grouped[value].std(ddof=1).fillna(0.0)
    return out.reset_index()


def plot_correlation_matrices(data, stem) -> list[Path]:
    """Heatmaps of connected correlation matrices C_ij, one panel per (representation, T).

    Parameters
    ----------
    data : DataFrame or mapping label -> float (N, N)
        Long table with columns ``representation``, ``T``, ``i``, ``j``, ``C``
        (``analysis.correlations.correlation_matrix_table``), or a mapping of
        panel titles to square matrices.
    stem : path without suffix

    Rows of panels are representations, columns temperatures; one colour
    scale, symmetric about 0, shared by all panels.
    """
    if isinstance(data, Mapping):
        panels = [(str(label), np.asarray(C, dtype=float)) for label, C in data.items()]
        if not panels or any(C.ndim != 2 or C.shape[0] != C.shape[1] for _, C in panels):
            raise ValueError("plot_correlation_matrices needs a non-empty mapping of square matrices")
        grid = [panels]
    else:
        _require(data, ["representation", "T", "i", "j", "C"], "plot_correlation_matrices")
        grid = []
        for representation, rows in data.groupby("representation", sort=False):
            line = []
            for T, cells in rows.groupby("T", sort=True):
                C = cells.pivot(index="i", columns="j", values="C").to_numpy()
                line.append((f"{representation}, T = {T:g}", C))
            grid.append(line)
    n_rows, n_cols = len(grid), max(len(line) for line in grid)
    vmax = max(float(np.nanmax(np.abs(C))) for line in grid for _, C in line) or 1.0
    fig, axes = _figure(n_rows, n_cols)
    image = None
    for r, line in enumerate(grid):
        for c in range(n_cols):
            ax = axes[r, c]
            if c >= len(line):
                ax.set_axis_off()
                continue
            title, C = line[c]
            image = ax.imshow(C, cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("site j")
            ax.set_ylabel("site i")
    fig.colorbar(image, ax=axes, shrink=0.8, label=r"$C_{ij}$")
    return _save(fig, stem)


def plot_correlation_function(df: pd.DataFrame, stem) -> list[Path]:
    """Translation-averaged connected correlation C(r), one panel per representation.

    Columns: ``representation``, ``T``, ``r`` (distance, lattice spacings or
    bonds), ``C``. Optional: ``seed`` (several rows per point are averaged;
    the band is their sd). Colour encodes T.
    """
    _require(df, ["representation", "T", "r", "C"], "plot_correlation_function")
    representations = list(pd.unique(df["representation"]))
    fig, axes = _figure(1, len(representations))
    for ax, representation in zip(axes[0], representations, strict=True):
        rows = df[df["representation"] == representation]
        sns.lineplot(
            data=rows,
            x="r",
            y="C",
            hue="T",
            palette="viridis",
            errorbar="sd",
            marker="o",
            ax=ax,
            legend="brief",
        )
        ax.axhline(0.0, color="0.6", linewidth=0.8)
        ax.set_title(str(representation))
        ax.set_xlabel("r")
        ax.set_ylabel(r"$C(r)$")
    return _save(fig, stem)


def plot_correlation_length(df: pd.DataFrame, stem) -> list[Path]:
    """Second-moment correlation length xi against T, one line per representation.

    Columns: ``representation``, ``T``, ``xi`` (lattice spacings of the
    representation's own lattice; NaN rows are skipped). Optional: ``seed``
    (error bars are the sd over rows at one T), ``T_c`` (dotted vertical line).
    """
    _require(df, ["representation", "T", "xi"], "plot_correlation_length")
    rows = df.dropna(subset=["xi"])
    if rows.empty:
        raise ValueError("plot_correlation_length: every xi is NaN; nothing to draw")
    fig, axes = _figure(1, 1, width=5.0, height=3.6)
    ax = axes[0, 0]
    sns.lineplot(
        data=rows,
        x="T",
        y="xi",
        hue="representation",
        style="representation",
        markers=True,
        dashes=False,
        errorbar="sd",
        err_style="bars",
        ax=ax,
    )
    _mark_critical(ax, df)
    ax.set_xlabel("T")
    ax.set_ylabel(r"$\xi_{2nd}$")
    return _save(fig, stem)


def plot_entropy(df: pd.DataFrame, stem) -> list[Path]:
    """Entropy per spin against T, one panel per estimator, one line per representation.

    Columns: ``representation``, ``T``, ``measure`` (``"patch"`` or
    ``"lzma"``), ``k`` (patch size; empty for lzma), ``entropy`` (bits per
    spin), as written by ``analysis.entropy.entropy_table``. Optional:
    ``exact_entropy`` (bits per spin, drawn as a black dashed reference,
    averaged over rows at one T), ``seed`` (error bars = sd over rows),
    ``T_c`` (dotted vertical line).
    """
    _require(df, ["representation", "T", "measure", "k", "entropy"], "plot_entropy")
    table = df.copy()
    table["estimator"] = [
        f"patch k={int(k)}" if m == "patch" else str(m)
        for m, k in zip(table["measure"], table["k"], strict=True)
    ]
    estimators = sorted(pd.unique(table["estimator"]), key=lambda e: (e.startswith("lzma"), e))
    has_exact = "exact_entropy" in table.columns and table["exact_entropy"].notna().any()
    if has_exact:
        exact = table.dropna(subset=["exact_entropy"]).groupby("T")["exact_entropy"].mean()
    fig, axes = _figure(1, len(estimators))
    for ax, estimator in zip(axes[0], estimators, strict=True):
        rows = table[table["estimator"] == estimator]
        sns.lineplot(
            data=rows,
            x="T",
            y="entropy",
            hue="representation",
            style="representation",
            markers=True,
            dashes=False,
            errorbar="sd",
            err_style="bars",
            ax=ax,
        )
        if has_exact:
            ax.plot(exact.index, exact.to_numpy(), "k--", linewidth=1.2, label="exact s")
            ax.legend(fontsize=7)
        _mark_critical(ax, table)
        ax.set_title(estimator)
        ax.set_xlabel("T")
        ax.set_ylabel("entropy (bits per spin)")
    return _save(fig, stem)


def plot_sparsity(df: pd.DataFrame, stem) -> list[Path]:
    """Bars of the weight-sparsity measures per encoder, one panel per measure.

    Columns: ``encoder`` and, for m in ``fraction_small``, ``hoyer``, ``gini``,
    ``block_locality``, ``m_mean`` and ``m_std`` (mean and sd over coarse
    units, as written by ``analysis.sparsity.sparsity_table``). Several rows
    per encoder (seeds) are pooled: the bar is the mean over rows, the error
    bar the sd over the units of all rows (law of total variance).
    """
    columns = [f"{m}_{s}" for m in SPARSITY_MEASURES for s in ("mean", "std")]
    _require(df, ["encoder", *columns], "plot_sparsity")
    encoders = list(pd.unique(df["encoder"]))
    palette = dict(zip(encoders, sns.color_palette("colorblind", len(encoders)), strict=True))
    fig, axes = _figure(1, len(SPARSITY_MEASURES), width=2.8, height=3.4)
    for ax, measure in zip(axes[0], SPARSITY_MEASURES, strict=True):
        grouped = df.groupby("encoder", sort=False)
        mean = grouped[f"{measure}_mean"].mean().reindex(encoders)
        within = grouped[f"{measure}_std"].apply(lambda s: np.mean(np.square(s))).reindex(encoders)
        between = grouped[f"{measure}_mean"].var(ddof=0).reindex(encoders)
        error = np.sqrt(within + between)
        x = np.arange(len(encoders))
        ax.bar(x, mean.to_numpy(), yerr=error.to_numpy(), capsize=3, color=[palette[e] for e in encoders])
        ax.set_xticks(x, encoders, rotation=45, ha="right", fontsize=8)
        ax.set_ylim(0.0, 1.05)
        ax.set_title(measure.replace("_", " "))
    return _save(fig, stem)


def plot_receptive_fields(df: pd.DataFrame, stem) -> list[Path]:
    """Receptive-field heatmaps: rows of panels are encoders, columns are units.

    Columns: ``encoder``, ``unit``, ``row``, ``col``, ``weight``
    (``analysis.sparsity.receptive_field_table``). Each panel has its own
    colour scale, symmetric about 0, since encoders differ in weight scale.
    """
    _require(df, ["encoder", "unit", "row", "col", "weight"], "plot_receptive_fields")
    encoders = list(pd.unique(df["encoder"]))
    units = sorted(pd.unique(df["unit"]))
    fig, axes = _figure(len(encoders), len(units), width=2.6, height=2.4)
    for r, encoder in enumerate(encoders):
        for c, unit in enumerate(units):
            ax = axes[r, c]
            cells = df[(df["encoder"] == encoder) & (df["unit"] == unit)]
            if cells.empty:
                ax.set_axis_off()
                continue
            field = cells.pivot(index="row", columns="col", values="weight").to_numpy()
            vmax = float(np.nanmax(np.abs(field))) or 1.0
            image = ax.imshow(field, cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
            fig.colorbar(image, ax=ax, shrink=0.8)
            ax.set_title(f"{encoder}, unit {unit}", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    return _save(fig, stem)


def plot_rg_flow(df: pd.DataFrame, stem) -> list[Path]:
    """RG flow through the thermometer: beta' = R(beta) per encoder, with the identity line.

    Columns: ``encoder``, ``beta``, ``beta_prime`` (as in
    ``transfer.flow.rg_flow``). Optional: ``step`` (RG step, one panel each;
    default 1), an error column ``beta_prime_err`` or else ``beta_prime_std``
    (averaged over rows sharing encoder, step and beta; without either, the
    error bar is the sd of ``beta_prime`` over those rows, e.g. seeds or
    configurations), ``beta_c`` (dotted lines at the critical point).
    """
    _require(df, ["encoder", "beta", "beta_prime"], "plot_rg_flow")
    table = df if "step" in df.columns else df.assign(step=1)
    steps = sorted(pd.unique(table["step"]))
    encoders = list(pd.unique(table["encoder"]))
    palette = dict(zip(encoders, sns.color_palette("colorblind", len(encoders)), strict=True))
    fig, axes = _figure(1, len(steps), width=4.0, height=4.0)
    for ax, step in zip(axes[0], steps, strict=True):
        rows = table[table["step"] == step]
        error = "beta_prime_err" if "beta_prime_err" in rows.columns else "beta_prime_std"
        points = _mean_sd(rows, ["encoder", "beta"], "beta_prime", error)
        for encoder in encoders:
            line = points[points["encoder"] == encoder]
            ax.errorbar(
                line["beta"],
                line["mean"],
                yerr=line["err"],
                marker="o",
                markersize=3,
                capsize=2,
                color=palette[encoder],
                label=str(encoder),
            )
        low = min(points["beta"].min(), points["mean"].min())
        high = max(points["beta"].max(), points["mean"].max())
        ax.plot([low, high], [low, high], "k--", linewidth=1, label="identity")
        if "beta_c" in rows.columns:
            for value in pd.unique(rows["beta_c"].dropna()):
                ax.axvline(value, color="0.5", linestyle=":", linewidth=1)
                ax.axhline(value, color="0.5", linestyle=":", linewidth=1)
        ax.set_title(f"RG step {step}")
        ax.set_xlabel(r"$\beta$")
        ax.set_ylabel(r"$\beta' = R(\beta)$")
        ax.legend(fontsize=7)
    return _save(fig, stem)


def plot_thermometer_predictions(df: pd.DataFrame, stem) -> list[Path]:
    """Thermometer predictions against the true beta, beside the Bayes-optimal estimate.

    Columns: ``model``, ``beta`` (true), ``beta_pred`` (network),
    ``beta_bayes`` (posterior mean given the energy). Rows may be single
    configurations or per-beta summaries; per (model, beta) the point is the
    mean and the error bar the sd over rows, unless ``beta_pred_err`` /
    ``beta_bayes_err`` columns are given. One panel per model.
    """
    _require(df, ["model", "beta", "beta_pred", "beta_bayes"], "plot_thermometer_predictions")
    models = list(pd.unique(df["model"]))
    fig, axes = _figure(1, len(models), width=3.8, height=3.8)
    for ax, model in zip(axes[0], models, strict=True):
        rows = df[df["model"] == model]
        network = _mean_sd(rows, ["beta"], "beta_pred", "beta_pred_err")
        bayes = _mean_sd(rows, ["beta"], "beta_bayes", "beta_bayes_err")
        ax.fill_between(
            bayes["beta"],
            bayes["mean"] - bayes["err"],
            bayes["mean"] + bayes["err"],
            color="0.8",
            label="Bayes (energy) ± sd",
        )
        ax.plot(bayes["beta"], bayes["mean"], color="0.4", linewidth=1)
        ax.errorbar(
            network["beta"],
            network["mean"],
            yerr=network["err"],
            fmt="o",
            markersize=3,
            capsize=2,
            label="network ± sd",
        )
        span = [rows["beta"].min(), rows["beta"].max()]
        ax.plot(span, span, "k--", linewidth=1, label="identity")
        ax.set_title(str(model))
        ax.set_xlabel(r"true $\beta$")
        ax.set_ylabel(r"predicted $\beta$")
        ax.legend(fontsize=7)
    return _save(fig, stem)


def plot_training_curves(df: pd.DataFrame, stem) -> list[Path]:
    """Loss against epoch, transfer-learned versus from-scratch starts, log scale.

    Columns: ``model`` (one panel each), ``init`` (e.g. ``"transfer"``,
    ``"scratch"``; colour), ``epoch``, ``loss``. Optional: ``split``
    (``"train"`` / ``"val"``; line style), ``seed`` (several runs: mean line,
    band = sd).
    """
    _require(df, ["model", "init", "epoch", "loss"], "plot_training_curves")
    models = list(pd.unique(df["model"]))
    style = "split" if "split" in df.columns else None
    fig, axes = _figure(1, len(models), width=4.0, height=3.4)
    for ax, model in zip(axes[0], models, strict=True):
        rows = df[df["model"] == model]
        sns.lineplot(data=rows, x="epoch", y="loss", hue="init", style=style, errorbar="sd", ax=ax)
        ax.set_yscale("log")
        ax.set_title(str(model))
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
    return _save(fig, stem)
