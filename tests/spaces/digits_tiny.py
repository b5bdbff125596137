"""A tiny, fast search on scikit-learn's digits (the runtime tests' space file)."""

import os

from nascompiler.datasets import load_digits
from nascompiler.layers import Dense, Dropout, Flatten, Input
from nascompiler.ops import Repeat
from nascompiler.space import Choice, HyperSpace, Real


def search_space():
    space = HyperSpace()
    with space.as_default():
        units = Choice([8, 16, 32], name="units")
        x = Input(shape=(8, 8, 1))
        x = Flatten()(x)
        x = Repeat(lambda step: Dense(units, activation="relu"), repeat_times=[1, 2])(x)
        x = Dropout(Real(0.0, 0.2, step=0.1, name="dropout"))(x)
        Dense(10, activation=Choice(["softmax", "NOT_AN_ACTIVATION"], name="head"))(x)
    return space


def load_data():
    (x, y), (xv, yv) = load_digits(val_fraction=0.2, seed=0)
    # Tests slow trials down to have time to kill the search mid-trial.
    repeat = int(os.environ.get("DIGITS_TINY_REPEAT", "1"))
    return (x.repeat(repeat, axis=0), y.repeat(repeat, axis=0)), (xv, yv)


TRAINING = {"epochs": 1, "batch_size": 64}
