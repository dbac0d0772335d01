#include "solver/cbc_solver.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solver/ilp_model.h"
#include "solver/solver.h"

namespace autotm::solver {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// max 5 x0 + 4 x1 + 3 x2 (as min of the negation), binaries, subject to
//   2 x0 + 3 x1 +   x2 <= 5
//   4 x0 +   x1 + 2 x2 <= 11
//   3 x0 + 4 x1 + 2 x2 <= 8.
// Optimum -9 at (1, 1, 0): all three break row 0, the other pairs earn 8, 7.
IlpModel SmallKnapsack() {
  IlpModel model;
  const int x0 = model.AddBinary(-5);
  const int x1 = model.AddBinary(-4);
  const int x2 = model.AddBinary(-3);
  const IlpModel::Term row0[] = {{x0, 2}, {x1, 3}, {x2, 1}};
  const IlpModel::Term row1[] = {{x0, 4}, {x1, 1}, {x2, 2}};
  const IlpModel::Term row2[] = {{x0, 3}, {x1, 4}, {x2, 2}};
  model.AddRow(-kInfinity, 5, row0);
  model.AddRow(-kInfinity, 11, row1);
  model.AddRow(-kInfinity, 8, row2);
  return model;
}

// A multi-dimensional knapsack with profits correlated to the weights, which
// CBC closes quickly for a few dozen items and not in seconds for hundreds.
// From 500 rows + columns on, CBC also stops using its uninterruptible
// "complete fathoming" dives, as on real placement models, so time limits
// hold closely.
IlpModel MultiKnapsack(int items, int dimensions, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::vector<double>> weight(dimensions,
                                          std::vector<double>(items));
  std::vector<double> capacity(dimensions, 0);
  for (int d = 0; d < dimensions; ++d) {
    for (int j = 0; j < items; ++j) {
      weight[d][j] = 1 + rng() % 1000;
      capacity[d] += weight[d][j] / 2;
    }
  }
  IlpModel model;
  for (int j = 0; j < items; ++j) {
    double profit = rng() % 500;
    for (int d = 0; d < dimensions; ++d) profit += weight[d][j] / dimensions;
    model.AddBinary(-profit);
  }
  for (int d = 0; d < dimensions; ++d) {
    std::vector<IlpModel::Term> terms;
    for (int j = 0; j < items; ++j) terms.emplace_back(j, weight[d][j]);
    model.AddRow(-kInfinity, std::floor(capacity[d]), terms);
  }
  return model;
}

// The best objective of `model` (binaries only) by enumeration.
double BruteForceOptimum(const IlpModel& model) {
  const int n = model.num_columns();
  double best = kInfinity;
  std::vector<double> x(n);
  for (uint32_t mask = 0; mask < (1u << n); ++mask) {
    for (int j = 0; j < n; ++j) x[j] = (mask >> j) & 1;
    if (model.MaxViolation(x) <= 0) best = std::min(best, model.Evaluate(x));
  }
  return best;
}

SolveParams Params(double time_limit_seconds = 30) {
  SolveParams params;
  params.time_limit_seconds = time_limit_seconds;
  return params;
}

TEST(CbcSolverTest, NameCarriesCbcVersion) {
  EXPECT_THAT(MakeCbcSolver()->name(), StartsWith("cbc 2.10"));
}

TEST(CbcSolverTest, TerminationNames) {
  EXPECT_STREQ(SolveTerminationName(SolveTermination::kOptimal), "OPTIMAL");
  EXPECT_STREQ(SolveTerminationName(SolveTermination::kFeasible), "FEASIBLE");
  EXPECT_STREQ(SolveTerminationName(SolveTermination::kInfeasible),
               "INFEASIBLE");
  EXPECT_STREQ(SolveTerminationName(SolveTermination::kNoSolution),
               "NO_SOLUTION");
  EXPECT_STREQ(SolveTerminationName(SolveTermination::kCancelled), "CANCELLED");
}

TEST(CbcSolverTest, SolvesKnapsackToKnownOptimum) {
  absl::StatusOr<SolveResult> result =
      MakeCbcSolver()->Solve(SmallKnapsack(), Params());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->termination, SolveTermination::kOptimal);
  EXPECT_DOUBLE_EQ(result->objective, -9);
  EXPECT_NEAR(result->best_bound, -9, 1e-6);
  EXPECT_DOUBLE_EQ(result->relative_gap, 0);
  ASSERT_EQ(result->values.size(), 3u);
  EXPECT_NEAR(result->values[0], 1, 1e-6);
  EXPECT_NEAR(result->values[1], 1, 1e-6);
  EXPECT_NEAR(result->values[2], 0, 1e-6);
}

TEST(CbcSolverTest, MatchesBruteForceOnRandomKnapsacks) {
  std::unique_ptr<Solver> solver = MakeCbcSolver();
  for (uint32_t seed = 1; seed <= 5; ++seed) {
    const IlpModel model = MultiKnapsack(/*items=*/12, /*dimensions=*/3, seed);
    absl::StatusOr<SolveResult> result = solver->Solve(model, Params());
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->termination, SolveTermination::kOptimal) << seed;
    EXPECT_NEAR(result->objective, BruteForceOptimum(model), 1e-6) << seed;
  }
}

TEST(CbcSolverTest, HandlesGeneralIntegerAndContinuousColumns) {
  // min -x - y s.t. x + y <= 3.5, x integer in [0, 10], y in [0, 0.7]:
  // the only optimum is x = 3, y = 0.5, objective -3.5.
  IlpModel model;
  const int x = model.AddColumn(0, 10, -1, /*integer=*/true);
  const int y = model.AddColumn(0, 0.7, -1, /*integer=*/false);
  const IlpModel::Term row[] = {{x, 1}, {y, 1}};
  model.AddRow(-kInfinity, 3.5, row);
  absl::StatusOr<SolveResult> result = MakeCbcSolver()->Solve(model, Params());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->termination, SolveTermination::kOptimal);
  EXPECT_NEAR(result->objective, -3.5, 1e-9);
  ASSERT_EQ(result->values.size(), 2u);
  EXPECT_NEAR(result->values[0], 3, 1e-9);
  EXPECT_NEAR(result->values[1], 0.5, 1e-9);
}

TEST(CbcSolverTest, ObjectiveOffsetIsInObjectiveAndBound) {
  IlpModel model = SmallKnapsack();
  model.objective_offset = 100;
  absl::StatusOr<SolveResult> result = MakeCbcSolver()->Solve(model, Params());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->termination, SolveTermination::kOptimal);
  EXPECT_DOUBLE_EQ(result->objective, 91);
  EXPECT_NEAR(result->best_bound, 91, 1e-6);
  EXPECT_DOUBLE_EQ(result->relative_gap, 0);
}

// The relative gap is the objective's, offset included. The planner's
// models put every kernel's all-slow time in the offset and the savings,
// negative, in the columns; CBC's own ratio gap, measured against its
// objective without the offset (minus the savings), then stopped far above
// the gap asked for. Here the savings are 50 times the optimum's objective,
// so a 1% ratio of CBC's objective would allow a 50% gap.
TEST(CbcSolverTest, RelativeGapCountsTheObjectiveOffset) {
  for (uint32_t seed : {1u, 2u, 3u, 4u, 5u, 6u}) {
    IlpModel model = MultiKnapsack(/*items=*/18, /*dimensions=*/2, seed);
    const double savings = -BruteForceOptimum(model);
    model.objective_offset = savings * 1.02;
    const double optimum = model.objective_offset - savings;
    SolveParams params = Params();
    params.relative_gap = 0.01;
    absl::StatusOr<SolveResult> result = MakeCbcSolver()->Solve(model, params);
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->termination, SolveTermination::kOptimal) << seed;
    EXPECT_LE(result->relative_gap, 0.01) << seed;
    EXPECT_LE(result->objective - optimum, 0.01 * result->objective + 1e-6)
        << "seed " << seed << ": objective " << result->objective
        << ", optimum " << optimum;
    EXPECT_LE(result->best_bound, optimum + 1e-6) << seed;
  }
}

TEST(CbcSolverTest, ReportsInfeasible) {
  // x0 + x1 >= 3 on binaries: the LP relaxation is already infeasible.
  IlpModel lp_infeasible;
  const IlpModel::Term sum[] = {{lp_infeasible.AddBinary(1), 1},
                                {lp_infeasible.AddBinary(1), 1}};
  lp_infeasible.AddRow(3, kInfinity, sum);
  // 2 x0 + 2 x1 = 1 on binaries: the LP is feasible, no integer point is.
  IlpModel integer_infeasible;
  const IlpModel::Term parity[] = {{integer_infeasible.AddBinary(1), 2},
                                   {integer_infeasible.AddBinary(1), 2}};
  integer_infeasible.AddRow(1, 1, parity);

  for (const IlpModel* model : {&lp_infeasible, &integer_infeasible}) {
    absl::StatusOr<SolveResult> result =
        MakeCbcSolver()->Solve(*model, Params());
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->termination, SolveTermination::kInfeasible);
    EXPECT_FALSE(result->has_solution());
    EXPECT_EQ(result->objective, kInfinity);
  }
}

TEST(CbcSolverTest, SolvesModelWithoutRows) {
  IlpModel model;
  model.AddBinary(-2);
  model.AddBinary(3);
  model.AddColumn(-1, 4, 1, /*integer=*/true);
  absl::StatusOr<SolveResult> result = MakeCbcSolver()->Solve(model, Params());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->termination, SolveTermination::kOptimal);
  EXPECT_DOUBLE_EQ(result->objective, -3);
  ASSERT_EQ(result->values.size(), 3u);
  EXPECT_NEAR(result->values[0], 1, 1e-9);
  EXPECT_NEAR(result->values[1], 0, 1e-9);
  EXPECT_NEAR(result->values[2], -1, 1e-9);
}

TEST(CbcSolverTest, UnboundedIsNoSolution) {
  // min -x - y with x integer, x, y >= 0 unbounded above, x - y <= 0.
  IlpModel model;
  const int x = model.AddColumn(0, kInfinity, -1, /*integer=*/true);
  const int y = model.AddColumn(0, kInfinity, -1, /*integer=*/false);
  const IlpModel::Term row[] = {{x, 1}, {y, -1}};
  model.AddRow(-kInfinity, 0, row);
  absl::StatusOr<SolveResult> result = MakeCbcSolver()->Solve(model, Params());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->termination, SolveTermination::kNoSolution);
  EXPECT_FALSE(result->has_solution());
}

TEST(CbcSolverTest, EmptyModelIsOptimalAtOffset) {
  IlpModel model;
  model.objective_offset = 7.5;
  absl::StatusOr<SolveResult> result = MakeCbcSolver()->Solve(model, Params());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->termination, SolveTermination::kOptimal);
  EXPECT_EQ(result->objective, 7.5);
  EXPECT_EQ(result->best_bound, 7.5);
  EXPECT_EQ(result->relative_gap, 0);
  EXPECT_TRUE(result->values.empty());
}

TEST(CbcSolverTest, EmptyModelWithUnsatisfiableRowIsInfeasible) {
  IlpModel model;
  model.AddRow(1, 2, {});
  absl::StatusOr<SolveResult> result = MakeCbcSolver()->Solve(model, Params());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->termination, SolveTermination::kInfeasible);
}

TEST(CbcSolverTest, RejectsMalformedModels) {
  struct Case {
    std::string name;
    void (*corrupt)(IlpModel&);
    std::string message;
  };
  const Case cases[] = {
      {"column out of range", [](IlpModel& m) { m.row_column[4] = 3; },
       "row 1: column index 3 out of range"},
      {"negative column", [](IlpModel& m) { m.row_column[0] = -1; },
       "row 0: column index -1"},
      {"duplicate column", [](IlpModel& m) { m.row_column[1] = 0; },
       "row 0: column 0 appears twice"},
      {"infinite objective", [](IlpModel& m) { m.objective[2] = kInfinity; },
       "column 2"},
      {"nan objective",
       [](IlpModel& m) {
         m.objective[1] = std::numeric_limits<double>::quiet_NaN();
       },
       "column 1"},
      {"empty column bounds", [](IlpModel& m) { m.col_lower[1] = 2; },
       "column 1: bounds"},
      {"empty row bounds", [](IlpModel& m) { m.row_lower[2] = 9; },
       "row 2: bounds"},
      {"nan coefficient",
       [](IlpModel& m) {
         m.row_value[3] = std::numeric_limits<double>::quiet_NaN();
       },
       "row 1: coefficient"},
      {"row_start decreasing", [](IlpModel& m) { m.row_start[2] = 2; },
       "row 1: row_start decreases"},
      {"short col_upper", [](IlpModel& m) { m.col_upper.pop_back(); },
       "column arrays disagree"},
      {"short row_upper", [](IlpModel& m) { m.row_upper.pop_back(); },
       "row arrays disagree"},
      {"short row_value", [](IlpModel& m) { m.row_value.pop_back(); },
       "nonzero arrays disagree"},
  };
  std::unique_ptr<Solver> solver = MakeCbcSolver();
  for (const Case& c : cases) {
    IlpModel model = SmallKnapsack();
    c.corrupt(model);
    absl::StatusOr<SolveResult> result = solver->Solve(model, Params());
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument)
        << c.name << ": " << result.status();
    EXPECT_THAT(result.status().message(), HasSubstr(c.message)) << c.name;
  }
}

TEST(CbcSolverTest, RejectsBadParams) {
  std::unique_ptr<Solver> solver = MakeCbcSolver();
  SolveParams negative_time = Params(-1);
  SolveParams bad_gap = Params();
  bad_gap.relative_gap = std::numeric_limits<double>::quiet_NaN();
  SolveParams bad_threads = Params();
  bad_threads.threads = -2;
  SolveParams bad_stall = Params();
  bad_stall.stall_seconds = std::numeric_limits<double>::quiet_NaN();
  SolveParams bad_root_cuts = Params();
  bad_root_cuts.root_cuts_max_columns = -1;
  SolveParams bad_cut_passes = Params();
  bad_cut_passes.root_cut_passes = -1;
  SolveParams nan_known_bound = Params();
  nan_known_bound.known_bound = std::numeric_limits<double>::quiet_NaN();
  SolveParams infinite_known_bound = Params();
  infinite_known_bound.known_bound = kInfinity;
  for (const SolveParams* params :
       {&negative_time, &bad_gap, &bad_threads, &bad_stall, &bad_root_cuts,
        &bad_cut_passes, &nan_known_bound, &infinite_known_bound}) {
    EXPECT_EQ(solver->Solve(SmallKnapsack(), *params).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
}

TEST(CbcSolverTest, StopsAtTimeLimitWithFeasibleSolution) {
  const IlpModel model = MultiKnapsack(/*items=*/500, /*dimensions=*/20, 7);
  SolveParams params = Params(/*time_limit_seconds=*/1);
  params.relative_gap = 0;
  const Clock::time_point start = Clock::now();
  absl::StatusOr<SolveResult> result = MakeCbcSolver()->Solve(model, params);
  const double seconds = SecondsSince(start);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_LT(seconds, 3);
  EXPECT_GE(result->solve_seconds, 0.9);
  EXPECT_EQ(result->termination, SolveTermination::kFeasible)
      << SolveTerminationName(result->termination);
  ASSERT_TRUE(result->has_solution());
  EXPECT_LT(model.MaxViolation(result->values), 1e-6);
  EXPECT_NEAR(result->objective, model.Evaluate(result->values), 1e-6);
  // A gap remains, and the bound is the root LP's or better.
  EXPECT_GT(result->relative_gap, 0);
  EXPECT_LT(result->best_bound, result->objective);
  EXPECT_GT(result->best_bound, -kInfinity);
}

TEST(CbcSolverTest, StallStopsASearchThatStopsImproving) {
  // Gap 0 on a 500-item, 20-dimension knapsack: CBC proves nothing within
  // the 60 s limit, and its incumbent stops improving long before. A stall
  // stop is a limit: the incumbent and a valid bound come back.
  const IlpModel model = MultiKnapsack(/*items=*/500, /*dimensions=*/20, 7);
  SolveParams params = Params(/*time_limit_seconds=*/60);
  params.relative_gap = 0;
  params.stall_seconds = 1;
  double last_improvement = 0;
  double best = kInfinity;
  params.on_progress = [&](const SolveProgress& progress) {
    if (progress.incumbent < best) {
      best = progress.incumbent;
      last_improvement = progress.elapsed_seconds;
    }
  };
  const Clock::time_point start = Clock::now();
  absl::StatusOr<SolveResult> result = MakeCbcSolver()->Solve(model, params);
  const double seconds = SecondsSince(start);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_LT(seconds, 30);
  EXPECT_EQ(result->termination, SolveTermination::kFeasible)
      << SolveTerminationName(result->termination);
  ASSERT_TRUE(result->has_solution());
  EXPECT_LT(model.MaxViolation(result->values), 1e-6);
  EXPECT_LE(result->best_bound, result->objective);
  // It stopped about a stall after the last improvement, not at once.
  EXPECT_GE(result->solve_seconds, last_improvement + 0.9);

  // A start solution CBC never improves on stalls too: the start here is
  // the returned incumbent with gap 0 and a 1 s stall.
  SolveParams restart = Params(/*time_limit_seconds=*/60);
  restart.relative_gap = 0;
  restart.stall_seconds = 1;
  restart.initial_solution = result->values;
  const Clock::time_point restart_start = Clock::now();
  absl::StatusOr<SolveResult> again = MakeCbcSolver()->Solve(model, restart);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_LT(SecondsSince(restart_start), 30);
  ASSERT_TRUE(again->has_solution());
  EXPECT_LE(again->objective, result->objective + 1e-6);
}

TEST(CbcSolverTest, MaxNodesZeroStopsAfterTheRoot) {
  // Needs a tree: unlimited, CBC branches; limited to the root, it stops
  // there with the root's incumbent and bound.
  const IlpModel model = MultiKnapsack(/*items=*/60, /*dimensions=*/5, 3);
  SolveParams params = Params(/*time_limit_seconds=*/20);
  params.relative_gap = 0;
  absl::StatusOr<SolveResult> full = MakeCbcSolver()->Solve(model, params);
  ASSERT_TRUE(full.ok()) << full.status();
  ASSERT_GT(full->nodes, 0);
  params.max_nodes = 0;
  absl::StatusOr<SolveResult> root = MakeCbcSolver()->Solve(model, params);
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(root->nodes, 0);
  EXPECT_EQ(root->termination, SolveTermination::kFeasible)
      << SolveTerminationName(root->termination);
  ASSERT_TRUE(root->has_solution());
  EXPECT_LT(model.MaxViolation(root->values), 1e-6);
  EXPECT_LE(root->best_bound, full->objective + 1e-6);
  EXPECT_GE(root->objective, full->objective - 1e-6);
}

TEST(CbcSolverTest, RootWithoutHeuristicsKeepsTheBoundAndTheStartOnly) {
  // The root of MaxNodesZeroStopsAfterTheRoot's model, whose LP optimum is
  // fractional: with the heuristics CBC finds an incumbent there; without
  // them it finds none on its own, proves the same kind of bound, and
  // returns the start it was given as it is.
  const IlpModel model = MultiKnapsack(/*items=*/60, /*dimensions=*/5, 3);
  SolveParams params = Params(/*time_limit_seconds=*/20);
  params.relative_gap = 0;
  params.max_nodes = 0;
  absl::StatusOr<SolveResult> with = MakeCbcSolver()->Solve(model, params);
  ASSERT_TRUE(with.ok()) << with.status();
  ASSERT_TRUE(with->has_solution());
  params.heuristics = false;
  absl::StatusOr<SolveResult> without = MakeCbcSolver()->Solve(model, params);
  ASSERT_TRUE(without.ok()) << without.status();
  EXPECT_FALSE(without->has_solution());
  EXPECT_EQ(without->termination, SolveTermination::kNoSolution)
      << SolveTerminationName(without->termination);
  ASSERT_GT(without->best_bound, -kInfinity);
  EXPECT_LE(without->best_bound, with->objective + 1e-6);
  // All zeros is feasible (every row is a capacity <= b with b >= 0).
  params.initial_solution.assign(model.num_columns(), 0.0);
  absl::StatusOr<SolveResult> started = MakeCbcSolver()->Solve(model, params);
  ASSERT_TRUE(started.ok()) << started.status();
  ASSERT_TRUE(started->has_solution());
  EXPECT_NEAR(started->objective, 0.0, 1e-9);
  EXPECT_LE(started->best_bound, with->objective + 1e-6);
}

// The shape of the placement ILP's telescoped capacity rows
// (formulation_capacity.cc): binaries x_j of `size_j` (MiB, not integers)
// worth `value_j`, at `kernels` consecutive kernels, each live over a
// stretch of them; U_k, continuous in [0, capacity], is the fast sum at k,
// given by U_k - U_{k-1} = (sizes that start at k) - (sizes that ended at
// k - 1).
IlpModel TelescopedCapacityModel(int items, int kernels, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> unit(0, 1);
  std::vector<int> first(items), last(items);
  std::vector<double> size(items);
  IlpModel model;
  for (int j = 0; j < items; ++j) {
    first[j] = static_cast<int>(rng() % kernels);
    last[j] = std::min(kernels - 1, first[j] + static_cast<int>(rng() % 4));
    size[j] = 0.5 + 7.5 * unit(rng);
    model.AddBinary(-size[j] * (0.5 + unit(rng)) * (last[j] - first[j] + 1));
  }
  const double capacity = 9.7;
  int previous = -1;
  for (int k = 0; k < kernels; ++k) {
    const int u = model.AddColumn(0, capacity, 0, /*integer=*/false);
    std::vector<IlpModel::Term> row = {{u, 1}};
    if (previous >= 0) row.emplace_back(previous, -1);
    for (int j = 0; j < items; ++j) {
      if (first[j] == k) row.emplace_back(j, -size[j]);
      if (k > 0 && last[j] == k - 1) row.emplace_back(j, size[j]);
    }
    model.AddRow(0, 0, row);
    previous = u;
  }
  return model;
}

TEST(CbcSolverTest, RootCutsLiftTheBoundOnTelescopedCapacityRows) {
  // The root alone (max_nodes 0), with and without the Gomory and two-MIR
  // passes: with them the bound is higher (on these seeds it reaches the
  // optimum four times in five; without them it stays 5-14% below), and
  // still a valid bound. One round of them (root_cut_passes 1) lifts it
  // too, and on some seeds less than CBC's own rounds (so the setting is
  // honoured).
  int one_round_below_all = 0;
  for (uint32_t seed : {1u, 2u, 3u, 4u, 5u}) {
    const IlpModel model =
        TelescopedCapacityModel(/*items=*/18, /*kernels=*/12, seed);
    SolveParams params = Params();
    params.relative_gap = 0;
    absl::StatusOr<SolveResult> optimum = MakeCbcSolver()->Solve(model, params);
    ASSERT_TRUE(optimum.ok()) << optimum.status();
    ASSERT_EQ(optimum->termination, SolveTermination::kOptimal);
    params.max_nodes = 0;
    absl::StatusOr<SolveResult> with_cuts =
        MakeCbcSolver()->Solve(model, params);
    params.root_cut_passes = 1;
    absl::StatusOr<SolveResult> one_round =
        MakeCbcSolver()->Solve(model, params);
    params.root_cuts_max_columns = 0;
    absl::StatusOr<SolveResult> without = MakeCbcSolver()->Solve(model, params);
    ASSERT_TRUE(with_cuts.ok()) << with_cuts.status();
    ASSERT_TRUE(one_round.ok()) << one_round.status();
    ASSERT_TRUE(without.ok()) << without.status();
    for (const SolveResult* cut : {&*with_cuts, &*one_round}) {
      EXPECT_LE(cut->best_bound, optimum->objective + 1e-6) << seed;
      EXPECT_GT(cut->best_bound, without->best_bound + 1e-6) << seed;
    }
    if (one_round->best_bound < with_cuts->best_bound - 1e-6) {
      ++one_round_below_all;
    }
  }
  EXPECT_GT(one_round_below_all, 0);
}

TEST(CbcSolverTest, KnownBoundFloorsTheBoundAndEndsTheSearchWithinTheGap) {
  // A 200-item knapsack CBC does not close in seconds. Its 2 s incumbent,
  // given back as the start with a known bound 0.5% under it, is within the
  // 1% gap: the search stops at once, optimal within the gap, and reports
  // the known bound (CBC's own is lower). With the known bound 5% under it
  // the search goes on, and never reports less.
  const IlpModel model = MultiKnapsack(/*items=*/200, /*dimensions=*/5, 7);
  SolveParams params = Params(/*time_limit_seconds=*/2);
  params.relative_gap = 0;
  absl::StatusOr<SolveResult> first = MakeCbcSolver()->Solve(model, params);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(first->has_solution());
  ASSERT_EQ(first->termination, SolveTermination::kFeasible);

  params.initial_solution = first->values;
  params.relative_gap = 0.01;
  params.time_limit_seconds = 60;
  params.known_bound = first->objective - 0.005 * std::abs(first->objective);
  double lowest_reported = kInfinity;
  params.on_progress = [&](const SolveProgress& progress) {
    lowest_reported = std::min(lowest_reported, progress.bound);
  };
  absl::StatusOr<SolveResult> closed = MakeCbcSolver()->Solve(model, params);
  ASSERT_TRUE(closed.ok()) << closed.status();
  EXPECT_EQ(closed->termination, SolveTermination::kOptimal)
      << SolveTerminationName(closed->termination);
  EXPECT_LT(closed->solve_seconds, 30);
  EXPECT_LE(closed->objective, first->objective + 1e-6);
  EXPECT_GE(closed->best_bound, params.known_bound - 1e-9);
  EXPECT_LE(closed->relative_gap, 0.01);
  EXPECT_GE(lowest_reported, params.known_bound - 1e-9);

  params.known_bound = first->objective - 0.05 * std::abs(first->objective);
  params.time_limit_seconds = 1;
  lowest_reported = kInfinity;
  absl::StatusOr<SolveResult> open = MakeCbcSolver()->Solve(model, params);
  ASSERT_TRUE(open.ok()) << open.status();
  EXPECT_GE(open->best_bound, params.known_bound - 1e-9);
  EXPECT_GE(lowest_reported, params.known_bound - 1e-9);
}

TEST(CbcSolverTest, BoundProbeKeepsTheOptimumAndABoundBelowIt) {
  // The probe (a root with reduce-and-split, then the search without) on
  // models CBC closes: the same optimum as without it, proven, and a root
  // bound (max_nodes 0 returns the probe's root) that is a bound.
  for (uint32_t seed : {1u, 2u, 3u}) {
    for (const IlpModel& model :
         {TelescopedCapacityModel(/*items=*/18, /*kernels=*/12, seed),
          MultiKnapsack(/*items=*/40, /*dimensions=*/4, seed)}) {
      SolveParams params = Params();
      params.relative_gap = 0;
      absl::StatusOr<SolveResult> plain = MakeCbcSolver()->Solve(model, params);
      params.bound_probe = true;
      absl::StatusOr<SolveResult> probed =
          MakeCbcSolver()->Solve(model, params);
      params.max_nodes = 0;
      absl::StatusOr<SolveResult> root = MakeCbcSolver()->Solve(model, params);
      ASSERT_TRUE(plain.ok()) << plain.status();
      ASSERT_TRUE(probed.ok()) << probed.status();
      ASSERT_TRUE(root.ok()) << root.status();
      ASSERT_EQ(plain->termination, SolveTermination::kOptimal);
      EXPECT_EQ(probed->termination, SolveTermination::kOptimal) << seed;
      EXPECT_NEAR(probed->objective, plain->objective, 1e-6) << seed;
      EXPECT_LT(model.MaxViolation(probed->values), 1e-6) << seed;
      EXPECT_LE(root->best_bound, plain->objective + 1e-6) << seed;
      EXPECT_GT(root->best_bound, -kInfinity) << seed;
    }
  }
}

TEST(CbcSolverTest, LimitWithoutSolutionIsNoSolution) {
  // 2 * sum(x) = n + 1 (odd) has no integer point but a feasible LP, and
  // without preprocessing CBC cannot prove that in half a second. The
  // knapsack rows keep the search busy.
  constexpr int kColumns = 500;
  std::mt19937 rng(5);
  IlpModel model;
  std::vector<IlpModel::Term> parity;
  for (int j = 0; j < kColumns; ++j) {
    model.AddBinary(-(1.0 + rng() % 100));
    parity.emplace_back(j, 2);
  }
  model.AddRow(kColumns + 1, kColumns + 1, parity);
  for (int d = 0; d < 10; ++d) {
    std::vector<IlpModel::Term> terms;
    double capacity = 0;
    for (int j = 0; j < kColumns; ++j) {
      const double weight = 1 + rng() % 1000;
      terms.emplace_back(j, weight);
      capacity += 0.6 * weight;
    }
    model.AddRow(-kInfinity, std::floor(capacity), terms);
  }
  const Clock::time_point start = Clock::now();
  absl::StatusOr<SolveResult> result =
      MakeCbcSolver()->Solve(model, Params(/*time_limit_seconds=*/0.5));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_LT(SecondsSince(start), 2.5);
  EXPECT_EQ(result->termination, SolveTermination::kNoSolution)
      << SolveTerminationName(result->termination);
  EXPECT_FALSE(result->has_solution());
  EXPECT_EQ(result->objective, kInfinity);
  // The root LP still gives a bound.
  EXPECT_TRUE(std::isfinite(result->best_bound));
}

TEST(CbcSolverTest, InfeasibleAtTheLimitIsNoSolution) {
  // With no time at all, even a verdict of "infeasible" is not trusted: CBC
  // can say so for a search the limit cut short.
  IlpModel model;
  const IlpModel::Term sum[] = {{model.AddBinary(1), 1},
                                {model.AddBinary(1), 1}};
  model.AddRow(3, kInfinity, sum);
  absl::StatusOr<SolveResult> result =
      MakeCbcSolver()->Solve(model, Params(/*time_limit_seconds=*/0));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->termination, SolveTermination::kNoSolution);
}

TEST(CbcSolverTest, CancelStopsSoonAndKeepsIncumbent) {
  const IlpModel model = MultiKnapsack(/*items=*/500, /*dimensions=*/20, 11);
  std::atomic<bool> cancel{false};
  SolveParams params = Params(/*time_limit_seconds=*/60);
  params.relative_gap = 0;
  params.cancel = &cancel;
  Clock::time_point cancelled_at;
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    cancelled_at = Clock::now();
    cancel = true;
  });
  absl::StatusOr<SolveResult> result = MakeCbcSolver()->Solve(model, params);
  const Clock::time_point returned_at = Clock::now();
  canceller.join();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->termination, SolveTermination::kCancelled)
      << SolveTerminationName(result->termination);
  EXPECT_LT(std::chrono::duration<double>(returned_at - cancelled_at).count(),
            2);
  if (result->has_solution()) {
    EXPECT_LT(model.MaxViolation(result->values), 1e-6);
    EXPECT_NEAR(result->objective, model.Evaluate(result->values), 1e-6);
  }
  // The bound is the last one reported before the cancel, never above the
  // incumbent.
  if (result->has_solution() && std::isfinite(result->best_bound)) {
    EXPECT_LE(result->best_bound, result->objective);
  }
}

TEST(CbcSolverTest, CancelBeforeStartReturnsAtOnce) {
  std::atomic<bool> cancel{true};
  SolveParams params = Params();
  params.cancel = &cancel;
  absl::StatusOr<SolveResult> result =
      MakeCbcSolver()->Solve(SmallKnapsack(), params);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->termination, SolveTermination::kCancelled);
  EXPECT_FALSE(result->has_solution());
}

TEST(CbcSolverTest, CancelWhileQueuedReturnsWithoutWaiting) {
  // `running` holds the process-wide CBC lock; `queued` waits for it and is
  // cancelled while waiting.
  const IlpModel hard = MultiKnapsack(/*items=*/500, /*dimensions=*/20, 17);
  std::atomic<bool> cancel_running{false};
  std::atomic<bool> cancel_queued{false};
  SolveParams running_params = Params(/*time_limit_seconds=*/30);
  running_params.cancel = &cancel_running;
  SolveParams queued_params = Params();
  queued_params.cancel = &cancel_queued;

  absl::StatusOr<SolveResult> running, queued;
  std::thread running_thread(
      [&] { running = MakeCbcSolver()->Solve(hard, running_params); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  Clock::time_point queued_done;
  std::thread queued_thread([&] {
    queued = MakeCbcSolver()->Solve(SmallKnapsack(), queued_params);
    queued_done = Clock::now();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const Clock::time_point cancelled_at = Clock::now();
  cancel_queued = true;
  queued_thread.join();
  cancel_running = true;
  running_thread.join();

  ASSERT_TRUE(queued.ok()) << queued.status();
  EXPECT_EQ(queued->termination, SolveTermination::kCancelled);
  EXPECT_FALSE(queued->has_solution());
  EXPECT_LT(std::chrono::duration<double>(queued_done - cancelled_at).count(),
            0.5);
  // The running solve went on until its own cancel, at least 0.2 s after it
  // started.
  ASSERT_TRUE(running.ok()) << running.status();
  EXPECT_EQ(running->termination, SolveTermination::kCancelled);
  EXPECT_GE(running->solve_seconds, 0.1);
}

TEST(CbcSolverTest, ReportsProgressWithIncumbentAndBound) {
  const IlpModel model = MultiKnapsack(/*items=*/40, /*dimensions=*/5, 3);
  std::vector<SolveProgress> reports;
  SolveParams params = Params();
  params.on_progress = [&](const SolveProgress& progress) {
    reports.push_back(progress);
  };
  absl::StatusOr<SolveResult> result = MakeCbcSolver()->Solve(model, params);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->termination, SolveTermination::kOptimal);
  ASSERT_FALSE(reports.empty());
  // The first report carries the root LP bound.
  EXPECT_TRUE(std::isfinite(reports.front().bound));
  bool saw_incumbent = false;
  for (const SolveProgress& progress : reports) {
    if (!std::isfinite(progress.incumbent)) continue;
    saw_incumbent = true;
    EXPECT_GE(progress.incumbent, result->objective - 1e-6);
    EXPECT_LE(progress.bound, progress.incumbent + 1e-6);
    EXPECT_GE(progress.relative_gap, 0);
  }
  EXPECT_TRUE(saw_incumbent);
  // The bound never exceeds the optimum.
  for (const SolveProgress& progress : reports) {
    EXPECT_LE(progress.bound, result->objective + 1e-6);
  }
}

TEST(CbcSolverTest, ProgressIncludesOffset) {
  IlpModel model = SmallKnapsack();
  model.objective_offset = 1000;
  std::vector<SolveProgress> reports;
  SolveParams params = Params();
  params.on_progress = [&](const SolveProgress& progress) {
    reports.push_back(progress);
  };
  ASSERT_TRUE(MakeCbcSolver()->Solve(model, params).ok());
  ASSERT_FALSE(reports.empty());
  // The knapsack's LP optimum is -32/3 (x = 1, 2/3, 1), so the first bound,
  // from the root LP, is 1000 - 32/3.
  constexpr double kRootBound = 1000 - 32.0 / 3;
  EXPECT_NEAR(reports.front().bound, kRootBound, 1e-6);
  double last_incumbent = kInfinity;
  for (const SolveProgress& progress : reports) {
    EXPECT_GE(progress.bound, kRootBound - 1e-6);
    EXPECT_LE(progress.incumbent, last_incumbent);
    last_incumbent = progress.incumbent;
  }
  EXPECT_DOUBLE_EQ(last_incumbent, 991);
}

TEST(CbcSolverTest, SequentialSolvesAreIdentical) {
  const IlpModel model = MultiKnapsack(/*items=*/40, /*dimensions=*/5, 5);
  std::unique_ptr<Solver> solver = MakeCbcSolver();
  absl::StatusOr<SolveResult> first = solver->Solve(model, Params());
  absl::StatusOr<SolveResult> second = solver->Solve(model, Params());
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(first->termination, SolveTermination::kOptimal);
  EXPECT_EQ(second->termination, first->termination);
  EXPECT_EQ(second->objective, first->objective);
  EXPECT_EQ(second->best_bound, first->best_bound);
  EXPECT_EQ(second->nodes, first->nodes);
  EXPECT_EQ(second->values, first->values);
}

TEST(CbcSolverTest, ConcurrentSolvesAreSerialisedAndCorrect) {
  const IlpModel a = MultiKnapsack(/*items=*/40, /*dimensions=*/5, 21);
  const IlpModel b = MultiKnapsack(/*items=*/40, /*dimensions=*/5, 22);
  std::unique_ptr<Solver> solver = MakeCbcSolver();
  absl::StatusOr<SolveResult> alone_a = solver->Solve(a, Params());
  absl::StatusOr<SolveResult> alone_b = solver->Solve(b, Params());
  ASSERT_TRUE(alone_a.ok() && alone_b.ok());
  ASSERT_EQ(alone_a->termination, SolveTermination::kOptimal);
  ASSERT_EQ(alone_b->termination, SolveTermination::kOptimal);

  for (int round = 0; round < 3; ++round) {
    absl::StatusOr<SolveResult> together_a, together_b;
    std::thread thread_a([&] { together_a = solver->Solve(a, Params()); });
    std::thread thread_b(
        [&] { together_b = MakeCbcSolver()->Solve(b, Params()); });
    thread_a.join();
    thread_b.join();
    ASSERT_TRUE(together_a.ok()) << together_a.status();
    ASSERT_TRUE(together_b.ok()) << together_b.status();
    EXPECT_EQ(together_a->termination, SolveTermination::kOptimal);
    EXPECT_EQ(together_b->termination, SolveTermination::kOptimal);
    EXPECT_DOUBLE_EQ(together_a->objective, alone_a->objective);
    EXPECT_DOUBLE_EQ(together_b->objective, alone_b->objective);
  }
}

TEST(CbcSolverTest, ThreadedSolveFindsSameOptimum) {
  const IlpModel model = MultiKnapsack(/*items=*/40, /*dimensions=*/5, 13);
  std::unique_ptr<Solver> solver = MakeCbcSolver();
  absl::StatusOr<SolveResult> serial = solver->Solve(model, Params());
  SolveParams params = Params();
  params.threads = 2;
  absl::StatusOr<SolveResult> threaded = solver->Solve(model, params);
  ASSERT_TRUE(serial.ok()) << serial.status();
  ASSERT_TRUE(threaded.ok()) << threaded.status();
  EXPECT_EQ(serial->termination, SolveTermination::kOptimal);
  EXPECT_EQ(threaded->termination, SolveTermination::kOptimal);
  EXPECT_NEAR(threaded->objective, serial->objective, 1e-6);
  EXPECT_LT(model.MaxViolation(threaded->values), 1e-6);
}

TEST(CbcSolverTest, PrintsNothing) {
  const IlpModel model = MultiKnapsack(/*items=*/40, /*dimensions=*/5, 9);
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  absl::StatusOr<SolveResult> result = MakeCbcSolver()->Solve(model, Params());
  const std::string out = ::testing::internal::GetCapturedStdout();
  const std::string err = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(out, "");
  EXPECT_EQ(err, "");
}

}  // namespace
}  // namespace autotm::solver
