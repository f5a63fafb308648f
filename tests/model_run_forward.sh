#!/bin/sh
# kvpress-tool run and eval with the presses that run the model or select across layers: KVzip
# and KVCompose through the reference runner (a prefill, then their passes), SimLayerKV, and
# DuoAttention calibrated on the fly; eval replays a prefill with KVzip. Exit 77 (SKIP) without
# the shared models.
tool=$1 shared=$2
models=$shared/models
[ -f "$models/stories260K.gguf" ] || { echo "SKIP: no models at $models"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
prompt="Once upon a time, in a big forest, there lived a rhinoceros named Roxy. Roxy loved to climb."
for spec in "kvzip(compression_ratio=0.5)" "kvcompose(compression_ratio=0.5)" \
            "kvcompose(compression_ratio=0.5, structured=false, agg_task=mean)"; do
    out=$("$tool" run -m "$models/stories260K.gguf" -p "$prompt" -n 20 --press "$spec" 2>&1) ||
        fail "run --press $spec: $out"
    echo "$out" | grep -Eq "saved (4[5-9]|5[0-4])\.[0-9]% of the prompt's cache" ||
        fail "$spec did not save half the cache: $out"
done
# without a tokenizer KVzip cannot write its prompts; the llama2.c checkpoint with one can
out=$("$tool" run -m "$models/stories260K.bin" -p "$prompt" -n 5 --press "kvzip(compression_ratio=0.5)" 2>&1) &&
    fail "kvzip without a tokenizer was accepted"
out=$("$tool" run -m "$models/stories260K.bin" --tokenizer "$models/tok512.bin" -p "$prompt" -n 5 \
    --press "kvzip(compression_ratio=0.25)" 2>&1) || fail "kvzip on the llama2.c checkpoint: $out"
# a press that needs its artefact says so
out=$("$tool" run -m "$models/stories260K.gguf" -p "$prompt" -n 5 --press "fastkvzip(compression_ratio=0.5)" 2>&1) &&
    fail "fastkvzip without gates was accepted"
echo "$out" | grep -q "artefact" || fail "no word about the missing artefact: $out"
# SimLayerKV with a threshold of 0: every layer is lazy
out=$("$tool" run -m "$models/stories260K.gguf" -p "$prompt" -n 5 \
    --press "simlayerkv(lazy_threshold=0, n_recent=8, n_initial=2)" 2>&1) || fail "simlayerkv: $out"
echo "$out" | grep -Eq "^  layer  0: 9 9 9 9$" || fail "simlayerkv kept other than 2 + 7 tokens: $out"
# DuoAttention on the fly: calibrated on the validation text, half of the 20 heads stream
text="$shared/data/tinystories_valid_part1.txt"
if [ -f "$text" ]; then
    out=$("$tool" run -m "$models/stories260K.gguf" -p "$prompt" -n 5 --calibration "$text" \
        --press "duo_attention(on_the_fly_scoring=true, head_compression_ratio=0.5, sink_size=2, recent_size=8)" 2>&1) ||
        fail "duo_attention on the fly: $out"
    echo "$out" | grep -q "calibrated on 50 pieces" || fail "no calibration: $out"
    streaming=$(echo "$out" | sed -n '/after the prompt/,/cache memory/p' | grep -o " 10\b" | wc -l)
    [ "$streaming" -eq 10 ] || fail "$streaming streaming heads instead of 10: $out"
    "$tool" run -m "$models/stories260K.gguf" -p "$prompt" -n 5 \
        --press "duo_attention(on_the_fly_scoring=true, head_compression_ratio=0.5)" >/dev/null 2>&1 &&
        fail "duo_attention on the fly without calibration was accepted"
fi
# eval replays one prefill with KVzip and KVCompose
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/suite.json" <<'JSON'
{"ratios": [0.5], "tasks": ["continue"],
 "presses": {"kvzip": {"press": "kvzip", "params": {}},
             "kvcompose": {"press": "kvcompose", "params": {}}}}
JSON
head -n 1 "$shared/golden/eval/windows_public.txt" > "$tmp/windows.txt" 2>/dev/null || exit 0
"$tool" eval -m "$models/stories260K.gguf" --windows "$tmp/windows.txt" --suite "$tmp/suite.json" \
    --json "$tmp/out.json" > "$tmp/table.txt" 2>"$tmp/err.txt" || fail "eval: $(cat "$tmp/err.txt")"
grep -q '"kvzip@0.5": {"nll": ' "$tmp/out.json" || fail "eval JSON: $(cat "$tmp/out.json")"
grep -q '"kvcompose@0.5": {"nll": ' "$tmp/out.json" || fail "eval JSON: $(cat "$tmp/out.json")"
echo "run/eval with model-running presses: all checks passed"
