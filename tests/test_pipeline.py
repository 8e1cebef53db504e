"""The study run end to end on the smoke profile, its cache, and its refusals."""

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.collect import epochs_to_fraction
from pipeline.config import BASE, build_config, temperature_grid
from pipeline.run import run_study
from pipeline.stages import THERMOMETER_SETTINGS, TRANSFER_TABLE_SETTINGS
from pipeline.store import Store
from run_all import main as run_all_main

ROOT = Path(__file__).resolve().parents[1]


def quiet_run(config, out, **kwargs):
    lines = []
    run_study(config, out, progress=False, log=lines.append, **kwargs)
    return lines


def training_curve(histories: pd.DataFrame, row) -> pd.DataFrame:
    """The validation-loss rows of one model and seed (a row of transfer_metrics), by epoch."""
    curve = histories[(histories["model"] == row.model) & (histories["seed"] == row.seed)]
    return curve[curve["split"] == "val"].sort_values("epoch")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "smoke"
    config = build_config("smoke")
    started = time.perf_counter()
    lines = quiet_run(config, out)
    return {"out": out, "config": config, "lines": lines, "seconds": time.perf_counter() - started}


def test_smoke_study_leaves_a_complete_run_folder(smoke):
    out = smoke["out"]
    for name in ("report.md", "metrics.json", "config.json", "study.json"):
        assert (out / name).is_file(), name
    for fig in (
        "correlation_matrices",
        "correlation_length",
        "entropy",
        "sparsity",
        "receptive_fields",
        "rg_flow",
        "thermometer_predictions",
        "training_curves",
        "correlation_function",
    ):
        assert (out / "figures" / f"{fig}.png").stat().st_size > 1000
        assert (out / "figures" / f"{fig}.pdf").is_file()
    assert len(list((out / "models").glob("*.keras"))) >= 10
    assert json.loads((out / "config.json").read_text()) == smoke["config"]
    report = (out / "report.md").read_text()
    for claim in ("C1", "C2", "C3", "C4", "C5"):
        assert f"| {claim} |" in report
    metrics = json.loads((out / "metrics.json").read_text())
    assert {c["verdict"] for c in metrics["claims"].values()} <= {
        "reproduced",
        "not reproduced",
        "inconclusive",
    }


def test_predictions_table_has_every_test_configuration(smoke):
    df = pd.read_csv(smoke["out"] / "tables" / "thermometer_predictions.csv")
    assert {"model", "lattice", "L", "T", "beta", "beta_pred", "energy", "seed"} <= set(df.columns)
    cfg = smoke["config"]
    n_expected = len(temperature_grid(cfg)) * cfg["sampling"]["n_test"] * cfg["seeds"]
    for model in ("dense", "conv"):
        assert (df["model"] == model).sum() == n_expected
    assert (df["L"] == cfg["L"]).all()
    assert df["beta"].round(10).eq((1 / df["T"]).round(10)).all()
    # energies are the configurations' totals: |E| <= 2N on the square lattice
    assert (df["energy"].abs() <= 2 * cfg["L"] ** 2).all()


def test_rerun_does_no_work_and_only_plot_redraws(smoke):
    lines = quiet_run(smoke["config"], smoke["out"])
    for stage in ("sample", "thermometers", "transfer", "measure"):
        assert any(line.startswith(f"[{stage}] 0 of") for line in lines), lines
    assert any("figures up to date" in line for line in lines)
    assert any("report up to date" in line for line in lines)
    before = (smoke["out"] / "figures" / "entropy.png").stat().st_mtime
    lines = quiet_run(smoke["config"], smoke["out"], only="plot", force=True)
    assert lines == [lines[0]] and "figures drawn" in lines[0]
    assert (smoke["out"] / "figures" / "entropy.png").stat().st_mtime > before


def test_changed_parameter_redoes_only_what_depends_on_it(smoke, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(smoke["out"], out)

    def rerun(**overrides):
        lines = quiet_run(build_config("smoke", **overrides), out)
        return {line.split("]")[0][1:]: line for line in lines}

    # A conv-only setting retrains the conv thermometers (2 levels x 2 seeds) and the RG flow
    # that reads them, not the dense ones nor the transfer models built from them; C5's fraction
    # is read by the tables only and retrains nothing.
    ran = rerun(thermometer={"conv_filters": 4}, transfer={"convergence_fraction": 0.5})
    assert ran["sample"].startswith("[sample] 0 of")
    assert ran["thermometers"].startswith("[thermometers] 4 of 6")
    assert ran["transfer"].startswith("[transfer] 0 of 2")
    assert ran["measure"].startswith("[measure] 2 of 2")
    histories = pd.read_csv(out / "tables" / "training_histories.csv")
    metrics = pd.read_csv(out / "tables" / "transfer_metrics.csv")
    for row in metrics.itertuples():
        curve = training_curve(histories, row)
        assert row.epochs_to_convergence == epochs_to_fraction(curve["epoch"], curve["loss"], 0.5)
    assert "50% of the validation-loss decrease" in (out / "report.md").read_text()

    ran = rerun(transfer={"epochs": 5})
    assert ran["sample"].startswith("[sample] 0 of")
    assert ran["thermometers"].startswith("[thermometers] 0 of")
    assert ran["transfer"].startswith("[transfer] 2 of 2")
    assert ran["measure"].startswith("[measure] 2 of 2")


def test_thermometer_keys_cover_every_setting():
    """Each thermometer setting is in the key of the architectures that read it, or plans the stage."""
    planning = {"architectures", "dense_levels"}
    used = set().union(*THERMOMETER_SETTINGS.values())
    assert set(BASE["thermometer"]) == used | planning
    assert set(TRANSFER_TABLE_SETTINGS) < set(BASE["transfer"])


def test_transfer_histories_start_from_the_untrained_loss(smoke):
    """Epoch 0 of every training curve is the untrained model; C5 counts the decrease from it."""
    histories = pd.read_csv(smoke["out"] / "tables" / "training_histories.csv")
    metrics = pd.read_csv(smoke["out"] / "tables" / "transfer_metrics.csv")
    fraction = smoke["config"]["transfer"]["convergence_fraction"]
    assert len(metrics) > 0
    for row in metrics.itertuples():
        curve = training_curve(histories, row)
        assert curve["epoch"].iloc[0] == 0 and row.epochs_run == curve["epoch"].iloc[-1]
        assert row.initial_loss == curve["loss"].iloc[0]
        assert row.epochs_to_convergence == epochs_to_fraction(curve["epoch"], curve["loss"], fraction)


def test_epochs_to_fraction_counts_from_the_first_entry():
    # 90 % of the decrease 1.0 -> 0.1 is a loss of 0.19, reached at 0.81 / 0.82 of epoch 1 on
    # the interpolated curve; counted from the first epoch's loss (0.18) instead, the target
    # 0.108 is reached only between epochs 2 and 3.
    epoch, loss = [0, 1, 2, 3], [1.0, 0.18, 0.15, 0.1]
    assert epochs_to_fraction(epoch, loss, 0.9) == pytest.approx(0.81 / 0.82)
    assert epochs_to_fraction(epoch[1:], loss[1:], 0.9) == pytest.approx(2.84)
    assert epochs_to_fraction(epoch, loss, 1.0) == pytest.approx(3.0)
    assert epochs_to_fraction([0, 1, 2], [0.5, 0.7, 0.6], 0.9) == 0  # never below the start
    with pytest.raises(ValueError, match="fraction"):
        epochs_to_fraction(epoch, loss, 0.0)


def test_correlations_mean_the_same_whichever_sampler_made_the_chain(smoke):
    """At h = 0 products come from x and -x; connected correlations from the thermodynamic state.

    From T_c up that is the symmetric state (x and -x: <s_i> = 0 exactly for the spins, so
    connected equals non-connected); below T_c the ensemble folded to non-negative magnetisation
    (the pure state: connected = product - about m^2, and xi stays well below L).
    """
    corr = pd.read_csv(smoke["out"] / "tables" / "correlations.csv")
    cfg = smoke["config"]
    n = min(cfg["sampling"]["n_test"], cfg["analysis"]["max_configurations"])
    original = corr[corr["representation"] == "original"]
    assert len(original) == len(temperature_grid(cfg)) * cfg["seeds"]
    below = original[original["T"] < 2.269185 - 1e-6]
    above = original[original["T"] >= 2.269185 - 1e-6]
    assert len(below) > 0 and len(above) > 0
    assert (below["connected_state"] == "pure (folded)").all() and (below["n_samples"] == n).all()
    assert (above["connected_state"] == "symmetric").all() and (above["n_samples"] == 2 * n).all()
    np.testing.assert_allclose(above["nn_correlation"], above["nn_product"], atol=1e-12)
    ordered = below[below["T"] < 0.85 * 2.269185]
    assert len(ordered) > 0
    np.testing.assert_allclose(
        ordered["nn_correlation"], ordered["nn_product"] - ordered["abs_magnetization"] ** 2, atol=0.05
    )
    xi = below["xi"].dropna()  # NaN where all connected correlations vanish (a fully ordered sample)
    assert len(xi) > 0 and (xi < cfg["L"]).all()


def test_rg_flow_runs_on_the_flip_symmetrised_ensemble(smoke):
    # Every beta of the flow holds the seed's test configurations and their mirror images.
    flow = pd.read_csv(smoke["out"] / "tables" / "rg_flow.csv")
    assert len(flow) > 0
    # each statistic is averaged over a configuration and its mirror image: one sample per pair
    assert (flow["n"] == smoke["config"]["sampling"]["n_test"]).all()


def test_killed_run_resumes_to_the_same_results(smoke, tmp_path):
    out = tmp_path / "killed"
    cmd = [sys.executable, str(ROOT / "run_all.py"), "--profile", "smoke", "--out", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    # Kill it while it is training thermometers (a temporary entry exists).
    while time.time() < deadline and proc.poll() is None:
        thermo = out / "store" / "thermometers"
        if thermo.is_dir() and any(p.name.startswith(".tmp-") for p in thermo.iterdir()):
            break
        time.sleep(0.2)
    proc.kill()
    proc.wait()
    assert not (out / "report.md").exists()
    quiet_run(smoke["config"], out)
    for table in ("thermometer_predictions", "transfer_metrics", "correlations", "entropy", "ensembles"):
        a = pd.read_csv(smoke["out"] / "tables" / f"{table}.csv")
        b = pd.read_csv(out / "tables" / f"{table}.csv")
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-6)
    assert not list((out / "store").glob("*/.tmp-*"))


def test_store_commits_entries_atomically(tmp_path):
    store = Store(tmp_path)

    def fails(folder):
        (folder / "half.txt").write_text("x")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        store.build("kind", "k1", {}, fails)
    assert not store.has("kind", "k1")
    assert not any((tmp_path / "kind").iterdir())
    store.build("kind", "k1", {"a": 1}, lambda folder: {"value": 3})
    assert store.meta("kind", "k1")["results"] == {"value": 3}
    calls = []
    store.build("kind", "k1", {"a": 1}, lambda folder: calls.append(1))
    assert calls == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lattice", "kagome"], "unknown lattice"),
        (["--profile", "huge"], "unknown profile"),
        (["--L", "9"], "multiple of 2"),
        (["--seeds", "0"], "seeds must be > 0"),
        (["--only", "dance"], "unknown stage"),
    ],
)
def test_bad_configuration_is_refused_before_work(tmp_path, capsys, args, message):
    out = tmp_path / "run"
    assert run_all_main(["--profile", "smoke", "--out", str(out), "--quiet", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and "\n" not in err
    assert not (out / "store").exists()


def test_bad_configuration_files_are_refused(tmp_path, capsys):
    bad_grid = tmp_path / "grid.toml"
    bad_grid.write_text("[temperatures]\nvalues = [-1.0, 2.0]\n")
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("sampling:\n  n_trian: 5\n")
    block = tmp_path / "block.toml"
    block.write_text("L = 8\nb = 3\n")
    for path, message in (
        (bad_grid, "temperatures.values must hold positive"),
        (unknown, "unknown configuration key sampling.'n_trian'"),
        (block, "multiple of 6"),
    ):
        assert run_all_main(["--profile", "smoke", "--config", str(path), "--out", str(tmp_path / "r")]) == 2
        assert message in capsys.readouterr().err


def test_output_folder_of_another_study_is_refused(smoke, tmp_path, capsys):
    assert run_all_main(["--profile", "smoke", "--L", "4", "--out", str(smoke["out"]), "--quiet"]) == 2
    assert "holds another study" in capsys.readouterr().err
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "thesis.tex").write_text("precious")
    assert run_all_main(["--profile", "smoke", "--out", str(stranger), "--quiet"]) == 2
    assert "holds no study" in capsys.readouterr().err
    assert (stranger / "thesis.tex").read_text() == "precious"


def test_only_a_later_stage_needs_earlier_results(tmp_path, capsys):
    assert (
        run_all_main(["--profile", "smoke", "--out", str(tmp_path / "new"), "--only", "transfer", "--quiet"])
        == 2
    )
    assert "run the study without --only first" in capsys.readouterr().err


def test_dask_cluster_on_loopback_gives_the_local_results(smoke, tmp_path):
    from distributed import LocalCluster

    out = tmp_path / "dask"
    with LocalCluster(
        n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None, processes=True
    ) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        lines = quiet_run(smoke["config"], out, scheduler=cluster.scheduler_address)
    assert any(line.startswith("[sample] 72 of 72") for line in lines)
    for table in ("ensembles", "thermometer_predictions", "transfer_metrics", "correlations", "rg_flow"):
        a = pd.read_csv(smoke["out"] / "tables" / f"{table}.csv")
        b = pd.read_csv(out / "tables" / f"{table}.csv")
        # TensorFlow sums the convolutional thermometers' gradients in another order with another
        # number of threads (local workers vs Dask workers): equal to float32 round-off, not bitwise
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-4)


def test_unreachable_scheduler_is_one_line(tmp_path, capsys):
    assert (
        run_all_main(
            [
                "--profile",
                "smoke",
                "--out",
                str(tmp_path / "r"),
                "--quiet",
                "--scheduler",
                "tcp://127.0.0.1:9",
                "--scheduler-timeout",
                "3",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    # nothing listens there: Dask retries until the deadline, or gives up first
    assert "the Dask scheduler at tcp://127.0.0.1:9" in err and err.count("\n") == 1


@pytest.mark.slow
@pytest.mark.parametrize(("lattice", "L"), [("triangular", 6), ("cubic", 4)])
def test_other_lattices_run_end_to_end(tmp_path, lattice, L):
    config = build_config("smoke", lattice=lattice, L=L)
    quiet_run(config, tmp_path / lattice)
    report = (tmp_path / lattice / "report.md").read_text()
    assert f"{lattice} L = {L}" in report
    assert "| C5 |" in report
    assert "Bayes-optimal limit not available" in report  # no exact ln Z here: no invented ratio


def test_a_lattice_from_a_user_module_runs_through_run_all(tmp_path, capsys):
    # tests/lattice_plugin.py is nobody's registered lattice: run_all.py imports its builder.
    out = tmp_path / "plugin"
    argv = [
        "--profile",
        "smoke",
        "--lattice",
        "lattice_plugin:build_ring_square",
        "--L",
        "4",
        "--out",
        str(out),
    ]
    config = build_config("smoke", lattice="lattice_plugin:build_ring_square", L=4, seeds=1)
    config["temperatures"]["values"] = [1.5, 3.0]
    config["sampling"] |= {"n_train": 20, "n_val": 10, "n_test": 10}
    config["thermometer"] |= {"epochs": 2}
    config["transfer"] |= {"epochs": 2}
    config["min_coarse_L"] = 2
    quiet_run(config, out)
    report = (out / "report.md").read_text()
    assert "lattice_plugin:build_ring_square L = 4" in report
    ensembles = pd.read_csv(out / "tables" / "ensembles.csv")
    assert set(ensembles["lattice"]) == {"ring_square"}
    assert (
        run_all_main([*argv[:-2], "--out", str(tmp_path / "bad"), "--lattice", "lattice_plugin:nothing"]) == 2
    )
    assert "cannot import lattice builder" in capsys.readouterr().err


def test_profile_size_adapts_to_the_lattice():
    config = build_config("smoke", lattice="triangular")
    assert config["L"] % 3 == 0 and abs(config["L"] - 8) <= 1
    assert config["adjustments"] and "triangular" in config["adjustments"][0]
    assert build_config("smoke")["adjustments"] == []
    with pytest.raises(ValueError, match="multiple of 3"):
        build_config("smoke", lattice="triangular", L=8)  # a size the user gave is not moved
