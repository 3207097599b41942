#ifndef SCALPEL_FUZZ_DRIVER_H
#define SCALPEL_FUZZ_DRIVER_H
#include <stddef.h>
#include <stdint.h>

/// Runs libFuzzer's driver on `callback` when the executable was linked with libFuzzer
/// (libclang_rt.fuzzer_no_main, by Tests/Fuzz/fuzz.sh); returns -1 when it was not (a plain
/// build, which replays inputs instead).
int scalpel_fuzz_run_driver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
