"""Keras model files (--keras_model_file): HDF5 (.h5, tf_keras / Keras 2 and Keras 3's legacy format) and Keras 3's
.keras zip. The file is data: its model config is read as JSON and checked before any Keras code sees it, then the
Keras that wrote it loads it in safe mode, the model's call is traced with its input shapes and frozen, and the
conversion goes on as for a SavedModel signature.

What the check refuses, each with one line naming the layer or class:
  * Lambda layers and serialized Python functions (``__lambda__``, ``function_type: lambda``): their marshalled
    bytecode would run on load. Only --unsafe_keras_lambda lets Keras load them (the user trusts the file).
  * classes that are not Keras' own (a ``module`` outside keras / tf_keras, a custom ``registered_name``, a class
    name the Keras that reads the file does not define): they need the user's Python code, and importing a module
    a file names would run code too.
"""

from __future__ import annotations

import importlib
import json
import stat
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError, ShapeError
from ..tf_runtime import tensorflow
from .saved_model_reader import SignatureGraph, first_line

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_ZIP_MAGIC = b"PK\x03\x04"
_KERAS_MODULES = ("keras", "tf_keras")
# Keras 3's serialization markers for values that are not classes; all but __lambda__ carry plain data.
_DATA_MARKERS = frozenset({"__keras_tensor__", "__tensor__", "__numpy__", "__bytes__", "__tuple__", "__typespec__",
                           "__slice__", "__ellipsis__", "function"})
_LAMBDA_MARKERS = frozenset({"Lambda", "__lambda__"})
# Where tf_keras (Keras 2) looks up the class names of an HDF5 model config.
_KERAS2_NAMESPACES = ("layers", "initializers", "regularizers", "constraints", "activations", "mixed_precision",
                      "models", "losses", "metrics", "optimizers")


@dataclass(frozen=True)
class KerasFile:
    """What a Keras model file holds, read without Keras: its format, the Keras major version that wrote it, and the
    model config (JSON)."""

    path: Path
    kind: str  # "h5" or "keras"
    keras_major: int
    config: dict[str, Any]


def read_keras_file(path: Path) -> KerasFile:
    """The model config of a .h5 or .keras file, or an InputError saying what the file is instead."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise InputError(f"Keras model file {path} does not exist; check --keras_model_file") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{path} is a directory, not a Keras model file; for a SavedModel use --saved_model_dir={path}")
    with path.open("rb") as f:
        head = f.read(8)
    if head.startswith(_HDF5_MAGIC):
        return _read_h5(path)
    if head.startswith(_ZIP_MAGIC):
        return _read_keras_zip(path)
    raise InputError(f"{path} is neither an HDF5 (.h5) nor a .keras (zip) Keras model file; save the model with "
                     "model.save('model.keras') or, for a frozen graph, use --input_file")


def _read_h5(path: Path) -> KerasFile:
    import h5py  # noqa: PLC0415 (ships with Keras)

    try:
        with h5py.File(path, "r") as f:
            raw = f.attrs.get("model_config")
            version = f.attrs.get("keras_version", "2")
    except OSError as e:
        raise InputError(f"cannot read the HDF5 file {path} ({first_line(e)}); the file is truncated or corrupt")  \
            from None
    if raw is None:
        raise InputError(f"{path} holds weights only (no model config); save the whole model (model.save) and convert "
                         "that file")
    return KerasFile(path, "h5", _major(version), _json(raw, path))


def _read_keras_zip(path: Path) -> KerasFile:
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            if "config.json" not in names:
                raise InputError(f"{path} is a zip archive without config.json, not a .keras model; save the model "
                                 "with model.save('model.keras')")
            config = _json(z.read("config.json"), path)
            meta = _json(z.read("metadata.json"), path) if "metadata.json" in names else {}
    except zipfile.BadZipFile as e:
        raise InputError(f"{path} is not a readable .keras file ({e}); the file is truncated or corrupt") from None
    return KerasFile(path, "keras", _major(meta.get("keras_version", "3")), config)


def _json(raw: Any, path: Path) -> dict[str, Any]:  # noqa: ANN401
    try:
        value = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else str(raw))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{path}: the model config is not JSON ({e}); the file is corrupt") from None
    if not isinstance(value, dict):
        raise InputError(f"{path}: the model config is not a JSON object; the file is corrupt")
    return value


def _major(version: Any) -> int:  # noqa: ANN401
    text = version.decode() if isinstance(version, bytes) else str(version)
    try:
        return int(text.split(".")[0])
    except ValueError:
        return 2


# ---------------------------------------------------------------------------------------------- the safety check
def _objects(value: Any, layer: str | None = None) -> Iterator[tuple[dict[str, Any], str | None]]:  # noqa: ANN401
    """Every serialized object (a dict with a class_name) in the config, with the name of the layer it belongs to."""
    if isinstance(value, dict):
        if "class_name" in value:
            cfg = value.get("config")
            name = value.get("name") or (cfg.get("name") if isinstance(cfg, dict) else None)
            layer = name if isinstance(name, str) else layer
            yield value, layer
        for v in value.values():
            yield from _objects(v, layer)
    elif isinstance(value, list):
        for v in value:
            yield from _objects(v, layer)


def check_config(kf: KerasFile, allow_lambda: bool) -> None:
    """Refuse Lambda layers (unless ``allow_lambda``) and classes that are not the Keras library's own."""
    known = _known_classes(kf.keras_major)
    for obj, layer in _objects(kf.config):
        cls = str(obj["class_name"])
        where = f"layer {layer!r}" if layer else "the model"
        cfg = obj.get("config")
        is_lambda = cls in _LAMBDA_MARKERS or (isinstance(cfg, dict) and cfg.get("function_type") == "lambda")
        if is_lambda:
            if allow_lambda:
                continue
            raise InputError(
                f"{kf.path}: {where} is a Lambda layer (or holds a Python lambda), whose serialized bytecode "
                "qconvert does not run: a model file is data; rebuild the model without Lambda layers, or pass "
                "--unsafe_keras_lambda if you trust the file"
            )
        module = obj.get("module")
        registered = obj.get("registered_name")
        foreign = module is not None and not _keras_module(str(module))
        registered_custom = isinstance(registered, str) and ">" in registered
        unknown = cls not in _DATA_MARKERS and cls not in known and not (module and _defines(str(module), cls))
        if foreign or registered_custom or unknown:
            origin = f" from module {module}" if module else ""
            raise InputError(
                f"{kf.path}: {where} uses class {cls}{origin}, which is not part of Keras and needs its Python code "
                "(qconvert loads only Keras' own classes from a file); export the model from Python with "
                "model.export(DIR) and convert it with --saved_model_dir=DIR"
            )


def _keras_module(module: str) -> bool:
    return module in _KERAS_MODULES or module.startswith(tuple(f"{m}." for m in _KERAS_MODULES))


def _defines(module: str, cls: str) -> bool:
    """Whether the Keras module ``module`` defines ``cls`` (only keras / tf_keras modules are ever imported)."""
    if not _keras_module(module):
        return False
    try:
        return hasattr(importlib.import_module(module), cls)
    except ImportError:
        return False


def _known_classes(major: int) -> set[str]:
    """Class names the Keras that reads the file resolves by itself."""
    names = {"Functional", "Sequential", "Model"}
    if major >= 3:
        import keras  # noqa: PLC0415

        spaces: Sequence[Any] = (keras.layers, keras.initializers, keras.regularizers, keras.constraints,
                                 keras.activations, keras.dtype_policies, keras.models, keras.losses, keras.metrics,
                                 keras.optimizers)
    else:
        tf_keras = _tf_keras()
        spaces = [getattr(tf_keras, n) for n in _KERAS2_NAMESPACES if hasattr(tf_keras, n)]
    for space in spaces:
        names.update(n for n in dir(space) if n[:1].isupper())
    return names


def _tf_keras() -> Any:  # noqa: ANN401
    try:
        import tf_keras  # noqa: PLC0415
    except ImportError:
        raise InputError("this Keras 2 (tf_keras) model file needs the tf_keras package; pip install tf-keras") \
            from None
    return tf_keras


# ---------------------------------------------------------------------------------------------- load and freeze
def load_keras_model(path: Path, input_shapes: Mapping[str, Sequence[int]] | Sequence[Sequence[int] | None] = (),
                     allow_lambda: bool = False) -> SignatureGraph:
    """The model in the Keras file at ``path``, traced on its inputs (``input_shapes`` fix unknown dims: by input
    name, or in the model's input order) and frozen, as a signature graph."""
    kf = read_keras_file(path)
    check_config(kf, allow_lambda)
    tf = tensorflow()
    model = _load(kf, allow_lambda)
    inputs = list(getattr(model, "inputs", None) or [])
    if not inputs:
        raise InputError(f"{path}: the model has no defined inputs (a subclassed Model); export it from Python with "
                         "model.export(DIR) and use --saved_model_dir=DIR")
    names = _input_names(model, inputs)
    if isinstance(input_shapes, Mapping):
        by_name = dict(input_shapes)
        shapes = [by_name.pop(n, None) for n in names]
        if by_name:
            raise ShapeError(f"input(s) {', '.join(by_name)} are not inputs of the Keras model (it has: "
                             f"{', '.join(names)}); fix --input_arrays")
    else:
        shapes = list(input_shapes)
    if len(shapes) > len(inputs):
        raise ShapeError(f"{len(shapes)} input shapes given for the model's {len(inputs)} input(s); give one "
                         "shape per input, separated by ':'")
    specs = []
    for i, (x, name) in enumerate(zip(inputs, names, strict=True)):
        declared = list(x.shape)
        given = shapes[i] if i < len(shapes) else None
        if given is not None and len(given) != len(declared):
            raise ShapeError(f"--input_shapes gives {len(given)} dims for input {name!r}, whose shape has "
                             f"{len(declared)}; give {len(declared)} comma-separated dims")
        specs.append(tf.TensorSpec(list(given) if given is not None else declared, tf.as_dtype(x.dtype), name=name))

    def serve(*xs: Any) -> Any:  # noqa: ANN401
        return model(list(xs) if len(xs) > 1 else xs[0], training=False)

    from tensorflow.python.framework import convert_to_constants  # noqa: PLC0415

    try:
        concrete = tf.function(serve, input_signature=specs, autograph=False).get_concrete_function()
        frozen = convert_to_constants.convert_variables_to_constants_v2(concrete)
    except (ValueError, TypeError, tf.errors.OpError) as e:
        raise InputError(f"cannot trace the Keras model in {path} on inputs {[list(s.shape) for s in specs]} "
                         f"({first_line(e)}); fix unknown input dims with --input_shapes") from None
    placeholders = [t for t in frozen.inputs if t.dtype != tf.resource]
    outputs = list(frozen.outputs)
    out_names = list(getattr(model, "output_names", None) or [])
    if len(out_names) != len(outputs):
        out_names = [f"output_{i}" for i in range(len(outputs))]
    return SignatureGraph(graph_def=frozen.graph.as_graph_def(), input_tensors=tuple(t.name for t in placeholders),
                          input_names=tuple(names), output_tensors=tuple(t.name for t in outputs),
                          output_names=tuple(out_names))


def _input_names(model: Any, inputs: Sequence[Any]) -> list[str]:  # noqa: ANN401
    names = list(getattr(model, "input_names", None) or [])
    if len(names) != len(inputs):
        names = [str(getattr(x, "name", f"input_{i}")).split(":")[0] for i, x in enumerate(inputs)]
    return [n.replace("/", "_") for n in names]


def _load(kf: KerasFile, allow_lambda: bool) -> Any:  # noqa: ANN401
    """Load with the Keras that wrote the file, in safe mode unless Lambda layers are allowed."""
    try:
        if kf.keras_major >= 3:
            import keras  # noqa: PLC0415

            return keras.saving.load_model(str(kf.path), compile=False, safe_mode=not allow_lambda)
        return _tf_keras().models.load_model(str(kf.path), compile=False, safe_mode=not allow_lambda)
    except InputError:
        raise
    except Exception as e:  # noqa: BLE001 - Keras' loaders fail on a bad file in many ways; each is an InputError
        raise InputError(f"cannot load the Keras model in {kf.path} ({first_line(e)}); the file may be corrupt or "
                         "written by an incompatible Keras") from None
