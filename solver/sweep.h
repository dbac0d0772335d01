// Budget sweeps: plans one graph under several fast-memory budgets in one
// call, reusing work between them, to draw predicted time against fast
// memory.
#ifndef AUTOTM_SOLVER_SWEEP_H_
#define AUTOTM_SOLVER_SWEEP_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "autotm/v1/plan.pb.h"
#include "solver/graph_model.h"
#include "solver/planner.h"
#include "solver/profile_model.h"
#include "solver/solver.h"

namespace autotm::solver {

struct SweepOptions {
  // Per-budget planning options. `plan.budget_bytes` and `plan.warm_start`
  // are ignored (the sweep sets them); the time limit applies to each
  // budget; `plan.cancel` stops the whole sweep (see SweepResult).
  PlanOptions plan;
  // Start each ILP solve from the plan of the next smaller budget. Default
  // true; false solves every budget from scratch (for comparisons).
  bool warm_start = true;
};

// How a budget's point was settled.
enum class SweepSource {
  kSolved,   // PlanGraph at this budget
  kAllFast,  // budget >= the aligned peak: the all-fast plan, proven optimal
  kKeptSmaller,  // the solve found nothing better than a smaller budget's plan
  kInfeasible,   // below the smallest feasible budget: not solved
};

const char* SweepSourceName(SweepSource source);  // "solved", "all-fast", ...

struct SweepPoint {
  uint64_t budget_bytes = 0;
  SweepSource source = SweepSource::kSolved;
  // As PlanGraph's outcome at this budget: `outcome.plan` is set when a plan
  // exists, `outcome.stats.termination()` says how it ended, and
  // `outcome.warm_start_used` whether the smaller budget's plan was the MIP
  // start. For kKeptSmaller, `plan` is the smaller budget's plan with
  // budget_bytes set to this budget, and the stats keep this budget's solve
  // (its bound still holds) with the kept plan's objective and gap.
  PlanOutcome outcome;
  // Wall-clock seconds spent on this budget.
  double wall_seconds = 0;
  // Says what the sweep did beyond PlanGraph (kept plan, shortcut); empty
  // for a plain solve.
  std::string note;
};

struct SweepResult {
  // One point per distinct budget, in ascending budget order, for every
  // budget settled before a cancellation.
  std::vector<SweepPoint> points;
  // Sum of tensor sizes live at the busiest kernel, each rounded up to the
  // alignment: at or above it the all-fast plan fits by count.
  uint64_t aligned_peak_bytes = 0;
  // ComputeReferenceTimes(), for reference.
  std::optional<double> all_fast_time_us;
  std::optional<double> all_slow_time_us;
  // Set when budgets below the smallest feasible one were found: the
  // largest such budget and why it is infeasible (reported once rather than
  // per point; those points carry it too).
  std::optional<uint64_t> largest_infeasible_bytes;
  std::string infeasible_diagnostic;
  // True when PlanOptions::cancel stopped the sweep: `points` then ends with
  // the budget that was being solved (CANCELLED, with its incumbent if any).
  bool cancelled = false;
  // Solves that started from a smaller budget's plan.
  int warm_starts_used = 0;
};

// Predicted times of the all-fast plan (in a pool with room for every
// tensor side by side, so that its layout always fits) and of the all-slow
// plan: the ends of a sweep's curve. nullopt where the profile lacks a
// configuration the baseline needs.
struct ReferenceTimes {
  std::optional<double> all_fast_us;
  std::optional<double> all_slow_us;
};
ReferenceTimes ComputeReferenceTimes(const GraphModel& graph,
                                     const ProfileModel& profile,
                                     uint64_t alignment_bytes);

// Plans `graph` with `profile` under every budget in `budgets` (bytes, any
// order; duplicates are planned once) with `options.plan`:
//  * Budgets below the smallest feasible one are found by bisection on the
//    formulation's cheap infeasibility check and reported INFEASIBLE without
//    solving; one that the solver itself proves infeasible is reported as
//    such.
//  * Budgets at or above the aligned peak get the all-fast plan directly
//    when it is provably optimal (every kernel at its fastest profiled time,
//    no moves), else are solved like the others.
//  * The others are solved in ascending order, each ILP started from the
//    previous budget's plan (a plan that fits a smaller budget fits a larger
//    one) when `options.warm_start`.
//  * The curve is monotone: when a budget's plan is slower than a smaller
//    budget's (possible at a time limit or in the fragmentation loop), or it
//    has none, the smaller budget's plan is kept instead (kKeptSmaller).
// `on_budget`, when set, is called after each point is settled, in order,
// on the calling thread. Deterministic when the solver is (threads = 0) and
// no time limit is hit.
// Errors: as PlanGraph (FailedPrecondition for a profile that lacks kernels,
// InvalidArgument for bad options or an empty budget list); no points are
// returned with an error.
absl::StatusOr<SweepResult> PlanSweep(
    const GraphModel& graph, const ProfileModel& profile,
    const std::vector<uint64_t>& budgets, const SweepOptions& options,
    Solver* solver,
    const std::function<void(const SweepPoint&)>& on_budget = nullptr);

}  // namespace autotm::solver

#endif  // AUTOTM_SOLVER_SWEEP_H_
