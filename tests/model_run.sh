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
echo "run: all checks passed"
