"""Zero-cost proxies pinned against values computed independently with numpy on a tiny model."""

import math

import keras
import numpy as np
import pytest

from nascompiler.run.proxies import compute_proxies, jacob_cov_score
from nascompiler.storage.ranking import precision_at_top, rank_correlations

RNG = np.random.default_rng(0)
W1 = RNG.normal(size=(3, 4)).astype("float32")
B1 = RNG.normal(size=(4,)).astype("float32") * 0.1
W2 = RNG.normal(size=(4, 2)).astype("float32")
B2 = RNG.normal(size=(2,)).astype("float32") * 0.1
X = RNG.normal(size=(5, 3)).astype("float32")
Y = np.array([0, 1, 1, 0, 1])


def tiny_model():
    inputs = keras.Input(shape=(3,))
    h = keras.layers.Dense(4, activation="relu", name="hidden")(inputs)
    outputs = keras.layers.Dense(2, activation="softmax", name="out")(h)
    model = keras.Model(inputs, outputs)
    model.get_layer("hidden").set_weights([W1, B1])
    model.get_layer("out").set_weights([W2, B2])
    return model


def numpy_synflow():
    a1, c1, a2, c2 = (np.abs(w).astype(np.float64) for w in (W1, B1, W2, B2))
    h = np.ones(3) @ a1 + c1  # every term positive: the ReLU passes it unchanged
    d_h = a2.sum(axis=1)  # dR/dh for R = sum(h @ a2 + c2)
    d_w2 = np.outer(h, np.ones(2))
    d_w1 = np.outer(np.ones(3), d_h)
    return float(np.sum(a1 * d_w1) + np.sum(a2 * d_w2))


def numpy_naswot():
    codes = ((X @ W1 + B1) > 0).astype(np.float64)
    kernel = codes @ codes.T + (1 - codes) @ (1 - codes).T
    return float(np.linalg.slogdet(kernel)[1])


def numpy_grad_norm():
    x = X.astype(np.float64)
    pre = x @ W1 + B1
    h = np.maximum(pre, 0)
    z = h @ W2 + B2
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    dz = (p - np.eye(2)[Y]) / len(x)
    d_w2, d_b2 = h.T @ dz, dz.sum(axis=0)
    d_pre = (dz @ W2.T) * (pre > 0)
    d_w1, d_b1 = x.T @ d_pre, d_pre.sum(axis=0)
    return float(sum(np.linalg.norm(g) for g in (d_w1, d_b1, d_w2, d_b2)))


def numpy_jacob_cov():
    pre = X @ W1 + B1
    d_pre = W2.sum(axis=1)[None, :] * (pre > 0)
    rows = d_pre @ W1.T  # one row per sample: dR/dx
    corr = np.corrcoef(rows)
    v = np.linalg.eigvalsh(corr)
    return float(-np.sum(np.log(v + 1e-5) + 1 / (v + 1e-5)))


def test_each_proxy_matches_an_independent_numpy_computation():
    scores, seconds = compute_proxies(
        tiny_model(), X, Y, loss="sparse_categorical_crossentropy"
    )
    assert scores["synflow"] == pytest.approx(numpy_synflow(), rel=1e-5)
    assert scores["naswot"] == pytest.approx(numpy_naswot(), rel=1e-9)
    assert scores["grad_norm"] == pytest.approx(numpy_grad_norm(), rel=1e-4)
    assert scores["jacob_cov"] == pytest.approx(numpy_jacob_cov(), rel=1e-4)
    assert set(seconds) == set(scores) and all(s >= 0 for s in seconds.values())


def test_proxies_are_deterministic_for_a_seeded_build():
    def seeded():
        keras.utils.set_random_seed(3)
        inputs = keras.Input(shape=(3,))
        h = keras.layers.Dense(64, activation="relu")(inputs)
        return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(h))

    first = compute_proxies(seeded(), X, Y, "sparse_categorical_crossentropy")[0]
    second = compute_proxies(seeded(), X, Y, "sparse_categorical_crossentropy")[0]
    assert first == second
    assert all(math.isfinite(v) for v in first.values())


def test_the_output_activation_is_restored_and_a_model_without_relu_scores_nan():
    model = tiny_model()
    compute_proxies(model, X, Y, "sparse_categorical_crossentropy")
    assert model.get_layer("out").activation is keras.activations.softmax
    inputs = keras.Input(shape=(3,))
    linear = keras.Model(inputs, keras.layers.Dense(2, activation="tanh")(inputs))
    scores, _ = compute_proxies(
        linear, X, Y, "sparse_categorical_crossentropy", ["naswot"]
    )
    assert math.isnan(scores["naswot"])
    with pytest.raises(ValueError, match="unknown proxy 'snip'"):
        compute_proxies(linear, X, Y, "mse", ["snip"])


def test_jacob_cov_prefers_uncorrelated_rows():
    independent = np.eye(4)
    correlated = np.array(
        [[1.0, 2, 3, 4], [1.1, 2, 3, 4], [1, 2.1, 3, 4], [1, 2, 3.1, 4]]
    )
    assert jacob_cov_score(independent) > jacob_cov_score(correlated)
    assert jacob_cov_score(np.ones((3, 4))) == -math.inf


def test_rank_correlations_and_precision():
    actual = [0.1, 0.5, 0.3, 0.9, 0.7]
    assert rank_correlations(actual, actual) == {
        "spearman": pytest.approx(1.0),
        "kendall": 1.0,
        "n": 5,
    }
    reversed_ = rank_correlations([-a for a in actual], actual)
    assert reversed_["spearman"] == pytest.approx(-1) and reversed_["kendall"] == -1
    # one swapped pair of five: tau = (9 - 1) / 10, rho = 1 - 6 * 2 / (5 * 24)
    swapped = rank_correlations([0.1, 0.5, 0.3, 0.7, 0.9], actual)
    assert swapped["kendall"] == pytest.approx(0.8)
    assert swapped["spearman"] == pytest.approx(0.9)
    # -inf (NASWOT's singular kernel) ranks last; NaN (a failed proxy) is left out
    assert rank_correlations([-math.inf, -math.inf, 2, 3], [0, 0, 1, 2])["kendall"] == 1
    assert precision_at_top([-math.inf, 1, math.nan], [1, 3, 2], k=1) == 1.0
    nan_pairs = rank_correlations([math.nan, 1, 2], [1, 2, 3])
    assert nan_pairs["n"] == 2 and math.isnan(nan_pairs["spearman"])
    assert precision_at_top([5, 4, 3, 2, 1], [5, 4, 0, 0, 9], k=2) == 0.5
    assert precision_at_top([math.nan, 1, 2], [3, 2, 1], k=1) == 0.0


def _study_with_proxies(folder):
    from nascompiler.storage.store import Store

    store = Store(folder, create=True)
    objectives = [0.5, 0.9, 0.7, 0.6]
    for number, objective in enumerate(objectives):
        store.start_trial(
            number,
            f"c{number}",
            {"u": number},
            seed=1,
            asked_after=number,
            cost={"flops": 100 * (number + 1)},
        )
        store.set_proxies(
            number,
            {"synflow": objective * 10, "naswot": -objective},
            {"synflow": 0.01, "naswot": 0.03},
        )
        store.finish_trial(
            number, status="complete", objective=objective, params=1000 - number
        )
    return store


def test_the_store_keeps_proxies_and_the_table_ranks_them(tmp_path):
    from nascompiler.storage.ranking import proxy_table

    with _study_with_proxies(tmp_path / "s") as store:
        assert store.proxies()[1] == {"naswot": (-0.9, 0.03), "synflow": (9.0, 0.01)}
        rows = {r["proxy"]: r for r in proxy_table(store, "max", k=1)}
    assert list(rows) == ["naswot", "synflow", "params", "flops"]
    assert rows["synflow"]["spearman"] == pytest.approx(1.0)
    assert rows["synflow"]["precision_at_1"] == 1.0
    assert rows["naswot"]["kendall"] == pytest.approx(-1.0)
    assert rows["synflow"]["median_seconds"] == 0.01
    assert rows["params"]["median_seconds"] is None and rows["params"]["n"] == 4
    # a minimised objective turns the ranking round
    with _study_with_proxies(tmp_path / "t") as store:
        flipped = {r["proxy"]: r for r in proxy_table(store, "min")}
    assert flipped["synflow"]["spearman"] == pytest.approx(-1.0)


def test_a_schema_3_study_gains_the_proxies_table(tmp_path):
    import sqlite3

    from nascompiler.storage.store import SCHEMA_VERSION, Store

    _study_with_proxies(tmp_path / "s").close()
    with sqlite3.connect(tmp_path / "s" / "study.db") as db:
        db.execute("DROP TABLE proxies")
        db.execute("UPDATE meta SET value='3' WHERE key='schema_version'")
    with Store(tmp_path / "s") as store:
        assert store.proxies() == {}
        assert store.get_meta("schema_version") == SCHEMA_VERSION == 4
        assert store.get_meta("migrated_from") == 3
        assert len(store.trials()) == 4


PROXY_SPACE = """
from nascompiler.datasets import load_digits
from nascompiler.layers import Dense, Flatten, Input
from nascompiler.ops import Repeat
from nascompiler.space import Choice, HyperSpace


def search_space():
    space = HyperSpace()
    with space.as_default():
        units = Choice([4, 8, 16, 32, 64], name="units")
        x = Flatten()(Input(shape=(8, 8, 1)))
        x = Repeat(lambda step: Dense(units, activation="relu"), repeat_times=[1, 2, 3])(x)
        Dense(10, activation="softmax")(x)
    return space


def load_data():
    return load_digits(val_fraction=0.2, seed=0)


TRAINING = {"batch_size": 64}
SEARCH = {"searcher": "evolution", "scheduler": "asha", "max_trials": 99}
"""


def _nascompile(*args, cwd):
    import subprocess

    from helpers import BIN, clean_env

    return subprocess.run(
        [str(BIN / "nascompile"), *args],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_nascompile_proxies_measures_every_proxy_and_resumes(tmp_path):
    import json

    (tmp_path / "space.py").write_text(PROXY_SPACE)
    run = _nascompile(
        "proxies", "space.py", "--sample", "5", "--epochs", "1", "--json", cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr
    rows = {r["proxy"]: r for r in json.loads(run.stdout)}
    assert list(rows) == [
        "grad_norm",
        "jacob_cov",
        "naswot",
        "synflow",
        "params",
        "flops",
    ]
    for name, row in rows.items():
        assert row["n"] == 5, name
        assert -1 <= row["spearman"] <= 1 and -1 <= row["kendall"] <= 1, name
        assert 0 <= row["precision_at_5"] <= 1
        assert (row["median_seconds"] is None) == (name in ("params", "flops"))

    def stored():
        listing = _nascompile(
            "trials", "--study", "generated/space_proxies", "--json", cwd=tmp_path
        )
        assert listing.returncode == 0, listing.stderr
        rows = [json.loads(line) for line in listing.stdout.splitlines()]
        return [row for row in rows if row["status"] != "duplicate"]

    first = stored()
    assert len(first) == 5 and all(
        t["epochs"] == 1 for t in first
    )  # SEARCH's asha ignored
    assert all(
        set(t["proxies"]) == {"synflow", "naswot", "grad_norm", "jacob_cov"}
        for t in first
    )
    # The sample is a study: a larger --sample trains more, and the first ones keep their scores.
    again = _nascompile(
        "proxies", "space.py", "--sample", "6", "--epochs", "1", cwd=tmp_path
    )
    assert again.returncode == 0, again.stderr
    assert "Spearman" in again.stdout and "ranks best" in again.stdout
    second = stored()
    assert len(second) == 6 and second[:5] == first
    assert set(second[5]["proxies"]) == set(first[0]["proxies"])
    bad = _nascompile("proxies", "space.py", "--sample", "1", cwd=tmp_path)
    assert (
        bad.returncode == 2
        and bad.stderr.strip() == "error: --sample must be at least 3, got 1"
    )
