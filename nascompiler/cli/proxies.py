"""``nascompile proxies``: measure zero-cost proxies against training, on the user's data.

No proxy ranks architectures well everywhere (NAS-Bench-Suite-Zero, 2022), so before one is
trusted to screen candidates it is measured here: a random sample of the space is scored by
every proxy on its untrained model and then trained, and each proxy's ranking is compared with
the trained one. The sample is an ordinary study (``generated/<space>_proxies``): it resumes,
and ``report``, ``trials`` and ``export`` read it.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any, Optional

import typer

from ..errors import UsageError
from .common import DEFAULT_ROOT, console

DEFAULT_SAMPLE = 30
DEFAULT_PROXY_EPOCHS = 3
DEFAULT_TOP_K = 5


def proxies(
    space_file: Path = typer.Argument(
        ..., help="The space file: search_space(), load_data(), optional TRAINING."
    ),
    sample: int = typer.Option(
        DEFAULT_SAMPLE, "--sample", help="Random candidates to score and train."
    ),
    epochs: int = typer.Option(
        DEFAULT_PROXY_EPOCHS, "--epochs", help="Training epochs per candidate."
    ),
    top_k: int = typer.Option(
        DEFAULT_TOP_K, "--top-k", help="k of the precision at the top k."
    ),
    study: Optional[str] = typer.Option(
        None, "--study", help="Study name [<space file's name>_proxies]."
    ),
    out: Path = typer.Option(
        DEFAULT_ROOT, "--out", help="Folder that holds the studies."
    ),
    seed: Optional[int] = typer.Option(
        None, "--seed", help="Seed of the sample and of every trial [0]."
    ),
    workers: Optional[int] = typer.Option(
        None, "--workers", help="Candidates trained at once, one process each [1]."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print the table as JSON (one object per proxy) only."
    ),
    fresh: bool = typer.Option(
        False, "--fresh", help="Start the sample over (the old one is moved aside)."
    ),
) -> None:
    """Score a random sample with every zero-cost proxy, train it, and print how well each
    proxy (and the plain parameter and FLOP counts) ranks the candidates on this data.
    """
    from ..config.settings import check_study_name, resolve_search
    from ..spacefile import load_space_file
    from ..storage.ranking import PROXY_NAMES, proxy_table
    from ..storage.store import Store
    from .search import _prepare_directory, _run, _stored_definition, _study_config

    for name, value, least in (("--sample", sample, 3), ("--epochs", epochs, 1)):
        if value < least:
            raise UsageError(f"{name} must be at least {least}, got {value}")
    if top_k < 1:
        raise UsageError(f"--top-k must be at least 1, got {top_k}")
    space = load_space_file(space_file)
    ir = space.compile()
    if not space.has_load_data:
        raise UsageError(
            f"{space_file}: defines no load_data() function; it should return "
            "(x_train, y_train), (x_val, y_val)"
        )
    name = check_study_name(study) if study is not None else f"{space.stem}_proxies"
    directory = out / name
    _prepare_directory(directory, fresh)
    # A uniform random sample trained in full: the space file's own SEARCH (its searcher,
    # scheduler, budgets) is for searching, not for measuring.
    resolved = resolve_search(
        flags={
            "searcher": "random",
            "max_trials": sample,
            "seed": seed,
            "workers": workers,
            "scheduler": "full",
        },
        training_flags={"epochs": epochs},
        stored=_stored_definition(directory),
        file_search={},
        file_training=space.training,
        training_source=f"{space_file}: TRAINING",
    )
    if resolved.training.multi_objective:
        raise UsageError(
            f"{space_file}: TRAINING names several objectives; proxies are measured against "
            "one (set TRAINING['objective'] to a single training value)"
        )
    config = dataclasses.replace(
        _study_config(resolved, directory, ir, space_file, allow_new_data=False),
        proxies=PROXY_NAMES,
    )
    quiet = console.quiet
    console.quiet = as_json or quiet
    try:
        _run(config, None, tensorboard=False)
    finally:
        console.quiet = quiet
    with Store(directory) as store:
        rows = proxy_table(store, resolved.training.direction, k=top_k)
    if as_json:
        print(json.dumps(rows, allow_nan=True))
        return
    _print_table(rows, resolved.training.objective, top_k)


def _print_table(rows: list[dict[str, Any]], objective: str, k: int) -> None:
    from rich.table import Table

    table = Table(title=f"How each proxy ranks the candidates by {objective}")
    for header in ("proxy", "Spearman", "Kendall", f"top-{k} precision", "trials"):
        table.add_column(header, justify="left" if header == "proxy" else "right")
    table.add_column("time per candidate", justify="right")
    for row in rows:
        seconds = row["median_seconds"]
        table.add_row(
            row["proxy"],
            _number(row["spearman"]),
            _number(row["kendall"]),
            _number(row[f"precision_at_{k}"], 2),
            str(row["n"]),
            "static" if seconds is None else f"{seconds * 1000:.0f} ms",
        )
    console.print(table)
    console.print(_verdict(rows), markup=False, soft_wrap=True)


def _verdict(rows: list[dict[str, Any]]) -> str:
    """One sentence: which proxy ranks best here, and whether it beats counting parameters."""
    ranked = [r for r in rows if math.isfinite(r["spearman"])]
    if not ranked:
        return "Too few complete trials to rank the proxies; train more (--sample)."
    best = max(ranked, key=lambda r: r["spearman"])
    params = next(r for r in rows if r["proxy"] == "params")
    if best["proxy"] == "params":
        return (
            f"On this data the parameter count ranks best (Spearman {best['spearman']:.2f}): "
            "no zero-cost proxy beats it."
        )
    against = (
        f"beats the parameter count ({params['spearman']:.2f})"
        if not math.isfinite(params["spearman"])
        or best["spearman"] > params["spearman"]
        else f"does not beat the parameter count ({params['spearman']:.2f})"
    )
    return f"On this data {best['proxy']} ranks best (Spearman {best['spearman']:.2f}) and {against}."


def _number(value: float, digits: int = 3) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"
