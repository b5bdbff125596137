"""nascompile's multi-fidelity search against KerasTuner's Hyperband: time to accuracy, and the
held-out test accuracy of the model each tool hands over (issue 17).

What it measures
----------------
Data: Fashion-MNIST's 60,000 training images split into the first 50,000 for training and the
last 10,000 for validation (what both tools select on); the 10,000 test images are held out and
only score the model each tool hands over. Images are flattened to 784 raw pixels (0-255), which
both tools' models scale by 1/255 first (the space's preprocess).

Space: ``examples/fashion_dnn.py``'s (the seed's DNN space: units 128/256/512, reduce factor
1/0.8/0.5, 2-4 blocks, relu/tanh, optional batch normalization, dropout 0-0.5 in steps of 0.1, the
order of activation/BN/dropout), and for KerasTuner a builder of the same layers and choices.
Training: adam, sparse categorical cross-entropy, batch size 128, epochs 1/3/9 (eta 3).

For each seed (0-4 by default), one after the other, one worker each:

- ``kerastuner-tensorflow`` / ``kerastuner-jax``: KerasTuner ``Hyperband(objective=
  "val_accuracy", max_epochs=9, factor=3, seed=seed)`` in a child process with that
  ``KERAS_BACKEND``; its wall time is the search call's. It hands over ``get_best_models(1)``.
- ``recommended``: nascompile's recommended multi-fidelity configuration, the README's command
  ``nascompile search examples/fashion_dnn.py --searcher tpe --scheduler hyperband --min-epochs 1
  --max-epochs 9 --reduction-factor 3 --backend jax --time-budget <KerasTuner's wall>`` (BOHB: TPE over the
  highest rung with enough results, a third of proposals random; each trial scored by its best
  epoch), run in-process through the product's ``Study`` (worker process, SQLite store, emitted
  modules), with KerasTuner-on-TensorFlow's wall time of that seed as its time budget.
- the other configurations tried (``--configs``; ``CONFIGS`` below says what each is).

nascompile's time counts from the study's start (starting the worker process and loading the
data in it included); the job running when the budget is spent finishes, so its wall is up to
one job longer (printed). It hands over the study's best trial (most epochs, then objective)
through ``export_trial``, loaded back from the exported module and weights files.

Printed: per seed, each tool's best-so-far validation curve (seconds, val_accuracy); per seed
and as medians over seeds, each tool's best validation accuracy at KerasTuner's wall time (on
each backend), the time to reach KerasTuner-on-TensorFlow's median final best, and the test
accuracy of the model it hands over; then the issue's targets, met or not. ``--png`` draws the
curves. nascompile runs on its configuration's backend (``recommended``: JAX), else on
``KERAS_BACKEND``; ``--backend`` overrides both.

Run (by hand, not in CI; about 10 minutes a seed with --configs recommended on 2 quiet CPU cores)
---
    pip install -e ".[bench]"            # keras-tuner, matplotlib
    nice python benchmarks/vs_kerastuner.py --png curves.png
    python benchmarks/vs_kerastuner.py --seeds 0 --train-samples 3000 --val-samples 1000 \\
        --test-samples 1000 --max-epochs 3 --configs recommended          # a smoke test
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

UNITS = [128, 256, 512]  # examples/fashion_dnn.py's choices
REDUCE = [1, 0.8, 0.5]
LAYERS = [2, 3, 4]
ACTIVATIONS = ["relu", "tanh"]
BATCH_SIZE = 128
ETA = 3
VALIDATION = 10_000  # the last images of Fashion-MNIST's training split
KT_BACKENDS = ("tensorflow", "jax")

# nascompile configurations: searcher, scheduler, searcher options and score. "recommended" is
# the README's command; the others are what was tried against it.
CONFIGS: dict[str, dict] = {
    "recommended": {
        "searcher": "tpe",
        "scheduler": "hyperband",
        "score": "best",
        "backend": "jax",
    },
    "recommended-tensorflow": {
        "searcher": "tpe",
        "scheduler": "hyperband",
        "score": "best",
        "backend": "tensorflow",
    },
    "tpe-hyperband-last": {
        "searcher": "tpe",
        "scheduler": "hyperband",
        "score": "last",
    },
    "tpe-hyperband-no-random": {
        "searcher": "tpe",
        "scheduler": "hyperband",
        "score": "best",
        "searcher_options": {"random_fraction": 0.0},
    },
    "random-hyperband": {
        "searcher": "random",
        "scheduler": "hyperband",
        "score": "best",
    },
    "tpe-asha": {"searcher": "tpe", "scheduler": "asha", "score": "best"},
    "evolution-hyperband": {
        "searcher": "evolution",
        "scheduler": "hyperband",
        "score": "best",
    },
}


def load(train: int | None, val: int | None, test: int | None):
    """``(x, y), (x_val, y_val), (x_test, y_test)``: the first 50,000 training images (or
    ``train``), the last 10,000 (or the last ``val``) for validation, the test images (or the
    first ``test``)."""
    from nascompiler.datasets import load_fashion_mnist

    # Raw pixels (0-255): both tools' models scale them (examples/fashion_dnn.py's Rescaling).
    (x, y), (xt, yt) = load_fashion_mnist(
        channel_axis=False, scale=False, test_samples=test
    )
    x = x.reshape(len(x), 784)
    xt = xt.reshape(len(xt), 784)
    x_train, y_train = x[:-VALIDATION], y[:-VALIDATION]
    x_val, y_val = x[-VALIDATION:], y[-VALIDATION:]
    if train is not None:
        x_train, y_train = x_train[:train], y_train[:train]
    if val is not None:
        x_val, y_val = x_val[-val:], y_val[-val:]
    return (x_train, y_train), (x_val, y_val), (xt, yt)


# ---------------------------------------------------------------------------- KerasTuner
def kerastuner_child(args: argparse.Namespace) -> None:
    """Runs in a child process whose KERAS_BACKEND is set; writes its results as JSON."""
    import keras
    import keras_tuner
    from keras import layers

    (x, y), (xv, yv), (xt, yt) = load(
        args.train_samples, args.val_samples, args.test_samples
    )
    orders = list(itertools.permutations(range(3)))

    def build(hp):
        units = hp.Choice("units", UNITS)
        reduce = hp.Choice("reduce_factor", [float(r) for r in REDUCE])
        use_bn = hp.Boolean("batch_norm")
        activation = hp.Choice("activation", ACTIVATIONS)
        dropout = hp.Float("dropout", 0.0, 0.5, step=0.1)
        order = orders[hp.Int("order", 0, len(orders) - 1)]
        inputs = keras.Input(shape=(784,))
        h = layers.Rescaling(1 / 255)(inputs)  # as the space's preprocess does
        for step in range(hp.Choice("layers", LAYERS)):
            h = layers.Dense(int(units if step == 0 else units * reduce**step))(h)
            for part in order:
                if part == 0:
                    h = layers.Activation(activation)(h)
                elif part == 1 and use_bn:
                    h = layers.BatchNormalization()(h)
                elif part == 2:
                    h = layers.Dropout(dropout)(h)
        model = keras.Model(inputs, layers.Dense(10, activation="softmax")(h))
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
                score = float(best[0].score)
                if not curve or score > curve[-1][1]:
                    curve.append((time.monotonic() - started, score))

    tuner = Recording(
        build,
        objective="val_accuracy",
        max_epochs=args.max_epochs,
        factor=ETA,
        seed=args.seed,
        directory=args.folder,
        project_name=f"kt-seed{args.seed}",
        overwrite=True,
    )
    started = time.monotonic()
    tuner.search(
        x,
        y,
        validation_data=(xv, yv),
        batch_size=BATCH_SIZE,
        epochs=args.max_epochs,
        verbose=0,
    )
    wall = time.monotonic() - started
    model = tuner.get_best_models(1)[0]
    test = _accuracy(model, xt, yt)
    result = {
        "curve": curve,
        "wall": wall,
        "test": test,
        "trials": len(tuner.oracle.trials),
        "backend": keras.backend.backend(),
    }
    Path(args.kt_child).write_text(json.dumps(result))


def kerastuner_run(backend: str, seed: int, args, folder: Path) -> dict:
    out = folder / f"kt-{backend}-seed{seed}.json"
    command = [sys.executable, __file__, "--kt-child", str(out), "--seed", str(seed)]
    command += ["--folder", str(folder / "kt"), "--max-epochs", str(args.max_epochs)]
    for flag in ("train_samples", "val_samples", "test_samples"):
        if getattr(args, flag) is not None:
            command += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    run = subprocess.run(command, env=env, capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(
            f"KerasTuner on {backend} failed:\n{run.stderr[-3000:]}\n"
            "(keras-tuner missing? pip install -e '.[bench]')"
        )
    return json.loads(out.read_text())


def _accuracy(model, x, y) -> float:
    import keras

    predicted = keras.ops.convert_to_numpy(model.predict(x, batch_size=1024, verbose=0))
    return float((predicted.argmax(1) == y).mean())


# ---------------------------------------------------------------------------- nascompile
def nascompile_run(name: str, source, seed: int, budget: float, args, folder: Path):
    """One nascompile configuration through the product's Study; returns its curve, wall,
    trials and the test accuracy of its exported best."""
    from nascompiler.deliver.export import export_trial
    from nascompiler.ir import compile_space
    from nascompiler.search.events import StudyListener
    from nascompiler.search.resolve import resolve_search
    from nascompiler.search.study import Study, StudyConfig
    from nascompiler.spacefile import load_space_file

    config = CONFIGS[name]
    example = load_space_file(Path(__file__).parents[1] / "examples" / "fashion_dnn.py")
    training = {**example.training, "epochs": args.max_epochs}
    training["score"] = config["score"]
    backend = args.backend or config.get("backend")
    if backend is not None:
        training["backend"] = backend

    class BestSoFar(StudyListener):
        def __init__(self):
            self.started = time.monotonic()
            self.curve: list[tuple[float, float]] = []

        def trial_finished(self, study, trial):
            if trial.status == "complete" and trial.objective is not None:
                if not self.curve or trial.objective > self.curve[-1][1]:
                    self.curve.append(
                        (time.monotonic() - self.started, trial.objective)
                    )

    resolved = resolve_search(
        flags={
            "searcher": config["searcher"],
            "searcher_options": config.get("searcher_options"),
            "seed": seed,
            "max_trials": 100_000,
            "keep_weights": 3,
            "scheduler": config["scheduler"],
            "min_epochs": 1,
            "max_epochs": args.max_epochs,
            "reduction_factor": ETA,
            "time_budget": budget,
        },
        file_training=training,
    )
    study_config = StudyConfig.of(
        resolved,
        directory=folder / f"{name}-seed{seed}",
        space=compile_space(example.module.search_space()),
        data=source,
    )
    listener = BestSoFar()
    study = Study(study_config, listeners=[listener])
    study.run()
    wall = time.monotonic() - listener.started
    best = study.best()
    test = None
    if best is not None:
        exported = export_trial(
            study.store,
            best,
            folder / f"{name.replace('-', '_')}_seed{seed}_best.py",
            test=False,
        )
        test = _load_and_score(exported.module, exported.weights, args)
    return {
        "curve": listener.curve,
        "wall": wall,
        "test": test,
        "trials": study.started,
        "epoch": None if best is None else best.objective_epoch,
    }


def _load_and_score(module_path: Path, weights: Path | None, args) -> float | None:
    """The exported module built, its weights loaded from their file, scored on the test set."""
    import importlib.util

    if weights is None:
        return None
    spec = importlib.util.spec_from_file_location("exported_best", module_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.build_model()
    model.load_weights(str(weights))
    _, _, (xt, yt) = load(args.train_samples, args.val_samples, args.test_samples)
    return _accuracy(model, xt, yt)


# ---------------------------------------------------------------------------- figures
def best_at(curve, wall: float) -> float | None:
    values = [v for t, v in curve if t <= wall]
    return values[-1] if values else None


def time_to(curve, target: float) -> float | None:
    return next((t for t, v in curve if v >= target), None)


def median(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def median_time(values) -> float:
    """The median time to a target, a run that never reached it counting as infinitely long."""
    return statistics.median([math.inf if v is None else v for v in values])


def text(value, digits=4) -> str:
    if value is None:
        return "-"
    if value == math.inf:
        return "never"
    return f"{value:.{digits}f}"


def seconds(value) -> str:
    if value is None or value == math.inf:
        return "never"
    return f"{value:.0f} s"


def draw(path: Path, runs: dict, seeds: list[int]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(
        1, len(seeds), figsize=(5 * len(seeds), 4), squeeze=False
    )
    for axis, seed in zip(axes[0], seeds):
        for tool, by_seed in runs.items():
            curve = by_seed[seed]["curve"]
            if curve:
                times, values = zip(*curve)
                axis.step(times, values, where="post", label=tool)
        axis.set_title(f"seed {seed}")
        axis.set_xlabel("seconds")
        axis.set_ylabel("best val_accuracy so far")
        axis.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=100)


# ---------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--train-samples", type=int, default=None)
    parser.add_argument("--val-samples", type=int, default=None)
    parser.add_argument("--test-samples", type=int, default=None)
    parser.add_argument("--max-epochs", type=int, default=9)
    parser.add_argument(
        "--configs",
        nargs="+",
        default=["recommended", "tpe-hyperband-last", "random-hyperband"],
        choices=list(CONFIGS),
        help="nascompile configurations to run (recommended first)",
    )
    parser.add_argument(
        "--kerastuner-backends",
        nargs="*",
        default=list(KT_BACKENDS),
        choices=KT_BACKENDS,
    )
    parser.add_argument(
        "--backend",
        default=None,
        help="nascompile's Keras backend (sets KERAS_BACKEND for its workers) [KERAS_BACKEND]",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=None,
        help="seconds of nascompile search [KerasTuner-on-TensorFlow's wall of the seed]",
    )
    parser.add_argument("--png", type=Path, default=None, help="draw the curves here")
    parser.add_argument("--kt-child", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.kt_child:
        kerastuner_child(args)
        return
    if not args.kerastuner_backends and args.budget is None:
        parser.error("without KerasTuner runs, give --budget")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # the workers inherit both
    if args.backend is not None:
        os.environ["KERAS_BACKEND"] = args.backend
    backends = {
        name: args.backend
        or CONFIGS[name].get("backend")
        or os.environ.get("KERAS_BACKEND", "tensorflow")
        for name in args.configs
    }

    from nascompiler.run.data import Dataset, save_arrays

    (x, y), (xv, yv), _ = load(args.train_samples, args.val_samples, args.test_samples)
    print(
        f"Fashion-MNIST: {len(x)} training, {len(xv)} validation images; test held out. "
        f"Epochs 1..{args.max_epochs} (eta {ETA}), batch {BATCH_SIZE}; nascompile's backends: "
        + ", ".join(f"{name} {backend}" for name, backend in backends.items()),
        flush=True,
    )
    kt_tools = [f"kerastuner-{b}" for b in args.kerastuner_backends]
    runs: dict[str, dict[int, dict]] = {tool: {} for tool in kt_tools + args.configs}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = save_arrays(folder / "data", Dataset.from_arrays(x, y, xv, yv))
        for seed in args.seeds:
            print(f"seed {seed}", flush=True)
            for backend, tool in zip(args.kerastuner_backends, kt_tools):
                runs[tool][seed] = kerastuner_run(backend, seed, args, folder)
                _show(tool, runs[tool][seed])
            budget = args.budget or runs[kt_tools[0]][seed]["wall"]
            for name in args.configs:
                runs[name][seed] = nascompile_run(
                    name, source, seed, budget, args, folder
                )
                _show(name, runs[name][seed])
    _report(runs, kt_tools, args)
    if args.png is not None:
        draw(args.png, runs, args.seeds)
        print(f"curves: {args.png}")


def _show(tool: str, run: dict) -> None:
    points = ", ".join(f"{t:.0f}s {v:.4f}" for t, v in run["curve"])
    test = text(run["test"])
    print(
        f"  {tool:<24} wall {run['wall']:.0f} s, {run['trials']} trials, test {test}: {points}",
        flush=True,
    )


def _report(runs: dict, kt_tools: list[str], args) -> None:
    seeds = args.seeds
    walls = {k: {s: runs[k][s]["wall"] for s in seeds} for k in kt_tools}
    reference = kt_tools[0] if kt_tools else None
    target = (
        median(
            runs[reference][s]["curve"][-1][1]
            for s in seeds
            if runs[reference][s]["curve"]
        )
        if reference
        else None
    )
    print()
    if reference:
        print(
            f"target: {reference}'s median final best val_accuracy {text(target)}; its median "
            f"wall {median(walls[reference].values()):.0f} s"
        )
    at_cols = [f"best at {k.split('-', 1)[1]} wall" for k in kt_tools]
    header = ["tool", "seed", "wall", "trials", *at_cols, "time to target", "test acc."]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    summary = {}
    for tool, by_seed in runs.items():
        rows = []
        for seed in seeds:
            run = by_seed[seed]
            at = [best_at(run["curve"], walls[k][seed]) for k in kt_tools]
            reach = time_to(run["curve"], target) if target is not None else None
            rows.append((at, reach, run["test"], run["wall"], run["trials"]))
            cells = [tool, str(seed), seconds(run["wall"]), str(run["trials"])]
            cells += [text(a) for a in at] + [seconds(reach), text(run["test"])]
            print("| " + " | ".join(cells) + " |")
        summary[tool] = {
            "at": [median(r[0][i] for r in rows) for i in range(len(kt_tools))],
            "reach": median_time([r[1] for r in rows]),
            "test": median(r[2] for r in rows),
            "wall": median(r[3] for r in rows),
            "trials": median(r[4] for r in rows),
        }
    print()
    print("medians over seeds " + ", ".join(map(str, seeds)) + ":")
    print(
        "| "
        + " | ".join(
            ["tool", "wall", "trials", *at_cols, "time to target", "test acc."]
        )
        + " |"
    )
    print("|" + "---|" * (5 + len(at_cols)))
    for tool, m in summary.items():
        cells = [tool, seconds(m["wall"]), f"{m['trials']:.0f}"]
        cells += [text(a) for a in m["at"]] + [seconds(m["reach"]), text(m["test"])]
        print("| " + " | ".join(cells) + " |")
    if not reference or "recommended" not in summary:
        return
    ours = summary["recommended"]
    kt_wall = summary[reference]["wall"]
    print()
    verdict = lambda ok: "met" if ok else "NOT met"  # noqa: E731
    ratio = ours["reach"] / kt_wall
    print(
        f"time to {reference}'s median final best: {seconds(ours['reach'])} = "
        f"{'never' if ratio == math.inf else f'{ratio:.0%}'} of its median wall "
        f"(target <= 50%): {verdict(ratio <= 0.5)}"
    )
    for i, tool in enumerate(kt_tools):
        theirs = summary[tool]
        ok_val = (
            ours["at"][i] is not None
            and theirs["at"][i] is not None
            and ours["at"][i] >= theirs["at"][i]
        )
        ok_test = (
            ours["test"] is not None
            and theirs["test"] is not None
            and ours["test"] >= theirs["test"]
        )
        print(
            f"vs {tool}: best at its wall {text(ours['at'][i])} vs {text(theirs['at'][i])} "
            f"({verdict(ok_val)}); test accuracy {text(ours['test'])} vs {text(theirs['test'])} "
            f"({verdict(ok_test)})"
        )


if __name__ == "__main__":
    main()
