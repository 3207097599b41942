#!/usr/bin/env bash
# Runs the PyTorch SPU reference on the WordNet demo (three seeds with dropout, one without)
# and commits its reports as fixtures in Tests/Fixtures/reference/, with task 1's mask of
# seed 0 (the masks of task 1 must agree: same model, same batches). Each report holds both
# protocols' figures (class-incremental first) and every test item's outcome in every state.
# Needs torch and transformers; arguments after PYTHON go to every run (--threads 1 on a busy
# machine):
#
#   python3 -m venv /tmp/ref && /tmp/ref/bin/pip install torch transformers numpy
#   Samples/reference/make_fixtures.sh /tmp/ref/bin/python [--threads 1]
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${1:?usage: make_fixtures.sh PYTHON_WITH_TORCH [SPU_REFERENCE_ARGUMENTS...]}
shift
extra=("$@")
tasks=.cache/tasks/wordnet
mkdir -p Tests/Fixtures/reference
run() {
    "$python" Samples/reference/spu_reference.py .cache/models/all-MiniLM-L6-v2 \
        --tasks "$tasks/verbs-1" "$tasks/verbs-2" "$tasks/verbs-3" --control "$tasks/control-nouns" --lr 5e-4 --protocol class "${extra[@]}" "$@"
}
# Without dropout both implementations are deterministic: the closest comparison.
run --seed 0 --no-dropout -o Tests/Fixtures/reference/spu-nodropout-seed0.json
run --seed 0 -o Tests/Fixtures/reference/spu-seed0.json --save-first-mask Tests/Fixtures/reference/spu-seed0-task1-mask.npz
run --seed 1 -o Tests/Fixtures/reference/spu-seed1.json
run --seed 2 -o Tests/Fixtures/reference/spu-seed2.json
