#include "solver/repetition.h"

#include <memory>
#include <random>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/zoo/zoo.h"
#include "gtest/gtest.h"
#include "solver/cbc_solver.h"
#include "solver/formulation.h"
#include "solver/planner.h"
#include "solver/testing/repeated_graphs.h"
#include "solver/testing/test_graphs.h"
#include "solver/verifier.h"

namespace autotm::solver {
namespace {

using ::autotm::solver::testing::MustGraph;
using ::autotm::solver::testing::RepeatedResidualGraph;
using ::autotm::solver::testing::RepeatedResidualProfile;

// The correspondence FindRepetition promises: runs of identical kernels,
// and tied tensors alike in size, role, tier, anchor and every lifetime
// event (relative to the blocks).
void ExpectNoFalsePositives(const GraphModel& graph,
                            const Repetition& repetition) {
  for (const RepeatedRun& run : repetition.runs) {
    ASSERT_GE(run.repeats, 3);
    ASSERT_LE(run.end_kernel(), graph.num_kernels());
  }
  for (int k = 0; k < graph.num_kernels(); ++k) {
    const int r = repetition.kernel_representative[k];
    ASSERT_LE(r, k);
    const KernelInfo& a = graph.kernel(k);
    const KernelInfo& b = graph.kernel(r);
    EXPECT_EQ(a.signature_key, b.signature_key) << a.id << " vs " << b.id;
    ASSERT_EQ(a.operands.size(), b.operands.size());
    for (size_t p = 0; p < a.operands.size(); ++p) {
      EXPECT_EQ(graph.tensor(a.operands[p]).size_bytes,
                graph.tensor(b.operands[p]).size_bytes);
    }
  }
  int tied = 0;
  for (int t = 0; t < graph.num_tensors(); ++t) {
    const int r = repetition.tensor_representative[t];
    if (r == t) continue;
    ++tied;
    const TensorInfo& a = graph.tensor(t);
    const TensorInfo& b = graph.tensor(r);
    SCOPED_TRACE(absl::StrCat(a.id, " tied to ", b.id));
    EXPECT_EQ(repetition.tensor_representative[r], r);
    EXPECT_EQ(a.size_bytes, b.size_bytes);
    EXPECT_EQ(a.role, b.role);
    EXPECT_EQ(a.fixed_tier, b.fixed_tier);
    ASSERT_EQ(a.users.size(), b.users.size());
    for (size_t u = 0; u < a.users.size(); ++u) {
      EXPECT_EQ(repetition.kernel_representative[a.users[u]],
                repetition.kernel_representative[b.users[u]]);
    }
    EXPECT_EQ(repetition.kernel_representative[a.last_live],
              repetition.kernel_representative[b.last_live]);
  }
  EXPECT_EQ(tied, repetition.tied_tensors);
}

TEST(RepetitionTest, FindsTheLayersOfARepeatedNetwork) {
  const GraphModel graph = MustGraph(RepeatedResidualGraph(8));
  const Repetition repetition = FindRepetition(graph);
  ExpectNoFalsePositives(graph, repetition);
  // 8 forward layers of 3 kernels and 8 backward layers of 5; a run may
  // start a kernel late (its phase is where the repetition is first seen).
  ASSERT_EQ(repetition.runs.size(), 2u);
  EXPECT_EQ(repetition.runs[0].block_kernels, 3);
  EXPECT_EQ(repetition.runs[1].block_kernels, 5);
  EXPECT_GE(repetition.covered_kernels, 3 * 7 + 5 * 7);
  // Most layers' tensors stand for those of an earlier layer.
  EXPECT_GE(repetition.tied_tensors, 6 * 8);
}

TEST(RepetitionTest, ALayerThatDiffersIsNotTied) {
  const GraphModel graph =
      MustGraph(RepeatedResidualGraph(6, /*vary_last_layer=*/true));
  const Repetition repetition = FindRepetition(graph);
  ExpectNoFalsePositives(graph, repetition);
  for (const char* id : {"w5", "dw5", "w5.next"}) {
    const int t = graph.FindTensor(id);
    ASSERT_GE(t, 0);
    EXPECT_EQ(repetition.tensor_representative[t], t) << id;
  }
  EXPECT_GT(repetition.tied_tensors, 0);
}

TEST(RepetitionTest, RandomGraphsWithSharedSignaturesHaveNoFalsePositives) {
  std::mt19937_64 rng(21);
  int graphs_with_runs = 0;
  for (int trial = 0; trial < 300; ++trial) {
    v1::Graph proto = testing::RandomGraph(rng, 40, 36);
    // Make kernels with equal operand shapes share a signature, so that
    // repetition can be found (and wrongly found).
    for (v1::Kernel& kernel : *proto.mutable_kernels()) {
      kernel.mutable_signature()->mutable_attributes()->clear();
    }
    const GraphModel graph = MustGraph(proto);
    const Repetition repetition =
        FindRepetition(graph, {.min_block_kernels = 1, .min_repeats = 3});
    if (!repetition.runs.empty()) ++graphs_with_runs;
    ExpectNoFalsePositives(graph, repetition);
  }
  EXPECT_GT(graphs_with_runs, 0);  // the check above was exercised
}

TEST(RepetitionTest, VggHasFewRepeatsResNetAndDenseNetMany) {
  struct Case {
    const char* model;
    double min_covered, max_covered;  // fraction of kernels in runs
  };
  for (const Case& c :
       {Case{"vgg19", 0.0, 0.3}, Case{"resnet50", 0.4, 1.0},
        Case{"resnet200", 0.8, 1.0}, Case{"densenet264", 0.4, 1.0}}) {
    SCOPED_TRACE(c.model);
    absl::StatusOr<v1::Graph> proto = zoo::BuildZooGraph(c.model, 32);
    ASSERT_TRUE(proto.ok()) << proto.status();
    const GraphModel graph = MustGraph(*proto);
    const Repetition repetition = FindRepetition(graph);
    ExpectNoFalsePositives(graph, repetition);
    const double covered =
        static_cast<double>(repetition.covered_kernels) / graph.num_kernels();
    EXPECT_GE(covered, c.min_covered);
    EXPECT_LE(covered, c.max_covered);
  }
}

TEST(RepetitionTest, TieModelMergesColumnsAndDuplicateRows) {
  IlpModel model;
  const int a = model.AddBinary(1.0);
  const int b = model.AddBinary(2.0);
  const int c = model.AddBinary(-1.0);
  const IlpModel::Term first[] = {{a, 1.0}, {c, 1.0}};
  const IlpModel::Term second[] = {{b, 1.0}, {c, 1.0}};
  const IlpModel::Term cancel[] = {{a, 1.0}, {b, -1.0}};
  model.AddRow(1, 1, first);
  model.AddRow(1, 1, second);  // identical to the first once b = a
  model.AddRow(0, 0, cancel);  // always true once b = a
  const int tie[] = {a, a, c};
  const TiedModel tied = TieModel(model, tie);
  EXPECT_EQ(tied.model.num_columns(), 2);
  EXPECT_EQ(tied.model.num_rows(), 1);
  EXPECT_DOUBLE_EQ(tied.model.objective[tied.column[a]], 3.0);
  // x_a = x_b = 0, x_c = 1 in the tied model: the same in the full one.
  std::vector<double> values(2);
  values[tied.column[a]] = 0;
  values[tied.column[c]] = 1;
  const std::vector<double> full = tied.Expand(values);
  EXPECT_EQ(full, (std::vector<double>{0, 0, 1}));
  EXPECT_EQ(model.MaxViolation(full), 0);
  EXPECT_DOUBLE_EQ(model.Evaluate(full), tied.model.Evaluate(values));
  EXPECT_EQ(tied.Restrict(full), values);
}

struct TiedSizes {
  int full_integer = 0;
  int tied_integer = 0;
};

// Builds `layers`' model, ties it, solves the tied model and checks that its
// expanded solution solves the full one at the same objective.
TiedSizes SolveTiedAndExpand(int layers, v1::Method method) {
  const v1::Graph proto = RepeatedResidualGraph(layers);
  const GraphModel graph = MustGraph(proto);
  const ProfileModel profile =
      testing::MustProfile(RepeatedResidualProfile(proto));
  FormulationOptions options;
  options.method = method;
  // Windows in proportion to these 3- and 5-kernel layers, as AutoTM's 15
  // kernels are to a ResNet bottleneck's 10 to 30 (a 15-kernel window here
  // reaches the graph's ends from most layers, which then differ).
  options.async_window = 2;
  options.kernel_limit_bytes.assign(graph.num_kernels(),
                                    graph.PeakLiveBytes() / 2);
  absl::StatusOr<Formulation> formulation =
      Formulation::Build(graph, profile, options);
  EXPECT_TRUE(formulation.ok()) << formulation.status();
  if (!formulation.ok()) return {};
  const Repetition repetition = FindRepetition(graph);
  const TiedModel tied = TieModel(formulation->model(),
                                  TieColumns(graph, *formulation, repetition));
  auto cbc = MakeCbcSolver();
  SolveParams params;
  params.time_limit_seconds = 20;
  absl::StatusOr<SolveResult> result = cbc->Solve(tied.model, params);
  EXPECT_TRUE(result.ok()) << result.status();
  if (!result.ok()) return {};
  EXPECT_TRUE(result->has_solution());
  if (result->has_solution()) {
    const std::vector<double> full = tied.Expand(result->values);
    EXPECT_LE(formulation->model().MaxViolation(full), 1e-6);
    EXPECT_NEAR(formulation->model().Evaluate(full), result->objective,
                1e-6 * result->objective);
  }
  return {.full_integer = formulation->model().num_integer(),
          .tied_integer = tied.model.num_integer()};
}

TEST(RepetitionTest, TiedModelStopsGrowingWithDepthAndSolvesTheFullOne) {
  for (v1::Method method :
       {v1::METHOD_STATIC, v1::METHOD_SYNCHRONOUS, v1::METHOD_ASYNCHRONOUS}) {
    SCOPED_TRACE(MethodName(method));
    const TiedSizes shallow = SolveTiedAndExpand(6, method);
    const TiedSizes deep = SolveTiedAndExpand(12, method);
    EXPECT_LT(shallow.tied_integer, shallow.full_integer);
    // Six more layers add columns to the full model, few to the tied one
    // (asynchronous windows are compared by their distance to the tensor's
    // uses, so they tie too).
    const int full_growth = deep.full_integer - shallow.full_integer;
    const int tied_growth = deep.tied_integer - shallow.tied_integer;
    EXPECT_GT(full_growth, 0);
    EXPECT_LT(tied_growth, full_growth / 4)
        << "full " << shallow.full_integer << " -> " << deep.full_integer
        << ", tied " << shallow.tied_integer << " -> " << deep.tied_integer;
  }
}

// The planner's use: the broadcast plan verifies and competes; the call's
// plan is never slower than the heuristic's or the broadcast's.
TEST(RepetitionTest, PlannerUsesTheTiedModel) {
  const v1::Graph proto = RepeatedResidualGraph(10);
  const GraphModel graph = MustGraph(proto);
  const ProfileModel profile =
      testing::MustProfile(RepeatedResidualProfile(proto));
  auto cbc = MakeCbcSolver();
  for (v1::Method method : {v1::METHOD_SYNCHRONOUS, v1::METHOD_ASYNCHRONOUS}) {
    SCOPED_TRACE(MethodName(method));
    PlanOptions options;
    options.method = method;
    options.budget_bytes = graph.PeakLiveBytes() / 2;
    options.time_limit_seconds = 10;
    options.exploit_repetition = true;
    absl::StatusOr<PlanOutcome> outcome =
        PlanGraph(graph, profile, options, cbc.get());
    ASSERT_TRUE(outcome.ok()) << outcome.status();
    ASSERT_TRUE(outcome->plan.has_value()) << outcome->diagnostic;
    ASSERT_TRUE(outcome->repetition.has_value());
    const RepetitionReport& report = *outcome->repetition;
    EXPECT_EQ(report.runs, 2);
    EXPECT_TRUE(report.solved);
    EXPECT_LT(report.tied_integer_columns, report.full_integer_columns);
    ASSERT_TRUE(report.broadcast_time_us.has_value());
    const double time = outcome->plan->predicted_time_us();
    EXPECT_LE(time, *report.broadcast_time_us * (1 + 1e-9));
    ASSERT_TRUE(outcome->heuristic_time_us.has_value());
    EXPECT_LE(time, *outcome->heuristic_time_us * (1 + 1e-9));
    EXPECT_TRUE(VerifyPlan(graph, profile, *outcome->plan, options.budget_bytes,
                           /*require_offsets=*/true)
                    .ok());
  }
}

}  // namespace
}  // namespace autotm::solver
