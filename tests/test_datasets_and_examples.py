"""Offline data loaders and the example space files."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import numpy as np
import pytest

from nascompiler.datasets import (
    DatasetNotFound,
    find_fashion_mnist,
    load_digits,
    load_fashion_mnist,
    read_idx,
)
from nascompiler.ir import specialize
from nascompiler.run.data import Dataset, check_data
from nascompiler.spacefile import load_space_file

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.py"))


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        d.to_bytes(4, "big") for d in array.shape
    )
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def test_read_idx_round_trips_and_rejects_broken_files(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a.gz", images)
    write_idx(tmp_path / "b", images)
    assert np.array_equal(read_idx(tmp_path / "a.gz"), images)
    assert np.array_equal(read_idx(tmp_path / "b"), images)
    (tmp_path / "short").write_bytes((tmp_path / "b").read_bytes()[:-3])
    with pytest.raises(Exception, match="truncated"):
        read_idx(tmp_path / "short")
    (tmp_path / "text").write_text("hello")
    with pytest.raises(Exception, match="not an IDX file"):
        read_idx(tmp_path / "text")


def test_fashion_mnist_from_any_folder_and_a_clear_error_when_missing(tmp_path):
    names = {
        "train-images-idx3-ubyte.gz": np.full((5, 28, 28), 255),
        "train-labels-idx1-ubyte.gz": np.arange(5),
        "t10k-images-idx3-ubyte.gz": np.zeros((3, 28, 28)),
        "t10k-labels-idx1-ubyte.gz": np.arange(3),
    }
    for name, array in names.items():
        write_idx(tmp_path / name, array)
    assert find_fashion_mnist((str(tmp_path / "nowhere"), str(tmp_path))) == tmp_path
    (x, y), (xt, yt) = load_fashion_mnist(folder=tmp_path, one_hot=True)
    assert x.shape == (5, 28, 28, 1) and x.dtype == np.float32 and float(x.max()) == 1.0
    assert (
        y.shape == (5, 10)
        and np.array_equal(y.argmax(1), np.arange(5))
        and xt.shape == (3, 28, 28, 1)
    )
    with pytest.raises(DatasetNotFound, match="apt-get install dataset-fashion-mnist"):
        find_fashion_mnist((str(tmp_path / "nowhere"),))


def test_real_fashion_mnist_and_digits():
    (x, y), (xt, yt) = load_fashion_mnist(train_samples=1000, test_samples=100)
    assert x.shape == (1000, 28, 28, 1) and xt.shape == (100, 28, 28, 1)
    assert set(np.unique(y)) <= set(range(10)) and len(np.unique(y)) == 10
    (x, y), (xv, yv) = load_digits(val_fraction=0.2, seed=0)
    assert (
        x.shape[1:] == (8, 8, 1)
        and len(x) + len(xv) == 1797
        and abs(len(xv) - 359) <= 1
    )
    (x2, _), _ = load_digits(val_fraction=0.2, seed=0)
    assert np.array_equal(x, x2), "the split is fixed by its seed"


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_space_files_compile_and_their_data_fits(example):
    space = load_space_file(example)
    ir = space.compile()
    graph = specialize(ir, ir.sample(random.Random(0)))
    (x, y), (xv, yv) = space.load_data()
    summary = Dataset.from_arrays(x, y, xv, yv).summary()
    output = graph.op(graph.outputs[0]).shape
    input_shapes = [tuple(ir.nodes[i].arg("shape")) for i in ir.inputs]
    check_data(
        summary,
        input_shapes,
        output,
        space.training.get("loss", "sparse_categorical_crossentropy"),
        str(example),
    )
