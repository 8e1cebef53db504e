"""Nothing silently wrong: verified store entries, one run per folder, a bounded Dask
connection, valid samples at any temperature, a configuration schema and CLI refusals."""

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ising.cli import main as ising_main
from ising.lattice import square
from ising.sampling import MarkovChain, sample_ensemble
from pipeline.config import build_config
from pipeline.run import _connect, _lock_run, run_study
from pipeline.store import MARKER, Store

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- store
def _entry(store, notes, payload=b"a,b\n1,2\n"):
    def work(folder):
        (folder / "table.csv").write_bytes(payload)
        return {"rows": 1}

    return store.build("measure", "k1", {"x": 1}, work)


@pytest.mark.parametrize("damage", ["truncate", "zero", "delete", "marker"])
def test_a_damaged_entry_is_noted_and_rebuilt(tmp_path, damage):
    notes = []
    store = Store(tmp_path, note=notes.append)
    folder = _entry(store, notes)
    assert Store(tmp_path, note=notes.append).has("measure", "k1") and not notes
    target = folder / ("table.csv" if damage != "marker" else MARKER)
    if damage == "truncate":
        target.write_bytes(target.read_bytes()[:-3])
    elif damage == "zero":
        target.write_bytes(bytes(target.stat().st_size))
    elif damage == "delete":
        target.unlink()
    else:
        target.write_text(target.read_text()[:20])
    fresh = Store(tmp_path, note=notes.append)
    assert not fresh.has("measure", "k1")
    assert len(notes) == 1 and str(folder) in notes[0] and "\n" not in notes[0]
    _entry(fresh, notes)
    assert (folder / "table.csv").read_bytes() == b"a,b\n1,2\n" and fresh.has("measure", "k1")


def test_temporaries_of_a_live_builder_are_kept(tmp_path):
    store = Store(tmp_path)
    kind = tmp_path / "measure"
    kind.mkdir()
    host = socket.gethostname()
    live = kind / f".tmp-abc-{host}-{os.getpid()}-1234abcd"
    dead_proc = subprocess.Popen([sys.executable, "-c", "pass"])
    dead_proc.wait()
    dead = kind / f".tmp-abd-{host}-{dead_proc.pid}-1234abcd"
    live.mkdir()
    dead.mkdir()
    assert store.clean_temporaries() == 1
    assert live.is_dir() and not dead.exists()


# --------------------------------------------------------------------------- one run per folder
def test_a_second_run_on_a_locked_folder_is_refused_at_once(tmp_path):
    lock = _lock_run(tmp_path)
    try:
        started = time.perf_counter()
        code = subprocess.run(
            [sys.executable, "run_all.py", "--profile", "smoke", "--out", str(tmp_path), "--quiet"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert code.returncode == 2
        line = code.stderr.strip().splitlines()[-1]
        assert str(tmp_path) in line and str(os.getpid()) in line
        assert time.perf_counter() - started < 60
        assert not (tmp_path / "store").exists()
    finally:
        lock.close()


# --------------------------------------------------------------------------- dask
def _listener(respond: bytes | None):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    conns = []

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conns.append(conn)
            if respond is not None:
                try:
                    conn.recv(4096)
                    conn.sendall(respond)
                except OSError:
                    pass

    threading.Thread(target=serve, daemon=True).start()
    return server, conns


@pytest.mark.parametrize(
    "respond", [None, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello" * 20]
)
def test_a_scheduler_address_that_does_not_speak_dask_fails_in_one_line(respond):
    server, conns = _listener(respond)
    try:
        started = time.perf_counter()
        with pytest.raises(ValueError) as err:
            _connect(f"tcp://127.0.0.1:{server.getsockname()[1]}", timeout=3.0)
        assert time.perf_counter() - started < 15
        assert "\n" not in str(err.value) and "127.0.0.1" in str(err.value)
    finally:
        server.close()
        for conn in conns:
            conn.close()


# --------------------------------------------------------------------------- temperature
def test_samples_at_very_high_temperature_differ_and_have_zero_energy():
    ens = sample_ensemble(square(8), 1e5, 200, seed=3)
    rows = {row.tobytes() for row in ens.spins.reshape(ens.n, -1)}
    assert len(rows) == ens.n
    e = ens.energy / 64
    # infinite temperature: <E>/N = 0 with variance z/2 / N = 2 / 64 per configuration
    assert abs(e.mean()) < 4 * np.sqrt(2 / 64 / ens.n)
    assert e.var() == pytest.approx(2 / 64, rel=0.3)


def test_explicit_metropolis_is_refused_where_it_is_near_deterministic():
    with pytest.raises(ValueError, match="near-deterministic"):
        MarkovChain(square(8), 1e5, algorithm="metropolis")
    with pytest.raises(ValueError, match="near-deterministic"):
        MarkovChain(square(8), 1e5, h=0.1)
    assert MarkovChain(square(8), 50.0, algorithm="metropolis").algorithm_ == "metropolis"


# --------------------------------------------------------------------------- configuration schema
@pytest.mark.parametrize(
    "text, key",
    [
        ('J = "abc"', "J"),
        ('h = "x"', "h"),
        ("h = nan", "h"),
        ("temperatures = 5", "temperatures"),
        ('temperatures = {step = "x"}', "temperatures.step"),
        ('min_coarse_L = "x"', "min_coarse_L"),
        ("thermometer = {epochs = -1}", "thermometer.epochs"),
        ("thermometer = {learning_rate = -1}", "thermometer.learning_rate"),
        ("thermometer = {batch_size = 0}", "thermometer.batch_size"),
        ("thermometer = {architectures = []}", "thermometer.architectures"),
        ('analysis = {matrix_temperatures = ["x"]}', "matrix_temperatures"),
        ('sampling = {algorithm = "foo"}', "algorithm"),
        ("temperatures = {values = []}", "temperatures.values"),
        ("transfer = {rules = []}", "transfer.rules"),
        ('analysis = {flow_thermometer = "foo"}', "flow_thermometer"),
        ('profile = "paper"', "profile"),
    ],
)
def test_bad_configuration_is_refused_in_one_line_naming_key_and_file(tmp_path, text, key):
    path = tmp_path / "study.toml"
    path.write_text(text + "\n")
    out = tmp_path / "run"
    with pytest.raises(ValueError) as err:
        build_config("smoke", path)
    message = str(err.value)
    assert key in message and "\n" not in message
    if key != "algorithm" and "matrix" not in key and "flow" not in key:
        assert str(path) in message
    assert not out.exists()


def test_the_default_profiles_pass_the_schema():
    for profile in ("smoke", "quick", "paper"):
        build_config(profile)


# --------------------------------------------------------------------------- CLI
def _malformed(path: Path, how: str):
    import h5py

    from ising.io import save_ensemble

    save_ensemble(path, sample_ensemble(square(4), 2.5, 5, seed=0, progress=False))
    with h5py.File(path, "r+") as f:
        if how == "spins group":
            del f["spins"]
            f.create_group("spins")
        elif how == "string energy":
            del f["energy"]
            f["energy"] = np.array([b"a"] * 5)
        elif how == "complex energy":
            del f["energy"]
            f["energy"] = np.ones(5, dtype=complex)
        elif how == "scalar shape":
            f.attrs["shape"] = 5
        elif how == "zero rows":
            for key, dtype in (("spins", np.int8), ("energy", float), ("magnetization", float)):
                shape = f[key].shape
                del f[key]
                f[key] = np.zeros((0, *shape[1:]), dtype=dtype)


MALFORMED = ["spins group", "string energy", "complex energy", "scalar shape", "zero rows"]


@pytest.mark.parametrize("how", MALFORMED)
def test_info_refuses_malformed_files_in_one_line(tmp_path, capsys, how):
    path = tmp_path / "bad.h5"
    _malformed(path, how)
    assert ising_main(["info", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err


@pytest.mark.parametrize(
    "argv",
    [
        ["--seed", str(2**64)],
        ["--seed", "-1"],
        ["--L", "abc"],
        ["--n", str(10**12)],
    ],
)
def test_sample_refuses_bad_arguments_up_front_in_one_line(tmp_path, capsys, argv):
    base = {"--L": "8", "--n": "5", "--T": "2.0", "--out": str(tmp_path / "a.h5"), "--seed": "0"}
    for flag, value in zip(argv[::2], argv[1::2], strict=True):
        base[flag] = value
    args = ["sample", "--quiet"] + [x for kv in base.items() for x in kv]
    started = time.perf_counter()
    try:
        code = ising_main(args)
    except SystemExit as exit_:
        code = exit_.code
    assert code == 2 and time.perf_counter() - started < 5
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert not (tmp_path / "a.h5").exists()


def test_sample_out_with_trailing_slash_is_a_folder(tmp_path):
    folder = tmp_path / "new"
    assert ising_main(["sample", "--L", "4", "--n", "3", "--T", "2.5", "--quiet", "--out", f"{folder}/"]) == 0
    assert folder.is_dir() and len(list(folder.glob("*.h5"))) == 1


# --------------------------------------------------------------------------- the study, damaged and rerun
KINDS = {"csv": "measure", "h5": "ensembles", "keras": "thermometers", "json": "transfer"}


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("robust") / "smoke"
    config = build_config("smoke")
    run_study(config, out, progress=False, log=lambda line: None)
    tables = {p.name: p.read_bytes() for p in sorted((out / "tables").glob("*.csv"))}
    return out, config, tables


@pytest.mark.slow
@pytest.mark.parametrize("ext", ["csv", "h5", "keras", "json"])
@pytest.mark.parametrize("damage", ["truncate", "zero", "delete"])
def test_a_damaged_stored_file_is_rebuilt_and_the_tables_come_out_identical(smoke_run, ext, damage):
    out, config, tables = smoke_run
    folder = next(p for p in sorted((out / "store" / KINDS[ext]).iterdir()) if not p.name.startswith("."))
    target = next(p for p in sorted(folder.rglob(f"*.{ext}")) if ext != "json" or p.name == MARKER)
    if damage == "truncate":
        target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])
    elif damage == "zero":
        target.write_bytes(bytes(target.stat().st_size))
    else:
        target.unlink()
    lines = []
    run_study(config, out, progress=False, log=lines.append)
    notes = [line for line in lines if line.startswith("note: rebuilding")]
    assert notes and str(folder) in notes[0]
    assert {p.name: p.read_bytes() for p in sorted((out / "tables").glob("*.csv"))} == tables
    models = out / "models"
    for model in models.glob("*.keras"):
        assert model.stat().st_size > 0 and model.read_bytes()[:2] == b"PK"
    assert pd.read_csv(out / "tables" / "correlations.csv").shape[0] > 0
    assert json.loads((folder / MARKER).read_text())["files"]
