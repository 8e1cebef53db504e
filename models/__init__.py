"""Thermometers: Keras 3 networks that read beta = 1/T off an Ising configuration.

- :mod:`models.thermometers`: the dense baseline (first layer ``"coarse"``, one
  unit per coarse site) and a size-agnostic convolutional thermometer, both
  even under the global spin flip; atomic ``.keras`` saving and safe loading.
- :mod:`models.layers`: the registered custom layers they and the encoders
  use (spin-flip pair, periodic padding, sign with a straight-through gradient).
- :mod:`models.data`: streaming batches from HDF5 ensembles (or arrays).
- :mod:`models.training`: the one training loop (:func:`fit_with_history`:
  early stopping, history from the untrained epoch 0) shared with
  :mod:`transfer.learned`, and thermometer fitting on separate chains.
- :mod:`models.evaluation`: MSE, MAE, R² per temperature band and the
  Bayes-optimal limit from the energy with the exact ln Z (square torus).

Train and evaluate a thermometer in a few lines::

    from ising.lattice import square
    from models import (build_conv_thermometer, evaluate_on_ensembles, save_model,
                        train_thermometer)

    lattice = square(32)
    model = build_conv_thermometer(lattice)
    history = train_thermometer(model, train_files, val_files, epochs=60, patience=8)
    result = evaluate_on_ensembles(model, test_files)
    print(result["report"])  # metrics per band, Bayes MSE, ratio network / Bayes
    save_model(model, "thermometer.keras")

``train_files``, ``val_files`` and ``test_files`` are lists of ensemble files
(:func:`ising.io.save_ensemble`) from independent chains.
"""

from .data import ThermometerData, chain_key, load_configurations
from .evaluation import (
    BANDS,
    TEMPERATURE_BANDS,
    BayesLimit,
    band_masks,
    bayes_limit,
    describe_thermometer,
    evaluate_on_ensembles,
    evaluate_thermometer,
    figure_of_merit,
    regression_metrics,
    statistic_dependence,
)
from .thermometers import (
    COARSE_LAYER,
    build_conv_thermometer,
    build_dense_thermometer,
    check_input,
    load_model,
    predict_beta,
    save_model,
    thermometer_lattice_name,
)
from .training import fit_with_history, train_thermometer

__all__ = [
    "BANDS",
    "COARSE_LAYER",
    "TEMPERATURE_BANDS",
    "BayesLimit",
    "ThermometerData",
    "band_masks",
    "bayes_limit",
    "build_conv_thermometer",
    "build_dense_thermometer",
    "chain_key",
    "check_input",
    "describe_thermometer",
    "evaluate_on_ensembles",
    "evaluate_thermometer",
    "figure_of_merit",
    "fit_with_history",
    "load_configurations",
    "load_model",
    "predict_beta",
    "regression_metrics",
    "save_model",
    "statistic_dependence",
    "thermometer_lattice_name",
    "train_thermometer",
]
