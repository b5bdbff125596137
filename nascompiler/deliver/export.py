"""``nascompile export``: hand over a trained candidate as a set of files a team can check in.

The set, for ``--out best_model.py``:

- ``best_model.py``: the file the trial trained, byte for byte, with one more docstring section
  saying what it scored, on what data, with which settings, when, and which files belong to it;
- ``best_model.weights.h5``: the trial's weights, when the search kept them: those of the epoch
  its objective is from (its best epoch under ``score best``, the default; its last under
  ``score last``), which the docstring's ``objective:`` line names;
- ``test_best_model.py`` + ``best_model.golden.npz``: a golden test (keras and numpy; runs alone
  or under pytest) of the trained model's outputs on a few validation samples, its shapes and its
  parameter count (not with ``--no-test``, and only when there are weights to test);
- ``train_best_model.py`` with ``--with-training``: a standalone script that trains the module
  from scratch with the search's recipe;
- ``best_model.keras`` / ``best_model_savedmodel/`` / ``best_model.tflite`` / ``best_model.onnx``
  with ``--format``: made by Keras' exporters, each loaded back and checked at export time.

``export --pareto DIR`` writes such a set per member of a multi-objective study's Pareto front,
``DIR/pareto_<place>.py`` (place 1 is best in the first objective), each docstring stating its
place and its objectives, and ``DIR/pareto.json``, the front as data.

The module's ``files:`` line is how export knows its own files: re-exporting to the same name
replaces them and removes those the new export does not write (a weights file of another
candidate never stays beside the module), and any other existing file is left alone unless
``--force`` is given.
"""

from __future__ import annotations

import ast
import datetime
import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .._version import __version__
from ..codegen import add_docstring_section
from ..config.settings import TrainingSettings
from ..errors import UsageError
from ..fileio import (
    FileRefused,
    Product,
    check_name,
    check_target,
    head,
    install,
    remove_product,
    temporary_folder,
    text_marker,
    write_atomic,
)
from ..kinds import TrialStatus
from ..run.data import SPLITS, ArrayFolderData, DataSource, SpaceFileData
from ..search.console import format_objective, objective_text
from ..storage.pareto import study_pareto_front
from ..storage.store import Store, TrialRecord

EXPORT_MARKER = "Exported by nascompiler"
FILES_LABEL = "files: "
# The golden test's tolerance per Keras backend (absolute and relative). The golden outputs are
# computed on the export's backend (TensorFlow by default); the same backend on another machine
# differs only by the order of float32 sums, JAX and PyTorch use other kernels (the test suite
# measures JAX against TensorFlow, see tests/test_export.py).
GOLDEN_TOLERANCE = {"tensorflow": 1e-5, "jax": 1e-4, "torch": 1e-4}


@dataclass(frozen=True)
class Exported:
    trial: TrialRecord
    module: Path
    weights: Path | None
    files: tuple[
        Path, ...
    ] = ()  # everything written besides the module, weights included
    removed: tuple[Path, ...] = ()  # stale files of an earlier export to the same name
    checks: tuple[str, ...] = field(default=())  # one line per checked artifact
    notes: tuple[str, ...] = field(default=())  # what was not written, and why


def choose_trial(
    store: Store, *, trial: int | None = None, candidate: str | None = None
) -> TrialRecord:
    """The trial to export: ``--trial N``, ``--candidate ID`` (a unique prefix will do) or the best."""
    settings = TrainingSettings.from_json(store.get_meta("settings"))
    if trial is not None:
        record = store.trial(trial)
        if record is None:
            raise UsageError(f"{store.directory} has no trial #{trial}")
    elif candidate is not None:
        matches = [
            t
            for t in store.trials()
            if t.candidate_id.startswith(candidate) and t.status == TrialStatus.COMPLETE
        ]
        ids = {t.candidate_id for t in matches}
        if not ids:
            raise UsageError(
                f"{store.directory} has no complete trial of a candidate {candidate!r}"
            )
        if len(ids) > 1:
            raise UsageError(
                f"{candidate!r} matches several candidates: {', '.join(sorted(ids))}"
            )
        record = matches[0]
    else:
        board = store.leaderboard(settings.direction)
        if not board:
            raise UsageError(no_complete_trial(store))
        record = board[0]
    if record.status == TrialStatus.DUPLICATE and record.duplicate_of is not None:
        record = store.trial(record.duplicate_of) or record
    if record.status == TrialStatus.FAILED:
        raise UsageError(
            f"trial #{record.number} failed ({record.error}); there is no trained model to export"
        )
    if record.status == TrialStatus.RUNNING:
        raise UsageError(
            f"trial #{record.number} has not finished; resume the search to run it"
        )
    if record.status in (TrialStatus.SCREENED, TrialStatus.OVER_BUDGET):
        raise UsageError(
            f"trial #{record.number} was never trained ({record.error}); there is no trained "
            "model to export"
        )
    return record


def no_complete_trial(store: Store) -> str:
    """Why a study has nothing to export, in one line: no trial yet, or trials that all
    failed (and where their reasons are), or trials that have not finished."""
    import shlex

    counts = store.counts()
    where = store.directory
    total = sum(counts.values())
    if total == 0:
        return f"{where} has no trial yet; run nascompile search first"
    study = shlex.quote(str(where))
    failed = counts.get(TrialStatus.FAILED, 0)
    if failed == total:
        return (
            f"{where} has no complete trial: all {failed} of its trials failed; see why with "
            f"nascompile trials --study {study} (and the worker logs in {store.layout.logs})"
        )
    parts = [
        f"{n} {status}"
        for status, n in sorted(counts.items())
        if n and status != "complete"
    ]
    return (
        f"{where} has no complete trial ({', '.join(parts)}); see them with nascompile trials "
        f"--study {study}, or resume the search to run more"
    )


@dataclass(frozen=True)
class _Plan:
    """The paths of one export, all in the module's folder."""

    out: Path
    weights: Path | None
    test: Path | None
    golden: Path | None
    training: Path | None
    artifacts: tuple[tuple[str, Path], ...]

    @property
    def files(self) -> list[Path]:
        paths = [self.weights, self.test, self.golden, self.training]
        return [p for p in paths if p is not None] + [p for _, p in self.artifacts]


def export_trial(
    store: Store,
    record: TrialRecord,
    out: Path,
    force: bool = False,
    *,
    test: bool = True,
    training: bool = False,
    data_file: Path | None = None,
    formats: Sequence[str] = (),
    extra_lines: Sequence[str] = (),
) -> Exported:
    """Write the export set of ``record`` for the module ``out`` (see the module docstring);
    ``extra_lines`` go into its docstring section after the trial's line."""
    from .deploy import FORMATS, check_formats_available

    source_path = store.layout.candidate_path(record.candidate_id)
    if not source_path.exists():
        raise UsageError(f"{source_path} is missing; the study folder is incomplete")
    if out.suffix != ".py":
        raise UsageError(f"--out must name a .py file, got {out}")
    if not out.stem.isidentifier():
        raise UsageError(
            f"--out must name a module that Python can import (letters, digits, underscores), got {out.name}"
        )
    if data_file is not None and not Path(data_file).is_file():
        raise UsageError(f"--data {data_file}: no such file")
    formats = tuple(dict.fromkeys(formats))
    check_formats_available(formats)
    weights_src = store.layout.weights_path(record.candidate_id)
    has_weights = weights_src.exists()
    if formats and not has_weights:
        raise UsageError(
            f"trial #{record.number}'s weights were not kept (a search keeps only the best few, "
            "see --keep-weights); --format needs trained weights"
        )
    folder, stem = out.parent, out.stem
    plan = _Plan(
        out=out,
        weights=folder / f"{stem}.weights.h5" if has_weights else None,
        test=folder / f"test_{stem}.py" if test and has_weights else None,
        golden=folder / f"{stem}.golden.npz" if test and has_weights else None,
        training=folder / f"train_{stem}.py" if training else None,
        artifacts=tuple((f, folder / (stem + FORMATS[f].suffix)) for f in formats),
    )
    stale, product = _check_ownership(plan, force)
    notes = []
    if test and not has_weights:
        notes.append(
            "no golden test: the trial's weights were not kept, and the test checks the trained model"
        )

    settings = TrainingSettings.from_json(store.get_meta("settings"))
    staging = temporary_folder(folder)
    checks: list[str] = []
    try:
        staged: list[tuple[Path, Path]] = []  # (staged file, final path)
        if plan.golden is not None or plan.artifacts:
            checks = _stage_model_files(
                store,
                record,
                plan,
                source_path,
                weights_src,
                data_file,
                staging,
                staged,
            )
        if plan.weights is not None:
            shutil.copyfile(weights_src, staging / plan.weights.name)
            staged.append((staging / plan.weights.name, plan.weights))
        if plan.training is not None:
            text = _training_script(store, record, settings, plan, data_file)
            (staging / plan.training.name).write_text(text, encoding="utf-8")
            staged.append((staging / plan.training.name, plan.training))
        # The module first: from here on its files: line names every file of the set, so an
        # export cut short is still recognised (and completed or cleaned) by the next one.
        source = source_path.read_text(encoding="utf-8")
        exported = add_docstring_section(
            source,
            "Search result",
            _result_lines(store, record, settings, plan, checks, extra_lines),
        )
        write_atomic(out, exported, EXPORTED_MODULE, force)
        for tmp, final in sorted(staged, key=lambda pair: str(pair[1])):
            install(tmp, final, product(final), force)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    removed = []
    for path in stale:
        if remove_product(path, product(path)) or (
            force and remove_product(path, Product(WRITER, lambda p: True))
        ):
            removed.append(path)
    return Exported(
        record,
        out,
        plan.weights,
        tuple(plan.files),
        tuple(removed),
        tuple(checks),
        tuple(notes),
    )


WRITER = "nascompile export"
EXPORTED_MODULE = Product(WRITER, text_marker(EXPORT_MARKER))
_HDF5 = b"\x89HDF\r\n\x1a\n"
_ZIP = (b"PK\x03\x04", b"PK\x05\x06")
_SAVEDMODEL_ENTRIES = {
    "saved_model.pb",
    "saved_model.pbtxt",
    "fingerprint.pb",
    "keras_metadata.pb",
    "variables",
    "assets",
}


def _is_savedmodel(path: Path) -> bool:
    """A SavedModel folder: its graph file, and nothing a SavedModel does not hold."""
    try:
        names = {entry.name for entry in path.iterdir()}
    except OSError:
        return False
    return "saved_model.pb" in names and names <= _SAVEDMODEL_ENTRIES


def _signatures() -> dict[str, tuple[Callable[[Path], bool], bool]]:
    """What each file of an export set looks like, by its part (see :func:`set_parts`): a
    recogniser, and whether it is a folder."""
    from .deploy import FORMATS

    written_by = text_marker(f"written by {WRITER}.", size=1024)
    parts: dict[str, tuple[Callable[[Path], bool], bool]] = {
        "weights": (lambda p: head(p, 8) == _HDF5, False),
        "golden": (lambda p: head(p, 4) in _ZIP, False),
        "test": (written_by, False),
        "training": (written_by, False),
        "keras": (lambda p: head(p, 4) in _ZIP, False),
        "tflite": (lambda p: head(p, 8)[4:8] == b"TFL3", False),
        "onnx": (
            lambda p: head(p, 1) == b"\x08",
            False,
        ),  # ModelProto's ir_version field
        "savedmodel": (_is_savedmodel, True),
    }
    assert set(FORMATS) <= set(parts)
    return parts


def set_parts(stem: str) -> dict[str, str]:
    """Every file name an export to ``<stem>.py`` can write beside it, with its part."""
    from .deploy import FORMATS

    names = {
        f"{stem}.weights.h5": "weights",
        f"test_{stem}.py": "test",
        f"{stem}.golden.npz": "golden",
        f"train_{stem}.py": "training",
    }
    names.update({stem + f.suffix: name for name, f in FORMATS.items()})
    return names


def _set_product(module: Path, listed: Sequence[str]) -> Callable[[Path], Product]:
    """The product of each file beside ``module``: its own only when the earlier export's
    files: line names it, its name is one the set has, and it looks like that part (so a
    file or folder the user put there, or named on an edited files: line, is never taken).
    """
    parts = set_parts(module.stem)
    signatures = _signatures()
    listed = set(listed)

    def product(path: Path) -> Product:
        part = parts.get(path.name)
        if part is None:  # not a name of the set: never the export's own
            return Product(WRITER, lambda p: False)
        recognise, directory = signatures[part]
        return Product(
            WRITER,
            lambda p: p.parent == module.parent and p.name in listed and recognise(p),
            directory=directory,
        )

    return product


def _check_ownership(
    plan: _Plan, force: bool
) -> tuple[list[Path], Callable[[Path], Product]]:
    """Refuse, before any work, to overwrite what export did not write and names the file
    system cannot hold; return the stale files of an earlier export to the same module (its
    own: see :func:`_set_product`) and the product of each file of the set."""
    out = plan.out
    for path in [out, *plan.files]:
        check_name(path, "--out")
    previous: list[str] = []
    if check_target(out, EXPORTED_MODULE, force) and EXPORTED_MODULE.recognise(out):
        previous = _listed_files(out.read_text(encoding="utf-8", errors="replace"))
    product = _set_product(out, previous)
    new = plan.files
    for path in new:
        check_target(path, product(path), force)
    folder = out.parent
    stale = [
        folder / name
        for name in sorted(previous)
        if folder / name not in new and product(folder / name).recognise(folder / name)
    ]
    # A weights file beside a module whose trial kept none would load into it without
    # complaint (same shapes, another candidate's values): it must not stay.
    default_weights = folder / f"{out.stem}.weights.h5"
    # (check_target with force=True: a folder or a link there is refused all the same.)
    if (
        plan.weights is None
        and default_weights not in stale
        and check_target(default_weights, product(default_weights), force=True)
    ):
        if not force:
            raise FileRefused(
                f"{default_weights} exists and was not written by nascompile export; this trial's "
                "weights were not kept, so it would sit beside a module it does not belong to; "
                "move it away or pass --force (which deletes it)"
            )
        stale.append(default_weights)
    return stale, product


def _listed_files(module_text: str) -> list[str]:
    """The files: line of an exported module's docstring (plain names in the module's folder)."""
    try:
        doc = ast.get_docstring(ast.parse(module_text), clean=False) or ""
    except SyntaxError:
        return []
    for line in doc.splitlines():
        line = line.strip()
        if line.startswith(FILES_LABEL):
            names = [n.strip() for n in line[len(FILES_LABEL) :].split(",")]
            # Only plain names: an edited line cannot make export delete outside its folder.
            return [
                n
                for n in names
                if n
                and not n.startswith("(")
                and n not in (".", "..")
                and "/" not in n
                and os.sep not in n
            ]
    # An export from before the files: line owned its weights file, named on its weights: line.
    for line in doc.splitlines():
        line = line.strip()
        if line.startswith("weights: ") and line.endswith("'))"):
            name = line[len("weights: ") :].split(" ", 1)[0]
            if name.endswith(".weights.h5") and "/" not in name:
                return [name]
    return []


def _data_source(store: Store, data_file: Path | None) -> DataSource:
    """Where the validation data comes from: ``--data``, the arrays the Python API saved in the
    study, or the space file the search recorded."""
    if data_file is not None:
        return SpaceFileData(str(data_file))
    saved = store.layout.data
    if saved.is_dir():
        return ArrayFolderData(str(saved))
    space_file = store.get_meta("space_file")
    if space_file and Path(space_file).is_file():
        return SpaceFileData(str(space_file))
    where = (
        f"its space file {space_file} is not found from here"
        if space_file
        else "the study does not say where its data came from"
    )
    raise UsageError(
        f"the golden test and --format need the validation data, but {where}; pass --data space.py "
        "(or --no-test)"
    )


def _stage_model_files(
    store: Store,
    record: TrialRecord,
    plan: _Plan,
    source_path: Path,
    weights_src: Path,
    data_file: Path | None,
    staging: Path,
    staged: list[tuple[Path, Path]],
) -> list[str]:
    """Golden files and artifacts, written into ``staging``; returns one line per check."""
    from .deploy import native_stderr_held

    with native_stderr_held():  # TensorFlow's start-up lines, unless something fails
        return _stage_model_files_quietly(
            store, record, plan, source_path, weights_src, data_file, staging, staged
        )


def _stage_model_files_quietly(
    store: Store,
    record: TrialRecord,
    plan: _Plan,
    source_path: Path,
    weights_src: Path,
    data_file: Path | None,
    staging: Path,
    staged: list[tuple[Path, Path]],
) -> list[str]:
    import keras

    from ..codegen.products import golden_test_source
    from . import deploy

    dataset = _data_source(store, data_file).load()
    model = deploy.load_trained_model(source_path, weights_src)
    inputs = deploy.golden_inputs(dataset.x_val)
    expected = deploy.predict(model, inputs)
    checks = []
    for name, final in plan.artifacts:
        tmp = staging / final.name
        try:
            deploy.write_artifact(model, name, tmp)
            got = deploy.artifact_outputs(name, tmp, inputs)
        except UsageError:
            raise
        except Exception as exc:  # a converter's failure, said in one line
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise UsageError(
                f"--format {name}: {type(exc).__name__}: {first[:300]}"
            ) from exc
        worst = deploy.compare(name, got, expected)
        checks.append(
            f"{final.name}: loaded with {deploy.FORMATS[name].runtime}, outputs within "
            f"{worst:.1e} of the Keras model's"
        )
        staged.append((tmp, final))
    if plan.golden is not None and plan.test is not None:
        arrays = {f"input_{i}": x for i, x in enumerate(inputs)}
        arrays.update({f"output_{i}": y for i, y in enumerate(expected)})
        with open(staging / plan.golden.name, "wb") as f:
            np.savez(f, **arrays)
        staged.append((staging / plan.golden.name, plan.golden))
        text = golden_test_source(
            module_file=plan.out.name,
            weights_file=plan.weights.name if plan.weights else "",
            golden_file=plan.golden.name,
            test_file=plan.test.name,
            samples=len(inputs[0]),
            parameters=int(model.count_params()),
            input_shapes=deploy.shapes(model.inputs),
            output_shapes=deploy.shapes(model.outputs),
            tolerance=GOLDEN_TOLERANCE,
            keras_version=keras.__version__,
            backend=keras.backend.backend(),
        )
        (staging / plan.test.name).write_text(text, encoding="utf-8")
        staged.append((staging / plan.test.name, plan.test))
    keras.backend.clear_session()
    return checks


def _training_script(
    store: Store,
    record: TrialRecord,
    settings: TrainingSettings,
    plan: _Plan,
    data_file: Path | None,
) -> str:
    from ..codegen.products import training_script_source

    assert plan.training is not None
    data_rel = None
    if data_file is not None:
        # Relative to the script when near it (an export folder and its space file move
        # together in a repository), else absolute.
        absolute = Path(data_file).resolve()
        data_rel = os.path.relpath(absolute, plan.out.parent.resolve())
        if data_rel.split(os.sep).count(os.pardir) > 3:
            data_rel = str(absolute)
        data_rel = data_rel.replace(os.sep, "/")
    searched = {k: v[-1] for k, v in sorted(record.metrics.items()) if v}
    return training_script_source(
        module_file=plan.out.name,
        script_file=plan.training.name,
        default_weights=f"{plan.out.stem}.retrained.weights.h5",
        trial_number=record.number,
        study=str(store.directory),
        optimizer=settings.optimizer,
        loss=settings.loss,
        metrics=settings.metrics,
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        seed=record.seed,
        searched=searched,
        data_file=data_rel,
        data_text=_data_text(store.get_meta("data_summary")),
    )


def _epoch_text(record: TrialRecord, settings: TrainingSettings) -> str:
    """Which epoch the objective (and so the kept weights) is from, for the docstring."""
    epoch, trained = record.objective_epoch, record.epochs
    if epoch is None or not trained:
        return ""
    which = "its best" if settings.score == "best" else "its last"
    return f", at epoch {epoch} of {trained} ({which}; the weights are that epoch's)"


def _result_lines(
    store: Store,
    record: TrialRecord,
    settings: TrainingSettings,
    plan: _Plan,
    checks: Sequence[str],
    extra_lines: Sequence[str] = (),
) -> list[str]:
    board = store.leaderboard(settings.direction)
    rank = next((i for i, t in enumerate(board, 1) if t.number == record.number), None)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    last = ", ".join(f"{k}={v[-1]:.4g}" for k, v in sorted(record.metrics.items()) if v)
    lines = [
        f"{EXPORT_MARKER} {__version__} on {now} from study {store.directory}.",
        f"trial #{record.number}, candidate {record.candidate_id}"
        + (f", rank {rank} of {len(board)} complete trials" if rank else ""),
        *extra_lines,
        f"objective: {settings.objective} = {format_objective(record.objective)} ({settings.direction})"
        + _epoch_text(record, settings),
        f"last epoch: {last}" if last else "last epoch: (no metrics recorded)",
        (
            f"parameters: {record.params:,}"
            if record.params is not None
            else "parameters: unknown"
        ),
        f"data: {_data_text(store.get_meta('data_summary'))}",
        f"training: {settings.describe()}, seed={record.seed}",
    ]
    if plan.weights is not None:
        name = plan.weights.name
        lines.append(
            f"weights: {name} (model = build_model(); model.load_weights('{name}'))"
        )
    else:
        lines.append(
            "weights: not kept for this trial (only the best few are); the module is the architecture"
        )
    if plan.test is not None and plan.golden is not None:
        lines.append(
            f"golden test: python {plan.test.name} or pytest {plan.test.name} (outputs on {plan.golden.name}, shapes, parameters)"
        )
    if plan.training is not None:
        lines.append(
            f"training script: python {plan.training.name} (this recipe, from scratch)"
        )
    lines += [f"format {line}" for line in checks]
    files = [p.name for p in plan.files]
    lines.append(FILES_LABEL + (", ".join(files) if files else "(the module alone)"))
    return lines


def _data_text(summary: dict | None) -> str:
    if not summary:
        return "unknown"
    parts = []
    for name in SPLITS:
        arrays = summary[name].get("inputs", [summary[name]])
        shapes = " + ".join(str(tuple(a["shape"])) for a in arrays)
        parts.append(f"{name} {shapes} {arrays[0]['dtype']}")
    return ", ".join(parts)


PARETO_INDEX = "pareto.json"
PARETO_PRODUCT = Product(WRITER, text_marker('"front": [', size=1 << 20))
_PARETO_MODULE = re.compile(r"pareto_(\d+)\.py")


@dataclass(frozen=True)
class ParetoExport:
    members: tuple[Exported, ...]
    index: Path
    removed: tuple[Path, ...]  # sets of an earlier, larger front in the same folder


def export_pareto(
    store: Store,
    folder: Path,
    force: bool = False,
    *,
    test: bool = True,
    training: bool = False,
    data_file: Path | None = None,
    formats: Sequence[str] = (),
) -> ParetoExport:
    """Write the export set of every member of the study's Pareto front into ``folder``, as
    ``pareto_<place>.py``, and the front as ``pareto.json``. An earlier front's modules beyond
    the new front's size (exported modules, recognised by their marker) are removed with their
    files, so the folder holds exactly the current front."""
    settings = TrainingSettings.from_json(store.get_meta("settings"))
    if not settings.multi_objective:
        raise UsageError(
            f"{store.directory} optimises one objective ({settings.objective}), so it has no "
            "trade-off to export; use --best, or search with --objective given several times"
        )
    front = study_pareto_front(store, settings)
    if not front:
        raise UsageError(no_complete_trial(store))
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--pareto {folder}: it is a file, not a folder")
    names, directions = settings.objective_names, settings.directions
    members = []
    for place, record in enumerate(front, start=1):
        values = ", ".join(
            f"{n} = {objective_text(n, record.objective_values.get(n))} ({d})"
            for n, d in zip(names, directions)
        )
        members.append(
            export_trial(
                store,
                record,
                folder / f"pareto_{place}.py",
                force,
                test=test,
                training=training,
                data_file=data_file,
                formats=formats,
                extra_lines=[
                    f"pareto front: place {place} of {len(front)} (ordered by {names[0]}); "
                    "no trial of the study is better in every objective",
                    f"objectives: {values}",
                ],
            )
        )
    removed = []
    for path in sorted(folder.glob("pareto_*.py")):
        match = _PARETO_MODULE.fullmatch(path.name)
        if not match or int(match.group(1)) <= len(front):
            continue
        if not (path.is_file() and not path.is_symlink()):
            continue
        if not EXPORTED_MODULE.recognise(path):
            continue  # not written by export: left alone
        text = path.read_text(encoding="utf-8", errors="replace")
        listed = _listed_files(text)
        product = _set_product(path, listed)
        # Only the stale module's own set (see _set_product): an edited files: line cannot
        # reach anything else.
        for name in listed:
            if remove_product(folder / name, product(folder / name)):
                removed.append(folder / name)
        if remove_product(path, EXPORTED_MODULE):
            removed.append(path)
    entries = [
        {
            "place": place,
            "module": exported.module.name,
            "weights": exported.weights.name if exported.weights else None,
            "trial": exported.trial.number,
            "candidate_id": exported.trial.candidate_id,
            "objectives": {n: exported.trial.objective_values.get(n) for n in names},
        }
        for place, exported in enumerate(members, start=1)
    ]
    index = {
        "study": str(store.directory),
        "objectives": [{"name": n, "direction": d} for n, d in zip(names, directions)],
        "front": entries,
    }
    path = write_atomic(
        folder / PARETO_INDEX, json.dumps(index, indent=2) + "\n", PARETO_PRODUCT, force
    )
    return ParetoExport(tuple(members), path, tuple(removed))
