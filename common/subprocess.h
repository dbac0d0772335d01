// Starting a helper program from a multi-threaded process: the server's
// solve workers (server/job_runner.cc) and the test harness's servers
// (tests/e2e/server_process.cc) go through this one fork/exec, so both get
// the same care (async-signal-safe child, death with the parent, default
// signal state).

#ifndef AUTOTM_COMMON_SUBPROCESS_H_
#define AUTOTM_COMMON_SUBPROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace autotm {

struct SpawnOptions {
  // The program and its arguments; argv[0] is the program's path (no PATH
  // search). Must not be empty.
  std::vector<std::string> argv;
  // The child's stderr: this descriptor, or the caller's stderr when -1.
  // The caller keeps ownership.
  int stderr_fd = -1;
};

// A started child. The caller owns both: it reads `stdout_fd` (the read end
// of a pipe on the child's stdout, close-on-exec) until EOF, closes it, and
// reaps `pid` with waitpid().
struct SpawnedChild {
  pid_t pid = -1;
  int stdout_fd = -1;
};

// Starts options.argv in a child process whose stdin is /dev/null and whose
// stdout is a pipe returned to the caller. The child
//   - gets SIGKILL when the thread that spawned it exits (PR_SET_PDEATHSIG),
//     and exits 127 at once if the parent died before that took effect;
//   - starts with default SIGTERM and SIGPIPE dispositions and an empty
//     signal mask, whatever the caller ignores or blocks;
//   - exits with status 127 when exec fails (e.g. no such program).
// Everything is prepared before fork(), so it is safe with other threads
// running. Errors: INVALID_ARGUMENT for an empty argv; the errno of a
// failed pipe2() or fork(), with that call named.
absl::StatusOr<SpawnedChild> SpawnWithStdoutPipe(const SpawnOptions& options);

}  // namespace autotm

#endif  // AUTOTM_COMMON_SUBPROCESS_H_
