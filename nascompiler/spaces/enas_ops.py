"""ENAS micro-cell operations (Hypernets' ``frameworks.keras.enas_common_ops``).

A cell has two inputs (``c1``, ``c2``, calibrated to the cell's size) and ``node_num`` nodes.
Each node adds two branches; each branch picks an input (one of the cell inputs or an earlier
node) and an operation (sep5x5, sep3x3, avg3x3, max3x3, identity). The cell's output
concatenates the nodes that no other node consumed. Cells of the same type share their
choices through ``hp_dict``, whose keys (``normal_N0_L_input_choice``, ...) are also the
parameters' names.
"""

from __future__ import annotations

import numpy as np  # noqa: F401  (Hypernets' module star-exported it; the seed's ENAS example relies on that)

from ..layers import (
    Activation,
    Add,
    AveragePooling2D,
    BatchNormalization,
    Conv2D,
    Dense,
    Dropout,
    GlobalAveragePooling2D,
    MaxPooling2D,
    SeparableConv2D,
)
from ..layers.enas import CalibrateSize, FactorizedReduction, Identity, SafeConcatenate
from ..ops import ConnectLooseEnd, InputChoice, ModuleChoice
from ..space import Choice, ModuleSpace, MultipleChoice

OPERATIONS = ("sepconv5x5", "sepconv3x3", "avgpooling3x3", "maxpooling3x3", "identity")


def sepconv2d_bn(
    no, name_prefix, kernel_size, filters, strides=(1, 1), data_format=None, x=None
):
    relu = Activation(activation="relu", name=f"{name_prefix}relu_{no}_")
    if x is not None and isinstance(x, ModuleSpace):
        relu(x)
    sepconv2d = SeparableConv2D(
        filters=filters,
        kernel_size=kernel_size,
        strides=strides,
        padding="same",
        data_format=data_format,
        name=f"{name_prefix}sepconv2d_{no}",
    )(relu)
    return BatchNormalization(name=f"{name_prefix}bn_{no}_")(sepconv2d)


def sepconv3x3(name_prefix, filters, strides=(1, 1), data_format=None):
    name_prefix = name_prefix + "sepconv3x3_"
    sep1 = sepconv2d_bn(
        0,
        name_prefix,
        kernel_size=(3, 3),
        filters=filters,
        strides=strides,
        data_format=data_format,
    )
    return sepconv2d_bn(
        1,
        name_prefix,
        kernel_size=(3, 3),
        filters=filters,
        strides=strides,
        data_format=data_format,
        x=sep1,
    )


def sepconv5x5(name_prefix, filters, strides=(1, 1), data_format=None):
    name_prefix = name_prefix + "sepconv5x5_"
    sep1 = sepconv2d_bn(
        0,
        name_prefix,
        kernel_size=(5, 5),
        filters=filters,
        strides=strides,
        data_format=data_format,
    )
    return sepconv2d_bn(
        1,
        name_prefix,
        kernel_size=(5, 5),
        filters=filters,
        strides=strides,
        data_format=data_format,
        x=sep1,
    )


def maxpooling3x3(name_prefix, filters, strides=(1, 1), data_format=None):
    name_prefix = name_prefix + "maxpooling3x3_"
    return MaxPooling2D(
        pool_size=(3, 3),
        strides=strides,
        padding="same",
        data_format=data_format,
        name=f"{name_prefix}pool_",
    )


def avgpooling3x3(name_prefix, filters, strides=(1, 1), data_format=None):
    name_prefix = name_prefix + "avgpooling3x3_"
    return AveragePooling2D(
        pool_size=(3, 3),
        strides=strides,
        padding="same",
        data_format=data_format,
        name=f"{name_prefix}pool_",
    )


def identity(name_prefix):
    return Identity(name=f"{name_prefix}identity")


def add(x1, x2, name_prefix, filters):
    return Add(name=f"{name_prefix}add_")([x1, x2])


def _cell_type(type):
    # '1_normal' -> 'normal'; the seed's type[2:] breaks from the tenth cell on.
    return type.split("_", 1)[1]


def conv_cell(
    hp_dict,
    type,
    cell_no,
    node_no,
    left_or_right,
    inputs,
    filters,
    is_reduction=False,
    data_format=None,
):
    """One branch of a node: choose an input, then an operation on it."""
    assert isinstance(inputs, list)
    assert all(isinstance(m, ModuleSpace) for m in inputs)
    name_prefix = f"{type}_C{cell_no}_N{node_no}_{left_or_right}_"

    input_choice_key = f"{_cell_type(type)}_N{node_no}_{left_or_right}_input_choice"
    op_choice_key = f"{_cell_type(type)}_N{node_no}_{left_or_right}_op_choice"
    hp_choice = hp_dict.get(input_choice_key)
    if hp_choice is None:
        hp_choice = hp_dict[input_choice_key] = MultipleChoice(
            list(range(len(inputs))), 1, name=input_choice_key
        )
    ic1 = InputChoice(inputs, 1, hp_choice=hp_choice)(inputs)

    hp_strides = (1, 1)
    hp_or = hp_dict.get(op_choice_key)
    if hp_or is None:
        hp_or = hp_dict[op_choice_key] = Choice(
            list(range(len(OPERATIONS))), name=op_choice_key
        )
    return ModuleChoice(
        [
            sepconv5x5(
                name_prefix, filters, strides=hp_strides, data_format=data_format
            ),
            sepconv3x3(
                name_prefix, filters, strides=hp_strides, data_format=data_format
            ),
            avgpooling3x3(
                name_prefix, filters, strides=hp_strides, data_format=data_format
            ),
            maxpooling3x3(
                name_prefix, filters, strides=hp_strides, data_format=data_format
            ),
            identity(name_prefix),
        ],
        hp_or=hp_or,
    )(ic1)


def conv_node(
    hp_dict,
    type,
    cell_no,
    node_no,
    inputs,
    filters,
    is_reduction=False,
    data_format=None,
):
    op_left = conv_cell(
        hp_dict, type, cell_no, node_no, "L", inputs, filters, is_reduction, data_format
    )
    op_right = conv_cell(
        hp_dict, type, cell_no, node_no, "R", inputs, filters, is_reduction, data_format
    )
    name_prefix = f"{type}_C{cell_no}_N{node_no}_"
    return add(op_left, op_right, name_prefix, filters)


def conv_layer(
    hp_dict,
    type,
    cell_no,
    inputs,
    filters,
    node_num,
    is_reduction=False,
    data_format=None,
):
    """A whole cell; returns the module that concatenates its loose ends."""
    name_prefix = f"{type}_C{cell_no}_"

    if inputs[0] == inputs[1]:
        c1 = c2 = CalibrateSize(0, filters, name_prefix, data_format)(inputs[0])
    else:
        c1 = CalibrateSize(0, filters, name_prefix, data_format)(inputs)
        c2 = CalibrateSize(1, filters, name_prefix, data_format)(inputs)
    inputs = [c1, c2]
    all_nodes = [c1, c2]
    for node_no in range(node_num):
        node = conv_node(
            hp_dict, type, cell_no, node_no, inputs, filters, is_reduction, data_format
        )
        inputs.append(node)
        all_nodes.append(node)
    cle = ConnectLooseEnd(all_nodes)(all_nodes)
    return SafeConcatenate(filters, name_prefix, name=name_prefix + "concat_")(cle)


def stem_op(input, filters, data_format=None):
    conv = Conv2D(
        filters=filters * 3,
        kernel_size=(3, 3),
        strides=(1, 1),
        padding="same",
        data_format=data_format,
        name="0_stem_conv2d",
    )(input)
    return BatchNormalization(name="0_stem_bn")(conv)


def auxiliary_head():
    """The seed defines no auxiliary head; the name is kept so seed code imports."""
    return None


def classfication(x, classes, dropout_rate=0, data_format=None):
    x = Activation("relu")(x)
    x = GlobalAveragePooling2D(data_format=data_format)(x)
    if dropout_rate > 0:
        x = Dropout(dropout_rate)(x)
    x = Dense(classes, activation="softmax")(x)
    return x


classification = classfication  # the seed's spelling is kept for compatibility

__all__ = [
    "FactorizedReduction",
    "sepconv2d_bn",
    "sepconv3x3",
    "sepconv5x5",
    "maxpooling3x3",
    "avgpooling3x3",
    "identity",
    "add",
    "conv_cell",
    "conv_node",
    "conv_layer",
    "stem_op",
    "auxiliary_head",
    "classfication",
    "classification",
    "np",
]
