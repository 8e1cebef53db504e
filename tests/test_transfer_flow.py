"""RG flow through thermometers on tiny lattices."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import pandas as pd
import pytest

from ising.lattice import square
from models.thermometers import build_dense_thermometer
from transfer.flow import FLOW_COLUMNS, rg_flow
from transfer.learned import build_autoencoder, build_encoder


def magnetisation_probe(lattice):
    """A stand-in 'thermometer' whose output is the magnetisation per spin, m = mean(s)."""
    inputs = keras.Input(lattice.shape)
    dense = keras.layers.Dense(1, kernel_initializer="ones", use_bias=False, name="sum")
    outputs = dense(keras.layers.Flatten()(inputs))
    model = keras.Model(
        inputs, keras.layers.Rescaling(1.0 / lattice.n_sites)(outputs), name=f"probe-{lattice.name}"
    )
    return model


def test_flow_table_on_square_8():
    lattice = square(8)  # levels 8x8 -> 4x4 -> 2x2: two RG steps
    levels = lattice.rg_levels()
    thermometers = [build_dense_thermometer(level, hidden=4, seed=k) for k, level in enumerate(levels)]
    rng = np.random.default_rng(0)
    spins = rng.choice(np.array([-1, 1], np.int8), size=(40, 8, 8))
    beta = np.repeat([0.3, 0.6], 20)
    encoders = {
        "decimation": "decimation",
        "majority": "majority",
        "autoencoder": build_autoencoder(lattice, init_from=thermometers[0]),
        "learned": [build_encoder(lattice, init_from=thermometers[0])],
    }
    flow = rg_flow(encoders, thermometers, spins, beta, lattice)
    assert list(flow.columns) == FLOW_COLUMNS
    steps = flow.groupby("encoder")["step"].max().to_dict()
    # analytic rules exist at every level; the learned models only at level 0
    assert steps == {"decimation": 2, "majority": 2, "autoencoder": 1, "learned": 1}
    assert (flow["n"] == 20).all()
    assert sorted(flow["beta"].unique()) == [0.3, 0.6]
    assert np.isfinite(flow["beta_prime"]).all() and (flow["beta_prime_std"] >= 0).all()
    # step 0 is the fine thermometer itself, identical for every encoder
    start = flow[flow["step"] == 0].groupby("beta")["beta_prime"].nunique()
    assert (start == 1).all()
    assert len(rg_flow(encoders, thermometers, spins, beta, lattice, n_steps=1).query("step == 2")) == 0
    assert flow.query("step == 2").shape[0] == 4
    # without a level-2 thermometer the flow stops after one step
    assert rg_flow({"decimation": "decimation"}, thermometers[:2], spins, beta, lattice)["step"].max() == 1


def test_flow_of_ordered_configurations_is_exact():
    """Fully ordered configurations stay fully ordered under every rule: m' = m = ±1 at each step."""
    lattice = square(8)
    probes = [magnetisation_probe(level) for level in lattice.rg_levels()]
    spins = np.concatenate([np.ones((3, 8, 8), np.int8), -np.ones((2, 8, 8), np.int8)])
    beta = np.array([1.0, 1.0, 1.0, 2.0, 2.0])
    flow = rg_flow({"decimation": "decimation", "majority": "majority"}, probes, spins, beta, lattice)
    expected = pd.Series(np.where(flow["beta"] == 1.0, 1.0, -1.0))
    np.testing.assert_allclose(flow["beta_prime"], expected, atol=1e-6)
    assert set(flow["step"]) == {0, 1, 2}


def test_flow_errors():
    lattice = square(4)
    spins = np.ones((2, 4, 4), np.int8)
    wrong = [build_dense_thermometer(square(8), hidden=4)]
    with pytest.raises(ValueError, match="thermometer expects 8x8 configurations, got 4x4"):
        rg_flow({"decimation": "decimation"}, wrong, spins, 0.4, lattice)
    probes = [magnetisation_probe(level) for level in lattice.rg_levels()]
    with pytest.raises(ValueError, match=r"spins must have shape"):
        rg_flow({"decimation": "decimation"}, probes, np.ones((2, 8, 8), np.int8), 0.4, lattice)
    with pytest.raises(ValueError, match="unknown RG rule 'median'"):
        rg_flow({"median": "median"}, probes, spins, 0.4, lattice)
    with pytest.raises(ValueError, match="returned coarse configurations of shape"):
        rg_flow({"identity": lambda s, lat: s}, probes, spins, 0.4, lattice)
