#!/usr/bin/env bash
# Runs the whole test suite (the README's second command; CI runs exactly this).
# Installs what the tests need first (system libraries, Python reference packages in .venv).
# Arguments go to `swift test` (a --filter runs those tests alone, without the other steps).
set -euo pipefail
cd "$(dirname "$0")"

step() { printf '\n==> %s\n' "$*"; }
started=$SECONDS

step "what the tests need (./setup.sh --deps-only)"
./setup.sh --deps-only
export SCALPEL_PYTHON="$PWD/.venv/bin/python"

if [ $# -eq 0 ]; then
    # One style, checked (.swift-format; `swift format format -i -r Sources Tests Samples
    # Package.swift` applies it).
    step "style: swift format lint --strict"
    swift format lint --strict -r Sources Tests Samples Package.swift
fi

step "Swift tests (swift test $*)"
swift test "$@"

if [ $# -eq 0 ]; then
    # The continual protocols' definitions on a hand-computed example (plain Python, no torch;
    # the PyTorch reference computes its fixtures' figures with them), and the results page's
    # statistics.
    step "Python checks of the protocol metrics and the results statistics"
    "$SCALPEL_PYTHON" Samples/reference/test_protocol_metrics.py
    "$SCALPEL_PYTHON" Samples/results/test_statistics.py
fi

# The whole suite also fuzzes every parser briefly (coverage-guided, address sanitizer):
# SCALPEL_FUZZ_SECONDS each (0 skips it). Tests/Fuzz/fuzz.sh runs longer campaigns.
if [ $# -eq 0 ] && [ "${SCALPEL_FUZZ_SECONDS:-20}" != 0 ]; then
    step "fuzzing every parser for ${SCALPEL_FUZZ_SECONDS:-20} s each (Tests/Fuzz/fuzz.sh smoke)"
    Tests/Fuzz/fuzz.sh smoke "${SCALPEL_FUZZ_SECONDS:-20}"
fi

step "all tests passed ($(((SECONDS - started) / 60)) min)"
