"""Running converted models in LiteRT during a conversion (--target_sqnr measures candidate models), in a worker
process: a kernel that rejects a model by aborting the process (LiteRT's TFLITE_CHECK) ends the worker, not the
conversion. The worker imports only numpy and LiteRT; the inputs are sent to it once."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType

import numpy as np

from .errors import QConvertError


class LiteRTUnavailableError(QConvertError):
    """Measuring models needs LiteRT (pip install ai-edge-litert)."""


def run_litert(model: bytes, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Run ``model`` in LiteRT (builtin kernels) on each sample of ``inputs`` (one float array per model input,
    first axis = samples): the outputs as reals (integer inputs quantized, integer outputs dequantized). In this
    process: ``LiteRTWorker`` runs it in a worker where a kernel may abort."""
    return run_litert_keeping(model, inputs, ())[0]


def run_litert_keeping(model: bytes, inputs: Sequence[np.ndarray],
                       keep: Sequence[str]) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """``run_litert``'s outputs, and the real values of the intermediate tensors named in ``keep``
    (--debug_layers; the interpreter then preserves every tensor)."""
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType  # noqa: PLC0415
    except ImportError:
        raise LiteRTUnavailableError("running the converted model (--debug_layers) needs LiteRT, which is not "
                                     "installed; pip install 'qconvert[debug]'") from None
    it = Interpreter(model_content=model, experimental_preserve_all_tensors=bool(keep),
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    ins, outs = it.get_input_details(), it.get_output_details()
    details = {d["name"]: d for d in it.get_tensor_details()} if keep else {}
    kept = [details[k] for k in keep if k in details]
    got: list[list[np.ndarray]] = [[] for _ in outs]
    got_kept: dict[str, list[np.ndarray]] = {d["name"]: [] for d in kept}
    for i in range(int(inputs[0].shape[0])):
        for d, a in zip(ins, inputs, strict=True):
            x = a[i:i + 1]
            scale, zp = d["quantization"]
            if np.dtype(d["dtype"]).kind in "iu" and scale:
                info = np.iinfo(d["dtype"])
                x = np.clip(np.round(x / scale + zp), info.min, info.max)
            it.set_tensor(d["index"], x.astype(d["dtype"]).reshape(d["shape"]))
        it.invoke()
        for k, d in enumerate(outs):
            got[k].append(_real(it.get_tensor(d["index"]), d))
        for d in kept:
            got_kept[d["name"]].append(_real(it.get_tensor(d["index"]), d))
    return [np.concatenate(g) for g in got], {k: np.concatenate(v) for k, v in got_kept.items() if v}


def _real(q: np.ndarray, detail: dict) -> np.ndarray:
    """A tensor's value as reals (float64): integer tensors with a scale dequantized."""
    y = np.asarray(q, np.float64).copy()
    scale, zp = detail["quantization"]
    return (y - zp) * scale if np.dtype(detail["dtype"]).kind in "iu" and scale else y


def _serve(read_fd: int, write_fd: int) -> None:
    """The worker: receives the inputs once, then models; answers ("ok", outputs) or ("error", message)."""
    with Connection(read_fd, writable=False) as rx, Connection(write_fd, readable=False) as tx:
        inputs: list[np.ndarray] = rx.recv()
        while True:
            model = rx.recv()
            if model is None:
                return
            try:
                tx.send(("ok", run_litert(model, inputs)))
            except Exception as e:  # noqa: BLE001 - a kernel's refusal, reported back as data
                tx.send(("error", f"{type(e).__name__}: {e}"))


_WORKER = "import sys; from converter.litert_worker import _serve; _serve(int(sys.argv[1]), int(sys.argv[2]))"


class LiteRTWorker:
    """Runs models on fixed inputs in a worker process (restarted after a crash). ``run`` returns the outputs, or
    the reason LiteRT could not run the model. The worker is a fresh interpreter (``python -c``), so that nothing
    of the caller's main module runs again in it."""

    def __init__(self, inputs: Sequence[np.ndarray]) -> None:
        try:
            importlib.import_module("ai_edge_litert")
        except ImportError:
            raise LiteRTUnavailableError("measuring candidate models needs LiteRT, which is not installed; "
                                         "pip install ai-edge-litert") from None
        self.inputs = [np.ascontiguousarray(a) for a in inputs]
        self._proc: subprocess.Popen[bytes] | None = None
        self._tx: Connection | None = None
        self._rx: Connection | None = None
        self._queue: ThreadPoolExecutor | None = None

    def _start(self) -> tuple[Connection, Connection]:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        root = str(Path(__file__).resolve().parents[1])  # where the converter package is
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
        self._proc = subprocess.Popen([sys.executable, "-c", _WORKER, str(to_child_r), str(from_child_w)],
                                      pass_fds=(to_child_r, from_child_w), env=env, stdin=subprocess.DEVNULL)
        os.close(to_child_r)
        os.close(from_child_w)
        self._tx = Connection(to_child_w, readable=False)
        self._rx = Connection(from_child_r, writable=False)
        self._tx.send(self.inputs)
        return self._tx, self._rx

    def run(self, model: bytes) -> list[np.ndarray] | str:
        tx, rx = (self._tx, self._rx) if self._tx is not None and self._rx is not None else self._start()
        try:
            tx.send(model)
            status, value = rx.recv()
        except (EOFError, BrokenPipeError, ConnectionResetError):
            code = self._proc.wait() if self._proc is not None else None
            self._stop()
            return f"LiteRT aborted on the model (exit code {code})"
        return value if status == "ok" else str(value)

    def submit(self, model: bytes) -> Future[list[np.ndarray] | str]:
        """``run(model)`` in the background, after the models submitted before it: the caller builds the next
        model while the worker runs this one (two processes, so two cores where there are)."""
        if self._queue is None:
            self._queue = ThreadPoolExecutor(max_workers=1, thread_name_prefix="litert")
        return self._queue.submit(self.run, model)

    def _stop(self) -> None:
        for conn in (self._tx, self._rx):
            if conn is not None:
                conn.close()
        self._tx = self._rx = None
        if self._proc is not None:
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None

    def close(self) -> None:
        if self._queue is not None:  # the submitted models run first
            self._queue.shutdown(wait=True)
            self._queue = None
        if self._tx is not None:
            try:
                self._tx.send(None)
            except (BrokenPipeError, OSError):
                pass
        self._stop()

    def __enter__(self) -> LiteRTWorker:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()
