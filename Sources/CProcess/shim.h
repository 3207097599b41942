// Process controls Swift cannot call directly: prctl(2) is variadic, and Swift does not
// import variadic C functions.
#include <signal.h>
#include <sys/prctl.h>

/// In a forked child: asks the kernel to send it SIGKILL when the thread that forked it ends
/// (prctl PR_SET_PDEATHSIG, Linux), so a child never outlives the process waiting for it.
/// Returns 0, or -1 with errno set.
static inline int scalpel_die_with_parent(void) { return prctl(PR_SET_PDEATHSIG, SIGKILL); }
