#include "solver/baselines.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "solver/allocator.h"
#include "solver/checked_math.h"
#include "solver/range_max_tree.h"
#include "solver/schedule.h"

namespace autotm::solver {
namespace {

constexpr char kSolverName[] = "baseline";

// First touch's layouts when a block fixed to the fast tier overflows: each
// but the last demotes the free tensors whose blocks overflow and lays out
// again; the last lays out the fixed tensors alone (every free tensor slow).
// Without such a block one layout serves (RunBaseline).
constexpr int kMaxFirstTouchLayouts = 3;

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

// Bytes of the fast tensors live at each kernel when tensor t is fast exactly
// when fast[t]. Linear in kernels + tensors (a difference array over the
// live intervals).
std::vector<uint64_t> FastBytesPerKernel(const GraphModel& graph,
                                         const std::vector<bool>& fast,
                                         uint64_t alignment) {
  std::vector<__int128> diff(graph.num_kernels() + 1, 0);
  for (int t = 0; t < graph.num_tensors(); ++t) {
    if (!fast[t]) continue;
    const TensorInfo& tensor = graph.tensor(t);
    const uint64_t size = AlignUp(tensor.size_bytes, alignment);
    diff[tensor.first_live] += size;
    diff[tensor.last_live + 1] -= size;
  }
  // Sums of up to millions of sizes below 2^50 fit 128 bits; each kernel's
  // total saturates at the largest uint64.
  std::vector<uint64_t> bytes(graph.num_kernels(), 0);
  __int128 running = 0;
  for (int k = 0; k < graph.num_kernels(); ++k) {
    running += diff[k];
    bytes[k] = running > static_cast<__int128>(kSaturatedBytes)
                   ? kSaturatedBytes
                   : static_cast<uint64_t>(running);
  }
  return bytes;
}

// The kernel with the most fast bytes (the first one on ties).
int PeakKernel(const std::vector<uint64_t>& bytes) {
  return static_cast<int>(std::max_element(bytes.begin(), bytes.end()) -
                          bytes.begin());
}

PlanOutcome Infeasible(const GraphModel& graph, v1::Method method,
                       const std::vector<uint64_t>& fast_bytes,
                       uint64_t budget_bytes, absl::string_view what,
                       std::chrono::steady_clock::time_point start) {
  const int k = PeakKernel(fast_bytes);
  PlanOutcome outcome;
  outcome.stats.set_termination(v1::TERMINATION_INFEASIBLE);
  outcome.stats.set_solver(kSolverName);
  outcome.stats.set_build_seconds(SecondsSince(start));
  outcome.diagnostic = absl::StrCat(
      v1::Method_Name(method), ": ", what, " need ", fast_bytes[k],
      " bytes of fast memory at kernel #", k, " '", graph.kernel(k).id,
      "', more than the budget of ", budget_bytes, " bytes (",
      fast_bytes[k] - budget_bytes, " bytes over)");
  return outcome;
}

// The plan for `method` in which tensor t is created fast exactly when
// fast[t], with no moves.
absl::StatusOr<v1::Plan> AssembleFor(const GraphModel& graph,
                                     const ProfileModel& profile,
                                     const std::vector<bool>& fast,
                                     v1::Method method, uint64_t budget_bytes) {
  std::vector<TensorSchedule> schedule(graph.num_tensors());
  for (int t = 0; t < graph.num_tensors(); ++t) {
    schedule[t].creation_tier = fast[t] ? v1::TIER_FAST : v1::TIER_SLOW;
  }
  return AssemblePlan(graph, profile, schedule, method, budget_bytes);
}

// Gives each fast interval of `plan` the offset of the same interval in
// `laid_out` (a plan of the same graph whose fast intervals include
// `plan`'s) and sets the pool fields as AssignOffsets does: offsets that
// were below the budget stay below it, and blocks that did not overlap
// still do not. Internal when an interval of `plan` is missing there.
absl::Status KeepOffsets(const GraphModel& graph, const v1::Plan& laid_out,
                         uint64_t alignment_bytes, v1::Plan& plan) {
  alignment_bytes = std::max<uint64_t>(alignment_bytes, 1);
  uint64_t used = 0;
  for (int t = 0; t < graph.num_tensors(); ++t) {
    const auto& from = laid_out.tensors(t).fast_intervals();
    auto& to = *plan.mutable_tensors(t)->mutable_fast_intervals();
    if (to.empty()) continue;
    if (to.size() != from.size()) {
      return absl::InternalError(absl::StrCat(
          "first touch: tensor '", graph.tensor(t).id, "' has ", to.size(),
          " fast intervals after the demotions, ", from.size(), " before"));
    }
    const uint64_t size = AlignUp(graph.tensor(t).size_bytes, alignment_bytes);
    for (int i = 0; i < to.size(); ++i) {
      if (to[i].first_kernel() != from[i].first_kernel() ||
          to[i].last_kernel() != from[i].last_kernel()) {
        return absl::InternalError(
            absl::StrCat("first touch: tensor '", graph.tensor(t).id,
                         "' changed its fast interval with the demotions"));
      }
      to[i].set_offset_bytes(from[i].offset_bytes());
      used = std::max(used, from[i].offset_bytes() + size);
    }
  }
  plan.set_alignment_bytes(alignment_bytes);
  plan.set_pool_bytes_used(used);
  return absl::OkStatus();
}

// First-touch NUMA placement: in kernel order, each free tensor is created
// fast when it fits beside the fast tensors live at that moment, and never
// moves. Tensors fixed to the fast tier are counted first, over their whole
// lifetime, so that a free tensor never crowds out a pinned one created later.
std::vector<bool> FirstTouch(const GraphModel& graph, uint64_t budget_bytes,
                             uint64_t alignment) {
  std::vector<bool> fast(graph.num_tensors(), false);
  for (int t = 0; t < graph.num_tensors(); ++t) {
    fast[t] = graph.tensor(t).fixed_tier == v1::TIER_FAST;
  }
  // Fast bytes per kernel, as a range-max tree: placing a tensor asks for
  // the most bytes over its lifetime and adds its size there, O(log n) each
  // (a scan of every lifetime made 100k-kernel graphs quadratic).
  const std::vector<uint64_t> pinned =
      FastBytesPerKernel(graph, fast, alignment);
  RangeMaxTree used(std::vector<int64_t>(pinned.begin(), pinned.end()));
  auto place = [&](int t) {
    const TensorInfo& tensor = graph.tensor(t);
    if (tensor.fixed_tier != v1::TIER_UNSPECIFIED) return;
    const uint64_t size = AlignUp(tensor.size_bytes, alignment);
    if (size > budget_bytes) return;
    const uint64_t room = budget_bytes - size;
    if (static_cast<uint64_t>(used.Max(tensor.first_live, tensor.last_live)) >
        room) {
      return;
    }
    fast[t] = true;
    used.Add(tensor.first_live, tensor.last_live, static_cast<int64_t>(size));
  };
  // Graph arguments exist from kernel 0, in tensor order.
  for (int t = 0; t < graph.num_tensors(); ++t) {
    if (graph.tensor(t).producer < 0) place(t);
  }
  for (int k = 0; k < graph.num_kernels(); ++k) {
    const KernelInfo& kernel = graph.kernel(k);
    for (size_t p = kernel.num_inputs; p < kernel.operands.size(); ++p) {
      place(kernel.operands[p]);
    }
  }
  return fast;
}

// What one overflowing layout made first touch do.
struct Demotion {
  bool demoted = false;          // some free tensor was demoted
  bool fixed_overflows = false;  // a block fixed to the fast tier overflows
};

// Demotes (clears in `fast`) every free tensor with a block of `plan`'s
// layout that ends past the budget, as an allocator refusing it would.
Demotion DemoteOverflowingBlocks(const GraphModel& graph, const v1::Plan& plan,
                                 uint64_t budget_bytes,
                                 uint64_t alignment_bytes,
                                 std::vector<bool>& fast) {
  Demotion demotion;
  for (int t = 0; t < graph.num_tensors(); ++t) {
    const uint64_t size = AlignUp(graph.tensor(t).size_bytes, alignment_bytes);
    for (const v1::FastInterval& interval : plan.tensors(t).fast_intervals()) {
      if (interval.offset_bytes() + size <= budget_bytes) continue;
      if (graph.tensor(t).fixed_tier != v1::TIER_UNSPECIFIED) {
        demotion.fixed_overflows = true;
      } else if (fast[t]) {
        fast[t] = false;
        demotion.demoted = true;
      }
    }
  }
  return demotion;
}

// A baseline's plan, laid out in `layouts` AssignOffsets calls, as an
// outcome whose stats say how it was made.
PlanOutcome Succeeded(v1::Plan plan, int layouts,
                      std::chrono::steady_clock::time_point start) {
  PlanOutcome outcome;
  outcome.stats.set_termination(v1::TERMINATION_HEURISTIC);
  outcome.stats.set_objective_us(plan.predicted_time_us());
  outcome.stats.set_solver(kSolverName);
  outcome.stats.set_allocation_rounds(layouts);
  outcome.stats.set_build_seconds(SecondsSince(start));
  *plan.mutable_stats() = outcome.stats;
  outcome.plan = std::move(plan);
  return outcome;
}

}  // namespace

absl::StatusOr<PlanOutcome> RunBaseline(
    const GraphModel& graph, const ProfileModel& profile, v1::Method method,
    uint64_t budget_bytes, uint64_t alignment_bytes, bool skyline_layouts) {
  const auto start = std::chrono::steady_clock::now();
  if (method != v1::METHOD_ALL_FAST && method != v1::METHOD_ALL_SLOW &&
      method != v1::METHOD_FIRST_TOUCH) {
    return absl::InvalidArgumentError(absl::StrCat(
        "method ", v1::Method_Name(method),
        " is not a baseline; use METHOD_ALL_FAST, METHOD_ALL_SLOW or "
        "METHOD_FIRST_TOUCH"));
  }

  // Tensors fixed to the fast tier must fit whatever the method.
  std::vector<bool> fast(graph.num_tensors());
  for (int t = 0; t < graph.num_tensors(); ++t) {
    fast[t] = graph.tensor(t).fixed_tier == v1::TIER_FAST;
  }
  {
    const std::vector<uint64_t> pinned =
        FastBytesPerKernel(graph, fast, alignment_bytes);
    if (pinned[PeakKernel(pinned)] > budget_bytes) {
      return Infeasible(graph, method, pinned, budget_bytes,
                        "tensors fixed to the fast tier", start);
    }
  }

  if (method == v1::METHOD_ALL_FAST) {
    for (int t = 0; t < graph.num_tensors(); ++t) {
      fast[t] = graph.tensor(t).fixed_tier != v1::TIER_SLOW;
    }
    const std::vector<uint64_t> bytes =
        FastBytesPerKernel(graph, fast, alignment_bytes);
    if (bytes[PeakKernel(bytes)] > budget_bytes) {
      return Infeasible(graph, method, bytes, budget_bytes,
                        "all tensors in the fast tier", start);
    }
  } else if (method == v1::METHOD_FIRST_TOUCH) {
    fast = FirstTouch(graph, budget_bytes, alignment_bytes);
  }

  // Lay the fast tensors out in the pool. Fragmentation can make a layout
  // overflow although the byte counts fit: first touch then demotes the free
  // tensors whose blocks overflow (as an allocator refusing them would) and
  // keeps the others where the layout put them, all below the budget, so one
  // layout serves. Laying the rest out again could only demote more (a
  // tensor once demoted stays slow); it used to, unbounded: issue 19's
  // 20,008-kernel graph took 4 rounds of 4 classic and 16 squeaky-wheel
  // layouts, most of the heuristic's time there. Only a block fixed to the
  // fast tier that overflows needs another layout (see
  // kMaxFirstTouchLayouts). The other baselines have no such freedom.
  absl::StatusOr<v1::Plan> plan;
  int layouts = 0;
  for (;;) {
    plan = AssembleFor(graph, profile, fast, method, budget_bytes);
    if (!plan.ok()) return plan.status();
    ++layouts;
    absl::StatusOr<AllocationReport> layout = AssignOffsets(
        graph, budget_bytes, alignment_bytes, &*plan, kMaxLayoutRepairRounds,
        absl::InfiniteDuration(), INT64_MAX, kMaxClassicLayoutPairs,
        SkylineLayoutPairs(skyline_layouts));
    if (!layout.ok()) return layout.status();
    if (layout->fits) break;
    bool demoted = false;
    bool fixed_overflows = false;
    if (method == v1::METHOD_FIRST_TOUCH) {
      const Demotion demotion = DemoteOverflowingBlocks(
          graph, *plan, budget_bytes, alignment_bytes, fast);
      demoted = demotion.demoted;
      fixed_overflows = demotion.fixed_overflows;
      if (demoted && !fixed_overflows) {
        absl::StatusOr<v1::Plan> kept =
            AssembleFor(graph, profile, fast, method, budget_bytes);
        if (!kept.ok()) return kept.status();
        if (absl::Status status =
                KeepOffsets(graph, *plan, alignment_bytes, *kept);
            !status.ok()) {
          return status;
        }
        plan = *std::move(kept);
        break;
      }
      // A fixed block overflows: the next layout starts afresh; the last
      // one allowed (or one after a layout where no free block overflowed)
      // has the fixed tensors alone.
      if (!demoted || layouts + 1 >= kMaxFirstTouchLayouts) {
        for (int t = 0; t < graph.num_tensors(); ++t) {
          if (fast[t] && graph.tensor(t).fixed_tier == v1::TIER_UNSPECIFIED) {
            fast[t] = false;
            demoted = true;
          }
        }
      }
    }
    if (!demoted) {
      PlanOutcome outcome = Infeasible(
          graph, method, FastBytesPerKernel(graph, fast, alignment_bytes),
          budget_bytes, "the fast tensors' pool layout", start);
      outcome.diagnostic = absl::StrCat(
          v1::Method_Name(method), ": the fast tensors ",
          fixed_overflows ? "(those fixed to the fast tier alone) " : "",
          "fit the budget of ", budget_bytes,
          " bytes by count, but their best-fit layout needs ",
          layout->required_bytes, " bytes (fragmentation)");
      outcome.stats.set_allocation_rounds(layouts);
      return outcome;
    }
  }
  if (plan->peak_fast_bytes() > budget_bytes) {
    // Unreachable: the placements above respect the budget.
    return absl::InternalError(absl::StrCat(
        v1::Method_Name(method), " produced a plan with ",
        plan->peak_fast_bytes(), " fast bytes for a budget of ", budget_bytes));
  }

  return Succeeded(*std::move(plan), layouts, start);
}

}  // namespace autotm::solver
