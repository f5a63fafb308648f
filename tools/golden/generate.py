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

Extensions (tests/golden/README.md):
- presses that need a trained artefact (qfilter, expected_attention_stats, kvzap) get a
  synthetic one, seeded, handed to kvpress in place of the Hugging Face download and saved as
  safetensors under <out>/artefacts/; press.json names it ("artefact": path relative to the
  case folder). A case asks for one with "artefact": {"kind": ..., ...} (see make_artefact);
- a "seed" parameter (ours: leverage_score, compactor, cur) is not passed to kvpress; instead
  torch.randn, while the press runs, returns our generator's draws for that seed
  (core/presses/rng.c), so kvpress computes with the same sketch as the library;
- a press that changes the keys in place (think) also gets keys.npy, the cache afterwards;
- inputs/ also holds keys_prerope.npy, the pre-RoPE keys kvpress projects from the hidden
  states (LeverageScore and Compactor read them: leverage is too sensitive to rounding for the
  keys rotated back from the cache to meet the comparison rule);
- LeverageScore (alone and in Compactor) runs in float64 (LeverageInFloat64).

    venv/bin/python tools/golden/generate.py ... --window-index 0 \
        --cases tools/golden/cases-ext-wp2.json --out tests/golden/kvpress-0.5.4-ext \
        --manifest manifest-wp2.json
"""
import argparse
import contextlib
import json
import math
import os
import struct
import sys

import numpy as np
import torch


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


# ---- synthetic artefacts -------------------------------------------------------------------------

def save_artefact(path, tensors, metadata):
    from safetensors.numpy import save_file
    os.makedirs(os.path.dirname(path), exist_ok=True)
    save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()}, path,
              metadata={k: str(v) for k, v in metadata.items()})


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


def make_artefact(spec, model, windows, context):
    """The synthetic artefact of a case: returns (tensors, metadata, file name)."""
    kind = spec["kind"]
    cfg = model.config
    L, Hq, Hk, D = (cfg.num_hidden_layers, cfg.num_attention_heads, cfg.num_key_value_heads,
                    cfg.hidden_size)
    d = cfg.hidden_size // Hq
    rng = np.random.default_rng(spec.get("seed", 0))
    if kind == "query_stats":
        mean, cov = calibration_stats(model, windows, spec["first_window"], spec["windows"],
                                      context, spec["n_sink"])
        return {"query_mean": mean, "query_cov": cov}, {"n_sink": spec["n_sink"]}
    if kind == "q_filters":
        return {"q_filters": rng.standard_normal((L, Hk, d)).astype(np.float32)}, {}
    if kind == "kvzap":
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
    raise SystemExit(f"unknown artefact kind {kind}")


def give_artefact(press, tensors, spec):
    """Hands a synthetic artefact to a kvpress press instead of its Hugging Face download."""
    t = {k: torch.from_numpy(v) for k, v in tensors.items()}
    kind = spec["kind"]
    if kind == "query_stats":
        press.mu, press.cov = t["query_mean"], t["query_cov"]
    elif kind == "q_filters":
        press.q_filters = t["q_filters"]
    elif kind == "kvzap":
        from kvpress.presses.kvzap_press import KVzapConfig, KVzapModel
        h = spec.get("hidden_dim")
        w = t["layers.0.weight"] if h is None else t["layers.0.0.weight"]
        n_layers = 1 + max(int(k.split(".")[1]) for k in t)
        out_dim = (t["layers.0.weight"] if h is None else t["layers.0.2.weight"]).shape[0]
        config = KVzapConfig(input_dim=w.shape[1], output_dim=out_dim, n_modules=n_layers,
                             hidden_dim=h)
        kvzap = KVzapModel(config)
        kvzap.load_state_dict(t)
        press.kvzap_model = kvzap.float().eval()


# ---- presses -----------------------------------------------------------------------------------

def press_class(name):
    import kvpress
    wanted = name.replace("_", "").lower() + "press"
    for attr in dir(kvpress):
        if attr.lower() == wanted:
            return getattr(kvpress, attr)
    raise SystemExit(f"kvpress has no press named {name}")


OURS_ONLY = ("seed",)  # parameters of the library that kvpress does not have (see OurRandn)


def make_press(spec):
    """A kvpress press from the press.json form."""
    name = spec.get("press", spec.get("name"))
    params = dict(spec.get("params", {}))
    for key in OURS_ONLY:
        params.pop(key, None)
    inner = params.pop("press", None)
    ratio = params.pop("compression_ratio", None)
    cls = press_class(name)
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


def kept_indices(original, compressed):
    """Per kv head, the sorted indices of the original keys that survive."""
    out = []
    for j in range(original.shape[1]):
        orig, comp = original[0, j], compressed[0, j]
        idx = []
        for row in comp:
            hits = torch.nonzero((orig == row).all(dim=-1)).flatten().tolist()
            idx.append(hits[0])
        out.append(sorted(idx))
    return np.array(out, dtype=np.int32)


def run_case(press, spec, layer, attentions):
    module, hidden, keys, values, kwargs = (layer[k] for k in
                                           ("module", "hidden", "keys", "values", "kwargs"))
    # presses may write into the cache tensors (ThinK zeroes key channels in place)
    keys, values = keys.clone(), values.clone()
    kwargs = dict(kwargs, hidden_states=hidden)
    result = {}
    scorer = press if hasattr(press, "score") else None
    name = spec["press"]
    seed = spec.get("params", {}).get("seed")

    def numerics():
        stack = contextlib.ExitStack()
        if seed is not None:
            stack.enter_context(OurRandn(seed))
        if name in ("leverage_score", "compactor"):
            stack.enter_context(LeverageInFloat64())
        return stack

    if scorer is not None and name not in ("pyramidkv", "chunkkv"):
        with torch.no_grad(), numerics():
            s = scorer.score(module, hidden, keys, values, attentions, kwargs)
        result["scores"] = s[0].float().numpy()
    original = keys.clone()
    with torch.no_grad(), numerics():
        k2, v2 = press.compress(module, hidden, keys, values, attentions, kwargs)
    masked = getattr(module, "masked_key_indices", None)
    if masked is not None:
        mask = np.ones(keys.shape[1:3], dtype=np.uint8)
        _, heads, positions = (t.numpy() for t in masked)
        mask[heads, positions] = 0
        result["mask"] = mask
        module.masked_key_indices = None
    elif k2.shape == original.shape and not torch.equal(k2, original):
        # the keys themselves changed (key channel pruning): every token stays
        result["kept"] = np.tile(np.arange(original.shape[2], dtype=np.int32),
                                 (original.shape[1], 1))
        result["keys"] = k2[0].float().numpy()
    else:
        result["kept"] = kept_indices(original, k2)
    return result


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


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="llama2.c checkpoint (.bin)")
    ap.add_argument("--windows", required=True, help="one window of token ids per line")
    ap.add_argument("--window-index", default="0,1", help="which windows (comma separated)")
    ap.add_argument("--context", type=int, default=384, help="prompt tokens per window")
    ap.add_argument("--theta", type=float, default=10000.0)
    ap.add_argument("--cases", required=True, help="JSON list of cases")
    ap.add_argument("--out", required=True)
    ap.add_argument("--manifest", default="manifest.json",
                    help="name of the list of cases written into --out")
    args = ap.parse_args()
    torch.manual_seed(42)
    cfg, w = load_llama2c(args.model)
    model = build_hf(cfg, w, args.theta)
    cases = json.load(open(args.cases))
    windows = [list(map(int, line.split())) for line in open(args.windows) if line.strip()]
    artefacts = {}
    for case in cases:
        a = case.get("artefact")
        if a and a["file"] not in artefacts:
            tensors, metadata = make_artefact(a, model, windows, args.context)
            save_artefact(os.path.join(args.out, "artefacts", a["file"]), tensors, metadata)
            artefacts[a["file"]] = tensors
    manifest = []
    for wi in map(int, args.window_index.split(",")):
        tokens = torch.tensor([windows[wi][:args.context]])
        cap = LayerCapture(model)
        with torch.no_grad():
            model.model(tokens, use_cache=True)
        cap.remove()
        for l in range(cfg["n_layers"]):
            layer = cap.layers[l]
            base = os.path.join(args.out, f"w{wi}", f"layer{l}")
            write_inputs(os.path.join(base, "inputs"), layer, model, l, args.context)
            probs = eager_probabilities(layer["module"], layer["hidden"], layer["keys"],
                                        layer["kwargs"]).detach()
            for case in cases:
                spec = case["press"]
                press = make_press(spec)
                if "artefact" in case:
                    tensors = artefacts[case["artefact"]["file"]]
                    give_artefact(press, tensors, case["artefact"])
                    spec = dict(spec, artefact=os.path.relpath(
                        os.path.join(args.out, "artefacts", case["artefact"]["file"]),
                        os.path.join(base, case["name"])))
                else:
                    press.post_init_from_model(model)
                attentions = probs if spec["press"] == "observed_attention" else None
                try:
                    res = run_case(press, spec, layer, attentions)
                except Exception as e:  # kvpress itself fails on some settings: record it
                    print(f"w{wi}/layer{l}/{case['name']}: kvpress failed: {e}", file=sys.stderr)
                    continue
                d = os.path.join(base, case["name"])
                os.makedirs(d, exist_ok=True)
                json.dump(spec, open(os.path.join(d, "press.json"), "w"), indent=1)
                for key, arr in res.items():
                    np.save(os.path.join(d, key + ".npy"), np.ascontiguousarray(arr))
                manifest.append(f"w{wi}/layer{l}/{case['name']}")
    import kvpress
    json.dump({"generator": f"kvpress {getattr(kvpress, '__version__', '?')} with torch "
                            f"{torch.__version__}", "model": os.path.basename(args.model),
               "cases": manifest}, open(os.path.join(args.out, args.manifest), "w"), indent=1)
    print(f"{len(manifest)} cases written to {args.out}")


if __name__ == "__main__":
    main()
