"""Loading a SavedModel signature as a frozen GraphDef: straight from the files when possible, else with
TensorFlow's own loader and freezer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from ..errors import ArrayNameError, InputError
from ..tf_runtime import tensorflow
from .saved_model_reader import SignatureGraph, first_line, load_error, read_signature


def load_saved_model(path: Path, tags: tuple[str, ...], signature_key: str,
                     input_shapes: Mapping[str, Sequence[int]] | Sequence[Sequence[int] | None] = (),
                     fuse_recurrent: bool = True) -> SignatureGraph:
    """Load ``signature_key`` of the SavedModel at ``path`` and freeze it (``input_shapes``, ``fuse_recurrent``: see
    ``read_signature``; functional loops are kept for the importer to unroll on the TensorFlow path).

    TF2 SavedModels are read from their files (``saved_model_reader``); the rest go through TensorFlow's loader
    (``tf.saved_model.load``) and freezer. Nothing of the model's Python code runs either way.
    """
    if not path.exists():
        raise InputError(f"SavedModel directory {path} does not exist; check --saved_model_dir")
    if not path.is_dir():
        raise InputError(f"{path} is a file, not a SavedModel directory; for a frozen graph use --graph_def_file={path}")
    if not (path / "saved_model.pb").exists() and not (path / "saved_model.pbtxt").exists():
        raise InputError(
            f"{path} is not a SavedModel (no saved_model.pb inside); pass the directory tf.saved_model.save wrote"
        )
    tf = tensorflow()
    direct = read_signature(path, tags, signature_key, input_shapes, fuse_recurrent)
    if direct is not None:
        return direct
    from tensorflow.python.framework import convert_to_constants  # noqa: PLC0415

    try:
        loaded = tf.saved_model.load(str(path), tags=list(tags))
    except Exception as e:  # noqa: BLE001 - TF's loader fails on a corrupt model in many ways; each is an InputError
        raise load_error(path, tags, e) from None
    sigs = getattr(loaded, "signatures", {})
    if signature_key not in sigs:
        have = ", ".join(sorted(sigs)) or "none"
        raise ArrayNameError(
            f"SavedModel {path} has no signature {signature_key!r} (it has: {have}); "
            "choose one with --saved_model_signature_key"
        )
    func = sigs[signature_key]
    try:
        frozen = convert_to_constants.convert_variables_to_constants_v2(func, lower_control_flow=False)
    except Exception as e:  # noqa: BLE001 - TensorFlow's freezer; any failure means the signature cannot be frozen
        raise InputError(
            f"cannot freeze signature {signature_key!r} of SavedModel {path}: {first_line(e)}; the SavedModel's "
            "variables may be missing or corrupt, export it again with tf.saved_model.save"
        ) from None
    graph_def = frozen.graph.as_graph_def()

    # Structured input names -> placeholder tensors, in the function's positional order.
    _, kwargs = func.structured_input_signature
    placeholders = [t for t in frozen.inputs if t.dtype != tf.resource]
    in_names = [spec.name or key for key, spec in sorted(kwargs.items())] if kwargs else []
    by_spec = {spec.name: key for key, spec in kwargs.items()}
    input_names: list[str] = []
    for i, t in enumerate(placeholders):
        op_name = t.name.split(":")[0]
        input_names.append(by_spec.get(op_name, in_names[i] if i < len(in_names) else op_name))

    outputs = func.structured_outputs
    if isinstance(outputs, dict):
        out_keys = sorted(outputs)
        flat = [outputs[k] for k in out_keys]
    else:
        flat = list(tf.nest.flatten(outputs))
        out_keys = [f"output_{i}" for i in range(len(flat))]
    # frozen.outputs follows the flattened structure order (sorted dict keys).
    out_tensors = [t.name for t in frozen.outputs]
    if len(out_tensors) != len(flat):
        out_keys = [f"output_{i}" for i in range(len(out_tensors))]
    return SignatureGraph(
        graph_def=graph_def,
        input_tensors=tuple(t.name for t in placeholders),
        input_names=tuple(input_names),
        output_tensors=tuple(out_tensors),
        output_names=tuple(out_keys),
    )

