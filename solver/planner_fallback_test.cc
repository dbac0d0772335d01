// PlanGraph when first touch itself cannot make a plan: a profile may list
// only configurations with some outputs fast (PyTorch ops without an out=
// kernel compute into fast memory), and first touch, which creates a tensor
// slow when it does not fit, then needs a configuration the profile lacks.
// Neither the warm start nor the fallback may turn that into an error.
#include <cstdint>
#include <memory>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
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
using ::testing::HasSubstr;

// a -> k0 -> b -> k1 -> c, 100 bytes each: at k0 first touch finds a fast
// and no room for b (budget 150), so it creates b slow.
GraphModel TwoKernelChain() {
  return MustGraph(GraphBuilder("chain")
                       .Tensor("a", 100, v1::TENSOR_ROLE_INPUT)
                       .Tensor("b", 100)
                       .Tensor("c", 100)
                       .Kernel("k0", {"a"}, {"b"})
                       .Kernel("k1", {"b"}, {"c"})
                       .graph());
}

// Every kernel's table without the configurations whose output is slow.
ProfileModel OutputsOnlyFast(const GraphModel& graph) {
  v1::Profile profile =
      FullTableProfile(graph, [](int, ConfigMask mask) { return 10.0 + mask; });
  for (v1::KernelProfile& kernel : *profile.mutable_kernels()) {
    auto* configs = kernel.mutable_configs();
    for (int i = configs->size() - 1; i >= 0; --i) {
      if (configs->Get(i).config().back() == 'S') configs->DeleteSubrange(i, 1);
    }
  }
  return MustProfile(profile);
}

// A solver that finds nothing, as CBC at a starved time limit.
class NoSolutionSolver : public Solver {
 public:
  std::string name() const override { return "none"; }
  absl::StatusOr<SolveResult> Solve(const IlpModel&,
                                    const SolveParams&) override {
    return SolveResult{};
  }
};

PlanOptions SyncAt150Bytes() {
  PlanOptions options;
  options.method = v1::METHOD_SYNCHRONOUS;
  options.budget_bytes = 150;
  options.alignment_bytes = 1;
  options.time_limit_seconds = 10;
  return options;
}

TEST(PlanGraphFallbackTest, FirstTouchNeedsAnUnlistedConfiguration) {
  const GraphModel graph = TwoKernelChain();
  const ProfileModel profile = OutputsOnlyFast(graph);
  absl::StatusOr<PlanOutcome> first_touch =
      RunBaseline(graph, profile, v1::METHOD_FIRST_TOUCH, 150, 1);
  ASSERT_FALSE(first_touch.ok());
  EXPECT_THAT(first_touch.status().message(), HasSubstr("does not list"));
}

// The heuristic respects what the profile lists (an output it only lists
// fast is worth keeping fast whatever it costs), so it finds the plan first
// touch cannot: b fast at k0, then evicted for k1.
TEST(PlanGraphFallbackTest, TheHeuristicFindsThePlanFirstTouchCannot) {
  const GraphModel graph = TwoKernelChain();
  const ProfileModel profile = OutputsOnlyFast(graph);
  NoSolutionSolver solver;
  absl::StatusOr<PlanOutcome> outcome =
      PlanGraph(graph, profile, SyncAt150Bytes(), &solver);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  ASSERT_TRUE(outcome->plan.has_value()) << outcome->diagnostic;
  EXPECT_EQ(outcome->source, PlanSource::kHeuristic);
  EXPECT_EQ(outcome->stats.termination(), v1::TERMINATION_HEURISTIC);
  EXPECT_THAT(outcome->diagnostic, HasSubstr("the heuristic's plan"));
  EXPECT_TRUE(VerifyPlan(graph, profile, *outcome->plan, 150, true).ok());
}

TEST(PlanGraphFallbackTest, NoPlanFromTheSolverOrFirstTouchIsAnOutcome) {
  const GraphModel graph = TwoKernelChain();
  const ProfileModel profile = OutputsOnlyFast(graph);
  NoSolutionSolver solver;
  PlanOptions options = SyncAt150Bytes();
  options.heuristic = false;
  absl::StatusOr<PlanOutcome> outcome =
      PlanGraph(graph, profile, options, &solver);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_FALSE(outcome->plan.has_value());
  EXPECT_EQ(outcome->stats.termination(), v1::TERMINATION_NO_SOLUTION);
  EXPECT_THAT(outcome->diagnostic, HasSubstr("first touch has no plan either"));
  EXPECT_THAT(outcome->diagnostic, HasSubstr("does not list"));
}

TEST(PlanGraphFallbackTest, TheIlpStillFindsThePlanFirstTouchCannot) {
  // b goes slow after k0 (a copy) and k1 reads it there; c is fast.
  const GraphModel graph = TwoKernelChain();
  const ProfileModel profile = OutputsOnlyFast(graph);
  std::unique_ptr<Solver> cbc = MakeCbcSolver();
  absl::StatusOr<PlanOutcome> outcome =
      PlanGraph(graph, profile, SyncAt150Bytes(), cbc.get());
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  ASSERT_TRUE(outcome->plan.has_value()) << outcome->diagnostic;
  EXPECT_TRUE(VerifyPlan(graph, profile, *outcome->plan, 150).ok());
}

// IlpLiveEntries() is the size of the materialised live sets (LiveAt), from
// the intervals alone.
TEST(IlpSizeLimitTest, LiveEntriesCountTheMaterialisedLiveSets) {
  std::mt19937_64 rng(19);
  for (int round = 0; round < 30; ++round) {
    const GraphModel graph = MustGraph(testing::RandomGraph(rng, 40, 30));
    int64_t materialised = 0;
    for (int k = 0; k < graph.num_kernels(); ++k) {
      materialised += static_cast<int64_t>(graph.LiveAt(k).size());
    }
    EXPECT_EQ(IlpLiveEntries(graph), materialised) << "round " << round;
  }
}

// Above PlanOptions::max_ilp_live_entries an ILP call builds no model and
// returns the heuristic's plan, saying why; at the limit it runs the ILP.
TEST(IlpSizeLimitTest, ModelsAboveTheLimitArePlannedByTheHeuristic) {
  std::mt19937_64 rng(7);
  const GraphModel graph = MustGraph(testing::RandomGraph(rng, 30, 20));
  const ProfileModel profile = MustProfile(FullTableProfile(
      graph, [](int k, ConfigMask mask) { return 10.0 + k + mask; }));
  const int64_t entries = IlpLiveEntries(graph);
  ASSERT_GT(entries, 1);
  std::unique_ptr<Solver> cbc = MakeCbcSolver();
  for (const v1::Method method :
       {v1::METHOD_STATIC, v1::METHOD_SYNCHRONOUS, v1::METHOD_ASYNCHRONOUS}) {
    SCOPED_TRACE(MethodName(method));
    PlanOptions options;
    options.method = method;
    options.budget_bytes = graph.PeakLiveBytes() / 2;
    options.time_limit_seconds = 10;
    options.max_ilp_live_entries = entries - 1;
    absl::StatusOr<PlanOutcome> skipped =
        PlanGraph(graph, profile, options, cbc.get());
    ASSERT_TRUE(skipped.ok()) << skipped.status();
    ASSERT_TRUE(skipped->plan.has_value()) << skipped->diagnostic;
    EXPECT_EQ(skipped->source, PlanSource::kHeuristic);
    EXPECT_EQ(skipped->plan->stats().termination(), v1::TERMINATION_HEURISTIC);
    EXPECT_EQ(skipped->stats.variables(), 0u);
    EXPECT_THAT(skipped->plan->stats().solver(), HasSubstr("ILP skipped"));
    EXPECT_THAT(
        skipped->plan->stats().solver(),
        HasSubstr(absl::StrCat(entries, " live (tensor, kernel) pairs")));
    EXPECT_THAT(skipped->diagnostic, HasSubstr("ILP skipped"));
    if (method == v1::METHOD_STATIC) {
      EXPECT_EQ(skipped->plan->moves_size(), 0);
    }
    EXPECT_TRUE(VerifyPlan(graph, profile, *skipped->plan, options.budget_bytes,
                           /*require_offsets=*/true)
                    .ok());

    options.max_ilp_live_entries = entries;
    absl::StatusOr<PlanOutcome> solved =
        PlanGraph(graph, profile, options, cbc.get());
    ASSERT_TRUE(solved.ok()) << solved.status();
    ASSERT_TRUE(solved->plan.has_value()) << solved->diagnostic;
    EXPECT_THAT(solved->plan->stats().solver(),
                ::testing::Not(HasSubstr("ILP skipped")));
    EXPECT_GT(solved->stats.variables(), 0u);
  }
}

}  // namespace
}  // namespace autotm::solver
