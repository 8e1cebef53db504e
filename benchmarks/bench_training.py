"""Time the study's training against a plain model.fit and the machine's matmul limit.

    python benchmarks/bench_training.py [--L 32] [--n 5400] [--epochs 6] [--rounds 3] [--threads 1]

For every model family the study trains (dense and conv thermometers, learned
RG encoder, autoencoder, RG encode-decode) at the quick profile's shapes and
batch sizes, each round times:

- *study*: the study's own training call (``models.train_thermometer``,
  ``transfer.learned.train_rg_encoder`` / ``train_reconstruction``) on a
  freshly built model for ``--epochs`` epochs (early stopping out of reach);
- *plain fit*: ``model.fit`` of a fresh model of the same architecture on
  in-memory float32 NumPy arrays of the same shapes (Adam, MSE, same batch
  size, same epochs, no validation), what a user would write;
- *matmul*: float32 NumPy matrix products of the family's Dense layer shapes
  (batch x fan-in @ fan-in x fan-out, forward and both backward products),
  and one 2048 x 2048 product (the limit of the threads given).

Each training call is split into its steady rate and its fixed cost: the
*epoch* time is the median time between the ends of consecutive epochs after
the first (for the study it includes the epoch's validation pass and, for
the learned encoder, the fresh noisy inputs it draws), and the *fixed* cost is
the call's total minus ``epochs`` epoch times (graph tracing, the study's
epoch-0 evaluation, building the data). Rates are training samples per
second of an epoch and GFLOP/s with the training cost of a sample counted as
3x its forward multiply-adds x 2 for trainable layers (forward, input gradient,
weight gradient) and 1x for frozen ones (Dense and Conv layers only;
activations and the optimizer uncounted).

``--threads`` (default 1) sizes TensorFlow's and the BLAS thread pools, set
before either is imported: the study's local pool gives each of its workers
one core of a two-core machine, so one thread is what a training unit gets.
Medians over ``--rounds`` rounds, written to benchmarks/TRAINING.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
logging.getLogger("tensorflow").setLevel(logging.ERROR)  # retracing notices: one model per round

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FAMILIES = ("dense thermometer", "conv thermometer", "learned RG encoder", "autoencoder", "RG encode-decode")


def _rows(shape, n_sites: int) -> int:
    """Rows a layer applies to per sample: its inner axes, or every site where they are unknown
    (the size-agnostic conv thermometer, whose periodic padding keeps the lattice's shape)."""
    import numpy as np

    inner = tuple(shape[1:-1])
    return n_sites if None in inner else int(np.prod(inner))


def training_flops(model, n_sites: int) -> float:
    """Floating-point operations of one training sample: 2 x multiply-adds x (3 trainable, 1 frozen)."""
    import keras

    total = 0.0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            fan_in, fan_out = layer.kernel.shape
            macs = _rows(layer.input.shape, n_sites) * fan_in * fan_out
        elif isinstance(layer, keras.layers.Conv2D):
            kh, kw, cin, cout = layer.kernel.shape
            macs = _rows(layer.output.shape, n_sites) * kh * kw * cin * cout
        else:
            continue
        total += 2.0 * macs * (3 if layer.trainable else 1)
    return total


def dense_shapes(model, batch: int, n_sites: int) -> list[tuple[int, int, int]]:
    """(rows, fan_in, fan_out) of the model's Dense layers for one batch."""
    import keras

    shapes = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            fan_in, fan_out = layer.kernel.shape
            shapes.append((batch * _rows(layer.input.shape, n_sites), int(fan_in), int(fan_out)))
    return shapes


def matmul_rate(shapes: list[tuple[int, int, int]], seconds: float = 0.5) -> float:
    """GFLOP/s of float32 NumPy products of these shapes (forward and both backward products):
    the median over repeated passes, so that bursts of other work on a shared machine count less."""
    import numpy as np

    rng = np.random.default_rng(0)
    ops = []
    for m, k, n in shapes:
        a = rng.standard_normal((m, k), dtype=np.float32)
        w = rng.standard_normal((k, n), dtype=np.float32)
        g = rng.standard_normal((m, n), dtype=np.float32)
        ops += [(a, w), (g, w.T), (a.T, g)]
    flops = sum(2.0 * x.shape[0] * x.shape[1] * y.shape[1] for x, y in ops)
    for x, y in ops:  # warm-up
        x @ y
    rates, started = [], time.perf_counter()
    while time.perf_counter() - started < seconds or len(rates) < 5:
        begin = time.perf_counter()
        for x, y in ops:
            x @ y
        rates.append(flops / (time.perf_counter() - begin) / 1e9)
    return statistics.median(rates)


def build(family: str, lattice, seed: int):
    """A fresh model of ``family`` at the quick profile's settings, and its batch size."""
    from models.thermometers import build_conv_thermometer, build_dense_thermometer
    from pipeline.config import BASE
    from transfer.learned import build_autoencoder, build_encoder, build_rg_encode_decode

    thermo, transfer = BASE["thermometer"], BASE["transfer"]
    if family == "dense thermometer":
        return build_dense_thermometer(lattice, hidden=thermo["dense_hidden"], seed=seed), thermo[
            "batch_size"
        ]
    if family == "conv thermometer":
        kernel = thermo["conv_kernel"] or lattice.conv_kernel
        model = build_conv_thermometer(lattice, filters=thermo["conv_filters"], kernel_size=kernel, seed=seed)
        return model, thermo["batch_size"]
    if family == "learned RG encoder":
        return build_encoder(lattice, seed=seed), transfer["batch_size"]
    if family == "autoencoder":
        return build_autoencoder(lattice, seed=seed), transfer["batch_size"]
    return build_rg_encode_decode(lattice, "decimation", seed=seed), transfer["batch_size"]


class EpochClock:
    """Records ``time.perf_counter()`` at the end of every epoch of any ``Model.fit`` while active."""

    def __init__(self):
        self.ends: list[float] = []

    def __enter__(self):
        import keras

        clock, original = self, keras.Model.fit

        class Ends(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                clock.ends.append(time.perf_counter())

        def fit(model, *args, callbacks=None, **kwargs):
            return original(model, *args, callbacks=[*(callbacks or []), Ends()], **kwargs)

        self._restore = original
        keras.Model.fit = fit
        return self

    def __exit__(self, *exc):
        import keras

        keras.Model.fit = self._restore


def timed(fn, *args) -> tuple[float, float]:
    """(total seconds, median seconds per epoch after the first) of ``fn(*args)``."""
    with EpochClock() as clock:
        started = time.perf_counter()
        fn(*args)
        total = time.perf_counter() - started
    gaps = [b - a for a, b in zip(clock.ends, clock.ends[1:], strict=False)]
    if not gaps:
        raise ValueError("no epoch gaps: train at least two epochs")
    return total, statistics.median(gaps)


def study_fit(family: str, model, lattice, data: dict, batch: int, epochs: int) -> None:
    """The study's own training call for ``family``, for exactly ``epochs`` epochs."""
    from models import train_thermometer
    from transfer.learned import train_reconstruction, train_rg_encoder

    fit = {"epochs": epochs, "batch_size": batch, "patience": epochs + 1, "learning_rate": 3e-3, "seed": 0}
    if family.endswith("thermometer"):
        train_thermometer(model, (data["x"], data["beta"]), (data["x_val"], data["beta_val"]), **fit)
    elif family == "learned RG encoder":
        train_rg_encoder(model, data["x"], data["x_val"], lattice, "decimation", **fit)
    else:
        train_reconstruction(model, data["x"], data["x_val"], lattice, **fit)


def plain_fit(family: str, model, data: dict, batch: int, epochs: int) -> None:
    """``model.fit`` on in-memory float32 arrays: Adam, MSE, no validation."""
    import keras

    x = data["x"].astype("float32")
    if family.endswith("thermometer"):
        y = data["beta"].reshape(-1, 1)
    elif family == "learned RG encoder":
        y = data["coarse"]
    else:
        y = x
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="mse")
    model.fit(x, y, batch_size=batch, epochs=epochs, shuffle=True, verbose=0)


def measure(args) -> tuple[list[dict], float]:
    import keras
    import numpy as np

    from ising.lattice import make_lattice
    from transfer.analytic import block_spins

    lattice = make_lattice("square", args.L, b=2)
    rng = np.random.default_rng(0)
    n, n_val = args.n, max(256, args.n // 4)
    spins = np.where(rng.random((n + n_val, *lattice.shape)) < 0.5, -1, 1).astype(np.int8)
    beta = rng.uniform(0.3, 0.6, n + n_val).astype(np.float32)
    data = {
        "x": spins[:n],
        "x_val": spins[n:],
        "beta": beta[:n],
        "beta_val": beta[n:],
        "coarse": block_spins(spins[:n], lattice, "decimation").astype(np.float32),
    }
    rows = []
    for family in FAMILIES:
        times = {"study": [], "plain fit": []}
        for r in range(args.rounds):
            for how, fit in (("study", study_fit), ("plain fit", plain_fit)):
                keras.utils.set_random_seed(r)
                model, batch = build(family, lattice, seed=r)
                inputs = (lattice, data) if how == "study" else (data,)
                times[how].append(timed(fit, family, model, *inputs, batch, args.epochs))
        flops = training_flops(model, lattice.n_sites)
        limit = matmul_rate(dense_shapes(model, batch, lattice.n_sites))
        for how, measured in times.items():
            epoch = statistics.median(e for _, e in measured)
            fixed = statistics.median(total - args.epochs * e for total, e in measured)
            rate = n / epoch
            rows.append(
                {
                    "family": family,
                    "how": how,
                    "batch": batch,
                    "mflop_per_sample": flops / 1e6,
                    "epoch_seconds": epoch,
                    "fixed_seconds": fixed,
                    "samples_per_s": rate,
                    "gflops": rate * flops / 1e9,
                    "shape_limit": limit,
                }
            )
        print(
            f"{family}: study {rows[-2]['gflops']:.2f} (fixed {rows[-2]['fixed_seconds']:.1f} s), "
            f"plain {rows[-1]['gflops']:.2f} (fixed {rows[-1]['fixed_seconds']:.1f} s), "
            f"matmul {limit:.1f} GFLOP/s",
            flush=True,
        )
    return rows, matmul_rate([(2048, 2048, 2048)], seconds=1.0)


def load_average() -> str:
    try:
        return os.getloadavg()[0].__format__(".2f")
    except OSError:
        return "unknown"


def write(rows: list[dict], peak: float, args, start_load: str, end_load: str, seconds: float) -> Path:
    import numpy as np
    import tensorflow as tf

    # the benchmark itself keeps `threads` cores busy; more than that means other work ran too
    loaded = max(float(x) if x != "unknown" else 0 for x in (start_load, end_load)) > args.threads + 0.5
    lines = [
        "# Training benchmark",
        "",
        f"Measured with `python benchmarks/bench_training.py --L {args.L} --n {args.n} "
        f"--epochs {args.epochs} --rounds {args.rounds} --threads {args.threads}` "
        f"({time.strftime('%Y-%m-%d')}, {seconds:.0f} s). "
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical cores, "
        f"load average {start_load} at the start and {end_load} at the end; Python "
        f"{platform.python_version()}, NumPy {np.__version__}, TensorFlow {tf.__version__}.",
        "",
        *(
            [
                "The machine was busier than the threads asked for at the time (load averages above): "
                "every rate is a lower bound of what the code does on a quiet machine, and the ratios "
                "between columns are noisier than the medians suggest.",
                "",
            ]
            if loaded
            else []
        ),
        f"Square lattice L = {args.L} (N = {args.L**2} spins, 2x2 blocks), {args.n} random +-1 training "
        "configurations (the rates depend on shapes, not on the spins), the quick profile's "
        f"architectures and batch sizes, {args.threads} thread(s) for TensorFlow and BLAS. *study* is "
        "the study's own training call; *plain fit* is `model.fit` of the same architecture on "
        "in-memory float32 arrays (Adam, MSE, no validation). *Epoch* rates are from the median time "
        "between consecutive epochs after the first (the study's include its validation pass); "
        "*fixed* is the rest of the call (graph tracing, the study's epoch-0 evaluation). "
        "*Matmul limit* is float32 NumPy products of the family's Dense shapes (forward and both "
        "backward products) on the same threads. GFLOP/s count 2 x multiply-adds of Dense and Conv "
        "layers, x3 for trainable layers and x1 for frozen ones, per training sample. Medians of the "
        "rounds.",
        "",
        f"Machine limit: a 2048 x 2048 float32 NumPy matrix product on {args.threads} thread(s) runs at "
        f"{peak:.1f} GFLOP/s.",
        "",
        "| family | batch | MFLOP / sample | study: samples/s | study: GFLOP/s | study: fixed s "
        "| plain fit: samples/s | plain fit: GFLOP/s | plain fit: fixed s "
        "| matmul limit of the shapes, GFLOP/s | study / limit | study / plain fit |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for family in FAMILIES:
        study, plain = (
            next(r for r in rows if r["family"] == family and r["how"] == h) for h in ("study", "plain fit")
        )
        lines.append(
            f"| {family} | {study['batch']} | {study['mflop_per_sample']:.3f} | {study['samples_per_s']:.0f} "
            f"| {study['gflops']:.2f} | {study['fixed_seconds']:.1f} | {plain['samples_per_s']:.0f} "
            f"| {plain['gflops']:.2f} | {plain['fixed_seconds']:.1f} | {study['shape_limit']:.1f} "
            f"| {study['gflops'] / study['shape_limit']:.0%} | {study['gflops'] / plain['gflops']:.0%} |"
        )
    path = ROOT / "benchmarks" / "TRAINING.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--L", type=int, default=32, help="linear size of the square lattice")
    parser.add_argument("--n", type=int, default=5400, help="training configurations (quick: 27 x 200)")
    parser.add_argument("--epochs", type=int, default=6, help="epochs a round trains (>= 2)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per family (medians reported)")
    parser.add_argument("--threads", type=int, default=1, help="TensorFlow and BLAS threads")
    args = parser.parse_args(argv)
    for name in ("L", "n", "rounds", "threads"):
        if getattr(args, name) < 1:
            raise SystemExit(f"error: --{name} must be >= 1")
    if args.epochs < 2:
        raise SystemExit("error: --epochs must be >= 2 to separate the epoch time from the fixed cost")
    from pipeline.parallel import thread_environment

    # one worker's thread settings, as the study's pool sets them
    os.environ.update(thread_environment(1, cores=args.threads))
    start_load, started = load_average(), time.perf_counter()
    rows, peak = measure(args)
    path = write(rows, peak, args, start_load, load_average(), time.perf_counter() - started)
    print(path.read_text())


if __name__ == "__main__":
    main()
