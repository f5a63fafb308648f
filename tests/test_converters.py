#!/usr/bin/env python3
"""The artefact converters (tools/artefacts/convert_*.py) on synthetic files in the layout the
published Hugging Face artefacts have (no network here): each converts, keeps every tensor
byte for byte, records its metadata, and the result is accepted by the library's press
(`kvpress-tool artefact --press`); broken inputs fail with a message and exit status 1.

usage: test_converters.py TOOLS_ARTEFACTS_DIR KVPRESS_TOOL
Standard library only.
"""
import json
import os
import random
import struct
import subprocess
import sys
import tempfile

ARTEFACTS, TOOL = sys.argv[1], sys.argv[2]
sys.path.insert(0, ARTEFACTS)
import safetensors_io  # noqa: E402

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def published(folder, tensors, config, fmt="pt"):
    """Writes model.safetensors the way safetensors' own writer lays it out (unpadded header,
    {"format": "pt"} metadata) and config.json."""
    os.makedirs(folder, exist_ok=True)
    header, data, off = {"__metadata__": {"format": fmt}}, b"", 0
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(raw)]}
        data += raw
        off += len(raw)
    text = json.dumps(header).encode()
    with open(os.path.join(folder, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)
    if config is not None:
        with open(os.path.join(folder, "config.json"), "w") as f:
            json.dump(config, f)


def f32(shape, rng):
    n = 1
    for s in shape:
        n *= s
    return ("F32", list(shape), struct.pack("<%df" % n, *[rng.gauss(0, 1) for _ in range(n)]))


def bf16(shape, rng):
    dt, sh, raw = f32(shape, rng)
    words = struct.unpack("<%dI" % (len(raw) // 4), raw)
    return ("BF16", sh, struct.pack("<%dH" % len(words), *[w >> 16 for w in words]))


def run(script, *args):
    return subprocess.run([sys.executable, os.path.join(ARTEFACTS, script), *args],
                          capture_output=True, text=True)


def accepted(path, spec):
    r = subprocess.run([TOOL, "artefact", path, "--press", spec], capture_output=True, text=True)
    return r.returncode == 0 and "accepts it" in r.stdout, r.stdout + r.stderr


def converts(script, folder, out, spec, tensors, meta_expect):
    r = run(script, folder, out)
    check(r.returncode == 0, f"{script} {folder}: {r.stderr.strip()}")
    if r.returncode:
        return
    got, meta = safetensors_io.read(out)
    for name, (dtype, shape, raw) in tensors.items():
        t = got.get(name)
        check(t is not None and t.dtype == dtype and t.shape == shape and t.data == raw,
              f"{script}: {name} not copied exactly")
    for k, v in meta_expect.items():
        check(meta.get(k) == v, f"{script}: metadata {k} = {meta.get(k)!r}, expected {v!r}")
    ok, text = accepted(out, spec)
    check(ok, f"{spec} refuses the converted {out}: {text.strip()}")


def fails(script, folder, phrase):
    r = run(script, folder, os.path.join(folder, "out.safetensors"))
    check(r.returncode == 1 and phrase in r.stderr,
          f"{script} on {os.path.basename(folder)}: exit {r.returncode}, wanted 1 with "
          f"'{phrase}' in: {r.stderr.strip()}")


def main():
    rng = random.Random(5)
    with tempfile.TemporaryDirectory() as tmp:
        # ---- Q-filters: nthngdy/<model>_qfilt
        qf = {"q_filters": f32([3, 2, 8], rng)}
        cfg = {"num_layers": 3, "num_kv_heads": 2, "kv_head_dim": 8}
        d = os.path.join(tmp, "Llama-3.2-1B-Instruct_qfilt")
        published(d, qf, cfg)
        converts("convert_qfilter.py", d, os.path.join(tmp, "qf.safetensors"), "qfilter", qf,
                 {"press": "qfilter", "n_layers": "3", "source": "Llama-3.2-1B-Instruct_qfilt"})
        bad = os.path.join(tmp, "qf_shape")
        published(bad, {"q_filters": f32([3, 2, 4], rng)}, cfg)
        fails("convert_qfilter.py", bad, "config.json says")
        bad = os.path.join(tmp, "qf_noconfig")
        published(bad, qf, None)
        fails("convert_qfilter.py", bad, "no config.json")
        bad = os.path.join(tmp, "qf_name")
        published(bad, {"filters": qf["q_filters"]}, cfg)
        fails("convert_qfilter.py", bad, "no tensor q_filters")
        bad = os.path.join(tmp, "qf_bin")
        os.makedirs(bad)
        open(os.path.join(bad, "pytorch_model.bin"), "wb").write(b"\x80\x02")
        fails("convert_qfilter.py", bad, "only pytorch_model.bin")
        bad = os.path.join(tmp, "qf_int")
        published(bad, {"q_filters": ("I64", [3, 2, 8], b"\0" * 8 * 48)}, cfg)
        fails("convert_qfilter.py", bad, "reads F32, F16 and BF16")
        bad = os.path.join(tmp, "qf_truncated")
        published(bad, qf, cfg)
        path = os.path.join(bad, "model.safetensors")
        blob = open(path, "rb").read()
        open(path, "wb").write(blob[:-10])
        fails("convert_qfilter.py", bad, "data_offsets")

        # ---- query statistics: alessiodevoto/exp_att_stats_<model>_<dataset>_<n>_<len>_<sink>
        st = {"query_mean": f32([2, 4, 8], rng), "query_cov": bf16([2, 4, 8, 8], rng)}
        cfg = {"num_layers": 2, "num_heads": 4, "head_dim": 8, "dataset_name": "kmfoda/booksum",
               "model_name": "meta-llama/Llama-3.1-8B-Instruct", "num_samples": 100,
               "sample_seq_len": 1000, "n_sink": 4}
        d = os.path.join(tmp, "exp_att_stats_x_kmfoda_booksum_100_1000_4")
        published(d, st, cfg)
        converts("convert_expected_attention_stats.py", d, os.path.join(tmp, "st.safetensors"),
                 "expected_attention_stats", st,
                 {"n_sink": "4", "num_samples": "100", "sample_seq_len": "1000",
                  "model": "meta-llama/Llama-3.1-8B-Instruct"})
        bad = os.path.join(tmp, "st_shape")
        published(bad, {"query_mean": st["query_mean"], "query_cov": f32([2, 4, 8, 4], rng)}, cfg)
        fails("convert_expected_attention_stats.py", bad, "do not match config.json")
        bad = os.path.join(tmp, "st_cov")
        published(bad, {"query_mean": st["query_mean"]}, cfg)
        fails("convert_expected_attention_stats.py", bad, "no tensor query_cov")
        bad = os.path.join(tmp, "st_cfg")
        published(bad, st, dict(cfg, num_heads="four"))
        fails("convert_expected_attention_stats.py", bad, "positive integer num_heads")

        # ---- KVzap: nvidia/KVzap-<linear|mlp>-<model>
        for kind in ("linear", "mlp"):
            L, D, out, hid = 3, 16, 2, 8
            t = {}
            for layer in range(L):
                if kind == "linear":
                    t[f"layers.{layer}.weight"] = bf16([out, D], rng)
                    t[f"layers.{layer}.bias"] = bf16([out], rng)
                else:
                    t[f"layers.{layer}.0.weight"] = f32([hid, D], rng)
                    t[f"layers.{layer}.0.bias"] = f32([hid], rng)
                    t[f"layers.{layer}.2.weight"] = f32([out, hid], rng)
                    t[f"layers.{layer}.2.bias"] = f32([out], rng)
            cfg = {"model_type": "kvzap", "input_dim": D, "output_dim": out, "n_modules": L,
                   "hidden_dim": hid if kind == "mlp" else None}
            d = os.path.join(tmp, f"KVzap-{kind}-Qwen3-8B")
            published(d, t, cfg)
            converts("convert_kvzap.py", d, os.path.join(tmp, f"kvzap_{kind}.safetensors"),
                     f"kvzap(model_type={kind})", t, {"model_type": kind, "n_layers": "3"})
            missing = dict(t)
            missing.pop(next(k for k in t if k.startswith("layers.2.")))
            bad = os.path.join(tmp, f"kvzap_{kind}_missing")
            published(bad, missing, cfg)
            fails("convert_kvzap.py", bad, "no tensor layers.2.")
            bad = os.path.join(tmp, f"kvzap_{kind}_layers")
            published(bad, t, dict(cfg, n_modules=2))
            fails("convert_kvzap.py", bad, "beyond the 2 layers")
            bad = os.path.join(tmp, f"kvzap_{kind}_width")
            published(bad, t, dict(cfg, input_dim=D + 1))
            fails("convert_kvzap.py", bad, "config.json implies")
    print(f"{'FAILED' if failures else 'ok'}: {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
