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
//
// With a second replica, the other outcome docs/DEPLOY.md describes: the
// expired job runs again on the other replica once space returns, and the
// holder's FAILED state is dropped; one plan is stored.
#include <signal.h>

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
#include "common/testing/text_count.h"
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
using ::autotm::testing::CountOccurrences;
using ::autotm::testing::ExampleServerTest;
using ::autotm::testing::ExpectNoSql;
using ::autotm::testing::LongSolveRequest;
using ::autotm::testing::RunCli;
using ::autotm::testing::ServerProcess;
using ::autotm::testing::ServerProcessOptions;
using ::autotm::testing::TestDataPath;
using ::autotm::testing::TotalTensorBytes;
using ::autotm::testing::WaitForHealth;
using ::autotm::testing::WaitUntilWorkerRuns;
using ::testing::HasSubstr;
using ::testing::Not;

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

  // Replica `id` into *server (its log in dir_/ID.log) and a client of it
  // that tries each call once (the test watches failures happen) into
  // *client. Probes every 0.2 s; a 2 s lease, so that a running job's
  // lease runs out while the database is full.
  void StartReplica(const std::string& id,
                    std::unique_ptr<ServerProcess>* server,
                    std::unique_ptr<Client>* client) {
    ServerProcessOptions options;
    options.db = uri_;
    options.log_path = absl::StrCat(dir_, "/", id, ".log");
    options.extra_args = {"--store-probe-seconds", "0.2",
                          "--lease-seconds",       "2",
                          "--replica-id",          id};
    absl::StatusOr<std::unique_ptr<ServerProcess>> started =
        ServerProcess::Start(options);
    ASSERT_TRUE(started.ok()) << started.status();
    *server = *std::move(started);
    ClientOptions client_options = DefaultClientOptions();
    client_options.max_attempts = 1;
    client_options.address = (*server)->address();
    absl::StatusOr<std::unique_ptr<Client>> connected =
        Client::Connect(client_options);
    ASSERT_TRUE(connected.ok()) << connected.status();
    *client = *std::move(connected);
  }

  // Replica pg-a (server_, client_) with the example's profile, the write
  // fault installed and off, and a long solve running on it.
  void StartSolveOnFirstReplica() {
    ASSERT_NO_FATAL_FAILURE(StartReplica("pg-a", &server_, &client_));
    ASSERT_TRUE(client_->UploadProfile(profile_).ok());
    ASSERT_TRUE(WaitForHealth(*client_, true));
    // The replica created the schema.
    ASSERT_TRUE(InstallWriteFault(uri_).ok());
    absl::StatusOr<v1::SolveJob> job = client_->CreateSolveJob(
        LongSolveRequest(graph_, host(), TotalTensorBytes(graph_) / 4));
    ASSERT_TRUE(job.ok()) << job.status();
    absl::StatusOr<v1::SolveJob> now = WaitUntilWorkerRuns(*client_, job->id());
    ASSERT_TRUE(now.ok()) << now.status();
    ASSERT_EQ(now->state(), v1::SolveJob::RUNNING)
        << "the solve ended before the database filled: " << now->DebugString();
    job_id_ = job->id();
  }

  // Waits for the watch through `client` to end with the job FAILED for
  // the full disk, the reason free of SQL.
  void ExpectFailedForFullDisk(Client& client) {
    absl::StatusOr<v1::SolveJob> final_job =
        client.WatchSolveJob(job_id_, nullptr, absl::Seconds(60));
    ASSERT_TRUE(final_job.ok()) << final_job.status();
    EXPECT_EQ(final_job->state(), v1::SolveJob::FAILED)
        << final_job->DebugString();
    EXPECT_EQ(final_job->termination(), v1::TERMINATION_FAILED);
    EXPECT_THAT(final_job->error(), HasSubstr("database cannot be written"));
    EXPECT_THAT(final_job->error(), HasSubstr("the disk is full"));
    EXPECT_THAT(final_job->error(), Not(HasSubstr("test fault")));
    ExpectNoSql(final_job->error());
  }

  std::string host() const { return profile_.host_class().name(); }

  int64_t StoredPlans() {
    pqxx::connection connection(uri_);
    pqxx::nontransaction txn(connection);
    return txn.exec("SELECT count(*) FROM plans")[0][0].as<int64_t>();
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
  std::string job_id_;
};

TEST_F(PgDiskFullTest, PostgresRunningJobFailsHealthTurnsAndAllRecovers) {
  ASSERT_NO_FATAL_FAILURE(StartSolveOnFirstReplica());
  const std::string id = job_id_;
  const uint64_t total = TotalTensorBytes(graph_);
  ASSERT_TRUE(SetWriteFault(uri_, "53100").ok());

  // The watch ends, with the job FAILED naming the storage.
  ASSERT_NO_FATAL_FAILURE(ExpectFailedForFullDisk(*client_));
  EXPECT_TRUE(WaitForHealth(*client_, false)) << server_->ReadLog();
  // Not stored yet: the database still says RUNNING.
  EXPECT_EQ(StoredJob(id).first, v1::SolveJob::RUNNING);

  // Cancel answers with the final job.
  absl::StatusOr<v1::SolveJob> cancelled = client_->CancelSolveJob(id);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->state(), v1::SolveJob::FAILED);

  // A new plan request returns at once with a clean error.
  const absl::Time started = absl::Now();
  CliRun plan =
      RunCli({AUTOTM_CLI_BINARY, "plan", "--server", server_->address(),
              "--graph", TestDataPath("example_cnn.graph.json"), "--host-class",
              host(), "--budget", "20%"},
             dir_);
  EXPECT_NE(plan.status, 0) << plan.err;
  EXPECT_LT(absl::Now() - started, absl::Seconds(30));
  EXPECT_THAT(plan.err, HasSubstr("database cannot be written")) << plan.err;
  EXPECT_THAT(plan.err, Not(HasSubstr("test fault")));
  ExpectNoSql(plan.err);
  absl::StatusOr<v1::SolveJob> refused =
      client_->CreateSolveJob(LongSolveRequest(graph_, host(), total / 5));
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
  while (StoredJob(id).first == v1::SolveJob::RUNNING &&
         absl::Now() < stored_by) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  const auto [state, error] = StoredJob(id);
  EXPECT_EQ(state, v1::SolveJob::FAILED);
  EXPECT_THAT(error, HasSubstr("the disk is full"));
  const std::string log = server_->ReadLog();
  // The detail is in the server's log, and only there.
  EXPECT_THAT(log, HasSubstr("database write failed: "));
  EXPECT_THAT(log, HasSubstr("test fault 53100"));
  EXPECT_THAT(log, HasSubstr(absl::StrCat("job ", id,
                                          ": its FAILED state is stored now")));
  // Failed renewals are logged once, not every quarter lease.
  EXPECT_EQ(CountOccurrences(log, "cannot renew the leases"), 1) << log;
  // Its lease ran out while the database was full, yet the replica did
  // not take the job over to run it again.
  EXPECT_EQ(
      CountOccurrences(log, absl::StrCat("job ", id, ": started on slot")), 1)
      << log;

  // New plans solve.
  v1::CreateSolveJobRequest quick = LongSolveRequest(graph_, host(), total / 2);
  quick.mutable_parameters()->clear_relative_gap();
  absl::StatusOr<v1::SolveJob> solved = client_->CreateSolveJob(quick);
  ASSERT_TRUE(solved.ok()) << solved.status();
  solved = client_->WatchSolveJob(solved->id(), nullptr, absl::Seconds(60));
  ASSERT_TRUE(solved.ok()) << solved.status();
  EXPECT_EQ(solved->state(), v1::SolveJob::SUCCEEDED) << solved->DebugString();
}

// Two replicas. The job's lease runs out while the database is full, and
// space returns while its holder (pg-a) is paused (SIGSTOP: that decides
// the race between pg-a storing its FAILED state and pg-b claiming the
// expired job, which DEPLOY.md describes): pg-b runs the job again and it
// SUCCEEDS; pg-a, resumed, drops its FAILED state (refused: the lease is
// pg-b's); the store holds one plan.
TEST_F(PgDiskFullTest, PostgresExpiredLeaseRunsAgainOnAnotherReplica) {
  ASSERT_NO_FATAL_FAILURE(StartSolveOnFirstReplica());
  std::unique_ptr<ServerProcess> other;
  std::unique_ptr<Client> other_client;
  ASSERT_NO_FATAL_FAILURE(StartReplica("pg-b", &other, &other_client));
  ASSERT_TRUE(SetWriteFault(uri_, "53100").ok());
  ASSERT_NO_FATAL_FAILURE(ExpectFailedForFullDisk(*client_));
  // pg-b tried to take the expired job over, and could not.
  EXPECT_TRUE(WaitForHealth(*other_client, false)) << other->ReadLog();

  ASSERT_EQ(::kill(server_->pid(), SIGSTOP), 0);
  ASSERT_TRUE(ClearWriteFault(uri_).ok());
  absl::StatusOr<v1::SolveJob> rerun =
      other_client->WatchSolveJob(job_id_, nullptr, absl::Seconds(90));
  ASSERT_EQ(::kill(server_->pid(), SIGCONT), 0);
  ASSERT_TRUE(rerun.ok()) << rerun.status();
  EXPECT_EQ(rerun->state(), v1::SolveJob::SUCCEEDED) << rerun->DebugString();
  EXPECT_EQ(StoredJob(job_id_).first, v1::SolveJob::SUCCEEDED);

  const std::string dropped =
      absl::StrCat("job ", job_id_, ": its FAILED state is dropped");
  const absl::Time end = absl::Now() + absl::Seconds(10);
  while (server_->ReadLog().find(dropped) == std::string::npos &&
         absl::Now() < end) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_THAT(server_->ReadLog(), HasSubstr(dropped));
  EXPECT_TRUE(WaitForHealth(*client_, true)) << server_->ReadLog();
  EXPECT_EQ(StoredJob(job_id_).first, v1::SolveJob::SUCCEEDED);
  // Started once on each replica, completed once, one plan stored.
  const std::string started = absl::StrCat("job ", job_id_, ": started");
  EXPECT_EQ(CountOccurrences(server_->ReadLog(), started), 1);
  EXPECT_EQ(CountOccurrences(other->ReadLog(), started), 1);
  EXPECT_EQ(CountOccurrences(other->ReadLog(),
                             absl::StrCat("job ", job_id_, ": succeeded")),
            1);
  EXPECT_EQ(StoredPlans(), 1);
}

}  // namespace
}  // namespace autotm
