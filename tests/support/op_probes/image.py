"""Image resizing."""

from __future__ import annotations

from . import In, Probe

IMG = In((1, 4, 5, 2))

PROBES: dict[str, Probe] = {
    "ResizeBilinear": Probe(lambda tf, x: tf.compat.v1.image.resize_bilinear(x, [8, 10]), (IMG,), int8=True),
    "ResizeNearestNeighbor": Probe(lambda tf, x: tf.compat.v1.image.resize_nearest_neighbor(x, [8, 10]), (IMG,)),
}

VARIANTS: dict[str, tuple[Probe, ...]] = {}
