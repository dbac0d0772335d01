// The 2LM baseline: Optane's "Memory Mode", where the fast tier is not
// addressable but a direct-mapped, hardware-managed cache in front of the
// slow tier. AutoTM compared itself with it (and was at least 2x faster on
// the large workloads); this simulates it with the same profile the planner
// uses, so the comparison is like for like.
//
// The model (docs/FORMULATION.md, "The 2LM baseline"):
//  - every tensor lives in one flat slow-tier address space, laid out as an
//    allocator would: graph arguments first, in graph order, then each
//    kernel's outputs before it runs; first fit by address over the holes
//    that freed tensors leave (a tensor is freed after its last use),
//    addresses aligned to max(4 KiB, line);
//  - the cache holds fast-tier bytes / line lines; address A maps to set
//    (A / line) mod sets, as over one physically contiguous range (large
//    pages); a line that is not resident misses and replaces the set's line;
//    a written line is dirty, and a dirty line written back to the slow tier
//    when it is evicted - also when its tensor has died, since the hardware
//    cannot know;
//  - each kernel reads its distinct inputs, then writes its outputs, each
//    tensor as one sequential sweep (conflicts between a kernel's own
//    operands are seen only from one operand to the next, not interleaved);
//  - a kernel's time is the profile's, with each operand fast for the
//    fraction of its lines that hit and slow for the rest: the multilinear
//    blend of the configurations (for a separable cost, all-fast time plus
//    each operand's slow penalty times its miss fraction; for a table, the
//    expected time when each operand is independently slow with its miss
//    fraction, over the listed configurations). Filling a missed line is
//    not charged apart: the profile's slow timings already include reading
//    the operand from the slow tier. Dirty write-backs are charged at the
//    fast-to-slow synchronous copy bandwidth, to the kernel that caused
//    them.
#ifndef AUTOTM_SOLVER_TWO_LEVEL_MEMORY_H_
#define AUTOTM_SOLVER_TWO_LEVEL_MEMORY_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "autotm/v1/plan.pb.h"
#include "solver/graph_model.h"
#include "solver/profile_model.h"

namespace autotm::solver {

struct TwoLevelMemoryOptions {
  // Capacity of the fast tier used as a cache (the budget). At least one
  // line.
  uint64_t cache_bytes = 0;
  // Cache line, a power of two from 64 bytes to 1 GiB. Default 64, as
  // Optane's Memory Mode.
  uint64_t line_bytes = 64;
};

struct TwoLevelMemoryResult {
  // Per kernel, write-backs included; and their sum.
  std::vector<double> kernel_time_us;
  double time_us = 0;
  double writeback_time_us = 0;
  // Operand bytes that hit and missed, dirty bytes written back (whole
  // lines), and the extent of the address space.
  uint64_t hit_bytes = 0;
  uint64_t miss_bytes = 0;
  uint64_t writeback_bytes = 0;
  uint64_t address_space_bytes = 0;
};

// Simulates one iteration of `graph` under 2LM. Deterministic.
// InvalidArgument for options out of range; FailedPrecondition when a
// tensor is pinned fast (Memory Mode has no addressable fast memory), or a
// kernel's cost is missing from the profile or lists none of the
// configurations the simulation blends.
// Time O(operands x (log runs + runs touched) + table entries), memory
// O(tensors + runs), where runs are the cache's maximal stretches of sets
// holding consecutive lines - independent of the line size.
absl::StatusOr<TwoLevelMemoryResult> SimulateTwoLevelMemory(
    const GraphModel& graph, const ProfileModel& profile,
    const TwoLevelMemoryOptions& options);

// The simulation as a Plan (METHOD_TWO_LEVEL_MEMORY): every tensor slow, no
// moves, each kernel's time the simulated one, Plan.two_level_memory
// filled, stats.termination HEURISTIC (a baseline, not an optimum).
absl::StatusOr<v1::Plan> TwoLevelMemoryPlan(
    const GraphModel& graph, const ProfileModel& profile,
    const TwoLevelMemoryOptions& options);

}  // namespace autotm::solver

#endif  // AUTOTM_SOLVER_TWO_LEVEL_MEMORY_H_
