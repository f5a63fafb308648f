#!/usr/bin/env python3
"""Converts a published KVzap model (Hugging Face nvidia/KVzap-<linear|mlp>-<model>, as
KVzapPress downloads it) into the artefact of the library's `kvzap` press.

    convert_kvzap.py SNAPSHOT_DIR OUT.safetensors

SNAPSHOT_DIR holds config.json (input_dim, output_dim, n_modules, hidden_dim: absent or null
for the linear model) and model.safetensors with, for every layer l < n_modules,
    linear:  layers.<l>.weight [output_dim, input_dim], layers.<l>.bias [output_dim]
    mlp:     layers.<l>.0.weight [hidden_dim, input_dim], layers.<l>.0.bias [hidden_dim],
             layers.<l>.2.weight [output_dim, hidden_dim], layers.<l>.2.bias [output_dim]
(nn.Linear, or nn.Sequential(Linear, GELU, Linear)). The output keeps these names and dtypes
and records the kind (model_type) and sizes in the metadata. Standard library only.
"""
import argparse
import os

from safetensors_io import ArtefactError, config_int, load_published, main_wrapper, need, write


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("snapshot")
    ap.add_argument("out")
    args = ap.parse_args()
    tensors, config = load_published(args.snapshot, "KVzap model")
    where = args.snapshot
    D, out, L = (config_int(config, k, where) for k in ("input_dim", "output_dim", "n_modules"))
    hidden = config.get("hidden_dim")
    mlp = hidden is not None
    if mlp:
        hidden = config_int(config, "hidden_dim", where)
    shapes = ({"0.weight": [hidden, D], "0.bias": [hidden], "2.weight": [out, hidden],
               "2.bias": [out]} if mlp else {"weight": [out, D], "bias": [out]})
    kept = {}
    for layer in range(L):
        for suffix, shape in shapes.items():
            name = f"layers.{layer}.{suffix}"
            t = need(tensors, name, len(shape), where)
            if t.shape != shape:
                raise ArtefactError(f"{where}: {name} is {t.shape}, config.json implies {shape}")
            kept[name] = t
    extra = sorted(set(tensors) - set(kept))
    if extra:
        raise ArtefactError(f"{where}: tensors beyond the {L} layers of config.json: "
                            f"{', '.join(extra[:5])}")
    write(args.out, kept,
          {"format": "kvpress-artefact", "press": "kvzap",
           "model_type": "mlp" if mlp else "linear",
           "source": os.path.basename(os.path.normpath(args.snapshot)),
           "input_dim": D, "output_dim": out, "hidden_dim": hidden if mlp else "", "n_layers": L})
    print(f"{args.out}: {'mlp' if mlp else 'linear'} KVzap, {L} layers, {D} -> "
          f"{str(hidden) + ' -> ' if mlp else ''}{out}")


if __name__ == "__main__":
    main_wrapper(main)
