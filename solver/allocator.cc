#include "solver/allocator.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "solver/best_fit_layout.h"
#include "solver/checked_math.h"
#include "solver/skyline_layout.h"
#include "solver/status_macros.h"

namespace autotm::solver {

uint64_t AlignUp(uint64_t bytes, uint64_t alignment) {
  if (alignment <= 1) return bytes;
  // Saturates: a size within `alignment` of 2^64 has no aligned size.
  const uint64_t padded = SaturatingAdd(bytes, alignment - 1);
  if (padded == kSaturatedBytes) return kSaturatedBytes;
  return padded / alignment * alignment;
}

uint64_t AlignedPeakLiveBytes(const GraphModel& graph, uint64_t alignment) {
  // From the live intervals, not GraphModel::LiveAt: O(kernels + tensors)
  // instead of one entry per tensor per kernel it is live at.
  const int num_kernels = graph.num_kernels();
  std::vector<uint64_t> starting(num_kernels + 1, 0);
  std::vector<uint64_t> ending(num_kernels + 1, 0);
  for (const TensorInfo& tensor : graph.tensors()) {
    const uint64_t size = AlignUp(tensor.size_bytes, alignment);
    starting[tensor.first_live] += size;
    ending[tensor.last_live + 1] += size;
  }
  uint64_t peak = 0;
  uint64_t live = 0;
  for (int k = 0; k < num_kernels; ++k) {
    live = live + starting[k] - ending[k];
    peak = std::max(peak, live);
  }
  return peak;
}

namespace {

// One fast interval of a tensor: a block of the pool over kernels
// [first, last].
struct Block {
  int first;
  int last;
  uint64_t size;  // aligned
  int tensor;
  v1::FastInterval* proto;
};

// The blocks of `plan`'s fast intervals (pointing into `plan`), sizes
// aligned to `alignment_bytes`. InvalidArgument for an interval outside its
// tensor's live range.
absl::StatusOr<std::vector<Block>> CollectBlocks(const GraphModel& graph,
                                                 uint64_t alignment_bytes,
                                                 v1::Plan* plan) {
  std::vector<Block> blocks;
  for (int t = 0; t < graph.num_tensors(); ++t) {
    const TensorInfo& tensor = graph.tensor(t);
    for (v1::FastInterval& interval :
         *plan->mutable_tensors(t)->mutable_fast_intervals()) {
      const int first = static_cast<int>(interval.first_kernel());
      const int last = static_cast<int>(interval.last_kernel());
      if (first > last || first < tensor.first_live ||
          last > tensor.last_live) {
        return absl::InvalidArgumentError(
            absl::StrCat("tensor '", tensor.id, "': fast interval [", first,
                         ", ", last, "] is outside its live range"));
      }
      blocks.push_back({first, last,
                        AlignUp(tensor.size_bytes, alignment_bytes), t,
                        &interval});
    }
  }
  return blocks;
}

// The best layout found so far.
struct Layout {
  uint64_t required = UINT64_MAX;
  std::vector<uint64_t> offsets;
  std::vector<int> order;
};

using OrderKey =
    std::function<std::tuple<int64_t, int64_t, int64_t>(const Block&)>;

// Pairs of blocks whose lifetimes overlap, counted until they exceed `cap`
// (then some number above it): what a
// layout in an arbitrary order costs at worst (BestFitLayout's scan visits
// each such pair once). O(B log B).
int64_t OverlappingPairs(const std::vector<Block>& blocks, int64_t cap) {
  std::vector<int> firsts;
  std::vector<int> lasts;
  firsts.reserve(blocks.size());
  lasts.reserve(blocks.size());
  for (const Block& b : blocks) {
    firsts.push_back(b.first);
    lasts.push_back(b.last);
  }
  std::sort(firsts.begin(), firsts.end());
  std::sort(lasts.begin(), lasts.end());
  // Each block against the blocks that start no later (ties counted once:
  // the earlier in sorted order): those among them still live at its start.
  int64_t pairs = 0;
  size_t ended = 0;
  for (size_t i = 0; i < firsts.size() && pairs <= cap; ++i) {
    while (ended < lasts.size() && lasts[ended] < firsts[i]) ++ended;
    pairs += static_cast<int64_t>(i - std::min(i, ended));
  }
  return pairs;
}

// Lays `blocks` out in the order `key` sorts them (stable), into `best`
// when it needs a smaller pool than best so far (ties keep the earlier).
void TryOrder(const std::vector<Block>& blocks, const OrderKey& key,
              BestFitLayout& layout, std::vector<int>& order,
              std::vector<uint64_t>& offsets, Layout& best) {
  for (size_t i = 0; i < blocks.size(); ++i) order[i] = static_cast<int>(i);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return key(blocks[a]) < key(blocks[b]);
  });
  const uint64_t required = layout.LayOut(order, offsets);
  if (required < best.required) {
    best.required = required;
    best.offsets = offsets;
    best.order = order;
  }
}

// Writes a layout (`offsets`, needing `required` bytes) into the plan's
// intervals and its pool fields, and into `report`: the bytes required, the
// kernels where a block overflows `pool_bytes`, and whether it fits.
void WriteLayout(const std::vector<Block>& blocks,
                 const std::vector<uint64_t>& offsets, uint64_t required,
                 uint64_t pool_bytes, uint64_t alignment_bytes, v1::Plan* plan,
                 AllocationReport& report) {
  report.required_bytes = blocks.empty() ? 0 : required;
  for (size_t i = 0; i < blocks.size(); ++i) {
    const Block& block = blocks[i];
    block.proto->set_offset_bytes(offsets[i]);
    if (offsets[i] + block.size > pool_bytes) {
      report.overflow_kernels.push_back(block.first);
      report.overflow_kernels.push_back(block.last);
    }
  }
  report.fits = report.overflow_kernels.empty();
  std::sort(report.overflow_kernels.begin(), report.overflow_kernels.end());
  report.overflow_kernels.erase(std::unique(report.overflow_kernels.begin(),
                                            report.overflow_kernels.end()),
                                report.overflow_kernels.end());
  plan->set_alignment_bytes(alignment_bytes);
  plan->set_pool_bytes_used(report.required_bytes);
}

// The classic orders, in the order they are tried: largest first,
// longest-lived first, largest area (bytes x kernels) first, earliest first.
const std::array<OrderKey, 4>& ClassicOrderKeys() {
  static const std::array<OrderKey, 4> kKeys = {
      [](const Block& b) {
        return std::make_tuple(-static_cast<int64_t>(b.size), int64_t{b.first},
                               int64_t{0});
      },
      [](const Block& b) {
        return std::make_tuple(int64_t{b.first} - b.last,
                               -static_cast<int64_t>(b.size), int64_t{b.first});
      },
      [](const Block& b) {
        return std::make_tuple(
            -static_cast<int64_t>(b.size) * (b.last - b.first + 1),
            int64_t{b.first}, int64_t{0});
      },
      [](const Block& b) {
        return std::make_tuple(int64_t{b.first}, -static_cast<int64_t>(b.size),
                               int64_t{0});
      },
  };
  return kKeys;
}

// No order is best for every plan, so try the classic ones — largest
// first, longest-lived first, largest area (bytes x kernels) first, and
// earliest first as an online allocator would — and keep the layout that
// needs the smallest pool (the first listed on ties: deterministic). Stops
// at the first that fits `pool_bytes`.
Layout LayOutByClassicOrders(const std::vector<Block>& blocks,
                             uint64_t pool_bytes, BestFitLayout& layout) {
  const std::array<OrderKey, 4>& keys = ClassicOrderKeys();
  Layout best;
  std::vector<uint64_t> offsets;
  std::vector<int> order(blocks.size());
  for (const OrderKey& key : keys) {
    TryOrder(blocks, key, layout, order, offsets, best);
    if (best.required <= pool_bytes) break;  // fits: good enough
  }
  return best;
}

// The sweep orders only (BestFitLayout's O(B log B) path), for plans whose
// blocks overlap in so many pairs that a layout in the classic orders
// would take seconds to minutes (AssignOffsets): earliest first with ties
// largest first (the classic order), then longest-lived first; then latest
// last first, ties the same two ways. Keeps the smallest; stops at the
// first that fits.
Layout LayOutBySweepOrders(const std::vector<Block>& blocks,
                           uint64_t pool_bytes, BestFitLayout& layout) {
  const OrderKey keys[] = {
      [](const Block& b) {
        return std::make_tuple(int64_t{b.first}, -static_cast<int64_t>(b.size),
                               int64_t{0});
      },
      [](const Block& b) {
        return std::make_tuple(int64_t{b.first}, int64_t{b.first} - b.last,
                               -static_cast<int64_t>(b.size));
      },
      [](const Block& b) {
        return std::make_tuple(-int64_t{b.last}, -static_cast<int64_t>(b.size),
                               int64_t{0});
      },
      [](const Block& b) {
        return std::make_tuple(-int64_t{b.last}, int64_t{b.first} - b.last,
                               -static_cast<int64_t>(b.size));
      },
  };
  Layout best;
  std::vector<uint64_t> offsets;
  std::vector<int> order(blocks.size());
  for (const OrderKey& key : keys) {
    TryOrder(blocks, key, layout, order, offsets, best);
    if (best.required <= pool_bytes) break;
  }
  return best;
}

// Squeaky wheel: when no order fits, the blocks that overflowed in the
// last layout go earlier in the next (a block moves ahead of every block
// that overflowed fewer times so far; ties keep the last order). Plans from
// the ILP fill the pool to within a fraction of a percent at their peak,
// where one unlucky gap decides; DenseNet-264 bs512's sync optimum at 4:1
// overflowed a 26.1 GiB pool by 8.9 MB with the orders above, which cost a
// second ILP solve of 40 s. Improves `best` (offsets and required only) for
// up to `max_repair_rounds` rounds, starting none once the repair layouts
// have done `max_repair_work` steps of work or `deadline` has passed; fills
// the report's repair fields.
void RepairBySqueakyWheel(const std::vector<Block>& blocks, uint64_t pool_bytes,
                          int max_repair_rounds, int64_t max_repair_work,
                          absl::Time deadline, BestFitLayout& layout,
                          Layout& best, AllocationReport& report) {
  std::vector<int> overflows(blocks.size(), 0);
  std::vector<int> rank(blocks.size());
  std::vector<int> last_order = best.order;
  std::vector<uint64_t> last_offsets = best.offsets;
  const int64_t work_before = layout.work();
  for (int round = 1; round <= max_repair_rounds &&
                      layout.work() - work_before < max_repair_work;
       ++round) {
    if (absl::Now() >= deadline) {
      report.repair_stopped_by_time = true;
      break;
    }
    for (size_t i = 0; i < blocks.size(); ++i) {
      if (last_offsets[i] + blocks[i].size > pool_bytes) ++overflows[i];
    }
    for (size_t i = 0; i < last_order.size(); ++i) {
      rank[last_order[i]] = static_cast<int>(i);
    }
    std::stable_sort(last_order.begin(), last_order.end(), [&](int a, int b) {
      return overflows[a] != overflows[b] ? overflows[a] > overflows[b]
                                          : rank[a] < rank[b];
    });
    const uint64_t required = layout.LayOut(last_order, last_offsets);
    report.repair_rounds = round;
    if (required < best.required) {
      best.required = required;
      best.offsets = last_offsets;
    }
    if (best.required <= pool_bytes) break;
  }
  report.repair_work = layout.work() - work_before;
}

// Skyline layouts (solver/skyline_layout.h) when best fit in the classic
// orders does not fit: plans that fill the pool to within a fraction of a
// percent at their peak leave best fit's gaps in the wrong places, while the
// skyline builds the peak first (eight block sets of Inception v3 bs2's
// plans at 25%: the skyline fits the six whose peak leaves room, best fit
// after 256 squeaky-wheel layouts two). The three candidate orders first, then,
// from the one that needed the smallest pool, squeaky-wheel rounds: the blocks
// that overflowed go first among the candidates at a point, the more often
// the earlier. Stops at the first layout that fits, after
// `max_rounds` rounds, once the layouts have done `max_work` steps (a
// layout stops there too: BestFitLayout's and these steps cost about the
// same) or after `deadline`. Improves `best` (offsets and required);
// returns the work done.
int64_t RepairBySkyline(const std::vector<LayoutBlock>& layout_blocks,
                        uint64_t pool_bytes, int max_rounds, int64_t max_work,
                        absl::Time deadline, Layout& best,
                        AllocationReport& report) {
  constexpr SkylineCandidateOrder kOrders[] = {
      SkylineCandidateOrder::kLargestFirst,
      SkylineCandidateOrder::kLongestLivedFirst,
      SkylineCandidateOrder::kLargestAreaFirst};
  int64_t work = 0;
  std::vector<int> priority;
  std::vector<uint64_t> offsets;
  SkylineCandidateOrder repair_order = kOrders[0];
  uint64_t repair_required = UINT64_MAX;
  std::vector<uint64_t> repair_offsets;
  const int layouts = 3 + std::max(max_rounds, 0);
  for (int i = 0; i < layouts && best.required > pool_bytes; ++i) {
    if (work >= max_work) break;
    if (absl::Now() >= deadline) {
      report.repair_stopped_by_time = true;
      break;
    }
    if (i >= 3) {  // a squeaky-wheel round on the best order's last layout
      if (priority.empty()) priority.assign(layout_blocks.size(), 0);
      for (size_t b = 0; b < layout_blocks.size(); ++b) {
        if (repair_offsets[b] + layout_blocks[b].size > pool_bytes) {
          ++priority[b];
        }
      }
    }
    const SkylineCandidateOrder order = i < 3 ? kOrders[i] : repair_order;
    const SkylineLayoutResult result =
        SkylineLayOut(layout_blocks, order, priority, max_work - work, offsets);
    work += result.work;
    if (!result.complete) break;
    ++report.skyline_layouts;
    if (i >= 3) {
      repair_offsets = offsets;
    } else if (result.required < repair_required) {
      repair_order = order;
      repair_required = result.required;
      repair_offsets = offsets;
    }
    if (result.required < best.required) {
      best.required = result.required;
      best.offsets = offsets;
    }
  }
  return work;
}

// Places `blocks[i]` for each i in `order` at the smallest gap (lowest
// offset among equal ones) left below, between or above the blocks of
// `placed` whose lifetimes overlap it, or above all of them; appends it to
// `placed`. O(placed) per block.
void PlaceByBestFit(const std::vector<Block>& blocks,
                    const std::vector<int>& order, std::vector<int>& placed,
                    std::vector<uint64_t>& offsets) {
  std::vector<std::pair<uint64_t, uint64_t>> taken;
  for (int i : order) {
    const Block& block = blocks[i];
    taken.clear();
    for (int j : placed) {
      if (blocks[j].first <= block.last && block.first <= blocks[j].last) {
        taken.emplace_back(offsets[j], offsets[j] + blocks[j].size);
      }
    }
    std::sort(taken.begin(), taken.end());
    uint64_t best_offset = 0;
    uint64_t best_gap = UINT64_MAX;
    uint64_t free_from = 0;
    for (const auto& [start, end] : taken) {
      if (start > free_from) {
        const uint64_t gap = start - free_from;
        if (gap >= block.size && gap < best_gap) {
          best_gap = gap;
          best_offset = free_from;
        }
      }
      free_from = std::max(free_from, end);
    }
    offsets[i] = best_gap == UINT64_MAX ? free_from : best_offset;
    placed.push_back(i);
  }
}

}  // namespace

absl::StatusOr<AllocationReport> AssignOffsetsAround(const GraphModel& graph,
                                                     uint64_t pool_bytes,
                                                     uint64_t alignment_bytes,
                                                     const v1::Plan& anchor,
                                                     v1::Plan* plan) {
  if (plan->tensors_size() != graph.num_tensors() ||
      anchor.tensors_size() != graph.num_tensors()) {
    return absl::InvalidArgumentError(
        absl::StrCat("plan has ", plan->tensors_size(), " tensors, anchor ",
                     anchor.tensors_size(), ", graph ", graph.num_tensors()));
  }
  alignment_bytes = std::max<uint64_t>(alignment_bytes, 1);
  if (std::max<uint64_t>(anchor.alignment_bytes(), 1) != alignment_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("anchor is aligned to ", anchor.alignment_bytes(),
                     " bytes, not ", alignment_bytes));
  }
  AUTOTM_ASSIGN_OR_RETURN(const std::vector<Block> blocks,
                          CollectBlocks(graph, alignment_bytes, plan));
  // Kept: the blocks whose interval anchor has too, at anchor's offset.
  std::vector<uint64_t> kept_offsets(blocks.size(), 0);
  std::vector<int> kept;
  std::vector<int> moved;
  for (size_t i = 0; i < blocks.size(); ++i) {
    const Block& block = blocks[i];
    bool found = false;
    for (const v1::FastInterval& interval :
         anchor.tensors(block.tensor).fast_intervals()) {
      if (static_cast<int>(interval.first_kernel()) == block.first &&
          static_cast<int>(interval.last_kernel()) == block.last) {
        kept_offsets[i] = interval.offset_bytes();
        found = true;
        break;
      }
    }
    (found ? kept : moved).push_back(static_cast<int>(i));
  }
  const std::array<OrderKey, 4>& keys = ClassicOrderKeys();
  auto required_of = [&](const std::vector<uint64_t>& offsets) {
    uint64_t required = 0;
    for (size_t i = 0; i < blocks.size(); ++i) {
      required = std::max(required, offsets[i] + blocks[i].size);
    }
    return required;
  };
  std::vector<uint64_t> best_offsets;
  uint64_t best_required = UINT64_MAX;
  std::vector<int> order = moved;
  for (const OrderKey& key : keys) {
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
      return key(blocks[a]) < key(blocks[b]);
    });
    std::vector<uint64_t> offsets = kept_offsets;
    std::vector<int> placed = kept;
    PlaceByBestFit(blocks, order, placed, offsets);
    const uint64_t required = required_of(offsets);
    if (required < best_required) {
      best_required = required;
      best_offsets = std::move(offsets);
    }
    if (best_required <= pool_bytes || moved.empty()) break;
  }
  AllocationReport report;
  WriteLayout(blocks, best_offsets, best_required, pool_bytes, alignment_bytes,
              plan, report);
  return report;
}

absl::StatusOr<AllocationReport> AssignOffsets(
    const GraphModel& graph, uint64_t pool_bytes, uint64_t alignment_bytes,
    v1::Plan* plan, int max_repair_rounds, absl::Duration max_repair_time,
    int64_t max_repair_work, int64_t max_classic_layout_pairs,
    int64_t max_skyline_layout_pairs) {
  const absl::Time deadline = absl::Now() + max_repair_time;
  if (plan->tensors_size() != graph.num_tensors()) {
    return absl::InvalidArgumentError(
        absl::StrCat("plan has ", plan->tensors_size(), " tensors, graph has ",
                     graph.num_tensors()));
  }
  alignment_bytes = std::max<uint64_t>(alignment_bytes, 1);
  AUTOTM_ASSIGN_OR_RETURN(const std::vector<Block> blocks,
                          CollectBlocks(graph, alignment_bytes, plan));
  std::vector<LayoutBlock> layout_blocks;
  layout_blocks.reserve(blocks.size());
  for (const Block& block : blocks) {
    layout_blocks.push_back({block.first, block.last, block.size});
  }
  BestFitLayout layout(std::move(layout_blocks));
  AllocationReport report;
  // Counted once for both limits (exact up to the larger).
  const int64_t overlapping_pairs = OverlappingPairs(
      blocks, std::max(max_classic_layout_pairs, max_skyline_layout_pairs));
  report.sweep_orders_only = overlapping_pairs > max_classic_layout_pairs;
  Layout best = report.sweep_orders_only
                    ? LayOutBySweepOrders(blocks, pool_bytes, layout)
                    : LayOutByClassicOrders(blocks, pool_bytes, layout);
  // The squeaky wheel reorders freely, which a sweep cannot follow (kept to
  // a sweep order, moving a block ahead of those that share its first
  // kernel, it changed nothing on issue 19's graphs).
  if (best.required > pool_bytes && !blocks.empty() &&
      !report.sweep_orders_only) {
    // The skyline first (it fits where best fit's repair does not: see
    // RepairBySkyline), on up to half the work bound; then, from best fit's
    // own best layout, the squeaky wheel of best fit on the whole bound, as
    // without the skyline: sharing the bound, a version of the skyline
    // whose layouts cost half as much again stopped short of its fit on
    // DenseNet-121 bs2 at 25%, and best fit's squeaky wheel, which fits it
    // after 13.4 M steps, had 9 M left.
    Layout best_fit = best;
    int64_t skyline_work = 0;
    if (max_skyline_layout_pairs >= 0 &&
        overlapping_pairs <= max_skyline_layout_pairs) {
      // A skyline layout costs several best-fit layouts (DenseNet-121 bs2's
      // plans: about 8), so one squeaky-wheel round of its own per 16 of
      // best fit's: the planner's rounds (256) get 16, callers that take
      // the default (16: the heuristic's layout rounds, first touch, the
      // window and start checks) one. And at most 32 times the classic
      // orders' work (Inception v3 bs2's plans at 25%: 0.42-0.45 M steps,
      // so 13-14 M, above half the planner's bound at 60 s): callers without
      // a work bound then pay for the skyline in proportion to best fit's
      // cost on the plan, however dense its lifetimes.
      const int64_t classic_work = layout.work();
      skyline_work =
          RepairBySkyline(layout.blocks(), pool_bytes, max_repair_rounds / 16,
                          std::min(max_repair_work / 2, 32 * classic_work),
                          deadline, best, report);
    }
    if (best.required > pool_bytes) {
      RepairBySqueakyWheel(blocks, pool_bytes, max_repair_rounds,
                           max_repair_work, deadline, layout, best_fit, report);
      if (best_fit.required < best.required) best = std::move(best_fit);
    }
    report.repair_work += skyline_work;
  }
  WriteLayout(blocks, best.offsets, best.required, pool_bytes, alignment_bytes,
              plan, report);
  return report;
}

}  // namespace autotm::solver
