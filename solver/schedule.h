// Turns per-tensor tier schedules into a Plan: the common back end of the ILP
// and the baselines. It derives each kernel's IO configuration from where its
// operands are, prices kernels and moves from the profile, and accounts fast
// memory. (The verifier re-derives all of this independently.)
#ifndef AUTOTM_SOLVER_SCHEDULE_H_
#define AUTOTM_SOLVER_SCHEDULE_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "autotm/v1/plan.pb.h"
#include "solver/graph_model.h"
#include "solver/profile_model.h"

namespace autotm::solver {

struct ScheduledMove {
  int kernel = 0;
  v1::MoveDirection direction = v1::MOVE_DIRECTION_UNSPECIFIED;
  bool sync = true;
};

// A recomputation (v1::Recompute): the tensor is dropped from both tiers
// after kernel `dropped_after` (after its TO_SLOW move there, if any) and
// made again, in the fast tier, by re-running its producer right before
// kernel `before` (after any TO_FAST moves of other tensors there).
// The producer may have several outputs: the others are written into
// scratch freed right after the re-run (v1::Recompute.scratch_bytes).
struct ScheduledRecompute {
  int dropped_after = 0;
  int before = 0;
  // Re-run chains: tensors made again first, in scratch freed after the
  // re-run, in the order they are re-run (deepest producer first). The
  // last is an input of the tensor's producer; each other entry is an input
  // of the next entry's producer. Each entry's producer reads tensors in
  // memory at `before` (live and not dropped), kept in the slow tier past
  // their life, or the entry before it; an entry may be live there (it is
  // then re-made into scratch all the same, whether the plan drops it there
  // or not). Empty: a one-level re-run, whose dead inputs must be kept in
  // the slow tier (TensorSchedule.kept_slow).
  std::vector<int> remade_inputs = {};
};

// Where one tensor lives over its lifetime.
struct TensorSchedule {
  v1::Tier creation_tier = v1::TIER_SLOW;
  // Ordered by kernel; at one kernel a TO_FAST precedes a TO_SLOW.
  std::vector<ScheduledMove> moves = {};
  // Ordered by kernel, disjoint; no move of the tensor lies strictly inside
  // a dropped stretch (dropped_after, before), nor a TO_FAST at `before`.
  std::vector<ScheduledRecompute> recomputes = {};
  // Kept in the slow tier after its last kernel, for re-runs that read it
  // there (it must end its life slow: moved there at its last kernel).
  bool kept_slow = false;
};

// Tier of every tensor at every kernel where it is live, derived from a
// schedule: tiers[t][k - first_live(t)]; TIER_UNSPECIFIED while the tensor
// is dropped for a recomputation. Tensors without a schedule entry (a short
// schedule) are reported slow. Memory and time are the sum of the tensors'
// lifetimes (quadratic in kernels when long-lived tensors such as weights
// are live everywhere): only the ILP formulation, which has per-kernel
// columns anyway, uses it; everything else uses TierRunsOverTime().
std::vector<std::vector<v1::Tier>> TiersOverTime(
    const GraphModel& graph, const std::vector<TensorSchedule>& schedule);

// A stretch of a tensor's life in one tier: from kernel `first_kernel` up to
// the next run's first kernel (the tensor's last_live for the last run).
struct TierRun {
  int first_kernel = 0;
  v1::Tier tier = v1::TIER_SLOW;
};

// The same tiers as TiersOverTime(), as runs: runs[t] starts at
// first_live(t), ascends by first_kernel, and neighbouring runs differ in
// tier, so a tensor has at most 2 * (moves + recomputations) + 1 runs
// whatever its lifetime. Time and memory O(tensors + moves +
// recomputations). A malformed schedule (as AssemblePlan refuses it) yields
// whatever its replay produced; tensors without a schedule entry are slow.
std::vector<std::vector<TierRun>> TierRunsOverTime(
    const GraphModel& graph, const std::vector<TensorSchedule>& schedule);

// The tier in `runs` (one tensor's, as above) at `kernel`, which must lie in
// the tensor's live range. O(log runs).
v1::Tier TierAt(const std::vector<TierRun>& runs, int kernel);

// Builds the Plan for `schedule` (one entry per tensor). Moves that change
// nothing (a TO_FAST of a fast tensor, a TO_SLOW of a slow one) are dropped.
// FailedPrecondition when a kernel's resulting IO configuration is missing
// from the profile (naming kernel and config); InvalidArgument for a
// malformed schedule: a move outside the live range or out of kernel order,
// two moves at one kernel other than TO_FAST then TO_SLOW, a TO_FAST at the
// producer (no copy exists yet), a fixed tensor created elsewhere or moved,
// a recomputation whose inputs are not all present at its kernel (live and
// not dropped, kept slow, or made again by its remade_inputs chain, whose
// producers read likewise), that drops the
// tensor where a kernel reads it, or that overlaps a move.
// Recomputations are priced at the producer's profiled time under its
// inputs' tiers at the re-run (FailedPrecondition when the profile lacks
// that configuration), plus each remade input's producer likewise, and count
// in kernel_time_us.
// Does not check the budget: callers compare plan.peak_fast_bytes() with it,
// which includes, at each re-run, everything fast at its kernel plus the
// re-run's scratch (v1::Recompute.scratch_bytes).
// Leaves plan.stats() empty; sets plan.table_collapse() when `profile`
// collapses tables (ProfileModel::table_collapse()).
absl::StatusOr<v1::Plan> AssemblePlan(
    const GraphModel& graph, const ProfileModel& profile,
    const std::vector<TensorSchedule>& schedule, v1::Method method,
    uint64_t budget_bytes);

}  // namespace autotm::solver

#endif  // AUTOTM_SOLVER_SCHEDULE_H_
