"""The seed-compatible Python API: the seed's three examples run with their imports mapped."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).parent / "seed_examples"


def quiet_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    return env


@pytest.fixture(scope="module")
def seed_runs(tmp_path_factory) -> dict[str, tuple[subprocess.CompletedProcess, Path]]:
    """Each seed example run as a script, the way its author ran it."""
    runs = {}
    for name in ("dnn", "cnn", "enas"):
        cwd = tmp_path_factory.mktemp(name)
        result = subprocess.run(
            [sys.executable, str(EXAMPLES / f"{name}.py")],
            cwd=cwd,
            env=quiet_env(),
            capture_output=True,
            text=True,
            timeout=600,
        )
        runs[name] = (result, cwd)
    return runs


@pytest.mark.parametrize("name", ["dnn", "cnn", "enas"])
def test_seed_example_searches_and_finds_a_best_trial(seed_runs, name):
    result, cwd = seed_runs[name]
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Trial No:0" in result.stdout  # SummaryCallback reported the trials
    best = cwd / result.stdout.split("BEST ")[-1].strip()
    assert best.exists() and best.parent.name == "candidates"
    study = best.parent.parent
    assert (study / "study.db").exists() and (study / "data" / "x_train.npy").exists()


def test_best_modules_build_without_nascompiler(seed_runs, tmp_path):
    """The best trial's module of each example imports and builds with Keras alone."""
    paths = [
        cwd / result.stdout.split("BEST ")[-1].strip()
        for result, cwd in seed_runs.values()
    ]
    program = textwrap.dedent(f"""
        import importlib.util, sys
        sys.path.append({sysconfig.get_paths()["purelib"]!r})
        if importlib.util.find_spec("nascompiler") is not None:
            raise SystemExit("nascompiler must not be importable")
        for i, path in enumerate({[str(p) for p in paths]!r}):
            spec = importlib.util.spec_from_file_location(f"m{{i}}", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            model = module.build_model()
            print(module.CANDIDATE_ID, model.count_params())
    """)
    run = subprocess.run(
        [sys.executable, "-I", "-S", "-c", program],
        cwd=tmp_path,
        env=quiet_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines] == [p.stem for p in paths]
    assert all(int(line.split()[1]) > 0 for line in lines)


def test_api_export_best_and_early_stopping(tmp_path, monkeypatch, capsys):
    """export_best writes module + weights; EarlyStoppingCallback stops a search early, and
    the search says so and writes its report."""
    monkeypatch.chdir(tmp_path)
    from nascompiler import HyperKeras
    from nascompiler.callbacks import EarlyStoppingCallback
    from nascompiler.datasets import load_digits
    from nascompiler.searchers import EvolutionSearcher
    from nascompiler.spaces import dnn_search_space

    (x, y), (xv, yv) = load_digits(channel_axis=False)
    x, xv = x.reshape(len(x), 64), xv.reshape(len(xv), 64)
    searcher = EvolutionSearcher(
        lambda: dnn_search_space(
            input_shape=(64,),
            output_units=10,
            output_activation="softmax",
            units_choices=[16, 32],
            layer_num_choices=[2],
        ),
        optimize_direction="max",
        seed=3,
        population_size=4,
        sample_size=2,
    )
    stopper = EarlyStoppingCallback(max_no_improvement_trials=2)
    hk = HyperKeras(
        searcher,
        optimizer="adam",
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        callbacks=[stopper],
        study="api",
    )
    hk.search(x, y, xv, yv, max_trials=30, epochs=1, batch_size=64)
    # A duplicate (a proposal trained before) is a finished trial that did not improve too.
    trials = [t for t in hk.trials() if t.status in ("complete", "failed", "duplicate")]
    assert 3 <= len(trials) < 30, "stopped after two trials without improvement"
    said = capsys.readouterr().out
    assert "search finished: no improvement in 2 trials" in said, said
    assert hk.report_path == Path("generated") / "api" / "report.html"  # in tmp_path
    assert hk.report_path.exists() and f"Report: {hk.report_path}" in said
    best = hk.get_best_trial()
    assert best.reward == max(t.reward for t in hk.trials() if t.status == "complete")
    assert best.module_path.exists() and best.weights_path is not None
    exported = hk.export_best(tmp_path / "winner.py")
    assert (
        exported.module.exists()
        and exported.weights is not None
        and exported.weights.exists()
    )
    assert f'CANDIDATE_ID = "{best.candidate_id}"' in exported.module.read_text()
    assert np.load(tmp_path / "generated" / "api" / "data" / "x_train.npy").shape == (
        len(x),
        64,
    )


def test_api_pareto_search(tmp_path, monkeypatch):
    """objectives= makes a Pareto search; pareto_front() gives the non-dominated trials, each
    with every objective's value; a single-objective searcher refuses several objectives.
    """
    monkeypatch.chdir(tmp_path)
    from nascompiler import HyperKeras
    from nascompiler.datasets import load_digits
    from nascompiler.errors import UsageError
    from nascompiler.searchers import NSGA2Searcher, TPESearcher
    from nascompiler.spaces import dnn_search_space
    from nascompiler.storage.pareto import dominates

    (x, y), (xv, yv) = load_digits(channel_axis=False)
    x, xv = x.reshape(len(x), 64), xv.reshape(len(xv), 64)

    def space():
        return dnn_search_space(
            input_shape=(64,),
            output_units=10,
            output_activation="softmax",
            units_choices=[8, 16, 32],
            layer_num_choices=[1, 2],
        )

    objectives = ["val_accuracy", "params:min"]
    with pytest.raises(UsageError, match="single objective"):
        HyperKeras(TPESearcher(space), study="tpe").search(
            x, y, xv, yv, max_trials=2, objectives=objectives
        )
    hk = HyperKeras(NSGA2Searcher(space, seed=2, population_size=2), study="pareto")
    hk.search(
        x, y, xv, yv, max_trials=5, epochs=1, batch_size=64, objectives=objectives
    )
    complete = [t for t in hk.trials() if t.status == "complete"]
    front = hk.pareto_front()
    assert front and all(set(t.rewards) == {"val_accuracy", "params"} for t in complete)
    points = {
        t.number: (t.rewards["val_accuracy"], t.rewards["params"]) for t in complete
    }
    on_front = {t.number for t in front}
    for number, point in points.items():
        beaten = any(dominates(q, point, ("max", "min")) for q in points.values())
        assert (number in on_front) == (not beaten)
    assert all(
        t.weights_path is not None for t in front
    )  # every member can be exported


def test_api_oneshot_prescreen(tmp_path, monkeypatch):
    """prescreen="oneshot:K" and supernet_epochs through HyperKeras: the supernet trains for
    its own epochs, every proposal keeps its one-shot score, and the study records both.
    """
    monkeypatch.chdir(tmp_path)
    from nascompiler import HyperKeras
    from nascompiler.datasets import load_digits
    from nascompiler.searchers import RandomSearcher
    from nascompiler.spaces import dnn_search_space
    from nascompiler.storage.store import Store

    (x, y), (xv, yv) = load_digits(channel_axis=False)
    x, xv = x.reshape(len(x), 64), xv.reshape(len(xv), 64)
    searcher = RandomSearcher(
        lambda: dnn_search_space(
            input_shape=(64,),
            output_units=10,
            output_activation="softmax",
            units_choices=[16, 32],
            layer_num_choices=[1, 2],
        ),
        optimize_direction="max",
        seed=1,
    )
    hk = HyperKeras(
        searcher,
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        study="oneshot",
    )
    hk.search(
        x, y, xv, yv, max_trials=2, epochs=1, batch_size=64,
        prescreen="oneshot:3", supernet_epochs=2,
    )  # fmt: skip
    study = tmp_path / "generated" / "oneshot"
    log = "".join(p.read_text() for p in (study / "logs").glob("worker-*.log"))
    assert "supernet: training epochs 1-2\n" in log
    assert len([t for t in hk.trials() if t.status == "complete"]) == 2
    with Store(study) as store:
        assert store.get_meta("supernet_epochs") == 2
        assert store.get_meta("prescreen") == "oneshot:3"
        scores = store.proxies()
    screened = [t.number for t in hk.trials() if t.status == "screened"]
    assert screened and all("oneshot" in scores[n] for n in screened)
