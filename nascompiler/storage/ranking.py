"""How well a cheap score ranks candidates: rank correlations against the trained scores.

Pure functions over lists of numbers (no Keras), and :func:`proxy_table`, which reads them
from a study whose trials computed zero-cost proxies (``nascompile proxies``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..kinds import Direction, TrialStatus

PROXY_NAMES = ("synflow", "naswot", "grad_norm", "jacob_cov")
"""The zero-cost proxies a worker computes on an untrained model (``run/proxies.py``)."""

STATIC_PROXIES = ("params", "flops")
"""Scores the compiler's cost model gives before any model is built (bigger: predicted better,
as in NAS-Bench-Suite-Zero)."""

ONESHOT = "oneshot"
"""The weight-sharing supernet's score (``--prescreen oneshot:K``, ``run/oneshot.py``)."""


def rank_correlations(
    predicted: Sequence[float], actual: Sequence[float]
) -> dict[str, float]:
    """Spearman's rho and Kendall's tau (tau-b) between a proxy and the trained scores, over
    the pairs where neither is NaN (an infinite proxy score, NASWOT's ``-inf`` for a network
    that cannot tell the samples apart, ranks last or first); NaN with fewer than 3 pairs.
    """
    pairs = [
        (p, a)
        for p, a in zip(predicted, actual)
        if not math.isnan(p) and not math.isnan(a)
    ]
    if len(pairs) < 3:
        return {"spearman": math.nan, "kendall": math.nan, "n": len(pairs)}
    p = np.array([q for q, _ in pairs])
    a = np.array([b for _, b in pairs])
    return {"spearman": _spearman(p, a), "kendall": _kendall(p, a), "n": len(pairs)}


def _ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks (ties share the mean of their positions)."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.arange(len(values), dtype=np.float64)
    for value in np.unique(values):
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def _spearman(p: np.ndarray, a: np.ndarray) -> float:
    rp, ra = _ranks(p), _ranks(a)
    if rp.std() == 0 or ra.std() == 0:
        return math.nan
    return float(np.corrcoef(rp, ra)[0, 1])


def _kendall(p: np.ndarray, a: np.ndarray) -> float:
    p, a = _ranks(p), _ranks(a)  # ranks: two infinite scores tie instead of giving NaN
    concordant = discordant = ties_p = ties_a = 0
    for i in range(len(p)):
        for j in range(i + 1, len(p)):
            dp, da = np.sign(p[i] - p[j]), np.sign(a[i] - a[j])
            if dp == 0 and da == 0:
                continue
            if dp == 0:
                ties_p += 1
            elif da == 0:
                ties_a += 1
            elif dp == da:
                concordant += 1
            else:
                discordant += 1
    denominator = math.sqrt(
        (concordant + discordant + ties_p) * (concordant + discordant + ties_a)
    )
    return (concordant - discordant) / denominator if denominator else math.nan


def precision_at_top(
    predicted: Sequence[float], actual: Sequence[float], k: int
) -> float:
    """The share of the proxy's top ``k`` candidates that are among the trained top ``k``
    (ties broken by position, NaN scores last)."""

    def top(values: Sequence[float]) -> set[int]:
        keyed = sorted(
            range(len(values)),
            key=lambda i: (
                math.isnan(values[i]),
                0.0 if math.isnan(values[i]) else -values[i],
                i,
            ),
        )
        return set(keyed[:k])

    k = min(k, len(actual))
    if k == 0:
        return math.nan
    return len(top(predicted) & top(actual)) / k


def proxy_table(store: Any, direction: str, k: int = 5) -> list[dict[str, Any]]:
    """One row per proxy the study's complete trials computed, plus ``params`` and ``flops``:
    its Spearman and Kendall correlation with the trained objective, its precision at the top
    ``k``, how many trials it covers and the median seconds it took per candidate."""
    trials = [
        t
        for t in store.trials(TrialStatus.COMPLETE)
        if t.objective is not None and math.isfinite(t.objective)
    ]
    scores = store.proxies()
    sign = 1.0 if Direction(direction) == Direction.MAX else -1.0
    actual = [sign * t.objective for t in trials]
    names = sorted(
        {
            name
            for t in trials
            for name in scores.get(t.number, {})
            if name
            not in STATIC_PROXIES  # --prescreen stores them; the trials hold them
        }
    )
    rows = []
    for name in [*names, *STATIC_PROXIES]:
        if name in STATIC_PROXIES:
            predicted = [_finite(getattr(t, name)) for t in trials]
            seconds: list[float] = []
        else:
            got = [scores.get(t.number, {}).get(name, (None, None)) for t in trials]
            predicted = [_finite(value) for value, _ in got]
            seconds = [s for _, s in got if s is not None]
        correlation = rank_correlations(predicted, actual)
        rows.append(
            {
                "proxy": name,
                "spearman": correlation["spearman"],
                "kendall": correlation["kendall"],
                f"precision_at_{k}": precision_at_top(predicted, actual, k),
                "n": correlation["n"],
                "median_seconds": float(np.median(seconds)) if seconds else None,
            }
        )
    return rows


def _finite(value: Any) -> float:
    """A stored score as a float; a missing one is NaN (infinities are kept: they rank)."""
    return math.nan if value is None else float(value)
