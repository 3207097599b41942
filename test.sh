#!/usr/bin/env bash
# Runs the whole test suite (the README's second command; CI runs exactly this).
# Installs what the tests need first (system libraries, Python reference packages in .venv).
set -euo pipefail
cd "$(dirname "$0")"
./setup.sh --deps-only
export SCALPEL_PYTHON="$PWD/.venv/bin/python"
swift test "$@"
