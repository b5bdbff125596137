"""Where trial workers get their data, and the checks made on it before any training.

A worker loads the data once (from the space file's ``load_data()``, or from arrays the Python
API saved in the study folder) and reports a summary of it: shapes, dtypes and the label range.
The driver checks that summary against the space's Input and the loss, so data that cannot fit
fails in one clear line instead of in every trial.
"""

from __future__ import annotations

import hashlib
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import UsageError

SPLITS = ("x_train", "y_train", "x_val", "y_val")


@dataclass(frozen=True)
class Dataset:
    x_train: Any
    y_train: Any
    x_val: Any
    y_val: Any

    @classmethod
    def from_arrays(
        cls, x_train: Any, y_train: Any, x_val: Any, y_val: Any
    ) -> "Dataset":
        return cls(
            *(
                _as_arrays(a, name)
                for a, name in zip((x_train, y_train, x_val, y_val), SPLITS)
            )
        )

    def summary(self) -> dict[str, Any]:
        return {name: _describe(getattr(self, name)) for name in SPLITS}


def _as_arrays(value: Any, name: str) -> Any:
    if (
        isinstance(value, (list, tuple))
        and value
        and all(hasattr(v, "shape") for v in value)
    ):
        return [np.asarray(v) for v in value]  # several model inputs
    try:
        return np.asarray(value)
    except Exception as exc:
        raise UsageError(f"{name} cannot be read as an array: {exc}") from None


def _describe(value: Any) -> dict[str, Any]:
    if isinstance(value, list):
        return {"inputs": [_describe(v) for v in value]}
    info: dict[str, Any] = {"shape": list(value.shape), "dtype": str(value.dtype)}
    if value.size and value.dtype.kind in "biufc":
        # A fingerprint of the first and last samples: a changed load_data() is noticed on resume.
        ends = np.concatenate([np.ravel(value[:64]), np.ravel(value[-64:])]).astype(
            value.dtype
        )
        info["sample_sha256"] = hashlib.sha256(ends.tobytes()).hexdigest()[:16]
    if value.size and value.dtype.kind in "fc":
        # Integers are always finite; one NaN in a float array makes every trial's loss NaN.
        info["finite"] = bool(np.isfinite(value).all())
    if value.size and np.issubdtype(value.dtype, np.number) and value.ndim <= 2:
        info["min"] = float(np.min(value))
        info["max"] = float(np.max(value))
        with np.errstate(invalid="ignore"):  # NaN is reported by check_data, not here
            info["integer"] = bool(
                np.issubdtype(value.dtype, np.integer) or np.all(np.mod(value, 1) == 0)
            )
    return info


def data_changes(old: Any, new: Any, where: str = "") -> list[str]:
    """What differs between two data summaries, comparing only what both recorded (a study
    from an older version has no sample fingerprints)."""
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in sorted(set(old) & set(new)):
            found += data_changes(
                old[key], new[key], f"{where}.{key}" if where else key
            )
        return found
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        if all(isinstance(v, dict) for v in old + new):
            found = []
            for i, (a, b) in enumerate(zip(old, new)):
                found += data_changes(a, b, f"{where}[{i}]")
            return found
    return [] if old == new else [f"{where}: {old!r} -> {new!r}"]


class DataSource(ABC):
    """A picklable recipe a worker process follows to load the data."""

    @abstractmethod
    def load(self) -> Dataset:
        """The four arrays (or lists of arrays, one per model input)."""

    @abstractmethod
    def describe(self) -> str:
        """Where the data comes from, for messages."""


@dataclass(frozen=True)
class SpaceFileData(DataSource):
    """``load_data()`` of a space file."""

    path: str

    def load(self) -> Dataset:
        from ..spacefile import load_space_file

        (x, y), (xv, yv) = load_space_file(self.path).load_data()
        return Dataset.from_arrays(x, y, xv, yv)

    def describe(self) -> str:
        return f"load_data() of {self.path}"


@dataclass(frozen=True)
class ArrayFolderData(DataSource):
    """Arrays saved as ``.npy`` files (the Python API saves what it was given here)."""

    folder: str

    def load(self) -> Dataset:
        folder = Path(self.folder)
        arrays = []
        for name in SPLITS:
            single = folder / f"{name}.npy"
            if single.exists():
                arrays.append(np.load(single, mmap_mode="r"))
            else:
                parts = sorted(
                    folder.glob(f"{name}.*.npy"),
                    key=lambda p: int(p.name.split(".")[1]),
                )
                if not parts:
                    raise UsageError(f"{folder} has no saved {name}")
                arrays.append([np.load(p, mmap_mode="r") for p in parts])
        return Dataset(*arrays)

    def describe(self) -> str:
        return f"arrays saved in {self.folder}"


def save_arrays(folder: Path, dataset: Dataset) -> ArrayFolderData:
    folder.mkdir(parents=True, exist_ok=True)
    for name in SPLITS:
        value = getattr(dataset, name)
        if isinstance(value, list):
            for i, part in enumerate(value):
                np.save(folder / f"{name}.{i}.npy", part)
        else:
            np.save(folder / f"{name}.npy", value)
    return ArrayFolderData(str(folder))


# ---------------------------------------------------------------------------- whole batches
# On JAX a batch of another shape is another JIT compile of the model's step. A partial last
# batch costs one more compile per model for training and one for validation (about 1.5 s and
# 0.5 s for an MLP on 50,000 / 10,000 Fashion-MNIST images on 2 CPU cores), so the JAX workers
# train and validate in whole batches (benchmarks/backends.py measures it).

# A training split of more bytes than this keeps its partial last batch: topping it up copies it
# into the worker's memory (the API's arrays are memory-mapped).
TOP_UP_LIMIT_BYTES = 2 * 1024**3


def num_samples(x: Any) -> int:
    """The number of samples of an array or of a list of input arrays."""
    if isinstance(x, dict):
        x = next(iter(x.values()))
    elif isinstance(x, (list, tuple)):
        x = x[0]
    return len(x)


def top_up_to_whole_batches(
    dataset: Dataset, batch_size: int, limit_bytes: int = TOP_UP_LIMIT_BYTES
) -> tuple[Dataset, int]:
    """``dataset`` with its training split topped up to a multiple of ``batch_size`` by
    repeating randomly chosen training samples (the same ones every time), and how many it
    added. Keras shuffles the topped-up split every epoch, so an epoch still trains on every
    sample once, plus fewer than ``batch_size`` repeats (PyTorch's ``DistributedSampler`` evens
    out its shards the same way). Unchanged, with 0, when the split is already whole, when it
    is one batch (one shape already), or when copying it would take more than ``limit_bytes``.

    >>> data = Dataset.from_arrays(np.arange(10.0), np.arange(10), np.zeros(2), np.zeros(2))
    >>> topped, added = top_up_to_whole_batches(data, 4)
    >>> len(topped.x_train), added, bool((topped.x_train[:10] == data.x_train).all())
    (12, 2, True)
    """
    samples = num_samples(dataset.x_train)
    missing = -samples % batch_size
    arrays = _parts(dataset.x_train) + _parts(dataset.y_train)
    if (
        not missing
        or samples <= batch_size
        or sum(a.nbytes for a in arrays) > limit_bytes
    ):
        return dataset, 0
    repeats = np.sort(np.random.default_rng(0).choice(samples, missing, replace=False))

    def topped(value: Any) -> Any:
        if isinstance(value, list):
            return [topped(part) for part in value]
        return np.concatenate([value, value[repeats]])

    return (
        Dataset(
            topped(dataset.x_train),
            topped(dataset.y_train),
            dataset.x_val,
            dataset.y_val,
        ),
        missing,
    )


def whole_batch_size(samples: int, batch_size: int) -> int:
    """A batch size for evaluating ``samples`` samples in whole batches: the largest divisor of
    ``samples`` from half to twice ``batch_size``, else ``batch_size``. Metrics average over
    samples, so the batch size does not change them.

    >>> whole_batch_size(10_000, 128), whole_batch_size(1_000, 128), whole_batch_size(1_009, 128)
    (250, 250, 128)
    """
    for size in range(min(2 * batch_size, samples), max(batch_size // 2, 1) - 1, -1):
        if samples % size == 0:
            return size
    return batch_size


def _parts(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


# ---------------------------------------------------------------------------- checks


def check_data(
    summary: dict[str, Any],
    input_shapes: Sequence[tuple],
    output_shape: tuple | None,
    loss: Any,
    source: str,
) -> None:
    """Raise :class:`UsageError` if the data cannot train the space's candidates."""
    for name in SPLITS:
        for k, info in enumerate(_inputs(summary[name])):
            label = name if "inputs" not in summary[name] else f"{name}[{k}]"
            _check_values(info, label, source)
    for split in ("train", "val"):
        xs = _inputs(summary[f"x_{split}"])
        y = summary[f"y_{split}"]
        if len(xs) != len(input_shapes):
            raise UsageError(
                f"{source} gives {len(xs)} input array(s) for x_{split}, but the space has "
                f"{len(input_shapes)} Input(s)"
            )
        n = y["shape"][0] if "shape" in y else None
        for x, expected in zip(xs, input_shapes):
            shape = tuple(x["shape"])
            if not shape or not _fits(shape[1:], expected):
                raise UsageError(
                    f"{source} gives x_{split} of shape {_shape_text(shape)}, but the space's Input expects "
                    f"(samples, {', '.join('any' if d is None else str(d) for d in expected)})"
                )
            if n is not None and shape[0] != n:
                raise UsageError(
                    f"{source} gives {shape[0]} samples in x_{split} but {n} labels in y_{split}"
                )
        _check_labels(y, output_shape, loss, f"y_{split}", source)


def _check_values(info: dict[str, Any], name: str, source: str) -> None:
    """Arrays Keras cannot train on, or that make every trial fail or diverge."""
    dtype = np.dtype(info["dtype"]) if info["dtype"] != "object" else np.dtype(object)
    if dtype.kind not in "biuf":
        what = {"O": "objects", "U": "strings", "S": "bytes"}.get(dtype.kind, "values")
        raise UsageError(
            f"{source} gives {name} of dtype {info['dtype']} ({what}); it must hold numbers "
            "(convert it, e.g. np.asarray(..., dtype='float32'))"
        )
    shape = info["shape"]
    if not shape or shape[0] == 0 or math.prod(shape) == 0:
        raise UsageError(
            f"{source} gives {name} of shape {_shape_text(shape)}, which holds no samples"
        )
    if info.get("finite") is False:
        raise UsageError(
            f"{source} gives {name} with NaN or infinite values; every trial trained on it "
            "would diverge (clean or impute them first)"
        )


def _inputs(info: dict[str, Any]) -> list[dict[str, Any]]:
    return info["inputs"] if "inputs" in info else [info]


def _fits(shape: tuple, expected: tuple) -> bool:
    return len(shape) == len(expected) and all(
        e is None or s == e for s, e in zip(shape, expected)
    )


def _shape_text(shape: Sequence[int]) -> str:
    return (
        "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
    )


def _check_labels(
    y: dict[str, Any], output_shape: tuple | None, loss: Any, name: str, source: str
) -> None:
    if "inputs" in y or output_shape is None or not isinstance(loss, str):
        return
    shape = tuple(y["shape"])
    units = output_shape[-1] if output_shape else None
    if loss == "sparse_categorical_crossentropy":
        if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
            raise UsageError(
                f"{source} gives {name} of shape {_shape_text(shape)}, but loss 'sparse_categorical_crossentropy' "
                "wants one class index per sample; use loss 'categorical_crossentropy' for one-hot labels"
            )
        if y.get("integer") is False:
            raise UsageError(
                f"{source} gives non-integer {name}, but 'sparse_categorical_crossentropy' wants class "
                "indices"
            )
        if units is not None and "max" in y and (y["min"] < 0 or y["max"] >= units):
            raise UsageError(
                f"{source} gives class indices {int(y['min'])}..{int(y['max'])} in {name}, but the model has "
                f"{units} output units (indices 0..{units - 1})"
            )
    elif loss == "categorical_crossentropy":
        if len(shape) != 2 or (units is not None and shape[1] != units):
            raise UsageError(
                f"{source} gives {name} of shape {_shape_text(shape)}, but loss 'categorical_crossentropy' wants "
                f"one-hot rows of {units} classes (samples, {units}); use 'sparse_categorical_crossentropy' for "
                "class indices"
            )
    elif loss == "binary_crossentropy":
        if "max" in y and (y["min"] < 0 or y["max"] > 1):
            raise UsageError(
                f"{source} gives {name} outside [0, 1], but 'binary_crossentropy' wants 0/1 labels"
            )
        per_sample = math.prod(shape[1:]) if len(shape) > 1 else 1
        if units is not None and per_sample != math.prod(output_shape):
            raise UsageError(
                f"{source} gives {name} of shape {_shape_text(shape)}, which does not match the "
                f"model's output {_shape_text((len(shape) and shape[0],) + tuple(output_shape))}"
            )
