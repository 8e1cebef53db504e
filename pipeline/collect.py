"""Gather the store's entries of one study into the run folder's tables.

Each table is written atomically (temporary name, then rename) and only when
its content changed, so figures and reports can tell from the files alone
whether they are up to date.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.claims import claims_table, evaluate_claims
from transfer.catalogue import transfer_catalogue
from transfer.flow import aggregate_fixed_points, fixed_points

from .config import critical_temperature
from .side import run_claims
from .store import Store

__all__ = ["collect_tables", "write_table", "epochs_to_fraction", "table_names"]


def table_names(tables_dir: Path) -> list[str]:
    """The tables a run holds, as its ``index.json`` lists them (empty before the first collect)."""
    index = tables_dir / "index.json"
    return json.loads(index.read_text()) if index.is_file() else []


def write_table(df: pd.DataFrame, path: Path) -> bool:
    """Write ``df`` as CSV atomically; returns False when the file already held exactly this."""
    text = df.to_csv(index=False)
    if path.is_file() and path.read_text() == text:
        return False
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return True


def _ensemble_rows(store: Store, ensembles: dict) -> list[dict]:
    rows = []
    for (level, T, seed, role), entry in sorted(ensembles.items()):
        meta = store.meta("ensembles", entry["key"])
        spec = meta["spec"]
        # Wall-clock seconds vary between runs; the table keeps only reproducible numbers.
        res = {k: v for k, v in meta["results"].items() if k != "seconds"}
        rows.append(
            {
                "level": level,
                "lattice": spec["lattice"]["name"],
                "L": spec["lattice"]["L"],
                "T": T,
                "seed": seed,
                "role": role,
                "n": spec["n"],
                **res,
            }
        )
    return rows


def _thermometer_rows(store: Store, thermometers: dict) -> list[dict]:
    rows = []
    for (level, arch, seed), entry in sorted(thermometers.items()):
        res = store.meta("thermometers", entry["key"])["results"]
        for band, m in res["metrics"].items():
            bayes = (res["bayes"] or {}).get(band, {})
            rows.append(
                {
                    "model": arch,
                    "level": level,
                    "seed": seed,
                    "band": band,
                    "n": m["n"],
                    "mse": m["mse"],
                    "mae": m["mae"],
                    "r2": m["r2"],
                    "bayes_mse": bayes.get("mse"),
                    "bayes_r2": bayes.get("r2"),
                    "ratio": res["ratio"].get(band),
                    "bayes_reason": res["bayes_reason"],
                    "epochs_run": res["epochs_run"],
                }
            )
    return rows


def _transfer_rows(store: Store, transfers: dict, fraction: float) -> tuple[list[dict], list]:
    rows, histories = [], []
    for seed, entry in sorted(transfers.items()):
        res = store.meta("transfer", entry["key"])["results"]
        hist = pd.read_csv(Path(entry["path"]) / "histories.csv")
        histories.append(hist)
        for model, group in hist.groupby("model"):
            # Validation loss: learned RG encoders train on perturbed inputs (transfer.learned), so
            # only the validation curves of every model measure the same thing.
            curve = group[group["metric"] == "val_loss"].sort_values("epoch")
            epoch, loss = curve["epoch"].to_numpy(), curve["value"].to_numpy()
            check = res["checks"].get(model, {})
            rows.append(
                {
                    "model": model,
                    "seed": seed,
                    "epochs_run": int(epoch[-1]),
                    "initial_loss": loss[0],
                    "final_loss": loss.min(),
                    "epochs_to_convergence": epochs_to_fraction(epoch, loss, fraction),
                    "test_loss": res["test_loss"].get(model),
                    "sign_agreement": check.get("agreement"),
                    "rg_check_passed": check.get("passed"),
                }
            )
    return rows, histories


def epochs_to_fraction(epoch, loss, fraction: float) -> float:
    """Epochs a model needs to make ``fraction`` of its total training-loss decrease (claim C5).

    Parameters
    ----------
    epoch : int (n,)
        Epoch numbers, increasing; epoch 0 is the untrained model
        (``transfer.learned.fit_model`` records its loss before fitting).
    loss : float (n,)
        Training loss at each epoch.
    fraction : float in (0, 1]

    Returns
    -------
    The (fractional) epoch at which the decrease ``loss[0] - loss`` first reaches
    ``fraction`` of the largest decrease ``loss[0] - min(loss)``, interpolating the
    loss curve linearly between the epochs around the crossing, so that the measure
    is continuous rather than a whole number of epochs. The decrease is counted
    from the first entry, the untrained loss; 0 when the loss never falls below its
    start. Plain NumPy, so tables are made without Keras.
    """
    epoch, loss = np.asarray(epoch, dtype=np.float64), np.asarray(loss, dtype=np.float64)
    if epoch.shape != loss.shape or loss.size == 0:
        raise ValueError(f"epoch and loss need the same non-empty shape, got {epoch.shape} and {loss.shape}")
    if not 0 < fraction <= 1:
        raise ValueError(f"the convergence fraction must lie in (0, 1], got {fraction}")
    decrease = loss[0] - loss
    target = fraction * decrease.max()
    i = int(np.argmax(decrease >= target))
    if i == 0 or target <= 0:
        return float(epoch[0]) if target > 0 else 0.0
    step = (target - decrease[i - 1]) / (decrease[i] - decrease[i - 1])
    return float(epoch[i - 1] + step * (epoch[i] - epoch[i - 1]))


def _history_table(histories: list, entries) -> pd.DataFrame:
    from transfer.catalogue import entry_by_name

    hist = pd.concat(histories, ignore_index=True)
    hist = hist[hist["metric"].isin(["loss", "val_loss"])].copy()
    hist["split"] = hist["metric"].map({"loss": "train", "val_loss": "val"})
    catalogue = {name: entry_by_name(entries, name) for name in hist["model"].unique()}
    hist["init"] = hist["model"].map(lambda m: catalogue[m].init_label)
    hist["family"] = hist["model"].map(lambda m: catalogue[m].group)
    return hist.rename(columns={"value": "loss"}).drop(columns="metric")


def _seed_tables(index: dict) -> dict[str, pd.DataFrame]:
    """Every table of per-seed entries (the measurement suite's, a side study's), concatenated over seeds."""
    paths: dict[str, list] = {}
    for _seed, entry in sorted(index.items()):
        for path in sorted(Path(entry["path"]).glob("*.csv")):
            paths.setdefault(path.stem, []).append(path)
    return {
        name: pd.concat([pd.read_csv(p) for p in parts], ignore_index=True) for name, parts in paths.items()
    }


def collect_tables(config: dict, store: Store, index: dict, tables_dir: Path) -> list[str]:
    """Write every table of the run; returns the names of the tables that changed."""
    tables_dir.mkdir(parents=True, exist_ok=True)
    frames = {
        "ensembles": pd.DataFrame(_ensemble_rows(store, index["ensembles"])),
        "thermometer_metrics": pd.DataFrame(_thermometer_rows(store, index["thermometers"])),
        "thermometer_diagnosis": pd.DataFrame(
            [
                {
                    "model": arch,
                    "level": level,
                    "seed": seed,
                    "text": (Path(e["path"]) / "report.md").read_text(),
                }
                for (level, arch, seed), e in sorted(index["thermometers"].items())
            ]
        ),
    }
    preds = [
        pd.read_csv(Path(e["path"]) / "predictions.csv")
        for (level, _arch, _seed), e in sorted(index["thermometers"].items())
        if level == 0
    ]
    frames["thermometer_predictions"] = pd.concat(preds, ignore_index=True)
    rows, histories = _transfer_rows(store, index["transfer"], config["transfer"]["convergence_fraction"])
    frames["transfer_metrics"] = pd.DataFrame(rows)
    frames["training_histories"] = _history_table(histories, transfer_catalogue(config["transfer"]["rules"]))
    frames |= _seed_tables(index["measure"])
    for entries in index.get("side", {}).values():
        frames |= _seed_tables(entries)
    tc = critical_temperature(config)
    per_seed = fixed_points(frames["rg_flow"], beta_c=None if tc is None else 1.0 / tc)
    frames["rg_fixed_points"] = aggregate_fixed_points(per_seed)
    frames["claims"] = claims_table(evaluate_claims(run_claims(config), frames))
    changed = [name for name, df in frames.items() if write_table(df, tables_dir / f"{name}.csv")]
    (tables_dir / "index.json").write_text(json.dumps(sorted(frames), indent=1))
    return changed
