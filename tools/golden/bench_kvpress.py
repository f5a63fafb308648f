#!/usr/bin/env python3
"""Times NVIDIA kvpress presses on one attention layer of a Llama-3.1-8B shape (32 query heads,
8 kv heads, head_dim 128, hidden 4096), to compare with `kvpress-tool bench`. Runs wherever
torch runs (CPU here); random weights and cache; median of --reps runs of press.compress.

    venv/bin/python tools/golden/bench_kvpress.py --n 4096 --dtype bfloat16 --threads 2
"""
import argparse
import statistics
import time

import torch


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--presses", default="knorm,keydiff,streaming_llm,tova,snapkv,expected_attention")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    import kvpress
    from transformers import LlamaConfig
    from transformers.models.llama.modeling_llama import LlamaAttention, LlamaRotaryEmbedding

    dtype = getattr(torch, args.dtype)
    cfg = LlamaConfig(hidden_size=4096, num_attention_heads=32, num_key_value_heads=8, head_dim=128,
                      rope_theta=500000.0, max_position_embeddings=args.n + 1024)
    cfg._attn_implementation = "sdpa"
    torch.manual_seed(0)
    attn = LlamaAttention(cfg, layer_idx=0).to(dtype).eval()
    attn.rotary_emb = LlamaRotaryEmbedding(cfg)
    n = args.n
    hidden = torch.randn(1, n, 4096, dtype=dtype)
    keys = torch.randn(1, 8, n, 128, dtype=dtype)
    values = torch.randn(1, 8, n, 128, dtype=dtype)
    pos = torch.arange(n).unsqueeze(0)
    cos, sin = attn.rotary_emb(hidden, pos)
    kwargs = {"position_embeddings": (cos, sin), "cache_position": pos[0]}
    classes = {c.lower(): getattr(kvpress, c) for c in dir(kvpress) if c.endswith("Press")}
    print(f"kvpress on torch {torch.__version__}, {torch.get_num_threads()} threads, {args.dtype}, n = {n}")
    for name in args.presses.split(","):
        press = classes[name.replace("_", "") + "press"](compression_ratio=0.5)
        times = []
        for _ in range(args.reps):
            t0 = time.perf_counter()
            with torch.no_grad():
                press.compress(attn, hidden, keys, values, None, kwargs)
            times.append((time.perf_counter() - t0) * 1e3)
        print(f"compress {name:<22} {statistics.median(times):10.1f} ms")


if __name__ == "__main__":
    main()
