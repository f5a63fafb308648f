#!/usr/bin/env python3
"""Tests tools/artefacts/convert_lukv.py on files in LU-KV's published layout.

usage: convert_lukv_test.py KVPRESS_TOOL GOLDEN_EXT_DIR

1. The synthetic curve of the reference vectors, saved as LU-KV publishes its curves
   (artefacts/lukv_curve_stories260K.npy: float32 [99, n_layers, n_kv_heads]), converts to the
   very tensor the reference's safetensors holds, and `kvpress-tool verify` passes the lukv
   cases with the converted file in place of the committed one.
2. A float64 curve converts to the same values rounded to f32; Fortran order, a wrong shape,
   NaN, a truncated file and a non-.npy file are refused (exit 1, a message, no output).
Only the standard library is used.
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CONVERTER = os.path.join(HERE, "..", "tools", "artefacts", "convert_lukv.py")


def npy_bytes(shape, values, descr="<f4", fortran=False):
    header = repr({"descr": descr, "fortran_order": fortran, "shape": tuple(shape)}).encode()
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    code = {"<f4": "f", "<f8": "d"}[descr]
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + \
        struct.pack(f"<{len(values)}{code}", *values)


def read_safetensors(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    return header, data[8 + n:]


def convert(src, dst):
    return subprocess.run([sys.executable, CONVERTER, src, dst, "--model", "stories260K",
                           "--scorer", "expected_attention(epsilon=0.02)"],
                          capture_output=True, text=True)


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def main():
    tool, golden = sys.argv[1], sys.argv[2]
    art = os.path.join(golden, "artefacts")
    with tempfile.TemporaryDirectory() as tmp:
        # 1. the reference's curve, from its published layout
        out = os.path.join(tmp, "lukv.safetensors")
        r = convert(os.path.join(art, "lukv_curve_stories260K.npy"), out)
        if r.returncode != 0:
            fail("conversion failed: " + r.stderr)
        h1, d1 = read_safetensors(out)
        h0, d0 = read_safetensors(os.path.join(art, "lukv_curve_stories260K.safetensors"))
        t1, t0 = h1["prune_ratios"], h0["prune_ratios"]
        if t1["dtype"] != "F32" or t1["shape"] != t0["shape"] or \
                d1[t1["data_offsets"][0]:t1["data_offsets"][1]] != d0[t0["data_offsets"][0]:t0["data_offsets"][1]]:
            fail("the converted curve is not the reference's")
        if h1["__metadata__"].get("model") != "stories260K":
            fail("metadata lost")
        # verify the lukv cases of one layer with the converted artefact in place
        case_root = os.path.join(tmp, "ext")
        os.makedirs(os.path.join(case_root, "artefacts"))
        shutil.copy(out, os.path.join(case_root, "artefacts", "lukv_curve_stories260K.safetensors"))
        src_layer = os.path.join(golden, "w0", "layer2")
        dst_layer = os.path.join(case_root, "w0", "layer2")
        shutil.copytree(os.path.join(src_layer, "inputs"), os.path.join(dst_layer, "inputs"))
        cases = [c for c in os.listdir(src_layer) if c.startswith("lukv_")]
        if not cases:
            fail("no lukv case in " + src_layer)
        for c in cases:
            shutil.copytree(os.path.join(src_layer, c), os.path.join(dst_layer, c))
        r = subprocess.run([tool, "verify", case_root, "--backend", "cpu"], capture_output=True, text=True)
        if r.returncode != 0:
            fail("verify with the converted artefact: " + r.stdout + r.stderr)
        # 2. other inputs
        shape = [99, 2, 3]
        values = [(i % 97) / 100.0 + 1e-9 for i in range(99 * 6)]
        src = os.path.join(tmp, "f64.npy")
        open(src, "wb").write(npy_bytes(shape, values, "<f8"))
        r = convert(src, out)
        h, d = read_safetensors(out)
        got = struct.unpack(f"<{99 * 6}f", d[:99 * 6 * 4])
        want = struct.unpack(f"<{99 * 6}f", struct.pack(f"<{99 * 6}f", *values))
        if r.returncode != 0 or h["prune_ratios"]["shape"] != shape or got != want:
            fail("a float64 curve does not convert to its f32 values")
        bad = {
            "fortran": npy_bytes(shape, values, fortran=True),
            "shape": npy_bytes([98, 2, 3], values[:98 * 6]),
            "rank": npy_bytes([99, 6], values),
            "nan": npy_bytes(shape, values[:-1] + [float("nan")]),
            "truncated": npy_bytes(shape, values)[:-10],
            "not npy": b"PK\x03\x04 a zip file",
        }
        for what, data in bad.items():
            src = os.path.join(tmp, "bad.npy")
            dst = os.path.join(tmp, "bad.safetensors")
            open(src, "wb").write(data)
            if os.path.exists(dst):
                os.remove(dst)
            r = convert(src, dst)
            if r.returncode != 1 or "convert_lukv.py:" not in r.stderr or os.path.exists(dst):
                fail(f"{what}: accepted or no message ({r.returncode}, {r.stderr!r})")
    print("convert_lukv: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
