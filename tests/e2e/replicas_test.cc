// End to end: three autotm-server replicas (real processes on 127.0.0.1:0)
// on one real PostgreSQL that the test starts (TestPostgres: initdb +
// pg_ctl in a temporary directory, a fresh database per test).
//
// ManyJobsOneReplicaKilled: kJobs solve jobs of mixed sizes are queued
// through all three replicas; once one replica holds running jobs and a
// share of the jobs is done, it is killed with SIGKILL. Every job must
// complete exactly once (one stored SUCCEEDED, one "succeeded" log line over
// all replicas' logs), the killed replica's running jobs must restart on
// another replica within the lease (a slot once free), the store must
// hold exactly one plan per job (no duplicates, no strays), and every plan,
// fetched through a surviving replica, must verify against its graph,
// budget and profile. A queued job is cancelled through a replica other
// than the one that created it.
//
// CancelWatchHandBackAndFailover: a long solve running on one replica is
// watched through a second and cancelled through a third; the watcher sees
// it RUNNING, then CANCELLED, never going back. Another running job is
// handed back when its replica gets SIGTERM and runs on another replica at
// once (well within the lease). A third runs on a replica that is then
// SIGKILLed, and restarts on the idle survivor within the lease.
//
// ReplicasTestDefaultLease.FailoverWithinTheLease: issue 19's target at the
// default lease (10 s): a replica running a job is SIGKILLed, at a
// different point of its renewal cycle each trial, and an idle replica
// must restart the job within the lease of the kill. Prints each trial and
// the worst and median (AUTOTM_FAILOVER_TRIALS trials, default 3).
//
// The test reads the jobs table directly (lease owners) only to find which
// replica runs what; everything it checks goes through the service or the
// replicas' logs, except the plan count.
#include <signal.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "autotm/v1/job.pb.h"
#include "autotm/v1/plan.pb.h"
#include "autotm/v1/profile.pb.h"
#include "client/lib/client.h"
#include "gtest/gtest.h"
#include "server/store/testing/test_postgres.h"
#include "solver/graph_model.h"
#include "solver/profile_model.h"
#include "solver/testing/test_graphs.h"
#include "solver/verifier.h"
#include "tests/e2e/long_solve_graph.h"
#include "tests/e2e/server_process.h"

namespace autotm {
namespace {

using ::autotm::server::testing::TestPostgres;
using ::autotm::solver::testing::FullTableProfile;
using ::autotm::solver::testing::MustGraph;
using ::autotm::solver::testing::OptaneLikeTimeUs;
using ::autotm::testing::ServerProcess;
using ::autotm::testing::ServerProcessOptions;

constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr int kReplicas = 3;
// As the issue asks: 200 small solves (each a worker process and a CBC
// run) take about 12 s on a shared 2-core machine.
constexpr int kJobs = 200;
// Short leases so that failover is quick to observe; renewed every 0.5 s.
constexpr double kLeaseSeconds = 2;
// autotm-server's --lease-seconds default.
constexpr double kDefaultLeaseSeconds = 10;
// How long after a lease expires an idle replica may claim the job in
// these tests: it wakes at the expiry (the idle poll no longer adds to it),
// then claims; generous for a loaded 2-core machine.
constexpr absl::Duration kClaimSlack = absl::Seconds(1);
// Per budget; most solves of the mixed jobs end far sooner (gap reached).
constexpr double kJobTimeLimitSeconds = 5;

// A chain of `kernels` kernels with skip connections; `tag` makes graphs of
// one size differ (names only), so that their digests differ.
v1::Graph ChainGraph(int kernels, const std::string& name) {
  return solver::testing::SkipConnectionGraph(name, kernels,
                                              [](int) { return kMiB; });
}

v1::Profile ProfileFor(const v1::Graph& graph, const std::string& host) {
  solver::GraphModel model = MustGraph(graph);
  v1::Profile profile = FullTableProfile(model, [&](int k, uint64_t mask) {
    return OptaneLikeTimeUs(100.0 + 10 * k, model.kernel(k).num_inputs, mask);
  });
  profile.mutable_host_class()->set_name(host);
  return profile;
}

struct Workload {
  v1::Graph graph;
  std::string host;
  v1::Profile profile;
  uint64_t peak = 0;
};

class ReplicasTest : public ::testing::Test {
 protected:
  // Every replica gets --lease-seconds `lease_seconds`; nullopt: none (the
  // default).
  explicit ReplicasTest(std::optional<double> lease_seconds = kLeaseSeconds)
      : lease_seconds_(lease_seconds) {}

  void SetUp() override {
    absl::StatusOr<TestPostgres*> pg = TestPostgres::Shared();
    ASSERT_TRUE(pg.ok()) << pg.status();
    absl::StatusOr<std::string> uri = (*pg)->NewDatabase();
    ASSERT_TRUE(uri.ok()) << uri.status();
    uri_ = *uri;
    std::string dir =
        (std::filesystem::temp_directory_path() / "autotm_replicas_XXXXXX")
            .string();
    ASSERT_NE(::mkdtemp(dir.data()), nullptr);
    dir_ = dir;
    for (int r = 0; r < kReplicas; ++r) {
      ASSERT_NO_FATAL_FAILURE(StartReplica(r));
    }
  }

  void TearDown() override {
    clients_.clear();
    for (auto& replica : replicas_) {
      if (replica != nullptr && replica->running()) replica->Kill();
    }
    replicas_.clear();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  static std::string ReplicaId(int r) { return absl::StrCat("replica-", r); }

  void StartReplica(int r) {
    ServerProcessOptions options;
    options.db = uri_;
    options.log_path = absl::StrCat(dir_, "/", ReplicaId(r), ".log");
    options.extra_args = {"--workers",
                          "1",
                          "--replica-id",
                          ReplicaId(r),
                          "--max-queued-per-principal",
                          "0"};
    if (lease_seconds_.has_value()) {
      options.extra_args.push_back("--lease-seconds");
      options.extra_args.push_back(absl::StrCat(*lease_seconds_));
    }
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        ServerProcess::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    ClientOptions client_options;
    client_options.address = (*server)->address();
    client_options.deadline = absl::Seconds(30);
    absl::StatusOr<std::unique_ptr<Client>> client =
        Client::Connect(client_options);
    ASSERT_TRUE(client.ok()) << client.status();
    if (replicas_.size() <= static_cast<size_t>(r)) {
      replicas_.resize(r + 1);
      clients_.resize(r + 1);
    }
    replicas_[r] = *std::move(server);
    clients_[r] = *std::move(client);
  }

  Client& client(int r) { return *clients_[r]; }

  // The running jobs whose lease `replica` holds (read from the database).
  std::set<std::string> RunningOn(const std::string& replica) {
    std::set<std::string> ids;
    pqxx::connection connection(uri_);
    pqxx::work txn(connection);
    for (const pqxx::row& row :
         txn.exec_params("SELECT id FROM jobs WHERE state = 2 AND "
                         "lease_owner = $1",
                         replica)) {
      ids.insert(row[0].as<std::string>());
    }
    return ids;
  }

  std::string LeaseOwner(const std::string& id) {
    pqxx::connection connection(uri_);
    pqxx::work txn(connection);
    pqxx::result r =
        txn.exec_params("SELECT lease_owner FROM jobs WHERE id = $1", id);
    return r.empty() ? "" : r[0][0].as<std::string>();
  }

  int64_t Count(const std::string& sql) {
    pqxx::connection connection(uri_);
    pqxx::work txn(connection);
    return txn.exec(sql)[0][0].as<int64_t>();
  }

  // The number of "job <id>: succeeded" lines per job over all logs.
  std::map<std::string, int> SucceededLines() {
    std::map<std::string, int> lines;
    for (auto& replica : replicas_) {
      for (absl::string_view line : absl::StrSplit(replica->ReadLog(), '\n')) {
        size_t at = line.find(" job job-");
        if (at == absl::string_view::npos ||
            !absl::EndsWith(line, ": succeeded")) {
          continue;
        }
        absl::string_view rest = line.substr(at + 5);
        ++lines[std::string(rest.substr(0, rest.find(':')))];
      }
    }
    return lines;
  }

  v1::SolveJob WaitFinal(int r, const std::string& id, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    v1::SolveJob job;
    while (absl::Now() < deadline) {
      absl::StatusOr<v1::SolveJob> got = client(r).GetSolveJob(id);
      if (got.ok()) {
        job = *got;
        if (job.state() >= v1::SolveJob::SUCCEEDED) return job;
      }
      absl::SleepFor(absl::Milliseconds(100));
    }
    ADD_FAILURE() << "job " << id << " not final after " << timeout;
    return job;
  }

  const std::optional<double> lease_seconds_;
  std::string uri_;
  std::string dir_;
  std::vector<std::unique_ptr<ServerProcess>> replicas_;
  std::vector<std::unique_ptr<Client>> clients_;
};

v1::SolveParameters Parameters() {
  v1::SolveParameters parameters;
  parameters.set_time_limit_seconds(kJobTimeLimitSeconds);
  parameters.set_relative_gap(0.05);
  return parameters;
}

TEST_F(ReplicasTest, ManyJobsOneReplicaKilled) {
  // Mixed sizes: chains of 4, 8 and 16 kernels, each on its host class.
  std::vector<Workload> workloads;
  for (int kernels : {4, 8, 16}) {
    Workload& w = workloads.emplace_back();
    w.host = absl::StrCat("chain-", kernels);
    w.graph = ChainGraph(kernels, w.host);
    w.profile = ProfileFor(w.graph, w.host);
    w.peak = MustGraph(w.graph).PeakLiveBytes();
    absl::StatusOr<v1::UploadMeasurementsResponse> uploaded =
        client(0).UploadProfile(w.profile);
    ASSERT_TRUE(uploaded.ok()) << uploaded.status();
  }
  // Job i: workload i % 3 at a budget of its own (distinct plan keys, so
  // every job is a real solve), created through replica i % 3.
  struct Planned {
    std::string id;
    int workload;
    uint64_t budget;
  };
  std::vector<Planned> planned;
  for (int i = 0; i < kJobs; ++i) {
    const int w = i % 3;
    const int step = i / 3;
    const uint64_t budget =
        workloads[w].peak * (25 + step) / (25 + kJobs / 3 + 10);
    v1::CreateSolveJobRequest request;
    *request.mutable_graph()->mutable_inline_graph() = workloads[w].graph;
    request.set_host_class(workloads[w].host);
    request.add_budgets_bytes(budget);
    *request.mutable_parameters() = Parameters();
    absl::StatusOr<v1::SolveJob> job =
        client(i % kReplicas).CreateSolveJob(request);
    ASSERT_TRUE(job.ok()) << job.status();
    planned.push_back({job->id(), w, budget});
  }
  // A low-priority job stays queued behind them; it is cancelled through
  // another replica than the one that created it.
  v1::CreateSolveJobRequest low;
  *low.mutable_graph()->mutable_inline_graph() = workloads[0].graph;
  low.set_host_class(workloads[0].host);
  low.add_budgets_bytes(workloads[0].peak / 7);
  low.set_priority(-1);
  absl::StatusOr<v1::SolveJob> queued = client(0).CreateSolveJob(low);
  ASSERT_TRUE(queued.ok()) << queued.status();
  absl::StatusOr<v1::SolveJob> cancelled =
      client(2).CancelSolveJob(queued->id());
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->state(), v1::SolveJob::CANCELLED);

  // Kill replica 1 once a quarter of the jobs are done and it is running
  // a job.
  const absl::Time start = absl::Now();
  const int victim = 1;
  std::set<std::string> orphans;
  while (absl::Now() - start < absl::Minutes(3)) {
    if (Count("SELECT count(*) FROM jobs WHERE state = 3") >= kJobs / 4) {
      orphans = RunningOn(ReplicaId(victim));
      if (!orphans.empty()) break;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_FALSE(orphans.empty()) << "replica 1 never ran a job";
  replicas_[victim]->Kill();  // SIGKILL: no hand-back, leases just expire
  const absl::Time killed = absl::Now();

  // Its running jobs move to another replica once their leases expire and
  // a slot is free: within the lease when one is idle, and after at most
  // one more solve (its time limit) when all are busy, as here. (Failover with
  // idle replicas: CancelWatchHandBackAndFailover.)
  std::map<std::string, absl::Duration> moved;
  while (moved.size() < orphans.size() &&
         absl::Now() - killed < absl::Seconds(30)) {
    for (const std::string& id : orphans) {
      if (moved.count(id)) continue;
      const std::string owner = LeaseOwner(id);
      absl::StatusOr<v1::SolveJob> job = client(0).GetSolveJob(id);
      if ((!owner.empty() && owner != ReplicaId(victim)) ||
          (job.ok() && job->state() == v1::SolveJob::SUCCEEDED)) {
        moved[id] = absl::Now() - killed;
      }
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_EQ(moved.size(), orphans.size());
  for (const auto& [id, after] : moved) {
    std::printf(
        "failover: %s restarted on another replica %.2f s after the "
        "SIGKILL (lease %.1f s)\n",
        id.c_str(), absl::ToDoubleSeconds(after), kLeaseSeconds);
    EXPECT_LE(after, absl::Seconds(kLeaseSeconds) + kClaimSlack +
                         absl::Seconds(kJobTimeLimitSeconds + 3))
        << id;
  }

  // All complete, each exactly once.
  int alive = 0;
  for (const Planned& p : planned) {
    v1::SolveJob job = WaitFinal(alive, p.id, absl::Minutes(3));
    ASSERT_EQ(job.state(), v1::SolveJob::SUCCEEDED)
        << p.id << ": " << job.error();
    ASSERT_EQ(job.plan_keys_size(), 1) << p.id;
  }
  const absl::Duration total = absl::Now() - start;
  std::map<std::string, int> lines = SucceededLines();
  int duplicates = 0;
  for (const Planned& p : planned) {
    EXPECT_EQ(lines[p.id], 1)
        << p.id << " completed " << lines[p.id] << " times";
    duplicates += std::max(0, lines[p.id] - 1);
  }
  EXPECT_EQ(Count("SELECT count(*) FROM jobs WHERE state = 3"), kJobs);
  // One plan per job: no duplicate, no stray copy (a cancelled solve's or
  // an adopted one's "job:" key).
  const int64_t plans = Count("SELECT count(*) FROM plans");
  EXPECT_EQ(plans, kJobs);

  // Every plan, fetched through a surviving replica, verifies.
  std::vector<std::unique_ptr<solver::ProfileModel>> profile_models;
  std::vector<std::unique_ptr<solver::GraphModel>> graph_models;
  for (const Workload& w : workloads) {
    absl::StatusOr<v1::Profile> exported = client(2).ExportProfile(w.host);
    ASSERT_TRUE(exported.ok()) << exported.status();
    absl::StatusOr<solver::ProfileModel> model =
        solver::ProfileModel::Create(*exported);
    ASSERT_TRUE(model.ok()) << model.status();
    profile_models.push_back(
        std::make_unique<solver::ProfileModel>(*std::move(model)));
    graph_models.push_back(
        std::make_unique<solver::GraphModel>(MustGraph(w.graph)));
  }
  int verified = 0;
  for (size_t i = 0; i < planned.size(); ++i) {
    const Planned& p = planned[i];
    Client::PlanOptions lookup;
    lookup.parameters = Parameters();
    lookup.solve_if_missing = false;
    absl::StatusOr<v1::Plan> plan =
        client(i % 2 == 0 ? 0 : 2)
            .GetPlan(workloads[p.workload].graph, workloads[p.workload].host,
                     p.budget, lookup);
    ASSERT_TRUE(plan.ok()) << p.id << ": " << plan.status();
    absl::StatusOr<solver::VerifyReport> report =
        solver::VerifyPlan(*graph_models[p.workload],
                           *profile_models[p.workload], *plan, p.budget);
    EXPECT_TRUE(report.ok()) << p.id << ": " << report.status();
    verified += report.ok();
  }
  std::printf(
      "replicas: %d jobs on %d replicas (one SIGKILLed after %.1f s), all "
      "done in %.1f s: %d succeeded, %d duplicate completions, %lld plans "
      "stored, %d verified\n",
      kJobs, kReplicas, absl::ToDoubleSeconds(killed - start),
      absl::ToDoubleSeconds(total), kJobs, duplicates,
      static_cast<long long>(plans), verified);
}

// The e2e tests' long solve (tests/e2e/long_solve_graph.h): the equal-size
// chain is proven in seconds with CBC's root cuts, and a job that ended
// before its replica was killed never moves.
Workload LongWorkload() {
  Workload w;
  w.host = testing::kLongSolveHostClass;
  w.graph = testing::LongSolveGraph();
  w.profile = testing::LongSolveProfile();
  w.peak = MustGraph(w.graph).PeakLiveBytes();
  return w;
}

// A solve that runs until its limit or until cancelled: the long solve at a
// tiny gap.
v1::CreateSolveJobRequest LongJob(const Workload& w, double time_limit) {
  v1::CreateSolveJobRequest request;
  *request.mutable_graph()->mutable_inline_graph() = w.graph;
  request.set_host_class(w.host);
  request.add_budgets_bytes(w.peak / 3);
  request.mutable_parameters()->set_time_limit_seconds(time_limit);
  request.mutable_parameters()->set_relative_gap(1e-9);
  return request;
}

TEST_F(ReplicasTest, CancelWatchHandBackAndFailover) {
  const Workload w = LongWorkload();
  ASSERT_TRUE(client(0).UploadProfile(w.profile).ok());

  // --- Cancel and watch through replicas that do not run the job.
  absl::StatusOr<v1::SolveJob> job = client(0).CreateSolveJob(LongJob(w, 60));
  ASSERT_TRUE(job.ok()) << job.status();
  int runner = -1;
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (runner < 0 && absl::Now() < deadline) {
    const std::string owner = LeaseOwner(job->id());
    for (int r = 0; r < kReplicas; ++r) {
      if (owner == ReplicaId(r)) runner = r;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_GE(runner, 0) << "the job never started";
  const int watcher = (runner + 1) % kReplicas;
  const int canceller = (runner + 2) % kReplicas;
  std::mutex mu;
  std::vector<v1::SolveJob> seen;
  absl::StatusOr<v1::SolveJob> watched;
  std::thread watch([&] {
    watched = client(watcher).WatchSolveJob(
        job->id(),
        [&](const v1::SolveJob& update) {
          std::lock_guard<std::mutex> lock(mu);
          seen.push_back(update);
        },
        absl::Seconds(60));
  });
  // Let the watcher see the job run for a while (progress comes from the
  // runner through the database).
  absl::SleepFor(absl::Seconds(2));
  const absl::Time cancel_start = absl::Now();
  absl::StatusOr<v1::SolveJob> cancel =
      client(canceller).CancelSolveJob(job->id());
  ASSERT_TRUE(cancel.ok()) << cancel.status();
  watch.join();
  const absl::Duration cancel_took = absl::Now() - cancel_start;
  ASSERT_TRUE(watched.ok()) << watched.status();
  EXPECT_EQ(watched->state(), v1::SolveJob::CANCELLED);
  // Renewal every lease/4, then SIGTERM to the worker.
  EXPECT_LT(cancel_took, absl::Seconds(kLeaseSeconds / 4 + 3));
  {
    std::lock_guard<std::mutex> lock(mu);
    ASSERT_GE(seen.size(), 2u);
    EXPECT_EQ(seen.front().state(), v1::SolveJob::RUNNING);
    EXPECT_EQ(seen.back().state(), v1::SolveJob::CANCELLED);
    // Never back in time: states only move forward.
    for (size_t i = 1; i < seen.size(); ++i) {
      EXPECT_GE(seen[i].state(), seen[i - 1].state());
    }
  }
  std::printf(
      "cancel across replicas: running on %s, watched on %s, "
      "cancelled through %s; final after %.2f s, %zu updates seen\n",
      ReplicaId(runner).c_str(), ReplicaId(watcher).c_str(),
      ReplicaId(canceller).c_str(), absl::ToDoubleSeconds(cancel_took),
      seen.size());

  // --- Graceful shutdown hands a running job back at once.
  absl::StatusOr<v1::SolveJob> second = client(0).CreateSolveJob(LongJob(w, 6));
  ASSERT_TRUE(second.ok()) << second.status();
  runner = -1;
  while (runner < 0 && absl::Now() < deadline + absl::Seconds(20)) {
    const std::string owner = LeaseOwner(second->id());
    for (int r = 0; r < kReplicas; ++r) {
      if (owner == ReplicaId(r)) runner = r;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_GE(runner, 0);
  // SIGTERM without waiting for the exit: calls in flight may keep the
  // process up to its --shutdown-grace, the jobs must not wait for that.
  const absl::Time stop_start = absl::Now();
  ASSERT_EQ(::kill(replicas_[runner]->pid(), SIGTERM), 0);
  std::string owner;
  while (absl::Now() - stop_start < absl::Seconds(10)) {
    owner = LeaseOwner(second->id());
    if (!owner.empty() && owner != ReplicaId(runner)) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  const absl::Duration handed_over = absl::Now() - stop_start;
  absl::StatusOr<int> code = replicas_[runner]->Terminate();
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0);
  EXPECT_NE(owner, ReplicaId(runner));
  EXPECT_FALSE(owner.empty());
  // Not a lease expiry: at once (SIGTERM, hand-back, a claim).
  EXPECT_LT(handed_over, absl::Seconds(kLeaseSeconds));
  const int other = (runner + 1) % kReplicas;
  v1::SolveJob done = WaitFinal(other, second->id(), absl::Seconds(30));
  EXPECT_EQ(done.state(), v1::SolveJob::SUCCEEDED) << done.error();
  std::printf("hand-back: SIGTERM to %s, job running on %s %.2f s later\n",
              ReplicaId(runner).c_str(), owner.c_str(),
              absl::ToDoubleSeconds(handed_over));

  // --- SIGKILL with an idle replica left: its job restarts there within
  // the lease.
  absl::StatusOr<v1::SolveJob> third =
      client(other).CreateSolveJob(LongJob(w, 8));
  ASSERT_TRUE(third.ok()) << third.status();
  int victim = -1;
  const absl::Time third_deadline = absl::Now() + absl::Seconds(20);
  while (victim < 0 && absl::Now() < third_deadline) {
    const std::string running_on = LeaseOwner(third->id());
    for (int r = 0; r < kReplicas; ++r) {
      if (running_on == ReplicaId(r)) victim = r;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_GE(victim, 0);
  int survivor = -1;
  for (int r = 0; r < kReplicas; ++r) {
    if (r != victim && replicas_[r]->running()) survivor = r;
  }
  ASSERT_GE(survivor, 0);
  replicas_[victim]->Kill();
  const absl::Time killed = absl::Now();
  owner.clear();
  while (absl::Now() - killed < absl::Seconds(30)) {
    owner = LeaseOwner(third->id());
    if (owner == ReplicaId(survivor)) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  const absl::Duration failover = absl::Now() - killed;
  EXPECT_EQ(owner, ReplicaId(survivor));
  EXPECT_LE(failover, absl::Seconds(kLeaseSeconds) + kClaimSlack);
  done = WaitFinal(survivor, third->id(), absl::Seconds(30));
  EXPECT_EQ(done.state(), v1::SolveJob::SUCCEEDED) << done.error();
  std::printf(
      "failover: SIGKILL to %s, job running on %s %.2f s later "
      "(lease %.1f s)\n",
      ReplicaId(victim).c_str(), owner.c_str(), absl::ToDoubleSeconds(failover),
      kLeaseSeconds);
}

class ReplicasTestDefaultLease : public ReplicasTest {
 protected:
  ReplicasTestDefaultLease() : ReplicasTest(std::nullopt) {}
};

TEST_F(ReplicasTestDefaultLease, FailoverWithinTheLease) {
  int trials = 3;
  if (const char* env = std::getenv("AUTOTM_FAILOVER_TRIALS")) {
    trials = std::max(1, std::atoi(env));
  }
  const Workload w = LongWorkload();
  ASSERT_TRUE(client(0).UploadProfile(w.profile).ok());
  const absl::Duration lease = absl::Seconds(kDefaultLeaseSeconds);
  // One connection polls the job's row: the lease owner, and how much of
  // the lease is left on the database's clock.
  pqxx::connection db(uri_);
  auto row = [&](const std::string& id) {
    pqxx::work txn(db);
    pqxx::result r = txn.exec_params(
        "SELECT lease_owner, lease_expires_us - "
        "(extract(epoch from clock_timestamp()) * 1000000)::bigint "
        "FROM jobs WHERE id = $1",
        id);
    txn.commit();
    return std::make_pair(r[0][0].as<std::string>(),
                          absl::Microseconds(r[0][1].as<int64_t>()));
  };
  auto replica_of = [&](const std::string& owner) {
    for (int r = 0; r < kReplicas; ++r) {
      if (owner == ReplicaId(r)) return r;
    }
    return -1;
  };
  std::vector<absl::Duration> failovers;
  for (int trial = 0; trial < trials; ++trial) {
    absl::StatusOr<v1::SolveJob> job =
        client(trial % kReplicas).CreateSolveJob(LongJob(w, 60));
    ASSERT_TRUE(job.ok()) << job.status();
    int victim = -1;
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (victim < 0 && absl::Now() < deadline) {
      victim = replica_of(row(job->id()).first);
      absl::SleepFor(absl::Milliseconds(10));
    }
    ASSERT_GE(victim, 0) << "trial " << trial << ": the job never started";
    // Kill after at least one renewal (every lease/4), at a different point
    // of the cycle each trial. Not sooner: the job's creation woke every
    // idle slot at once, so their polls (every second) stay in step with
    // the claim, and a lease that still runs from the claim (10 s, a whole
    // number of polls) would expire just as they poll, hiding the poll's
    // delay; a renewal's expiry falls anywhere between two polls.
    absl::SleepFor(lease / 4 * (1 + (trial + 0.5) / trials));
    replicas_[victim]->Kill();
    const absl::Time killed = absl::Now();
    // Read after the kill: the last renewal's expiry.
    const absl::Duration left = row(job->id()).second;
    int survivor = -1;
    while (absl::Now() - killed < lease + absl::Seconds(20)) {
      const int r = replica_of(row(job->id()).first);
      if (r >= 0 && r != victim) {
        survivor = r;
        break;
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
    const absl::Duration failover = absl::Now() - killed;
    ASSERT_GE(survivor, 0) << "trial " << trial << ": the job never moved";
    failovers.push_back(failover);
    std::printf(
        "failover trial %d: SIGKILL to %s, job running on %s %.3f s later "
        "(lease left at the kill %.3f s, so claimed %.3f s after the "
        "expiry)\n",
        trial + 1, ReplicaId(victim).c_str(), ReplicaId(survivor).c_str(),
        absl::ToDoubleSeconds(failover), absl::ToDoubleSeconds(left),
        absl::ToDoubleSeconds(failover - left));
    std::fflush(stdout);
    EXPECT_LE(failover, lease + kClaimSlack) << "trial " << trial;
    // Free the survivor's slot and bring the victim back for the next trial.
    ASSERT_TRUE(client(survivor).CancelSolveJob(job->id()).ok());
    v1::SolveJob done = WaitFinal(survivor, job->id(), absl::Seconds(30));
    EXPECT_EQ(done.state(), v1::SolveJob::CANCELLED) << done.error();
    ASSERT_NO_FATAL_FAILURE(StartReplica(victim));
  }
  std::sort(failovers.begin(), failovers.end());
  const absl::Duration median = failovers.size() % 2 == 1
                                    ? failovers[failovers.size() / 2]
                                    : (failovers[failovers.size() / 2 - 1] +
                                       failovers[failovers.size() / 2]) /
                                          2;
  std::printf(
      "failover at the default lease (%.0f s): %d trials, SIGKILL to restart "
      "median %.3f s, worst %.3f s, best %.3f s\n",
      kDefaultLeaseSeconds, trials, absl::ToDoubleSeconds(median),
      absl::ToDoubleSeconds(failovers.back()),
      absl::ToDoubleSeconds(failovers.front()));
}

}  // namespace
}  // namespace autotm
