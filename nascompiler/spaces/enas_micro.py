"""The ENAS micro search space (Hypernets' ``frameworks.keras.enas_micro``)."""

from __future__ import annotations

from ..errors import SpaceDefinitionError, user_location
from ..layers import Input
from ..layers.enas import FactorizedReduction
from ..space import HyperSpace
from .enas_ops import classfication, conv_layer, stem_op


def enas_micro_search_space(
    arch="NRNR",
    input_shape=(28, 28, 1),
    init_filters=64,
    node_num=4,
    data_format=None,
    classes=10,
    classification_dropout=0,
    hp_dict=None,
    *,
    preprocess=None,
):
    """Cells in the order ``arch`` gives ('N' normal, 'R' reduction) after a 3x3 conv stem.

    ``preprocess``: a function applied to the input before the stem, such as
    ``lambda x: Rescaling(1 / 255)(x)``, so that the model (and its export) takes raw data.

    Cells of one type share their choices. ``hp_dict`` may hold parameters to share with
    another space; by default every call starts afresh (the seed's ``hp_dict={}`` default
    would share parameters between calls by accident).
    """
    if not isinstance(arch, str) or not arch or set(arch) - {"N", "R"}:
        raise SpaceDefinitionError(
            f"arch must be a string of 'N' (normal) and 'R' (reduction) cells, got {arch!r}",
            user_location(),
        )
    if hp_dict is None:
        hp_dict = {}
    space = HyperSpace()
    with space.as_default():
        input = Input(shape=input_shape, name="0_input")
        stem = stem_op(
            input if preprocess is None else preprocess(input),
            init_filters,
            data_format,
        )
        node0 = stem
        node1 = stem
        reduction_no = 0
        normal_no = 0

        for letter in arch:
            if letter == "N":
                normal_no += 1
                type = "normal"
                cell_no = normal_no
                is_reduction = False
            else:
                reduction_no += 1
                type = "reduction"
                cell_no = reduction_no
                is_reduction = True
            filters = (2**reduction_no) * init_filters

            if is_reduction:
                node0 = node1
                node1 = FactorizedReduction(
                    filters, f"{type}_C{cell_no}_", data_format
                )(node1)
            x = conv_layer(
                hp_dict,
                f"{normal_no + reduction_no}_{type}",
                cell_no,
                [node0, node1],
                filters,
                node_num,
                is_reduction,
            )
            node0 = node1
            node1 = x
        classfication(x, classes, classification_dropout, data_format)
        space.set_inputs(input)
    return space
