"""The study's stages: sample -> thermometers -> transfer -> measure (tables).

Each stage turns the study plan and the keys of its inputs into a list of
:class:`~pipeline.store.Task`, one per independent unit of work, and returns
an index of the entries it needs. Keys hash exactly the settings a unit
depends on, so a changed parameter redoes only the units that use it. The
task functions are module-level so that Dask can ship them to workers; they
read inputs, call the science (``ising``, ``models``, ``transfer``,
``analysis``) and write its outputs, nothing more.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path

from ising import __version__ as ising_version

from .plan import StudyPlan, lattice_from_spec
from .store import Store, Task, key_of

ROLES = ("train", "val", "test")
ROOT = Path(__file__).resolve().parents[1]


@cache
def source_digest(*parts: str) -> str:
    """Hash of the Python sources under ``parts`` (packages or files of this project).

    It enters the keys of the units those sources compute, so a change of the
    code, not only of the configuration, redoes what it affects. Computed once
    per process and set of parts. Files that only a side study uses are left
    out of a package's hash (they affect that study alone); a file named
    directly is always hashed.
    """
    h = hashlib.sha256()
    own = _side_study_files()
    for part in parts:
        path = ROOT / part
        files = [f for f in sorted(path.rglob("*.py")) if f not in own] if path.is_dir() else [path]
        for file in files:
            h.update(str(file.relative_to(ROOT)).encode())
            h.update(file.read_bytes())
    return h.hexdigest()[:16]


def _side_study_files() -> frozenset:
    """Files that only a side study uses (its ``own_files``): not part of the main study's keys."""
    from .side import side_studies

    return frozenset(ROOT / part for study in side_studies() for part in study.own_files)


SOURCES = {
    "ensembles": ("ising",),
    "thermometers": ("ising", "models", "pipeline/stages.py"),
    "transfer": ("ising", "models", "transfer", "pipeline/stages.py"),
    "measure": ("ising", "models", "transfer", "analysis", "pipeline/stages.py"),
}


def _task(kind: str, entry: str, fn, store: Store, label: str, **kwargs) -> Task:
    """A unit of work building store entry ``entry`` of ``kind`` with ``fn(store_root, **kwargs)``."""
    return Task(kind, entry, fn, {"store_root": str(store.root), **kwargs}, label=label)


# --------------------------------------------------------------------------- sample
def ensemble_specs(plan: StudyPlan) -> list[dict]:
    """One spec per ensemble: every RG level, temperature, seed and role (independent chains)."""
    config, specs = plan.config, []
    code = source_digest(*SOURCES["ensembles"])
    for level, lattice_spec in enumerate(plan.lattice_specs):
        for T in plan.temperatures:
            for seed in plan.seeds:
                for role in ROLES:
                    chain = {
                        "J": config["J"],
                        "h": config["h"],
                        "T": T,
                        "n": config["sampling"][f"n_{role}"],
                        "algorithm": config["sampling"]["algorithm"],
                        "role": role,
                        "seed_index": seed,
                        "version": ising_version,
                    }
                    lattice = lattice_spec["lattice"]
                    # The chain's own seed: distinct for every lattice, level, T, seed index and role.
                    identity = {"lattice": lattice["name"], "L": lattice["L"], "b": lattice.get("b"), **chain}
                    spec = {**lattice_spec, **chain, "chain_seed": int(key_of(identity)[:8], 16)}
                    spec["code"] = code
                    spec["level"] = level
                    specs.append(spec)
    return specs


def ensemble_key(spec: dict) -> str:
    return key_of({k: v for k, v in spec.items() if k != "level"})


#: Chain diagnostics an ensemble entry records (its ``results``).
ENSEMBLE_RESULTS = (
    "tau_int",
    "tau_int_energy",
    "tau_int_abs_m",
    "sweeps_between",
    "thermalization_sweeps",
    "algorithm",
    "seconds",
)


def build_ensemble(store_root: str, spec: dict) -> None:
    """Task: sample one ensemble into ``ensembles/<key>/ensemble.h5``."""
    from ising.io import save_ensemble
    from ising.sampling import sample_ensemble

    def work(folder: Path):
        lattice = lattice_from_spec(spec)
        ens = sample_ensemble(
            lattice,
            spec["T"],
            spec["n"],
            J=spec["J"],
            h=spec["h"],
            algorithm=spec["algorithm"],
            seed=spec["chain_seed"],
        )
        save_ensemble(folder / "ensemble.h5", ens)
        return {k: ens.params[k] for k in ENSEMBLE_RESULTS}

    Store(store_root).build("ensembles", ensemble_key(spec), spec, work)


def sample_stage(plan: StudyPlan, store: Store) -> tuple[list[Task], dict]:
    """Tasks for every ensemble and an index ``(level, T, seed, role) -> ensemble path``."""
    tasks, index = [], {}
    for spec in ensemble_specs(plan):
        key = ensemble_key(spec)
        label = f"L={spec['lattice']['L']} T={spec['T']:.3f} {spec['role']}"
        tasks.append(_task("ensembles", key, build_ensemble, store, label, spec=spec))
        index[(spec["level"], spec["T"], spec["seed_index"], spec["role"])] = {
            "key": key,
            "path": str(store.path("ensembles", key) / "ensemble.h5"),
        }
    return tasks, index


def ensemble_files(index: dict, level: int, seed: int, role: str, what: str = "path") -> list[str]:
    """Paths (or keys, ``what="key"``) of one level's, seed's and role's ensembles, by temperature."""
    return [v[what] for (lv, _T, s, r), v in sorted(index.items()) if lv == level and s == seed and r == role]


def _role_inputs(index: dict, level: int, seed: int) -> tuple[dict, dict]:
    """(files, keys) of the three roles' ensembles at one level and seed."""
    files = {role: ensemble_files(index, level, seed, role) for role in ROLES}
    keys = {role: ensemble_files(index, level, seed, role, "key") for role in ROLES}
    return files, keys


# --------------------------------------------------------------------------- thermometers
def thermometer_plan(plan: StudyPlan) -> list[tuple[int, str]]:
    """(level, architecture) pairs: conv at every RG level, dense at the fine level.

    The dense thermometer's first layer is what transfers into the encoders, so
    it is needed at the fine scale only (``thermometer.dense_levels = "all"``
    trains it wherever the level has blocks).
    """
    cfg = plan.config["thermometer"]
    every = cfg["dense_levels"] == "all"
    return [
        (level, arch)
        for level, lattice in enumerate(plan.levels)
        for arch in cfg["architectures"]
        if arch != "dense" or (lattice.has_blocks and (level == 0 or every))
    ]


#: Settings of the ``thermometer`` section that each architecture's training reads; a
#: thermometer's key holds only these, so a conv-only change leaves the dense one cached.
THERMOMETER_SETTINGS = {
    "dense": ("dense_hidden", "epochs", "batch_size", "patience", "learning_rate"),
    "conv": ("conv_filters", "conv_kernel", "epochs", "batch_size", "patience", "learning_rate"),
}

#: Settings of the ``transfer`` section that only the tables read (pipeline.collect), not training.
TRANSFER_TABLE_SETTINGS = ("convergence_fraction",)


def build_thermometer(store_root: str, key: str, spec: dict, train: list, val: list, test: list) -> None:
    """Task: train one thermometer, evaluate it on the test chains, save model and tables."""
    import numpy as np
    import pandas as pd

    from models import evaluate_on_ensembles, save_model, train_thermometer
    from models.architectures import build_thermometer as build_model

    def work(folder: Path):
        lattice = lattice_from_spec(spec)
        cfg = spec["thermometer"]
        model = build_model(spec["arch"], lattice, cfg, seed=spec["seed"])
        fit = {k: cfg[k] for k in ("epochs", "batch_size", "patience", "learning_rate")}
        history = train_thermometer(model, train, val, **fit, seed=spec["seed"])
        save_model(model, folder / "model.keras")
        (folder / "history.json").write_text(json.dumps(history))
        name = f"{spec['arch']} L={lattice.L} ({lattice.name})"
        ev = evaluate_on_ensembles(model, test, lattice, band_scale=spec["band_scale"], name=name)
        data, bayes = ev["data"], ev["bayes"]
        pd.DataFrame(
            {
                "model": spec["arch"],
                "lattice": lattice.name,
                "L": lattice.L,
                "level": spec["level"],
                "T": data["T"],
                "beta": data["beta"],
                "beta_pred": ev["beta_pred"],
                "beta_bayes": bayes.beta_hat if bayes.available else np.nan,
                "energy": data["energy"],
                "seed": spec["seed"],
            }
        ).to_csv(folder / "predictions.csv", index=False)
        (folder / "report.md").write_text(ev["report"] + "\n")
        return {
            "metrics": ev["metrics"],
            "bayes": bayes.metrics if bayes.available else None,
            "bayes_reason": bayes.reason,
            "ratio": ev["ratio"],
            "dependence": ev["dependence"],
            "epochs_run": history["epochs_run"],
            "best_val_loss": history["best_val_loss"],
        }

    Store(store_root).build("thermometers", key, spec, work)


def thermometer_stage(plan: StudyPlan, store: Store, ensembles: dict) -> tuple[list[Task], dict]:
    """Tasks for every (level, architecture, seed); index ``(level, arch, seed) -> entry``."""
    config = plan.config
    tasks, index = [], {}
    for level, arch in thermometer_plan(plan):
        for seed in plan.seeds:
            files, keys = _role_inputs(ensembles, level, seed)
            spec = {
                "code": source_digest(*SOURCES["thermometers"]),
                "arch": arch,
                "level": level,
                "seed": seed,
                **plan.lattice_specs[level],
                "J": config["J"],
                "h": config["h"],
                "band_scale": plan.band_scale,
                "thermometer": {k: config["thermometer"][k] for k in THERMOMETER_SETTINGS[arch]},
                "inputs": keys,
            }
            key = key_of(spec)
            label = f"{arch} level {level} seed {seed}"
            tasks.append(
                _task("thermometers", key, build_thermometer, store, label, key=key, spec=spec, **files)
            )
            index[(level, arch, seed)] = {"key": key, "path": str(store.path("thermometers", key))}
    return tasks, index


# --------------------------------------------------------------------------- transfer
def _load_spins(files: list):
    from models import load_configurations

    return load_configurations(files)


def build_transfer(
    store_root: str, key: str, spec: dict, thermometer: str, train: list, val: list, test: list
) -> None:
    """Task: train the transfer catalogue (RG encoders, autoencoders, RG encode-decode) for one seed."""
    import numpy as np

    from models import load_model, save_model
    from transfer.catalogue import train_catalogue, transfer_catalogue
    from transfer.learned import history_frame

    def work(folder: Path):
        cfg = spec["transfer"]
        fit = {k: cfg[k] for k in ("epochs", "batch_size", "patience", "learning_rate")}
        data = {
            role: _load_spins(files)["spins"] for role, files in zip(ROLES, (train, val, test), strict=True)
        }
        thermo = load_model(Path(thermometer) / "model.keras")
        entries = transfer_catalogue(cfg["rules"])
        result = train_catalogue(entries, lattice_from_spec(spec), thermo, data, fit, spec["seed"])
        for name, model in result.models.items():
            save_model(model, folder / f"{name}.keras")
        np.savez_compressed(folder / "kernels.npz", **result.kernels)
        frame = history_frame(result.histories)
        frame["seed"] = spec["seed"]
        frame.to_csv(folder / "histories.csv", index=False)
        (folder / "checks.json").write_text(json.dumps(result.checks, indent=1))
        return {
            "checks": result.checks,
            "test_loss": result.test_loss,
            "epochs_run": {k: h["epoch"][-1] for k, h in result.histories.items()},
        }

    Store(store_root).build("transfer", key, spec, work)


def transfer_stage(plan: StudyPlan, store: Store, ensembles: dict, thermometers: dict):
    if (0, "dense", 0) not in thermometers:
        raise ValueError("the transfer stage needs the dense thermometer (thermometer.architectures)")
    config = plan.config
    tasks, index = [], {}
    for seed in plan.seeds:
        thermo = thermometers[(0, "dense", seed)]
        files, keys = _role_inputs(ensembles, 0, seed)
        spec = {
            "code": source_digest(*SOURCES["transfer"]),
            "seed": seed,
            **plan.lattice_specs[0],
            "transfer": {k: v for k, v in config["transfer"].items() if k not in TRANSFER_TABLE_SETTINGS},
            "thermometer": thermo["key"],
            "inputs": keys,
        }
        key = key_of(spec)
        kwargs = {"key": key, "spec": spec, "thermometer": thermo["path"], **files}
        tasks.append(_task("transfer", key, build_transfer, store, f"seed {seed}", **kwargs))
        index[seed] = {"key": key, "path": str(store.path("transfer", key))}
    return tasks, index


# --------------------------------------------------------------------------- measure
def build_measure(
    store_root: str, key: str, spec: dict, transfer: str, thermometers: list, test: list
) -> None:
    """Task: the measurement suite (analysis.suite) for one seed; one CSV per table."""
    import numpy as np

    from analysis.suite import measure_seed, representation_catalogue
    from models import load_model

    def work(folder: Path):
        lattice = lattice_from_spec(spec)
        data = _load_spins(test)
        tdir = Path(transfer)
        needed = {rep.model for rep in representation_catalogue(spec["rules"]) if rep.model}
        models = {name: load_model(tdir / f"{name}.keras") for name in sorted(needed)}
        kernels = dict(np.load(tdir / "kernels.npz"))
        thermos = [_thermometer_with_calibration(Path(p)) if p else None for p in thermometers]
        tables = measure_seed(data["spins"], data["beta"], data["T"], lattice, models, kernels, thermos, spec)
        for name, table in tables.items():
            table.to_csv(folder / f"{name}.csv", index=False)
        return {"n_temperatures": int(np.unique(data["T"]).size)}

    Store(store_root).build("measure", key, spec, work)


def _thermometer_with_calibration(folder: Path):
    """A trained thermometer and its calibration f(beta) = E[beta_hat | beta] on its own test chains."""
    import pandas as pd

    from models import load_model
    from transfer.flow import calibrate

    pred = pd.read_csv(folder / "predictions.csv")
    return load_model(folder / "model.keras"), calibrate(pred["beta"], pred["beta_pred"])


def measure_stage(plan: StudyPlan, store: Store, ensembles: dict, thermometers: dict, transfers: dict):
    config = plan.config
    flow_arch = config["analysis"]["flow_thermometer"]
    tasks, index = [], {}
    for seed in plan.seeds:
        flow_thermos = [
            thermometers.get((level, flow_arch, seed)) or thermometers.get((level, "dense", seed))
            for level in range(len(plan.levels))
        ]
        spec = {
            "code": source_digest(*SOURCES["measure"]),
            "seed": seed,
            **plan.lattice_specs[0],
            "analysis": {k: v for k, v in config["analysis"].items() if k != "matrix_temperatures"},
            "rules": config["transfer"]["rules"],
            "J": config["J"],
            "h": config["h"],
            "matrix_temperatures": list(plan.matrix_temperatures),
            "transfer": transfers[seed]["key"],
            "thermometers": [e["key"] if e else None for e in flow_thermos],
            "test": ensemble_files(ensembles, 0, seed, "test", "key"),
        }
        key = key_of(spec)
        kwargs = {
            "key": key,
            "spec": spec,
            "transfer": transfers[seed]["path"],
            "thermometers": [e["path"] if e else None for e in flow_thermos],
            "test": ensemble_files(ensembles, 0, seed, "test"),
        }
        tasks.append(_task("measure", key, build_measure, store, f"seed {seed}", **kwargs))
        index[seed] = {"key": key, "path": str(store.path("measure", key))}
    return tasks, index


# --------------------------------------------------------------------------- side studies
def build_side(store_root: str, key: str, spec: dict) -> None:
    """Task: one seed of a side study (:class:`analysis.side.SideStudy`); one CSV per table."""
    from .side import side_study

    def work(folder: Path):
        study = side_study(spec["study"])
        tables = study.run_seed(spec["settings"], spec["seed"])
        for name, table in tables.items():
            if not name.startswith(f"{study.name}_"):
                raise ValueError(
                    f"side study {study.name} returned table {name!r}, not named {study.name}_..."
                )
            table.to_csv(folder / f"{name}.csv", index=False)
        return {"tables": sorted(tables)}

    Store(store_root).build(spec["study"], key, spec, work)


def side_stage(plan: StudyPlan, store: Store) -> tuple[list[Task], dict]:
    """One unit per enabled side study and seed; index: study name -> {seed: entry}."""
    from .side import enabled_side_studies

    tasks, index = [], {}
    for study, settings in enabled_side_studies(plan.config):
        index[study.name] = {}
        for seed in plan.seeds:
            spec = {
                "code": source_digest("analysis/side.py", *study.own_files, *study.sources),
                "study": study.name,
                "settings": settings,
                "seed": seed,
            }
            key = key_of(spec)
            tasks.append(
                _task(study.name, key, build_side, store, f"{study.name} seed {seed}", key=key, spec=spec)
            )
            index[study.name][seed] = {"key": key, "path": str(store.path(study.name, key))}
    return tasks, index
