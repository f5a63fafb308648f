#!/bin/sh
# kvpress-tool run: the reference story from both checkpoints, a prefill press that saves
# memory, and decoding-time compression. Exit 77 (SKIP) without the shared models.
tool=$1 models=$2
[ -f "$models/stories260K.gguf" ] || { echo "SKIP: no models at $models"; exit 77; }
story="Once upon a time, there was a little girl named Lily. She loved to play outside in the park."
fail() { echo "FAIL: $*"; exit 1; }
out=$("$tool" run -m "$models/stories260K.gguf" -p "Once upon a time" -n 40) || fail "run (gguf)"
echo "$out" | grep -qF "$story" || fail "GGUF story: $out"
out=$("$tool" run -m "$models/stories260K.bin" --tokenizer "$models/tok512.bin" \
    -p "Once upon a time" -n 40) || fail "run (llama2.c)"
echo "$out" | grep -qF "$story" || fail "llama2.c story: $out"
out=$("$tool" run -m "$models/stories260K.gguf" -p "Once upon a time, in a big forest, there lived a rhinoceros named Roxy." \
    --press "adakv(press=knorm)" --ratio 0.5 -n 20) || fail "run with a press"
echo "$out"
echo "$out" | grep -Eq "saved (4[0-9]|5[0-9])\.[0-9]% of the prompt's cache" || fail "no memory saved"
out=$("$tool" run -m "$models/stories260K.gguf" -p "Once upon a time" -n 60 \
    --decoding-press "decoding(press=knorm, compression_interval=16, target_size=24)") || fail "run with a decoding press"
echo "$out"
echo "$out" | grep -q "compressed a layer 10 times" || fail "decoding press did not compress"
echo "$out" | grep -Eq "^  layer  4: 35 35 35 35$" || fail "unexpected lengths at the end"
"$tool" run -m "$models/stories260K.gguf" -p "x" --press knorm --ratio 1.5 >/dev/null 2>&1 && fail "ratio 1.5 accepted"
"$tool" run -m "$models/missing.gguf" -p "x" >/dev/null 2>&1 && fail "a missing model was accepted"

# eval --reference: a number off by more than 0.005 fails with a DIFF line, an entry holding
# an error in the reference is skipped, and the outputs are written.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/suite.json" <<'JSON'
{"ratios": [0.5], "tasks": ["continue", "copy"],
 "presses": {"knorm": {"press": "knorm", "params": {}},
             "snapkv": {"press": "snapkv", "params": {"window_size": 32, "kernel_size": 5}}}}
JSON
head -n 1 "$models/../golden/eval/windows_public.txt" > "$tmp/windows.txt" 2>/dev/null ||
    { echo "run: all checks passed (eval checks skipped: no windows)"; exit 0; }
"$tool" eval -m "$models/stories260K.gguf" --windows "$tmp/windows.txt" --suite "$tmp/suite.json" \
    --json "$tmp/out.json" --csv "$tmp/out.csv" --plot "$tmp/out.svg" > "$tmp/table.txt" 2>/dev/null ||
    fail "eval without a reference"
grep -q '"knorm@0.5": {"nll": ' "$tmp/out.json" || fail "eval JSON"
grep -q '^continue,snapkv@0.5,snapkv,0.5,' "$tmp/out.csv" || fail "eval CSV"
grep -q '<polyline' "$tmp/out.svg" || fail "eval SVG"
nll=$(sed -n 's/.*"knorm@0.5": {"nll": \([0-9.e+-]*\),.*/\1/p' "$tmp/out.json" | head -n 1)
off=$(awk -v x="$nll" 'BEGIN { printf "%.6f", x + 0.1 }')
printf '{"results": {"continue": {"knorm@0.5": {"nll": %s}, "snapkv@0.5": {"error": "failed"}}}}\n' \
    "$off" > "$tmp/ref.json"
if "$tool" eval -m "$models/stories260K.gguf" --windows "$tmp/windows.txt" --suite "$tmp/suite.json" \
    --reference "$tmp/ref.json" > "$tmp/cmp.txt" 2>/dev/null; then
    fail "eval accepted a reference off by 0.1"
fi
grep -q "^DIFF continue knorm@0.5" "$tmp/cmp.txt" || fail "no DIFF line: $(cat "$tmp/cmp.txt")"
grep -q "1 skipped (reference error)" "$tmp/cmp.txt" || fail "reference error not skipped"
printf '{"results": {"continue": {"knorm@0.5": {"nll": %s}}}}\n' "$nll" > "$tmp/ref.json"
"$tool" eval -m "$models/stories260K.gguf" --windows "$tmp/windows.txt" --suite "$tmp/suite.json" \
    --reference "$tmp/ref.json" > "$tmp/cmp.txt" 2>/dev/null || fail "eval rejected its own numbers"
echo "run: all checks passed"
