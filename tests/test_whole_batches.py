"""JAX workers train and validate in whole batches (run/data.py): a partial last batch would be a
second JIT compile of every model's step."""

from __future__ import annotations

import numpy as np
import pytest

from nascompiler.run.data import (
    Dataset,
    num_samples,
    top_up_to_whole_batches,
    whole_batch_size,
)


def _data(samples: int, inputs: int = 1) -> Dataset:
    x = np.arange(samples * 3, dtype="float32").reshape(samples, 3)
    x_train = x if inputs == 1 else [x + k for k in range(inputs)]
    return Dataset.from_arrays(x_train, np.arange(samples), x[:5], np.arange(5))


def test_the_training_split_is_topped_up_with_repeats_of_its_own_samples():
    data = _data(130)
    topped, added = top_up_to_whole_batches(data, 64)
    assert added == 62 and num_samples(topped.x_train) == 192 == len(topped.y_train)
    # The original samples come first, unchanged; the repeats are distinct training samples,
    # each with its own label.
    assert (topped.x_train[:130] == data.x_train).all()
    repeats = topped.y_train[130:]
    assert len(set(repeats.tolist())) == 62 and set(repeats) <= set(range(130))
    assert (topped.x_train[130:] == data.x_train[repeats]).all()
    # Validation is never touched, and the repeats are the same every time.
    assert topped.x_val is data.x_val and topped.y_val is data.y_val
    again, _ = top_up_to_whole_batches(_data(130), 64)
    assert (again.y_train == topped.y_train).all()


def test_several_inputs_get_the_same_repeats():
    topped, added = top_up_to_whole_batches(_data(10, inputs=2), 4)
    assert added == 2 and [len(part) for part in topped.x_train] == [12, 12]
    first, second = topped.x_train
    assert (second - first == 1).all()  # row for row the same samples


@pytest.mark.parametrize(
    "samples, batch_size, limit, added",
    [
        (128, 64, None, 0),  # already whole
        (130, 64, 130 * 3 * 4, 0),  # copying it would pass the memory limit
        (3, 64, None, 0),  # one batch, one shape: nothing to top up
    ],
)
def test_when_the_split_is_left_as_it_is(samples, batch_size, limit, added):
    data = _data(samples)
    kwargs = {} if limit is None else {"limit_bytes": limit}
    topped, got = top_up_to_whole_batches(data, batch_size, **kwargs)
    assert got == added
    if not added:
        assert topped is data


@pytest.mark.parametrize(
    "samples, batch_size, expected",
    [
        (10_000, 128, 250),  # Fashion-MNIST's validation split
        (2_000, 128, 250),
        (359, 64, 64),  # a prime's only divisors are 1 and itself: Keras's default
        (100, 128, 100),  # fewer samples than a batch: one batch
        (96, 64, 96),
        (7, 1, 1),
    ],
)
def test_whole_batch_size_divides_the_samples_near_the_batch_size(
    samples, batch_size, expected
):
    size = whole_batch_size(samples, batch_size)
    assert size == expected
    assert samples % size == 0 or size == batch_size
