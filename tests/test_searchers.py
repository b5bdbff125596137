"""Searchers: validity of proposals, determinism and resumability, and that the learning
searchers actually learn (on synthetic objectives, so no model is trained here)."""

from __future__ import annotations

import importlib.util
import json
import os
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
from nascompiler.errors import UsageError
from nascompiler.ir import compile_space
from nascompiler.layers import Dense, Dropout, Input
from nascompiler.search.searchers import (
    SEARCHERS,
    ContinuousParameterError,
    EvolutionSearch,
    make_searcher,
    searcher_options,
)
from nascompiler.space import Choice, HyperSpace, Real
from nascompiler.spaces import (
    cnn_search_space,
    dnn_search_space,
    enas_micro_search_space,
)

LEARNERS = ("evolution", "mcts")
HAVE_TORCH = importlib.util.find_spec("torch") is not None
# gp needs PyTorch, an extra: without it, make_searcher("gp") is a one-line UsageError
# (test_model_searchers.py checks that) and the tests of every searcher leave it out.
AVAILABLE = tuple(n for n in sorted(SEARCHERS) if n != "gp" or HAVE_TORCH)


# -- spaces and objectives ---------------------------------------------------------------


@pytest.fixture(scope="module")
def cnn():
    """Conditional: repeat_4.times and repeat_5.times exist only for 3 or 4 blocks."""
    return compile_space(
        cnn_search_space(
            input_shape=(8, 8, 1),
            output_units=3,
            block_num_choices=[2, 3, 4],
            filters_choices=[4, 8],
        )
    )


@pytest.fixture(scope="module")
def dnn():
    """Unconditional, with tuple-valued options (permutation orders)."""
    return compile_space(
        dnn_search_space(input_shape=(4,), output_units=2, output_activation="softmax")
    )


@pytest.fixture(scope="module")
def continuous():
    space = HyperSpace()
    with space.as_default():
        x = Input(shape=(4,))
        x = Dense(units=Choice([8, 16]), name="hidden")(x)
        Dropout(rate=Real(0.0, 0.5), name="drop")(x)
    return compile_space(space)


def distinct(proposals):
    return len({json.dumps(sorted(a.items())) for a in proposals})


# -- the registry ------------------------------------------------------------------------


def test_registry_lists_the_searchers():
    assert set(SEARCHERS) == {
        "random",
        "grid",
        "evolution",
        "mcts",
        "tpe",
        "gp",
        "nsga2",
    }
    assert all(cls.name == name for name, cls in SEARCHERS.items())


def test_unknown_searcher_names_the_known_ones(dnn):
    with pytest.raises(
        UsageError, match="unknown searcher 'bohb'.*random.*grid.*evolution.*mcts.*tpe"
    ):
        make_searcher("bohb", dnn)


def test_unknown_option_is_named(dnn):
    with pytest.raises(UsageError, match="no option 'populaton_size'.*population_size"):
        make_searcher("evolution", dnn, populaton_size=5)
    with pytest.raises(UsageError, match="no option 'resolution'"):
        make_searcher("random", dnn, resolution=3)


def test_bad_direction_is_a_usage_error(dnn):
    with pytest.raises(UsageError, match="direction"):
        make_searcher("random", dnn, direction="maximize")


@pytest.mark.parametrize(
    "name, options, message",
    [
        ("evolution", {"population_size": 0}, "population_size"),
        ("evolution", {"population_size": 4, "sample_size": 5}, "sample_size"),
        ("evolution", {"sample_size": 2.5}, "sample_size"),
        ("evolution", {"population_size": 4, "startup_trials": 5}, "startup_trials"),
        ("evolution", {"startup_trials": 0}, "startup_trials"),
        ("grid", {"resolution": 1}, "resolution"),
        ("mcts", {"resolution": True}, "resolution"),
        ("mcts", {"exploration": -1.0}, "exploration"),
    ],
)
def test_bad_option_values_are_usage_errors(dnn, name, options, message):
    with pytest.raises(UsageError, match=message):
        make_searcher(name, dnn, **options)


def test_options_and_defaults_are_read_from_the_classes():
    assert searcher_options(SEARCHERS["random"]) == {}
    assert searcher_options(SEARCHERS["grid"]) == {"resolution": None}
    assert searcher_options(SEARCHERS["evolution"]) == {
        "population_size": 20,
        "sample_size": None,
        "startup_trials": None,
    }
    assert searcher_options(SEARCHERS["mcts"]) == {"exploration": 0.1, "resolution": 10}
    bohb = {"random_fraction": None, "min_rung_results": None}
    assert searcher_options(SEARCHERS["tpe"]) == {"startup_trials": 5, **bohb}
    assert searcher_options(SEARCHERS["gp"]) == {"startup_trials": 10, **bohb}
    assert searcher_options(SEARCHERS["nsga2"]) == {"population_size": 20}


def test_searchers_do_not_import_tensorflow():
    code = "import sys, nascompiler.search.searchers; print(sorted({m.split('.')[0] for m in sys.modules}))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "'tensorflow'" not in out and "'keras'" not in out and "'nascompiler'" in out


# -- every proposal is a valid assignment --------------------------------------------------


@pytest.mark.parametrize("name", AVAILABLE)
@pytest.mark.parametrize("space_name", ["cnn", "dnn"])
def test_proposals_are_valid_and_hold_only_active_parameters(request, name, space_name):
    space = request.getfixturevalue(space_name)
    searcher = make_searcher(name, space, seed=3)
    proposals = drive(searcher, space, 120, workers=3, fn=failing_objective)
    assert len(proposals) == 120
    for a in proposals:
        assert space.validate(a) == a  # in-domain, normalised, nothing missing
        assert set(a) == active_names(space, a)  # nothing inactive
    if space_name == "cnn" and name != "grid":
        # Both sides of the condition come up: the conditional parameters are sometimes on.
        assert {len(a) for a in proposals} == {7, 8, 9}


@pytest.mark.parametrize("name", ["random", "evolution", "mcts"])
def test_continuous_real_proposals_are_in_range(continuous, name):
    searcher = make_searcher(name, continuous, seed=1)
    rates = [a["drop.rate"] for a in drive(searcher, continuous, 60)]
    assert all(0.0 <= r <= 0.5 for r in rates)
    assert len(set(rates)) > 3


def test_mcts_discretises_continuous_reals_with_the_resolution(continuous):
    searcher = make_searcher("mcts", continuous, resolution=4)
    rates = {a["drop.rate"] for a in drive(searcher, continuous, 40)}
    assert rates <= set(continuous.parameter("drop.rate").domain.grid(4))
    assert len(rates) > 1


# -- determinism and resuming ------------------------------------------------------------


@pytest.mark.parametrize("name", AVAILABLE)
def test_same_seed_same_proposals(cnn, name):
    runs = [
        drive(
            make_searcher(name, cnn, seed=7), cnn, 60, workers=2, fn=failing_objective
        )
        for _ in range(2)
    ]
    assert runs[0] == runs[1]


@pytest.mark.parametrize("name", ["random", "evolution", "mcts"])
def test_different_seeds_differ(cnn, name):
    first = drive(make_searcher(name, cnn, seed=1), cnn, 30)
    second = drive(make_searcher(name, cnn, seed=2), cnn, 30)
    assert first != second


@pytest.mark.parametrize("name", LEARNERS)
@pytest.mark.parametrize("workers", [1, 4])
def test_a_resumed_searcher_continues_like_the_uninterrupted_one(cnn, name, workers):
    log = []
    uninterrupted = make_searcher(name, cnn, seed=5)
    drive(uninterrupted, cnn, 50, workers=workers, fn=failing_objective, log=log)
    # The process dies here; the study rebuilds a searcher from the recorded calls.
    resumed = make_searcher(name, cnn, seed=5)
    replay(resumed, log)
    expected = drive(uninterrupted, cnn, 50, workers=workers, fn=failing_objective)
    assert drive(resumed, cnn, 50, workers=workers, fn=failing_objective) == expected


@pytest.mark.parametrize("name", LEARNERS)
def test_results_read_back_from_json_replay_identically(dnn, name):
    log = []
    drive(make_searcher(name, dnn, seed=2), dnn, 40, workers=3, log=log)
    # The store keeps assignments as JSON, which turns tuples (permutation orders) into lists.
    stored = [
        e if e[0] == "ask" else ("tell", json.loads(json.dumps(e[1])), e[2])
        for e in log
    ]
    assert any(
        isinstance(v, list) for e in stored if e[0] == "tell" for v in e[1].values()
    )
    replay(make_searcher(name, dnn, seed=2), stored)


@pytest.mark.parametrize("name", LEARNERS)
def test_repeated_candidates_may_be_told_again(cnn, name):
    """The study tells an already evaluated candidate its earlier objective without training
    it; the searcher must accept the same assignment twice, outstanding or not."""
    searcher = make_searcher(name, cnn, seed=0)
    first, second = searcher.ask(), searcher.ask()
    searcher.tell(first, 1.0)
    searcher.tell(first, 1.0)
    searcher.tell(second, None)
    searcher.tell(second, 0.5)
    assert cnn.validate(searcher.ask())


@pytest.mark.parametrize("name", LEARNERS)
def test_results_that_were_never_asked_inform_the_search(name):
    """A warm start: results from elsewhere told without an ask. Every told result with
    d0.units == 64 is excellent; a learner should then propose 64 far more often than the one
    time in four of chance."""
    space = dense_space(
        [8, 16, 32, 64], [1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 3, 4, 5, 6, 7, 8]
    )
    rng = random.Random(0)
    searcher = make_searcher(name, space, seed=0)
    for _ in range(200):
        a = space.sample(rng)
        searcher.tell(a, 10.0 if a["d0.units"] == 64 else 0.0)
    proposals = [searcher.ask() for _ in range(20)]
    assert sum(a["d0.units"] == 64 for a in proposals) >= 10


@pytest.mark.slow
def test_proposals_do_not_depend_on_the_process(tmp_path):
    """A study resumes in a new process, where str hashes (and so set order) differ."""
    script = tmp_path / "run.py"
    script.write_text(
        "import json\n"
        "from nascompiler.ir import compile_space\n"
        "from nascompiler.search.searchers import make_searcher\n"
        "from nascompiler.spaces import cnn_search_space\n"
        "space = compile_space(cnn_search_space(input_shape=(8, 8, 1), output_units=3, filters_choices=[4, 8]))\n"
        f"for name in {list(AVAILABLE)!r}:\n"
        "    searcher = make_searcher(name, space, seed=11)\n"
        "    for i in range(40):\n"
        "        a = searcher.ask()\n"
        "        print(name, json.dumps(a, sort_keys=True))\n"
        "        searcher.tell(a, None if i % 7 == 3 else float(len(repr(a)) % 13))\n"
    )
    outputs = {
        subprocess.run(
            [sys.executable, str(script)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
        ).stdout
        for hash_seed in ("1", "2")
    }
    assert len(outputs) == 1


# -- grid ----------------------------------------------------------------------------------


def test_grid_enumerates_a_conditional_space_exactly_once(cnn):
    searcher = make_searcher("grid", cnn)
    proposals = []
    while (a := searcher.ask()) is not None:
        proposals.append(a)
    assert len(proposals) == cnn.count() == 1248
    assert distinct(proposals) == len(proposals)
    assert all(
        cnn.validate(a) == a and set(a) == active_names(cnn, a) for a in proposals
    )
    assert searcher.ask() is None


def test_grid_order_turns_the_last_parameter_fastest():
    space = dense_space([1, 2], [3, 4, 5])
    searcher = make_searcher("grid", space, seed=9)
    proposals = [searcher.ask() for _ in range(7)]
    assert [(a["d0.units"], a["d1.units"]) for a in proposals[:6]] == [
        (1, 3),
        (1, 4),
        (1, 5),
        (2, 3),
        (2, 4),
        (2, 5),
    ]
    assert proposals[6] is None


def test_grid_is_lazy_on_a_huge_space():
    space = compile_space(enas_micro_search_space())
    searcher = make_searcher("grid", space)
    first, second = searcher.ask(), searcher.ask()
    assert space.count() > 10**18
    changed = [name for name in first if first[name] != second[name]]
    assert changed == [space.names[-1]]


def test_grid_refuses_a_continuous_real_without_a_resolution(continuous):
    with pytest.raises(
        ContinuousParameterError, match=r"'drop\.rate'.*resolution"
    ) as info:
        make_searcher("grid", continuous)
    assert isinstance(info.value, ValueError) and isinstance(info.value, UsageError)


def test_grid_discretises_a_continuous_real_with_a_resolution(continuous):
    searcher = make_searcher("grid", continuous, resolution=3)
    proposals = []
    while (a := searcher.ask()) is not None:
        proposals.append(a)
    assert [(a["hidden.units"], a["drop.rate"]) for a in proposals] == [
        (8, 0.0),
        (8, 0.25),
        (8, 0.5),
        (16, 0.0),
        (16, 0.25),
        (16, 0.5),
    ]


# -- evolution -------------------------------------------------------------------------------


def test_evolution_samples_at_random_while_the_population_fills_even_without_results(
    cnn,
):
    searcher = make_searcher("evolution", cnn, seed=0, population_size=5)
    proposals = [searcher.ask() for _ in range(12)]  # twelve workers, no result yet
    assert all(cnn.validate(a) == a for a in proposals)
    assert distinct(proposals) == 12
    assert searcher.population == ()


def test_evolution_counts_trials_in_flight_towards_the_first_population(dnn):
    """startup_trials random samples in all, however many workers run them; a failed trial
    frees its place for another random sample."""
    searcher = make_searcher(
        "evolution", dnn, seed=0, population_size=4, startup_trials=4
    )
    first = [searcher.ask() for _ in range(4)]
    searcher.tell(
        first[0], 1.0
    )  # one member, three in flight: the population is spoken for
    child = searcher.ask()
    assert sum(child[k] != first[0][k] for k in child) == 1
    searcher.tell(first[1], None)
    searcher.tell(child, None)  # one member, two in flight: room for a random sample
    fresh = searcher.ask()
    assert sum(fresh[k] != first[0][k] for k in fresh) > 1


def test_evolution_mutates_after_half_a_population_by_default(dnn):
    """startup_trials defaults to half the population: the fourth ask of a population of 6
    is a child (one parameter away from a member), not another random sample."""
    searcher = make_searcher("evolution", dnn, seed=0, population_size=6)
    assert (searcher.sample_size, searcher.startup_trials) == (6, 3)
    first = [searcher.ask() for _ in range(3)]
    for a in first:
        searcher.tell(a, objective(dnn, a))
    child = searcher.ask()
    assert min(sum(child[k] != m[k] for k in child) for m in first) == 1


def test_evolution_ages_out_the_oldest_and_keeps_failures_out(dnn):
    searcher = make_searcher("evolution", dnn, seed=0, population_size=4)
    told = []
    for i in range(9):
        a = searcher.ask()
        y = (
            None if i == 7 else -float(i)
        )  # later results are worse: aging, not culling, removes
        searcher.tell(a, y)
        if y is not None:
            told.append(a)
    assert searcher.population == tuple(told[-4:])


def test_evolution_children_differ_from_a_member_in_one_parameter(dnn):
    """dnn_search_space has no conditions, so a child is its parent with one value changed."""
    searcher = make_searcher("evolution", dnn, seed=4, population_size=6, sample_size=2)
    for i in range(60):
        population = searcher.population
        a = searcher.ask()
        if i >= 6:
            distances = [sum(a[k] != m[k] for k in a) for m in population]
            assert min(distances) == 1
        searcher.tell(a, objective(dnn, a))


def test_evolution_mutation_rederives_conditional_parameters(cnn):
    searcher = make_searcher("evolution", cnn, seed=1, population_size=5)
    proposals = drive(searcher, cnn, 150)
    assert all(set(a) == active_names(cnn, a) for a in proposals)
    children = proposals[5:]
    assert {a["repeat_1.times"] for a in children} == {2, 3, 4}


def test_evolution_avoids_repeating_itself(cnn):
    proposals = drive(make_searcher("evolution", cnn, seed=0), cnn, 150)
    assert distinct(proposals) >= 145


def test_evolution_tournament_respects_direction(dnn):
    """Tournaments draw with replacement, so the best member is the parent most often and the
    worst almost never (only when all draws hit it); which is best flips with the direction.
    """
    for direction, best, worst in (("max", 0, 3), ("min", 3, 0)):
        searcher = EvolutionSearch(
            dnn, seed=0, direction=direction, population_size=4, sample_size=3
        )
        members = [searcher.ask() for _ in range(4)]
        for rank, a in enumerate(members):
            searcher.tell(a, -float(rank))
        children = [searcher.ask() for _ in range(40)]  # the population stays as it is

        def children_of(member):
            return sum(
                sum(child[k] != member[k] for k in child) == 1 for child in children
            )

        assert children_of(members[best]) >= 15
        assert children_of(members[worst]) <= 3


# -- mcts ----------------------------------------------------------------------------------


def test_mcts_exhausts_a_small_space_then_stops():
    space = dense_space([1, 2, 3], [4, 5])
    searcher = make_searcher("mcts", space, seed=0)
    proposals = []
    while (a := searcher.ask()) is not None and len(proposals) < 100:
        proposals.append(a)
        searcher.tell(a, float(a["d0.units"]))
    assert a is None
    assert {(a["d0.units"], a["d1.units"]) for a in proposals} == {
        (u, v) for u in (1, 2, 3) for v in (4, 5)
    }


def test_mcts_spreads_parallel_asks_with_virtual_loss(cnn):
    searcher = make_searcher("mcts", cnn, seed=0)
    proposals = [searcher.ask() for _ in range(16)]  # sixteen workers, no result yet
    # Outstanding asks count as visits, so UCB1 alternates between the root's two branches
    # (optional_1.enabled is the first decision) instead of descending one path.
    assert sum(a["optional_1.enabled"] for a in proposals) == 8
    assert distinct(proposals) >= 14


def test_mcts_counts_failures_as_the_worst_result():
    space = dense_space([1, 2], [1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 3, 4, 5, 6, 7, 8])
    searcher = make_searcher("mcts", space, seed=0)

    def fails_on_one(space, a):
        return None if a["d0.units"] == 1 else a["d1.units"] / 1000

    proposals = drive(searcher, space, 60, fn=fails_on_one)
    assert sum(a["d0.units"] == 2 for a in proposals) >= 40


# -- learning ------------------------------------------------------------------------------


def best_so_far_area(space, name, seed, direction, trials=150):
    """Mean of the best-so-far curve over ``trials``: rewards finding good values early."""
    searcher = make_searcher(name, space, seed=seed, direction=direction)
    sign = 1 if direction == "max" else -1
    best, curve = None, []
    for _ in range(trials):
        a = searcher.ask()
        y = objective(space, a)
        searcher.tell(a, y)
        best = y if best is None or sign * y > sign * best else best
        curve.append(best)
    return statistics.mean(curve)


@pytest.mark.parametrize("direction", ["max", "min"])
@pytest.mark.parametrize("name", LEARNERS)
@pytest.mark.parametrize("space_name", ["cnn", "dnn"])
def test_learners_beat_random_search(request, space_name, name, direction):
    space = request.getfixturevalue(space_name)
    seeds = range(7)
    learner = statistics.median(
        best_so_far_area(space, name, s, direction) for s in seeds
    )
    baseline = statistics.median(
        best_so_far_area(space, "random", s, direction) for s in seeds
    )
    assert (learner > baseline) if direction == "max" else (learner < baseline)
