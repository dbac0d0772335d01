// A throwaway PostgreSQL cluster for tests: initdb + pg_ctl in a temporary
// directory, listening on a free loopback port and on a unix socket in that
// directory, stopped (immediate mode) and deleted when the object goes.
//
// If the test process dies without running the destructor (a crash, a
// ctest timeout's kill), a reaper process started with the cluster stops
// it and deletes the directory.
//
// Start-up costs about a second (initdb), so a test binary starts one
// cluster (Shared()) and gives each test a fresh database (NewDatabase(),
// tens of milliseconds).
//
// initdb refuses to run as root: when the test runs as root, the cluster's
// files are owned by and its commands run as the `postgres` user (Debian's
// postgresql package creates it) through runuser. The binaries are found in
// $AUTOTM_PG_BINDIR, else /usr/lib/postgresql/15/bin, else on $PATH.
//
// Thread safety: NewDatabase may be called from any thread.
#ifndef AUTOTM_SERVER_STORE_TESTING_TEST_POSTGRES_H_
#define AUTOTM_SERVER_STORE_TESTING_TEST_POSTGRES_H_

#include <sys/types.h>

#include <atomic>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace autotm::server::testing {

class TestPostgres {
 public:
  // Creates, starts and waits for a new cluster. FailedPrecondition when
  // PostgreSQL's binaries are missing; Internal (with the tail of the
  // server log) when initdb or the start fails.
  static absl::StatusOr<std::unique_ptr<TestPostgres>> Start();

  // The process-wide cluster, started on first use and stopped at exit;
  // the error of its start if it failed (then every call returns it).
  static absl::StatusOr<TestPostgres*> Shared();

  ~TestPostgres();
  TestPostgres(const TestPostgres&) = delete;
  TestPostgres& operator=(const TestPostgres&) = delete;

  // Creates an empty database and returns its URI,
  // "postgresql://<user>@127.0.0.1:<port>/<name>".
  absl::StatusOr<std::string> NewDatabase();

  // The URI of the maintenance database "postgres".
  std::string AdminUri() const { return UriOf("postgres"); }
  std::string UriOf(const std::string& database) const;
  int port() const { return port_; }
  const std::string& dir() const { return dir_; }

 private:
  TestPostgres() = default;
  void StartReaper(const std::string& pg_ctl);

  std::string dir_;     // temporary directory; data/ and the socket
  std::string bindir_;  // where initdb and pg_ctl are
  bool as_postgres_ = false;
  int port_ = 0;
  bool started_ = false;
  std::atomic<int> next_database_{0};
  pid_t reaper_pid_ = -1;
  int reaper_fd_ = -1;  // write end of the reaper's pipe
};

}  // namespace autotm::server::testing

#endif  // AUTOTM_SERVER_STORE_TESTING_TEST_POSTGRES_H_
