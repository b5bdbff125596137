"""Real data sets that work offline, for examples, tests and benchmarks.

- Fashion-MNIST (70,000 28x28 grey images, 10 classes, MIT licence): read from the IDX files of
  Debian's ``dataset-fashion-mnist`` package (``/usr/share/datasets/fashion-mnist``) or from
  Keras' download cache (``~/.keras/datasets/fashion-mnist``). ``keras.datasets`` would try to
  download it, which fails on machines without internet access.
- scikit-learn's digits (1,797 8x8 images, 10 classes): ships inside the scikit-learn wheel.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from .errors import UsageError

FASHION_MNIST_DIRS = (
    "/usr/share/datasets/fashion-mnist",
    "~/.keras/datasets/fashion-mnist",
)
FASHION_MNIST_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

_IDX_TYPES = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}


class DatasetNotFound(UsageError):
    """A data set is not installed; the message says how to install it."""


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzipped or not."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise UsageError(f"{path} is not an IDX file")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    dtype = np.dtype(_IDX_TYPES[data[2]])
    offset = 4 + 4 * ndim
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(data) - offset != expected:
        raise UsageError(
            f"{path} is truncated: expected {expected} bytes of data, found {len(data) - offset}"
        )
    return np.frombuffer(data, dtype=dtype, offset=offset).reshape(dims)


def find_fashion_mnist(search: tuple[str, ...] = FASHION_MNIST_DIRS) -> Path:
    """The folder holding Fashion-MNIST's four IDX files (``.gz`` or not)."""
    for folder in search:
        folder_path = Path(os.path.expanduser(folder))
        if all(
            _idx_file(folder_path, name) is not None
            for name in FASHION_MNIST_FILES.values()
        ):
            return folder_path
    raise DatasetNotFound(
        "Fashion-MNIST is not installed (looked in "
        + ", ".join(search)
        + "); install it with "
        "'sudo apt-get install dataset-fashion-mnist' (Debian/Ubuntu), or put the four IDX files "
        "(train-images-idx3-ubyte.gz, ...) in ~/.keras/datasets/fashion-mnist/"
    )


def _idx_file(folder: Path, name: str) -> Path | None:
    for candidate in (folder / f"{name}.gz", folder / name):
        if candidate.is_file():
            return candidate
    return None


def load_fashion_mnist(
    train_samples: int | None = None,
    test_samples: int | None = None,
    *,
    scale: bool = True,
    channel_axis: bool = True,
    one_hot: bool = False,
    folder: str | os.PathLike | None = None,
):
    """``(x_train, y_train), (x_test, y_test)`` of Fashion-MNIST.

    ``train_samples`` / ``test_samples`` keep the first N of each split (for quick runs).
    Images are float32 in [0, 1] with a trailing channel axis, ``(N, 28, 28, 1)``, unless
    ``scale`` / ``channel_axis`` are false; labels are class indices (uint8) or one-hot float32.
    """
    root = Path(folder) if folder is not None else find_fashion_mnist()
    arrays = {}
    for key, name in FASHION_MNIST_FILES.items():
        path = _idx_file(root, name)
        if path is None:
            raise DatasetNotFound(f"{root} has no {name}(.gz)")
        limit = train_samples if key.endswith("train") else test_samples
        array = read_idx(path)
        arrays[key] = array[:limit] if limit is not None else array
    return _prepare(
        arrays,
        scale=scale,
        channel_axis=channel_axis,
        one_hot=one_hot,
        divisor=255.0,
        classes=10,
    )


def load_digits(
    val_fraction: float = 0.2,
    *,
    seed: int = 0,
    scale: bool = True,
    channel_axis: bool = True,
    one_hot: bool = False,
):
    """scikit-learn's 8x8 digits as ``(x_train, y_train), (x_val, y_val)``, split with a fixed seed."""
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError:
        raise DatasetNotFound(
            "the digits data set comes with scikit-learn; install it with "
            "'pip install scikit-learn' (or the project's [examples] extra)"
        ) from None
    digits = sklearn_digits()
    images = digits.images.astype(np.uint8)  # values 0..16
    labels = digits.target.astype(np.uint8)
    order = np.random.default_rng(seed).permutation(len(images))
    n_val = int(round(len(images) * val_fraction))
    val, train = order[:n_val], order[n_val:]
    arrays = {
        "x_train": images[train],
        "y_train": labels[train],
        "x_test": images[val],
        "y_test": labels[val],
    }
    return _prepare(
        arrays,
        scale=scale,
        channel_axis=channel_axis,
        one_hot=one_hot,
        divisor=16.0,
        classes=10,
    )


def _prepare(
    arrays: dict[str, np.ndarray],
    *,
    scale: bool,
    channel_axis: bool,
    one_hot: bool,
    divisor: float,
    classes: int,
):
    out = {}
    for key in ("x_train", "x_test"):
        x = arrays[key]
        if scale:
            x = x.astype(np.float32) / divisor
        if channel_axis:
            x = x[..., np.newaxis]
        out[key] = x
    for key in ("y_train", "y_test"):
        y = arrays[key]
        out[key] = np.eye(classes, dtype=np.float32)[y] if one_hot else y
    return (out["x_train"], out["y_train"]), (out["x_test"], out["y_test"])
