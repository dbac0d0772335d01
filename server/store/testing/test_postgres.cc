#include "server/store/testing/test_postgres.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <pqxx/pqxx>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace autotm::server::testing {
namespace {

constexpr char kUser[] = "autotm";

std::string FindBindir() {
  if (const char* env = ::getenv("AUTOTM_PG_BINDIR"); env && *env) return env;
  if (::access("/usr/lib/postgresql/15/bin/initdb", X_OK) == 0) {
    return "/usr/lib/postgresql/15/bin";
  }
  return "";  // on $PATH
}

// A loopback port that was free a moment ago.
int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

// Runs argv, appending its output to `log`; returns its exit status (-1
// when it could not run).
int RunCommand(const std::vector<std::string>& args, const std::string& log) {
  std::vector<char*> argv;
  for (const std::string& arg : args)
    argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
    }
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  if (pid < 0) return -1;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string Tail(const std::string& path, size_t bytes = 2000) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string text = buffer.str();
  return text.size() > bytes ? text.substr(text.size() - bytes) : text;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TestPostgres>> TestPostgres::Start() {
  std::unique_ptr<TestPostgres> pg(new TestPostgres());
  pg->bindir_ = FindBindir();
  const std::string initdb =
      pg->bindir_.empty() ? "initdb" : pg->bindir_ + "/initdb";
  const std::string pg_ctl =
      pg->bindir_.empty() ? "pg_ctl" : pg->bindir_ + "/pg_ctl";
  if (!pg->bindir_.empty() && ::access(initdb.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(initdb,
                     " is missing: install Debian's postgresql "
                     "(deploy/install-deps.sh)"));
  }
  const char* tmpdir = ::getenv("TMPDIR");
  std::string pattern =
      absl::StrCat(tmpdir && *tmpdir ? tmpdir : "/tmp", "/autotm-pg-XXXXXX");
  if (::mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError(
        absl::StrCat("mkdtemp ", pattern, ": ", std::strerror(errno)));
  }
  pg->dir_ = pattern;
  pg->as_postgres_ = ::geteuid() == 0;
  if (pg->as_postgres_) {
    struct passwd* pw = ::getpwnam("postgres");
    if (pw == nullptr) {
      return absl::FailedPreconditionError(
          "running as root, but there is no `postgres` user to run initdb "
          "as (install Debian's postgresql)");
    }
    if (::chown(pg->dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
      return absl::InternalError(
          absl::StrCat("chown ", pg->dir_, ": ", std::strerror(errno)));
    }
  }
  auto as_owner = [&](std::vector<std::string> args) {
    if (pg->as_postgres_) {
      args.insert(args.begin(), {"runuser", "-u", "postgres", "--"});
    }
    return args;
  };
  const std::string data = pg->dir_ + "/data";
  const std::string log = pg->dir_ + "/commands.log";
  // --no-sync and fsync=off: a test cluster need not survive power loss.
  if (RunCommand(as_owner({initdb, "-D", data, "-U", kUser, "-A", "trust", "-E",
                           "UTF8", "--locale=C", "--no-sync"}),
                 log) != 0) {
    return absl::InternalError(absl::StrCat("initdb failed:\n", Tail(log)));
  }
  // The port was free when chosen; another process may take it before the
  // server binds it, so a failed start is retried on a new port.
  for (int attempt = 0; attempt < 3 && !pg->started_; ++attempt) {
    pg->port_ = FreePort();
    std::string options = absl::StrCat(
        "-p ", pg->port_, " -k ", pg->dir_,
        " -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off"
        " -c full_page_writes=off -c max_connections=200"
        " -c shared_buffers=32MB");
    pg->started_ =
        RunCommand(as_owner({pg_ctl, "-D", data, "-l", pg->dir_ + "/server.log",
                             "-w", "-t", "60", "-o", options, "start"}),
                   log) == 0;
  }
  if (!pg->started_) {
    return absl::InternalError(absl::StrCat("pg_ctl start failed:\n", Tail(log),
                                            "\n",
                                            Tail(pg->dir_ + "/server.log")));
  }
  pg->StartReaper(pg_ctl);
  return pg;
}

absl::StatusOr<TestPostgres*> TestPostgres::Shared() {
  // Function statics: the cluster is stopped when the holder is destroyed
  // at exit; the error (if any) is leaked on purpose.
  static std::once_flag once;
  static std::unique_ptr<TestPostgres> holder;
  static absl::Status* error = nullptr;
  std::call_once(once, [] {
    absl::StatusOr<std::unique_ptr<TestPostgres>> started = Start();
    if (started.ok()) {
      holder = *std::move(started);
    } else {
      error = new absl::Status(started.status());
    }
  });
  if (error != nullptr) return *error;
  return holder.get();
}

void TestPostgres::StartReaper(const std::string& pg_ctl) {
  // The reaper is a shell that waits for EOF on a pipe whose only write end
  // this process holds (close-on-exec, so the servers a test starts do not
  // inherit it): when this process ends in any way, it stops the cluster
  // and deletes the directory.
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return;
  const std::string as = as_postgres_ ? "runuser -u postgres -- " : "";
  std::string script = absl::StrCat(
      "cat >/dev/null; ", as, "'", pg_ctl, "' -D '", dir_,
      "/data' -m immediate -w stop >/dev/null 2>&1; rm -rf '", dir_, "'");
  const char* argv[] = {"/bin/sh", "-c", script.c_str(), nullptr};
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[0], STDIN_FILENO);  // the copy is not close-on-exec
    ::setsid();  // not in the test's process group: outlives its kill
    ::execv(argv[0], const_cast<char* const*>(argv));
    ::_exit(127);
  }
  ::close(fds[0]);
  if (pid < 0) {
    ::close(fds[1]);
    return;
  }
  reaper_pid_ = pid;
  reaper_fd_ = fds[1];
}

TestPostgres::~TestPostgres() {
  if (started_) {
    const std::string pg_ctl = bindir_.empty() ? "pg_ctl" : bindir_ + "/pg_ctl";
    std::vector<std::string> args = {pg_ctl,      "-D", dir_ + "/data", "-m",
                                     "immediate", "-w", "stop"};
    if (as_postgres_) {
      args.insert(args.begin(), {"runuser", "-u", "postgres", "--"});
    }
    RunCommand(args, dir_ + "/commands.log");
  }
  if (!dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  if (reaper_fd_ >= 0) {
    ::close(reaper_fd_);  // the reaper finds nothing left to do
    int status = 0;
    while (::waitpid(reaper_pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

std::string TestPostgres::UriOf(const std::string& database) const {
  return absl::StrCat("postgresql://", kUser, "@127.0.0.1:", port_, "/",
                      database);
}

absl::StatusOr<std::string> TestPostgres::NewDatabase() {
  const std::string name =
      absl::StrCat("test_", ::getpid(), "_", next_database_++);
  try {
    pqxx::connection connection(AdminUri());
    pqxx::nontransaction txn(connection);
    txn.exec(absl::StrCat("CREATE DATABASE ", name));
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("cannot create database ", name, ": ", e.what()));
  }
  return UriOf(name);
}

}  // namespace autotm::server::testing
