"""Image resizing."""

from __future__ import annotations

from . import In, Probe

IMG = In((1, 4, 5, 2))

PROBES: dict[str, Probe] = {
    "ResizeBilinear": Probe(lambda tf, x: tf.compat.v1.image.resize_bilinear(x, [8, 10]), (IMG,), int8=True),
    "ResizeNearestNeighbor": Probe(lambda tf, x: tf.compat.v1.image.resize_nearest_neighbor(x, [8, 10]), (IMG,),
                                   int8=True),
}


def _modes(op: str) -> tuple[Probe, ...]:
    """Every sampling mode: align_corners, half_pixel_centers; upsampling and downsampling; INT8 for each."""
    fn = "resize_bilinear" if op == "ResizeBilinear" else "resize_nearest_neighbor"

    def probe(size: list[int], name: str, **mode: bool) -> Probe:
        return Probe(lambda tf, x: getattr(tf.compat.v1.image, fn)(x, size, **mode), (IMG,), int8=True, name=name)

    return (probe([8, 10], "align_corners", align_corners=True),
            probe([8, 10], "half_pixel_centers", half_pixel_centers=True),
            probe([3, 3], "down_half_pixel_centers", half_pixel_centers=True),
            probe([3, 4], "down_align_corners", align_corners=True))


VARIANTS: dict[str, tuple[Probe, ...]] = {op: _modes(op) for op in ("ResizeBilinear", "ResizeNearestNeighbor")}
