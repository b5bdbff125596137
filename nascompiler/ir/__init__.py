"""The compiler's middle: SpaceIR (static supergraph + parameter table) and specialisation.

>>> from nascompiler.spaces import dnn_search_space
>>> from nascompiler.ir import compile_space, specialize
>>> ir = compile_space(dnn_search_space(input_shape=(10,), output_units=2, output_activation="softmax"))
>>> graph = specialize(ir, ir.sample(__import__("random").Random(0)))
>>> len(graph.id)
10
"""

from ..errors import AssignmentError, CandidateError
from .compile import compile_space
from .domains import Categorical, Domain, IntRange, RealRange, Subset
from .graph import CandidateGraph, Op
from .space_ir import Assignment, Node, Parameter, SpaceIR
from .specialize import specialize

__all__ = [
    "compile_space",
    "specialize",
    "SpaceIR",
    "Parameter",
    "Node",
    "Assignment",
    "CandidateGraph",
    "Op",
    "Domain",
    "Categorical",
    "IntRange",
    "RealRange",
    "Subset",
    "AssignmentError",
    "CandidateError",
]
