"""Reference vectors of the presses that need more than one layer's prefill inputs (issue 5, WP3).

generate.py calls this module for cases whose press needs a trained artefact (DuoAttention,
FastKVzip, RestoreKV: synthetic ones, seeded, written both for kvpress and in libkvpress's
safetensors layout next to the case), selects across layers (FastKVzip, KVzip, KVCompose) or
runs the model again (KVzip, RestoreKV, KVCompose). Model-wide presses run exactly as the
kvpress pipeline runs them: a prefill of the window with the press's context manager active,
then the head-wise masks (module.masked_key_indices) or the compacted cache of every layer.

KVzip tokenizes its prompts with the model's tokenizer (AutoTokenizer in kvpress, which needs
the network); here the llama2.c tokenizer of the shared model (tok512.bin) is read directly, with
the algorithm of tools/model/tokenizer.c, and the ids it gives are recorded in the case so that
`kvpress-tool verify` can check that the C tokenizer agrees.

RestoreKVPress is newer than kvpress 0.5.4 (kvpress/presses/restorekv_press.py upstream); it is
re-implemented here from PRESSES.md 2.27 on top of kvpress 0.5.4's KVzipPress: the restore pass
runs the restore embeddings over the full cache with a LoRA adapter on every projection, then
KVzip's selection evicts with the ratio enlarged by n_restore / n_ctx.
"""
import json
import os
import struct
from contextlib import contextmanager

import numpy as np
import torch

LORA_PROJECTIONS = {"q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj",
                    "o": "self_attn.o_proj", "gate": "mlp.gate_proj", "up": "mlp.up_proj",
                    "down": "mlp.down_proj"}

MODEL_PRESSES = ("fastkvzip", "kvzip", "kvcompose", "restorekv")


# ---- the llama2.c tokenizer ---------------------------------------------------------------------

class Llama2cTokenizer:
    """Score-based BPE with byte fallback and SentencePiece's dummy prefix (tokenizer.c)."""

    chat_template = None

    def __init__(self, path, vocab_size):
        with open(path, "rb") as f:
            data = f.read()
        pos = 4
        self.pieces, self.scores = [], []
        for _ in range(vocab_size):
            score, length = struct.unpack_from("<fi", data, pos)
            pos += 8
            self.pieces.append(data[pos:pos + length])
            self.scores.append(score)
            pos += length
        self.ids = {}
        for i, p in enumerate(self.pieces):
            self.ids.setdefault(p, i)
        self.byte_ids = {}
        for i, p in enumerate(self.pieces):
            if len(p) == 6 and p.startswith(b"<0x") and p.endswith(b">"):
                self.byte_ids.setdefault(int(p[3:5], 16), i)

    def ids_of(self, text):
        data = text.encode("utf-8")
        toks = [self.ids[b" "]] if data and b" " in self.ids else []
        i = 0
        while i < len(data):
            j = i + 1
            while j < len(data) and (data[j] & 0xC0) == 0x80 and j - i < 4:
                j += 1
            cp = data[i:j]
            if cp in self.ids:
                toks.append(self.ids[cp])
            else:
                toks.extend(self.byte_ids.get(b, 0) for b in cp)
            i = j
        while True:
            best, best_score = None, None
            for k in range(len(toks) - 1):
                joined = self.pieces[toks[k]] + self.pieces[toks[k + 1]]
                tid = self.ids.get(joined)
                if tid is not None and self.scores[tid] > -1e10 and (
                        best is None or self.scores[tid] > best_score):
                    best, best_score = k, self.scores[tid]
            if best is None:
                return toks
            joined = self.pieces[toks[best]] + self.pieces[toks[best + 1]]
            toks[best:best + 2] = [self.ids[joined]]

    def encode(self, text, return_tensors=None, add_special_tokens=False):
        assert not add_special_tokens
        ids = self.ids_of(text)
        return torch.tensor([ids], dtype=torch.long) if return_tensors == "pt" else ids


class _AutoTokenizerShim:
    """Stands in for transformers.AutoTokenizer inside kvpress's KVzip (no network here)."""
    tokenizer = None

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        return cls.tokenizer


# ---- artefacts ------------------------------------------------------------------------------------

def artefact_name(case):
    """One file per press and artefact configuration: <press>-<key><value>-....safetensors."""
    art = case["artefact"]
    return "-".join([case["press"]["press"]] + [f"{k}{art[k]}" for k in sorted(art)]) + ".safetensors"


def artefact_path(out, case):
    os.makedirs(os.path.join(out, "artefacts"), exist_ok=True)
    return os.path.join(out, "artefacts", artefact_name(case))


def save_artefact(path, tensors, metadata=None):
    """Float32 tensors and string metadata, written by the safetensors package (tensors in its
    own order). That package writes the metadata in hash order, which changes from run to run; the
    header is rewritten with the metadata in the order given (the same bytes reordered, so the
    header keeps its length and the data stays put): a regenerated artefact is byte-identical."""
    from safetensors.numpy import save_file
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    metadata = {str(k): str(v) for k, v in (metadata or {}).items()}
    save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()}, path,
              metadata=metadata)
    if len(metadata) < 2:
        return
    with open(path, "r+b") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = f.read(n).decode("utf-8")
        lead = '{"__metadata__":'
        assert header.startswith(lead), f"{path}: unexpected safetensors header"
        written, end = json.JSONDecoder().raw_decode(header, len(lead))
        ordered = json.dumps(metadata, separators=(",", ":"), ensure_ascii=False)
        assert written == metadata and len(ordered) == end - len(lead)
        f.seek(8 + len(lead))
        f.write(ordered.encode("utf-8"))


def duo_attention_setup(press, case, cfg, out):
    """Seeded head scores [L, Hk] in place of the DuoAttention repo's patterns."""
    art = case["artefact"]
    rng = np.random.default_rng(art.get("seed", 0))
    scores = rng.uniform(-0.1, 1.1, size=(cfg["n_layers"], cfg["n_kv"]))  # some get clipped
    sink, recent = art["sink_size"], art["recent_size"]
    press.load_attention_pattern = lambda model: (sink, recent, np.clip(scores, 0, 1))
    save_artefact(artefact_path(out, case), {"head_scores": scores},
                  {"sink_size": sink, "recent_size": recent})
    duo_attention_published(out, scores, sink, recent)


def fastkvzip_gates(cfg, seed):
    """Randomly initialised gates of the published architecture, scaled so that the scores are
    spread over (0, 1) rather than pushed to 0 or 1."""
    from kvpress.presses.fastkvzip_press import FastKVzipGate
    g = torch.Generator().manual_seed(seed)
    gates = []
    G = cfg["n_heads"] // cfg["n_kv"]
    for layer in range(cfg["n_layers"]):
        gate = FastKVzipGate(layer, cfg["dim"], cfg["n_kv"], G, torch.float32, 16, 16)
        with torch.no_grad():
            for name, p in gate.named_parameters():
                scale = {"q_proj.weight": 0.3, "q_proj.bias": 0.3, "k_proj.weight": 0.3,
                         "k_base": 0.5, "b": 0.5}.get(name, 0.2)
                base = 1.0 if name.endswith("norm.weight") else 0.0
                if name == "b":
                    base = 2.5
                p.copy_(base + scale * torch.randn(p.shape, generator=g))
        gates.append(gate.eval())
    return gates


# ---- the published layouts (what kvpress downloads), for tools/artefacts' converters ----------

def published_dir(out, *parts):
    d = os.path.join(out, "artefacts", "published", *parts)
    os.makedirs(d, exist_ok=True)
    return d


def duo_attention_published(out, scores, sink, recent):
    """DuoAttention's attn_patterns/<pattern>/: config.json and full_attention_heads.tsv."""
    d = published_dir(out, "duo_attention")
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump({"sink_size": sink, "recent_size": recent}, f)
    np.savetxt(os.path.join(d, "full_attention_heads.tsv"), scores, delimiter="\t", fmt="%.17g")


def fastkvzip_published(out, gates, G):
    """Jang-Hyun/Fast-KVzip's <model>/q<G>_dim16_sink16.pt: {"module": [state_dict, ...]}."""
    d = published_dir(out, "fastkvzip", "stories260k")
    torch.save({"module": [g.state_dict() for g in gates]},
               os.path.join(d, f"q{G}_dim16_sink16.pt"))


def restorekv_published(out, emb, lora, alpha, rank):
    """higokri/RestoreKV-<model>: restore_embeddings.safetensors and a PEFT LoRA adapter."""
    from safetensors.torch import save_file
    d = published_dir(out, "restorekv")
    save_file({"restore_embeddings": emb.contiguous()}, os.path.join(d, "restore_embeddings.safetensors"))
    names = {"q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj",
             "o": "self_attn.o_proj", "gate": "mlp.gate_proj", "up": "mlp.up_proj",
             "down": "mlp.down_proj"}
    tensors = {}
    for (layer, proj), (A, B) in lora.items():
        base = f"base_model.model.model.layers.{layer}.{names[proj]}"
        tensors[base + ".lora_A.weight"] = A.contiguous()
        tensors[base + ".lora_B.weight"] = B.contiguous()
    save_file(tensors, os.path.join(d, "adapter_model.safetensors"))
    with open(os.path.join(d, "adapter_config.json"), "w") as f:
        json.dump({"peft_type": "LORA", "r": rank, "lora_alpha": alpha, "use_rslora": False,
                   "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                      "up_proj", "down_proj"], "bias": "none"}, f, indent=1)


def fastkvzip_artefact(gates, path):
    tensors = {}
    for layer, gate in enumerate(gates):
        for name, t in gate.state_dict().items():
            tensors[f"layers.{layer}.{name}"] = t.detach().float().numpy()
    save_artefact(path, tensors, {"format": "kvpress fastkvzip gates", "sink": 16})


def restorekv_artefact(cfg, seed, rank=4, alpha=8.0, n_restore=8, emb_scale=1.0):
    """Restore embeddings and a LoRA adapter in Hugging Face's layout (q/k rows half-split)."""
    g = torch.Generator().manual_seed(seed)
    D, F, Q, KV = cfg["dim"], cfg["hidden"], cfg["n_heads"] * cfg["head"], cfg["n_kv"] * cfg["head"]
    shapes = {"q": (Q, D), "k": (KV, D), "v": (KV, D), "o": (D, Q), "gate": (F, D), "up": (F, D),
              "down": (D, F)}
    lora = {}
    for layer in range(cfg["n_layers"]):
        for proj, (out, inp) in shapes.items():
            lora[(layer, proj)] = (0.2 * torch.randn(rank, inp, generator=g),
                                   0.2 * torch.randn(out, rank, generator=g))
    emb = emb_scale * torch.randn(n_restore, D, generator=g)
    return emb, lora, alpha


# ---- running model-wide presses -------------------------------------------------------------------

@contextmanager
def lora_enabled(model, lora, alpha):
    """Adds s B (A x) to every adapted projection while active."""
    handles = []
    for (layer, proj), (A, B) in lora.items():
        module = model.model.layers[layer].get_submodule(LORA_PROJECTIONS[proj])
        scale = alpha / A.shape[0]

        def hook(mod, args, out, A=A, B=B, scale=scale):
            return out + scale * (args[0] @ A.T) @ B.T
        handles.append(module.register_forward_hook(hook))
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def make_restorekv_press(ratio, params, emb, lora, alpha):
    from kvpress import KVzipPress

    class RestoreKVReference(KVzipPress):
        encoding_restore = False

        def forward_hook(self, module, input, kwargs, output):
            if self.encoding_restore:
                return output
            return super().forward_hook(module, input, kwargs, output)

        def compress_post(self, model):
            before = self._cache.get_seq_length()
            n_r = emb.shape[0]
            pos = torch.arange(before, before + n_r)
            self.encoding_restore = True
            try:
                with torch.no_grad(), lora_enabled(model, lora, alpha):
                    model.model(inputs_embeds=emb.unsqueeze(0), past_key_values=self._cache,
                                position_ids=pos.unsqueeze(0), cache_position=pos, use_cache=True)
            finally:
                self.encoding_restore = False
            assert self._cache.get_seq_length() - before == n_r
            requested = self.compression_ratio
            self.compression_ratio = min(1.0, requested + n_r / self.context_length)
            try:
                super().compress_post(model)
            finally:
                self.compression_ratio = requested

    return RestoreKVReference(compression_ratio=ratio, **params)


def nearest_rows(original, compressed):
    """Per kv head, the sorted indices of the original keys the compressed ones are. KVCompose's
    prefill runs in eager attention, whose keys differ from the (sdpa) capture in the last bits,
    so rows are matched to the nearest original row."""
    out = []
    for j in range(original.shape[1]):
        dist = torch.cdist(compressed[0, j].double(), original[0, j].double())
        out.append(sorted(dist.argmin(dim=1).tolist()))
    return np.array(out, dtype=np.int32)


def masks_of(model, n):
    out = []
    for layer in model.model.layers:
        module = layer.self_attn
        masked = getattr(module, "masked_key_indices", None)
        heads = model.config.num_key_value_heads
        mask = np.ones((heads, n), dtype=np.uint8)
        if masked is not None:
            _, h, p = (t.cpu().numpy() for t in masked)
            mask[h, p] = 0
        module.masked_key_indices = None
        out.append(mask)
    return out


def run_model_case(model, cfg, tokens, case, out, tok_path, captured):
    """Runs one model-wide case on the window `tokens` [1, n] and returns every layer's result
    (artefacts go to <out>/artefacts). `captured[layer]["keys"]` are the prefill keys."""
    from transformers import DynamicCache
    import kvpress
    from kvpress.presses import kvzip_press
    spec = case["press"]
    name = spec["press"]
    params = dict(spec.get("params", {}))
    ratio = params.pop("compression_ratio", 0.0)
    n = tokens.shape[1]
    saved = {}
    extra = {}
    if name == "fastkvzip":
        gates = fastkvzip_gates(cfg, case["artefact"].get("seed", 0))
        fastkvzip_artefact(gates, artefact_path(out, case))
        fastkvzip_published(out, gates, cfg["n_heads"] // cfg["n_kv"])
        press = kvpress.FastKVzipPress(compression_ratio=ratio, **params)
        press.gates = gates
    elif name in ("kvzip", "restorekv"):
        tok = Llama2cTokenizer(tok_path, cfg["vocab"])
        _AutoTokenizerShim.tokenizer = tok
        kvzip_press.AutoTokenizer = _AutoTokenizerShim
        extra["prompt_tokens"] = tok.ids_of("\n\nRepeat the previous context exactly.")
        extra["suffix_tokens"] = tok.ids_of("\n")
        if name == "kvzip":
            press = kvpress.KVzipPress(compression_ratio=ratio, **params)
        else:
            art = case["artefact"]
            emb, lora, alpha = restorekv_artefact(cfg, art.get("seed", 0), art.get("rank", 4),
                                                  art.get("alpha", 8.0))
            tensors = {"restore_embeddings": emb.numpy()}
            for (layer, proj), (A, B) in lora.items():
                tensors[f"lora.{layer}.{proj}.A"] = A.numpy()
                tensors[f"lora.{layer}.{proj}.B"] = B.numpy()
            save_artefact(artefact_path(out, case), tensors,
                          {"lora_alpha": alpha, "format": "kvpress restorekv"})
            restorekv_published(out, emb, lora, alpha, art.get("rank", 4))
            press = make_restorekv_press(ratio, params, emb, lora, alpha)
        original_post = press.compress_post

        def keep_scores(model_):
            saved["scores"] = press.score_val.detach().clone()
            original_post(model_)
        press.compress_post = keep_scores
    elif name == "kvcompose":
        press = kvpress.KVComposePress(compression_ratio=ratio, **params)
        original = press.prepare_important_masks

        def keep_scores():
            original()
            saved["scores"] = press.scores.detach().clone()
        press.prepare_important_masks = keep_scores
    else:
        raise SystemExit(f"not a model-wide press: {name}")

    cache = DynamicCache(config=model.config)
    with torch.no_grad():
        with press(model):
            model.model(input_ids=tokens, past_key_values=cache, use_cache=True)
    if name == "fastkvzip":
        scores = press.score_val[:, 0].float().numpy()  # [L, Hk, n]
    else:
        s = saved["scores"]
        scores = (s[:, 0] if s.dim() == 4 else s).float().numpy()
    results = []
    structured = name == "kvcompose" and params.get("structured", True)
    masks = None if structured else masks_of(model, n)
    for layer in range(cfg["n_layers"]):
        res = {"scores": scores[layer][:, :n]}
        if structured:
            res["kept"] = nearest_rows(captured[layer]["keys"], cache.layers[layer].keys)
        else:
            res["mask"] = masks[layer]
        results.append(res)
    return results, extra


def write_case_extras(case_dir, case, extra, tokens):
    """What verify needs besides press.json: the window's tokens and, for KVzip, its prompts."""
    np.save(os.path.join(case_dir, "context_tokens.npy"), np.asarray(tokens[0], dtype=np.int32))
    if extra:
        with open(os.path.join(case_dir, "forward.json"), "w") as f:
            json.dump(extra, f)
