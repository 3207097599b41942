#!/usr/bin/env bash
# Regenerates Manual/audit-report.png, the picture of `scalpel audit --report` in the Manual:
# a real SPU patch on the demo model (the SPU mask of the first WordNet verb task of the
# five-task sequence, trained three epochs at 5e-4, seed 0), audited against the model,
# its report photographed by headless Chromium.
# Needs ./setup.sh's .cache, a built scalpel (the debug build is fine; SCALPEL=path picks
# another) and Chromium (Debian: apt-get install chromium). Outputs go to $OUT
# (.cache/audit-picture unless given).
set -euo pipefail
cd "$(dirname "$0")/.."
scalpel=${SCALPEL:-.build/debug/scalpel}
model=.cache/models/all-MiniLM-L6-v2
task=.cache/tasks/wordnet/five/verbs-1
out=${OUT:-.cache/audit-picture}
[ -x "$scalpel" ] || { echo "audit_report_picture.sh: build first (swift build)" >&2; exit 1; }
[ -d "$task" ] || { echo "audit_report_picture.sh: $task missing; run ./setup.sh" >&2; exit 1; }
command -v chromium >/dev/null || { echo "audit_report_picture.sh: needs chromium" >&2; exit 1; }
mkdir -p "$out"

"$scalpel" mask "$model" --task "$task" -o "$out/verbs-1-mask.spatch" --overwrite
"$scalpel" train "$model" --task "$task" --mask "$out/verbs-1-mask.spatch" --lr 5e-4 -o "$out/verbs-1.spatch" --overwrite
"$scalpel" audit "$out/verbs-1.spatch" --base "$model" --report "$out/verbs-1.html" --overwrite | tail -1
# The window shows the summary, both views of the map and the first spread strips.
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1400,1560 \
    --screenshot="$PWD/Manual/audit-report.png" "file://$(cd "$out" && pwd)/verbs-1.html" 2>/dev/null
ls -l Manual/audit-report.png
