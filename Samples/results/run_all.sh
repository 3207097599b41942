#!/usr/bin/env bash
# Regenerates Manual/results.md and Manual/results.svg: the SPU trade-off on the WordNet demo.
# Not part of the main job (it runs twelve continual sequences: about 45 minutes on 2 cores).
#
#   Samples/results/run_all.sh [RUNS_FOLDER]      (default .cache/results)
#
# Needs ./setup.sh to have run (the default model, the WordNet tasks, the release build, .venv)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-.cache/results}
model=.cache/models/all-MiniLM-L6-v2
tasks=.cache/tasks/wordnet
scalpel=.build/release/scalpel
mkdir -p "$runs"

# label | continual arguments
configurations=(
    "spu|--method spu --lr 5e-4"
    "spu-lr2e-5|--method spu --lr 2e-5"
    "full-lr1e-5|--method full --lr 1e-5"
    "full-lr2e-5|--method full --lr 2e-5"
    "full-lr5e-5|--method full --lr 5e-5"
    "random-mask|--method random-mask --lr 5e-4"
    "spu-attention|--method spu --layers attention --lr 5e-4"
    "spu-second-mlp|--method spu --layers second-mlp --lr 5e-4"
    "spu-replay|--method spu --lr 5e-4 --buffer 100"
)
for entry in "${configurations[@]}"; do
    label=${entry%%|*}
    arguments=${entry#*|}
    if [ -f "$runs/$label/report.json" ]; then echo "$label: done before"; continue; fi
    echo "--- $label: scalpel continual $arguments"
    # shellcheck disable=SC2086
    "$scalpel" continual "$model" --tasks "$tasks/verbs-1" "$tasks/verbs-2" "$tasks/verbs-3" \
        --control "$tasks/control-nouns" -o "$runs/$label" $arguments > "$runs/$label.md"
done

# Scalpel's default SPU run with two more seeds, for the comparison with the PyTorch reference
# (Tests/Fixtures/reference/, made by Samples/reference/make_fixtures.sh).
for seed in 1 2; do
    if [ ! -f "$runs/spu-seed$seed/report.json" ]; then
        "$scalpel" continual "$model" --tasks "$tasks/verbs-1" "$tasks/verbs-2" "$tasks/verbs-3" \
            --control "$tasks/control-nouns" -o "$runs/spu-seed$seed" --lr 5e-4 --seed "$seed" > /dev/null
    fi
done
if [ ! -f "$runs/spu-nodropout/report.json" ]; then
    "$scalpel" continual "$model" --tasks "$tasks/verbs-1" "$tasks/verbs-2" "$tasks/verbs-3" \
        --control "$tasks/control-nouns" -o "$runs/spu-nodropout" --lr 5e-4 --no-dropout > /dev/null
fi
.venv/bin/python Samples/results/results_page.py "$runs" --model "$model/model.safetensors" \
    --reference Tests/Fixtures/reference --markdown Manual/results.md --svg Manual/results.svg
echo "wrote Manual/results.md and Manual/results.svg"
