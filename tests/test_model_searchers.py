"""The Optuna searchers (tpe, gp, nsga2): faithful domains, only active parameters, exact
replay (out-of-order tells, failures, JSON), several objectives, budgets told as infeasible,
and that TPE learns faster than random search. Synthetic objectives only: nothing trains.
"""

from __future__ import annotations

import importlib.util
import json
import math
import random
import statistics
import subprocess
import sys

import pytest

from helpers import (
    active_names,
    dense_space,
    drive,
    failing_objective,
    objective,
    replay,
)
from nascompiler import searchers as api_searchers
from nascompiler.errors import UsageError
from nascompiler.ir import compile_space
from nascompiler.layers import Dense, Dropout, Input
from nascompiler.search.searchers import SEARCHERS, make_searcher
from nascompiler.search.searchers.model_based import MAX_SUBSETS
from nascompiler.space import (
    Bool,
    Choice,
    Constant,
    HyperSpace,
    Int,
    MultipleChoice,
    Real,
)
from nascompiler.spaces import cnn_search_space

HAVE_TORCH = importlib.util.find_spec("torch") is not None
MODEL_BASED = ("tpe", "nsga2") + (("gp",) if HAVE_TORCH else ())


@pytest.fixture(scope="module")
def cnn():
    return compile_space(
        cnn_search_space(
            input_shape=(8, 8, 1),
            output_units=3,
            block_num_choices=[2, 3, 4],
            filters_choices=[4, 8],
        )
    )


@pytest.fixture(scope="module")
def every_domain():
    """One parameter of each kind the DSL has."""
    space = HyperSpace()
    with space.as_default():
        x = Input(shape=(4,))
        x = Dense(
            units=Int(4, 32, step=4),
            activation=Choice(["relu", "tanh"]),
            use_bias=Bool(),
            kernel_initializer=Constant("he_normal"),
            name="d",
        )(x)
        x = Dropout(rate=Real(0.0, 0.5, step=0.1), name="grid")(x)
        x = Dropout(rate=Real(1e-4, 0.5, prior="log"), name="log")(x)
        x = Dropout(rate=Real(0.0, 0.5), name="flat")(x)
        Dropout(
            rate=Choice([0.1, 0.2]),
            noise_shape=Choice([(1, 4), (None, 4), None]),
            name="tuples",
        )(x)
    return compile_space(space)


def test_the_registry_and_the_hypernets_api_name_the_optuna_searchers():
    for name, spec in (
        ("tpe", api_searchers.TPESearcher),
        ("gp", api_searchers.GPSearcher),
        ("nsga2", api_searchers.NSGA2Searcher),
    ):
        assert SEARCHERS[name].name == spec.name == name


def test_importing_the_searchers_does_not_import_optuna():
    code = "import sys, nascompiler.search.searchers; print('optuna' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"


# -- domains and conditions ----------------------------------------------------------------


@pytest.mark.parametrize("name", MODEL_BASED)
def test_every_domain_maps_faithfully(every_domain, name):
    searcher = make_searcher(name, every_domain, seed=0)
    proposals = drive(searcher, every_domain, 40, fn=objective)
    grid = every_domain.parameter("grid.rate").domain.values()
    for a in proposals:
        assert every_domain.validate(a) == a
        assert a["grid.rate"] in grid  # the grid's exact values, no float noise
        assert 1e-4 <= a["log.rate"] <= 0.5 and 0.0 <= a["flat.rate"] <= 0.5
        assert a["d.units"] % 4 == 0 and isinstance(a["d.use_bias"], bool)
    # the tuple-valued choice comes back as the option itself, and every option comes up
    assert {a["tuples.noise_shape"] for a in proposals} == {(1, 4), (None, 4), None}
    # a log prior spreads over decades: TPE's and NSGA-II's random start draws log-uniformly
    assert min(a["log.rate"] for a in proposals) < 1e-2


@pytest.mark.parametrize("name", MODEL_BASED)
def test_multiple_choice_both_as_subsets_and_as_flags(name):
    small, large = list(range(4)), list(range(12))
    assert 2 ** len(large) > MAX_SUBSETS > 2 ** len(small)
    space = HyperSpace()
    with space.as_default():
        x = Input(shape=(4,))
        x = Dense(units=MultipleChoice(small, num_chosen_most=2), name="a")(x)
        Dense(
            units=MultipleChoice(large, num_chosen_least=2, num_chosen_most=5),
            name="b",
        )(x)
    ir = compile_space(space)
    proposals = drive(make_searcher(name, ir, seed=1), ir, 40)
    for a in proposals:
        assert ir.validate(a) == a
        assert 1 <= len(a["a.units"]) <= 2 and 2 <= len(a["b.units"]) <= 5
    assert len({a["b.units"] for a in proposals}) > 20


@pytest.mark.parametrize("name", MODEL_BASED)
def test_optuna_is_asked_only_the_active_parameters(cnn, name):
    searcher = make_searcher(name, cnn, seed=2)
    proposals = drive(searcher, cnn, 40, fn=failing_objective)
    assert {len(a) for a in proposals} == {7, 8, 9}  # the conditional ones come and go
    for a, trial in zip(proposals, searcher._study.trials):
        assert set(trial.params) == set(a) == active_names(cnn, a)


# -- determinism and resuming ---------------------------------------------------------------


@pytest.mark.parametrize("name", MODEL_BASED)
@pytest.mark.parametrize("workers", [1, 4])
def test_a_resumed_searcher_continues_byte_for_byte(cnn, name, workers):
    """Out-of-order tells (several workers) and failed trials, replayed from JSON as the
    store keeps them, give a searcher that proposes exactly what the uninterrupted one does.
    """
    log = []
    uninterrupted = make_searcher(name, cnn, seed=5)
    drive(uninterrupted, cnn, 30, workers=workers, fn=failing_objective, log=log)
    assert any(e[0] == "tell" and e[2] is None for e in log)
    stored = [
        e if e[0] == "ask" else ("tell", json.loads(json.dumps(e[1])), e[2])
        for e in log
    ]
    resumed = make_searcher(name, cnn, seed=5)
    replay(resumed, stored)
    expected = drive(uninterrupted, cnn, 20, workers=workers, fn=failing_objective)
    again = drive(resumed, cnn, 20, workers=workers, fn=failing_objective)
    assert json.dumps(again) == json.dumps(expected)


@pytest.mark.parametrize("name", MODEL_BASED)
def test_seeds_matter(cnn, name):
    first = drive(make_searcher(name, cnn, seed=1), cnn, 15)
    assert drive(make_searcher(name, cnn, seed=1), cnn, 15) == first
    assert drive(make_searcher(name, cnn, seed=2), cnn, 15) != first


@pytest.mark.parametrize("name", MODEL_BASED)
def test_repeated_and_unasked_results_are_accepted(cnn, name):
    searcher = make_searcher(name, cnn, seed=0)
    first, second = searcher.ask(), searcher.ask()
    searcher.tell(first, 1.0)
    searcher.tell(first, 1.0)  # told again, no open ask: a finished trial is added
    searcher.tell(second, None)
    searcher.tell(second, float("nan"))
    searcher.tell(second, 0.5)
    searcher.tell(cnn.sample(random.Random(3)), 0.7)  # never asked: a warm start
    assert cnn.validate(searcher.ask())


def test_tpe_learns_from_results_that_were_never_asked():
    space = dense_space(
        [8, 16, 32, 64], [1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 3, 4, 5, 6, 7, 8]
    )
    rng = random.Random(0)
    searcher = make_searcher("tpe", space, seed=0)
    for _ in range(60):
        a = space.sample(rng)
        searcher.tell(a, 10.0 if a["d0.units"] == 64 else 0.0)
    proposals = [searcher.ask() for _ in range(20)]
    assert sum(a["d0.units"] == 64 for a in proposals) >= 10


# -- objectives and budgets -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["tpe", "gp", "evolution", "mcts"])
def test_single_objective_searchers_refuse_several_objectives(cnn, name):
    with pytest.raises(
        UsageError, match=f"'{name}' optimises a single objective.*nsga2"
    ):
        make_searcher(name, cnn, directions=("max", "min"))


def test_several_directions_are_checked(cnn):
    with pytest.raises(UsageError, match="'maximize'"):
        make_searcher("nsga2", cnn, directions=("max", "maximize"))
    with pytest.raises(UsageError, match="at least one"):
        make_searcher("nsga2", cnn, directions=())
    assert make_searcher("random", cnn, directions=("max", "min")).directions == (
        "max",
        "min",
    )
    assert make_searcher("tpe", cnn, directions=("min",)).direction == "min"


def two_objectives(space, a):
    """Accuracy-like (higher later in each domain) against size-like (the same, minimised):
    a real trade-off. One in six fails."""
    score = objective(space, a)
    size = sum(v for k, v in a.items() if k.endswith("filters"))
    return None if round(score * 10) % 6 == 0 else (score, float(size))


def test_nsga2_takes_tuples_of_objectives_and_replays_them(cnn):
    log = []
    searcher = make_searcher("nsga2", cnn, seed=4, directions=("max", "min"))
    drive(searcher, cnn, 30, workers=3, fn=two_objectives, log=log)
    resumed = make_searcher("nsga2", cnn, seed=4, directions=("max", "min"))
    replay(resumed, log)
    assert drive(resumed, cnn, 10, fn=two_objectives) == drive(
        searcher, cnn, 10, fn=two_objectives
    )
    complete = [t for t in searcher._study.trials if t.values is not None]
    assert complete and all(len(t.values) == 2 for t in complete)
    with pytest.raises(ValueError, match="2 objective.*1 value"):
        searcher.tell(searcher.ask(), 0.5)


def over_budget_proposals(space, seed, infeasible: bool) -> int:
    """How many of proposals 21..60 of TPE have d0.units == 64, a value over budget (never
    trained) told as infeasible or, for comparison, as a failure."""
    searcher = make_searcher("tpe", space, seed=seed)
    over = 0
    for i in range(60):
        a = searcher.ask()
        if a["d0.units"] == 64:
            if infeasible:
                searcher.tell_infeasible(a, violation=1.0)
            else:
                searcher.tell(a, None)
            over += i >= 20
        else:
            searcher.tell(a, objective(space, a))
    return over


def test_tpe_avoids_what_is_told_infeasible():
    """The objective favours larger units, so a searcher drifts towards 64. Told as
    infeasible, 64 comes up less often than the 10 in 40 of chance; told as failures (which
    Optuna ignores), far more often."""
    space = dense_space([8, 16, 32, 64], [1, 2, 3, 4], [1, 2, 3, 4])
    infeasible = [over_budget_proposals(space, s, True) for s in range(3)]
    failed = [over_budget_proposals(space, s, False) for s in range(3)]
    assert statistics.median(infeasible) < 10 < 20 < statistics.median(failed)


def test_searchers_without_constraints_count_infeasible_as_failed(cnn):
    searcher = make_searcher("evolution", cnn, seed=0, population_size=3)
    a = searcher.ask()
    searcher.tell_infeasible(a)
    assert searcher.population == ()


def test_gp_names_its_extra_when_torch_is_missing(cnn, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "torch" else real(name, *args),
    )
    with pytest.raises(UsageError, match=r'pip install "nascompiler\[gp\]"') as info:
        make_searcher("gp", cnn)
    assert "\n" not in str(info.value)


# -- learning -----------------------------------------------------------------------------------


def best_of(space, name, seed, trials, direction="max"):
    """(mean of the best-so-far curve, best), both oriented so that higher is better."""
    searcher = make_searcher(name, space, seed=seed, direction=direction)
    sign = 1 if direction == "max" else -1
    best = -math.inf
    curve = []
    for _ in range(trials):
        a = searcher.ask()
        y = objective(space, a)
        searcher.tell(a, y)
        best = max(best, sign * y)
        curve.append(best)
    return statistics.mean(curve), best


def test_tpe_beats_random_search_at_small_budgets():
    """30 trials (10 random, then TPE), on a space of eight 8-way choices, over 7 seeds: TPE's
    median best-so-far curve and best result are higher than random search's."""
    space = dense_space(*[[1, 2, 3, 4, 5, 6, 7, 8]] * 8)
    tpe = [best_of(space, "tpe", s, 30) for s in range(7)]
    rnd = [best_of(space, "random", s, 30) for s in range(7)]
    assert statistics.median(a for a, _ in tpe) > statistics.median(a for a, _ in rnd)
    assert statistics.median(b for _, b in tpe) > statistics.median(b for _, b in rnd)


@pytest.mark.slow
def test_tpe_minimises_when_asked_to():
    """direction='min' reaches Optuna as 'minimize': after 60 trials TPE's median best is
    lower than random search's. (At 30 the ten random start-up trials, which differ from
    random search's, still weigh too much for a fair comparison in this direction.)"""
    space = dense_space(*[[1, 2, 3, 4, 5, 6, 7, 8]] * 8)
    tpe = [best_of(space, "tpe", s, 60, "min")[1] for s in range(7)]
    rnd = [best_of(space, "random", s, 60, "min")[1] for s in range(7)]
    assert statistics.median(tpe) > statistics.median(rnd)


@pytest.mark.parametrize("name", MODEL_BASED)
def test_infeasible_results_without_an_open_ask_are_recorded_as_such(name):
    space = dense_space([8, 16, 32, 64], [1, 2])
    searcher = make_searcher(name, space, seed=0)
    searcher.tell_infeasible({"d0.units": 64, "d1.units": 2}, violation=2.0)
    searcher.tell({"d0.units": 8, "d1.units": 1}, 0.5)
    first, second = searcher._study.trials
    assert first.constraints == {"budget": 2.0} and second.constraints == {}
    assert second.values == [0.5] and first.values == [
        0.0
    ]  # no result yet to be worse than
    with pytest.raises(ValueError, match="violation must be positive"):
        searcher.tell_infeasible({"d0.units": 64, "d1.units": 2}, violation=0.0)
