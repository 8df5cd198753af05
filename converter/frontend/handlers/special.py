"""Special functions TensorFlow's converter lowers to elementwise builtins (issue 11).

TF -> IR:
  Lgamma(x) = log|Gamma(x)|   -> the Lanczos approximation below (ADD, SUB, MUL, DIV, LOG, SIN, FLOOR, ABS, LESS,
                                 GREATER, EQUAL, SELECT_V2), as TensorFlow's converter writes it

Lanczos (g = 7, 9 terms; the coefficients of Numerical Recipes / XLA's lgamma, accurate to float32 precision): for
x >= 1/2 with z = x - 1,

    A(z)         = c0 + sum_{i=1..8} c_i / (z + i)
    t            = z + g + 1/2
    lgamma(x)    = log(sqrt(2 pi)) + (z + 1/2 - t / log t) * log t + log A(z)

((z + 1/2) log t - t written so that t log t cannot overflow), log t = log(g + 1/2) + log(1 + z / (g + 1/2)) (the
constant part exact). For x < 1/2 Euler's reflection Gamma(x) Gamma(1 - x) = pi / sin(pi x) gives

    lgamma(x)    = log(pi) - log|sin(pi x)| - lgamma(1 - x)     (the series at z = -x)

with |sin(pi x)| = sin(pi r), r = frac(|x|) folded into [0, 1/2] (exact 0 at integers, no pi * x overflow). At the
poles (x = 0, -1, ...) log|sin| is -inf and the result -log|sin| = +inf; lgamma(+-inf) = |x| = +inf. The
constants are finite (INT8 quantizes constants): infinities are told by comparing with +-FLT_MAX.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ...ir.attrs import FusedActivationAttrs
from ..context import ImportContext
from ..registry import tf_op
from .common import scalar, step

LANCZOS_G = 7.0
LANCZOS_C0 = 0.99999999999980993227684700473478
LANCZOS_C = (676.520368121885098567009190444019, -1259.13921672240287047156078755283,
             771.3234287776530788486528258894, -176.61502916214059906584551354,
             12.507343278686904814458936853, -0.13857109526572011689554707,
             9.984369578019570859563e-6, 1.50563273514931155834e-7)
_F = FusedActivationAttrs
_FLT_MAX = float(np.finfo(np.float32).max)


@tf_op("Lgamma", elementwise=True)
def lgamma(ctx: ImportContext) -> None:
    x = ctx.input(0)
    if x.dtype != np.float32:
        raise ctx.fail(f"Lgamma of {x.dtype} has no TFLite form (its lowering runs in float32); cast to float32")

    def c(name: str, value: float) -> Any:  # noqa: ANN401 - IR Tensor
        return scalar(ctx, name, value, x.dtype)

    def s(op: str, inputs: list[Any], name: str, dtype: Any = None) -> Any:  # noqa: ANN401
        attrs = _F() if op in ("add", "sub", "mul", "div") else None
        if op == "select_v2":  # (condition, then, else): the values' type
            dtype = inputs[1].dtype
        return step(ctx, op, inputs, name, attrs, dtype)

    half = c("half", 0.5)
    reflect = s("less", [x, half], "reflect", np.bool_)
    z = s("select_v2", [reflect, s("neg", [x], "neg_x"), s("sub", [x, c("one", 1.0)], "x_minus_one")], "z")
    series = c("c0", LANCZOS_C0)
    for i, coeff in enumerate(LANCZOS_C, start=1):
        term = s("div", [c(f"c{i}", coeff), s("add", [z, c(f"i{i}", float(i))], f"z_plus_{i}")], f"term{i}")
        series = s("add", [series, term], f"series{i}")
    gh = LANCZOS_G + 0.5
    t = s("add", [z, c("g_half", gh)], "t")
    log_t = s("add", [c("log_g_half", math.log(gh)),
                      s("log", [s("add", [s("div", [z, c("g_half_d", gh)], "z_over_g"), c("one_l", 1.0)],
                                  "ratio")], "log_ratio")], "log_t")
    core = s("mul", [s("add", [z, s("sub", [half, s("div", [t, log_t], "t_over_log_t")], "half_minus")], "factor"),
                     log_t], "core")
    log_y = s("add", [c("log_sqrt_2pi", 0.5 * math.log(2.0 * math.pi)),
                      s("add", [core, s("log", [series], "log_series")], "tail")], "log_y")

    # Reflection: log(pi) - log(sin(pi r)) - log_y, or +inf at the poles (log sin = -inf).
    ax = s("abs", [x], "abs_x")
    frac = s("sub", [ax, s("floor", [ax], "floor_abs_x")], "frac")
    r = s("select_v2", [s("greater", [frac, half], "upper_half", np.bool_),
                        s("sub", [c("one_r", 1.0), frac], "one_minus_frac"), frac], "r")
    log_sin = s("log", [s("sin", [s("mul", [r, c("pi", math.pi)], "pi_r")], "sin_pi_r")], "log_sin")
    # Finite constants only (INT8 quantizes them): log sin = -inf below -FLT_MAX, x = +-inf above it.
    pole = s("less", [log_sin, c("lowest", -_FLT_MAX)], "pole", np.bool_)
    reflected = s("select_v2", [pole, s("neg", [log_sin], "minus_log_sin"),
                                s("sub", [s("sub", [c("log_pi", math.log(math.pi)), log_sin], "log_pi_minus"), log_y],
                                  "reflected_value")], "reflected")
    value = s("select_v2", [reflect, reflected, log_y], "value")
    ctx.emit("select_v2", [s("greater", [ax, c("highest", _FLT_MAX)], "x_is_inf", np.bool_), ax, value])
