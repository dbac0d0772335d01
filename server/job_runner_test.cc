// JobRunner against an in-memory fake store, with real worker processes:
// the autotm-solve-worker binary for real solves, and tiny shell scripts
// standing in for a worker that hangs, crashes or ignores SIGTERM.

#include "server/job_runner.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/testing/scoped_temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/plan_key.h"
#include "server/store/digest.h"
#include "solver/baselines.h"
#include "solver/graph_model.h"
#include "solver/profile_model.h"
#include "solver/testing/test_graphs.h"
#include "solver/verifier.h"
#include "spdlog/sinks/null_sink.h"
#include "spdlog/spdlog.h"

#ifndef AUTOTM_SOLVE_WORKER
#error "AUTOTM_SOLVE_WORKER must name the worker binary"
#endif

namespace autotm::server {
namespace {

using ::autotm::solver::testing::FullTableProfile;
using ::autotm::solver::testing::GraphBuilder;
using ::autotm::solver::testing::MustGraph;
using ::autotm::solver::testing::OptaneLikeTimeUs;
using ::autotm::solver::testing::SkipConnectionGraph;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr uint64_t kMiB = uint64_t{1} << 20;

// The smallest store that honours the JobStore contract the runner relies
// on (priority, FIFO, final states, requeue).
class FakeStore : public Store, ProfileStore, GraphStore, PlanStore, JobStore {
 public:
  ProfileStore& profiles() override { return *this; }
  GraphStore& graphs() override { return *this; }
  PlanStore& plans() override { return *this; }
  JobStore& jobs() override { return *this; }

  void SetProfile(const v1::Profile& profile) {
    std::lock_guard<std::mutex> lock(mutex_);
    profiles_[profile.host_class().name()] = profile;
    ++version_;
  }

  // ProfileStore (only what the runner reads).
  absl::Status PutHostClass(const v1::HostClass&,
                            const v1::CopyBandwidths&) override {
    return absl::UnimplementedError("fake");
  }
  absl::StatusOr<uint64_t> AddMeasurements(
      const std::string&, const std::vector<Measurement>&) override {
    return absl::UnimplementedError("fake");
  }
  absl::Status PutSeparableCosts(
      const std::string&, const std::vector<v1::KernelProfile>&) override {
    return absl::UnimplementedError("fake");
  }
  absl::StatusOr<uint64_t> ApplyProfileUpdate(const std::string&,
                                              const ProfileUpdate&) override {
    return absl::UnimplementedError("fake");
  }
  absl::StatusOr<v1::Profile> GetProfile(const std::string& name) override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = profiles_.find(name);
    if (it == profiles_.end()) return absl::NotFoundError(name);
    return it->second;
  }
  absl::StatusOr<HostClassInfo> GetHostClassVersion(
      const std::string& name) override {
    return GetHostClass(name);
  }
  absl::StatusOr<HostClassInfo> GetHostClass(const std::string& name) override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = profiles_.find(name);
    if (it == profiles_.end()) return absl::NotFoundError(name);
    HostClassInfo info;
    info.host_class = it->second.host_class();
    info.version = version_;
    return info;
  }
  absl::StatusOr<std::vector<HostClassInfo>> ListHostClasses() override {
    return absl::UnimplementedError("fake");
  }
  absl::Status DeleteHostClass(const std::string&) override {
    return absl::UnimplementedError("fake");
  }

  // GraphStore.
  absl::StatusOr<std::string> PutGraph(const v1::Graph& graph) override {
    std::lock_guard<std::mutex> lock(mutex_);
    std::string digest = GraphDigest(graph);
    graphs_[digest] = graph;
    return digest;
  }
  absl::StatusOr<v1::Graph> GetGraph(const std::string& digest) override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = graphs_.find(digest);
    if (it == graphs_.end()) return absl::NotFoundError(digest);
    return it->second;
  }
  absl::Status RecordSubmission(const std::string&,
                                const std::string&) override {
    return absl::OkStatus();  // the job runner never reads submissions
  }
  absl::StatusOr<std::vector<std::string>> ListSubmittedGraphs(
      const std::string&) override {
    return absl::UnimplementedError("fake");
  }

  // PlanStore.
  absl::Status PutPlan(const std::string& key, const v1::Plan& plan) override {
    std::lock_guard<std::mutex> lock(mutex_);
    plans_.emplace(key, plan);
    return absl::OkStatus();
  }
  absl::StatusOr<v1::Plan> GetPlan(const std::string& key) override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = plans_.find(key);
    if (it == plans_.end()) return absl::NotFoundError(key);
    return it->second;
  }

  // JobStore.
  absl::StatusOr<v1::SolveJob> CreateJob(v1::SolveJob job, int max_queued,
                                         int max_queued_per_owner) override {
    (void)max_queued_per_owner;  // one owner in these tests
    std::lock_guard<std::mutex> lock(mutex_);
    int queued = 0;
    for (auto& [id, j] : jobs_) queued += j.state() == v1::SolveJob::QUEUED;
    if (max_queued > 0 && queued >= max_queued) {
      return absl::ResourceExhaustedError("queue full");
    }
    job.set_sequence(++sequence_);
    job.set_id(absl::StrCat("job-", sequence_));
    job.set_state(v1::SolveJob::QUEUED);
    job.set_create_time_us(absl::ToUnixMicros(absl::Now()));
    jobs_[job.id()] = job;
    return job;
  }
  absl::StatusOr<v1::SolveJob> GetJob(const std::string& id) override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = jobs_.find(id);
    if (it == jobs_.end()) return absl::NotFoundError(id);
    return it->second;
  }
  absl::Status UpdateJob(const v1::SolveJob& job) override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = jobs_.find(job.id());
    if (it == jobs_.end()) return absl::NotFoundError(job.id());
    if (IsFinal(it->second.state())) {
      return absl::FailedPreconditionError("final");
    }
    it->second = job;
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<v1::SolveJob>> ClaimNextJob() override {
    std::lock_guard<std::mutex> lock(mutex_);
    v1::SolveJob* best = nullptr;
    for (auto& [id, j] : jobs_) {
      if (j.state() != v1::SolveJob::QUEUED) continue;
      if (best == nullptr || j.priority() > best->priority() ||
          (j.priority() == best->priority() &&
           j.sequence() < best->sequence())) {
        best = &j;
      }
    }
    if (best == nullptr) return std::optional<v1::SolveJob>();
    best->set_state(v1::SolveJob::RUNNING);
    best->set_start_time_us(absl::ToUnixMicros(absl::Now()));
    return std::optional<v1::SolveJob>(*best);
  }
  absl::StatusOr<JobPage> ListJobs(const JobFilter&) override {
    return absl::UnimplementedError("fake");
  }
  absl::StatusOr<int> RequeueRunningJobs() override {
    std::lock_guard<std::mutex> lock(mutex_);
    int n = 0;
    for (auto& [id, j] : jobs_) {
      if (j.state() == v1::SolveJob::RUNNING) {
        j.set_state(v1::SolveJob::QUEUED);
        ++n;
      }
    }
    return n;
  }
  // Leases, as a shared store keeps them: one owner per RUNNING job, until
  // an expiry on this process's clock. The store stands for one process, so
  // a replica never takes over its own expired leases (as PostgresStore
  // never takes over those it handed to this process).
  absl::StatusOr<std::optional<v1::SolveJob>> ClaimNextJobLeased(
      const std::string& replica, absl::Duration lease) override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++leased_claims_;
      if (fail_claims_) {
        return MarkStorageFailure(absl::UnavailableError("disk gone"));
      }
    }
    absl::StatusOr<std::optional<v1::SolveJob>> claimed = ClaimNextJob();
    std::lock_guard<std::mutex> lock(mutex_);
    if (claimed.ok() && !claimed->has_value()) {
      // No queued job: the first expired lease of another replica.
      for (auto& [id, j] : jobs_) {
        if (j.state() == v1::SolveJob::RUNNING && !lease_owners_[id].empty() &&
            lease_owners_[id] != replica && lease_expiry_[id] < absl::Now()) {
          j.set_start_time_us(absl::ToUnixMicros(absl::Now()));
          claimed = std::optional<v1::SolveJob>(j);
          break;
        }
      }
    }
    if (claimed.ok() && claimed->has_value()) {
      lease_owners_[(*claimed)->id()] = replica;
      lease_expiry_[(*claimed)->id()] = absl::Now() + lease;
    }
    return claimed;
  }
  absl::StatusOr<std::optional<absl::Duration>> NextLeaseExpiry(
      const std::string& replica) override {
    std::lock_guard<std::mutex> lock(mutex_);
    ++next_lease_expiry_calls_;
    std::optional<absl::Duration> next;
    for (auto& [id, j] : jobs_) {
      if (j.state() != v1::SolveJob::RUNNING || lease_owners_[id].empty() ||
          lease_owners_[id] == replica) {
        continue;
      }
      const absl::Duration left =
          std::max(absl::ZeroDuration(), lease_expiry_[id] - absl::Now());
      if (!next.has_value() || left < *next) next = left;
    }
    return next;
  }
  absl::StatusOr<std::vector<LeaseState>> RenewLeases(
      const std::string& replica, const std::vector<std::string>& ids,
      absl::Duration lease) override {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<LeaseState> states;
    for (const std::string& id : ids) {
      LeaseState state;
      state.id = id;
      state.held = jobs_[id].state() == v1::SolveJob::RUNNING &&
                   lease_owners_[id] == replica;
      if (state.held) lease_expiry_[id] = absl::Now() + lease;
      states.push_back(state);
    }
    return states;
  }
  absl::Status UpdateLeasedJob(const v1::SolveJob& job,
                               const std::string& replica) override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (fail_final_writes_ && IsFinal(job.state())) {
        return MarkStorageFailure(absl::UnavailableError("disk gone"));
      }
      auto it = jobs_.find(job.id());
      if (it != jobs_.end() && !IsFinal(it->second.state()) &&
          (it->second.state() != v1::SolveJob::RUNNING ||
           lease_owners_[job.id()] != replica)) {
        return absl::FailedPreconditionError("lease not held");
      }
    }
    return UpdateJob(job);
  }
  absl::StatusOr<std::vector<std::string>> WaitForJobChanges(
      absl::Duration timeout) override {
    absl::SleepFor(timeout);  // no feed: nothing else changes jobs
    return std::vector<std::string>();
  }
  // Test hooks: final states cannot be written (the storage is down) until
  // called with false; replica `replica` claims running job `id` (as
  // another replica does once the lease expired).
  void FailFinalWrites(bool fail) {
    std::lock_guard<std::mutex> lock(mutex_);
    fail_final_writes_ = fail;
  }
  void TakeOver(const std::string& id, const std::string& replica) {
    std::lock_guard<std::mutex> lock(mutex_);
    jobs_[id].set_state(v1::SolveJob::RUNNING);
    jobs_[id].clear_end_time_us();
    lease_owners_[id] = replica;
    lease_expiry_[id] = absl::InfiniteFuture();
  }
  // Replica `replica` claimed job `id` and stops renewing at once (it died):
  // its lease expires `left` from now.
  void LeaseTo(const std::string& id, const std::string& replica,
               absl::Duration left) {
    std::lock_guard<std::mutex> lock(mutex_);
    jobs_[id].set_state(v1::SolveJob::RUNNING);
    lease_owners_[id] = replica;
    lease_expiry_[id] = absl::Now() + left;
  }
  int next_lease_expiry_calls() {
    std::lock_guard<std::mutex> lock(mutex_);
    return next_lease_expiry_calls_;
  }
  // Leased claims fail for the storage until called with false.
  void FailClaims(bool fail) {
    std::lock_guard<std::mutex> lock(mutex_);
    fail_claims_ = fail;
  }
  int leased_claims() {
    std::lock_guard<std::mutex> lock(mutex_);
    return leased_claims_;
  }
  std::string LeaseOwner(const std::string& id) {
    std::lock_guard<std::mutex> lock(mutex_);
    return lease_owners_[id];
  }

  // Test hook: force a stored state (e.g. RUNNING left by a crash).
  void ForceState(const std::string& id, v1::SolveJob::State state) {
    std::lock_guard<std::mutex> lock(mutex_);
    jobs_[id].set_state(state);
  }

 private:
  std::mutex mutex_;
  uint64_t version_ = 0;
  uint64_t sequence_ = 0;
  std::map<std::string, v1::Profile> profiles_;
  std::map<std::string, v1::Graph> graphs_;
  std::map<std::string, v1::Plan> plans_;
  std::map<std::string, v1::SolveJob> jobs_;
  std::map<std::string, std::string> lease_owners_;  // by job id
  std::map<std::string, absl::Time> lease_expiry_;   // by job id
  int next_lease_expiry_calls_ = 0;
  bool fail_claims_ = false;
  int leased_claims_ = 0;
  bool fail_final_writes_ = false;
};

v1::Graph SmallGraph() {
  return GraphBuilder("chain")
      .Tensor("x", 4 * kMiB, v1::TENSOR_ROLE_INPUT)
      .Tensor("a", 4 * kMiB)
      .Tensor("b", 4 * kMiB)
      .Tensor("c", 4 * kMiB)
      .Tensor("d", kMiB)
      .Kernel("k0", {"x"}, {"a"})
      .Kernel("k1", {"a"}, {"b"})
      .Kernel("k2", {"b"}, {"c"})
      .Kernel("k3", {"a", "c"}, {"d"})
      .graph();
}

// A graph with long skip connections. With equal sizes (the default)
// there is no fragmentation; CBC's root cuts prove it at a tiny gap in about
// a second. With `mixed_sizes`, tensor t is (1 + 5t mod 7) MiB, as in
// tests/e2e/long_solve_graph.h, and the same gap is not proven in minutes.
v1::Graph HardGraph(int kernels, bool mixed_sizes = false) {
  return SkipConnectionGraph("hard", kernels, [&](int t) {
    return mixed_sizes ? (1 + (5 * t) % 7) * kMiB : 4 * kMiB;
  });
}

v1::Profile ProfileFor(const v1::Graph& graph) {
  solver::GraphModel model = MustGraph(graph);
  v1::Profile profile = FullTableProfile(model, [&](int k, uint64_t mask) {
    return OptaneLikeTimeUs(100.0 + 10 * k, model.kernel(k).num_inputs, mask);
  });
  profile.mutable_host_class()->set_name("host");
  return profile;
}

// Writes an executable shell script NAME.sh into a directory of this test
// process, removed when the process exits.
std::string WriteScript(const std::string& name, const std::string& body) {
  static ::autotm::testing::ScopedTempDir dir("job_runner_test");
  std::string path = absl::StrCat(dir.path(), "/", name, ".sh");
  std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
  ::chmod(path.c_str(), 0755);
  return path;
}

class JobRunnerTest : public ::testing::Test {
 protected:
  JobRunnerTest() {
    logger_ = std::make_shared<spdlog::logger>(
        "test", std::make_shared<spdlog::sinks::null_sink_mt>());
  }

  JobRunnerOptions Options(std::string worker = AUTOTM_SOLVE_WORKER) {
    JobRunnerOptions options;
    options.worker_path = std::move(worker);
    options.watchdog_grace_seconds = 5;
    options.cancel_grace_seconds = 1;
    return options;
  }

  v1::SolveJob Job(const v1::Graph& graph, std::vector<uint64_t> budgets,
                   int priority = 0, double time_limit = 30) {
    v1::SolveJob job;
    job.set_graph_digest(*store_.PutGraph(graph));
    job.set_host_class("host");
    for (uint64_t b : budgets) job.add_budgets_bytes(b);
    v1::SolveParameters parameters;
    parameters.set_time_limit_seconds(time_limit);
    job.set_priority(priority);
    *job.mutable_parameters() = *NormalizeParameters(parameters);
    return job;
  }

  FakeStore store_;
  std::shared_ptr<spdlog::logger> logger_;
};

TEST_F(JobRunnerTest, SolvesEveryBudgetAndCachesThePlans) {
  store_.SetProfile(ProfileFor(SmallGraph()));
  JobRunner runner(store_, Options(), logger_);
  ASSERT_TRUE(runner.Start().ok());
  auto job = runner.Submit(Job(SmallGraph(), {8 * kMiB, 12 * kMiB}));
  ASSERT_TRUE(job.ok()) << job.status();
  auto done = runner.WaitForFinal(job->id(), absl::Seconds(60));
  ASSERT_TRUE(done.ok());
  ASSERT_EQ(done->state(), v1::SolveJob::SUCCEEDED) << done->error();
  EXPECT_EQ(done->budgets_done(), 2u);
  ASSERT_EQ(done->plan_keys_size(), 2);
  // Typed, for programs: both budgets solve to optimality on this graph.
  EXPECT_EQ(done->termination(), v1::TERMINATION_OPTIMAL);
  const uint64_t version = store_.GetHostClass("host")->version;
  EXPECT_EQ(done->plan_keys(0),
            PlanCacheKey(done->graph_digest(), "host", version, 8 * kMiB,
                         done->parameters(), SolverVersion()));
  auto plan = store_.GetPlan(done->plan_keys(1));
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->budget_bytes(), 12 * kMiB);
  EXPECT_GT(done->start_time_us(), 0);
  EXPECT_GE(done->end_time_us(), done->start_time_us());

  // The same inputs again: served from the cache, same key and plan.
  auto again = runner.Submit(Job(SmallGraph(), {12 * kMiB}));
  ASSERT_TRUE(again.ok());
  auto again_done = runner.WaitForFinal(again->id(), absl::Seconds(60));
  ASSERT_EQ(again_done->state(), v1::SolveJob::SUCCEEDED);
  EXPECT_EQ(again_done->plan_keys(0), done->plan_keys(1));
}

// The guarantee of a multi-budget job, with budgets given out of order and a
// short time limit: every plan verifies (offsets included) under its own
// budget and the predicted time never rises with the budget. The largest
// budget's plan is already cached, and slow (all-slow, as a poor solve under
// a tiny limit could be): the job adopts a smaller budget's faster plan for
// it instead of serving the cached one.
TEST_F(JobRunnerTest, MultiBudgetCurveNeverRisesWithTheBudget) {
  const v1::Graph graph = HardGraph(30);
  const v1::Profile profile = ProfileFor(graph);
  store_.SetProfile(profile);
  const solver::GraphModel model = MustGraph(graph);
  absl::StatusOr<solver::ProfileModel> default_profile =
      solver::ProfileModel::Create(profile);
  ASSERT_TRUE(default_profile.ok()) << default_profile.status();
  absl::StatusOr<solver::PlanOutcome> all_fast = solver::RunBaseline(
      model, *default_profile, v1::METHOD_ALL_FAST, uint64_t{1} << 40);
  ASSERT_TRUE(all_fast.ok() && all_fast->plan.has_value());
  const uint64_t peak = all_fast->plan->peak_fast_bytes();
  const std::vector<uint64_t> budgets = {peak * 8 / 10, peak * 3 / 10,
                                         peak * 5 / 10};
  v1::SolveJob submitted = Job(graph, budgets, 0, /*time_limit=*/2);

  // A slow but valid plan cached for the largest budget.
  const uint64_t version = store_.GetHostClass("host")->version;
  absl::StatusOr<solver::PlanOutcome> all_slow =
      solver::RunBaseline(model, *default_profile, v1::METHOD_ALL_SLOW,
                          budgets[0], submitted.parameters().alignment_bytes());
  ASSERT_TRUE(all_slow.ok() && all_slow->plan.has_value());
  ASSERT_TRUE(
      store_
          .PutPlan(
              PlanCacheKey(submitted.graph_digest(), "host", version,
                           budgets[0], submitted.parameters(), SolverVersion()),
              *all_slow->plan)
          .ok());

  JobRunner runner(store_, Options(), logger_);
  ASSERT_TRUE(runner.Start().ok());
  auto job = runner.Submit(submitted);
  ASSERT_TRUE(job.ok()) << job.status();
  auto done = runner.WaitForFinal(job->id(), absl::Seconds(120));
  ASSERT_TRUE(done.ok());
  ASSERT_EQ(done->state(), v1::SolveJob::SUCCEEDED) << done->error();
  ASSERT_EQ(done->plan_keys_size(), 3);

  std::map<uint64_t, double> time_by_budget;
  for (int i = 0; i < 3; ++i) {
    auto plan = store_.GetPlan(done->plan_keys(i));
    ASSERT_TRUE(plan.ok()) << done->plan_keys(i);
    EXPECT_EQ(plan->budget_bytes(), budgets[i]);
    absl::StatusOr<solver::ProfileModel> priced = solver::ProfileModel::Create(
        profile, solver::TableCollapseOptionsOf(*plan));
    ASSERT_TRUE(priced.ok()) << priced.status();
    absl::StatusOr<solver::VerifyReport> report =
        solver::VerifyPlan(model, *priced, *plan, budgets[i],
                           /*require_offsets=*/true);
    EXPECT_TRUE(report.ok())
        << "budget " << budgets[i] << ": " << report.status();
    time_by_budget[budgets[i]] = plan->predicted_time_us();
  }
  double previous = std::numeric_limits<double>::infinity();
  for (const auto& [budget, time] : time_by_budget) {
    EXPECT_LE(time, previous) << "budget " << budget;
    previous = time;
  }
  // The cached all-slow plan is not what the job serves for its budget.
  EXPECT_LT(time_by_budget[budgets[0]], all_slow->plan->predicted_time_us());
}

// Issue 17: an infeasible budget is a typed result that programs branch on
// (SolveJob.termination), not text in `error`.
TEST_F(JobRunnerTest, InfeasibleBudgetHasATypedTermination) {
  // The input pinned to the fast tier (4 MiB) cannot fit 1 MiB.
  v1::Graph pinned = SmallGraph();
  pinned.mutable_tensors(0)->set_fixed_tier(v1::TIER_FAST);
  store_.SetProfile(ProfileFor(pinned));
  JobRunner runner(store_, Options(), logger_);
  ASSERT_TRUE(runner.Start().ok());
  auto job = runner.Submit(Job(pinned, {kMiB}));
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->termination(), v1::TERMINATION_UNSPECIFIED);
  auto done = runner.WaitForFinal(job->id(), absl::Seconds(60));
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->state(), v1::SolveJob::FAILED);
  EXPECT_EQ(done->termination(), v1::TERMINATION_INFEASIBLE) << done->error();
}

TEST_F(JobRunnerTest, CancelledQueuedJobNeverRuns) {
  store_.SetProfile(ProfileFor(SmallGraph()));
  JobRunner runner(store_, Options(), logger_);  // not started: stays queued
  auto job = runner.Submit(Job(SmallGraph(), {8 * kMiB}));
  ASSERT_TRUE(job.ok());
  auto cancelled = runner.Cancel(job->id());
  ASSERT_TRUE(cancelled.ok());
  EXPECT_EQ(cancelled->state(), v1::SolveJob::CANCELLED);
  ASSERT_TRUE(runner.Start().ok());
  absl::SleepFor(absl::Milliseconds(300));
  auto stored = store_.GetJob(job->id());
  EXPECT_EQ(stored->state(), v1::SolveJob::CANCELLED);
  EXPECT_EQ(stored->termination(), v1::TERMINATION_CANCELLED);
  EXPECT_EQ(stored->start_time_us(), 0);
  EXPECT_EQ(stored->plan_keys_size(), 0);
  // Cancelling again changes nothing; an unknown id is NOT_FOUND.
  EXPECT_EQ(runner.Cancel(job->id())->state(), v1::SolveJob::CANCELLED);
  EXPECT_EQ(runner.Cancel("job-nope").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(JobRunnerTest, RunsByPriorityThenFifo) {
  store_.SetProfile(ProfileFor(SmallGraph()));
  JobRunner runner(store_, Options(), logger_);
  std::vector<std::string> started;
  std::mutex mutex;
  int token = runner.Subscribe([&](const v1::SolveJob& job) {
    std::lock_guard<std::mutex> lock(mutex);
    if (job.state() == v1::SolveJob::RUNNING &&
        std::find(started.begin(), started.end(), job.id()) == started.end()) {
      started.push_back(job.id());
    }
  });
  // Different budgets so that no job is a cache hit of another.
  std::string low = runner.Submit(Job(SmallGraph(), {5 * kMiB}, 0))->id();
  std::string high1 = runner.Submit(Job(SmallGraph(), {6 * kMiB}, 5))->id();
  std::string high2 = runner.Submit(Job(SmallGraph(), {7 * kMiB}, 5))->id();
  std::string mid = runner.Submit(Job(SmallGraph(), {9 * kMiB}, 1))->id();
  ASSERT_TRUE(runner.Start().ok());
  ASSERT_EQ(runner.WaitForFinal(low, absl::Seconds(60))->state(),
            v1::SolveJob::SUCCEEDED);
  runner.Unsubscribe(token);
  std::lock_guard<std::mutex> lock(mutex);
  EXPECT_THAT(started, ::testing::ElementsAre(high1, high2, mid, low));
}

TEST_F(JobRunnerTest, QueueFullIsResourceExhausted) {
  store_.SetProfile(ProfileFor(SmallGraph()));
  JobRunnerOptions options = Options();
  options.max_queued = 1;
  JobRunner runner(store_, options, logger_);
  ASSERT_TRUE(runner.Submit(Job(SmallGraph(), {8 * kMiB})).ok());
  EXPECT_EQ(runner.Submit(Job(SmallGraph(), {9 * kMiB})).status().code(),
            absl::StatusCode::kResourceExhausted);
}

TEST_F(JobRunnerTest, WatchdogKillsARunawayWorker) {
  store_.SetProfile(ProfileFor(SmallGraph()));
  JobRunnerOptions options = Options(WriteScript("hang", "exec sleep 60"));
  options.watchdog_grace_seconds = 0.5;
  JobRunner runner(store_, options, logger_);
  ASSERT_TRUE(runner.Start().ok());
  auto job = runner.Submit(Job(SmallGraph(), {8 * kMiB}, 0, /*time_limit=*/1));
  const absl::Time start = absl::Now();
  auto done = runner.WaitForFinal(job->id(), absl::Seconds(20));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  ASSERT_EQ(done->state(), v1::SolveJob::FAILED);
  EXPECT_THAT(done->error(), HasSubstr("watchdog: solve exceeded 1.5 s"));
}

TEST_F(JobRunnerTest, CrashingWorkerFailsTheJobNotTheServer) {
  store_.SetProfile(ProfileFor(SmallGraph()));
  JobRunner runner(store_, Options(WriteScript("crash", "kill -SEGV $$")),
                   logger_);
  ASSERT_TRUE(runner.Start().ok());
  auto job = runner.Submit(Job(SmallGraph(), {8 * kMiB}));
  auto done = runner.WaitForFinal(job->id(), absl::Seconds(20));
  ASSERT_EQ(done->state(), v1::SolveJob::FAILED);
  EXPECT_EQ(done->termination(), v1::TERMINATION_FAILED);
  EXPECT_THAT(done->error(), HasSubstr("killed by signal SIGSEGV"));

  JobRunner exits(store_, Options(WriteScript("exit3", "exit 3")), logger_);
  runner.Stop();
  ASSERT_TRUE(exits.Start().ok());
  auto job2 = exits.Submit(Job(SmallGraph(), {9 * kMiB}));
  auto done2 = exits.WaitForFinal(job2->id(), absl::Seconds(20));
  ASSERT_EQ(done2->state(), v1::SolveJob::FAILED);
  EXPECT_THAT(done2->error(), HasSubstr("exited with status 3"));
}

TEST_F(JobRunnerTest, WorkerIgnoringSigtermIsKilledAfterGrace) {
  store_.SetProfile(ProfileFor(SmallGraph()));
  JobRunner runner(
      store_, Options(WriteScript("stubborn", "trap '' TERM\nexec sleep 60")),
      logger_);
  ASSERT_TRUE(runner.Start().ok());
  auto job = runner.Submit(Job(SmallGraph(), {8 * kMiB}));
  // Wait until it runs.
  while (store_.GetJob(job->id())->state() != v1::SolveJob::RUNNING) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  absl::SleepFor(absl::Milliseconds(200));
  const absl::Time start = absl::Now();
  ASSERT_TRUE(runner.Cancel(job->id()).ok());
  auto done = runner.WaitForFinal(job->id(), absl::Seconds(10));
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  EXPECT_EQ(done->state(), v1::SolveJob::CANCELLED);
}

// A cancel right after the worker starts, before it handles SIGTERM: the
// worker dies of the SIGTERM at once and the job must end CANCELLED, not
// "solve worker crashed: killed by signal SIGTERM" (issue 18, finding 5).
// The script worker never handles SIGTERM, so every try hits the race.
TEST_F(JobRunnerTest, CancelRightAfterStartIsCancelledNotACrash) {
  store_.SetProfile(ProfileFor(SmallGraph()));
  JobRunner runner(store_, Options(WriteScript("plain", "exec sleep 60")),
                   logger_);
  ASSERT_TRUE(runner.Start().ok());
  for (int attempt = 0; attempt < 5; ++attempt) {
    SCOPED_TRACE(absl::StrCat("attempt ", attempt));
    auto job = runner.Submit(Job(SmallGraph(), {(8 + attempt) * kMiB}));
    ASSERT_TRUE(job.ok()) << job.status();
    while (store_.GetJob(job->id())->state() != v1::SolveJob::RUNNING) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    ASSERT_TRUE(runner.Cancel(job->id()).ok());
    auto done = runner.WaitForFinal(job->id(), absl::Seconds(10));
    ASSERT_TRUE(done.ok()) << done.status();
    EXPECT_EQ(done->state(), v1::SolveJob::CANCELLED) << done->error();
    EXPECT_THAT(done->error(), Not(HasSubstr("crashed")));
  }
}

TEST_F(JobRunnerTest, CancelledRunningSolveKeepsItsBestPlan) {
  // Mixed sizes: the job must still be running when it is cancelled.
  const v1::Graph graph = HardGraph(60, /*mixed_sizes=*/true);
  store_.SetProfile(ProfileFor(graph));
  JobRunner runner(store_, Options(), logger_);
  ASSERT_TRUE(runner.Start().ok());
  v1::SolveJob request = Job(graph, {MustGraph(graph).PeakLiveBytes() / 3});
  request.mutable_parameters()->set_relative_gap(1e-9);
  auto job = runner.Submit(request);
  ASSERT_TRUE(job.ok());
  // Wait for an incumbent.
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  v1::SolveJob seen;
  do {
    absl::SleepFor(absl::Milliseconds(50));
    seen = *store_.GetJob(job->id());
  } while (seen.incumbent_us() == 0 && !IsFinal(seen.state()) &&
           absl::Now() < deadline);
  ASSERT_EQ(seen.state(), v1::SolveJob::RUNNING)
      << "the instance solved too fast to cancel: " << seen.error();
  const absl::Time start = absl::Now();
  ASSERT_TRUE(runner.Cancel(job->id()).ok());
  auto done = runner.WaitForFinal(job->id(), absl::Seconds(10));
  EXPECT_LT(absl::Now() - start, absl::Seconds(1.5));
  ASSERT_EQ(done->state(), v1::SolveJob::CANCELLED) << done->error();
  EXPECT_EQ(done->termination(), v1::TERMINATION_CANCELLED);
  ASSERT_EQ(done->plan_keys_size(), 1);
  EXPECT_EQ(done->plan_keys(0), absl::StrCat("job:", job->id(), "/0"));
  auto plan = store_.GetPlan(done->plan_keys(0));
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->stats().termination(), v1::TERMINATION_CANCELLED);
}

TEST_F(JobRunnerTest, StartRequeuesJobsLeftRunning) {
  store_.SetProfile(ProfileFor(SmallGraph()));
  auto created = store_.CreateJob(Job(SmallGraph(), {8 * kMiB}), 0, 0);
  store_.ForceState(created->id(), v1::SolveJob::RUNNING);
  JobRunner runner(store_, Options(), logger_);
  ASSERT_TRUE(runner.Start().ok());
  auto done = runner.WaitForFinal(created->id(), absl::Seconds(60));
  EXPECT_EQ(done->state(), v1::SolveJob::SUCCEEDED) << done->error();
}

// Polls runner.GetJob (which serves unsaved final states from memory, as
// WaitForFinal does not) until job `id` is final or a minute passes.
absl::StatusOr<v1::SolveJob> WaitUntilFinal(JobRunner& runner,
                                            const std::string& id) {
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  absl::StatusOr<v1::SolveJob> seen = runner.GetJob(id);
  while (seen.ok() && !IsFinal(seen->state()) && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
    seen = runner.GetJob(id);
  }
  return seen;
}

// A replica whose final write failed (the storage was down) keeps the state
// in memory; if meanwhile its lease ran out and another replica took the
// job over, flushing it must not overwrite the other replica's run.
TEST_F(JobRunnerTest, ReplicaNeverFlushesOverAJobAnotherReplicaTookOver) {
  store_.SetProfile(ProfileFor(SmallGraph()));
  store_.FailFinalWrites(true);
  JobRunnerOptions options = Options();
  options.replica_id = "r1";
  JobRunner runner(store_, options, logger_);
  ASSERT_TRUE(runner.Start().ok());
  auto job = runner.Submit(Job(SmallGraph(), {8 * kMiB}));
  ASSERT_TRUE(job.ok()) << job.status();
  // The final state is served from memory, not stored.
  absl::StatusOr<v1::SolveJob> seen = WaitUntilFinal(runner, job->id());
  ASSERT_TRUE(seen.ok()) << seen.status();
  ASSERT_EQ(seen->state(), v1::SolveJob::SUCCEEDED) << seen->error();
  ASSERT_EQ(store_.GetJob(job->id())->state(), v1::SolveJob::RUNNING);

  store_.TakeOver(job->id(), "r2");
  store_.FailFinalWrites(false);
  EXPECT_EQ(runner.FlushUnsaved(), 0u);  // dropped: r2 owns the job now
  auto stored = store_.GetJob(job->id());
  EXPECT_EQ(stored->state(), v1::SolveJob::RUNNING);
  EXPECT_EQ(store_.LeaseOwner(job->id()), "r2");
  EXPECT_EQ(runner.GetJob(job->id())->state(), v1::SolveJob::RUNNING);
  runner.Stop();
}

// ... and one that still holds the lease stores it once the storage is back.
TEST_F(JobRunnerTest, ReplicaFlushesItsFinalStateUnderItsLease) {
  store_.SetProfile(ProfileFor(SmallGraph()));
  store_.FailFinalWrites(true);
  JobRunnerOptions options = Options();
  options.replica_id = "r1";
  JobRunner runner(store_, options, logger_);
  ASSERT_TRUE(runner.Start().ok());
  auto job = runner.Submit(Job(SmallGraph(), {8 * kMiB}));
  ASSERT_TRUE(job.ok()) << job.status();
  absl::StatusOr<v1::SolveJob> seen = WaitUntilFinal(runner, job->id());
  ASSERT_TRUE(seen.ok() && IsFinal(seen->state()));

  store_.FailFinalWrites(false);
  EXPECT_EQ(runner.FlushUnsaved(), 0u);
  EXPECT_EQ(store_.GetJob(job->id())->state(), v1::SolveJob::SUCCEEDED);
  runner.Stop();
}

// A replica died holding a job: an idle replica claims it as soon as the
// lease expires, not at its next poll (here a minute away).
TEST_F(JobRunnerTest, IdleReplicaClaimsAnExpiredLeaseAtItsExpiry) {
  store_.SetProfile(ProfileFor(SmallGraph()));
  auto created = store_.CreateJob(Job(SmallGraph(), {8 * kMiB}), 0, 0);
  ASSERT_TRUE(created.ok());
  constexpr absl::Duration kLeft = absl::Milliseconds(500);
  store_.LeaseTo(created->id(), "r0", kLeft);
  const absl::Time expiry = absl::Now() + kLeft;
  JobRunnerOptions options = Options();
  options.replica_id = "r1";
  options.idle_poll = absl::Minutes(1);
  JobRunner runner(store_, options, logger_);
  ASSERT_TRUE(runner.Start().ok());
  while (store_.LeaseOwner(created->id()) != "r1" &&
         absl::Now() < expiry + absl::Seconds(30)) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  const absl::Duration after_expiry = absl::Now() - expiry;
  ASSERT_EQ(store_.LeaseOwner(created->id()), "r1");
  // Generous for a loaded machine, far below the poll.
  EXPECT_LT(after_expiry, absl::Seconds(5));
  // Asked once or twice (start, claim), not in a busy loop meanwhile.
  EXPECT_LE(store_.next_lease_expiry_calls(), 3);
  auto done = runner.WaitForFinal(created->id(), absl::Seconds(60));
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->state(), v1::SolveJob::SUCCEEDED) << done->error();
  runner.Stop();
}

// ... but while claims fail (a full disk), an expired lease does not turn
// the poll into a busy loop of failing claims.
TEST_F(JobRunnerTest, FailingClaimsWaitForThePollEvenWithAnExpiredLease) {
  store_.SetProfile(ProfileFor(SmallGraph()));
  auto created = store_.CreateJob(Job(SmallGraph(), {8 * kMiB}), 0, 0);
  ASSERT_TRUE(created.ok());
  store_.LeaseTo(created->id(), "r0", -absl::Seconds(1));  // expired
  store_.FailClaims(true);
  JobRunnerOptions options = Options();
  options.replica_id = "r1";
  options.idle_poll = absl::Milliseconds(250);
  JobRunner runner(store_, options, logger_);
  ASSERT_TRUE(runner.Start().ok());
  absl::SleepFor(absl::Seconds(1));
  // About 5 claims at the poll; a wait for the (past) expiry would make
  // one every 20 ms, 50 in the second.
  EXPECT_LE(store_.leased_claims(), 10);
  EXPECT_EQ(store_.LeaseOwner(created->id()), "r0");
  store_.FailClaims(false);
  auto done = runner.WaitForFinal(created->id(), absl::Seconds(60));
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->state(), v1::SolveJob::SUCCEEDED) << done->error();
  EXPECT_EQ(store_.LeaseOwner(created->id()), "r1");
  runner.Stop();
}

// A job submitted to an idle runner starts at once, not at the next poll.
TEST_F(JobRunnerTest, SubmitWakesAnIdleSlotAtOnce) {
  store_.SetProfile(ProfileFor(SmallGraph()));
  for (const std::string replica : {"", "r1"}) {
    JobRunnerOptions options = Options();
    options.replica_id = replica;
    options.idle_poll = absl::Minutes(1);
    JobRunner runner(store_, options, logger_);
    ASSERT_TRUE(runner.Start().ok());
    // Let the slot go idle first.
    absl::SleepFor(absl::Milliseconds(100));
    const absl::Time submitted = absl::Now();
    auto job = runner.Submit(Job(SmallGraph(), {8 * kMiB}));
    ASSERT_TRUE(job.ok()) << job.status();
    auto done = runner.WaitForFinal(job->id(), absl::Seconds(30));
    ASSERT_TRUE(done.ok());
    EXPECT_EQ(done->state(), v1::SolveJob::SUCCEEDED)
        << "replica '" << replica << "': " << done->error();
    EXPECT_LT(absl::Now() - submitted, absl::Seconds(20))
        << "replica '" << replica << "'";
    runner.Stop();
  }
}

// A server killed with -9 leaves its worker's request file behind; the next
// start deletes the files of servers that no longer run, and only those.
TEST_F(JobRunnerTest, StartDeletesRequestFilesOfServersThatAreGone) {
  std::string dir = ::testing::TempDir() + "/autotm_stale_XXXXXX";
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  const char* old_tmpdir = ::getenv("TMPDIR");
  const std::string saved = old_tmpdir != nullptr ? old_tmpdir : "";
  ::setenv("TMPDIR", dir.c_str(), 1);
  const pid_t gone = ::fork();
  if (gone == 0) ::_exit(0);
  ASSERT_GT(gone, 0);
  ASSERT_EQ(::waitpid(gone, nullptr, 0), gone);
  const std::string stale =
      absl::StrCat(dir, "/autotm-solve-", gone, "-a1b2c3");
  const std::string live =
      absl::StrCat(dir, "/autotm-solve-", ::getpid(), "-d4e5f6");
  const std::string other = absl::StrCat(dir, "/autotm-solve-x9y8z7");
  for (const std::string& path : {stale, live, other}) {
    std::FILE* f = std::fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr) << path;
    std::fclose(f);
  }
  {
    JobRunner runner(store_, Options(), logger_);
    ASSERT_TRUE(runner.Start().ok());
  }
  EXPECT_NE(::access(stale.c_str(), F_OK), 0) << stale;
  EXPECT_EQ(::access(live.c_str(), F_OK), 0) << live;
  EXPECT_EQ(::access(other.c_str(), F_OK), 0) << other;
  if (old_tmpdir != nullptr) {
    ::setenv("TMPDIR", saved.c_str(), 1);
  } else {
    ::unsetenv("TMPDIR");
  }
  std::filesystem::remove_all(dir);
}

TEST_F(JobRunnerTest, MissingWorkerBinaryIsInvalidArgument) {
  JobRunner runner(store_, Options("/nonexistent/autotm-solve-worker"),
                   logger_);
  EXPECT_EQ(runner.Start().code(), absl::StatusCode::kInvalidArgument);
}

TEST(PlanKeyTest, SameInputsSameKeyAndEveryInputCounts) {
  v1::SolveParameters defaults = *NormalizeParameters({});
  v1::SolveParameters explicit_defaults;
  explicit_defaults.set_method(v1::METHOD_SYNCHRONOUS);
  explicit_defaults.set_time_limit_seconds(60);
  explicit_defaults.set_relative_gap(0.01);
  EXPECT_EQ(PlanCacheKey("g", "h", 1, 100, defaults, "s"),
            PlanCacheKey("g", "h", 1, 100,
                         *NormalizeParameters(explicit_defaults), "s"));
  const std::string key = PlanCacheKey("g", "h", 1, 100, defaults, "s");
  EXPECT_THAT(key, ::testing::StartsWith("sha256:"));
  EXPECT_NE(key, PlanCacheKey("g2", "h", 1, 100, defaults, "s"));
  EXPECT_NE(key, PlanCacheKey("g", "h2", 1, 100, defaults, "s"));
  EXPECT_NE(key, PlanCacheKey("g", "h", 2, 100, defaults, "s"));
  EXPECT_NE(key, PlanCacheKey("g", "h", 1, 101, defaults, "s"));
  EXPECT_NE(key, PlanCacheKey("g", "h", 1, 100, defaults, "s2"));
  v1::SolveParameters other = defaults;
  other.set_relative_gap(0.02);
  EXPECT_NE(key, PlanCacheKey("g", "h", 1, 100, other, "s"));
}

TEST(PlanKeyTest, RecomputeAutoHasItsOwnKeyAndNoneKeepsTheOldOne) {
  v1::SolveParameters defaults = *NormalizeParameters({});
  EXPECT_EQ(defaults.recompute(), v1::RECOMPUTE_MODE_NONE);
  v1::SolveParameters none;
  none.set_recompute(v1::RECOMPUTE_MODE_NONE);
  const std::string key = PlanCacheKey("g", "h", 1, 100, defaults, "s");
  EXPECT_EQ(key,
            PlanCacheKey("g", "h", 1, 100, *NormalizeParameters(none), "s"));
  v1::SolveParameters automatic;
  automatic.set_recompute(v1::RECOMPUTE_MODE_AUTO);
  EXPECT_NE(key, PlanCacheKey("g", "h", 1, 100, *NormalizeParameters(automatic),
                              "s"));
  // The key of a plain plan is the one it had before the field existed.
  v1::SolveParameters before_the_field = defaults;
  before_the_field.clear_recompute();
  EXPECT_EQ(key, PlanCacheKey("g", "h", 1, 100, before_the_field, "s"));
  v1::SolveParameters unknown;
  unknown.set_recompute(static_cast<v1::RecomputeMode>(7));
  EXPECT_THAT(NormalizeParameters(unknown).status().message(),
              HasSubstr("parameters.recompute: unknown mode 7"));
}

TEST(PlanKeyTest, RepetitionAutoHasItsOwnKeyAndOffKeepsTheOldOne) {
  v1::SolveParameters defaults = *NormalizeParameters({});
  EXPECT_EQ(defaults.repetition(), v1::REPETITION_MODE_OFF);
  const std::string key = PlanCacheKey("g", "h", 1, 100, defaults, "s");
  v1::SolveParameters off;
  off.set_repetition(v1::REPETITION_MODE_OFF);
  EXPECT_EQ(key,
            PlanCacheKey("g", "h", 1, 100, *NormalizeParameters(off), "s"));
  v1::SolveParameters automatic;
  automatic.set_repetition(v1::REPETITION_MODE_AUTO);
  const std::string auto_key =
      PlanCacheKey("g", "h", 1, 100, *NormalizeParameters(automatic), "s");
  EXPECT_NE(key, auto_key);
  // Independent of recompute's entry: all four combinations differ.
  automatic.set_recompute(v1::RECOMPUTE_MODE_AUTO);
  v1::SolveParameters recompute_only;
  recompute_only.set_recompute(v1::RECOMPUTE_MODE_AUTO);
  const std::string both =
      PlanCacheKey("g", "h", 1, 100, *NormalizeParameters(automatic), "s");
  const std::string recompute_key =
      PlanCacheKey("g", "h", 1, 100, *NormalizeParameters(recompute_only), "s");
  EXPECT_NE(both, auto_key);
  EXPECT_NE(both, recompute_key);
  EXPECT_NE(recompute_key, auto_key);
  // The key of a plan made without it is the one it had before the field.
  v1::SolveParameters before_the_field = defaults;
  before_the_field.clear_repetition();
  EXPECT_EQ(key, PlanCacheKey("g", "h", 1, 100, before_the_field, "s"));
  v1::SolveParameters unknown;
  unknown.set_repetition(static_cast<v1::RepetitionMode>(9));
  EXPECT_THAT(NormalizeParameters(unknown).status().message(),
              HasSubstr("parameters.repetition: unknown mode 9"));
}

TEST(PlanKeyTest, BadParametersAreInvalidArgument) {
  v1::SolveParameters p;
  p.set_relative_gap(1.5);
  EXPECT_EQ(NormalizeParameters(p).status().code(),
            absl::StatusCode::kInvalidArgument);
  p = {};
  p.set_time_limit_seconds(-1);
  EXPECT_EQ(NormalizeParameters(p).status().code(),
            absl::StatusCode::kInvalidArgument);
  p = {};
  p.set_alignment_bytes(3000);
  EXPECT_EQ(NormalizeParameters(p).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Issue 18: these became INTERNAL failures of queued jobs.
  p = {};
  p.set_async_window(4294967295u);
  EXPECT_THAT(NormalizeParameters(p).status().message(),
              HasSubstr("parameters.async_window: 4294967295 kernels is over "
                        "the limit of 1000"));
  p.set_async_window(kMaxAsyncWindow);
  EXPECT_TRUE(NormalizeParameters(p).ok());
  p = {};
  p.set_alignment_bytes(uint64_t{1} << 31);
  EXPECT_THAT(NormalizeParameters(p).status().message(),
              HasSubstr("parameters.alignment_bytes"));
}

}  // namespace
}  // namespace autotm::server
