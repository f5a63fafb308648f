#!/usr/bin/env python3
"""Converts RestoreKV's published artefacts to the artefact libkvpress's restorekv press reads.

RestoreKV (arXiv 2608.01247) publishes, per model, the Hugging Face repository
higokri/RestoreKV-<model>[_plus] (NVIDIA kvpress downloads it): restore_embeddings.safetensors
(tensor restore_embeddings [n_r, hidden]) and a PEFT LoRA adapter (adapter_config.json with r
and lora_alpha; adapter_model.safetensors with
base_model.model.model.layers.<l>.<module>.lora_A.weight [r, in] and .lora_B.weight [out, r]
for the attention and MLP projections). This script writes one file:

    restore_embeddings          [n_r, hidden]
    lora.<l>.<proj>.A / .B      proj: q, k, v, o (self_attn.*_proj), gate, up, down (mlp.*_proj)
    metadata lora_alpha         so that the adapter scale is lora_alpha / r (rsLoRA's
                                alpha / sqrt(r) is folded in), lora_rank, source

    python3 tools/artefacts/convert_restorekv.py RESTOREKV_DIR out.safetensors

Tensors keep their dtype (F32, F16 or BF16) and Hugging Face's layout (see restorekv.c). Only
the Python standard library is used; everything is checked before anything is written.
"""
import argparse
import json
import math
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

MODULES = {"self_attn.q_proj": "q", "self_attn.k_proj": "k", "self_attn.v_proj": "v",
           "self_attn.o_proj": "o", "mlp.gate_proj": "gate", "mlp.up_proj": "up",
           "mlp.down_proj": "down"}
KEY = re.compile(r"^base_model\.model\.model\.layers\.(\d+)\.(\w+\.\w+)\.lora_([AB])(?:\.default)?\.weight$")


def convert(src, dst):
    emb, _ = safetensors_io.read(os.path.join(src, "restore_embeddings.safetensors"))
    if "restore_embeddings" not in emb or len(emb["restore_embeddings"][1]) != 2:
        raise ValueError("restore_embeddings.safetensors: no 2-D tensor restore_embeddings")
    if emb["restore_embeddings"][0] not in ("F32", "F16", "BF16"):
        raise ValueError("restore_embeddings: dtype must be F32, F16 or BF16")
    with open(os.path.join(src, "adapter_config.json")) as f:
        config = json.load(f)
    r, alpha = config.get("r"), config.get("lora_alpha")
    if not isinstance(r, int) or r <= 0 or not isinstance(alpha, (int, float)) or alpha <= 0:
        raise ValueError("adapter_config.json: r and lora_alpha must be positive")
    if config.get("rank_pattern") or config.get("alpha_pattern"):
        raise ValueError("adapter_config.json: per-module ranks or alphas are not supported")
    if config.get("use_rslora"):
        alpha = alpha * math.sqrt(r)  # scale alpha / sqrt(r) = alpha' / r
    adapter, _ = safetensors_io.read(os.path.join(src, "adapter_model.safetensors"))
    out = {"restore_embeddings": emb["restore_embeddings"]}
    pairs = {}
    for name, t in adapter.items():
        m = KEY.match(name)
        if not m or m.group(2) not in MODULES:
            raise ValueError(f"adapter_model.safetensors: unexpected tensor {name}")
        if t[0] not in ("F32", "F16", "BF16") or len(t[1]) != 2:
            raise ValueError(f"{name}: expected a 2-D F32, F16 or BF16 matrix")
        pairs.setdefault((int(m.group(1)), MODULES[m.group(2)]), {})[m.group(3)] = t
    for (layer, proj), ab in sorted(pairs.items()):
        if set(ab) != {"A", "B"}:
            raise ValueError(f"layer {layer} {proj}: lora_A and lora_B must come together")
        if ab["A"][1][0] != r or ab["B"][1][1] != r:
            raise ValueError(f"layer {layer} {proj}: A {ab['A'][1]} and B {ab['B'][1]} are not of rank {r}")
        out[f"lora.{layer}.{proj}.A"] = ab["A"]
        out[f"lora.{layer}.{proj}.B"] = ab["B"]
    source = "RestoreKV " + os.path.basename(os.path.normpath(src))
    safetensors_io.write(dst, out, {"lora_alpha": repr(float(alpha)), "lora_rank": r,
                                    "source": source})
    return emb["restore_embeddings"][1][0], len(pairs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("restorekv_dir", help="folder with the embeddings and the PEFT adapter")
    ap.add_argument("output", help="safetensors file to write")
    args = ap.parse_args()
    try:
        n_r, n_adapted = convert(args.restorekv_dir, args.output)
    except (OSError, ValueError, KeyError) as e:
        print(f"convert_restorekv: {e}", file=sys.stderr)
        return 1
    print(f"{args.output}: {n_r} restore tokens, {n_adapted} adapted projections")
    return 0


if __name__ == "__main__":
    sys.exit(main())
