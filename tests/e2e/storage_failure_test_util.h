// Helpers shared by the end-to-end tests of a full database: on SQLite
// (disk_full_test.cc, a file size limit) and on PostgreSQL
// (pg_disk_full_test.cc, disk_full raised by the server).
#ifndef AUTOTM_TESTS_E2E_STORAGE_FAILURE_TEST_UTIL_H_
#define AUTOTM_TESTS_E2E_STORAGE_FAILURE_TEST_UTIL_H_

#include <sys/wait.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "autotm/v1/graph.pb.h"
#include "autotm/v1/job.pb.h"
#include "autotm/v1/placement_service.pb.h"
#include "client/lib/client.h"
#include "gtest/gtest.h"

namespace autotm::testing {

// SQL (or SQLite) words that must never reach a client.
inline void ExpectNoSql(const std::string& text) {
  for (const char* word :
       {"INSERT", "UPDATE ", "SELECT", "BEGIN", "COMMIT", "ROLLBACK",
        "DELETE FROM", "sqlite", "SQLITE", " jobs ", "WHERE"}) {
    EXPECT_EQ(text.find(word), std::string::npos)
        << "\"" << word << "\" in: " << text;
  }
}

// Runs `args` to completion (bounded by timeout(1), 120 s) with its output
// in `dir`/cli.out and cli.err; returns its exit status and stderr.
struct CliRun {
  int status = -1;
  std::string err;
};
inline CliRun RunCli(const std::vector<std::string>& args,
                     const std::string& dir) {
  std::string command = "timeout 120";
  for (const std::string& arg : args) absl::StrAppend(&command, " '", arg, "'");
  absl::StrAppend(&command, " >", dir, "/cli.out 2>", dir, "/cli.err");
  CliRun run;
  const int status = std::system(command.c_str());
  run.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::FILE* f = std::fopen((dir + "/cli.err").c_str(), "r");
  if (f != nullptr) {
    std::array<char, 4096> buffer;
    size_t n;
    while ((n = std::fread(buffer.data(), 1, buffer.size(), f)) > 0) {
      run.err.append(buffer.data(), n);
    }
    std::fclose(f);
  }
  return run;
}

// Polls gRPC health until it answers `serving` or 10 s pass.
inline bool WaitForHealth(Client& client, bool serving) {
  const absl::Time end = absl::Now() + absl::Seconds(10);
  while (absl::Now() < end) {
    absl::StatusOr<bool> health = client.Health();
    if (health.ok() && *health == serving) return true;
    absl::SleepFor(absl::Milliseconds(100));
  }
  return false;
}

// One budget of `graph` on `host_class`, solved to a 1e-6 gap: proving it
// takes the solver a few seconds on the bundled example (the 20 s time
// limit bounds it), long enough to fill the disk under a running solve.
inline v1::CreateSolveJobRequest LongSolveRequest(const v1::Graph& graph,
                                                  const std::string& host_class,
                                                  uint64_t budget) {
  v1::CreateSolveJobRequest request;
  *request.mutable_graph()->mutable_inline_graph() = graph;
  request.set_host_class(host_class);
  request.add_budgets_bytes(budget);
  request.mutable_parameters()->set_relative_gap(1e-6);
  request.mutable_parameters()->set_time_limit_seconds(20);
  return request;
}

inline uint64_t TotalTensorBytes(const v1::Graph& graph) {
  uint64_t total = 0;
  for (const v1::Tensor& tensor : graph.tensors()) total += tensor.size_bytes();
  return total;
}

// Polls job `id` until its worker runs (at most 30 s): while it is QUEUED,
// and while it is RUNNING without progress from its worker. A job is
// RUNNING from its claim, before the server writes the worker's request
// file; a storage failure made in between fails that write instead of the
// store's (seen: "cannot write /tmp/autotm-solve-...: File too large"). The
// worker reports progress at once, so progress means the request is
// written. Returns the job as then.
inline absl::StatusOr<v1::SolveJob> WaitUntilWorkerRuns(Client& client,
                                                        const std::string& id) {
  const absl::Time end = absl::Now() + absl::Seconds(30);
  absl::StatusOr<v1::SolveJob> job = client.GetSolveJob(id);
  auto waiting = [](const v1::SolveJob& j) {
    return j.state() == v1::SolveJob::QUEUED ||
           (j.state() == v1::SolveJob::RUNNING && j.elapsed_seconds() <= 0 &&
            j.incumbent_us() <= 0);
  };
  while (job.ok() && waiting(*job) && absl::Now() < end) {
    absl::SleepFor(absl::Milliseconds(20));
    job = client.GetSolveJob(id);
  }
  return job;
}

}  // namespace autotm::testing

#endif  // AUTOTM_TESTS_E2E_STORAGE_FAILURE_TEST_UTIL_H_
