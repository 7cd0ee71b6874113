"""Minimal safetensors reader/writer (format: ../../../shared/reference/transformers-api.md §10).

Kept dependency-free apart from numpy so that CI needs no torch or safetensors wheel.
"""
import json
import os
import struct

import numpy as np

_NP_DTYPES = {
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),  # raw bit patterns; widen with bf16_to_f32
    "F64": np.dtype("<f8"),
    "I32": np.dtype("<i4"),
    "I64": np.dtype("<i8"),
    "U8": np.dtype("u1"),
}

# Writer order mirrors the Rust crate: larger alignment first, then name.
_ALIGN_RANK = {"F64": 0, "I64": 0, "F32": 1, "I32": 1, "BF16": 2, "F16": 2, "U8": 3}


def f32_to_bf16_bits(a):
    """Round-to-nearest-even f32 -> bf16, returned as uint16 bit patterns."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)
    # In uint32, in place: the sum wraps exactly where the uint16 result would (NaN payloads
    # only), and a billion-parameter checkpoint needs no 8-byte temporaries.
    r = (u >> 16) & 1
    r += u
    r += np.uint32(0x7FFF)
    r >>= 16
    return r.astype(np.uint16)


def bf16_bits_to_f32(bits):
    return (np.asarray(bits, dtype=np.uint32) << 16).view(np.float32)


def encode_tensor(array, dtype):
    """Returns the little-endian bytes of `array` stored as `dtype` ("F32", "F16", "BF16")."""
    if dtype == "F32":
        return np.ascontiguousarray(array, dtype="<f4").tobytes()
    if dtype == "F16":
        return np.ascontiguousarray(array, dtype="<f2").tobytes()
    if dtype == "BF16":
        return f32_to_bf16_bits(array).astype("<u2").tobytes()
    raise ValueError(f"unsupported dtype {dtype}")


def write_safetensors(path, tensors, dtype="F32", metadata=None):
    """tensors: dict name -> float ndarray; every tensor is stored as `dtype`."""
    entries = []
    for name, arr in tensors.items():
        entries.append((name, tuple(int(d) for d in arr.shape), encode_tensor(arr, dtype)))
    entries.sort(key=lambda e: (_ALIGN_RANK[dtype], e[0]))
    header = {"__metadata__": metadata or {"format": "pt"}}
    offset = 0
    for name, shape, data in entries:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * ((8 - len(raw) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for _, _, data in entries:
            f.write(data)


def read_safetensors(path):
    """Returns dict name -> float32 ndarray (F16/BF16 widened exactly) after validating the header."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        if n > 100_000_000 or 8 + n > size:
            raise ValueError(f"{path}: header length {n} does not fit a {size}-byte file")
        header = json.loads(f.read(n).decode("utf-8"))
        buf = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt = _NP_DTYPES.get(info["dtype"])
        if dt is None:
            raise ValueError(f"{path}: tensor {name}: unsupported dtype {info['dtype']}")
        begin, end = info["data_offsets"]
        count = int(np.prod(info["shape"], dtype=np.int64)) if info["shape"] else 1
        if end - begin != count * dt.itemsize or end > len(buf):
            raise ValueError(f"{path}: tensor {name}: data_offsets {begin}..{end} do not match shape {info['shape']}")
        arr = np.frombuffer(buf, dtype=dt, count=count, offset=begin).reshape(info["shape"])
        if info["dtype"] == "BF16":
            arr = bf16_bits_to_f32(arr)
        out[name] = arr.astype(np.float32)
    return out


def read_checkpoint(model_dir):
    """Reads model.safetensors or every shard listed in model.safetensors.index.json."""
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            weight_map = json.load(f)["weight_map"]
        tensors = {}
        for shard in sorted(set(weight_map.values())):
            tensors.update(read_safetensors(os.path.join(model_dir, shard)))
        missing = set(weight_map) - set(tensors)
        if missing:
            raise ValueError(f"{model_dir}: tensors listed in the index but absent: {sorted(missing)[:5]}")
        return tensors
    return read_safetensors(os.path.join(model_dir, "model.safetensors"))


def write_sharded(model_dir, tensors, dtype, shards):
    """Splits tensors (in name order) into `shards` files plus the transformers index."""
    names = sorted(tensors)
    per = -(-len(names) // shards)
    weight_map = {}
    total = 0
    for s in range(shards):
        part = names[s * per:(s + 1) * per]
        fname = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        write_safetensors(os.path.join(model_dir, fname), {n: tensors[n] for n in part}, dtype)
        for n in part:
            weight_map[n] = fname
            total += len(encode_tensor(tensors[n], dtype))
    with open(os.path.join(model_dir, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
