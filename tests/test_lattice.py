import numpy as np
import pytest

from ising.lattice import (
    LATTICES,
    Lattice,
    cubic,
    graph_lattice,
    make_lattice,
    register_lattice,
    square,
    triangular,
)

# (builder, n_sites, coordination, n_blocks, n_colours)
TABLE = [
    (lambda: square(8), 64, 4, 16, 2),
    (lambda: square(12, b=3), 144, 4, 16, 2),
    (lambda: triangular(6), 36, 6, 12, 3),
    (lambda: triangular(9), 81, 6, 27, 3),
    (lambda: cubic(4), 64, 6, 8, 2),
]


@pytest.mark.parametrize(("builder", "n_sites", "z", "n_blocks", "n_colours"), TABLE)
def test_geometry_table(builder, n_sites, z, n_blocks, n_colours):
    lat = builder()
    assert lat.n_sites == n_sites
    assert lat.coordination == z
    assert lat.n_blocks == n_blocks
    assert lat.n_colours == n_colours
    nb = lat.neighbours
    # symmetric neighbour relation: j in N(i) iff i in N(j), with equal multiplicity
    pairs = np.stack([np.repeat(np.arange(n_sites), z), nb.ravel()], 1)
    fwd = np.unique(pairs, axis=0, return_counts=True)
    bwd = np.unique(pairs[:, ::-1], axis=0, return_counts=True)
    assert np.array_equal(fwd[0], bwd[0]) and np.array_equal(fwd[1], bwd[1])
    assert not np.any(nb == np.arange(n_sites)[:, None])  # no self bonds
    assert np.all(lat.colours[nb] != lat.colours[:, None])
    members = lat.block_members()
    assert members.shape == (n_blocks, n_sites // n_blocks)
    assert np.array_equal(np.sort(members.ravel()), np.arange(n_sites))
    assert np.all(lat.block_ids[lat.representatives] == np.arange(n_blocks))
    sites, offsets = lat.colour_classes()
    assert np.array_equal(np.sort(sites), np.arange(n_sites)) and offsets[-1] == n_sites


def test_square_blocks_are_contiguous_squares():
    lat = square(8, b=2)
    ids = lat.block_ids.reshape(8, 8)
    assert np.array_equal(ids[:2, :2], np.zeros((2, 2)))
    assert ids[0, 2] == 1 and ids[2, 0] == 4
    assert lat.representatives[5] == 2 * 8 + 2  # block (1,1) kept at its corner (2,2)


def test_triangular_blocks_are_triangles_and_coarse_lattice_is_triangular():
    lat = triangular(9)
    nb = lat.neighbours
    for members in lat.block_members():
        a, b, c = members
        assert b in nb[a] and c in nb[a] and c in nb[b]
    coarse = lat.coarse()
    assert coarse.n_sites == 27 and coarse.coordination == 6
    assert coarse.shape == lat.coarse_shape


def test_rg_levels_stop_where_blocks_stop():
    assert [lat.L for lat in square(32).rg_levels()] == [32, 16, 8, 4, 2]
    assert [lat.n_sites for lat in cubic(8).rg_levels()] == [512, 64, 8]
    assert len(triangular(9).rg_levels()) == 2


@pytest.mark.parametrize(
    ("name", "L", "kwargs", "message"),
    [
        ("square", 7, {}, "multiple of 2"),
        ("square", 8, {"b": 3}, "multiple of 6"),
        ("square", 0, {}, "positive integer"),
        ("triangular", 8, {}, "multiple of 3"),
        ("cubic", -2, {}, "positive integer"),
        ("hexagonal", 8, {}, "unknown lattice"),
        ("square", 8, {"b": 1}, "block factor"),
    ],
)
def test_bad_sizes_are_refused(name, L, kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_lattice(name, L, **kwargs)


def test_register_a_new_lattice_without_touching_the_samplers():
    def chain(L, b=2):
        sites = np.arange(L)
        return Lattice(
            "chain",
            (L,),
            np.stack([(sites - 1) % L, (sites + 1) % L], 1),
            sites % 2,
            block_ids=sites // b,
            representatives=sites[::b],
            b=b,
            coarse_shape=(L // b,),
            params={"L": L, "b": b},
        )

    register_lattice("chain_test", chain)
    try:
        from ising.sampling import sample_ensemble

        ens = sample_ensemble(make_lattice("chain_test", 16), 1.0, 50, seed=3)
        assert ens.spins.shape == (50, 16)
    finally:
        LATTICES.pop("chain_test")


def test_improper_colouring_is_refused():
    nb = np.array([[1, 1], [0, 0]])
    with pytest.raises(ValueError, match="colouring"):
        Lattice("bad", (2,), nb, colours=[0, 0])
    assert graph_lattice("pair", (2,), nb).n_colours == 2


@pytest.mark.parametrize(
    "lattice",
    [square(16), square(12, b=3), cubic(8), triangular(9)],
    ids=["square", "square-b3", "cubic", "triangular"],
)
def test_every_level_rebuilds_from_its_spec(lattice):
    for level in lattice.rg_levels(min_sites=2):
        again = make_lattice(**level.spec())
        assert again.name == level.name and again.shape == level.shape
        np.testing.assert_array_equal(again.neighbours, level.neighbours)
        if level.has_blocks:
            np.testing.assert_array_equal(again.block_ids, level.block_ids)


def test_lattices_describe_themselves():
    from ising.exact import kaufman_log_z

    sq = square(8)
    assert sq.critical_temperature == pytest.approx(2 / np.log(1 + np.sqrt(2)))
    assert sq.critical_temperature_at(-2.0) == pytest.approx(2 * sq.critical_temperature)
    assert sq.exact_log_z(np.array([0.3, 0.5]), 1.0) == pytest.approx(kaufman_log_z(8, np.array([0.3, 0.5])))
    assert sq.coarse().exact_log_z(0.4, 1.0) == pytest.approx(kaufman_log_z(4, 0.4))
    assert (sq.conv_kernel, cubic(4).conv_kernel, triangular(6).conv_kernel) == (2, 2, 3)
    assert triangular(6).exact_log_z is None and triangular(6).coarse().conv_kernel == 3


def test_builders_from_outside_the_package_load_by_path():
    lattice = make_lattice("ising.lattice:square", 8)
    assert lattice.name == "square" and lattice.shape == (8, 8)
    with pytest.raises(ValueError, match="cannot import lattice builder"):
        make_lattice("no_such_module:build", 8)
    with pytest.raises(ValueError, match="unknown lattice"):
        make_lattice("hexagonal", 8)
