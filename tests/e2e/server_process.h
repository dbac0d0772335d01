// Test helper: runs the real autotm-server binary as a child process for
// end-to-end tests, the way an operator would start it, and stops it the
// way an operator (or a crash) would.
//
//   ServerProcessOptions options;
//   options.db = temp_dir + "/autotm.db";
//   options.log_path = temp_dir + "/server.log";
//   absl::StatusOr<std::unique_ptr<ServerProcess>> server =
//       ServerProcess::Start(options);
//   ASSERT_TRUE(server.ok()) << server.status();
//   ClientOptions client_options;
//   client_options.address = (*server)->address();   // "127.0.0.1:PORT"
//   ...
//   EXPECT_EQ((*server)->Terminate().value(), 0);     // SIGTERM, exit 0
//
// Start() runs `BINARY --listen 127.0.0.1:0 --db DB EXTRA_ARGS...` with
// stdout on a pipe and stderr appended to `log_path`, and waits (bounded by
// start_timeout) for the "autotm-server listening on HOST:PORT" line to
// learn the port. The child gets PR_SET_PDEATHSIG(SIGKILL), so a crashed
// test leaves no server behind; the destructor SIGKILLs a server that is
// still running and reaps it.
//
// Link `autotm_e2e_server_process` (tests/CMakeLists.txt); it depends on
// the autotm-server target, so the binary is built before the test.
//
// Not thread-safe: use one ServerProcess from one thread.
#ifndef AUTOTM_TESTS_E2E_SERVER_PROCESS_H_
#define AUTOTM_TESTS_E2E_SERVER_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace autotm::testing {

struct ServerProcessOptions {
  // The autotm-server binary. Empty: $AUTOTM_SERVER_BINARY if set, else the
  // path of the autotm-server target this helper was built with.
  std::string binary;
  // --db; required.
  std::string db;
  // --listen; port 0 lets the kernel choose (read back into port()).
  std::string listen = "127.0.0.1:0";
  // More flags, e.g. {"--workers", "2"}.
  std::vector<std::string> extra_args;
  // The server's stderr (its log) is appended here; empty: inherited.
  std::string log_path;
  // How long Start() waits for the "listening on" line.
  absl::Duration start_timeout = absl::Seconds(30);
};

class ServerProcess {
 public:
  // Starts the server and waits until it listens. DeadlineExceeded when the
  // line does not come within start_timeout (the child is killed),
  // Internal when the child exits first (with its exit status and the end
  // of its log) or fork/exec fails, InvalidArgument for an empty db.
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(
      const ServerProcessOptions& options);

  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  pid_t pid() const { return pid_; }
  int port() const { return port_; }
  // "HOST:PORT" as printed by the server.
  const std::string& address() const { return address_; }
  // The lines the server printed on stdout before the "listening on" line
  // (e.g. "autotm-server metrics on HOST:PORT"), without newlines.
  const std::vector<std::string>& startup_lines() const {
    return startup_lines_;
  }
  bool running() const { return pid_ > 0; }

  // Sends SIGTERM and waits up to `timeout` for the process to exit.
  // Returns its exit code, or 128 + N when signal N killed it (shell
  // convention). DeadlineExceeded when it is still running after `timeout`
  // (it is then SIGKILLed and reaped); FailedPrecondition when it is not
  // running.
  absl::StatusOr<int> Terminate(absl::Duration timeout = absl::Seconds(15));

  // SIGKILL (a crash, `kill -9`) and reap. No-op when not running.
  void Kill();

  // The server's log so far ("" when log_path was empty), for failure
  // messages.
  std::string ReadLog() const;

 private:
  ServerProcess() = default;
  // Waits up to `timeout` for the child to exit and reaps it; returns its
  // code as Terminate() does, or -1 while it is still running.
  int WaitFor(absl::Duration timeout);

  pid_t pid_ = -1;
  int port_ = 0;
  std::string address_;
  std::string log_path_;
  std::vector<std::string> startup_lines_;
};

}  // namespace autotm::testing

#endif  // AUTOTM_TESTS_E2E_SERVER_PROCESS_H_
