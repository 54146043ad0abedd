#!/usr/bin/env python3
"""Writes a BERT sentence-embedding model (Hugging Face layout: config.json, model.safetensors,
vocab.txt, 1_Pooling/config.json) as an F32 GGUF file that llama.cpp's `bert` architecture loads.

Standard library only (no torch, numpy or gguf package): safetensors is a JSON header and raw
little-endian tensors, and GGUF v3 is a key/value header, tensor descriptors and aligned data. The
tensor names and vocabulary conventions are llama.cpp's for BERT (WordPiece pieces: `##x` becomes
`x`, other pieces get the phantom space `\u2581`, control tokens stay as they are).

    scripts/gguf-from-bert.py MODEL_DIR OUT.gguf
"""

import json
import struct
import sys
from pathlib import Path

ALIGN = 32
# GGUF value types.
U32, I32, F32, BOOL, STRING, ARRAY = 4, 5, 6, 7, 8, 9
# Token types.
NORMAL, CONTROL = 1, 3


def gguf_string(s: str) -> bytes:
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def kv(key: str, vtype: int, value) -> bytes:
    out = gguf_string(key) + struct.pack("<I", vtype)
    if vtype == U32:
        return out + struct.pack("<I", value)
    if vtype == F32:
        return out + struct.pack("<f", value)
    if vtype == BOOL:
        return out + struct.pack("<B", 1 if value else 0)
    if vtype == STRING:
        return out + gguf_string(value)
    raise ValueError(vtype)


def kv_array(key: str, etype: int, values) -> bytes:
    out = gguf_string(key) + struct.pack("<IIQ", ARRAY, etype, len(values))
    if etype == STRING:
        return out + b"".join(gguf_string(v) for v in values)
    if etype == I32:
        return out + struct.pack(f"<{len(values)}i", *values)
    raise ValueError(etype)


def tensor_name(hf: str) -> str | None:
    """llama.cpp's name for a Hugging Face BERT tensor, or None for tensors it does not use."""
    name = hf.removeprefix("bert.")
    if name.endswith(".gamma"):
        name = name[: -len(".gamma")] + ".weight"
    if name.endswith(".beta"):
        name = name[: -len(".beta")] + ".bias"
    if name == "embeddings.position_ids" or name.startswith(("pooler.", "cls.")):
        return None
    fixed = {
        "embeddings.word_embeddings.weight": "token_embd.weight",
        "embeddings.token_type_embeddings.weight": "token_types.weight",
        "embeddings.position_embeddings.weight": "position_embd.weight",
        "embeddings.LayerNorm.weight": "token_embd_norm.weight",
        "embeddings.LayerNorm.bias": "token_embd_norm.bias",
    }
    if name in fixed:
        return fixed[name]
    parts = name.split(".")
    if parts[:2] != ["encoder", "layer"]:
        raise ValueError(f"unexpected tensor {hf}")
    block, rest = parts[2], ".".join(parts[3:-1])
    kind = {
        "attention.self.query": "attn_q",
        "attention.self.key": "attn_k",
        "attention.self.value": "attn_v",
        "attention.output.dense": "attn_output",
        "attention.output.LayerNorm": "attn_output_norm",
        "intermediate.dense": "ffn_up",
        "output.dense": "ffn_down",
        "output.LayerNorm": "layer_output_norm",
    }.get(rest)
    if kind is None:
        raise ValueError(f"unexpected tensor {hf}")
    return f"blk.{block}.{kind}.{parts[-1]}"


def main() -> None:
    src, out = Path(sys.argv[1]), Path(sys.argv[2])
    config = json.loads((src / "config.json").read_text())
    pooling = json.loads((src / "1_Pooling" / "config.json").read_text())
    if not pooling.get("pooling_mode_mean_tokens"):
        sys.exit("only mean-pooled models are supported")

    # One piece per line, split on "\n" only, as the Hugging Face tokenizer reads it.
    vocab = (src / "vocab.txt").read_text(encoding="utf-8").removesuffix("\n").split("\n")
    if len(vocab) != config["vocab_size"]:
        sys.exit(f"vocab.txt has {len(vocab)} pieces, config.json says {config['vocab_size']}")
    specials = {"[PAD]": 0, "[UNK]": 100, "[CLS]": 101, "[SEP]": 102, "[MASK]": 103}
    for piece, want in specials.items():
        if vocab.index(piece) != want:
            sys.exit(f"{piece} is token {vocab.index(piece)}, llama.cpp's BERT defaults expect {want}")
    tok_config_path = src / "tokenizer_config.json"
    tok_config = json.loads(tok_config_path.read_text()) if tok_config_path.exists() else {}
    lowercase = bool(tok_config.get("do_lower_case", True))
    strip_accents = tok_config.get("strip_accents")
    strip_accents = lowercase if strip_accents is None else bool(strip_accents)
    types = [CONTROL if piece in specials else NORMAL for piece in vocab]
    tokens = [
        piece if kind == CONTROL else piece[2:] if piece.startswith("##") else "\u2581" + piece
        for piece, kind in zip(vocab, types)
    ]

    raw = (src / "model.safetensors").read_bytes()
    (header_len,) = struct.unpack_from("<Q", raw, 0)
    header = json.loads(raw[8 : 8 + header_len])
    base = 8 + header_len
    tensors = []
    for hf, meta in sorted(header.items()):
        if hf == "__metadata__":
            continue
        name = tensor_name(hf)
        if name is None:
            continue
        if meta["dtype"] != "F32":
            sys.exit(f"{hf} is {meta['dtype']}, only F32 is supported")
        start, end = meta["data_offsets"]
        tensors.append((name, meta["shape"], raw[base + start : base + end]))

    kvs = [
        kv("general.architecture", STRING, "bert"),
        kv("general.name", STRING, src.name),
        kv("general.file_type", U32, 0),
        kv("bert.context_length", U32, config["max_position_embeddings"]),
        kv("bert.embedding_length", U32, config["hidden_size"]),
        kv("bert.feed_forward_length", U32, config["intermediate_size"]),
        kv("bert.block_count", U32, config["num_hidden_layers"]),
        kv("bert.attention.head_count", U32, config["num_attention_heads"]),
        kv("bert.attention.layer_norm_epsilon", F32, config["layer_norm_eps"]),
        kv("bert.attention.causal", BOOL, False),
        kv("bert.pooling_type", U32, 1),  # mean
        kv("tokenizer.ggml.model", STRING, "bert"),
        kv("tokenizer.ggml.pre", STRING, "default"),
        kv_array("tokenizer.ggml.tokens", STRING, tokens),
        kv_array("tokenizer.ggml.token_type", I32, types),
        kv("tokenizer.ggml.token_type_count", U32, config["type_vocab_size"]),
        kv("tokenizer.ggml.add_bos_token", BOOL, True),
        kv("tokenizer.ggml.add_sep_token", BOOL, True),
        kv("tokenizer.ggml.normalizer.lowercase", BOOL, lowercase),
        kv("tokenizer.ggml.normalizer.strip_accents", BOOL, strip_accents),
    ]

    infos, offset = [], 0
    for name, shape, data in tensors:
        dims = list(reversed(shape))  # GGUF lists the fastest-varying dimension first
        infos.append(
            gguf_string(name)
            + struct.pack("<I", len(dims))
            + struct.pack(f"<{len(dims)}Q", *dims)
            + struct.pack("<IQ", 0, offset)  # type F32, offset in the data section
        )
        offset += len(data) + (-len(data)) % ALIGN

    part = out.with_suffix(out.suffix + ".part")
    with open(part, "wb") as f:
        f.write(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)))
        for item in kvs + infos:
            f.write(item)
        f.write(b"\0" * ((-f.tell()) % ALIGN))
        for _, _, data in tensors:
            f.write(data)
            f.write(b"\0" * ((-len(data)) % ALIGN))
    part.replace(out)


if __name__ == "__main__":
    main()
