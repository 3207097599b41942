#!/usr/bin/env bash
# The main job on the embedded default model (all-MiniLM-L6-v2), run by ./setup.sh.
#
# Until the training issues land it exercises what Scalpel does today: inspect the real
# checkpoint, convert it to bf16, reshard it as Hugging Face lays large models out, and
# join the shards again into a file byte-identical to the original. Outputs go to
# .cache/main-job/.
set -euo pipefail
cd "$(dirname "$0")/.."
scalpel=.build/release/scalpel
model=.cache/models/all-MiniLM-L6-v2/model.safetensors
out=.cache/main-job
[ -x "$scalpel" ] || { echo "main_job.sh: build first (swift build -c release)" >&2; exit 1; }
[ -f "$model" ] || { echo "main_job.sh: $model missing; run ./setup.sh" >&2; exit 1; }
rm -rf "$out" && mkdir -p "$out/sharded"

echo "--- scalpel inspect (summary) ---"
"$scalpel" inspect --summary "$model"

echo; echo "--- scalpel convert to bf16 ---"
"$scalpel" convert "$model" "$out/minilm-bf16.safetensors" --dtype bf16
"$scalpel" inspect --summary "$out/minilm-bf16.safetensors"

echo; echo "--- scalpel convert to 20 MB shards ---"
"$scalpel" convert "$model" "$out/sharded/model.safetensors" --shard-size 20MB
"$scalpel" inspect --summary "$out/sharded"

echo; echo "--- the shards joined again give the original file, byte for byte ---"
"$scalpel" convert "$out/sharded" "$out/unsharded.safetensors"
cmp "$model" "$out/unsharded.safetensors"
echo "identical: $(sha256sum < "$out/unsharded.safetensors" | cut -c1-16)… ($(stat -c %s "$model") bytes)"
echo; echo "main job done; outputs in $out/"
