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
  // True when the blocks overlap in more than kMaxClassicLayoutPairs pairs
  // and only the sweep orders were tried (see AssignOffsets).
  bool sweep_orders_only = false;
  // Skyline layouts tried after the classic orders (SkylineLayOut, before
  // the squeaky-wheel rounds; 0 when a classic order fit).
  int skyline_layouts = 0;
  // The work of the skyline and squeaky-wheel layouts, in
  // BestFitLayout::work() and SkylineLayoutResult::work steps.
  int64_t repair_work = 0;
  // True when the time cap (max_repair_time) ended the repair layouts
  // while rounds and work were left and no layout fitted yet: only then
  // does the result depend on the machine's speed and load.
  bool repair_stopped_by_time = false;
};

// Above this many pairs of blocks with overlapping lifetimes, AssignOffsets
// lays out in the sweep orders only. A layout in the classic orders costs up
// to one step per such pair (BestFitLayout: merged ranges, else a scan), a
// sweep O(B log B) whatever the lifetimes. 2^27 (134 M): the zoo's plans
// stay far below it (DenseNet-264 bs512's heuristic plan at 30%: 8.6 M), as
// do both plans at 20,008 kernels of issue 19's chain of copies (18 M and
// 45 M); at 200,080 kernels they have 2.0 G and 4.4 G.
inline constexpr int64_t kMaxClassicLayoutPairs = int64_t{1} << 27;

// Above this many pairs of blocks with overlapping lifetimes, AssignOffsets
// tries no skyline layout: the skyline keeps, per block, the kernel sections
// its lifetime covers, up to about four per overlapping pair (2^24: 64 M
// entries at most; the Inception v3 bs2 plans at 25% have about 0.39 M
// pairs, DenseNet-264 bs512's heuristic plan at 30% 8.6 M).
inline constexpr int64_t kMaxSkylineLayoutPairs = int64_t{1} << 24;

// AssignOffsets' max_skyline_layout_pairs for callers that switch the
// skyline on or off (PlanOptions::skyline_layouts): kMaxSkylineLayoutPairs,
// or -1 (no skyline layout).
inline int64_t SkylineLayoutPairs(bool skyline_layouts) {
  return skyline_layouts ? kMaxSkylineLayoutPairs : -1;
}

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
// fits the pool is kept. When none fits, skyline layouts follow
// (SkylineLayOut: bottom-up from the peak, in three candidate orders, then
// up to `max_repair_rounds` / 16 rounds that put the blocks that overflowed
// first; plans of at most `max_skyline_layout_pairs` overlapping pairs,
// none when it is negative), on up
// to half of `max_repair_work` and 32 times the classic orders' work; then,
// when none fits either, up to `max_repair_rounds` best-fit layouts that move
// the blocks that overflowed ahead (squeaky wheel) on up to `max_repair_work`
// more, and the smallest layout of all is kept. Writes offset_bytes into the
// plan and sets plan.alignment_bytes and plan.pool_bytes_used. InvalidArgument
// when the plan's intervals do not match the graph. Deterministic.
// `max_repair_rounds` caps the squeaky-wheel layouts of each kind (callers that
// iterate themselves, as the heuristic's layout rounds, take fewer: each layout
// of a large plan costs a fraction of a second), no best-fit repair round
// starts once those have done `max_repair_work` steps of work
// (BestFitLayout::work(), a count independent of the clock), no skyline
// layout once the skyline layouts have done half as many (a layout stops
// there too; SkylineLayoutResult::work), and none
// starts after `max_repair_time` (the classic orders always run). The
// rounds and the work bound make the result a function of the inputs
// alone; the time cap is a safety net for a starved machine, which stops
// it earlier (AllocationReport::repair_stopped_by_time says when it did).
//
// Large plans: when the blocks' lifetimes overlap in more than
// `max_classic_layout_pairs` pairs (issue 19's chains of copies: first
// touch's plan at 50,020 kernels has 275 M, its layouts in the classic
// orders took 1.2-3.3 s each; 4.4 G at 200,080), only the sweep orders are
// tried, earliest first and latest last first, each with ties largest
// first and then longest-lived first (BestFitLayout's sweep: O(B log B)),
// and no squeaky-wheel round follows (it reorders freely, which no sweep
// follows); report.sweep_orders_only says so. Plans under the limit (the
// zoo's; 45 M pairs at 20,008 kernels) are laid out exactly as before.
absl::StatusOr<AllocationReport> AssignOffsets(
    const GraphModel& graph, uint64_t pool_bytes, uint64_t alignment_bytes,
    v1::Plan* plan, int max_repair_rounds = kMaxLayoutRepairRounds,
    absl::Duration max_repair_time = absl::InfiniteDuration(),
    int64_t max_repair_work = INT64_MAX,
    int64_t max_classic_layout_pairs = kMaxClassicLayoutPairs,
    int64_t max_skyline_layout_pairs = kMaxSkylineLayoutPairs);

// Lays out `plan` around `anchor`, a laid-out plan of the same graph (its
// offsets set, e.g. by AssignOffsets): every fast interval of `plan` that
// `anchor` also has - the same tensor, the same first and last kernel - keeps
// anchor's offset, and only the others are placed, by best fit (as
// AssignOffsets) into the gaps the kept blocks leave, in the classic orders
// (largest, longest-lived, largest area, earliest first), keeping the first
// layout that fits. For plans that differ from `anchor` in a few tensors
// (window search's candidates): a layout from scratch reshuffles every block,
// and a plan that only fit the pool after many squeaky-wheel layouts (an
// allocation round's, at the edge of fragmentation) then rarely fits again
// after a small change, while the changed blocks alone often fit the gaps.
// Writes offsets, alignment and pool_bytes_used as AssignOffsets does; the
// report's repair fields stay 0. Deterministic. InvalidArgument as
// AssignOffsets, and when `anchor` is not a plan of `graph` or has another
// alignment.
absl::StatusOr<AllocationReport> AssignOffsetsAround(const GraphModel& graph,
                                                     uint64_t pool_bytes,
                                                     uint64_t alignment_bytes,
                                                     const v1::Plan& anchor,
                                                     v1::Plan* plan);

}  // namespace autotm::solver

#endif  // AUTOTM_SOLVER_ALLOCATOR_H_
