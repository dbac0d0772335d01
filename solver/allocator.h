// Placing fast-tier tensors at concrete offsets in a pool of a fixed size.
#ifndef AUTOTM_SOLVER_ALLOCATOR_H_
#define AUTOTM_SOLVER_ALLOCATOR_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "autotm/v1/plan.pb.h"
#include "solver/defaults.h"
#include "solver/graph_model.h"

namespace autotm::solver {

// Rounds `bytes` up to a multiple of `alignment` (any positive number; 0 or
// 1 leave it unchanged).
uint64_t AlignUp(uint64_t bytes, uint64_t alignment);

// max over kernels of the fast-pool bytes that running every live tensor
// fast takes, sizes rounded up to `alignment`: the budget at which ALL_FAST
// fits by count ("100%" of a graph's peak).
uint64_t AlignedPeakLiveBytes(const GraphModel& graph, uint64_t alignment);

struct AllocationReport {
  // True when every fast interval got an offset inside the pool.
  bool fits = false;
  // Pool bytes the layout uses (more than the pool when !fits: overflowing
  // blocks are placed past its end, which measures by how much).
  uint64_t required_bytes = 0;
  // Kernels where a block that does not fit is live (its first and last
  // kernel), sorted and unique.
  std::vector<int> overflow_kernels;
  // Layouts tried after the classic orders, moving the blocks that
  // overflowed earlier each time (0 when a classic order fit).
  int repair_rounds = 0;
  // Their work, in BestFitLayout::work() steps.
  int64_t repair_work = 0;
  // True when the time cap (max_repair_time) ended the repair layouts
  // while rounds and work were left and no layout fitted yet: only then
  // does the result depend on the machine's speed and load.
  bool repair_stopped_by_time = false;
};

// At most this many squeaky-wheel layouts follow the classic orders by
// default.
inline constexpr int kMaxLayoutRepairRounds = 16;

// Assigns an offset to every fast interval of `plan` (TensorPlacement
// .fast_intervals, as AssemblePlan fills them). The plan is static, so the
// layout is computed offline, as ML compilers lay out activation arenas:
// blocks are placed one by one, each in the smallest gap left by the already
// placed blocks whose lifetimes overlap its own (lowest offset among equal
// gaps), or above them all; several placement orders are tried (largest,
// longest-lived, largest area, earliest first) and the first layout that
// fits the pool is kept; when none fits, up to kMaxLayoutRepairRounds more
// layouts move the blocks that overflowed ahead, and the smallest is kept.
// Writes offset_bytes into the plan and sets plan.alignment_bytes and
// plan.pool_bytes_used. InvalidArgument when the plan's intervals do not match
// the graph. Deterministic.
// `max_repair_rounds` caps the squeaky-wheel layouts (callers that iterate
// themselves, as the heuristic's layout rounds, take fewer: each layout of a
// large plan costs a fraction of a second), no repair round starts once the
// repair layouts have done `max_repair_work` steps of work
// (BestFitLayout::work(), a count independent of the clock), and none
// starts after `max_repair_time` (the classic orders always run). The
// rounds and the work bound make the result a function of the inputs
// alone; the time cap is a safety net for a starved machine, which stops
// it earlier (AllocationReport::repair_stopped_by_time says when it did).
absl::StatusOr<AllocationReport> AssignOffsets(
    const GraphModel& graph, uint64_t pool_bytes, uint64_t alignment_bytes,
    v1::Plan* plan, int max_repair_rounds = kMaxLayoutRepairRounds,
    absl::Duration max_repair_time = absl::InfiniteDuration(),
    int64_t max_repair_work = INT64_MAX);

}  // namespace autotm::solver

#endif  // AUTOTM_SOLVER_ALLOCATOR_H_
