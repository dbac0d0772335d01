// The fragmentation loop's lowering step: where and by how much a round's
// plan overflows the pool, and the kernel limits of the next round.
//
// The ILP bounds the fast bytes live at each kernel, not the pool a layout
// of them needs: an optimum that fills the budget at its peak often needs a
// little more pool than the budget once laid out (gaps between blocks of
// different lifetimes). The planner then solves again under lower limits
// (AutoTM's allocation rounds, autotm.md §5.2). These functions decide the
// next round's limits from the overflowing layout, and bisect between
// limits whose plan fit and limits whose plan did not.
#ifndef AUTOTM_SOLVER_FRAGMENTATION_H_
#define AUTOTM_SOLVER_FRAGMENTATION_H_

#include <cstdint>
#include <utility>
#include <vector>

#include "autotm/v1/plan.pb.h"
#include "solver/graph_model.h"

namespace autotm::solver {

// How a laid-out plan overflows its pool.
struct PoolOverflow {
  // Pool bytes the layout needs beyond the pool (0: it fits).
  uint64_t bytes = 0;
  // The kernels where an overflowing block (a fast interval placed past the
  // pool's end) is live: the union of their lifetimes, as sorted, disjoint,
  // non-adjacent inclusive [first, last] stretches.
  std::vector<std::pair<int, int>> stretches;
  // Kernels covered by `stretches`.
  int kernels = 0;
  // The most fast bytes (sizes aligned) the plan has live at one kernel of
  // the stretches.
  uint64_t peak_fast_bytes = 0;
};

// The overflow of `plan`, whose fast intervals carry offsets (AssignOffsets
// wrote them, also past the pool's end when the layout did not fit) and
// whose alignment_bytes is set, in a pool of `pool_bytes`. Block sizes are
// the tensors' sizes rounded up to the plan's alignment, as the allocator
// lays them out. Intervals of tensors outside the graph are ignored (the
// plan was assembled for this graph).
PoolOverflow FindPoolOverflow(const GraphModel& graph, const v1::Plan& plan,
                              uint64_t pool_bytes);

// The next round's limits after a round under `limits` overflowed by
// `overflow`: each kernel of the overflow's stretches gets the lower of its
// limit and the plan's peak there (overflow.peak_fast_bytes), less
// overflow.bytes rounded up to `alignment_bytes` (clamped at 0); the other
// kernels keep theirs. The layout needed `bytes` more than the plan's
// peak plus its slack below the limit, so the next plan must peak that much
// lower for the same layout to fit: cutting from the limit alone would
// leave a plan with slack there feasible again, and the next round would
// return it unchanged. The whole stretch where the overflowing blocks are
// live is lowered, not only kernels near their ends: a block placed too
// high is too high for its whole life, and the ILP can make room anywhere
// in it.
std::vector<uint64_t> LowerLimitsByOverflow(std::vector<uint64_t> limits,
                                            const PoolOverflow& overflow,
                                            uint64_t alignment_bytes);

// Limits halfway between `fitting` (a round whose plan laid out in the pool)
// and `overflowing` (one whose plan did not), the next probe of a bisection
// between them: each kernel's limit moves from `fitting`'s halfway up to
// `overflowing`'s where that is higher, by a multiple of `alignment_bytes`
// (the half rounded down), and keeps `fitting`'s elsewhere. Equal to
// `fitting` when no kernel differs by two alignments or more. Both vectors
// have one entry per kernel.
std::vector<uint64_t> MidwayLimits(const std::vector<uint64_t>& fitting,
                                   const std::vector<uint64_t>& overflowing,
                                   uint64_t alignment_bytes);

// The largest per-kernel difference between two limit vectors of equal
// length: how far a bisection between them still is from closed.
uint64_t LargestLimitDifference(const std::vector<uint64_t>& a,
                                const std::vector<uint64_t>& b);

}  // namespace autotm::solver

#endif  // AUTOTM_SOLVER_FRAGMENTATION_H_
