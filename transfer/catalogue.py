"""The catalogue of models the transfer stage trains, and the loop that trains them.

Every model of the study's transfer step is one :class:`ModelEntry`: its name,
family, initialisation, code type and what it is built from. The stage, the
tables, the figures and the report read these entries instead of building and
parsing names, so a new encoder is one entry here (and its builder) plus a test.

Families (STUDY.md section 3):

- ``rg_encoder``: Dense(N/B, tanh) trained to output the analytic block spins
  of its input (``rule``), initialised from the thermometer's first layer
  (``init = "transfer"``) or at random (``"scratch"``);
- ``autoencoder``: the same encoder and a Dense(N, tanh) decoder trained to
  reconstruct the input, with a continuous (tanh) code or a binary one (sign
  forward, straight-through gradient: the equal-capacity partner of ±1 RG codes);
- ``rg_encode_decode``: a frozen RG encoder (analytic ``rule``, or a learned
  ``rg_encoder`` entry named by ``encoder``) and the autoencoder's decoder
  shape, trained to reconstruct the input.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

__all__ = ["ModelEntry", "transfer_catalogue", "entry_by_name", "train_catalogue", "TransferResult"]


@dataclass(frozen=True)
class ModelEntry:
    """One model of the transfer stage.

    Attributes
    ----------
    name : str
        File and table name (``rg_majority_transfer``, ``ae_scratch``, ...).
    family : str
        ``"rg_encoder"``, ``"autoencoder"`` or ``"rg_encode_decode"``.
    init : str
        ``"transfer"`` (first layer from the thermometer), ``"scratch"`` or ``"frozen"``.
    code : str
        ``"binary"`` (±1 per coarse unit) or ``"continuous"`` (tanh values): what the
        decoder sees, so that reconstructions are compared at equal capacity.
    rule : str or None
        The block-spin rule an RG encoder imitates or an encode-decode model freezes.
    encoder : str or None
        For ``rg_encode_decode`` with a learned encoder: the entry it freezes.
    """

    name: str
    family: str
    init: str
    code: str
    rule: str | None = None
    encoder: str | None = None

    @property
    def reconstructs(self) -> bool:
        """True for models trained to reconstruct their input (they have a test MSE)."""
        return self.family in ("autoencoder", "rg_encode_decode")

    @property
    def has_kernel(self) -> bool:
        """True for models with a learned N -> N/B encoder layer (measured for sparsity)."""
        return self.family in ("rg_encoder", "autoencoder")

    @property
    def group(self) -> str:
        """What training curves are grouped by: ``rg_<rule>``, ``ae`` or ``rg_encode_decode``."""
        if self.family == "autoencoder":
            return "ae" if self.code == "continuous" else f"ae_{self.code}"
        return f"rg_{self.rule}" if self.family == "rg_encoder" else self.family

    @property
    def init_label(self) -> str:
        """The initialisation as tables show it (``transfer``, ``scratch``, ``frozen <encoder>``)."""
        if self.init != "frozen":
            return self.init
        return f"frozen learned_{self.rule}" if self.encoder else f"frozen {self.rule}"


INITS = ("transfer", "scratch")


def transfer_catalogue(rules) -> tuple[ModelEntry, ...]:
    """The models trained for one seed, in training order (encoders before what freezes them)."""
    entries = [
        ModelEntry(f"rg_{rule}_{init}", "rg_encoder", init, "continuous", rule=rule)
        for rule in rules
        for init in INITS
    ]
    entries += [ModelEntry(f"ae_{init}", "autoencoder", init, "continuous") for init in INITS]
    # the equal-capacity partner of frozen ±1 RG codes (claim C3): sign forward, straight-through back
    entries += [ModelEntry(f"ae_binary_{init}", "autoencoder", init, "binary") for init in INITS]
    for rule in rules:
        entries.append(ModelEntry(f"encdec_{rule}", "rg_encode_decode", "frozen", "binary", rule=rule))
        entries.append(
            ModelEntry(
                f"encdec_learned_{rule}",
                "rg_encode_decode",
                "frozen",
                "continuous",
                rule=rule,
                encoder=f"rg_{rule}_transfer",
            )
        )
    return tuple(entries)


def entry_by_name(entries, name: str) -> ModelEntry:
    for entry in entries:
        if entry.name == name:
            return entry
    raise ValueError(f"no model {name!r} in the catalogue")


@dataclass
class TransferResult:
    """What training the catalogue for one seed produced."""

    models: dict
    histories: dict
    checks: dict
    kernels: dict
    test_loss: dict


def train_catalogue(entries, lattice, thermometer, data: dict, fit: dict, seed: int) -> TransferResult:
    """Build and train every entry for one seed.

    Parameters
    ----------
    entries : sequence of ModelEntry
        From :func:`transfer_catalogue`.
    lattice : Lattice
        The fine lattice (N sites, N/B blocks).
    thermometer : keras.Model
        The trained dense thermometer whose first layer ``"transfer"`` entries copy.
    data : dict
        ``{"train", "val", "test"}`` -> int8 (n, *lattice.shape) configurations.
    fit : dict
        Training settings (epochs, batch_size, patience, learning_rate).
    seed : int
        Initialisation and shuffling seed.
    """
    from .learned import (
        build_autoencoder,
        build_encoder,
        build_rg_encode_decode,
        check_rg_encoder,
        encoder_kernel,
        train_reconstruction,
        train_rg_encoder,
    )

    fit = {**fit, "seed": seed}
    x_train, x_val, x_test = data["train"], data["val"], data["test"]
    result = TransferResult({}, {}, {}, {}, {})
    result.kernels["thermometer"] = encoder_kernel(thermometer)
    for entry in entries:
        source = thermometer if entry.init == "transfer" else None
        if entry.family == "rg_encoder":
            model = build_encoder(lattice, init_from=source, seed=seed, name=entry.name)
            history = train_rg_encoder(model, x_train, x_val, lattice, entry.rule, **fit)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # failures are reported, not warned
                result.checks[entry.name] = check_rg_encoder(model, x_test, lattice, entry.rule)
        elif entry.family == "autoencoder":
            model = build_autoencoder(lattice, init_from=source, seed=seed, name=entry.name, code=entry.code)
            history = train_reconstruction(model, x_train, x_val, lattice, **fit)
        else:
            frozen = result.models[entry.encoder] if entry.encoder else entry.rule
            model = build_rg_encode_decode(lattice, frozen, seed=seed, name=entry.name)
            history = train_reconstruction(model, x_train, x_val, lattice, **fit)
        result.models[entry.name] = model
        result.histories[entry.name] = history
        if entry.has_kernel:
            result.kernels[entry.name] = encoder_kernel(model)
    for entry in entries:
        if entry.reconstructs:
            recon = result.models[entry.name].predict(x_test.astype(np.float32), batch_size=1024, verbose=0)
            result.test_loss[entry.name] = float(np.mean((recon - x_test) ** 2))
    return result
