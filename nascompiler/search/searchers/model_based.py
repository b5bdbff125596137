"""Model-based searchers from Optuna: TPE, Gaussian process, NSGA-II.

Optuna's samplers are driven through its ask/tell interface over our parameter table: each
``ask`` opens an Optuna trial and walks the table in order, suggesting a parameter only when its
activation condition holds for the values suggested so far, so Optuna sees exactly the active
parameters (and learns conditional spaces as such). Domains map faithfully:

- ``Choice`` / ``Bool`` (any literals, tuples included): a categorical over option indices;
- ``Int``: an integer range with its step;
- ``Real`` with a step: an integer over the grid's positions (ordered, and the values stay the
  grid's exact values); a continuous ``Real``: a float range, log-scaled for a log prior;
- ``MultipleChoice``: a categorical over its subsets (their indices in the domain's order);
  one with more than :data:`MAX_SUBSETS` subsets is one include/exclude flag per option,
  repaired to the allowed count.

Each searcher holds its own in-memory Optuna study with a seeded sampler, so it is a pure
function of its seed and the sequence of ``ask``/``tell`` calls: the study resumes by replaying
stored trials through a fresh searcher. Results may come back out of ask order; an assignment
told that has no open ask (a warm start, or a candidate told again) is added as a finished
trial.

Multi-objective: ``directions=("max", "min")`` (``nsga2`` only) and ``tell`` with a tuple of
values in the same order.
"""

from __future__ import annotations

import importlib.util
import math
import warnings
from typing import Any, ClassVar, Sequence

from ...errors import UsageError
from ...ir import Assignment, SpaceIR
from ...ir.domains import Categorical, IntRange, RealRange, Subset
from ...ir.space_ir import Parameter
from ...kinds import Direction
from .base import Searcher, assignment_key, int_option

MAX_SUBSETS = 1024  # above this a MultipleChoice is asked as one flag per option
BUDGET_CONSTRAINT = "budget"


def _optuna():
    """Optuna, quiet; a one-line error naming the install command when it is missing."""
    try:
        import optuna
    except ImportError:
        raise UsageError(
            "the tpe, gp and nsga2 searchers need Optuna, which is not installed: pip install optuna"
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


class _Codec:
    """How one parameter is asked of Optuna and how its values map back and forth."""

    def __init__(self, parameter: Parameter):
        self.parameter = parameter
        self.name = parameter.name
        domain = parameter.domain
        self.flags = isinstance(domain, Subset) and domain.size > MAX_SUBSETS

    def distributions(self, optuna) -> dict[str, Any]:
        d, dist = self.parameter.domain, optuna.distributions
        if self.flags:
            return {
                f"{self.name}[{i}]": dist.CategoricalDistribution((0, 1))
                for i in range(len(d.options))
            }
        if isinstance(d, (Categorical, Subset)):
            return {self.name: dist.CategoricalDistribution(tuple(range(d.size)))}
        if isinstance(d, IntRange):
            return {self.name: dist.IntDistribution(d.low, d.high, step=d.step)}
        if isinstance(d, RealRange):
            if d.size is not None:
                return {self.name: dist.IntDistribution(0, d.size - 1)}
            return {self.name: dist.FloatDistribution(d.low, d.high, log=d.log)}
        raise TypeError(f"no Optuna mapping for {type(d).__name__}")

    def suggest(self, trial, optuna) -> Any:
        raw = {}
        for name, d in self.distributions(optuna).items():
            if isinstance(d, optuna.distributions.CategoricalDistribution):
                raw[name] = trial.suggest_categorical(name, d.choices)
            elif isinstance(d, optuna.distributions.IntDistribution):
                raw[name] = trial.suggest_int(name, d.low, d.high, step=d.step)
            else:
                raw[name] = trial.suggest_float(name, d.low, d.high, log=d.log)
        return self.decode(raw)

    def decode(self, raw: dict[str, Any]) -> Any:
        d = self.parameter.domain
        if self.flags:
            chosen = [i for i in range(len(d.options)) if raw[f"{self.name}[{i}]"]]
            # Repair to the allowed count deterministically: drop the last chosen options, or
            # add the first unchosen ones.
            chosen = chosen[: d.most]
            for i in range(len(d.options)):
                if len(chosen) >= d.least:
                    break
                if i not in chosen:
                    chosen.append(i)
            return tuple(d.options[i] for i in sorted(chosen))
        value = raw[self.name]
        if isinstance(d, (Categorical, Subset)) or (
            isinstance(d, RealRange) and d.size is not None
        ):
            return d.values()[value]
        if isinstance(d, RealRange):
            return float(value)
        return int(value)

    def encode(self, value: Any) -> dict[str, Any]:
        d = self.parameter.domain
        if self.flags:
            return {
                f"{self.name}[{i}]": int(option in value)
                for i, option in enumerate(d.options)
            }
        if isinstance(d, (Categorical, Subset)) or (
            isinstance(d, RealRange) and d.size is not None
        ):
            return {self.name: d.index(value)}
        return {self.name: value}


class OptunaSearch(Searcher):
    """Base of the searchers that run an Optuna sampler over the parameter table."""

    name: ClassVar[str]

    def __init__(
        self,
        space: SpaceIR,
        *,
        seed: int = 0,
        direction: str = "max",
        directions: Sequence[str] | None = None,
    ):
        super().__init__(space, seed=seed, direction=direction, directions=directions)
        optuna = self._optuna = _optuna()
        self._codecs = [_Codec(p) for p in space.parameters]
        with warnings.catch_warnings():
            # GPSampler and some options are marked experimental; the warning says nothing
            # a user of nascompile can act on.
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler = self._sampler(optuna)
        self._study = optuna.create_study(
            sampler=sampler,
            directions=[
                "maximize" if d is Direction.MAX else "minimize"
                for d in self.directions
            ],
        )
        self._pending: dict[str, list[Any]] = {}  # assignment key -> open Optuna trials
        self._worst: list[float | None] = [None] * len(self.directions)

    def _sampler(self, optuna):
        raise NotImplementedError

    def ask(self) -> Assignment:
        trial = self._study.ask()
        values: Assignment = {}
        for codec in self._codecs:
            if self.space.is_active(codec.parameter, values):
                values[codec.name] = codec.suggest(trial, self._optuna)
        self._pending.setdefault(assignment_key(values), []).append(trial)
        return values

    def tell(
        self, assignment: Assignment, objective: float | Sequence[float] | None
    ) -> None:
        values = self._values(objective)
        if values is not None:
            self._worst = [
                v if w is None or self._better(w, v, i) else w
                for i, (v, w) in enumerate(zip(values, self._worst))
            ]
        self._finish(assignment, values, violation=0.0)

    def tell_infeasible(self, assignment: Assignment, violation: float = 1.0) -> None:
        """``assignment`` breaks a hard budget (it was never trained): Optuna's constrained
        samplers learn to avoid it, the more the larger ``violation`` (> 0, e.g. how far
        over the budget it is, relative to the budget)."""
        if not violation > 0:
            raise ValueError(f"violation must be positive, got {violation!r}")
        # The samplers rank infeasible trials by their violation alone; the objective values
        # they also need are the worst seen so far, so that no model takes them for good.
        values = [0.0 if w is None else w for w in self._worst]
        self._finish(assignment, values, violation=float(violation))

    def _better(self, a: float, b: float, i: int) -> bool:
        return self.directions[i].better(a, b)

    def _values(self, objective: float | Sequence[float] | None) -> list[float] | None:
        if objective is None:
            return None
        values = (
            list(objective) if isinstance(objective, (tuple, list)) else [objective]
        )
        if len(values) != len(self.directions):
            raise ValueError(
                f"{self.name} optimises {len(self.directions)} objective(s) but was told "
                f"{len(values)} value(s): {objective!r}"
            )
        if any(v is None or math.isnan(v) for v in values):
            return None  # a diverged or failed objective: the trial failed
        return [float(v) for v in values]

    def _finish(
        self, assignment: Assignment, values: list[float] | None, violation: float
    ) -> None:
        optuna = self._optuna
        assignment = self.space.validate(assignment)  # JSON gives lists for tuples
        open_trials = self._pending.get(assignment_key(assignment))
        if open_trials:
            trial = open_trials.pop(0)
            if values is None:
                self._study.tell(trial, state=optuna.trial.TrialState.FAIL)
                return
            if violation:
                trial.set_constraint(BUDGET_CONSTRAINT, violation)
            self._study.tell(trial, values)
            return
        if values is None:
            return  # a failure without an open ask teaches nothing
        params: dict[str, Any] = {}
        distributions: dict[str, Any] = {}
        for codec in self._codecs:
            if codec.name in assignment:
                params.update(codec.encode(assignment[codec.name]))
                distributions.update(codec.distributions(optuna))
        self._study.add_trial(
            optuna.trial.create_trial(
                params=params,
                distributions=distributions,
                values=values,
                constraints={BUDGET_CONSTRAINT: violation} if violation else None,
            )
        )


class TPESearch(OptunaSearch):
    """Tree-structured Parzen estimator (Optuna's TPESampler): models good and bad results
    separately and proposes what the good model favours. Random for the first
    ``startup_trials`` results."""

    name = "tpe"

    def __init__(
        self,
        space: SpaceIR,
        *,
        seed: int = 0,
        direction: str = "max",
        directions: Sequence[str] | None = None,
        startup_trials: int = 5,
    ):
        self.startup_trials = int_option("startup_trials", startup_trials, 1)
        super().__init__(space, seed=seed, direction=direction, directions=directions)

    def _sampler(self, optuna):
        return optuna.samplers.TPESampler(
            seed=self.seed, n_startup_trials=self.startup_trials
        )


class GPSearch(OptunaSearch):
    """Gaussian-process Bayesian optimisation (Optuna's GPSampler, which runs on PyTorch).
    Random for the first ``startup_trials`` results; parameters that are active only in part
    of the space are drawn at random."""

    name = "gp"

    def __init__(
        self,
        space: SpaceIR,
        *,
        seed: int = 0,
        direction: str = "max",
        directions: Sequence[str] | None = None,
        startup_trials: int = 10,
    ):
        self.startup_trials = int_option("startup_trials", startup_trials, 1)
        if importlib.util.find_spec("torch") is None:
            raise UsageError(
                'the gp searcher needs PyTorch, which is not installed: pip install "nascompiler[gp]"'
            )
        super().__init__(space, seed=seed, direction=direction, directions=directions)

    def _sampler(self, optuna):
        return optuna.samplers.GPSampler(
            seed=self.seed,
            n_startup_trials=self.startup_trials,
            warn_independent_sampling=False,
        )


class NSGA2Search(OptunaSearch):
    """NSGA-II (Optuna's NSGAIISampler): a genetic algorithm over generations of
    ``population_size``, ranked by Pareto dominance; for one or several objectives."""

    name = "nsga2"
    multi_objective = True

    def __init__(
        self,
        space: SpaceIR,
        *,
        seed: int = 0,
        direction: str = "max",
        directions: Sequence[str] | None = None,
        population_size: int = 20,
    ):
        self.population_size = int_option("population_size", population_size, 2)
        super().__init__(space, seed=seed, direction=direction, directions=directions)

    def _sampler(self, optuna):
        return optuna.samplers.NSGAIISampler(
            seed=self.seed, population_size=self.population_size
        )
