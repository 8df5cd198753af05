"""TensorFlow's side of the benchmark: what a user writes to convert a SavedModel with tf.lite.TFLiteConverter.
Run by compare.py in a fresh process (so its wall time and peak RSS include Python start-up and the TensorFlow
import, as qconvert's do). Prints one JSON line with its own phase times.

Modes (the TensorFlow setting for each of qconvert's):
    float    no optimizations (float32 model)
    int8     optimizations=[DEFAULT], representative_dataset (one sample per yield), TFLITE_BUILTINS_INT8,
             float input/output (TensorFlow's default)
    uint8    TensorFlow has no uint8 post-training quantization: same as int8
    dynamic  optimizations=[DEFAULT], no representative dataset (dynamic-range: int8 weights)
    float16  optimizations=[DEFAULT], target_spec.supported_types=[tf.float16]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from pathlib import Path

T0 = time.perf_counter()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--saved_model_dir", type=Path, required=True)
    p.add_argument("--output_file", type=Path, required=True)
    p.add_argument("--mode", choices=["float", "int8", "uint8", "dynamic", "float16"], required=True)
    p.add_argument("--representative_dataset", type=Path, help=".npy of samples (int8/uint8)")
    a = p.parse_args()

    import numpy as np
    import tensorflow as tf

    t_import = time.perf_counter()
    converter = tf.lite.TFLiteConverter.from_saved_model(str(a.saved_model_dir))
    if a.mode != "float":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if a.mode in ("int8", "uint8"):
        samples = np.load(a.representative_dataset)

        def representative_dataset() -> Iterator[list[np.ndarray]]:
            for i in range(len(samples)):
                yield [samples[i:i + 1]]

        converter.representative_dataset = representative_dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    elif a.mode == "float16":
        converter.target_spec.supported_types = [tf.float16]
    data = converter.convert()
    t_convert = time.perf_counter()
    a.output_file.write_bytes(data)
    t_write = time.perf_counter()
    print(json.dumps({"seconds": {"import": round(t_import - T0, 4), "convert": round(t_convert - t_import, 4),
                                  "write": round(t_write - t_convert, 4)}}), flush=True)


if __name__ == "__main__":
    main()
