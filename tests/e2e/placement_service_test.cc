// End to end: the real autotm-server (with its autotm-solve-worker
// processes) on 127.0.0.1:0 and the real autotm::Client. Upload -> plan ->
// cache hit (byte-identical); cancel of queued and running jobs; priority
// order; kill -9 and restart with queued jobs; the documented error codes.

#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "autotm/v1/placement_service.grpc.pb.h"
#include "client/common/proto_json.h"
#include "client/lib/client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solver/graph_model.h"
#include "solver/testing/test_graphs.h"
#include "tests/e2e/long_solve_graph.h"
#include "tests/e2e/test_dir.h"

#ifndef AUTOTM_SERVER_BINARY
#error "AUTOTM_SERVER_BINARY must name autotm-server"
#endif

namespace autotm {
namespace {

using ::autotm::solver::testing::MustGraph;
using ::autotm::testing::kLongSolveHostClass;
using ::autotm::testing::LongSolveBudget;
using ::autotm::testing::LongSolveGraph;
using ::autotm::testing::LongSolveJob;
using ::autotm::testing::LongSolveProfile;
using ::autotm::testing::MakeTestDir;
using ::autotm::testing::RemoveTestDirIfPassed;
using ::testing::HasSubstr;

constexpr uint64_t kMiB = uint64_t{1} << 20;

std::string TestData(const std::string& name) {
  const char* root = std::getenv("AUTOTM_SOURCE_DIR");
  return absl::StrCat(root != nullptr ? root : ".", "/tests/testdata/", name);
}

// One autotm-server child process.
class ServerProcess {
 public:
  ~ServerProcess() { Kill(SIGKILL); }

  // Starts the server on 127.0.0.1:0 and waits for its "listening on" line.
  void Start(const std::string& db, const std::vector<std::string>& extra) {
    int out[2];
    ASSERT_EQ(::pipe(out), 0);
    std::vector<std::string> args = {
        AUTOTM_SERVER_BINARY, "--listen", "127.0.0.1:0", "--db", db,
        "--log-level",        "warn"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::dup2(out[1], STDOUT_FILENO);
      ::close(out[0]);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    std::string line;
    char c;
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (absl::Now() < deadline && ::read(out[0], &c, 1) == 1) {
      if (c == '\n') break;
      line += c;
    }
    ::close(out[0]);
    absl::string_view rest = line;
    ASSERT_TRUE(absl::ConsumePrefix(&rest, "autotm-server listening on "))
        << "server said: " << line;
    address_ = std::string(rest);
  }

  void Kill(int signal) {
    if (pid_ <= 0) return;
    ::kill(pid_, signal);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  const std::string& address() const { return address_; }

 private:
  pid_t pid_ = -1;
  std::string address_;
};

class PlacementServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::string> dir = MakeTestDir("placement");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = *dir;
    db_ = dir_ + "/autotm.db";
    ASSERT_TRUE(client::ReadProtoJsonFile(TestData("example_cnn.graph.json"),
                                          &cnn_graph_)
                    .ok());
    ASSERT_TRUE(client::ReadProtoJsonFile(TestData("example_cnn.profile.json"),
                                          &cnn_profile_)
                    .ok());
    long_graph_ = LongSolveGraph();
  }

  void TearDown() override {
    client_.reset();
    server_.reset();
    RemoveTestDirIfPassed(dir_);
  }

  void StartServer(const std::vector<std::string>& extra = {}) {
    server_ = std::make_unique<ServerProcess>();
    ASSERT_NO_FATAL_FAILURE(server_->Start(db_, extra));
    ClientOptions options;
    options.address = server_->address();
    options.deadline = absl::Seconds(20);
    auto client = Client::Connect(options);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
  }

  void UploadProfiles() {
    auto cnn = client_->UploadProfile(cnn_profile_);
    ASSERT_TRUE(cnn.ok()) << cnn.status();
    auto long_solve = client_->UploadProfile(LongSolveProfile());
    ASSERT_TRUE(long_solve.ok()) << long_solve.status();
  }

  // A job that runs until its time limit or its cancellation.
  static v1::CreateSolveJobRequest LongJob(double time_limit = 60,
                                           int priority = 0) {
    v1::CreateSolveJobRequest request = LongSolveJob(time_limit);
    request.set_priority(priority);
    return request;
  }

  v1::CreateSolveJobRequest CnnJob(uint64_t budget, int priority = 0) {
    v1::CreateSolveJobRequest request;
    *request.mutable_graph()->mutable_inline_graph() = cnn_graph_;
    request.set_host_class(cnn_profile_.host_class().name());
    request.add_budgets_bytes(budget);
    request.set_priority(priority);
    return request;
  }

  v1::SolveJob WaitFinal(const std::string& id, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    v1::SolveJob job;
    while (absl::Now() < deadline) {
      auto got = client_->GetSolveJob(id);
      EXPECT_TRUE(got.ok()) << got.status();
      if (!got.ok()) return job;
      job = *got;
      if (job.state() >= v1::SolveJob::SUCCEEDED) return job;
      absl::SleepFor(absl::Milliseconds(50));
    }
    ADD_FAILURE() << "job " << id << " not final after " << timeout;
    return job;
  }

  void WaitRunning(const std::string& id) {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (absl::Now() < deadline) {
      auto got = client_->GetSolveJob(id);
      ASSERT_TRUE(got.ok());
      if (got->state() == v1::SolveJob::RUNNING && got->incumbent_us() > 0) {
        return;
      }
      ASSERT_EQ(got->state() <= v1::SolveJob::RUNNING, true)
          << "job ended before it could be observed running: " << got->error();
      absl::SleepFor(absl::Milliseconds(50));
    }
    FAIL() << "job " << id << " never ran with an incumbent";
  }

  std::string dir_;
  std::string db_;
  v1::Graph cnn_graph_;
  v1::Profile cnn_profile_;
  v1::Graph long_graph_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<Client> client_;
};

TEST_F(PlacementServiceTest, UploadPlanThenCacheHitIsByteIdentical) {
  StartServer();
  UploadProfiles();
  const std::string host = cnn_profile_.host_class().name();
  const uint64_t budget = MustGraph(cnn_graph_).PeakLiveBytes() / 2;
  Client::PlanOptions lookup;
  lookup.solve_if_missing = false;
  EXPECT_EQ(client_->GetPlan(cnn_graph_, host, budget, lookup).status().code(),
            absl::StatusCode::kNotFound);

  Client::PlanOptions solve;
  solve.deadline = absl::Seconds(60);
  auto first = client_->GetPlan(cnn_graph_, host, budget, solve);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->budget_bytes(), budget);
  EXPECT_NE(first->stats().termination(), v1::TERMINATION_CANCELLED);

  const absl::Time start = absl::Now();
  auto cached = client_->GetPlan(cnn_graph_, host, budget, lookup);
  ASSERT_TRUE(cached.ok()) << cached.status();
  auto again = client_->GetPlan(cnn_graph_, host, budget, solve);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_EQ(cached->SerializeAsString(), first->SerializeAsString());
  EXPECT_EQ(again->SerializeAsString(), first->SerializeAsString());

  // A job over several budgets records one plan key per budget, the first
  // of which is the plan above.
  auto job = client_->CreateSolveJob(CnnJob(budget));
  ASSERT_TRUE(job.ok()) << job.status();
  v1::SolveJob done = WaitFinal(job->id(), absl::Seconds(60));
  EXPECT_EQ(done.state(), v1::SolveJob::SUCCEEDED) << done.error();
  EXPECT_EQ(done.plan_keys_size(), 1);
}

TEST_F(PlacementServiceTest, CancelQueuedAndRunningJobs) {
  StartServer({"--workers", "1"});
  UploadProfiles();
  auto running = client_->CreateSolveJob(LongJob());
  ASSERT_TRUE(running.ok()) << running.status();
  auto queued = client_->CreateSolveJob(CnnJob(8 * kMiB));
  ASSERT_TRUE(queued.ok()) << queued.status();
  ASSERT_NO_FATAL_FAILURE(WaitRunning(running->id()));

  auto cancelled_queued = client_->CancelSolveJob(queued->id());
  ASSERT_TRUE(cancelled_queued.ok());
  EXPECT_EQ(cancelled_queued->state(), v1::SolveJob::CANCELLED);

  const absl::Time start = absl::Now();
  ASSERT_TRUE(client_->CancelSolveJob(running->id()).ok());
  v1::SolveJob done = WaitFinal(running->id(), absl::Seconds(10));
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_EQ(done.state(), v1::SolveJob::CANCELLED);
  EXPECT_EQ(done.plan_keys_size(), 1) << "the best plan so far is kept";

  v1::SolveJob never_ran = *client_->GetSolveJob(queued->id());
  EXPECT_EQ(never_ran.state(), v1::SolveJob::CANCELLED);
  EXPECT_EQ(never_ran.start_time_us(), 0);
  // Cancelling a finished job changes nothing.
  EXPECT_EQ(client_->CancelSolveJob(running->id())->state(),
            v1::SolveJob::CANCELLED);
}

TEST_F(PlacementServiceTest, HigherPriorityRunsFirstFifoWithin) {
  StartServer({"--workers", "1"});
  UploadProfiles();
  auto blocker = client_->CreateSolveJob(LongJob());
  ASSERT_TRUE(blocker.ok());
  ASSERT_NO_FATAL_FAILURE(WaitRunning(blocker->id()));
  const uint64_t peak = MustGraph(cnn_graph_).PeakLiveBytes();
  std::string low = client_->CreateSolveJob(CnnJob(peak / 2, 0))->id();
  std::string high1 = client_->CreateSolveJob(CnnJob(peak / 3, 7))->id();
  std::string high2 = client_->CreateSolveJob(CnnJob(peak / 4, 7))->id();
  ASSERT_TRUE(client_->CancelSolveJob(blocker->id()).ok());
  const int64_t t_low = WaitFinal(low, absl::Seconds(120)).start_time_us();
  const int64_t t_high1 = WaitFinal(high1, absl::Seconds(5)).start_time_us();
  const int64_t t_high2 = WaitFinal(high2, absl::Seconds(5)).start_time_us();
  EXPECT_LT(t_high1, t_high2);
  EXPECT_LT(t_high2, t_low);
}

TEST_F(PlacementServiceTest, JobsSurviveKill9AndRestart) {
  StartServer({"--workers", "1"});
  UploadProfiles();
  const uint64_t peak = MustGraph(cnn_graph_).PeakLiveBytes();
  // It runs for its whole 10 s limit, on any machine: long enough to be
  // seen running with an incumbent on a loaded one. (The old equal-size
  // graph got five budgets of 5 s: with the root cuts one was proven in
  // about a second, and at one budget of 2 s it ended first once.)
  auto running = client_->CreateSolveJob(LongJob(/*time_limit=*/10));
  ASSERT_TRUE(running.ok());
  std::vector<std::string> ids = {running->id()};
  for (uint64_t budget : {peak / 2, peak / 3}) {
    auto job = client_->CreateSolveJob(CnnJob(budget));
    ASSERT_TRUE(job.ok());
    ids.push_back(job->id());
  }
  ASSERT_NO_FATAL_FAILURE(WaitRunning(running->id()));
  server_->Kill(SIGKILL);

  StartServer({"--workers", "1"});
  for (const std::string& id : ids) {
    v1::SolveJob done = WaitFinal(id, absl::Seconds(60));
    EXPECT_EQ(done.state(), v1::SolveJob::SUCCEEDED)
        << id << ": " << done.error();
  }
  auto host = client_->GetHostClass(cnn_profile_.host_class().name());
  EXPECT_TRUE(host.ok()) << "profile lost: " << host.status();
}

TEST_F(PlacementServiceTest, PlanGraphWithShortDeadlineReturnsBestPlan) {
  StartServer();
  UploadProfiles();
  v1::PlanGraphRequest request;
  *request.mutable_graph()->mutable_inline_graph() = long_graph_;
  request.set_host_class(kLongSolveHostClass);
  request.set_budget_bytes(LongSolveBudget());
  request.mutable_parameters()->set_time_limit_seconds(60);
  request.mutable_parameters()->set_relative_gap(1e-9);
  const absl::Time start = absl::Now();
  auto plan = client_->PlanGraph(request, absl::Seconds(5));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5.5));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->stats().termination(), v1::TERMINATION_CANCELLED);
  EXPECT_GT(plan->stats().relative_gap(), 0);
}

// Issue 18: every watch has a server-side end (--max-watch-seconds): the
// stream ends OK after the latest state although the job still runs, and
// the client library watches again until the job is final.
TEST_F(PlacementServiceTest, WatchEndsServerSideAndTheClientWatchesAgain) {
  StartServer({"--max-watch-seconds", "1"});
  UploadProfiles();
  auto job = client_->CreateSolveJob(LongJob(/*time_limit=*/4));
  ASSERT_TRUE(job.ok()) << job.status();

  auto stub = v1::PlacementService::NewStub(grpc::CreateChannel(
      server_->address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(30));
  v1::WatchSolveJobRequest request;
  request.set_id(job->id());
  const absl::Time start = absl::Now();
  auto reader = stub->WatchSolveJob(&context, request);
  v1::SolveJob last;
  int updates = 0;
  while (reader->Read(&last)) ++updates;
  const grpc::Status status = reader->Finish();
  const absl::Duration took = absl::Now() - start;
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_GT(updates, 0);
  EXPECT_TRUE(last.state() == v1::SolveJob::QUEUED ||
              last.state() == v1::SolveJob::RUNNING)
      << last.DebugString();
  EXPECT_GE(took, absl::Milliseconds(900));
  EXPECT_LT(took, absl::Seconds(3));

  auto final_job =
      client_->WatchSolveJob(job->id(), nullptr, absl::Seconds(60));
  ASSERT_TRUE(final_job.ok()) << final_job.status();
  EXPECT_EQ(final_job->state(), v1::SolveJob::SUCCEEDED) << final_job->error();
}

// Issue 17: an infeasible budget is a result, not FAILED_PRECONDITION.
TEST_F(PlacementServiceTest, PlanGraphAnswersAnInfeasibleBudget) {
  StartServer();
  UploadProfiles();
  v1::PlanGraphRequest request;
  *request.mutable_graph()->mutable_inline_graph() = cnn_graph_;
  request.set_host_class(cnn_profile_.host_class().name());
  request.set_budget_bytes(1024);  // less than any kernel's operands
  auto plan = client_->PlanGraph(request, absl::Seconds(60));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->stats().termination(), v1::TERMINATION_INFEASIBLE);
  EXPECT_EQ(plan->budget_bytes(), 1024u);
  EXPECT_EQ(plan->tensors_size(), 0);
  EXPECT_THAT(plan->no_plan_reason(), HasSubstr("job-"));
  // A feasible budget still gets its plan.
  request.set_budget_bytes(MustGraph(cnn_graph_).PeakLiveBytes() / 2);
  auto feasible = client_->PlanGraph(request, absl::Seconds(60));
  ASSERT_TRUE(feasible.ok()) << feasible.status();
  EXPECT_GT(feasible->tensors_size(), 0);
  EXPECT_TRUE(feasible->no_plan_reason().empty());
}

TEST_F(PlacementServiceTest, DocumentedErrorCodes) {
  StartServer({"--workers", "1", "--max-queued", "1"});
  UploadProfiles();
  const std::string host = cnn_profile_.host_class().name();

  v1::CreateSolveJobRequest no_graph = CnnJob(8 * kMiB);
  no_graph.clear_graph();
  EXPECT_EQ(client_->CreateSolveJob(no_graph).status().code(),
            absl::StatusCode::kInvalidArgument);

  v1::CreateSolveJobRequest no_budget = CnnJob(8 * kMiB);
  no_budget.clear_budgets_bytes();
  EXPECT_EQ(client_->CreateSolveJob(no_budget).status().code(),
            absl::StatusCode::kInvalidArgument);

  v1::CreateSolveJobRequest bad_graph;
  ASSERT_TRUE(client::ReadProtoJsonFile(
                  TestData("bad_unknown_tensor.graph.json"),
                  bad_graph.mutable_graph()->mutable_inline_graph())
                  .ok());
  bad_graph.set_host_class(host);
  bad_graph.add_budgets_bytes(8 * kMiB);
  EXPECT_EQ(client_->CreateSolveJob(bad_graph).status().code(),
            absl::StatusCode::kInvalidArgument);

  v1::CreateSolveJobRequest bad_gap = CnnJob(8 * kMiB);
  bad_gap.mutable_parameters()->set_relative_gap(2);
  EXPECT_EQ(client_->CreateSolveJob(bad_gap).status().code(),
            absl::StatusCode::kInvalidArgument);

  v1::CreateSolveJobRequest unknown_host = CnnJob(8 * kMiB);
  unknown_host.set_host_class("no-such-host");
  EXPECT_EQ(client_->CreateSolveJob(unknown_host).status().code(),
            absl::StatusCode::kNotFound);

  v1::CreateSolveJobRequest unknown_digest = CnnJob(8 * kMiB);
  unknown_digest.mutable_graph()->set_digest(
      absl::StrCat("sha256:", std::string(64, '0')));
  EXPECT_EQ(client_->CreateSolveJob(unknown_digest).status().code(),
            absl::StatusCode::kNotFound);

  // The cnn graph against the long solve's profile: nothing covered.
  v1::CreateSolveJobRequest uncovered = CnnJob(8 * kMiB);
  uncovered.set_host_class(kLongSolveHostClass);
  auto missing = client_->CreateSolveJob(uncovered);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(missing.status().message(), HasSubstr("conv2d"));

  EXPECT_EQ(client_->GetSolveJob("job-nope").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(client_->CancelSolveJob("job-nope").status().code(),
            absl::StatusCode::kNotFound);
  v1::ListSolveJobsRequest bad_page;
  bad_page.set_page_size(-1);
  EXPECT_EQ(client_->ListSolveJobs(bad_page).status().code(),
            absl::StatusCode::kInvalidArgument);

  // Full queue: one running, one queued, the next is refused.
  auto running = client_->CreateSolveJob(LongJob());
  ASSERT_TRUE(running.ok());
  ASSERT_NO_FATAL_FAILURE(WaitRunning(running->id()));
  auto queued = client_->CreateSolveJob(CnnJob(8 * kMiB));
  ASSERT_TRUE(queued.ok()) << queued.status();
  EXPECT_EQ(client_->CreateSolveJob(CnnJob(9 * kMiB)).status().code(),
            absl::StatusCode::kResourceExhausted);

  // PlanGraph that finds nothing within a very short deadline.
  v1::PlanGraphRequest hurry;
  *hurry.mutable_graph()->mutable_inline_graph() = cnn_graph_;
  hurry.set_host_class(host);
  hurry.set_budget_bytes(10 * kMiB);
  EXPECT_EQ(client_->PlanGraph(hurry, absl::Milliseconds(300)).status().code(),
            absl::StatusCode::kResourceExhausted)
      << "the queue is still full";
  // A cancelled solve hands back the best plan it has, so a job that starts
  // may answer OK however short the deadline (its incumbent can come within
  // milliseconds). One that never leaves the queue cannot: free the queued
  // slot but keep the worker busy, and the call must end DEADLINE_EXCEEDED.
  ASSERT_TRUE(client_->CancelSolveJob(queued->id()).ok());
  EXPECT_EQ(WaitFinal(queued->id(), absl::Seconds(10)).state(),
            v1::SolveJob::CANCELLED);
  v1::PlanGraphRequest waits;
  *waits.mutable_graph()->mutable_inline_graph() = long_graph_;
  waits.set_host_class(kLongSolveHostClass);
  waits.set_budget_bytes(LongSolveBudget() + 4096);
  waits.mutable_parameters()->set_relative_gap(1e-9);
  EXPECT_EQ(client_->PlanGraph(waits, absl::Milliseconds(300)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  ASSERT_TRUE(client_->CancelSolveJob(running->id()).ok());

  // Watch streams until final; an unknown id is NOT_FOUND.
  std::vector<v1::SolveJob> updates;
  auto watched = client_->WatchSolveJob(
      running->id(), [&](const v1::SolveJob& job) { updates.push_back(job); },
      absl::Seconds(10));
  ASSERT_TRUE(watched.ok()) << watched.status();
  EXPECT_EQ(watched->state(), v1::SolveJob::CANCELLED);
  EXPECT_EQ(client_->WatchSolveJob("job-nope", nullptr, absl::Seconds(5))
                .status()
                .code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace autotm
