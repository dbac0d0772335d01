// End to end, issue 18 finding 8: retention. Against a real autotm-server:
//   - `autotm admin prune` (a real CLI process) deletes 30 distinct
//     submitted graphs no job refers to (then a finished job), shrinks
//     the database file (VACUUM), and leaves a running job, its graph and
//     its host class's work list alone;
//   - the server's background pruning (--retain-max-jobs with a short
//     --prune-interval-minutes) keeps only the newest finished jobs, on
//     SQLite and on PostgreSQL (issue 19);
//   - PruneStore needs the operator role (e2e_security_test's matrix).

#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "autotm/v1/graph.pb.h"
#include "autotm/v1/placement_service.pb.h"
#include "autotm/v1/profile.pb.h"
#include "autotm/v1/profile_service.pb.h"
#include "client/common/proto_json.h"
#include "client/lib/client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/store/testing/test_postgres.h"
#include "tests/e2e/example_server_test.h"
#include "tests/e2e/server_process.h"

namespace autotm {
namespace {

using ::autotm::testing::ExampleServerTest;
using ::autotm::testing::ServerProcess;
using ::autotm::testing::ServerProcessOptions;
using ::autotm::testing::TestDataPath;
using ::testing::HasSubstr;

// Runs the autotm CLI with `args`; returns its exit status, stdout in *out.
int RunCli(const std::string& args, const std::string& dir, std::string* out) {
  const std::string command =
      absl::StrCat("timeout 300 ", AUTOTM_CLI_BINARY, " ", args, " >", dir,
                   "/cli.out 2>", dir, "/cli.err");
  const int status = std::system(command.c_str());
  out->clear();
  for (const char* name : {"/cli.out", "/cli.err"}) {
    std::FILE* f = std::fopen((dir + name).c_str(), "r");
    if (f == nullptr) continue;
    std::array<char, 4096> buffer;
    size_t n;
    while ((n = std::fread(buffer.data(), 1, buffer.size(), f)) > 0) {
      out->append(buffer.data(), n);
    }
    std::fclose(f);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

uint64_t FileBytes(const std::string& path) {
  struct stat info;
  return ::stat(path.c_str(), &info) == 0 ? static_cast<uint64_t>(info.st_size)
                                          : 0;
}

class RetentionTest : public ExampleServerTest {
 protected:
  RetentionTest() : ExampleServerTest("retention") {}

  void StartServer(std::vector<std::string> extra_args) {
    ClientOptions options = DefaultClientOptions();
    options.deadline = absl::Seconds(120);
    ExampleServerTest::StartServer(std::move(extra_args), options);
  }

  // As StartServer, on the store `db` (a PostgreSQL URI).
  void StartServerOn(const std::string& db,
                     std::vector<std::string> extra_args) {
    ServerProcessOptions options;
    options.db = db;
    options.log_path = dir_ + "/server.log";
    options.extra_args = std::move(extra_args);
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        ServerProcess::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ClientOptions client_options = DefaultClientOptions();
    client_options.deadline = absl::Seconds(120);
    client_options.address = server_->address();
    absl::StatusOr<std::unique_ptr<Client>> client =
        Client::Connect(client_options);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
  }

  // With --retain-max-jobs 1 and a prune every 0.3 s, only the newest of
  // two finished jobs stays (`db`: a PostgreSQL URI, or empty for the
  // SQLite file of StartServer).
  void ExpectBackgroundPruneKeepsTheNewest(const std::string& db) {
    const std::vector<std::string> args = {"--prune-interval-minutes", "0.005",
                                           "--retain-max-jobs", "1"};
    if (db.empty()) {
      ASSERT_NO_FATAL_FAILURE(StartServer(args));
    } else {
      ASSERT_NO_FATAL_FAILURE(StartServerOn(db, args));
    }
    ASSERT_TRUE(client_->UploadProfile(profile_).ok());
    const uint64_t total = TotalBytes(graph_);
    const std::string first = FinishedJob(total / 2);
    const std::string second = FinishedJob(total / 3);
    ASSERT_FALSE(first.empty());
    ASSERT_FALSE(second.empty());
    // Within a few pruning rounds (0.3 s apart) only the newest is left.
    const absl::Time end = absl::Now() + absl::Seconds(20);
    while (client_->GetSolveJob(first).ok() && absl::Now() < end) {
      absl::SleepFor(absl::Milliseconds(100));
    }
    EXPECT_TRUE(absl::IsNotFound(client_->GetSolveJob(first).status()));
    EXPECT_TRUE(client_->GetSolveJob(second).ok());
    EXPECT_THAT(server_->ReadLog(), HasSubstr("retention: deleted 1 job(s)"));
    client_.reset();
    EXPECT_EQ(server_->Terminate().value(), 0);
  }

  uint64_t TotalBytes(const v1::Graph& graph) {
    uint64_t total = 0;
    for (const v1::Tensor& tensor : graph.tensors()) {
      total += tensor.size_bytes();
    }
    return total;
  }

  // A finished job of the bundled example (a quick solve).
  std::string FinishedJob(uint64_t budget) {
    v1::CreateSolveJobRequest request;
    *request.mutable_graph()->mutable_inline_graph() = graph_;
    request.set_host_class(profile_.host_class().name());
    request.add_budgets_bytes(budget);
    request.mutable_parameters()->set_time_limit_seconds(5);
    absl::StatusOr<v1::SolveJob> job = client_->CreateSolveJob(request);
    EXPECT_TRUE(job.ok()) << job.status();
    if (!job.ok()) return "";
    absl::StatusOr<v1::SolveJob> done =
        client_->WatchSolveJob(job->id(), nullptr, absl::Seconds(120));
    EXPECT_TRUE(done.ok()) << done.status();
    EXPECT_EQ(done->state(), v1::SolveJob::SUCCEEDED) << done->error();
    return job->id();
  }
};

TEST_F(RetentionTest, AdminPruneShrinksTheDatabaseAndSparesLiveJobs) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--prune-interval-minutes", "0"}));
  ASSERT_TRUE(client_->UploadProfile(profile_).ok());

  // A job that stays running for the whole test: DenseNet-264 at 10% with
  // a two-minute limit (cancelled at the end).
  std::string out;
  ASSERT_EQ(RunCli(absl::StrCat("zoo export --model densenet264 --batch 2 "
                                "--out ",
                                dir_, "/dn.json"),
                   dir_, &out),
            0)
      << out;
  ASSERT_EQ(RunCli(absl::StrCat("profile synth --graph ", dir_,
                                "/dn.json --out ", dir_, "/dnp.json"),
                   dir_, &out),
            0)
      << out;
  v1::Graph big;
  v1::Profile big_profile;
  ASSERT_TRUE(client::ReadProtoJsonFile(dir_ + "/dn.json", &big).ok());
  ASSERT_TRUE(client::ReadProtoJsonFile(dir_ + "/dnp.json", &big_profile).ok());
  ASSERT_TRUE(client_->UploadProfile(big_profile).ok());
  v1::CreateSolveJobRequest long_request;
  *long_request.mutable_graph()->mutable_inline_graph() = big;
  long_request.set_host_class(big_profile.host_class().name());
  long_request.add_budgets_bytes(TotalBytes(big) / 10);
  long_request.mutable_parameters()->set_time_limit_seconds(120);
  long_request.mutable_parameters()->set_relative_gap(1e-6);
  absl::StatusOr<v1::SolveJob> running = client_->CreateSolveJob(long_request);
  ASSERT_TRUE(running.ok()) << running.status();

  // 30 distinct graphs submitted for a host class nobody profiled (each
  // stored, and on that class's work list).
  for (int i = 0; i < 30; ++i) {
    v1::Graph distinct = graph_;
    distinct.set_name(absl::StrCat("distinct-", i));
    Client::PlanOptions options;
    options.deadline = absl::Seconds(60);
    absl::StatusOr<v1::Plan> plan =
        client_->GetPlan(distinct, "nobody-profiled-this", 1 << 20, options);
    ASSERT_TRUE(absl::IsNotFound(plan.status())) << plan.status();
  }
  v1::GetWorkListRequest work;
  work.set_host_class("nobody-profiled-this");
  absl::StatusOr<v1::WorkList> before = client_->GetWorkList(work);
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(before->graphs(), 30);

  // The long job is running now (one worker slot).
  absl::Time end = absl::Now() + absl::Seconds(60);
  while (client_->GetSolveJob(running->id())->state() !=
             v1::SolveJob::RUNNING &&
         absl::Now() < end) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_EQ(client_->GetSolveJob(running->id())->state(),
            v1::SolveJob::RUNNING);
  const uint64_t file_before =
      FileBytes(dir_ + "/autotm.db") + FileBytes(dir_ + "/autotm.db-wal");

  ASSERT_EQ(RunCli(absl::StrCat("admin prune --server ", server_->address(),
                                " --jobs-days 0.00000001 --unreferenced-days "
                                "0.00000001 --grace 0 --vacuum --json"),
                   dir_, &out),
            0)
      << out;
  EXPECT_THAT(out, HasSubstr("\"graphs_deleted\": 30,")) << out;
  EXPECT_THAT(out, HasSubstr("\"jobs_deleted\": 0,")) << out;

  // The work list of the unprofiled class is empty; the running job, its
  // graph and its work-list entry are untouched.
  absl::StatusOr<v1::WorkList> after = client_->GetWorkList(work);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->graphs(), 0);
  absl::StatusOr<v1::SolveJob> still = client_->GetSolveJob(running->id());
  ASSERT_TRUE(still.ok()) << still.status();
  EXPECT_EQ(still->state(), v1::SolveJob::RUNNING);
  v1::GetWorkListRequest big_work;
  big_work.set_host_class(big_profile.host_class().name());
  absl::StatusOr<v1::WorkList> big_list = client_->GetWorkList(big_work);
  ASSERT_TRUE(big_list.ok()) << big_list.status();
  EXPECT_EQ(big_list->graphs(), 1);

  const uint64_t file_after =
      FileBytes(dir_ + "/autotm.db") + FileBytes(dir_ + "/autotm.db-wal");
  EXPECT_LT(file_after, file_before);
  std::printf("database + WAL: %llu -> %llu bytes\n",
              static_cast<unsigned long long>(file_before),
              static_cast<unsigned long long>(file_after));

  ASSERT_TRUE(client_->CancelSolveJob(running->id()).ok());
  absl::StatusOr<v1::SolveJob> cancelled =
      client_->WatchSolveJob(running->id(), nullptr, absl::Seconds(60));
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->state(), v1::SolveJob::CANCELLED);

  // Now finished: the next prune deletes it (and its plan), and the
  // unreferenced graph after it.
  ASSERT_EQ(RunCli(absl::StrCat("admin prune --server ", server_->address(),
                                " --jobs-days 0.00000001 --unreferenced-days "
                                "0.00000001 --grace 0 --json"),
                   dir_, &out),
            0)
      << out;
  EXPECT_THAT(out, HasSubstr("\"jobs_deleted\": 1,")) << out;
  EXPECT_TRUE(absl::IsNotFound(client_->GetSolveJob(running->id()).status()));
  client_.reset();
  EXPECT_EQ(server_->Terminate().value(), 0);
}

TEST_F(RetentionTest, BackgroundPruneKeepsTheNewestFinishedJobs) {
  ExpectBackgroundPruneKeepsTheNewest("");
}

// Issue 19: the same on PostgreSQL.
TEST_F(RetentionTest, BackgroundPruneKeepsTheNewestFinishedJobsOnPostgres) {
  absl::StatusOr<server::testing::TestPostgres*> pg =
      server::testing::TestPostgres::Shared();
  ASSERT_TRUE(pg.ok()) << pg.status();
  absl::StatusOr<std::string> uri = (*pg)->NewDatabase();
  ASSERT_TRUE(uri.ok()) << uri.status();
  ExpectBackgroundPruneKeepsTheNewest(*uri);
}

}  // namespace
}  // namespace autotm
