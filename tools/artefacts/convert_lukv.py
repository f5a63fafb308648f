#!/usr/bin/env python3
"""Converts an LU-KV budget curve to the artefact libkvpress's lukv press reads.

LU-KV (arXiv 2602.08585) publishes one curve per model and scorer as a NumPy .npy array of
per-head prune ratios, shape [99, n_layers, n_kv_heads] (row x: global ratio (x + 1) %);
NVIDIA kvpress downloads it from
    https://raw.githubusercontent.com/baidu-baige/LU-KV/main/evaluation/curve_data/
        llama-3.1-8b/ea_0.02_sink4_win1_llama_avg_ratio.npy
(Llama-3.1-8B-Instruct with ExpectedAttentionPress(epsilon=0.02), sink 4, window 1). This
script writes it as safetensors with one tensor, "prune_ratios" (F32, the same shape), and
metadata naming the source, model and scorer:

    python3 tools/artefacts/convert_lukv.py ea_0.02_sink4_win1_llama_avg_ratio.npy \\
        lukv-llama-3.1-8b-ea.safetensors --model meta-llama/Llama-3.1-8B-Instruct \\
        --scorer "expected_attention(epsilon=0.02)"

It needs only the Python standard library (a .npy reader is below, the safetensors writer is
safetensors_io's); the input is checked (dtype, shape [99, L, H], finite values) before
anything is written.
"""
import argparse
import ast
import math
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# write_safetensors(path, {name: (shape, flat values) or numpy array}, metadata): float32
# tensors; tools/golden/generate.py imports it from here.
from safetensors_io import write_f32 as write_safetensors  # noqa: E402

NPY_DTYPES = {"<f4": ("f", 4), "<f8": ("d", 8), "<f2": ("e", 2)}


def read_npy(path):
    """(shape, values as floats) of a little-endian float .npy file in C order."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:6] != b"\x93NUMPY":
        raise ValueError(f"{path}: not a .npy file")
    major = data[6]
    if major == 1:
        hlen, start = struct.unpack("<H", data[8:10])[0], 10
    elif major in (2, 3):
        hlen, start = struct.unpack("<I", data[8:12])[0], 12
    else:
        raise ValueError(f"{path}: .npy version {major} is not supported")
    header = ast.literal_eval(data[start:start + hlen].decode("latin1"))
    descr, fortran, shape = header["descr"], header["fortran_order"], tuple(header["shape"])
    if descr not in NPY_DTYPES or fortran:
        raise ValueError(f"{path}: expected little-endian float16/32/64 in C order, got {descr}"
                         f"{' (Fortran order)' if fortran else ''}")
    code, size = NPY_DTYPES[descr]
    count = math.prod(shape)
    body = data[start + hlen:]
    if len(body) < count * size:
        raise ValueError(f"{path}: truncated ({len(body)} bytes for {count} values)")
    return shape, list(struct.unpack(f"<{count}{code}", body[:count * size]))


def convert(src, dst, model, scorer):
    shape, values = read_npy(src)
    if len(shape) != 3 or shape[0] != 99 or shape[1] < 1 or shape[2] < 1:
        raise ValueError(f"{src}: an LU-KV curve is [99, n_layers, n_kv_heads], got {list(shape)}")
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"{src}: the curve holds NaN or infinite values")
    write_safetensors(dst, {"prune_ratios": (shape, values)},
                      {"format": "lukv budget curve", "source": src, "model": model,
                       "scorer": scorer, "n_layers": shape[1], "n_kv_heads": shape[2]})
    return shape


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("npy", help="the published curve (.npy, [99, n_layers, n_kv_heads])")
    ap.add_argument("out", help="the artefact to write (.safetensors)")
    ap.add_argument("--model", default="", help="the model the curve was computed for")
    ap.add_argument("--scorer", default="", help="the inner press the curve was computed with")
    args = ap.parse_args(argv)
    try:
        shape = convert(args.npy, args.out, args.model, args.scorer)
    except (OSError, ValueError) as e:
        print(f"convert_lukv.py: {e}", file=sys.stderr)
        return 1
    print(f"{args.out}: prune_ratios {list(shape)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
