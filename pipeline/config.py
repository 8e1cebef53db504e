"""Study configuration: profiles, overrides from a file and the command line, validation.

A configuration is a plain nested dict (so it hashes and serialises as JSON).
Every value a user can change is in :data:`BASE`; a profile overrides some of
them, a TOML or YAML file overrides more, and command-line flags come last.
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from ising.lattice import lattice_builder, make_lattice, square

__all__ = [
    "PROFILES",
    "BASE",
    "build_config",
    "side_settings",
    "temperature_grid",
    "rescale",
    "config_summary",
]

#: T_c of the square lattice at J = 1 (Onsager): the default grid and the temperature bands
#: are stated on its scale and rescaled by T_c(lattice) / T_c(square) for other lattices.
SQUARE_TC = square(4).critical_temperature

#: Defaults shared by every profile (the ``quick`` profile is BASE unchanged).
BASE = {
    "lattice": "square",
    "L": 32,
    "b": None,  # None: the lattice's own block factor
    "J": 1.0,
    "h": 0.0,
    # T grid of STUDY.md: 1.0 .. 3.5 step 0.1 plus T_c, for the square lattice; for other
    # lattices the same grid is rescaled by T_c(lattice) / T_c(square) unless given explicitly.
    "temperatures": {"start": 1.0, "stop": 3.5, "step": 0.1, "include_tc": True, "values": None},
    "min_coarse_L": 8,  # coarsest lattice that still gets its own ensembles and thermometer
    "seeds": 5,  # the sign test needs at least 5 seeds, all on one side, for a verdict
    "sampling": {"n_train": 300, "n_val": 60, "n_test": 100, "algorithm": "auto"},
    "thermometer": {
        "architectures": ["dense", "conv"],
        "dense_hidden": 64,
        "dense_levels": "fine",  # "fine" or "all" RG levels
        "conv_filters": 8,
        "conv_kernel": None,  # None: 2, or 3 where nearest neighbours need it (triangular)
        "epochs": 60,
        "batch_size": 128,
        "patience": 10,
        "learning_rate": 3e-3,
    },
    "transfer": {
        "rules": ["decimation", "majority"],
        "epochs": 30,
        "batch_size": 256,
        "patience": 6,
        "learning_rate": 3e-3,
        # C5: epochs until a model has made this fraction of its total loss decrease from the
        # untrained loss; read by the tables only, so changing it retrains nothing
        "convergence_fraction": 0.9,
    },
    "analysis": {
        "matrix_temperatures": [1.5, "tc", 3.0],
        "matrix_window": 16,  # correlation matrices over a window of this side (fine sites)
        "patch_sizes": [1, 2, 3],
        "max_configurations": 100,
        "flow_thermometer": "conv",
    },
}

PROFILES = {
    "smoke": {
        "L": 8,
        "min_coarse_L": 4,
        "seeds": 2,
        "temperatures": {"start": 1.5, "stop": 3.5, "step": 0.5, "include_tc": True, "values": None},
        "sampling": {"n_train": 60, "n_val": 20, "n_test": 30},
        "thermometer": {"epochs": 6, "patience": 3, "batch_size": 64},
        "transfer": {"epochs": 6, "patience": 3, "batch_size": 64},
        "analysis": {"matrix_temperatures": [2.0], "max_configurations": 30},
    },
    "quick": {},
    "paper": {
        "L": 64,
        "seeds": 5,
        "sampling": {"n_train": 1000, "n_val": 200, "n_test": 400},
        "thermometer": {"epochs": 200, "patience": 20},
        "transfer": {"epochs": 100, "patience": 10},
        "analysis": {"max_configurations": 400},
    },
}


def _merge(base: dict, override: dict, where: str) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if key not in out:
            raise ValueError(f"unknown configuration key {where}{key!r}")
        if isinstance(out[key], dict) and isinstance(value, dict):
            out[key] = _merge(out[key], value, f"{where}{key}.")
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_config_file(path) -> dict:
    """Read a TOML (``.toml``) or YAML (``.yaml``/``.yml``) configuration file."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"configuration file {path} does not exist")
    text = path.read_text()
    try:
        if path.suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            raise ValueError(f"configuration file {path} must end in .toml, .yaml or .yml")
    except ValueError:
        raise
    except Exception as err:  # parser errors of either format
        raise ValueError(f"cannot parse {path}: {str(err).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ValueError(f"configuration file {path} must hold a table of settings")
    return data


def build_config(profile: str = "quick", file=None, **overrides) -> dict:
    """The validated configuration for a profile, an optional file and flag overrides."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    config = _merge(BASE, PROFILES[profile], "") | side_settings(profile)
    if file is not None:
        data = load_config_file(file)
        data.pop("profile", None)
        config = _merge(config, data, "")
    given = {k: v for k, v in overrides.items() if v is not None}
    config = _merge(config, given, "")
    config["profile"] = profile
    config["adjustments"] = []
    if "L" not in given and "L" not in (data if file is not None else {}):
        _fit_size(config)
    validate(config)
    return config


def side_settings(profile: str) -> dict:
    """Each side study's section for ``profile``: ``enabled`` plus its defaults and profile overrides."""
    from .side import side_studies

    return {
        study.name: _merge(
            {"enabled": True, **study.defaults}, study.profiles.get(profile, {}), f"{study.name}."
        )
        for study in side_studies()
    }


def _fit_size(config: dict, reach: int = 16) -> None:
    """Move the profile's default L to the nearest size the lattice accepts (noted in the config)."""
    builder = lattice_builder(config["lattice"])
    L = config["L"]
    for step in range(reach + 1):
        for candidate in dict.fromkeys((L - step, L + step)):
            if candidate < 2:
                continue
            try:
                builder(candidate, **_block_kwargs(config))
            except ValueError:
                continue
            if candidate != L:
                config["L"] = candidate
                config["adjustments"].append(
                    f"L = {candidate} instead of the {config['profile']} profile's {L}: "
                    f"the nearest size the {config['lattice']} lattice accepts"
                )
            return


def validate(config: dict) -> None:
    """Refuse a configuration that cannot run, before any work starts."""
    name = config["lattice"]
    lattice = fine_lattice(config)
    if not lattice.has_blocks:
        raise ValueError(f"the {name} lattice has no block partition to coarse-grain")
    if config["J"] == 0:
        raise ValueError("coupling J must be non-zero")
    temps = temperature_grid(config)
    if len(temps) < 2:
        raise ValueError("the temperature grid needs at least two temperatures")
    seeds = config["seeds"]
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds must be a positive integer, got {seeds!r}")
    for key in ("n_train", "n_val", "n_test"):
        n = config["sampling"][key]
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"sampling.{key} must be a positive integer, got {n!r}")
    if config["thermometer"]["dense_levels"] not in ("fine", "all"):
        raise ValueError("thermometer.dense_levels must be 'fine' or 'all'")
    from models.architectures import THERMOMETERS

    for arch in config["thermometer"]["architectures"]:
        if arch not in THERMOMETERS:
            known = " and/or ".join(THERMOMETERS)
            raise ValueError(f"unknown thermometer architecture {arch!r}; use {known}")
    for rule in config["transfer"]["rules"]:
        if rule not in ("decimation", "majority"):
            raise ValueError(f"unknown RG rule {rule!r}; use decimation and/or majority")
    fraction = config["transfer"]["convergence_fraction"]
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
        raise ValueError(f"transfer.convergence_fraction must be a number in (0, 1], got {fraction!r}")
    if config["h"] != 0 and config["sampling"]["algorithm"] == "wolff":
        raise ValueError("the Wolff algorithm needs zero field h")


def _block_kwargs(config: dict) -> dict:
    return {} if config.get("b") in (None, 0) else {"b": config["b"]}


def fine_lattice(config: dict):
    """The configured fine lattice (built once per name, size and block factor)."""
    return _built_lattice(config["lattice"], config["L"], config.get("b") or None)


@lru_cache(maxsize=8)
def _built_lattice(name: str, L: int, b: int | None):
    return make_lattice(name, L, **({} if b is None else {"b": b}))


def lattice_levels(config: dict) -> list:
    """The fine lattice and its coarse lattices down to ``min_coarse_L`` sites per side."""
    levels = fine_lattice(config).rg_levels()
    min_sites = config["min_coarse_L"] ** len(levels[0].shape)
    return [lat for lat in levels if lat.n_sites >= min_sites]


def critical_temperature(config: dict) -> float | None:
    """T_c of the configured lattice at its coupling, as the lattice knows it (None if unknown)."""
    return fine_lattice(config).critical_temperature_at(config["J"])


def rescale(config: dict) -> float:
    """T_c(lattice, J) / T_c(square, J = 1): default grids and band edges are scaled by it."""
    tc = critical_temperature(config)
    return 1.0 if tc is None else tc / SQUARE_TC


def temperature_grid(config: dict) -> list[float]:
    """Sorted temperatures of the study; validated to be finite and positive."""
    spec = config["temperatures"]
    if spec.get("values"):
        temps = [float(t) for t in spec["values"]]
    else:
        start, stop, step = spec["start"], spec["stop"], spec["step"]
        if step <= 0 or stop < start:
            raise ValueError("temperature grid needs step > 0 and stop >= start")
        temps = list(np.round(np.arange(start, stop + step / 2, step), 10))
        scale = rescale(config)
        temps = [float(t) * scale for t in temps]
        tc = critical_temperature(config)
        if spec.get("include_tc") and tc is not None:
            temps.append(tc)
    if any(not np.isfinite(t) or t <= 0 for t in temps):
        raise ValueError(f"temperatures must be positive, got {sorted(temps)[0]:g}")
    return sorted({round(t, 10) for t in temps})


def resolve_temperature(config: dict, value) -> float:
    """A temperature entry that may be the string 'tc'."""
    return critical_temperature(config) if value == "tc" else float(value) * rescale(config)


def config_summary(config: dict) -> str:
    return json.dumps(config, indent=2, sort_keys=True)
