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

Multi-fidelity (BOHB, Falkner et al. 2018): when the study trains trials in rungs (ASHA,
Hyperband) ``tpe`` and ``gp`` keep one Optuna study per rung, each fed that rung's results
(``tell_rung``), and ask the one of the highest rung that holds at least ``min_rung_results``
results (default: the number of parameters + 1 and at least ``startup_trials``), before that
the rung with the most results; ``random_fraction`` of the proposals (default 1/3) are drawn
from the space's prior instead. All of it is a function of the seed and the tells, so replay
still resumes exactly.

Multi-objective: ``directions=("max", "min")`` (``nsga2`` only) and ``tell`` with a tuple of
values in the same order.
"""

from __future__ import annotations

import importlib.util
import math
import random
import warnings
from typing import Any, ClassVar, Sequence

from ...errors import UsageError
from ...ir import Assignment, SpaceIR
from ...ir.domains import Categorical, IntRange, RealRange, Subset
from ...ir.space_ir import Parameter
from ...kinds import Direction
from .base import Searcher, assignment_key, int_option, model_rung

MAX_SUBSETS = 1024  # above this a MultipleChoice is asked as one flag per option
BUDGET_CONSTRAINT = "budget"
DEFAULT_RANDOM_FRACTION = (
    1 / 3
)  # BOHB's share of random proposals (Falkner et al. 2018)


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
        self._optuna = _optuna()
        self._codecs = [_Codec(p) for p in space.parameters]
        self._study = self._make_study(0)
        # Under a multi-fidelity scheduler a searcher with ``rung_model`` keeps one Optuna
        # study per rung (rung 0's is ``_study``) and asks the one BOHB chooses.
        self._studies: dict[int, Any] = {0: self._study}
        self._counts: dict[int, int] = {}  # rung -> results told at it
        self._infeasible: list[tuple[Assignment, float]] = []
        self._rng = random.Random(seed)  # BOHB's random proposals
        # assignment key -> open Optuna trials, each with the rung of the study that asked it
        self._pending: dict[str, list[tuple[int, Any]]] = {}
        self._worst: list[float | None] = [None] * len(self.directions)

    def _make_study(self, rung: int) -> Any:
        """A fresh in-memory Optuna study for the results of ``rung``; its sampler's seed is
        the searcher's, offset for rungs above 0 so that rungs do not repeat each other's draws.
        """
        optuna = self._optuna
        seed = self.seed
        self.seed = (seed + 1_000_003 * rung) % (2**31 - 1) if rung else seed
        try:
            with warnings.catch_warnings():
                # GPSampler and some options are marked experimental; the warning says nothing
                # a user of nascompile can act on.
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                sampler = self._sampler(optuna)
        finally:
            self.seed = seed
        return optuna.create_study(
            sampler=sampler,
            directions=[
                "maximize" if d is Direction.MAX else "minimize"
                for d in self.directions
            ],
        )

    # ------------------------------------------------------------------ BOHB
    # Whether the searcher models each rung's results on their own (BOHB) when the study runs
    # a multi-fidelity scheduler; those that do take the options random_fraction and
    # min_rung_results.
    rung_model: ClassVar[bool] = False
    random_fraction: float | None = None
    min_rung_results: int | None = None

    @property
    def rung_mode(self) -> bool:
        """Whether results are modelled per rung (BOHB): a ``rung_model`` searcher in a study
        of several rungs."""
        return self.rung_model and self.rungs > 1

    @property
    def random_share(self) -> float:
        """The fraction of proposals drawn at random from the space's prior: the
        ``random_fraction`` option, by default 1/3 per rung mode (as BOHB), else none.
        """
        if self.random_fraction is not None:
            return self.random_fraction
        return DEFAULT_RANDOM_FRACTION if self.rung_mode else 0.0

    @property
    def least_rung_results(self) -> int:
        """How many results a rung needs before the model learns from it: the
        ``min_rung_results`` option, by default one more than the space has parameters
        (Falkner et al.'s N_min = d + 1) and at least the sampler's ``startup_trials``.
        """
        if self.min_rung_results is not None:
            return self.min_rung_results
        return max(getattr(self, "startup_trials", 1), len(self.space.parameters) + 1)

    def model_rung(self) -> int:
        """The rung whose study the next model-based proposal comes from."""
        rung = model_rung(self._counts, self.least_rung_results)
        return 0 if rung is None or not self.rung_mode else rung

    def _rung_options(
        self, random_fraction: float | None, min_rung_results: int | None
    ) -> None:
        """Check and keep the BOHB options (they come from the user)."""
        if random_fraction is not None:
            if (
                not isinstance(random_fraction, (int, float))
                or isinstance(random_fraction, bool)
                or not 0 <= random_fraction <= 1
            ):
                raise UsageError(
                    f"option random_fraction must be a number from 0 to 1, got {random_fraction!r}"
                )
            random_fraction = float(random_fraction)
        if min_rung_results is not None:
            min_rung_results = int_option("min_rung_results", min_rung_results, 1)
        self.random_fraction = random_fraction
        self.min_rung_results = min_rung_results

    def _rung_study(self, rung: int) -> Any:
        if rung not in self._studies:
            study = self._studies[rung] = self._make_study(rung)
            for assignment, violation in self._infeasible:
                self._add(study, assignment, self._infeasible_values(), violation)
        return self._studies[rung]

    def tell_rung(
        self, assignment: Assignment, objective: float | None, rung: int, first: bool
    ) -> None:
        """In rung mode the result joins rung ``rung``'s study (the open ask, if it came from
        that study, else as a finished trial); otherwise as :meth:`Searcher.tell_rung`.
        """
        if not self.rung_mode:
            super().tell_rung(assignment, objective, rung, first)
            return
        values = self._values(objective)
        self._note_worst(values)
        assignment = self.space.validate(assignment)
        if values is not None:
            self._counts[rung] = self._counts.get(rung, 0) + 1
        if first:
            opened = self._pop_open(assignment)
            if opened is not None:
                asked_rung, trial = opened
                if asked_rung == rung and values is not None:
                    self._studies[asked_rung].tell(trial, values)
                    return
                self._close(opened)
        if values is not None:
            self._add(self._rung_study(rung), assignment, values, 0.0)

    def _pop_open(self, assignment: Assignment) -> tuple[int, Any] | None:
        open_trials = self._pending.get(assignment_key(assignment))
        return open_trials.pop(0) if open_trials else None

    def _close(self, opened: tuple[int, Any]) -> None:
        """End an open ask that will get no result in its study (samplers ignore failures)."""
        asked_rung, trial = opened
        self._studies[asked_rung].tell(trial, state=self._optuna.trial.TrialState.FAIL)

    def _sampler(self, optuna):
        raise NotImplementedError

    def ask(self) -> Assignment:
        share = self.random_share
        if share > 0 and self._rng.random() < share:
            return self.space.sample(self._rng)  # its results join the studies as told
        rung = self.model_rung()
        trial = self._rung_study(rung).ask()
        values: Assignment = {}
        for codec in self._codecs:
            if self.space.is_active(codec.parameter, values):
                values[codec.name] = codec.suggest(trial, self._optuna)
        self._pending.setdefault(assignment_key(values), []).append((rung, trial))
        return values

    def tell(
        self, assignment: Assignment, objective: float | Sequence[float] | None
    ) -> None:
        values = self._values(objective)
        self._note_worst(values)
        if self.rung_mode:
            # A result without a rung (a duplicate of a trial told already) teaches nothing new.
            opened = self._pop_open(self.space.validate(assignment))
            if opened is not None:
                self._close(opened)
            return
        self._finish(assignment, values, violation=0.0)

    def _note_worst(self, values: list[float] | None) -> None:
        if values is not None:
            self._worst = [
                v if w is None or self._better(w, v, i) else w
                for i, (v, w) in enumerate(zip(values, self._worst))
            ]

    def _infeasible_values(self) -> list[float]:
        return [0.0 if w is None else w for w in self._worst]

    def tell_infeasible(self, assignment: Assignment, violation: float = 1.0) -> None:
        """``assignment`` breaks a hard budget (it was never trained): Optuna's constrained
        samplers learn to avoid it, the more the larger ``violation`` (> 0, e.g. how far
        over the budget it is, relative to the budget)."""
        if not violation > 0:
            raise ValueError(f"violation must be positive, got {violation!r}")
        # The samplers rank infeasible trials by their violation alone; the objective values
        # they also need are the worst seen so far, so that no model takes them for good.
        if self.rung_mode:  # every rung's model learns to avoid it
            assignment = self.space.validate(assignment)
            opened = self._pop_open(assignment)
            if opened is not None:
                self._close(opened)
            self._infeasible.append((assignment, float(violation)))
            for study in self._studies.values():
                self._add(
                    study, assignment, self._infeasible_values(), float(violation)
                )
            return
        self._finish(assignment, self._infeasible_values(), violation=float(violation))

    def tell_screened(self, assignment: Assignment) -> None:
        """Screened out by ``--prescreen``: the open ask ends as a PRUNED Optuna trial (stopped
        before its result, judged unpromising), not a FAIL. TPE ranks pruned trials below
        complete ones, so the proxy's judgement joins its model of bad regions (and, as in
        Optuna, pruned trials count towards ``startup_trials``); GP and NSGA-II use complete
        trials only."""
        opened = self._pop_open(self.space.validate(assignment))
        if opened is not None:
            asked_rung, trial = opened
            self._studies[asked_rung].tell(
                trial, state=self._optuna.trial.TrialState.PRUNED
            )

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
        opened = self._pop_open(assignment)
        if opened is not None:
            study, trial = self._studies[opened[0]], opened[1]
            if values is None:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                return
            if violation:
                trial.set_constraint(BUDGET_CONSTRAINT, violation)
            study.tell(trial, values)
            return
        if values is None:
            return  # a failure without an open ask teaches nothing
        self._add(self._study, assignment, values, violation)

    def _add(
        self, study: Any, assignment: Assignment, values: list[float], violation: float
    ) -> None:
        """``assignment``'s result as a finished trial of ``study`` (no open ask of it there)."""
        optuna = self._optuna
        params: dict[str, Any] = {}
        distributions: dict[str, Any] = {}
        for codec in self._codecs:
            if codec.name in assignment:
                params.update(codec.encode(assignment[codec.name]))
                distributions.update(codec.distributions(optuna))
        study.add_trial(
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
    rung_model = True

    def __init__(
        self,
        space: SpaceIR,
        *,
        seed: int = 0,
        direction: str = "max",
        directions: Sequence[str] | None = None,
        startup_trials: int = 5,
        random_fraction: float | None = None,
        min_rung_results: int | None = None,
    ):
        self.startup_trials = int_option("startup_trials", startup_trials, 1)
        self._rung_options(random_fraction, min_rung_results)
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
    rung_model = True

    def __init__(
        self,
        space: SpaceIR,
        *,
        seed: int = 0,
        direction: str = "max",
        directions: Sequence[str] | None = None,
        startup_trials: int = 10,
        random_fraction: float | None = None,
        min_rung_results: int | None = None,
    ):
        self.startup_trials = int_option("startup_trials", startup_trials, 1)
        self._rung_options(random_fraction, min_rung_results)
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
