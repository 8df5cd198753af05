"""TOCO's --model_flags_file: a ModelFlags proto (text or binary) whose fields stand for flags. Flags given on the
command line override it; fields qconvert cannot honour are refused as their flags are."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from converter.errors import UsageError

from .classic_flags import REFUSALS


def merge(kw: dict[str, object]) -> dict[str, object]:
    """``kw`` with the values of --model_flags_file filled in where the command line left them unset."""
    path = kw.get("model_flags_file")
    if path is None:
        return kw
    from converter.toco_rules import read_proto  # noqa: PLC0415 (TensorFlow's protos)

    mf = read_proto(Path(str(path)), "ModelFlags")
    _refuse_fields(mf, Path(str(path)))
    out = dict(kw)

    def default(key: str, value: object) -> None:
        if out.get(key) is None and value not in (None, ""):
            out[key] = value

    arrays = list(mf.input_arrays)
    if arrays:
        default("input_arrays", ",".join(a.name for a in arrays))
        if all(a.HasField("shape") for a in arrays):
            default("input_shapes", ":".join(",".join(str(d) for d in a.shape.dims) for a in arrays))
        if any(a.HasField("mean_value") or a.HasField("std_value") for a in arrays):
            default("mean_values", ",".join(repr(a.mean_value) for a in arrays))
            default("std_dev_values", ",".join(repr(a.std_value) for a in arrays))
        if any(a.HasField("data_type") for a in arrays):
            names = type(arrays[0]).DESCRIPTOR.fields_by_name["data_type"].enum_type.values_by_number
            default("input_data_types", ",".join(names[a.data_type].name for a in arrays))
    default("output_arrays", ",".join(mf.output_arrays))
    if mf.HasField("change_concat_input_ranges"):
        default("change_concat_input_ranges", str(mf.change_concat_input_ranges).upper())
    if mf.HasField("allow_nonascii_arrays"):
        default("allow_nonascii_arrays", str(mf.allow_nonascii_arrays).lower())
    if mf.model_checks:
        default("model_checks", ",".join("{" + f"count_type:{c.count_type},count_min:{c.count_min},"
                                          f"count_max:{c.count_max}" + "}" for c in mf.model_checks))
    return out


def _refuse_fields(mf: Any, path: Path) -> None:  # noqa: ANN401 - ModelFlags
    bad = f"--model_flags_file={path}"
    if mf.variable_batch:
        raise UsageError(f"{bad}: variable_batch: {REFUSALS['variable_batch']}")
    if mf.rnn_states:
        raise UsageError(f"{bad}: rnn_states: {REFUSALS['rnn_states']}")
    if mf.allow_nonexistent_arrays:
        raise UsageError(f"{bad}: allow_nonexistent_arrays: {REFUSALS['allow_nonexistent_arrays']}")
    if mf.HasField("arrays_extra_info"):
        raise UsageError(f"{bad}: arrays_extra_info: write it to its own file and pass --arrays_extra_info_file")
    if mf.control_output_arrays:
        raise UsageError(f"{bad}: control_output_arrays: TFLite has no control outputs; list data outputs in "
                         "output_arrays")
    if mf.saved_model_dir or mf.saved_model_tags or mf.saved_model_exported_names or mf.use_hlo_import:
        raise UsageError(f"{bad}: saved_model_* / use_hlo_import: give the model with --saved_model_dir "
                         "(--saved_model_tag_set, --saved_model_signature_key)")
    if any(a.shape.unknown_rank for a in mf.input_arrays):
        raise UsageError(f"{bad}: an input array has unknown_rank; give its dims (qconvert writes static shapes)")
