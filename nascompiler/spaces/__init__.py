"""The seed's three search spaces, written in nascompiler's DSL.

``dnn_search_space`` and ``cnn_search_space`` are the Hypernets documentation's DNN and CNN
spaces; ``enas_micro_search_space`` is its ENAS micro space (Pham et al., 2018). Their
signatures are the seed's, including its spelling ``reduce_facotr_choices``.
"""

from __future__ import annotations

import itertools

from ..layers import (
    Activation,
    AveragePooling2D,
    BatchNormalization,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Input,
    MaxPooling2D,
)
from ..ops import ModuleChoice, Optional, Permutation, Repeat, Sequential
from ..space import Bool, Choice, Dynamic, HyperSpace, Real
from .enas_micro import enas_micro_search_space

__all__ = ["dnn_search_space", "cnn_search_space", "enas_micro_search_space"]


def dnn_block(
    hp_dnn_units, hp_reduce_factor, hp_seq, hp_use_bn, hp_dropout, hp_activation, step
):
    """Dense, then activation / optional BatchNormalization / dropout in a searched order."""
    # Step 0 keeps the chosen width; step k shrinks it by reduce_factor ** k.
    block_units = Dynamic(
        lambda_fn=lambda units, reduce_factor: (
            units if step == 0 else units * (reduce_factor**step)
        ),
        units=hp_dnn_units,
        reduce_factor=hp_reduce_factor,
    )
    dense = Dense(units=block_units)
    act = Activation(activation=hp_activation)
    optional_bn = Optional(BatchNormalization(), keep_link=True, hp_opt=hp_use_bn)
    dropout = Dropout(rate=hp_dropout)
    perm_act_bn_dropout = Permutation([act, optional_bn, dropout], hp_seq=hp_seq)
    return Sequential([dense, perm_act_bn_dropout])


def dnn_search_space(
    input_shape,
    output_units,
    output_activation,
    units_choices=[200, 500, 1000],
    reduce_facotr_choices=[1, 0.8, 0.5],
    layer_num_choices=[2, 3, 4],
    activation_choices=["relu", "tanh"],
    *,
    preprocess=None,
):
    """A stack of 2-4 dense blocks whose widths shrink geometrically, then a Dense head.

    ``preprocess``: a function applied to the input inside the space, such as
    ``lambda x: Rescaling(1 / 255)(x)``, so that the model (and its export) takes raw data.
    """
    space = HyperSpace()
    with space.as_default():
        hp_dnn_units = Choice(units_choices)
        hp_reduce_factor = Choice(reduce_facotr_choices)
        hp_use_bn = Bool()
        if len(activation_choices) == 1:
            hp_activation = activation_choices[0]
        else:
            hp_activation = Choice(activation_choices)
        hp_dropout = Real(0.0, 0.5, step=0.1)
        hp_seq = Choice([seq for seq in itertools.permutations(range(3))])

        input = Input(shape=input_shape)
        if preprocess is not None:
            input = preprocess(input)
        backbone = Repeat(
            lambda step: dnn_block(
                hp_dnn_units,
                hp_reduce_factor,
                hp_seq,
                hp_use_bn,
                hp_dropout,
                hp_activation,
                step,
            ),
            repeat_times=layer_num_choices,
        )(input)
        Dense(units=output_units, activation=output_activation)(backbone)
    return space


def conv_block(
    block_no,
    hp_pooling,
    hp_filters,
    hp_kernel_size,
    hp_bn_act,
    hp_use_bn,
    hp_activation,
    strides=(1, 1),
):
    """Repeated Conv2D + (BatchNormalization, activation in a searched order), then pooling."""

    def conv_bn(step):
        conv = Conv2D(
            filters=conv_filters,
            kernel_size=hp_kernel_size,
            strides=strides,
            padding="same",
        )
        act = Activation(activation=hp_activation)
        optional_bn = Optional(BatchNormalization(), keep_link=True, hp_opt=hp_use_bn)
        perm_act_bn = Permutation([optional_bn, act], hp_seq=hp_bn_act)
        return Sequential([conv, perm_act_bn])

    if block_no < 2:
        repeat_num_choices = [2]
        multiplier = 1
    else:
        repeat_num_choices = [3, 4, 5]
        multiplier = 2 ** (block_no - 1)

    conv_filters = Dynamic(lambda filters: filters * multiplier, filters=hp_filters)
    conv = Repeat(conv_bn, repeat_times=repeat_num_choices)
    pooling = ModuleChoice(
        [MaxPooling2D(padding="same"), AveragePooling2D(padding="same")],
        hp_or=hp_pooling,
    )
    return Sequential([conv, pooling])


def cnn_search_space(
    input_shape,
    output_units,
    output_activation="softmax",
    block_num_choices=[2, 3, 4, 5, 6],
    activation_choices=["relu"],
    filters_choices=[32, 64],
    kernel_size_choices=[(1, 1), (3, 3)],
    *,
    preprocess=None,
):
    """A VGG-like stack of 2-6 conv blocks with doubling filters, then two dense layers.

    ``preprocess``: as in :func:`dnn_search_space`."""
    space = HyperSpace()
    with space.as_default():
        hp_use_bn = Bool()
        hp_pooling = Choice(list(range(2)))
        hp_filters = Choice(filters_choices)
        hp_kernel_size = Choice(kernel_size_choices)
        hp_fc_units = Choice([1024, 2048, 4096])
        if len(activation_choices) == 1:
            hp_activation = activation_choices[0]
        else:
            hp_activation = Choice(activation_choices)
        hp_bn_act = Choice([seq for seq in itertools.permutations(range(2))])

        input = Input(shape=input_shape)
        if preprocess is not None:
            input = preprocess(input)
        blocks = Repeat(
            lambda step: conv_block(
                block_no=step,
                hp_pooling=hp_pooling,
                hp_filters=hp_filters,
                hp_kernel_size=hp_kernel_size,
                hp_use_bn=hp_use_bn,
                hp_activation=hp_activation,
                hp_bn_act=hp_bn_act,
            ),
            repeat_times=block_num_choices,
        )(input)
        x = Flatten()(blocks)
        x = Dense(units=hp_fc_units, activation=hp_activation, name="fc1")(x)
        x = Dense(units=hp_fc_units, activation=hp_activation, name="fc2")(x)
        Dense(output_units, activation=output_activation, name="predictions")(x)
    return space
