// Tests of the static and synchronous ILPs, end to end through CBC: optima
// computed by hand on tiny graphs, and brute-force enumeration of every
// placement/move schedule on random small graphs.
#include "solver/formulation.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solver/cbc_solver.h"
#include "solver/planner.h"
#include "solver/schedule.h"
#include "solver/testing/test_graphs.h"
#include "solver/verifier.h"

namespace autotm::solver {
namespace {

using ::autotm::solver::testing::FullTableProfile;
using ::autotm::solver::testing::GraphBuilder;
using ::autotm::solver::testing::MustGraph;
using ::autotm::solver::testing::MustProfile;
using ::autotm::solver::testing::VariantCount;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr uint64_t kMiB = 1 << 20;
const double kReadUs4MiB = 4.0 * kMiB / 29e3;   // 29 GB/s
const double kWriteUs4MiB = 4.0 * kMiB / 12e3;  // 12 GB/s

// x -> k0 -> a -> k1 -> b -> k2 -> c -> k3(a, c) -> d; 4 MiB each but d
// (1 MiB). `a` is idle at k2, where a, b and c are all live (12 MiB); 9 MiB
// suffice everywhere else.
GraphModel ChainGraph() {
  GraphBuilder builder("chain");
  builder.Tensor("x", 4 * kMiB, v1::TENSOR_ROLE_INPUT)
      .Tensor("a", 4 * kMiB)
      .Tensor("b", 4 * kMiB)
      .Tensor("c", 4 * kMiB)
      .Tensor("d", 1 * kMiB)
      .Kernel("k0", {"x"}, {"a"})
      .Kernel("k1", {"a"}, {"b"})
      .Kernel("k2", {"b"}, {"c"})
      .Kernel("k3", {"a", "c"}, {"d"});
  return MustGraph(builder.graph());
}

// 100 us with every operand fast, plus 1000 us per slow operand.
double PenaltyTime(int kernel, ConfigMask mask) {
  return 100.0 + 1000.0 * std::popcount(mask);
}

// Solves the ILP of `method` under a uniform budget, decodes and verifies
// the plan. This tests the formulation alone: PlanGraph's pool layout, which
// can lower limits when fragmentation bites, is tested in planner_test.cc.
PlanOutcome MustPlan(const GraphModel& graph, const ProfileModel& profile,
                     v1::Method method, uint64_t budget, bool recompute = false,
                     bool keep_inputs = true, int max_remade_inputs = 2) {
  FormulationOptions options;
  options.method = method;
  options.recompute = recompute;
  options.keep_inputs_for_recompute = keep_inputs;
  options.max_remade_inputs = max_remade_inputs;
  options.kernel_limit_bytes.assign(graph.num_kernels(), budget);
  absl::StatusOr<Formulation> formulation =
      Formulation::Build(graph, profile, options);
  EXPECT_TRUE(formulation.ok()) << formulation.status();
  if (!formulation.ok()) return {};
  PlanOutcome outcome;
  outcome.stats.set_variables(formulation->model().num_columns());
  if (formulation->infeasible().has_value()) {
    outcome.stats.set_termination(v1::TERMINATION_INFEASIBLE);
    outcome.diagnostic = *formulation->infeasible();
    return outcome;
  }
  auto solver = MakeCbcSolver();
  SolveParams params;
  params.relative_gap = 1e-9;
  params.time_limit_seconds = 30;
  absl::StatusOr<SolveResult> result =
      solver->Solve(formulation->model(), params);
  EXPECT_TRUE(result.ok()) << result.status();
  if (!result.ok()) return {};
  if (!result->has_solution()) {
    EXPECT_EQ(result->termination, SolveTermination::kInfeasible);
    outcome.stats.set_termination(v1::TERMINATION_INFEASIBLE);
    return outcome;
  }
  EXPECT_EQ(result->termination, SolveTermination::kOptimal);
  outcome.stats.set_termination(v1::TERMINATION_OPTIMAL);
  absl::StatusOr<v1::Plan> plan = AssemblePlan(
      graph, profile, formulation->Decode(result->values), method, budget);
  EXPECT_TRUE(plan.ok()) << plan.status();
  if (!plan.ok()) return {};
  // The decoded plan reproduces the ILP objective and passes the verifier.
  EXPECT_NEAR(plan->predicted_time_us(), result->objective,
              1e-6 * std::max(1.0, result->objective));
  absl::StatusOr<VerifyReport> report =
      VerifyPlan(graph, profile, *plan, budget);
  EXPECT_TRUE(report.ok()) << report.status();
  outcome.plan = *std::move(plan);
  return outcome;
}

TEST(FormulationTest, ChainFitsEntirelyAtTwelveMiB) {
  GraphModel graph = ChainGraph();
  ProfileModel profile = MustProfile(FullTableProfile(graph, PenaltyTime));
  for (v1::Method method : {v1::METHOD_STATIC, v1::METHOD_SYNCHRONOUS}) {
    PlanOutcome outcome = MustPlan(graph, profile, method, 12 * kMiB);
    ASSERT_TRUE(outcome.plan.has_value()) << MethodName(method);
    EXPECT_EQ(outcome.stats.termination(), v1::TERMINATION_OPTIMAL);
    EXPECT_NEAR(outcome.plan->predicted_time_us(), 400.0, 1e-6);
    EXPECT_EQ(outcome.plan->moves_size(), 0);
    EXPECT_EQ(outcome.plan->peak_fast_bytes(), 12 * kMiB);
  }
}

TEST(FormulationTest, SyncEvictsIdleTensorAtNineMiB) {
  GraphModel graph = ChainGraph();
  ProfileModel profile = MustProfile(FullTableProfile(graph, PenaltyTime));
  PlanOutcome outcome =
      MustPlan(graph, profile, v1::METHOD_SYNCHRONOUS, 9 * kMiB);
  ASSERT_TRUE(outcome.plan.has_value());
  const v1::Plan& plan = *outcome.plan;
  // `a` is written to the slow tier after k1 and read back before k3.
  EXPECT_NEAR(plan.predicted_time_us(), 400.0 + kWriteUs4MiB + kReadUs4MiB,
              1e-6);
  ASSERT_EQ(plan.moves_size(), 2);
  EXPECT_EQ(plan.moves(0).tensor_id(), "a");
  EXPECT_EQ(plan.moves(0).kernel_id(), "k1");
  EXPECT_EQ(plan.moves(0).direction(), v1::MOVE_DIRECTION_TO_SLOW);
  EXPECT_EQ(plan.moves(0).bytes_copied(), 4 * kMiB);
  EXPECT_EQ(plan.moves(1).tensor_id(), "a");
  EXPECT_EQ(plan.moves(1).kernel_id(), "k3");
  EXPECT_EQ(plan.moves(1).direction(), v1::MOVE_DIRECTION_TO_FAST);
  EXPECT_EQ(plan.peak_fast_bytes(), 9 * kMiB);
}

TEST(FormulationTest, StaticCannotMoveSoPaysTwoSlowOperands) {
  GraphModel graph = ChainGraph();
  ProfileModel profile = MustProfile(FullTableProfile(graph, PenaltyTime));
  PlanOutcome outcome = MustPlan(graph, profile, v1::METHOD_STATIC, 9 * kMiB);
  ASSERT_TRUE(outcome.plan.has_value());
  // Cheapest: b or c slow for its whole life (two slow operand uses).
  EXPECT_NEAR(outcome.plan->predicted_time_us(), 2400.0, 1e-6);
  EXPECT_EQ(outcome.plan->moves_size(), 0);
}

TEST(FormulationTest, MovePaysOffOnlyWhenTheBudgetBinds) {
  // At 12 MiB the same graph plans no move; at 9 MiB exactly one tensor
  // makes a round trip; as the budget shrinks the time never falls, and the
  // sync plan is never worse than static.
  GraphModel graph = ChainGraph();
  ProfileModel profile = MustProfile(FullTableProfile(graph, PenaltyTime));
  double previous = 0;
  for (uint64_t budget : {12 * kMiB, 10 * kMiB, 9 * kMiB, 6 * kMiB}) {
    PlanOutcome sync = MustPlan(graph, profile, v1::METHOD_SYNCHRONOUS, budget);
    PlanOutcome fixed = MustPlan(graph, profile, v1::METHOD_STATIC, budget);
    ASSERT_TRUE(sync.plan && fixed.plan);
    EXPECT_LE(sync.plan->predicted_time_us(),
              fixed.plan->predicted_time_us() + 1e-6);
    EXPECT_GE(sync.plan->predicted_time_us(), previous - 1e-6);
    previous = sync.plan->predicted_time_us();
  }
}

TEST(FormulationTest, MissingConfigurationIsNeverChosen) {
  GraphModel graph = ChainGraph();
  // Drop every configuration of k1 where its output b is slow, and make
  // those the cheap ones elsewhere: the plan must still avoid them.
  v1::Profile proto = FullTableProfile(graph, PenaltyTime);
  auto* configs = proto.mutable_kernels(1)->mutable_configs();
  for (int i = configs->size() - 1; i >= 0; --i) {
    if (configs->Get(i).config().back() == 'S') configs->DeleteSubrange(i, 1);
  }
  ProfileModel profile = MustProfile(proto);
  for (v1::Method method : {v1::METHOD_STATIC, v1::METHOD_SYNCHRONOUS}) {
    PlanOutcome outcome = MustPlan(graph, profile, method, 4 * kMiB);
    ASSERT_TRUE(outcome.plan.has_value());
    EXPECT_THAT(outcome.plan->kernels(1).config(), ::testing::EndsWith("|F"));
  }
}

TEST(FormulationTest, FixedFastTensorOverBudgetIsInfeasibleNamingKernel) {
  GraphBuilder builder("pinned");
  builder.Tensor("w", 16 * kMiB, v1::TENSOR_ROLE_WEIGHT, v1::TIER_FAST)
      .Tensor("x", kMiB, v1::TENSOR_ROLE_INPUT)
      .Tensor("y", kMiB)
      .Kernel("matmul", {"x", "w"}, {"y"});
  GraphModel graph = MustGraph(builder.graph());
  ProfileModel profile = MustProfile(FullTableProfile(graph, PenaltyTime));
  for (v1::Method method : {v1::METHOD_STATIC, v1::METHOD_SYNCHRONOUS}) {
    PlanOutcome outcome = MustPlan(graph, profile, method, 8 * kMiB);
    EXPECT_EQ(outcome.stats.termination(), v1::TERMINATION_INFEASIBLE);
    EXPECT_FALSE(outcome.plan.has_value());
    EXPECT_THAT(outcome.diagnostic, HasSubstr("'matmul'"));
    EXPECT_THAT(outcome.diagnostic, HasSubstr("'w'"));
  }
}

TEST(FormulationTest, OperandsOnlyProfiledFastAreMustBeFast) {
  // The profile only knows k1 with everything fast: at k1, a and b must be
  // fast together (8 MiB), which a 6 MiB budget cannot hold.
  GraphModel graph = ChainGraph();
  v1::Profile proto = FullTableProfile(graph, PenaltyTime);
  auto* configs = proto.mutable_kernels(1)->mutable_configs();
  for (int i = configs->size() - 1; i >= 0; --i) {
    if (configs->Get(i).config() != "F|F") configs->DeleteSubrange(i, 1);
  }
  ProfileModel profile = MustProfile(proto);
  PlanOutcome outcome =
      MustPlan(graph, profile, v1::METHOD_SYNCHRONOUS, 6 * kMiB);
  EXPECT_EQ(outcome.stats.termination(), v1::TERMINATION_INFEASIBLE);
  EXPECT_THAT(outcome.diagnostic, HasSubstr("kernel #1 'k1'"));
  EXPECT_THAT(outcome.diagnostic, HasSubstr("8388608 bytes"));
}

TEST(FormulationTest, TensorLargerThanBudgetHasNoVariables) {
  GraphBuilder builder("big");
  builder.Tensor("x", kMiB, v1::TENSOR_ROLE_INPUT)
      .Tensor("huge", 64 * kMiB)
      .Tensor("y", kMiB)
      .Kernel("k0", {"x"}, {"huge"})
      .Kernel("k1", {"huge"}, {"y"});
  GraphModel graph = MustGraph(builder.graph());
  ProfileModel profile = MustProfile(FullTableProfile(graph, PenaltyTime));
  FormulationOptions options;
  options.kernel_limit_bytes.assign(graph.num_kernels(), 8 * kMiB);
  absl::StatusOr<Formulation> formulation =
      Formulation::Build(graph, profile, options);
  ASSERT_TRUE(formulation.ok()) << formulation.status();
  // x and y: 2 creation + 2 sink edges each; k0 and k1: 2 configuration
  // variables each. `huge` contributes none.
  EXPECT_EQ(formulation->model().num_columns(), 12);
  PlanOutcome outcome =
      MustPlan(graph, profile, v1::METHOD_SYNCHRONOUS, 8 * kMiB);
  ASSERT_TRUE(outcome.plan.has_value());
  EXPECT_EQ(outcome.plan->tensors(1).creation_tier(), v1::TIER_SLOW);
  // x and y fast, huge slow at both kernels: 2 slow uses.
  EXPECT_NEAR(outcome.plan->predicted_time_us(), 2200.0, 1e-6);
}

TEST(FormulationTest, SeparableCostNeedsNoConfigurationVariables) {
  GraphModel graph = ChainGraph();
  v1::Profile proto = FullTableProfile(graph, PenaltyTime);
  for (v1::KernelProfile& kernel : *proto.mutable_kernels()) {
    const int inputs = kernel.signature().inputs_size();
    const int outputs = kernel.signature().outputs_size();
    kernel.clear_configs();
    kernel.mutable_separable()->set_all_fast_time_us(100);
    for (int i = 0; i < inputs; ++i) {
      kernel.mutable_separable()->add_input_slow_penalty_us(1000);
    }
    for (int i = 0; i < outputs; ++i) {
      kernel.mutable_separable()->add_output_slow_penalty_us(1000);
    }
  }
  ProfileModel separable = MustProfile(proto);
  ProfileModel table = MustProfile(FullTableProfile(graph, PenaltyTime));
  for (uint64_t budget : {12 * kMiB, 8 * kMiB, 4 * kMiB}) {
    PlanOutcome a = MustPlan(graph, separable, v1::METHOD_SYNCHRONOUS, budget);
    PlanOutcome b = MustPlan(graph, table, v1::METHOD_SYNCHRONOUS, budget);
    ASSERT_TRUE(a.plan && b.plan);
    // The same costs, so the same optimum, with fewer variables.
    EXPECT_NEAR(a.plan->predicted_time_us(), b.plan->predicted_time_us(), 1e-6);
    EXPECT_LT(a.stats.variables(), b.stats.variables());
  }
}

// ----- Collapsed tables (ProfileModel's TableCollapseOptions) -----

// `proto` with kernel `k`'s configurations that put operand `position` in
// the slow tier removed: that operand can only be fast.
v1::Profile WithOnlyFast(v1::Profile proto, int k, int position) {
  auto* configs = proto.mutable_kernels(k)->mutable_configs();
  for (int i = configs->size() - 1; i >= 0; --i) {
    std::string letters = configs->Get(i).config();
    letters.erase(std::remove(letters.begin(), letters.end(), '|'),
                  letters.end());
    if (letters[position] == 'S') configs->DeleteSubrange(i, 1);
  }
  return proto;
}

TEST(FormulationTest, CollapsedTablesNeedNoConfigurationVariables) {
  GraphModel graph = ChainGraph();
  const v1::Profile proto = FullTableProfile(graph, PenaltyTime);
  ProfileModel table = MustProfile(proto);
  ProfileModel collapsed = MustProfile(proto, TableCollapseOptions());
  EXPECT_EQ(SummarizeTableCollapse(graph, collapsed).collapsed_kernels, 4);
  for (v1::Method method :
       {v1::METHOD_STATIC, v1::METHOD_SYNCHRONOUS, v1::METHOD_ASYNCHRONOUS}) {
    for (uint64_t budget : {12 * kMiB, 8 * kMiB, 4 * kMiB}) {
      PlanOutcome a = MustPlan(graph, collapsed, method, budget);
      PlanOutcome b = MustPlan(graph, table, method, budget);
      ASSERT_TRUE(a.plan && b.plan);
      EXPECT_NEAR(a.plan->predicted_time_us(), b.plan->predicted_time_us(),
                  1e-6);
      EXPECT_LT(a.stats.variables(), b.stats.variables());
      EXPECT_EQ(a.plan->table_collapse().collapsed_kernels(), 4u);
      EXPECT_EQ(a.plan->table_collapse().table_kernels(), 0u);
      EXPECT_FALSE(b.plan->has_table_collapse());
    }
  }
}

TEST(FormulationTest, CollapsedTableNeverChoosesAnOmittedConfiguration) {
  // As MissingConfigurationIsNeverChosen: k1's output b is never profiled
  // slow, and slow is what the other kernels would prefer at 4 MiB.
  GraphModel graph = ChainGraph();
  const v1::Profile proto =
      WithOnlyFast(FullTableProfile(graph, PenaltyTime), 1, 1);
  ProfileModel table = MustProfile(proto);
  ProfileModel collapsed = MustProfile(proto, TableCollapseOptions());
  const KernelCost* k1 = collapsed.Find(graph.kernel(1).signature_key);
  ASSERT_TRUE(k1->collapsed());
  ASSERT_TRUE(k1->OnlyFast(1));
  for (v1::Method method :
       {v1::METHOD_STATIC, v1::METHOD_SYNCHRONOUS, v1::METHOD_ASYNCHRONOUS}) {
    for (uint64_t budget : {4 * kMiB, 8 * kMiB}) {
      PlanOutcome a = MustPlan(graph, collapsed, method, budget);
      PlanOutcome b = MustPlan(graph, table, method, budget);
      ASSERT_TRUE(a.plan && b.plan);
      EXPECT_THAT(a.plan->kernels(1).config(), ::testing::EndsWith("|F"));
      EXPECT_NEAR(a.plan->predicted_time_us(), b.plan->predicted_time_us(),
                  1e-6);
    }
  }
  // A starting solution with b slow at k1 is refused, as with the table.
  FormulationOptions options;
  options.kernel_limit_bytes.assign(graph.num_kernels(), 8 * kMiB);
  std::vector<TensorSchedule> schedule(graph.num_tensors(),
                                       {v1::TIER_FAST, {}});
  schedule[2].creation_tier = v1::TIER_SLOW;  // b
  for (const ProfileModel* profile : {&table, &collapsed}) {
    absl::StatusOr<Formulation> formulation =
        Formulation::Build(graph, *profile, options);
    ASSERT_TRUE(formulation.ok()) << formulation.status();
    absl::StatusOr<std::vector<double>> start = formulation->Encode(schedule);
    EXPECT_EQ(start.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(start.status().message(),
                HasSubstr("kernel #1 'k1' would run in configuration F|S, "
                          "which it cannot choose"));
  }
}

TEST(FormulationTest, CollapsedOnlyFastOperandsAreMustBeFastAsInTheTable) {
  // a is pinned fast; k1's output b can only be fast: at k1, 8 MiB must be
  // fast, more than 6 MiB.
  GraphBuilder builder("pinned");
  builder.Tensor("x", 4 * kMiB, v1::TENSOR_ROLE_INPUT)
      .Tensor("a", 4 * kMiB, v1::TENSOR_ROLE_ACTIVATION, v1::TIER_FAST)
      .Tensor("b", 4 * kMiB)
      .Kernel("k0", {"x"}, {"a"})
      .Kernel("k1", {"a"}, {"b"});
  GraphModel graph = MustGraph(builder.graph());
  const v1::Profile proto =
      WithOnlyFast(FullTableProfile(graph, PenaltyTime), 1, 1);
  ProfileModel table = MustProfile(proto);
  ProfileModel collapsed = MustProfile(proto, TableCollapseOptions());
  ASSERT_TRUE(collapsed.Find(graph.kernel(1).signature_key)->collapsed());
  for (const ProfileModel* profile : {&table, &collapsed}) {
    PlanOutcome outcome =
        MustPlan(graph, *profile, v1::METHOD_SYNCHRONOUS, 6 * kMiB);
    EXPECT_EQ(outcome.stats.termination(), v1::TERMINATION_INFEASIBLE);
    EXPECT_THAT(outcome.diagnostic, HasSubstr("kernel #1 'k1' needs 8388608"));
  }
  // b larger than a 3 MiB budget can never be fast, and k1 needs it fast:
  // the table's diagnostic.
  for (const ProfileModel* profile : {&table, &collapsed}) {
    PlanOutcome outcome =
        MustPlan(graph, *profile, v1::METHOD_SYNCHRONOUS, 3 * kMiB);
    EXPECT_EQ(outcome.stats.termination(), v1::TERMINATION_INFEASIBLE);
    EXPECT_THAT(outcome.diagnostic,
                HasSubstr("kernel #1 'k1' has no profiled configuration with "
                          "its operand(s) 'b'"));
  }
}

TEST(FormulationTest, CollapsedOnlyFastOperandPinnedSlowIsAnErrorAsInTheTable) {
  GraphBuilder builder("pinned-slow");
  builder.Tensor("x", kMiB, v1::TENSOR_ROLE_INPUT)
      .Tensor("y", kMiB, v1::TENSOR_ROLE_ACTIVATION, v1::TIER_SLOW)
      .Kernel("k0", {"x"}, {"y"});
  GraphModel graph = MustGraph(builder.graph());
  const v1::Profile proto =
      WithOnlyFast(FullTableProfile(graph, PenaltyTime), 0, 1);
  FormulationOptions options;
  options.kernel_limit_bytes.assign(graph.num_kernels(), 8 * kMiB);
  for (const TableCollapseOptions& collapse :
       {TableCollapseOptions::Disabled(), TableCollapseOptions()}) {
    ProfileModel profile = MustProfile(proto, collapse);
    absl::StatusOr<Formulation> formulation =
        Formulation::Build(graph, profile, options);
    EXPECT_EQ(formulation.status().code(),
              absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(formulation.status().message(),
                HasSubstr("no configuration consistent with the graph's fixed "
                          "tiers"));
  }
}

TEST(FormulationTest, UpdatedWeightCanBeEvictedAfterItsLastUse) {
  // w.next is produced by the update and stays live to the end of the
  // iteration: a sync plan can write it out right after it is produced.
  GraphBuilder builder("sgd");
  builder.Tensor("x", kMiB, v1::TENSOR_ROLE_INPUT)
      .Tensor("w", kMiB, v1::TENSOR_ROLE_WEIGHT)
      .Tensor("g", kMiB)
      .Tensor("w.next", 4 * kMiB, v1::TENSOR_ROLE_WEIGHT)
      .Tensor("h", 4 * kMiB)
      .Tensor("y", 4 * kMiB)
      .Kernel("grad", {"x", "w"}, {"g"})
      .Kernel("update", {"w", "g"}, {"w.next"})
      .Kernel("other", {"x"}, {"h"})
      .Kernel("last", {"h"}, {"y"});
  GraphModel graph = MustGraph(builder.graph());
  ASSERT_EQ(graph.tensor(3).last_live, 3);
  ProfileModel profile = MustProfile(FullTableProfile(graph, PenaltyTime));
  // At "last" w.next, h and y are live (12 MiB) with a budget of 8 MiB, so
  // w.next must be slow there; its last use is "update".
  PlanOutcome outcome =
      MustPlan(graph, profile, v1::METHOD_SYNCHRONOUS, 8 * kMiB);
  ASSERT_TRUE(outcome.plan.has_value());
  bool evicted = false;
  for (const v1::Move& move : outcome.plan->moves()) {
    evicted |= move.tensor_id() == "w.next" &&
               move.direction() == v1::MOVE_DIRECTION_TO_SLOW;
  }
  // Either w.next is written out after "update" (349.5 us) or it is
  // created slow (a 1000 us slow output): the write is cheaper.
  EXPECT_TRUE(evicted);
  EXPECT_NEAR(outcome.plan->predicted_time_us(), 400.0 + kWriteUs4MiB, 1e-6);
}

TEST(FormulationTest, TelescopedCapacityRowsGiveTheSameOptimum) {
  // The telescoped form is a reformulation, not a relaxation: with it and
  // without it the optimum must be the same.
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 6; ++trial) {
    GraphModel graph = MustGraph(testing::RandomGraph(rng, 12, 10));
    ProfileModel profile = MustProfile(FullTableProfile(graph, PenaltyTime));
    double objective[2];
    for (int telescope = 0; telescope < 2; ++telescope) {
      FormulationOptions options;
      options.telescope_capacity = telescope == 1;
      options.kernel_limit_bytes.assign(graph.num_kernels(),
                                        graph.PeakLiveBytes() / 2);
      absl::StatusOr<Formulation> formulation =
          Formulation::Build(graph, profile, options);
      ASSERT_TRUE(formulation.ok()) << formulation.status();
      auto solver = MakeCbcSolver();
      SolveParams params;
      params.relative_gap = 1e-9;
      absl::StatusOr<SolveResult> result =
          solver->Solve(formulation->model(), params);
      ASSERT_TRUE(result.ok() && result->has_solution());
      ASSERT_EQ(result->termination, SolveTermination::kOptimal);
      objective[telescope] = result->objective;
    }
    EXPECT_NEAR(objective[0], objective[1], 1e-6 * objective[0])
        << "trial " << trial;
  }
}

// ---------------------------------------------------------------------------
// Brute force: enumerate every schedule of the decision space and compare
// the best feasible one with the ILP optimum.

// Every schedule of one tensor: the tier at each decision point and in the
// interval after it (sync: its users; async: every kernel of its live range,
// which the default window of 15 covers on these tiny graphs), or just the
// creation tier (static).
// With `recompute`, also every choice of intervals between consecutive
// users in which the tensor is dropped and re-made fast by a re-run of its
// producer before the next user (async: the points in between see nothing of
// it; static: only a fast tensor, which keeps its tier); AssemblePlan rejects
// those that are not possible (inputs absent), independently of the
// formulation's own candidate rules. SYNCHRONOUS: each such drop once
// reading dead inputs kept slow and once per chain of inputs made again
// first (`chains` of the next use's kernel; ChainOptions).
// With `keepable` as well, every schedule once more kept in slow memory past
// its life (moved there at its last use; static: only a slow tensor) for
// re-runs that read it then.
std::vector<TensorSchedule> StaticTensorSchedules(const TensorInfo& tensor,
                                                  bool recompute,
                                                  bool keepable) {
  std::vector<TensorSchedule> all;
  all.push_back({v1::TIER_FAST, {}});
  all.push_back({v1::TIER_SLOW, {}});
  if (!recompute) return all;
  const int pairs = static_cast<int>(tensor.users.size()) - 1;
  if (tensor.producer >= 0) {
    for (int code = 1; code < (1 << pairs); ++code) {
      TensorSchedule dropped = {v1::TIER_FAST, {}};
      for (int i = 0; i < pairs; ++i) {
        if (code >> i & 1) {
          dropped.recomputes.push_back({tensor.users[i], tensor.users[i + 1]});
        }
      }
      all.push_back(std::move(dropped));
    }
  }
  if (keepable && tensor.last_live == tensor.users.back()) {
    TensorSchedule kept = {v1::TIER_SLOW, {}};
    kept.kept_slow = true;
    all.push_back(std::move(kept));
  }
  return all;
}

std::vector<TensorSchedule> TensorSchedules(
    const TensorInfo& tensor, v1::Method method, bool recompute = false,
    bool keepable = false,
    const std::function<std::vector<std::vector<int>>(int)>& chains = {}) {
  std::vector<TensorSchedule> all;
  if (tensor.fixed_tier != v1::TIER_UNSPECIFIED) {
    all.push_back({tensor.fixed_tier, {}});
    return all;
  }
  if (method == v1::METHOD_STATIC) {
    return StaticTensorSchedules(tensor, recompute, keepable);
  }
  std::vector<int> points = tensor.users;
  if (method == v1::METHOD_ASYNCHRONOUS) {
    points.clear();
    for (int k = tensor.first_live; k <= tensor.last_live; ++k) {
      points.push_back(k);
    }
  }
  auto is_user = [&](int k) {
    return std::find(tensor.users.begin(), tensor.users.end(), k) !=
           tensor.users.end();
  };
  const int gadgets = static_cast<int>(points.size());
  // Possible drops: from a user's point to the next user's point.
  std::vector<std::pair<int, int>> drop_spans;
  if (recompute && tensor.producer >= 0) {
    for (int g = 0; g < gadgets; ++g) {
      if (!is_user(points[g])) continue;
      for (int next = g + 1; next < gadgets; ++next) {
        if (is_user(points[next])) {
          drop_spans.emplace_back(g, next);
          break;
        }
      }
    }
  }
  const int drops = static_cast<int>(drop_spans.size());
  // Bits: at[g] (fast at gadget g) and after[g] (fast after gadget g), then
  // drop[i] (dropped after drop_spans[i].first, re-made before .second).
  const int bits = 2 * gadgets + drops;
  for (int code = 0; code < (1 << bits); ++code) {
    auto at = [&](int g) { return (code >> (2 * g) & 1) != 0; };
    auto after = [&](int g) { return (code >> (2 * g + 1) & 1) != 0; };
    auto drop = [&](int i) { return (code >> (2 * gadgets + i) & 1) != 0; };
    // Per gadget: the active drop starting there, ending there, or spanning.
    std::vector<int> starts(gadgets, -1), ends(gadgets, -1);
    std::vector<char> inside(gadgets, 0);
    bool valid = true;
    for (int i = 0; i < drops; ++i) {
      if (!drop(i)) continue;
      starts[drop_spans[i].first] = i;
      ends[drop_spans[i].second] = i;
      for (int g = drop_spans[i].first + 1; g < drop_spans[i].second; ++g) {
        inside[g] = 1;
      }
    }
    for (int g = 0; g < gadgets && valid; ++g) {
      if (inside[g]) {
        if (at(g) || after(g)) valid = false;  // canonical: nothing there
        continue;
      }
      if (after(g) && !at(g)) valid = false;  // no move to fast after a use
      if (starts[g] < 0 && g + 1 < gadgets && after(g) && !at(g + 1)) {
        valid = false;
      }
      const bool trailing = g + 1 < gadgets || tensor.last_live > points[g];
      if (!trailing && after(g) != at(g)) valid = false;  // canonical
      // Canonical drops: no copy just before, re-made fast.
      if (starts[g] >= 0 &&
          (after(g) != at(g) || !at(drop_spans[starts[g]].second))) {
        valid = false;
      }
    }
    if (!valid) continue;
    TensorSchedule schedule;
    schedule.creation_tier = at(0) ? v1::TIER_FAST : v1::TIER_SLOW;
    for (int g = 0; g < gadgets; ++g) {
      if (inside[g]) continue;
      const int kernel = points[g];
      // Copies at users block; elsewhere they overlap with the kernel.
      const bool sync = g == 0 || is_user(kernel);
      if (ends[g] >= 0) {
        schedule.recomputes.push_back(
            {points[drop_spans[ends[g]].first], kernel});
      } else if (g > 0 && !after(g - 1) && at(g)) {
        schedule.moves.push_back({kernel, v1::MOVE_DIRECTION_TO_FAST, sync});
      }
      if (at(g) && !after(g) && starts[g] < 0) {
        schedule.moves.push_back({kernel, v1::MOVE_DIRECTION_TO_SLOW, sync});
      }
    }
    // SYNCHRONOUS: every re-run once per chain it may make again first.
    std::vector<TensorSchedule> variants = {schedule};
    for (size_t i = 0; chains && i < schedule.recomputes.size(); ++i) {
      const size_t plain = variants.size();
      for (const std::vector<int>& chain :
           chains(schedule.recomputes[i].before)) {
        for (size_t v = 0; v < plain; ++v) {
          TensorSchedule remaking = variants[v];
          remaking.recomputes[i].remade_inputs = chain;
          variants.push_back(std::move(remaking));
        }
      }
    }
    const int last = gadgets - 1;
    const bool trailing = tensor.last_live > points[last];
    for (TensorSchedule& variant : variants) {
      if (recompute && keepable && !trailing) {
        TensorSchedule kept = variant;
        kept.kept_slow = true;
        if (at(last)) {
          kept.moves.push_back(
              {points[last], v1::MOVE_DIRECTION_TO_SLOW, /*sync=*/true});
        }
        all.push_back(std::move(kept));
      }
      all.push_back(std::move(variant));
    }
  }
  return all;
}

// Tensors worth enumerating as kept past their life: the inputs of kernels
// (only those can be read by a re-run). A pruning of the enumeration, not a
// rule of the model: AssemblePlan decides what is valid.
std::vector<char> Keepable(const GraphModel& graph) {
  std::vector<char> keepable(graph.num_tensors(), 0);
  for (const KernelInfo& kernel : graph.kernels()) {
    for (int p = 0; p < kernel.num_inputs; ++p) {
      keepable[kernel.operands[p]] = 1;
    }
  }
  return keepable;
}

// The chains of inputs a SYNCHRONOUS re-run of tensor t's producer right
// before kernel `before` may make again first, in re-run order
// (FormulationOptions::max_remade_inputs, docs/FORMULATION.md): each kernel
// of the chain, from t's producer down, makes again one of its inputs that
// is dead at `before` or (below t's producer) a free activation strictly
// between two of its uses there, when at most kMaxRemakeCandidates of them
// are, down to
// `max_depth` levels. Whether every kernel of the chain can read its other
// inputs there is AssemblePlan's to decide.
std::vector<std::vector<int>> ChainOptions(const GraphModel& graph, int t,
                                           int before, int max_depth) {
  std::vector<std::vector<int>> chains;
  std::vector<int> made;  // from t's producer's input down
  std::function<void(int)> extend = [&](int kernel) {
    if (static_cast<int>(made.size()) >= max_depth) return;
    const KernelInfo& info = graph.kernel(kernel);
    std::set<int> candidates;
    for (int p = 0; p < info.num_inputs; ++p) {
      const TensorInfo& input = graph.tensor(info.operands[p]);
      const auto next =
          std::upper_bound(input.users.begin(), input.users.end(), before);
      const bool between = next != input.users.begin() &&
                           next != input.users.end() && *(next - 1) != before;
      if (before > input.last_live ||
          (between && !made.empty() &&
           input.fixed_tier == v1::TIER_UNSPECIFIED && input.producer >= 0 &&
           input.role == v1::TENSOR_ROLE_ACTIVATION)) {
        candidates.insert(info.operands[p]);
      }
    }
    if (candidates.size() > kMaxRemakeCandidates) return;
    for (int j : candidates) {
      const TensorInfo& input = graph.tensor(j);
      if (input.producer < 0 || input.role != v1::TENSOR_ROLE_ACTIVATION) {
        continue;
      }
      made.push_back(j);
      chains.emplace_back(made.rbegin(), made.rend());
      extend(input.producer);
      made.pop_back();
    }
  };
  extend(graph.tensor(t).producer);
  return chains;
}

// Every tensor's schedules (TensorSchedules), SYNCHRONOUS re-runs with
// chains of up to `max_remade_inputs`.
std::vector<std::vector<TensorSchedule>> AllTensorSchedules(
    const GraphModel& graph, v1::Method method, bool recompute,
    int max_remade_inputs = 2) {
  std::vector<std::vector<TensorSchedule>> choices;
  const std::vector<char> keepable = Keepable(graph);
  for (int t = 0; t < graph.num_tensors(); ++t) {
    std::function<std::vector<std::vector<int>>(int)> chains;
    if (method == v1::METHOD_SYNCHRONOUS && max_remade_inputs > 0 &&
        graph.tensor(t).producer >= 0) {
      chains = [&graph, t, max_remade_inputs](int before) {
        return ChainOptions(graph, t, before, max_remade_inputs);
      };
    }
    choices.push_back(TensorSchedules(graph.tensor(t), method, recompute,
                                      keepable[t], chains));
  }
  return choices;
}

// Best predicted time over all schedules that fit the budget and use only
// profiled configurations; +inf when none does.
double BruteForceOptimum(const GraphModel& graph, const ProfileModel& profile,
                         v1::Method method, uint64_t budget,
                         bool recompute = false, int max_remade_inputs = 2) {
  const std::vector<std::vector<TensorSchedule>> choices =
      AllTensorSchedules(graph, method, recompute, max_remade_inputs);
  std::vector<TensorSchedule> current(graph.num_tensors());
  double best = std::numeric_limits<double>::infinity();
  std::function<void(int)> recurse = [&](int t) {
    if (t == graph.num_tensors()) {
      absl::StatusOr<v1::Plan> plan =
          AssemblePlan(graph, profile, current, method, budget);
      if (plan.ok() && plan->peak_fast_bytes() <= budget) {
        best = std::min(best, plan->predicted_time_us());
      }
      return;
    }
    for (const TensorSchedule& schedule : choices[t]) {
      current[t] = schedule;
      recurse(t + 1);
    }
  };
  recurse(0);
  return best;
}

double SearchSpace(const GraphModel& graph, v1::Method method,
                   bool recompute = false, int max_remade_inputs = 2) {
  double size = 1;
  for (const std::vector<TensorSchedule>& choices :
       AllTensorSchedules(graph, method, recompute, max_remade_inputs)) {
    size *= choices.size();
  }
  return size;
}

// Optane's bandwidths but asynchronous copies faster than its 2 / 2.5 GB/s,
// so that overlapping them pays off on the brute-force tests' short kernels.
v1::CopyBandwidths FastAsyncBandwidths() {
  v1::CopyBandwidths bandwidths = testing::OptaneBandwidths();
  bandwidths.set_slow_to_fast_async_gb_per_s(10);
  bandwidths.set_fast_to_slow_async_gb_per_s(8);
  return bandwidths;
}

// The brute-force tests below check fewer instances under the sanitizers
// (AUTOTM_TEST_REDUCED, set by tests/fuzz/run.sh) and all of them
// otherwise; "0" and "" mean unset. The caller's value is put back.
TEST(VariantCountTest, ReducedOnlyWhenTheEnvironmentAsks) {
  const char* before = std::getenv("AUTOTM_TEST_REDUCED");
  const std::string saved = before == nullptr ? "" : before;
  unsetenv("AUTOTM_TEST_REDUCED");
  EXPECT_EQ(VariantCount(24, 6), 24);
  setenv("AUTOTM_TEST_REDUCED", "0", 1);
  EXPECT_EQ(VariantCount(24, 6), 24);
  setenv("AUTOTM_TEST_REDUCED", "", 1);
  EXPECT_EQ(VariantCount(24, 6), 24);
  setenv("AUTOTM_TEST_REDUCED", "1", 1);
  EXPECT_EQ(VariantCount(24, 6), 6);
  EXPECT_EQ(VariantCount(4, 9), 4);  // never more than the full count
  if (before == nullptr) {
    unsetenv("AUTOTM_TEST_REDUCED");
  } else {
    setenv("AUTOTM_TEST_REDUCED", saved.c_str(), 1);
  }
}

TEST(FormulationBruteForceTest, IlpOptimumEqualsEnumeratedOptimum) {
  std::mt19937_64 rng(20260127);
  const int kGraphs = VariantCount(16, 6);
  int graphs_checked = 0;
  int comparisons = 0;
  int sync_beats_static = 0;
  int async_beats_sync = 0;
  int infeasible = 0;
  while (graphs_checked < kGraphs) {
    GraphModel graph = MustGraph(testing::RandomGraph(rng, 7, 7));
    if (SearchSpace(graph, v1::METHOD_ASYNCHRONOUS) > 2e5) continue;
    ++graphs_checked;
    const v1::CopyBandwidths bandwidths = FastAsyncBandwidths();
    v1::Profile proto = FullTableProfile(
        graph,
        [&](int k, ConfigMask mask) {
          const int inputs = graph.kernel(k).num_inputs;
          return testing::OptaneLikeTimeUs(50.0 + 40.0 * k, inputs, mask);
        },
        bandwidths);
    // Every other graph loses a third of its configurations, so that the
    // "missing configuration is never chosen" rule and infeasibility are
    // exercised too.
    if (graphs_checked % 2 == 0) {
      for (v1::KernelProfile& kernel : *proto.mutable_kernels()) {
        auto* configs = kernel.mutable_configs();
        for (int i = configs->size() - 1; i >= 0; --i) {
          if (configs->size() > 1 && rng() % 3 == 0) {
            configs->DeleteSubrange(i, 1);
          }
        }
      }
    }
    ProfileModel profile = MustProfile(proto);
    for (double fraction : {0.3, 0.5, 0.75, 1.0}) {
      const uint64_t budget =
          static_cast<uint64_t>(fraction * graph.PeakLiveBytes());
      double optimum[3];
      int index = 0;
      for (v1::Method method : {v1::METHOD_STATIC, v1::METHOD_SYNCHRONOUS,
                                v1::METHOD_ASYNCHRONOUS}) {
        const double expected =
            BruteForceOptimum(graph, profile, method, budget);
        optimum[index++] = expected;
        PlanOutcome outcome = MustPlan(graph, profile, method, budget);
        ++comparisons;
        if (std::isinf(expected)) {
          ++infeasible;
          EXPECT_FALSE(outcome.plan.has_value());
          EXPECT_EQ(outcome.stats.termination(), v1::TERMINATION_INFEASIBLE);
          continue;
        }
        ASSERT_TRUE(outcome.plan.has_value())
            << MethodName(method) << " budget " << budget << ": "
            << outcome.diagnostic;
        EXPECT_NEAR(outcome.plan->predicted_time_us(), expected,
                    1e-6 * expected)
            << MethodName(method) << " at " << fraction << " of peak on graph "
            << graphs_checked;
      }
      if (optimum[1] < optimum[0] - 1e-6) ++sync_beats_static;
      if (optimum[2] < optimum[1] - 1e-6) ++async_beats_sync;
      // More freedom never hurts: async <= sync <= static.
      EXPECT_LE(optimum[2], optimum[1] + 1e-6);
      EXPECT_LE(optimum[1], optimum[0] + 1e-6);
    }
  }
  EXPECT_EQ(comparisons, kGraphs * 4 * 3);
  // The instances must exercise moves and infeasibility, or the comparison
  // proves little.
  EXPECT_GT(sync_beats_static, 0);
  EXPECT_GT(async_beats_sync, 0);
  EXPECT_GT(infeasible, 0);
  std::cout << comparisons << " comparisons, sync beat static in "
            << sync_beats_static << ", async beat sync in " << async_beats_sync
            << ", infeasible in " << infeasible << "\n";
}

// Asynchronous decision points where no copy of the tensor can beat a
// blocking one are left out of the model; the optimum must not change (it is
// checked against the enumeration, which keeps every point of the window).
TEST(FormulationBruteForceTest, DroppedAsyncPointsKeepTheOptimum) {
  std::mt19937_64 rng(20261127);
  int graphs_checked = 0;
  int graphs_reduced = 0;
  const int kGraphs = VariantCount(12, 4);
  while (graphs_checked < kGraphs) {
    GraphModel graph = MustGraph(testing::RandomGraph(rng, 7, 7));
    if (SearchSpace(graph, v1::METHOD_ASYNCHRONOUS) > 2e5) continue;
    ++graphs_checked;
    // Kernels from 10 us to a few hundred, so that some copies of these 1-8 MiB
    // tensors hide behind some kernels and not behind others.
    auto time_us = [&](int k, ConfigMask mask) {
      return testing::OptaneLikeTimeUs(10.0 + 60.0 * k,
                                       graph.kernel(k).num_inputs, mask);
    };
    v1::CopyBandwidths optane = testing::OptaneBandwidths();
    optane.set_slow_to_fast_async_gb_per_s(6);
    optane.set_fast_to_slow_async_gb_per_s(5);
    v1::CopyBandwidths instant = optane;  // async copies cost nothing
    instant.set_slow_to_fast_async_gb_per_s(1e6);
    instant.set_fast_to_slow_async_gb_per_s(1e6);
    ProfileModel profile =
        MustProfile(FullTableProfile(graph, time_us, optane));
    ProfileModel unreduced =
        MustProfile(FullTableProfile(graph, time_us, instant));
    FormulationOptions options;
    options.method = v1::METHOD_ASYNCHRONOUS;
    options.kernel_limit_bytes.assign(graph.num_kernels(),
                                      graph.PeakLiveBytes());
    absl::StatusOr<Formulation> reduced =
        Formulation::Build(graph, profile, options);
    absl::StatusOr<Formulation> full =
        Formulation::Build(graph, unreduced, options);
    ASSERT_TRUE(reduced.ok() && full.ok());
    EXPECT_LE(reduced->model().num_columns(), full->model().num_columns());
    if (reduced->model().num_columns() < full->model().num_columns()) {
      ++graphs_reduced;
    }
    for (double fraction : {0.3, 0.5, 0.75}) {
      const uint64_t budget =
          static_cast<uint64_t>(fraction * graph.PeakLiveBytes());
      const double expected =
          BruteForceOptimum(graph, profile, v1::METHOD_ASYNCHRONOUS, budget);
      PlanOutcome outcome =
          MustPlan(graph, profile, v1::METHOD_ASYNCHRONOUS, budget);
      if (std::isinf(expected)) {
        EXPECT_FALSE(outcome.plan.has_value());
        continue;
      }
      ASSERT_TRUE(outcome.plan.has_value()) << outcome.diagnostic;
      EXPECT_NEAR(outcome.plan->predicted_time_us(), expected, 1e-6 * expected)
          << "graph " << graphs_checked << " at " << fraction;
    }
  }
  // The instances must actually drop points, or this proves nothing.
  EXPECT_GT(graphs_reduced, 0);
}

// A table that is exactly separable, whole or restricted to some operands
// being fast (a product set), collapses into a separable cost; the ILP
// optimum with the collapsed costs must be the enumerated optimum of the
// tables, for every variant. Some tables also lose one configuration (not
// a product set any more): those stay tables, mixed with collapsed ones.
TEST(FormulationBruteForceTest, CollapsedTablesKeepTheEnumeratedOptimum) {
  std::mt19937_64 rng(20260521);
  const int kGraphs = VariantCount(8, 4);
  int graphs_checked = 0;
  int collapsed_kernels = 0;
  int only_fast_kernels = 0;
  int table_kernels = 0;
  int comparisons = 0;
  while (graphs_checked < kGraphs) {
    GraphModel graph = MustGraph(testing::RandomGraph(rng, 7, 7));
    if (SearchSpace(graph, v1::METHOD_ASYNCHRONOUS) > 1e5) continue;
    ++graphs_checked;
    const v1::CopyBandwidths bandwidths = FastAsyncBandwidths();
    // Random separable costs: a base and a penalty per operand.
    std::vector<std::vector<double>> penalties(graph.num_kernels());
    std::vector<double> base(graph.num_kernels());
    for (int k = 0; k < graph.num_kernels(); ++k) {
      base[k] = 20.0 + static_cast<double>(rng() % 200);
      for (size_t p = 0; p < graph.kernel(k).operands.size(); ++p) {
        penalties[k].push_back(static_cast<double>(rng() % 400) / 3);
      }
    }
    v1::Profile proto = FullTableProfile(
        graph,
        [&](int k, ConfigMask mask) {
          double time = base[k];
          for (size_t p = 0; p < penalties[k].size(); ++p) {
            if (mask >> p & 1) time += penalties[k][p];
          }
          return time;
        },
        bandwidths);
    for (int k = 0; k < graph.num_kernels(); ++k) {
      const int n = static_cast<int>(graph.kernel(k).operands.size());
      if (rng() % 3 == 0) {
        proto = WithOnlyFast(std::move(proto), k, static_cast<int>(rng() % n));
      }
      auto* configs = proto.mutable_kernels(k)->mutable_configs();
      if (rng() % 4 == 0 && configs->size() > 2) {
        configs->DeleteSubrange(
            1 + static_cast<int>(rng() % (configs->size() - 1)), 1);
      }
    }
    ProfileModel table = MustProfile(proto);
    ProfileModel collapsed = MustProfile(proto, TableCollapseOptions());
    for (int k = 0; k < graph.num_kernels(); ++k) {
      const KernelCost* cost = collapsed.Find(graph.kernel(k).signature_key);
      if (!cost->collapsed()) {
        ++table_kernels;
        continue;
      }
      ++collapsed_kernels;
      EXPECT_LT(cost->collapse_residual_us(), 1e-9);
      for (size_t p = 0; p < graph.kernel(k).operands.size(); ++p) {
        if (cost->OnlyFast(static_cast<int>(p))) {
          ++only_fast_kernels;
          break;
        }
      }
    }
    for (double fraction : {0.3, 0.5, 0.75, 1.0}) {
      const uint64_t budget =
          static_cast<uint64_t>(fraction * graph.PeakLiveBytes());
      for (v1::Method method : {v1::METHOD_STATIC, v1::METHOD_SYNCHRONOUS,
                                v1::METHOD_ASYNCHRONOUS}) {
        const double expected = BruteForceOptimum(graph, table, method, budget);
        PlanOutcome outcome = MustPlan(graph, collapsed, method, budget);
        ++comparisons;
        if (std::isinf(expected)) {
          EXPECT_FALSE(outcome.plan.has_value());
          EXPECT_EQ(outcome.stats.termination(), v1::TERMINATION_INFEASIBLE);
          continue;
        }
        ASSERT_TRUE(outcome.plan.has_value())
            << MethodName(method) << " budget " << budget << ": "
            << outcome.diagnostic;
        EXPECT_NEAR(outcome.plan->predicted_time_us(), expected,
                    1e-6 * expected)
            << MethodName(method) << " at " << fraction << " of peak on graph "
            << graphs_checked;
      }
    }
  }
  EXPECT_EQ(comparisons, kGraphs * 4 * 3);
  // Both kinds of collapse, and tables kept beside them.
  EXPECT_GT(collapsed_kernels, 0);
  EXPECT_GT(only_fast_kernels, 0);
  EXPECT_GT(table_kernels, 0);
  std::cout << comparisons << " comparisons; " << collapsed_kernels
            << " kernels collapsed (" << only_fast_kernels
            << " with fast-only operands), " << table_kernels
            << " kept tables\n";
}

// The lifted rows for overlapped copies must cut off LP points the plain
// max rows allow (a copy longer than its kernel, chosen to the extent 1/2,
// pays half its excess) without cutting off any plan: the relaxation only
// rises, and the integer optimum stays the enumerated one (checked above
// with the default, lifted rows, and here against the plain rows).
TEST(FormulationBruteForceTest, LiftedOverlapRowsTightenTheRelaxationOnly) {
  std::mt19937_64 rng(20261128);
  int graphs_checked = 0;
  int relaxations_raised = 0;
  auto relaxation = [](IlpModel model) {
    std::fill(model.is_integer.begin(), model.is_integer.end(), 0);
    SolveParams params;
    params.time_limit_seconds = 30;
    absl::StatusOr<SolveResult> result = MakeCbcSolver()->Solve(model, params);
    EXPECT_TRUE(result.ok() && result->has_solution());
    return result.ok() && result->has_solution() ? result->objective : -1.0;
  };
  while (graphs_checked < 10) {
    GraphModel graph = MustGraph(testing::RandomGraph(rng, 7, 7));
    if (SearchSpace(graph, v1::METHOD_ASYNCHRONOUS) > 2e5) continue;
    ++graphs_checked;
    v1::CopyBandwidths bandwidths = testing::OptaneBandwidths();
    bandwidths.set_slow_to_fast_async_gb_per_s(6);
    bandwidths.set_fast_to_slow_async_gb_per_s(5);
    ProfileModel profile = MustProfile(FullTableProfile(
        graph,
        [&](int k, ConfigMask mask) {
          return testing::OptaneLikeTimeUs(10.0 + 60.0 * k,
                                           graph.kernel(k).num_inputs, mask);
        },
        bandwidths));
    for (double fraction : {0.3, 0.5, 0.75}) {
      FormulationOptions options;
      options.method = v1::METHOD_ASYNCHRONOUS;
      options.kernel_limit_bytes.assign(
          graph.num_kernels(),
          static_cast<uint64_t>(fraction * graph.PeakLiveBytes()));
      absl::StatusOr<Formulation> lifted =
          Formulation::Build(graph, profile, options);
      options.lift_overlap_rows = false;
      absl::StatusOr<Formulation> plain =
          Formulation::Build(graph, profile, options);
      ASSERT_TRUE(lifted.ok() && plain.ok());
      if (lifted->infeasible().has_value()) continue;
      const double lifted_lp = relaxation(lifted->model());
      const double plain_lp = relaxation(plain->model());
      EXPECT_GE(lifted_lp, plain_lp - 1e-6 * plain_lp);
      if (lifted_lp > plain_lp * (1 + 1e-6)) ++relaxations_raised;
      SolveParams params;
      params.relative_gap = 1e-9;
      absl::StatusOr<SolveResult> lifted_ilp =
          MakeCbcSolver()->Solve(lifted->model(), params);
      absl::StatusOr<SolveResult> plain_ilp =
          MakeCbcSolver()->Solve(plain->model(), params);
      ASSERT_TRUE(lifted_ilp.ok() && plain_ilp.ok());
      ASSERT_EQ(lifted_ilp->has_solution(), plain_ilp->has_solution());
      if (!plain_ilp->has_solution()) continue;
      EXPECT_NEAR(lifted_ilp->objective, plain_ilp->objective,
                  1e-6 * plain_ilp->objective)
          << "graph " << graphs_checked << " at " << fraction;
      EXPECT_GE(lifted_ilp->objective, lifted_lp - 1e-6 * lifted_lp);
    }
  }
  // The instances must have copies that outlast their kernels, or this
  // proves nothing.
  EXPECT_GT(relaxations_raised, 0);
}

// The last-line guard of issue 18: numbers that passed no validation (a
// graph built with raised limits, so a copy takes 2^62 bytes / 1 MB/s =
// 4.6e18 us) must come back as InvalidArgument, never reach CBC (whose Clp
// asserts |objective| < 1e25 and aborts the process).
TEST(FormulationTest, RefusesCoefficientsCbcCannotTake) {
  GraphBuilder builder("huge");
  builder.Tensor("x", 1024, v1::TENSOR_ROLE_INPUT)
      .Tensor("a", uint64_t{1} << 62)
      .Tensor("b", 1024)
      .Tensor("c", 1024)
      .Kernel("k0", {"x"}, {"a"})
      .Kernel("k1", {"x"}, {"b"})
      .Kernel("k2", {"a", "b"}, {"c"});
  GraphLimits limits;
  limits.max_tensor_bytes = ~uint64_t{0};
  limits.max_total_bytes = ~uint64_t{0};
  absl::StatusOr<GraphModel> graph =
      GraphModel::Create(builder.graph(), limits);
  ASSERT_TRUE(graph.ok()) << graph.status();
  v1::CopyBandwidths slowest;
  slowest.set_slow_to_fast_sync_gb_per_s(kMinBandwidthGbPerS);
  slowest.set_fast_to_slow_sync_gb_per_s(kMinBandwidthGbPerS);
  slowest.set_slow_to_fast_async_gb_per_s(kMinBandwidthGbPerS);
  slowest.set_fast_to_slow_async_gb_per_s(kMinBandwidthGbPerS);
  const ProfileModel profile = MustProfile(FullTableProfile(
      *graph, [](int, ConfigMask mask) { return PenaltyTime(0, mask); },
      slowest));
  FormulationOptions options;
  options.method = v1::METHOD_SYNCHRONOUS;
  options.kernel_limit_bytes.assign(graph->num_kernels(), ~uint64_t{0});
  absl::StatusOr<Formulation> formulation =
      Formulation::Build(*graph, profile, options);
  ASSERT_EQ(formulation.status().code(), absl::StatusCode::kInvalidArgument)
      << formulation.status();
  EXPECT_THAT(formulation.status().message(),
              AllOf(HasSubstr("beyond the 1e+18 the solver can take"),
                    HasSubstr("out of range")));

  // The same graph at tensor sizes within GraphLimits builds.
  GraphBuilder fine("fine");
  fine.Tensor("x", 1024, v1::TENSOR_ROLE_INPUT)
      .Tensor("a", uint64_t{1} << 50)
      .Tensor("b", 1024)
      .Tensor("c", 1024)
      .Kernel("k0", {"x"}, {"a"})
      .Kernel("k1", {"x"}, {"b"})
      .Kernel("k2", {"a", "b"}, {"c"});
  const GraphModel fine_graph = MustGraph(fine.graph());
  const ProfileModel fine_profile = MustProfile(FullTableProfile(
      fine_graph, [](int, ConfigMask mask) { return PenaltyTime(0, mask); },
      slowest));
  EXPECT_TRUE(Formulation::Build(fine_graph, fine_profile, options).ok());
}

}  // namespace
}  // namespace autotm::solver

namespace autotm::solver {
namespace {

using ::autotm::solver::testing::AsyncRecomputeGraph;

// Every kernel 10 us with its operands fast, plus 25 us per MiB of each
// operand it reads or writes slow: separable, so re-runs can be priced.
ProfileModel SlowPenaltyProfile(const GraphModel& graph) {
  return MustProfile(
      FullTableProfile(
          graph,
          [&](int k, ConfigMask mask) {
            double time = 10.0;
            const KernelInfo& kernel = graph.kernel(k);
            for (size_t p = 0; p < kernel.operands.size(); ++p) {
              if (mask >> p & 1) {
                time +=
                    25.0 * graph.tensor(kernel.operands[p]).size_bytes / kMiB;
              }
            }
            return time;
          }),
      TableCollapseOptions());
}

// The ranges of RandomSeparableProfile's draws: a kernel's all-fast time is
// base_us + rng() % base_spread_us, a slow operand adds
// (penalty_us_per_mib + rng() % penalty_spread) us per MiB of it.
struct RandomCosts {
  int base_us;
  int base_spread_us;
  int penalty_us_per_mib;
  int penalty_spread;
};

// A full table (Optane's bandwidths) of separable random costs, drawn from
// `rng` kernel by kernel, base first, then each operand in order (the
// enumeration tests' seeds depend on that order).
v1::Profile RandomSeparableProfile(const GraphModel& graph,
                                   std::mt19937_64& rng, RandomCosts costs) {
  std::vector<double> base(graph.num_kernels());
  std::vector<std::vector<double>> penalties(graph.num_kernels());
  for (int k = 0; k < graph.num_kernels(); ++k) {
    base[k] = costs.base_us + static_cast<double>(rng() % costs.base_spread_us);
    for (int t : graph.kernel(k).operands) {
      penalties[k].push_back(static_cast<double>(costs.penalty_us_per_mib +
                                                 rng() % costs.penalty_spread) *
                             graph.tensor(t).size_bytes / kMiB);
    }
  }
  return FullTableProfile(
      graph,
      [&](int k, ConfigMask mask) {
        double time = base[k];
        for (size_t p = 0; p < penalties[k].size(); ++p) {
          if (mask >> p & 1) time += penalties[k][p];
        }
        return time;
      },
      testing::OptaneBandwidths());
}

// x -> k0 -> a; k1(a) -> b; k2(b) -> c; k3(a, x, c) -> d; 4 MiB each but d
// (1 MiB); 10 us per kernel plus 100 us per slow operand. At 13 MiB, k2
// cannot hold x, a, b and c: without recomputation the cheapest way out is
// one tensor slow at two uses (+200 us; copies of 4 MiB cost 145-350 us).
// With it, `a` is dropped after k1 and k0 re-run before k3 from x, which is
// live there anyway: +10 us.
TEST(FormulationRecomputeTest, CheapProducerIsReRunInsteadOfKept) {
  GraphBuilder builder("recompute");
  builder.Tensor("x", 4 * kMiB, v1::TENSOR_ROLE_INPUT)
      .Tensor("a", 4 * kMiB)
      .Tensor("b", 4 * kMiB)
      .Tensor("c", 4 * kMiB)
      .Tensor("d", 1 * kMiB)
      .Kernel("k0", {"x"}, {"a"})
      .Kernel("k1", {"a"}, {"b"})
      .Kernel("k2", {"b"}, {"c"})
      .Kernel("k3", {"a", "x", "c"}, {"d"});
  GraphModel graph = MustGraph(builder.graph());
  ProfileModel profile =
      MustProfile(FullTableProfile(graph,
                                   [](int, ConfigMask mask) {
                                     return 10.0 + 100.0 * std::popcount(mask);
                                   }),
                  TableCollapseOptions());
  PlanOutcome without =
      MustPlan(graph, profile, v1::METHOD_SYNCHRONOUS, 13 * kMiB);
  ASSERT_TRUE(without.plan.has_value());
  EXPECT_NEAR(without.plan->predicted_time_us(), 240.0, 1e-6);
  EXPECT_EQ(without.plan->recomputes_size(), 0);

  PlanOutcome with = MustPlan(graph, profile, v1::METHOD_SYNCHRONOUS, 13 * kMiB,
                              /*recompute=*/true);
  ASSERT_TRUE(with.plan.has_value());
  EXPECT_NEAR(with.plan->predicted_time_us(), 50.0, 1e-6);
  ASSERT_EQ(with.plan->recomputes_size(), 1);
  const v1::Recompute& recompute = with.plan->recomputes(0);
  EXPECT_EQ(recompute.tensor_id(), "a");
  EXPECT_EQ(recompute.kernel_id(), "k0");
  EXPECT_EQ(recompute.dropped_after_kernel_index(), 1u);
  EXPECT_EQ(recompute.before_kernel_id(), "k3");
  EXPECT_EQ(recompute.config(), "F|F");
  EXPECT_EQ(with.plan->kernels(2).fast_bytes(), 12 * kMiB);

  // Encode takes the plan back to the model's columns (warm starts).
  FormulationOptions options;
  options.method = v1::METHOD_SYNCHRONOUS;
  options.recompute = true;
  options.kernel_limit_bytes.assign(graph.num_kernels(), 13 * kMiB);
  absl::StatusOr<Formulation> formulation =
      Formulation::Build(graph, profile, options);
  ASSERT_TRUE(formulation.ok()) << formulation.status();
  std::vector<TensorSchedule> schedule(graph.num_tensors());
  for (TensorSchedule& entry : schedule) entry.creation_tier = v1::TIER_FAST;
  schedule[graph.FindTensor("a")].recomputes.push_back({1, 3});
  absl::StatusOr<std::vector<double>> values = formulation->Encode(schedule);
  ASSERT_TRUE(values.ok()) << values.status();
  double objective = formulation->model().objective_offset;
  for (int j = 0; j < formulation->model().num_columns(); ++j) {
    objective += formulation->model().objective[j] * (*values)[j];
  }
  EXPECT_NEAR(objective, 50.0, 1e-6);  // no continuous slow-input column set
  const std::vector<TensorSchedule> decoded = formulation->Decode(*values);
  ASSERT_EQ(decoded[graph.FindTensor("a")].recomputes.size(), 1u);
  EXPECT_EQ(decoded[graph.FindTensor("a")].recomputes[0].before, 3);

  // Without the option the formulation has no recomputation to encode.
  options.recompute = false;
  absl::StatusOr<Formulation> plain =
      Formulation::Build(graph, profile, options);
  ASSERT_TRUE(plain.ok());
  EXPECT_THAT(plain->Encode(schedule).status().message(),
              HasSubstr("no recomputation"));
}

// A concatenation-like re-run: x -> k0 -> f (1 MiB, last read by k1);
// k1(f) -> c (4 MiB); k2(c) -> e; k3(e) -> g (4 MiB each); k4(c, g) -> h.
// 10 us per kernel plus 25 us per MiB of slow operands. At 9 MiB, k3 (c, e,
// g: 12 MiB) must lose one: without recomputation e or g goes slow (+200
// us). With it, c is dropped after k2 and k1 re-run before k4 - but f is
// dead there: it must be kept in slow memory. Created slow (+25 us at k0 and
// k1) and kept, f feeds a re-run of 10 + 25 us: +85 us in all.
TEST(FormulationRecomputeTest, DeadInputIsKeptSlowForTheReRun) {
  GraphBuilder builder("keep");
  builder.Tensor("x", 1 * kMiB, v1::TENSOR_ROLE_INPUT)
      .Tensor("f", 1 * kMiB)
      .Tensor("c", 4 * kMiB)
      .Tensor("e", 4 * kMiB)
      .Tensor("g", 4 * kMiB)
      .Tensor("h", 1 * kMiB)
      .Kernel("k0", {"x"}, {"f"})
      .Kernel("k1", {"f"}, {"c"})
      .Kernel("k2", {"c"}, {"e"})
      .Kernel("k3", {"e"}, {"g"})
      .Kernel("k4", {"c", "g"}, {"h"});
  GraphModel graph = MustGraph(builder.graph());
  ProfileModel profile = SlowPenaltyProfile(graph);
  PlanOutcome restricted =
      MustPlan(graph, profile, v1::METHOD_SYNCHRONOUS, 9 * kMiB,
               /*recompute=*/true, /*keep_inputs=*/false);
  ASSERT_TRUE(restricted.plan.has_value());
  EXPECT_NEAR(restricted.plan->predicted_time_us(), 250.0, 1e-6);
  EXPECT_EQ(restricted.plan->recomputes_size(), 0);

  PlanOutcome kept = MustPlan(graph, profile, v1::METHOD_SYNCHRONOUS, 9 * kMiB,
                              /*recompute=*/true);
  ASSERT_TRUE(kept.plan.has_value());
  EXPECT_NEAR(kept.plan->predicted_time_us(), 135.0, 1e-6);
  ASSERT_EQ(kept.plan->recomputes_size(), 1);
  EXPECT_EQ(kept.plan->recomputes(0).tensor_id(), "c");
  EXPECT_EQ(kept.plan->recomputes(0).config(), "S|F");
  EXPECT_EQ(kept.plan->tensors(graph.FindTensor("f")).kept_slow_until_kernel(),
            4u);
  EXPECT_EQ(kept.plan->tensors(graph.FindTensor("f")).creation_tier(),
            v1::TIER_SLOW);

  // The verifier insists on the keep: without it f is gone at k4.
  v1::Plan tampered = *kept.plan;
  tampered.mutable_tensors(graph.FindTensor("f"))
      ->set_kept_slow_until_kernel(0);
  EXPECT_THAT(VerifyPlan(graph, profile, tampered, 9 * kMiB).status().message(),
              HasSubstr("nor kept in the slow tier"));
  tampered = *kept.plan;
  tampered.mutable_tensors(graph.FindTensor("f"))
      ->set_kept_slow_until_kernel(3);
  EXPECT_FALSE(VerifyPlan(graph, profile, tampered, 9 * kMiB).ok());
}

// ReLU(BN(x)) re-made from x, as in DenseNet: k0 (batch norm: x -> y and
// its statistics m), k1 (ReLU: y -> r), r read by k2 and again by k5; y dies
// at k1, x lives until k6 (batch norm's backward). Sizes MiB: x 4, y 4, m 1,
// r 4, a 7, b 8, c 1, d 6, e 1; 10 us per kernel plus 25 us per MiB of slow
// operands. k3 holds x, m, r, a, b (24 MiB). At 21 MiB one of them must go:
// without two-level re-runs x slow is cheapest (+200 us; r re-made from y
// kept slow costs more). With them r is dropped after k2 and k0 then k1
// re-run before k5 from x, live there: +20 us, y and m written in scratch
// (5 MiB) on top of k5's 16 MiB. At 20 MiB that scratch no longer fits
// beside k5's tensors unless m is dropped as well (below).
TEST(FormulationRecomputeTest, ReluOfBatchNormIsReMadeFromItsInput) {
  GraphBuilder builder("remake");
  builder.Tensor("x", 4 * kMiB, v1::TENSOR_ROLE_INPUT)
      .Tensor("y", 4 * kMiB)
      .Tensor("m", 1 * kMiB)
      .Tensor("r", 4 * kMiB)
      .Tensor("a", 7 * kMiB)
      .Tensor("b", 8 * kMiB)
      .Tensor("c", 1 * kMiB)
      .Tensor("d", 6 * kMiB)
      .Tensor("e", 1 * kMiB)
      .Kernel("k0", {"x"}, {"y", "m"})
      .Kernel("k1", {"y"}, {"r"})
      .Kernel("k2", {"r"}, {"a"})
      .Kernel("k3", {"a"}, {"b"})
      .Kernel("k4", {"b"}, {"c"})
      .Kernel("k5", {"r", "c"}, {"d"})
      .Kernel("k6", {"x", "m", "d"}, {"e"});
  GraphModel graph = MustGraph(builder.graph());
  ProfileModel profile = SlowPenaltyProfile(graph);
  PlanOutcome one_level =
      MustPlan(graph, profile, v1::METHOD_SYNCHRONOUS, 21 * kMiB,
               /*recompute=*/true, /*keep_inputs=*/true,
               /*max_remade_inputs=*/0);
  ASSERT_TRUE(one_level.plan.has_value());
  EXPECT_NEAR(one_level.plan->predicted_time_us(), 270.0, 1e-6);

  PlanOutcome two_level = MustPlan(graph, profile, v1::METHOD_SYNCHRONOUS,
                                   21 * kMiB, /*recompute=*/true);
  ASSERT_TRUE(two_level.plan.has_value());
  EXPECT_NEAR(two_level.plan->predicted_time_us(), 90.0, 1e-6);
  ASSERT_EQ(two_level.plan->recomputes_size(), 1);
  const v1::Recompute& recompute = two_level.plan->recomputes(0);
  EXPECT_EQ(recompute.tensor_id(), "r");
  EXPECT_EQ(recompute.kernel_id(), "k1");
  EXPECT_EQ(recompute.before_kernel_id(), "k5");
  EXPECT_EQ(recompute.config(), "F|F");
  EXPECT_NEAR(recompute.time_us(), 10.0, 1e-9);
  ASSERT_EQ(recompute.remade_inputs_size(), 1);
  EXPECT_EQ(recompute.remade_inputs(0).tensor_id(), "y");
  EXPECT_EQ(recompute.remade_inputs(0).kernel_id(), "k0");
  EXPECT_EQ(recompute.remade_inputs(0).config(), "F|FF");
  EXPECT_NEAR(two_level.plan->recompute_time_us(), 20.0, 1e-9);
  EXPECT_EQ(recompute.scratch_bytes(), 5 * kMiB);
  EXPECT_EQ(two_level.plan->kernels(5).fast_bytes(), 16 * kMiB);
  EXPECT_EQ(two_level.plan->peak_fast_bytes(), 21 * kMiB);

  // The verifier counts the scratch against the budget, checks its size and
  // insists on the remade input.
  EXPECT_THAT(
      VerifyPlan(graph, profile, *two_level.plan, 20 * kMiB).status().message(),
      HasSubstr("its scratch included"));
  v1::Plan tampered = *two_level.plan;
  tampered.mutable_recomputes(0)->set_scratch_bytes(4 * kMiB);
  EXPECT_THAT(
      VerifyPlan(graph, profile, tampered, 21 * kMiB).status().message(),
      HasSubstr("scratch_bytes"));
  tampered = *two_level.plan;
  tampered.mutable_recomputes(0)->clear_remade_inputs();
  EXPECT_THAT(
      VerifyPlan(graph, profile, tampered, 21 * kMiB).status().message(),
      HasSubstr("is not in memory"));
  tampered = *two_level.plan;
  tampered.mutable_recomputes(0)->mutable_remade_inputs(0)->set_kernel_index(2);
  EXPECT_THAT(
      VerifyPlan(graph, profile, tampered, 21 * kMiB).status().message(),
      HasSubstr("not its producer"));

  // At 20 MiB the scratch row binds at k5: m must go too. Slow it would
  // cost 50 us; dropped after k0 and re-made for k6 by re-running k0 (a
  // kernel with two outputs: y is written into 4 MiB of scratch) 10 us.
  PlanOutcome tight = MustPlan(graph, profile, v1::METHOD_SYNCHRONOUS,
                               20 * kMiB, /*recompute=*/true);
  ASSERT_TRUE(tight.plan.has_value());
  EXPECT_NEAR(tight.plan->predicted_time_us(), 100.0, 1e-6);
  EXPECT_EQ(tight.plan->peak_fast_bytes(), 20 * kMiB);
  ASSERT_EQ(tight.plan->recomputes_size(), 2);
  EXPECT_EQ(tight.plan->recomputes(1).tensor_id(), "m");
  EXPECT_EQ(tight.plan->recomputes(1).kernel_id(), "k0");
  EXPECT_EQ(tight.plan->recomputes(1).before_kernel_id(), "k6");
  EXPECT_EQ(tight.plan->recomputes(1).scratch_bytes(), 4 * kMiB);
}

// DenseNet's shape, three levels: k0 concatenates x into c, k1 (batch norm)
// makes y and its statistics m from c, k2 (ReLU) r from y; r is read by k3
// and again by k5, c by k1 and again by k6 (batch norm's backward), x lives
// until k7. Sizes MiB: x 2, c 4, y 4, m 1, r 4, a 12, b 3, d 1, e 1, f 1;
// 10 us per kernel (80) plus 25 us per MiB of slow operands, copies at
// Optane's speeds (over 100 us per MiB-sized tensor). Budget 19 MiB. k3
// holds x, c, m, r, a (23 MiB): c goes (dropped after k1, re-made for k6
// from x, +10 us); k4 holds x, r, a, b (21 MiB): r goes too. With c dropped
// at k5, r cannot be re-made there from y by re-running k1 on c (two
// levels); without chains the cheapest is x slow (k0, k7 and c's re-run
// read it slow: +150 us, 240 us). The chain x -> c -> y -> r (k0, k1, k2
// re-run before k5, +30 us; scratch c, y and m, 9 MiB beside k5's 10 MiB)
// needs m dropped as well (+10 us): 130 us.
TEST(FormulationRecomputeTest, ThreeLevelChainReMakesADroppedConcatenation) {
  GraphBuilder builder("chain3");
  builder.Tensor("x", 2 * kMiB, v1::TENSOR_ROLE_INPUT)
      .Tensor("c", 4 * kMiB)
      .Tensor("y", 4 * kMiB)
      .Tensor("m", 1 * kMiB)
      .Tensor("r", 4 * kMiB)
      .Tensor("a", 12 * kMiB)
      .Tensor("b", 3 * kMiB)
      .Tensor("d", 1 * kMiB)
      .Tensor("e", 1 * kMiB)
      .Tensor("f", 1 * kMiB)
      .Kernel("k0", {"x"}, {"c"})
      .Kernel("k1", {"c"}, {"y", "m"})
      .Kernel("k2", {"y"}, {"r"})
      .Kernel("k3", {"r"}, {"a"})
      .Kernel("k4", {"a"}, {"b"})
      .Kernel("k5", {"r", "b"}, {"d"})
      .Kernel("k6", {"c", "m", "d"}, {"e"})
      .Kernel("k7", {"x", "e"}, {"f"});
  GraphModel graph = MustGraph(builder.graph());
  ProfileModel profile = SlowPenaltyProfile(graph);
  const uint64_t budget = 19 * kMiB;
  double best[3];
  for (int levels = 0; levels <= 2; ++levels) {
    PlanOutcome outcome =
        MustPlan(graph, profile, v1::METHOD_SYNCHRONOUS, budget,
                 /*recompute=*/true, /*keep_inputs=*/true, levels);
    ASSERT_TRUE(outcome.plan.has_value()) << levels;
    best[levels] = outcome.plan->predicted_time_us();
    std::cout << levels << " levels: " << best[levels] << " us\n";
    if (levels < 2) continue;
    EXPECT_NEAR(best[2], 130.0, 1e-6);
    ASSERT_EQ(outcome.plan->recomputes_size(), 3);
    const v1::Recompute& chain = outcome.plan->recomputes(0);
    EXPECT_EQ(chain.tensor_id(), "r");
    EXPECT_EQ(chain.before_kernel_id(), "k5");
    ASSERT_EQ(chain.remade_inputs_size(), 2);
    EXPECT_EQ(chain.remade_inputs(0).tensor_id(), "c");  // re-run first
    EXPECT_EQ(chain.remade_inputs(0).kernel_id(), "k0");
    EXPECT_EQ(chain.remade_inputs(1).tensor_id(), "y");
    EXPECT_EQ(chain.remade_inputs(1).kernel_id(), "k1");
    EXPECT_EQ(chain.scratch_bytes(), 9 * kMiB);
    EXPECT_EQ(outcome.plan->recomputes(1).tensor_id(), "c");
    EXPECT_EQ(outcome.plan->recomputes(1).remade_inputs_size(), 0);
    EXPECT_EQ(outcome.plan->recomputes(2).tensor_id(), "m");
    EXPECT_EQ(outcome.plan->kernels(5).fast_bytes(), 10 * kMiB);
    EXPECT_EQ(outcome.plan->peak_fast_bytes(), 19 * kMiB);

    // The verifier replays the chain in its order and insists on it.
    v1::Plan tampered = *outcome.plan;
    tampered.mutable_recomputes(0)->mutable_remade_inputs()->SwapElements(0, 1);
    EXPECT_THAT(VerifyPlan(graph, profile, tampered, budget).status().message(),
                HasSubstr("is no input of kernel"));
    tampered = *outcome.plan;
    tampered.mutable_recomputes(0)->mutable_remade_inputs()->DeleteSubrange(0,
                                                                            1);
    EXPECT_THAT(VerifyPlan(graph, profile, tampered, budget).status().message(),
                HasSubstr("is not in memory"));
    tampered = *outcome.plan;
    tampered.mutable_recomputes(0)->mutable_remade_inputs(0)->set_time_us(1);
    EXPECT_THAT(VerifyPlan(graph, profile, tampered, budget).status().message(),
                HasSubstr("the profile says"));
    tampered = *outcome.plan;
    tampered.mutable_recomputes(0)->set_scratch_bytes(5 * kMiB);
    EXPECT_THAT(VerifyPlan(graph, profile, tampered, budget).status().message(),
                HasSubstr("scratch_bytes"));
    EXPECT_THAT(VerifyPlan(graph, profile, *outcome.plan, budget - kMiB)
                    .status()
                    .message(),
                HasSubstr("exceeds budget"));
  }
  EXPECT_NEAR(best[0], 240.0, 1e-6);
  EXPECT_NEAR(best[1], 240.0, 1e-6);
}

// The shape and sizes of ThreeLevelChainReMakesADroppedConcatenation (x, c,
// r and a free, the rest fixed slow to keep the enumeration small) with
// random costs: the ILP optimum equals the enumerated one at every
// max_remade_inputs (the enumeration offers each drop every chain of
// ChainOptions), and three-level chains win some cells.
TEST(FormulationBruteForceTest, ReRunChainsMatchEnumeration) {
  std::mt19937_64 rng(20261208);
  int comparisons = 0, three_levels = 0;
  const int kVariants = VariantCount(4, 1);
  for (int variant = 0; variant < kVariants; ++variant) {
    const v1::TensorRole activation = v1::TENSOR_ROLE_ACTIVATION;
    GraphBuilder builder("chain3");
    builder.Tensor("x", 2 * kMiB, v1::TENSOR_ROLE_INPUT)
        .Tensor("c", 4 * kMiB)
        .Tensor("y", 4 * kMiB, activation, v1::TIER_SLOW)
        .Tensor("m", 1 * kMiB, activation, v1::TIER_SLOW)
        .Tensor("r", 4 * kMiB)
        .Tensor("a", 12 * kMiB)
        .Tensor("b", 3 * kMiB, activation, v1::TIER_SLOW)
        .Tensor("d", 1 * kMiB, activation, v1::TIER_SLOW)
        .Tensor("e", 1 * kMiB, activation, v1::TIER_SLOW)
        .Tensor("f", 1 * kMiB, activation, v1::TIER_SLOW)
        .Kernel("k0", {"x"}, {"c"})
        .Kernel("k1", {"c"}, {"y", "m"})
        .Kernel("k2", {"y"}, {"r"})
        .Kernel("k3", {"r"}, {"a"})
        .Kernel("k4", {"a"}, {"b"})
        .Kernel("k5", {"r", "b"}, {"d"})
        .Kernel("k6", {"c", "m", "d"}, {"e"})
        .Kernel("k7", {"x", "e"}, {"f"});
    GraphModel graph = MustGraph(builder.graph());
    ProfileModel profile =
        MustProfile(RandomSeparableProfile(graph, rng, {5, 20, 10, 51}),
                    TableCollapseOptions());
    ASSERT_LE(SearchSpace(graph, v1::METHOD_SYNCHRONOUS, true), 2e6);
    // k3 and k4 hold x, c, r and a (22 MiB); a three-level re-run of r
    // before k5 holds x, r and the scratch c, y, m (15 MiB).
    for (uint64_t budget : {15 * kMiB, 17 * kMiB}) {
      for (int levels : {1, 2}) {
        const double expected = BruteForceOptimum(
            graph, profile, v1::METHOD_SYNCHRONOUS, budget, true, levels);
        PlanOutcome outcome =
            MustPlan(graph, profile, v1::METHOD_SYNCHRONOUS, budget, true,
                     /*keep_inputs=*/true, levels);
        ++comparisons;
        if (std::isinf(expected)) {
          EXPECT_FALSE(outcome.plan.has_value());
          continue;
        }
        ASSERT_TRUE(outcome.plan.has_value()) << outcome.diagnostic;
        EXPECT_NEAR(outcome.plan->predicted_time_us(), expected,
                    1e-6 * expected)
            << "variant " << variant << " at " << budget << ", " << levels
            << " levels";
        for (const v1::Recompute& recompute : outcome.plan->recomputes()) {
          three_levels += recompute.remade_inputs_size() == 2;
        }
      }
    }
  }
  EXPECT_GT(three_levels, 0);
  std::cout << comparisons << " comparisons, three-level re-runs "
            << three_levels << "\n";
}

// The batch-norm / ReLU shape of ReluOfBatchNormIsReMadeFromItsInput (a
// kernel with two outputs, a dead input that a two-level re-run makes
// again; m, c and d fixed slow, to keep the enumeration small) with
// random sizes and costs: the ILP optimum equals the
// enumerated one, and the enumeration finds multi-output and two-level
// re-runs that win.
TEST(FormulationBruteForceTest, MultiOutputAndTwoLevelReRunsMatchEnumeration) {
  std::mt19937_64 rng(20261207);
  int comparisons = 0, remaking = 0, with_scratch = 0;
  const int kVariants = VariantCount(6, 2);
  for (int variant = 0; variant < kVariants; ++variant) {
    auto size = [&] { return (1 + rng() % 6) * kMiB; };
    GraphBuilder builder("bn_relu");
    builder.Tensor("x", size(), v1::TENSOR_ROLE_INPUT)
        .Tensor("y", size())
        .Tensor("m", size(), v1::TENSOR_ROLE_ACTIVATION, v1::TIER_SLOW)
        .Tensor("r", size())
        .Tensor("a", size() + 3 * kMiB)
        .Tensor("c", size(), v1::TENSOR_ROLE_ACTIVATION, v1::TIER_SLOW)
        .Tensor("d", size(), v1::TENSOR_ROLE_ACTIVATION, v1::TIER_SLOW)
        .Kernel("k0", {"x"}, {"y", "m"})
        .Kernel("k1", {"y"}, {"r"})
        .Kernel("k2", {"r"}, {"a"})
        .Kernel("k3", {"a"}, {"c"})
        .Kernel("k4", {"r", "c"}, {"d"})
        .Kernel("k5", {"x", "m", "d"}, {});
    GraphModel graph = MustGraph(builder.graph());
    ProfileModel profile =
        MustProfile(RandomSeparableProfile(graph, rng, {5, 20, 10, 51}),
                    TableCollapseOptions());
    ASSERT_LE(SearchSpace(graph, v1::METHOD_SYNCHRONOUS, true), 2e6);
    uint64_t free_bytes = 0;  // x, y, r and a
    for (const char* id : {"x", "y", "r", "a"}) {
      free_bytes += graph.tensor(graph.FindTensor(id)).size_bytes;
    }
    for (double fraction : {0.6, 0.8}) {
      const uint64_t budget = static_cast<uint64_t>(fraction * free_bytes);
      const double expected = BruteForceOptimum(
          graph, profile, v1::METHOD_SYNCHRONOUS, budget, true);
      PlanOutcome outcome =
          MustPlan(graph, profile, v1::METHOD_SYNCHRONOUS, budget, true);
      ++comparisons;
      if (std::isinf(expected)) {
        EXPECT_FALSE(outcome.plan.has_value());
        continue;
      }
      ASSERT_TRUE(outcome.plan.has_value()) << outcome.diagnostic;
      EXPECT_NEAR(outcome.plan->predicted_time_us(), expected, 1e-6 * expected)
          << "variant " << variant << " at " << fraction;
      bool remakes = false, scratch = false;
      for (const v1::Recompute& recompute : outcome.plan->recomputes()) {
        remakes |= recompute.remade_inputs_size() > 0;
        scratch |= recompute.scratch_bytes() > 0;
      }
      remaking += remakes;
      with_scratch += scratch;
    }
  }
  EXPECT_GT(remaking, 0);
  EXPECT_GT(with_scratch, 0);
  std::cout << comparisons << " comparisons, plans remaking an input "
            << remaking << ", with scratch " << with_scratch << "\n";
}

// Without candidates (a chain: every tensor read once) the option changes
// no method's model; with one it adds the drop and re-run columns to every
// method's, and each finds the re-run of the hand-priced case above: static
// keeps `a` fast, drops it after k1 and re-runs k0 (50 us); async too.
TEST(FormulationRecomputeTest, EveryMethodRecomputes) {
  GraphModel chain = ChainGraph();
  ProfileModel chain_profile =
      MustProfile(FullTableProfile(chain, PenaltyTime));
  for (v1::Method method :
       {v1::METHOD_STATIC, v1::METHOD_SYNCHRONOUS, v1::METHOD_ASYNCHRONOUS}) {
    FormulationOptions options;
    options.method = method;
    options.kernel_limit_bytes.assign(chain.num_kernels(), 9 * kMiB);
    absl::StatusOr<Formulation> off =
        Formulation::Build(chain, chain_profile, options);
    options.recompute = true;
    absl::StatusOr<Formulation> on =
        Formulation::Build(chain, chain_profile, options);
    ASSERT_TRUE(off.ok() && on.ok());
    EXPECT_EQ(off->model().num_columns(), on->model().num_columns());
    EXPECT_EQ(off->model().num_rows(), on->model().num_rows());
    EXPECT_EQ(off->model().objective, on->model().objective);
  }

  GraphBuilder builder("recompute");
  builder.Tensor("x", 4 * kMiB, v1::TENSOR_ROLE_INPUT)
      .Tensor("a", 4 * kMiB)
      .Tensor("b", 4 * kMiB)
      .Tensor("c", 4 * kMiB)
      .Tensor("d", 1 * kMiB)
      .Kernel("k0", {"x"}, {"a"})
      .Kernel("k1", {"a"}, {"b"})
      .Kernel("k2", {"b"}, {"c"})
      .Kernel("k3", {"a", "x", "c"}, {"d"});
  GraphModel graph = MustGraph(builder.graph());
  ProfileModel profile =
      MustProfile(FullTableProfile(graph,
                                   [](int, ConfigMask mask) {
                                     return 10.0 + 100.0 * std::popcount(mask);
                                   }),
                  TableCollapseOptions());
  for (v1::Method method : {v1::METHOD_STATIC, v1::METHOD_ASYNCHRONOUS}) {
    PlanOutcome without = MustPlan(graph, profile, method, 13 * kMiB);
    ASSERT_TRUE(without.plan.has_value()) << MethodName(method);
    EXPECT_GT(without.plan->predicted_time_us(), 50.0 + 1e-6);
    PlanOutcome with = MustPlan(graph, profile, method, 13 * kMiB,
                                /*recompute=*/true);
    ASSERT_TRUE(with.plan.has_value()) << MethodName(method);
    EXPECT_GT(with.stats.variables(), without.stats.variables());
    EXPECT_NEAR(with.plan->predicted_time_us(), 50.0, 1e-6)
        << MethodName(method);
    ASSERT_EQ(with.plan->recomputes_size(), 1) << MethodName(method);
    EXPECT_EQ(with.plan->recomputes(0).tensor_id(), "a");
    EXPECT_EQ(with.plan->recomputes(0).dropped_after_kernel_index(), 1u);
    EXPECT_EQ(with.plan->recomputes(0).before_kernel_index(), 3u);
    EXPECT_EQ(with.plan->moves_size(), 0) << MethodName(method);
    EXPECT_EQ(with.plan->kernels(2).fast_bytes(), 12 * kMiB);

    // Encode takes the plan back to the model's columns (warm starts), and
    // refuses a re-run the model has no column for.
    FormulationOptions options;
    options.method = method;
    options.recompute = true;
    options.kernel_limit_bytes.assign(graph.num_kernels(), 13 * kMiB);
    absl::StatusOr<Formulation> formulation =
        Formulation::Build(graph, profile, options);
    ASSERT_TRUE(formulation.ok()) << formulation.status();
    std::vector<TensorSchedule> schedule(graph.num_tensors());
    for (TensorSchedule& entry : schedule) entry.creation_tier = v1::TIER_FAST;
    schedule[graph.FindTensor("a")].recomputes.push_back({1, 3});
    absl::StatusOr<std::vector<double>> values = formulation->Encode(schedule);
    ASSERT_TRUE(values.ok()) << values.status();
    const std::vector<TensorSchedule> decoded = formulation->Decode(*values);
    ASSERT_EQ(decoded[graph.FindTensor("a")].recomputes.size(), 1u);
    EXPECT_EQ(decoded[graph.FindTensor("a")].recomputes[0].dropped_after, 1);
    EXPECT_EQ(decoded[graph.FindTensor("a")].recomputes[0].before, 3);
    schedule[graph.FindTensor("a")].recomputes[0] = {0, 3};
    EXPECT_THAT(formulation->Encode(schedule).status().message(),
                HasSubstr("no recomputation"));
  }
  // Static drops only a fast tensor: a slow `a` with a re-run is refused.
  FormulationOptions options;
  options.method = v1::METHOD_STATIC;
  options.recompute = true;
  options.kernel_limit_bytes.assign(graph.num_kernels(), 13 * kMiB);
  absl::StatusOr<Formulation> formulation =
      Formulation::Build(graph, profile, options);
  ASSERT_TRUE(formulation.ok());
  std::vector<TensorSchedule> schedule(graph.num_tensors());
  schedule[graph.FindTensor("a")].recomputes.push_back({1, 3});
  EXPECT_THAT(formulation->Encode(schedule).status().message(),
              HasSubstr("no recomputation"));
}

// Recomputation (issue 22): on random graphs with separable costs, cheap
// kernels and slow copies, the sync ILP with recomputation must reach the
// optimum of an enumeration that also tries dropping each tensor between
// any two consecutive uses (AssemblePlan, not the formulation, decides which
// drops are possible), never be worse than sync alone, and beat it on some
// instances, or the test proves little.
TEST(FormulationBruteForceTest, RecomputeOptimumEqualsEnumeratedOptimum) {
  std::mt19937_64 rng(20261206);
  // All 24 under the sanitizers too: the first plan keeping an input past
  // its life comes on graph 21.
  constexpr int kGraphs = 24;
  int graphs_checked = 0;
  int comparisons = 0;
  int recompute_wins = 0;
  int plans_with_recomputes = 0;
  int plans_keeping_inputs = 0;   // a re-run reads an input past its life
  int plans_remaking_inputs = 0;  // two-level re-runs
  int plans_with_scratch = 0;     // a re-run writes other outputs
  while (graphs_checked < kGraphs) {
    GraphModel graph = MustGraph(testing::RandomGraph(rng, 7, 7));
    if (SearchSpace(graph, v1::METHOD_SYNCHRONOUS, true) > 2e5) continue;
    bool has_chance = false;  // a produced tensor read twice
    for (const TensorInfo& tensor : graph.tensors()) {
      has_chance |= tensor.producer >= 0 && tensor.users.size() >= 3;
    }
    if (!has_chance) continue;
    ++graphs_checked;
    // Separable costs: kernels of 5-60 us; a slow operand costs 10-60 us
    // per MiB, as on Optane (so small inputs are cheap to keep slow).
    v1::Profile proto = RandomSeparableProfile(graph, rng, {5, 56, 10, 51});
    ProfileModel profile = MustProfile(proto, TableCollapseOptions());
    for (double fraction : {0.4, 0.6, 0.8}) {
      const uint64_t budget =
          static_cast<uint64_t>(fraction * graph.PeakLiveBytes());
      const double without = BruteForceOptimum(
          graph, profile, v1::METHOD_SYNCHRONOUS, budget, false);
      const double expected = BruteForceOptimum(
          graph, profile, v1::METHOD_SYNCHRONOUS, budget, true);
      EXPECT_LE(expected, without + 1e-6);
      PlanOutcome outcome =
          MustPlan(graph, profile, v1::METHOD_SYNCHRONOUS, budget, true);
      ++comparisons;
      if (std::isinf(expected)) {
        EXPECT_FALSE(outcome.plan.has_value());
        continue;
      }
      ASSERT_TRUE(outcome.plan.has_value()) << outcome.diagnostic;
      EXPECT_NEAR(outcome.plan->predicted_time_us(), expected, 1e-6 * expected)
          << "graph " << graphs_checked << " at " << fraction;
      if (expected < without - 1e-6) ++recompute_wins;
      if (outcome.plan->recomputes_size() > 0) ++plans_with_recomputes;
      for (const v1::TensorPlacement& placement : outcome.plan->tensors()) {
        if (placement.kept_slow_until_kernel() > 0) {
          ++plans_keeping_inputs;
          break;
        }
      }
      bool remakes = false, scratch = false;
      for (const v1::Recompute& recompute : outcome.plan->recomputes()) {
        remakes |= recompute.remade_inputs_size() > 0;
        scratch |= recompute.scratch_bytes() > 0;
      }
      plans_remaking_inputs += remakes;
      plans_with_scratch += scratch;
    }
  }
  EXPECT_EQ(comparisons, kGraphs * 3);
  EXPECT_GT(recompute_wins, 0);
  EXPECT_GT(plans_with_recomputes, 0);
  EXPECT_GT(plans_keeping_inputs, 0);
  std::cout << comparisons << " comparisons, recomputation won in "
            << recompute_wins << ", plans with recomputes "
            << plans_with_recomputes << ", keeping inputs "
            << plans_keeping_inputs << ", remaking inputs "
            << plans_remaking_inputs << ", with scratch " << plans_with_scratch
            << "\n";
}

// Recomputation in the static and async models (issue 22): on random graphs
// with separable costs and slow copies, each ILP with recomputation reaches
// the optimum of the enumeration (static: every drop of a fast tensor
// between consecutive uses and every keep of a slow one; async: every drop
// from a use to the next, the overlapped-copy points in between skipped),
// is never worse than its method alone, async never worse than sync with
// recomputation, and recomputation wins somewhere for each method.
TEST(FormulationBruteForceTest, StaticAndAsyncRecomputeEqualEnumeratedOptimum) {
  // The sync test's graphs and costs (same seed and draws), where sync
  // recomputation is known to win.
  std::mt19937_64 rng(20261206);
  const int kGraphs = VariantCount(24, 6);
  int graphs_checked = 0;
  int comparisons = 0;
  int static_wins = 0, async_wins = 0, async_beats_sync = 0, async_cells = 0;
  int kept_inputs = 0;
  while (graphs_checked < kGraphs) {
    GraphModel graph = MustGraph(testing::RandomGraph(rng, 7, 7));
    if (SearchSpace(graph, v1::METHOD_SYNCHRONOUS, true) > 2e5) continue;
    const bool async_too =
        SearchSpace(graph, v1::METHOD_ASYNCHRONOUS, true) <= 5e5;
    bool has_chance = false;  // a produced tensor read twice
    for (const TensorInfo& tensor : graph.tensors()) {
      has_chance |= tensor.producer >= 0 && tensor.users.size() >= 3;
    }
    if (!has_chance) continue;
    ++graphs_checked;
    v1::Profile proto = RandomSeparableProfile(graph, rng, {5, 56, 10, 51});
    ProfileModel profile = MustProfile(proto, TableCollapseOptions());
    for (double fraction : {0.4, 0.6, 0.8}) {
      const uint64_t budget =
          static_cast<uint64_t>(fraction * graph.PeakLiveBytes());
      const double sync_with = BruteForceOptimum(
          graph, profile, v1::METHOD_SYNCHRONOUS, budget, true);
      for (v1::Method method : {v1::METHOD_STATIC, v1::METHOD_ASYNCHRONOUS}) {
        if (method == v1::METHOD_ASYNCHRONOUS && !async_too) continue;
        const double without =
            BruteForceOptimum(graph, profile, method, budget, false);
        const double expected =
            BruteForceOptimum(graph, profile, method, budget, true);
        EXPECT_LE(expected, without + 1e-6);
        PlanOutcome outcome = MustPlan(graph, profile, method, budget, true);
        ++comparisons;
        if (std::isinf(expected)) {
          EXPECT_FALSE(outcome.plan.has_value());
          continue;
        }
        ASSERT_TRUE(outcome.plan.has_value()) << outcome.diagnostic;
        EXPECT_NEAR(outcome.plan->predicted_time_us(), expected,
                    1e-6 * expected)
            << MethodName(method) << " graph " << graphs_checked << " at "
            << fraction;
        const bool wins = expected < without - 1e-6;
        if (method == v1::METHOD_STATIC) {
          static_wins += wins;
        } else {
          async_wins += wins;
          ++async_cells;
          EXPECT_LE(expected, sync_with + 1e-6);
          async_beats_sync += expected < sync_with - 1e-6;
        }
        for (const v1::TensorPlacement& placement : outcome.plan->tensors()) {
          if (placement.kept_slow_until_kernel() > 0) {
            ++kept_inputs;
            break;
          }
        }
      }
    }
  }
  EXPECT_GT(comparisons, kGraphs * 3);
  EXPECT_GT(static_wins, 0);
  EXPECT_GT(async_wins, 0);
  std::cout << comparisons << " comparisons; recomputation won in "
            << static_wins << " static and " << async_wins << " of "
            << async_cells
            << " async cells; async+recompute beat sync+recompute in "
            << async_beats_sync << "; plans keeping inputs " << kept_inputs
            << "\n";
}
// Multi-output re-runs in the async and static models, against the
// enumeration: k0 makes y and its statistics m (batch norm's shape); y is
// read by k1 and k3, so it may be dropped in between and re-made before k3
// by re-running k0, which writes m again into scratch (U_k3 + m <= L). x is
// fixed fast and m fixed slow to keep the async enumeration (every kernel of
// a life is a point) small. Random sizes and costs; async and static plans
// equal the enumerated optimum and some re-run with scratch wins. Two-level
// re-runs are SYNCHRONOUS only: neither model offers them.
TEST(FormulationBruteForceTest,
     AsyncAndStaticMultiOutputReRunsMatchEnumeration) {
  std::mt19937_64 rng(20261208);
  int comparisons = 0, with_scratch = 0, async_with_scratch = 0;
  const int kVariants = VariantCount(8, 4);  // scratch first wins on the 4th
  for (int variant = 0; variant < kVariants; ++variant) {
    auto size = [&] { return (1 + rng() % 6) * kMiB; };
    GraphBuilder builder("bn_multi");
    builder.Tensor("x", size(), v1::TENSOR_ROLE_INPUT, v1::TIER_FAST)
        .Tensor("y", size())
        .Tensor("m", size(), v1::TENSOR_ROLE_ACTIVATION, v1::TIER_SLOW)
        .Tensor("a", size() + 2 * kMiB)
        .Tensor("b", size())
        .Tensor("c", size())
        .Kernel("k0", {"x"}, {"y", "m"})
        .Kernel("k1", {"y"}, {"a"})
        .Kernel("k2", {"a"}, {"b"})
        .Kernel("k3", {"y", "b"}, {"c"})
        .Kernel("k4", {"x", "m", "c"}, {});
    GraphModel graph = MustGraph(builder.graph());
    ProfileModel profile =
        MustProfile(RandomSeparableProfile(graph, rng, {2, 10, 20, 61}),
                    TableCollapseOptions());
    uint64_t free_bytes = graph.tensor(graph.FindTensor("x")).size_bytes;
    for (const char* id : {"y", "a", "b"}) {
      free_bytes += graph.tensor(graph.FindTensor(id)).size_bytes;
    }
    for (v1::Method method : {v1::METHOD_ASYNCHRONOUS, v1::METHOD_STATIC}) {
      ASSERT_LE(SearchSpace(graph, method, true), 2e6);
      for (double fraction : {0.7, 0.85}) {
        const uint64_t budget = static_cast<uint64_t>(fraction * free_bytes);
        const double expected =
            BruteForceOptimum(graph, profile, method, budget, true);
        PlanOutcome outcome = MustPlan(graph, profile, method, budget, true);
        ++comparisons;
        if (std::isinf(expected)) {
          EXPECT_FALSE(outcome.plan.has_value());
          continue;
        }
        ASSERT_TRUE(outcome.plan.has_value()) << outcome.diagnostic;
        EXPECT_NEAR(outcome.plan->predicted_time_us(), expected,
                    1e-6 * expected)
            << "variant " << variant << " at " << fraction << " method "
            << method;
        for (const v1::Recompute& recompute : outcome.plan->recomputes()) {
          EXPECT_EQ(recompute.remade_inputs_size(), 0);
          if (recompute.scratch_bytes() > 0) {
            ++with_scratch;
            async_with_scratch += method == v1::METHOD_ASYNCHRONOUS;
            EXPECT_EQ(recompute.scratch_bytes(),
                      graph.tensor(graph.FindTensor("m")).size_bytes);
          }
        }
      }
    }
  }
  EXPECT_GT(with_scratch, 0);
  std::cout << comparisons << " comparisons (async, static); re-runs with "
            << "scratch " << with_scratch << " (async " << async_with_scratch
            << ")\n";
}

// A dead input made again first (two levels) is a SYNCHRONOUS column only:
// the batch-norm / ReLU case of ReluOfBatchNormIsReMadeFromItsInput solved
// async and static never remakes, and a sync schedule with a two-level
// re-run does not encode into those models.
TEST(FormulationRecomputeTest, TwoLevelReRunsAreSynchronousOnly) {
  GraphBuilder builder("remake");
  builder.Tensor("x", 4 * kMiB, v1::TENSOR_ROLE_INPUT)
      .Tensor("y", 4 * kMiB)
      .Tensor("m", 1 * kMiB)
      .Tensor("r", 4 * kMiB)
      .Tensor("a", 7 * kMiB)
      .Tensor("b", 8 * kMiB)
      .Tensor("c", 1 * kMiB)
      .Tensor("d", 6 * kMiB)
      .Tensor("e", 1 * kMiB)
      .Kernel("k0", {"x"}, {"y", "m"})
      .Kernel("k1", {"y"}, {"r"})
      .Kernel("k2", {"r"}, {"a"})
      .Kernel("k3", {"a"}, {"b"})
      .Kernel("k4", {"b"}, {"c"})
      .Kernel("k5", {"r", "c"}, {"d"})
      .Kernel("k6", {"x", "m", "d"}, {"e"});
  GraphModel graph = MustGraph(builder.graph());
  ProfileModel profile = SlowPenaltyProfile(graph);
  PlanOutcome sync = MustPlan(graph, profile, v1::METHOD_SYNCHRONOUS, 21 * kMiB,
                              /*recompute=*/true);
  ASSERT_TRUE(sync.plan.has_value());
  ASSERT_EQ(sync.plan->recomputes_size(), 1);
  ASSERT_EQ(sync.plan->recomputes(0).remade_inputs_size(), 1);
  std::vector<TensorSchedule> schedule(graph.num_tensors());
  for (TensorSchedule& entry : schedule) entry.creation_tier = v1::TIER_FAST;
  schedule[graph.FindTensor("r")].recomputes.push_back(
      {2, 5, /*remade_inputs=*/{graph.FindTensor("y")}});
  for (v1::Method method : {v1::METHOD_ASYNCHRONOUS, v1::METHOD_STATIC}) {
    PlanOutcome outcome =
        MustPlan(graph, profile, method, 21 * kMiB, /*recompute=*/true);
    if (outcome.plan.has_value()) {
      for (const v1::Recompute& recompute : outcome.plan->recomputes()) {
        EXPECT_EQ(recompute.remade_inputs_size(), 0) << method;
      }
    }
    FormulationOptions options;
    options.method = method;
    options.recompute = true;
    options.kernel_limit_bytes.assign(graph.num_kernels(), 64 * kMiB);
    absl::StatusOr<Formulation> formulation =
        Formulation::Build(graph, profile, options);
    ASSERT_TRUE(formulation.ok()) << formulation.status();
    EXPECT_THAT(formulation->Encode(schedule).status().message(),
                HasSubstr("no recomputation"))
        << method;
  }
}

// The async model prices a re-run as AssemblePlan does when an input's
// overlapped read runs with the re-run's kernel: x -> k0 -> a; k1(a) -> b;
// k2(b) -> c; k3(a, c) -> d; k4(x, d) -> e; `a` dropped after k1 and re-made
// before k3 from x, which is read to fast by an async copy at k3 (landing
// after the re-run: read slow, +100 us) or at k2 (landing before it). With
// the integer columns fixed to each schedule, the model's optimum equals
// the assembled plan's time.
TEST(FormulationRecomputeTest, AsyncReRunSeesAnOverlappedReadAsSlow) {
  GraphModel graph = MustGraph(AsyncRecomputeGraph());
  // Copies as fast overlapped as blocking, so every kernel of x's life is
  // a decision point.
  v1::CopyBandwidths bandwidths = testing::OptaneBandwidths();
  bandwidths.set_slow_to_fast_async_gb_per_s(
      bandwidths.slow_to_fast_sync_gb_per_s());
  bandwidths.set_fast_to_slow_async_gb_per_s(
      bandwidths.fast_to_slow_sync_gb_per_s());
  ProfileModel profile =
      MustProfile(FullTableProfile(
                      graph,
                      [](int, ConfigMask mask) {
                        return 10.0 + 100.0 * std::popcount(mask);
                      },
                      bandwidths),
                  TableCollapseOptions());
  FormulationOptions options;
  options.method = v1::METHOD_ASYNCHRONOUS;
  options.recompute = true;
  options.kernel_limit_bytes.assign(graph.num_kernels(), 64 * kMiB);
  absl::StatusOr<Formulation> formulation =
      Formulation::Build(graph, profile, options);
  ASSERT_TRUE(formulation.ok()) << formulation.status();
  for (int read_at : {3, 2}) {
    std::vector<TensorSchedule> schedule(graph.num_tensors());
    for (TensorSchedule& entry : schedule) entry.creation_tier = v1::TIER_FAST;
    schedule[graph.FindTensor("a")].recomputes.push_back({1, 3});
    schedule[graph.FindTensor("x")].creation_tier = v1::TIER_SLOW;
    schedule[graph.FindTensor("x")].moves.push_back(
        {read_at, v1::MOVE_DIRECTION_TO_FAST, /*sync=*/false});
    absl::StatusOr<v1::Plan> plan = AssemblePlan(
        graph, profile, schedule, v1::METHOD_ASYNCHRONOUS, 64 * kMiB);
    ASSERT_TRUE(plan.ok()) << plan.status();
    EXPECT_EQ(plan->recomputes(0).config(), read_at == 3 ? "S|F" : "F|F");
    absl::StatusOr<std::vector<double>> values = formulation->Encode(schedule);
    ASSERT_TRUE(values.ok()) << values.status();
    IlpModel fixed = formulation->model();
    for (int j = 0; j < fixed.num_columns(); ++j) {
      if (fixed.is_integer[j])
        fixed.col_lower[j] = fixed.col_upper[j] = (*values)[j];
    }
    SolveParams params;
    params.relative_gap = 1e-9;
    absl::StatusOr<SolveResult> result = MakeCbcSolver()->Solve(fixed, params);
    ASSERT_TRUE(result.ok() && result->has_solution()) << read_at;
    EXPECT_NEAR(result->objective, plan->predicted_time_us(), 1e-6)
        << "async read at k" << read_at;
  }
}

}  // namespace
}  // namespace autotm::solver
