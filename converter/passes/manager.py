"""The pass pipeline. The order of PHASES is the one place that says which rewrite runs when, and why."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..ir import Graph
from .base import Pass
from .canonicalize import CanonicalizeArithmetic
from .cse import EliminateCommonSubexpressions
from .dce import DeadCodeElimination
from .dedupe import DedupeConstants
from .fake_quant import AbsorbFakeQuant, DropFakeQuantBarriers
from .fold_batch_norm import FoldBatchNorm, LowerBatchNorm
from .fold_constants import FoldConstants
from .fold_pad import FoldPadIntoConv
from .fuse_activation import FuseActivation
from .fuse_bias_add import FuseBiasAdd
from .fuse_dilated_conv import FuseDilatedConv
from .fuse_l2_norm import FuseL2Normalization
from .fuse_leaky_relu import FuseLeakyRelu
from .fuse_patterns import FuseGelu, FuseHardSwish
from .fuse_prelu import FusePRelu
from .fuse_softmax import FuseLogSoftmax, FuseSoftmax
from .fuse_squared_difference import FuseSquaredDifference
from .legalize import AddMissingBias, DropZeroBias
from .remove_identity import RemoveIdentity
from .simplify_arithmetic import SimplifyArithmetic
from .sequence_layout import FoldReshapeIntoStridedSlice, SequenceLSTMBatchMajor


def default_phases(reorder_across_fake_quant: bool = False, dedupe_min_bytes: int = 0) -> list[tuple[str, list[Pass]]]:
    """Each phase repeats its passes until none fires.

    cleanup: RemoveIdentity first, since identities (frozen variables' `read`) hide constants and patterns from
        every later pass; CanonicalizeArithmetic turns div/sub by constants into mul/add, which batch-norm folding
        and the activation patterns expect; FoldConstants turns weight subgraphs (TF1's mul_fold/add_fold, transposes of filters
        into TFLite layout) into constants; AbsorbFakeQuant needs constant weights to quantize them, and makes
        new constants that FoldConstants then carries through layout ops; DCE drops what folding orphaned. Unless
        ``reorder_across_fake_quant`` (TOCO's flag), an activation's FakeQuant stays a barrier no fusion crosses
        until the lowering phase drops it (its range is already on the tensor).
        SimplifyArithmetic after CanonicalizeArithmetic (x ** 2 becomes x * x like square(x)); it drops x * 1 and
        x + 0, which would otherwise hide patterns (tf.nn.silu's sigmoid(1.0 * x)) and keep ops alive.
        FuseDilatedConv here, before folding: the bias add or batch norm that stood between the convolution and
        BatchToSpaceND then follows the new dilated convolution directly, where FoldBatchNorm/FuseBiasAdd fold it.
        SequenceLSTMBatchMajor after RemoveIdentity (it moves the LSTM output's readers, which identities would
        hide); FoldReshapeIntoStridedSlice after it (the last step it slices is then reshaped to [B, H]).
    folding: runs on constant weights. FoldBatchNorm and FuseBiasAdd alternate until neither fires (conv ->
        BiasAdd -> Mul -> Add needs bias, then mul, then add folded in that order); FoldPadIntoConv turns
        explicit zero pads in front of VALID convolutions into SAME padding.
    activation: FusePRelu first: it needs relu(x) and relu(-x) as separate nodes, before FuseActivation could
        fuse a relu into the layer producing its input. FuseActivation only after folding is complete: an
        activation fused into a stray add would hide that add from FuseBiasAdd. FuseHardSwish after it (it
        accepts relu6 fused into the x + 3 add); FuseGelu needs CanonicalizeArithmetic's x * (1/sqrt2) form.
        FuseSquaredDifference after folding: an add of a constant to a conv output is its bias first; it reads
        square(x) as CanonicalizeArithmetic's x * x, as FuseL2Normalization does. FuseLeakyRelu before
        FuseActivation (whose clamp canonicalization also rewrites maximums). FuseSoftmax before FuseLogSoftmax:
        log(exp(x) / sum(exp(x))) becomes log(softmax(x)), then log_softmax(x).
    lowering: DropFakeQuantBarriers first (every fusion is done); batch norms that did not follow a conv become
        mul + add; FoldConstants precomputes their
        constants; AddMissingBias last, after every bias-producing fusion had its chance; DedupeConstants after
        everything that refuses shared weights.
    """
    return [
        ("cleanup", [RemoveIdentity(), SequenceLSTMBatchMajor(), FoldReshapeIntoStridedSlice(),
                     FoldConstants(), AbsorbFakeQuant(keep_barriers=not reorder_across_fake_quant),
                     CanonicalizeArithmetic(), SimplifyArithmetic(), EliminateCommonSubexpressions(),
                     FuseDilatedConv(), DeadCodeElimination()]),
        ("folding", [FoldBatchNorm(), FuseBiasAdd(), FoldPadIntoConv(), DeadCodeElimination()]),
        ("activation", [FusePRelu(), FuseLeakyRelu(), FuseActivation(), FuseHardSwish(), FuseGelu(),
                        FuseSquaredDifference(), FuseL2Normalization(), FuseSoftmax(), FuseLogSoftmax(),
                        DeadCodeElimination()]),
        ("lowering", [DropFakeQuantBarriers(), LowerBatchNorm(), FoldConstants(), DeadCodeElimination(),
                      AddMissingBias(), DropZeroBias(), DedupeConstants(dedupe_min_bytes)]),
    ]


@dataclass
class PassStats:
    """How often each pass fired and how long it took (for the report)."""

    fired: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


class PassManager:
    def __init__(self, phases: list[tuple[str, list[Pass]]] | None = None, max_rounds: int = 20,
                 on_change: Callable[[str, Graph], None] | None = None) -> None:
        """``on_change(pass name, graph)`` is called after every pass that changed the graph."""
        self.phases = phases if phases is not None else default_phases()
        self.max_rounds = max_rounds
        self.on_change = on_change

    def run(self, graph: Graph) -> PassStats:
        """Run the phases on ``graph`` and on every subgraph of its control-flow nodes (each on its own: a pass
        never moves nodes between graphs)."""
        stats = PassStats()
        on_change = self.on_change
        for _, passes in self.phases:
            for _ in range(self.max_rounds):
                changed = 0
                for p in passes:
                    t0 = time.perf_counter()
                    n = 0
                    for g in graph.all_graphs():
                        fired = p.run(g)
                        if fired:
                            g.toposort()
                        n += fired
                    stats.seconds[p.name] = stats.seconds.get(p.name, 0.0) + time.perf_counter() - t0
                    stats.fired[p.name] = stats.fired.get(p.name, 0) + n
                    changed += n
                    if n and on_change is not None:
                        on_change(p.name, graph)
                if not changed:
                    break
        graph.validate()
        return stats
