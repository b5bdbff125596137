"""Resident promotion: a worker keeps a few trained models in memory for their promotions.

Under a multi-fidelity scheduler a trial is trained in jobs, one per rung; each job saves a
checkpoint and a promotion normally rebuilds the model from its module, compiles it (on JAX a
fresh JIT compile of several seconds) and loads that checkpoint. A worker that keeps the model
it just trained, compiled and with its optimizer state, continues it directly when the driver
sends the promotion back to it.

The checkpoint stays the source of truth: every job still writes one, and a promotion task
always names it, so a worker that lost the model (killed, recycled, evicted) simply loads it.
Memory is bounded twice: a worker holds at most ``capacity`` models (least recently kept
goes first), and the driver evicts a trial as soon as it is no longer likely to be promoted.

Pure Python (no Keras): the worker process owns one :class:`ResidentModels`.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from .messages import TrialTask


@dataclass
class Held:
    """A trained model a worker keeps, and what it continues from."""

    candidate_id: str
    epochs: int  # trained in total: the model continues from here
    model: Any
    # The best epoch so far (value, epoch, weights) under --score best, as a checkpoint keeps it.
    best: Any = None


class ResidentModels:
    """Up to ``capacity`` trained models by trial number, least recently kept first."""

    def __init__(self, capacity: int):
        self.capacity = max(0, capacity)
        self._held: OrderedDict[int, Held] = OrderedDict()

    def keep(
        self,
        number: int,
        candidate_id: str,
        epochs: int,
        model: Any,
        wanted: tuple[int, ...] | list[int] = (),
        best: Any = None,
    ) -> list[int]:
        """Hold trial ``number``'s model, trained to ``epochs``; returns the trials dropped to
        make room. The driver's ``wanted`` (trials likely to be promoted) go last: first the
        least recently kept of the others, then this new one (whose rank is not known yet).
        """
        if self.capacity == 0:
            return []
        self._held.pop(number, None)
        self._held[number] = Held(candidate_id, epochs, model, best)
        dropped = []
        while len(self._held) > self.capacity:
            others = [n for n in self._held if n != number and n not in wanted]
            victim = others[0] if others else number
            del self._held[victim]
            dropped.append(victim)
        return dropped

    def take(self, task: TrialTask) -> Held | None:
        """The model that continues ``task`` (with its best epoch so far), removed from the held ones, or ``None`` when this
        worker does not hold that trial at the task's starting epoch (then it loads the
        checkpoint). A held model of the same trial at another epoch is dropped: stale.
        """
        held = self._held.pop(task.number, None)
        if held is None or not task.initial_epoch:
            return None
        if held.candidate_id != task.candidate_id or held.epochs != task.initial_epoch:
            return None
        return held

    def evict(self, numbers: tuple[int, ...] | list[int]) -> list[int]:
        """Drop these trials' models; returns the ones that were held."""
        return [n for n in numbers if self._held.pop(n, None) is not None]

    def numbers(self) -> tuple[int, ...]:
        """The trials held, least recently kept first."""
        return tuple(self._held)

    def __len__(self) -> int:
        return len(self._held)
