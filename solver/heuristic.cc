#include "solver/heuristic.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <queue>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "solver/allocator.h"
#include "solver/baselines.h"
#include "solver/range_max_tree.h"
#include "solver/schedule.h"
#include "solver/status_macros.h"

namespace autotm::solver {
namespace {

// The price of leaving slow a tensor that some kernel's profile only lists
// fast: far above any real penalty, so that only the budget can force it.
constexpr double kMustBeFastUs = 1e9;

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// `seconds` after `start` (capped at a day: options may say "no limit").
Clock::time_point Deadline(Clock::time_point start, double seconds) {
  return start +
         std::chrono::duration_cast<Clock::duration>(
             std::chrono::duration<double>(std::clamp(seconds, 0.0, 86400.0)));
}

// A tensor the heuristic places: its decision points (TensorInfo::users) and
// what being slow at each costs.
struct FreeTensor {
  int tensor = 0;
  int64_t size = 0;  // rounded up to the alignment
  std::vector<int> points;
  // gain[g]: the kernel time saved by being fast at points[g] (the slow
  // penalty of this tensor's operand positions there, all else as in the
  // baseline configuration).
  std::vector<double> gain;
  int last_live = 0;  // > points.back() for an updated weight
  double fetch_us = 0;
  double write_us = 0;

  bool has_tail() const { return last_live > points.back(); }
  int num_points() const { return static_cast<int>(points.size()); }
};

// A stretch in fast memory: points [first, last] of one tensor and the kernels
// between them, then through the end of its life when `tail`. A stretch from
// point 0 is the tensor created fast (dirty: no slow copy); any other starts
// with a blocking copy to fast before points[first] (clean). It ends with the
// tensor's death, or with an eviction after points[last] - a copy for a dirty
// stretch, free for a clean one.
struct Run {
  int first = 0;
  int last = 0;
  bool tail = false;
};

bool Dirty(const Run& run) { return run.first == 0; }

bool Evicted(const FreeTensor& t, const Run& run) {
  return run.last < t.num_points() - 1 || (t.has_tail() && !run.tail);
}

int StartKernel(const FreeTensor& t, const Run& run) {
  return t.points[run.first];
}

int EndKernel(const FreeTensor& t, const Run& run) {
  return run.tail ? t.last_live : t.points[run.last];
}

// Copy time the run pays.
double MoveCost(const FreeTensor& t, const Run& run) {
  double cost = Dirty(run) ? 0 : t.fetch_us;
  if (Dirty(run) && Evicted(t, run)) cost += t.write_us;
  return cost;
}

double GainOf(const FreeTensor& t, int first, int last) {
  double sum = 0;
  for (int g = first; g <= last; ++g) sum += t.gain[g];
  return sum;
}

// A placement: each tensor's fast stretches, sorted and disjoint.
using Placement = std::vector<std::vector<Run>>;

// The problem as the heuristic sees it.
class Problem {
 public:
  Problem(const GraphModel& graph, const ProfileModel& profile,
          uint64_t budget_bytes, const HeuristicOptions& options);

  const std::vector<FreeTensor>& tensors() const { return tensors_; }
  // Fast bytes of the tensors fixed to the fast tier at each kernel.
  const std::vector<int64_t>& pinned() const { return pinned_; }

  // Estimated time of `placement` above the baseline: slow penalties and
  // copies, with the current linearisation.
  double Cost(const Placement& placement) const;

  // The predicted time of `placement` under the profile itself (what
  // AssemblePlan computes, without laying it out): every kernel at its
  // configuration plus the blocking copies. +inf when a kernel's
  // configuration is missing from the profile.
  double TrueCost(const Placement& placement) const;

  // Re-prices each tensor's slow penalty at each use as the change of that
  // kernel's time when this tensor alone goes slow, every other operand
  // where `around` puts it (nullptr: every placed operand fast). With tables
  // that are not separable (slowdowns that multiply) a penalty depends on
  // the other operands' tiers; linearising around the best placement so far
  // makes the next rounds price what that placement really pays.
  void Linearize(const Placement* around);

  // Whether some kernel is priced by a table that is not separable, so that
  // Linearize can change the penalties.
  bool has_tables() const { return has_tables_; }

  // Fast bytes of `placement` (pinned tensors included) at every kernel.
  std::vector<int64_t> Usage(const Placement& placement) const;

  // The cheapest placement when fast bytes at kernel k cost price[k] per byte
  // (one shortest path per tensor); sets *value to its priced cost.
  Placement Priced(const std::vector<double>& price, double* value) const;

  // Cuts `placement` down until it fits `limits` (where it can: pinned
  // tensors alone may exceed a lowered limit), dropping or shortening the
  // stretches that lose least per byte at each overflowing kernel.
  void Repair(const std::vector<int64_t>& limits, Placement& placement) const;

  // Adds fast stretches to `placement` while they fit `limits`, best gain per
  // byte-kernel first.
  void Fill(const std::vector<int64_t>& limits, Placement& placement) const;

  // The schedule of `placement`.
  std::vector<TensorSchedule> Schedule(const GraphModel& graph,
                                       const Placement& placement) const;

 private:
  // One placed tensor among a kernel's operands: at which of its points, in
  // which operand positions.
  struct Use {
    int tensor = 0;  // index into tensors_
    int point = 0;
    std::vector<int> positions;
  };
  // Tiers of every operand of kernel k under `fast_at` (per placed tensor,
  // per point: fast?), others as the baseline puts them.
  std::vector<bool> SlowOperands(
      int k, const std::vector<std::vector<char>>& fast_at) const;
  std::vector<std::vector<char>> FastPoints(const Placement& placement) const;

  int num_kernels_ = 0;
  bool allow_moves_ = true;
  bool has_tables_ = false;
  std::vector<FreeTensor> tensors_;
  std::vector<int64_t> pinned_;
  std::vector<const KernelCost*> costs_;  // per kernel; null: not profiled
  // Per kernel: operands slow whatever the placement (fixed slow, or too
  // large for the budget), and the placed tensors it uses.
  std::vector<std::vector<bool>> base_slow_;
  std::vector<std::vector<Use>> uses_;
};

Problem::Problem(const GraphModel& graph, const ProfileModel& profile,
                 uint64_t budget_bytes, const HeuristicOptions& options)
    : num_kernels_(graph.num_kernels()),
      allow_moves_(options.allow_moves),
      pinned_(graph.num_kernels(), 0) {
  const uint64_t alignment = options.alignment_bytes;
  // Tensors the heuristic places; -1 for fixed ones and those that can never
  // be fast.
  std::vector<int> index(graph.num_tensors(), -1);
  std::vector<int64_t> pinned_diff(num_kernels_ + 1, 0);
  for (int t = 0; t < graph.num_tensors(); ++t) {
    const TensorInfo& info = graph.tensor(t);
    const uint64_t size = AlignUp(info.size_bytes, alignment);
    if (info.fixed_tier == v1::TIER_FAST) {
      pinned_diff[info.first_live] += static_cast<int64_t>(size);
      pinned_diff[info.last_live + 1] -= static_cast<int64_t>(size);
      continue;
    }
    if (info.fixed_tier == v1::TIER_SLOW || size > budget_bytes) continue;
    index[t] = static_cast<int>(tensors_.size());
    FreeTensor& free = tensors_.emplace_back();
    free.tensor = t;
    free.size = static_cast<int64_t>(size);
    free.points = info.users;
    free.gain.assign(info.users.size(), 0.0);
    free.last_live = info.last_live;
    free.fetch_us = profile.SyncToFastUs(info.size_bytes);
    free.write_us = profile.SyncToSlowUs(info.size_bytes);
  }
  int64_t running = 0;
  for (int k = 0; k < num_kernels_; ++k) {
    running += pinned_diff[k];
    pinned_[k] = running;
  }

  // Each kernel's operands: which are slow whatever the plan, and at which
  // point of which placed tensor the others are used. Points advance in
  // kernel order.
  costs_.assign(num_kernels_, nullptr);
  base_slow_.resize(num_kernels_);
  uses_.resize(num_kernels_);
  std::vector<int> next_point(tensors_.size(), 0);
  for (int k = 0; k < num_kernels_; ++k) {
    const KernelInfo& kernel = graph.kernel(k);
    costs_[k] = profile.Find(kernel.signature_key);
    if (costs_[k] != nullptr && !costs_[k]->separable()) has_tables_ = true;
    std::vector<bool>& slow = base_slow_[k];
    slow.assign(kernel.operands.size(), false);
    for (size_t p = 0; p < kernel.operands.size(); ++p) {
      slow[p] = index[kernel.operands[p]] < 0 &&
                graph.tensor(kernel.operands[p]).fixed_tier != v1::TIER_FAST;
    }
    for (int t : kernel.distinct_operands) {
      const int i = index[t];
      if (i < 0) continue;
      FreeTensor& free = tensors_[i];
      while (next_point[i] < free.num_points() &&
             free.points[next_point[i]] < k) {
        ++next_point[i];
      }
      if (next_point[i] >= free.num_points() ||
          free.points[next_point[i]] != k) {
        continue;
      }
      Use use{i, next_point[i], {}};
      for (size_t p = 0; p < kernel.operands.size(); ++p) {
        if (kernel.operands[p] == t)
          use.positions.push_back(static_cast<int>(p));
      }
      uses_[k].push_back(std::move(use));
    }
  }
  Linearize(nullptr);
}

std::vector<std::vector<char>> Problem::FastPoints(
    const Placement& placement) const {
  std::vector<std::vector<char>> fast_at(tensors_.size());
  for (size_t i = 0; i < tensors_.size(); ++i) {
    fast_at[i].assign(tensors_[i].points.size(), 0);
    for (const Run& run : placement[i]) {
      for (int g = run.first; g <= run.last; ++g) fast_at[i][g] = 1;
    }
  }
  return fast_at;
}

std::vector<bool> Problem::SlowOperands(
    int k, const std::vector<std::vector<char>>& fast_at) const {
  std::vector<bool> slow = base_slow_[k];
  for (const Use& use : uses_[k]) {
    const bool fast = fast_at.empty() || fast_at[use.tensor][use.point];
    for (int p : use.positions) slow[p] = !fast;
  }
  return slow;
}

void Problem::Linearize(const Placement* around) {
  const std::vector<std::vector<char>> fast_at =
      around == nullptr ? std::vector<std::vector<char>>{}
                        : FastPoints(*around);
  for (int k = 0; k < num_kernels_; ++k) {
    const KernelCost* cost = costs_[k];
    if (cost == nullptr) continue;
    std::vector<bool> slow = SlowOperands(k, fast_at);
    for (const Use& use : uses_[k]) {
      for (int p : use.positions) slow[p] = false;
      const std::optional<double> fast_time = cost->TimeUs(slow);
      for (int p : use.positions) slow[p] = true;
      const std::optional<double> slow_time = cost->TimeUs(slow);
      const bool was_fast =
          fast_at.empty() || fast_at[use.tensor][use.point] != 0;
      for (int p : use.positions) slow[p] = !was_fast;
      tensors_[use.tensor].gain[use.point] =
          !slow_time.has_value() ? kMustBeFastUs
          : !fast_time.has_value()
              ? 0.0  // only slow is listed: nothing to gain
              : std::max(0.0, *slow_time - *fast_time);
    }
  }
}

double Problem::TrueCost(const Placement& placement) const {
  const std::vector<std::vector<char>> fast_at = FastPoints(placement);
  double total = 0;
  for (int k = 0; k < num_kernels_; ++k) {
    if (costs_[k] == nullptr) return kInfinity;
    const std::optional<double> time =
        costs_[k]->TimeUs(SlowOperands(k, fast_at));
    if (!time.has_value()) return kInfinity;
    total += *time;
  }
  for (size_t i = 0; i < tensors_.size(); ++i) {
    for (const Run& run : placement[i]) total += MoveCost(tensors_[i], run);
  }
  return total;
}

double Problem::Cost(const Placement& placement) const {
  double cost = 0;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const FreeTensor& t = tensors_[i];
    double fast_gain = 0;
    for (const Run& run : placement[i]) {
      fast_gain += GainOf(t, run.first, run.last);
      cost += MoveCost(t, run);
    }
    cost += GainOf(t, 0, t.num_points() - 1) - fast_gain;
  }
  return cost;
}

std::vector<int64_t> Problem::Usage(const Placement& placement) const {
  std::vector<int64_t> diff(num_kernels_ + 1, 0);
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const FreeTensor& t = tensors_[i];
    for (const Run& run : placement[i]) {
      diff[StartKernel(t, run)] += t.size;
      diff[EndKernel(t, run) + 1] -= t.size;
    }
  }
  std::vector<int64_t> usage(num_kernels_);
  int64_t running = 0;
  for (int k = 0; k < num_kernels_; ++k) {
    running += diff[k];
    usage[k] = pinned_[k] + running;
  }
  return usage;
}

Placement Problem::Priced(const std::vector<double>& price,
                          double* value) const {
  // prefix[k] = price[0] + ... + price[k - 1].
  std::vector<double> prefix(num_kernels_ + 1, 0.0);
  for (int k = 0; k < num_kernels_; ++k) prefix[k + 1] = prefix[k] + price[k];
  auto occupancy = [&](int64_t size, int first, int last) {
    return first > last
               ? 0.0
               : static_cast<double>(size) * (prefix[last + 1] - prefix[first]);
  };
  enum State { kSlow = 0, kDirty = 1, kClean = 2 };
  struct Back {
    int8_t from = kSlow;
    bool gap_fast = false;  // stayed fast through the kernels before
  };
  Placement placement(tensors_.size());
  double total = 0;
  std::vector<std::array<double, 3>> best;
  std::vector<std::array<Back, 3>> back;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const FreeTensor& t = tensors_[i];
    const int n = t.num_points();
    best.assign(n, {kInfinity, kInfinity, kInfinity});
    back.assign(n, {});
    best[0][kSlow] = t.gain[0];
    best[0][kDirty] = occupancy(t.size, t.points[0], t.points[0]);
    for (int g = 1; g < n; ++g) {
      const double gap =
          occupancy(t.size, t.points[g - 1] + 1, t.points[g] - 1);
      const double here = occupancy(t.size, t.points[g], t.points[g]);
      // Arriving slow: stayed slow, or evicted after the previous point.
      double slow = best[g - 1][kSlow];
      Back slow_back{kSlow, false};
      if (allow_moves_) {
        if (best[g - 1][kDirty] + t.write_us < slow) {
          slow = best[g - 1][kDirty] + t.write_us;
          slow_back = {kDirty, false};
        }
        if (best[g - 1][kClean] < slow) {
          slow = best[g - 1][kClean];
          slow_back = {kClean, false};
        }
      }
      best[g][kSlow] = slow + t.gain[g];
      back[g][kSlow] = slow_back;
      best[g][kDirty] = best[g - 1][kDirty] + gap + here;
      back[g][kDirty] = {kDirty, true};
      if (allow_moves_) {
        const double kept = best[g - 1][kClean] + gap;
        const double fetched = slow + t.fetch_us;
        best[g][kClean] = std::min(kept, fetched) + here;
        back[g][kClean] = kept <= fetched ? Back{kClean, true} : slow_back;
      }
    }
    // After the last point: an updated weight stays live to the end.
    const double tail =
        t.has_tail() ? occupancy(t.size, t.points[n - 1] + 1, t.last_live)
                     : 0.0;
    double end[3] = {best[n - 1][kSlow], best[n - 1][kDirty] + tail,
                     best[n - 1][kClean] + tail};
    bool tail_fast[3] = {false, true, true};
    if (t.has_tail() && allow_moves_) {
      if (best[n - 1][kDirty] + t.write_us < end[kDirty]) {
        end[kDirty] = best[n - 1][kDirty] + t.write_us;
        tail_fast[kDirty] = false;
      }
      if (best[n - 1][kClean] < end[kClean]) {
        end[kClean] = best[n - 1][kClean];
        tail_fast[kClean] = false;
      }
    }
    int state = static_cast<int>(std::min_element(end, end + 3) - end);
    total += end[state];
    // Trace the path back into runs (built last to first).
    std::vector<Run>& runs = placement[i];
    bool open = false;
    for (int g = n - 1; g >= 0; --g) {
      if (state != kSlow) {
        if (!open) {
          runs.push_back(Run{g, g, g == n - 1 && tail_fast[state]});
          open = true;
        }
        runs.back().first = g;
      }
      if (g == 0) break;
      const Back& b = back[g][state];
      // A new run starts at g unless the tensor stayed fast since g - 1.
      if (!(state != kSlow && b.gap_fast)) open = false;
      state = b.from;
    }
    std::reverse(runs.begin(), runs.end());
  }
  *value = total;
  return placement;
}

void Problem::Repair(const std::vector<int64_t>& limits,
                     Placement& placement) const {
  struct Active {
    double loss_per_byte;
    int tensor;
    int run;
    bool operator>(const Active& other) const {
      return loss_per_byte > other.loss_per_byte;
    }
  };
  // Runs by start kernel.
  std::vector<std::vector<std::pair<int, int>>> starting(num_kernels_);
  for (size_t i = 0; i < tensors_.size(); ++i) {
    for (size_t r = 0; r < placement[i].size(); ++r) {
      starting[StartKernel(tensors_[i], placement[i][r])].push_back(
          {static_cast<int>(i), static_cast<int>(r)});
    }
  }
  std::vector<std::vector<char>> dropped(tensors_.size());
  for (size_t i = 0; i < tensors_.size(); ++i) {
    dropped[i].assign(placement[i].size(), 0);
  }
  const std::vector<int64_t> usage = Usage(placement);
  // Bytes released so far that still count at the current kernel, and when
  // each release stops counting.
  int64_t released = 0;
  std::vector<int64_t> release_ends(num_kernels_ + 1, 0);
  std::priority_queue<Active, std::vector<Active>, std::greater<Active>> heap;
  for (int k = 0; k < num_kernels_; ++k) {
    released -= release_ends[k];
    for (auto [i, r] : starting[k]) {
      const FreeTensor& t = tensors_[i];
      const Run& run = placement[i][r];
      const double loss = GainOf(t, run.first, run.last) - MoveCost(t, run);
      heap.push({loss / static_cast<double>(t.size), i, r});
    }
    while (usage[k] - released > limits[k] && !heap.empty()) {
      const Active top = heap.top();
      heap.pop();
      Run& run = placement[top.tensor][top.run];
      const FreeTensor& t = tensors_[top.tensor];
      if (dropped[top.tensor][top.run] || EndKernel(t, run) < k) continue;
      // The first point at or after k; the run keeps the points before it.
      int cut = run.first;
      while (cut <= run.last && t.points[cut] < k) ++cut;
      const int old_end = EndKernel(t, run);
      const double drop_loss =
          GainOf(t, run.first, run.last) - MoveCost(t, run);
      bool truncate = false;
      if (cut > run.first && allow_moves_) {
        Run shorter{run.first, cut - 1, false};
        const double truncate_loss =
            GainOf(t, cut, run.last) + MoveCost(t, shorter) - MoveCost(t, run);
        truncate = truncate_loss <= drop_loss;
        if (truncate) run = shorter;
      }
      if (!truncate) dropped[top.tensor][top.run] = 1;
      released += t.size;
      release_ends[old_end + 1] += t.size;
    }
  }
  for (size_t i = 0; i < tensors_.size(); ++i) {
    std::vector<Run> kept;
    for (size_t r = 0; r < placement[i].size(); ++r) {
      if (!dropped[i][r]) kept.push_back(placement[i][r]);
    }
    placement[i] = std::move(kept);
  }
}

void Problem::Fill(const std::vector<int64_t>& limits,
                   Placement& placement) const {
  struct Candidate {
    double density;  // gain per byte-kernel
    double gain;
    int tensor;
    Run run;
  };
  // Two passes: new stretches first, then bridges between stretches (the
  // first pass creates some of them).
  for (int pass = 0; pass < 2; ++pass) {
    std::vector<int64_t> headroom = Usage(placement);
    for (int k = 0; k < num_kernels_; ++k) headroom[k] -= limits[k];
    RangeMaxTree tree(headroom);
    std::vector<Candidate> candidates;
    auto offer = [&](int i, Run run, double gain, int first_kernel,
                     int last_kernel) {
      if (!(gain > 0)) return;
      const double area = static_cast<double>(tensors_[i].size) *
                          (last_kernel - first_kernel + 1);
      candidates.push_back({gain / area, gain, i, run});
    };
    for (size_t i = 0; i < tensors_.size(); ++i) {
      const FreeTensor& t = tensors_[i];
      const std::vector<Run>& runs = placement[i];
      const int n = t.num_points();
      if (pass == 0) {
        // Created fast until just before the next stretch (or for good).
        if (runs.empty() || runs.front().first > 0) {
          const int last = runs.empty() ? n - 1 : runs.front().first - 1;
          if (allow_moves_ || runs.empty()) {
            Run run{0, last, last == n - 1};
            offer(static_cast<int>(i), run,
                  GainOf(t, 0, last) - MoveCost(t, run), StartKernel(t, run),
                  EndKernel(t, run));
          }
        }
        if (!allow_moves_) continue;
        // Fetched for a single use.
        size_t r = 0;
        for (int g = 1; g < n; ++g) {
          while (r < runs.size() && runs[r].last < g) ++r;
          if (r < runs.size() && runs[r].first <= g) continue;
          Run run{g, g, false};
          offer(static_cast<int>(i), run, t.gain[g] - t.fetch_us, t.points[g],
                t.points[g]);
        }
      } else if (allow_moves_) {
        for (size_t r = 0; r + 1 < runs.size(); ++r) {
          const Run& a = runs[r];
          const Run& b = runs[r + 1];
          Run merged{a.first, b.last, b.tail};
          const double gain = GainOf(t, a.last + 1, b.first - 1) +
                              MoveCost(t, a) + MoveCost(t, b) -
                              MoveCost(t, merged);
          offer(static_cast<int>(i), merged, gain, t.points[a.last] + 1,
                t.points[b.first] - 1);
        }
      }
    }
    std::sort(candidates.begin(), candidates.end(),
              [](const Candidate& a, const Candidate& b) {
                return a.density > b.density;
              });
    for (const Candidate& c : candidates) {
      const FreeTensor& t = tensors_[c.tensor];
      std::vector<Run>& runs = placement[c.tensor];
      // The kernels the candidate adds, and whether it still fits beside the
      // tensor's stretches (an earlier candidate of the same tensor may have
      // taken its points).
      auto overlaps = [&](const Run& other) {
        return !(EndKernel(t, other) < StartKernel(t, c.run) ||
                 EndKernel(t, c.run) < StartKernel(t, other));
      };
      int first_kernel = StartKernel(t, c.run);
      int last_kernel = EndKernel(t, c.run);
      std::vector<Run>::iterator merge_from = runs.end();
      if (pass == 1) {
        // A bridge replaces the two runs it joins, which must be unchanged.
        auto a = std::find_if(runs.begin(), runs.end(), [&](const Run& run) {
          return run.first == c.run.first;
        });
        if (a == runs.end() || a + 1 == runs.end() ||
            (a + 1)->last != c.run.last) {
          continue;
        }
        first_kernel = t.points[a->last] + 1;
        last_kernel = t.points[(a + 1)->first] - 1;
        merge_from = a;
      } else if (std::any_of(runs.begin(), runs.end(), overlaps)) {
        continue;
      }
      if (first_kernel <= last_kernel &&
          tree.Max(first_kernel, last_kernel) + t.size > 0) {
        continue;
      }
      if (first_kernel <= last_kernel) {
        tree.Add(first_kernel, last_kernel, t.size);
      }
      if (merge_from != runs.end()) {
        *merge_from = c.run;
        runs.erase(merge_from + 1);
      } else {
        runs.insert(std::upper_bound(runs.begin(), runs.end(), c.run,
                                     [](const Run& a, const Run& b) {
                                       return a.first < b.first;
                                     }),
                    c.run);
      }
    }
  }
}

std::vector<TensorSchedule> Problem::Schedule(
    const GraphModel& graph, const Placement& placement) const {
  std::vector<TensorSchedule> schedule(graph.num_tensors());
  for (int t = 0; t < graph.num_tensors(); ++t) {
    const v1::Tier fixed = graph.tensor(t).fixed_tier;
    schedule[t].creation_tier =
        fixed == v1::TIER_FAST ? v1::TIER_FAST : v1::TIER_SLOW;
  }
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const FreeTensor& t = tensors_[i];
    TensorSchedule& s = schedule[t.tensor];
    for (const Run& run : placement[i]) {
      if (Dirty(run)) {
        s.creation_tier = v1::TIER_FAST;
      } else {
        s.moves.push_back(
            {t.points[run.first], v1::MOVE_DIRECTION_TO_FAST, true});
      }
      if (Evicted(t, run)) {
        s.moves.push_back(
            {t.points[run.last], v1::MOVE_DIRECTION_TO_SLOW, true});
      }
    }
  }
  return schedule;
}

// The tensors of `plan` with a fast interval past the end of the pool.
std::vector<int> Overflowing(const GraphModel& graph, const v1::Plan& plan,
                             uint64_t budget_bytes, uint64_t alignment) {
  std::vector<int> tensors;
  for (int t = 0; t < graph.num_tensors(); ++t) {
    if (graph.tensor(t).fixed_tier != v1::TIER_UNSPECIFIED) continue;
    const uint64_t size = AlignUp(graph.tensor(t).size_bytes, alignment);
    for (const v1::FastInterval& interval : plan.tensors(t).fast_intervals()) {
      if (interval.offset_bytes() + size > budget_bytes) {
        tensors.push_back(t);
        break;
      }
    }
  }
  return tensors;
}

// Assembles `placement` into a plan and lays it out in the pool; when
// fragmentation keeps it out, lowers the limits around the overflow and
// repairs again (as the ILP's allocation rounds do), and in the end makes
// the tensors whose blocks overflow slow, which always fits (the pinned
// tensors fit the budget alone). After `deadline` it goes straight to that
// last resort: a layout of a large graph's many fast intervals takes
// seconds. Sets *rounds to the layouts tried.
absl::StatusOr<v1::Plan> LayOut(const GraphModel& graph,
                                const ProfileModel& profile,
                                const Problem& problem, Placement placement,
                                uint64_t budget_bytes, uint64_t alignment,
                                v1::Method method, Clock::time_point deadline,
                                bool skyline_layouts, int* rounds) {
  constexpr int kLayoutRounds = 10;
  constexpr int kTightenRadius = 2;
  const int num_kernels = graph.num_kernels();
  std::vector<int64_t> limits(
      num_kernels, static_cast<int64_t>(std::min<uint64_t>(
                       budget_bytes, std::numeric_limits<int64_t>::max())));
  for (int round = 1;; ++round) {
    *rounds = round;
    AUTOTM_ASSIGN_OR_RETURN(
        v1::Plan plan,
        AssemblePlan(graph, profile, problem.Schedule(graph, placement), method,
                     budget_bytes));
    // Squeaky-wheel layouts only while the time lasts, and none started
    // past the deadline: each layout of a large plan takes a fraction of a
    // second (in the classic orders; see AssignOffsets).
    const bool in_time = Clock::now() < deadline;
    AUTOTM_ASSIGN_OR_RETURN(
        AllocationReport layout,
        AssignOffsets(graph, budget_bytes, alignment, &plan,
                      in_time ? kMaxLayoutRepairRounds : 0,
                      absl::FromChrono(deadline - Clock::now()), INT64_MAX,
                      kMaxClassicLayoutPairs,
                      SkylineLayoutPairs(skyline_layouts)));
    if (layout.fits) {
      if (plan.peak_fast_bytes() > budget_bytes) {
        return absl::InternalError(absl::StrCat(
            "heuristic produced a plan with ", plan.peak_fast_bytes(),
            " fast bytes for a budget of ", budget_bytes));
      }
      return plan;
    }
    if (round < kLayoutRounds && in_time) {
      // Lower the limits only where blocks overflow, by the overflow (and
      // more each round): the cut that frees a block's worth of room there
      // without giving up fast memory elsewhere.
      const int64_t over = static_cast<int64_t>(layout.required_bytes) -
                           static_cast<int64_t>(budget_bytes);
      const int64_t cut = over + over * (round - 1) / 2;
      std::vector<char> near(num_kernels, 0);
      for (int k : layout.overflow_kernels) {
        for (int j = std::max(0, k - kTightenRadius);
             j <= std::min(num_kernels - 1, k + kTightenRadius); ++j) {
          near[j] = 1;
        }
      }
      for (int k = 0; k < num_kernels; ++k) {
        if (near[k]) limits[k] = std::max<int64_t>(0, limits[k] - cut);
      }
      problem.Repair(limits, placement);
      problem.Fill(limits, placement);
      continue;
    }
    std::vector<char> demote(graph.num_tensors(), 0);
    bool any = false;
    for (int t : Overflowing(graph, plan, budget_bytes, alignment)) {
      demote[t] = 1;
      any = true;
    }
    if (!any) {
      return absl::InternalError(absl::StrFormat(
          "heuristic layout needs %u bytes for a %u-byte pool but no free "
          "tensor overflows it",
          layout.required_bytes, budget_bytes));
    }
    for (size_t i = 0; i < problem.tensors().size(); ++i) {
      if (demote[problem.tensors()[i].tensor]) placement[i].clear();
    }
  }
}

// The placement of `plan`: each free tensor's fast intervals as stretches
// between its decision points. nullopt when an interval starts or ends away
// from them (an asynchronous move) or the plan does not match the graph.
std::optional<Placement> PlacementOf(const GraphModel& graph,
                                     const Problem& problem,
                                     const v1::Plan& plan) {
  if (plan.tensors_size() != graph.num_tensors()) return std::nullopt;
  Placement placement(problem.tensors().size());
  for (size_t i = 0; i < problem.tensors().size(); ++i) {
    const FreeTensor& t = problem.tensors()[i];
    const v1::TensorPlacement& tensor = plan.tensors(t.tensor);
    for (const v1::FastInterval& interval : tensor.fast_intervals()) {
      const int first_kernel = static_cast<int>(interval.first_kernel());
      const int last_kernel = static_cast<int>(interval.last_kernel());
      auto first =
          std::lower_bound(t.points.begin(), t.points.end(), first_kernel);
      if (first == t.points.end() || *first != first_kernel) {
        return std::nullopt;
      }
      Run run;
      run.first = static_cast<int>(first - t.points.begin());
      // A stretch from point 0 is the tensor created fast.
      if (run.first == 0 && tensor.creation_tier() != v1::TIER_FAST) {
        return std::nullopt;
      }
      if (t.has_tail() && last_kernel == t.last_live) {
        run.last = t.num_points() - 1;
        run.tail = true;
      } else {
        auto last =
            std::lower_bound(t.points.begin(), t.points.end(), last_kernel);
        if (last == t.points.end() || *last != last_kernel) {
          return std::nullopt;
        }
        run.last = static_cast<int>(last - t.points.begin());
        run.tail = run.last == t.num_points() - 1 && !t.has_tail();
      }
      if (run.last < run.first) return std::nullopt;
      placement[i].push_back(run);
    }
  }
  return placement;
}

// The pricing rounds: Polyak subgradient steps on the capacity prices, each
// round's paths repaired and filled into a placement that fits `budget` at
// every kernel, until the bound meets the estimate, the rounds run out, the
// time limit passes or the call is cancelled (at least one round). Returns
// the placement with the lowest predicted time under the profile itself.
Placement BestPricedPlacement(Problem& problem, int64_t budget,
                              const HeuristicOptions& options,
                              Clock::time_point start) {
  const std::vector<int64_t>& pinned = problem.pinned();
  const int num_kernels = static_cast<int>(pinned.size());
  auto cancelled = [&] {
    return options.cancel != nullptr && options.cancel->load();
  };

  const std::vector<int64_t> budget_limits(num_kernels, budget);
  std::vector<double> price(num_kernels, 0.0);
  // The placement with the lowest predicted time under the profile itself,
  // and the lowest estimate under the current linearisation (Polyak's
  // target).
  Placement best;
  double best_time = kInfinity;
  double best_cost = kInfinity;
  double best_dual = -kInfinity;
  double step_scale = 1.0;
  int since_dual_improved = 0;
  int rounds = 0;
  // With tables that are not separable, penalties are re-linearised around
  // the best placement this often (rounds).
  constexpr int kRelinearizeRounds = 25;
  for (; rounds < std::max(1, options.max_rounds); ++rounds) {
    if (rounds > 0 &&
        (SecondsSince(start) > options.time_limit_seconds || cancelled())) {
      break;
    }
    if (rounds > 0 && rounds % kRelinearizeRounds == 0 &&
        problem.has_tables()) {
      problem.Linearize(&best);
      best_cost = problem.Cost(best);
      best_dual = -kInfinity;
      since_dual_improved = 0;
      step_scale = 1.0;
    }
    double value = 0;
    Placement priced = problem.Priced(price, &value);
    const std::vector<int64_t> usage = problem.Usage(priced);
    // The Lagrangian bound: the priced paths minus what the prices pay for
    // the budget itself.
    double dual = value;
    double norm = 0;
    std::vector<double> subgradient(num_kernels);
    for (int k = 0; k < num_kernels; ++k) {
      dual -= price[k] * static_cast<double>(budget - pinned[k]);
      subgradient[k] = static_cast<double>(usage[k] - budget);
      // Projected: a zero price cannot fall.
      if (price[k] <= 0 && subgradient[k] < 0) subgradient[k] = 0;
      norm += subgradient[k] * subgradient[k];
    }
    if (dual > best_dual + 1e-9 * std::abs(best_dual)) {
      best_dual = dual;
      since_dual_improved = 0;
    } else if (++since_dual_improved >= 8) {
      step_scale /= 2;
      since_dual_improved = 0;
    }
    Placement placement = priced;
    problem.Repair(budget_limits, placement);
    problem.Fill(budget_limits, placement);
    best_cost = std::min(best_cost, problem.Cost(placement));
    const double time = problem.TrueCost(placement);
    if (time < best_time || best.empty()) {
      best_time = time;
      best = std::move(placement);
    }
    if (norm == 0 || best_cost - best_dual <= 1e-6 * std::abs(best_cost)) {
      // The paths fit, or the bound meets the estimate: optimal for this
      // linearisation (for separable costs, for the problem).
      if (!problem.has_tables()) {
        ++rounds;
        break;
      }
    }
    const double step = step_scale * std::max(best_cost - dual, 1e-9) / norm;
    for (int k = 0; k < num_kernels; ++k) {
      price[k] = std::max(0.0, price[k] + step * subgradient[k]);
    }
  }

  return best;
}

}  // namespace

absl::StatusOr<PlanOutcome> RunHeuristic(const GraphModel& graph,
                                         const ProfileModel& profile,
                                         uint64_t budget_bytes,
                                         const HeuristicOptions& options) {
  const Clock::time_point start = Clock::now();
  const v1::Method method = v1::METHOD_HEURISTIC;
  const uint64_t alignment = options.alignment_bytes;
  Problem problem(graph, profile, budget_bytes, options);
  const int num_kernels = graph.num_kernels();
  const std::vector<int64_t>& pinned = problem.pinned();
  const int64_t budget = static_cast<int64_t>(
      std::min<uint64_t>(budget_bytes, std::numeric_limits<int64_t>::max()));
  PlanOutcome outcome;
  outcome.stats.set_solver("heuristic");
  for (int k = 0; k < num_kernels; ++k) {
    if (pinned[k] > budget) {
      outcome.stats.set_termination(v1::TERMINATION_INFEASIBLE);
      outcome.diagnostic = absl::StrCat(
          "tensors fixed to the fast tier need ", pinned[k],
          " bytes of fast memory at kernel #", k, " '", graph.kernel(k).id,
          "', more than the budget of ", budget_bytes, " bytes (",
          pinned[k] - budget, " bytes over)");
      outcome.stats.set_build_seconds(SecondsSince(start));
      return outcome;
    }
  }
  Placement best = BestPricedPlacement(problem, budget, options, start);

  int layout_rounds = 0;
  AUTOTM_ASSIGN_OR_RETURN(
      v1::Plan plan,
      LayOut(graph, profile, problem, std::move(best), budget_bytes, alignment,
             method, Deadline(start, options.time_limit_seconds),
             options.skyline_layouts, &layout_rounds));
  // First touch competes: the heuristic is never the slower of the two.
  absl::StatusOr<PlanOutcome> first_touch =
      options.compare_first_touch
          ? RunBaseline(graph, profile, v1::METHOD_FIRST_TOUCH, budget_bytes,
                        alignment)
          : absl::StatusOr<PlanOutcome>(PlanOutcome{});
  if (first_touch.ok() && first_touch->plan.has_value() &&
      first_touch->plan->predicted_time_us() < plan.predicted_time_us()) {
    outcome.diagnostic = absl::StrFormat(
        "first touch (%.3f ms) beat the heuristic's own plan (%.3f ms)",
        first_touch->plan->predicted_time_us() / 1000,
        plan.predicted_time_us() / 1000);
    plan = *std::move(first_touch->plan);
  }
  outcome.stats.set_termination(v1::TERMINATION_HEURISTIC);
  outcome.stats.set_objective_us(plan.predicted_time_us());
  outcome.stats.set_allocation_rounds(layout_rounds);
  outcome.stats.set_build_seconds(SecondsSince(start));
  *plan.mutable_stats() = outcome.stats;
  outcome.plan = std::move(plan);
  return outcome;
}

absl::StatusOr<std::optional<v1::Plan>> RepairLayout(
    const GraphModel& graph, const ProfileModel& profile, uint64_t budget_bytes,
    const v1::Plan& plan, const HeuristicOptions& options) {
  const Problem problem(graph, profile, budget_bytes, options);
  for (int k = 0; k < graph.num_kernels(); ++k) {
    if (problem.pinned()[k] > static_cast<int64_t>(budget_bytes)) {
      return std::nullopt;
    }
  }
  std::optional<Placement> placement = PlacementOf(graph, problem, plan);
  if (!placement.has_value()) return std::nullopt;
  if (!options.allow_moves) {
    for (const std::vector<Run>& runs : *placement) {
      if (runs.size() > 1 || (runs.size() == 1 && runs[0].first != 0)) {
        return std::nullopt;
      }
    }
  }
  int rounds = 0;
  AUTOTM_ASSIGN_OR_RETURN(
      v1::Plan repaired,
      LayOut(graph, profile, problem, *std::move(placement), budget_bytes,
             options.alignment_bytes, plan.method(),
             Deadline(Clock::now(), options.time_limit_seconds),
             options.skyline_layouts, &rounds));
  return repaired;
}

}  // namespace autotm::solver
