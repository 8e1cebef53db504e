"""The side studies the pipeline runs (claims C6-C10), as ``module:attribute`` paths.

Each path names an :class:`analysis.side.SideStudy`; imported lazily so that
building a configuration does not load Keras.
"""

from __future__ import annotations

import importlib
from functools import cache

__all__ = ["SIDE_STUDIES", "side_studies", "side_study"]

#: Side studies in report order.
SIDE_STUDIES: tuple[str, ...] = ("analysis.rsmi:STUDY",)


@cache
def side_studies() -> tuple:
    """The registered :class:`~analysis.side.SideStudy` values."""
    out = []
    for path in SIDE_STUDIES:
        module, _, attr = path.partition(":")
        out.append(getattr(importlib.import_module(module), attr))
    return tuple(out)


def side_study(name: str):
    """The side study called ``name``."""
    for study in side_studies():
        if study.name == name:
            return study
    raise ValueError(f"unknown side study {name!r}")
