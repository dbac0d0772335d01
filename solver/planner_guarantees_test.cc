// The planner's guarantees under starved or misbehaving solvers (issue 21):
// every returned plan verifies with its offsets, is never slower than the
// heuristic's plan or first touch, than the poorer variant's plan it started
// from (static >= sync >= async within a call), or than a valid warm start; and
// a sweep's curve never rises with the budget.
#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "solver/allocator.h"
#include "solver/baselines.h"
#include "solver/cbc_solver.h"
#include "solver/planner.h"
#include "solver/sweep.h"
#include "solver/testing/repeated_graphs.h"
#include "solver/testing/test_graphs.h"
#include "solver/verifier.h"

namespace autotm::solver {
namespace {

using ::autotm::solver::testing::FullTableProfile;
using ::autotm::solver::testing::MustGraph;
using ::autotm::solver::testing::MustProfile;

// CBC stopped at its first incumbent, without the planner's start: the poor
// plan a starved solve hands back. From call `from` on (1-based); earlier
// calls (the seed solves) go to CBC unchanged.
class FirstIncumbentSolver : public Solver {
 public:
  explicit FirstIncumbentSolver(int from = 1)
      : cbc_(MakeCbcSolver()), from_(from) {}
  std::string name() const override { return "first-incumbent"; }
  absl::StatusOr<SolveResult> Solve(const IlpModel& model,
                                    const SolveParams& params) override {
    if (++calls < from_) return cbc_->Solve(model, params);
    SolveParams poor = params;
    poor.initial_solution.clear();
    poor.relative_gap = 1.0;
    poor.max_nodes = 0;
    return cbc_->Solve(model, poor);
  }
  int calls = 0;

 private:
  std::unique_ptr<Solver> cbc_;
  int from_;
};

// CBC for the first `good_calls` solves, then nothing (a starved solve).
class NothingAfterSolver : public Solver {
 public:
  explicit NothingAfterSolver(int good_calls)
      : cbc_(MakeCbcSolver()), good_calls_(good_calls) {}
  std::string name() const override { return "nothing-after"; }
  absl::StatusOr<SolveResult> Solve(const IlpModel& model,
                                    const SolveParams& params) override {
    if (++calls > good_calls_) return SolveResult{};
    return cbc_->Solve(model, params);
  }
  int calls = 0;

 private:
  std::unique_ptr<Solver> cbc_;
  int good_calls_;
};

struct Instance {
  GraphModel graph;
  ProfileModel profile;
};

Instance RandomInstance(std::mt19937_64& rng) {
  GraphModel graph = MustGraph(testing::RandomGraph(rng, 9, 8));
  v1::Profile profile = FullTableProfile(graph, [&](int k, ConfigMask mask) {
    return testing::OptaneLikeTimeUs(30.0 + 10.0 * k,
                                     graph.kernel(k).num_inputs, mask);
  });
  ProfileModel model = MustProfile(profile);
  return {std::move(graph), std::move(model)};
}

// A network of identical layers (solver/testing/repeated_graphs.h), on
// which PlanOptions::exploit_repetition solves a tied model.
Instance RepeatedInstance(int layers) {
  const v1::Graph proto = testing::RepeatedResidualGraph(layers);
  GraphModel graph = MustGraph(proto);
  ProfileModel profile = MustProfile(testing::RepeatedResidualProfile(proto));
  return {std::move(graph), std::move(profile)};
}

uint64_t Fraction(const GraphModel& graph, double fraction) {
  return static_cast<uint64_t>(
      fraction *
      static_cast<double>(AlignedPeakLiveBytes(graph, kDefaultAlignmentBytes)));
}

std::optional<double> FirstTouchUs(const Instance& in, uint64_t budget) {
  absl::StatusOr<PlanOutcome> first =
      RunBaseline(in.graph, in.profile, v1::METHOD_FIRST_TOUCH, budget);
  if (!first.ok() || !first->plan.has_value()) return std::nullopt;
  return first->plan->predicted_time_us();
}

// The guarantees every returned plan keeps.
void ExpectGuarantees(const Instance& in, const PlanOptions& options,
                      const PlanOutcome& outcome) {
  SCOPED_TRACE(absl::StrCat(MethodName(options.method), " at ",
                            options.budget_bytes,
                            " bytes: ", outcome.diagnostic));
  const std::optional<double> first_touch =
      FirstTouchUs(in, options.budget_bytes);
  if (first_touch.has_value()) {
    ASSERT_TRUE(outcome.plan.has_value());
  }
  if (!outcome.plan.has_value()) return;
  const v1::Plan& plan = *outcome.plan;
  absl::StatusOr<VerifyReport> report =
      VerifyPlan(in.graph, in.profile, plan, options.budget_bytes,
                 /*require_offsets=*/true);
  EXPECT_TRUE(report.ok()) << report.status();
  const double time = plan.predicted_time_us();
  if (first_touch.has_value()) {
    EXPECT_LE(time, *first_touch * (1 + 1e-9));
  }
  // Never slower than the heuristic's plan, which every call makes.
  EXPECT_TRUE(outcome.heuristic_time_us.has_value());
  if (outcome.heuristic_time_us.has_value()) {
    EXPECT_LE(time, *outcome.heuristic_time_us * (1 + 1e-9));
  }
  if (outcome.seed_time_us.has_value()) {
    EXPECT_LE(time, *outcome.seed_time_us * (1 + 1e-9));
  }
  if (options.method == v1::METHOD_ASYNCHRONOUS) {
    EXPECT_TRUE(outcome.seed_time_us.has_value());
  }
  // Honest terminations: a heuristic is HEURISTIC, and OPTIMAL is proven.
  if (outcome.source == PlanSource::kFirstTouch ||
      outcome.source == PlanSource::kHeuristic) {
    EXPECT_TRUE(outcome.stats.termination() == v1::TERMINATION_HEURISTIC ||
                outcome.stats.termination() == v1::TERMINATION_OPTIMAL ||
                outcome.stats.termination() == v1::TERMINATION_CANCELLED)
        << TerminationName(outcome.stats.termination());
  }
  if (outcome.stats.termination() == v1::TERMINATION_HEURISTIC) {
    EXPECT_TRUE(outcome.source == PlanSource::kFirstTouch ||
                outcome.source == PlanSource::kHeuristic);
  }
  if (outcome.stats.termination() == v1::TERMINATION_OPTIMAL) {
    EXPECT_LE(outcome.stats.relative_gap(), options.relative_gap + 1e-9);
  }
  EXPECT_DOUBLE_EQ(outcome.stats.objective_us(), time);
}

constexpr v1::Method kIlpMethods[] = {v1::METHOD_STATIC, v1::METHOD_SYNCHRONOUS,
                                      v1::METHOD_ASYNCHRONOUS};

// Sweeps `in` at these fractions of its peak with a solver that stops at
// its first incumbent: every point keeps the guarantees of a single call,
// and the curve never rises with the budget.
void ExpectStarvedSweepKeepsGuarantees(
    const Instance& in, const SweepOptions& options,
    std::initializer_list<double> fractions) {
  std::vector<uint64_t> budgets;
  for (double f : fractions) budgets.push_back(Fraction(in.graph, f));
  FirstIncumbentSolver solver;
  absl::StatusOr<SweepResult> sweep =
      PlanSweep(in.graph, in.profile, budgets, options, &solver);
  ASSERT_TRUE(sweep.ok()) << sweep.status();
  std::optional<double> last;
  for (const SweepPoint& point : sweep->points) {
    if (!point.outcome.plan.has_value()) continue;
    PlanOptions at = options.plan;
    at.budget_bytes = point.budget_bytes;
    ExpectGuarantees(in, at, point.outcome);
    const double time = point.outcome.plan->predicted_time_us();
    if (last.has_value()) {
      EXPECT_LE(time, *last * (1 + 1e-9));
    }
    last = time;
  }
}

TEST(PlanGuaranteesTest, PoorIncumbentsNeverBeatFirstTouchOrTheSeed) {
  std::mt19937_64 rng(21);
  for (int trial = 0; trial < 12; ++trial) {
    const Instance in = RandomInstance(rng);
    for (double fraction : {0.3, 0.5, 0.8}) {
      for (v1::Method method : kIlpMethods) {
        PlanOptions options;
        options.method = method;
        options.budget_bytes = Fraction(in.graph, fraction);
        options.time_limit_seconds = 0.2;
        FirstIncumbentSolver solver;
        absl::StatusOr<PlanOutcome> outcome =
            PlanGraph(in.graph, in.profile, options, &solver);
        ASSERT_TRUE(outcome.ok()) << outcome.status();
        ExpectGuarantees(in, options, *outcome);
      }
    }
  }
}

TEST(PlanGuaranteesTest, StarvedCbcKeepsEveryGuarantee) {
  std::mt19937_64 rng(2021);
  auto cbc = MakeCbcSolver();
  for (int trial = 0; trial < 8; ++trial) {
    const Instance in = RandomInstance(rng);
    for (double limit : {0.01, 0.1}) {
      for (v1::Method method : kIlpMethods) {
        PlanOptions options;
        options.method = method;
        options.budget_bytes = Fraction(in.graph, 0.4);
        options.time_limit_seconds = limit;
        absl::StatusOr<PlanOutcome> outcome =
            PlanGraph(in.graph, in.profile, options, cbc.get());
        ASSERT_TRUE(outcome.ok()) << outcome.status();
        ExpectGuarantees(in, options, *outcome);
      }
    }
  }
}

// Recomputation (issue 22) in every ILP variant: each call starts from the
// poorer variant's plan (static+recompute from static, sync+recompute from
// sync, async+recompute from sync+recompute), so it is never slower than
// that; on these small models, solved to optimality, it is never slower
// than its method without recomputation either. Starved, every guarantee
// holds.
TEST(PlanGuaranteesTest, RecomputeNeverLosesToThePoorerVariants) {
  std::mt19937_64 rng(22);
  auto cbc = MakeCbcSolver();
  for (int trial = 0; trial < 6; ++trial) {
    const Instance in = RandomInstance(rng);
    for (double fraction : {0.4, 0.7}) {
      std::map<std::pair<v1::Method, bool>, double> time;
      for (bool recompute : {false, true}) {
        for (v1::Method method : kIlpMethods) {
          PlanOptions options;
          options.method = method;
          options.recompute = recompute;
          options.budget_bytes = Fraction(in.graph, fraction);
          options.relative_gap = 0;
          absl::StatusOr<PlanOutcome> outcome =
              PlanGraph(in.graph, in.profile, options, cbc.get());
          ASSERT_TRUE(outcome.ok()) << outcome.status();
          ExpectGuarantees(in, options, *outcome);
          if (recompute) EXPECT_TRUE(outcome->seed_time_us.has_value());
          if (!outcome->plan.has_value()) continue;
          time[{method, recompute}] = outcome->plan->predicted_time_us();
        }
      }
      if (time.size() < 6) continue;
      constexpr double kSlack = 1 + 1e-6;
      for (v1::Method method : kIlpMethods) {
        const double with = time[std::make_pair(method, true)];
        const double without = time[std::make_pair(method, false)];
        EXPECT_LE(with, without * kSlack) << MethodName(method);
      }
      const double async_with =
          time[std::make_pair(v1::METHOD_ASYNCHRONOUS, true)];
      const double sync_with =
          time[std::make_pair(v1::METHOD_SYNCHRONOUS, true)];
      EXPECT_LE(async_with, sync_with * kSlack);
    }
    for (v1::Method method : kIlpMethods) {
      PlanOptions options;
      options.method = method;
      options.recompute = true;
      options.budget_bytes = Fraction(in.graph, 0.4);
      options.time_limit_seconds = 0.2;
      FirstIncumbentSolver solver;
      absl::StatusOr<PlanOutcome> outcome =
          PlanGraph(in.graph, in.profile, options, &solver);
      ASSERT_TRUE(outcome.ok()) << outcome.status();
      ExpectGuarantees(in, options, *outcome);
    }
  }
}

// The async ILP finds nothing: the call hands back its sync seed, which is
// the plan a separate sync call gives (CBC is deterministic at these
// sizes), marked as the optimised plan it is.
TEST(PlanGuaranteesTest, AsyncWithoutAPlanOfItsOwnIsTheSyncPlan) {
  std::mt19937_64 rng(5);
  auto cbc = MakeCbcSolver();
  for (int trial = 0; trial < 6; ++trial) {
    const Instance in = RandomInstance(rng);
    PlanOptions options;
    options.method = v1::METHOD_SYNCHRONOUS;
    options.budget_bytes = Fraction(in.graph, 0.5);
    options.relative_gap = 0;
    absl::StatusOr<PlanOutcome> sync =
        PlanGraph(in.graph, in.profile, options, cbc.get());
    ASSERT_TRUE(sync.ok()) << sync.status();
    if (!sync->plan.has_value()) continue;
    options.method = v1::METHOD_ASYNCHRONOUS;
    // Good calls: the sync seed's static solve (every sync call without a
    // warm start obtains the static plan) and the sync seed itself.
    NothingAfterSolver solver(/*good_calls=*/2);
    absl::StatusOr<PlanOutcome> async =
        PlanGraph(in.graph, in.profile, options, &solver);
    ASSERT_TRUE(async.ok()) << async.status();
    ExpectGuarantees(in, options, *async);
    ASSERT_TRUE(async->plan.has_value());
    EXPECT_LE(async->plan->predicted_time_us(),
              sync->plan->predicted_time_us() * (1 + 1e-9));
    if (async->source == PlanSource::kSeed) {
      EXPECT_NE(async->stats.termination(), v1::TERMINATION_HEURISTIC);
    }
  }
}

// A plan of a smaller budget is valid under a larger one, offsets included:
// a call given it never returns anything slower.
TEST(PlanGuaranteesTest, NeverSlowerThanAValidWarmStart) {
  std::mt19937_64 rng(77);
  auto cbc = MakeCbcSolver();
  for (int trial = 0; trial < 8; ++trial) {
    const Instance in = RandomInstance(rng);
    for (v1::Method method : kIlpMethods) {
      PlanOptions options;
      options.method = method;
      options.budget_bytes = Fraction(in.graph, 0.4);
      absl::StatusOr<PlanOutcome> small =
          PlanGraph(in.graph, in.profile, options, cbc.get());
      ASSERT_TRUE(small.ok()) << small.status();
      if (!small->plan.has_value()) continue;
      options.budget_bytes = Fraction(in.graph, 0.7);
      ASSERT_TRUE(VerifyPlan(in.graph, in.profile, *small->plan,
                             options.budget_bytes, /*require_offsets=*/true)
                      .ok());
      options.warm_start = &*small->plan;
      options.time_limit_seconds = 0.2;
      FirstIncumbentSolver solver;
      absl::StatusOr<PlanOutcome> large =
          PlanGraph(in.graph, in.profile, options, &solver);
      ASSERT_TRUE(large.ok()) << large.status();
      ExpectGuarantees(in, options, *large);
      ASSERT_TRUE(large->plan.has_value());
      EXPECT_LE(large->plan->predicted_time_us(),
                small->plan->predicted_time_us() * (1 + 1e-9));
      EXPECT_EQ(large->plan->budget_bytes(), options.budget_bytes);
    }
  }
}

// CBC on models of `good_columns` columns; on every other model CBC
// stopped at its first incumbent, without the planner's start.
class PoorUnlessColumnsSolver : public Solver {
 public:
  explicit PoorUnlessColumnsSolver(int good_columns)
      : cbc_(MakeCbcSolver()), good_columns_(good_columns) {}
  std::string name() const override { return "poor-unless-columns"; }
  absl::StatusOr<SolveResult> Solve(const IlpModel& model,
                                    const SolveParams& params) override {
    if (model.num_columns() == good_columns_) return cbc_->Solve(model, params);
    SolveParams poor = params;
    poor.initial_solution.clear();
    poor.relative_gap = 1.0;
    poor.max_nodes = 0;
    return cbc_->Solve(model, poor);
  }

 private:
  std::unique_ptr<Solver> cbc_;
  int good_columns_;
};

// sync <= static within one call on small models too (below the 20,000
// columns where the static plan is also CBC's start): a sync ILP whose
// solver hands back a poor incumbent still returns a plan no slower than
// the static plan, which the call obtains and keeps as a candidate.
TEST(PlanGuaranteesTest, SmallSyncCallsAreNeverSlowerThanTheStaticPlan) {
  std::mt19937_64 rng(31);
  auto cbc = MakeCbcSolver();
  int compared = 0;
  for (int trial = 0; trial < 12; ++trial) {
    const Instance in = RandomInstance(rng);
    for (double fraction : {0.3, 0.5}) {
      PlanOptions options;
      options.method = v1::METHOD_STATIC;
      options.budget_bytes = Fraction(in.graph, fraction);
      options.relative_gap = 0;
      absl::StatusOr<PlanOutcome> static_outcome =
          PlanGraph(in.graph, in.profile, options, cbc.get());
      ASSERT_TRUE(static_outcome.ok()) << static_outcome.status();
      if (!static_outcome->plan.has_value()) continue;
      // The static model's size tells its solves from the sync ILP's (which
      // has move columns besides).
      PoorUnlessColumnsSolver solver(
          static_cast<int>(static_outcome->stats.variables()));
      options.method = v1::METHOD_SYNCHRONOUS;
      options.time_limit_seconds = 5;
      absl::StatusOr<PlanOutcome> sync =
          PlanGraph(in.graph, in.profile, options, &solver);
      ASSERT_TRUE(sync.ok()) << sync.status();
      ASSERT_LT(sync->stats.variables(), 20000);
      ExpectGuarantees(in, options, *sync);
      ASSERT_TRUE(sync->plan.has_value());
      EXPECT_TRUE(sync->seed_time_us.has_value());
      EXPECT_LE(sync->plan->predicted_time_us(),
                static_outcome->plan->predicted_time_us() * (1 + 1e-9))
          << "trial " << trial << " at " << fraction << ": "
          << sync->diagnostic;
      ++compared;
    }
  }
  EXPECT_GT(compared, 10);
}

TEST(PlanGuaranteesTest, StarvedSweepsNeverRise) {
  std::mt19937_64 rng(99);
  for (int trial = 0; trial < 6; ++trial) {
    const Instance in = RandomInstance(rng);
    for (v1::Method method : kIlpMethods) {
      SweepOptions options;
      options.plan.method = method;
      options.plan.time_limit_seconds = 0.05;
      ExpectStarvedSweepKeepsGuarantees(in, options,
                                        {0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 0.95});
    }
  }
}

// Cancelled at once (Ctrl-C during the first seed solve): every variant
// still hands back a valid plan - the heuristic's at least - marked
// CANCELLED (issue 18: a cancel must keep the best plan so far).
TEST(PlanGuaranteesTest, CancelledAtOnceStillReturnsAPlan) {
  std::mt19937_64 rng(77);
  auto cbc = MakeCbcSolver();
  const std::atomic<bool> cancel{true};
  for (int trial = 0; trial < 4; ++trial) {
    const Instance in = RandomInstance(rng);
    for (v1::Method method : kIlpMethods) {
      PlanOptions options;
      options.method = method;
      options.budget_bytes = Fraction(in.graph, 0.4);
      options.cancel = &cancel;
      absl::StatusOr<PlanOutcome> outcome =
          PlanGraph(in.graph, in.profile, options, cbc.get());
      ASSERT_TRUE(outcome.ok()) << outcome.status();
      ASSERT_TRUE(outcome->plan.has_value()) << outcome->diagnostic;
      EXPECT_EQ(outcome->stats.termination(), v1::TERMINATION_CANCELLED)
          << TerminationName(outcome->stats.termination());
      ExpectGuarantees(in, options, *outcome);
    }
  }
}

// Repetition on (the tied model solved and broadcast) under limits that
// starve CBC, with CBC as is and stopped at its first incumbent: every
// guarantee holds, and the call's plan is never slower than the broadcast
// plan it had (static >= sync >= async within a call: ExpectGuarantees).
TEST(PlanGuaranteesTest, StarvedCallsWithRepetitionKeepEveryGuarantee) {
  auto cbc = MakeCbcSolver();
  const Instance in = RepeatedInstance(6);
  int broadcasts = 0;
  for (double fraction : {0.35, 0.6}) {
    for (double limit : {0.01, 0.3}) {
      for (bool poor : {false, true}) {
        for (v1::Method method : kIlpMethods) {
          SCOPED_TRACE(
              absl::StrCat("limit ", limit, poor ? ", first incumbents" : ""));
          PlanOptions options;
          options.method = method;
          options.budget_bytes = Fraction(in.graph, fraction);
          options.time_limit_seconds = limit;
          options.exploit_repetition = true;
          FirstIncumbentSolver first_incumbent;
          Solver* solver = poor ? &first_incumbent : cbc.get();
          absl::StatusOr<PlanOutcome> outcome =
              PlanGraph(in.graph, in.profile, options, solver);
          ASSERT_TRUE(outcome.ok()) << outcome.status();
          ExpectGuarantees(in, options, *outcome);
          ASSERT_TRUE(outcome->plan.has_value());
          // No report when the call ends before its own model (an async
          // call whose sync seed left too little time).
          if (outcome->repetition.has_value() &&
              outcome->repetition->broadcast_time_us.has_value()) {
            ++broadcasts;
            EXPECT_LE(outcome->plan->predicted_time_us(),
                      *outcome->repetition->broadcast_time_us * (1 + 1e-9));
          }
        }
      }
    }
  }
  EXPECT_GT(broadcasts, 0);  // the tied solve took part
}

TEST(PlanGuaranteesTest, StarvedSweepsWithRepetitionNeverRise) {
  const Instance in = RepeatedInstance(6);
  for (v1::Method method : kIlpMethods) {
    SweepOptions options;
    options.plan.method = method;
    options.plan.time_limit_seconds = 0.05;
    options.plan.exploit_repetition = true;
    ExpectStarvedSweepKeepsGuarantees(in, options,
                                      {0.3, 0.4, 0.5, 0.6, 0.8, 0.95});
  }
}

}  // namespace
}  // namespace autotm::solver
