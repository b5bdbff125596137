"""nascompile's multi-fidelity search against KerasTuner's Hyperband, side by side.

What it measures
----------------
On full Fashion-MNIST (60,000 training images flattened to 784 features, validated on the
10,000 test images; ``--train-samples`` for a quicker run) and the seed's DNN space (units
64/128/256, reduce factor 1/0.8/0.5, 2-4 blocks, relu/tanh, optional BatchNormalization,
dropout 0-0.5, the order of activation/BN/dropout), for each seed (0, 1, 2 by default) it runs,
one after the other in one process, one worker each:

1. KerasTuner ``Hyperband(objective="val_accuracy", max_epochs=9, factor=3, seed=seed)`` with
   a builder function of the same space (same layers, same choices);
2. ``nascompile`` with ``--scheduler asha --min-epochs 1 --max-epochs 9`` (eta 3), random
   searcher, through the product's ``Study`` (worker process, SQLite store, emitted modules),
   with a time budget equal to KerasTuner's wall time for that seed;
3. the same with ``--scheduler hyperband``.

Both train with adam, sparse categorical cross-entropy and batch size 128. "Best so far" is
what each tool reports as its best: for KerasTuner its oracle's best trial score (a trial's
score is its best epoch's val_accuracy); for nascompile the best val_accuracy at the end of any
rung job. Times count from the start of the search call (nascompile's include starting its
worker process and loading the data there).

For each seed it prints each tool's best-so-far curve (time, val_accuracy), KerasTuner's final
best and wall time, the time nascompile needs to reach that same value (or "not reached"),
and the ratio; then the medians over seeds. Target (issue #7): nascompile reaches KerasTuner
Hyperband's final best in at most 50% of KerasTuner's wall time, median over the seeds.

Run (by hand, not in CI; about 35 minutes on 2 CPU cores)
---
    pip install -e ".[bench]"            # keras-tuner
    python benchmarks/vs_kerastuner.py
    python benchmarks/vs_kerastuner.py --seeds 0 --train-samples 10000    # a quick look
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import time
from pathlib import Path

from nascompiler.datasets import load_fashion_mnist
from nascompiler.ir import compile_space
from nascompiler.run.data import Dataset, save_arrays
from nascompiler.search.events import StudyListener
from nascompiler.search.resolve import resolve_search
from nascompiler.search.study import Study, StudyConfig
from nascompiler.spaces import dnn_search_space

UNITS = [64, 128, 256]
REDUCE = [1, 0.8, 0.5]
LAYERS = [2, 3, 4]
ACTIVATIONS = ["relu", "tanh"]
BATCH_SIZE = 128
MAX_EPOCHS = 9
ETA = 3


def load(train_samples: int | None):
    (x, y), (xv, yv) = load_fashion_mnist(
        train_samples=train_samples, channel_axis=False
    )
    return (x.reshape(len(x), 784), y), (xv.reshape(len(xv), 784), yv)


# ---------------------------------------------------------------------------- KerasTuner
def kerastuner_run(
    data, seed: int, folder: Path
) -> tuple[list[tuple[float, float]], float]:
    try:
        import keras_tuner
    except ImportError:
        raise SystemExit(
            'keras-tuner is not installed: pip install -e ".[bench]"'
        ) from None
    import keras
    from keras import layers

    orders = list(itertools.permutations(range(3)))

    def build(hp):
        units = hp.Choice("units", UNITS)
        reduce = hp.Choice("reduce_factor", [float(r) for r in REDUCE])
        use_bn = hp.Boolean("batch_norm")
        activation = hp.Choice("activation", ACTIVATIONS)
        dropout = hp.Float("dropout", 0.0, 0.5, step=0.1)
        order = orders[hp.Int("order", 0, len(orders) - 1)]
        inputs = keras.Input(shape=(784,))
        x = inputs
        for step in range(hp.Choice("layers", LAYERS)):
            x = layers.Dense(int(units if step == 0 else units * reduce**step))(x)
            for part in order:
                if part == 0:
                    x = layers.Activation(activation)(x)
                elif part == 1 and use_bn:
                    x = layers.BatchNormalization()(x)
                elif part == 2:
                    x = layers.Dropout(dropout)(x)
        outputs = layers.Dense(10, activation="softmax")(x)
        model = keras.Model(inputs, outputs)
        model.compile(
            optimizer="adam",
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        return model

    curve: list[tuple[float, float]] = []

    class Recording(keras_tuner.Hyperband):
        def on_trial_end(self, trial):
            super().on_trial_end(trial)
            best = self.oracle.get_best_trials(1)
            if best and best[0].score is not None:
                curve.append((time.monotonic() - started, float(best[0].score)))

    tuner = Recording(
        build,
        objective="val_accuracy",
        max_epochs=MAX_EPOCHS,
        factor=ETA,
        seed=seed,
        directory=str(folder),
        project_name=f"kt-seed{seed}",
        overwrite=True,
    )
    (x, y), (xv, yv) = data
    started = time.monotonic()
    tuner.search(
        x,
        y,
        validation_data=(xv, yv),
        batch_size=BATCH_SIZE,
        epochs=MAX_EPOCHS,
        verbose=0,
    )
    wall = time.monotonic() - started
    return curve, wall


# ---------------------------------------------------------------------------- nascompile
class BestSoFar(StudyListener):
    def __init__(self):
        self.started = time.monotonic()
        self.curve: list[tuple[float, float]] = []
        self.best: float | None = None

    def trial_finished(self, study, trial):
        if trial.status == "complete" and trial.objective is not None:
            if self.best is None or trial.objective > self.best:
                self.best = trial.objective
                self.curve.append((time.monotonic() - self.started, self.best))


def nascompile_run(
    source, scheduler: str, seed: int, budget: float, folder: Path
) -> tuple[list[tuple[float, float]], float, int]:
    space = compile_space(
        dnn_search_space(
            input_shape=(784,),
            output_units=10,
            output_activation="softmax",
            units_choices=UNITS,
            reduce_facotr_choices=REDUCE,
            layer_num_choices=LAYERS,
            activation_choices=ACTIVATIONS,
        )
    )
    settings = resolve_search(
        flags={
            "max_trials": 500,
            "searcher": "random",
            "seed": seed,
            "scheduler": scheduler,
            "min_epochs": 1,
            "max_epochs": MAX_EPOCHS,
            "reduction_factor": ETA,
            "time_budget": budget,
        },
        file_training={
            "optimizer": "adam",
            "loss": "sparse_categorical_crossentropy",
            "metrics": ["accuracy"],
            "batch_size": BATCH_SIZE,
        },
    )
    config = StudyConfig.of(
        settings,
        directory=folder / f"{scheduler}-seed{seed}",
        space=space,
        data=source,
    )
    listener = BestSoFar()
    study = Study(config, listeners=[listener])
    study.run()
    wall = time.monotonic() - listener.started
    return listener.curve, wall, study.started


def time_to_reach(curve: list[tuple[float, float]], target: float) -> float | None:
    return next((t for t, best in curve if best >= target), None)


def show_curve(name: str, curve: list[tuple[float, float]]) -> None:
    points = ", ".join(f"{t:.0f}s {v:.4f}" for t, v in curve)
    print(f"  {name:<20} {points}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--train-samples", type=int, default=None)
    parser.add_argument(
        "--schedulers",
        nargs="+",
        default=["asha", "hyperband"],
        choices=["asha", "hyperband"],
    )
    args = parser.parse_args()
    data = load(args.train_samples)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (x, y), (xv, yv) = data
        source = save_arrays(folder / "data", Dataset.from_arrays(x, y, xv, yv))
        for seed in args.seeds:
            print(f"seed {seed}", flush=True)
            kt_curve, kt_wall = kerastuner_run(data, seed, folder / "kt")
            kt_best = kt_curve[-1][1]
            show_curve("kerastuner", kt_curve)
            row = {"seed": seed, "kt_best": kt_best, "kt_wall": kt_wall}
            for scheduler in args.schedulers:
                curve, wall, trials = nascompile_run(
                    source, scheduler, seed, kt_wall, folder / "nas"
                )
                show_curve(f"nascompile {scheduler}", curve)
                reach = time_to_reach(curve, kt_best)
                row[scheduler] = (reach, curve[-1][1] if curve else None, trials)
                print(
                    f"  {scheduler}: {trials} trials, best {row[scheduler][1]:.4f}; reaches "
                    f"{kt_best:.4f} at {'not reached' if reach is None else f'{reach:.0f}s'}",
                    flush=True,
                )
            rows.append(row)

    print()
    print(
        "| seed | KerasTuner best | KerasTuner wall | "
        + " | ".join(
            f"nascompile {s}: time to that best (ratio), final best"
            for s in args.schedulers
        )
        + " |"
    )
    print("|---|---|---|" + "---|" * len(args.schedulers))
    for row in rows:
        cells = []
        for s in args.schedulers:
            reach, best, trials = row[s]
            ratio = (
                "not reached"
                if reach is None
                else f"{reach:.0f} s ({reach / row['kt_wall']:.0%})"
            )
            cells.append(f"{ratio}, {best:.4f}")
        print(
            f"| {row['seed']} | {row['kt_best']:.4f} | {row['kt_wall']:.0f} s | "
            + " | ".join(cells)
            + " |"
        )
    for s in args.schedulers:
        ratios = [
            (row[s][0] / row["kt_wall"]) if row[s][0] is not None else float("inf")
            for row in rows
        ]
        median = statistics.median(ratios)
        verdict = "met" if median <= 0.5 else "not met"
        shown = "not reached" if median == float("inf") else f"{median:.0%}"
        print(
            f"median time-to-KerasTuner's-best / KerasTuner wall, {s}: {shown} (target <= 50%: {verdict})"
        )


if __name__ == "__main__":
    main()
