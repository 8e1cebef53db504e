"""Training with early stopping: one loop and one history format for every model.

- :func:`fit_with_history` is the loop that thermometers
  (:func:`train_thermometer`) and the encoders of :mod:`transfer.learned`
  share: it evaluates the compiled model before fitting (epoch 0), fits with
  early stopping on the monitored loss, restores the weights of the best epoch
  (the untrained ones included) and returns the history as a dict of lists.
- :func:`train_thermometer`: Adam on the mean squared error of beta. The
  validation data must come from Markov chains the training data does not
  contain (STUDY.md section 1: independent seeds); it refuses files or chains
  shared by both.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from .data import ThermometerData

__all__ = ["fit_with_history", "train_thermometer"]


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


class _BestWeights(keras.callbacks.Callback):
    """Early stopping that counts the untrained model as epoch 0.

    Tracks ``monitor`` from a given epoch-0 value, keeps a copy of the weights
    of the best epoch so far (strictly lower value; NaN never improves), stops
    after ``patience`` epochs without improvement and restores the best
    weights at the end. With ``patience=None`` it never stops or restores:
    the model keeps its last weights, which are then the "best" ones reported.
    """

    def __init__(self, monitor: str, initial: float, patience: int | None):
        super().__init__()
        self.monitor = monitor
        self.patience = patience
        self.best = initial if np.isfinite(initial) else np.inf
        self.best_epoch = 0
        self.best_weights = None

    def on_train_begin(self, logs=None):
        if self.patience is not None:
            self.best_weights = self.model.get_weights()

    def on_epoch_end(self, epoch, logs=None):
        value = float((logs or {}).get(self.monitor, np.nan))
        if self.patience is None:
            self.best, self.best_epoch = value, epoch + 1
            return
        if value < self.best:
            self.best, self.best_epoch = value, epoch + 1
            self.best_weights = self.model.get_weights()
        elif epoch + 1 - self.best_epoch >= self.patience:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)


def fit_with_history(
    model: keras.Model,
    train,
    validation=None,
    *,
    epochs: int,
    patience: int | None,
    batch_size: int | None = None,
    shuffle: bool = False,
    callbacks: tuple = (),
    verbose: int = 0,
) -> dict:
    """Fit a compiled model with early stopping; the history starts at the untrained model.

    Parameters
    ----------
    model : keras.Model
        Compiled (loss and metrics chosen by the caller).
    train, validation : (x, y) tuple of arrays, or a keras.utils.PyDataset
        Training data and optional validation data. Arrays are batched by
        ``batch_size`` (and shuffled by Keras when ``shuffle``); a dataset
        batches and orders itself (``shuffle`` is ignored for it).
    epochs : int
        Maximum number of training epochs.
    patience : int or None
        Epochs without a strict improvement of the monitored loss
        (``val_loss``, or ``loss`` without validation data) before stopping;
        the weights of the best epoch, epoch 0 included, are restored.
        ``None`` trains for all ``epochs`` and keeps the last weights.
    callbacks : tuple of keras.callbacks.Callback
        Further callbacks (learning-rate schedules, progress bars).
    verbose : int
        Passed to ``model.fit``.

    Returns
    -------
    dict, the one history format of the package:
    ``"epoch"``: [0, 1, ..., epochs_run]; one list per loss and metric of
    ``model.fit`` (``"loss"``, ``"val_loss"``, ...), of the same length, whose
    entry 0 is ``model.evaluate`` of the untrained model and entry k the
    Keras value of epoch k (training loss averaged over the epoch's batches,
    validation loss at its end); ``"best_epoch"`` (the epoch whose weights the
    model holds on return), ``"best_val_loss"`` (``val_loss`` there, None
    without validation data), ``"epochs_run"`` (training epochs, epoch 0 not
    counted) and ``"stopped_early"``.
    """
    train_args = _fit_arguments(train)
    val_args = None if validation is None else _fit_arguments(validation)
    initial = _evaluate(model, train_args, batch_size)
    if val_args is not None:
        initial |= {f"val_{k}": v for k, v in _evaluate(model, val_args, batch_size).items()}
    # Logged by learning-rate schedules; its epoch-0 entry is the starting step.
    initial["learning_rate"] = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    monitor = "loss" if val_args is None else "val_loss"
    best = _BestWeights(monitor, initial[monitor], patience)
    fitted = model.fit(
        *train_args,
        validation_data=val_args if val_args is None or len(val_args) > 1 else val_args[0],
        epochs=int(epochs),
        batch_size=batch_size if len(train_args) > 1 else None,
        # A dataset orders its own batches; Keras would shuffle their order with Python's
        # global `random`, which concurrent tasks (threads) share, so runs would not repeat.
        shuffle=shuffle and len(train_args) > 1,
        callbacks=[best, *callbacks],
        verbose=verbose,
    )
    history = {key: [initial[key], *map(float, values)] for key, values in fitted.history.items()}
    epochs_run = len(history[monitor]) - 1
    return {
        "epoch": list(range(epochs_run + 1)),
        **history,
        "best_epoch": int(best.best_epoch),
        "best_val_loss": None if val_args is None else float(history["val_loss"][best.best_epoch]),
        "epochs_run": epochs_run,
        "stopped_early": epochs_run < int(epochs),
    }


def _fit_arguments(data) -> tuple:
    """``(x, y)`` as float32 arrays, or ``(dataset,)`` for a PyDataset."""
    if isinstance(data, keras.utils.PyDataset):
        return (data,)
    if not isinstance(data, tuple) or len(data) != 2:
        raise ValueError("pass training and validation data as (x, y) tuples of arrays or as a PyDataset")
    return tuple(np.asarray(part, dtype=np.float32) for part in data)


def _evaluate(model: keras.Model, args: tuple, batch_size: int | None) -> dict[str, float]:
    """Loss and metrics of a compiled model on its data at the current weights."""
    results = model.evaluate(
        *args, batch_size=batch_size if len(args) > 1 else None, verbose=0, return_dict=True
    )
    return {key: float(value) for key, value in results.items()}


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
    The history of :func:`fit_with_history`: ``epoch`` [0, 1, ...,
    epochs_run] and per-epoch lists ``loss``, ``mae``, ``val_loss``,
    ``val_mae``, ``learning_rate`` whose entry 0 is the untrained model
    (``learning_rate`` there is the initial step); ``best_epoch`` (the
    restored weights' epoch), ``best_val_loss``, ``epochs_run`` (training
    epochs) and ``stopped_early``.
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
        # Halving the step on a validation plateau settles the fit near the Bayes limit.
        schedule = keras.callbacks.ReduceLROnPlateau(
            monitor="val_loss", factor=0.5, patience=max(3, int(patience) // 2), min_lr=learning_rate / 64
        )
        callbacks = [schedule]
        if progress:
            callbacks.append(_EpochBar(int(epochs), model.name))
        # ThermometerData shuffles with its own seeded stream; Keras' batch shuffle would
        # draw from Python's global `random`, which other threads (e.g. Dask's) also use.
        return fit_with_history(
            model,
            train_data,
            val_data,
            epochs=int(epochs),
            patience=int(patience),
            callbacks=tuple(callbacks),
            verbose=0 if progress else verbose,
        )
    finally:
        if own_train:
            train_data.close()
        if own_val:
            val_data.close()


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
