"""Non-max suppression (boxes and scores are the model's inputs)."""

from __future__ import annotations

from . import In, Probe

BOXES = In((10, 4), dist="uniform", low=0.0, high=1.0)
SCORES = In((10,), dist="uniform", low=0.0, high=1.0)

PROBES: dict[str, Probe] = {
    "NonMaxSuppressionV4": Probe(
        lambda tf, b, s: tf.raw_ops.NonMaxSuppressionV4(boxes=b, scores=s, max_output_size=6, iou_threshold=0.5,
                                                        score_threshold=0.2, pad_to_max_output_size=True),
        (BOXES, SCORES)),
    "NonMaxSuppressionV5": Probe(
        lambda tf, b, s: tf.raw_ops.NonMaxSuppressionV5(boxes=b, scores=s, max_output_size=6, iou_threshold=0.5,
                                                        score_threshold=0.2, soft_nms_sigma=0.0,
                                                        pad_to_max_output_size=True),
        (BOXES, SCORES)),
}

VARIANTS: dict[str, tuple[Probe, ...]] = {
    "NonMaxSuppressionV4": (
        Probe(lambda tf, b, s: tf.raw_ops.NonMaxSuppressionV4(boxes=b, scores=s, max_output_size=6, iou_threshold=0.5,
                                                              score_threshold=0.2, pad_to_max_output_size=False),
              (BOXES, SCORES), name="unpadded"),
    ),
    "NonMaxSuppressionV5": (
        Probe(lambda tf, b, s: tf.raw_ops.NonMaxSuppressionV5(boxes=b, scores=s, max_output_size=6, iou_threshold=0.5,
                                                              score_threshold=0.2, soft_nms_sigma=0.3,
                                                              pad_to_max_output_size=False),
              (BOXES, SCORES), name="soft_unpadded"),
    ),
}
