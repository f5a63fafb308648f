"""Safetensors reading and writing for the artefact converters of tools/artefacts, with the
Python standard library only (no numpy, no torch: the converters run anywhere). It is the one
Python implementation; the C one is tools/safetensors.c.

A safetensors file is an 8-byte little-endian header length, a JSON header
{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}, then the
data. A tensor is a Tensor(dtype, shape, data): data holds the raw little-endian bytes in that
dtype, so tensors pass through a converter unchanged and no value is rounded twice. A Tensor
is a named tuple, so (dtype, shape, data) triples work wherever a Tensor does. F32, F16 and
BF16 are what libkvpress reads (kvp_artefact_load).

    read(path)                      -> ({name: Tensor}, {key: value}), validated
    write(path, tensors, metadata)  tensors {name: Tensor or (dtype, shape, data)}
    write_f32(path, tensors, metadata)
                                    tensors {name: (shape, flat floats) or a numpy array}
    f32(values, shape), floats(tensor), count(shape)

plus the helpers the converters of published Hugging Face snapshots share (load_published,
need, config_int, main_wrapper). Every error is an ArtefactError, a ValueError.
"""
import collections
import json
import struct

DTYPE_SIZE = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
              "U8": 1, "BOOL": 1}
READABLE = ("F32", "F16", "BF16")  # what libkvpress reads


class ArtefactError(ValueError):
    """A file that is not what the converter expects; the message says what and where."""


def count(shape):
    """The number of elements of a tensor of this shape."""
    n = 1
    for s in shape:
        n *= s
    return n


# A tensor as stored: dtype name ("F32"), shape (a list), raw little-endian bytes.
Tensor = collections.namedtuple("Tensor", "dtype shape data")


def read(path):
    """(tensors by name, in file order, as Tensor; metadata) of a safetensors file, validated."""
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
        if not (0 <= b <= end <= len(data)) or end - b != count(shape) * DTYPE_SIZE[dtype]:
            raise ArtefactError(f"{path}: tensor {name}: data_offsets [{b}, {end}] do not hold "
                                f"{dtype} {shape} inside the file")
        tensors[name] = Tensor(dtype, list(shape), data[b:end])
    return tensors, meta


def write(path, tensors, metadata=None):
    """Writes tensors ({name: Tensor or (dtype, shape, raw bytes)}, in the order given), then
    the metadata (values written as str) when there is any. The header is padded with spaces
    so that the data starts 8-byte aligned; the same content always gives the same bytes.
    Every tensor is checked (a known dtype, as many bytes as its shape holds) before the file
    is opened, so a bad tensor leaves no file behind."""
    header, offset = {}, 0
    for name, (dtype, shape, raw) in tensors.items():
        if dtype not in DTYPE_SIZE or len(raw) != count(shape) * DTYPE_SIZE[dtype]:
            raise ArtefactError(f"tensor {name}: {len(raw)} bytes for {dtype} {list(shape)}")
        header[name] = {"dtype": dtype, "shape": list(shape),
                        "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # keep the data 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for _, _, raw in tensors.values():
            f.write(raw)


def f32(values, shape):
    """An F32 tensor from Python floats (flat, row-major)."""
    return Tensor("F32", list(shape), struct.pack(f"<{len(values)}f", *values))


def write_f32(path, tensors, metadata=None):
    """write() for float32 tensors given as {name: (shape, flat values) or a numpy array}."""
    out = {}
    for name, value in tensors.items():
        if isinstance(value, tuple):
            shape, flat = value
        else:  # a numpy array (numpy itself is not needed here)
            shape, flat = list(value.shape), [float(x) for x in value.reshape(-1)]
        out[name] = f32(flat, shape)
    write(path, out, metadata)


def floats(tensor):
    """The values of an F32/F16/BF16 tensor as Python floats."""
    dtype, shape, raw = tensor
    n = count(shape)
    if dtype == "F32":
        return list(struct.unpack(f"<{n}f", raw))
    if dtype == "F16":
        return list(struct.unpack(f"<{n}e", raw))
    if dtype == "BF16":
        return [struct.unpack("<f", b"\0\0" + raw[2 * i:2 * i + 2])[0] for i in range(n)]
    raise ArtefactError(f"dtype {dtype} is not a float type libkvpress reads")


# ---- the converters of published Hugging Face snapshots (convert_kvzap, convert_qfilter,
# convert_expected_attention_stats)

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
