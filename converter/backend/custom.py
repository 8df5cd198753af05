"""CUSTOM operators: ops with no TFLite builtin (IR op ``custom``, frontend/handlers/custom.py) are written with the TF
op type as the operator code's ``custom_code`` and the node's attributes as a FlexBuffer map in ``custom_options``
(format FLEXBUFFERS), the way TOCO wrote them: strings, ints (smallest width), floats (32-bit), bools, and typed
vectors of ints, floats or strings. LiteRT's custom kernels read this map (e.g. TFLite_Detection_PostProcess reads
``max_detections`` and ``nms_iou_threshold``). Never imports TensorFlow."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from flatbuffers import flexbuffers

from ..ir import Node
from ..ir.attrs import CustomAttrs, CustomOption

CUSTOM_OP = "custom"
CUSTOM_BUILTIN = 32  # BuiltinOperator.CUSTOM
CUSTOM_VERSION = 1  # what TOCO and TF's converter write for custom ops


def flexbuffer_options(options: Sequence[tuple[str, CustomOption]]) -> bytes:
    """``options`` as a FlexBuffer map (keys sorted by the builder); empty bytes when there are none (the
    operator then carries no custom options, as in TOCO)."""
    if not options:
        return b""
    fbb = flexbuffers.Builder()
    with fbb.Map():
        for key, value in options:
            if isinstance(value, tuple):
                if all(isinstance(v, str) for v in value):
                    with fbb.TypedVector(key):
                        for v in value:
                            fbb.String(v)
                else:
                    fbb.TypedVectorFromElements(key, list(value))
            elif isinstance(value, bool):
                fbb.Bool(key, value)
            elif isinstance(value, int):
                fbb.Int(key, value)
            elif isinstance(value, float):
                fbb.Float(key, float(np.float32(value)), 4)
            else:
                fbb.String(key, value)
    return bytes(fbb.Finish())


def custom_code(node: Node) -> str:
    a: CustomAttrs = node.attrs  # type: ignore[assignment]
    return a.code


def custom_options(node: Node) -> bytes:
    a: CustomAttrs = node.attrs  # type: ignore[assignment]
    return flexbuffer_options(a.options)
