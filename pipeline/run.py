"""Run the study: sample -> thermometers -> transfer -> measure -> plot -> report.

The run folder holds ``study.json`` (which study it belongs to), ``config.json``
(the exact configuration of the last run), ``store/`` (cached units of work),
``tables/``, ``figures/``, ``models/``, ``report.md`` and ``metrics.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

from .collect import TABLES, collect_tables
from .config import critical_temperature, rescale
from .stages import measure_stage, sample_stage, thermometer_stage, transfer_stage
from .store import Store, run_tasks

__all__ = ["STAGES", "run_study", "prepare_output", "study_identity"]

STAGES = ("sample", "thermometers", "transfer", "measure", "plot", "report")


def study_identity(config: dict) -> dict:
    """What makes two configurations the same study (the rest may change between runs)."""
    return {k: config[k] for k in ("lattice", "L", "b", "J", "h")}


def _write_json(path: Path, data) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str))
    os.replace(tmp, path)


def prepare_output(out: Path, config: dict) -> None:
    """Refuse a folder holding something else; otherwise create it and record the study."""
    marker = out / "study.json"
    if out.exists() and not out.is_dir():
        raise ValueError(f"output path {out} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not marker.is_file():
            raise ValueError(f"output folder {out} is not empty and holds no study; choose another --out")
        theirs = json.loads(marker.read_text())
        if theirs != study_identity(config):
            desc = ", ".join(f"{k}={v}" for k, v in theirs.items())
            raise ValueError(f"output folder {out} holds another study ({desc}); choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    if not os.access(out, os.W_OK):
        raise ValueError(f"output folder {out} is not writable")
    _write_json(marker, study_identity(config))


def _tables_digest(tables: Path) -> str:
    h = hashlib.sha256()
    for name in TABLES:
        path = tables / f"{name}.csv"
        h.update(name.encode())
        h.update(path.read_bytes() if path.is_file() else b"missing")
    return h.hexdigest()[:16]


def _copy_models(run: Path, index: dict) -> None:
    """Keep the trained models of the run in ``models/`` (one file per model and seed)."""
    models = run / "models"
    models.mkdir(exist_ok=True)
    wanted = {}
    for (level, arch, seed), e in index["thermometers"].items():
        wanted[f"thermometer_{arch}_level{level}_seed{seed}.keras"] = Path(e["path"]) / "model.keras"
    for seed, e in index["transfer"].items():
        for path in Path(e["path"]).glob("*.keras"):
            wanted[f"{path.stem}_seed{seed}.keras"] = path
    for name, src in wanted.items():
        dst = models / name
        if not dst.exists() or dst.stat().st_size != src.stat().st_size:
            tmp = models / f".{name}.tmp"
            shutil.copyfile(src, tmp)
            os.replace(tmp, dst)
    for stale in models.glob("*.keras"):
        if stale.name not in wanted:
            stale.unlink()


def run_study(
    config: dict,
    out,
    *,
    only: str | None = None,
    force: bool = False,
    scheduler: str | None = None,
    progress: bool = True,
    log=print,
) -> dict:
    """Run the stages of the study into ``out``; returns the per-stage times and work done."""
    if only is not None and only not in STAGES:
        raise ValueError(f"unknown stage {only!r}; choose one of {', '.join(STAGES)}")
    run = Path(out)
    prepare_output(run, config)
    store = Store(run / "store")
    store.clean_temporaries()
    _write_json(run / "config.json", config)
    timings_path = run / "timings.json"
    timings = json.loads(timings_path.read_text()) if timings_path.is_file() else {}
    client = None
    if scheduler:
        from distributed import Client

        try:
            client = Client(scheduler, timeout="10s")
        except OSError as err:
            raise ValueError(f"cannot reach the Dask scheduler at {scheduler}: {err}") from None
    index = {}
    tc = critical_temperature(config)
    planners = {
        "sample": lambda: sample_stage(config, store),
        "thermometers": lambda: thermometer_stage(config, store, index["ensembles"]),
        "transfer": lambda: transfer_stage(config, store, index["ensembles"], index["thermometers"]),
        "measure": lambda: measure_stage(
            config, store, index["ensembles"], index["thermometers"], index["transfer"]
        ),
    }
    names = {
        "sample": "ensembles",
        "thermometers": "thermometers",
        "transfer": "transfer",
        "measure": "measure",
    }
    try:
        for stage in STAGES:
            selected = only is None or only == stage
            started = time.perf_counter()
            if stage in planners:
                tasks, index[names[stage]] = planners[stage]()
                if force and selected:
                    for task in tasks:
                        shutil.rmtree(store.path(task.kind, task.key), ignore_errors=True)
                if selected:
                    ran = run_tasks(store, tasks, stage, client=client, progress=progress)
                else:
                    missing = sum(not store.has(t.kind, t.key) for t in tasks)
                    if missing and STAGES.index(stage) < STAGES.index(only):
                        raise ValueError(
                            f"--only {only} needs the {stage} stage's results ({missing} missing); "
                            "run the study without --only first"
                        )
                    continue
                detail = f"{ran} of {len(tasks)} units run"
            elif not selected:
                continue
            elif stage == "plot":
                ran = _plot(run, config, index, tc, force)
                detail = "figures drawn" if ran else "figures up to date"
            else:
                ran = _report(run, config, timings, tc, force)
                detail = "report written" if ran else "report up to date"
            seconds = time.perf_counter() - started
            if ran or stage not in timings:
                timings[stage] = {"seconds": seconds, "ran": int(ran)}
                _write_json(timings_path, timings)
            log(f"[{stage}] {detail} in {seconds:.1f} s")
    finally:
        if client is not None:
            client.close()
    return timings


def _plot(run: Path, config: dict, index: dict, tc, force: bool) -> bool:
    from .figures import draw_figures

    tables = run / "tables"
    if index.get("measure"):
        collect_tables(config, Store(run / "store"), index, tables)
        _copy_models(run, index)
    if not (tables / "correlations.csv").is_file():
        raise ValueError(f"{run} has no tables yet; run the study without --only first")
    digest = _tables_digest(tables)
    stamp = run / "figures" / ".tables-digest"
    if not force and stamp.is_file() and stamp.read_text() == digest:
        return False
    from .config import resolve_temperature

    temps = [resolve_temperature(config, t) for t in config["analysis"]["matrix_temperatures"]]
    draw_figures(tables, run / "figures", tc, temps)
    stamp.write_text(digest)
    return True


def _report(run: Path, config: dict, timings: dict, tc, force: bool) -> bool:
    from .report import write_report

    tables = run / "tables"
    if not (tables / "correlations.csv").is_file():
        raise ValueError(f"{run} has no tables yet; run the study without --only first")
    digest = _tables_digest(tables) + json.dumps(config, sort_keys=True, default=str)
    stamp = run / ".report-digest"
    key = hashlib.sha256(digest.encode()).hexdigest()[:16]
    if not force and stamp.is_file() and stamp.read_text() == key and (run / "report.md").is_file():
        return False
    write_report(run, config, timings, tc, rescale(config))
    stamp.write_text(key)
    return True
