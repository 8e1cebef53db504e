"""C8: the central-limit map, k-statistics, the cumulant recursion and the networks of models.clt."""

import math

import numpy as np
import pytest

from analysis import central_limit as C
from analysis.claims import evaluate_claims


@pytest.mark.parametrize("name", C.DISTRIBUTIONS)
def test_k_statistics_recover_exact_cumulants(name):
    x = C.sample_distribution(name, 200_000, np.random.default_rng(1))
    k, replicates = C.k_statistics(x)
    se = C.jackknife_se(replicates)
    z = np.abs(k - np.array(C.EXACT_CUMULANTS[name])) / se
    assert np.all(z < 4), (name, k, se)
    assert se[3] < 0.5


def test_k_statistics_match_scipy_and_reject_bad_groups():
    from scipy import stats

    x = np.random.default_rng(2).exponential(size=500)
    k, _ = C.k_statistics(x)
    assert np.allclose(k, [stats.kstat(x, n) for n in range(1, 5)], rtol=1e-10)
    with pytest.raises(ValueError, match="one label per value"):
        C.k_statistics(x, groups=np.zeros(3))


def test_exact_map_iterated_follows_the_recursion():
    x = C.sample_distribution("exponential", 2**18, np.random.default_rng(3))
    levels = C.iterate_pairwise(lambda p: p.sum(axis=1) / math.sqrt(2.0), x, 5)
    for k in (1, 3, 5):
        kappa, replicates = C.k_statistics(levels[k])
        exact = C.exact_cumulants(C.EXACT_CUMULANTS["exponential"], k)
        assert np.all(np.abs(kappa - exact) < 4 * C.jackknife_se(replicates) + 1e-12), (k, kappa, exact)
    # uniform kappa_4: -1.2 -> -0.6 -> -0.3; exponential kappa_3: 2 -> sqrt(2)
    assert np.allclose(
        C.exact_cumulants(C.EXACT_CUMULANTS["uniform"], np.arange(3)[:, None])[:, 3], [-1.2, -0.6, -0.3]
    )
    assert C.exact_cumulants(C.EXACT_CUMULANTS["exponential"], 1)[2] == pytest.approx(math.sqrt(2.0))


def test_affine_cumulant_map_is_the_exact_one_at_the_exact_weights():
    kappa = np.array(C.EXACT_CUMULANTS["exponential"])
    w = 1 / math.sqrt(2.0)
    for k in range(4):
        assert np.allclose(C.affine_cumulant_map(w, w, 0.0, kappa, k), C.exact_cumulants(kappa, k))
    # a shift adds to kappa_1 only; a gain scales kappa_n by (w1^n + w2^n)
    assert np.allclose(
        C.affine_cumulant_map(0.5, 1.0, 0.3, kappa, 1), [1.5 * 0 + 0.3, 1.25, 1.125 * 2, 1.0625 * 6]
    )


def test_block_cumulants_exact_at_infinite_temperature():
    from ising.lattice import square

    spins = np.random.default_rng(4).choice(np.array([-1, 1], np.int8), (4000, 64))
    for b in (2, 4):
        r = C.block_cumulants(spins, square(8, b).block_members())
        exact = C.exact_cumulants([0.0, 1.0, 0.0, -2.0], 1, b * b)
        assert np.all(np.abs(r["block"] - exact) < 4 * r["block_se"] + 1e-12)
        assert np.all(np.abs(r["difference"]) < 4 * r["difference_se"] + 1e-12)


def test_block_cumulants_see_ferromagnetic_correlations():
    """All spins of a block equal (T -> 0 inside blocks): kappa_2 of M_B is m, not 1."""
    rng = np.random.default_rng(5)
    from ising.lattice import square

    members = square(4, 2).block_members()
    spins = np.empty((2000, 16), np.int8)
    signs = rng.choice(np.array([-1, 1], np.int8), (2000, 4))
    for j, sites in enumerate(members):
        spins[:, sites] = signs[:, [j]]
    r = C.block_cumulants(spins, members)
    assert r["block"][1] == pytest.approx(4.0, rel=0.05)
    assert r["recursion"][1] == pytest.approx(1.0, rel=0.05)


def test_model_catalogue_defines_odd_families_for_odd_activations_only():
    from models.clt import defined_models, undefined_reason

    pairs = defined_models(("free", "tied", "odd", "tied_odd"), ("linear", "tanh", "relu", "square"))
    assert len(pairs) == 12
    assert ("odd", "square") not in pairs and ("tied_odd", "relu") not in pairs
    assert "even" in undefined_reason("odd", "square")


def test_tied_is_symmetric_odd_is_odd_and_models_round_trip(tmp_path):
    import keras

    from models.clt import build_clt_model

    x = np.random.default_rng(6).standard_normal((256, 2)).astype(np.float32)
    for family, activation in (("tied", "square"), ("tied_odd", "tanh"), ("odd", "tanh"), ("soft", "relu")):
        model = build_clt_model(family, activation, 8, tie_strength=1.0 if family == "soft" else 0.0, seed=3)
        f = C._as_function(model)
        v = C.symmetry_violations(f, x)
        if family.startswith("tied"):
            assert v["permutation_violation"] == 0.0
        else:
            assert v["permutation_violation"] > 1e-6
        if family.endswith("odd"):
            assert v["sign_violation"] < 1e-12
        path = tmp_path / f"{family}.keras"
        model.save(path)
        loaded = keras.saving.load_model(path, safe_mode=True)
        assert np.allclose(f(x), C._as_function(loaded)(x), atol=1e-6)
    with pytest.raises(ValueError, match="not defined"):
        build_clt_model("odd", "relu")


def test_smoke_run_tables_claims_report_and_figures(tmp_path):
    settings = C.STUDY.defaults | C.STUDY.profiles["smoke"]
    tables = C.run_seed(settings, 0)
    assert set(tables) == {"clt_models", "clt_cumulants", "clt_generalisation", "clt_affine", "clt_ising"}
    for name, df in tables.items():
        assert name.startswith("clt_") and (df["seed"] == 0).all() and len(df)
    assert {"model", "test", "kappa4_z", "mse"} <= set(tables["clt_generalisation"].columns)
    affine = tables["clt_affine"]
    # a linear network's sampled cumulants follow those its weights predict, to sampling error
    assert np.all(np.abs(affine["sampled"] - affine["predicted"]) <= 5 * affine["se"] + 1e-9)
    results = evaluate_claims(C.claims(settings), tables)
    assert results["C8"]["verdict"] == "inconclusive"  # one seed never decides
    assert any(p["role"] == "verdict" for p in results["C8"]["parts"])
    lines = C.report(tables, settings)
    assert any("kappa_4" in line for line in lines)
    for figure in C.STUDY.figures:
        paths = figure.draw({t: tables[t] for t in figure.tables}, tmp_path / figure.name)
        assert all(p.exists() for p in paths)
