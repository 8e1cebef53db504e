"""The study's plan: the validated configuration turned once into what the stages need."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from .config import (
    critical_temperature,
    lattice_levels,
    rescale,
    resolve_temperature,
    temperature_grid,
)

__all__ = ["StudyPlan", "make_plan", "lattice_from_spec"]


@dataclass(frozen=True)
class StudyPlan:
    """Lattices, temperatures and seeds of one study, computed once from its configuration.

    Attributes
    ----------
    config : dict
        The validated configuration (:func:`pipeline.config.build_config`).
    levels : tuple of Lattice
        The fine lattice and its coarse lattices down to ``min_coarse_L``.
    temperatures : tuple of float
        The temperature grid, sorted.
    tc : float or None
        T_c of the lattice at the configured coupling, where known.
    band_scale : float
        T_c(lattice) / T_c(square): temperature bands are stated on the square lattice's scale.
    matrix_temperatures : tuple of float
        Temperatures of the correlation-matrix figures ("tc" resolved).
    """

    config: dict
    levels: tuple
    temperatures: tuple
    tc: float | None
    band_scale: float
    matrix_temperatures: tuple

    @property
    def seeds(self) -> range:
        return range(self.config["seeds"])

    @property
    def fine(self):
        return self.levels[0]

    @cached_property
    def lattice_specs(self) -> tuple:
        """Each level's :func:`lattice_spec` (what a task rebuilds its lattice from)."""
        return tuple(lattice_spec(self.config, lattice) for lattice in self.levels)


def make_plan(config: dict) -> StudyPlan:
    return StudyPlan(
        config=config,
        levels=tuple(lattice_levels(config)),
        temperatures=tuple(temperature_grid(config)),
        tc=critical_temperature(config),
        band_scale=rescale(config),
        matrix_temperatures=tuple(
            resolve_temperature(config, t) for t in config["analysis"]["matrix_temperatures"]
        ),
    )


def lattice_spec(config: dict, lattice) -> dict:
    """The lattice's own spec, plus the builder path where the lattice comes from outside the package.

    A task run in another process (a Dask worker) imports that path before
    rebuilding the lattice, so lattices defined in a user's module work there too.
    """
    spec = {"lattice": lattice.spec()}
    if ":" in config["lattice"]:
        spec["source"] = config["lattice"]
    return spec


def lattice_from_spec(spec: dict):
    """Rebuild the lattice of a :func:`lattice_spec`."""
    from ising.lattice import lattice_builder, make_lattice

    if spec.get("source"):
        lattice_builder(spec["source"])
    return make_lattice(**spec["lattice"])
