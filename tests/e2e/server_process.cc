#include "tests/e2e/server_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/subprocess.h"

#ifndef AUTOTM_SERVER_BINARY_PATH
#define AUTOTM_SERVER_BINARY_PATH "autotm-server"
#endif

namespace autotm::testing {
namespace {

constexpr char kListeningPrefix[] = "autotm-server listening on ";

int StatusToCode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

std::string Tail(const std::string& text, size_t max) {
  return text.size() <= max ? text : text.substr(text.size() - max);
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(
    const ServerProcessOptions& options) {
  if (options.db.empty()) {
    return absl::InvalidArgumentError("ServerProcess: options.db is empty");
  }
  std::string binary = options.binary;
  if (binary.empty()) {
    const char* env = std::getenv("AUTOTM_SERVER_BINARY");
    binary = env != nullptr && *env != '\0' ? env : AUTOTM_SERVER_BINARY_PATH;
  }
  std::vector<std::string> args = {binary, "--listen", options.listen, "--db",
                                   options.db};
  args.insert(args.end(), options.extra_args.begin(), options.extra_args.end());

  int log_fd = -1;
  if (!options.log_path.empty()) {
    log_fd = ::open(options.log_path.c_str(),
                    O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) {
      return absl::ErrnoToStatus(
          errno, absl::StrCat("cannot open ", options.log_path));
    }
  }
  // The server dies with the test process; its stderr goes to the log.
  absl::StatusOr<SpawnedChild> child =
      SpawnWithStdoutPipe({.argv = std::move(args), .stderr_fd = log_fd});
  if (log_fd >= 0) ::close(log_fd);
  if (!child.ok()) return child.status();
  const pid_t pid = child->pid;
  const int stdout_fd = child->stdout_fd;

  std::unique_ptr<ServerProcess> server(new ServerProcess());
  server->pid_ = pid;
  server->log_path_ = options.log_path;

  // Read stdout until the "listening on" line, EOF, or the deadline.
  const absl::Time deadline = absl::Now() + options.start_timeout;
  std::string buffer;
  absl::Status result = absl::DeadlineExceededError(absl::StrCat(
      binary, " did not print \"", kListeningPrefix, "...\" within ",
      absl::FormatDuration(options.start_timeout)));
  while (true) {
    const size_t newline = buffer.find('\n');
    if (newline != std::string::npos) {
      const std::string line = buffer.substr(0, newline);
      buffer.erase(0, newline + 1);
      if (!absl::StartsWith(line, kListeningPrefix)) {
        server->startup_lines_.push_back(line);
        continue;
      }
      const std::string address = line.substr(sizeof(kListeningPrefix) - 1);
      const size_t colon = address.rfind(':');
      int port = 0;
      if (colon == std::string::npos ||
          !absl::SimpleAtoi(address.substr(colon + 1), &port) || port <= 0) {
        result = absl::InternalError(
            absl::StrCat("unexpected start-up line: ", line));
        break;
      }
      server->port_ = port;
      server->address_ = address;
      result = absl::OkStatus();
      break;
    }
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    pollfd poll_fd = {stdout_fd, POLLIN, 0};
    const int ready = ::poll(
        &poll_fd, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;  // timeout: the loop re-checks the deadline
    char chunk[4096];
    const ssize_t n = ::read(stdout_fd, chunk, sizeof(chunk));
    if (n > 0) {
      buffer.append(chunk, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    // EOF: the server exited (or closed stdout) before listening.
    const int code = server->WaitFor(absl::Seconds(5));
    result = absl::InternalError(
        absl::StrCat(binary, " exited before listening (exit code ", code,
                     "); log:\n", Tail(server->ReadLog(), 4000)));
    break;
  }
  // The server prints nothing else on stdout; it ignores SIGPIPE.
  ::close(stdout_fd);
  if (!result.ok()) {
    server->Kill();
    return result;
  }
  return server;
}

ServerProcess::~ServerProcess() { Kill(); }

int ServerProcess::WaitFor(absl::Duration timeout) {
  if (pid_ <= 0) return -1;
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    int status = 0;
    const pid_t done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      pid_ = -1;
      return StatusToCode(status);
    }
    if (done < 0 && errno != EINTR) {  // not our child any more
      pid_ = -1;
      return -1;
    }
    if (absl::Now() >= deadline) return -1;
    absl::SleepFor(absl::Milliseconds(10));
  }
}

absl::StatusOr<int> ServerProcess::Terminate(absl::Duration timeout) {
  if (pid_ <= 0) {
    return absl::FailedPreconditionError("the server is not running");
  }
  ::kill(pid_, SIGTERM);
  const pid_t pid = pid_;
  const int code = WaitFor(timeout);
  if (pid_ > 0) {
    Kill();
    return absl::DeadlineExceededError(
        absl::StrCat("autotm-server (pid ", pid, ") still running ",
                     absl::FormatDuration(timeout), " after SIGTERM; killed"));
  }
  return code;
}

void ServerProcess::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

std::string ServerProcess::ReadLog() const {
  if (log_path_.empty()) return "";
  std::ifstream in(log_path_);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace autotm::testing
