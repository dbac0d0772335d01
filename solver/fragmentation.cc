#include "solver/fragmentation.h"

#include <algorithm>

#include "solver/allocator.h"

namespace autotm::solver {

PoolOverflow FindPoolOverflow(const GraphModel& graph, const v1::Plan& plan,
                              uint64_t pool_bytes) {
  PoolOverflow overflow;
  const uint64_t alignment = std::max<uint64_t>(plan.alignment_bytes(), 1);
  std::vector<std::pair<int, int>> lifetimes;
  uint64_t required = pool_bytes;
  const int tensors = std::min(plan.tensors_size(), graph.num_tensors());
  for (int t = 0; t < tensors; ++t) {
    const uint64_t size = AlignUp(graph.tensor(t).size_bytes, alignment);
    for (const v1::FastInterval& interval : plan.tensors(t).fast_intervals()) {
      const uint64_t end = interval.offset_bytes() + size;
      if (end <= pool_bytes) continue;
      required = std::max(required, end);
      lifetimes.emplace_back(static_cast<int>(interval.first_kernel()),
                             static_cast<int>(interval.last_kernel()));
    }
  }
  overflow.bytes = required - pool_bytes;
  std::sort(lifetimes.begin(), lifetimes.end());
  for (const auto& [first, last] : lifetimes) {
    if (!overflow.stretches.empty() &&
        first <= overflow.stretches.back().second + 1) {
      overflow.stretches.back().second =
          std::max(overflow.stretches.back().second, last);
    } else {
      overflow.stretches.emplace_back(first, last);
    }
  }
  if (overflow.stretches.empty()) return overflow;
  // Fast bytes live at each kernel, by a difference array over intervals.
  std::vector<int64_t> change(graph.num_kernels() + 1, 0);
  for (int t = 0; t < tensors; ++t) {
    const auto size =
        static_cast<int64_t>(AlignUp(graph.tensor(t).size_bytes, alignment));
    for (const v1::FastInterval& interval : plan.tensors(t).fast_intervals()) {
      const int first = static_cast<int>(interval.first_kernel());
      const int last = static_cast<int>(interval.last_kernel());
      if (first > last || last >= graph.num_kernels()) continue;
      change[first] += size;
      change[last + 1] -= size;
    }
  }
  std::vector<int64_t> live(graph.num_kernels(), 0);
  int64_t running = 0;
  for (int k = 0; k < graph.num_kernels(); ++k) {
    running += change[k];
    live[k] = running;
  }
  for (const auto& [first, last] : overflow.stretches) {
    overflow.kernels += last - first + 1;
    for (int k = first; k <= last && k < graph.num_kernels(); ++k) {
      overflow.peak_fast_bytes = std::max<uint64_t>(
          overflow.peak_fast_bytes, static_cast<uint64_t>(live[k]));
    }
  }
  return overflow;
}

std::vector<uint64_t> LowerLimitsByOverflow(std::vector<uint64_t> limits,
                                            const PoolOverflow& overflow,
                                            uint64_t alignment_bytes) {
  const uint64_t cut = AlignUp(overflow.bytes, alignment_bytes);
  const int kernels = static_cast<int>(limits.size());
  for (const auto& [first, last] : overflow.stretches) {
    for (int k = std::max(first, 0); k <= std::min(last, kernels - 1); ++k) {
      const uint64_t from = std::min(limits[k], overflow.peak_fast_bytes);
      limits[k] = from > cut ? from - cut : 0;
    }
  }
  return limits;
}

std::vector<uint64_t> MidwayLimits(const std::vector<uint64_t>& fitting,
                                   const std::vector<uint64_t>& overflowing,
                                   uint64_t alignment_bytes) {
  const uint64_t alignment = std::max<uint64_t>(alignment_bytes, 1);
  std::vector<uint64_t> midway = fitting;
  for (size_t k = 0; k < midway.size() && k < overflowing.size(); ++k) {
    if (overflowing[k] <= fitting[k]) continue;
    const uint64_t half = (overflowing[k] - fitting[k]) / 2;
    midway[k] += half / alignment * alignment;
  }
  return midway;
}

uint64_t LargestLimitDifference(const std::vector<uint64_t>& a,
                                const std::vector<uint64_t>& b) {
  uint64_t largest = 0;
  for (size_t k = 0; k < a.size() && k < b.size(); ++k) {
    largest = std::max(largest, a[k] > b[k] ? a[k] - b[k] : b[k] - a[k]);
  }
  return largest;
}

}  // namespace autotm::solver
