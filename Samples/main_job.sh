#!/usr/bin/env bash
# The main job on the embedded default model (all-MiniLM-L6-v2), run by ./setup.sh.
#
# Until the training issues land it exercises what Scalpel does today: inspect the real
# checkpoint, convert it to bf16, reshard it as Hugging Face lays large models out, join the
# shards again into a file byte-identical to the original, take a patch through create,
# audit, apply, diff and revert, round-trip the model through the other checkpoint formats,
# merge two updates, and learn three WordNet tasks in a row with SPU (scalpel continual).
# Outputs go to .cache/main-job/.
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
"$scalpel" convert "$model" -o "$out/minilm-bf16.safetensors" --dtype bf16
"$scalpel" inspect --summary "$out/minilm-bf16.safetensors"

echo; echo "--- scalpel convert to 20 MB shards ---"
"$scalpel" convert "$model" -o "$out/sharded/model.safetensors" --shard-size 20MB
"$scalpel" inspect --summary "$out/sharded"

echo; echo "--- the shards joined again give the original file, byte for byte ---"
"$scalpel" convert "$out/sharded" -o "$out/unsharded.safetensors"
cmp "$model" "$out/unsharded.safetensors"
echo "identical: $(sha256sum < "$out/unsharded.safetensors" | cut -c1-16)… ($(stat -c %s "$model") bytes)"

# A patch round trip. Training arrives with the SPU issue; until then the update is
# simulated with the shape SPU gives one (random small steps on 10 % of each first-MLP
# weight, nothing else touched), and every command below runs for real on it.
echo; echo "--- a simulated SPU-shaped update: create, audit, apply, diff, revert ---"
.venv/bin/python Samples/benchmarks/make_spu_update.py "$model" "$out/minilm-updated.safetensors" --step 1e-3
"$scalpel" create "$model" "$out/minilm-updated.safetensors" -o "$out/update.spatch" --task simulated-spu-update
"$scalpel" audit "$out/update.spatch" --base "$model" --report "$out/update-report.html"
"$scalpel" apply "$model" "$out/update.spatch" -o "$out/minilm-patched.safetensors"
"$scalpel" diff "$out/minilm-patched.safetensors" "$out/minilm-updated.safetensors" | tail -1
"$scalpel" revert "$out/minilm-patched.safetensors" "$out/update.spatch" -o "$out/minilm-reverted.safetensors"
"$scalpel" diff "$out/minilm-reverted.safetensors" "$model" | tail -1

# The same model in the formats other frameworks write, and the same patch applied to one.
echo; echo "--- the model as PyTorch, NumPy, GGUF and HDF5, and back: identical tensors ---"
for ext in bin npz gguf h5; do
    "$scalpel" convert "$model" -o "$out/minilm.$ext"
    "$scalpel" convert "$out/minilm.$ext" -o "$out/minilm-from-$ext.safetensors"
    echo "$ext: $("$scalpel" diff "$out/minilm-from-$ext.safetensors" "$model" | tail -1)"
done
"$scalpel" apply "$out/minilm.bin" "$out/update.spatch" -o "$out/minilm-patched.bin"
"$scalpel" diff "$out/minilm-patched.bin" "$out/minilm-updated.safetensors" | tail -1

echo; echo "--- two updates merged with TIES ---"
.venv/bin/python Samples/benchmarks/make_spu_update.py "$model" "$out/minilm-updated-2.safetensors" --step 1e-3 --seed 2
"$scalpel" create "$model" "$out/minilm-updated-2.safetensors" -o "$out/update-2.spatch" --task second-update
"$scalpel" merge --plan "$out/update.spatch" "$out/update-2.spatch"
"$scalpel" merge "$out/update.spatch" "$out/update-2.spatch" --base "$model" --method ties --density 0.05 -o "$out/merged.spatch"
# SPU, the method this project exists for: three WordNet verb tasks learned one after the
# other (gloss → verb category), each as a mask and a patch, with a noun-retrieval control set
# measuring what the model knew before; then full fine-tuning of every weight on the same
# sequence, the baseline it is measured against.
tasks=.cache/tasks/wordnet
sequence=("$tasks/verbs-1" "$tasks/verbs-2" "$tasks/verbs-3")
echo; echo "--- continual learning with SPU on three WordNet verb tasks ---"
rm -rf "$out/continual-spu" "$out/continual-full"
"$scalpel" continual "$model" --tasks "${sequence[@]}" --control "$tasks/control-nouns" -o "$out/continual-spu" --lr 5e-4
echo; echo "--- the same sequence with full fine-tuning (every weight, lr 2e-5) ---"
"$scalpel" continual "$model" --tasks "${sequence[@]}" --control "$tasks/control-nouns" -o "$out/continual-full" \
    --method full --lr 2e-5 > /dev/null
echo; echo "--- side by side ---"
.venv/bin/python Samples/results/side_by_side.py "$out/continual-spu" "$out/continual-full" \
    --reference Tests/Fixtures/reference/spu-seed0.json --model "$model"
"$scalpel" apply "$model" "$out/continual-spu/task1.spatch" "$out/continual-spu/task2.spatch" "$out/continual-spu/task3.spatch" \
    -o "$out/minilm-after-3-tasks.safetensors"
echo "changed by the three SPU task patches, against the base (every other weight bit-identical):"
"$scalpel" diff "$model" "$out/minilm-after-3-tasks.safetensors" | tail -1
echo; echo "main job done; outputs in $out/"
