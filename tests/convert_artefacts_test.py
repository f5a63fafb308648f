#!/usr/bin/env python3
"""Tests tools/artefacts/convert_{duo_attention,fastkvzip,restorekv}.py on files in the layouts
the presses' authors publish.

usage: convert_artefacts_test.py KVPRESS_TOOL GOLDEN_EXT_DIR MODELS_DIR

The reference vectors' synthetic artefacts were also written in the published layouts
(GOLDEN_EXT_DIR/artefacts/published: DuoAttention's config.json + full_attention_heads.tsv,
Fast KVzip's q2_dim16_sink16.pt, RestoreKV's embeddings + PEFT adapter). For each converter:
1. the published files convert to the very tensors (values and shapes) of the artefact the
   reference vectors use, with the same metadata;
2. `kvpress-tool verify` passes that press's cases of layer 1 with the converted file in place
   of the committed one;
3. broken inputs are refused: exit 1, a message, no output file.
Only the standard library is used (the .pt file is read without torch).
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.join(HERE, "..", "tools", "artefacts")
sys.path.insert(0, TOOLS)
import safetensors_io  # noqa: E402

CASES = {  # converter -> (published folder or file, committed artefact, case prefix)
    "duo_attention": ("duo_attention", "duo_attention-recent_size64-seed7-sink_size4.safetensors",
                      "duo_attention@"),
    "fastkvzip": ("fastkvzip/stories260k/q2_dim16_sink16.pt", "fastkvzip-seed11.safetensors",
                  "fastkvzip"),
    "restorekv": ("restorekv", "restorekv-alpha8.0-rank4-seed5.safetensors", "restorekv@"),
}


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def convert(name, src, dst):
    return subprocess.run([sys.executable, os.path.join(TOOLS, f"convert_{name}.py"), src, dst],
                          capture_output=True, text=True)


def same_artefact(name, got_path, want_path):
    got, gmeta = safetensors_io.read(got_path)
    want, wmeta = safetensors_io.read(want_path)
    if sorted(got) != sorted(want):
        fail(f"{name}: tensors {sorted(set(got) ^ set(want))[:4]} differ in presence")
    for t in want:
        if got[t].shape != want[t].shape or \
                safetensors_io.floats(got[t]) != safetensors_io.floats(want[t]):
            fail(f"{name}: tensor {t} differs")
    for key in ("sink_size", "recent_size", "lora_alpha"):
        if key in wmeta and float(gmeta.get(key, "nan")) != float(wmeta[key]):
            fail(f"{name}: metadata {key} = {gmeta.get(key)}, expected {wmeta[key]}")


def verify_with(tool, golden, models, prefix, artefact, converted, tmp):
    """A copy of layer 1's cases of the press (with the inputs of every layer), the converted
    artefact in place of the committed one, through kvpress-tool verify on the cpu."""
    root = os.path.join(tmp, "golden")
    os.makedirs(os.path.join(root, "artefacts"))
    shutil.copy(converted, os.path.join(root, "artefacts", artefact))
    for layer in os.listdir(os.path.join(golden, "w0")):
        src = os.path.join(golden, "w0", layer)
        shutil.copytree(os.path.join(src, "inputs"), os.path.join(root, "w0", layer, "inputs"))
        for case in os.listdir(src):
            if case.startswith(prefix):
                shutil.copytree(os.path.join(src, case), os.path.join(root, "w0", layer, case))
    # every layer's folders are there (fastkvzip reads them all); compare layer 1 only
    run = subprocess.run([tool, "verify", os.path.join(root, "w0", "layer1"), "--backend", "cpu",
                          "--models", models], capture_output=True, text=True)
    if run.returncode != 0 or " 0 failed" not in run.stdout:
        fail(f"verify with the converted {artefact}:\n{run.stdout}{run.stderr}")
    return run.stdout.strip().splitlines()[-1]


def expect_refused(name, src, tmp, what):
    dst = os.path.join(tmp, "refused.safetensors")
    run = convert(name, src, dst)
    if run.returncode != 1 or not run.stderr.strip() or os.path.exists(dst):
        fail(f"{name}: {what} was not refused cleanly (exit {run.returncode}, "
             f"stderr {run.stderr!r}, output {'written' if os.path.exists(dst) else 'absent'})")


def broken_inputs(name, published, tmp):
    if name == "duo_attention":
        for what, cfg, tsv in [
                ("a negative sink_size", {"sink_size": -1, "recent_size": 4}, "0.1\t0.2\n"),
                ("a ragged matrix", {"sink_size": 4, "recent_size": 4}, "0.1\t0.2\n0.3\n"),
                ("a NaN", {"sink_size": 4, "recent_size": 4}, "0.1\tnan\n"),
                ("text in the matrix", {"sink_size": 4, "recent_size": 4}, "0.1\tx\n")]:
            d = os.path.join(tmp, "duo_bad")
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(d)
            json.dump(cfg, open(os.path.join(d, "config.json"), "w"))
            open(os.path.join(d, "full_attention_heads.tsv"), "w").write(tsv)
            expect_refused(name, d, tmp, what)
        expect_refused(name, os.path.join(tmp, "absent"), tmp, "a missing folder")
    elif name == "fastkvzip":
        data = open(published, "rb").read()
        bad = os.path.join(tmp, "truncated_sink16.pt")
        open(bad, "wb").write(data[:len(data) // 2])
        expect_refused(name, bad, tmp, "a truncated archive")
        bad = os.path.join(tmp, "q2_dim16_sink8.pt")
        shutil.copy(published, bad)
        expect_refused(name, bad, tmp, "a file name whose sink count disagrees")
        bad = os.path.join(tmp, "not_a_pt.pt")
        open(bad, "wb").write(b"not a zip archive")
        expect_refused(name, bad, tmp, "a file that is no archive")
    else:
        d = os.path.join(tmp, "restore_bad")
        shutil.copytree(published, d)
        cfg = json.load(open(os.path.join(d, "adapter_config.json")))
        json.dump(dict(cfg, r=0), open(os.path.join(d, "adapter_config.json"), "w"))
        expect_refused(name, d, tmp, "rank 0")
        json.dump(dict(cfg, rank_pattern={"q_proj": 8}), open(os.path.join(d, "adapter_config.json"), "w"))
        expect_refused(name, d, tmp, "per-module ranks")
        json.dump(cfg, open(os.path.join(d, "adapter_config.json"), "w"))
        tensors, meta = safetensors_io.read(os.path.join(d, "adapter_model.safetensors"))
        tensors = {k: v for k, v in tensors.items() if "layers.0.self_attn.q_proj.lora_B" not in k}
        safetensors_io.write(os.path.join(d, "adapter_model.safetensors"), tensors, meta)
        expect_refused(name, d, tmp, "a lora_A without its lora_B")
        with open(os.path.join(d, "adapter_model.safetensors"), "r+b") as f:
            f.write(struct.pack("<Q", 1 << 40))
        expect_refused(name, d, tmp, "a corrupt safetensors header")


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    tool, golden, models = sys.argv[1:]
    if not os.path.isdir(os.path.join(golden, "artefacts", "published")):
        print("SKIP: no published-layout artefacts under", golden)
        return 77
    for name, (published, artefact, prefix) in CASES.items():
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(golden, "artefacts", "published", published)
            dst = os.path.join(tmp, "converted.safetensors")
            run = convert(name, src, dst)
            if run.returncode != 0:
                fail(f"convert_{name}: {run.stderr}")
            same_artefact(name, dst, os.path.join(golden, "artefacts", artefact))
            result = verify_with(tool, golden, models, prefix, artefact, dst, tmp)
            broken_inputs(name, src, tmp)
            print(f"convert_{name}: same tensors as the reference's artefact; verify: {result}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
