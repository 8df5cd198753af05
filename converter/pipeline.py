"""The conversion pipeline: load -> import -> passes -> (calibrate) -> quantize -> write. Returns the built model
(``ModelFile``: the flatbuffer and, for models over 2 GiB, the weights stored after it, not joined into one bytes
object) and a report; writing the file is the caller's choice (``write_atomically``, which streams it)."""

from __future__ import annotations

import errno
import os
import signal
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Protocol

import numpy as np

from .backend.sparse import SparsityResult, apply_sparsity
from .backend.layout import ModelFile
from .config import CalibrationMethod, ConversionConfig, InferenceType, InputFormat, OutputFormat, WeightRounding
from .debug_layers import DebugReport, analyse
from .errors import ArrayNameError, CalibrationError, ConversionError, OutputError, QuantizationError, UsageError
from .frontend.graphdef import load_graph_def
from .frontend.handlers.custom import register_opdefs
from .frontend.importer import ImportOptions, ImportResult, import_graph_def
from .frontend.keras_model import load_keras_model
from .frontend.saved_model import load_saved_model
from .ir import Graph, RangeSource, Signature
from .memory import release_free_memory
from .passes.fake_quant import DropFakeQuant, MaterializeFakeQuant
from .passes.equalize import CrossLayerEqualization
from .passes.manager import PassManager, PassStats, default_phases
from .quantize.calibrate import CalibrationStats, calibrate
from .quantize.compress import CompressionResult, transform_weights
from .quantize.dataset import Dataset, load_dataset, specs_for
from .quantize.mixed import MAX_HELD_OUT, PrecisionSearch, held_out_indices, search_precision
from .quantize.coverage import CoverageCounter, InputCoverage
from .quantize.plan import plan
from .quantize.bias_correction import bias_correction_inputs
from .quantize.quantizer import QuantizeResult, quantize_graph
from .quantize.range_select import PROPOSERS, Narrowing, choose_best, choose_ranges
from .quantize import rounding
from .quantize.weights_only import WeightOnlyResult, dynamic_range, float16
from .toco_rules import apply_arrays_extra_info, check_import, nudge_weights_for_fast_gemm


@dataclass
class ConversionResult:
    """What a conversion produced, as data (the report module renders it)."""

    model: ModelFile
    graph: Graph
    config: ConversionConfig
    tf_op_counts: dict[str, int]
    ir_ops_before: dict[str, int]
    ir_ops_after: dict[str, int]
    passes: PassStats
    quantization: QuantizeResult | None
    calibration: CalibrationStats | None = None
    weight_only: WeightOnlyResult | None = None
    debug: DebugReport | None = None  # --debug_layers
    precision_search: PrecisionSearch | None = None  # --target_sqnr
    # Bytes of constant data (weights, biases) after the passes, before and after quantization.
    weights_bytes: tuple[int, int] = (0, 0)
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    input_bytes: int = 0
    # --prune / --cluster_weights / --sparsity: what they did (None: none of them asked for).
    compression: CompressionResult | None = None
    sparsity: SparsityResult | None = None
    # Inputs quantized by --mean_values/--std_dev_values: how much of the representative data their grid covers.
    input_coverage: list[InputCoverage] = field(default_factory=list)

    @cached_property
    def tflite(self) -> bytes:
        """The .tflite file's bytes, joined in memory (library use and tests; the CLI streams ``model``)."""
        return self.model.to_bytes()


class Progress(Protocol):
    """How the pipeline tells a caller where it is (the CLI draws it; library users may pass nothing)."""

    def phase(self, name: str) -> None: ...

    def advance(self, done: int, total: int) -> None: ...


@contextmanager
def _phase(seconds: dict[str, float], name: str, progress: Progress | None) -> Iterator[None]:
    if progress is not None:
        progress.phase(name)
    t0 = time.perf_counter()
    yield
    seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - t0


def load_and_import(config: ConversionConfig) -> ImportResult:
    """Read the model named by ``config`` and import the selected subgraph into the IR."""
    if config.custom_opdefs:
        register_opdefs(config.custom_opdefs)
    options = ImportOptions(config.allow_custom_ops, config.input_data_types, config.batch_size,
                            not config.disable_recurrent_cell_fusion)
    if config.input_format in (InputFormat.SAVED_MODEL, InputFormat.KERAS_MODEL):
        shapes = (dict(zip(config.input_arrays, config.input_shapes, strict=False)) if config.input_arrays
                  else list(config.input_shapes))
        given = {k: v for k, v in shapes.items() if v is not None} if isinstance(shapes, dict) else shapes
        if config.input_format is InputFormat.KERAS_MODEL:
            sm = load_keras_model(config.input_path, given, config.unsafe_keras_lambda)
        else:
            sm = load_saved_model(config.input_path, config.saved_model_tag_set, config.saved_model_signature_key,
                                  given, not config.disable_recurrent_cell_fusion)
        inputs, in_names = _select(sm.input_tensors, sm.input_names, config.input_arrays, "input")
        outputs, out_names = _select(sm.output_tensors, sm.output_names, config.output_arrays, "output")
        sig = Signature(config.saved_model_signature_key, tuple(in_names), tuple(out_names))
        result = import_graph_def(sm.graph_def, inputs, outputs, config.input_shapes, sig, options,
                                  constants=sm.constants)
        result.notes[:0] = sm.notes
        return result
    gd = load_graph_def(config.input_path)
    return import_graph_def(gd, config.input_arrays, config.output_arrays, config.input_shapes, options=options)


def _select(tensors: tuple[str, ...], names: tuple[str, ...], wanted: tuple[str, ...],
            kind: str) -> tuple[list[str], list[str]]:
    """Signature entries chosen by --input_arrays/--output_arrays (by signature name or TF tensor name)."""
    if not wanted:
        return list(tensors), list(names)
    picked_t, picked_n = [], []
    for w in wanted:
        for t, n in zip(tensors, names, strict=True):
            if w in (n, t, t.split(":")[0]):
                picked_t.append(t)
                picked_n.append(n)
                break
        else:
            raise ArrayNameError(
                f"{kind} array {w!r} is not in the SavedModel signature (it has: {', '.join(names)}); "
                f"fix --{kind}_arrays"
            )
    return picked_t, picked_n


def convert(config: ConversionConfig, progress: Progress | None = None) -> ConversionResult:
    """Run the whole conversion in memory."""
    from .backend.writer import build_tflite, check_supported, constant_bytes  # noqa: PLC0415

    seconds: dict[str, float] = {}
    with _phase(seconds, "load", progress):
        imported = load_and_import(config)
        release_free_memory()  # the frozen GraphDef and TensorFlow's shape-inference graph
    graph = imported.graph
    notes = [*imported.notes, *check_import(config, imported), *config.flag_notes]
    before = graph.op_counts()
    _dump(config, graph, "1_imported")
    with _phase(seconds, "passes", progress):
        dropped = DropFakeQuant().run(graph) if config.drop_fake_quant else 0
        manager = PassManager(default_phases(config.reorder_across_fake_quant, config.dedupe_min_bytes),
                              on_change=_video(config))
        stats = manager.run(graph)
        if dropped:
            stats.fired = {DropFakeQuant.name: dropped, **stats.fired}
        if config.equalize and config.inference_type.is_quantized:
            notes.append(equalize(graph, stats))
    _dump(config, graph, "2_after_passes")
    if config.arrays_extra_info is not None:
        notes.extend(apply_arrays_extra_info(graph, config.arrays_extra_info))
    weights_before = constant_bytes(graph)
    check_weights_finite(graph, config)
    check_supported(graph)
    qres = cal = weights = debug_graph = search = held_out = dataset = compression = sparsity = None
    debug_inputs: list[np.ndarray] = []
    debug_data: Dataset | None = None
    if config.prune is not None or config.cluster_weights is not None:
        with _phase(seconds, "compress", progress):
            dataset = _dataset(config, graph)
            compression = transform_weights(graph, config, dataset)
            notes.extend(compression.notes)
    coverage: list[InputCoverage] = []
    if config.input_stats and config.inference_type is InferenceType.FLOAT:
        notes.append("--mean_values/--std_dev_values describe quantized inputs; this model's inputs stay float "
                     "(real values), so they are not used")
    if config.inference_type is not InferenceType.FLOAT:
        opts, plan_notes = plan(config, graph)
        notes.extend(plan_notes)
        if config.representative_dataset is not None:
            with _phase(seconds, "calibrate", progress):
                data = dataset or _dataset(config, graph)
                if config.target_sqnr is not None:
                    data, held_out = _hold_out(data)
                sig_names = graph.signature.input_names if graph.signature else ()
                counter = CoverageCounter([s.signature_name for s in specs_for(graph.inputs, sig_names)],
                                          opts.input_stats, opts.stats_dtype)
                best = config.optimize_accuracy
                means_for = bias_correction_inputs(graph) if best or not opts.weights_per_channel \
                    or opts.per_channel_bias_correction else ()
                cal = calibrate(graph, data, CalibrationMethod.MINMAX if best else config.calibration_method,
                                progress.advance if progress is not None else None, means_for=means_for,
                                on_batch=counter.update if counter.active else None,
                                propose=PROPOSERS if best else ())
                coverage = counter.result()
                # --optimize=accuracy calibrates by min/max (ops' internal values keep it; choose_best sets the rest)
                opts = replace(opts, activation_means=cal.channel_means, internal_ranges=cal.internal_ranges)
                release_free_memory()  # calibration's TensorFlow working set
            if config.optimize_accuracy:
                with _phase(seconds, "select_ranges", progress):
                    acc = choose_best(graph, opts, data, cal, means_for)
                opts = replace(opts, per_channel_bias_correction=opts.per_channel_bias_correction or acc.bias_correction,
                               bias_shifts=acc.bias_shifts, layer_inputs=acc.layer_inputs or opts.layer_inputs)
                m = acc.measured_db
                notes.append(f"--optimize=accuracy: clipped ranges {'on' if acc.clipped else 'off'} "
                             f"({acc.ranges.kept} of {acc.ranges.proposed} tensors proposed: "
                             f"{_counts(acc.ranges.picks)}), per-channel bias correction "
                             f"{'on' if acc.bias_correction else 'off'}, empirical bias correction "
                             f"{'on (' + str(len(acc.bias_shifts)) + ' layers)' if acc.bias_shifts else 'off'}, "
                             f"adaptive weight rounding {'on' if acc.layer_inputs else 'off'}, "
                             "measured in LiteRT on held-back calibration samples: "
                             + ", ".join(f"{'clipped' if c else 'min/max'}{' + ' + b if b else ''} {db:.2f} dB"
                                         + (f" ({db - m[(False, '')]:+.2f} +- {se:.2f})"
                                            if (se := acc.standard_error_db.get((c, b), 0.0)) else "")
                                         for (c, b), db in m.items())
                             + "; " + _narrowing_note(acc.narrowing))
            elif config.calibration_method is not CalibrationMethod.MINMAX:
                with _phase(seconds, "select_ranges", progress):
                    choice = choose_ranges(graph, opts, data, config.calibration_method, cal)
                notes.append(f"--calibration_method {config.calibration_method.value}: {choice.kept} of "
                             f"{choice.proposed} clipped ranges kept where they lower the error on held-back calibration "
                             f"samples (simulated output SQNR {choice.minmax_db:.2f} dB with min/max ranges, "
                             f"{choice.chosen_db:.2f} dB chosen)")
            check_calibrated_ranges(graph, config)
            if config.weight_rounding is WeightRounding.ADAPTIVE:
                with _phase(seconds, "weight_rounding", progress):
                    opts = replace(opts, layer_inputs=rounding.collect(graph, data, opts=opts))
            if config.debug_layers:
                debug_graph = graph.copy()  # calibrated, before quantization
                debug_inputs, debug_data = data.head(config.debug_samples), data
        if held_out is not None and config.target_sqnr is not None:
            with _phase(seconds, "target_sqnr", progress):
                search, chosen = search_precision(graph, opts, held_out, config.target_sqnr, data.num_samples)
            check_target_met(search)
            graph, qres = chosen.graph, chosen.result
        else:
            with _phase(seconds, "quantize", progress):
                qres = quantize_graph(graph, opts)
        if config.weight_rounding is WeightRounding.ADAPTIVE and qres is not None:
            notes.append(rounding.summary(qres.rounded))
        if config.nudge_weights_for_fast_gemm:
            nudged = nudge_weights_for_fast_gemm(graph)
            notes.append(f"{nudged} uint8 weight value(s) nudged from 0 to 1 for fast GEMM kernels "
                         "(--allow_nudging_weights_to_use_fast_gemm_kernel)")
    elif config.post_training_quantize:
        with _phase(seconds, "quantize", progress):
            weights = dynamic_range(graph, config.weight_bits)
    elif config.quantize_to_float16:
        with _phase(seconds, "quantize", progress):
            weights = float16(graph)
    if config.inference_type is InferenceType.FLOAT and not config.drop_fake_quant:
        kept = MaterializeFakeQuant().run(graph)
        if kept:
            graph.toposort()
            notes.append(f"{kept} FakeQuant point(s) kept as QUANTIZE/DEQUANTIZE pairs: the float model computes what "
                         "quantization-aware training simulated (--drop_fake_quant for plain float)")
    if config.sparsity:
        with _phase(seconds, "sparsity", progress):
            sparsity = apply_sparsity(graph)
    if qres is not None or weights is not None:
        _dump(config, graph, "3_quantized")
    with _phase(seconds, "write", progress):
        tflite = build_tflite(graph)
        model = tflite
        if config.output_format is OutputFormat.GRAPHVIZ_DOT:
            from .graphviz import to_dot  # noqa: PLC0415

            model = ModelFile(memoryview(to_dot(graph, "converted").encode()))
    debug = None
    if debug_graph is not None and debug_data is not None:
        with _phase(seconds, "debug_layers", progress):
            debug = analyse(debug_graph, opts, graph, tflite.to_bytes(), debug_inputs, debug_data)
    return ConversionResult(
        model=model, graph=graph, config=config, tf_op_counts=imported.tf_op_counts, ir_ops_before=before,
        ir_ops_after=graph.op_counts(), passes=stats, quantization=qres, calibration=cal, weight_only=weights,
        debug=debug, precision_search=search, notes=notes, seconds=seconds,
        weights_bytes=(weights_before, constant_bytes(graph)),
        input_bytes=_input_size(config.input_path), compression=compression, sparsity=sparsity,
        input_coverage=coverage,
    )


def _narrowing_note(narrowing: Narrowing) -> str:
    """What --optimize=accuracy's range narrowing measured (range_refine): per unit, its factor and gain."""
    if not narrowing.measured:
        return "no range narrowed"
    used = "used" if narrowing.factors else "not used"
    return (f"ranges narrowed (together {narrowing.gain_db:+.2f} +- {narrowing.standard_error_db:.2f} dB, {used}) "
            "where LiteRT gains on the held-back samples: ") + ", ".join(
        f"{n.unit} ({len(n.tensors)} tensor{'s' if len(n.tensors) > 1 else ''}, rounding costs {n.cost_db:.2f} dB) "
        f"x{n.factor:g} {n.gain_db:+.2f} +- {n.standard_error_db:.2f} {'kept' if n.kept else 'not kept'}"
        for n in narrowing.measured)


def _counts(picks: Mapping[str, str]) -> str:
    """'mse 3, percentile 1' from tensor -> calibrator picks ('none' when empty)."""
    counts = Counter(picks.values())
    return ", ".join(f"{m} {counts[m]}" for m in sorted(counts)) or "none"


def _hold_out(data: Dataset) -> tuple[Dataset, list[np.ndarray]]:
    """--target_sqnr: the representative samples without every fifth one, which is held out to measure on (at most
    ``MAX_HELD_OUT`` of those, in memory; the calibration samples are still read batch by batch)."""
    if data.num_samples < 5:
        raise CalibrationError(
            f"--target_sqnr measures candidate models on every fifth sample of the representative dataset, "
            f"calibrating on the others; {data.source} has {data.num_samples} sample(s): give at least 5"
        )
    held = held_out_indices(data.num_samples)
    cal = np.setdiff1d(np.arange(data.num_samples), held)
    if held.size > MAX_HELD_OUT:  # measured on at most MAX_HELD_OUT of them, spread evenly; the rest go unused
        held = held[np.linspace(0, held.size - 1, MAX_HELD_OUT).round().astype(np.int64)]
    return data.select(cal), data.select(held).head(held.size)


def check_target_met(search: PrecisionSearch) -> None:
    """--target_sqnr not reached: an error saying what was reached (nothing is written)."""
    if search.met:
        return
    raised = len(search.steps) - 1
    raise ConversionError(
        f"--target_sqnr={search.target_db:g} dB not reached: {search.final_sqnr_db:.2f} dB on "
        f"{search.held_out_samples} held-out samples with {raised} layer(s) raised to int16x8 or float (the 8-bit "
        f"model: {search.steps[0].sqnr_db:.2f} dB); lower the target, or keep layers float with --float_layers"
    )


def _dataset(config: ConversionConfig, graph: Graph) -> Dataset | None:
    """The representative dataset, validated against the graph's inputs (None when none is given)."""
    if config.representative_dataset is None:
        return None
    sig_names = graph.signature.input_names if graph.signature else ()
    return load_dataset(config.representative_dataset, specs_for(graph.inputs, sig_names), config.input_stats,
                        config.num_calibration_samples)


def _dump(config: ConversionConfig, graph: Graph, stage: str) -> None:
    """--dump_graphviz_dir (and --conversion_summary_dir): the IR at ``stage`` as a DOT file."""
    from .graphviz import to_dot  # noqa: PLC0415

    for directory, flag in ((config.dump_graphviz_dir, "--dump_graphviz_dir"),
                            (config.conversion_summary_dir, "--conversion_summary_dir")):
        if directory is None:
            continue
        try:
            directory.mkdir(parents=True, exist_ok=True)
            (directory / f"{stage}.dot").write_text(to_dot(graph, stage))
        except OSError as e:
            raise OutputError(f"cannot write the graph dump into {directory}: {e.strerror}; fix {flag}") from None


def equalize(graph: Graph, stats: PassStats) -> str:
    """Cross-layer equalization after the passes (activations fused, batch norms folded), before calibration
    (the activations between equalized layers change range): counted in ``stats``; a note saying what it did."""
    t0 = time.perf_counter()
    fired = sum(CrossLayerEqualization().run(g) for g in graph.all_graphs())
    stats.seconds[CrossLayerEqualization.name] = time.perf_counter() - t0
    stats.fired[CrossLayerEqualization.name] = fired
    if not fired:
        return ("--equalize: no layer pair to equalize (conv/depthwise/dense layers joined through ReLU or no "
                "activation, pooling or a spatial mean, unshared; ReLU6 and fake-quant ranges are left alone)")
    return (f"--equalize: {fired} layer pair(s) rescaled to equal per-channel weight ranges (cross-layer "
            "equalization; the float model is unchanged)")


def _video(config: ConversionConfig) -> Callable[[str, Graph], None] | None:
    """--dump_graphviz_video: a DOT file after every rewrite that changed the graph (numbered frames)."""
    if not config.dump_graphviz_video or config.dump_graphviz_dir is None:
        return None
    frames = [0]

    def frame(pass_name: str, graph: Graph) -> None:
        frames[0] += 1
        saved = replace(config, conversion_summary_dir=None)
        _dump(saved, graph, f"2_pass_{frames[0]:04d}_{pass_name}")

    return frame


def _input_size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size if path.exists() else 0


def check_weights_finite(graph: Graph, config: ConversionConfig) -> None:
    """NaN or Inf weights have no integer representation: refuse them (naming the tensors) before quantizing."""
    if not (config.inference_type.is_quantized or config.post_training_quantize):
        return
    bad = []
    for t in graph.tensors():
        if t.data is not None and t.data.dtype.kind == "f" and t.data.size:
            n = int(t.data.size - np.count_nonzero(np.isfinite(t.data)))
            if n:
                bad.append(f"{t.name} ({n} of {t.data.size} values)")
    if bad:
        listed = ", ".join(bad[:5]) + (" ..." if len(bad) > 5 else "")
        raise QuantizationError(
            f"{len(bad)} weight tensor(s) hold NaN or Inf values, which cannot be quantized: {listed}; fix the "
            "model's weights, or convert with --inference_type=FLOAT"
        )


def check_calibrated_ranges(graph: Graph, config: ConversionConfig) -> None:
    """Finite data can still overflow inside the model (huge weights): such ranges have no integer grid."""
    bad = [t.name for t in graph.tensors() if t.qrange is not None and t.qrange.source == RangeSource.CALIBRATION
           and not np.all(np.isfinite([*t.qrange.min, *t.qrange.max]))]
    if bad:
        listed = ", ".join(bad[:5]) + (" ..." if len(bad) > 5 else "")
        raise CalibrationError(
            f"on the representative dataset {config.representative_dataset}, {len(bad)} activation(s) overflow "
            f"float32 (NaN or Inf): {listed}; check the model's weights and the scale of the data"
        )


def check_output_path(path: Path, input_path: Path | None = None, flag: str = "--output_file") -> None:
    """Fail before any work if ``path`` cannot be written, or would overwrite the input model."""
    directory = path.parent if str(path.parent) else Path(".")
    if input_path is not None and input_path.exists():
        target, source = path.resolve(), input_path.resolve()
        if target == source or (source.is_dir() and source in target.parents):
            raise UsageError(
                f"{flag}={path} would overwrite the input model {input_path}; write the .tflite elsewhere"
            )
    if not directory.exists():
        blocker = next((p for p in directory.parents if p.exists() and not p.is_dir()), None)
        if blocker is not None:
            raise OutputError(f"cannot write {path}: {blocker} is a file, not a directory; fix {flag}")
        raise OutputError(f"output directory {directory} does not exist; create it or fix {flag}")
    if not directory.is_dir():
        raise OutputError(f"cannot write {path}: {directory} is a file, not a directory; fix {flag}")
    if path.is_dir():
        raise OutputError(f"output path {path} is a directory; give a file name with {flag}")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {path}: no write permission on {directory}; fix {flag} or the permissions")


def _write_failure(path: Path, directory: Path, e: OSError) -> OutputError:
    reason = e.strerror or str(e)
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        todo = f"free space on the disk holding {directory} or write elsewhere"
    elif e.errno in (errno.EACCES, errno.EPERM):
        todo = f"check the permissions of {directory}"
    elif e.errno == errno.EROFS:
        todo = "write to a writable file system"
    else:
        todo = f"check free space and permissions of {directory}"
    return OutputError(f"cannot write {path}: {reason}; {todo} (nothing was written)")


def write_atomically(path: Path, data: bytes | ModelFile, flag: str = "--output_file") -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory and a rename: on any failure
    no partial file is left and an existing file at ``path`` is untouched."""
    write_all_atomically([(path, data, flag)])


@contextmanager
def deferred_signals() -> Iterator[None]:
    """SIGINT and SIGTERM wait (pending) until the block ends: a short step that must not be cut in half (creating
    and recording a temporary file, renaming the outputs) completes, and the interrupt is handled right after."""
    if not hasattr(signal, "pthread_sigmask"):  # not POSIX
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def write_all_atomically(files: Sequence[tuple[Path, bytes | ModelFile, str]],
                         on_commit: Callable[[], None] | None = None) -> None:
    """Write several files (the model and its report) each through a temporary file in its directory, renaming
    them only once every one is complete: a failure (full disk, permissions, interrupt, SIGTERM) leaves none of them
    written, no temporary file behind, and existing files untouched. ``files``: (path, data, flag naming it); a
    ModelFile is streamed chunk by chunk. ``on_commit`` runs right after the renames, before any pending interrupt
    is handled (the CLI uses it to finish normally once the outputs are in place)."""
    temps: list[str] = []
    try:
        for path, data, flag in files:
            check_output_path(path, flag=flag)
            _write_temp(path, data, temps)
        with deferred_signals():
            for tmp, (path, _, _) in zip(temps, files, strict=True):
                try:
                    os.replace(tmp, path)
                except OSError as e:
                    raise _write_failure(path, path.parent, e) from None
            if on_commit is not None:
                on_commit()
    finally:
        with deferred_signals():
            for tmp in temps:
                if os.path.exists(tmp):
                    os.unlink(tmp)


def _write_temp(path: Path, data: bytes | ModelFile, temps: list[str]) -> None:
    """``data`` in a new, fsynced temporary file next to ``path``, whose name is appended to ``temps`` as soon as
    it exists (the caller removes it on failure)."""
    directory = path.parent if str(path.parent) else Path(".")
    fd = -1
    try:
        with deferred_signals():
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
            temps.append(tmp)
        chunks = data.chunks() if isinstance(data, ModelFile) else [memoryview(data)]
        for chunk in chunks:
            view = chunk
            while view:
                view = view[os.write(fd, view):]
        os.fsync(fd)
        closing, fd = fd, -1
        os.close(closing)
        os.chmod(tmp, 0o644)
    except OSError as e:
        raise _write_failure(path, directory, e) from None
    finally:
        if fd >= 0:
            os.close(fd)
