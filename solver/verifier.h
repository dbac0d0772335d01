// An independent check of a Plan against its graph, profile and budget.
// Written apart from the formulation on purpose: it replays the plan kernel
// by kernel from the Plan message alone.
#ifndef AUTOTM_SOLVER_VERIFIER_H_
#define AUTOTM_SOLVER_VERIFIER_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "autotm/v1/plan.pb.h"
#include "solver/graph_model.h"
#include "solver/profile_model.h"

namespace autotm::solver {

struct VerifyReport {
  // Recomputed from the profile, microseconds.
  double predicted_time_us = 0;
  double kernel_time_us = 0;
  double move_time_us = 0;
  // Of kernel_time_us: the recomputations' re-runs.
  double recompute_time_us = 0;
  uint64_t peak_fast_bytes = 0;
  // Fast-memory bytes live at each kernel.
  std::vector<uint64_t> fast_bytes_per_kernel;
};

// Replays `plan` over `graph` and checks every invariant:
//  - `profile` prices tables as the plan was priced: collapsed with the
//    tolerances of plan.table_collapse(), or as given when it is absent
//    (build the model with TableCollapseOptionsOf(plan)), and the plan's
//    table_collapse counts and worst residual are the profile's for `graph`;
//  - one placement per tensor and one choice per kernel, in graph order, with
//    matching ids; fixed tensors only in their tier;
//  - moves in kernel order, inside the tensor's live range, each changing the
//    tier (a TO_FAST reads the slow copy that exists), with the right
//    bytes_copied (0 when dropping a clean fast copy);
//  - each kernel's configuration matches where its operands are and exists in
//    the profile, and no operand is dropped for a recomputation there;
//  - recomputations (v1::Recompute): the producer re-run is the tensor's,
//    with that single output; drop and re-run lie in its life with a kernel
//    between, in plan order, not overlapping, with no move of the tensor
//    while dropped; every input of the producer is live and not dropped at
//    the re-run, or ends its life slow and is kept there until the re-run
//    (kept_slow_until_kernel, which must be the last such re-run's kernel); its
//    config is its inputs' tiers there (output fast) and its time the
//    profile's; recompute_time_us is their sum, counted in kernel_time_us. The
//    recomputed tensor is fast from the re-run's kernel on, so the budget check
//    there covers it (the re-run itself holds a subset of that kernel's fast
//    tensors: the kernel's outputs are made after it);
//  - fast bytes live at every kernel <= budget_bytes;
//  - the plan's predicted, kernel and move times and peak fast bytes agree
//    with the recomputed ones to 1e-6 relative;
//  - each tensor's fast_intervals are exactly the maximal stretches where
//    the moves leave it fast; when offsets are assigned (alignment_bytes >
//    0, required when `require_offsets`), every offset is aligned, every
//    block [offset, offset + aligned size) lies inside the budget, no two
//    blocks live at the same kernel overlap, and pool_bytes_used is the
//    highest block end.
// A METHOD_TWO_LEVEL_MEMORY plan (a 2LM simulation) is checked for the
// structure above, every tensor slow and no move, and its times and
// two_level_memory counts against a new simulation of the same cache
// (solver/two_level_memory.h).
// Returns the recomputed figures, or InvalidArgument naming the first broken
// invariant (kernel, tensor, and the numbers involved).
// The TableCollapseOptions a plan was priced with: plan.table_collapse()'s
// tolerances, or Disabled() when it has none (collapse off, or a plan made
// before tables were collapsed).
TableCollapseOptions TableCollapseOptionsOf(const v1::Plan& plan);

absl::StatusOr<VerifyReport> VerifyPlan(const GraphModel& graph,
                                        const ProfileModel& profile,
                                        const v1::Plan& plan,
                                        uint64_t budget_bytes,
                                        bool require_offsets = false);

// VerifyPlan without a profile, for clients that have none (issue 17: a
// client verifies a served plan against the graph it sent): every check
// above except those that price the plan (kernel times against the
// profile's, move times against the bandwidths, the table-collapse summary
// and the plan's totals). Structure, bytes_copied, the budget at every
// kernel, fast_bytes, peak_fast_bytes, fast intervals and offsets are all
// checked. The report's kernel_time_us sums the plan's own kernel times;
// move_time_us and predicted_time_us are 0.
absl::StatusOr<VerifyReport> VerifyPlanStructure(const GraphModel& graph,
                                                 const v1::Plan& plan,
                                                 uint64_t budget_bytes,
                                                 bool require_offsets = false);

}  // namespace autotm::solver

#endif  // AUTOTM_SOLVER_VERIFIER_H_
