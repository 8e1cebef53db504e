"""The RG flow measured by thermometers: beta' = R(beta) for each encoder.

Configurations sampled at inverse temperature beta on the fine lattice are
coarse-grained by an encoder; the thermometer trained on Monte Carlo
ensembles of the coarse lattice reads off the coarse configurations' beta'.
Repeating the step on the coarse configurations, with the thermometer of the
next level, gives the flow beta -> beta' -> beta'' ... for as many steps as
the lattice's block hierarchy (``lattice.rg_levels()``) and the available
thermometers allow. Step 0 is the fine thermometer on the original
configurations, the flow's starting point and the thermometer's own
calibration.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
import numpy as np
import pandas as pd

from ising.lattice import Lattice
from models.thermometers import check_input, predict_beta
from transfer.analytic import RULES, block_spins
from transfer.learned import coarse_spins

__all__ = ["FLOW_COLUMNS", "analytic_map", "model_map", "rg_flow"]

FLOW_COLUMNS = ["encoder", "step", "beta", "beta_prime", "beta_prime_std", "n"]

#: An RG map: (spins int8 (n, *lattice.shape), lattice) -> coarse spins (n, *lattice.coarse_shape).
RGMap = Callable[[np.ndarray, Lattice], np.ndarray]


def analytic_map(rule: str) -> RGMap:
    """The analytic rule as an RG map usable at every level."""
    if rule not in RULES:
        raise ValueError(f"unknown RG rule {rule!r}; choose one of {', '.join(RULES)}")

    def rg_map(spins, lattice):
        return block_spins(spins, lattice, rule)

    rg_map.__name__ = rule
    return rg_map


def model_map(model: keras.Model) -> RGMap:
    """A learned encoder or autoencoder as an RG map: its code binarised by sign."""

    def rg_map(spins, lattice):
        return coarse_spins(model, spins)

    rg_map.__name__ = model.name
    return rg_map


def _maps_per_level(name: str, encoder, n_levels: int) -> list[RGMap]:
    """Normalise an encoder spec to a list of per-level maps (level k maps level k to k+1)."""
    if isinstance(encoder, str):
        return [analytic_map(encoder)] * n_levels
    if isinstance(encoder, keras.Model):
        return [model_map(encoder)]
    if callable(encoder):
        return [encoder] * n_levels
    if isinstance(encoder, Sequence):
        maps = []
        for level, item in enumerate(encoder):
            if isinstance(item, keras.Model):
                maps.append(model_map(item))
            elif callable(item):
                maps.append(item)
            else:
                raise ValueError(
                    f"encoder {name!r}: entry {level} is {type(item).__name__}, not a Keras model or an "
                    "RG map (spins, lattice) -> coarse spins"
                )
        return maps
    raise ValueError(
        f"encoder {name!r} must be an RG rule name, an RG map (spins, lattice) -> coarse spins, a Keras "
        f"model, or a list of those per level; got {type(encoder).__name__}"
    )


def _binarise(coarse, lattice: Lattice, name: str, step: int) -> np.ndarray:
    coarse = np.asarray(coarse)
    expected = lattice.coarse_shape
    if coarse.shape[1:] != expected:
        raise ValueError(
            f"encoder {name!r} at step {step} returned coarse configurations of shape {coarse.shape[1:]}, "
            f"expected {expected} for the {lattice.describe()} lattice"
        )
    return np.where(coarse >= 0, 1, -1).astype(np.int8)


def _summarise(name: str, step: int, beta: np.ndarray, beta_prime: np.ndarray) -> list[dict]:
    rows = []
    for value in np.unique(beta):
        selected = beta_prime[beta == value]
        rows.append(
            {
                "encoder": name,
                "step": step,
                "beta": float(value),
                "beta_prime": float(selected.mean()),
                "beta_prime_std": float(selected.std(ddof=1)) if selected.size > 1 else float("nan"),
                "n": int(selected.size),
            }
        )
    return rows


def rg_flow(
    encoders: dict,
    thermometers_by_level: Sequence[keras.Model | None],
    spins,
    beta,
    lattice: Lattice,
    n_steps: int | None = None,
    batch_size: int = 256,
) -> pd.DataFrame:
    """beta' against beta for each encoder, iterated over RG steps.

    Parameters
    ----------
    encoders : dict name -> encoder
        An encoder is an RG rule name (``"decimation"``, ``"majority"``; used
        at every level), a callable ``(spins, lattice) -> coarse spins`` (used
        at every level), a Keras model with a ``"code"`` layer (a learned
        encoder or autoencoder, level 0 only), or a list of those per level
        (entry k maps level k to level k+1). Coarse outputs are binarised by
        sign (0 -> +1), so autoencoder codes become spins.
    thermometers_by_level : list of Keras models or None
        Entry k is the thermometer trained on the level-k lattice
        ``lattice.rg_levels()[k]``; None where there is none.
    spins : int8 (n, *lattice.shape), values ±1
        Configurations on the fine lattice.
    beta : float (n,) or float
        Inverse temperature at which each configuration was sampled.
    lattice : Lattice
        The fine lattice.
    n_steps : int or None
        Largest RG step to compute; None goes as far as levels, encoders and
        thermometers allow.

    Returns
    -------
    DataFrame with columns encoder, step, beta, beta_prime (mean over the
    configurations of that beta), beta_prime_std (sample standard deviation),
    n (configurations). Step 0 is the fine thermometer on the original
    configurations, repeated for every encoder.
    """
    spins = np.asarray(spins)
    if spins.ndim < 1 or spins.shape[1:] != lattice.shape:
        raise ValueError(
            f"spins must have shape (n, *{lattice.shape}) for {lattice.describe()}, got {spins.shape}"
        )
    beta = np.broadcast_to(np.asarray(beta, dtype=np.float64), (spins.shape[0],))
    if n_steps is not None and (isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 0):
        raise ValueError(f"n_steps must be a non-negative integer or None, got {n_steps!r}")
    if not encoders:
        raise ValueError("pass at least one encoder")
    levels = lattice.rg_levels()
    if not thermometers_by_level or thermometers_by_level[0] is None:
        raise ValueError("thermometers_by_level[0] must be the thermometer of the fine lattice")
    for level, thermometer in enumerate(thermometers_by_level[: len(levels)]):
        if thermometer is not None:
            check_input(thermometer, levels[level])
    max_steps = len(levels) - 1 if n_steps is None else min(n_steps, len(levels) - 1)

    start = predict_beta(thermometers_by_level[0], spins, batch_size=batch_size)
    rows = []
    for name, encoder in encoders.items():
        maps = _maps_per_level(name, encoder, len(levels) - 1)
        rows.extend(_summarise(name, 0, beta, start))
        current = spins
        for step in range(1, max_steps + 1):
            if step > len(maps) or step >= len(thermometers_by_level) or thermometers_by_level[step] is None:
                break
            current = _binarise(maps[step - 1](current, levels[step - 1]), levels[step - 1], name, step)
            beta_prime = predict_beta(thermometers_by_level[step], current, batch_size=batch_size)
            rows.extend(_summarise(name, step, beta, beta_prime))
    return pd.DataFrame(rows, columns=FLOW_COLUMNS)
