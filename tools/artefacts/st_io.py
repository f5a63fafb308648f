"""Safetensors reading and writing with the Python standard library only, for the artefact
converters of tools/artefacts (no numpy, no torch: the converters run anywhere).

A tensor is (dtype, shape, raw little-endian bytes); F32, F16 and BF16 are what libkvpress
reads (kvp_artefact_load), and raw bytes pass through unchanged, so no value is rounded twice.
"""
import json
import struct

SIZES = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8, "I32": 4}


def count(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def read(path):
    """({name: (dtype, shape, bytes)}, metadata) of a safetensors file, validated."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: not a safetensors file (too short)")
    n = struct.unpack("<Q", data[:8])[0]
    if n > len(data) - 8:
        raise ValueError(f"{path}: header length {n} exceeds the file")
    try:
        header = json.loads(data[8:8 + n])
    except ValueError as e:
        raise ValueError(f"{path}: header is not JSON ({e})")
    body = data[8 + n:]
    meta = header.pop("__metadata__", {}) or {}
    tensors = {}
    for name, e in header.items():
        dtype, shape, (a, b) = e["dtype"], e["shape"], e["data_offsets"]
        if dtype not in SIZES or not (0 <= a <= b <= len(body)) or \
                b - a != count(shape) * SIZES[dtype]:
            raise ValueError(f"{path}: tensor {name}: inconsistent dtype, shape or offsets")
        tensors[name] = (dtype, list(shape), body[a:b])
    return tensors, meta


def write(path, tensors, metadata=None):
    """tensors: {name: (dtype, shape, bytes)}, written in the order given."""
    header, offset = {}, 0
    for name, (dtype, shape, raw) in tensors.items():
        if len(raw) != count(shape) * SIZES[dtype]:
            raise ValueError(f"tensor {name}: {len(raw)} bytes for {dtype} {shape}")
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
    """An F32 tensor from Python floats."""
    return ("F32", list(shape), struct.pack(f"<{len(values)}f", *values))


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
    raise ValueError(f"dtype {dtype} is not a float type libkvpress reads")
