// Placement baselines that need no ILP, with the same Plan output.
#ifndef AUTOTM_SOLVER_BASELINES_H_
#define AUTOTM_SOLVER_BASELINES_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "autotm/v1/plan.pb.h"
#include "solver/allocator.h"
#include "solver/graph_model.h"
#include "solver/planner.h"
#include "solver/profile_model.h"

namespace autotm::solver {

// Runs a baseline: METHOD_ALL_FAST (every free tensor fast; INFEASIBLE
// outcome when that exceeds the budget at some kernel, naming it),
// METHOD_ALL_SLOW (every free tensor slow), or METHOD_FIRST_TOUCH (AutoTM's
// NUMA baseline: in kernel order, each tensor is created fast if it fits
// beside the fast tensors live at that moment, and never moves). Fixed
// tensors stay in their tier; fixed-fast tensors are reserved for their
// whole lifetime before any free tensor is placed, so that an early free
// tensor cannot take the room a pinned one needs later (INFEASIBLE outcome,
// naming the kernel, when the pinned tensors alone exceed the budget).
// Sizes count rounded up to `alignment_bytes`, and every plan gets pool
// offsets (AssignOffsets). When fragmentation keeps the first-touch layout
// from fitting, the free tensors whose blocks overflow are demoted to the
// slow tier and the others keep that layout's offsets: one AssignOffsets
// call, unless a block fixed to the fast tier overflows; then the layout is
// redone after the demotions, at most 3 calls in all, the last with the
// fixed tensors alone (INFEASIBLE outcome, saying so, when even they do not
// lay out). ALL_FAST reports INFEASIBLE when its layout overflows. Plans
// carry stats.termination = HEURISTIC and stats.allocation_rounds = the
// AssignOffsets calls. FailedPrecondition when a kernel's resulting
// configuration is missing from the profile; InvalidArgument for any other
// method. `skyline_layouts`: whether the layouts try the skyline after best
// fit (AssignOffsets; PlanOptions::skyline_layouts).
absl::StatusOr<PlanOutcome> RunBaseline(
    const GraphModel& graph, const ProfileModel& profile, v1::Method method,
    uint64_t budget_bytes, uint64_t alignment_bytes = kDefaultAlignmentBytes,
    bool skyline_layouts = true);

}  // namespace autotm::solver

#endif  // AUTOTM_SOLVER_BASELINES_H_
