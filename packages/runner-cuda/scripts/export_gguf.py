#!/usr/bin/env python3
"""Exports one of our Hugging Face checkpoints to GGUF v3, for llama.cpp and for the engine.

Usage: python3 scripts/export_gguf.py MODEL_DIR OUT.gguf [--type TYPE]
  TYPE  f32 (default), f16, bf16, q8_0, q4_0, q4_k, q5_k, q6_k: every matrix in that type;
        q4_k_m, q5_k_m: llama.cpp's mixes (Q4_K / Q5_K, with Q6_K for output.weight and for
        attn_v / ffn_down of the layers llama.cpp's use_more_bits picks).
  Vectors (norms, biases, rope_freqs) stay F32, as llama.cpp's quantizer leaves them.

Follows llama.cpp's converter (reference §9, §11): `llama`/`mistral` become GGUF arch `llama`,
whose RoPE pairs adjacent dimensions, so q/k rows are permuted back from the HF split-halves
order; `qwen2`/`qwen3` keep NEOX RoPE and are written unpermuted. llama3 rope scaling becomes a
`rope_freqs.weight` tensor. The byte-level BPE vocabulary, chat template and sampling defaults go
in as llama.cpp's `gpt2` tokenizer metadata (gguf_tokenizer_meta.py).
Tensors are produced and written one at a time, so a model larger than memory can be written
from a generator (`write_gguf` with callables).
"""
import argparse
import json
import math
import os
import struct

import numpy as np

import gguf_quants as gq
import gguf_tokenizer_meta
from safetensors_io import read_checkpoint

GGUF_MAGIC = 0x46554747  # "GGUF" little-endian
GGUF_VERSION = 3
ALIGNMENT = 32
GGUF_UINT8, GGUF_INT8, GGUF_UINT16, GGUF_INT16, GGUF_UINT32, GGUF_INT32, GGUF_FLOAT32, GGUF_BOOL, \
    GGUF_STRING, GGUF_ARRAY, GGUF_UINT64, GGUF_INT64, GGUF_FLOAT64 = range(13)
GGML_F32 = gq.F32
GGUF_ARCH = {"llama": "llama", "mistral": "llama", "qwen2": "qwen2", "qwen3": "qwen3"}

# llama_ftype values (llama.h) written as general.file_type.
FILE_TYPES = {"f32": 0, "f16": 1, "q4_0": 2, "q8_0": 7, "q4_k": 14, "q4_k_m": 15, "q5_k": 16, "q5_k_m": 17,
              "q6_k": 18, "bf16": 32}
_BASE_TYPE = {"f32": gq.F32, "f16": gq.F16, "bf16": gq.BF16, "q8_0": gq.Q8_0, "q4_0": gq.Q4_0, "q4_k": gq.Q4_K,
              "q5_k": gq.Q5_K, "q6_k": gq.Q6_K, "q4_k_m": gq.Q4_K, "q5_k_m": gq.Q5_K}

_SCALAR = {GGUF_UINT8: "<B", GGUF_INT8: "<b", GGUF_UINT16: "<H", GGUF_INT16: "<h", GGUF_UINT32: "<I",
           GGUF_INT32: "<i", GGUF_FLOAT32: "<f", GGUF_BOOL: "<?", GGUF_UINT64: "<Q", GGUF_INT64: "<q",
           GGUF_FLOAT64: "<d"}


def _str(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def use_more_bits(i_layer, n_layers):
    """llama.cpp's choice of the layers whose attn_v / ffn_down get more bits in the _M mixes."""
    return i_layer < n_layers // 8 or i_layer >= 7 * n_layers // 8 or (i_layer - n_layers // 8) % 3 == 2


def tensor_type(name, shape, ftype, n_layers):
    """The ggml type a tensor gets in a file of `ftype` (one of FILE_TYPES)."""
    if len(shape) < 2 or name == "rope_freqs.weight":
        return gq.F32
    base = _BASE_TYPE[ftype]
    if ftype in ("q4_k_m", "q5_k_m"):
        if name == "output.weight":
            return gq.Q6_K
        for part in (".attn_v.weight", ".ffn_down.weight"):
            if name.endswith(part) and use_more_bits(int(name.split(".")[1]), n_layers):
                return gq.Q6_K
    return base


class GGUFWriter:
    def __init__(self):
        self.kv = []
        self.tensors = []

    def add(self, key, vtype, value):
        self.kv.append((key, vtype, value))

    def add_tensor(self, name, source, ggml_type=GGML_F32, shape=None):
        """source: float array, or a callable returning it (called once, at write time, with
        `shape` given here). The last dimension is the row (ggml's ne[0])."""
        if len(name) >= 64:
            raise ValueError(f"GGUF tensor name too long: {name}")
        if shape is None:
            shape = np.shape(source)
        shape = tuple(int(d) for d in shape)
        nbytes = gq.row_bytes(ggml_type, shape[-1]) * int(np.prod(shape[:-1], dtype=np.int64))
        self.tensors.append((name, shape, ggml_type, nbytes, source))

    @staticmethod
    def _value(vtype, value):
        if vtype == GGUF_STRING:
            return _str(value)
        return struct.pack(_SCALAR[vtype], value)

    def header_bytes(self):
        out = bytearray()
        out += struct.pack("<IIQQ", GGUF_MAGIC, GGUF_VERSION, len(self.tensors), len(self.kv))
        for key, vtype, value in self.kv:
            out += _str(key)
            if isinstance(vtype, tuple):
                elem = vtype[1]
                out += struct.pack("<IIQ", GGUF_ARRAY, elem, len(value))
                for v in value:
                    out += self._value(elem, v)
            else:
                out += struct.pack("<I", vtype) + self._value(vtype, value)
        offset = 0
        for name, shape, ggml_type, nbytes, _ in self.tensors:
            # ggml order: dims[0] is the innermost (contiguous) dimension.
            dims = list(reversed(shape))
            out += _str(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
            out += struct.pack("<IQ", ggml_type, offset)
            offset += nbytes + (-nbytes) % ALIGNMENT
        out += b"\x00" * ((-len(out)) % ALIGNMENT)
        return bytes(out)

    def write(self, path):
        with open(path, "wb") as f:
            f.write(self.header_bytes())
            for name, shape, ggml_type, nbytes, source in self.tensors:
                array = source() if callable(source) else source
                if tuple(np.shape(array)) != shape:
                    raise ValueError(f"{name}: produced shape {np.shape(array)}, declared {shape}")
                data = gq.quantize(array, ggml_type)
                assert data.nbytes == nbytes, name
                f.write(data.tobytes())
                f.write(b"\x00" * ((-nbytes) % ALIGNMENT))


def undo_hf_permute(w, n_head):
    """HF split-halves rows back to Meta's interleaved rows (llama.cpp `LlamaModel.permute`)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def llama3_rope_freqs(scaling, theta, head_dim):
    """Per-frequency divisors that llama.cpp applies to theta_i (`rope_freqs.weight`)."""
    factor = scaling.get("factor", 8.0)
    low, high = scaling.get("low_freq_factor", 1.0), scaling.get("high_freq_factor", 4.0)
    orig = scaling.get("original_max_position_embeddings", 8192)
    low_wl, high_wl = orig / low, orig / high
    out = []
    for i in range(0, head_dim, 2):
        freq = 1.0 / (theta ** (i / head_dim))
        wavelen = 2 * math.pi / freq
        if wavelen < high_wl:
            out.append(1.0)
        elif wavelen > low_wl:
            out.append(factor)
        else:
            smooth = (orig / wavelen - low) / (high - low)
            out.append(1.0 / ((1 - smooth) / factor + smooth))
    return np.asarray(out, dtype=np.float32)


# HF layer tensor suffix -> GGUF name suffix.
LAYER_NAMES = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "self_attn.q_proj.bias": "attn_q.bias",
    "self_attn.k_proj.bias": "attn_k.bias",
    "self_attn.v_proj.bias": "attn_v.bias",
    "self_attn.q_norm.weight": "attn_q_norm.weight",
    "self_attn.k_norm.weight": "attn_k_norm.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}


def write_gguf(out_path, cfg, tokenizer_kv, tensors, ftype="f32", name="model"):
    """Writes a GGUF file.

    cfg: HF config.json dict. tokenizer_kv: (key, type, value) triples of the tokenizer metadata
    (gguf_tokenizer_meta). tensors: dict HF name -> float array; or (dict HF name -> callable
    returning the array, dict HF name -> shape), so tensors are produced only while written."""
    if ftype not in FILE_TYPES:
        raise ValueError(f"unknown type {ftype}; one of {', '.join(FILE_TYPES)}")
    if isinstance(tensors, tuple):
        sources, shapes = tensors
    else:
        sources, shapes = tensors, {k: np.shape(v) for k, v in tensors.items()}
    model_type = cfg["model_type"]
    if model_type not in GGUF_ARCH:
        raise ValueError(f"unsupported model_type {model_type}")
    arch = GGUF_ARCH[model_type]
    h = cfg["hidden_size"]
    n_head = cfg["num_attention_heads"]
    n_kv = cfg.get("num_key_value_heads") or n_head
    head_dim = cfg.get("head_dim") or h // n_head
    theta = cfg.get("rope_theta") or (cfg.get("rope_parameters") or {}).get("rope_theta", 10000.0)
    vocab = cfg["vocab_size"]
    n_layers = cfg["num_hidden_layers"]

    g = GGUFWriter()
    g.add("general.architecture", GGUF_STRING, arch)
    g.add("general.name", GGUF_STRING, name)
    g.add("general.file_type", GGUF_UINT32, FILE_TYPES[ftype])
    g.add(f"{arch}.context_length", GGUF_UINT32, cfg.get("max_position_embeddings", 2048))
    g.add(f"{arch}.embedding_length", GGUF_UINT32, h)
    g.add(f"{arch}.block_count", GGUF_UINT32, n_layers)
    g.add(f"{arch}.feed_forward_length", GGUF_UINT32, cfg["intermediate_size"])
    g.add(f"{arch}.attention.head_count", GGUF_UINT32, n_head)
    g.add(f"{arch}.attention.head_count_kv", GGUF_UINT32, n_kv)
    g.add(f"{arch}.attention.layer_norm_rms_epsilon", GGUF_FLOAT32, cfg["rms_norm_eps"])
    g.add(f"{arch}.rope.freq_base", GGUF_FLOAT32, theta)
    g.add(f"{arch}.rope.dimension_count", GGUF_UINT32, head_dim)
    g.add(f"{arch}.attention.key_length", GGUF_UINT32, head_dim)
    g.add(f"{arch}.attention.value_length", GGUF_UINT32, head_dim)
    g.add(f"{arch}.vocab_size", GGUF_UINT32, vocab)
    scaling = cfg.get("rope_scaling")
    if scaling and (scaling.get("rope_type") or scaling.get("type")) == "linear":
        g.add(f"{arch}.rope.scaling.type", GGUF_STRING, "linear")
        g.add(f"{arch}.rope.scaling.factor", GGUF_FLOAT32, scaling["factor"])

    for key, vtype, value in tokenizer_kv:
        g.add(key, vtype, value)

    def put(gguf_name, hf_name, transform=None):
        shape = shapes[hf_name]
        src = sources[hf_name]
        if transform is None:
            source = src
        elif callable(src):
            def source(src=src):
                return transform(src())
        else:
            source = transform(src)
        g.add_tensor(gguf_name, source, tensor_type(gguf_name, shape, ftype, n_layers), shape)

    permute = arch == "llama"
    if scaling and (scaling.get("rope_type") or scaling.get("type")) == "llama3":
        g.add_tensor("rope_freqs.weight", llama3_rope_freqs(scaling, theta, head_dim))
    put("token_embd.weight", "model.embed_tokens.weight")
    put("output_norm.weight", "model.norm.weight")
    if "lm_head.weight" in shapes and not cfg.get("tie_word_embeddings", False):
        put("output.weight", "lm_head.weight")
    for i in range(n_layers):
        for hf, gg in LAYER_NAMES.items():
            key = f"model.layers.{i}.{hf}"
            if key not in shapes:
                continue
            transform = None
            if permute and hf.startswith("self_attn.q_proj"):
                transform = lambda t: undo_hf_permute(t, n_head)  # noqa: E731
            elif permute and hf.startswith("self_attn.k_proj"):
                transform = lambda t: undo_hf_permute(t, n_kv)  # noqa: E731
            put(f"blk.{i}.{gg}", key, transform)
    g.write(out_path)


def export(model_dir, out_path, ftype="f32"):
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    write_gguf(out_path, cfg, gguf_tokenizer_meta.hf_tokenizer_kv(model_dir, cfg), read_checkpoint(model_dir), ftype,
               os.path.basename(os.path.normpath(model_dir)))


# ------------------------------------------------------------------ reading (tests, tools)

def read_gguf(path):
    """Parses a GGUF file: (metadata dict, {name: (ggml_type, shape row-major, bytes)})."""
    with open(path, "rb") as f:
        raw = f.read()
    pos = 0

    def take(fmt):
        nonlocal pos
        v = struct.unpack_from(fmt, raw, pos)
        pos += struct.calcsize(fmt)
        return v[0] if len(v) == 1 else v

    def string():
        nonlocal pos
        n = take("<Q")
        s = raw[pos:pos + n].decode("utf-8")
        pos += n
        return s

    def value(vtype):
        if vtype == GGUF_STRING:
            return string()
        if vtype == GGUF_ARRAY:
            elem, n = take("<IQ")
            return [value(elem) for _ in range(n)]
        return take(_SCALAR[vtype])

    magic, version, n_tensors, n_kv = take("<IIQQ")
    if magic != GGUF_MAGIC:
        raise ValueError(f"{path}: not a GGUF file")
    meta = {}
    for _ in range(n_kv):
        key = string()
        meta[key] = value(take("<I"))
    infos = []
    for _ in range(n_tensors):
        name = string()
        dims = [take("<Q") for _ in range(take("<I"))]
        ggml_type, offset = take("<IQ")
        infos.append((name, ggml_type, tuple(reversed(dims)), offset))
    align = meta.get("general.alignment", ALIGNMENT)
    data = pos + (-pos) % align
    tensors = {}
    for name, ggml_type, shape, offset in infos:
        n = gq.row_bytes(ggml_type, shape[-1]) * int(np.prod(shape[:-1], dtype=np.int64))
        tensors[name] = (ggml_type, shape, raw[data + offset:data + offset + n])
    return meta, tensors


def hf_permute(w, n_head):
    """Inverse of undo_hf_permute: adjacent-pair rows back to HF split halves."""
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def hf_weights_from_gguf(path):
    """(HF config subset, HF-named float32 weights dequantized from the file) for reference checks."""
    meta, tensors = read_gguf(path)
    arch = meta["general.architecture"]
    n_head = meta[f"{arch}.attention.head_count"]
    n_kv = meta[f"{arch}.attention.head_count_kv"]
    inverse = {v: k for k, v in LAYER_NAMES.items()}
    w = {}
    for name, (ggml_type, shape, raw) in tensors.items():
        t = gq.dequantize(raw, ggml_type, shape)
        if name == "token_embd.weight":
            w["model.embed_tokens.weight"] = t
        elif name == "output_norm.weight":
            w["model.norm.weight"] = t
        elif name == "output.weight":
            w["lm_head.weight"] = t
        elif name.startswith("blk."):
            _, i, rest = name.split(".", 2)
            hf = inverse[rest]
            if arch == "llama" and hf == "self_attn.q_proj.weight":
                t = hf_permute(t, n_head)
            elif arch == "llama" and hf == "self_attn.k_proj.weight":
                t = hf_permute(t, n_kv)
            w[f"model.layers.{i}.{hf}"] = t
    return meta, w


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir")
    ap.add_argument("out")
    ap.add_argument("--type", default="f32", choices=sorted(FILE_TYPES))
    args = ap.parse_args()
    export(args.model_dir, args.out, args.type)


if __name__ == "__main__":
    main()
