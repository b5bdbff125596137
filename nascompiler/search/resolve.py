"""The one resolver of a search's settings: ``nascompile search`` and ``HyperKeras.search``
both build their :class:`~nascompiler.config.settings.SearchConfig` here.

Each setting comes from the first of: the flags (or the Python API's arguments), the space
file (``SEARCH``, ``TRAINING``; the API has none), the stored study it resumes, the defaults
(``DEFAULT_*`` in :mod:`nascompiler.config.settings`). Then every value is checked and parsed
once: durations to seconds, counts to integers, the scheduler's options by its class, the
number of objectives by the searcher's class. An error names the value as its caller spells it
(``--max-trials`` for the command line, ``max_trials`` for the API, ``space.py:
SEARCH["max_trials"]`` for the space file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping

from ..config.settings import (
    DEFAULT_EPOCHS,
    SEARCH_DEFAULTS,
    SEARCH_KEYS,
    STUDY_META_KEYS,
    Prescreen,
    SearchConfig,
    TrainingSettings,
    check_search_values,
    flag_name,
    search_label,
    stored_training,
)
from ..errors import UsageError
from ..storage.ranking import ONESHOT, PROXY_NAMES, STATIC_PROXIES
from ..units import parse_count, parse_duration
from .schedulers import SCHEDULERS, configure_scheduler
from .searchers import SEARCHERS
from .searchers.base import check_objective_count

Namer = Callable[[str], str]

# The SEARCH values read as amounts, and their parsers.
_PARSERS: dict[str, Callable[[Any, str], Any]] = {
    "time_budget": parse_duration,
    "trial_timeout": parse_duration,
    "max_params": parse_count,
    "max_flops": parse_count,
}


PRESCREEN_PROXIES = (*PROXY_NAMES, *STATIC_PROXIES, ONESHOT)


def parse_prescreen(value: Any, label: str) -> Prescreen:
    """``"PROXY:K"`` (``--prescreen naswot:3``) as a :class:`Prescreen`; a one-line
    ``UsageError`` naming ``label`` otherwise. PROXY is a zero-cost proxy or ``params`` /
    ``flops``; K, the candidates proposed per trial slot, is an integer of at least 2.

    >>> parse_prescreen("naswot:3", "--prescreen")
    Prescreen(proxy='naswot', k=3)
    """
    form = f"PROXY:K with PROXY one of {', '.join(PRESCREEN_PROXIES)} and K an integer of at least 2"
    if isinstance(value, Prescreen):
        value = str(value)
    if not isinstance(value, str):
        raise UsageError(f"{label} must be {form}, got {value!r}")
    proxy, sep, count = value.strip().partition(":")
    proxy = proxy.strip().lower()
    if not sep or proxy not in PRESCREEN_PROXIES:
        raise UsageError(f"{label} must be {form}, got {value!r}")
    try:
        k = int(count.strip())
    except ValueError:
        raise UsageError(f"{label} must be {form}, got {value!r}") from None
    if k < 2:
        raise UsageError(
            f"{label}: K must be at least 2 (K candidates are proposed per trial and the "
            f"best by {proxy} is trained), got {value!r}"
        )
    return Prescreen(proxy, k)


def stored_definition(directory: Path) -> dict[str, Any]:
    """What the study in ``directory`` stored of its definition (empty for a new study)."""
    from ..storage.store import Store, is_study

    if not is_study(directory):
        return {}
    with Store(directory) as store:
        return {key: store.get_meta(key) for key in STUDY_META_KEYS}


def resolve_search(
    *,
    flags: Mapping[str, Any] | None = None,
    training_flags: Mapping[str, Any] | None = None,
    stored: Mapping[str, Any] | None = None,
    file_search: Mapping[str, Any] | None = None,
    file_training: Mapping[str, Any] | None = None,
    training_source: str = "TRAINING",
    search_source: str = "SEARCH",
    name: Namer = flag_name,
    default_epochs: int = DEFAULT_EPOCHS,
) -> SearchConfig:
    """A search's settings, typed and checked.

    ``flags`` holds ``SEARCH`` options by key and ``training_flags`` training settings
    (``optimizer``, ``loss``, ``metrics``, ``epochs``, ``batch_size``, ``objective``,
    ``direction``); ``None`` means "not given". ``name`` spells a flag's key in errors
    (:func:`~nascompiler.config.settings.flag_name` or ``argument_name``). ``stored`` is the
    study's stored definition (``STUDY_META_KEYS``; ``None`` or empty for a new study).
    ``file_search`` is the space file's ``SEARCH``, whose types its loader checked already
    (``search_source`` names it); ``file_training`` its ``TRAINING`` (``training_source``).
    ``default_epochs`` is the caller's default (the API's is ``DEFAULT_API_EPOCHS``).
    Pure: reads no file, so each precedence rule is tested on its own.
    """
    given = {k: v for k, v in (flags or {}).items() if v is not None}
    unknown = set(given) - set(SEARCH_KEYS)
    if unknown:
        raise ValueError(f"not SEARCH options: {', '.join(sorted(unknown))}")
    check_search_values(given, name)
    if given.get("cluster") is not None and given.get("workers") is not None:
        raise UsageError(
            f"give {name('workers')} (processes on this machine) or {name('cluster')}, not both"
        )
    stored_options, stored_settings = _stored_definition(stored or {})
    file_options = dict(file_search or {})
    options = {**SEARCH_DEFAULTS, **stored_options, **file_options, **given}

    def named(key: str) -> str:
        """``key`` as the layer its value came from spells it."""
        if key in given or key not in file_options:
            return name(key)
        return search_label(key, search_source)

    overrides = {k: v for k, v in (training_flags or {}).items() if v is not None}
    if options["max_epochs"] is not None:
        # The highest rung is the full training: max_epochs is the epochs setting.
        epochs = overrides.get("epochs")
        if epochs is not None and epochs != options["max_epochs"]:
            raise UsageError(
                f"{name('epochs')} {epochs} and {named('max_epochs')} {options['max_epochs']} "
                "disagree; give one of them"
            )
        overrides["epochs"] = options["max_epochs"]
    if "objective" in overrides or "objective" in (file_training or {}):
        # A stored direction and score belong to the stored objective: a new objective
        # (several, say) brings its own, and the study's check then names the real difference.
        stored_settings.pop("direction", None)
        stored_settings.pop("score", None)
    training = TrainingSettings.resolve(
        {"epochs": default_epochs, **stored_settings, **(file_training or {})},
        source=training_source,
        **overrides,
    )
    parsed = {
        key: parse(options[key], named(key)) if options[key] is not None else None
        for key, parse in _PARSERS.items()
    }
    if options["cluster"] is not None and not isinstance(options["cluster"], str):
        raise UsageError(
            f"{named('cluster')} must be an address such as 'tcp://HOST:8786' or 'local:2', "
            f"got {options['cluster']!r}"
        )
    if not isinstance(options["ship_data"], bool):
        raise UsageError(f"{named('ship_data')} must be True or False")
    if given.get("ship_data") and options["cluster"] is None:
        raise UsageError(
            f"{name('ship_data')} goes with {name('cluster')} (there is no cluster to send "
            "the data to)"
        )
    scheduler = configure_scheduler(
        options["scheduler"],
        epochs=training.epochs,
        min_epochs=options["min_epochs"],
        max_epochs=options["max_epochs"],
        reduction_factor=options["reduction_factor"],
        name=named,
    )
    searcher = options["searcher"]
    if searcher not in SEARCHERS:
        raise UsageError(
            f"{named('searcher')}: unknown searcher {searcher!r}; the searchers are: "
            f"{', '.join(SEARCHERS)}"
        )
    if training.multi_objective:
        if SCHEDULERS[scheduler.name].multi_fidelity:
            raise UsageError(
                f"{named('scheduler')} {scheduler.name} promotes trials on one objective; "
                f"with several objectives use {named('scheduler')} full"
            )
        check_objective_count(SEARCHERS[searcher], len(training.objectives))
    prescreen = (
        parse_prescreen(options["prescreen"], named("prescreen"))
        if options["prescreen"] is not None
        else None
    )
    if prescreen is not None and prescreen.proxy == ONESHOT:
        _check_oneshot(training, options["cluster"], named)
    elif options["supernet_epochs"] is not None:
        raise UsageError(
            f"{named('supernet_epochs')} goes with {named('prescreen')} oneshot:K (there is "
            "no supernet to train otherwise)"
        )
    return SearchConfig(
        settings=training,
        searcher=searcher,
        searcher_options=options["searcher_options"],
        seed=options["seed"],
        max_trials=options["max_trials"],
        workers=options["workers"],
        keep_weights=options["keep_weights"],
        scheduler=scheduler,
        cluster=options["cluster"],
        ship_data=options["ship_data"],
        resident=options["resident"],
        prescreen=prescreen,
        supernet_epochs=options["supernet_epochs"],
        **parsed,
    )


def _check_oneshot(training: Any, cluster: Any, named: Any) -> None:
    """``--prescreen oneshot:K`` scores with a supernet trained on this machine's workers,
    on the validation metric the study maximises or minimises."""
    if cluster is not None:
        raise UsageError(
            f"{named('prescreen')} oneshot trains one supernet that the local workers share; "
            f"it does not run on a cluster ({named('cluster')})"
        )
    if training.multi_objective or not training.objective.startswith("val_"):
        raise UsageError(
            f"{named('prescreen')} oneshot scores candidates on one validation metric; "
            f"the objective is {', '.join(training.objective_names)}"
        )


def _stored_definition(
    stored: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A stored study's definition as ``SEARCH`` options and ``TRAINING`` settings, so that
    re-running without flags resumes it as it was created."""
    options = {
        key: stored[key]
        for key in (
            "searcher",
            "seed",
            "searcher_options",
            "prescreen",
            "supernet_epochs",
        )
        if stored.get(key) is not None
    }
    scheduler = stored.get("scheduler")
    if scheduler:
        options["scheduler"] = scheduler["name"]
        if (
            SCHEDULERS.get(scheduler["name"]) is not None
            and SCHEDULERS[scheduler["name"]].multi_fidelity
        ):
            # Its rungs again from their ends and eta: rung_epochs gives the same list.
            options.update(
                min_epochs=scheduler["rungs"][0],
                max_epochs=scheduler["rungs"][-1],
                reduction_factor=scheduler["reduction_factor"],
            )
    return options, stored_training(stored.get("settings"))
