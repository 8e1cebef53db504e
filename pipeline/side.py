"""The side studies the pipeline runs (claims C6-C10), as ``module:attribute`` paths.

Each path names an :class:`analysis.side.SideStudy`; imported lazily so that
building a configuration does not load Keras.
"""

from __future__ import annotations

import importlib
from functools import cache

__all__ = ["SIDE_STUDIES", "side_studies", "side_study", "enabled_side_studies", "run_claims"]

#: Side studies in report order.
SIDE_STUDIES: tuple[str, ...] = (
    "analysis.symmetry:STUDY",
    "analysis.central_limit:STUDY",
    "analysis.efnn:STUDY",
    "analysis.rsmi:STUDY",
)


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


def enabled_side_studies(config: dict) -> tuple:
    """The side studies a configuration runs, each with its settings (``enabled`` removed)."""
    return tuple(
        (study, {k: v for k, v in config[study.name].items() if k != "enabled"})
        for study in side_studies()
        if config.get(study.name, {}).get("enabled", False)
    )


def run_claims(config: dict) -> tuple:
    """Every claim a run decides: C1-C5 of the main study, then the enabled side studies' claims."""
    from analysis.claims import study_claims

    claims = study_claims(config["transfer"]["rules"], config["transfer"]["convergence_fraction"])
    for study, settings in enabled_side_studies(config):
        claims += tuple(study.claims(settings))
    return claims
