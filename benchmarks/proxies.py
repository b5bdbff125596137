"""How well do zero-cost proxies rank the seed spaces' candidates on Fashion-MNIST?

For each space, ``nascompile proxies`` scores a random sample with synflow, naswot, grad_norm
and jacob_cov on the untrained models, trains every candidate, and reports each proxy's
Spearman and Kendall correlation with the trained validation accuracy, its precision at the
top 5, and the time it took, beside the static parameter and FLOP counts. The spaces are the
seed's DNN, CNN and ENAS micro (``arch="NR"``) spaces, on the first ``--train-samples``
Fashion-MNIST training images, validated on the first ``--val-samples`` test images.

    python benchmarks/proxies.py                       # all three spaces, 30 candidates each
    python benchmarks/proxies.py --spaces dnn --sample 40 --seeds 0 1 2

With ``--prescreen PROXY:K`` it measures a prescreened search instead: per space and seed, the
same random search (``--max-trials`` trained trials, ``--epochs`` each) runs without and with
``nascompile search --prescreen PROXY:K``, and it prints the time the unscreened search took to
reach its best validation accuracy and the time the prescreened one took to reach that accuracy
(or "never"), in search wall time (from the first trial's start):

    python benchmarks/proxies.py --spaces cnn --prescreen naswot:3 --max-trials 12 --epochs 1

Needs Debian's dataset-fashion-mnist package. Prints one table per space, the medians over
``--seeds`` when several are given, and keeps every study under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path

SPACES = {
    "dnn": """
from nascompiler.spaces import dnn_search_space


def search_space():
    return dnn_search_space(input_shape=(784,), output_units=10, output_activation="softmax",
                            units_choices=[64, 128, 256], reduce_facotr_choices=[1, 0.8, 0.5],
                            layer_num_choices=[1, 2, 3, 4], activation_choices=["relu", "tanh"])


def load_data():
    (x, y), (xv, yv) = load_fashion_mnist({train}, {val}, channel_axis=False)
    return (x.reshape(-1, 784), y), (xv.reshape(-1, 784), yv)
""",
    "cnn": """
from nascompiler.spaces import cnn_search_space


def search_space():
    return cnn_search_space(input_shape=(28, 28, 1), output_units=10, output_activation="softmax",
                            block_num_choices=[2, 3, 4], filters_choices=[8, 16],
                            kernel_size_choices=[(1, 1), (3, 3)])


def load_data():
    return load_fashion_mnist({train}, {val})
""",
    "enas": """
from nascompiler.spaces import enas_micro_search_space


def search_space():
    return enas_micro_search_space(arch="NR", input_shape=(28, 28, 1), init_filters=8,
                                   node_num=3, classes=10)


def load_data():
    return load_fashion_mnist({train}, {val})
""",
}
HEADER = '''"""Written by benchmarks/proxies.py."""
from nascompiler.datasets import load_fashion_mnist
'''
TRAINING = """
TRAINING = {{"optimizer": "adam", "loss": "sparse_categorical_crossentropy",
            "metrics": ["accuracy"], "batch_size": 128, "epochs": {epochs}}}
"""


def run_space(name: str, args: argparse.Namespace, seed: int) -> list[dict]:
    folder = args.out / f"{name}-seed{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    space_file = folder / f"{name}_space.py"
    space_file.write_text(
        HEADER
        + SPACES[name].format(train=args.train_samples, val=args.val_samples)
        + TRAINING.format(epochs=args.epochs)
    )
    started = time.perf_counter()
    command = [
        str(Path(sys.executable).parent / "nascompile"),
        "proxies",
        space_file.name,
        "--sample",
        str(args.sample),
        "--epochs",
        str(args.epochs),
        "--seed",
        str(seed),
        "--top-k",
        str(args.top_k),
        "--json",
    ]
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{name}: nascompile proxies failed:\n{done.stderr}")
    rows = json.loads(done.stdout)
    print(f"  {name} seed {seed}: {time.perf_counter() - started:.0f} s", flush=True)
    return rows


def write_space(name: str, args: argparse.Namespace, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    space_file = folder / f"{name}_space.py"
    space_file.write_text(
        HEADER
        + SPACES[name].format(train=args.train_samples, val=args.val_samples)
        + TRAINING.format(epochs=args.epochs)
    )
    return space_file


def search_curve(folder: Path, space_file: Path, seed: int, args, prescreen) -> dict:
    """Run one random search and return its trials' (seconds since the first trial started,
    objective) in finishing order, its best objective and its screened count."""
    import sqlite3

    study = f"{space_file.stem}_{'prescreen' if prescreen else 'plain'}"
    command = [
        str(Path(sys.executable).parent / "nascompile"), "search", space_file.name,
        "--searcher", "random", "--max-trials", str(args.max_trials), "--seed", str(seed),
        "--study", study, "--fresh", "--no-report",
    ] + (["--prescreen", prescreen] if prescreen else [])  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{space_file.stem}: nascompile search failed:\n{done.stderr}")
    wall = time.perf_counter() - started
    with sqlite3.connect(folder / "generated" / study / "study.db") as db:
        rows = db.execute(
            "SELECT started_at, finished_at, objective, status FROM trials ORDER BY number"
        ).fetchall()
    origin = min(r[0] for r in rows)
    points = sorted(
        (r[1] - origin, r[2])
        for r in rows
        if r[3] == "complete" and r[2] is not None and not math.isnan(r[2])
    )
    return {
        "points": points,
        "best": max((v for _, v in points), default=math.nan),
        "screened": sum(1 for r in rows if r[3] == "screened"),
        "wall": wall,
    }


def time_to(points: list[tuple[float, float]], target: float) -> float | None:
    """When a search's best-so-far first reached ``target`` (``None``: never)."""
    for seconds, value in points:
        if value >= target:
            return seconds
    return None


def compare_prescreen(name: str, args: argparse.Namespace) -> None:
    print(f"\n{name}: random search, {args.max_trials} trained trials, without and with "
          f"--prescreen {args.prescreen}")  # fmt: skip
    print(
        "| seed | plain best | plain time to best | prescreened best | prescreened time to "
        "plain's best | ratio | screened |\n|---|---|---|---|---|---|---|"
    )
    ratios = []
    for seed in args.seeds:
        folder = args.out / f"{name}-prescreen-seed{seed}"
        space_file = write_space(name, args, folder)
        plain = search_curve(folder, space_file, seed, args, None)
        screened = search_curve(folder, space_file, seed, args, args.prescreen)
        target = time_to(plain["points"], plain["best"])
        reached = time_to(screened["points"], plain["best"])
        ratio = reached / target if reached is not None and target else None
        if ratio is not None:
            ratios.append(ratio)
        print(
            f"| {seed} | {plain['best']:.4f} | {target:.0f} s | {screened['best']:.4f} | "
            + (f"{reached:.0f} s" if reached is not None else "never")
            + f" | {f'{ratio:.2f}' if ratio is not None else '-'} | {screened['screened']} |",
            flush=True,
        )
    reached_share = f"{len(ratios)}/{len(args.seeds)} seed(s) reached the plain best"
    if ratios:
        print(
            f"median ratio {statistics.median(ratios):.2f} ({reached_share}); target: <= 0.5"
        )
    else:
        print(
            f"the prescreened search never reached the plain search's best ({reached_share})"
        )


def median(values: list[float]) -> float:
    finite = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.median(finite) if finite else math.nan


def print_table(name: str, runs: list[list[dict]], k: int) -> None:
    proxies = [row["proxy"] for row in runs[0]]
    print(f"\n{name} ({len(runs)} seed(s); medians over seeds)")
    print(
        f"| proxy | Spearman | Kendall | top-{k} precision | time per candidate |"
        "\n|---|---|---|---|---|"
    )
    summary = {}
    for proxy in proxies:
        rows = [next(r for r in run if r["proxy"] == proxy) for run in runs]
        spearman = median([r["spearman"] for r in rows])
        kendall = median([r["kendall"] for r in rows])
        precision = median([r[f"precision_at_{k}"] for r in rows])
        seconds = [r["median_seconds"] for r in rows if r["median_seconds"] is not None]
        took = f"{statistics.median(seconds) * 1000:.0f} ms" if seconds else "static"
        per_seed = ", ".join(f"{r['spearman']:.2f}" for r in rows)
        print(
            f"| {proxy} | {spearman:.3f} ({per_seed}) | {kendall:.3f} | {precision:.2f} | {took} |"
        )
        summary[proxy] = spearman
    best = max(
        summary, key=lambda p: -math.inf if math.isnan(summary[p]) else summary[p]
    )
    verdict = (
        "beats"
        if best == "params" or summary[best] > summary["params"]
        else "does not beat"
    )
    print(
        f"best: {best} (Spearman {summary[best]:.3f}); "
        + (
            "params itself ranks best"
            if best == "params"
            else f"it {verdict} params ({summary['params']:.3f})"
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--spaces", nargs="+", default=list(SPACES), choices=list(SPACES)
    )
    parser.add_argument("--sample", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train-samples", type=int, default=10000)
    parser.add_argument("--val-samples", type=int, default=2000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument(
        "--out", type=Path, default=Path("generated/benchmarks/proxies")
    )
    parser.add_argument(
        "--prescreen",
        metavar="PROXY:K",
        help="measure time-to-accuracy of a search with --prescreen PROXY:K against without",
    )
    parser.add_argument("--max-trials", type=int, default=12)
    args = parser.parse_args()
    args.out = args.out.resolve()
    if args.prescreen:
        for name in args.spaces:
            compare_prescreen(name, args)
        return
    print(
        f"{args.sample} candidates per space, {args.epochs} epoch(s) on {args.train_samples} "
        f"Fashion-MNIST images, validated on {args.val_samples}; seeds {args.seeds}"
    )
    for name in args.spaces:
        runs = [run_space(name, args, seed) for seed in args.seeds]
        print_table(name, runs, args.top_k)


if __name__ == "__main__":
    main()
