"""Analytic RG encoders: hand-built configurations, tie rule, Keras layers."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import itertools

import keras
import numpy as np
import pytest

from ising.lattice import cubic, square, triangular
from transfer.analytic import (
    RULES,
    DecimationEncoder,
    MajorityEncoder,
    analytic_encoder_layer,
    block_spins,
    decimate,
    majority_rule,
    rule_weights,
)

LATTICES = [square(4), square(8), square(6, b=3), triangular(6), cubic(4)]
IDS = [lattice.describe() for lattice in LATTICES]


def random_spins(lattice, n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.choice(np.array([-1, 1], dtype=np.int8), size=(n, *lattice.shape))


def square_cases():
    """square(4), 2x2 blocks with representatives at the even-even corners."""
    i, j = np.indices((4, 4))
    up = np.ones((4, 4), np.int8)
    one_block = up.copy()
    one_block[2:4, 0:2] = -1
    rep_only = up.copy()
    rep_only[0, 2] = -1
    three_down = up.copy()
    three_down[2, 2] = three_down[2, 3] = three_down[3, 3] = -1
    plus, minus = np.ones((2, 2), np.int8), -np.ones((2, 2), np.int8)
    # (name, configuration, expected decimation, expected majority)
    return [
        ("all up", up, plus, plus),
        ("all down", -up, minus, minus),
        ("one block flipped", one_block, [[1, 1], [-1, 1]], [[1, 1], [-1, 1]]),
        ("representative flipped", rep_only, [[1, -1], [1, 1]], plus),
        ("three of four down", three_down, [[1, 1], [1, -1]], [[1, 1], [1, -1]]),
        # every block sums to zero: the tie goes to the representative
        ("checkerboard (ties)", ((-1) ** (i + j)).astype(np.int8), plus, plus),
        ("flipped checkerboard (ties)", (-((-1) ** (i + j))).astype(np.int8), minus, minus),
        ("row stripes (ties)", ((-1) ** i).astype(np.int8), plus, plus),
    ]


def triangular_cases():
    """triangular(6): block = up-triangle {(i,j), (i+1,j), (i,j+1)} anchored at (i-j) % 3 == 0."""
    i, j = np.indices((6, 6))
    sublattice = (i - j) % 3
    up = np.ones((6, 6), np.int8)
    one_block = up.copy()
    one_block[0, 0] = one_block[1, 0] = one_block[0, 1] = -1  # block anchored at (0, 0)
    corner = np.ones((6, 2), np.int8)
    corner[0, 0] = -1  # anchor (0, 0) sits at coarse (0, 0 // 3)
    minority_rep = np.where(sublattice == 0, 1, -1).astype(np.int8)
    far_block = up.copy()
    far_block[4, 5] = -1  # (4 - 5) % 3 == 2: belongs to the block anchored at (4, 4)
    far_block[5, 4] = -1  # (5 - 4) % 3 == 1: belongs to the block anchored at (4, 4)
    far = np.ones((6, 2), np.int8)
    far[4, 1] = -1
    plus = np.ones((6, 2), np.int8)
    return [
        ("all up", up, plus, plus),
        ("all down", -up, -plus, -plus),
        ("one block flipped", one_block, corner, corner),
        ("representatives up, others down", minority_rep, plus, -plus),
        ("two of three down", far_block, plus, far),
    ]


def cubic_cases():
    """cubic(4), 2x2x2 blocks with representatives at the even corners."""
    i, j, k = np.indices((4, 4, 4))
    up = np.ones((4, 4, 4), np.int8)
    one_block = up.copy()
    one_block[2:, 0:2, 2:] = -1
    flipped = np.ones((2, 2, 2), np.int8)
    flipped[1, 0, 1] = -1
    five_down = up.copy()
    for site in [(0, 0, 1), (0, 1, 0), (0, 1, 1), (1, 0, 0), (1, 0, 1)]:
        five_down[site] = -1  # block (0, 0, 0) keeps its representative (0, 0, 0) and two more up
    five = np.ones((2, 2, 2), np.int8)
    five[0, 0, 0] = -1
    plus = np.ones((2, 2, 2), np.int8)
    return [
        ("all up", up, plus, plus),
        ("one block flipped", one_block, flipped, flipped),
        ("five of eight down, representative up", five_down, plus, five),
        ("checkerboard (ties)", ((-1) ** (i + j + k)).astype(np.int8), plus, plus),
        ("flipped checkerboard (ties)", (-((-1) ** (i + j + k))).astype(np.int8), -plus, -plus),
    ]


CASES = (
    [(square(4), *case) for case in square_cases()]
    + [(triangular(6), *case) for case in triangular_cases()]
    + [(cubic(4), *case) for case in cubic_cases()]
)


@pytest.mark.parametrize(
    "lattice, name, spins, expected_decimation, expected_majority",
    CASES,
    ids=[f"{lattice.name}: {name}" for lattice, name, *_ in CASES],
)
def test_hand_built_configurations(lattice, name, spins, expected_decimation, expected_majority):
    batch = np.asarray(spins, np.int8)[None]
    dec = decimate(batch, lattice)
    maj = majority_rule(batch, lattice)
    assert dec.dtype == np.int8 and maj.dtype == np.int8
    assert dec.shape == maj.shape == (1, *lattice.coarse_shape)
    np.testing.assert_array_equal(dec[0], np.asarray(expected_decimation))
    np.testing.assert_array_equal(maj[0], np.asarray(expected_majority))
    np.testing.assert_array_equal(block_spins(batch, lattice, "decimation"), dec)
    np.testing.assert_array_equal(block_spins(batch, lattice, "majority"), maj)


@pytest.mark.parametrize("lattice", LATTICES, ids=IDS)
def test_rules_on_random_configurations(lattice):
    spins = random_spins(lattice, 200)
    flat = spins.reshape(200, -1).astype(int)
    np.testing.assert_array_equal(decimate(spins, lattice).reshape(200, -1), flat[:, lattice.representatives])
    block_sum = flat[:, lattice.block_members()].sum(axis=2)
    majority = majority_rule(spins, lattice).reshape(200, -1)
    decided = block_sum != 0
    np.testing.assert_array_equal(majority[decided], np.sign(block_sum)[decided])
    for rule in RULES:
        # both rules are exact linear threshold maps, the target of a learned encoder
        weights = rule_weights(lattice, rule)
        np.testing.assert_array_equal(
            np.sign(flat @ weights).astype(np.int8), block_spins(spins, lattice, rule).reshape(200, -1)
        )
        # global flip symmetry, exactly, configuration by configuration
        np.testing.assert_array_equal(block_spins(-spins, lattice, rule), -block_spins(spins, lattice, rule))


@pytest.mark.parametrize(
    "lattice, n_ties", [(square(2), 6), (cubic(2), 70)], ids=["2x2 block", "2x2x2 block"]
)
def test_majority_tie_rule_is_unbiased(lattice, n_ties):
    """Over all 2^B states of one block, ties split exactly half +1, half -1 (C(B, B/2) ties)."""
    states = np.array(list(itertools.product([-1, 1], repeat=lattice.n_sites)), np.int8)
    spins = states.reshape(-1, *lattice.shape)
    ties = states.sum(axis=1) == 0
    assert ties.sum() == n_ties
    coarse = majority_rule(spins, lattice).reshape(-1)
    assert np.sum(coarse[ties] == 1) == n_ties // 2
    assert np.sum(coarse[ties] == -1) == n_ties // 2
    # with no tie, the majority decides
    np.testing.assert_array_equal(coarse[~ties], np.sign(states.sum(axis=1))[~ties])


def layer_model(lattice, rule):
    inputs = keras.Input(lattice.shape)
    return keras.Model(inputs, analytic_encoder_layer(lattice, rule)(inputs))


@pytest.mark.parametrize("lattice", LATTICES, ids=IDS)
def test_keras_layers_equal_numpy(lattice):
    spins = random_spins(lattice, 64, seed=1)
    for rule in RULES:
        model = layer_model(lattice, rule)
        assert model.trainable_weights == []
        out = model.predict(spins, verbose=0)
        assert out.shape == (64, *lattice.coarse_shape)
        np.testing.assert_array_equal(out, block_spins(spins, lattice, rule).astype(np.float32))


@pytest.mark.parametrize("rule", RULES)
def test_keras_layers_round_trip(rule, tmp_path):
    lattice = square(4)
    layer = analytic_encoder_layer(lattice, rule)
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    model = layer_model(lattice, rule)
    path = tmp_path / f"{rule}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded.layers[-1], DecimationEncoder if rule == "decimation" else MajorityEncoder)
    spins = random_spins(lattice, 32, seed=2)
    np.testing.assert_array_equal(loaded.predict(spins, verbose=0), model.predict(spins, verbose=0))


def test_wrong_configuration_shape_is_a_clear_error():
    lattice = square(4)
    wrong = random_spins(square(8), 3)
    for rule in RULES:
        with pytest.raises(ValueError, match=r"shape \(n, 4, 4\).*got \(3, 8, 8\)"):
            block_spins(wrong, lattice, rule)
        with pytest.raises(ValueError, match=r"expects configurations of shape \(4, 4\), got \(8, 8\)"):
            analytic_encoder_layer(lattice, rule)(keras.Input((8, 8)))
    with pytest.raises(ValueError, match="unknown RG rule 'median'"):
        block_spins(random_spins(lattice, 2), lattice, "median")


def test_lattices_without_blocks_or_with_bad_block_factor():
    coarse = triangular(6).coarse()
    with pytest.raises(ValueError, match="has no block partition"):
        decimate(np.ones((1, *coarse.shape), np.int8), coarse)
    with pytest.raises(ValueError, match="no block partition"):
        analytic_encoder_layer(coarse, "majority")
    # the block factor must divide L: the lattice refuses to build, naming both numbers
    with pytest.raises(ValueError, match=r"L=10 must be a multiple of 4 .*4\^2 blocks"):
        square(10, b=4)
    with pytest.raises(ValueError, match=r"L=6 must be a multiple of 4 .*4\^3 blocks"):
        cubic(6, b=4)
