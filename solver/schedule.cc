#include "solver/schedule.h"

#include <algorithm>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "solver/checked_math.h"
#include "solver/status_macros.h"

namespace autotm::solver {
namespace {

// Checks that one tensor's moves and recomputations can be replayed: in
// kernel order, inside its live range, and not overlapping one another (see
// AssemblePlan's errors).
absl::Status CheckReplayable(const TensorInfo& tensor,
                             const TensorSchedule& schedule) {
  int previous_kernel = -1;
  v1::MoveDirection previous_direction = v1::MOVE_DIRECTION_UNSPECIFIED;
  for (const ScheduledMove& move : schedule.moves) {
    if (move.kernel < tensor.first_live || move.kernel > tensor.last_live) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor '", tensor.id, "': move at kernel #",
                       move.kernel, " is outside its live range [",
                       tensor.first_live, ", ", tensor.last_live, "]"));
    }
    if (move.kernel < previous_kernel) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor '", tensor.id, "': moves are not in kernel order"));
    }
    // At one kernel, at most a TO_FAST (before it) then a TO_SLOW (after).
    if (move.kernel == previous_kernel &&
        (previous_direction != v1::MOVE_DIRECTION_TO_FAST ||
         move.direction != v1::MOVE_DIRECTION_TO_SLOW)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor '", tensor.id, "': at kernel #", move.kernel,
          " only a TO_FAST followed by a TO_SLOW may share a kernel"));
    }
    if (move.direction == v1::MOVE_DIRECTION_TO_FAST && tensor.producer >= 0 &&
        move.kernel == tensor.producer) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor '", tensor.id, "': TO_FAST at its producer kernel #",
          move.kernel, " reads a copy that does not exist yet"));
    }
    previous_kernel = move.kernel;
    previous_direction = move.direction;
  }
  int previous_before = tensor.first_live;
  for (const ScheduledRecompute& recompute : schedule.recomputes) {
    const std::string what = absl::StrCat("tensor '", tensor.id,
                                          "': recomputation dropping it "
                                          "after kernel #",
                                          recompute.dropped_after,
                                          " for kernel #", recompute.before);
    if (recompute.dropped_after < previous_before ||
        recompute.before <= recompute.dropped_after + 1 ||
        recompute.before > tensor.last_live) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, " is out of order or outside its live range [",
          tensor.first_live, ", ", tensor.last_live,
          "] (it must leave at least one kernel between drop and re-run)"));
    }
    // No kernel in between may read the tensor.
    auto user = std::upper_bound(tensor.users.begin(), tensor.users.end(),
                                 recompute.dropped_after);
    if (user != tensor.users.end() && *user < recompute.before) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": kernel #", *user, " reads it while it is dropped"));
    }
    for (const ScheduledMove& move : schedule.moves) {
      if ((move.kernel > recompute.dropped_after &&
           move.kernel < recompute.before) ||
          (move.kernel == recompute.before &&
           move.direction == v1::MOVE_DIRECTION_TO_FAST)) {
        return absl::InvalidArgumentError(
            absl::StrCat(what, ": it moves at kernel #", move.kernel,
                         " while dropped or as it is recomputed"));
      }
    }
    previous_before = recompute.before;
  }
  return absl::OkStatus();
}

// Applies the moves of one tensor while walking its live range, kernel by
// kernel (O(lifetime): TiersOverTime only). Calls `at_kernel(k, tier)` with
// the tier the tensor has while kernel k runs.
template <typename AtKernel>
absl::Status Replay(const TensorInfo& tensor, const TensorSchedule& schedule,
                    AtKernel at_kernel) {
  AUTOTM_RETURN_IF_ERROR(CheckReplayable(tensor, schedule));
  v1::Tier tier = schedule.creation_tier;
  size_t next = 0;
  size_t next_recompute = 0;
  for (int k = tensor.first_live; k <= tensor.last_live; ++k) {
    if (next_recompute < schedule.recomputes.size() &&
        schedule.recomputes[next_recompute].before == k) {
      tier = v1::TIER_FAST;  // re-made in the fast tier before k
      ++next_recompute;
    }
    // TO_FAST moves land before the kernel runs, TO_SLOW moves after it.
    for (size_t m = next;
         m < schedule.moves.size() && schedule.moves[m].kernel == k; ++m) {
      if (schedule.moves[m].direction == v1::MOVE_DIRECTION_TO_FAST) {
        tier = v1::TIER_FAST;
      }
    }
    at_kernel(k, tier);
    for (; next < schedule.moves.size() && schedule.moves[next].kernel == k;
         ++next) {
      if (schedule.moves[next].direction == v1::MOVE_DIRECTION_TO_SLOW) {
        tier = v1::TIER_SLOW;
      }
    }
    if (next_recompute < schedule.recomputes.size() &&
        schedule.recomputes[next_recompute].dropped_after == k) {
      tier = v1::TIER_UNSPECIFIED;  // dropped from both tiers
    }
  }
  return absl::OkStatus();
}

// Appends the run (kernel, tier) to `runs`, which end before or at `kernel`:
// a run starting at the same kernel is replaced, and a run in the tier of
// the one before it merges into that one.
void AppendRun(int kernel, v1::Tier tier, std::vector<TierRun>& runs) {
  if (!runs.empty() && runs.back().first_kernel == kernel) runs.pop_back();
  if (!runs.empty() && runs.back().tier == tier) return;
  runs.push_back({kernel, tier});
}

// Replay() by events: the tier changes only at the kernels of moves and
// recomputations, so only those are visited (O(moves + recomputations),
// whatever the lifetime). Same rules as Replay(), step for step.
std::vector<TierRun> ReplayRuns(const TensorInfo& tensor,
                                const TensorSchedule& schedule) {
  const std::vector<ScheduledMove>& moves = schedule.moves;
  const std::vector<ScheduledRecompute>& recomputes = schedule.recomputes;
  std::vector<TierRun> runs;
  v1::Tier tier = schedule.creation_tier;
  size_t next = 0;
  size_t next_recompute = 0;
  for (int k = tensor.first_live; k <= tensor.last_live;) {
    if (next_recompute < recomputes.size() &&
        recomputes[next_recompute].before == k) {
      tier = v1::TIER_FAST;  // re-made in the fast tier before k
      ++next_recompute;
    }
    // TO_FAST moves land before the kernel runs, TO_SLOW moves after it.
    for (size_t m = next; m < moves.size() && moves[m].kernel == k; ++m) {
      if (moves[m].direction == v1::MOVE_DIRECTION_TO_FAST) {
        tier = v1::TIER_FAST;
      }
    }
    AppendRun(k, tier, runs);
    for (; next < moves.size() && moves[next].kernel == k; ++next) {
      if (moves[next].direction == v1::MOVE_DIRECTION_TO_SLOW) {
        tier = v1::TIER_SLOW;
      }
    }
    if (next_recompute < recomputes.size() &&
        recomputes[next_recompute].dropped_after == k) {
      tier = v1::TIER_UNSPECIFIED;  // dropped from both tiers
    }
    if (k == tensor.last_live) break;
    AppendRun(k + 1, tier, runs);
    // The next kernel where something happens; the tier holds until then.
    // Moves and recomputations before k + 1 were consumed above (a schedule
    // that is not in order just ends the walk early).
    int following = tensor.last_live + 1;
    if (next < moves.size())
      following = std::min(following, moves[next].kernel);
    if (next_recompute < recomputes.size()) {
      const ScheduledRecompute& recompute = recomputes[next_recompute];
      following = std::min(following, recompute.dropped_after > k
                                          ? recompute.dropped_after
                                          : recompute.before);
    }
    if (following <= k) break;  // out of order: Replay never reaches it
    k = following;
  }
  return runs;
}

}  // namespace

std::vector<std::vector<TierRun>> TierRunsOverTime(
    const GraphModel& graph, const std::vector<TensorSchedule>& schedule) {
  std::vector<std::vector<TierRun>> runs(graph.num_tensors());
  const int num_scheduled =
      std::min(graph.num_tensors(), static_cast<int>(schedule.size()));
  for (int t = 0; t < graph.num_tensors(); ++t) {
    const TensorInfo& tensor = graph.tensor(t);
    // A schedule AssemblePlan refuses is reported slow, as TiersOverTime()
    // reports it.
    if (t < num_scheduled && CheckReplayable(tensor, schedule[t]).ok()) {
      runs[t] = ReplayRuns(tensor, schedule[t]);
    }
    if (runs[t].empty()) runs[t].push_back({tensor.first_live, v1::TIER_SLOW});
  }
  return runs;
}

v1::Tier TierAt(const std::vector<TierRun>& runs, int kernel) {
  // The last run starting at or before `kernel`.
  auto after = std::upper_bound(
      runs.begin(), runs.end(), kernel,
      [](int k, const TierRun& run) { return k < run.first_kernel; });
  return after == runs.begin() ? v1::TIER_UNSPECIFIED : std::prev(after)->tier;
}

std::vector<std::vector<v1::Tier>> TiersOverTime(
    const GraphModel& graph, const std::vector<TensorSchedule>& schedule) {
  std::vector<std::vector<v1::Tier>> tiers(graph.num_tensors());
  const int num_scheduled =
      std::min(graph.num_tensors(), static_cast<int>(schedule.size()));
  for (int t = 0; t < num_scheduled; ++t) {
    const TensorInfo& tensor = graph.tensor(t);
    tiers[t].resize(tensor.last_live - tensor.first_live + 1, v1::TIER_SLOW);
    // Errors are reported by AssemblePlan; here a bad schedule just yields
    // whatever the replay produced.
    (void)Replay(tensor, schedule[t], [&](int k, v1::Tier tier) {
      tiers[t][k - tensor.first_live] = tier;
    });
  }
  return tiers;
}

namespace {

// A tier change of a tensor, priced, before the plan's moves are ordered.
struct PendingMove {
  int kernel;
  int order;  // 0 = TO_FAST (before the kernel), 1 = TO_SLOW (after)
  int tensor;
  ScheduledMove move;
  uint64_t bytes_copied;
  double time_us;
};

// A recomputation, priced, before the plan's recomputations are ordered.
struct PendingRecompute {
  int before = 0;
  int tensor = 0;
  int dropped_after = 0;
  std::string config;
  double time_us = 0;
  // Bytes written beside the tensor and freed after the re-run.
  uint64_t scratch_bytes = 0;
  // Re-run chains: each remade input (ScheduledRecompute.remade_inputs, in
  // re-run order) with its producer's configuration and time there.
  struct Remade {
    int tensor = 0;
    std::string config;
    double time_us = 0;
  };
  std::vector<Remade> remade = {};
};

// Appends to *moves the moves of tensor `t` (`entry`) that change its tier,
// priced by `profile`; a TO_SLOW move of a tensor whose slow copy is still
// valid copies nothing. InvalidArgument for a move without direction.
absl::Status PriceTierChanges(const TensorInfo& tensor, int t,
                              const TensorSchedule& entry,
                              const ProfileModel& profile,
                              std::vector<PendingMove>* moves) {
  // Keep only the moves that change the tier; price them.
  v1::Tier tier = entry.creation_tier;
  bool slow_copy_valid = entry.creation_tier == v1::TIER_SLOW;
  size_t next_recompute = 0;
  for (const ScheduledMove& move : entry.moves) {
    // A recomputation before this move's kernel re-made the tensor fast,
    // and its drop discarded any slow copy.
    while (next_recompute < entry.recomputes.size() &&
           entry.recomputes[next_recompute].before <= move.kernel) {
      tier = v1::TIER_FAST;
      slow_copy_valid = false;
      ++next_recompute;
    }
    if (move.direction == v1::MOVE_DIRECTION_TO_FAST) {
      if (tier == v1::TIER_FAST) continue;
      tier = v1::TIER_FAST;
      const double time = move.sync ? profile.SyncToFastUs(tensor.size_bytes)
                                    : profile.AsyncToFastUs(tensor.size_bytes);
      moves->push_back({move.kernel, 0, t, move, tensor.size_bytes, time});
    } else if (move.direction == v1::MOVE_DIRECTION_TO_SLOW) {
      if (tier == v1::TIER_SLOW) continue;
      tier = v1::TIER_SLOW;
      if (slow_copy_valid) {
        moves->push_back({move.kernel, 1, t, move, 0, 0.0});
      } else {
        slow_copy_valid = true;
        const double time = move.sync
                                ? profile.SyncToSlowUs(tensor.size_bytes)
                                : profile.AsyncToSlowUs(tensor.size_bytes);
        moves->push_back({move.kernel, 1, t, move, tensor.size_bytes, time});
      }
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor '", tensor.id, "': move without direction"));
    }
  }
  return absl::OkStatus();
}

// The last kernel of run i of `runs` (a tensor's TierRunsOverTime()).
int RunEnd(const TensorInfo& tensor, const std::vector<TierRun>& runs,
           size_t i) {
  return i + 1 < runs.size() ? runs[i + 1].first_kernel - 1 : tensor.last_live;
}

// Adds to `placement` the maximal stretches of `runs` (the tensor's tier
// runs, neighbours differing) in the fast tier; offsets come later
// (allocator).
void AddFastIntervals(const TensorInfo& tensor,
                      const std::vector<TierRun>& runs,
                      v1::TensorPlacement* placement) {
  for (size_t i = 0; i < runs.size(); ++i) {
    if (runs[i].tier != v1::TIER_FAST) continue;
    v1::FastInterval* interval = placement->add_fast_intervals();
    interval->set_first_kernel(runs[i].first_kernel);
    interval->set_last_kernel(RunEnd(tensor, runs, i));
  }
}

// Replays every tensor's schedule: fills (*tiers)[t] (t's tier runs, a few
// per tensor whatever its lifetime) and (*fast_bytes)[k], adds each tensor's
// placement to `plan` (in tensor order) and its priced tier changes to *moves.
absl::Status PlaceTensors(const GraphModel& graph, const ProfileModel& profile,
                          const std::vector<TensorSchedule>& schedule,
                          std::vector<std::vector<TierRun>>* tiers,
                          std::vector<uint64_t>* fast_bytes,
                          std::vector<PendingMove>* moves, v1::Plan* plan) {
  // Fast bytes by a difference array over the fast runs: sums of up to
  // millions of sizes below 2^50 fit 128 bits.
  std::vector<__int128> fast_diff(graph.num_kernels() + 1, 0);
  for (int t = 0; t < graph.num_tensors(); ++t) {
    const TensorInfo& tensor = graph.tensor(t);
    const TensorSchedule& entry = schedule[t];
    if (entry.creation_tier != v1::TIER_FAST &&
        entry.creation_tier != v1::TIER_SLOW) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor '", tensor.id, "': creation tier must be FAST or SLOW"));
    }
    AUTOTM_RETURN_IF_ERROR(CheckReplayable(tensor, entry));
    std::vector<TierRun>& runs = (*tiers)[t];
    runs = ReplayRuns(tensor, entry);
    for (size_t i = 0; i < runs.size(); ++i) {
      if (runs[i].tier != v1::TIER_FAST) continue;
      fast_diff[runs[i].first_kernel] += tensor.size_bytes;
      fast_diff[RunEnd(tensor, runs, i) + 1] -= tensor.size_bytes;
    }
    if (tensor.fixed_tier != v1::TIER_UNSPECIFIED &&
        (entry.creation_tier != tensor.fixed_tier || !entry.moves.empty() ||
         !entry.recomputes.empty())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor '", tensor.id,
          "' is fixed to one tier but the schedule creates it elsewhere, "
          "moves it or recomputes it"));
    }
    AUTOTM_RETURN_IF_ERROR(PriceTierChanges(tensor, t, entry, profile, moves));
    v1::TensorPlacement* placement = plan->add_tensors();
    placement->set_tensor_id(tensor.id);
    placement->set_creation_tier(entry.creation_tier);
    AddFastIntervals(tensor, runs, placement);
  }
  __int128 running = 0;
  for (int k = 0; k < graph.num_kernels(); ++k) {
    running += fast_diff[k];
    (*fast_bytes)[k] = running > static_cast<__int128>(kSaturatedBytes)
                           ? kSaturatedBytes
                           : static_cast<uint64_t>(running);
  }
  return absl::OkStatus();
}

// Whether `entry` has an asynchronous TO_FAST at kernel k: a copy that
// overlaps k, in flight while a re-run right before k runs.
bool ArrivesByOverlappedCopy(const TensorSchedule& entry, int k) {
  return std::any_of(entry.moves.begin(), entry.moves.end(),
                     [k](const ScheduledMove& move) {
                       return move.kernel == k && !move.sync &&
                              move.direction == v1::MOVE_DIRECTION_TO_FAST;
                     });
}

// Prices recomputations: the producer re-run under its inputs' tiers there.
class RecomputePricer {
 public:
  // Errors for a tensor fixed fast but kept slow.
  static absl::StatusOr<RecomputePricer> Create(
      const GraphModel& graph, const ProfileModel& profile,
      const std::vector<TensorSchedule>& schedule,
      const std::vector<std::vector<TierRun>>& tiers) {
    RecomputePricer pricer(graph, profile, schedule, tiers);
    for (int t = 0; t < graph.num_tensors(); ++t) {
      const TensorSchedule& entry = schedule[t];
      const int last = graph.tensor(t).last_live;
      pricer.ends_slow_[t] =
          tiers[t].back().tier == v1::TIER_SLOW ||
          (!entry.moves.empty() && entry.moves.back().kernel == last &&
           entry.moves.back().direction == v1::MOVE_DIRECTION_TO_SLOW);
      if (entry.kept_slow && graph.tensor(t).fixed_tier == v1::TIER_FAST) {
        return absl::InvalidArgumentError(
            absl::StrCat("tensor '", graph.tensor(t).id,
                         "' is fixed fast but kept in slow memory"));
      }
    }
    return pricer;
  }

  // Recomputation `recompute` of tensor `t`, priced; records how long its
  // inputs are kept slow for it (kept_until()).
  absl::StatusOr<PendingRecompute> Price(int t,
                                         const ScheduledRecompute& recompute) {
    const TensorInfo& tensor = graph_.tensor(t);
    const std::string what =
        absl::StrCat("tensor '", tensor.id, "': recomputation for kernel #",
                     recompute.before);
    if (tensor.producer < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": it has no producer to re-run"));
    }
    if (tensor.role != v1::TENSOR_ROLE_ACTIVATION) {
      return absl::InvalidArgumentError(
          absl::StrCat(what,
                       ": it is not an activation (weights and optimizer state "
                       "outlive the iteration and are never re-made)"));
    }
    const KernelInfo& producer = graph_.kernel(tensor.producer);
    PendingRecompute pending;
    pending.before = recompute.before;
    pending.tensor = t;
    pending.dropped_after = recompute.dropped_after;
    pending.scratch_bytes = OutputBytes(producer, t);
    const std::vector<int>& chain = recompute.remade_inputs;
    AUTOTM_RETURN_IF_ERROR(CheckChain(what, t, chain));
    // Deepest producer first: each reads what is in memory, kept slow, or
    // made earlier in the chain.
    for (size_t e = 0; e < chain.size(); ++e) {
      const KernelInfo& kernel =
          graph_.kernel(graph_.tensor(chain[e]).producer);
      std::vector<bool> slow(kernel.operands.size(), false);
      for (int p = 0; p < kernel.num_inputs; ++p) {
        AUTOTM_ASSIGN_OR_RETURN(
            const bool input_slow,
            InputSlow(what, kernel, kernel.operands[p], recompute.before,
                      absl::MakeConstSpan(chain.data(), e)));
        slow[p] = input_slow;
      }
      PendingRecompute::Remade& remade = pending.remade.emplace_back();
      remade.tensor = chain[e];
      AUTOTM_ASSIGN_OR_RETURN(remade.time_us,
                              PriceRun(what, kernel, slow, &remade.config));
      SaturatingAddTo(pending.scratch_bytes, OutputBytes(kernel, -1));
    }
    std::vector<bool> slow(producer.operands.size(), false);
    for (int p = 0; p < producer.num_inputs; ++p) {
      AUTOTM_ASSIGN_OR_RETURN(const bool input_slow,
                              InputSlow(what, producer, producer.operands[p],
                                        recompute.before, chain));
      slow[p] = input_slow;
    }
    AUTOTM_ASSIGN_OR_RETURN(pending.time_us,
                            PriceRun(what, producer, slow, &pending.config));
    return pending;
  }

  // By tensor: the last kernel a recomputation keeps it in slow memory for
  // past its life (0: none).
  const std::vector<int>& kept_until() const { return kept_until_; }

 private:
  // Bytes of `kernel`'s outputs other than tensor `except`.
  uint64_t OutputBytes(const KernelInfo& kernel, int except) const {
    uint64_t bytes = 0;
    for (size_t p = kernel.num_inputs; p < kernel.operands.size(); ++p) {
      if (kernel.operands[p] != except) {
        SaturatingAddTo(bytes, graph_.tensor(kernel.operands[p]).size_bytes);
      }
    }
    return bytes;
  }

  // Whether tensor j is slow right before kernel k, if it is in memory
  // there (live and not dropped).
  std::optional<bool> SlowIfPresent(int j, int k) const {
    const TensorInfo& input = graph_.tensor(j);
    if (k < input.first_live || k > input.last_live) return std::nullopt;
    const v1::Tier tier = TierAt(tiers_[j], k);
    if (tier == v1::TIER_UNSPECIFIED) return std::nullopt;
    return tier == v1::TIER_SLOW;
  }

  // The profiled time of `kernel` re-run with its inputs' tiers `slow`
  // (outputs fast); sets *config.
  absl::StatusOr<double> PriceRun(const std::string& what,
                                  const KernelInfo& kernel,
                                  const std::vector<bool>& slow,
                                  std::string* config) const {
    *config = FormatConfig(slow, kernel.num_inputs);
    const KernelCost* cost = profile_.Find(kernel.signature_key);
    std::optional<double> time =
        cost == nullptr ? std::nullopt : cost->TimeUs(slow);
    if (!time.has_value()) {
      return absl::FailedPreconditionError(absl::StrCat(
          what, ": kernel '", kernel.id,
          "' would re-run in "
          "configuration ",
          *config, ", which profile '", profile_.host_class().name(),
          "' does not list for ", kernel.signature_key));
    }
    return *time;
  }

  // Whether `chain` (ScheduledRecompute.remade_inputs of tensor t) is a
  // chain: activations with producers, each an input of the next entry's
  // producer, the last an input of t's producer, no tensor twice.
  absl::Status CheckChain(const std::string& what, int t,
                          const std::vector<int>& chain) const {
    for (size_t e = 0; e < chain.size(); ++e) {
      const int j = chain[e];
      if (j < 0 || j >= graph_.num_tensors()) {
        return absl::InvalidArgumentError(
            absl::StrCat(what, ": remade input #", e, " is tensor index ", j,
                         ", outside the graph"));
      }
      const TensorInfo& remade = graph_.tensor(j);
      if (remade.producer < 0 || remade.role != v1::TENSOR_ROLE_ACTIVATION) {
        return absl::InvalidArgumentError(
            absl::StrCat(what, ": its remade input '", remade.id,
                         "' is not an activation with a producer to re-run"));
      }
      if (std::find(chain.begin(), chain.begin() + e, j) != chain.begin() + e) {
        return absl::InvalidArgumentError(absl::StrCat(
            what, ": remade input '", remade.id, "' is listed twice"));
      }
    }
    for (size_t e = 0; e < chain.size(); ++e) {
      const int reader = e + 1 < chain.size()
                             ? graph_.tensor(chain[e + 1]).producer
                             : graph_.tensor(t).producer;
      const KernelInfo& kernel = graph_.kernel(reader);
      const auto inputs_end = kernel.operands.begin() + kernel.num_inputs;
      if (std::find(kernel.operands.begin(), inputs_end, chain[e]) ==
          inputs_end) {
        return absl::InvalidArgumentError(
            absl::StrCat(what, ": remade input '", graph_.tensor(chain[e]).id,
                         "' is no input of kernel '", kernel.id,
                         "', the next re-run of its chain"));
      }
    }
    return absl::OkStatus();
  }

  // Whether input j of `kernel`, re-run right before kernel `before`, is
  // read slow: fast when `made` (earlier in its chain, scratch), slow when
  // kept in the slow tier past its life (recorded in kept_until_), else as
  // it is there; InvalidArgument when it is in none of these places.
  absl::StatusOr<bool> InputSlow(const std::string& what,
                                 const KernelInfo& kernel, int j, int before,
                                 absl::Span<const int> made) {
    if (std::find(made.begin(), made.end(), j) != made.end()) return false;
    const TensorInfo& input = graph_.tensor(j);
    if (before > input.last_live &&
        (schedule_[j].kept_slow || input.fixed_tier == v1::TIER_SLOW) &&
        ends_slow_[j]) {
      kept_until_[j] = std::max(kept_until_[j], before);
      return true;  // kept in slow memory past its life
    }
    const std::optional<bool> input_slow = SlowIfPresent(j, before);
    if (!input_slow.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": input '", input.id, "' of kernel '", kernel.id,
          "' is not present there (not live nor kept slow, or dropped "
          "itself, nor made again earlier in the re-run's chain)"));
    }
    // An asynchronous TO_FAST at `before` overlaps that kernel: it lands
    // after the re-run, which reads the input's slow copy.
    return *input_slow || ArrivesByOverlappedCopy(schedule_[j], before);
  }

  RecomputePricer(const GraphModel& graph, const ProfileModel& profile,
                  const std::vector<TensorSchedule>& schedule,
                  const std::vector<std::vector<TierRun>>& tiers)
      : graph_(graph),
        profile_(profile),
        schedule_(schedule),
        tiers_(tiers),
        ends_slow_(graph.num_tensors(), 0),
        kept_until_(graph.num_tensors(), 0) {}

  const GraphModel& graph_;
  const ProfileModel& profile_;
  const std::vector<TensorSchedule>& schedule_;
  const std::vector<std::vector<TierRun>>& tiers_;
  // Whether each tensor ends its life in the slow tier (after its moves at
  // its last kernel).
  std::vector<char> ends_slow_;
  std::vector<int> kept_until_;
};

// Prices every recomputation and adds them to `plan` (ordered by kernel,
// then tensor), with the tensors' kept-slow ends. Returns their total time;
// *peak_bytes is the most fast memory a re-run holds (everything fast at
// its kernel plus its scratch).
absl::StatusOr<double> AddRecomputes(
    const GraphModel& graph, const ProfileModel& profile,
    const std::vector<TensorSchedule>& schedule,
    const std::vector<std::vector<TierRun>>& tiers,
    const std::vector<uint64_t>& fast_bytes, uint64_t* peak_bytes,
    v1::Plan* plan) {
  AUTOTM_ASSIGN_OR_RETURN(
      RecomputePricer pricer,
      RecomputePricer::Create(graph, profile, schedule, tiers));
  std::vector<PendingRecompute> recomputes;
  for (int t = 0; t < graph.num_tensors(); ++t) {
    for (const ScheduledRecompute& recompute : schedule[t].recomputes) {
      AUTOTM_ASSIGN_OR_RETURN(PendingRecompute pending,
                              pricer.Price(t, recompute));
      recomputes.push_back(std::move(pending));
    }
  }
  std::stable_sort(recomputes.begin(), recomputes.end(),
                   [](const PendingRecompute& a, const PendingRecompute& b) {
                     return std::tie(a.before, a.tensor) <
                            std::tie(b.before, b.tensor);
                   });
  const std::vector<int>& kept_until = pricer.kept_until();
  for (int t = 0; t < graph.num_tensors(); ++t) {
    if (kept_until[t] > 0) {
      plan->mutable_tensors(t)->set_kept_slow_until_kernel(kept_until[t]);
    }
  }
  double recompute_us = 0;
  for (size_t i = 0; i < recomputes.size(); ++i) {
    const PendingRecompute& pending = recomputes[i];
    const TensorInfo& tensor = graph.tensor(pending.tensor);
    v1::Recompute* recompute = plan->add_recomputes();
    recompute->set_tensor_id(tensor.id);
    recompute->set_kernel_id(graph.kernel(tensor.producer).id);
    recompute->set_kernel_index(tensor.producer);
    recompute->set_dropped_after_kernel_index(pending.dropped_after);
    recompute->set_before_kernel_id(graph.kernel(pending.before).id);
    recompute->set_before_kernel_index(pending.before);
    recompute->set_config(pending.config);
    recompute->set_time_us(pending.time_us);
    recompute->set_scratch_bytes(pending.scratch_bytes);
    recompute_us += pending.time_us;
    for (const PendingRecompute::Remade& made : pending.remade) {
      const TensorInfo& remade = graph.tensor(made.tensor);
      v1::RemadeInput* input = recompute->add_remade_inputs();
      input->set_tensor_id(remade.id);
      input->set_kernel_id(graph.kernel(remade.producer).id);
      input->set_kernel_index(remade.producer);
      input->set_config(made.config);
      input->set_time_us(made.time_us);
      recompute_us += made.time_us;
    }
    uint64_t held = fast_bytes[pending.before];
    SaturatingAddTo(held, pending.scratch_bytes);
    *peak_bytes = std::max(*peak_bytes, held);
    plan->mutable_tensors(pending.tensor)->add_recompute_indices(i);
  }

  return recompute_us;
}

// Adds `moves` to `plan` ordered by kernel (TO_FAST before TO_SLOW), then
// tensor. Returns the sync moves' total time; (*async_us)[k] sums the
// async copies overlapping kernel k.
double AddMoves(const GraphModel& graph, std::vector<PendingMove> moves,
                std::vector<double>* async_us, v1::Plan* plan) {
  std::stable_sort(moves.begin(), moves.end(),
                   [](const PendingMove& a, const PendingMove& b) {
                     return std::tie(a.kernel, a.order, a.tensor) <
                            std::tie(b.kernel, b.order, b.tensor);
                   });
  double sync_move_us = 0;
  for (size_t i = 0; i < moves.size(); ++i) {
    const PendingMove& pending = moves[i];
    v1::Move* move = plan->add_moves();
    move->set_tensor_id(graph.tensor(pending.tensor).id);
    move->set_kernel_id(graph.kernel(pending.kernel).id);
    move->set_kernel_index(pending.kernel);
    move->set_direction(pending.move.direction);
    move->set_sync(pending.move.sync);
    move->set_bytes_copied(pending.bytes_copied);
    move->set_time_us(pending.time_us);
    plan->mutable_tensors(pending.tensor)->add_move_indices(i);
    if (pending.move.sync) {
      sync_move_us += pending.time_us;
    } else {
      (*async_us)[pending.kernel] += pending.time_us;
    }
  }

  return sync_move_us;
}

// Adds every kernel's configuration and time to `plan` and sets its totals
// (`recompute_us` and `sync_move_us` from the steps before, async copies
// counted where longer than their kernel). FailedPrecondition when the
// profile does not list a configuration a kernel would run in.
absl::Status AddKernelsAndTotals(const GraphModel& graph,
                                 const ProfileModel& profile,
                                 const std::vector<std::vector<TierRun>>& tiers,
                                 const std::vector<uint64_t>& fast_bytes,
                                 const std::vector<double>& async_us,
                                 double recompute_us, uint64_t rerun_peak_bytes,
                                 double sync_move_us, v1::Plan* plan) {
  const int num_kernels = graph.num_kernels();
  double kernel_us = recompute_us;
  double overlap_excess_us = 0;  // async copies longer than their kernel
  uint64_t peak = rerun_peak_bytes;
  // How the profile's tables priced the kernels (v1::TableCollapse).
  uint32_t collapsed_kernels = 0;
  uint32_t table_kernels = 0;
  double max_residual_us = 0;
  for (int k = 0; k < num_kernels; ++k) {
    const KernelInfo& kernel = graph.kernel(k);
    std::vector<bool> slow(kernel.operands.size());
    for (size_t p = 0; p < kernel.operands.size(); ++p) {
      const int t = kernel.operands[p];
      slow[p] = TierAt(tiers[t], k) == v1::TIER_SLOW;
    }
    const std::string config = FormatConfig(slow, kernel.num_inputs);
    const KernelCost* cost = profile.Find(kernel.signature_key);
    std::optional<double> time =
        cost == nullptr ? std::nullopt : cost->TimeUs(slow);
    if (!time.has_value()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "kernel #", k, " '", kernel.id, "' would run in configuration ",
          config, ", which profile '", profile.host_class().name(),
          "' does not list for ", kernel.signature_key));
    }
    if (cost->collapsed()) {
      ++collapsed_kernels;
      max_residual_us = std::max(max_residual_us, cost->collapse_residual_us());
    } else if (!cost->separable()) {
      ++table_kernels;
    }
    v1::KernelChoice* choice = plan->add_kernels();
    choice->set_kernel_id(kernel.id);
    choice->set_config(config);
    choice->set_time_us(*time);
    choice->set_fast_bytes(fast_bytes[k]);
    kernel_us += *time;
    overlap_excess_us += std::max(0.0, async_us[k] - *time);
    peak = std::max(peak, fast_bytes[k]);
  }
  plan->set_kernel_time_us(kernel_us);
  plan->set_recompute_time_us(recompute_us);
  plan->set_move_time_us(sync_move_us + overlap_excess_us);
  plan->set_predicted_time_us(kernel_us + sync_move_us + overlap_excess_us);
  plan->set_peak_fast_bytes(peak);
  if (const TableCollapseOptions& collapse = profile.table_collapse();
      collapse.enabled) {
    v1::TableCollapse* report = plan->mutable_table_collapse();
    report->set_relative_tolerance(collapse.relative_tolerance);
    report->set_absolute_tolerance_us(collapse.absolute_tolerance_us);
    report->set_collapsed_kernels(collapsed_kernels);
    report->set_table_kernels(table_kernels);
    report->set_max_residual_us(max_residual_us);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::Plan> AssemblePlan(
    const GraphModel& graph, const ProfileModel& profile,
    const std::vector<TensorSchedule>& schedule, v1::Method method,
    uint64_t budget_bytes) {
  if (static_cast<int>(schedule.size()) != graph.num_tensors()) {
    return absl::InvalidArgumentError(
        absl::StrCat("schedule has ", schedule.size(), " entries for ",
                     graph.num_tensors(), " tensors"));
  }
  const int num_kernels = graph.num_kernels();
  // Each kernel's configuration comes from its operands' tier runs: memory
  // O(kernels + tensors + moves), not the sum of the lifetimes.
  std::vector<uint64_t> fast_bytes(num_kernels, 0);
  std::vector<std::vector<TierRun>> tiers(graph.num_tensors());
  std::vector<PendingMove> moves;

  v1::Plan plan;
  plan.set_graph_name(graph.name());
  plan.set_budget_bytes(budget_bytes);
  plan.set_method(method);
  AUTOTM_RETURN_IF_ERROR(PlaceTensors(graph, profile, schedule, &tiers,
                                      &fast_bytes, &moves, &plan));
  uint64_t rerun_peak_bytes = 0;
  AUTOTM_ASSIGN_OR_RETURN(const double recompute_us,
                          AddRecomputes(graph, profile, schedule, tiers,
                                        fast_bytes, &rerun_peak_bytes, &plan));
  std::vector<double> async_us(num_kernels, 0.0);
  const double sync_move_us =
      AddMoves(graph, std::move(moves), &async_us, &plan);
  AUTOTM_RETURN_IF_ERROR(
      AddKernelsAndTotals(graph, profile, tiers, fast_bytes, async_us,
                          recompute_us, rerun_peak_bytes, sync_move_us, &plan));
  return plan;
}

}  // namespace autotm::solver
