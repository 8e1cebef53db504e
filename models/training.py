"""Training a thermometer: Adam on the mean squared error of beta, early stopping.

The validation data must come from Markov chains the training data does not
contain (STUDY.md section 1: independent seeds); :func:`train_thermometer`
refuses files or chains shared by both.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from .data import ThermometerData

__all__ = ["train_thermometer"]


class _EpochBar(keras.callbacks.Callback):
    """One tqdm bar over epochs, showing the current losses."""

    def __init__(self, epochs: int, desc: str):
        super().__init__()
        self.epochs = epochs
        self.desc = desc
        self.bar = None

    def on_train_begin(self, logs=None):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=self.epochs, desc=self.desc, unit="epoch")

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.bar.set_postfix({k: f"{logs[k]:.3g}" for k in ("loss", "val_loss") if k in logs})
        self.bar.update(1)

    def on_train_end(self, logs=None):
        self.bar.close()


def _as_data(source, batch_size, *, shuffle, flip, seed, expect):
    if isinstance(source, ThermometerData):
        return source, False
    data = ThermometerData(source, batch_size, shuffle=shuffle, flip=flip, seed=seed, expect=expect)
    return data, True


def train_thermometer(
    model: keras.Model,
    train,
    validation,
    *,
    epochs: int = 50,
    batch_size: int = 64,
    patience: int = 5,
    learning_rate: float = 1e-3,
    seed: int = 0,
    flip: bool = True,
    verbose: int = 0,
    progress: bool = False,
) -> dict:
    """Fit ``model`` to beta with early stopping on a validation set of separate chains.

    Parameters
    ----------
    model : keras.Model
        A thermometer (:mod:`models.thermometers`); it is (re)compiled here
        with Adam(``learning_rate``), loss MSE and metric MAE.
    train, validation : list of HDF5 ensemble paths, (spins, beta) arrays, or ThermometerData
        Training and validation data (see :class:`models.data.ThermometerData`).
        Files or chains (:func:`models.data.chain_key`) present in both are refused.
    epochs : int
        Maximum number of epochs.
    batch_size : int
        Configurations per gradient step.
    patience : int
        Epochs without improvement of the validation loss before stopping; the
        weights of the best epoch are restored.
    learning_rate : float
        Adam step size.
    seed : int
        Seeds Keras, NumPy and TensorFlow (``keras.utils.set_random_seed``)
        and the data shuffling, so a run is reproducible on one machine.
    flip : bool
        Random global spin flips of the training configurations.
    verbose : int
        Passed to ``model.fit`` (0 silent, 1 progress bar per epoch, 2 one line per epoch).
    progress : bool
        Show one tqdm bar over epochs instead.

    Returns
    -------
    dict with the per-epoch lists of ``model.fit`` (``loss``, ``mae``,
    ``val_loss``, ``val_mae``) plus ``best_epoch`` (0-based index of the
    restored weights), ``best_val_loss``, ``epochs_run`` and ``stopped_early``.
    """
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("patience", patience)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be positive, got {learning_rate!r}")
    keras.utils.set_random_seed(int(seed))
    train_data, own_train = _as_data(train, batch_size, shuffle=True, flip=flip, seed=seed, expect=model)
    try:
        val_data, own_val = _as_data(
            validation, batch_size, shuffle=False, flip=False, seed=seed, expect=model
        )
    except Exception:
        if own_train:
            train_data.close()
        raise
    try:
        _refuse_shared_chains(train_data, val_data)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse", metrics=["mae"])
        stopper = keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=int(patience), restore_best_weights=True
        )
        # Halving the step on a validation plateau settles the fit near the Bayes limit.
        schedule = keras.callbacks.ReduceLROnPlateau(
            monitor="val_loss", factor=0.5, patience=max(3, int(patience) // 2), min_lr=learning_rate / 64
        )
        callbacks = [stopper, schedule]
        if progress:
            callbacks.append(_EpochBar(int(epochs), model.name))
        fit = model.fit(
            train_data,
            validation_data=val_data,
            epochs=int(epochs),
            callbacks=callbacks,
            verbose=0 if progress else verbose,
            # ThermometerData shuffles with its own seeded stream; Keras' batch shuffle would
            # draw from Python's global `random`, which other threads (e.g. Dask's) also use.
            shuffle=False,
        )
    finally:
        if own_train:
            train_data.close()
        if own_val:
            val_data.close()
    history = {k: [float(v) for v in values] for k, values in fit.history.items()}
    val_loss = np.asarray(history["val_loss"])
    best = int(np.argmin(val_loss))
    history.update(
        best_epoch=best,
        best_val_loss=float(val_loss[best]),
        epochs_run=len(val_loss),
        stopped_early=len(val_loss) < int(epochs),
    )
    return history


def _refuse_shared_chains(train_data: ThermometerData, val_data: ThermometerData):
    files = {Path(s).resolve() for s in train_data.sources if s != "arrays"}
    shared = sorted(str(s) for s in files & {Path(s).resolve() for s in val_data.sources if s != "arrays"})
    if shared:
        raise ValueError(f"validation files also used for training: {', '.join(shared)}")
    chains = set(train_data.chains) & set(val_data.chains)
    if chains:
        raise ValueError(
            f"validation and training ensembles share {len(chains)} Markov chain(s) "
            f"(same lattice, T and seed), e.g. {sorted(chains, key=str)[0]}; "
            f"sample validation ensembles with other seeds"
        )
