"""Minimal safetensors reading and writing for the artefact converters (standard library only:
the converters run where neither torch nor numpy is installed).

A safetensors file is an 8-byte little-endian header length, a JSON header
{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}, then the
data. Tensors are handled as raw little-endian bytes in their dtype.
"""
import json
import struct

DTYPE_SIZE = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
              "U8": 1, "BOOL": 1}
READABLE = ("F32", "F16", "BF16")  # what libkvpress reads


class ArtefactError(Exception):
    """A file that is not what the converter expects; the message says what and where."""


class Tensor:
    def __init__(self, dtype, shape, data):
        self.dtype, self.shape, self.data = dtype, list(shape), data

    def count(self):
        c = 1
        for s in self.shape:
            c *= s
        return c


def read(path):
    """(tensors by name, metadata) of a safetensors file, validated."""
    try:
        with open(path, "rb") as f:
            blob = f.read()
    except OSError as e:
        raise ArtefactError(f"{path}: {e.strerror}")
    if len(blob) < 8:
        raise ArtefactError(f"{path}: shorter than a safetensors header")
    (hlen,) = struct.unpack("<Q", blob[:8])
    if hlen > len(blob) - 8:
        raise ArtefactError(f"{path}: header length {hlen} past the end of the file")
    try:
        header = json.loads(blob[8:8 + hlen].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ArtefactError(f"{path}: header is not JSON ({e})")
    if not isinstance(header, dict):
        raise ArtefactError(f"{path}: header is not a JSON object")
    data = blob[8 + hlen:]
    meta = header.pop("__metadata__", {}) or {}
    tensors = {}
    for name, e in header.items():
        try:
            dtype, shape, (b, end) = e["dtype"], e["shape"], e["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise ArtefactError(f"{path}: tensor {name}: needs dtype, shape and data_offsets")
        if dtype not in DTYPE_SIZE:
            raise ArtefactError(f"{path}: tensor {name}: unknown dtype {dtype}")
        if not all(isinstance(s, int) and s >= 0 for s in shape):
            raise ArtefactError(f"{path}: tensor {name}: bad shape {shape}")
        t = Tensor(dtype, shape, data[b:end])
        if not (0 <= b <= end <= len(data)) or end - b != t.count() * DTYPE_SIZE[dtype]:
            raise ArtefactError(f"{path}: tensor {name}: data_offsets [{b}, {end}] do not hold "
                                f"{dtype} {shape} inside the file")
        tensors[name] = t
    return tensors, meta


def write(path, tensors, metadata):
    """Writes tensors (name -> Tensor, in insertion order) with string metadata."""
    header, offset = {"__metadata__": {k: str(v) for k, v in metadata.items()}}, 0
    for name, t in tensors.items():
        header[name] = {"dtype": t.dtype, "shape": t.shape,
                        "data_offsets": [offset, offset + len(t.data)]}
        offset += len(t.data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-(len(text) + 8) % 8)  # data section aligned to 8 bytes
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for t in tensors.values():
            f.write(t.data)


def load_published(folder, what):
    """(tensors, config) of a Hugging Face snapshot folder: model.safetensors + config.json."""
    import os
    st = os.path.join(folder, "model.safetensors")
    if not os.path.isfile(st):
        if os.path.isfile(os.path.join(folder, "pytorch_model.bin")):
            raise ArtefactError(f"{folder}: only pytorch_model.bin; save the {what} as "
                                "model.safetensors first (safetensors.torch.save_file)")
        raise ArtefactError(f"{folder}: no model.safetensors (the {what} as published)")
    tensors, _ = read(st)
    cfg_path = os.path.join(folder, "config.json")
    try:
        with open(cfg_path) as f:
            config = json.load(f)
    except OSError:
        raise ArtefactError(f"{folder}: no config.json (the {what}'s configuration)")
    except json.JSONDecodeError as e:
        raise ArtefactError(f"{cfg_path}: not JSON ({e})")
    if not isinstance(config, dict):
        raise ArtefactError(f"{cfg_path}: not a JSON object")
    return tensors, config


def need(tensors, name, ndim, where):
    t = tensors.get(name)
    if t is None:
        raise ArtefactError(f"{where}: no tensor {name}")
    if t.dtype not in READABLE:
        raise ArtefactError(f"{where}: {name} is {t.dtype}; libkvpress reads F32, F16 and BF16")
    if len(t.shape) != ndim:
        raise ArtefactError(f"{where}: {name} has shape {t.shape}, expected {ndim} dimensions")
    return t


def config_int(config, key, where):
    v = config.get(key)
    if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
        raise ArtefactError(f"{where}: config.json needs a positive integer {key} (got {v!r})")
    return v


def main_wrapper(run):
    """Runs a converter's main, turning ArtefactError into a message and exit status 1."""
    import os
    import sys
    try:
        run()
    except ArtefactError as e:
        print(f"{os.path.basename(sys.argv[0])}: {e}", file=sys.stderr)
        sys.exit(1)
