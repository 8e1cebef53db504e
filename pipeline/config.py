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
    "sampling": {"n_train": 200, "n_val": 60, "n_test": 100, "algorithm": "auto"},
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
    # L = 64 and 5 seeds (the sign test's minimum) are the point of this profile; the rest is cut
    # to finish in about 4 hours on two cores (benchmarks/PAPER.md, benchmarks/bench_paper.py).
    # At L = 64 a transfer model's Dense(4096 -> 1024) layers cost 16x a quick one's per
    # configuration, and the first profile (27 temperatures, 1000/200/400 configurations, 200 and
    # 100 epochs) projected to about 18 hours for the transfer stage alone. Cuts, least statistics
    # lost first: a 0.25 grid (12 temperatures with T_c; still 4 in each band of
    # models.evaluation, and the same range, rescaled for other lattices); 500/100/200
    # configurations per temperature (2.5x quick's, measured on at most 200); 100 thermometer
    # and 40 transfer epochs (from 200 and 100) with the quick profile's patience, since early
    # stopping rarely fired in quick runs (mean epochs run 0.82-0.93 of the maximum).
    "paper": {
        "L": 64,
        "seeds": 5,
        "temperatures": {"start": 1.0, "stop": 3.5, "step": 0.25, "include_tc": True, "values": None},
        "sampling": {"n_train": 500, "n_val": 100, "n_test": 200},
        "thermometer": {"epochs": 100, "patience": 10},
        "transfer": {"epochs": 40, "patience": 6},
        "analysis": {"max_configurations": 200},
    },
}


def _merge(base: dict, override: dict, where: str, source: str = "") -> dict:
    """``base`` updated by ``override`` key by key; ``source`` (e.g. a file name) prefixes errors."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if key not in out:
            raise ValueError(f"{source}unknown configuration key {where}{key!r}")
        if isinstance(out[key], dict) and isinstance(value, dict):
            out[key] = _merge(out[key], value, f"{where}{key}.", source)
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
    defaults = _merge(BASE, PROFILES[profile], "") | side_settings(profile)
    config = defaults
    if file is not None:
        data = load_config_file(file)
        if "profile" in data:
            raise ValueError(f"{file}: 'profile' is chosen on the command line (--profile), not in a file")
        config = _merge(config, data, "", f"{file}: ")
        _check_schema(config, defaults, "", f"{file}: ")
    given = {k: v for k, v in overrides.items() if v is not None}
    config = _merge(config, given, "")
    _check_schema(config, defaults, "", "")
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


#: Sections of BASE whose numbers have the ranges of :func:`_check_schema`; other sections
#: (side studies) are checked by type against their defaults only.
_RANGED_SECTIONS = (
    "L",
    "b",
    "J",
    "h",
    "temperatures",
    "min_coarse_L",
    "seeds",
    "sampling",
    "thermometer",
    "transfer",
    "analysis",
)

#: Keys whose default is None, and what else they accept.
_OPTIONAL = {"b": "int", "thermometer.conv_kernel": "int", "temperatures.values": "numbers"}

#: Numbers that may be zero or negative (J's sign is the model's; h any finite field).
_SIGNED = {"J", "h"}
_NON_NEGATIVE = {"thermometer.patience", "transfer.patience"}


def _kind(value) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "table"
    return type(value).__name__


def _check_value(value, kind: str, name: str, where: str, ranged: bool) -> None:
    """Check one value against the kind of its default ('int', 'number', 'str', 'bool', 'numbers')."""
    got = _kind(value)
    if kind == "numbers":
        if got != "list" or not value or any(_kind(v) not in ("int", "number") for v in value):
            raise ValueError(f"{where}{name} must be a non-empty list of numbers or absent, got {value!r}")
        if ranged and any(not np.isfinite(v) or v <= 0 for v in value):
            raise ValueError(f"{where}{name} must hold positive finite numbers, got {value!r}")
        return
    ok = got == kind or (kind == "number" and got == "int")
    if not ok:
        article = {"int": "an integer", "number": "a number", "str": "a string", "bool": "true or false"}
        raise ValueError(f"{where}{name} must be {article.get(kind, kind)}, got {value!r}")
    if kind in ("int", "number"):
        if not np.isfinite(value):
            raise ValueError(f"{where}{name} must be finite, got {value!r}")
        if ranged and name not in _SIGNED:
            low_ok = value >= 0 if name in _NON_NEGATIVE else value > 0
            if not low_ok:
                bound = ">= 0" if name in _NON_NEGATIVE else "> 0"
                raise ValueError(f"{where}{name} must be {bound}, got {value!r}")


def _check_schema(config: dict, defaults: dict, prefix: str, where: str, ranged: bool = True) -> None:
    """Check every key of ``config`` against the type (and range) of its default in ``defaults``.

    The schema is derived from the defaults: a value must have its default's
    type (an integer is accepted for a float); numbers are finite and, in the
    study's own sections, positive except J, h (any sign) and patience (>= 0);
    lists are non-empty and hold what their default holds; keys whose default is
    None accept None or what :data:`_OPTIONAL` says. ``where`` prefixes errors
    (the file's name).
    """
    for key, default in defaults.items():
        if key not in config:
            continue
        value, name = config[key], f"{prefix}{key}"
        inner = ranged and (prefix != "" or key in _RANGED_SECTIONS)
        if isinstance(default, dict):
            if not isinstance(value, dict):
                raise ValueError(f"{where}{name} must be a table of settings, got {value!r}")
            _check_schema(value, default, f"{name}.", where, inner)
        elif default is None:
            if value is not None and name in _OPTIONAL:
                _check_value(value, _OPTIONAL[name], name, where, inner)
        elif isinstance(default, list):
            kinds = {_kind(v) for v in default} or {"str", "int", "number"}
            if not isinstance(value, list) or not value:
                raise ValueError(f"{where}{name} must be a non-empty list, got {value!r}")
            for item in value:
                kind = _kind(item)
                if not (kind in kinds or (kind == "int" and "number" in kinds)):
                    raise ValueError(
                        f"{where}{name} holds {item!r}, not one of its kinds ({', '.join(sorted(kinds))})"
                    )
                if kind in ("int", "number"):
                    _check_value(item, kind, name, where, inner)
        else:
            _check_value(value, _kind(default), name, where, inner)


def validate(config: dict) -> None:
    """Refuse a configuration that cannot run, before any work starts (and before any folder is made)."""
    _check_schema(config, BASE, "", "")
    from ising.sampling import ALGORITHMS

    if config["sampling"]["algorithm"] not in ALGORITHMS:
        raise ValueError(
            f"unknown sampling.algorithm {config['sampling']['algorithm']!r}; use {', '.join(ALGORITHMS)}"
        )
    for value in config["analysis"]["matrix_temperatures"]:
        if isinstance(value, str) and value != "tc":
            raise ValueError(f"analysis.matrix_temperatures holds {value!r}; use numbers or 'tc'")
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
    flow = config["analysis"]["flow_thermometer"]
    if flow not in config["thermometer"]["architectures"]:
        trained = ", ".join(config["thermometer"]["architectures"])
        raise ValueError(f"analysis.flow_thermometer {flow!r} is not a trained architecture ({trained})")
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
