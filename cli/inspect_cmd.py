"""`qconvert inspect MODEL.tflite`: what is inside a .tflite (any converter's), as tables, plain lines or JSON.

Exit codes: 0 ok, 1 the file is missing or not a readable TFLite model, 2 usage error.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import click
from rich.console import Console as RichConsole
from rich.table import Table
from rich.text import Text

from converter.errors import QConvertError
from converter.inspect_model import ModelInfo, QuantizationInfo, TensorInfo, read_model

from .render import Console

EXIT_ERROR, EXIT_INTERRUPTED = 1, 130
_FIRST = 4  # per-channel values shown (all of them are in --json)

_HELP = """Describe a TFLite model: operators with their options, tensors with shapes and quantization
(scale, zero point, min/max; per-channel as count + first values), inputs, outputs, signatures and sizes.

Works on any .tflite (TensorFlow's converter, qconvert, custom ops). Tables on a terminal, plain lines
otherwise; --json prints one JSON document.

\b
  qconvert inspect model.tflite
  qconvert inspect model.tflite --json --no-tensors | jq .op_counts

Exit codes: 0 ok, 1 not a readable TFLite model, 2 usage error.
"""


@click.command(name="inspect", help=_HELP, context_settings={"help_option_names": ["-h", "--help"],
                                                             "max_content_width": 110})
@click.argument("model", type=click.Path(path_type=Path, dir_okay=True))
@click.option("--json", "as_json", is_flag=True, help="Print the description as one JSON document.")
@click.option("--tensors/--no-tensors", default=True, show_default=True,
              help="List every tensor (inputs and outputs are always shown).")
def inspect_command(model: Path, as_json: bool, tensors: bool) -> None:
    console = Console(quiet=False, verbose=False)
    try:
        info = read_model(model)
        if as_json:
            click.echo(json.dumps(info.to_dict(tensors=tensors), indent=2, allow_nan=False))
        else:
            render(info, console.out, tensors=tensors, plain=not console.out.is_terminal)
    except QConvertError as e:
        console.error(" ".join(str(e).split()))
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        console.error("interrupted")
        sys.exit(EXIT_INTERRUPTED)
    except MemoryError:
        console.error(f"out of memory reading {model}; inspect it on a machine with more memory")
        sys.exit(EXIT_ERROR)
    except BrokenPipeError:  # `qconvert inspect m.tflite | head`: the reader has gone; stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(EXIT_ERROR)


# ------------------------------------------------------------------------------------------------ formatting
def _num(x: float) -> str:
    return f"{x:.6g}"


def _values(values: Sequence[float] | Sequence[int]) -> str:
    shown = ", ".join(_num(v) if isinstance(v, float) else str(v) for v in values[:_FIRST])
    return f"[{shown}{', ...' if len(values) > _FIRST else ''}]"


def quantization_text(q: QuantizationInfo | None) -> str:
    """One line: ``scale=... zero_point=... min=... max=...``; per-channel as the count and the first values."""
    if q is None:
        return ""
    parts = []
    if q.per_channel:
        parts.append(f"per-channel x{len(q.scale)} quantized_dimension={q.quantized_dimension}")
        parts.append(f"scale={_values(q.scale)}")
        parts.append(f"zero_point={_values(q.zero_point)}")
    else:
        if q.scale:
            parts.append(f"scale={_num(q.scale[0])}")
        if q.zero_point:
            parts.append(f"zero_point={q.zero_point[0]}")
    for name, values in (("min", q.min), ("max", q.max)):
        if len(values) == 1:
            parts.append(f"{name}={_num(values[0])}")
        elif values:
            parts.append(f"{name}={_values(values)}")
    if q.details:
        parts.append(f"details={q.details}")
    return " ".join(parts)


def _shape(t: TensorInfo) -> str:
    dims = t.shape_signature if t.shape_signature is not None and -1 in t.shape_signature else t.shape
    return "[" + ",".join(str(d) for d in dims) + "]"


def _indices(values: Sequence[int]) -> str:
    return "[" + ",".join(str(v) for v in values) + "]"


def _options(options: dict[str, object]) -> str:
    def text(v: object) -> str:
        if isinstance(v, float):
            return _num(v)
        if isinstance(v, list):
            return _values(v)
        return str(v)

    return " ".join(f"{k}={text(v)}" for k, v in options.items())


# ------------------------------------------------------------------------------------------------ rendering
def render(info: ModelInfo, out: RichConsole, tensors: bool, plain: bool) -> None:
    """Tables on a terminal (``plain=False``), one line per item otherwise (logs, pipes, NO_COLOR, TERM=dumb)."""

    def line(text: str) -> None:
        out.print(text, markup=False, highlight=False, soft_wrap=True)

    def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]],
              plain_row: Sequence[str] | None = None) -> None:
        """``plain_row``: per column, the prefix of the value in plain mode ("" = bare value)."""
        if plain:
            prefixes = plain_row if plain_row is not None else [f"{c}=" for c in columns]
            for row in rows:
                line(" ".join(p + v for p, v in zip(prefixes, row, strict=True) if v).rstrip())
            return
        t = Table(title=title, show_edge=False, title_justify="left")
        for c in columns:
            t.add_column(c, overflow="fold", justify="right" if c in ("#", "bytes", "count") else "left")
        for row in rows:
            t.add_row(*(Text(v) for v in row))
        out.print(t)

    size = info.sizes
    line(f"model: {info.path or '-'} ({size.file_bytes:,} bytes), schema version {info.schema_version}, "
         f"description {info.description!r}")
    for sg in info.subgraphs:
        name = f" {sg.name!r}" if sg.name else ""
        line(f"subgraph {sg.index}{name}: {len(sg.operators)} operators, {len(sg.tensors)} tensors")
        io_rows = []
        for kind, indices in (("input", sg.inputs), ("output", sg.outputs)):
            for i in indices:
                t = sg.tensor(i)
                cells = ["?", "", ""] if t is None else [t.name, f"{t.dtype}{_shape(t)}",
                                                         quantization_text(t.quantization)]
                io_rows.append([f"{kind} {i}:" if plain else kind, *([] if plain else [str(i)]), *cells])
        if plain:
            table("", [], io_rows, ["  ", "", "", ""])
        else:
            table(f"subgraph {sg.index} inputs and outputs", ["kind", "tensor", "name", "type", "quantization"],
                  io_rows)
        op_rows = [[f"op {op.index}:" if plain else str(op.index), op.op, f"v{op.version}",
                    _indices(op.inputs), _indices(op.outputs),
                    _options(dict(op.custom_options if op.custom_options is not None else op.options))]
                   for op in sg.operators]
        table(f"subgraph {sg.index} operators", ["#", "op", "version", "inputs", "outputs", "options"], op_rows,
              ["  ", "", "", "inputs=", "outputs=", ""])
        if tensors:
            t_rows = [[f"tensor {t.index}:" if plain else str(t.index), t.name, f"{t.dtype}{_shape(t)}",
                       f"{t.buffer_bytes:,}" if t.buffer_bytes else "", quantization_text(t.quantization)]
                      for t in sg.tensors]
            table(f"subgraph {sg.index} tensors", ["#", "name", "type", "bytes", "quantization"], t_rows,
                  ["  ", "", "", "bytes=", ""])
    for s in info.signatures:
        ins = ", ".join(f"{n} -> {i}" for n, i in s.inputs)
        outs = ", ".join(f"{n} -> {i}" for n, i in s.outputs)
        line(f"signature {s.key!r} (subgraph {s.subgraph_index}): inputs {ins or '-'}; outputs {outs or '-'}")
    code_rows = [[f"operator code {c.index}:" if plain else str(c.index), c.op,
                  f"v{c.version}", "" if c.builtin == c.op else c.builtin] for c in info.operator_codes]
    table("operator codes", ["#", "op", "version", "builtin"], code_rows, ["", "", "", "builtin="])
    for m in info.metadata:
        value = f": {m.text}" if m.text is not None else ""
        line(f"metadata {m.name!r} (buffer {m.buffer}, {m.bytes:,} bytes){value}")
    by_dtype = ", ".join(f"{k} {v:,}" for k, v in size.bytes_by_dtype.items())
    extra = (f", {size.offset_buffers} stored after the flatbuffer" if size.offset_buffers else "") + (
        f", {size.external_buffers} external" if size.external_buffers else "")
    line(f"sizes: file {size.file_bytes:,} bytes; buffers {size.buffer_bytes:,} bytes ({by_dtype or 'none'}; "
         f"other {size.other_buffer_bytes:,}){extra}")
    counts = info.op_counts
    if plain:
        line("op counts: " + (", ".join(f"{k} {v}" for k, v in counts.items()) or "none"))
    else:
        table("op counts", ["op", "count"], [[k, str(v)] for k, v in counts.items()])
