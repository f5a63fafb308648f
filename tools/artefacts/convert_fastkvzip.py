#!/usr/bin/env python3
"""Converts Fast KVzip's published gates to the artefact libkvpress's fastkvzip press reads.

Fast KVzip (arXiv 2601.17668) publishes one gate file per model in the Hugging Face repository
Jang-Hyun/Fast-KVzip, <model name lower-cased>/q<G>_dim16_sink16.pt (NVIDIA kvpress downloads
it): a torch.save()d dict whose "module" entry lists one state dict per layer with
q_proj.weight [Hk G 16, D], q_proj.bias [Hk G 16], k_proj.weight [Hk 16, D],
q_norm.weight [16], k_norm.weight [16], k_base [Hk, 1, 16, 16] and b [Hk, 1, G]. This script
writes them as layers.<l>.<name> (same shapes and dtypes; F32, F16 or BF16) with metadata:

    python3 tools/artefacts/convert_fastkvzip.py q4_dim16_sink16.pt out.safetensors

It needs only the Python standard library: the .pt zip archive is unpickled with a restricted
unpickler that knows torch's tensor and storage records and refuses anything else (no code from
the file runs). Shapes are checked across layers before anything is written.
"""
import argparse
import collections
import os
import pickle
import re
import sys
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

STORAGES = {"FloatStorage": ("F32", 4), "HalfStorage": ("F16", 2), "BFloat16Storage": ("BF16", 2)}
GATE = ("q_proj.weight", "q_proj.bias", "k_proj.weight", "q_norm.weight", "k_norm.weight",
        "k_base", "b")


def _rebuild_tensor(storage, offset, size, stride, *rest):
    dtype, esize, data = storage
    size = tuple(size)
    expect, s = [], 1
    for d in reversed(size):  # only contiguous (row-major) tensors
        expect.insert(0, s)
        s *= d
    if size and tuple(stride) != tuple(expect):
        raise ValueError(f"a tensor of shape {size} is not contiguous (stride {tuple(stride)})")
    n = safetensors_io.count(size)
    raw = data[offset * esize:(offset + n) * esize]
    if len(raw) != n * esize:
        raise ValueError("a tensor reaches past its storage")
    return safetensors_io.Tensor(dtype, list(size), raw)


def load_pt(path):
    """The object torch.save() wrote, with tensors as Tensor records."""
    zf = zipfile.ZipFile(path)
    pkls = [n for n in zf.namelist() if n.endswith("/data.pkl")]
    if len(pkls) != 1:
        raise ValueError(f"{path}: not a torch.save() zip archive")
    prefix = pkls[0][:-len("data.pkl")]

    class Unpickler(pickle.Unpickler):
        def find_class(self, module, name):
            if module == "torch._utils" and name == "_rebuild_tensor_v2":
                return _rebuild_tensor
            if module == "torch" and name in STORAGES:
                return STORAGES[name]
            if module == "collections" and name == "OrderedDict":
                return collections.OrderedDict
            raise pickle.UnpicklingError(f"{path}: refusing {module}.{name}")

        def persistent_load(self, pid):
            kind, stype, key, _location, _numel = pid
            if kind != "storage" or not isinstance(stype, tuple):
                raise pickle.UnpicklingError(f"{path}: unknown storage record {pid!r}")
            return (stype[0], stype[1], zf.read(prefix + "data/" + str(key)))

    with zf.open(pkls[0]) as f:
        return Unpickler(f).load()


def convert(src, dst):
    obj = load_pt(src)
    layers = obj.get("module") if isinstance(obj, dict) else None
    if not isinstance(layers, list) or not layers:
        raise ValueError(f"{src}: no 'module' list of per-layer state dicts")
    tensors, shapes = {}, None
    for l, sd in enumerate(layers):
        missing = [k for k in GATE if k not in sd or not isinstance(sd[k], safetensors_io.Tensor)]
        if missing:
            raise ValueError(f"{src}: layer {l} lacks {', '.join(missing)}")
        these = [sd[k].shape for k in GATE]
        if shapes is not None and these != shapes:
            raise ValueError(f"{src}: layer {l} has other shapes than layer 0")
        shapes = these
        for k in GATE:
            tensors[f"layers.{l}.{k}"] = sd[k]
    m = re.search(r"sink(\d+)", os.path.basename(src))
    meta = {"source": "Fast-KVzip " + os.path.basename(src), "layers": len(layers)}
    if m:
        if int(m.group(1)) != shapes[GATE.index("k_base")][2]:
            raise ValueError(f"{src}: the name says sink{m.group(1)}, k_base has "
                             f"{shapes[GATE.index('k_base')][2]} sink keys")
        meta["sink"] = m.group(1)
    safetensors_io.write(dst, tensors, meta)
    return len(layers)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("gates", help="the published q<G>_dim16_sink16.pt")
    ap.add_argument("output", help="safetensors file to write")
    args = ap.parse_args()
    try:
        n = convert(args.gates, args.output)
    except (OSError, ValueError, KeyError, pickle.UnpicklingError, zipfile.BadZipFile) as e:
        print(f"convert_fastkvzip: {e}", file=sys.stderr)
        return 1
    print(f"{args.output}: gates of {n} layers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
