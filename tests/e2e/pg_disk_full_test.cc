// End to end, issue 19: the shared PostgreSQL database full under a real
// autotm-server replica (--db postgresql://..., a fresh database of a
// cluster the test starts). Mid-solve, every insert and update of autotm's
// tables starts failing with SQLSTATE 53100 (disk_full), raised by the
// PostgreSQL server itself (a trigger: server/store/testing/write_fault.h;
// a real full tablespace is server_postgres_storage_test's). The replica
// must then, as a SQLite server does (disk_full_test.cc):
//   - end the running job FAILED naming the storage (its plan cannot be
//     stored), so that its watch ends and cancel answers with it;
//   - answer `autotm plan` at once with an error, never SQL text;
//   - report NOT_SERVING on gRPC health;
// and once space returns: SERVING again, the job's FAILED state stored in
// the database (its lease ran out meanwhile: the replica must not have
// taken the job over and run it again), and new plans solve.
#include <cstdint>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "autotm/v1/job.pb.h"
#include "client/lib/client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/store/testing/test_postgres.h"
#include "server/store/testing/write_fault.h"
#include "tests/e2e/example_server_test.h"
#include "tests/e2e/server_process.h"
#include "tests/e2e/storage_failure_test_util.h"

namespace autotm {
namespace {

using ::autotm::server::testing::ClearWriteFault;
using ::autotm::server::testing::InstallWriteFault;
using ::autotm::server::testing::SetWriteFault;
using ::autotm::server::testing::TestPostgres;
using ::autotm::testing::CliRun;
using ::autotm::testing::ExampleServerTest;
using ::autotm::testing::ExpectNoSql;
using ::autotm::testing::LongSolveRequest;
using ::autotm::testing::RunCli;
using ::autotm::testing::ServerProcess;
using ::autotm::testing::ServerProcessOptions;
using ::autotm::testing::TestDataPath;
using ::autotm::testing::TotalTensorBytes;
using ::autotm::testing::WaitForHealth;
using ::autotm::testing::WaitWhileQueued;
using ::testing::HasSubstr;
using ::testing::Not;

// Occurrences of `needle` in `text`.
int Count(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t at = text.find(needle); at != std::string::npos;
       at = text.find(needle, at + needle.size())) {
    ++n;
  }
  return n;
}

class PgDiskFullTest : public ExampleServerTest {
 protected:
  PgDiskFullTest() : ExampleServerTest("pgdiskfull") {}

  void SetUp() override {
    ExampleServerTest::SetUp();
    if (HasFatalFailure()) return;
    absl::StatusOr<TestPostgres*> pg = TestPostgres::Shared();
    ASSERT_TRUE(pg.ok()) << pg.status();
    absl::StatusOr<std::string> uri = (*pg)->NewDatabase();
    ASSERT_TRUE(uri.ok()) << uri.status();
    uri_ = *uri;
  }

  // One replica; a client that tries each call once (the test watches
  // failures happen). Probes every 0.2 s; a 2 s lease, so that the running
  // job's lease runs out while the database is full.
  void StartReplica() {
    ServerProcessOptions options;
    options.db = uri_;
    options.log_path = dir_ + "/server.log";
    options.extra_args = {"--store-probe-seconds", "0.2",
                          "--lease-seconds",       "2",
                          "--replica-id",          "pg-a"};
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        ServerProcess::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ClientOptions client_options = DefaultClientOptions();
    client_options.max_attempts = 1;
    client_options.address = server_->address();
    absl::StatusOr<std::unique_ptr<Client>> client =
        Client::Connect(client_options);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
  }

  // The job's state and error as the database holds them.
  std::pair<v1::SolveJob::State, std::string> StoredJob(const std::string& id) {
    pqxx::connection connection(uri_);
    pqxx::nontransaction txn(connection);
    pqxx::result r =
        txn.exec_params("SELECT state, job FROM jobs WHERE id = $1", id);
    if (r.empty()) return {v1::SolveJob::STATE_UNSPECIFIED, ""};
    v1::SolveJob job;
    pqxx::binarystring bytes(r[0][1]);
    job.ParseFromString(bytes.str());
    return {static_cast<v1::SolveJob::State>(r[0][0].as<int>()), job.error()};
  }

  std::string uri_;
};

TEST_F(PgDiskFullTest, PostgresRunningJobFailsHealthTurnsAndAllRecovers) {
  ASSERT_NO_FATAL_FAILURE(StartReplica());
  ASSERT_TRUE(client_->UploadProfile(profile_).ok());
  ASSERT_TRUE(WaitForHealth(*client_, true));
  // The replica created the schema; the fault is off until set.
  ASSERT_TRUE(InstallWriteFault(uri_).ok());
  const uint64_t total = TotalTensorBytes(graph_);
  const std::string host = profile_.host_class().name();

  absl::StatusOr<v1::SolveJob> job =
      client_->CreateSolveJob(LongSolveRequest(graph_, host, total / 4));
  ASSERT_TRUE(job.ok()) << job.status();
  absl::StatusOr<v1::SolveJob> now = WaitWhileQueued(*client_, job->id());
  ASSERT_TRUE(now.ok()) << now.status();
  ASSERT_EQ(now->state(), v1::SolveJob::RUNNING)
      << "the solve ended before the database filled: " << now->DebugString();
  ASSERT_TRUE(SetWriteFault(uri_, "53100").ok());

  // The watch ends, with the job FAILED naming the storage.
  absl::StatusOr<v1::SolveJob> final_job =
      client_->WatchSolveJob(job->id(), nullptr, absl::Seconds(60));
  ASSERT_TRUE(final_job.ok()) << final_job.status();
  EXPECT_EQ(final_job->state(), v1::SolveJob::FAILED)
      << final_job->DebugString();
  EXPECT_EQ(final_job->termination(), v1::TERMINATION_FAILED);
  EXPECT_THAT(final_job->error(), HasSubstr("database cannot be written"));
  EXPECT_THAT(final_job->error(), HasSubstr("the disk is full"));
  EXPECT_THAT(final_job->error(), Not(HasSubstr("test fault")));
  ExpectNoSql(final_job->error());
  EXPECT_TRUE(WaitForHealth(*client_, false)) << server_->ReadLog();
  // Not stored yet: the database still says RUNNING.
  EXPECT_EQ(StoredJob(job->id()).first, v1::SolveJob::RUNNING);

  // Cancel answers with the final job.
  absl::StatusOr<v1::SolveJob> cancelled = client_->CancelSolveJob(job->id());
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->state(), v1::SolveJob::FAILED);

  // A new plan request returns at once with a clean error.
  const absl::Time started = absl::Now();
  CliRun plan =
      RunCli({AUTOTM_CLI_BINARY, "plan", "--server", server_->address(),
              "--graph", TestDataPath("example_cnn.graph.json"), "--host-class",
              host, "--budget", "20%"},
             dir_);
  EXPECT_NE(plan.status, 0) << plan.err;
  EXPECT_LT(absl::Now() - started, absl::Seconds(30));
  EXPECT_THAT(plan.err, HasSubstr("database cannot be written")) << plan.err;
  EXPECT_THAT(plan.err, Not(HasSubstr("test fault")));
  ExpectNoSql(plan.err);
  absl::StatusOr<v1::SolveJob> refused =
      client_->CreateSolveJob(LongSolveRequest(graph_, host, total / 5));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable)
      << refused.status();
  ExpectNoSql(std::string(refused.status().message()));
  ASSERT_TRUE(server_->running());
  // Longer than the lease: it has run out in the database.
  absl::SleepFor(absl::Seconds(3));

  // Space returns: SERVING again, and the FAILED state gets stored.
  ASSERT_TRUE(ClearWriteFault(uri_).ok());
  EXPECT_TRUE(WaitForHealth(*client_, true)) << server_->ReadLog();
  const absl::Time stored_by = absl::Now() + absl::Seconds(10);
  while (StoredJob(job->id()).first == v1::SolveJob::RUNNING &&
         absl::Now() < stored_by) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  const auto [state, error] = StoredJob(job->id());
  EXPECT_EQ(state, v1::SolveJob::FAILED);
  EXPECT_THAT(error, HasSubstr("the disk is full"));
  const std::string log = server_->ReadLog();
  // The detail is in the server's log, and only there.
  EXPECT_THAT(log, HasSubstr("database write failed: "));
  EXPECT_THAT(log, HasSubstr("test fault 53100"));
  EXPECT_THAT(log, HasSubstr(absl::StrCat("job ", job->id(),
                                          ": its FAILED state is stored now")));
  // Failed renewals are logged once, not every quarter lease.
  EXPECT_EQ(Count(log, "cannot renew the leases"), 1) << log;
  // Its lease ran out while the database was full, yet the replica did
  // not take the job over to run it again.
  EXPECT_EQ(Count(log, absl::StrCat("job ", job->id(), ": started on slot")), 1)
      << log;

  // New plans solve.
  v1::CreateSolveJobRequest quick = LongSolveRequest(graph_, host, total / 2);
  quick.mutable_parameters()->clear_relative_gap();
  absl::StatusOr<v1::SolveJob> solved = client_->CreateSolveJob(quick);
  ASSERT_TRUE(solved.ok()) << solved.status();
  solved = client_->WatchSolveJob(solved->id(), nullptr, absl::Seconds(60));
  ASSERT_TRUE(solved.ok()) << solved.status();
  EXPECT_EQ(solved->state(), v1::SolveJob::SUCCEEDED) << solved->DebugString();
}

}  // namespace
}  // namespace autotm
