#!/bin/sh
# kvpress-tool calibrate, run and eval with CompressKV on the shared model: calibration is
# deterministic and staged runs equal a whole one; the committed artefact and suite run
# through eval (the model keeps L * B tokens) and run; missing, broken and misplaced
# artefacts fail with a clear message. Exit 77 (SKIP) without the shared model and text.
#   compresskv_tool.sh TOOL SHARED_DIR SOURCE_DIR
tool=$1 shared=$2 src=$3
model=$shared/models/stories260K.gguf text=$shared/data/tinystories_valid_part1.txt
[ -f "$model" ] && [ -f "$text" ] || { echo "SKIP: no shared model or text at $shared"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
small="--skip-tokens 10728 --lengths 128,448 --depths 3 --profile-lengths 128,384 --profile-prompts 2"

# deterministic: the same bytes twice; the llama2.c checkpoint gives the same tensors
"$tool" calibrate -m "$model" --text "$text" $small -o "$tmp/a.safetensors" > "$tmp/a.txt" 2>&1 ||
    fail "calibrate: $(cat "$tmp/a.txt")"
grep -q "^wrote $tmp/a.safetensors" "$tmp/a.txt" || fail "no summary: $(cat "$tmp/a.txt")"
grep -q "^budgets at n = 384, ratio 0.50 (B = 192):" "$tmp/a.txt" || fail "no budgets"
"$tool" calibrate -m "$model" --text "$text" $small -o "$tmp/b.safetensors" > /dev/null 2>&1
cmp -s "$tmp/a.safetensors" "$tmp/b.safetensors" || fail "calibration is not deterministic"
"$tool" calibrate -m "$shared/models/stories260K.bin" --tokenizer "$shared/models/tok512.bin" \
    --text "$text" $small -o "$tmp/c.safetensors" > /dev/null 2>&1 || fail "calibrate (llama2.c)"
# tensors: ranking 160 + profile 20 + scores 160 + errors 40 bytes at the end of the file
tail -c 380 "$tmp/a.safetensors" > "$tmp/a.data"
tail -c 380 "$tmp/c.safetensors" > "$tmp/c.data"
cmp -s "$tmp/a.data" "$tmp/c.data" || fail "GGUF and llama2.c calibrations differ"
# staged: heads, then the profile from those heads, equal the whole run
"$tool" calibrate -m "$model" --text "$text" $small --stage heads -o "$tmp/h.safetensors" \
    > /dev/null 2>&1 || fail "calibrate --stage heads"
"$tool" calibrate -m "$model" --text "$text" $small --stage profile --heads "$tmp/h.safetensors" \
    -o "$tmp/p.safetensors" > /dev/null 2>&1 || fail "calibrate --stage profile"
tail -c 380 "$tmp/p.safetensors" > "$tmp/p.data"
cmp -s "$tmp/a.data" "$tmp/p.data" || fail "staged calibration differs from a whole one"

# bad calibrate input
"$tool" calibrate -m "$model" -o "$tmp/x.safetensors" > /dev/null 2>&1 && fail "no --text accepted"
"$tool" calibrate -m "$model" --text "$text" --stage profile -o "$tmp/x.safetensors" \
    > /dev/null 2>&1 && fail "--stage profile without --heads accepted"
head -c 100 "$tmp/a.safetensors" > "$tmp/broken.safetensors"
out=$("$tool" calibrate -m "$model" --text "$text" --stage profile --heads "$tmp/broken.safetensors" \
    -o "$tmp/x.safetensors" 2>&1) && fail "a truncated --heads artefact accepted"
echo "$out" | grep -q "broken.safetensors" || fail "unclear message: $out"
out=$("$tool" calibrate -m "$model" --text "$text" --decode greedy --lengths 128 --depths 2 \
    -o "$tmp/x.safetensors" 2>&1) && fail "greedy calibration of a model that never retrieves"
echo "$out" | grep -q "use --decode forced" || fail "unclear message: $out"
[ -f "$tmp/x.safetensors" ] && fail "a failed calibration left a file"

# run: L * B tokens kept (B = floor(n / 2)), and the artefact is required
prompt="Once upon a time, in a big forest, there lived a rhinoceros named Roxy. Roxy loved to climb."
out=$("$tool" run -m "$model" -p "$prompt" --press compresskv --ratio 0.5 \
    --artefact "$src/tools/artefacts/stories260K.compresskv.safetensors" -n 8 2>&1) ||
    fail "run with compresskv: $out"
n=$(echo "$out" | sed -n 's/^prompt: \([0-9]*\) tokens.*/\1/p')
kept=$(echo "$out" | sed -n 's/^  layer  [0-9]: \([0-9]*\) .*/\1/p' | awk '{ s += $1 } END { print s }')
[ "$kept" -eq $((5 * (n / 2))) ] || fail "run kept $kept tokens per kv head, expected 5 x $((n / 2))"
out=$("$tool" run -m "$model" -p "$prompt" --press compresskv --ratio 0.5 -n 8 2>&1) &&
    fail "compresskv ran without its artefact"
echo "$out" | grep -q "compresskv needs its artefact" || fail "unclear message: $out"
out=$("$tool" run -m "$model" -p "$prompt" --press compresskv --ratio 0.5 \
    --artefact "$tmp/broken.safetensors" -n 8 2>&1) && fail "a truncated artefact accepted"
echo "$out" | grep -q "broken.safetensors" || fail "unclear message: $out"

# --from-reference: the reference repository's head lists and layer scores as an artefact
rows=""
for l in 0 1 2 3 4; do rows="$rows${rows:+, }\"$l\": [7, 6, 5, 4, 3, 2, 1, 0]"; done
echo "{$rows}" > "$tmp/heads.json"
printf '{\n "qa": [0.2, 0.2, 0.2, 0.2, 0.2],\n "avg_score": [0.1, 0.2, 0.3, 0.2, 0.2]\n}\n' \
    > "$tmp/scores.jsonl"
"$tool" calibrate --from-reference "$tmp/heads.json" --layer-scores "$tmp/scores.jsonl" \
    --n-kv-heads 4 -o "$tmp/conv.safetensors" > /dev/null 2>&1 || fail "--from-reference"
out=$("$tool" run -m "$model" -p "$prompt" --press compresskv --ratio 0.5 \
    --artefact "$tmp/conv.safetensors" -n 4 2>&1) || fail "run with a converted artefact: $out"
rows=""
for l in $(seq 0 27); do rows="$rows${rows:+, }\"$l\": [$(seq -s ', ' 0 27)]"; done
echo "{$rows}" > "$tmp/heads28.json"
"$tool" calibrate --from-reference "$tmp/heads28.json" -o "$tmp/conv28.safetensors" \
    > /dev/null 2>&1 || fail "--from-reference (28 layers)"
out=$("$tool" run -m "$model" -p "$prompt" --press compresskv --ratio 0.5 \
    --artefact "$tmp/conv28.safetensors" -n 4 2>&1) && fail "an artefact of another model ran"
echo "$out" | grep -q "calibrated for 28 layers x 28 query heads; this model has 5 layers x 8" ||
    fail "unclear message: $out"
sed 's/\[7, 6, 5, 4, 3, 2, 1, 0\]/[7, 6, 5, 4, 3, 2, 1, 1]/' "$tmp/heads.json" > "$tmp/bad.json"
out=$("$tool" calibrate --from-reference "$tmp/bad.json" -o "$tmp/bad.safetensors" 2>&1) &&
    fail "a head list that is not a permutation was converted"
echo "$out" | grep -q "not a permutation" || fail "unclear message: $out"
[ -f "$tmp/bad.safetensors" ] && fail "a failed conversion left a file"

# eval with the committed suite on two windows: numbers for every entry, L * B kept
head -n 2 "$shared/golden/eval/windows_public.txt" > "$tmp/windows.txt" 2>/dev/null ||
    { echo "compresskv: all checks passed (eval skipped: no windows)"; exit 0; }
"$tool" eval -m "$model" --windows "$tmp/windows.txt" --suite "$src/tools/suites/compresskv.json" \
    --json "$tmp/eval.json" > "$tmp/eval.txt" 2>&1 || fail "eval: $(cat "$tmp/eval.txt")"
grep -q '"compresskv@0.5": {"nll": [0-9.]*, "kept_per_layer": \[' "$tmp/eval.json" ||
    fail "no compresskv@0.5 in $(cat "$tmp/eval.json")"
for r in 0.25:288 0.5:192 0.75:96; do
    key=${r%%:*} B=${r##*:}
    sum=$(sed -n "s/.*\"compresskv@$key\": {[^}]*\"kept_per_layer\": \[\([0-9, ]*\)\].*/\1/p" \
        "$tmp/eval.json" | head -n 1 | tr ',' '\n' | awk '{ s += $1 } END { print s }')
    [ "$sum" -eq $((5 * B)) ] || fail "compresskv@$key keeps $sum tokens, expected $((5 * B))"
done
# a suite naming a missing artefact fails before any work, naming the file and the entry
sed 's#"../artefacts/stories260K.compresskv.safetensors"#"nowhere.safetensors"#' \
    "$src/tools/suites/compresskv.json" > "$tmp/suite.json"
out=$("$tool" eval -m "$model" --windows "$tmp/windows.txt" --suite "$tmp/suite.json" 2>&1) &&
    fail "eval with a missing artefact"
echo "$out" | grep -q "suite entry compresskv: .*nowhere.safetensors" || fail "unclear message: $out"
echo "compresskv: all checks passed"
