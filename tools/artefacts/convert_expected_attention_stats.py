#!/usr/bin/env python3
"""Converts published query statistics (Hugging Face alessiodevoto/exp_att_stats_<model>_
<dataset>_<num_samples>_<sample_seq_len>_<n_sink>, as ExpectedAttentionStatsPress downloads
them) into the artefact of the library's `expected_attention_stats` press.

    convert_expected_attention_stats.py SNAPSHOT_DIR OUT.safetensors

SNAPSHOT_DIR holds model.safetensors (query_mean [n_layers, n_heads, head_dim] and
query_cov [n_layers, n_heads, head_dim, head_dim]) and config.json (num_layers, num_heads,
head_dim, n_sink, num_samples, sample_seq_len, dataset_name, model_name). The tensors keep
their dtype; n_sink, num_samples and sample_seq_len go to the metadata, where the press checks
them against its parameters. Standard library only.
"""
import argparse
import os

from safetensors_io import ArtefactError, config_int, load_published, main_wrapper, need, write


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("snapshot")
    ap.add_argument("out")
    args = ap.parse_args()
    tensors, config = load_published(args.snapshot, "query statistics")
    where = args.snapshot
    mean = need(tensors, "query_mean", 3, where)
    cov = need(tensors, "query_cov", 4, where)
    L, H, d = (config_int(config, k, where) for k in ("num_layers", "num_heads", "head_dim"))
    if mean.shape != [L, H, d] or cov.shape != [L, H, d, d]:
        raise ArtefactError(f"{where}: query_mean {mean.shape} and query_cov {cov.shape} do not "
                            f"match config.json ([{L}, {H}, {d}] and [{L}, {H}, {d}, {d}])")
    meta = {"format": "kvpress-artefact", "press": "expected_attention_stats",
            "source": os.path.basename(os.path.normpath(args.snapshot)),
            "n_layers": L, "n_heads": H, "head_dim": d,
            "model": config.get("model_name", ""), "dataset": config.get("dataset_name", "")}
    for k in ("n_sink", "num_samples", "sample_seq_len"):  # n_sink may be 0
        if k in config:
            v = config[k]
            if not isinstance(v, int) or isinstance(v, bool) or v < (0 if k == "n_sink" else 1):
                raise ArtefactError(f"{where}: config.json has {k} = {v!r}")
            meta[k] = v
    write(args.out, {"query_mean": mean, "query_cov": cov}, meta)
    print(f"{args.out}: query_mean {mean.dtype} {mean.shape}, query_cov {cov.dtype} {cov.shape}")


if __name__ == "__main__":
    main_wrapper(main)
