"""Side studies: self-contained studies that answer claims C6-C10 beside the main one.

A side study brings its own data (it samples or draws what it needs, seeded),
trains its own models and returns tables; the pipeline runs it once per seed
as a cached unit of work, concatenates its tables over seeds into the run's
``tables/``, evaluates its claims with the study's one verdict rule, draws its
figures from the saved tables and renders its report section. A side study is
one :class:`SideStudy` value; the pipeline lists them in
``pipeline.side.SIDE_STUDIES``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["SideStudy", "SideFigure", "markdown_table"]


@dataclass(frozen=True)
class SideFigure:
    """A figure drawn from saved tables: ``draw(tables, stem) -> [png, pdf paths]``.

    ``tables`` maps each name in ``tables`` to its DataFrame (all seeds); ``stem``
    is the output path without suffix. Drawing reads, never recomputes.
    """

    name: str
    tables: tuple
    draw: Callable[[dict, Path], list]


@dataclass(frozen=True)
class SideStudy:
    """One side study.

    Attributes
    ----------
    name : str
        Configuration section (``config[name]``) and store kind; lower case.
    title : str
        Heading of its report section.
    defaults : dict
        Settings of the quick profile (JSON values only); ``enabled`` is added by
        the pipeline (default True).
    profiles : dict
        Profile name -> overrides of ``defaults`` (e.g. ``{"smoke": {...}, "paper": {...}}``).
    own_files : tuple of str
        Project files (paths from the project root) that only this study uses.
        They enter its cache key and are left out of the main study's keys, so
        editing them redoes this study alone.
    sources : tuple of str
        Shared project code (packages or files) its results also depend on, e.g.
        ``("ising", "models/training.py")``; part of its cache key.
    run_seed : callable (settings: dict, seed: int) -> dict[str, DataFrame]
        The work of one seed. Deterministic given its arguments; every table
        carries a ``seed`` column. Table names are global in the run folder, so
        they start with the study's name.
    claims : callable (settings: dict) -> tuple of analysis.claims.Claim
        Claims decided from its tables (concatenated over seeds).
    report : callable (tables: dict[str, DataFrame], settings: dict) -> list of str
        Markdown lines of its report section (the claims' verdict rows are
        rendered by the report itself).
    figures : tuple of SideFigure
    """

    name: str
    title: str
    defaults: dict
    run_seed: Callable[[dict, int], dict]
    claims: Callable[[dict], tuple]
    report: Callable[[dict, dict], list]
    figures: tuple = ()
    profiles: dict = field(default_factory=dict)
    own_files: tuple = ()
    sources: tuple = ()

    def tables_of(self, frames: dict) -> dict[str, pd.DataFrame]:
        """The tables of this study among a run's tables."""
        return {k: v for k, v in frames.items() if k.startswith(f"{self.name}_")}


def markdown_table(df: pd.DataFrame, float_format: str | None = None, index: bool = False) -> list[str]:
    """A DataFrame as Markdown table lines: header, rule, one line per row.

    Floats are written with ``format(value, float_format)`` when it is given,
    everything else with ``str``; with ``index`` the index is the first column.
    """
    if index:
        df = df.reset_index()

    def cell(value) -> str:
        if float_format is not None and isinstance(value, (float, np.floating)):
            return format(float(value), float_format)
        return str(value)

    lines = ["| " + " | ".join(str(c) for c in df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return lines
