#include "solver/two_level_memory.h"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "solver/allocator.h"
#include "solver/schedule.h"
#include "solver/status_macros.h"

namespace autotm::solver {
namespace {

constexpr uint64_t kPageBytes = 4096;
constexpr uint64_t kMinLineBytes = 64;
constexpr uint64_t kMaxLineBytes = uint64_t{1} << 30;

// A first-fit allocator over one flat address space: the holes that freed
// blocks leave, by address, and the top of the heap. Adjacent holes merge;
// a hole that reaches the top lowers it.
class FlatHeap {
 public:
  explicit FlatHeap(uint64_t alignment) : alignment_(alignment) {}

  uint64_t Allocate(uint64_t bytes) {
    const uint64_t size = AlignUp(bytes, alignment_);
    for (auto it = holes_.begin(); it != holes_.end(); ++it) {
      if (it->second < size) continue;
      const uint64_t address = it->first;
      const uint64_t left = it->second - size;
      holes_.erase(it);
      if (left > 0) holes_.emplace(address + size, left);
      return address;
    }
    const uint64_t address = top_;
    top_ += size;
    extent_ = std::max(extent_, top_);
    return address;
  }

  void Free(uint64_t address, uint64_t bytes) {
    uint64_t begin = address;
    uint64_t end = address + AlignUp(bytes, alignment_);
    auto next = holes_.lower_bound(begin);
    if (next != holes_.begin()) {
      auto previous = std::prev(next);
      if (previous->first + previous->second == begin) {
        begin = previous->first;
        holes_.erase(previous);
      }
    }
    if (next != holes_.end() && next->first == end) {
      end += next->second;
      holes_.erase(next);
    }
    if (end == top_) {
      top_ = begin;
    } else {
      holes_.emplace(begin, end - begin);
    }
  }

  // The highest address ever used.
  uint64_t extent() const { return extent_; }

 private:
  const uint64_t alignment_;
  std::map<uint64_t, uint64_t> holes_;  // address -> size
  uint64_t top_ = 0;
  uint64_t extent_ = 0;
};

// A direct-mapped cache of `sets` lines, kept as runs: maximal stretches of
// sets [start, end) holding consecutive lines (line + (set - start)) with one
// dirty flag, or empty (line < 0). Its size depends on how many distinct
// sweeps left their mark, not on the line size.
class DirectMappedCache {
 public:
  explicit DirectMappedCache(uint64_t sets) : sets_(sets) {
    runs_.emplace(0, Run{sets, -1, false});
  }

  struct Counts {
    uint64_t hit_lines = 0;
    uint64_t writeback_lines = 0;
  };

  // A sequential sweep over lines [first_line, first_line + lines).
  Counts Access(uint64_t first_line, uint64_t lines, bool write) {
    Counts counts;
    while (lines > 0) {
      // At most one line per set in a chunk: a longer sweep evicts its own
      // earlier lines, chunk by chunk.
      const uint64_t chunk = std::min(lines, sets_);
      const uint64_t set = first_line % sets_;
      const uint64_t first_part = std::min(chunk, sets_ - set);
      Sweep(set, set + first_part, first_line, write, counts);
      if (first_part < chunk) {
        Sweep(0, chunk - first_part, first_line + first_part, write, counts);
      }
      first_line += chunk;
      lines -= chunk;
    }
    return counts;
  }

 private:
  struct Run {
    uint64_t end = 0;
    int64_t line = -1;  // line held by the run's first set; -1: empty
    bool dirty = false;
  };

  // Makes `set` the start of a run (when it is inside [0, sets)).
  void SplitAt(uint64_t set) {
    if (set >= sets_) return;
    auto it = std::prev(runs_.upper_bound(set));
    if (it->first == set) return;
    Run tail = it->second;
    if (tail.line >= 0) tail.line += static_cast<int64_t>(set - it->first);
    it->second.end = set;
    runs_.emplace(set, tail);
  }

  // Sets [begin, end) see lines first_line, first_line + 1, ...
  void Sweep(uint64_t begin, uint64_t end, uint64_t first_line, bool write,
             Counts& counts) {
    SplitAt(begin);
    SplitAt(end);
    std::vector<std::pair<uint64_t, Run>> swept;
    auto it = runs_.find(begin);
    while (it != runs_.end() && it->first < end) {
      const uint64_t start = it->first;
      const Run& run = it->second;
      const uint64_t length = run.end - start;
      const int64_t line = static_cast<int64_t>(first_line + (start - begin));
      const bool hit = run.line >= 0 && run.line == line;
      if (hit) {
        counts.hit_lines += length;
      } else if (run.line >= 0 && run.dirty) {
        counts.writeback_lines += length;
      }
      const bool dirty = hit ? run.dirty || write : write;
      if (!swept.empty() && swept.back().second.dirty == dirty) {
        swept.back().second.end = run.end;  // lines continue: one run
      } else {
        swept.emplace_back(start, Run{run.end, line, dirty});
      }
      it = runs_.erase(it);
    }
    for (auto& [start, run] : swept) runs_.emplace(start, run);
    MergeAround(begin);
    if (end < sets_) MergeAround(end);
  }

  // Merges the run starting at `set` with the one before it when the lines
  // continue and the dirty flags agree (or both are empty).
  void MergeAround(uint64_t set) {
    auto it = runs_.find(set);
    if (it == runs_.end() || it == runs_.begin()) return;
    auto previous = std::prev(it);
    const Run& before = previous->second;
    const Run& after = it->second;
    const bool both_empty = before.line < 0 && after.line < 0;
    const bool continues =
        before.line >= 0 && after.line >= 0 && before.dirty == after.dirty &&
        after.line ==
            before.line + static_cast<int64_t>(it->first - previous->first);
    if (!both_empty && !continues) return;
    previous->second.end = after.end;
    runs_.erase(it);
  }

  const uint64_t sets_;
  std::map<uint64_t, Run> runs_;  // by first set; they cover [0, sets)
};

// The kernel's time with operand p fast for fraction fast[p] of its lines:
// the multilinear blend of the profile's configurations.
absl::StatusOr<double> BlendedTimeUs(const KernelCost& cost,
                                     const std::vector<double>& fast,
                                     const KernelInfo& kernel) {
  if (cost.separable()) {
    double time = cost.all_fast_time_us();
    for (size_t p = 0; p < fast.size(); ++p) {
      time += cost.slow_penalty_us()[p] * (1 - fast[p]);
    }
    return time;
  }
  // Each listed configuration weighs the probability of its tiers when each
  // operand is slow independently with its miss fraction; configurations a
  // table omits are never run, so the listed ones share the whole weight.
  double weighted = 0;
  double weight_sum = 0;
  for (const auto& [mask, time] : cost.table()) {
    double weight = 1;
    for (size_t p = 0; p < fast.size() && weight > 0; ++p) {
      weight *= (mask >> p) & 1 ? 1 - fast[p] : fast[p];
    }
    weighted += weight * time;
    weight_sum += weight;
  }
  if (!(weight_sum > 0)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "kernel ", kernel.id,
        ": its profile table lists none of the configurations the 2LM "
        "simulation needs (a configuration with its operands where the "
        "cache put them)"));
  }
  return weighted / weight_sum;
}

}  // namespace

absl::StatusOr<TwoLevelMemoryResult> SimulateTwoLevelMemory(
    const GraphModel& graph, const ProfileModel& profile,
    const TwoLevelMemoryOptions& options) {
  const uint64_t line = options.line_bytes;
  if (line < kMinLineBytes || line > kMaxLineBytes || (line & (line - 1))) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "2LM cache line of %u bytes: must be a power of two from %u to %u",
        line, kMinLineBytes, kMaxLineBytes));
  }
  if (options.cache_bytes < line) {
    return absl::InvalidArgumentError(
        absl::StrFormat("2LM cache of %u bytes holds no %u-byte line",
                        options.cache_bytes, line));
  }
  for (const TensorInfo& tensor : graph.tensors()) {
    if (tensor.fixed_tier == v1::TIER_FAST) {
      return absl::FailedPreconditionError(absl::StrCat(
          "tensor ", tensor.id,
          " is pinned to the fast tier, which 2LM does not expose (its fast "
          "memory is only a cache)"));
    }
  }
  const uint64_t sets = options.cache_bytes / line;
  DirectMappedCache cache(sets);
  FlatHeap heap(std::max(kPageBytes, line));
  std::vector<uint64_t> address(graph.num_tensors(), 0);
  for (int t = 0; t < graph.num_tensors(); ++t) {
    if (graph.tensor(t).producer < 0) {
      address[t] = heap.Allocate(graph.tensor(t).size_bytes);
    }
  }
  // Tensors freed after each kernel.
  std::vector<std::vector<int>> dying(graph.num_kernels());
  for (int t = 0; t < graph.num_tensors(); ++t) {
    dying[graph.tensor(t).last_live].push_back(t);
  }

  TwoLevelMemoryResult result;
  result.kernel_time_us.resize(graph.num_kernels());
  std::vector<double> fast;
  std::vector<char> read(graph.num_tensors(), 0);
  std::vector<char> written(graph.num_tensors(), 0);
  std::vector<double> read_fast(graph.num_tensors(), 0);
  std::vector<double> write_fast(graph.num_tensors(), 0);
  for (int k = 0; k < graph.num_kernels(); ++k) {
    const KernelInfo& kernel = graph.kernel(k);
    const KernelCost* cost = profile.Find(kernel.signature_key);
    if (cost == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat("kernel ", kernel.id, ": no cost in the profile"));
    }
    for (int p = 0; p < static_cast<int>(kernel.operands.size()); ++p) {
      const int t = kernel.operands[p];
      if (p >= kernel.num_inputs && graph.tensor(t).producer == k &&
          !written[t] && !read[t]) {
        address[t] = heap.Allocate(graph.tensor(t).size_bytes);
      }
      (p < kernel.num_inputs ? read : written)[t] = 1;
    }
    uint64_t writeback_lines = 0;
    // Inputs are read before outputs are written.
    for (bool write : {false, true}) {
      for (int t : kernel.distinct_operands) {
        if (!(write ? written : read)[t]) continue;
        const uint64_t lines = AlignUp(graph.tensor(t).size_bytes, line) / line;
        const DirectMappedCache::Counts counts =
            cache.Access(address[t] / line, lines, write);
        (write ? write_fast : read_fast)[t] =
            static_cast<double>(counts.hit_lines) / static_cast<double>(lines);
        result.hit_bytes += counts.hit_lines * line;
        result.miss_bytes += (lines - counts.hit_lines) * line;
        writeback_lines += counts.writeback_lines;
      }
    }
    fast.assign(kernel.operands.size(), 0);
    for (int p = 0; p < static_cast<int>(kernel.operands.size()); ++p) {
      const int t = kernel.operands[p];
      fast[p] = p < kernel.num_inputs ? read_fast[t] : write_fast[t];
    }
    for (int t : kernel.distinct_operands) read[t] = written[t] = 0;
    AUTOTM_ASSIGN_OR_RETURN(const double kernel_us,
                            BlendedTimeUs(*cost, fast, kernel));
    const uint64_t writeback_bytes = writeback_lines * line;
    const double writeback_us = profile.SyncToSlowUs(writeback_bytes);
    result.writeback_bytes += writeback_bytes;
    result.writeback_time_us += writeback_us;
    result.kernel_time_us[k] = kernel_us + writeback_us;
    result.time_us += result.kernel_time_us[k];
    for (int t : dying[k]) heap.Free(address[t], graph.tensor(t).size_bytes);
  }
  result.address_space_bytes = heap.extent();
  return result;
}

absl::StatusOr<v1::Plan> TwoLevelMemoryPlan(
    const GraphModel& graph, const ProfileModel& profile,
    const TwoLevelMemoryOptions& options) {
  AUTOTM_ASSIGN_OR_RETURN(TwoLevelMemoryResult simulated,
                          SimulateTwoLevelMemory(graph, profile, options));
  // Every tensor slow, never moved: AssemblePlan gives the structure (and
  // the all-slow configurations), the simulation the times.
  const std::vector<TensorSchedule> all_slow(graph.num_tensors());
  AUTOTM_ASSIGN_OR_RETURN(
      v1::Plan plan,
      AssemblePlan(graph, profile, all_slow, v1::METHOD_TWO_LEVEL_MEMORY,
                   options.cache_bytes));
  AUTOTM_ASSIGN_OR_RETURN(
      AllocationReport layout,
      AssignOffsets(graph, options.cache_bytes, kDefaultAlignmentBytes, &plan));
  (void)layout;  // nothing is fast: the empty pool always fits
  for (int k = 0; k < graph.num_kernels(); ++k) {
    plan.mutable_kernels(k)->set_time_us(simulated.kernel_time_us[k]);
  }
  plan.set_kernel_time_us(simulated.time_us);
  plan.set_move_time_us(0);
  plan.set_predicted_time_us(simulated.time_us);
  v1::TwoLevelMemory& cache = *plan.mutable_two_level_memory();
  cache.set_line_bytes(options.line_bytes);
  cache.set_address_space_bytes(simulated.address_space_bytes);
  cache.set_hit_bytes(simulated.hit_bytes);
  cache.set_miss_bytes(simulated.miss_bytes);
  cache.set_writeback_bytes(simulated.writeback_bytes);
  cache.set_writeback_time_us(simulated.writeback_time_us);
  plan.mutable_stats()->set_termination(v1::TERMINATION_HEURISTIC);
  plan.mutable_stats()->set_objective_us(simulated.time_us);
  return plan;
}

}  // namespace autotm::solver
