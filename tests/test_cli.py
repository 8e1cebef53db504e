import subprocess
import sys

import pytest

from ising.cli import main


def run(*args):
    return subprocess.run([sys.executable, "-m", "ising", *args], capture_output=True, text=True)


def test_sample_then_info(tmp_path, capsys):
    out = tmp_path / "e.h5"
    assert (
        main(["sample", "--L", "8", "--T", "2.5", "--n", "30", "--seed", "1", "--out", str(out), "--quiet"])
        == 0
    )
    assert out.is_file()
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "tau_int" in text and "energy per spin" in text and "±" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--L", "0", "--T", "2"], "positive integer"),
        (["--L", "7", "--T", "2"], "multiple of 2"),
        (["--L", "8", "--T", "-1"], "temperature T must be positive"),
        (["--L", "8", "--T", "2", "--lattice", "kagome"], "unknown lattice"),
        (["--L", "8", "--T", "2", "--algorithm", "heatbath"], "unknown algorithm"),
        (["--L", "8", "--T", "2", "--algorithm", "wolff", "--h", "0.1"], "zero field"),
        (["--L", "8", "--T", "2", "--n", "0"], "positive integer"),
    ],
)
def test_bad_input_is_one_line_without_output(tmp_path, capsys, args, message):
    out = tmp_path / "e.h5"
    argv = ["sample", *args, "--out", str(out), "--quiet"]
    if "--n" not in args:
        argv += ["--n", "5"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and "\n" not in err
    assert list(tmp_path.iterdir()) == []


def test_existing_output_and_bad_files(tmp_path, capsys):
    out = tmp_path / "e.h5"
    out.write_text("precious")
    assert main(["sample", "--L", "8", "--T", "2", "--n", "5", "--out", str(out)]) == 2
    assert out.read_text() == "precious"
    assert main(["info", str(out)]) == 2
    assert "unreadable or truncated" in capsys.readouterr().err
    assert main(["sample", "--L", "8", "--T", "2", "--n", "5", "--out", str(tmp_path / "no" / "e.h5")]) == 2


def test_module_entry_point_exit_status_and_bench_line(tmp_path):
    bad = run("info", str(tmp_path / "missing.h5"))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and len(bad.stderr.splitlines()) == 1
    bench = run("bench", "--L", "16", "--T", "3.0", "--sweeps", "50")
    assert bench.returncode == 0 and "flips_per_ns=" in bench.stdout


@pytest.mark.parametrize(
    ("algorithm", "T", "shown", "units", "absent"),
    [
        ("metropolis", 2.269185, "algorithm=metropolis ", ["flips_per_ns="], "clusters_per_s"),
        (
            "auto",
            2.269185,
            "algorithm=wolff (chosen by auto)",
            ["flipped_spins_per_ns=", "clusters_per_s="],
            " flips_per_ns",
        ),
        ("auto", 3.5, "algorithm=metropolis (chosen by auto)", ["flips_per_ns="], "clusters_per_s"),
    ],
)
def test_bench_names_the_algorithm_and_its_units(capsys, algorithm, T, shown, units, absent):
    argv = ["bench", "--L", "16", "--T", str(T), "--sweeps", "20", "--repeats", "1", "--algorithm", algorithm]
    assert main(argv) == 0
    line = capsys.readouterr().out.strip()
    assert shown in line and absent not in line
    for unit in units:
        value = float(line.split(unit)[1].split()[0])
        assert value > 0
