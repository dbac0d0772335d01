#include "solver/window_search.h"

#include <atomic>
#include <random>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solver/cbc_solver.h"
#include "solver/formulation.h"
#include "solver/testing/test_graphs.h"

namespace autotm::solver {
namespace {

using ::testing::ElementsAre;
using testing::FullTableProfile;
using testing::MustGraph;
using testing::MustProfile;

// Two kernels, each picking one of two options, an expensive (10) and a
// cheap (1): columns {expensive 0, cheap 0, expensive 1, cheap 1}.
struct KernelPicks {
  IlpModel model;
  std::vector<int> column_kernel;
};
KernelPicks TwoKernelPicks() {
  KernelPicks picks;
  for (int k = 0; k < 2; ++k) {
    const int expensive = picks.model.AddBinary(10);
    const int cheap = picks.model.AddBinary(1);
    picks.column_kernel.insert(picks.column_kernel.end(), {k, k});
    const IlpModel::Term pick[] = {{expensive, 1}, {cheap, 1}};
    picks.model.AddRow(1, 1, pick);
  }
  return picks;
}

TEST(RestrictTest, SubstitutesFixedColumnsAndDropsRowsLeftEmpty) {
  IlpModel model;
  const int x0 = model.AddBinary(5);
  const int x1 = model.AddBinary(7);
  const int x2 = model.AddBinary(11);
  const int c = model.AddColumn(0, kInfinity, 1, /*integer=*/false);
  model.objective_offset = 2;
  const IlpModel::Term capacity[] = {{x0, 1}, {x1, 1}, {x2, 1}};
  model.AddRow(-kInfinity, 2, capacity);
  const IlpModel::Term cost[] = {{c, 1}, {x0, -3}, {x1, -1}};
  model.AddRow(0, kInfinity, cost);
  const IlpModel::Term fixed_only[] = {{x0, 1}, {x2, 1}};
  model.AddRow(1, kInfinity, fixed_only);

  const std::vector<double> values = {1, 0, 0.9999999, 0};
  const std::vector<char> free = {0, 1, 0, 0};
  const RestrictedModel restricted = Restrict(model, values, free);
  const IlpModel& sub = restricted.model;
  EXPECT_THAT(restricted.original_column, ElementsAre(x1, c));
  // x0 and x2 are fixed at 1: their costs join the offset.
  EXPECT_DOUBLE_EQ(sub.objective_offset, 2 + 5 + 11);
  EXPECT_THAT(sub.objective, ElementsAre(7, 1));
  EXPECT_THAT(sub.is_integer, ElementsAre(1, 0));
  // The row of fixed columns only is gone; the others shift by x0 + x2.
  ASSERT_EQ(sub.num_rows(), 2);
  EXPECT_EQ(sub.row_lower[0], -kInfinity);
  EXPECT_DOUBLE_EQ(sub.row_upper[0], 0);
  EXPECT_DOUBLE_EQ(sub.row_lower[1], 3);
  EXPECT_EQ(sub.row_upper[1], kInfinity);
}

// Kernels that each pick one of three options, independently: every window
// holds whole kernels, so sweeping them must reach the global optimum.
TEST(ImproveByWindowsTest, ReachesTheOptimumOfIndependentKernels) {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> cost(1, 100);
  IlpModel model;
  std::vector<int> column_kernel;
  std::vector<double> start;
  double optimum = 0, start_objective = 0;
  constexpr int kKernels = 120;
  for (int k = 0; k < kKernels; ++k) {
    std::vector<IlpModel::Term> pick;
    double best = kInfinity, worst = 0;
    int worst_column = -1;
    for (int option = 0; option < 3; ++option) {
      const double c = cost(rng);
      const int column = model.AddBinary(c);
      column_kernel.push_back(k);
      start.push_back(0);
      pick.emplace_back(column, 1);
      best = std::min(best, c);
      if (c > worst) {
        worst = c;
        worst_column = column;
      }
    }
    model.AddRow(1, 1, pick);
    start[worst_column] = 1;
    optimum += best;
    start_objective += worst;
  }
  auto solver = MakeCbcSolver();
  WindowSearchOptions options;
  options.window_columns = 30;  // ten kernels: many windows
  absl::StatusOr<WindowSearchResult> result =
      ImproveByWindows(*solver, model, column_kernel, start, options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_NEAR(result->objective, optimum, 1e-6 * optimum);
  EXPECT_NEAR(model.Evaluate(result->values), result->objective, 1e-6);
  EXPECT_LE(model.MaxViolation(result->values), 1e-9);
  EXPECT_GT(result->windows, 5);
  EXPECT_GT(result->improvements, 0);
  EXPECT_LT(optimum, start_objective);  // else the test proves nothing

  // Given the optimum as the bound and a 20% gap, it stops as soon as it
  // is within 20% of it.
  options.bound = optimum;
  options.relative_gap = 0.2;
  absl::StatusOr<WindowSearchResult> early =
      ImproveByWindows(*solver, model, column_kernel, start, options);
  ASSERT_TRUE(early.ok()) << early.status();
  EXPECT_LE(early->objective - optimum, 0.2 * early->objective);
  EXPECT_LT(early->windows, result->windows);
}

// On the real asynchronous formulation: from an all-slow start, the search
// returns a feasible solution between the ILP optimum and the start; with a
// window as large as the model it is the optimum.
TEST(ImproveByWindowsTest, ImprovesAsyncPlacementsWithinTheOptimum) {
  std::mt19937_64 rng(5);
  auto solver = MakeCbcSolver();
  int improved = 0;
  for (int trial = 0; trial < 6; ++trial) {
    GraphModel graph = MustGraph(testing::RandomGraph(rng, 12, 10));
    ProfileModel profile =
        MustProfile(FullTableProfile(graph, [&](int k, ConfigMask mask) {
          return testing::OptaneLikeTimeUs(10.0 + 40.0 * k,
                                           graph.kernel(k).num_inputs, mask);
        }));
    FormulationOptions formulation_options;
    formulation_options.method = v1::METHOD_ASYNCHRONOUS;
    formulation_options.kernel_limit_bytes.assign(graph.num_kernels(),
                                                  graph.PeakLiveBytes() / 2);
    absl::StatusOr<Formulation> formulation =
        Formulation::Build(graph, profile, formulation_options);
    ASSERT_TRUE(formulation.ok()) << formulation.status();
    if (formulation->infeasible().has_value()) continue;
    const IlpModel& model = formulation->model();
    std::vector<TensorSchedule> all_slow(graph.num_tensors());
    for (int t = 0; t < graph.num_tensors(); ++t) {
      if (graph.tensor(t).fixed_tier != v1::TIER_UNSPECIFIED) {
        all_slow[t].creation_tier = graph.tensor(t).fixed_tier;
      }
    }
    absl::StatusOr<std::vector<double>> start = formulation->Encode(all_slow);
    ASSERT_TRUE(start.ok()) << start.status();
    SolveParams params;
    params.relative_gap = 1e-9;
    absl::StatusOr<SolveResult> optimum = solver->Solve(model, params);
    ASSERT_TRUE(optimum.ok() && optimum->has_solution());
    const std::vector<int> column_kernel = formulation->ColumnKernels();

    WindowSearchOptions small;
    small.window_columns = 8;
    absl::StatusOr<WindowSearchResult> local =
        ImproveByWindows(*solver, model, column_kernel, *start, small);
    ASSERT_TRUE(local.ok()) << local.status();
    EXPECT_LE(model.MaxViolation(local->values), 1e-6) << "trial " << trial;
    EXPECT_NEAR(model.Evaluate(local->values), local->objective,
                1e-6 * local->objective);
    EXPECT_GE(local->objective, optimum->objective * (1 - 1e-6));
    if (local->improvements > 0) ++improved;

    WindowSearchOptions whole;
    whole.window_columns = model.num_columns();
    absl::StatusOr<WindowSearchResult> global =
        ImproveByWindows(*solver, model, column_kernel, *start, whole);
    ASSERT_TRUE(global.ok()) << global.status();
    EXPECT_NEAR(global->objective, optimum->objective,
                1e-6 * optimum->objective)
        << "trial " << trial;
  }
  EXPECT_GT(improved, 0);
}

TEST(ImproveByWindowsTest, AdoptsOnlyWhatAcceptAllows) {
  // Each kernel should pick its cheap option; `accept` refuses
  // any solution that changes kernel 1's pick.
  const auto [model, column_kernel] = TwoKernelPicks();
  const std::vector<double> start = {1, 0, 1, 0};  // both expensive: 20
  WindowSearchOptions options;
  options.window_columns = 2;  // one kernel per window
  int calls = 0;
  options.accept = [&](std::span<const double> values) {
    ++calls;
    return values[2] > 0.5;  // kernel 1 keeps its expensive pick
  };
  auto solver = MakeCbcSolver();
  absl::StatusOr<WindowSearchResult> result =
      ImproveByWindows(*solver, model, column_kernel, start, options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_NEAR(result->objective, 11, 1e-9);
  EXPECT_LT(result->values[0], 0.5);
  EXPECT_GT(result->values[2], 0.5);
  EXPECT_GT(calls, 0);
  EXPECT_GT(result->rejected, 0);
  EXPECT_EQ(result->improvements, 1);
}

TEST(ImproveByWindowsTest, KeepsTheExpectedAcceptTimeInHand) {
  // TwoKernelPicks: windows would improve the start, but each needs
  // an accept() call expected to outlast the whole search, so none starts
  // and the search ends with the start (its continuous part re-solved).
  const auto [model, column_kernel] = TwoKernelPicks();
  const std::vector<double> start = {1, 0, 1, 0};
  WindowSearchOptions options;
  options.window_columns = 2;
  options.time_limit_seconds = 5;
  options.expected_accept_seconds = 10;
  int calls = 0;
  options.accept = [&](std::span<const double>) {
    ++calls;
    return true;
  };
  auto solver = MakeCbcSolver();
  absl::StatusOr<WindowSearchResult> result =
      ImproveByWindows(*solver, model, column_kernel, start, options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->windows, 0);
  EXPECT_EQ(calls, 0);
  EXPECT_NEAR(result->objective, 20, 1e-9);

  // With the accept() time affordable, the same search improves the start.
  options.expected_accept_seconds = 0.01;
  result = ImproveByWindows(*solver, model, column_kernel, start, options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_GT(result->windows, 0);
  EXPECT_NEAR(result->objective, 2, 1e-9);
}

TEST(ImproveByWindowsTest, InfeasibleStartIsAFailedPrecondition) {
  IlpModel model;
  const int x = model.AddBinary(1);
  const int c = model.AddColumn(0, kInfinity, 1, /*integer=*/false);
  const IlpModel::Term row[] = {{c, 1}, {x, 2}};
  model.AddRow(-kInfinity, 1, row);  // x = 1 leaves c <= -1
  const std::vector<int> column_kernel = {0, -1};
  auto solver = MakeCbcSolver();
  const std::vector<double> start = {1, 0};
  absl::StatusOr<WindowSearchResult> result =
      ImproveByWindows(*solver, model, column_kernel, start, {});
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition)
      << result.status();
  const std::vector<double> short_start = {1};
  result = ImproveByWindows(*solver, model, column_kernel, short_start, {});
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ImproveByWindowsTest, CancelledSearchReturnsTheStart) {
  IlpModel model;
  const int a = model.AddBinary(3);
  const int b = model.AddBinary(1);
  const IlpModel::Term pick[] = {{a, 1}, {b, 1}};
  model.AddRow(1, 1, pick);
  const std::vector<int> column_kernel = {0, 0};
  const std::vector<double> start = {1, 0};
  std::atomic<bool> cancel = true;
  WindowSearchOptions options;
  options.cancel = &cancel;
  auto solver = MakeCbcSolver();
  absl::StatusOr<WindowSearchResult> result =
      ImproveByWindows(*solver, model, column_kernel, start, options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->values, start);
  EXPECT_EQ(result->windows, 0);
}

}  // namespace
}  // namespace autotm::solver
