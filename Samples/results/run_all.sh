#!/usr/bin/env bash
# Regenerates Manual/results.md and Manual/results.svg: the trade-off between what each method
# learns and what it loses of the control set, on the five-task WordNet sequence, every
# configuration with several seeds; and the fidelity check against the PyTorch reference on
# the three-task sequence. Not part of the main job: each run takes minutes, the whole set hours
# on 2 cores. Runs already finished are kept, so an interrupted harness goes on where it stopped.
#
#   Samples/results/run_all.sh [RUNS_FOLDER]      (default .cache/results)
#   RESULTS_SEEDS="0 1 2" (default)               the seeds of every configuration
#
# Needs ./setup.sh to have run (the default model, the WordNet tasks, the release build, .venv).
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-.cache/results}
model=.cache/models/all-MiniLM-L6-v2
tasks=.cache/tasks/wordnet
scalpel=.build/release/scalpel
seeds=${RESULTS_SEEDS:-0 1 2}
mkdir -p "$runs"
# The plot is drawn with matplotlib (Samples/results/requirements.txt), into the same .venv.
.venv/bin/python -c "import matplotlib" 2>/dev/null || .venv/bin/pip install --quiet -r Samples/results/requirements.txt

# label | continual arguments. Each method at three learning rates: its curve on the plot (the
# sparse methods around their default 5e-4: a sparse update needs larger steps than a dense one). The
# first seven come first in every seed: the defaults of each method and full fine-tuning's curve.
generic="--generic-text $tasks/generic-adjectives.txt"
configurations=(
    "full-lr2e-5|--method full --lr 2e-5"
    "spu-lr5e-4|--method spu --lr 5e-4"
    "spu-mas-ratio-lr5e-4|--method spu-mas-ratio --lr 5e-4 $generic"
    "spu-mas-exclude-lr5e-4|--method spu-mas-exclude --lr 5e-4 $generic"
    "full-lr5e-5|--method full --lr 5e-5"
    "full-lr1e-5|--method full --lr 1e-5"
    "random-mask-lr5e-4|--method random-mask --lr 5e-4"
    "spu-lr2e-4|--method spu --lr 2e-4"
    "spu-mas-ratio-lr2e-4|--method spu-mas-ratio --lr 2e-4 $generic"
    "spu-mas-exclude-lr2e-4|--method spu-mas-exclude --lr 2e-4 $generic"
    "spu-lr1e-3|--method spu --lr 1e-3"
    "spu-mas-ratio-lr1e-3|--method spu-mas-ratio --lr 1e-3 $generic"
    "spu-mas-exclude-lr1e-3|--method spu-mas-exclude --lr 1e-3 $generic"
)
five=("$tasks/five/verbs-1" "$tasks/five/verbs-2" "$tasks/five/verbs-3" "$tasks/five/verbs-4" "$tasks/five/verbs-5")
three=("$tasks/verbs-1" "$tasks/verbs-2" "$tasks/verbs-3")

# run LABEL SEED ARGUMENTS... : one continual run into RUNS/LABEL/seedN (skipped when finished).
run() {
    local label=$1 seed=$2 folder="$runs/$1/seed$2"
    shift 2
    if [ -f "$folder/report.json" ]; then return; fi
    echo "--- $label seed $seed: scalpel continual $* ($(date -u +%H:%M) UTC)"
    mkdir -p "$runs/$label"
    "$scalpel" continual "$model/model.safetensors" --control "$tasks/control-nouns" -o "$folder" --seed "$seed" "$@" > "$folder.md"
}

# First the fidelity check (the shortest runs): Scalpel's SPU on the three-task sequence, as
# the committed PyTorch reference reports (Tests/Fixtures/reference/, made by
# Samples/reference/make_fixtures.sh) ran it.
for seed in 0 1 2; do run fidelity-spu "$seed" --tasks "${three[@]}" --lr 5e-4; done
run fidelity-spu-nodropout 0 --tasks "${three[@]}" --lr 5e-4 --no-dropout

# Then seed by seed, so that a harness stopped early has every configuration at the first seeds.
for seed in $seeds; do
    for entry in "${configurations[@]}"; do
        # shellcheck disable=SC2086
        run "${entry%%|*}" "$seed" --tasks "${five[@]}" ${entry#*|}
    done
done

.venv/bin/python Samples/results/results_page.py "$runs" --model "$model/model.safetensors" \
    --reference Tests/Fixtures/reference --markdown Manual/results.md --svg Manual/results.svg
echo "wrote Manual/results.md and Manual/results.svg"
