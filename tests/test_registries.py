"""One home per concept: every connection op, ENAS block and layer the DSL offers has exactly
one entry in the table the compiler reads, and nothing else is in those tables."""

from __future__ import annotations

import nascompiler.layers.enas as enas
import nascompiler.ops as ops
from nascompiler.ir.enas_lowering import MACROS
from nascompiler.ir.op_registry import OPS


def test_every_connection_op_has_one_registry_entry():
    assert {getattr(ops, name).kind for name in ops.__all__} == set(OPS)
    for kind, spec in OPS.items():
        assert spec.kind == kind


def test_every_enas_block_has_one_lowering():
    blocks = {
        cls.kind
        for cls in vars(enas).values()
        if isinstance(cls, type)
        and issubclass(cls, enas.EnasModule)
        and cls is not enas.EnasModule
    }
    assert blocks == set(MACROS)


def test_op_and_block_prefixes_are_the_names_studies_store():
    # Default node names (and so parameter names such as "module_choice_1.choice") come from
    # these prefixes; a stored study's assignments use them, so they must never change.
    assert {kind: spec.snake for kind, spec in OPS.items()} == {
        "Identity": "identity",
        "Sequential": "sequential",
        "Permutation": "permutation",
        "Repeat": "repeat",
        "Optional": "optional",
        "ModuleChoice": "module_choice",
        "InputChoice": "input_choice",
        "ConnectLooseEnd": "connect_loose_end",
    }
    assert {kind: macro.snake for kind, macro in MACROS.items()} == {
        "FactorizedReduction": "factorized_reduction",
        "CalibrateSize": "calibrate_size",
        "SafeConcatenate": "safe_concatenate",
        "SafeMerge": "safe_merge",
    }


def test_every_layer_class_is_made_from_its_one_spec_entry():
    import nascompiler.layers as layers
    from nascompiler.layers.spec import LAYERS

    assert layers.__all__ == ["HyperLayer"] + list(LAYERS)
    for kind, spec in LAYERS.items():
        cls = getattr(layers, kind)
        assert issubclass(cls, layers.HyperLayer) and cls.spec is spec
        assert (cls.__name__, cls.__module__) == (kind, "nascompiler.layers")
        # Input's shape is its argument; every other layer has a shape rule.
        assert (spec.shape is None) == (kind == "Input")
