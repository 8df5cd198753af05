"""qconvert's intermediate representation. Imports nothing else of the project."""

from .attrs import Activation, Padding
from .graph import Graph, GraphError, Signature, subgraphs_of
from .node import Node
from .tensor import QuantParams, QuantRange, RangeSource, Tensor

__all__ = [
    "Activation", "Graph", "GraphError", "Node", "Padding", "QuantParams", "QuantRange", "RangeSource", "Signature",
    "Tensor", "subgraphs_of",
]
