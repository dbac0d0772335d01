// PlanGraph when first touch itself cannot make a plan: a profile may list
// only configurations with some outputs fast (PyTorch ops without an out=
// kernel compute into fast memory), and first touch, which creates a tensor
// slow when it does not fit, then needs a configuration the profile lacks.
// Neither the warm start nor the fallback may turn that into an error.
#include <memory>
#include <string>

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

}  // namespace
}  // namespace autotm::solver
