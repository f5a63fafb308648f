#!/usr/bin/env python3
"""Converts published Q-filters (Hugging Face nthngdy/<model>_qfilt, as QFilterPress
downloads them) into the artefact of the library's `qfilter` press.

    convert_qfilter.py SNAPSHOT_DIR OUT.safetensors [--model NAME]

SNAPSHOT_DIR holds model.safetensors (the tensor q_filters [n_layers, n_kv_heads, head_dim])
and config.json (num_layers, num_kv_heads, kv_head_dim). The output keeps the tensor and its
dtype and records the configuration in the metadata. Standard library only.
"""
import argparse
import os

from safetensors_io import ArtefactError, config_int, load_published, main_wrapper, need, write


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("snapshot")
    ap.add_argument("out")
    ap.add_argument("--model", default="", help="checkpoint name recorded in the metadata")
    args = ap.parse_args()
    tensors, config = load_published(args.snapshot, "Q-filters")
    where = args.snapshot
    f = need(tensors, "q_filters", 3, where)
    want = [config_int(config, k, where) for k in ("num_layers", "num_kv_heads", "kv_head_dim")]
    if f.shape != want:
        raise ArtefactError(f"{where}: q_filters is {f.shape}, config.json says {want}")
    write(args.out, {"q_filters": f},
          {"format": "kvpress-artefact", "press": "qfilter", "model": args.model,
           "source": os.path.basename(os.path.normpath(args.snapshot)),
           "n_layers": want[0], "n_kv_heads": want[1], "head_dim": want[2]})
    print(f"{args.out}: q_filters {f.dtype} {f.shape}")


if __name__ == "__main__":
    main_wrapper(main)
