#include "fuzz_driver.h"

// libFuzzer's entry point for programs that keep their own main. Declared weak: in a build
// without libFuzzer it stays null and the harness replays files instead.
extern int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size))
    __attribute__((weak));

int scalpel_fuzz_run_driver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size)) {
    if (LLVMFuzzerRunDriver == 0) return -1;
    return LLVMFuzzerRunDriver(argc, argv, callback);
}
