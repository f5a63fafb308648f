#!/usr/bin/env python3
"""Reference vectors from NVIDIA kvpress, in the golden format of ../shared/golden/README.md.

Runs kvpress (pip-installed in a virtualenv; never a dependency of the library) on the shared
llama2.c model: for each window, the prompt is prefilled once in float32 while every attention
layer's inputs are captured; then each case's press is applied to each layer exactly as kvpress's
forward hook would, and its score and kept set (or head-wise mask) are written next to the
layer's inputs.

    python3 -m venv venv && venv/bin/pip install torch kvpress==0.5.4
    venv/bin/python tools/golden/generate.py --model ../shared/models/stories260K.bin \
        --windows ../shared/golden/eval/windows_public.txt --cases tools/golden/cases.json \
        --out tests/golden/kvpress-0.5.4

tools/golden/cases-0.5.4.json lists the cases of ../shared/golden/kvpress-0.5.4; regenerating
window 0 with it reproduces the shipped vectors (inputs to 2e-5, scores to 1e-4 relative; kept
sets differ only inside ties), and `kvpress-tool verify` passes on the result.

A case is {"name": "knorm@0.5", "press": {"press": "knorm", "params": {...}}} where wrappers
hold their inner press as {"name": ..., "params": ...} under params.press (the press.json
format). Press names are kvpress's class names in snake case without "Press".

Extensions for kvpress-0.5.4-ext (tests/golden/README.md), one case list per work package:

Wrappers and structural presses (cases-ext-wp1.json):
- any parameter may hold a press ({"name", "params"}), a list of presses (composed's
  "presses") or a list of numbers (per_layer_compression's "compression_ratios");
- presses that work in kvpress's forward hook (composed, per_layer_compression, dms,
  prefill_decoding) run through it, on a cache holding the layer (HOOK_PRESSES);
- a press that changes the kept keys or values (key_rerotation, merging) also writes
  keys.npy / values.npy: the compressed cache of each head in position order.

Scorer presses (cases-ext-wp2.json):
- a "seed" parameter (ours: leverage_score, compactor, cur) is not passed to kvpress; instead
  torch.randn, while the press runs, returns our generator's draws for that seed
  (core/presses/rng.c), so kvpress computes with the same sketch as the library (OurRandn);
- a press that changes the keys in place and keeps every token (think) also gets keys.npy,
  the cache afterwards;
- inputs/ also holds keys_prerope.npy, the pre-RoPE keys kvpress projects from the hidden
  states (LeverageScore and Compactor read them: leverage is too sensitive to rounding for the
  keys rotated back from the cache to meet the comparison rule);
- LeverageScore (alone and in Compactor) runs in float64 (LeverageInFloat64).

Presses that run the model or select across layers (cases-ext-wp3.json, model_presses.py):
- fastkvzip, kvzip, kvcompose and restorekv (model_presses.MODEL_PRESSES) run once per window
  on a prefill of the whole model with the press active, after the per-layer cases; each
  layer's folder gets that layer's result, context_tokens.npy (the window's tokens) and, for
  KVzip and RestoreKV, forward.json (the prompt tokens the reference used); press.json of
  kvzip, restorekv and kvcompose names the model and tokenizer ("model");
- --tokenizer names the llama2.c tokenizer for KVzip's prompts (default: tok512.bin beside the
  model).

FinchPress (cases-ext-finch.json):
- a parameter that kvpress's dataclass does not take in its constructor (FinchPress's
  window_size, which its delimiter hook would find) is set on the built press;
- the kept set of a re-rotating finch is the indices it hands to
  KeyRerotationPress.rerotate_keys (RerotationIndices), its keys.npy the re-rotated keys;
- with chunk_length its selection is per chunk, not a per-head top-k of its score: no
  scores.npy, the kept set compares exactly.

Synthetic artefacts (all three lists): presses that need a trained artefact get a seeded
synthetic one, handed to kvpress in place of its download and saved as safetensors under
<out>/artefacts/; press.json names it ("artefact": path relative to the case folder).
- A case that names the artefact's kind, {"artefact": {"kind": ..., "file": ..., "seed": ...}},
  gets it from ARTEFACT_KINDS: lukv_curve (LU-KV budget curve, also saved as .npy in the
  published layout), query_stats (expected_attention_stats, computed on other windows),
  q_filters (qfilter), kvzap (linear or MLP scorers). Each file is made once, before the
  windows.
- A case whose artefact names no kind (duo_attention, fastkvzip, restorekv) gets it from
  model_presses, named model_presses.artefact_name(case) and written with its published
  layout under artefacts/published/.

--manifest names the list of cases written into --out (one per case list):

    venv/bin/python tools/golden/generate.py --model ../shared/models/stories260K.bin \
        --windows ../shared/golden/eval/windows_public.txt --window-index 0 \
        --cases tools/golden/cases-ext-wp1.json --out tests/golden/kvpress-0.5.4-ext \
        --manifest manifest-wp1.json
    (likewise cases-ext-wp2.json with manifest-wp2.json, cases-ext-wp3.json with
    manifest-ext-wp3.json)
"""
import argparse
import contextlib
import dataclasses
import json
import math
import os
import struct
import sys
from collections import namedtuple
from types import SimpleNamespace

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import model_presses  # noqa: E402  (presses that need artefacts, all layers or extra passes)


# ---- the model ---------------------------------------------------------------------------------

def load_llama2c(path):
    """Weights of a llama2.c checkpoint (legacy layout), as float32 numpy arrays."""
    with open(path, "rb") as f:
        dim, hidden, n_layers, n_heads, n_kv, vocab, seq_len = struct.unpack("7i", f.read(28))
        shared = vocab > 0
        vocab = abs(vocab)
        head = dim // n_heads

        def take(*shape):
            n = int(np.prod(shape))
            return np.frombuffer(f.read(4 * n), dtype="<f4").reshape(shape).copy()

        w = {"emb": take(vocab, dim), "rms_att": take(n_layers, dim),
             "wq": take(n_layers, n_heads * head, dim), "wk": take(n_layers, n_kv * head, dim),
             "wv": take(n_layers, n_kv * head, dim), "wo": take(n_layers, dim, n_heads * head),
             "rms_ffn": take(n_layers, dim), "w1": take(n_layers, hidden, dim),
             "w2": take(n_layers, dim, hidden), "w3": take(n_layers, hidden, dim),
             "rms_final": take(dim)}
        take(seq_len, head // 2)  # the RoPE tables of the legacy layout
        take(seq_len, head // 2)
        w["cls"] = w["emb"] if shared else take(vocab, dim)
    cfg = dict(dim=dim, hidden=hidden, n_layers=n_layers, n_heads=n_heads, n_kv=n_kv,
               vocab=vocab, seq_len=seq_len, head=head)
    return cfg, w


def to_half_split(weight, n_heads):
    """Rows of Wq/Wk from interleaved RoPE pairs (2i, 2i+1) to Hugging Face's (i, i + d/2)."""
    out_dim, in_dim = weight.shape
    return (weight.reshape(n_heads, out_dim // n_heads // 2, 2, in_dim)
            .transpose(0, 2, 1, 3).reshape(out_dim, in_dim))


def build_hf(cfg, w, theta):
    from transformers import LlamaConfig, LlamaForCausalLM
    hf_cfg = LlamaConfig(vocab_size=cfg["vocab"], hidden_size=cfg["dim"],
                         intermediate_size=cfg["hidden"], num_hidden_layers=cfg["n_layers"],
                         num_attention_heads=cfg["n_heads"], num_key_value_heads=cfg["n_kv"],
                         head_dim=cfg["head"], max_position_embeddings=cfg["seq_len"],
                         rms_norm_eps=1e-5, rope_theta=theta, tie_word_embeddings=False,
                         attn_implementation="sdpa")
    model = LlamaForCausalLM(hf_cfg).float().eval()
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a))
    sd = {"model.embed_tokens.weight": t(w["emb"]), "model.norm.weight": t(w["rms_final"]),
          "lm_head.weight": t(w["cls"])}
    for l in range(cfg["n_layers"]):
        p = f"model.layers.{l}."
        sd[p + "input_layernorm.weight"] = t(w["rms_att"][l])
        sd[p + "post_attention_layernorm.weight"] = t(w["rms_ffn"][l])
        sd[p + "self_attn.q_proj.weight"] = t(to_half_split(w["wq"][l], cfg["n_heads"]))
        sd[p + "self_attn.k_proj.weight"] = t(to_half_split(w["wk"][l], cfg["n_kv"]))
        sd[p + "self_attn.v_proj.weight"] = t(w["wv"][l])
        sd[p + "self_attn.o_proj.weight"] = t(w["wo"][l])
        sd[p + "mlp.gate_proj.weight"] = t(w["w1"][l])
        sd[p + "mlp.down_proj.weight"] = t(w["w2"][l])
        sd[p + "mlp.up_proj.weight"] = t(w["w3"][l])
    missing, unexpected = model.load_state_dict(sd, strict=False)
    if unexpected or [m for m in missing if "rotary" not in m]:
        raise SystemExit(f"weights do not fit: missing {missing}, unexpected {unexpected}")
    return model


# ---- our random draws (core/presses/rng.c), for presses built on randomness ------------------------

MASK64 = (1 << 64) - 1


def our_normals(seed, count):
    """The library's normal draws for a seed: splitmix64 outputs in pairs, Box-Muller in double,
    rounded to float32 (exactly as core/presses/rng.c)."""
    i = np.arange(1, 2 * count + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = np.uint64(seed & MASK64) + i * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    bits = (z >> np.uint64(11)).astype(np.float64)
    u1 = (bits[0::2] + 0.5) * (1.0 / 9007199254740992.0)
    u2 = bits[1::2] * (1.0 / 9007199254740992.0)
    return (np.sqrt(-2.0 * np.log(u1)) * np.cos(6.283185307179586 * u2)).astype(np.float32)


class OurRandn:
    """While active, torch.randn returns our draws for `seed` (each call starts the sequence
    again, as the library does for a press with a fixed seed)."""

    def __init__(self, seed):
        self.seed, self.saved = seed, None

    def __enter__(self):
        self.saved = torch.randn

        def randn(*size, **kwargs):
            shape = tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else size
            draws = our_normals(self.seed, int(np.prod(shape)))
            return torch.from_numpy(draws.reshape(shape)).to(kwargs.get("dtype") or torch.float32)

        torch.randn = randn
        return self

    def __exit__(self, *exc):
        torch.randn = self.saved


class LeverageInFloat64:
    """While active, kvpress's LeverageScorePress computes in float64 (its pre-RoPE keys are cast
    up and its `.to(torch.float32)` keeps float64). Its float32 Cholesky solve loses ~1e-4 of the
    leverage on our model's heads, which the z-score turns into errors larger than the comparison
    tolerance: the reference must be the exact value of kvpress's algorithm (the library
    accumulates in double; GPU backends in f32 with tree reductions)."""

    class _Torch:
        def __getattr__(self, name):
            return torch.float64 if name == "float32" else getattr(torch, name)

    def __enter__(self):
        import kvpress.presses.leverage_press as lp
        self.lp, self.saved = lp, (lp.torch, lp.get_prerope_key_states)
        project = lp.get_prerope_key_states
        lp.torch = self._Torch()
        lp.get_prerope_key_states = lambda module, h: project(module, h).double()
        return self

    def __exit__(self, *exc):
        self.lp.torch, self.lp.get_prerope_key_states = self.saved


# ---- presses -----------------------------------------------------------------------------------

def press_class(name):
    import kvpress
    wanted = name.replace("_", "").lower() + "press"
    for attr in dir(kvpress):
        if attr.lower() == wanted:
            return getattr(kvpress, attr)
    raise SystemExit(f"kvpress has no press named {name}")


OURS_ONLY = ("seed",)  # parameters of the library that kvpress does not have (see OurRandn)


def press_value(v):
    """A parameter value of press.json as kvpress takes it: presses and lists of presses are
    built, numbers and lists of numbers pass as they are."""
    if isinstance(v, dict) and ("name" in v or "press" in v):
        return make_press(v)
    if isinstance(v, list) and v and isinstance(v[0], dict):
        return [make_press(x) for x in v]
    return v


def make_press(spec):
    """A kvpress press from the press.json form."""
    name = spec.get("press", spec.get("name"))
    params = {k: v if k == "press" else press_value(v)
              for k, v in spec.get("params", {}).items() if k not in OURS_ONLY}
    inner = params.pop("press", None)
    ratio = params.pop("compression_ratio", None)
    cls = press_class(name)
    # fields kvpress sets itself rather than through the constructor (FinchPress.window_size,
    # which its delimiter hook finds): set on the built press
    late = {f.name for f in dataclasses.fields(cls) if not f.init} if dataclasses.is_dataclass(cls) else set()
    late_params = {k: params.pop(k) for k in list(params) if k in late}
    if inner is not None:
        inner_press = make_press(inner)
        try:
            press = cls(inner_press, **params)
        except TypeError:
            press = cls(press=inner_press, **params)
    else:
        press = cls(**params)
    if ratio is not None:
        press.compression_ratio = ratio
    for k, v in late_params.items():
        setattr(press, k, v)
    return press


# ---- capture and apply -------------------------------------------------------------------------

class LayerCapture:
    """Records what a press hook sees at the end of prefill, for every attention layer."""

    def __init__(self, model):
        self.layers = {}
        self.handles = []
        for layer in model.model.layers:
            # what BasePress.__call__ attaches: presses evaluate RoPE at other positions
            layer.self_attn.rotary_emb = model.model.rotary_emb
            self.handles.append(layer.self_attn.register_forward_hook(self.hook, with_kwargs=True))

    def hook(self, module, args, kwargs, output):
        cache = kwargs["past_key_values"].layers[module.layer_idx]
        self.layers[module.layer_idx] = dict(
            module=module, hidden=kwargs["hidden_states"].detach().clone(),
            keys=cache.keys.detach().clone(), values=cache.values.detach().clone(),
            kwargs={k: v for k, v in kwargs.items() if k != "past_key_values"})

    def remove(self):
        for h in self.handles:
            h.remove()


def eager_probabilities(module, hidden, keys, kwargs):
    """softmax(q k^T / sqrt(d) + causal mask) in float32, as eager attention returns it."""
    n_heads, d = module.config.num_attention_heads, module.head_dim
    q = module.q_proj(hidden).view(1, -1, n_heads, d).transpose(1, 2)
    cos, sin = kwargs["position_embeddings"]
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb, repeat_kv
    q, _ = apply_rotary_pos_emb(q, q, cos, sin)
    k = repeat_kv(keys, n_heads // keys.shape[1])
    logits = q @ k.transpose(2, 3) / math.sqrt(d)
    n = logits.shape[-1]
    mask = torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=1)
    return torch.softmax(logits.masked_fill(mask, float("-inf")), dim=-1, dtype=torch.float32)


# Presses that kvpress applies in its forward hook rather than in compress().
HOOK_PRESSES = ("composed", "per_layer_compression", "dms", "prefill_decoding")
# Wrappers whose kept set is a per-head top-k of their inner press's score.
INNER_SCORED = ("key_rerotation", "merging", "per_layer_compression")
# Presses computed in float64 (LeverageInFloat64).
LEVERAGE_PRESSES = ("leverage_score", "compactor")


class HookCache:
    """What a kvpress forward hook reads of the cache: .layers[l].keys / .values."""

    class Layer:
        def __init__(self, keys, values):
            self.keys, self.values = keys, values

    def __init__(self, n_layers, layer, keys, values):
        self.layers = [self.Layer(None, None) for _ in range(n_layers)]
        self.layers[layer] = self.Layer(keys.clone(), values.clone())


def compress_through_hook(press, module, hidden, keys, values, kwargs):
    """Runs the press's forward hook on a prefill of the layer; returns the layer's cache."""
    cache = HookCache(module.config.num_hidden_layers, module.layer_idx, keys, values)
    hook_kwargs = dict(kwargs, hidden_states=hidden, past_key_values=cache)
    press.forward_hook(module, [], hook_kwargs, (None, None))
    layer = cache.layers[module.layer_idx]
    return layer.keys, layer.values


def rows_kept(original, compressed):
    """Per kv head, for each compressed row the index of the equal original row (-1 if none)."""
    out = []
    for j in range(original.shape[1]):
        orig, comp = original[0, j], compressed[0, j]
        idx = []
        for row in comp:
            hits = torch.nonzero((orig == row).all(dim=-1)).flatten().tolist()
            idx.append(hits[0] if hits else -1)
        out.append(idx)
    return np.array(out, dtype=np.int32).reshape(original.shape[1], -1)


class RerotationIndices:
    """Records the indices a press hands to KeyRerotationPress.rerotate_keys (FinchPress):
    its re-rotated keys cannot be found among the originals."""

    def __enter__(self):
        from kvpress.presses.key_rerotation_press import KeyRerotationPress
        self.cls, self.orig, self.indices = KeyRerotationPress, KeyRerotationPress.rerotate_keys, None

        def spy(module, indices, keys):
            self.indices = indices.detach().clone()
            return self.orig(module, indices, keys)
        KeyRerotationPress.rerotate_keys = staticmethod(spy)
        return self

    def __exit__(self, *exc):
        self.cls.rerotate_keys = staticmethod(self.orig)


def press_numerics(name, seed):
    """What stays active while a press scores or compresses: our random draws for its "seed"
    parameter, float64 for the leverage presses."""
    stack = contextlib.ExitStack()
    if seed is not None:
        stack.enter_context(OurRandn(seed))
    if name in LEVERAGE_PRESSES:
        stack.enter_context(LeverageInFloat64())
    return stack


def run_case(press, spec, layer, attentions):
    """One press on one layer's prefill: its scores, and its kept set or head-wise mask (plus the
    compressed keys / values where the press changes them)."""
    module, hidden, keys, values, kwargs = (layer[k] for k in
                                           ("module", "hidden", "keys", "values", "kwargs"))
    # presses may write into the cache tensors (ThinK zeroes key channels in place): work on
    # copies, so that the layer's capture stays as prefilled for the next case
    keys, values = keys.clone(), values.clone()
    kwargs = dict(kwargs, hidden_states=hidden)
    name = spec["press"]
    seed = spec.get("params", {}).get("seed")
    result = {}

    # the score: the press's own, or for a wrapper that selects by its inner press's score, that
    scorer = press if hasattr(press, "score") else None
    if scorer is None and name in INNER_SCORED:
        scorer = press.press
    if scorer is None and name == "prefill_decoding" and hasattr(press.prefilling_press, "score"):
        scorer = press.prefilling_press
    if scorer is not None and name not in ("pyramidkv", "chunkkv"):
        with torch.no_grad(), press_numerics(name, seed):
            s = scorer.score(module, hidden, keys, values, attentions, kwargs)
        result["scores"] = s[0].float().numpy()

    original = keys.clone()
    with torch.no_grad(), press_numerics(name, seed), RerotationIndices() as rerotated:
        if name in HOOK_PRESSES:
            k2, v2 = compress_through_hook(press, module, hidden, keys, values, kwargs)
        else:
            k2, v2 = press.compress(module, hidden, keys, values, attentions, kwargs)
    if name == "finch" and getattr(press, "chunk_length", None):
        # selected per chunk, not a per-head top-k of the score: the kept set compares exactly
        result.pop("scores", None)

    # a head-wise press masks instead of evicting
    masked = getattr(module, "masked_key_indices", None)
    if masked is not None:
        mask = np.ones(keys.shape[1:3], dtype=np.uint8)
        _, heads, positions = (t.cpu().numpy() for t in masked)
        mask[heads, positions] = 0
        result["mask"] = mask
        module.masked_key_indices = None
        return result

    # the keys themselves changed and every token stays (key channel pruning: think)
    if k2.shape == original.shape and not torch.equal(k2, original):
        result["kept"] = np.tile(np.arange(original.shape[2], dtype=np.int32),
                                 (original.shape[1], 1))
        result["keys"] = k2[0].float().numpy()
        return result

    # the kept set
    if name == "key_rerotation":
        # the re-rotated keys cannot be found among the originals, and values repeat (a token
        # that occurs twice has the same value in layer 0): take the indices the press takes
        n_kept = int(keys.shape[2] * (1 - press.compression_ratio))
        idx = torch.sort(torch.from_numpy(result["scores"])[None].topk(n_kept, dim=-1).indices,
                         dim=2).values[0].numpy().astype(np.int32)
        assert torch.equal(torch.stack([values[0, j, idx[j]] for j in range(idx.shape[0])]), v2[0])
    elif rerotated.indices is not None:
        # finch re-rotates like key_rerotation, from its own (per-chunk) indices: those it gave
        idx = rerotated.indices[0].numpy().astype(np.int32)
        assert torch.equal(torch.stack([values[0, j, idx[j]] for j in range(idx.shape[0])]), v2[0])
    else:  # the kept rows, found by their keys
        idx = rows_kept(original, k2)
    order = np.argsort(idx, axis=1, kind="stable")
    result["kept"] = np.take_along_axis(idx, order, axis=1).astype(np.int32)

    # the compressed keys / values in position order, where they are not the originals' rows
    # (key_rerotation re-rotates keys, merging folds evicted values into the kept ones)
    for key, before, after in (("keys", original, k2), ("values", values, v2)):
        rows, changed = [], False
        for j in range(before.shape[1]):
            comp = after[0, j, torch.from_numpy(order[j]).long()]
            kept_rows = before[0, j, torch.from_numpy(result["kept"][j]).long()]
            changed |= not torch.equal(kept_rows, comp)
            rows.append(comp.float().numpy())
        if changed:
            result[key] = np.stack(rows)
    return result


# ---- synthetic artefacts -------------------------------------------------------------------------
#
# An artefact kind says how to make a case's artefact (make(spec, ctx) -> tensors in our
# safetensors layout and the file's metadata), how to save it (save(path, tensors, metadata)),
# how to hand it to kvpress in place of its download (give(press, tensors, spec)), and whether
# press.post_init_from_model must still run afterwards (post_init: False where it would
# download the artefact again over ours). ctx holds the model, the windows and --context.
# Artefacts that name no kind belong to a press of model_presses (see hand_artefact). Every kind
# but lukv_curve is saved as the artefacts of model_presses are (model_presses.save_artefact).

ArtefactKind = namedtuple("ArtefactKind", "make save give post_init")


# lukv_curve: LU-KV's per-(layer, head) prune ratios for each global ratio, [99, L, Hk]

def make_lukv_curve(spec, ctx):
    """Per-head prune ratios spread around each global ratio (x + 1) %, as LU-KV's curves."""
    cfg = ctx.model.config
    L, Hk = cfg.num_hidden_layers, cfg.num_key_value_heads
    rng = np.random.default_rng(spec.get("seed", 0))
    r = (np.arange(99) + 1)[:, None, None] / 100.0
    spread = rng.standard_normal((99, L, Hk)) * 0.25 * np.sqrt(r * (1 - r))
    curve = np.clip(r + spread, 0.0, 0.99).astype(np.float32)
    return {"prune_ratios": curve}, {"source": "synthetic (tools/golden/generate.py)",
                                     "seed": str(spec.get("seed", 0))}


def save_lukv_curve(path, tensors, metadata):
    """With tools/artefacts/convert_lukv.py's writer (the converter's output), and also in the
    published layout (.npy beside it), for the converter's test."""
    sys.path.insert(0, os.path.join(HERE, "..", "artefacts"))
    from convert_lukv import write_safetensors
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_safetensors(path, tensors, metadata)
    np.save(path.replace(".safetensors", ".npy"), tensors["prune_ratios"])


def give_lukv_curve(press, tensors, spec):
    press._budget_curves = tensors["prune_ratios"]


# query_stats: ExpectedAttentionStats' query mean [L, Hq, d] and covariance [L, Hq, d, d]

def calibration_stats(model, windows, first, count, context, n_sink):
    """Query mean and covariance per layer and head over windows first .. first+count-1, the
    first n_sink tokens of each dropped, covariance with N - 1 (how kvpress builds the
    ExpectedAttentionStats artefact, on our model and text)."""
    cfg = model.config
    per_layer = [[] for _ in range(cfg.num_hidden_layers)]
    for wi in range(first, first + count):
        cap = LayerCapture(model)
        with torch.no_grad():
            model.model(torch.tensor([windows[wi][:context]]), use_cache=True)
        cap.remove()
        for l in range(cfg.num_hidden_layers):
            layer = cap.layers[l]
            module, hidden = layer["module"], layer["hidden"]
            q = module.q_proj(hidden).view(1, -1, cfg.num_attention_heads, module.head_dim)
            per_layer[l].append(q.transpose(1, 2)[0, :, n_sink:].detach().double().numpy())
    mean, cov = [], []
    for l in range(cfg.num_hidden_layers):
        q = np.concatenate(per_layer[l], axis=1)  # [H, N, d]
        mu = q.mean(axis=1)
        c = q - mu[:, None, :]
        mean.append(mu)
        cov.append(np.einsum("hni,hnj->hij", c, c) / (q.shape[1] - 1))
    return np.stack(mean).astype(np.float32), np.stack(cov).astype(np.float32)


def make_query_stats(spec, ctx):
    mean, cov = calibration_stats(ctx.model, ctx.windows, spec["first_window"], spec["windows"],
                                  ctx.context, spec["n_sink"])
    return {"query_mean": mean, "query_cov": cov}, {"n_sink": spec["n_sink"]}


def give_query_stats(press, tensors, spec):
    press.mu = torch.from_numpy(tensors["query_mean"])
    press.cov = torch.from_numpy(tensors["query_cov"])


# q_filters: QFilterPress' filters [L, Hk, d], normal

def make_q_filters(spec, ctx):
    cfg = ctx.model.config
    L, Hq, Hk = cfg.num_hidden_layers, cfg.num_attention_heads, cfg.num_key_value_heads
    d = cfg.hidden_size // Hq
    rng = np.random.default_rng(spec.get("seed", 0))
    return {"q_filters": rng.standard_normal((L, Hk, d)).astype(np.float32)}, {}


def give_q_filters(press, tensors, spec):
    press.q_filters = torch.from_numpy(tensors["q_filters"])


# kvzap: KVzap's per-layer scorer in the published tensor layout, linear (hidden_dim null) or
# a two-layer MLP of width hidden_dim

def make_kvzap(spec, ctx):
    cfg = ctx.model.config
    L, Hk, D = cfg.num_hidden_layers, cfg.num_key_value_heads, cfg.hidden_size
    rng = np.random.default_rng(spec.get("seed", 0))
    h = spec.get("hidden_dim")
    t = {}
    for l in range(L):
        if h is None:
            t[f"layers.{l}.weight"] = rng.standard_normal((Hk, D)) / math.sqrt(D)
            t[f"layers.{l}.bias"] = rng.standard_normal(Hk) * 0.1
        else:
            t[f"layers.{l}.0.weight"] = rng.standard_normal((h, D)) / math.sqrt(D)
            t[f"layers.{l}.0.bias"] = rng.standard_normal(h) * 0.1
            t[f"layers.{l}.2.weight"] = rng.standard_normal((Hk, h)) / math.sqrt(h)
            t[f"layers.{l}.2.bias"] = rng.standard_normal(Hk) * 0.1
    return {k: v.astype(np.float32) for k, v in t.items()}, {}


def give_kvzap(press, tensors, spec):
    from kvpress.presses.kvzap_press import KVzapConfig, KVzapModel
    t = {k: torch.from_numpy(v) for k, v in tensors.items()}
    h = spec.get("hidden_dim")
    w = t["layers.0.weight"] if h is None else t["layers.0.0.weight"]
    n_layers = 1 + max(int(k.split(".")[1]) for k in t)
    out_dim = (t["layers.0.weight"] if h is None else t["layers.0.2.weight"]).shape[0]
    config = KVzapConfig(input_dim=w.shape[1], output_dim=out_dim, n_modules=n_layers,
                         hidden_dim=h)
    kvzap = KVzapModel(config)
    kvzap.load_state_dict(t)
    press.kvzap_model = kvzap.float().eval()


ARTEFACT_KINDS = {
    "lukv_curve": ArtefactKind(make_lukv_curve, save_lukv_curve, give_lukv_curve, post_init=True),
    "query_stats": ArtefactKind(make_query_stats, model_presses.save_artefact, give_query_stats,
                                post_init=False),
    "q_filters": ArtefactKind(make_q_filters, model_presses.save_artefact, give_q_filters,
                             post_init=False),
    "kvzap": ArtefactKind(make_kvzap, model_presses.save_artefact, give_kvzap, post_init=False),
}


def artefact_kind(spec):
    if spec["kind"] not in ARTEFACT_KINDS:
        raise SystemExit(f"unknown artefact kind {spec['kind']}")
    return ARTEFACT_KINDS[spec["kind"]]


def artefact_file(case):
    """The file name of a case's artefact under <out>/artefacts/: the case names it with its
    kind; model_presses names the others by press and configuration."""
    a = case["artefact"]
    return a["file"] if "kind" in a else model_presses.artefact_name(case)


def make_artefacts(cases, ctx, out):
    """Makes and saves every artefact the cases name by kind, once per file: {file: tensors}."""
    made = {}
    for case in cases:
        a = case.get("artefact")
        if a and "kind" in a and a["file"] not in made:
            kind = artefact_kind(a)
            tensors, metadata = kind.make(a, ctx)
            kind.save(os.path.join(out, "artefacts", a["file"]), tensors, metadata)
            made[a["file"]] = tensors
    return made


def hand_artefact(press, case, made, cfg, model, out):
    """Gives a per-layer press its case's artefact, then lets it initialise from the model
    unless that would replace the artefact by a download."""
    a = case.get("artefact")
    post_init = True
    if a and "kind" in a:
        kind = artefact_kind(a)
        kind.give(press, made[a["file"]], a)
        post_init = kind.post_init
    elif case["press"]["press"] == "duo_attention":
        # seeded head scores in place of the DuoAttention repo's patterns, saved on the way
        model_presses.duo_attention_setup(press, case, cfg, out)
    # (fastkvzip's and restorekv's artefacts are made in model_presses.run_model_case)
    if post_init:
        press.post_init_from_model(model)


def case_spec(case):
    """press.json: the press, plus the artefact it reads (relative to the case folder
    <out>/<window>/<layer>/<case>)."""
    spec = dict(case["press"])
    if "artefact" in case:
        spec["artefact"] = "../../../artefacts/" + artefact_file(case)
    return spec


def write_inputs(path, layer, model, l, n_tokens):
    module, hidden, keys, values = (layer[k] for k in ("module", "hidden", "keys", "values"))
    os.makedirs(path, exist_ok=True)
    cfg = model.config
    q = module.q_proj(hidden).view(1, -1, cfg.num_attention_heads, module.head_dim).transpose(1, 2)
    np.save(os.path.join(path, "keys.npy"), keys[0].float().numpy())
    np.save(os.path.join(path, "values.npy"), values[0].float().numpy())
    np.save(os.path.join(path, "queries.npy"), q[0].detach().float().numpy())
    from kvpress.utils import get_prerope_key_states
    k = get_prerope_key_states(module, hidden)  # what LeverageScore/Compactor project
    np.save(os.path.join(path, "keys_prerope.npy"), k[0].detach().float().numpy())
    np.save(os.path.join(path, "hidden.npy"), hidden[0].float().numpy())
    np.save(os.path.join(path, "wo.npy"), module.o_proj.weight.detach().float().numpy())
    with open(os.path.join(path, "model.json"), "w") as f:
        json.dump(dict(n_heads=cfg.num_attention_heads, n_kv_heads=cfg.num_key_value_heads,
                       head_dim=module.head_dim, hidden_size=cfg.hidden_size,
                       rope_theta=float(cfg.rope_theta if hasattr(cfg, "rope_theta") else
                                        cfg.rope_parameters["rope_theta"]),
                       n_layers=cfg.num_hidden_layers, layer=l, n_tokens=n_tokens), f, indent=1)



def save_case(d, spec, res):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "press.json"), "w") as f:
        json.dump(spec, f, indent=1)
    for key, arr in res.items():
        np.save(os.path.join(d, key + ".npy"), np.ascontiguousarray(arr))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="llama2.c checkpoint (.bin)")
    ap.add_argument("--windows", required=True, help="one window of token ids per line")
    ap.add_argument("--window-index", default="0,1", help="which windows (comma separated)")
    ap.add_argument("--context", type=int, default=384, help="prompt tokens per window")
    ap.add_argument("--theta", type=float, default=10000.0)
    ap.add_argument("--cases", required=True, help="JSON list of cases")
    ap.add_argument("--out", required=True)
    ap.add_argument("--tokenizer", help="llama2.c tokenizer (KVzip's prompts; default: "
                    "tok512.bin beside the model)")
    ap.add_argument("--manifest", default="manifest.json",
                    help="name of the list of cases written into --out")
    args = ap.parse_args()
    torch.manual_seed(42)
    cfg, w = load_llama2c(args.model)
    model = build_hf(cfg, w, args.theta)
    cases = json.load(open(args.cases))
    windows = [list(map(int, line.split())) for line in open(args.windows) if line.strip()]
    tok_path = args.tokenizer or os.path.join(os.path.dirname(args.model), "tok512.bin")
    made = make_artefacts(cases, SimpleNamespace(model=model, windows=windows,
                                                 context=args.context), args.out)
    manifest = []
    for wi in map(int, args.window_index.split(",")):
        tokens = torch.tensor([windows[wi][:args.context]])
        cap = LayerCapture(model)
        with torch.no_grad():
            model.model(tokens, use_cache=True)
        cap.remove()

        # presses that work on one layer's prefill: each layer in turn
        for l in range(cfg["n_layers"]):
            layer = cap.layers[l]
            base = os.path.join(args.out, f"w{wi}", f"layer{l}")
            write_inputs(os.path.join(base, "inputs"), layer, model, l, args.context)
            probs = eager_probabilities(layer["module"], layer["hidden"], layer["keys"],
                                        layer["kwargs"]).detach()
            for case in cases:
                spec = case["press"]
                if spec["press"] in model_presses.MODEL_PRESSES:
                    continue  # below, once for all layers
                press = make_press(spec)
                hand_artefact(press, case, made, cfg, model, args.out)
                attentions = probs if spec["press"] == "observed_attention" else None
                try:
                    res = run_case(press, spec, layer, attentions)
                except Exception as e:  # kvpress itself fails on some settings: record it
                    print(f"w{wi}/layer{l}/{case['name']}: kvpress failed: {e}", file=sys.stderr)
                    continue
                save_case(os.path.join(base, case["name"]), case_spec(case), res)
                manifest.append(f"w{wi}/layer{l}/{case['name']}")

        # presses that run the model or select across layers: once per window, every layer
        for case in cases:
            if case["press"]["press"] not in model_presses.MODEL_PRESSES:
                continue
            try:
                results, extra = model_presses.run_model_case(model, cfg, tokens, case, args.out,
                                                              tok_path, cap.layers)
            except Exception as e:
                print(f"w{wi}/{case['name']}: kvpress failed: {e}", file=sys.stderr)
                continue
            for l, res in enumerate(results):
                d = os.path.join(args.out, f"w{wi}", f"layer{l}", case["name"])
                spec = case_spec(case)
                if spec["press"] in ("kvzip", "restorekv", "kvcompose"):
                    spec["model"] = {"file": os.path.basename(args.model),
                                     "tokenizer": os.path.basename(tok_path)}
                save_case(d, spec, res)
                model_presses.write_case_extras(d, case, extra, tokens)
                manifest.append(f"w{wi}/layer{l}/{case['name']}")
    import kvpress
    json.dump({"generator": f"kvpress {getattr(kvpress, '__version__', '?')} with torch "
                            f"{torch.__version__}", "model": os.path.basename(args.model),
               "cases": manifest}, open(os.path.join(args.out, args.manifest), "w"), indent=1)
    print(f"{len(manifest)} cases written to {args.out}")


if __name__ == "__main__":
    main()
