"""Run the study: sample -> thermometers -> transfer -> measure -> plot -> report.

The run folder holds ``study.json`` (which study it belongs to), ``config.json``
(the exact configuration of the last run), ``store/`` (cached units of work),
``tables/``, ``figures/``, ``models/``, ``report.md`` and ``metrics.json``.

A run holds an exclusive lock on ``<out>/.lock`` (``fcntl.flock``; the file
holds the host and process id) from before it writes anything until it ends;
a second run on the same folder is refused at once. The operating system
releases the lock when the process dies, so a killed run never blocks the next.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import socket
import threading
import time
from pathlib import Path

from .collect import collect_tables, table_names
from .parallel import local_workers
from .plan import StudyPlan, make_plan
from .stages import measure_stage, sample_stage, side_stage, thermometer_stage, transfer_stage
from .store import Store, file_digest, run_graph, run_tasks

__all__ = ["STAGES", "LOCK", "SCHEDULER_TIMEOUT", "run_study", "prepare_output", "study_identity"]

#: The run folder's lock file.
LOCK = ".lock"

#: Seconds allowed for connecting to a Dask scheduler, handshake included.
SCHEDULER_TIMEOUT = 30.0

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
    if out.is_dir() and any(p.name != LOCK for p in out.iterdir()):
        if not marker.is_file():
            raise ValueError(f"output folder {out} is not empty and holds no study; choose another --out")
        try:
            theirs = json.loads(marker.read_text())
        except (OSError, UnicodeDecodeError, ValueError) as err:
            raise ValueError(f"cannot read {marker} ({type(err).__name__}); choose another --out") from None
        if not isinstance(theirs, dict):
            raise ValueError(f"{marker} does not describe a study; choose another --out")
        if theirs != study_identity(config):
            desc = ", ".join(f"{k}={v}" for k, v in theirs.items())
            raise ValueError(f"output folder {out} holds another study ({desc}); choose another --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"cannot create output folder {out}: {err.strerror}") from None
    if not os.access(out, os.W_OK):
        raise ValueError(f"output folder {out} is not writable")
    _write_json(marker, study_identity(config))


def _lock_run(out: Path):
    """The run folder's exclusive lock; refused at once if another process holds it; returns the open file."""
    path = out / LOCK
    try:
        handle = open(path, "a+")
    except OSError as err:
        raise ValueError(f"cannot open the lock file {path}: {err.strerror}") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        owner = handle.read().strip() or "unknown"
        handle.close()
        raise ValueError(
            f"output folder {out} is in use by another run (process {owner}); "
            "wait for it to finish or choose another --out"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()} on {socket.gethostname()}\n")
    handle.flush()
    return handle


def _tables_digest(tables: Path) -> str:
    h = hashlib.sha256()
    for name in table_names(tables):
        path = tables / f"{name}.csv"
        h.update(name.encode())
        h.update(path.read_bytes() if path.is_file() else b"missing")
    return h.hexdigest()[:16]


def _copy_models(run: Path, index: dict) -> None:
    """Keep the trained models of the run in ``models/`` (one file per model and seed), copied by SHA-256."""
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
        if not dst.is_file() or file_digest(dst) != file_digest(src):
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


def _connect(scheduler: str | None, timeout: float = SCHEDULER_TIMEOUT):
    """A Dask client for ``scheduler``, or None; connection and handshake share one wall-clock deadline.

    The client is built in a daemon thread joined with ``timeout`` seconds, so
    an address that accepts and never speaks cannot hang the run; any failure
    of the client (refused connection, a server speaking another protocol,
    whose bytes the client may read as an absurd message length) becomes a
    one-line ValueError.
    """
    if not scheduler:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"the scheduler timeout must be a positive number of seconds, got {timeout!r}")
    from distributed import Client

    result = {}

    def connect():
        try:
            result["client"] = Client(scheduler, timeout=f"{timeout}s", set_as_default=False)
        except BaseException as err:  # noqa: BLE001 - every client failure becomes one line below
            result["error"] = err

    thread = threading.Thread(target=connect, name="dask-connect", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise ValueError(
            f"the Dask scheduler at {scheduler} did not complete a handshake within {timeout:g} s"
        )
    if "error" in result:
        err = result["error"]
        detail = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ValueError(f"cannot connect to the Dask scheduler at {scheduler}: {detail[:200]}") from None
    return result["client"]


def _plan_stage(stage, plan, store, index, only, force) -> list | None:
    """Plan one work stage into ``index``; its tasks when it is selected to run, else None."""
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
    return tasks


def _run_work(selected, store, client, progress, log, workers) -> dict[str, dict]:
    """Run the selected work stages: one graph on the local pool, or stage after stage.

    With several local workers (no Dask scheduler) the stages' units run as one
    graph (:func:`pipeline.store.run_graph`); otherwise each stage runs in turn.
    """
    if client is None and workers > 1:
        return run_graph(store, selected, workers, progress=progress, log=log)
    times = {}
    for stage, tasks in selected:
        started = time.perf_counter()
        ran = run_tasks(store, tasks, stage, client=client, progress=progress, workers=workers)
        times[stage] = {"ran": ran, "seconds": time.perf_counter() - started}
        log(f"[{stage}] {ran} of {len(tasks)} units run in {times[stage]['seconds']:.1f} s")
    return times


def run_study(
    config: dict,
    out,
    *,
    only: str | None = None,
    force: bool = False,
    scheduler: str | None = None,
    scheduler_timeout: float = SCHEDULER_TIMEOUT,
    progress: bool = True,
    log=print,
    workers: int | None = None,
) -> dict:
    """Run the stages of the study into ``out``; returns the per-stage times and work done.

    The run holds the folder's lock (module docstring) throughout; the store's
    damaged entries are rebuilt with a note (:class:`pipeline.store.Store`).
    Without a Dask ``scheduler``, a stage's independent units run on a local
    pool of ``workers`` processes (default: one per core; 1 runs them one after
    another in this process), with the same tables (see pipeline.parallel).
    """
    if only is not None and only not in STAGES:
        raise ValueError(f"unknown stage {only!r}; choose one of {', '.join(STAGES)}")
    workers = local_workers(workers)
    run = Path(out)
    plan = make_plan(config)
    prepare_output(run, config)
    lock = _lock_run(run)
    try:
        return _run_locked(
            config, run, plan, only, force, scheduler, scheduler_timeout, progress, log, workers
        )
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()


def _run_locked(
    config, run, plan, only, force, scheduler, scheduler_timeout, progress, log, workers=1
) -> dict:
    store = Store(run / "store", note=log)
    store.clean_temporaries()
    _write_json(run / "config.json", config)
    timings_path = run / "timings.json"
    timings = json.loads(timings_path.read_text()) if timings_path.is_file() else {}
    client = _connect(scheduler, scheduler_timeout)
    index, selected = {}, []
    try:
        for stage in PLANNERS:
            tasks = _plan_stage(stage, plan, store, index, only, force)
            if tasks is not None:
                selected.append((stage, tasks))
        for stage, times in _run_work(selected, store, client, progress, log, workers).items():
            if times["ran"] or stage not in timings:
                timings[stage] = times
        _write_json(timings_path, timings)
    finally:
        if client is not None:
            client.close()
    for stage in STAGES:
        if stage in PLANNERS or (only is not None and only != stage):
            continue
        started = time.perf_counter()
        if stage == "plot":
            ran = _plot(run, plan, index, force)
            detail = "figures drawn" if ran else "figures up to date"
        else:
            ran = _report(run, plan, timings, force)
            detail = "report written" if ran else "report up to date"
        seconds = time.perf_counter() - started
        if ran or stage not in timings:
            timings[stage] = {"seconds": seconds, "ran": int(ran)}
            _write_json(timings_path, timings)
        log(f"[{stage}] {detail} in {seconds:.1f} s")
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
