// A fast placement heuristic: a valid plan, offsets included, in well under a
// second on the zoo's graphs and in seconds on 10k-kernel graphs, without an
// ILP. It is the planner's fallback and the first candidate of every ILP call
// (docs/FORMULATION.md, "The heuristic"), and the `heuristic` variant for
// callers who want a plan now.
//
// Method: Lagrangian relaxation of the fast-memory rows. With a price per
// byte on every kernel's fast memory the placement problem falls apart into
// one shortest path per tensor through its lifetime flow graph (the
// synchronous ILP's, docs/FORMULATION.md, "Decision variables"), priced with
// a separable view of each kernel's cost (the slow penalty of each operand
// alone). Subgradient steps (Polyak's rule against the best plan so far)
// raise prices where the paths overflow the budget. Each round's paths are
// repaired into a plan that fits - a sweep over the kernels that, where the
// fast bytes exceed the limit, cuts short or drops the fast stretches that
// lose least per byte - and then filled: slow uses, whole lifetimes and gaps
// between fast stretches are made fast while they fit, best gain per byte
// first. The best repaired plan, priced by the real profile, is laid out in
// the pool; when fragmentation keeps it out, the limits near the overflow
// are lowered and the repair runs again, and in the end the tensors whose
// blocks overflow are made slow (as first touch does), which always fits.
// First touch competes with the result (HeuristicOptions::
// compare_first_touch): the heuristic never returns the slower of the two.
#ifndef AUTOTM_SOLVER_HEURISTIC_H_
#define AUTOTM_SOLVER_HEURISTIC_H_

#include <atomic>
#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "solver/defaults.h"
#include "solver/graph_model.h"
#include "solver/planner.h"
#include "solver/profile_model.h"

namespace autotm::solver {

struct HeuristicOptions {
  // False: tensors never move (the static variant's plans).
  bool allow_moves = true;
  // Stops pricing rounds after this long or this many rounds, whichever
  // comes first; the plan in hand is then laid out, with layout rounds
  // only while this limit lasts (laying out a 6,000-kernel graph's plan
  // takes about a second; the last layout may end past the limit).
  double time_limit_seconds = 5;
  int max_rounds = 150;
  uint64_t alignment_bytes = kDefaultAlignmentBytes;
  // Whether the layouts try the skyline after best fit (AssignOffsets;
  // PlanOptions::skyline_layouts).
  bool skyline_layouts = true;
  const std::atomic<bool>* cancel = nullptr;
  // RunHeuristic: return first touch's plan when it is faster. The planner,
  // which offers first touch itself, turns this off. Default true.
  bool compare_first_touch = true;
};

// Plans `graph` under `budget_bytes` with the heuristic. The plan's method is
// METHOD_HEURISTIC, its moves (if any) are synchronous and sit at the
// tensors' users, so it is a valid plan of the synchronous and asynchronous
// variants too (and of the static one with allow_moves = false). Plans carry
// stats.termination = HEURISTIC. Like RunBaseline: an INFEASIBLE outcome when
// the tensors fixed to the fast tier exceed the budget at some kernel (naming
// it); FailedPrecondition when the profile lacks a kernel's configuration
// that every plan needs.
absl::StatusOr<PlanOutcome> RunHeuristic(const GraphModel& graph,
                                         const ProfileModel& profile,
                                         uint64_t budget_bytes,
                                         const HeuristicOptions& options = {});

// Fits `plan` - a plan of `graph` whose fast tensors do not lay out in a
// pool of `budget_bytes` (fragmentation), e.g. the ILP's optimum - into the
// pool the way the heuristic fits its own: lower the limits around the
// overflow, cut back the fast stretches that lose least per byte there, fill
// what fits again, and as a last resort make the overflowing tensors slow.
// Layout rounds run for at most options.time_limit_seconds, then the
// overflowing tensors are made slow. Returns the laid-out plan (its method
// kept), or nullopt when the plan has
// moves away from the tensors' users (asynchronous ones) or moves that
// `options.allow_moves` forbids. Errors as AssemblePlan's.
absl::StatusOr<std::optional<v1::Plan>> RepairLayout(
    const GraphModel& graph, const ProfileModel& profile, uint64_t budget_bytes,
    const v1::Plan& plan, const HeuristicOptions& options = {});

}  // namespace autotm::solver

#endif  // AUTOTM_SOLVER_HEURISTIC_H_
