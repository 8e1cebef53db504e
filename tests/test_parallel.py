"""The local worker pool: same store as a serial run, failures named, no half-written entries."""

import os
from pathlib import Path

import pytest

from pipeline.parallel import local_workers, thread_environment
from pipeline.store import Store, Task, run_graph, run_tasks, task_needs

# Worker processes import this module to find the units below: keep its imports light.


def square_entry(store_root: str, key: str, n: int) -> None:
    """A unit of work: store n**2 and the thread settings the worker saw."""

    def work(folder: Path):
        (folder / "value.txt").write_text(str(n * n))
        return {"square": n * n, "pid": os.getpid(), "intra": os.environ.get("TF_NUM_INTRAOP_THREADS")}

    Store(store_root).build("squares", key, {"n": n}, work)


def failing_entry(store_root: str, key: str, n: int) -> None:
    """A unit of work that writes a file and then fails before its entry is committed."""

    def work(folder: Path):
        (folder / "value.txt").write_text("partial")
        raise ArithmeticError(f"unit {n} cannot be computed")

    Store(store_root).build("squares", key, {"n": n}, work)


def tasks(store: Store, ns, fn=square_entry) -> list[Task]:
    return [
        Task("squares", f"k{n}", fn, {"store_root": str(store.root), "key": f"k{n}", "n": n}, label=f"n={n}")
        for n in ns
    ]


def entries(store: Store) -> dict:
    return {p.name: (p / "value.txt").read_text() for p in sorted((store.root / "squares").iterdir())}


def test_pool_builds_the_same_entries_as_the_serial_path(tmp_path):
    serial, pooled = Store(tmp_path / "serial"), Store(tmp_path / "pooled")
    assert run_tasks(serial, tasks(serial, range(6)), "squares", progress=False, workers=1) == 6
    assert run_tasks(pooled, tasks(pooled, range(6)), "squares", progress=False, workers=2) == 6
    assert entries(pooled) == entries(serial) == {f"k{n}": str(n * n) for n in range(6)}
    metas = [pooled.meta("squares", f"k{n}")["results"] for n in range(6)]
    assert {m["pid"] for m in metas} - {os.getpid()}, "the pool ran nothing outside this process"
    assert os.getpid() not in {m["pid"] for m in metas}
    assert {m["intra"] for m in metas} == {thread_environment(2)["TF_NUM_INTRAOP_THREADS"]}
    assert run_tasks(pooled, tasks(pooled, range(6)), "squares", progress=False, workers=2) == 0


def test_a_failing_unit_is_named_and_leaves_no_entry(tmp_path):
    store = Store(tmp_path / "store")
    todo = tasks(store, range(3)) + tasks(store, [7], fn=failing_entry)
    with pytest.raises(ArithmeticError, match="unit 7 cannot be computed") as info:
        run_tasks(store, todo, "squares", progress=False, workers=2)
    assert any("'n=7'" in note for note in getattr(info.value, "__notes__", []))
    assert not store.has("squares", "k7")
    assert not (store.root / "squares" / "k7").exists()
    assert not list((store.root / "squares").glob(".tmp-*"))


def sum_entry(store_root: str, key: str, parts: list) -> None:
    """A unit that reads other entries' values (paths inside them) and stores their sum."""

    def work(folder: Path):
        total = sum(int(Path(p).read_text()) for p in parts)  # fails if a part is not built yet
        (folder / "value.txt").write_text(str(total))
        return {"sum": total}

    Store(store_root).build("sums", key, {"parts": parts}, work)


def sum_task(store: Store, key: str, parts: list) -> Task:
    paths = [str(store.path(kind, k) / "value.txt") for kind, k in parts]
    return Task(
        "sums", key, sum_entry, {"store_root": str(store.root), "key": key, "parts": paths}, label=key
    )


def test_task_needs_finds_the_entries_a_unit_reads_from_its_arguments(tmp_path):
    store = Store(tmp_path / "store")
    squares = tasks(store, range(3))
    todo = [
        *squares,
        sum_task(store, "s01", [("squares", "k0"), ("squares", "k1")]),
        sum_task(store, "s2", []),
    ]
    todo.append(sum_task(store, "top", [("sums", "s01"), ("squares", "k2")]))
    assert task_needs(store, todo) == [set(), set(), set(), {0, 1}, set(), {3, 2}]


def test_graph_runs_each_unit_after_what_it_reads_and_times_the_stages(tmp_path):
    store, log = Store(tmp_path / "store"), []
    # listed dependents first: run in list order, they would read entries that do not exist yet
    stages = [
        ("top", [sum_task(store, "top", [("sums", "s01"), ("sums", "s23")])]),
        (
            "pairs",
            [
                sum_task(store, "s01", [("squares", "k0"), ("squares", "k1")]),
                sum_task(store, "s23", [("squares", "k2"), ("squares", "k3")]),
            ],
        ),
        ("squares", tasks(store, range(4))),
    ]
    times = run_graph(store, stages, workers=2, progress=False, log=log.append)
    assert (store.path("sums", "top") / "value.txt").read_text() == str(0 + 1 + 4 + 9)
    assert {s: t["ran"] for s, t in times.items()} == {"top": 1, "pairs": 2, "squares": 4}
    assert all(t["seconds"] > 0 and t["worker_seconds"] > 0 and t["cpu_seconds"] >= 0 for t in times.values())
    assert [line.split("]")[0] for line in log] == ["[squares", "[pairs", "[top"]
    again = run_graph(store, stages, workers=2, progress=False, log=log.append)
    assert all(t["ran"] == 0 for t in again.values())


def test_units_waiting_on_each_other_are_refused(tmp_path):
    from pipeline.parallel import run_pool

    store = Store(tmp_path / "store")
    calls = [(t.label, t.fn, t.kwargs) for t in tasks(store, range(2))]
    with pytest.raises(ValueError, match="wait on units that never run"):
        run_pool(calls, "cycle", 2, progress=False, needs=[[1], [0]])


def test_thread_environment_splits_the_cores_and_refuses_zero_workers():
    assert thread_environment(2, cores=2)["TF_NUM_INTRAOP_THREADS"] == "1"
    assert thread_environment(1, cores=2)["NUMBA_NUM_THREADS"] == "2"
    assert thread_environment(3, cores=2)["OMP_NUM_THREADS"] == "1"
    assert thread_environment(2, cores=8)["TF_NUM_INTEROP_THREADS"] == "1"
    with pytest.raises(ValueError, match="workers must be >= 1"):
        local_workers(0)
    assert local_workers(None) >= 1


def read_tables(folder: Path) -> dict:
    import pandas as pd

    return {p.stem: pd.read_csv(p) for p in sorted(folder.glob("*.csv"))}


@pytest.mark.slow
def test_smoke_tables_from_two_workers_match_a_serial_run(tmp_path):
    """Same tables from 1 and 2 workers: bit-identical, or float32 round-off where TF's thread count
    changes the order of a reduction (predictions from 1 intra-op thread against 2)."""
    import numpy as np

    from pipeline.config import build_config
    from pipeline.run import run_study

    config = build_config("smoke")
    runs = {}
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        run_study(config, out, progress=False, log=lambda line: None, workers=workers)
        runs[workers] = read_tables(out / "tables")
    assert runs[1].keys() == runs[2].keys()
    for name, serial in runs[1].items():
        pooled = runs[2][name]
        assert list(serial.columns) == list(pooled.columns), name
        assert serial.shape == pooled.shape, name
        for column in serial.columns:
            a, b = serial[column].to_numpy(), pooled[column].to_numpy()
            if serial[column].dtype.kind in "fi" and pooled[column].dtype.kind in "fi":
                np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6, err_msg=f"{name}.{column}")
            else:
                text = serial[column].fillna("").astype(str), pooled[column].fillna("").astype(str)
                assert (text[0] == text[1]).all(), f"{name}.{column}"


def test_later_stages_reuse_the_workers_of_earlier_ones(tmp_path):
    store = Store(tmp_path / "store")
    run_tasks(store, tasks(store, range(4)), "first", progress=False, workers=2)
    run_tasks(store, tasks(store, range(4, 8)), "second", progress=False, workers=2)
    pids = [{store.meta("squares", f"k{n}")["results"]["pid"] for n in ns} for ns in (range(4), range(4, 8))]
    assert len(pids[0] | pids[1]) <= 2, "the second stage started new workers"


def lattice_entry(store_root: str, key: str, name: str) -> None:
    """A unit of work: build a lattice by its registered name and store its number of sites."""
    from ising.lattice import make_lattice

    Store(store_root).build("lattices", key, {}, lambda folder: {"sites": make_lattice(name, 4).n_sites})


def test_workers_know_the_lattices_registered_in_the_parent(tmp_path):
    from ising.lattice import LATTICES, make_lattice

    name = make_lattice("lattice_plugin:build_ring_square", 4).name  # registered here only
    try:
        store = Store(tmp_path / "store")
        todo = [
            Task("lattices", k, lattice_entry, {"store_root": str(store.root), "key": k, "name": name})
            for k in ("a", "b")
        ]
        run_tasks(store, todo, "lattices", progress=False, workers=2)
        assert [store.meta("lattices", k)["results"]["sites"] for k in ("a", "b")] == [16, 16]
    finally:
        LATTICES.pop("ring_square", None)
        LATTICES.pop("lattice_plugin:build_ring_square", None)
