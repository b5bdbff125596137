"""Trials per hour on the digits example: one worker, two workers, and a local Dask cluster.

What it measures
----------------
``nascompile search examples/digits_quick.py --max-trials N --searcher random`` (8 epochs per
trial, the example's training settings; N = 12 by default), run as a user runs it, once per
setting and one setting after another in a fresh folder. The random searcher's proposals do not
depend on the order results come back, so every setting trains the same candidates with the
same seeds (the example's evolution would propose differently once trials finish out of order):

- ``--workers 1``: one trial process on this machine;
- ``--workers 2``: two trial processes on this machine (LocalExecutor);
- ``--cluster local:2``: a Dask scheduler in the driver and two ``dask worker`` processes on
  127.0.0.1, each running its trials in its own trial process (DaskExecutor).

For each it reports the command's wall time (start-up of the workers and of TensorFlow
included), trials per hour from that wall time, and the median ``fit_seconds`` and
``wall_seconds`` of a trial from the study's store (a trial's ``wall_seconds`` runs from
sending it to receiving its result). With ``--repeat R`` each setting runs R times (the order
of settings rotates) and the medians are reported.

The candidates and their metrics are the same in all settings (the same seed); only where and
how many at once the trials run differs. Read the numbers with the machine in mind: the script
prints its CPU count and load average, and on a small machine shared with other work two
trials at once compete for the same cores.

    python benchmarks/cluster_throughput.py [--max-trials 12] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "digits_quick.py"
NASCOMPILE = str(Path(sys.executable).parent / "nascompile")
SETTINGS = {
    "--workers 1": ["--workers", "1"],
    "--workers 2": ["--workers", "2"],
    "--cluster local:2": ["--cluster", "local:2"],
}


def run(flags: list[str], folder: Path, study: str, max_trials: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    command = [NASCOMPILE, "search", str(EXAMPLE), "--max-trials", str(max_trials)]
    command += ["--searcher", "random"]  # the same candidates in every setting
    command += ["--study", study, *flags]
    started = time.perf_counter()
    result = subprocess.run(
        command, cwd=folder, env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(
            f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"
        )
    with sqlite3.connect(folder / "generated" / study / "study.db") as db:
        rows = db.execute(
            "SELECT status, fit_seconds, wall_seconds, objective FROM trials"
        ).fetchall()
    trained = [r for r in rows if r[0] in ("complete", "failed")]
    return {
        "wall": wall,
        "trials": len(trained),
        "per_hour": len(trained) / wall * 3600,
        "fit": statistics.median(r[1] for r in trained if r[1] is not None),
        "trial_wall": statistics.median(r[2] for r in trained if r[2] is not None),
        "objectives": sorted(r[3] for r in trained if r[3] is not None),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-trials", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    print(
        f"{os.cpu_count()} CPU core(s), load average {os.getloadavg()[0]:.1f} at start; "
        f"digits_quick.py, {args.max_trials} trials, 8 epochs each"
    )
    results: dict[str, list[dict]] = {name: [] for name in SETTINGS}
    names = list(SETTINGS)
    with tempfile.TemporaryDirectory(prefix="cluster-throughput-") as tmp:
        for r in range(args.repeat):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                study = f"{name.strip('-').replace(' ', '-').replace(':', '')}-{r}"
                outcome = run(SETTINGS[name], Path(tmp), study, args.max_trials)
                results[name].append(outcome)
                print(
                    f"  run {r + 1}: {name:<18} {outcome['wall']:6.1f} s, "
                    f"{outcome['per_hour']:6.0f} trials/h",
                    flush=True,
                )
    print()
    print(
        f"{'setting':<18} {'wall s':>8} {'trials/h':>9} {'fit s/trial':>12} {'wall s/trial':>13}"
    )
    for name, runs in results.items():
        median = lambda key: statistics.median(o[key] for o in runs)  # noqa: E731
        print(
            f"{name:<18} {median('wall'):8.1f} {median('per_hour'):9.0f} "
            f"{median('fit'):12.2f} {median('trial_wall'):13.2f}"
        )
    same = {json.dumps(runs[0]["objectives"]) for runs in results.values()}
    print("same objectives in every setting: " + ("yes" if len(same) == 1 else "NO"))
    print(f"load average {os.getloadavg()[0]:.1f} at end")


if __name__ == "__main__":
    main()
