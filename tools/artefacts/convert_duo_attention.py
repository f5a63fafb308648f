#!/usr/bin/env python3
"""Converts a DuoAttention attention pattern to the artefact libkvpress's duo_attention reads.

DuoAttention (arXiv 2410.10819) publishes its learned head patterns in the repository
mit-han-lab/duo-attention, folder attn_patterns/<model>/<pattern>/ (NVIDIA kvpress maps six
checkpoints to such folders, e.g. Meta-Llama-3.1-8B-Instruct/lr=0.02-reg=0.05-ctx=1000_128000-
multi_passkey10): config.json gives sink_size and recent_size, full_attention_heads.tsv is an
n_layers x n_kv_heads tab-separated matrix of gate values. This script writes:

    head_scores   F32 [n_layers, n_kv_heads]   the values as published (the press clips them
                                               to [0, 1], as kvpress does when it loads them)
    metadata      sink_size, recent_size, source

    python3 tools/artefacts/convert_duo_attention.py PATTERN_DIR out.safetensors

Only the Python standard library is used; the input is checked (a rectangular matrix of finite
numbers, integer sizes >= 0) before anything is written.
"""
import argparse
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402


def convert(pattern_dir, dst):
    with open(os.path.join(pattern_dir, "config.json")) as f:
        config = json.load(f)
    sizes = {}
    for key in ("sink_size", "recent_size"):
        v = config.get(key)
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise ValueError(f"config.json: {key} must be an integer >= 0, got {v!r}")
        sizes[key] = v
    rows = []
    with open(os.path.join(pattern_dir, "full_attention_heads.tsv")) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = [float(x) for x in line.strip().split("\t")]
            except ValueError:
                raise ValueError(f"full_attention_heads.tsv:{lineno}: not tab-separated numbers")
            if not all(math.isfinite(x) for x in row):
                raise ValueError(f"full_attention_heads.tsv:{lineno}: a value is not finite")
            rows.append(row)
    if not rows or any(len(r) != len(rows[0]) for r in rows):
        raise ValueError("full_attention_heads.tsv: not a rectangular matrix")
    flat = [x for r in rows for x in r]
    source = "duo-attention " + os.path.basename(os.path.normpath(pattern_dir))
    safetensors_io.write(dst, {"head_scores": safetensors_io.f32(flat, [len(rows), len(rows[0])])},
                         dict(sizes, source=source))
    return len(rows), len(rows[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("pattern_dir", help="folder with config.json and full_attention_heads.tsv")
    ap.add_argument("output", help="safetensors file to write")
    args = ap.parse_args()
    try:
        L, H = convert(args.pattern_dir, args.output)
    except (OSError, ValueError) as e:
        print(f"convert_duo_attention: {e}", file=sys.stderr)
        return 1
    print(f"{args.output}: head_scores [{L}, {H}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
