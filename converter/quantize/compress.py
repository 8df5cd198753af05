"""The compression flags in the pipeline: --prune and --cluster_weights change the float weights after the passes
and before calibration (pruning first, then clustering, as Deep Compression orders them; clustering keeps the zeros);
--sparsity=auto re-encodes the final weights just before writing (backend/sparse.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..config import ConversionConfig, InferenceType
from ..ir import Graph
from .cluster import ClusterResult, cluster
from .dataset import Dataset
from .prune import FC_BLOCK, PruneResult, prune
from .weight_probe import MAX_SAMPLES


@dataclass
class CompressionResult:
    prune: PruneResult | None = None
    cluster: ClusterResult | None = None
    notes: list[str] = field(default_factory=list)


def per_channel_weights(config: ConversionConfig) -> bool:
    """Whether the weights end up quantized per output channel (INT8, INT16X8 and dynamic range, unless
    --per_tensor); uint8 and float weights are one grid (or none) per layer."""
    if config.per_tensor or config.inference_type is InferenceType.QUANTIZED_UINT8:
        return False
    return config.inference_type is not InferenceType.FLOAT or config.post_training_quantize


def fc_block(config: ConversionConfig) -> int:
    """The block fully-connected layers are pruned in: 1x16 where they will hold int8 weights (INT8, dynamic
    range), the only block LiteRT's sparse int8 kernels run; single weights otherwise."""
    int8_weights = config.inference_type is InferenceType.INT8 or config.post_training_quantize
    return FC_BLOCK if int8_weights and config.weight_bits == 8 else 1


def transform_weights(graph: Graph, config: ConversionConfig, data: Dataset | None) -> CompressionResult:
    """--prune, then --cluster_weights, on ``graph``'s float weights (``data``: the representative samples)."""
    result = CompressionResult()
    arrays = data.head(MAX_SAMPLES) if data is not None else None  # all the probe of the weights' effect reads
    if config.prune is not None:
        assert arrays is not None, "--prune needs representative data (checked by the CLI)"
        result.prune = prune(graph, arrays, config.prune, fc_block(config))
        if not config.sparsity:
            result.notes.append("--prune made weights zero but they are stored dense; add --sparsity=auto to store "
                                "them as sparse tensors")
    if config.cluster_weights is not None:
        result.cluster = cluster(graph, config.cluster_weights, per_channel_weights(config), arrays)
        if arrays is None:
            result.notes.append("--cluster_weights without --representative_dataset: biases not corrected (no "
                                "input means), cost not measured")
    return result
