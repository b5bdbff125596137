"""Which parameters matter: fANOVA importance (Hutter et al., 2014) through Optuna.

Optuna's :class:`~optuna.importance.FanovaImportanceEvaluator` fits a random forest (from
scikit-learn, which the ``report`` extra brings) to the scores of the trials and splits the
variance of its prediction among the parameters; it runs offline and is seeded, so the same
trials give the same importances. The trials are handed over as an in-memory Optuna study:

- only the parameters active in every trial taken are used (a conditional parameter that some
  trials do not have cannot be split on; the report says which were left out);
- a numeric parameter is a range from its smallest to its largest value seen, anything else
  (strings, tuples, booleans) a categorical one over the values seen;
- a parameter that took one value only has importance 0.

Without scikit-learn the report says so in one line instead.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

MIN_TRIALS = 5  # fewer scores than this say nothing about which parameter matters
N_TREES = 32
SEED = 0


class ImportanceUnavailable(Exception):
    """Why there are no importances (too few trials, scikit-learn missing)."""


@dataclass(frozen=True)
class Importance:
    objective: str
    values: tuple[
        tuple[str, float], ...
    ]  # (parameter, importance), most important first
    left_out: tuple[str, ...]  # parameters not active in every trial
    trials: int


def _value_text(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@contextlib.contextmanager
def _quiet_optuna() -> Iterator[None]:
    import optuna

    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(before)


def fanova(
    objective: str,
    direction: str,
    points: Sequence[tuple[Mapping[str, Any], float]],
    names: Sequence[str],
) -> Importance:
    """Importance of each parameter for ``objective`` over ``points`` (assignment, score)."""
    if len(points) < MIN_TRIALS:
        raise ImportanceUnavailable(
            f"needs at least {MIN_TRIALS} scored trials, the study has {len(points)}"
        )
    try:
        import sklearn.ensemble  # noqa: F401  (what the evaluator needs)
    except ImportError:
        raise ImportanceUnavailable(
            "needs scikit-learn: pip install 'nascompiler[report]'"
        ) from None
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    common = [n for n in names if all(n in a for a, _ in points)]
    left_out = tuple(n for n in names if n not in common)
    distributions: dict[str, Any] = {}
    constant: list[str] = []
    for name in common:
        values = [a[name] for a, _ in points]
        if all(_numeric(v) for v in values):
            low, high = min(map(float, values)), max(map(float, values))
            if low == high:
                constant.append(name)
            else:
                distributions[name] = FloatDistribution(low, high)
        else:
            choices = sorted({_value_text(v) for v in values})
            if len(choices) == 1:
                constant.append(name)
            else:
                distributions[name] = CategoricalDistribution(choices)
    if not distributions:
        raise ImportanceUnavailable("no parameter took more than one value")
    with _quiet_optuna():
        study = optuna.create_study(
            direction="maximize" if direction == "max" else "minimize"
        )
        for assignment, score in points:
            params = {
                name: (
                    float(assignment[name])
                    if isinstance(dist, FloatDistribution)
                    else _value_text(assignment[name])
                )
                for name, dist in distributions.items()
            }
            study.add_trial(
                optuna.trial.create_trial(
                    params=params, distributions=distributions, value=float(score)
                )
            )
        evaluator = optuna.importance.FanovaImportanceEvaluator(
            n_trees=N_TREES, seed=SEED
        )
        found = evaluator.evaluate(study)
    ordered = sorted(
        [(name, float(v)) for name, v in found.items()] + [(n, 0.0) for n in constant],
        key=lambda item: (-item[1], common.index(item[0])),
    )
    return Importance(objective, tuple(ordered), left_out, len(points))
