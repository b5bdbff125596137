"""BOHB (issue 17): under a multi-fidelity scheduler tpe and gp model the highest rung that has
enough results (a lower one before that), keep a share of random proposals, and still replay
exactly; evolution's tournaments compare members at the highest rung enough of them reached.
Synthetic objectives only: nothing trains."""

from __future__ import annotations

import importlib.util
import json
import random

import pytest

from helpers import dense_space
from nascompiler.errors import UsageError
from nascompiler.search.searchers import make_searcher
from nascompiler.search.searchers.base import model_rung

HAVE_TORCH = importlib.util.find_spec("torch") is not None
RUNG_MODELS = ("tpe",) + (("gp",) if HAVE_TORCH else ())


@pytest.fixture(scope="module")
def space():
    return dense_space([8, 16, 32, 64], [1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 3, 4])


def units_share(searcher, value, asks=30):
    """The share of ``asks`` proposals whose first layer has ``value`` units, and the rungs
    whose studies asked them."""
    before = {id(t) for v in searcher._pending.values() for _, t in v}
    proposals = [searcher.ask() for _ in range(asks)]
    rungs = {
        rung for v in searcher._pending.values() for rung, t in v if id(t) not in before
    }
    return sum(a["d0.units"] == value for a in proposals) / asks, rungs


def test_model_rung_is_the_highest_with_enough_results():
    assert model_rung({}, 4) is None
    assert model_rung({0: 3}, 4) == 0  # none has enough: the rung with the most
    assert model_rung({0: 3, 2: 3}, 4) == 2  # ties: the higher
    assert model_rung({0: 30, 1: 3, 2: 4}, 4) == 2
    assert model_rung({0: 30, 1: 4, 2: 3}, 4) == 1


def test_tpe_learns_from_the_top_rung_once_it_has_enough_results(space):
    """Rung 0 says small first layers are best, rung 1 says large ones: the model is fit on
    rung 0 until rung 1 holds min_rung_results results, then on rung 1 alone."""
    searcher = make_searcher(
        "tpe", space, seed=0, random_fraction=0, startup_trials=10
    )
    searcher.set_rungs(3)
    assert searcher.least_rung_results == 10  # startup_trials; 3 parameters + 1 is fewer
    rng = random.Random(1)
    for _ in range(40):
        a = space.sample(rng)
        searcher.tell_rung(a, 1 - a["d0.units"] / 64 + a["d1.units"] / 100, 0, True)
    assert searcher.model_rung() == 0
    share, rungs = units_share(searcher, 8)
    assert share >= 0.5 and rungs == {0}  # random draws would give 8 a quarter
    promoted = [space.sample(rng) for _ in range(24)]
    for a in promoted[:9]:  # one short of enough
        searcher.tell_rung(a, a["d0.units"] / 64 + a["d1.units"] / 100, 1, False)
    assert searcher.model_rung() == 0
    share, rungs = units_share(searcher, 64)
    assert share <= 0.35 and rungs == {0}
    for a in promoted[9:]:
        searcher.tell_rung(a, a["d0.units"] / 64 + a["d1.units"] / 100, 1, False)
    assert searcher.model_rung() == 1
    share, rungs = units_share(searcher, 64)
    assert share >= 0.5 and rungs == {1}
    # Rung 1's study holds exactly rung 1's results: the model is fit on them alone.
    complete = [t for t in searcher._studies[1].trials if t.values is not None]
    assert sorted(t.values[0] for t in complete) == sorted(
        a["d0.units"] / 64 + a["d1.units"] / 100 for a in promoted
    )


@pytest.mark.parametrize("name", RUNG_MODELS)
def test_a_trial_started_in_a_high_bracket_counts_at_its_rung(space, name):
    searcher = make_searcher(name, space, seed=0, min_rung_results=3)
    searcher.set_rungs(3)
    rng = random.Random(2)
    for _ in range(5):
        searcher.tell_rung(space.sample(rng), 0.5, 0, first=True)
    for _ in range(3):
        searcher.tell_rung(space.sample(rng), 0.5, 2, first=True)  # bracket 2
    assert searcher.model_rung() == 2
    assert space.validate(searcher.ask())


def test_a_share_of_proposals_stays_random(space):
    def opened(searcher, asks=300):
        for _ in range(asks):
            searcher.ask()
        return sum(len(v) for v in searcher._pending.values())

    bohb = make_searcher("tpe", space, seed=0)
    bohb.set_rungs(3)
    assert bohb.random_share == pytest.approx(1 / 3)
    assert 170 <= opened(bohb) <= 230  # about 200 of 300 asks are the model's
    plain = make_searcher("tpe", space, seed=0)  # one rung (scheduler full): plain TPE
    assert plain.random_share == 0 and opened(plain) == 300
    assert make_searcher("tpe", space, seed=0, random_fraction=1.0).random_share == 1.0


@pytest.mark.parametrize(
    "options, message",
    [
        ({"random_fraction": 1.5}, "random_fraction must be a number from 0 to 1"),
        ({"random_fraction": "a third"}, "random_fraction must be a number"),
        ({"min_rung_results": 0}, "min_rung_results must be an integer of at least 1"),
    ],
)
def test_bad_bohb_options_are_usage_errors(space, options, message):
    with pytest.raises(UsageError, match=message):
        make_searcher("tpe", space, **options)


def hyperband_run(searcher, space, steps, log, rng_seed=0):
    """Drive ``searcher`` as a study under Hyperband would: asks, first results at the trial's
    bracket, promotions told later at higher rungs, failures, duplicates (no rung) and
    over-budget rejections, out of order. Returns the proposals; ``log`` gets every call.
    """
    rng = random.Random(rng_seed)
    running, done, proposals = [], [], []

    def call(kind, *args):
        log.append((kind, *json.loads(json.dumps(args))))
        return getattr(searcher, kind)(*args)

    for step in range(steps):
        a = call("ask")
        proposals.append(a)
        running.append((a, rng.choice([0, 0, 0, 1, 2])))
        if len(running) >= 3:
            a, bracket = running.pop(rng.randrange(len(running)))
            value = None if rng.random() < 0.1 else a["d0.units"] / 64 + rng.random()
            if step % 11 == 5:
                call("tell_infeasible", a, 0.5)
            elif step % 13 == 7:
                call("tell", a, value)  # a duplicate: told without a rung
            else:
                call("tell_rung", a, value, bracket, True)
                if value is not None and bracket < 2:
                    done.append((a, bracket))
        if done and rng.random() < 0.4:
            a, rung = done.pop(rng.randrange(len(done)))
            call("tell_rung", a, a["d1.units"] / 8, rung + 1, False)
    return proposals


@pytest.mark.parametrize("name", RUNG_MODELS + ("evolution",))
def test_bohb_replays_exactly(space, name):
    """A searcher fed the recorded calls (through JSON, as the store keeps them) proposes
    what the uninterrupted one does."""
    log = []
    options = {} if name == "evolution" else {"min_rung_results": 4}
    first = make_searcher(name, space, seed=3, **options)
    first.set_rungs(3)
    hyperband_run(first, space, 40, log)
    resumed = make_searcher(name, space, seed=3, **options)
    resumed.set_rungs(3)
    for kind, *args in log:
        getattr(resumed, kind)(*args)
    later = hyperband_run(first, space, 20, [], rng_seed=9)
    assert hyperband_run(resumed, space, 20, [], rng_seed=9) == later


def test_evolution_tournaments_compare_at_the_highest_rung_enough_members_reached(
    space,
):
    searcher = make_searcher(
        "evolution", space, seed=0, population_size=3, sample_size=2
    )
    searcher.set_rungs(3)
    a, b, c = (searcher.ask() for _ in range(3))
    for member, score in ((a, 0.9), (b, 0.5), (c, 0.4)):
        searcher.tell_rung(member, score, 0, first=True)
    assert searcher._parent_rung() == 0
    searcher.tell_rung(b, 0.7, 1, first=False)
    searcher.tell_rung(c, 0.8, 1, first=False)
    rung = searcher._parent_rung()
    assert rung == 1
    ranked = sorted(
        searcher._population, key=lambda m: searcher._fitness(m, rung), reverse=True
    )
    assert [m[0] for m in ranked] == [c, b, a]
    # a wins a tournament only when both draws are a (1 in 9); by its rung-0 score it would
    # win every draw it is in (5 in 9).
    wins = sum(searcher._tournament() == a for _ in range(900))
    assert wins < 160
