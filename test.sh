#!/usr/bin/env bash
# Runs the whole test suite (the README's second command; CI runs exactly this).
# Installs what the tests need first (system libraries, Python reference packages in .venv).
set -euo pipefail
cd "$(dirname "$0")"
./setup.sh --deps-only
export SCALPEL_PYTHON="$PWD/.venv/bin/python"
swift test "$@"
# The continual protocols' definitions on a hand-computed example (plain Python, no torch; the
# PyTorch reference computes its fixtures' figures with them), and the results page's statistics.
if [ $# -eq 0 ]; then
    "$SCALPEL_PYTHON" Samples/reference/test_protocol_metrics.py
    "$SCALPEL_PYTHON" Samples/results/test_statistics.py
fi
# The whole suite also fuzzes every parser briefly (coverage-guided, address sanitizer):
# SCALPEL_FUZZ_SECONDS each (0 skips it). Tests/Fuzz/fuzz.sh runs longer campaigns.
if [ $# -eq 0 ] && [ "${SCALPEL_FUZZ_SECONDS:-20}" != 0 ]; then
    Tests/Fuzz/fuzz.sh smoke "${SCALPEL_FUZZ_SECONDS:-20}"
fi
