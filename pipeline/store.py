"""A content-keyed store of stage results, and the executor that fills it.

Every unit of work (one ensemble, one trained thermometer, one seed's transfer
models, ...) is an *entry* ``<root>/<kind>/<key>/`` whose key is a hash of the
exact configuration that produced it and of the keys it depends on. An entry
is built in a temporary folder and renamed into place only when complete, with
``_entry.json`` written last, so a run killed at any point never leaves a
partial entry that a later run would read.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ising.progress import progress_bar

__all__ = ["key_of", "Store", "Task", "run_tasks"]

MARKER = "_entry.json"


def key_of(obj) -> str:
    """A short stable hash of a JSON-serialisable object."""
    text = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Store:
    """Entries under ``root``; see the module docstring."""

    def __init__(self, root):
        self.root = Path(root)

    def path(self, kind: str, key: str) -> Path:
        return self.root / kind / key

    def has(self, kind: str, key: str) -> bool:
        return (self.path(kind, key) / MARKER).is_file()

    def meta(self, kind: str, key: str) -> dict:
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
        tmp = final.parent / f".tmp-{key}-{uuid.uuid4().hex[:8]}"
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
        """Remove temporary folders and files left by killed runs; returns how many."""
        removed = 0
        if not self.root.is_dir():
            return 0
        for kind in self.root.iterdir():
            if not kind.is_dir():
                continue
            for item in kind.iterdir():
                if item.name.startswith(".tmp-") or (item.is_dir() and not (item / MARKER).exists()):
                    shutil.rmtree(item, ignore_errors=True) if item.is_dir() else item.unlink()
                    removed += 1
        return removed


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
    if client is None and workers > 1 and len(todo) > 1:
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
    for future in as_completed(futures):
        future.result()  # re-raise a task's error here
        bar.update(1)
    bar.close()
    return len(todo)


def _call(fn: Callable, kwargs: dict):
    """Run one task on a worker (its arguments travel as one dict)."""
    return fn(**kwargs)
