#include "client/cli/plan_report.h"

#include <limits>
#include <string>

#include "autotm/v1/plan.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solver/graph_model.h"
#include "solver/testing/test_graphs.h"
#include "solver/verifier.h"

namespace autotm::client {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr uint64_t kMiB = uint64_t{1} << 20;

// Two tensors, three kernels: "a" (4 MiB) is created fast, dropped to slow
// after k0 and read back before k2; "b" (1 MiB) lives in slow memory.
solver::GraphModel TinyGraph() {
  return solver::testing::MustGraph(solver::testing::GraphBuilder("tiny")
                                        .Tensor("a", 4 * kMiB)
                                        .Tensor("b", kMiB)
                                        .Kernel("k0", {}, {"a"})
                                        .Kernel("k1", {}, {"b"})
                                        .Kernel("k2", {"a", "b"}, {})
                                        .graph());
}

v1::Plan TinyPlan() {
  v1::Plan plan;
  plan.set_graph_name("tiny");
  plan.set_budget_bytes(8 * kMiB);
  plan.set_method(v1::METHOD_SYNCHRONOUS);
  auto* a = plan.add_tensors();
  a->set_tensor_id("a");
  a->set_creation_tier(v1::TIER_FAST);
  auto* b = plan.add_tensors();
  b->set_tensor_id("b");
  b->set_creation_tier(v1::TIER_SLOW);
  auto* out = plan.add_moves();
  out->set_tensor_id("a");
  out->set_kernel_id("k0");
  out->set_kernel_index(0);
  out->set_direction(v1::MOVE_DIRECTION_TO_SLOW);
  out->set_sync(true);
  out->set_bytes_copied(4 * kMiB);
  out->set_time_us(349.6);
  auto* in = plan.add_moves();
  in->set_tensor_id("a");
  in->set_kernel_id("k2");
  in->set_kernel_index(2);
  in->set_direction(v1::MOVE_DIRECTION_TO_FAST);
  in->set_sync(true);
  in->set_bytes_copied(4 * kMiB);
  in->set_time_us(144.6);
  plan.set_kernel_time_us(1000);
  plan.set_move_time_us(494.2);
  plan.set_predicted_time_us(1494.1);
  plan.set_peak_fast_bytes(4 * kMiB);
  v1::SolverStats* stats = plan.mutable_stats();
  stats->set_termination(v1::TERMINATION_OPTIMAL);
  stats->set_solver("cbc 2.10.8");
  stats->set_variables(120);
  stats->set_integer_variables(100);
  stats->set_rows(80);
  stats->set_nonzeros(400);
  stats->set_solve_seconds(0.25);
  stats->set_objective_us(1494.1);
  stats->set_best_bound_us(1480);
  stats->set_relative_gap(0.0094);
  return plan;
}

TEST(PlanReportTest, SummarisesTimesMemoryMovesAndSolver) {
  const solver::GraphModel graph = TinyGraph();
  const std::string report = FormatPlanReport(TinyPlan(), &graph);
  EXPECT_THAT(report,
              AllOf(HasSubstr("plan for tiny: sync, OPTIMAL"),
                    HasSubstr("1.494 ms (kernels 1.000 ms = 66.9%, moves "
                              "0.494 ms = 33.1%)"),
                    HasSubstr("peak 4.00 MiB of 8.00 MiB budget (50.0%)"),
                    HasSubstr("all-fast needs"),
                    HasSubstr("1 fast (4.00 MiB), 1 slow (1.00 MiB)"),
                    HasSubstr("1 to fast: 4.00 MiB copied, 0.145 ms"),
                    HasSubstr("1 to slow: 4.00 MiB copied, 0.350 ms"),
                    HasSubstr("cbc 2.10.8: 120 variables (100 integer), 80 "
                              "rows, 400 nonzeros"),
                    HasSubstr("gap 0.94%"),
                    HasSubstr("largest moves (2 of 2, by bytes copied)")));
}

TEST(PlanReportTest, MoveTableIsAlignedAndLimited) {
  v1::Plan plan = TinyPlan();
  const std::string report =
      FormatPlanReport(plan, nullptr, PlanReportOptions{.top_moves = 1});
  EXPECT_THAT(report, HasSubstr("largest moves (1 of 2, by bytes copied)"));
  // Ties on bytes go to the longer move: the write to slow memory.
  EXPECT_THAT(report, HasSubstr("0  k0      a       to slow    4.00 MiB  "
                                "349.6 us"));
  EXPECT_THAT(report, Not(HasSubstr("144.6 us")));
  EXPECT_THAT(report, HasSubstr("1 fast, 1 slow"));  // no sizes without graph

  const std::string no_table =
      FormatPlanReport(plan, nullptr, PlanReportOptions{.top_moves = 0});
  EXPECT_THAT(no_table, Not(HasSubstr("largest moves")));
}

// TinyPlan with "a" dropped after k0 and re-made by re-running k0 before k2
// (instead of the two moves), "b" kept slow for it (as if k0 read it).
v1::Plan TinyPlanWithReRun() {
  v1::Plan plan = TinyPlan();
  plan.clear_moves();
  plan.set_move_time_us(0);
  v1::Recompute* step = plan.add_recomputes();
  step->set_tensor_id("a");
  step->set_kernel_id("k0");
  step->set_kernel_index(0);
  step->set_dropped_after_kernel_index(0);
  step->set_before_kernel_id("k2");
  step->set_before_kernel_index(2);
  step->set_config("|F");
  step->set_time_us(250.5);
  plan.set_recompute_time_us(250.5);
  plan.set_kernel_time_us(1250.5);
  plan.set_predicted_time_us(1250.5);
  plan.mutable_tensors(1)->set_kept_slow_until_kernel(2);
  return plan;
}

TEST(PlanReportTest, ReRunsAreCountedTimedAndListed) {
  const solver::GraphModel graph = TinyGraph();
  const std::string report = FormatPlanReport(TinyPlanWithReRun(), &graph);
  EXPECT_THAT(report,
              AllOf(HasSubstr("re-runs               1 (0.251 ms = 20.0%), "
                              "re-making 4.00 MiB; 1 input kept slow "
                              "(1.00 MiB)"),
                    HasSubstr("largest re-runs (1 of 1, by time)"),
                    HasSubstr("before  kernel re-run  tensor  dropped after"),
                    HasSubstr("     2  k0             a                   0  "
                              "250.5 us")));
  EXPECT_THAT(FormatPlanReport(TinyPlanWithReRun(), nullptr),
              HasSubstr("1 (0.251 ms = 20.0%); 1 input kept slow\n"));
  const std::string no_table = FormatPlanReport(
      TinyPlanWithReRun(), &graph, PlanReportOptions{.top_recomputes = 0});
  EXPECT_THAT(no_table, Not(HasSubstr("largest re-runs")));
  // A plan without re-runs says nothing about them.
  EXPECT_THAT(FormatPlanReport(TinyPlan(), &graph), Not(HasSubstr("re-run")));
}

TEST(PlanReportTest, BaselinesShowNoSolverModel) {
  v1::Plan plan = TinyPlan();
  plan.set_method(v1::METHOD_FIRST_TOUCH);
  plan.mutable_stats()->Clear();
  plan.mutable_stats()->set_termination(v1::TERMINATION_HEURISTIC);
  const std::string report = FormatPlanReport(plan, nullptr);
  EXPECT_THAT(report, AllOf(HasSubstr("first-touch, HEURISTIC"),
                            HasSubstr("first-touch baseline is a heuristic"),
                            Not(HasSubstr("variables"))));
}

TEST(PlanReportTest, FallbackShowsTheIlpThatRanAndItsBound) {
  v1::Plan plan = TinyPlan();
  plan.set_method(v1::METHOD_SYNCHRONOUS);  // the async solve's seed
  v1::SolverStats& stats = *plan.mutable_stats();
  stats.set_termination(v1::TERMINATION_HEURISTIC);
  stats.set_variables(1200);
  stats.set_objective_us(1000);
  stats.set_best_bound_us(970);
  stats.set_relative_gap(0.03);
  const std::string report = FormatPlanReport(plan, nullptr);
  EXPECT_THAT(report, AllOf(HasSubstr("sync, HEURISTIC"),
                            HasSubstr("this is the sync plan it started from"),
                            HasSubstr("1200 variables"), HasSubstr("gap 3.00%"),
                            Not(HasSubstr("baseline is a heuristic"))));
}

TEST(PlanReportTest, NoBoundShowsNoneAndUnknownGap) {
  v1::Plan plan = TinyPlan();
  v1::SolverStats& stats = *plan.mutable_stats();
  stats.set_termination(v1::TERMINATION_FEASIBLE);
  stats.set_variables(10);
  stats.set_best_bound_us(-std::numeric_limits<double>::infinity());
  stats.set_relative_gap(std::numeric_limits<double>::infinity());
  const std::string report = FormatPlanReport(plan, nullptr);
  EXPECT_THAT(report, AllOf(HasSubstr("bound none, gap unknown"),
                            Not(HasSubstr("inf"))));
}

TEST(PlanReportTest, ZeroBudgetAndEmptyPlanDoNotDivideByZero) {
  v1::Plan plan;
  const std::string report = FormatPlanReport(plan, nullptr);
  EXPECT_THAT(report, AllOf(HasSubstr("(unnamed graph)"), HasSubstr("none"),
                            HasSubstr("peak 0 B of 0 B budget (-)"),
                            Not(HasSubstr("nan")), Not(HasSubstr("inf"))));
}

TEST(VerifyReportTest, ShowsRecomputedFigures) {
  solver::VerifyReport verified;
  verified.predicted_time_us = 1494.1;
  verified.kernel_time_us = 1000;
  verified.move_time_us = 494.1;
  verified.peak_fast_bytes = 4 * kMiB;
  const std::string report = FormatVerifyReport(verified, TinyPlan(), 8 * kMiB);
  EXPECT_THAT(report,
              AllOf(HasSubstr("verified: the sync plan for tiny"),
                    HasSubstr("1.494 ms (kernels 1.000 ms, moves 0.494 ms)"),
                    HasSubstr("4.00 MiB of 8.00 MiB budget (50.0%)")));
}

}  // namespace
}  // namespace autotm::client
