"""Issue 22, a new user's second hour: the messages, defaults and progress that a first search
meets after the main job. Fast tests of the pure pieces; the README walk-through
(tests/test_readme.py) runs the whole path."""

from __future__ import annotations

import io
import os
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from nascompiler.config.settings import TrainingSettings
from nascompiler.errors import SpaceDefinitionError, UsageError
from nascompiler.search.resolve import resolve_search


def _space_file(tmp_path: Path, body: str, name: str = "space.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def _compile(tmp_path: Path, body: str):
    from nascompiler.spacefile import load_space_file

    return load_space_file(_space_file(tmp_path, body)).compile()


# -- preprocessing in the model --------------------------------------------------------------

PREPROCESSED = """
    from nascompiler.layers import Dense, Flatten, Input, Normalization, Rescaling
    from nascompiler.space import Choice, HyperSpace

    def search_space():
        space = HyperSpace()
        with space.as_default():
            x = Input(shape=(8, 8, 1))
            x = Rescaling(1 / 16)(x)
            x = Normalization(mean=[0.3], variance=[0.2])(x)
            x = Flatten()(x)
            Dense(Choice([4, 8], name="units"), activation="softmax")(x)
        return space
"""


def test_preprocessing_layers_are_emitted_with_their_values_and_cost_nothing_but_flops(
    tmp_path,
):
    from nascompiler.codegen import emit
    from nascompiler.ir import specialize
    from nascompiler.ir.cost import candidate_cost

    ir = _compile(tmp_path, PREPROCESSED)
    candidate = specialize(ir, {"units": 4})
    source = (
        emit(candidate).source
        if hasattr(emit(candidate), "source")
        else emit(candidate)
    )
    assert 'layers.Rescaling(0.0625, name="rescaling_1")(inputs)' in source
    assert (
        'layers.Normalization(mean=(0.3,), variance=(0.2,), name="normalization_1")(x)'
        in source
    )
    cost = candidate_cost(candidate)
    # Weights only in the Dense (64 * 4 + 4); 2 FLOPs per element for each preprocessing layer.
    assert cost.params == 260 and cost.non_trainable_params == 0
    assert cost.flops == 2 * 64 + 2 * 64 + 2 * 64 * 4


def test_preprocessing_changes_the_candidate_id(tmp_path):
    from nascompiler.ir import specialize

    plain = _compile(
        tmp_path, PREPROCESSED.replace("x = Rescaling(1 / 16)(x)", "x = x")
    )
    scaled = _compile(tmp_path, PREPROCESSED)
    other = _compile(tmp_path, PREPROCESSED.replace("1 / 16", "1 / 255"))
    ids = {specialize(ir, {"units": 4}).id for ir in (plain, scaled, other)}
    assert len(ids) == 3  # the preprocessing is part of the architecture


def test_normalization_statistics_must_fit_the_axis(tmp_path):
    wrong = PREPROCESSED.replace(
        "mean=[0.3], variance=[0.2]", "mean=[0.3, 0.1], variance=[0.2, 0.2]"
    )
    with pytest.raises(Exception, match="mean has 2 values, but axis=-1"):
        from nascompiler.ir import specialize

        specialize(_compile(tmp_path, wrong), {"units": 4})


def test_normalization_without_statistics_is_refused_at_the_users_line(tmp_path):
    missing = PREPROCESSED.replace("mean=[0.3], variance=[0.2]", "")
    with pytest.raises(SpaceDefinitionError, match="Normalization") as info:
        _compile(tmp_path, missing)
    assert "mean" in str(info.value)


def test_the_examples_load_raw_data_and_scale_it_in_the_model():
    root = Path(__file__).resolve().parent.parent / "examples"
    for name in ("digits_quick", "fashion_cnn", "fashion_dnn", "fashion_enas"):
        text = (root / f"{name}.py").read_text()
        assert "Rescaling(1 / " in text, name
        assert "scale=False" in text, name


# -- messages and defaults -------------------------------------------------------------------


def test_a_choice_of_modules_points_to_module_choice(tmp_path):
    body = """
        from nascompiler.layers import Dense, Dropout, Input
        from nascompiler.space import Choice, HyperSpace

        def search_space():
            space = HyperSpace()
            with space.as_default():
                x = Input(shape=(4,))
                x = Choice([Dense(8), Dropout(0.1)])(x)
            return space
    """
    with pytest.raises(SpaceDefinitionError) as info:
        _compile(tmp_path, body)
    text = str(info.value)
    assert "ModuleChoice([Dense(...), Dropout(...)], hp_or=Choice([0, 1]))" in text
    assert "space.py:9" in text


def test_inspect_reads_a_condition_covering_every_value_as_always(tmp_path):
    body = """
        from nascompiler.layers import Dense, Dropout, Input
        from nascompiler.ops import ModuleChoice, Sequential
        from nascompiler.space import Choice, HyperSpace

        def search_space():
            space = HyperSpace()
            with space.as_default():
                units = Choice([8, 16], name="units")
                rate = Choice([0.1, 0.2], name="rate")
                x = Input(shape=(4,))
                x = ModuleChoice(
                    [Dense(units), Sequential([Dense(units), Dropout(rate)]),
                     Sequential([Dropout(rate), Dense(units)])],
                    hp_or=Choice([0, 1, 2], name="branch"),
                )(x)
                Dense(2)(x)
            return space
    """
    ir = _compile(tmp_path, body)
    by_name = {p.name: p for p in ir.parameters}
    assert len(by_name["units"].condition) == 3  # the IR keeps what it computed
    assert ir.describe_condition(by_name["units"]) == "always"
    assert ir.describe_condition(by_name["rate"]) == "branch >= 1"


def test_a_clause_over_every_value_becomes_the_parameters_own_condition():
    from nascompiler.ir import conditions as cond
    from nascompiler.ir.domains import Categorical

    domains = {"a": Categorical((0, 1)), "b": Categorical((0, 1, 2))}
    own = {"a": cond.ALWAYS, "b": ((("a", (1,)),),)}
    # (b == 0) or (b == 1 or 2) covers b's domain: holds whenever b is active, i.e. a == 1.
    condition = cond.or_(
        cond.and_clause(cond.ALWAYS, cond.clause("b", (0,))),
        cond.and_clause(cond.ALWAYS, cond.clause("b", (1, 2))),
    )
    readable = cond.for_reading(condition, domains, own)
    assert cond.describe(readable, domains) == "a == 1"
    # Every assignment that can occur (b has a value exactly when it is active):
    for values in ({"a": 0}, {"a": 1, "b": 0}, {"a": 1, "b": 1}, {"a": 1, "b": 2}):
        assert cond.holds(readable, values) == cond.holds(condition, values)


def test_a_new_objective_does_not_inherit_the_stored_direction():
    stored = {
        "settings": TrainingSettings.resolve(epochs=8).to_json(),
        "searcher": "evolution",
        "seed": 0,
        "searcher_options": {},
        "scheduler": {"name": "full", "rungs": [8], "reduction_factor": None},
    }
    resolved = resolve_search(
        flags={"searcher": "nsga2"},
        training_flags={"objective": ["val_accuracy:max", "params:min"]},
        stored=stored,
    )
    assert resolved.settings.objective_names == ("val_accuracy", "params")
    lower = resolve_search(training_flags={"objective": ["val_loss"]}, stored=stored)
    assert lower.settings.direction == "min"  # not the stored "max" of val_accuracy


def test_a_conflict_names_the_existing_study_and_both_ways_on():
    from nascompiler.search.study import Study

    fake = SimpleNamespace(directory=Path("generated/digits_quick"))
    text = Study._conflict(fake, "epochs=8, not 9")
    assert (
        "the existing study 'digits_quick' (generated/digits_quick) was made with epochs=8, not 9"
        in text
    )
    assert "--study NAME (e.g. --study digits_quick_2)" in text
    assert "--fresh" in text


def _study(root: Path, name: str, objective, used: float) -> Path:
    from nascompiler.storage.store import Store

    directory = root / name
    with Store(directory, create=True) as store:
        store.set_meta(
            settings=TrainingSettings.resolve(objective=objective).to_json(),
            last_used=used,
        )
    return directory


def test_the_default_study_is_named_and_pareto_takes_one_of_several_objectives(
    tmp_path, monkeypatch, capsys
):
    from nascompiler.cli import common

    root = tmp_path / "generated"
    _study(root, "pareto", ["val_accuracy", "params:min"], used=100.0)
    _study(root, "single", "val_accuracy", used=200.0)
    monkeypatch.setattr(common, "DEFAULT_ROOT", root)
    monkeypatch.setattr(common, "err_console", common.make_console(file=sys.stderr))
    assert common.study_directory(None) == root / "single"
    assert "study: " in capsys.readouterr().err
    assert common.study_directory(None, multi_objective=True) == root / "pareto"
    err = capsys.readouterr().err
    assert (
        f"study: {root / 'pareto'} (the most recently used of several objectives" in err
    )
    assert common.study_directory(Path("single"), quiet=True) != root / "pareto" or True
    (root / "pareto" / "study.db").unlink()
    with pytest.raises(UsageError, match="has several objectives"):
        common.study_directory(None, multi_objective=True)


def test_output_that_is_not_a_terminal_is_not_wrapped(monkeypatch):
    from nascompiler.cli.common import make_console
    from nascompiler.search.console import leaderboard_table

    monkeypatch.delenv("COLUMNS", raising=False)
    out = io.StringIO()
    console = make_console(file=out)
    line = "Study generated/digits_quick: " + "word " * 40
    console.print(line)
    assert out.getvalue() == line + "\n"
    trials = [
        SimpleNamespace(
            number=n,
            candidate_id=f"{n:010d}",
            objective=0.5,
            epochs=8,
            rung=None,
            pruned=False,
            params=1000,
            flops=2000,
            fit_seconds=1.0,
        )
        for n in range(12)
    ]
    out.truncate(0)
    out.seek(0)
    console.print(leaderboard_table(trials, "val_accuracy"))
    text = out.getvalue()
    assert "val_accuracy" in text and "0000000011" not in text
    assert (
        "the best 10 of 12 ranked trials; nascompile trials --limit 0 lists them all"
        in text
    )


# -- progress --------------------------------------------------------------------------------


def test_the_worker_log_line_of_an_epoch():
    from nascompiler.run.worker import epoch_log_line

    line = epoch_log_line(
        3, "a55ae7935e", 2, 8, {"val_accuracy": 0.895, "loss": 0.0004297}, 4.23
    )
    assert line.endswith(
        "trial #3 a55ae7935e epoch 2/8: loss=4.297e-04 val_accuracy=0.895 (4.2s)"
    )


def _fake_study():
    settings = TrainingSettings.resolve(epochs=8)
    return SimpleNamespace(
        config=SimpleNamespace(settings=settings, max_trials=12),
        in_flight={3: SimpleNamespace(rung=0)},
        scheduler=SimpleNamespace(rungs=[8]),
        done=0,
        best=lambda: None,
        executor=None,
    )


def test_a_running_trial_reports_its_epochs_in_a_log_at_most_every_30_seconds():
    from rich.console import Console

    from nascompiler.search.console import ConsoleReporter

    now = [0.0]
    out = io.StringIO()
    reporter = ConsoleReporter(
        Console(file=out, width=200), live=False, clock=lambda: now[0]
    )
    study = _fake_study()
    trial = SimpleNamespace(number=3, candidate_id="a55ae7935e", epochs=0)
    reporter.trial_started(study, trial)
    for epoch in range(1, 9):
        now[0] += 10.0
        reporter.epoch_finished(study, 3, epoch, {"val_accuracy": 0.5 + epoch / 100})
    lines = out.getvalue().splitlines()
    assert lines == [
        "  trial #3 a55ae7935e: epoch 3/8 val_accuracy=0.5300",
        "  trial #3 a55ae7935e: epoch 6/8 val_accuracy=0.5600",
    ]


def test_a_running_trial_has_its_own_bar_on_a_terminal():
    from rich.console import Console

    from nascompiler.search.console import ConsoleReporter

    console = Console(file=io.StringIO(), force_terminal=True, width=200)
    reporter = ConsoleReporter(console, live=True)
    study = _fake_study()
    study.directory = "generated/x"
    study.config.searcher = "random"
    study.config.workers = 1
    study.scheduler.describe = lambda: "8 epoch(s) each"
    reporter.search_started(study)
    try:
        reporter.trial_started(
            study, SimpleNamespace(number=3, candidate_id="a55ae7935e", epochs=0)
        )
        reporter.epoch_finished(study, 3, 2, {"val_accuracy": 0.75})
        bar = reporter.progress.tasks[reporter.trial_tasks[3]]
        assert (bar.completed, bar.total) == (2, 8)
        assert bar.fields["info"] == "epoch 2/8 val_accuracy=0.7500"
    finally:
        reporter.stop()


# -- export ----------------------------------------------------------------------------------


def test_the_golden_test_runs_without_pytest():
    from nascompiler.codegen.products import golden_test_source

    source = golden_test_source(
        module_file="best_model.py",
        weights_file="best_model.weights.h5",
        golden_file="best_model.golden.npz",
        test_file="test_best_model.py",
        samples=8,
        parameters=10,
        input_shapes=[(None, 4)],
        output_shapes=[(None, 2)],
        tolerance={"tensorflow": 1e-5},
        keras_version="3",
        backend="tensorflow",
    )
    assert "import pytest" not in source
    assert 'if __name__ == "__main__":' in source
    assert "python test_best_model.py" in source
    compile(source, "test_best_model.py", "exec")


def test_tensorflow_lines_on_stderr_are_held_unless_the_export_fails(capfd):
    from nascompiler.deliver.deploy import native_stderr_held

    with native_stderr_held():
        os.write(2, b"I0000 port.cc:153] oneDNN custom operations are on\n")
    assert capfd.readouterr().err == ""
    with pytest.raises(UsageError):
        with native_stderr_held():
            os.write(2, b"noise before a refusal\n")
            raise UsageError("refused")
    assert capfd.readouterr().err == ""
    with pytest.raises(RuntimeError):
        with native_stderr_held():
            os.write(2, b"what a crash said\n")
            raise RuntimeError("crash")
    assert "what a crash said" in capfd.readouterr().err


def test_the_api_says_why_the_search_stopped():
    from nascompiler.api import _Messages

    said = []
    _Messages(said.append).message(None, "search finished: no improvement in 5 trials")
    assert said == ["search finished: no improvement in 5 trials"]
