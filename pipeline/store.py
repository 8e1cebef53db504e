"""A content-keyed store of stage results, and the executor that fills it.

Every unit of work (one ensemble, one trained thermometer, one seed's transfer
models, ...) is an *entry* ``<root>/<kind>/<key>/`` whose key is a hash of the
exact configuration that produced it and of the keys it depends on. An entry
is built in a temporary folder and renamed into place only when complete, with
``_entry.json`` written last, so a run killed at any point never leaves a
partial entry that a later run would read.

The marker records the size and SHA-256 of every file of the entry. The first
time a process asks for an entry (:meth:`Store.has`) the files are hashed and
compared with the marker; a missing, truncated or altered file, or a marker
that cannot be read, makes the entry be removed with a one-line note naming it,
so that it is built again. Temporary folders carry the host and process id of
their builder and are removed only when that process is no longer alive.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ising.progress import progress_bar

__all__ = ["key_of", "file_digest", "folder_files", "Store", "Task", "run_tasks", "task_needs", "run_graph"]

MARKER = "_entry.json"

#: Temporary folders of builders on other hosts, whose liveness cannot be checked, are
#: removed only once they are this many seconds old.
FOREIGN_TMP_AGE = 86400.0


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, hex."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def folder_files(folder: Path) -> dict:
    """{relative path: {"size", "sha256"}} of every file under ``folder`` except the marker."""
    files = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != MARKER:
            rel = path.relative_to(folder).as_posix()
            files[rel] = {"size": path.stat().st_size, "sha256": file_digest(path)}
    return files


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def key_of(obj) -> str:
    """A short stable hash of a JSON-serialisable object."""
    text = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Store:
    """Entries under ``root``; see the module docstring."""

    def __init__(self, root, note=None):
        self.root = Path(root)
        self.note = note or (lambda line: print(line, file=sys.stderr))
        self._verified = {}

    def path(self, kind: str, key: str) -> Path:
        return self.root / kind / key

    def problem(self, kind: str, key: str) -> str | None:
        """Why the complete entry ``(kind, key)`` cannot be trusted, or None if its files match its marker."""
        folder = self.path(kind, key)
        try:
            marker = json.loads((folder / MARKER).read_text())
        except (OSError, UnicodeDecodeError, ValueError) as err:
            return f"its marker {MARKER} is unreadable ({type(err).__name__})"
        files = marker.get("files") if isinstance(marker, dict) else None
        if not isinstance(files, dict):
            return f"its marker {MARKER} records no file digests"
        for rel, want in files.items():
            path = folder / rel
            if not path.is_file():
                return f"{rel} is missing"
            if path.stat().st_size != want.get("size"):
                return f"{rel} has {path.stat().st_size} bytes, not {want.get('size')}"
            if file_digest(path) != want.get("sha256"):
                return f"{rel} does not match its SHA-256"
        return None

    def has(self, kind: str, key: str) -> bool:
        """Whether the entry exists with files matching its marker; a damaged one is removed, with a note."""
        folder = self.path(kind, key)
        marker = folder / MARKER
        try:
            stat = marker.stat()
        except OSError:
            return False
        stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if self._verified.get(folder) == stamp:
            return True
        problem = self.problem(kind, key)
        if problem is None:
            self._verified[folder] = stamp
            return True
        self.note(f"note: rebuilding store entry {folder}: {problem}")
        shutil.rmtree(folder, ignore_errors=True)
        return False

    def meta(self, kind: str, key: str) -> dict:
        if not self.has(kind, key):
            raise ValueError(f"store entry {self.path(kind, key)} is missing or damaged; rerun the study")
        return json.loads((self.path(kind, key) / MARKER).read_text())

    def build(self, kind: str, key: str, spec: dict, fn: Callable[[Path], dict | None]) -> Path:
        """Run ``fn(tmp_folder)`` unless the entry exists; commit the folder atomically.

        ``fn`` writes its files into the folder and may return a dict of small
        results, stored in the entry's marker with ``spec`` and the run time.
        """
        final = self.path(kind, key)
        if self.has(kind, key):
            return final
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.parent / f".tmp-{key}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            started = time.perf_counter()
            results = fn(tmp) or {}
            marker = {
                "kind": kind,
                "key": key,
                "spec": spec,
                "results": results,
                "seconds": time.perf_counter() - started,
                "files": folder_files(tmp),
            }
            (tmp / MARKER).write_text(json.dumps(marker, indent=1, sort_keys=True, default=str))
            if final.exists():  # an incomplete entry from an older run, or a concurrent twin
                if self.has(kind, key):
                    return final
                shutil.rmtree(final)
            os.replace(tmp, final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return final

    def clean_temporaries(self) -> int:
        """Remove temporary folders whose builder is dead, and entries without a marker; returns how many.

        An entry folder is renamed into place with its marker, so one without it
        was damaged: it is removed with a note and rebuilt when its stage runs.

        A temporary ``.tmp-<key>-<host>-<pid>-<id>`` is kept while process ``pid``
        on this host is alive; one from another host is kept until it is
        :data:`FOREIGN_TMP_AGE` seconds old.
        """
        removed = 0
        if not self.root.is_dir():
            return 0
        for kind in self.root.iterdir():
            if not kind.is_dir():
                continue
            for item in kind.iterdir():
                if item.name.startswith(".tmp-"):
                    if self._owner_alive(item):
                        continue
                elif not item.is_dir() or (item / MARKER).exists():
                    continue
                else:  # entries are committed with their marker, so a missing one means damage
                    self.note(f"note: rebuilding store entry {item}: its marker {MARKER} is missing")
                shutil.rmtree(item, ignore_errors=True) if item.is_dir() else item.unlink(missing_ok=True)
                removed += 1
        return removed

    @staticmethod
    def _owner_alive(item: Path) -> bool:
        parts = item.name.split("-")
        if len(parts) < 5 or not parts[-2].isdigit():
            return False
        host, pid = "-".join(parts[2:-2]), int(parts[-2])
        if host == socket.gethostname():
            return _alive(pid)
        try:
            return time.time() - item.stat().st_mtime < FOREIGN_TMP_AGE
        except OSError:
            return False


@dataclass
class Task:
    """One unit of work: ``fn(**kwargs)`` builds the entry ``(kind, key)``."""

    kind: str
    key: str
    fn: Callable
    kwargs: dict = field(default_factory=dict)
    label: str = ""


def run_tasks(
    store: Store, tasks: Sequence[Task], desc: str, client=None, progress: bool = True, workers: int = 1
) -> int:
    """Run the tasks whose entries are missing, locally or on a Dask client; returns how many ran.

    Tasks must be independent of each other. Each writes its own entry, so
    local and distributed runs leave identical stores. Without a client,
    ``workers > 1`` runs them on a local pool of that many processes
    (:func:`pipeline.parallel.run_pool`); ``workers = 1`` runs them one after
    another in this process.
    """
    todo = [t for t in tasks if not store.has(t.kind, t.key)]
    if not todo:
        return 0
    # Even a single unit goes to the pool when workers > 1: its threads per process (and so
    # TensorFlow's order of summation) are then those of a run from nothing, and so are its results.
    if client is None and workers > 1:
        from .parallel import run_pool

        run_pool([(t.label or f"{t.kind}-{t.key}", t.fn, t.kwargs) for t in todo], desc, workers, progress)
        return len(todo)
    if client is None:
        bar = progress_bar(len(todo), desc, progress, unit="task")
        for task in todo:
            task.fn(**task.kwargs)
            bar.update(1)
        bar.close()
        return len(todo)
    from distributed import as_completed

    futures = [client.submit(_call, t.fn, t.kwargs, pure=False, key=f"{t.kind}-{t.key}") for t in todo]
    bar = progress_bar(len(futures), f"{desc} (dask)", progress, unit="task")
    for future in as_completed(futures, loop=client.loop):  # the client is not the default one
        future.result()  # re-raise a task's error here
        bar.update(1)
    bar.close()
    return len(todo)


def _strings(value):
    """Every string inside nested dicts, lists and tuples."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


def task_needs(store: Store, tasks: Sequence[Task]) -> list[set[int]]:
    """For each task, the indices of the tasks in ``tasks`` whose entries it reads.

    A task reads an entry when one of its arguments is a path inside the
    entry's folder (``<root>/<kind>/<key>``): the planners hand every unit the
    paths of what it reads, and nothing else of the store.
    """
    root = str(store.root) + os.sep
    owner = {(t.kind, t.key): i for i, t in enumerate(tasks)}
    needs = []
    for i, task in enumerate(tasks):
        found = set()
        for text in _strings(task.kwargs):
            if text.startswith(root):
                parts = text[len(root) :].split(os.sep)
                j = owner.get(tuple(parts[:2])) if len(parts) >= 2 else None
                if j is not None and j != i:
                    found.add(j)
        needs.append(found)
    return needs


def run_graph(
    store: Store,
    stages: Sequence[tuple[str, Sequence[Task]]],
    workers: int,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, dict]:
    """Run the missing units of several stages on a local pool, each as soon as what it reads exists.

    The stages' units form one graph (:func:`task_needs`): a thermometer
    starts when its ensembles are sampled, not when every ensemble is, and
    units of independent stages fill the workers that would otherwise wait.
    Of the units ready to start, those with the most units depending on them
    (directly or not) go first, then earlier stages. Every unit is the same
    call as in :func:`run_tasks`, so the store ends up the same.

    Returns ``{stage: {"ran", "seconds", "worker_seconds", "cpu_seconds"}}``:
    units run, wall time from the stage's first unit starting to its last one
    ending (stages overlap, so these do not add up to the run's time), the sum
    of its units' wall times and of the CPU time their workers spent on them.
    Each stage is logged as its last unit finishes.
    """
    from .parallel import run_pool

    todo, stage_of = [], []
    for s, (_stage, tasks) in enumerate(stages):
        missing = [t for t in tasks if not store.has(t.kind, t.key)]
        todo += missing
        stage_of += [s] * len(missing)
    needs = task_needs(store, todo)
    dependents = [set() for _ in todo]
    for i, need in enumerate(needs):
        for j in need:
            dependents[j].add(i)
    below: dict[int, set[int]] = {}

    def descendants(i: int) -> set[int]:
        if i not in below:
            below[i] = set().union(*({j} | descendants(j) for j in dependents[i]))
        return below[i]

    for i in range(len(todo)):
        descendants(i)
    order = sorted(range(len(todo)), key=lambda i: (-len(below[i]), stage_of[i], i))
    position = {i: k for k, i in enumerate(order)}
    calls = [(todo[i].label or f"{todo[i].kind}-{todo[i].key}", todo[i].fn, todo[i].kwargs) for i in order]
    totals = [len(tasks) for _, tasks in stages]
    left = [stage_of.count(s) for s in range(len(stages))]
    spans: list[list[float]] = [[] for _ in stages]
    result = {
        stage: {"ran": 0, "seconds": 0.0, "worker_seconds": 0.0, "cpu_seconds": 0.0} for stage, _ in stages
    }
    for s, (stage, _) in enumerate(stages):
        if not left[s]:
            log(f"[{stage}] 0 of {totals[s]} units run")

    def done(k: int, start: float, end: float, cpu: float) -> None:
        s = stage_of[order[k]]
        stage = stages[s][0]
        entry = result[stage]
        entry["ran"] += 1
        entry["worker_seconds"] += end - start
        entry["cpu_seconds"] += cpu
        spans[s] += [start, end]
        entry["seconds"] = max(spans[s]) - min(spans[s])
        left[s] -= 1
        if not left[s]:
            log(
                f"[{stage}] {entry['ran']} of {totals[s]} units run in {entry['seconds']:.1f} s "
                f"({entry['worker_seconds']:.1f} s of worker time, {entry['cpu_seconds']:.1f} s of CPU)"
            )

    if calls:
        ordered_needs = [{position[j] for j in needs[i]} for i in order]
        run_pool(calls, "units", workers, progress, needs=ordered_needs, on_done=done)
    return result


def _call(fn: Callable, kwargs: dict):
    """Run one task on a worker (its arguments travel as one dict)."""
    return fn(**kwargs)
