#include <cblas.h>
#if defined(__linux__)
#include <malloc.h>
/* Keeps large blocks in glibc's heap instead of mapping and unmapping them for each
   allocation: the runtime allocates the same large buffers pass after pass, and every fresh
   mapping is zeroed by the kernel page by page. */
static inline void scalpel_keep_large_allocations(void) {
    mallopt(M_MMAP_THRESHOLD, 512 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
}
#else
static inline void scalpel_keep_large_allocations(void) {}
#endif
