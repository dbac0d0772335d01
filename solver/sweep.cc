#include "solver/sweep.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "solver/allocator.h"
#include "solver/baselines.h"
#include "solver/checked_math.h"
#include "solver/formulation.h"
#include "solver/status_macros.h"

namespace autotm::solver {
namespace {

// Sum over kernels of each kernel's fastest profiled time: no plan can be
// faster (moves cost >= 0), so a plan that reaches it is optimal.
double FastestPossibleUs(const GraphModel& graph, const ProfileModel& profile) {
  double total = 0;
  for (const KernelInfo& kernel : graph.kernels()) {
    const KernelCost* cost = profile.Find(kernel.signature_key);
    if (cost == nullptr) continue;  // CheckCoverage rules this out
    if (cost->separable()) {
      double time = cost->all_fast_time_us();
      for (double penalty : cost->slow_penalty_us()) {
        time += std::min(0.0, penalty);
      }
      total += time;
    } else if (!cost->table().empty()) {
      double best = cost->table().front().second;
      for (const auto& [mask, time] : cost->table())
        best = std::min(best, time);
      total += best;
    }
  }
  return total;
}

bool NoFasterThan(double a, double b) {
  return a <= b + 1e-9 * std::max({1.0, std::abs(a), std::abs(b)});
}

// Whether the formulation for `budget` is infeasible before any solving,
// and why. Monotone in the budget: the check compares bytes that must be
// fast at a kernel with its limit.
absl::StatusOr<std::optional<std::string>> BuildInfeasibility(
    const GraphModel& graph, const ProfileModel& profile,
    const PlanOptions& options, uint64_t budget) {
  FormulationOptions formulation_options;
  formulation_options.method = options.method;
  formulation_options.async_window = options.async_window;
  formulation_options.alignment_bytes = options.alignment_bytes;
  formulation_options.kernel_limit_bytes.assign(graph.num_kernels(), budget);
  AUTOTM_ASSIGN_OR_RETURN(
      Formulation formulation,
      Formulation::Build(graph, profile, formulation_options));
  return formulation.infeasible();
}

// Replaces `point`'s outcome with `smaller`'s plan, valid under this larger
// budget. Keeps this budget's solve statistics: its bound still holds, and a
// termination of OPTIMAL stays true since the kept plan is faster still.
void KeepSmaller(const SweepPoint& smaller, SweepPoint& point) {
  PlanOutcome& outcome = point.outcome;
  v1::SolverStats& stats = outcome.stats;
  const double time = smaller.outcome.plan->predicted_time_us();
  std::string why;
  if (outcome.plan.has_value()) {
    why = absl::StrFormat("its plan (%.3f ms) was slower than",
                          outcome.plan->predicted_time_us() / 1000);
  } else {
    why = absl::StrCat("it ended ", TerminationName(stats.termination()),
                       " without a plan, so");
    if (stats.termination() != v1::TERMINATION_CANCELLED) {
      stats.set_termination(v1::TERMINATION_HEURISTIC);
    }
  }
  point.note = absl::StrFormat(
      "kept the plan of the %u-byte budget: %s that one (%.3f ms)%s",
      smaller.budget_bytes, why, time / 1000,
      outcome.diagnostic.empty() ? "" : absl::StrCat("; ", outcome.diagnostic));
  outcome.plan = *smaller.outcome.plan;
  outcome.plan->set_budget_bytes(point.budget_bytes);
  stats.set_objective_us(time);
  // A bound of 0 is what the stats hold when the solve had none.
  if (stats.best_bound_us() > 0) {
    stats.set_relative_gap(
        std::max(0.0, (time - stats.best_bound_us()) / std::max(1e-10, time)));
  }
  *outcome.plan->mutable_stats() = stats;
  point.source = SweepSource::kKeptSmaller;
}

}  // namespace

const char* SweepSourceName(SweepSource source) {
  switch (source) {
    case SweepSource::kSolved:
      return "solved";
    case SweepSource::kAllFast:
      return "all-fast";
    case SweepSource::kKeptSmaller:
      return "kept-smaller";
    case SweepSource::kInfeasible:
      return "infeasible";
  }
  return "unknown";
}

ReferenceTimes ComputeReferenceTimes(const GraphModel& graph,
                                     const ProfileModel& profile,
                                     uint64_t alignment_bytes) {
  uint64_t roomy = 0;
  for (const TensorInfo& tensor : graph.tensors()) {
    SaturatingAddTo(roomy, AlignUp(tensor.size_bytes, alignment_bytes));
  }
  ReferenceTimes times;
  absl::StatusOr<PlanOutcome> all_fast =
      RunBaseline(graph, profile, v1::METHOD_ALL_FAST, roomy, alignment_bytes);
  if (all_fast.ok() && all_fast->plan.has_value()) {
    times.all_fast_us = all_fast->plan->predicted_time_us();
  }
  absl::StatusOr<PlanOutcome> all_slow =
      RunBaseline(graph, profile, v1::METHOD_ALL_SLOW, roomy, alignment_bytes);
  if (all_slow.ok() && all_slow->plan.has_value()) {
    times.all_slow_us = all_slow->plan->predicted_time_us();
  }
  return times;
}

namespace {

// Budgets [0, first_feasible) of `sorted` (ascending) are infeasible
// before any solving. The check is monotone in the budget, so bisect: the
// smallest and largest budgets first, then O(log n) builds in between.
// Returns first_feasible (sorted.size(): none is); records the largest
// infeasible budget and why in *result.
absl::StatusOr<int> FindFirstFeasible(const GraphModel& graph,
                                      const ProfileModel& profile,
                                      const PlanOptions& plan,
                                      const std::vector<uint64_t>& sorted,
                                      SweepResult* result) {
  const int n = static_cast<int>(sorted.size());
  AUTOTM_ASSIGN_OR_RETURN(std::optional<std::string> why,
                          BuildInfeasibility(graph, profile, plan, sorted[0]));
  if (!why.has_value()) return 0;
  int lo = 0;  // known infeasible
  std::string lo_why = *why;
  AUTOTM_ASSIGN_OR_RETURN(
      why, BuildInfeasibility(graph, profile, plan, sorted[n - 1]));
  int hi = n;  // known feasible (n: none is)
  if (!why.has_value()) {
    hi = n - 1;
  } else {
    lo = n - 1;
    lo_why = *why;
  }
  while (hi - lo > 1) {
    const int mid = lo + (hi - lo) / 2;
    AUTOTM_ASSIGN_OR_RETURN(
        why, BuildInfeasibility(graph, profile, plan, sorted[mid]));
    if (why.has_value()) {
      lo = mid;
      lo_why = *why;
    } else {
      hi = mid;
    }
  }
  result->largest_infeasible_bytes = sorted[lo];
  result->infeasible_diagnostic = std::move(lo_why);
  return hi;
}

// Reports budgets [0, first_feasible) of `sorted` infeasible, sharing the
// `seconds` the check took.
void AddInfeasiblePoints(
    const std::vector<uint64_t>& sorted, int first_feasible, double seconds,
    const std::function<void(const SweepPoint&)>& on_budget,
    SweepResult* result) {
  for (int i = 0; i < first_feasible; ++i) {
    SweepPoint point;
    point.budget_bytes = sorted[i];
    point.source = SweepSource::kInfeasible;
    point.outcome.stats.set_termination(v1::TERMINATION_INFEASIBLE);
    point.outcome.diagnostic =
        i == first_feasible - 1
            ? result->infeasible_diagnostic
            : absl::StrFormat("below the %u-byte budget, itself infeasible",
                              sorted[first_feasible - 1]);
    point.wall_seconds = seconds / first_feasible;
    if (on_budget) on_budget(point);
    result->points.push_back(std::move(point));
  }
}

// Every tensor fits by count; the all-fast plan is optimal if it can also
// be laid out in a pool of point->budget_bytes. Returns whether it could
// (then *point holds it).
absl::StatusOr<bool> SettleAllFast(const GraphModel& graph,
                                   const ProfileModel& profile,
                                   uint64_t alignment, SweepPoint* point) {
  AUTOTM_ASSIGN_OR_RETURN(PlanOutcome outcome,
                          RunBaseline(graph, profile, v1::METHOD_ALL_FAST,
                                      point->budget_bytes, alignment));
  if (!outcome.plan.has_value()) return false;
  const double time = outcome.plan->predicted_time_us();
  outcome.stats.set_termination(v1::TERMINATION_OPTIMAL);
  outcome.stats.set_objective_us(time);
  outcome.stats.set_best_bound_us(time);
  outcome.stats.set_relative_gap(0);
  *outcome.plan->mutable_stats() = outcome.stats;
  point->outcome = std::move(outcome);
  point->source = SweepSource::kAllFast;
  point->note =
      "every tensor fits: the all-fast plan, optimal (each kernel at "
      "its fastest profiled time, no moves)";
  return true;
}

// Plans point->budget_bytes with PlanGraph, warm-started from `previous`
// (the largest budget settled so far, or null), and keeps `previous`'s plan
// when it solved nothing faster.
absl::Status SolveBudget(const GraphModel& graph, const ProfileModel& profile,
                         const SweepOptions& options, Solver* solver,
                         const SweepPoint* previous, SweepPoint* point,
                         SweepResult* result) {
  PlanOptions plan_options = options.plan;
  plan_options.budget_bytes = point->budget_bytes;
  plan_options.warm_start = options.warm_start && previous != nullptr
                                ? &*previous->outcome.plan
                                : nullptr;
  AUTOTM_ASSIGN_OR_RETURN(point->outcome,
                          PlanGraph(graph, profile, plan_options, solver));
  if (point->outcome.warm_start_used) ++result->warm_starts_used;
  // PlanGraph itself hands the smaller budget's plan back when it
  // solved nothing faster at this budget.
  if (point->outcome.source == PlanSource::kWarmStart && previous != nullptr) {
    point->source = SweepSource::kKeptSmaller;
    point->note =
        absl::StrFormat("kept the plan of the %u-byte budget: %s",
                        previous->budget_bytes, point->outcome.diagnostic);
  }
  if (previous == nullptr &&
      point->outcome.stats.termination() == v1::TERMINATION_INFEASIBLE) {
    // Proven by the solver rather than by the build check.
    result->largest_infeasible_bytes = point->budget_bytes;
    result->infeasible_diagnostic = point->outcome.diagnostic;
  }
  if (previous != nullptr &&
      (!point->outcome.plan.has_value() ||
       !NoFasterThan(point->outcome.plan->predicted_time_us(),
                     previous->outcome.plan->predicted_time_us()))) {
    KeepSmaller(*previous, *point);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SweepResult> PlanSweep(
    const GraphModel& graph, const ProfileModel& profile,
    const std::vector<uint64_t>& budgets, const SweepOptions& options,
    Solver* solver, const std::function<void(const SweepPoint&)>& on_budget) {
  if (budgets.empty()) {
    return absl::InvalidArgumentError("a sweep needs at least one budget");
  }
  AUTOTM_RETURN_IF_ERROR(CheckCoverage(graph, profile));
  const bool ilp = IsIlpMethod(options.plan.method);
  if (ilp && solver == nullptr) {
    return absl::InvalidArgumentError("an ILP method needs a solver backend");
  }
  // Checked here too: a sweep whose budgets are all infeasible or all-fast
  // never reaches PlanGraph's own check.
  if (!(options.plan.time_limit_seconds > 0) ||
      !(options.plan.relative_gap >= 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "time limit must be > 0 s (got ", options.plan.time_limit_seconds,
        ") and relative gap >= 0 (got ", options.plan.relative_gap, ")"));
  }
  std::vector<uint64_t> sorted = budgets;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  const int n = static_cast<int>(sorted.size());
  const auto cancelled = [&options] {
    return options.plan.cancel != nullptr && options.plan.cancel->load();
  };

  SweepResult result;
  // `previous` below points into `points`: no reallocation.
  result.points.reserve(n);
  const uint64_t alignment = options.plan.alignment_bytes;
  result.aligned_peak_bytes = AlignedPeakLiveBytes(graph, alignment);

  const ReferenceTimes references =
      ComputeReferenceTimes(graph, profile, alignment);
  result.all_fast_time_us = references.all_fast_us;
  result.all_slow_time_us = references.all_slow_us;
  const bool all_fast_optimal =
      result.all_fast_time_us.has_value() &&
      NoFasterThan(*result.all_fast_time_us, FastestPossibleUs(graph, profile));

  int first_feasible = 0;
  if (ilp) {
    const absl::Time start = absl::Now();
    AUTOTM_ASSIGN_OR_RETURN(
        first_feasible,
        FindFirstFeasible(graph, profile, options.plan, sorted, &result));
    AddInfeasiblePoints(sorted, first_feasible,
                        absl::ToDoubleSeconds(absl::Now() - start), on_budget,
                        &result);
  }

  // The plan of the largest budget settled so far: the fastest so far.
  const SweepPoint* previous = nullptr;
  for (int i = first_feasible; i < n; ++i) {
    if (cancelled()) {
      result.cancelled = true;
      break;
    }
    const absl::Time start = absl::Now();
    SweepPoint point;
    point.budget_bytes = sorted[i];
    bool settled = false;
    if (ilp && all_fast_optimal && sorted[i] >= result.aligned_peak_bytes) {
      AUTOTM_ASSIGN_OR_RETURN(settled,
                              SettleAllFast(graph, profile, alignment, &point));
    }
    if (!settled) {
      AUTOTM_RETURN_IF_ERROR(SolveBudget(graph, profile, options, solver,
                                         previous, &point, &result));
    }
    point.wall_seconds = absl::ToDoubleSeconds(absl::Now() - start);
    if (on_budget) on_budget(point);
    result.points.push_back(std::move(point));
    if (result.points.back().outcome.plan.has_value()) {
      previous = &result.points.back();
    }
    if (cancelled()) {
      result.cancelled = true;
      break;
    }
  }
  return result;
}

}  // namespace autotm::solver
