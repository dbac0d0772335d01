#include "solver/planner.h"

#include <cmath>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "solver/baselines.h"
#include "solver/formulation.h"
#include "solver/schedule.h"
#include "solver/status_macros.h"

namespace autotm::solver {
namespace {

v1::Termination ToProto(SolveTermination termination) {
  switch (termination) {
    case SolveTermination::kOptimal:
      return v1::TERMINATION_OPTIMAL;
    case SolveTermination::kFeasible:
      return v1::TERMINATION_FEASIBLE;
    case SolveTermination::kInfeasible:
      return v1::TERMINATION_INFEASIBLE;
    case SolveTermination::kNoSolution:
      return v1::TERMINATION_NO_SOLUTION;
    case SolveTermination::kCancelled:
      return v1::TERMINATION_CANCELLED;
  }
  return v1::TERMINATION_UNSPECIFIED;
}

bool IsIlpMethod(v1::Method method) {
  return method == v1::METHOD_STATIC || method == v1::METHOD_SYNCHRONOUS ||
         method == v1::METHOD_ASYNCHRONOUS;
}

}  // namespace

const char* MethodName(v1::Method method) {
  switch (method) {
    case v1::METHOD_STATIC:
      return "static";
    case v1::METHOD_SYNCHRONOUS:
      return "sync";
    case v1::METHOD_ASYNCHRONOUS:
      return "async";
    case v1::METHOD_ALL_FAST:
      return "all-fast";
    case v1::METHOD_ALL_SLOW:
      return "all-slow";
    case v1::METHOD_FIRST_TOUCH:
      return "first-touch";
    default:
      return "unspecified";
  }
}

const char* TerminationName(v1::Termination termination) {
  switch (termination) {
    case v1::TERMINATION_OPTIMAL:
      return "OPTIMAL";
    case v1::TERMINATION_FEASIBLE:
      return "FEASIBLE";
    case v1::TERMINATION_INFEASIBLE:
      return "INFEASIBLE";
    case v1::TERMINATION_NO_SOLUTION:
      return "NO_SOLUTION";
    case v1::TERMINATION_CANCELLED:
      return "CANCELLED";
    case v1::TERMINATION_HEURISTIC:
      return "HEURISTIC";
    default:
      return "UNSPECIFIED";
  }
}

absl::StatusOr<PlanOutcome> PlanGraph(const GraphModel& graph,
                                      const ProfileModel& profile,
                                      const PlanOptions& options,
                                      Solver* solver) {
  AUTOTM_RETURN_IF_ERROR(CheckCoverage(graph, profile));
  if (!IsIlpMethod(options.method)) {
    return RunBaseline(graph, profile, options.method, options.budget_bytes);
  }
  if (solver == nullptr) {
    return absl::InvalidArgumentError("an ILP method needs a solver backend");
  }
  if (!(options.time_limit_seconds > 0) || !(options.relative_gap >= 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "time limit must be > 0 s (got ", options.time_limit_seconds,
        ") and relative gap >= 0 (got ", options.relative_gap, ")"));
  }

  const absl::Time build_start = absl::Now();
  FormulationOptions formulation_options;
  formulation_options.method = options.method;
  formulation_options.async_window = options.async_window;
  formulation_options.kernel_limit_bytes.assign(graph.num_kernels(),
                                                options.budget_bytes);
  AUTOTM_ASSIGN_OR_RETURN(
      Formulation formulation,
      Formulation::Build(graph, profile, formulation_options));
  const IlpModel& model = formulation.model();

  PlanOutcome outcome;
  v1::SolverStats& stats = outcome.stats;
  stats.set_solver(solver->name());
  stats.set_variables(model.num_columns());
  stats.set_integer_variables(model.num_integer());
  stats.set_rows(model.num_rows());
  stats.set_nonzeros(model.num_nonzeros());
  stats.set_build_seconds(absl::ToDoubleSeconds(absl::Now() - build_start));
  if (formulation.infeasible().has_value()) {
    stats.set_termination(v1::TERMINATION_INFEASIBLE);
    outcome.diagnostic = *formulation.infeasible();
    return outcome;
  }

  SolveParams params;
  params.time_limit_seconds = options.time_limit_seconds;
  params.relative_gap = options.relative_gap;
  params.threads = options.threads;
  params.cancel = options.cancel;
  params.on_progress = options.on_progress;
  AUTOTM_ASSIGN_OR_RETURN(SolveResult result, solver->Solve(model, params));
  stats.set_solve_seconds(result.solve_seconds);
  stats.set_termination(ToProto(result.termination));
  stats.set_nodes(result.nodes);
  if (std::isfinite(result.best_bound))
    stats.set_best_bound_us(result.best_bound);
  if (!result.has_solution()) {
    outcome.diagnostic =
        result.termination == SolveTermination::kInfeasible
            ? "the solver proved that no plan fits the budget (the must-be-"
              "fast tensors of some kernels cannot all fit together)"
            : absl::StrFormat(
                  "no plan was found within %.1f s; raise the time "
                  "limit",
                  options.time_limit_seconds);
    return outcome;
  }

  AUTOTM_ASSIGN_OR_RETURN(
      v1::Plan plan,
      AssemblePlan(graph, profile, formulation.Decode(result.values),
                   options.method, options.budget_bytes));
  // The plan's own accounting must reproduce the ILP objective: a mismatch
  // means the formulation and the plan semantics disagree.
  const double objective = result.objective;
  const double predicted = plan.predicted_time_us();
  if (std::abs(predicted - objective) >
      1e-6 * std::max({std::abs(objective), std::abs(predicted), 1.0})) {
    return absl::InternalError(absl::StrFormat(
        "plan predicted time %.6f us differs from the ILP objective %.6f us",
        predicted, objective));
  }
  stats.set_objective_us(predicted);
  if (std::isfinite(result.best_bound)) {
    stats.set_relative_gap(std::max(
        0.0, (predicted - result.best_bound) / std::max(1e-10, predicted)));
  }
  *plan.mutable_stats() = stats;
  outcome.plan = std::move(plan);
  return outcome;
}

}  // namespace autotm::solver
