#include "solver/heuristic.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "solver/allocator.h"
#include "solver/baselines.h"
#include "solver/cbc_solver.h"
#include "solver/planner.h"
#include "solver/testing/test_graphs.h"
#include "solver/verifier.h"

namespace autotm::solver {
namespace {

using ::autotm::solver::testing::FullTableProfile;
using ::autotm::solver::testing::GraphBuilder;
using ::autotm::solver::testing::MustGraph;
using ::autotm::solver::testing::MustProfile;

struct Instance {
  GraphModel graph;
  ProfileModel profile;
};

// Kernel time = base * 1.5 per slow input * 3 per slow output: slowdowns
// that multiply, as the bundled example's profile (not separable).
double MultiplicativeTimeUs(double base_us, int num_inputs, ConfigMask mask) {
  double time = base_us;
  for (int p = 0; mask >> p != 0; ++p) {
    if (mask >> p & 1) time *= p < num_inputs ? 1.5 : 3.0;
  }
  return time;
}

Instance RandomInstance(std::mt19937_64& rng, int max_tensors, int max_kernels,
                        bool multiplicative = false) {
  GraphModel graph =
      MustGraph(testing::RandomGraph(rng, max_tensors, max_kernels));
  v1::Profile profile = FullTableProfile(graph, [&](int k, ConfigMask mask) {
    const double base = 30.0 + 10.0 * k;
    const int inputs = graph.kernel(k).num_inputs;
    return multiplicative ? MultiplicativeTimeUs(base, inputs, mask)
                          : testing::OptaneLikeTimeUs(base, inputs, mask);
  });
  ProfileModel model = MustProfile(profile);
  return {std::move(graph), std::move(model)};
}

uint64_t Fraction(const GraphModel& graph, double fraction) {
  return static_cast<uint64_t>(
      fraction *
      static_cast<double>(AlignedPeakLiveBytes(graph, kDefaultAlignmentBytes)));
}

double TimeOf(const absl::StatusOr<PlanOutcome>& outcome) {
  return outcome.ok() && outcome->plan.has_value()
             ? outcome->plan->predicted_time_us()
             : std::nan("");
}

// Every heuristic plan verifies with its offsets under the budget, is never
// slower than first touch, and moves nothing when moves are not allowed.
TEST(HeuristicTest, PlansAreValidAndNeverSlowerThanFirstTouch) {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 60; ++trial) {
    const Instance in = RandomInstance(rng, 12, 10);
    for (double fraction : {0.2, 0.5, 0.8, 1.0}) {
      const uint64_t budget = Fraction(in.graph, fraction);
      for (bool moves : {true, false}) {
        SCOPED_TRACE(absl::StrCat("trial ", trial, " at ", fraction,
                                  moves ? " with moves" : " static"));
        HeuristicOptions options;
        options.allow_moves = moves;
        absl::StatusOr<PlanOutcome> outcome =
            RunHeuristic(in.graph, in.profile, budget, options);
        ASSERT_TRUE(outcome.ok()) << outcome.status();
        ASSERT_TRUE(outcome->plan.has_value()) << outcome->diagnostic;
        const v1::Plan& plan = *outcome->plan;
        EXPECT_EQ(outcome->stats.termination(), v1::TERMINATION_HEURISTIC);
        absl::StatusOr<VerifyReport> report =
            VerifyPlan(in.graph, in.profile, plan, budget,
                       /*require_offsets=*/true);
        EXPECT_TRUE(report.ok()) << report.status();
        if (!moves) {
          EXPECT_EQ(plan.moves_size(), 0);
        }
        const double first_touch = TimeOf(
            RunBaseline(in.graph, in.profile, v1::METHOD_FIRST_TOUCH, budget));
        EXPECT_LE(plan.predicted_time_us(), first_touch * (1 + 1e-9));
      }
    }
  }
}

// Measured, not assumed: on random graphs the heuristic lands near the
// synchronous ILP's proven optimum, and far below first touch on average,
// with separable tables and with slowdowns that multiply (which the
// heuristic re-linearises). Observed when written: 0.74% above the optimum
// (first touch 27%) and 0.66% (first touch 17%).
class HeuristicQualityTest : public ::testing::TestWithParam<bool> {};

INSTANTIATE_TEST_SUITE_P(Tables, HeuristicQualityTest,
                         ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Multiplicative" : "Separable";
                         });

TEST_P(HeuristicQualityTest, CloseToTheSyncOptimumOnRandomGraphs) {
  std::mt19937_64 rng(11);
  auto cbc = MakeCbcSolver();
  double log_heuristic = 0;
  double log_first_touch = 0;
  int cells = 0;
  for (int trial = 0; trial < 30; ++trial) {
    const Instance in = RandomInstance(rng, 12, 10, GetParam());
    for (double fraction : {0.3, 0.6}) {
      const uint64_t budget = Fraction(in.graph, fraction);
      PlanOptions options;
      options.method = v1::METHOD_SYNCHRONOUS;
      options.budget_bytes = budget;
      options.relative_gap = 0;
      absl::StatusOr<PlanOutcome> optimum =
          PlanGraph(in.graph, in.profile, options, cbc.get());
      ASSERT_TRUE(optimum.ok()) << optimum.status();
      if (!optimum->plan.has_value() ||
          optimum->stats.termination() != v1::TERMINATION_OPTIMAL) {
        continue;
      }
      const double best = optimum->plan->predicted_time_us();
      const double heuristic =
          TimeOf(RunHeuristic(in.graph, in.profile, budget));
      const double first_touch = TimeOf(
          RunBaseline(in.graph, in.profile, v1::METHOD_FIRST_TOUCH, budget));
      ASSERT_FALSE(std::isnan(heuristic));
      EXPECT_GE(heuristic, best * (1 - 1e-9));
      log_heuristic += std::log(heuristic / best);
      log_first_touch += std::log(first_touch / best);
      ++cells;
    }
  }
  ASSERT_GT(cells, 20);
  const double heuristic_ratio = std::exp(log_heuristic / cells);
  const double first_touch_ratio = std::exp(log_first_touch / cells);
  RecordProperty("heuristic_geomean", absl::StrCat(heuristic_ratio));
  RecordProperty("first_touch_geomean", absl::StrCat(first_touch_ratio));
  EXPECT_LT(heuristic_ratio, 1.05);
  EXPECT_LT(heuristic_ratio - 1, (first_touch_ratio - 1) / 2);
}

// A tensor that is cheap to fetch for each of its uses and expensive to keep
// slow gets moved: the heuristic makes moves where they pay.
TEST(HeuristicTest, FetchesATensorAroundItsUsesWhenTheBudgetIsTight) {
  // w is used at k0 and k3; between them a and b (each as large as w) fill
  // the budget, so w can only be fast at its uses if it leaves in between.
  GraphBuilder builder;
  const uint64_t mib = 1 << 20;
  builder.Tensor("w", 8 * mib, v1::TENSOR_ROLE_WEIGHT)
      .Tensor("x", mib, v1::TENSOR_ROLE_INPUT)
      .Tensor("a", 8 * mib)
      .Tensor("b", 8 * mib)
      .Tensor("c", mib)
      .Tensor("d", mib)
      .Kernel("k0", {"w", "x"}, {"a"})
      .Kernel("k1", {"a"}, {"b"})
      .Kernel("k2", {"b"}, {"c"})
      .Kernel("k3", {"w", "c"}, {"d"});
  const GraphModel graph = MustGraph(builder.graph());
  v1::Profile profile = FullTableProfile(graph, [&](int k, ConfigMask mask) {
    // A slow operand costs 10 ms per slow operand, far above a copy of 8 MiB
    // (under 1 ms at the Optane bandwidths).
    return 100.0 + 10000.0 * __builtin_popcountll(mask);
  });
  const ProfileModel model = MustProfile(profile);
  const uint64_t budget = 18 * mib;
  absl::StatusOr<PlanOutcome> outcome = RunHeuristic(graph, model, budget);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  ASSERT_TRUE(outcome->plan.has_value());
  EXPECT_TRUE(VerifyPlan(graph, model, *outcome->plan, budget, true).ok());
  auto cbc = MakeCbcSolver();
  PlanOptions options;
  options.budget_bytes = budget;
  options.relative_gap = 0;
  absl::StatusOr<PlanOutcome> optimum =
      PlanGraph(graph, model, options, cbc.get());
  ASSERT_TRUE(optimum.ok() && optimum->plan.has_value());
  EXPECT_NEAR(outcome->plan->predicted_time_us(),
              optimum->plan->predicted_time_us(),
              1e-6 * optimum->plan->predicted_time_us());
  EXPECT_GT(outcome->plan->moves_size(), 0);
}

TEST(HeuristicTest, PinnedTensorsOverTheBudgetAreInfeasible) {
  GraphBuilder builder;
  builder.Tensor("w", 4 << 20, v1::TENSOR_ROLE_WEIGHT, v1::TIER_FAST)
      .Tensor("x", 1 << 20, v1::TENSOR_ROLE_INPUT)
      .Tensor("y", 1 << 20)
      .Kernel("k0", {"w", "x"}, {"y"});
  const GraphModel graph = MustGraph(builder.graph());
  const ProfileModel profile =
      MustProfile(FullTableProfile(graph, [](int, ConfigMask) { return 1.0; }));
  absl::StatusOr<PlanOutcome> outcome = RunHeuristic(graph, profile, 2 << 20);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_FALSE(outcome->plan.has_value());
  EXPECT_EQ(outcome->stats.termination(), v1::TERMINATION_INFEASIBLE);
  EXPECT_NE(outcome->diagnostic.find("'k0'"), std::string::npos)
      << outcome->diagnostic;
}

// The variant needs no solver, and an ILP call never returns a plan slower
// than the heuristic's, however starved.
TEST(HeuristicTest, VariantWithoutSolverAndIlpCallsNeverSlower) {
  std::mt19937_64 rng(3);
  auto cbc = MakeCbcSolver();
  for (int trial = 0; trial < 10; ++trial) {
    const Instance in = RandomInstance(rng, 12, 10);
    PlanOptions options;
    options.budget_bytes = Fraction(in.graph, 0.4);
    options.method = v1::METHOD_HEURISTIC;
    absl::StatusOr<PlanOutcome> heuristic =
        PlanGraph(in.graph, in.profile, options, /*solver=*/nullptr);
    ASSERT_TRUE(heuristic.ok()) << heuristic.status();
    ASSERT_TRUE(heuristic->plan.has_value());
    EXPECT_EQ(heuristic->source, PlanSource::kHeuristic);
    for (v1::Method method :
         {v1::METHOD_STATIC, v1::METHOD_SYNCHRONOUS, v1::METHOD_ASYNCHRONOUS}) {
      options.method = method;
      options.time_limit_seconds = 0.01;
      absl::StatusOr<PlanOutcome> ilp =
          PlanGraph(in.graph, in.profile, options, cbc.get());
      ASSERT_TRUE(ilp.ok()) << ilp.status();
      ASSERT_TRUE(ilp->plan.has_value());
      ASSERT_TRUE(ilp->heuristic_time_us.has_value());
      EXPECT_LE(ilp->plan->predicted_time_us(),
                *ilp->heuristic_time_us * (1 + 1e-9));
      if (method != v1::METHOD_STATIC) {
        // Deterministic at this size: the call's heuristic is the
        // variant's.
        EXPECT_LE(ilp->plan->predicted_time_us(),
                  heuristic->plan->predicted_time_us() * (1 + 1e-9));
      }
    }
  }
}

// Scale: a 6,000-kernel chain with long-lived activations (a forward pass
// whose outputs the backward pass reads in reverse) plans and verifies.
TEST(HeuristicTest, PlansALargeTrainingShapedGraph) {
  constexpr int kLayers = 1500;
  GraphBuilder builder;
  builder.Tensor("x", 1 << 20, v1::TENSOR_ROLE_INPUT);
  for (int i = 0; i < kLayers; ++i) {
    builder.Tensor(absl::StrCat("w", i), 1 << 16, v1::TENSOR_ROLE_WEIGHT)
        .Tensor(absl::StrCat("a", i), (1 + i % 7) << 18);
  }
  std::string previous = "x";
  for (int i = 0; i < kLayers; ++i) {
    builder.Kernel(absl::StrCat("f", i), {previous, absl::StrCat("w", i)},
                   {absl::StrCat("a", i)});
    previous = absl::StrCat("a", i);
  }
  builder.Tensor("g", 1 << 18);
  builder.Kernel("loss", {previous}, {"g"});
  std::string grad = "g";
  for (int i = kLayers - 1; i >= 0; --i) {
    const std::string out = absl::StrCat("d", i);
    builder.Tensor(out, 1 << 18);
    builder.Kernel(absl::StrCat("b", i), {grad, absl::StrCat("a", i)}, {out});
    grad = out;
  }
  const GraphModel graph = MustGraph(builder.graph());
  v1::Profile profile;
  *profile.mutable_bandwidths() = testing::OptaneBandwidths();
  for (const v1::Kernel& kernel : builder.graph().kernels()) {
    // Not a table: kernels differ by signature; a separable cost each.
    v1::KernelProfile* entry = profile.add_kernels();
    *entry->mutable_signature() = kernel.signature();
    v1::SeparableCost* cost = entry->mutable_separable();
    cost->set_all_fast_time_us(50);
    for (int p = 0; p < kernel.inputs_size(); ++p) {
      cost->add_input_slow_penalty_us(20 + 10 * p);
    }
    for (int p = 0; p < kernel.outputs_size(); ++p) {
      cost->add_output_slow_penalty_us(40);
    }
  }
  const ProfileModel model = MustProfile(profile);
  const uint64_t budget = Fraction(graph, 0.25);
  absl::StatusOr<PlanOutcome> outcome = RunHeuristic(graph, model, budget);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  ASSERT_TRUE(outcome->plan.has_value()) << outcome->diagnostic;
  EXPECT_TRUE(VerifyPlan(graph, model, *outcome->plan, budget, true).ok());
  const double first_touch =
      TimeOf(RunBaseline(graph, model, v1::METHOD_FIRST_TOUCH, budget));
  EXPECT_LT(outcome->plan->predicted_time_us(), first_touch);
}

// RepairLayout reads an ILP plan back exactly (a plan that fits comes back
// at the same predicted time) and fits one into a smaller pool than it was
// made for: valid with offsets there, without moves for a static plan.
TEST(HeuristicTest, RepairLayoutKeepsFittingPlansAndFitsOverflowingOnes) {
  std::mt19937_64 rng(19);
  auto cbc = MakeCbcSolver();
  for (int trial = 0; trial < 15; ++trial) {
    const Instance in = RandomInstance(rng, 12, 10);
    for (v1::Method method : {v1::METHOD_STATIC, v1::METHOD_SYNCHRONOUS}) {
      SCOPED_TRACE(absl::StrCat("trial ", trial, " ", MethodName(method)));
      PlanOptions options;
      options.method = method;
      options.budget_bytes = Fraction(in.graph, 0.7);
      absl::StatusOr<PlanOutcome> ilp =
          PlanGraph(in.graph, in.profile, options, cbc.get());
      ASSERT_TRUE(ilp.ok()) << ilp.status();
      ASSERT_TRUE(ilp->plan.has_value());
      HeuristicOptions repair;
      repair.allow_moves = method != v1::METHOD_STATIC;
      absl::StatusOr<std::optional<v1::Plan>> same = RepairLayout(
          in.graph, in.profile, options.budget_bytes, *ilp->plan, repair);
      ASSERT_TRUE(same.ok()) << same.status();
      ASSERT_TRUE(same->has_value());
      EXPECT_NEAR((*same)->predicted_time_us(), ilp->plan->predicted_time_us(),
                  1e-9 * ilp->plan->predicted_time_us());
      const uint64_t smaller = Fraction(in.graph, 0.35);
      absl::StatusOr<std::optional<v1::Plan>> fitted =
          RepairLayout(in.graph, in.profile, smaller, *ilp->plan, repair);
      ASSERT_TRUE(fitted.ok()) << fitted.status();
      ASSERT_TRUE(fitted->has_value());
      EXPECT_TRUE(VerifyPlan(in.graph, in.profile, **fitted, smaller,
                             /*require_offsets=*/true)
                      .ok());
      if (method == v1::METHOD_STATIC) {
        EXPECT_EQ((*fitted)->moves_size(), 0);
      }
    }
  }
}

}  // namespace
}  // namespace autotm::solver
