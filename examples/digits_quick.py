"""A quick search on scikit-learn's 8x8 digits: small conv nets, about a minute on 2 CPU cores.

nascompile search examples/digits_quick.py
nascompile export --best

The pixels (0 to 16) are scaled inside the model (Rescaling), so the exported model takes the
raw images.
"""

from nascompiler.datasets import load_digits
from nascompiler.layers import (
    Activation,
    BatchNormalization,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAveragePooling2D,
    Input,
    Rescaling,
)
from nascompiler.ops import ModuleChoice, Optional, Repeat, Sequential
from nascompiler.space import Bool, Choice, Dynamic, HyperSpace, Real


def conv_block(step, filters, kernel_size, batch_norm):
    """Conv2D (doubling its filters at each step), optional BatchNormalization, ReLU."""
    conv = Conv2D(
        filters=Dynamic(lambda filters: filters * 2**step, filters=filters),
        kernel_size=kernel_size,
        padding="same",
    )
    bn = Optional(BatchNormalization(), keep_link=True, hp_opt=batch_norm)
    return Sequential([conv, bn, Activation("relu")])


def search_space():
    space = HyperSpace()
    with space.as_default():
        filters = Choice([8, 16], name="filters")
        kernel_size = Choice([(3, 3), (5, 5)], name="kernel_size")
        batch_norm = Bool(name="batch_norm")

        x = Input(shape=(8, 8, 1), name="digit")
        x = Rescaling(1 / 16)(x)  # the raw pixels are 0..16
        x = Repeat(
            lambda step: conv_block(step, filters, kernel_size, batch_norm),
            repeat_times=[1, 2],
        )(x)
        x = ModuleChoice(
            [Flatten(), GlobalAveragePooling2D()], hp_or=Choice([0, 1], name="head")
        )(x)
        x = Dense(Choice([16, 32, 64], name="dense_units"), activation="relu")(x)
        x = Dropout(Real(0.0, 0.4, step=0.1, name="dropout"))(x)
        Dense(10, activation="softmax", name="classes")(x)
    return space


def load_data():
    # 1,437 training and 360 validation images, split with a fixed seed; raw pixels 0..16.
    return load_digits(val_fraction=0.2, seed=0, scale=False)


TRAINING = {
    "optimizer": "adam",
    "loss": "sparse_categorical_crossentropy",
    "metrics": ["accuracy"],
    "epochs": 8,
    "batch_size": 32,
}

SEARCH = {"searcher": "evolution", "max_trials": 12, "seed": 0}
