"""Search quality and framework overhead of the searchers on Fashion-MNIST.

What it measures
----------------
For each searcher (``evolution``, ``mcts``, ``random``, ``tpe``, ``nsga2`` by default, and ``gp``
when PyTorch is installed) and each study seed (0, 1, 2), one real study (``nascompiler.search.Study`` built from a ``StudyConfig``, a
``LocalExecutor`` with one worker process, the SQLite store) searches the seed's DNN space

    dnn_search_space(input_shape=(784,), output_units=10, output_activation="softmax",
                     units_choices=[64, 128, 256], reduce_facotr_choices=[1, 0.8, 0.5],
                     layer_num_choices=[2, 3, 4], activation_choices=["relu", "tanh"])

for ``--trials`` trained trials of ``--epochs`` epochs (adam, sparse categorical cross-entropy,
batch size 128), training on Fashion-MNIST's training images (or their first
``--train-samples``) and validating on its 10,000 test images. It reports:

- **best val_accuracy**: the best objective of the study (median over seeds, and each seed's);
- **search wall time**: ``Study.run()`` from start to end, worker start-up included;
- **per-trial overhead**, the time a trial spends outside ``model.fit`` (which includes the
  per-epoch validation; the trainer calls no separate ``evaluate``). Two views:
  *trial view*, ``wall_seconds - fit_seconds`` from the store (``wall_seconds`` is measured by
  the driver from sending the trial to receiving its result, ``fit_seconds`` by the worker
  around ``model.fit``), median over a study's trials, in seconds and in % of the trial's wall;
  *search view*, ``(search wall - sum of fit_seconds) / trials``, which also counts worker
  start-up and the driver's own work between trials (ask, specialize, emit with black, store).

The detail table splits the trial view further: the time outside ``fit`` inside the worker's
``run_trial`` (``TrialOutcome.setup_seconds``: import the module, build, compile, save weights,
``clear_session`` with its garbage collection), and what is left (pipes, the driver noticing the
result). It also shows the first trial apart, the trend
from the second trial to the last, and the worker's start and stop. To see those outcomes the
study's executor is a thin recording wrapper around the real ``LocalExecutor``; everything else
is the product's code path.

Fixed budgets: the best val_accuracy after the first k trained trials (``--budgets``, default 10,
20 and 40, those within ``--trials``), as the median over seeds and its spread (min..max); the
issue's target is TPE above random's median best-of-20 and best-of-40 (``--trials 40 --seeds 0 1
2 3 4``).

Pareto quality: the hypervolume of each study's trials in (val_accuracy, smaller model), both
to be maximised: a trial at accuracy ``a`` with ``p`` parameters (from the IR's cost model)
dominates the rectangle from (0, 0) to (a, log10(P / p)), where P is the largest parameter
count of any trained trial of the benchmark; the hypervolume is the area of the union of those
rectangles (higher is better). ``nsga2+params`` is a true Pareto search: NSGA-II told both
objectives (``--objective val_accuracy:max --objective params:min``); the other searchers
optimise val_accuracy alone, so for them the hypervolume measures what their trials cover as
a by-product (random search ignores results, so it is the same either way).

Quality is also shown as the mean val_accuracy of the second half of each study's trials: with
the same seed, evolution's initial population (its first 10 proposals) is exactly random
search's first 10 candidates, trained with the same per-trial seeds, so the two differ only in
what comes after; the best-of-20 alone is a noisy measure of that.

Targets (from the issue): overhead under 5 % of a trial's wall time; evolution at least as good
as random. The script prints the figures; it asserts nothing about timing.

Run
---
    nice -n 10 python benchmarks/search_quality.py                  # full size: 3 x 3 x 20 trials
    python benchmarks/search_quality.py --seeds 0 --trials 3 --train-samples 5000 --searchers random
    python benchmarks/search_quality.py --out /tmp/sq                # keep the studies
    nice -n 10 python benchmarks/search_quality.py --searchers random tpe nsga2+params --trials 40 \
        --seeds 0 1 2 3 4                                            # the issue's fixed budgets

Each run's study lives in ``<out>/<searcher>-seed<seed>``; ``--out`` must not hold earlier
studies of the same names (a study resumes instead of starting over), so by default a fresh
temporary folder is used and removed at the end.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nascompiler.config.settings import SearchConfig, TrainingSettings
from nascompiler.datasets import load_fashion_mnist
from nascompiler.ir import SpaceIR, compile_space, specialize
from nascompiler.ir.cost import candidate_cost
from nascompiler.run.data import Dataset, DataSource, save_arrays
from nascompiler.run.executor import Event, Executor, LocalExecutor, ResultEvent
from nascompiler.run.messages import TrialOutcome, TrialTask
from nascompiler.search.study import Study, StudyConfig
from nascompiler.spaces import dnn_search_space
from nascompiler.storage.store import TrialRecord

PARETO = "+params"  # a searcher name with this suffix searches val_accuracy:max and params:min
SEARCHERS = ("evolution", "mcts", "random", "tpe", "nsga2", "nsga2" + PARETO) + (
    ("gp",) if importlib.util.find_spec("torch") is not None else ()
)
BUDGETS = (10, 20, 40)
BATCH_SIZE = 128
OVERHEAD_TARGET = 0.05  # of a trial's wall time


# ---------------------------------------------------------------------------- setup


def search_space() -> SpaceIR:
    """The seed's DNN space with small choices (cheap enough for a CPU)."""
    return compile_space(
        dnn_search_space(
            input_shape=(784,),
            output_units=10,
            output_activation="softmax",
            units_choices=[64, 128, 256],
            reduce_facotr_choices=[1, 0.8, 0.5],
            layer_num_choices=[2, 3, 4],
            activation_choices=["relu", "tanh"],
        )
    )


def training_settings(epochs: int, pareto: bool = False) -> TrainingSettings:
    return TrainingSettings.resolve(
        {
            "optimizer": "adam",
            "loss": "sparse_categorical_crossentropy",
            "metrics": ["accuracy"],
            "epochs": epochs,
            "batch_size": BATCH_SIZE,
        },
        objective=["val_accuracy:max", "params:min"] if pareto else None,
    )


def prepare_data(folder: Path, train_samples: int | None) -> tuple[DataSource, int]:
    """Fashion-MNIST flattened to 784 features, saved once as ``.npy`` for every study's workers
    (what the HyperKeras API does with the arrays it is given). Returns the source and the
    number of training samples."""
    (x, y), (x_val, y_val) = load_fashion_mnist(
        train_samples=train_samples, channel_axis=False
    )
    dataset = Dataset.from_arrays(
        x.reshape(len(x), 784), y, x_val.reshape(len(x_val), 784), y_val
    )
    return save_arrays(folder, dataset), len(x)


# ---------------------------------------------------------------------------- one search


class RecordingExecutor(Executor):
    """The real ``LocalExecutor``, plus a record of how long its workers took to start and
    of each trial's worker-side outcome (``setup_seconds`` is not kept in the store)."""

    def __init__(self, inner: LocalExecutor):
        self.inner = inner
        self.start_seconds = 0.0
        self.shutdown_seconds = 0.0
        self.outcomes: dict[int, TrialOutcome] = {}

    def start(self) -> dict[str, Any]:
        began = time.perf_counter()
        summary = self.inner.start()
        self.start_seconds = time.perf_counter() - began
        return summary

    def free_slots(self) -> int:
        return self.inner.free_slots()

    def submit(self, task: TrialTask) -> None:
        self.inner.submit(task)

    def poll(self, timeout: float) -> list[Event]:
        events = self.inner.poll(timeout)
        for event in events:
            if isinstance(event, ResultEvent):
                self.outcomes[event.outcome.number] = event.outcome
        return events

    def shutdown(self) -> None:
        began = time.perf_counter()
        self.inner.shutdown()
        self.shutdown_seconds = time.perf_counter() - began


@dataclass
class SearchRun:
    """The measurements of one study."""

    searcher: str
    seed: int
    wall: float  # Study.run(), start to end
    worker_start: float  # LocalExecutor.start(): spawn the worker, load the data
    worker_stop: float  # LocalExecutor.shutdown(): the worker exits
    trials: list[TrialRecord]  # trained trials (complete or failed), in order
    duplicates: int
    setup: dict[int, float] = field(
        default_factory=dict
    )  # trial number -> worker time outside fit

    @property
    def best(self) -> float | None:
        scores = [
            t.objective
            for t in self.trials
            if t.status == "complete" and t.objective is not None
        ]
        return max(scores) if scores else None

    @property
    def fit_total(self) -> float:
        return sum(t.fit_seconds or 0.0 for t in self.trials)

    def overheads(self) -> list[float]:
        """Per trial: wall_seconds - fit_seconds (trial view)."""
        return [t.wall_seconds - (t.fit_seconds or 0.0) for t in self.trials]

    def overhead_fractions(self) -> list[float]:
        return [
            (t.wall_seconds - (t.fit_seconds or 0.0)) / t.wall_seconds
            for t in self.trials
        ]

    def later_mean(self) -> float:
        """Mean objective of the second half of the trials: the ones a learning searcher
        proposes from results (evolution's first 10 are its random initial population).
        """
        scores = [
            t.objective
            for t in self.trials[len(self.trials) // 2 :]
            if t.objective is not None
        ]
        return statistics.mean(scores) if scores else float("nan")

    def best_of(self, k: int) -> float | None:
        """The best objective among the first ``k`` trained trials."""
        scores = [
            t.objective
            for t in self.trials[:k]
            if t.status == "complete" and t.objective is not None
        ]
        return max(scores) if scores else None

    def search_overhead(self) -> float:
        """(search wall - sum of fit) / trials (search view)."""
        return (self.wall - self.fit_total) / len(self.trials)


def run_search(
    searcher: str,
    seed: int,
    args: argparse.Namespace,
    space: SpaceIR,
    data: DataSource,
    root: Path,
) -> SearchRun:
    settings = training_settings(args.epochs, pareto=searcher.endswith(PARETO))
    directory = root / f"{searcher}-seed{seed}"
    config = StudyConfig.of(
        SearchConfig(
            settings=settings,
            max_trials=args.trials,
            searcher=searcher.removesuffix(PARETO),
            seed=seed,
            workers=1,
        ),
        directory=directory,
        space=space,
        data=data,
    )
    executor = RecordingExecutor(
        LocalExecutor(data, settings.to_json(), workers=1, log_dir=directory / "logs")
    )
    began = time.perf_counter()
    study = Study(config, executor=executor)
    study.run()
    wall = time.perf_counter() - began
    records = study.store.trials()
    study.store.close()
    trained = sorted(
        (t for t in records if t.status in ("complete", "failed")),
        key=lambda t: t.number,
    )
    return SearchRun(
        searcher=searcher,
        seed=seed,
        wall=wall,
        worker_start=executor.start_seconds,
        worker_stop=executor.shutdown_seconds,
        trials=trained,
        duplicates=sum(1 for t in records if t.status == "duplicate"),
        setup={n: o.setup_seconds for n, o in executor.outcomes.items()},
    )


# ---------------------------------------------------------------------------- report


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summary_rows(runs: list[SearchRun], searchers: list[str]) -> list[list[str]]:
    """One row per searcher: medians over seeds of each run's figures."""
    rows = []
    for name in searchers:
        mine = [r for r in runs if r.searcher == name]
        bests = [r.best for r in mine]
        trial_wall = median([median([t.wall_seconds for t in r.trials]) for r in mine])
        trial_over = median([median(r.overheads()) for r in mine])
        trial_frac = median([median(r.overhead_fractions()) for r in mine])
        search_over = median([r.search_overhead() for r in mine])
        search_frac = median(
            [r.search_overhead() / (r.wall / len(r.trials)) for r in mine]
        )
        rows.append(
            [
                name,
                f"{median([b for b in bests if b is not None]):.4f}",
                " ".join("-" if b is None else f"{b:.4f}" for b in bests),
                f"{median([r.later_mean() for r in mine]):.4f}",
                f"{median([r.wall for r in mine]):.1f}",
                f"{trial_wall:.2f}",
                f"{trial_over:.2f} ({100 * trial_frac:.1f}%)",
                f"{search_over:.2f} ({100 * search_frac:.1f}%)",
            ]
        )
    return rows


def detail_rows(runs: list[SearchRun]) -> list[list[str]]:
    """One row per study: where the time outside fit goes."""
    rows = []
    for r in runs:
        walls = [t.wall_seconds for t in r.trials]
        fits = [t.fit_seconds or 0.0 for t in r.trials]
        outside = r.overheads()
        setups = [r.setup.get(t.number, float("nan")) for t in r.trials]
        rest = [o - s for o, s in zip(outside, setups)]
        rows.append(
            [
                f"{r.searcher}/{r.seed}",
                f"{len(r.trials)}+{r.duplicates}",
                f"{r.wall:.1f}",
                f"{r.worker_start:.2f}",
                f"{statistics.mean(walls):.2f}",
                f"{statistics.mean(fits):.2f}",
                f"{median(outside):.3f}",
                f"{statistics.mean(outside):.3f}",
                f"{median(setups):.3f}",
                f"{median(rest):.3f}",
                f"{outside[0]:.2f}",  # the worker imports Keras during the first trial
                f"{outside[min(1, len(outside) - 1)]:.2f}->{outside[-1]:.2f}",
                f"{r.worker_stop:.2f}",
                f"{r.wall - sum(walls):.2f}",
            ]
        )
    return rows


def budget_rows(
    runs: list[SearchRun], searchers: list[str], budgets: list[int]
) -> list[list[str]]:
    """One row per searcher: best-of-k, median over seeds and min..max, for each budget k."""
    rows = []
    for name in searchers:
        row = [name]
        for k in budgets:
            values = [
                b for r in runs if r.searcher == name if (b := r.best_of(k)) is not None
            ]
            row.append(
                f"{median(values):.4f} ({min(values):.4f}..{max(values):.4f})"
                if values
                else "-"
            )
        rows.append(row)
    return rows


def trial_params(space: SpaceIR, trial: TrialRecord) -> int:
    return candidate_cost(specialize(space, trial.assignment)).params


def hypervolume(points: list[tuple[float, int]], largest: int) -> float:
    """Area dominated by ``(accuracy, params)`` points in (accuracy, log10(largest / params))
    with reference (0, 0); see the module docstring."""
    rectangles = sorted(
        ((math.log10(largest / p), a) for a, p in points if 0 < p <= largest),
        reverse=True,
    )
    area, best_accuracy = 0.0, 0.0
    for i, (gain, accuracy) in enumerate(rectangles):
        best_accuracy = max(best_accuracy, accuracy)
        next_gain = rectangles[i + 1][0] if i + 1 < len(rectangles) else 0.0
        area += (gain - next_gain) * best_accuracy
    return area


def pareto_rows(
    runs: list[SearchRun], searchers: list[str], space: SpaceIR
) -> list[list[str]]:
    points = {
        id(r): [
            (t.objective, trial_params(space, t))
            for t in r.trials
            if t.status == "complete" and t.objective is not None
        ]
        for r in runs
    }
    largest = max((p for pts in points.values() for _, p in pts), default=1)
    rows = []
    for name in searchers:
        volumes = [
            hypervolume(points[id(r)], largest) for r in runs if r.searcher == name
        ]
        rows.append(
            [
                name,
                f"{median(volumes):.4f}",
                " ".join(f"{v:.4f}" for v in volumes),
            ]
        )
    return rows


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    line = " | ".join(h.ljust(w) for h, w in zip(header, widths))
    print(f"\n{title}\n{line}\n{'-' * len(line)}")
    for row in rows:
        print(" | ".join(c.ljust(w) for c, w in zip(row, widths)))


def report(
    runs: list[SearchRun],
    searchers: list[str],
    budgets: list[int],
    space: SpaceIR,
) -> None:
    print_table(
        "Summary (medians over seeds)",
        [
            "searcher",
            "best val_acc",
            "per seed",
            "mean 2nd half",
            "search wall s",
            "trial wall s",
            "trial overhead s (% wall)",
            "search overhead s/trial (%)",
        ],
        summary_rows(runs, searchers),
    )
    print_table(
        "Per study (trial wall/fit: means; outside fit = wall - fit, median and mean over trials, split into "
        "the worker's run_trial and the rest, medians)",
        [
            "searcher/seed",
            "trained+dup",
            "search wall s",
            "worker start s",
            "trial wall s",
            "fit s",
            "outside fit med s",
            "mean s",
            "in run_trial s",
            "not in run_trial s",
            "1st trial outside s",
            "2nd->last outside s",
            "worker stop s",
            "search - trials s",
        ],
        detail_rows(runs),
    )
    if budgets:
        print_table(
            "Fixed budgets: best val_accuracy of the first k trials, median over seeds (min..max)",
            ["searcher"] + [f"best of {k}" for k in budgets],
            budget_rows(runs, searchers, budgets),
        )
    print_table(
        "Hypervolume of (val_accuracy, log10(largest params / params)), higher is better",
        ["searcher", "median", "per seed"],
        pareto_rows(runs, searchers, space),
    )
    verdicts(runs, searchers, budgets)


def verdicts(runs: list[SearchRun], searchers: list[str], budgets: list[int]) -> None:
    """The two targets, read off the figures above (printed, never asserted)."""
    print()
    fractions = [f for r in runs for f in r.overhead_fractions()]
    search_fractions = [r.search_overhead() / (r.wall / len(r.trials)) for r in runs]
    print(
        f"overhead target (< {100 * OVERHEAD_TARGET:.0f}% of a trial's wall): trial view median "
        f"{100 * median(fractions):.1f}% (max {100 * max(fractions):.1f}%), search view median "
        f"{100 * median(search_fractions):.1f}%"
    )
    best = {
        name: median(
            [r.best for r in runs if r.searcher == name and r.best is not None]
        )
        for name in searchers
    }
    if "evolution" in best and "random" in best:
        pairs = [
            (e.best, r.best)
            for e in runs
            if e.searcher == "evolution"
            for r in runs
            if r.searcher == "random" and r.seed == e.seed
        ]
        wins = sum(1 for e, r in pairs if e is not None and r is not None and e >= r)
        later = {
            name: median([r.later_mean() for r in runs if r.searcher == name])
            for name in ("evolution", "random")
        }
        print(
            f"evolution vs random: median best {best['evolution']:.4f} vs {best['random']:.4f} "
            f"(evolution >= random on {wins} of {len(pairs)} seeds); mean val_accuracy of the second half of "
            f"the trials {later['evolution']:.4f} vs {later['random']:.4f}"
        )
    if "tpe" in searchers and "random" in searchers:
        for k in budgets:
            tpe, rnd = (
                median(
                    [
                        b
                        for r in runs
                        if r.searcher == n
                        if (b := r.best_of(k)) is not None
                    ]
                )
                for n in ("tpe", "random")
            )
            print(
                f"tpe vs random, median best of {k}: {tpe:.4f} vs {rnd:.4f} "
                f"({'tpe ahead' if tpe > rnd else 'tpe not ahead'})"
            )


# ---------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[0, 1, 2],
        help="study seeds (default 0 1 2)",
    )
    parser.add_argument(
        "--trials", type=int, default=20, help="trained trials per search (default 20)"
    )
    parser.add_argument(
        "--epochs", type=int, default=2, help="epochs per trial (default 2)"
    )
    parser.add_argument(
        "--train-samples",
        type=int,
        default=None,
        help="train on the first N of the 60,000 training images (default: all)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="study root, kept afterwards (default: a temporary folder, removed)",
    )
    parser.add_argument(
        "--searchers",
        nargs="+",
        default=list(SEARCHERS),
        help="default: " + " ".join(SEARCHERS),
    )
    parser.add_argument(
        "--budgets",
        type=int,
        nargs="+",
        default=list(BUDGETS),
        help="trial counts k for the best-of-k table (default 10 20 40; those above --trials "
        "are left out)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    root = args.out or Path(tempfile.mkdtemp(prefix="nascompiler-search-quality-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        space = search_space()
        data, n_train = prepare_data(root / "data", args.train_samples)
        print(
            f"Fashion-MNIST: {n_train} training images, 10000 validation images; {args.trials} trials x "
            f"{args.epochs} epochs, batch {BATCH_SIZE}; seeds {args.seeds}; studies in {root}"
        )
        runs = []
        # Seeds outermost: each searcher's runs are spread over the whole benchmark, so slow
        # drift of the machine affects every searcher alike.
        for seed in args.seeds:
            for name in args.searchers:
                run = run_search(name, seed, args, space, data, root)
                best = "-" if run.best is None else f"{run.best:.4f}"
                print(
                    f"  {name:9s} seed {seed}: best {best}, {run.wall:.1f} s, "
                    f"{len(run.trials)} trials (+{run.duplicates} duplicates)",
                    flush=True,
                )
                runs.append(run)
        budgets = [k for k in args.budgets if k <= args.trials]
        report(runs, args.searchers, budgets, space)
    finally:
        if args.out is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
