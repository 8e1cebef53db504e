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

from .collect import collect_tables, table_names
from .plan import StudyPlan, make_plan
from .stages import measure_stage, sample_stage, side_stage, thermometer_stage, transfer_stage
from .store import Store, run_tasks

__all__ = ["STAGES", "run_study", "prepare_output", "study_identity"]

STAGES = ("sample", "thermometers", "transfer", "measure", "side", "plot", "report")


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
    for name in table_names(tables):
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


#: Stages that plan units of work: stage -> (index name, planner(plan, store, index)).
PLANNERS = {
    "sample": ("ensembles", lambda plan, store, ix: sample_stage(plan, store)),
    "thermometers": ("thermometers", lambda plan, store, ix: thermometer_stage(plan, store, ix["ensembles"])),
    "transfer": (
        "transfer",
        lambda plan, store, ix: transfer_stage(plan, store, ix["ensembles"], ix["thermometers"]),
    ),
    "measure": (
        "measure",
        lambda plan, store, ix: measure_stage(
            plan, store, ix["ensembles"], ix["thermometers"], ix["transfer"]
        ),
    ),
    "side": ("side", lambda plan, store, ix: side_stage(plan, store)),
}


def _connect(scheduler: str | None):
    if not scheduler:
        return None
    from distributed import Client

    try:
        return Client(scheduler, timeout="10s")
    except OSError as err:
        raise ValueError(f"cannot reach the Dask scheduler at {scheduler}: {err}") from None


def _work_stage(stage, plan, store, index, only, force, client, progress) -> str | None:
    """Plan one work stage into ``index`` and run its missing units when selected; None if skipped."""
    name, planner = PLANNERS[stage]
    tasks, index[name] = planner(plan, store, index)
    if only is not None and only != stage:
        missing = sum(not store.has(t.kind, t.key) for t in tasks)
        if missing and STAGES.index(stage) < STAGES.index(only):
            raise ValueError(
                f"--only {only} needs the {stage} stage's results ({missing} missing); "
                "run the study without --only first"
            )
        return None
    if force:
        for task in tasks:
            shutil.rmtree(store.path(task.kind, task.key), ignore_errors=True)
    ran = run_tasks(store, tasks, stage, client=client, progress=progress)
    return ran, f"{ran} of {len(tasks)} units run"


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
    plan = make_plan(config)
    prepare_output(run, config)
    store = Store(run / "store")
    store.clean_temporaries()
    _write_json(run / "config.json", config)
    timings_path = run / "timings.json"
    timings = json.loads(timings_path.read_text()) if timings_path.is_file() else {}
    client = _connect(scheduler)
    index = {}
    try:
        for stage in STAGES:
            started = time.perf_counter()
            if stage in PLANNERS:
                done = _work_stage(stage, plan, store, index, only, force, client, progress)
            elif only is not None and only != stage:
                continue
            elif stage == "plot":
                ran = _plot(run, plan, index, force)
                done = ran, "figures drawn" if ran else "figures up to date"
            else:
                ran = _report(run, plan, timings, force)
                done = ran, "report written" if ran else "report up to date"
            if done is None:
                continue
            ran, detail = done
            seconds = time.perf_counter() - started
            if ran or stage not in timings:
                timings[stage] = {"seconds": seconds, "ran": int(ran)}
                _write_json(timings_path, timings)
            log(f"[{stage}] {detail} in {seconds:.1f} s")
    finally:
        if client is not None:
            client.close()
    return timings


def _plot(run: Path, plan: StudyPlan, index: dict, force: bool) -> bool:
    from .figures import draw_figures

    tables = run / "tables"
    if index.get("measure"):
        collect_tables(plan.config, Store(run / "store"), index, tables)
        _copy_models(run, index)
    if not (tables / "correlations.csv").is_file():
        raise ValueError(f"{run} has no tables yet; run the study without --only first")
    digest = _tables_digest(tables)
    stamp = run / "figures" / ".tables-digest"
    if not force and stamp.is_file() and stamp.read_text() == digest:
        return False
    draw_figures(tables, run / "figures", plan.tc, plan.matrix_temperatures)
    stamp.write_text(digest)
    return True


def _report(run: Path, plan: StudyPlan, timings: dict, force: bool) -> bool:
    from .report import write_report

    tables = run / "tables"
    if not (tables / "correlations.csv").is_file():
        raise ValueError(f"{run} has no tables yet; run the study without --only first")
    digest = _tables_digest(tables) + json.dumps(plan.config, sort_keys=True, default=str)
    stamp = run / ".report-digest"
    key = hashlib.sha256(digest.encode()).hexdigest()[:16]
    if not force and stamp.is_file() and stamp.read_text() == key and (run / "report.md").is_file():
        return False
    write_report(run, plan.config, timings, plan.tc)
    stamp.write_text(key)
    return True
