"""A local pool of worker processes for the study's independent units of work.

Each worker is a fresh interpreter (``spawn``: TensorFlow and Numba's thread
pools are not safe to fork) whose math libraries are limited, before any of
them is imported, to ``cores // workers`` threads: TensorFlow's intra-op pool
(``TF_NUM_INTRAOP_THREADS``, inter-op 1), Numba (``NUMBA_NUM_THREADS``) and
OpenMP/BLAS (``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS``).
``workers`` units then keep ``workers`` cores busy without oversubscribing
them. Units write their own store entries atomically (``Store.build``), so a
unit that fails or a worker that dies leaves no entry behind, only a temporary
folder that the next run removes.

The pool outlives one call: the stages of a run (and the runs of one process)
share it, so each worker pays for starting an interpreter and importing
TensorFlow once, not once per stage. It is shut down at exit, after a worker
dies, or on an interrupt.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Callable, Sequence

from ising.progress import progress_bar

__all__ = ["default_workers", "local_workers", "thread_environment", "run_pool", "shutdown_pool"]

#: Environment variables that size the thread pools of the libraries a unit uses.
THREAD_VARIABLES = (
    "TF_NUM_INTRAOP_THREADS",
    "NUMBA_NUM_THREADS",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
)


def default_workers() -> int:
    """Worker processes when none are asked for: one per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # platforms without sched_getaffinity
        return max(1, os.cpu_count() or 1)


def local_workers(workers: int | None) -> int:
    """The number of local worker processes to use: ``workers``, or one per core when None."""
    if workers is None:
        return default_workers()
    if workers < 1:
        raise ValueError(f"workers must be >= 1 (1 runs units one after another), got {workers}")
    return workers


def thread_environment(workers: int, cores: int | None = None) -> dict[str, str]:
    """Environment variables giving each of ``workers`` processes ``max(1, cores // workers)`` threads.

    Also lets TensorFlow allocate GPU memory as it needs it, so workers can share a GPU.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    threads = max(1, (cores or default_workers()) // workers)
    env = {name: str(threads) for name in THREAD_VARIABLES}
    env["TF_NUM_INTEROP_THREADS"] = "1"
    # On a machine with a GPU, TensorFlow in each worker would otherwise reserve all its memory.
    env["TF_FORCE_GPU_ALLOW_GROWTH"] = "true"
    return env


def lattice_registry() -> tuple[tuple[str, str], ...]:
    """This process's registered lattices as ``(name, "module:builder")`` for module-level builders.

    A lattice imported from a user's module (``--lattice module:builder``) is
    registered in the process that read the configuration; workers replay
    these registrations so that they rebuild the same lattices.
    """
    from ising.lattice import LATTICES

    return tuple(
        sorted(
            (name, f"{builder.__module__}:{builder.__qualname__}")
            for name, builder in LATTICES.items()
            if "<" not in getattr(builder, "__qualname__", "<")
        )
    )


def _init_worker(env: dict[str, str], registry: tuple[tuple[str, str], ...]) -> None:
    """Worker initializer: size the thread pools before TensorFlow or Numba is imported, and
    register the lattices the parent process knows."""
    import importlib

    os.environ.update(env)
    from ising.lattice import LATTICES, register_lattice

    for name, path in registry:
        if name not in LATTICES:
            module, _, qualname = path.partition(":")
            builder = importlib.import_module(module)
            for attr in qualname.split("."):
                builder = getattr(builder, attr)
            register_lattice(name, builder)


def _call(fn: Callable, kwargs: dict) -> float:
    """Run one unit in a worker; returns the CPU seconds the worker spent on it (all its threads)."""
    import time

    started = time.process_time()
    fn(**kwargs)
    return time.process_time() - started


#: The open pool and its (workers, lattice registry), reused by later calls with the same ones.
_POOL: dict = {}


def _pool(workers: int):
    """The shared pool of ``workers`` processes, started on first use."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    identity = (workers, lattice_registry())
    if _POOL.get("identity") != identity:
        shutdown_pool()
        _POOL["executor"] = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=get_context("spawn"),
            initializer=_init_worker,
            initargs=(thread_environment(workers), identity[1]),
        )
        _POOL["identity"] = identity
    return _POOL["executor"]


def shutdown_pool() -> None:
    """Stop the shared pool's workers (a later call starts a new pool)."""
    executor = _POOL.pop("executor", None)
    _POOL.pop("identity", None)
    if executor is not None:
        executor.shutdown(wait=True, cancel_futures=True)


atexit.register(shutdown_pool)


def run_pool(
    calls: Sequence[tuple[str, Callable, dict]],
    desc: str,
    workers: int,
    progress: bool = True,
    needs: Sequence[Sequence[int]] | None = None,
    on_done: Callable[[int, float, float, float], None] | None = None,
) -> list[tuple[float, float]]:
    """Run ``fn(**kwargs)`` for every ``(label, fn, kwargs)`` in ``calls`` on ``workers`` processes.

    ``fn`` must be a module-level function and ``kwargs`` picklable. At most
    ``workers`` calls are in flight; ``needs[i]`` lists the indices of the
    calls that must have finished before call ``i`` starts, and of the calls
    that are ready, the one earliest in ``calls`` starts first (so the caller
    orders them by priority). The first failure cancels the calls not yet
    started, waits for the running ones and is re-raised with its unit's
    label added as a note (``"<desc> unit '<label>' failed"``). The pool
    stays open for the next call with as many ``workers`` and the same
    registered lattices (see the module docstring).

    Returns ``(start, end)`` of every call (``time.perf_counter`` of this
    process at submission and at completion); ``on_done(i, start, end, cpu)``
    is called as each call finishes, with ``cpu`` the CPU seconds its worker
    spent on it.
    """
    import time
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures.process import BrokenProcessPool

    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    needs = [set(n) for n in needs] if needs is not None else [set() for _ in calls]
    if len(needs) != len(calls):
        raise ValueError(f"needs has {len(needs)} entries for {len(calls)} calls")
    pool = _pool(workers)
    bar = progress_bar(len(calls), f"{desc} ({workers} workers)", progress, unit="task")
    waiting, running, finished = list(range(len(calls))), {}, set()
    times: list[tuple[float, float]] = [(0.0, 0.0)] * len(calls)
    try:
        while waiting or running:
            while len(running) < workers:
                ready = next((i for i in waiting if needs[i] <= finished), None)
                if ready is None:
                    break
                waiting.remove(ready)
                label, fn, kwargs = calls[ready]
                running[pool.submit(_call, fn, kwargs)] = (ready, time.perf_counter())
            if not running:
                raise ValueError(f"{desc}: units {waiting[:3]} wait on units that never run (a cycle)")
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                index, start = running.pop(future)
                err = future.exception()
                if err is not None:
                    err.add_note(f"{desc} unit {calls[index][0]!r} failed")
                    raise err
                times[index] = (start, time.perf_counter())
                finished.add(index)
                bar.update(1)
                if on_done is not None:
                    on_done(index, *times[index], future.result())
    except BaseException as err:
        for future in running:
            future.cancel()
        wait(running)
        if isinstance(err, BrokenProcessPool):
            err.add_note(
                "a worker process died: out of memory, killed, or started from a script that runs "
                "the study at import time (spawned workers import the main module; guard it with "
                "`if __name__ == '__main__':`, or pass workers=1)"
            )
        if isinstance(err, (BrokenProcessPool, KeyboardInterrupt)):
            shutdown_pool()
        raise
    finally:
        bar.close()
    return times
