#!/usr/bin/env bash
# Coverage-guided fuzzing of Scalpel's parsers with libFuzzer and the address sanitizer.
#
#   Tests/Fuzz/fuzz.sh build                 instrumented build of scalpel-fuzz (.build-fuzz/)
#   Tests/Fuzz/fuzz.sh seeds                 seed corpora (.build-fuzz/corpus/TARGET/), from make_seeds.py
#   Tests/Fuzz/fuzz.sh run TARGET SECONDS [SEED]
#                                            fuzz one target (SEED 0: libFuzzer draws one);
#                                            findings go to .build-fuzz/findings/TARGET/
#   Tests/Fuzz/fuzz.sh smoke SECONDS         every target for SECONDS each (what ./test.sh runs)
#   Tests/Fuzz/fuzz.sh campaign SECONDS      every target for SECONDS each, resumable, growing
#                                            corpora in .build-fuzz/campaign/ (see campaign())
#
# A finding is a crash, a sanitizer report, a hang (over 10 s for one input) or an input
# that makes the target use over 2 GB. Reproduce one with
#   .build-fuzz/debug/scalpel-fuzz TARGET FILE          (instrumented) or
#   .build/debug/scalpel-fuzz replay TARGET FILE        (plain build),
# fix it, and copy the input to Tests/Fixtures/fuzz-regressions/TARGET/: the test suite replays
# every file there.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=.build-fuzz
fuzzer=$(ls "$(dirname "$(dirname "$(command -v swiftc)")")"/lib/clang/*/lib/linux/libclang_rt.fuzzer_no_main-x86_64.a 2>/dev/null | head -1)
python=${SCALPEL_PYTHON:-.venv/bin/python}

build() {
    [ -n "$fuzzer" ] || { echo "fuzz.sh: libclang_rt.fuzzer_no_main not found in the Swift toolchain" >&2; exit 1; }
    swift build --build-path "$build" --product scalpel-fuzz \
        -Xswiftc -sanitize=address -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp \
        -Xcc -fsanitize=address \
        -Xlinker --undefined=LLVMFuzzerRunDriver -Xlinker "$fuzzer" -Xlinker -lstdc++
}

seeds() {
    rm -rf "$build/corpus"
    "$python" Tests/Fuzz/make_seeds.py "$build/corpus"
    # Inputs that once crashed a target seed it too.
    if [ -d Tests/Fixtures/fuzz-regressions ]; then
        for folder in Tests/Fixtures/fuzz-regressions/*/; do
            target=$(basename "$folder"); mkdir -p "$build/corpus/$target"; cp "$folder"* "$build/corpus/$target/" 2>/dev/null || true
        done
    fi
}

run() {
    local target=$1 seconds=$2 seed=${3:-0} corpus=${4:-$build/corpus/$1} log="$build/findings/$1.log" status=0
    mkdir -p "$build/findings/$target" "$corpus"
    # -rss_limit_mb: an input may not make a parser allocate what the file cannot back.
    # The HDF5 reader gives up on a silent libhdf5 (a looping file) after 5 s, before
    # libFuzzer's 10 s limit for one input: that refusal is the right answer, not a finding.
    # The fuzzer writes to a file, not a pipe, and `timeout` bounds the whole run, so nothing
    # a target leaves behind can keep this script waiting.
    SCALPEL_HDF5_SILENCE_SECONDS=5 timeout --kill-after=10 "$((seconds + 120))" \
        "$build/debug/scalpel-fuzz" "$target" "$corpus" \
        -max_total_time="$seconds" -seed="$seed" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -artifact_prefix="$build/findings/$target/" -print_final_stats=1 >"$log" 2>&1 || status=$?
    grep -E "^(#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units|stat::peak_rss_mb|INFO: seed corpus|==[0-9]+==ERROR|SUMMARY|Done)" "$log" || true
    if [ "$status" -ne 0 ]; then
        [ "$status" -eq 124 ] && echo "fuzz.sh: $target did not stop within $((seconds + 120)) s" >&2
        echo "fuzz.sh: $target found a problem (exit $status); the input is in $build/findings/$target/, the log in $log" >&2
        return 1
    fi
}

# The long campaign: every target for SECONDS, resumable. Its corpora (.build-fuzz/campaign/)
# grow from run to run and `seeds` never clears them; Tests/Fuzz/campaign.tsv (committed, so
# the record outlives a build folder) records each finished run (target, seconds, inputs
# executed, exit status, when), and a target whose runs add up to SECONDS is skipped, so a
# campaign interrupted or spread over several sittings and machines goes on where it stopped.
campaign() {
    local seconds=$1 record="Tests/Fuzz/campaign.tsv" failed=0
    [ -x "$build/debug/scalpel-fuzz" ] || build
    [ -d "$build/corpus" ] || seeds
    mkdir -p "$build/campaign"
    for target in $("$build/debug/scalpel-fuzz" list | awk '{print $1}'); do
        local done_seconds
        done_seconds=$(awk -F'\t' -v t="$target" '$1 == t { s += $2 } END { print s + 0 }' "$record" 2>/dev/null || echo 0)
        if [ "$done_seconds" -ge "$seconds" ]; then echo "--- $target: $done_seconds s fuzzed already"; continue; fi
        local left=$((seconds - done_seconds)) corpus="$build/campaign/$target" status=0
        [ -d "$corpus" ] || cp -r "$build/corpus/$target" "$corpus"
        echo "--- fuzzing $target for $left s ($(date -u +%H:%M) UTC)"
        run "$target" "$left" 0 "$corpus" || status=1
        local executed
        executed=$(awk '/^stat::number_of_executed_units/ { print $2 }' "$build/findings/$target.log")
        printf '%s\t%s\t%s\t%s\t%s\n' "$target" "$left" "${executed:-0}" "$status" "$(date -u +%FT%TZ)" >>"$record"
        [ "$status" -eq 0 ] || failed=1
    done
    return $failed
}

case "${1:-}" in
    build) build ;;
    seeds) seeds ;;
    run) [ $# -eq 3 ] || [ $# -eq 4 ] || { echo "usage: fuzz.sh run TARGET SECONDS [SEED]" >&2; exit 2; }; run "$2" "$3" "${4:-0}" ;;
    campaign) [ $# -eq 2 ] || { echo "usage: fuzz.sh campaign SECONDS" >&2; exit 2; }; campaign "$2" ;;
    smoke)
        [ $# -eq 2 ] || { echo "usage: fuzz.sh smoke SECONDS" >&2; exit 2; }
        build
        seeds
        failed=0
        for target in $("$build/debug/scalpel-fuzz" list | awk '{print $1}'); do
            echo "--- fuzzing $target for $2 s"
            # A fixed seed: the smoke run explores the same inputs each time (a long run, seed 0, draws one).
            run "$target" "$2" 1 || failed=1
        done
        exit $failed ;;
    *) sed -n '2,20p' "$0" >&2; exit 2 ;;
esac
