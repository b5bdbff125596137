"""How well does the weight-sharing supernet rank a space's candidates, and at what cost?

For each seed: compile the space, write its supernet (``nascompile supernet``'s module) and
``--sample`` random candidates' modules; train the supernet for ``--supernet-epochs`` (one
random path per batch), then score every candidate with the shared weights (batch-norm
statistics set from 512 training samples each, dropout off); train every candidate alone for
``--epochs`` epochs. It prints the Spearman and Kendall rank correlations between the one-shot
and the standalone validation accuracies, the precision at the top 5 (how many of the
one-shot top 5 are in the standalone top 5), and the supernet's cost (training plus scoring
100 candidates, extrapolated from the candidates scored) in units of one standalone candidate's
training time, measured side by side in the same process (the first score, which compiles the
scoring functions, counted once; the others at their median).

    python benchmarks/oneshot.py                              # DNN space, seeds 0 1 2
    python benchmarks/oneshot.py --sample 40 --supernet-epochs 10 --seeds 0
    python benchmarks/oneshot.py --space enas --sample 20 --epochs 2 --seeds 0

The ENAS space is examples/fashion_enas.py's (one normal and one reduction cell of 3 nodes).

The DNN space is the seed's (widths 64-256, 1-4 blocks); the data are the first
``--train-samples`` Fashion-MNIST training images and the first ``--val-samples`` test images
(Debian's dataset-fashion-mnist). Needs scipy (scikit-learn brings it).
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path


def load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dnn_space():
    from nascompiler.layers import Rescaling
    from nascompiler.spaces import dnn_search_space

    return dnn_search_space(
        input_shape=(784,),
        output_units=10,
        output_activation="softmax",
        preprocess=lambda x: Rescaling(1 / 255)(x),
        units_choices=[64, 128, 256],
        reduce_facotr_choices=[1, 0.8, 0.5],
        layer_num_choices=[1, 2, 3, 4],
        activation_choices=["relu", "tanh"],
    )


def enas_space():
    """examples/fashion_enas.py's space: one normal and one reduction cell of 3 nodes."""
    from nascompiler.spacefile import load_space_file

    example = Path(__file__).resolve().parent.parent / "examples" / "fashion_enas.py"
    return load_space_file(example).space()


SPACES = {"dnn": dnn_space, "enas": enas_space}


def run_seed(args, seed: int, data, folder: Path) -> dict:
    import keras
    from scipy import stats

    from nascompiler.codegen import emit
    from nascompiler.codegen.supernet import emit_supernet
    from nascompiler.ir import compile_space, specialize

    (x, y), (xv, yv) = data
    ir = compile_space(SPACES[args.space]())
    (folder / "supernet.py").write_text(emit_supernet(ir))
    supernet = load(folder / "supernet.py", f"supernet_{seed}")
    rng = random.Random(seed)
    chosen: dict[str, dict] = {}
    while len(chosen) < args.sample:
        values = ir.sample(rng)
        graph = specialize(ir, values)
        if graph.id not in chosen:
            path = folder / f"candidate_{graph.id}.py"
            path.write_text(emit(graph))
            chosen[graph.id] = values

    keras.utils.set_random_seed(seed)
    model = supernet.build_supernet()
    model.compile(
        optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    start = time.perf_counter()
    supernet.train(
        model,
        x,
        y,
        epochs=args.supernet_epochs,
        batch_size=args.batch_size,
        seed=seed,
        verbose=0,
    )
    supernet_train = time.perf_counter() - start
    oneshot, score_times = {}, []
    for cid, values in chosen.items():
        start = time.perf_counter()
        oneshot[cid] = supernet.evaluate(model, values, xv, yv, calibration=x)[
            "accuracy"
        ]
        score_times.append(time.perf_counter() - start)
    # The first score compiles the scoring functions (once per study); later ones reuse them.
    first_score, score = score_times[0], statistics.median(
        score_times[1:] or score_times
    )

    trained, train_times = {}, []
    for cid in chosen:
        candidate = load(folder / f"candidate_{cid}.py", f"candidate_{cid}")
        keras.utils.set_random_seed(seed)
        start = time.perf_counter()
        net = candidate.build_model()
        net.compile(
            optimizer="adam",
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        history = net.fit(
            x,
            y,
            epochs=args.epochs,
            batch_size=args.batch_size,
            validation_data=(xv, yv),
            verbose=0,
        )
        train_times.append(time.perf_counter() - start)
        trained[cid] = max(history.history["val_accuracy"])
    ids = list(chosen)
    a = [oneshot[c] for c in ids]
    b = [trained[c] for c in ids]
    top_oneshot = set(sorted(ids, key=lambda c: -oneshot[c])[:5])
    top_trained = set(sorted(ids, key=lambda c: -trained[c])[:5])
    one_candidate = statistics.median(train_times)
    cost_100 = supernet_train + first_score + score * 99
    return {
        "spearman": stats.spearmanr(a, b).statistic,
        "kendall": stats.kendalltau(a, b).statistic,
        "precision_at_5": len(top_oneshot & top_trained) / 5,
        "supernet_train_s": supernet_train,
        "first_score_s": first_score,
        "score_s_per_candidate": score,
        "candidate_train_s": one_candidate,
        "cost_in_candidates": cost_100 / one_candidate,
        "best_trained": max(b),
        "trained_of_oneshot_best": trained[max(ids, key=lambda c: oneshot[c])],
        "oneshot_range": (min(a), max(a)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--space", choices=sorted(SPACES), default="dnn")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--sample", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--supernet-epochs", type=int, default=6)
    parser.add_argument("--train-samples", type=int, default=10000)
    parser.add_argument("--val-samples", type=int, default=2000)
    # Batch normalization's moving statistics (momentum 0.99) need a few hundred steps before a
    # standalone candidate's validation score means anything: use smaller batches on small data.
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()

    from nascompiler.datasets import load_fashion_mnist

    (x, y), (xv, yv) = load_fashion_mnist(
        args.train_samples, args.val_samples, channel_axis=False, scale=False
    )
    if args.space == "dnn":
        data = ((x.reshape(-1, 784), y), (xv.reshape(-1, 784), yv))
    else:
        data = ((x.reshape(-1, 28, 28, 1), y), (xv.reshape(-1, 28, 28, 1), yv))
    import keras

    print(
        f"{args.space.upper()} space, Fashion-MNIST {args.train_samples}/{args.val_samples}, {args.sample} "
        f"candidates, supernet {args.supernet_epochs} epochs, standalone {args.epochs} "
        f"epochs, batches of {args.batch_size}, backend {keras.backend.backend()}"
    )
    rows = []
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as tmp:
            row = run_seed(args, seed, data, Path(tmp))
        rows.append(row)
        print(
            f"seed {seed}: Spearman {row['spearman']:.3f}, Kendall {row['kendall']:.3f}, "
            f"precision@5 {row['precision_at_5']:.1f}; supernet {row['supernet_train_s']:.1f} s "
            f"+ {row['first_score_s']:.1f} s for the first score (compiling), then "
            f"{row['score_s_per_candidate']:.2f} s per candidate scored; one standalone "
            f"candidate {row['candidate_train_s']:.1f} s; supernet + 100 scores = "
            f"{row['cost_in_candidates']:.1f} candidates; best trained {row['best_trained']:.4f}, "
            f"one-shot's pick trained {row['trained_of_oneshot_best']:.4f}; one-shot scores "
            f"{row['oneshot_range'][0]:.3f}-{row['oneshot_range'][1]:.3f}",
            flush=True,
        )
    if len(rows) > 1:
        keys = ["spearman", "kendall", "precision_at_5", "cost_in_candidates"]
        print(
            "medians: "
            + ", ".join(
                f"{k} {statistics.median(r[k] for r in rows):.3f}" for k in keys
            )
        )


if __name__ == "__main__":
    sys.exit(main())
