"""How fast the compiler turns an assignment into a formatted module.

For each of the seed's three spaces (default arguments; ENAS with arch='NRNR') it compiles the
space once, draws N random assignments, and times specialize + emit (emit includes black
formatting) for each. It prints the first (cold) candidate's time, the median, and the
candidates per second at the median, against the targets:

- DNN: at least 100 candidates per second;
- ENAS NRNR: at most 150 ms per candidate.

    python benchmarks/compile_speed.py [--candidates 100] [--seed 0] [--check]

``--check`` exits with status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time

from nascompiler.codegen import emit
from nascompiler.ir import compile_space, specialize
from nascompiler.spaces import (
    cnn_search_space,
    dnn_search_space,
    enas_micro_search_space,
)

SPACES = {
    "DNN": lambda: dnn_search_space(
        input_shape=(10,), output_units=2, output_activation="softmax"
    ),
    "CNN": lambda: cnn_search_space(input_shape=(28, 28, 1), output_units=10),
    "ENAS NRNR": lambda: enas_micro_search_space(arch="NRNR"),
}

# name -> (description, check on (median seconds, candidates per second))
TARGETS = {
    "DNN": (">= 100 cand/s", lambda median, rate: rate >= 100),
    "ENAS NRNR": ("<= 150 ms/cand", lambda median, rate: median <= 0.150),
}


def measure(name: str, candidates: int, seed: int) -> dict:
    start = time.perf_counter()
    ir = compile_space(SPACES[name]())
    compile_s = time.perf_counter() - start
    rng = random.Random(seed)
    assignments = [ir.sample(rng) for _ in range(candidates)]
    times, lines = [], []
    for assignment in assignments:
        start = time.perf_counter()
        source = emit(specialize(ir, assignment))
        times.append(time.perf_counter() - start)
        lines.append(source.count("\n"))
    median = statistics.median(times)
    return {
        "space": name,
        "compile_ms": compile_s * 1000,
        "cold_ms": times[0] * 1000,
        "median_ms": median * 1000,
        "p90_ms": sorted(times)[int(0.9 * (len(times) - 1))] * 1000,
        "rate": 1 / median,
        "lines": statistics.median(lines),
        "target": TARGETS.get(name, ("", None))[0],
        "met": None if name not in TARGETS else TARGETS[name][1](median, 1 / median),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--candidates", type=int, default=100, help="random candidates per space"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if a target is missed"
    )
    args = parser.parse_args(argv)

    rows = [measure(name, args.candidates, args.seed) for name in SPACES]
    header = (
        f"{'space':<10} {'compile':>9} {'cold':>9} {'median':>9} {'p90':>9} {'cand/s':>8} {'lines':>6}  "
        f"target"
    )
    print(
        f"specialize + emit + format, {args.candidates} random candidates per space (seed {args.seed})"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        verdict = "" if r["met"] is None else ("met" if r["met"] else "MISSED")
        print(
            f"{r['space']:<10} {r['compile_ms']:>7.1f}ms {r['cold_ms']:>7.1f}ms {r['median_ms']:>7.1f}ms "
            f"{r['p90_ms']:>7.1f}ms {r['rate']:>8.1f} {r['lines']:>6.0f}  {r['target']} {verdict}".rstrip()
        )
    missed = [r["space"] for r in rows if r["met"] is False]
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
