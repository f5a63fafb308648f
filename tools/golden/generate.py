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
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
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


# ---- presses -----------------------------------------------------------------------------------

def press_class(name):
    import kvpress
    wanted = name.replace("_", "").lower() + "press"
    for attr in dir(kvpress):
        if attr.lower() == wanted:
            return getattr(kvpress, attr)
    raise SystemExit(f"kvpress has no press named {name}")


def make_press(spec):
    """A kvpress press from the press.json form."""
    name = spec.get("press", spec.get("name"))
    params = dict(spec.get("params", {}))
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
    result = {}
    scorer = press if hasattr(press, "score") else None
    name = spec["press"]
    if scorer is not None and name not in ("pyramidkv", "chunkkv"):
        with torch.no_grad():
            s = scorer.score(module, hidden, keys, values, attentions, kwargs)
        result["scores"] = s[0].float().numpy()
    with torch.no_grad():
        k2, v2 = press.compress(module, hidden, keys, values, attentions, kwargs)
    masked = getattr(module, "masked_key_indices", None)
    if masked is not None:
        mask = np.ones(keys.shape[1:3], dtype=np.uint8)
        _, heads, positions = (t.numpy() for t in masked)
        mask[heads, positions] = 0
        result["mask"] = mask
        module.masked_key_indices = None
    else:
        result["kept"] = kept_indices(keys, k2)
    return result


def case_spec(case):
    """press.json: the press, plus the artefact it reads (one file per artefact configuration
    in <out>/artefacts/, named relative to the case folder <out>/<window>/<layer>/<case>)."""
    spec = dict(case["press"])
    if "artefact" in case:
        spec["artefact"] = "../../../artefacts/" + model_presses.artefact_name(case)
    return spec


def write_inputs(path, layer, model, l, n_tokens):
    module, hidden, keys, values = (layer[k] for k in ("module", "hidden", "keys", "values"))
    os.makedirs(path, exist_ok=True)
    cfg = model.config
    q = module.q_proj(hidden).view(1, -1, cfg.num_attention_heads, module.head_dim).transpose(1, 2)
    np.save(os.path.join(path, "keys.npy"), keys[0].float().numpy())
    np.save(os.path.join(path, "values.npy"), values[0].float().numpy())
    np.save(os.path.join(path, "queries.npy"), q[0].detach().float().numpy())
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
    ap.add_argument("--tokenizer", help="llama2.c tokenizer (KVzip's prompts; default: "
                    "tok512.bin beside the model)")
    ap.add_argument("--manifest", default="manifest.json",
                    help="name of the case list written into --out")
    args = ap.parse_args()
    torch.manual_seed(42)
    cfg, w = load_llama2c(args.model)
    model = build_hf(cfg, w, args.theta)
    cases = json.load(open(args.cases))
    windows = [list(map(int, line.split())) for line in open(args.windows) if line.strip()]
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
                if spec["press"] in model_presses.MODEL_PRESSES:
                    continue  # below, once for all layers
                press = make_press(spec)
                d = os.path.join(base, case["name"])
                if spec["press"] == "duo_attention":
                    model_presses.duo_attention_setup(press, case, cfg, args.out)
                press.post_init_from_model(model)
                attentions = probs if spec["press"] == "observed_attention" else None
                try:
                    res = run_case(press, spec, layer, attentions)
                except Exception as e:  # kvpress itself fails on some settings: record it
                    print(f"w{wi}/layer{l}/{case['name']}: kvpress failed: {e}", file=sys.stderr)
                    continue
                os.makedirs(d, exist_ok=True)
                json.dump(case_spec(case), open(os.path.join(d, "press.json"), "w"), indent=1)
                for key, arr in res.items():
                    np.save(os.path.join(d, key + ".npy"), arr)
                manifest.append(f"w{wi}/layer{l}/{case['name']}")
        for case in cases:
            if case["press"]["press"] not in model_presses.MODEL_PRESSES:
                continue
            dirs = [os.path.join(args.out, f"w{wi}", f"layer{l}", case["name"])
                    for l in range(cfg["n_layers"])]
            for d in dirs:
                os.makedirs(d, exist_ok=True)
            tok_path = args.tokenizer or os.path.join(os.path.dirname(args.model), "tok512.bin")
            try:
                results, extra = model_presses.run_model_case(model, cfg, tokens, case, args.out,
                                                              tok_path, cap.layers)
            except Exception as e:
                print(f"w{wi}/{case['name']}: kvpress failed: {e}", file=sys.stderr)
                continue
            for l, (d, res) in enumerate(zip(dirs, results)):
                spec = case_spec(case)
                if spec["press"] in ("kvzip", "restorekv", "kvcompose"):
                    spec["model"] = {"file": os.path.basename(args.model),
                                     "tokenizer": os.path.basename(tok_path)}
                json.dump(spec, open(os.path.join(d, "press.json"), "w"), indent=1)
                for key, arr in res.items():
                    np.save(os.path.join(d, key + ".npy"), arr)
                model_presses.write_case_extras(d, case, extra, tokens)
                manifest.append(f"w{wi}/layer{l}/{case['name']}")
    import kvpress
    json.dump({"generator": f"kvpress {getattr(kvpress, '__version__', '?')} with torch "
                            f"{torch.__version__}", "model": os.path.basename(args.model),
               "cases": manifest}, open(os.path.join(args.out, args.manifest), "w"), indent=1)
    print(f"{len(manifest)} cases written to {args.out}")


if __name__ == "__main__":
    main()
