"""The local executor: worker processes, GPU pinning, and surviving a worker's death."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from nascompiler.codegen import emit
from nascompiler.config.settings import TrainingSettings
from nascompiler.ir import specialize
from nascompiler.run.data import SpaceFileData
from nascompiler.run.executor import EpochEvent, LocalExecutor, ResultEvent
from nascompiler.run.messages import TrialTask
from nascompiler.spacefile import load_space_file

SPACE = Path(__file__).parent / "spaces" / "digits_tiny.py"


@pytest.fixture
def candidate(tmp_path) -> tuple[str, Path]:
    ir = load_space_file(SPACE).compile()
    graph = specialize(
        ir, {"units": 32, "repeat_1.times": 2, "dropout": 0.1, "head": "softmax"}
    )
    path = tmp_path / f"{graph.id}.py"
    path.write_text(emit(graph))
    return graph.id, path


def task(number: int, candidate: tuple[str, Path], tmp_path: Path) -> TrialTask:
    cid, path = candidate
    return TrialTask(
        number=number,
        candidate_id=cid,
        module_path=str(path),
        seed=number,
        weights_path=str(tmp_path / "weights" / f"{cid}.weights.h5"),
        keep_if_better_than=None,
    )


def wait_for(executor: LocalExecutor, predicate, timeout: float = 180) -> list:
    seen: list = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen += executor.poll(0.2)
        if predicate(seen):
            return seen
    raise AssertionError(f"timed out; events so far: {seen}")


@pytest.mark.slow
def test_a_dead_worker_fails_its_trial_and_is_replaced(
    tmp_path, candidate, monkeypatch
):
    monkeypatch.setenv(
        "DIGITS_TINY_REPEAT", "30"
    )  # slow epochs: time to kill the worker mid-trial
    settings = TrainingSettings.resolve({"epochs": 3, "batch_size": 64})
    executor = LocalExecutor(
        SpaceFileData(str(SPACE)),
        settings.to_json(),
        workers=1,
        gpus=[],
        log_dir=tmp_path / "logs",
    )
    try:
        summary = executor.start()
        assert summary["x_train"]["shape"][1:] == [8, 8, 1]
        executor.submit(task(0, candidate, tmp_path))
        assert executor.free_slots() == 0
        wait_for(
            executor, lambda events: any(isinstance(e, EpochEvent) for e in events)
        )
        victim = executor.slots[0].process.pid
        os.kill(victim, signal.SIGKILL)
        events = wait_for(
            executor, lambda ev: any(isinstance(e, ResultEvent) for e in ev)
        )
        result = next(e for e in events if isinstance(e, ResultEvent)).outcome
        assert result.number == 0 and result.status == "failed"
        assert "worker process died" in result.error and "SIGKILL" in result.error
        # A new worker takes the slot and trains the next trial to the end.
        assert executor.slots[0].process.pid != victim
        wait_for(executor, lambda _: executor.free_slots() == 1)
        monkeypatch.setenv("DIGITS_TINY_REPEAT", "1")
        executor.submit(task(1, candidate, tmp_path))
        events = wait_for(
            executor, lambda ev: any(isinstance(e, ResultEvent) for e in ev)
        )
        done = next(e for e in events if isinstance(e, ResultEvent)).outcome
        assert done.status == "complete", done.error
        assert len(done.metrics["val_accuracy"]) == 3 and done.weights_saved
        assert (tmp_path / "weights" / f"{candidate[0]}.weights.h5").exists()
        # The same trial (same seed) trains to the same numbers again: a trial can be re-run.
        executor.submit(task(1, candidate, tmp_path))
        events = wait_for(
            executor, lambda ev: any(isinstance(e, ResultEvent) for e in ev)
        )
        again = next(e for e in events if isinstance(e, ResultEvent)).outcome
        assert again.metrics == done.metrics
    finally:
        executor.shutdown()
    assert executor.slots == []


@pytest.mark.slow
def test_each_worker_is_pinned_to_one_gpu(tmp_path):
    settings = TrainingSettings.resolve({})
    executor = LocalExecutor(
        SpaceFileData(str(SPACE)), settings.to_json(), workers=3, gpus=["0", "1"]
    )
    assert [executor.device_of(i) for i in range(3)] == ["0", "1", "0"]
    try:
        executor.start()
        for slot in executor.slots:
            environ = (
                Path(f"/proc/{slot.process.pid}/environ").read_bytes().split(b"\0")
            )
            expected = f"CUDA_VISIBLE_DEVICES={executor.device_of(slot.index)}".encode()
            assert expected in environ
    finally:
        executor.shutdown()
    cpu_only = LocalExecutor(
        SpaceFileData(str(SPACE)), settings.to_json(), workers=2, gpus=[]
    )
    assert cpu_only.device_of(0) is None and cpu_only.device_of(1) is None


def test_data_that_fails_to_load_stops_the_start(tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text(
        "def search_space():\n    pass\n\ndef load_data():\n    raise RuntimeError('disk on fire')\n"
    )
    executor = LocalExecutor(
        SpaceFileData(str(broken)),
        TrainingSettings.resolve({}).to_json(),
        workers=2,
        gpus=[],
    )
    from nascompiler.errors import UsageError

    with pytest.raises(UsageError, match="disk on fire"):
        executor.start()
    assert executor.slots == []


@pytest.mark.slow
def test_workers_are_recycled_after_a_number_of_trials(tmp_path, candidate):
    """A long search must not grow a worker's memory without bound: after ``recycle_after``
    trials an idle worker is replaced by a fresh process, and trials go on."""
    settings = TrainingSettings.resolve({"epochs": 1, "batch_size": 64})
    executor = LocalExecutor(
        SpaceFileData(str(SPACE)),
        settings.to_json(),
        workers=1,
        gpus=[],
        recycle_after=2,
    )
    pids = []
    try:
        executor.start()
        for number in range(3):
            wait_for(executor, lambda _: executor.free_slots() == 1)
            pids.append(executor.slots[0].process.pid)
            executor.submit(task(number, candidate, tmp_path))
            events = wait_for(
                executor, lambda ev: any(isinstance(e, ResultEvent) for e in ev)
            )
            assert (
                next(e for e in events if isinstance(e, ResultEvent)).outcome.status
                == "complete"
            )
    finally:
        executor.shutdown()
    assert pids[0] == pids[1] != pids[2]
