"""Which search setting wins: defaults < stored study < space file (SEARCH, TRAINING) < flags
(or the Python API's arguments), and what the one resolver returns: a typed, checked,
immutable ``SearchConfig``.

``resolve_search`` is pure, so each rule is checked here without a study, a space or training;
the space file's ``SEARCH`` is checked by its loader.
"""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest

from nascompiler.config.settings import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_EPOCHS,
    DEFAULT_KEEP_WEIGHTS,
    DEFAULT_MAX_TRIALS,
    DEFAULT_SCHEDULER,
    DEFAULT_SEARCHER,
    DEFAULT_SEED,
    DEFAULT_WORKERS,
    SEARCH_DEFAULTS,
    STUDY_META_KEYS,
    Objective,
    Prescreen,
    SchedulerConfig,
    SearchConfig,
    TrainingSettings,
    argument_name,
)
from nascompiler.errors import UsageError
from nascompiler.kinds import Direction
from nascompiler.search.resolve import resolve_search
from nascompiler.spacefile import load_space_file

# A study created with the evolution searcher under ASHA, as Store.get_meta returns it.
STORED = {
    "settings": TrainingSettings.resolve(epochs=9, batch_size=16).to_json(),
    "searcher": "evolution",
    "seed": 5,
    "searcher_options": {"population": 4},
    "scheduler": {"name": "asha", "rungs": [1, 3, 9], "reduction_factor": 3},
}


def test_the_defaults_without_anything_else():
    config = resolve_search()
    assert config == SearchConfig(settings=TrainingSettings.resolve())
    assert (config.searcher, config.max_trials, config.seed) == (
        DEFAULT_SEARCHER,
        DEFAULT_MAX_TRIALS,
        DEFAULT_SEED,
    )
    assert (config.workers, config.keep_weights) == (
        DEFAULT_WORKERS,
        DEFAULT_KEEP_WEIGHTS,
    )
    assert config.scheduler == SchedulerConfig(DEFAULT_SCHEDULER, (DEFAULT_EPOCHS,))
    assert (config.settings.epochs, config.settings.batch_size) == (
        DEFAULT_EPOCHS,
        DEFAULT_BATCH_SIZE,
    )
    assert config.settings.objectives == (Objective("val_accuracy", Direction.MAX),)
    assert config.time_budget is None and config.max_params is None


def test_the_config_is_immutable():
    options = {"population_size": 4}
    config = resolve_search(
        flags={"searcher": "evolution", "searcher_options": options}
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.max_trials = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.searcher_options["population_size"] = 5  # type: ignore[index]
    options["population_size"] = 5  # the caller's dict is not the config's
    assert config.searcher_options == {"population_size": 4}


def test_a_stored_study_resumes_as_it_was_created():
    config = resolve_search(stored=STORED)
    assert (config.searcher, config.seed) == ("evolution", 5)
    assert dict(config.searcher_options) == {"population": 4}
    assert config.scheduler == SchedulerConfig("asha", (1, 3, 9), 3)
    assert config.settings.to_json() == STORED["settings"]


def test_stored_values_that_a_study_does_not_record_stay_defaults():
    # max_trials, workers, budgets... are per run, never stored: a re-run gets the defaults.
    stored = {key: None for key in STUDY_META_KEYS}
    assert resolve_search(stored=stored) == resolve_search()
    full = {
        **STORED,
        "scheduler": {"name": "full", "rungs": [9], "reduction_factor": None},
    }
    config = resolve_search(stored=full)
    assert config.scheduler == SchedulerConfig("full", (9,), None)
    assert config.max_trials == DEFAULT_MAX_TRIALS


def test_the_space_file_overrides_the_stored_study():
    config = resolve_search(
        stored=STORED,
        file_search={"seed": 2, "max_trials": 4, "max_epochs": 9},
        file_training={"batch_size": 64, "metrics": ["accuracy"]},
    )
    assert config.seed == 2
    assert config.max_trials == 4
    assert config.searcher == "evolution"  # not in the file: stored
    assert config.settings.batch_size == 64
    assert config.settings.epochs == 9  # stored


def test_flags_override_the_space_file_and_the_stored_study():
    config = resolve_search(
        flags={"seed": 3, "searcher": "random", "max_trials": None},
        training_flags={"batch_size": 8, "epochs": None},
        stored={**STORED, "scheduler": None},
        file_search={"seed": 2, "max_trials": 4},
        file_training={"batch_size": 64, "epochs": 2},
    )
    assert config.seed == 3
    assert config.searcher == "random"
    assert config.max_trials == 4  # None: the flag was not given
    assert config.settings.batch_size == 8
    assert config.settings.epochs == 2  # the file's, over the stored 9


def test_durations_and_counts_are_parsed_once_here():
    config = resolve_search(
        flags={"time_budget": "1h30m", "max_params": "1.5M"},
        file_search={"trial_timeout": "90s", "max_flops": "2G"},
    )
    assert (config.time_budget, config.trial_timeout) == (5400.0, 90.0)
    assert (config.max_params, config.max_flops) == (1_500_000, 2_000_000_000)
    with pytest.raises(UsageError, match="^--time-budget must be a duration"):
        resolve_search(flags={"time_budget": "soon"})
    # A value from the space file is named as the space file's.
    with pytest.raises(
        UsageError, match=r"^space.py: SEARCH\[\"max_flops\"\] must be a whole"
    ):
        resolve_search(
            file_search={"max_flops": "lots"}, search_source="space.py: SEARCH"
        )


def test_max_epochs_is_the_epochs_setting():
    config = resolve_search(flags={"scheduler": "asha", "max_epochs": 6})
    assert config.settings.epochs == 6
    assert config.scheduler == SchedulerConfig("asha", (1, 3, 6), 3)
    same = resolve_search(flags={"max_epochs": 6}, training_flags={"epochs": 6})
    assert same.settings.epochs == 6
    with pytest.raises(UsageError, match="--epochs 4 and --max-epochs 6 disagree"):
        resolve_search(flags={"max_epochs": 6}, training_flags={"epochs": 4})
    # A stored asha study's top rung is its epochs; a flag giving other epochs disagrees.
    with pytest.raises(UsageError, match="--epochs 4 and --max-epochs 9 disagree"):
        resolve_search(stored=STORED, training_flags={"epochs": 4})


def test_the_scheduler_classes_check_their_options():
    with pytest.raises(UsageError, match="--reduction-factor must be an integer of at"):
        resolve_search(flags={"scheduler": "asha", "reduction_factor": 1})
    with pytest.raises(UsageError, match="--min-epochs applies to --scheduler asha"):
        resolve_search(flags={"min_epochs": 2})
    with pytest.raises(UsageError, match="unknown scheduler 'sometimes'"):
        resolve_search(flags={"scheduler": "sometimes"})


def test_a_stored_multi_objective_study_resumes_with_its_objectives():
    recorded = TrainingSettings.resolve(objective=["val_accuracy", "params:min"])
    stored = {
        **STORED,
        "settings": recorded.to_json(),
        "searcher": "nsga2",
        "searcher_options": {},
        "scheduler": None,
    }
    config = resolve_search(stored=stored)
    assert config.settings.objectives == (
        Objective("val_accuracy", Direction.MAX),
        Objective("params", Direction.MIN),
    )
    assert config.settings == recorded
    # Objectives given as flags replace the stored ones (and their directions).
    single = resolve_search(stored=stored, training_flags={"objective": ["val_loss"]})
    assert single.settings.objectives == (Objective("val_loss", Direction.MIN),)


def test_several_objectives_refuse_a_multi_fidelity_scheduler_and_a_single_searcher():
    pareto = {"objective": ["val_accuracy", "params:min"]}
    with pytest.raises(UsageError, match="--scheduler asha promotes trials on one"):
        resolve_search(flags={"scheduler": "asha"}, training_flags=pareto)
    with pytest.raises(UsageError, match="searcher 'tpe' optimises a single objective"):
        resolve_search(flags={"searcher": "tpe"}, training_flags=pareto)


def test_flags_are_checked_by_name():
    with pytest.raises(UsageError, match="--max-trials must be at least 1, got 0"):
        resolve_search(flags={"max_trials": 0})
    with pytest.raises(UsageError, match="--keep-weights must be at least 0"):
        resolve_search(flags={"keep_weights": -1})
    with pytest.raises(UsageError, match="give --workers .* or --cluster, not both"):
        resolve_search(flags={"workers": 1, "cluster": "local:2"})
    with pytest.raises(UsageError, match="--ship-data goes with --cluster"):
        resolve_search(flags={"ship_data": True})
    with pytest.raises(ValueError, match="not SEARCH options: epochs"):
        resolve_search(flags={"epochs": 3})


def test_the_api_names_its_arguments_not_flags():
    for flags, training, message in [
        ({"max_trials": 0}, {}, "max_trials must be at least 1, got 0"),
        ({"time_budget": "soon"}, {}, "time_budget must be a duration"),
        ({"max_params": "many"}, {}, "max_params must be a whole number"),
        ({"max_epochs": 6}, {"epochs": 4}, "epochs 4 and max_epochs 6 disagree"),
        ({"scheduler": "asha", "min_epochs": 0}, {}, "min_epochs must be a positive"),
    ]:
        with pytest.raises(UsageError) as caught:
            resolve_search(flags=flags, training_flags=training, name=argument_name)
        assert message in str(caught.value) and "--" not in str(caught.value)


def test_training_errors_name_their_source():
    with pytest.raises(UsageError, match="space.py: TRAINING: unknown setting 'epoch'"):
        resolve_search(file_training={"epoch": 3}, training_source="space.py: TRAINING")
    with pytest.raises(UsageError, match="direction must be 'max' or 'min'"):
        resolve_search(training_flags={"direction": "up"})


def test_the_inputs_are_not_changed():
    stored = {**STORED, "settings": dict(STORED["settings"])}
    file_search = {"seed": 2}
    flags = {"seed": 3}
    resolve_search(flags=flags, stored=stored, file_search=file_search)
    assert (
        stored["settings"] == STORED["settings"] and stored["searcher"] == "evolution"
    )
    assert file_search == {"seed": 2} and flags == {"seed": 3}
    assert SEARCH_DEFAULTS["searcher_options"] == {}


# ------------------------------------------------------------------ SEARCH in the space file


def space_file(tmp_path, search: str | None):
    path = tmp_path / "space.py"
    text = "def search_space():\n    return None\n"
    if search is not None:
        text += f"\nSEARCH = {search}\n"
    path.write_text(textwrap.dedent(text))
    return load_space_file(path)


def test_the_loader_reads_search(tmp_path):
    assert space_file(tmp_path, None).search == {}
    loaded = space_file(tmp_path, "{'searcher': 'grid', 'max_trials': 4}")
    assert loaded.search == {"searcher": "grid", "max_trials": 4}


@pytest.mark.parametrize(
    "search, message",
    [
        ("[1]", "SEARCH must be a dict"),
        ("{'trials': 3}", "SEARCH has unknown key(s) trials; known keys are searcher,"),
        (
            "{'max_trials': '2'}",
            'SEARCH["max_trials"] must be a whole number of trials',
        ),
        ("{'seed': True}", 'SEARCH["seed"] must be an integer, got True (bool)'),
    ],
)
def test_the_loader_refuses_a_bad_search_in_one_line(tmp_path, search, message):
    loaded = space_file(tmp_path, search)
    with pytest.raises(UsageError) as caught:
        loaded.search
    assert message in str(caught.value)
    assert str(caught.value).startswith(str(tmp_path / "space.py"))


# ------------------------------------------------------------------ one resolver: CLI == API

DIGITS = Path(__file__).parent / "spaces" / "digits_tiny.py"


@pytest.fixture
def captured(monkeypatch):
    """The configs the studies are built with: ``Study.run`` records its config and trains
    nothing (the study is still created, so a later run resumes it)."""
    from nascompiler.search.study import Study

    configs = []

    def run(self):
        configs.append(self.config)
        return self

    monkeypatch.setattr(Study, "run", run)
    return configs


def digits_file(tmp_path) -> Path:
    """The tiny digits space file without its TRAINING: the API has no space file, so every
    setting comes from flags on one side and arguments on the other."""
    path = tmp_path / "digits.py"
    path.write_text(DIGITS.read_text().replace("TRAINING = ", "UNUSED = "))
    return path


def run_cli(*args: str) -> None:
    from nascompiler.cli.app import main

    with pytest.raises(SystemExit) as caught:
        main([*args, "--no-report"])
    assert caught.value.code == 0


def hyperkeras(space_file: Path, out: Path, study: str, **kwargs):
    from nascompiler import HyperKeras
    from nascompiler.searchers import RandomSearcher

    space = load_space_file(space_file)
    searcher = RandomSearcher(
        space.module.search_space, optimize_direction="min", seed=4
    )
    return HyperKeras(searcher, out=out, study=study, **kwargs), space.load_data()


@pytest.mark.slow  # about 6 s: loads the digits and the CLI
def test_the_cli_and_the_api_resolve_the_same_config(tmp_path, captured):
    path = digits_file(tmp_path)
    run_cli(
        "search", str(path), "--out", str(tmp_path), "--study", "cli",
        "--searcher", "random", "--seed", "4", "--max-trials", "7",
        "--batch-size", "16", "--keep-weights", "1", "--workers", "1",
        "--scheduler", "asha", "--max-epochs", "4", "--reduction-factor", "2",
        "--time-budget", "30m", "--trial-timeout", "90s", "--max-params", "50k",
        "--objective", "val_loss", "--prescreen", "naswot:3",
    )  # fmt: skip
    hk, ((x, y), (xv, yv)) = hyperkeras(
        path, tmp_path, "api", reward_metric="loss", keep_weights=1, workers=1
    )
    hk.search(
        x, y, xv, yv, max_trials=7, batch_size=16, scheduler="asha", max_epochs=4,
        reduction_factor=2, time_budget="30m", trial_timeout="90s", max_params="50k",
        prescreen="naswot:3",
    )  # fmt: skip
    cli, api = captured
    assert cli.search == api.search
    assert cli.scheduler == SchedulerConfig("asha", (1, 2, 4), 2)
    assert cli.settings.objectives == (Objective("val_loss", Direction.MIN),)
    assert (cli.time_budget, cli.max_params) == (1800.0, 50_000)
    assert cli.prescreen == Prescreen("naswot", 3)


@pytest.mark.slow
def test_the_cli_and_the_api_resume_a_stored_study_alike(tmp_path, captured):
    path = digits_file(tmp_path)
    run_cli(
        "search", str(path), "--out", str(tmp_path), "--study", "both",
        "--seed", "4", "--epochs", "2", "--batch-size", "16", "--objective", "val_loss",
        "--scheduler", "hyperband", "--min-epochs", "1", "--max-epochs", "2",
    )  # fmt: skip
    created = captured.pop()
    # Resumed without flags or arguments, both read the study's stored settings.
    run_cli("search", str(path), "--out", str(tmp_path), "--study", "both")
    hk, ((x, y), (xv, yv)) = hyperkeras(path, tmp_path, "both")
    hk.search(x, y, xv, yv)
    cli, api = captured
    assert cli.search == api.search == created.search
    assert api.settings.epochs == 2  # the stored epochs, not the API's default of 1
    assert api.scheduler == SchedulerConfig("hyperband", (1, 2), 3)
    # An argument that disagrees with the stored scheduler is refused, as the flag is, and
    # named as the argument.
    with pytest.raises(UsageError, match="^epochs 3 and max_epochs 2 disagree"):
        hk.search(x, y, xv, yv, epochs=3)


def test_every_default_is_one_named_constant():
    """Each default is written once: a ``DEFAULT_*`` constant assigned in one module, and no
    function on a setting's path (the CLI, the API, the resolver, the study, the schedulers,
    the executors) spells a setting's default as a literal instead of naming the constant.
    """
    import ast
    import re

    package = Path(__file__).resolve().parents[1] / "nascompiler"
    settings = {
        "keep_weights", "max_trials", "scheduler", "epochs", "batch_size", "workers",
        "searcher", "seed", "min_epochs", "max_epochs", "reduction_factor",
        "optimizer", "loss", "metrics",
    }  # fmt: skip
    on_the_path = [
        "api.py", "searchers.py", "spacefile.py", "config", "cli", "search/resolve.py",
        "search/study.py", "search/schedulers.py", "run/executor.py",
        "run/dask_executor.py",
    ]  # fmt: skip
    defined: dict[str, list[str]] = {}
    literal = []
    for file in sorted(package.rglob("*.py")):
        relative = file.relative_to(package).as_posix()
        text = file.read_text(encoding="utf-8")
        for name in re.findall(r"^(DEFAULT_\w+)\s*[:=]", text, re.MULTILINE):
            defined.setdefault(name, []).append(relative)
        if not any(relative.startswith(p) for p in on_the_path):
            continue
        tree = ast.parse(text)
        for node in ast.walk(tree):
            pairs = []
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = node.args
                positional = a.posonlyargs + a.args
                pairs += zip(
                    positional[len(positional) - len(a.defaults) :], a.defaults
                )
                pairs += zip(a.kwonlyargs, a.kw_defaults)
                pairs = [(arg.arg, d) for arg, d in pairs if d is not None]
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                if node.value is not None:
                    pairs.append((node.target.id, node.value))
            for name, default in pairs:
                if name in settings and isinstance(
                    default, (ast.Constant, ast.Tuple, ast.List)
                ):
                    if not (
                        isinstance(default, ast.Constant) and default.value is None
                    ):
                        literal.append(
                            f"{relative}:{default.lineno}: {name}={ast.unparse(default)}"
                        )
    assert not literal, "defaults spelt as literals:\n" + "\n".join(literal)
    twice = {name: files for name, files in defined.items() if len(files) > 1}
    assert not twice, f"defaults defined more than once: {twice}"
    for name in ("KEEP_WEIGHTS", "MAX_TRIALS", "SCHEDULER", "EPOCHS", "BATCH_SIZE",
                 "SEARCHER", "SEED", "WORKERS", "API_EPOCHS"):  # fmt: skip
        assert defined["DEFAULT_" + name] == ["config/settings.py"]
    assert defined["DEFAULT_MIN_EPOCHS"] == ["search/schedulers.py"]
    assert defined["DEFAULT_REDUCTION_FACTOR"] == ["search/schedulers.py"]
