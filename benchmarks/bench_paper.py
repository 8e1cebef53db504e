"""Project a profile's study run time (default: paper) from timed slices of its units.

    python benchmarks/bench_paper.py [--profile paper] [--workers 2] [--max-samples 3000]
                                     [--early-stopping-from RUN] [--skip-side | --side-from FILE]

Every unit kind of the study is timed with the study's own code at the
profile's shapes, one thread per process (TensorFlow intra/inter-op, Numba,
OpenMP/BLAS: what each of the study's pool workers gets on a two-core machine
with two workers), and projected to the profile's full size:

- *sample*: ``pipeline.stages.build_ensemble`` (sampling and HDF5 writing) of
  seed 0's three roles at every RG level, at the grid's lowest temperature, T_c
  and its highest; other temperatures by linear interpolation in T.
- *thermometers*: ``models.train_thermometer`` of each (level, architecture) of
  ``pipeline.stages.thermometer_plan`` on random ±1 configurations of the
  profile's sizes (the rates depend on shapes, not on the spins), 1 and 3
  epochs on at most ``--max-samples`` training configurations of the fine
  lattice (as many spins on coarse lattices; validation in the profile's
  proportion): per-epoch time from the difference, the rest (tracing, epoch-0
  evaluation) as fixed cost, both scaled by the profile's data size over the
  slice's (so constant overheads are scaled too: the projection errs long).
- *transfer*: ``transfer.catalogue.train_catalogue`` (the 12 models of
  ``transfer_catalogue``, their checks and test predictions) for 1 and 2
  epochs, projected likewise.
- *measure*: ``analysis.suite.measure_seed`` on sampled test configurations of
  the whole grid at two small sizes per temperature, with the models of the
  transfer slice and the thermometers of the thermometer slices, extrapolated
  linearly to min(n_test, analysis.max_configurations) per temperature.
- *side*: each enabled side study's ``run_seed`` at the profile's settings with
  its training length (epochs or steps) cut to two small fractions, extrapolated
  linearly to the full length.

Training units are projected at the maximum epochs (early stopping never
firing) and at the expected epochs: the maximum times the mean fraction of the
maximum that the same model family ran in a finished run (``--early-stopping-from``,
a study output folder whose store is read, not written).

Stages run one after another (``pipeline.run``), each on a pool of
``--workers`` processes taking units in plan order, so a stage's wall time is
the makespan of that list schedule (at least its worker-seconds / workers and
its longest unit). Results go to benchmarks/PAPER.md; earlier projections in
that file are kept below the new one.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.parallel import thread_environment  # noqa: E402  (imports no NumPy, Numba or TF)

#: One thread per library and process, as the study's pool gives each of two workers on two
#: cores; set before NumPy, Numba or TF load.
THREADS = thread_environment(2, cores=2)
os.environ.update(THREADS)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

logging.getLogger("tensorflow").setLevel(logging.ERROR)

#: Stages in the order ``pipeline.run`` runs them (the ones with units of work).
STAGES = ("sample", "thermometers", "transfer", "measure", "side")

#: Per side study: the settings that set its training length, and the two fractions of
#: their profile values that are timed (small enough for a slice to take about a minute).
SIDE_SLICES = {
    "symmetry": (("steps", "encoder_steps"), (0.01, 0.03)),
    "clt": (("epochs",), (0.04, 0.1)),
    "efnn": (("epochs",), (0.01, 0.02)),
    "rsmi": (("filter_epochs", "critic_epochs"), (0.1, 0.2)),
}


#: CPU and wall seconds of every timed call, for the report's CPU / wall ratio.
CLOCKS = {"cpu": 0.0, "wall": 0.0}


def _timed(fn, *args, **kwargs) -> tuple[float, object]:
    """CPU seconds of ``fn(*args, **kwargs)`` (all threads of this process) and its result.

    With one thread per library this is the wall time the call takes on a core of its own,
    whatever else the machine runs; the wall time is added to :data:`CLOCKS`.
    """
    cpu, wall = time.process_time(), time.perf_counter()
    out = fn(*args, **kwargs)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    CLOCKS["cpu"] += cpu
    CLOCKS["wall"] += wall
    return cpu, out


def load_average() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def makespan(seconds: list[float], workers: int) -> float:
    """Wall time of units taken in order by the first free of ``workers`` processes."""
    free = [0.0] * workers
    for s in seconds:
        k = int(np.argmin(free))
        free[k] += s
    return max(free) if seconds else 0.0


# --------------------------------------------------------------------------- early stopping
def stopping_ratios(run: Path | None) -> dict[str, float]:
    """Mean epochs run / maximum epochs per family ("dense", "conv", "transfer") in a finished run.

    1.0 for every family when no run is given.
    """
    if run is None:
        return {"dense": 1.0, "conv": 1.0, "transfer": 1.0}
    config = json.loads((run / "config.json").read_text())
    runs = {"dense": [], "conv": [], "transfer": []}
    for kind in ("thermometers", "transfer"):
        for entry in sorted((run / "store" / kind).glob("*/_entry.json")):
            data = json.loads(entry.read_text())
            epochs = data["results"]["epochs_run"]
            if kind == "thermometers":
                runs[data["spec"]["arch"]].append(epochs / config["thermometer"]["epochs"])
            else:
                runs["transfer"] += [e / config["transfer"]["epochs"] for e in epochs.values()]
    missing = [k for k, v in runs.items() if not v]
    if missing:
        raise ValueError(f"{run} holds no finished {', '.join(missing)} units to read epochs from")
    return {k: float(np.mean(v)) for k, v in runs.items()}


# --------------------------------------------------------------------------- sample
def time_sampling(plan, store) -> dict[tuple, float]:
    """Seconds of ``build_ensemble`` for seed 0 at (level, T, role), T in {lowest, T_c, highest}."""
    from pipeline.stages import build_ensemble, ensemble_specs

    temps = plan.temperatures
    tc = temps[int(np.argmin([abs(t - (plan.tc or np.median(temps))) for t in temps]))]
    chosen = {temps[0], tc, temps[-1]}
    specs = [s for s in ensemble_specs(plan) if s["seed_index"] == 0 and s["T"] in chosen]
    warm = min(specs, key=lambda s: (s["lattice"]["L"], s["n"]))  # Numba compilation, not timed
    build_ensemble(str(store.root), {**warm, "n": 2, "chain_seed": 1})
    times = {}
    for spec in specs:
        times[(spec["level"], spec["T"], spec["role"])], _ = _timed(build_ensemble, str(store.root), spec)
    return times


def project_sampling(plan, times: dict) -> list[float]:
    """Projected seconds of every ensemble unit, in plan order (interpolated in T)."""
    from pipeline.stages import ensemble_specs

    out = []
    for spec in ensemble_specs(plan):
        known = sorted((T, s) for (lv, T, r), s in times.items() if lv == spec["level"] and r == spec["role"])
        out.append(float(np.interp(spec["T"], [t for t, _ in known], [s for _, s in known])))
    return out


# --------------------------------------------------------------------------- training
def random_spins(n: int, shape: tuple, rng) -> np.ndarray:
    return np.where(rng.random((n, *shape)) < 0.5, -1, 1).astype(np.int8)


def slice_sizes(config: dict, n_temperatures: int, max_samples: int) -> tuple[int, int, int, float]:
    """(train, val, test) configurations of a slice and its fraction of the profile's data."""
    sampling = config["sampling"]
    total = sampling["n_train"] * n_temperatures
    fraction = min(1.0, max_samples / total)
    sizes = [
        max(8, round(sampling[f"n_{role}"] * n_temperatures * fraction)) for role in ("train", "val", "test")
    ]
    return (*sizes, fraction)


def fit_line(epochs: tuple[int, int], seconds: tuple[float, float]) -> tuple[float, float]:
    """(fixed seconds, seconds per epoch) through two timed runs; never negative."""
    per_epoch = max(0.0, (seconds[1] - seconds[0]) / (epochs[1] - epochs[0]))
    return max(0.0, seconds[0] - epochs[0] * per_epoch), per_epoch


def time_thermometers(plan, max_samples: int, rng) -> dict[tuple, dict]:
    """Per (level, arch): fixed and per-epoch seconds at the profile's data size, and the models."""
    from models import train_thermometer
    from models.architectures import build_thermometer
    from pipeline.stages import thermometer_plan

    config, out = plan.config, {}
    cfg = config["thermometer"]
    betas = 1.0 / np.asarray(plan.temperatures)
    for level, arch in thermometer_plan(plan):
        lattice = plan.levels[level]
        # the same number of spins per slice at every level: coarse lattices train on more of their data
        samples = round(max_samples * plan.fine.n_sites / lattice.n_sites)
        n_train, n_val, _, fraction = slice_sizes(config, len(betas), samples)
        x, xv = random_spins(n_train, lattice.shape, rng), random_spins(n_val, lattice.shape, rng)
        y, yv = rng.choice(betas, n_train), rng.choice(betas, n_val)
        seconds, model = [], None
        for epochs in (1, 3):
            model = build_thermometer(arch, lattice, cfg, seed=0)
            fit = {"epochs": epochs, "batch_size": cfg["batch_size"], "patience": epochs + 1}
            t, _ = _timed(
                train_thermometer, model, (x, y), (xv, yv), **fit, learning_rate=cfg["learning_rate"], seed=0
            )
            seconds.append(t)
        fixed, per_epoch = fit_line((1, 3), tuple(seconds))
        out[(level, arch)] = {
            "fixed": fixed / fraction,
            "per_epoch": per_epoch / fraction,
            "model": model,
            "L": lattice.L,
            "fraction": fraction,
        }
        print(f"  thermometer {arch} L={lattice.L}: {per_epoch / fraction:.1f} s/epoch", flush=True)
    return out


def time_transfer(plan, max_samples: int, rng) -> dict:
    """Fixed and per-epoch seconds of the transfer catalogue at the profile's data size."""
    from models.architectures import build_thermometer
    from transfer.catalogue import train_catalogue, transfer_catalogue

    config = plan.config
    cfg = config["transfer"]
    lattice = plan.fine
    n_train, n_val, n_test, fraction = slice_sizes(config, len(plan.temperatures), max_samples)
    data = {
        role: random_spins(n, lattice.shape, rng)
        for role, n in zip(("train", "val", "test"), (n_train, n_val, n_test), strict=True)
    }
    thermometer = build_thermometer("dense", lattice, config["thermometer"], seed=0)
    entries = transfer_catalogue(cfg["rules"])
    seconds, result = [], None
    for epochs in (1, 2):
        fit = {"epochs": epochs, "batch_size": cfg["batch_size"], "patience": epochs + 1}
        t, result = _timed(
            train_catalogue,
            entries,
            lattice,
            thermometer,
            data,
            {**fit, "learning_rate": cfg["learning_rate"]},
            0,
        )
        seconds.append(t)
    fixed, per_epoch = fit_line((1, 2), tuple(seconds))
    print(f"  transfer catalogue: {per_epoch / fraction:.1f} s/epoch", flush=True)
    return {
        "fixed": fixed / fraction,
        "per_epoch": per_epoch / fraction,
        "result": result,
        "fraction": fraction,
    }


# --------------------------------------------------------------------------- measure
def time_measure(plan, thermometers: dict, transfer: dict, sizes: tuple[int, int]) -> dict:
    """Seconds of ``measure_seed`` at two test sizes per temperature, and its linear projection."""
    from analysis.suite import measure_seed
    from ising.sampling import sample_ensemble
    from transfer.flow import calibrate

    config = plan.config
    lattice = plan.fine
    parts = [
        sample_ensemble(lattice, T, max(sizes), J=config["J"], h=config["h"], seed=k)
        for k, T in enumerate(plan.temperatures)
    ]
    flow = config["analysis"]["flow_thermometer"]
    thermos = []
    for level in range(len(plan.levels)):
        entry = thermometers.get((level, flow)) or thermometers.get((level, "dense"))
        beta = np.repeat(1.0 / np.asarray(plan.temperatures), 4)
        thermos.append(None if entry is None else (entry["model"], calibrate(beta, beta)))
    settings = {
        "seed": 0,
        "rules": config["transfer"]["rules"],
        "J": config["J"],
        "h": config["h"],
        "matrix_temperatures": list(plan.matrix_temperatures),
        "analysis": config["analysis"],
    }
    result = transfer["result"]
    seconds = []
    for n in sizes:
        spins = np.concatenate([p.spins[:n] for p in parts])
        T = np.repeat(np.asarray(plan.temperatures, dtype=np.float64), n)
        t, _ = _timed(
            measure_seed, spins, 1.0 / T, T, lattice, result.models, result.kernels, thermos, settings
        )
        seconds.append(t)
        print(f"  measure at {n} per temperature: {t:.1f} s", flush=True)
    fixed, per_config = fit_line(sizes, tuple(seconds))
    n_full = min(config["sampling"]["n_test"], config["analysis"]["max_configurations"])
    return {"fixed": fixed, "per_config": per_config, "n": n_full, "seconds": fixed + per_config * n_full}


# --------------------------------------------------------------------------- side
def time_side(config: dict) -> dict[str, dict]:
    """Per enabled side study: its run_seed at two cut training lengths, projected to full length."""
    from pipeline.side import enabled_side_studies

    out = {}
    for study, settings in enabled_side_studies(config):
        knobs, fractions = SIDE_SLICES.get(study.name, ((), ()))
        cuts = [{k: max(1, round(f * settings[k])) for k in knobs} for f in fractions]
        used = [sum(cut.values()) / sum(settings[k] for k in knobs) for cut in cuts]
        if not knobs or used[0] >= used[1] or used[1] >= 1:
            t, _ = _timed(study.run_seed, settings, 0)
            out[study.name] = {"seconds": t, "note": "run at its full settings"}
            print(f"  side {study.name}: {t:.1f} s", flush=True)
            continue
        seconds = []
        for cut in cuts:
            t, _ = _timed(study.run_seed, {**settings, **cut}, 0)
            seconds.append(t)
            print(f"  side {study.name} {cut}: {t:.1f} s", flush=True)
        per_unit = max(0.0, (seconds[1] - seconds[0]) / (used[1] - used[0]))
        fixed = max(0.0, seconds[0] - used[0] * per_unit)
        knob_text = ", ".join(f"{k} = {settings[k]}" for k in knobs)
        out[study.name] = {
            "seconds": fixed + per_unit,
            "note": f"{knob_text}; timed at {used[0]:.0%} and {used[1]:.0%} of it "
            f"({seconds[0]:.0f} s, {seconds[1]:.0f} s), fixed part {fixed:.0f} s",
        }
    return out


def earlier_side(config: dict, path: Path) -> dict[str, dict]:
    """Side-study seconds per seed from the newest projection in ``path`` that timed them all.

    For a projection whose side-study settings are those of the earlier one.
    """
    import re

    from pipeline.side import enabled_side_studies

    names = [study.name for study, _ in enabled_side_studies(config)]
    text = path.read_text() if path.exists() else ""
    for section in text.split("\n## Projection of ")[1:]:
        found = dict(re.findall(r"^\| side study (\w+), one seed \|[^|]*\| ([\d,.]+) \|", section, re.M))
        if all(name in found for name in names):
            when = section.splitlines()[0]
            note = f"timed in the projection of {when} (--side-from)"
            return {name: {"seconds": float(found[name].replace(",", "")), "note": note} for name in names}
    raise SystemExit(f"error: no projection in {path} timed the side studies {', '.join(names)}")


# --------------------------------------------------------------------------- projection
def project(plan, timed: dict, ratios: dict, workers: int) -> dict:
    """Unit seconds per stage in plan order, at maximum and expected epochs, and unit notes."""
    from pipeline.stages import thermometer_plan

    config, seeds = plan.config, list(plan.seeds)
    units = {"max": {}, "expected": {}}
    notes = []
    sample = project_sampling(plan, timed["sample"])
    for how in units:
        units[how]["sample"] = sample
    per_seed = {"sample": sum(sample) / len(seeds)}
    epochs = config["thermometer"]["epochs"]
    for how in units:
        thermo_units = []
        for level, arch in thermometer_plan(plan):
            t = timed["thermometers"][(level, arch)]
            run = epochs * (ratios[arch] if how == "expected" else 1.0)
            thermo_units += [t["fixed"] + run * t["per_epoch"]] * len(seeds)
        units[how]["thermometers"] = thermo_units
        tr = timed["transfer"]
        run = config["transfer"]["epochs"] * (ratios["transfer"] if how == "expected" else 1.0)
        units[how]["transfer"] = [tr["fixed"] + run * tr["per_epoch"]] * len(seeds)
        units[how]["measure"] = [timed["measure"]["seconds"]] * len(seeds)
        units[how]["side"] = [s["seconds"] for s in timed["side"].values() for _ in seeds]
    for (_level, arch), t in timed["thermometers"].items():
        notes.append(
            (
                f"{arch} thermometer, L = {t['L']}",
                t["per_epoch"],
                t["fixed"] + epochs * t["per_epoch"],
                f"{epochs} epochs; slice {t['fraction']:.1%} of the data",
            )
        )
    tr = timed["transfer"]
    notes.append(
        (
            "transfer catalogue (12 models), one seed",
            tr["per_epoch"],
            tr["fixed"] + config["transfer"]["epochs"] * tr["per_epoch"],
            f"{config['transfer']['epochs']} epochs; slice {tr['fraction']:.1%} of the data",
        )
    )
    m = timed["measure"]
    notes.append(
        (
            "measure, one seed",
            None,
            m["seconds"],
            f"{m['n']} configurations per temperature: {m['fixed']:.0f} s + {m['per_config']:.2f} s each",
        )
    )
    for name, s in timed["side"].items():
        notes.append((f"side study {name}, one seed", None, s["seconds"], s["note"]))
    rows = {}
    for how, stages in units.items():
        rows[how] = {
            stage: {
                "units": len(stages[stage]),
                "worker_s": sum(stages[stage]),
                "wall_s": makespan(stages[stage], workers),
                "longest": max(stages[stage]) if stages[stage] else 0.0,
            }
            for stage in STAGES
            if stage in stages
        }
        dense = [
            timed["thermometers"][(0, "dense")]["fixed"]
            + epochs
            * timed["thermometers"][(0, "dense")]["per_epoch"]
            * (ratios["dense"] if how == "expected" else 1.0)
        ]
        rows[how]["critical path"] = (
            per_seed["sample"] + dense[0] + stages["transfer"][0] + stages["measure"][0]
        )
    return {"rows": rows, "notes": notes}


def _hours(seconds: float) -> str:
    return f"{seconds:,.0f} s ({seconds / 3600:.2f} h)"


def projection_section(args, config, plan, projection, loads, elapsed, ratios) -> list[str]:
    rows, notes = projection["rows"], projection["notes"]
    grid = plan.temperatures
    sampling, thermo, transfer = config["sampling"], config["thermometer"], config["transfer"]
    lines = [
        f"## Projection of {time.strftime('%Y-%m-%d %H:%M')} (profile `{args.profile}`)",
        "",
        f"Command: `{' '.join(['python', 'benchmarks/bench_paper.py', *args.argv])}` "
        f"({elapsed:.0f} s). Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} "
        f"logical cores; Python {platform.python_version()}; one thread per process. Load average "
        f"{loads[0]:.2f} at the start and {loads[1]:.2f} at the end.",
        "",
        f"Unit times are CPU seconds of this process (one thread per library, so the wall time of the "
        f"unit on a core of its own); the timed calls took {CLOCKS['wall']:.0f} s of wall time for "
        f"{CLOCKS['cpu']:.0f} s of CPU time.",
        "",
    ]
    if max(loads) > 1.5:
        lines += [
            "The machine was shared with other work during the measurement (load averages above on two "
            "cores): CPU time leaves out the time the process waited for a core, but not the slower "
            "caches and memory of a busy machine, so rates are lower bounds and the projection errs long.",
            "",
        ]
    lines += [
        f"Settings: L = {config['L']} (RG levels L = {', '.join(str(lat.L) for lat in plan.levels)}), "
        f"{config['seeds']} seeds, {len(grid)} temperatures ({grid[0]:.3f} to {grid[-1]:.3f}), "
        f"{sampling['n_train']}/{sampling['n_val']}/{sampling['n_test']} configurations per temperature; "
        f"thermometers {thermo['epochs']} epochs (patience {thermo['patience']}, "
        f"batch {thermo['batch_size']}); transfer {transfer['epochs']} epochs (patience "
        f"{transfer['patience']}, batch {transfer['batch_size']}); "
        f"measure on {min(sampling['n_test'], config['analysis']['max_configurations'])} configurations "
        f"per temperature.",
        "",
        f"*expected* takes the mean fraction of the maximum epochs that each family ran in "
        f"{f'the run `{args.early_stopping_from}`' if args.early_stopping_from else 'no run (1.0)'}: "
        + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items())
        + ". Wall times are the makespan of each stage's units, in plan order, on "
        f"{args.workers} workers (stages run one after another).",
        "",
        "| stage | units | worker-s (max epochs) | wall, max epochs | worker-s (expected) | wall, expected |",
        "|---|---|---|---|---|---|",
    ]
    total = {"max": 0.0, "expected": 0.0}
    for stage in STAGES:
        a, b = rows["max"][stage], rows["expected"][stage]
        total["max"] += a["wall_s"]
        total["expected"] += b["wall_s"]
        lines.append(
            f"| {stage} | {a['units']} | {a['worker_s']:,.0f} | {_hours(a['wall_s'])} "
            f"| {b['worker_s']:,.0f} | {_hours(b['wall_s'])} |"
        )
    worker_total = {how: sum(rows[how][s]["worker_s"] for s in STAGES) for how in rows}
    lines += [
        f"| **total** | | {worker_total['max']:,.0f} | **{_hours(total['max'])}** "
        f"| {worker_total['expected']:,.0f} | **{_hours(total['expected'])}** |",
        "",
        f"Critical path of one seed (sample, dense thermometer, transfer, measure): "
        f"{_hours(rows['max']['critical path'])} at maximum epochs, "
        f"{_hours(rows['expected']['critical path'])} expected.",
        "",
        "| unit | seconds per epoch | seconds per unit (max epochs) | how |",
        "|---|---|---|---|",
    ]
    for name, per_epoch, unit, how in notes:
        lines.append(f"| {name} | {'' if per_epoch is None else f'{per_epoch:.1f}'} | {unit:,.0f} | {how} |")
    sample_units = rows["max"]["sample"]
    lines += [
        "",
        f"Sampling: {sample_units['units']} ensembles, {sample_units['worker_s']:,.0f} worker-s "
        f"(longest {sample_units['longest']:.1f} s).",
        "",
    ]
    return lines


def write(section: list[str], path: Path) -> None:
    """Write the new projection above the earlier ones the file holds."""
    earlier, preamble = [], None
    if path.exists():
        text = path.read_text()
        start = text.find("\n## Projection of ")
        preamble = text if start < 0 else text[: start + 1]
        if start >= 0:
            earlier = [
                "",
                "# Earlier projections",
                "",
                text[start + 1 :].replace("# Earlier projections\n\n", ""),
            ]
    head = [
        "# Projected run time of the paper profile",
        "",
        "Written by `benchmarks/bench_paper.py` (its docstring says how each unit is timed and projected). "
        "The newest projection comes first.",
        "",
    ]
    if preamble is not None:
        head = [preamble.rstrip(), ""]
    path.write_text("\n".join(head + section + earlier).rstrip() + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="paper", help="the profile to project")
    parser.add_argument("--workers", type=int, default=2, help="worker processes of the projected run")
    parser.add_argument("--max-samples", type=int, default=3000, help="training configurations of a slice")
    parser.add_argument(
        "--measure-sizes", type=int, nargs=2, default=(10, 20), help="test sizes per temperature"
    )
    parser.add_argument(
        "--early-stopping-from", type=Path, default=None, help="a finished study output folder"
    )
    parser.add_argument("--skip-side", action="store_true", help="leave the side studies out")
    parser.add_argument(
        "--side-from",
        type=Path,
        default=None,
        help="take the side studies' seconds from the newest projection in this file that timed them "
        "(same side settings) instead of timing them again",
    )
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "PAPER.md")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.workers < 1 or args.max_samples < 16 or min(args.measure_sizes) < 2:
        raise SystemExit("error: --workers >= 1, --max-samples >= 16 and --measure-sizes >= 2 are needed")
    if args.measure_sizes[0] >= args.measure_sizes[1]:
        raise SystemExit("error: --measure-sizes takes a smaller then a larger size")

    from pipeline.config import build_config
    from pipeline.plan import make_plan
    from pipeline.store import Store

    config = build_config(args.profile)
    if args.skip_side:
        for name in SIDE_SLICES:
            if name in config:
                config[name]["enabled"] = False
    plan = make_plan(config)
    ratios = stopping_ratios(args.early_stopping_from)
    loads, started = [load_average()], time.perf_counter()
    rng = np.random.default_rng(0)
    timed = {}
    with tempfile.TemporaryDirectory() as tmp:
        print("sampling", flush=True)
        timed["sample"] = time_sampling(plan, Store(Path(tmp) / "store"))
    print("thermometers", flush=True)
    timed["thermometers"] = time_thermometers(plan, args.max_samples, rng)
    print("transfer", flush=True)
    timed["transfer"] = time_transfer(plan, max(16, args.max_samples // 2), rng)
    print("measure", flush=True)
    timed["measure"] = time_measure(plan, timed["thermometers"], timed["transfer"], tuple(args.measure_sizes))
    print("side studies", flush=True)
    timed["side"] = earlier_side(config, args.side_from) if args.side_from else time_side(config)
    loads.append(load_average())
    projection = project(plan, timed, ratios, args.workers)
    section = projection_section(args, config, plan, projection, loads, time.perf_counter() - started, ratios)
    write(section, args.output)
    print("\n".join(section))


if __name__ == "__main__":
    main()
