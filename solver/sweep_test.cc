// Tests of PlanSweep: the same optima as independent PlanGraph calls, a
// monotone curve, warm starts that reach the solver, the infeasible and
// all-fast shortcuts, cancellation; and of PlanOptions::warm_start itself.
#include "solver/sweep.h"

#include <atomic>
#include <bit>
#include <memory>
#include <random>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solver/allocator.h"
#include "solver/cbc_solver.h"
#include "solver/testing/test_graphs.h"
#include "solver/verifier.h"

namespace autotm::solver {
namespace {

using ::autotm::solver::testing::FullTableProfile;
using ::autotm::solver::testing::GraphBuilder;
using ::autotm::solver::testing::MustGraph;
using ::autotm::solver::testing::MustProfile;
using ::testing::HasSubstr;

constexpr uint64_t kMiB = 1 << 20;

double PenaltyTime(int, ConfigMask mask) {
  return 100.0 + 1000.0 * std::popcount(mask);
}

// Forwards to CBC and records what it was asked; from call `fail_from` on
// (1-based; 0 = never) it reports no solution instead of solving.
class RecordingSolver : public Solver {
 public:
  RecordingSolver() : cbc_(MakeCbcSolver()) {}
  std::string name() const override { return cbc_->name(); }
  absl::StatusOr<SolveResult> Solve(const IlpModel& model,
                                    const SolveParams& params) override {
    ++calls;
    if (!params.initial_solution.empty()) ++calls_with_start;
    if (fail_from > 0 && calls >= fail_from) return SolveResult{};
    return cbc_->Solve(model, params);
  }
  int calls = 0;
  int calls_with_start = 0;
  int fail_from = 0;

 private:
  std::unique_ptr<Solver> cbc_;
};

SweepOptions ExactOptions(v1::Method method = v1::METHOD_SYNCHRONOUS) {
  SweepOptions options;
  options.plan.method = method;
  options.plan.relative_gap = 1e-9;
  options.plan.time_limit_seconds = 30;
  return options;
}

PlanOptions FirstTouch(uint64_t budget) {
  PlanOptions options;
  options.method = v1::METHOD_FIRST_TOUCH;
  options.budget_bytes = budget;
  return options;
}

GraphModel Chain() {
  return MustGraph(GraphBuilder("chain")
                       .Tensor("x", 4 * kMiB, v1::TENSOR_ROLE_INPUT)
                       .Tensor("a", 4 * kMiB)
                       .Tensor("b", 4 * kMiB)
                       .Tensor("c", 4 * kMiB)
                       .Tensor("d", kMiB)
                       .Kernel("k0", {"x"}, {"a"})
                       .Kernel("k1", {"a"}, {"b"})
                       .Kernel("k2", {"b"}, {"c"})
                       .Kernel("k3", {"a", "c"}, {"d"})
                       .graph());
}

std::vector<uint64_t> Fractions(const GraphModel& graph,
                                const std::vector<double>& fractions) {
  const uint64_t peak = AlignedPeakLiveBytes(graph, kDefaultAlignmentBytes);
  std::vector<uint64_t> budgets;
  for (double f : fractions) {
    budgets.push_back(static_cast<uint64_t>(f * static_cast<double>(peak)));
  }
  return budgets;
}

TEST(PlanSweepTest, SameOptimaAsIndependentSolvesOnRandomGraphs) {
  std::mt19937_64 rng(20260127);
  auto cbc = MakeCbcSolver();
  int compared = 0;
  for (int trial = 0; trial < 12; ++trial) {
    const GraphModel graph = MustGraph(testing::RandomGraph(rng, 7, 7));
    const ProfileModel profile =
        MustProfile(FullTableProfile(graph, [&](int k, ConfigMask mask) {
          return testing::OptaneLikeTimeUs(50.0 + 40.0 * k,
                                           graph.kernel(k).num_inputs, mask);
        }));
    for (v1::Method method : {v1::METHOD_STATIC, v1::METHOD_SYNCHRONOUS}) {
      const SweepOptions options = ExactOptions(method);
      const std::vector<uint64_t> budgets =
          Fractions(graph, {0.1, 0.3, 0.5, 0.7, 0.9, 1.0, 1.2});
      absl::StatusOr<SweepResult> sweep =
          PlanSweep(graph, profile, budgets, options, cbc.get());
      ASSERT_TRUE(sweep.ok()) << sweep.status();
      ASSERT_EQ(sweep->points.size(), budgets.size());
      for (const SweepPoint& point : sweep->points) {
        PlanOptions alone = options.plan;
        alone.budget_bytes = point.budget_bytes;
        absl::StatusOr<PlanOutcome> expected =
            PlanGraph(graph, profile, alone, cbc.get());
        ASSERT_TRUE(expected.ok()) << expected.status();
        SCOPED_TRACE(absl::StrCat("trial ", trial, " ", MethodName(method),
                                  " budget ", point.budget_bytes));
        EXPECT_EQ(point.outcome.plan.has_value(), expected->plan.has_value())
            << point.outcome.diagnostic << " vs " << expected->diagnostic;
        if (!point.outcome.plan.has_value()) {
          EXPECT_EQ(point.outcome.stats.termination(),
                    v1::TERMINATION_INFEASIBLE);
          continue;
        }
        const v1::Plan& plan = *point.outcome.plan;
        EXPECT_TRUE(VerifyPlan(graph, profile, plan, point.budget_bytes,
                               /*require_offsets=*/true)
                        .ok());
        // The fragmentation loop is a heuristic: compare exact optima only.
        if (expected->stats.termination() != v1::TERMINATION_OPTIMAL ||
            expected->stats.allocation_rounds() > 1 ||
            point.outcome.stats.allocation_rounds() > 1) {
          continue;
        }
        EXPECT_NEAR(plan.predicted_time_us(),
                    expected->plan->predicted_time_us(),
                    1e-6 * expected->plan->predicted_time_us());
        ++compared;
      }
    }
  }
  EXPECT_GT(compared, 60);
}

TEST(PlanSweepTest, TimeNeverIncreasesWithBudget) {
  std::mt19937_64 rng(7);
  auto cbc = MakeCbcSolver();
  for (int trial = 0; trial < 10; ++trial) {
    const GraphModel graph = MustGraph(testing::RandomGraph(rng, 8, 8));
    const ProfileModel profile =
        MustProfile(FullTableProfile(graph, [&](int k, ConfigMask mask) {
          return testing::OptaneLikeTimeUs(30.0 + 10.0 * k,
                                           graph.kernel(k).num_inputs, mask);
        }));
    // Budgets out of order and repeated: planned once each, ascending.
    const std::vector<uint64_t> budgets =
        Fractions(graph, {0.9, 0.25, 0.5, 0.4, 0.25, 0.6, 0.75, 1.1});
    absl::StatusOr<SweepResult> sweep =
        PlanSweep(graph, profile, budgets,
                  ExactOptions(v1::METHOD_ASYNCHRONOUS), cbc.get());
    ASSERT_TRUE(sweep.ok()) << sweep.status();
    ASSERT_EQ(sweep->points.size(), 7u);
    const SweepPoint* last = nullptr;
    for (const SweepPoint& point : sweep->points) {
      if (last != nullptr) {
        EXPECT_LT(last->budget_bytes, point.budget_bytes);
      }
      if (!point.outcome.plan.has_value()) continue;
      if (last != nullptr && last->outcome.plan.has_value()) {
        EXPECT_LE(point.outcome.plan->predicted_time_us(),
                  last->outcome.plan->predicted_time_us() + 1e-6);
      }
      last = &point;
    }
  }
}

TEST(PlanSweepTest, EachSolveStartsFromTheSmallerBudgetsPlan) {
  const GraphModel graph = Chain();
  const ProfileModel profile =
      MustProfile(FullTableProfile(graph, PenaltyTime));
  const std::vector<uint64_t> budgets = {5 * kMiB, 8 * kMiB, 9 * kMiB,
                                         10 * kMiB};
  for (bool warm : {true, false}) {
    RecordingSolver solver;
    SweepOptions options = ExactOptions();
    options.warm_start = warm;
    int callbacks = 0;
    absl::StatusOr<SweepResult> sweep =
        PlanSweep(graph, profile, budgets, options, &solver,
                  [&](const SweepPoint&) { ++callbacks; });
    ASSERT_TRUE(sweep.ok()) << sweep.status();
    ASSERT_EQ(sweep->points.size(), 4u);
    EXPECT_EQ(callbacks, 4);
    // Every sync call without a warm start also obtains the static plan
    // (sync <= static within a call): one extra solve for the first budget
    // and, without the sweep's warm starts, for every budget.
    EXPECT_EQ(solver.calls, warm ? 5 : 8);
    // Small models get no built-in start, so every start is the sweep's.
    EXPECT_EQ(solver.calls_with_start, warm ? 3 : 0);
    EXPECT_EQ(sweep->warm_starts_used, warm ? 3 : 0);
    EXPECT_FALSE(sweep->points[0].outcome.warm_start_used);
    for (int i = 1; i < 4; ++i) {
      EXPECT_EQ(sweep->points[i].outcome.warm_start_used, warm) << i;
      EXPECT_EQ(sweep->points[i].source, SweepSource::kSolved);
    }
  }
}

TEST(PlanSweepTest, KeepsTheSmallerBudgetsPlanWhenALargerOneFindsNone) {
  const GraphModel graph = Chain();
  const ProfileModel profile =
      MustProfile(FullTableProfile(graph, PenaltyTime));
  RecordingSolver solver;
  // The second budget's solve finds nothing (calls 1 and 2 are the first
  // budget's static and sync solves; the second budget, warm-started by the
  // sweep, solves no static plan).
  solver.fail_from = 3;
  // Without the heuristic, whose plan at 9 MiB would beat the smaller
  // budget's (the premise here is that the larger budget finds nothing
  // better).
  SweepOptions options = ExactOptions();
  options.plan.heuristic = false;
  absl::StatusOr<SweepResult> sweep =
      PlanSweep(graph, profile, {8 * kMiB, 9 * kMiB}, options, &solver);
  ASSERT_TRUE(sweep.ok()) << sweep.status();
  ASSERT_EQ(sweep->points.size(), 2u);
  const SweepPoint& small = sweep->points[0];
  const SweepPoint& large = sweep->points[1];
  ASSERT_TRUE(small.outcome.plan.has_value());
  ASSERT_TRUE(large.outcome.plan.has_value());
  // PlanGraph alone falls back to first touch; the 8 MiB optimum is faster.
  absl::StatusOr<PlanOutcome> first_touch =
      PlanGraph(graph, profile, FirstTouch(9 * kMiB), nullptr);
  ASSERT_TRUE(first_touch.ok() && first_touch->plan.has_value());
  ASSERT_GT(first_touch->plan->predicted_time_us(),
            small.outcome.plan->predicted_time_us());
  EXPECT_EQ(large.source, SweepSource::kKeptSmaller);
  EXPECT_THAT(large.note, HasSubstr("kept the plan of the 8388608-byte"));
  // An optimised plan (of the smaller budget), not a heuristic: FEASIBLE,
  // since no bound of this budget proves it.
  EXPECT_EQ(large.outcome.stats.termination(), v1::TERMINATION_FEASIBLE);
  EXPECT_EQ(large.outcome.plan->budget_bytes(), 9 * kMiB);
  EXPECT_DOUBLE_EQ(large.outcome.plan->predicted_time_us(),
                   small.outcome.plan->predicted_time_us());
  EXPECT_TRUE(VerifyPlan(graph, profile, *large.outcome.plan, 9 * kMiB,
                         /*require_offsets=*/true)
                  .ok());
}

TEST(PlanSweepTest, BudgetsBelowTheSmallestFeasibleOneAreNotSolved) {
  const GraphModel graph = MustGraph(
      GraphBuilder("pinned")
          .Tensor("w", 16 * kMiB, v1::TENSOR_ROLE_WEIGHT, v1::TIER_FAST)
          .Tensor("x", kMiB, v1::TENSOR_ROLE_INPUT)
          .Tensor("y", kMiB)
          .Kernel("matmul", {"x", "w"}, {"y"})
          .graph());
  const ProfileModel profile =
      MustProfile(FullTableProfile(graph, PenaltyTime));
  for (int feasible = 0; feasible <= 5; ++feasible) {
    // `feasible` of six budgets from 17 MiB up; the rest below 16 MiB.
    std::vector<uint64_t> budgets;
    for (int i = 0; i < 6 - feasible; ++i) budgets.push_back((4 + i) * kMiB);
    for (int i = 0; i < feasible; ++i) budgets.push_back((17 + i) * kMiB);
    RecordingSolver solver;
    absl::StatusOr<SweepResult> sweep =
        PlanSweep(graph, profile, budgets, ExactOptions(), &solver);
    ASSERT_TRUE(sweep.ok()) << sweep.status();
    ASSERT_EQ(sweep->points.size(), 6u);
    // One solve per feasible budget at most, plus the static solve of the
    // first (the later ones are warm-started by the sweep, so obtain no
    // static plan).
    EXPECT_LE(solver.calls, feasible == 0 ? 0 : feasible + 1);
    for (int i = 0; i < 6; ++i) {
      const SweepPoint& point = sweep->points[i];
      EXPECT_EQ(point.outcome.plan.has_value(), i >= 6 - feasible) << i;
      if (i < 6 - feasible) {
        EXPECT_EQ(point.source, SweepSource::kInfeasible);
        EXPECT_EQ(point.outcome.stats.termination(),
                  v1::TERMINATION_INFEASIBLE);
      }
    }
    ASSERT_TRUE(sweep->largest_infeasible_bytes.has_value());
    EXPECT_EQ(*sweep->largest_infeasible_bytes, (9 - feasible) * kMiB);
    EXPECT_THAT(sweep->infeasible_diagnostic, HasSubstr("'matmul'"));
  }
}

TEST(PlanSweepTest, BudgetsAtThePeakTakeTheAllFastPlanWithoutSolving) {
  const GraphModel graph = Chain();
  const ProfileModel profile =
      MustProfile(FullTableProfile(graph, PenaltyTime));
  const uint64_t peak = AlignedPeakLiveBytes(graph, kDefaultAlignmentBytes);
  RecordingSolver solver;
  absl::StatusOr<SweepResult> sweep =
      PlanSweep(graph, profile, {peak / 2, peak + kMiB, 2 * peak},
                ExactOptions(), &solver);
  ASSERT_TRUE(sweep.ok()) << sweep.status();
  // Only peak / 2 is solved: its static plan and its sync ILP.
  EXPECT_EQ(solver.calls, 2);
  ASSERT_TRUE(sweep->all_fast_time_us.has_value());
  ASSERT_TRUE(sweep->all_slow_time_us.has_value());
  EXPECT_DOUBLE_EQ(*sweep->all_fast_time_us, 400.0);  // 4 kernels x 100 us
  EXPECT_GT(*sweep->all_slow_time_us, *sweep->all_fast_time_us);
  for (int i = 1; i < 3; ++i) {
    const SweepPoint& point = sweep->points[i];
    EXPECT_EQ(point.source, SweepSource::kAllFast);
    EXPECT_EQ(point.outcome.stats.termination(), v1::TERMINATION_OPTIMAL);
    ASSERT_TRUE(point.outcome.plan.has_value());
    EXPECT_DOUBLE_EQ(point.outcome.plan->predicted_time_us(), 400.0);
  }

  // A profile where k0 runs faster with its input x slow (where x starts,
  // at no cost): all-fast is not optimal, so the budget is solved.
  const ProfileModel odd =
      MustProfile(FullTableProfile(graph, [](int k, ConfigMask mask) {
        return k == 0 && mask == 1 ? 50.0 : PenaltyTime(k, mask);
      }));
  RecordingSolver odd_solver;
  sweep = PlanSweep(graph, odd, {peak + kMiB}, ExactOptions(), &odd_solver);
  ASSERT_TRUE(sweep.ok()) << sweep.status();
  EXPECT_EQ(odd_solver.calls, 2);  // static plan, then the sync ILP
  EXPECT_EQ(sweep->points[0].source, SweepSource::kSolved);
  EXPECT_LT(sweep->points[0].outcome.plan->predicted_time_us(),
            *sweep->all_fast_time_us);
}

TEST(PlanSweepTest, CancellationKeepsThePointsSettledSoFar) {
  const GraphModel graph = Chain();
  const ProfileModel profile =
      MustProfile(FullTableProfile(graph, PenaltyTime));
  auto cbc = MakeCbcSolver();
  std::atomic<bool> cancel{false};
  SweepOptions options = ExactOptions();
  options.plan.cancel = &cancel;
  absl::StatusOr<SweepResult> sweep =
      PlanSweep(graph, profile, {5 * kMiB, 8 * kMiB, 9 * kMiB}, options,
                cbc.get(), [&](const SweepPoint&) { cancel = true; });
  ASSERT_TRUE(sweep.ok()) << sweep.status();
  EXPECT_TRUE(sweep->cancelled);
  ASSERT_EQ(sweep->points.size(), 1u);
  EXPECT_TRUE(sweep->points[0].outcome.plan.has_value());
}

TEST(PlanSweepTest, ErrorsAreTheCallersToFix) {
  const GraphModel graph = Chain();
  const ProfileModel profile =
      MustProfile(FullTableProfile(graph, PenaltyTime));
  auto cbc = MakeCbcSolver();
  EXPECT_EQ(
      PlanSweep(graph, profile, {}, ExactOptions(), cbc.get()).status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PlanSweep(graph, profile, {kMiB}, ExactOptions(), nullptr)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  SweepOptions no_time = ExactOptions();
  no_time.plan.time_limit_seconds = 0;
  EXPECT_EQ(PlanSweep(graph, profile, {100 * kMiB}, no_time, cbc.get())
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  v1::Profile partial = FullTableProfile(graph, PenaltyTime);
  partial.mutable_kernels()->DeleteSubrange(3, 1);
  EXPECT_EQ(
      PlanSweep(graph, MustProfile(partial), {kMiB}, ExactOptions(), cbc.get())
          .status()
          .code(),
      absl::StatusCode::kFailedPrecondition);
}

TEST(PlanWarmStartTest, AStartThatDoesNotFitIsSkippedAndSaysWhy) {
  const GraphModel graph = Chain();
  const ProfileModel profile =
      MustProfile(FullTableProfile(graph, PenaltyTime));
  RecordingSolver solver;
  PlanOptions options;
  options.relative_gap = 1e-9;
  options.budget_bytes = 12 * kMiB;
  absl::StatusOr<PlanOutcome> roomy =
      PlanGraph(graph, profile, options, &solver);
  ASSERT_TRUE(roomy.ok() && roomy->plan.has_value());
  EXPECT_FALSE(roomy->warm_start_used);
  EXPECT_EQ(roomy->warm_start_skipped, "");

  // The 12 MiB plan keeps more than 5 MiB fast somewhere.
  options.budget_bytes = 5 * kMiB;
  options.warm_start = &*roomy->plan;
  absl::StatusOr<PlanOutcome> tight =
      PlanGraph(graph, profile, options, &solver);
  ASSERT_TRUE(tight.ok() && tight->plan.has_value());
  EXPECT_FALSE(tight->warm_start_used);
  EXPECT_THAT(tight->warm_start_skipped, HasSubstr("above the limit"));
  EXPECT_EQ(solver.calls_with_start, 0);

  // A plan of another graph.
  const GraphModel other =
      MustGraph(GraphBuilder("other")
                    .Tensor("x", kMiB, v1::TENSOR_ROLE_INPUT)
                    .Tensor("y", kMiB)
                    .Kernel("k0", {"x"}, {"y"})
                    .graph());
  const ProfileModel other_profile =
      MustProfile(FullTableProfile(other, PenaltyTime));
  PlanOptions other_options;
  other_options.budget_bytes = 4 * kMiB;
  absl::StatusOr<PlanOutcome> foreign =
      PlanGraph(other, other_profile, other_options, &solver);
  ASSERT_TRUE(foreign.ok() && foreign->plan.has_value());
  options.budget_bytes = 12 * kMiB;
  options.warm_start = &*foreign->plan;
  absl::StatusOr<PlanOutcome> mismatched =
      PlanGraph(graph, profile, options, &solver);
  ASSERT_TRUE(mismatched.ok() && mismatched->plan.has_value());
  EXPECT_FALSE(mismatched->warm_start_used);
  EXPECT_THAT(mismatched->warm_start_skipped, HasSubstr("places 2 tensors"));

  // A fitting start is used, and the optimum is unchanged.
  options.warm_start = &*tight->plan;
  absl::StatusOr<PlanOutcome> warm =
      PlanGraph(graph, profile, options, &solver);
  ASSERT_TRUE(warm.ok() && warm->plan.has_value());
  EXPECT_TRUE(warm->warm_start_used);
  EXPECT_EQ(warm->warm_start_skipped, "");
  EXPECT_EQ(solver.calls_with_start, 1);
  EXPECT_DOUBLE_EQ(warm->plan->predicted_time_us(),
                   roomy->plan->predicted_time_us());
}

}  // namespace
}  // namespace autotm::solver
