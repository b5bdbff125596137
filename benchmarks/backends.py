"""TensorFlow against JAX for the jobs a multi-fidelity search runs, with and without resident
promotion (issue 17, items 3 and 4).

One fixed candidate of ``examples/fashion_dnn.py``'s space (a 3-block MLP) on a Fashion-MNIST
subset (JAX's training split topped up to whole batches, as its workers do), trained through
the worker's own ``run_trial`` in one fresh process per backend and repetition (the backends alternate, so both see the same machine load). Per backend it prints
the medians over the repetitions of:

- ``epoch``: one epoch once traced (the resident 3-epoch promotion's fit time minus the
  1-epoch one's, / 2: no trace or compile in either);
- ``job 1`` / ``job 3``: a new trial's job of 1 / 3 epochs, wall time (import, build, compile,
  trace, fit, validation, checkpoint);
- ``promote +1`` / ``promote +3``: a promotion that trains 1 / 3 more epochs after epoch 1,
  reloading the checkpoint (``reload``: rebuild, compile, re-trace, read) or continuing the
  model the worker kept (``resident``);

and the JAX / TensorFlow ratio of each. A first job per process is a warm-up and not counted
(a worker pays it once).

    nice python benchmarks/backends.py [--train 10000] [--val 2000] [--reps 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ("tensorflow", "jax")
ROWS = (
    "epoch",
    "job 1",
    "job 3",
    "promote +1 reload",
    "promote +1 resident",
    "promote +3 reload",
    "promote +3 resident",
)


def candidate_module(folder: Path) -> Path:
    """The fixed candidate: the fashion DNN space's sample with 3 blocks (seeded)."""
    sys.path.insert(0, str(ROOT / "examples"))
    from fashion_dnn import search_space

    from nascompiler.codegen import emit
    from nascompiler.ir import compile_space, specialize

    ir = compile_space(search_space())
    rng = random.Random(0)
    for _ in range(200):
        graph = specialize(ir, ir.sample(rng))
        if (
            sum(1 for op in graph.ops if op.layer == "Dense") == 4
        ):  # 3 blocks + the head
            break
    path = folder / f"{graph.id}.py"
    path.write_text(emit(graph))
    return path


def child(backend: str, module: str, train: int, val: int) -> dict[str, float]:
    """Runs in a fresh process with KERAS_BACKEND set: the timings of one repetition."""
    from nascompiler.config.settings import TrainingSettings
    from nascompiler.datasets import load_fashion_mnist
    from nascompiler.run.data import Dataset, top_up_to_whole_batches
    from nascompiler.run.messages import TrialTask
    from nascompiler.run.resident import ResidentModels
    from nascompiler.run.trainer import run_trial

    # Raw pixels: the candidate scales them (the space's Rescaling).
    (x, y), (xv, yv) = load_fashion_mnist(train, val, channel_axis=False, scale=False)
    data = Dataset.from_arrays(x.reshape(-1, 784), y, xv.reshape(-1, 784), yv)
    if backend == "jax":  # as the worker does (run/worker.py): whole training batches
        data, _ = top_up_to_whole_batches(data, 128)
    settings = TrainingSettings.resolve(
        {"epochs": 3, "batch_size": 128}, backend=backend
    )
    folder = Path(tempfile.mkdtemp(prefix="nascompile-backends-"))
    cache = ResidentModels(4)
    number = iter(range(100))

    def job(epochs, initial=0, resume=None, keep=False, resident=None, trial=None):
        n = next(number) if trial is None else trial
        task = TrialTask(
            number=n, candidate_id=Path(module).stem, module_path=module, seed=n,
            weights_path=None, keep_if_better_than=None, epochs=epochs,
            initial_epoch=initial, resume_path=resume,
            checkpoint_path=str(folder / f"trial-{n}-{epochs}.npz"), keep_resident=keep,
        )  # fmt: skip
        started = time.perf_counter()
        outcome = run_trial(task, data, settings, lambda e, l: None, resident)
        wall = time.perf_counter() - started
        assert outcome.status == "complete", outcome.error
        assert outcome.resident == bool(resident is not None and initial), outcome
        return n, wall, outcome.fit_seconds, task.checkpoint_path

    job(1)  # warm-up
    out: dict[str, float] = {}
    firsts, fits, resident_fit = [], [], {}
    for more in (1, 3):
        n, wall, fit, checkpoint = job(1)
        firsts.append(wall)
        fits.append(fit)
        out[f"promote +{more} reload"] = job(1 + more, 1, checkpoint, trial=n)[1]
        # a new trial kept by the worker, then its promotion continues the kept model
        n, wall, fit, checkpoint = job(1, keep=True, resident=cache)
        firsts.append(wall)
        fits.append(fit)
        _, out[f"promote +{more} resident"], resident_fit[more], _ = job(
            1 + more, 1, checkpoint, resident=cache, trial=n
        )
    out["job 1"] = statistics.median(firsts)  # the four new trials' first jobs
    _, out["job 3"], _, _ = job(3)
    # Traced once and for all: the resident +3 promotion's fit minus the +1's, per epoch.
    out["epoch"] = (resident_fit[3] - resident_fit[1]) / 2
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=10000)
    parser.add_argument("--val", type=int, default=2000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--module", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.module, args.train, args.val)))
        return
    folder = Path(tempfile.mkdtemp(prefix="nascompile-backends-"))
    module = candidate_module(folder)
    print(
        f"candidate {module.stem} (fashion_dnn space, 3 blocks), {args.train} training and "
        f"{args.val} validation images, batch 128, {args.reps} repetitions"
    )
    results: dict[str, list[dict[str, float]]] = {b: [] for b in BACKENDS}
    for rep in range(args.reps):
        for backend in BACKENDS:
            env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
            env["PYTHONPATH"] = os.pathsep.join(
                [str(ROOT), env.get("PYTHONPATH", "")]
            ).rstrip(os.pathsep)
            run = subprocess.run(
                [sys.executable, __file__, "--child", backend, "--module", str(module),
                 "--train", str(args.train), "--val", str(args.val)],
                env=env, capture_output=True, text=True, check=False,
            )  # fmt: skip
            if run.returncode != 0:
                sys.exit(f"{backend} failed:\n{run.stderr[-3000:]}")
            results[backend].append(json.loads(run.stdout.strip().splitlines()[-1]))
            print(f"  repetition {rep + 1}, {backend}: done", flush=True)
    medians = {
        b: {row: statistics.median(r[row] for r in results[b]) for row in ROWS}
        for b in BACKENDS
    }
    print(f"\n{'seconds (median)':<22}{'tensorflow':>11}{'jax':>9}{'jax/tf':>9}")
    for row in ROWS:
        tf, jx = medians["tensorflow"][row], medians["jax"][row]
        print(f"{row:<22}{tf:>11.2f}{jx:>9.2f}{jx / tf:>9.2f}")
    for b in BACKENDS:
        m = medians[b]
        print(
            f"{b}: resident promotion saves {m['promote +1 reload'] - m['promote +1 resident']:.2f} s "
            f"per promotion (+1 epoch: x{m['promote +1 reload'] / m['promote +1 resident']:.1f} faster)"
        )


if __name__ == "__main__":
    main()
