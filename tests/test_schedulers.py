"""The schedulers' arithmetic and decisions, on recorded rung histories (no training)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from nascompiler.errors import UsageError
from nascompiler.search.schedulers import (
    ASHAScheduler,
    HyperbandScheduler,
    MedianScheduler,
    Promotion,
    make_scheduler,
    rung_epochs,
)


@dataclass
class T:
    """A trial as the scheduler sees it."""

    number: int
    status: str = "complete"
    bracket: int | None = 0
    rungs: list = field(default_factory=list)
    epochs: int = 0
    metrics: dict = field(default_factory=dict)


def at(
    number: int,
    *objectives: float,
    bracket: int = 0,
    status: str = "complete",
    epochs=(1, 3, 9),
):
    """Trial ``number`` with results at consecutive rungs from its bracket."""
    rungs = [
        {"rung": bracket + i, "epochs": epochs[bracket + i], "objective": v}
        for i, v in enumerate(objectives)
    ]
    return T(number, status, bracket, rungs, rungs[-1]["epochs"] if rungs else 0)


def asha(direction: str = "max", eta: int = 3) -> ASHAScheduler:
    return make_scheduler(
        "asha",
        epochs=9,
        direction=direction,
        objective="val_accuracy",
        min_epochs=1,
        reduction_factor=eta,
    )


@pytest.mark.parametrize(
    "low, high, eta, expected",
    [
        (1, 9, 3, [1, 3, 9]),
        (1, 10, 3, [1, 3, 9, 10]),
        (1, 8, 2, [1, 2, 4, 8]),
        (2, 20, 3, [2, 6, 18, 20]),
        (3, 3, 3, [3]),
        (1, 1, 2, [1]),
    ],
)
def test_rungs_are_min_times_eta_powers_capped_by_max(low, high, eta, expected):
    assert rung_epochs(low, high, eta) == expected


def test_no_promotion_before_a_rung_holds_eta_results():
    s = asha()
    assert s.promotion([at(0, 0.9), at(1, 0.8)]) is None
    # The third result makes the best of three (top 1/3) promotable at once: no waiting.
    assert s.promotion([at(0, 0.9), at(1, 0.8), at(2, 0.7)]) == Promotion(0, 1)


def test_the_best_of_the_top_third_goes_first_and_only_once():
    s = asha()
    trials = [at(i, v) for i, v in enumerate([0.5, 0.9, 0.7, 0.95, 0.6, 0.8])]
    assert s.promotion(trials) == Promotion(3, 1)
    trials[3] = at(3, 0.95, 0.96)  # promoted and trained at rung 1
    assert s.promotion(trials) == Promotion(1, 1)  # the second of the top 6 // 3 = 2
    trials[1] = at(1, 0.9, 0.91)
    assert s.promotion(trials) is None  # 0.8 is third: not in the top third


def test_higher_rungs_are_promoted_first():
    s = asha()
    trials = [at(0, 0.9, 0.95), at(1, 0.8, 0.85), at(2, 0.7, 0.6)] + [
        at(n, 0.1 * (n % 5)) for n in range(3, 9)
    ]
    # Rung 1 has three results: the best (trial 0) goes to rung 2 before any rung-0 promotion.
    assert s.promotion(trials) == Promotion(0, 2)


def test_a_running_or_failed_trial_is_not_promoted():
    s = asha()
    trials = [at(0, 0.9, status="running"), at(1, 0.8), at(2, 0.7)]
    assert s.promotion(trials) is None  # trial 0 is the top third but already busy
    trials = [at(0, 0.9, status="failed"), at(1, 0.8), at(2, 0.7)]
    # A failed trial does not count at its rung: two results left, none promotable.
    assert s.promotion(trials) is None


def test_ties_go_to_the_earlier_trial():
    s = asha()
    trials = [at(4, 0.9), at(2, 0.9), at(7, 0.9)]
    assert s.promotion(trials) == Promotion(2, 1)


def test_direction_min_promotes_the_lowest():
    s = asha("min")
    trials = [at(0, 0.5), at(1, 0.2), at(2, 0.9)]
    assert s.promotion(trials) == Promotion(1, 1)
    s = asha("max")
    assert s.promotion(trials) == Promotion(2, 1)


def test_a_trial_at_the_top_rung_is_never_promoted():
    s = asha()
    trials = [at(0, 0.9, 0.9, 0.9), at(1, 0.8, 0.8, 0.8), at(2, 0.7, 0.7, 0.7)]
    assert s.promotion(trials) is None
    assert not s.promotable(trials[0], trials, max_trials=30)


def test_promotable_bounds_the_checkpoints_kept():
    s = asha()
    trials = [at(i, 1.0 - i / 100) for i in range(12)]
    # With 12 trials at most, at most 4 rung-0 results can ever be promoted.
    assert [s.promotable(t, trials, max_trials=12) for t in trials] == [True] * 4 + [
        False
    ] * 8
    # A larger study may still promote more of them.
    assert sum(s.promotable(t, trials, max_trials=30) for t in trials) == 10


def test_hyperband_deals_trials_to_brackets_in_hyperband_proportions():
    s = make_scheduler(
        "hyperband", epochs=9, direction="max", objective="val_accuracy", min_epochs=1
    )
    assert isinstance(s, HyperbandScheduler)
    assert s.rungs == [1, 3, 9]
    assert s.shares == [9, 5, 3]  # ceil(3/3 * 9), ceil(3/2 * 3), ceil(3/1 * 1)
    first = [s.bracket(n) for n in range(17)]
    # Hyperband's order: the most exploratory bracket first, the full-training one last.
    assert first == [0] * 9 + [1] * 5 + [2] * 3
    assert [s.bracket(n) for n in range(17, 34)] == first  # the cycle repeats


def test_hyperband_promotes_within_a_bracket_only():
    s = make_scheduler(
        "hyperband", epochs=9, direction="max", objective="val_accuracy", min_epochs=1
    )
    # Bracket 1 starts at rung 1; its trials never compete with bracket 0's rung-1 results.
    trials = [
        at(0, 0.2, bracket=0),
        at(1, 0.99, bracket=1),
        at(2, 0.98, bracket=1),
        at(3, 0.97, bracket=1),
    ]
    assert s.promotion(trials) == Promotion(1, 2)
    assert s.promotion(trials[:3]) is None  # two results in bracket 1: none promotable


def test_median_prunes_below_the_median_of_complete_trials_per_epoch():
    s = make_scheduler("median", epochs=3, direction="max", objective="val_accuracy")
    assert isinstance(s, MedianScheduler)
    curves = [[0.1, 0.2, 0.3], [0.2, 0.3, 0.4], [0.3, 0.4, 0.5], [0.4, 0.5, 0.6]]
    trials = [T(i, epochs=3, metrics={"val_accuracy": c}) for i, c in enumerate(curves)]
    assert (
        s.prune_thresholds(trials) is None
    )  # fewer than five complete trials: no pruning
    trials.append(T(4, epochs=3, metrics={"val_accuracy": [0.5, 0.6, 0.7]}))
    trials.append(
        T(5, epochs=1, metrics={"val_accuracy": [0.99]})
    )  # pruned: does not count
    trials.append(T(6, status="failed", epochs=3, metrics={"val_accuracy": [0.99] * 3}))
    assert s.prune_thresholds(trials) == pytest.approx([0.3, 0.4, 0.5])
    low = make_scheduler("median", epochs=3, direction="min", objective="val_loss")
    trials = [T(i, epochs=3, metrics={"val_loss": [float(i)] * 3}) for i in range(5)]
    assert low.prune_thresholds(trials) == pytest.approx([-2.0, -2.0, -2.0])  # oriented


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"name": "nope"}, "unknown scheduler 'nope'"),
        (
            {"name": "asha", "reduction_factor": 1},
            "--reduction-factor must be an integer of at least 2",
        ),
        ({"name": "asha", "min_epochs": 0}, "--min-epochs must be a positive integer"),
        (
            {"name": "asha", "min_epochs": 5, "max_epochs": 3},
            "--min-epochs (5) must not exceed --max-epochs (3)",
        ),
        (
            {"name": "full", "min_epochs": 2},
            "--min-epochs applies to --scheduler asha or hyperband",
        ),
        ({"name": "median", "reduction_factor": 2}, "--reduction-factor applies to"),
    ],
)
def test_bad_scheduler_options_are_clear_errors(kwargs, message):
    name = kwargs.pop("name")
    with pytest.raises(UsageError) as info:
        make_scheduler(
            name, epochs=9, direction="max", objective="val_accuracy", **kwargs
        )
    assert message in str(info.value)
