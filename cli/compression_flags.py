"""The compression flags: --sparsity, --prune, --weight_bits, --cluster_weights (docs/compression.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from converter.config import ConversionConfig, InferenceType
from converter.errors import UsageError


def compression_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Add the compression flags to the conversion command."""
    opts = [
        click.option("--sparsity", type=click.Choice(["auto", "none"]), default="none", show_default=True,
                     help="auto: write conv/fully-connected weights with >= 30% zeros as sparse tensors where that "
                          "makes the file smaller (fully-connected layers read them directly, others through "
                          "DENSIFY), as TensorFlow's Optimize.EXPERIMENTAL_SPARSITY."),
        click.option("--prune", type=float, metavar="S",
                     help="Prune conv/fully-connected weights by magnitude to a global sparsity S (0 < S < 1), "
                          "each layer as far as its effect on the outputs allows; int8 fully-connected layers in "
                          "1x16 blocks; biases corrected. Needs --representative_dataset. Add --sparsity=auto to "
                          "store the zeros sparse."),
        click.option("--weight_bits", type=click.Choice(["8", "4"]), default="8", show_default=True,
                     help="4: int4 weights in [-7, 7] per channel, two per byte, for conv, depthwise and "
                          "fully-connected layers (INT8), conv and fully-connected (--post_training_quantize); "
                          "other layers keep 8 bits (the summary lists them)."),
        click.option("--cluster_weights", type=int, metavar="K",
                     help="k-means weight sharing: at most K (2-256) values per output channel (per layer for "
                          "per-tensor or float weights), before quantization; with --representative_dataset, "
                          "biases corrected. The file compresses (gzip) far better."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def config_fields(kw: dict[str, object]) -> dict[str, Any]:
    """ConversionConfig fields set by the compression flags."""
    prune = kw.get("prune")
    clusters = kw.get("cluster_weights")
    if prune is not None and not 0.0 < float(prune) < 1.0:  # type: ignore[arg-type]
        raise UsageError(f"--prune={prune}: give the share of weights to remove, between 0 and 1 (e.g. 0.5)")
    if clusters is not None and not 2 <= int(clusters) <= 256:  # type: ignore[call-overload]
        raise UsageError(f"--cluster_weights={clusters}: give the number of shared values per channel, 2 to 256")
    return {
        "sparsity": kw.get("sparsity") == "auto",
        "prune": None if prune is None else float(prune),  # type: ignore[arg-type]
        "weight_bits": int(kw.get("weight_bits") or 8),  # type: ignore[call-overload]
        "cluster_weights": None if clusters is None else int(clusters),  # type: ignore[call-overload]
    }


def check(config: ConversionConfig) -> None:
    """Combinations the compression flags cannot honour, refused naming the flag and what to do."""
    if config.prune is not None and config.representative_dataset is None:
        raise UsageError("--prune chooses each layer's share of zeros by its effect on the outputs, measured on "
                         "samples: give --representative_dataset")
    if config.weight_bits == 4:
        if config.inference_type is InferenceType.FLOAT and not config.post_training_quantize:
            raise UsageError("--weight_bits=4 quantizes weights: add --inference_type=INT8 (with "
                             "--representative_dataset) or --post_training_quantize")
        if config.inference_type in (InferenceType.QUANTIZED_UINT8, InferenceType.INT16X8):
            raise UsageError(f"--weight_bits=4: LiteRT has no int4 weights with "
                             f"--inference_type={config.inference_type.value} activations; use --inference_type=INT8 "
                             "or --post_training_quantize")
        if config.quantize_to_float16:
            raise UsageError("--weight_bits=4 and --quantize_to_float16 exclude each other; pick one")
