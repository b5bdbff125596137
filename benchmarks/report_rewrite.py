"""What a live rewrite of the report costs: ``python benchmarks/report_rewrite.py STUDY_DIR``.

Prints the first build (cold caches: imports, highlighting, the winner's diagram, fANOVA) and
the median of the next rewrites with the cache the search's LiveReport keeps, as it does after
a finished job (importances reused within IMPORTANCE_EVERY seconds). The study is read, never
changed; the page goes to a temporary file.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from nascompiler.report.html import ReportCache, write_report
from nascompiler.report.live import IMPORTANCE_EVERY
from nascompiler.storage.store import Store


def main(directory: str, repeats: int = 7) -> None:
    out = Path(tempfile.mkdtemp()) / "report.html"
    cache = ReportCache(importance_every=IMPORTANCE_EVERY)
    with Store(directory) as store:
        trials = len(store.trials())
        started = time.perf_counter()
        write_report(Path(directory), out, live=True, cache=cache, store=store)
        cold = time.perf_counter() - started
        warm = []
        for _ in range(repeats):
            started = time.perf_counter()
            write_report(Path(directory), out, live=True, cache=cache, store=store)
            warm.append(time.perf_counter() - started)
    print(
        f"study: {directory} ({trials} trials), page {out.stat().st_size / 1e6:.1f} MB"
    )
    print(f"first build (cold): {cold * 1000:.0f} ms")
    print(
        f"live rewrite (warm cache), median of {repeats}: {statistics.median(warm) * 1000:.0f} ms"
        f" (min {min(warm) * 1000:.0f}, max {max(warm) * 1000:.0f})"
    )


if __name__ == "__main__":
    main(sys.argv[1])
