"""How long the compiler's whole-space work takes on spaces built to make it grow: the cases of
issue 12 (item 5). For each it times building the DSL objects, compile_space and count(), the
work of ``nascompile inspect`` before printing.

- ``Repeat(1..40)`` and ``Repeat(1..200)`` of ``Optional(Dense(Choice([4, 8])))``;
- a ``ModuleChoice`` of 1,000 ``Dense(Choice)`` options (1,001 parameters);
- a ``Choice`` of 10,000 options and a ``Real(0, 0.5, step=1e-9)``.

    python benchmarks/bounded_work.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

from nascompiler.ir import compile_space
from nascompiler.layers import Dense, Dropout, Input
from nascompiler.ops import ModuleChoice, Optional, Repeat
from nascompiler.space import Choice, HyperSpace, Real


def repeat_of_optional(n: int) -> HyperSpace:
    space = HyperSpace()
    with space.as_default():
        x = Input(shape=(4,))
        x = Repeat(
            lambda step: Optional(Dense(Choice([4, 8]))),
            repeat_times=list(range(1, n + 1)),
        )(x)
        Dense(2)(x)
    return space


def wide_module_choice() -> HyperSpace:
    space = HyperSpace()
    with space.as_default():
        x = Input(shape=(4,))
        x = ModuleChoice([Dense(Choice([i + 1, i + 2])) for i in range(1000)])(x)
        Dense(2)(x)
    return space


def wide_domains() -> HyperSpace:
    space = HyperSpace()
    with space.as_default():
        x = Input(shape=(4,))
        x = Dense(Choice(list(range(1, 10_001))))(x)
        x = Dropout(Real(0, 0.5, step=1e-9))(x)
        Dense(2)(x)
    return space


CASES = {
    "Repeat(1..40) of Optional(Dense(Choice))": lambda: repeat_of_optional(40),
    "Repeat(1..200) of Optional(Dense(Choice))": lambda: repeat_of_optional(200),
    "ModuleChoice of 1,000 Dense(Choice)": wide_module_choice,
    "Choice of 10,000 + Real step 1e-9": wide_domains,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"{'space':45} {'dsl':>8} {'compile':>8} {'count':>8}  assignments")
    for name, build in CASES.items():
        times: dict[str, list[float]] = {"dsl": [], "compile": [], "count": []}
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            space = build()
            t1 = time.perf_counter()
            ir = compile_space(space)
            t2 = time.perf_counter()
            count = ir.count()
            t3 = time.perf_counter()
            times["dsl"].append(t1 - t0)
            times["compile"].append(t2 - t1)
            times["count"].append(t3 - t2)
        digits = len(str(count))
        shown = f"{count:,}" if digits <= 16 else f"about 10^{digits - 1}"
        print(
            f"{name:45} "
            + " ".join(f"{statistics.median(times[k]) * 1000:6.0f}ms" for k in times)
            + f"  {shown}"
        )


if __name__ == "__main__":
    main()
