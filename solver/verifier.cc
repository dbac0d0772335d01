#include "solver/verifier.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <iterator>
#include <limits>
#include <optional>
#include <queue>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "solver/allocator.h"
#include "solver/status_macros.h"
#include "solver/two_level_memory.h"

// Deliberately independent of schedule.cc: everything here is re-derived from
// the Plan message, the graph and the profile.

namespace autotm::solver {
namespace {

constexpr double kRelativeTolerance = 1e-6;

// True when `a` and `b` agree to kRelativeTolerance (false for NaN).
bool Close(double a, double b) {
  const double scale = std::max({std::fabs(a), std::fabs(b), 1e-9});
  return std::fabs(a - b) <= kRelativeTolerance * scale;
}

std::string HumanBytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) return absl::StrCat(bytes, " B");
  double value = static_cast<double>(bytes) / 1024;
  int unit = 0;
  while (value >= 1024 && unit + 1 < static_cast<int>(std::size(kUnits))) {
    value /= 1024;
    ++unit;
  }
  return absl::StrFormat("%.2f %s", value, kUnits[unit]);
}

std::string TierName(v1::Tier tier) {
  switch (tier) {
    case v1::TIER_FAST:
      return "fast";
    case v1::TIER_SLOW:
      return "slow";
    default:
      return absl::StrCat("invalid tier ", static_cast<int>(tier));
  }
}

const char* DirectionName(v1::MoveDirection direction) {
  switch (direction) {
    case v1::MOVE_DIRECTION_TO_FAST:
      return "TO_FAST";
    case v1::MOVE_DIRECTION_TO_SLOW:
      return "TO_SLOW";
    default:
      return "UNSPECIFIED";
  }
}

// Shared context for building error messages.
class Checker {
 public:
  // `profile` null: the structural checks only (VerifyPlanStructure).
  Checker(const GraphModel& graph, const ProfileModel* profile,
          const v1::Plan& plan, uint64_t budget_bytes, bool require_offsets)
      : graph_(graph),
        profile_(profile),
        plan_(plan),
        budget_bytes_(budget_bytes),
        require_offsets_(require_offsets) {}

  absl::StatusOr<VerifyReport> Run();

 private:
  std::string KernelName(int k) const {
    return absl::StrCat("kernel #", k, " '", graph_.kernel(k).id, "'");
  }
  std::string TensorName(int t) const {
    return absl::StrCat("tensor '", graph_.tensor(t).id, "'");
  }
  std::string RecomputeName(int r) const {
    const v1::Recompute& recompute = plan_.recomputes(r);
    return absl::StrCat("recompute #", r, " (of tensor '",
                        recompute.tensor_id(), "' by kernel #",
                        recompute.kernel_index(), " before kernel #",
                        recompute.before_kernel_index(), ")");
  }
  std::string MoveName(int m) const {
    const v1::Move& move = plan_.moves(m);
    return absl::StrCat("move #", m, " (", DirectionName(move.direction()),
                        " of tensor '", move.tensor_id(), "' at kernel #",
                        move.kernel_index(), ")");
  }

  // The plan's table pricing is the profile model's (else every kernel
  // time of a collapsed table could differ), and its summary is right.
  absl::Status CheckTableCollapse();
  absl::Status CheckPlacements();
  absl::Status CheckMoveList();
  absl::Status CheckMoveIndices(int t);
  // Recomputations: well formed, ordered, listed by their tensors.
  absl::Status CheckRecomputeList();
  absl::Status CheckRecomputeIndices(int t);
  // Each re-run reads inputs present there; its config and time, its
  // remade input's, its scratch and the budget while it runs.
  absl::Status CheckRecomputes(VerifyReport& report);
  // Re-run r's chain of remade inputs (Recompute.remade_inputs, in re-run
  // order): activations, each an input of the next entry's producer (the
  // last of r's producer), re-made by their producers, no tensor twice.
  // Returns their tensor indices.
  absl::StatusOr<std::vector<int>> CheckRemadeChain(int r);
  // Whether input j of `kernel`, re-run for re-run r right before kernel
  // `before`, is read slow: fast when `made` earlier in r's chain, slow
  // when kept in the slow tier past its life (*kept_until updated), else
  // its tier there; InvalidArgument when it is not in memory there.
  absl::StatusOr<bool> RerunInputSlow(int r, const KernelInfo& kernel, int j,
                                      int before, absl::Span<const int> made,
                                      std::vector<int>* kept_until) const;
  // A re-run of `kernel` (for re-run r) with inputs' tiers `slow`: its
  // `config` and `time_us` are the profile's. Returns the priced time.
  absl::StatusOr<double> CheckRerunPrice(int r, const KernelInfo& kernel,
                                         const std::vector<bool>& slow,
                                         const std::string& config,
                                         double time_us) const;
  // Bytes of `kernel`'s outputs other than tensor `except`.
  uint64_t OutputBytes(const KernelInfo& kernel, int except) const;
  // Moves of a tensor fixed to a tier, or outside its live range.
  absl::Status CheckMovesInLife(int t);
  // Move m of tensor t copies `bytes` at `gb_per_s` (`why`: the rule, for
  // the error); adds its time to the sync or overlapped totals.
  absl::Status CheckMovePrice(int t, int m, uint64_t bytes, double gb_per_s,
                              absl::string_view why);
  // Move m of tensor t at the bandwidth of its direction and kind; a
  // TO_SLOW copies nothing when a valid slow copy exists.
  absl::Status CheckMovePrice(int t, int m, bool slow_copy_valid);
  // Tensor t's moves at kernel k, from moves index `next` on (advanced past
  // them): at most one TO_FAST, then at most one TO_SLOW.
  absl::Status TakeMovesAt(int t, int k, size_t& next,
                           std::optional<int>& to_fast,
                           std::optional<int>& to_slow);
  // Adds tensor t's fast stretches (fast_[t]) to the per-kernel totals.
  void AddFastBytes(int t);
  // Replays tensor t's moves; fills fast_[t] and prices its moves.
  absl::Status ReplayTensor(int t);
  absl::Status CheckKernels(VerifyReport& report);
  absl::Status CheckTotals(const VerifyReport& report);
  // Fast intervals match the replayed tiers; offsets (when assigned) are
  // aligned, inside the budget, and never overlap at any kernel.
  absl::Status CheckIntervals(int t);
  absl::Status CheckOffsets();

  const GraphModel& graph_;
  const ProfileModel* profile_;
  const v1::Plan& plan_;
  const uint64_t budget_bytes_;
  const bool require_offsets_;

  // Tensor index of each move, and each tensor's moves in plan order.
  std::vector<int> move_tensor_;
  std::vector<std::vector<int>> tensor_moves_;
  // Each tensor's recomputations (indices into plan_.recomputes()).
  std::vector<std::vector<int>> tensor_recomputes_;
  // dropped_[t]: the stretches of kernels [first, last] during which tensor
  // t is dropped for a recomputation (in neither tier), ascending.
  std::vector<std::vector<std::pair<int, int>>> dropped_;
  // Whether each tensor is in the slow tier after its last kernel's moves.
  std::vector<char> ends_slow_;
  bool IsDropped(int t, int k) const {
    for (const auto& [first, last] : dropped_[t]) {
      if (first <= k && k <= last) return true;
    }
    return false;
  }
  // fast_[t]: the maximal stretches of kernels [first, last] that run with
  // tensor t in the fast tier, ascending. Intervals, not a tier per kernel
  // of the tensor's life: memory O(moves), not O(kernels x lifetime).
  std::vector<std::vector<std::pair<int, int>>> fast_;
  std::vector<uint64_t> fast_bytes_;
  // Per kernel: bytes of the fast stretches starting there, and of those
  // that ended at the kernel before.
  std::vector<uint64_t> fast_starting_, fast_ending_;
  // Whether tensor t is fast while kernel k runs (a binary search).
  bool IsFast(int t, int k) const {
    const auto& stretches = fast_[t];
    auto it = std::upper_bound(stretches.begin(), stretches.end(), k,
                               [](int kernel, const std::pair<int, int>& s) {
                                 return kernel < s.first;
                               });
    return it != stretches.begin() && std::prev(it)->second >= k;
  }
  // Whether tensor t has an asynchronous TO_FAST at kernel k (it lands
  // while k runs, after any re-run made right before k).
  bool ArrivesByOverlappedCopy(int t, int k) const {
    for (int m : tensor_moves_[t]) {
      const v1::Move& move = plan_.moves(m);
      if (static_cast<int>(move.kernel_index()) == k && !move.sync() &&
          move.direction() == v1::MOVE_DIRECTION_TO_FAST) {
        return true;
      }
    }
    return false;
  }
  // Per kernel: summed time of its asynchronous moves.
  std::vector<double> async_us_;
  double sync_move_us_ = 0;
};

absl::Status Checker::CheckPlacements() {
  if (plan_.tensors_size() != graph_.num_tensors()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "plan has ", plan_.tensors_size(), " tensor placements for ",
        graph_.num_tensors(), " tensors of graph '", graph_.name(), "'"));
  }
  for (int t = 0; t < graph_.num_tensors(); ++t) {
    const v1::TensorPlacement& placement = plan_.tensors(t);
    const TensorInfo& tensor = graph_.tensor(t);
    if (placement.tensor_id() != tensor.id) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor placement #", t, " is for tensor '",
                       placement.tensor_id(), "', expected '", tensor.id,
                       "' (placements must follow graph order)"));
    }
    if (placement.creation_tier() != v1::TIER_FAST &&
        placement.creation_tier() != v1::TIER_SLOW) {
      return absl::InvalidArgumentError(
          absl::StrCat(TensorName(t), ": creation tier is ",
                       v1::Tier_Name(placement.creation_tier()),
                       "; it must be FAST or SLOW"));
    }
    if (tensor.fixed_tier != v1::TIER_UNSPECIFIED &&
        placement.creation_tier() != tensor.fixed_tier) {
      return absl::InvalidArgumentError(absl::StrCat(
          TensorName(t), " is fixed to the ", TierName(tensor.fixed_tier),
          " tier but the plan creates it in the ",
          TierName(placement.creation_tier()), " tier"));
    }
  }
  return absl::OkStatus();
}

absl::Status Checker::CheckMoveList() {
  move_tensor_.assign(plan_.moves_size(), -1);
  tensor_moves_.assign(graph_.num_tensors(), {});
  uint32_t previous_kernel = 0;
  for (int m = 0; m < plan_.moves_size(); ++m) {
    const v1::Move& move = plan_.moves(m);
    const int t = graph_.FindTensor(move.tensor_id());
    if (t < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          MoveName(m), ": unknown tensor id '", move.tensor_id(), "'"));
    }
    if (move.kernel_index() >= static_cast<uint32_t>(graph_.num_kernels())) {
      return absl::InvalidArgumentError(
          absl::StrCat(MoveName(m), ": kernel index ", move.kernel_index(),
                       " is out of range; the graph has ", graph_.num_kernels(),
                       " kernels"));
    }
    const int k = static_cast<int>(move.kernel_index());
    if (move.kernel_id() != graph_.kernel(k).id) {
      return absl::InvalidArgumentError(
          absl::StrCat(MoveName(m), ": kernel id '", move.kernel_id(),
                       "' does not match ", KernelName(k)));
    }
    if (move.direction() != v1::MOVE_DIRECTION_TO_FAST &&
        move.direction() != v1::MOVE_DIRECTION_TO_SLOW) {
      return absl::InvalidArgumentError(
          absl::StrCat(MoveName(m), ": direction is unspecified"));
    }
    if (m > 0 && move.kernel_index() < previous_kernel) {
      return absl::InvalidArgumentError(absl::StrCat(
          MoveName(m), " at ", KernelName(k), " comes after a move at kernel #",
          previous_kernel, "; moves must be ordered by kernel index"));
    }
    previous_kernel = move.kernel_index();
    move_tensor_[m] = t;
    tensor_moves_[t].push_back(m);
  }
  return absl::OkStatus();
}

absl::Status Checker::CheckMoveIndices(int t) {
  const auto& listed = plan_.tensors(t).move_indices();
  const std::vector<int>& actual = tensor_moves_[t];
  for (int i = 0; i < listed.size(); ++i) {
    if (listed[i] >= static_cast<uint32_t>(plan_.moves_size())) {
      return absl::InvalidArgumentError(absl::StrCat(
          TensorName(t), ": move_indices[", i, "] = ", listed[i],
          " is out of range; the plan has ", plan_.moves_size(), " moves"));
    }
  }
  const bool same = static_cast<size_t>(listed.size()) == actual.size() &&
                    std::equal(actual.begin(), actual.end(), listed.begin(),
                               [](int a, uint32_t b) {
                                 return static_cast<uint32_t>(a) == b;
                               });
  if (!same) {
    auto join = [](const auto& values) {
      std::string text;
      for (const auto& value : values) {
        absl::StrAppend(&text, text.empty() ? "" : ", ", value);
      }
      return absl::StrCat("[", text, "]");
    };
    return absl::InvalidArgumentError(absl::StrCat(
        TensorName(t), ": move_indices ", join(listed),
        " do not list its moves in plan order; expected ", join(actual)));
  }
  return absl::OkStatus();
}

absl::Status Checker::CheckRecomputeList() {
  tensor_recomputes_.assign(graph_.num_tensors(), {});
  uint32_t previous_before = 0;
  for (int r = 0; r < plan_.recomputes_size(); ++r) {
    const v1::Recompute& recompute = plan_.recomputes(r);
    const int t = graph_.FindTensor(recompute.tensor_id());
    if (t < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(RecomputeName(r), ": unknown tensor id '",
                       recompute.tensor_id(), "'"));
    }
    const TensorInfo& tensor = graph_.tensor(t);
    if (tensor.producer < 0 ||
        recompute.kernel_index() != static_cast<uint32_t>(tensor.producer) ||
        recompute.kernel_id() != graph_.kernel(tensor.producer).id) {
      return absl::InvalidArgumentError(
          absl::StrCat(RecomputeName(r), ": kernel '", recompute.kernel_id(),
                       "' is not the producer of ", TensorName(t)));
    }
    if (tensor.role != v1::TENSOR_ROLE_ACTIVATION) {
      return absl::InvalidArgumentError(
          absl::StrCat(RecomputeName(r), ": ", TensorName(t),
                       " is not an activation; only activations are re-made"));
    }
    const int64_t after = recompute.dropped_after_kernel_index();
    const int64_t before = recompute.before_kernel_index();
    if (after < tensor.first_live || before > tensor.last_live ||
        before <= after + 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          RecomputeName(r), ": drop after kernel #", after,
          " and re-run before kernel #", before,
          " must leave a kernel between them and lie in its live range [",
          tensor.first_live, ", ", tensor.last_live, "]"));
    }
    if (recompute.before_kernel_id() != graph_.kernel(before).id) {
      return absl::InvalidArgumentError(
          absl::StrCat(RecomputeName(r), ": before_kernel_id '",
                       recompute.before_kernel_id(), "' does not match ",
                       KernelName(static_cast<int>(before))));
    }
    if (r > 0 && recompute.before_kernel_index() < previous_before) {
      return absl::InvalidArgumentError(absl::StrCat(
          RecomputeName(r), " comes after one before kernel #", previous_before,
          "; recomputes must be ordered by kernel"));
    }
    previous_before = recompute.before_kernel_index();
    tensor_recomputes_[t].push_back(r);
  }
  return absl::OkStatus();
}

absl::Status Checker::CheckRecomputeIndices(int t) {
  const auto& listed = plan_.tensors(t).recompute_indices();
  const std::vector<int>& actual = tensor_recomputes_[t];
  const bool same = static_cast<size_t>(listed.size()) == actual.size() &&
                    std::equal(actual.begin(), actual.end(), listed.begin(),
                               [](int a, uint32_t b) {
                                 return static_cast<uint32_t>(a) == b;
                               });
  if (!same) {
    return absl::InvalidArgumentError(
        absl::StrCat(TensorName(t), ": recompute_indices list ", listed.size(),
                     " entries that are not its ", actual.size(),
                     " recomputes in plan order"));
  }
  if (tensor_recomputes_[t].empty()) return absl::OkStatus();
  if (graph_.tensor(t).fixed_tier != v1::TIER_UNSPECIFIED) {
    return absl::InvalidArgumentError(absl::StrCat(
        TensorName(t), " is fixed to one tier but the plan recomputes it"));
  }
  // A tensor's drops may not overlap (checked in plan order, which is
  // ordered by re-run kernel).
  int previous_before = -1;
  for (int r : tensor_recomputes_[t]) {
    const int after =
        static_cast<int>(plan_.recomputes(r).dropped_after_kernel_index());
    if (after < previous_before) {
      return absl::InvalidArgumentError(absl::StrCat(
          RecomputeName(r), ": its drop after kernel #", after,
          " overlaps the tensor's previous recomputation (before kernel #",
          previous_before, ")"));
    }
    previous_before =
        static_cast<int>(plan_.recomputes(r).before_kernel_index());
  }
  return absl::OkStatus();
}

absl::Status Checker::CheckRecomputes(VerifyReport& report) {
  double total_us = 0;
  // The last re-run reading each tensor after its life.
  std::vector<int> kept_until(graph_.num_tensors(), 0);
  for (int r = 0; r < plan_.recomputes_size(); ++r) {
    const v1::Recompute& recompute = plan_.recomputes(r);
    const int t = graph_.FindTensor(recompute.tensor_id());
    const KernelInfo& producer =
        graph_.kernel(static_cast<int>(recompute.kernel_index()));
    const int before = static_cast<int>(recompute.before_kernel_index());
    AUTOTM_ASSIGN_OR_RETURN(const std::vector<int> chain, CheckRemadeChain(r));
    uint64_t scratch = OutputBytes(producer, t);
    // Deepest producer first, each reading the entries before it fast.
    for (size_t e = 0; e < chain.size(); ++e) {
      const KernelInfo& kernel =
          graph_.kernel(graph_.tensor(chain[e]).producer);
      std::vector<bool> slow(kernel.operands.size(), false);
      for (int p = 0; p < kernel.num_inputs; ++p) {
        AUTOTM_ASSIGN_OR_RETURN(
            const bool input_slow,
            RerunInputSlow(r, kernel, kernel.operands[p], before,
                           absl::MakeConstSpan(chain.data(), e), &kept_until));
        slow[p] = input_slow;
      }
      const v1::RemadeInput& remade = recompute.remade_inputs(e);
      AUTOTM_ASSIGN_OR_RETURN(
          const double remade_us,
          CheckRerunPrice(r, kernel, slow, remade.config(), remade.time_us()));
      total_us += remade_us;
      scratch += OutputBytes(kernel, -1);
    }
    std::vector<bool> slow(producer.operands.size(), false);
    for (int p = 0; p < producer.num_inputs; ++p) {
      AUTOTM_ASSIGN_OR_RETURN(const bool input_slow,
                              RerunInputSlow(r, producer, producer.operands[p],
                                             before, chain, &kept_until));
      slow[p] = input_slow;
    }
    AUTOTM_ASSIGN_OR_RETURN(
        const double time,
        CheckRerunPrice(r, producer, slow, recompute.config(),
                        recompute.time_us()));
    total_us += time;
    if (recompute.scratch_bytes() != scratch) {
      return absl::InvalidArgumentError(absl::StrCat(
          RecomputeName(r), ": scratch_bytes ", recompute.scratch_bytes(),
          " but the outputs it writes beside its tensor total ", scratch,
          " bytes"));
    }
    // Sizes total at most GraphLimits::max_total_bytes: no wrap-around.
    const uint64_t held = fast_bytes_[before] + scratch;
    if (held > budget_bytes_) {
      return absl::InvalidArgumentError(absl::StrCat(
          RecomputeName(r), ": fast memory ", HumanBytes(held), " (", held,
          " bytes, its scratch included) exceeds budget ", budget_bytes_,
          " bytes"));
    }
    report.peak_fast_bytes = std::max(report.peak_fast_bytes, held);
  }
  if (profile_ != nullptr && !Close(plan_.recompute_time_us(), total_us)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "plan recompute_time_us is %.9g but its recomputes total %.9g",
        plan_.recompute_time_us(), total_us));
  }
  for (int t = 0; t < graph_.num_tensors(); ++t) {
    const int64_t claimed = plan_.tensors(t).kept_slow_until_kernel();
    if (claimed != kept_until[t]) {
      return absl::InvalidArgumentError(absl::StrCat(
          TensorName(t), ": kept_slow_until_kernel is ", claimed,
          " but the last re-run reading it after its life is at kernel #",
          kept_until[t], " (0: none)"));
    }
  }
  report.recompute_time_us = total_us;
  report.kernel_time_us += total_us;
  report.predicted_time_us += total_us;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int>> Checker::CheckRemadeChain(int r) {
  const v1::Recompute& recompute = plan_.recomputes(r);
  std::vector<int> chain;
  for (const v1::RemadeInput& remade : recompute.remade_inputs()) {
    const int j = graph_.FindTensor(remade.tensor_id());
    if (j < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(RecomputeName(r), ": remade input '", remade.tensor_id(),
                       "' is no tensor of the graph"));
    }
    const TensorInfo& tensor = graph_.tensor(j);
    if (tensor.producer < 0 || tensor.role != v1::TENSOR_ROLE_ACTIVATION ||
        remade.kernel_index() != static_cast<uint32_t>(tensor.producer) ||
        remade.kernel_id() != graph_.kernel(tensor.producer).id) {
      return absl::InvalidArgumentError(
          absl::StrCat(RecomputeName(r), ": remade input '", tensor.id,
                       "' is made by kernel '", remade.kernel_id(),
                       "', which is not its producer"));
    }
    if (std::find(chain.begin(), chain.end(), j) != chain.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(RecomputeName(r), ": remade input '", tensor.id,
                       "' is listed twice"));
    }
    chain.push_back(j);
  }
  for (size_t e = 0; e < chain.size(); ++e) {
    const KernelInfo& reader =
        e + 1 < chain.size()
            ? graph_.kernel(graph_.tensor(chain[e + 1]).producer)
            : graph_.kernel(static_cast<int>(recompute.kernel_index()));
    const auto inputs_end = reader.operands.begin() + reader.num_inputs;
    if (std::find(reader.operands.begin(), inputs_end, chain[e]) ==
        inputs_end) {
      return absl::InvalidArgumentError(
          absl::StrCat(RecomputeName(r), ": remade input '",
                       graph_.tensor(chain[e]).id, "' is no input of kernel '",
                       reader.id, "', the next re-run of its chain"));
    }
  }
  return chain;
}

absl::StatusOr<bool> Checker::RerunInputSlow(
    int r, const KernelInfo& kernel, int j, int before,
    absl::Span<const int> made, std::vector<int>* kept_until) const {
  if (std::find(made.begin(), made.end(), j) != made.end()) {
    return false;  // made again earlier in the chain, in scratch
  }
  const TensorInfo& input = graph_.tensor(j);
  if (before > input.last_live && ends_slow_[j] &&
      static_cast<int64_t>(plan_.tensors(j).kept_slow_until_kernel()) >=
          before) {
    (*kept_until)[j] = std::max((*kept_until)[j], before);
    return true;  // kept in the slow tier past its life
  }
  if (before < input.first_live || before > input.last_live ||
      IsDropped(j, before)) {
    return absl::InvalidArgumentError(absl::StrCat(
        RecomputeName(r), ": input ", TensorName(j), " of kernel '", kernel.id,
        "' is not in memory before ", KernelName(before),
        " (not live there nor kept in the slow tier until then, nor remade "
        "earlier in its chain, or dropped itself)"));
  }
  // An asynchronous TO_FAST at `before` overlaps that kernel: in flight
  // during the re-run right before it, which reads the slow copy.
  return !IsFast(j, before) || ArrivesByOverlappedCopy(j, before);
}

absl::StatusOr<double> Checker::CheckRerunPrice(int r, const KernelInfo& kernel,
                                                const std::vector<bool>& slow,
                                                const std::string& config,
                                                double time_us) const {
  const std::string expected = FormatConfig(slow, kernel.num_inputs);
  if (config != expected) {
    return absl::InvalidArgumentError(absl::StrCat(
        RecomputeName(r), ": re-run of kernel '", kernel.id, "': config ",
        config, " does not match its inputs' tiers there, which give ",
        expected));
  }
  if (profile_ == nullptr) return time_us;
  const KernelCost* cost = profile_->Find(kernel.signature_key);
  std::optional<double> priced =
      cost == nullptr ? std::nullopt : cost->TimeUs(slow);
  if (!priced.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        RecomputeName(r), ": config ", expected, " is missing from profile '",
        profile_->host_class().name(), "' for ", kernel.signature_key));
  }
  if (!Close(time_us, *priced)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: re-run of kernel '%s' takes %.9g us, the profile says %.9g us "
        "for config %s",
        RecomputeName(r), kernel.id, time_us, *priced, expected));
  }
  return *priced;
}

uint64_t Checker::OutputBytes(const KernelInfo& kernel, int except) const {
  uint64_t bytes = 0;
  for (size_t p = kernel.num_inputs; p < kernel.operands.size(); ++p) {
    if (kernel.operands[p] != except) {
      bytes += graph_.tensor(kernel.operands[p]).size_bytes;
    }
  }
  return bytes;
}

absl::Status Checker::CheckMovesInLife(int t) {
  const TensorInfo& tensor = graph_.tensor(t);
  const std::vector<int>& moves = tensor_moves_[t];
  if (tensor.fixed_tier != v1::TIER_UNSPECIFIED && !moves.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        TensorName(t), " is fixed to the ", TierName(tensor.fixed_tier),
        " tier but the plan moves it (", MoveName(moves.front()), ")"));
  }
  for (int m : moves) {
    const int k = static_cast<int>(plan_.moves(m).kernel_index());
    if (k < tensor.first_live || k > tensor.last_live) {
      return absl::InvalidArgumentError(
          absl::StrCat(TensorName(t), ": ", MoveName(m), " at ", KernelName(k),
                       " is outside its live range [", tensor.first_live, ", ",
                       tensor.last_live, "]"));
    }
  }
  return absl::OkStatus();
}

absl::Status Checker::CheckMovePrice(int t, int m, uint64_t bytes,
                                     double gb_per_s, absl::string_view why) {
  const v1::Move& move = plan_.moves(m);
  const double time_us =
      bytes == 0 ? 0.0 : static_cast<double>(bytes) / (gb_per_s * 1e3);
  if (move.bytes_copied() != bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        TensorName(t), ": ", MoveName(m), " claims bytes_copied ",
        move.bytes_copied(), ", expected ", bytes, " (", why, ")"));
  }
  if (profile_ == nullptr) return absl::OkStatus();  // no prices to check
  if (!Close(move.time_us(), time_us)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: %s claims time %.9g us, expected %.9g us (%d bytes %s at %g "
        "GB/s)",
        TensorName(t), MoveName(m), move.time_us(), time_us, bytes,
        move.sync() ? "sync" : "async", gb_per_s));
  }
  if (move.sync()) {
    sync_move_us_ += time_us;
  } else {
    async_us_[move.kernel_index()] += time_us;
  }
  return absl::OkStatus();
}

absl::Status Checker::CheckMovePrice(int t, int m, bool slow_copy_valid) {
  const v1::CopyBandwidths bw =
      profile_ != nullptr ? profile_->bandwidths() : v1::CopyBandwidths();
  const v1::Move& move = plan_.moves(m);
  const uint64_t size = graph_.tensor(t).size_bytes;
  if (move.direction() == v1::MOVE_DIRECTION_TO_FAST) {
    return CheckMovePrice(t, m, size,
                          move.sync() ? bw.slow_to_fast_sync_gb_per_s()
                                      : bw.slow_to_fast_async_gb_per_s(),
                          "a TO_FAST copies the whole tensor");
  }
  const double gb_per_s = move.sync() ? bw.fast_to_slow_sync_gb_per_s()
                                      : bw.fast_to_slow_async_gb_per_s();
  return slow_copy_valid
             ? CheckMovePrice(t, m, 0, gb_per_s,
                              "a valid slow copy exists: the fast copy is "
                              "dropped for free")
             : CheckMovePrice(t, m, size, gb_per_s,
                              "no slow copy exists yet: the tensor is written "
                              "to the slow tier");
}

absl::Status Checker::TakeMovesAt(int t, int k, size_t& next,
                                  std::optional<int>& to_fast,
                                  std::optional<int>& to_slow) {
  const std::vector<int>& moves = tensor_moves_[t];
  size_t end = next;
  while (end < moves.size() &&
         static_cast<int>(plan_.moves(moves[end]).kernel_index()) == k) {
    ++end;
  }
  for (size_t i = next; i < end; ++i) {
    const int m = moves[i];
    const bool is_fast =
        plan_.moves(m).direction() == v1::MOVE_DIRECTION_TO_FAST;
    if (is_fast && !to_fast.has_value() && !to_slow.has_value()) {
      to_fast = m;
    } else if (!is_fast && !to_slow.has_value()) {
      to_slow = m;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          TensorName(t), ": ", MoveName(m), " at ", KernelName(k),
          " is out of order; at one kernel a tensor may have one TO_FAST "
          "followed by one TO_SLOW"));
    }
  }
  next = end;
  return absl::OkStatus();
}

absl::Status Checker::ReplayTensor(int t) {
  const TensorInfo& tensor = graph_.tensor(t);
  const std::vector<int>& moves = tensor_moves_[t];
  if (absl::Status status = CheckMovesInLife(t); !status.ok()) {
    return status;
  }

  std::vector<std::pair<int, int>>& fast = fast_[t];
  fast.clear();
  v1::Tier tier = plan_.tensors(t).creation_tier();
  // First kernel of the current fast stretch, -1 while slow.
  int fast_since = tier == v1::TIER_FAST ? tensor.first_live : -1;
  bool slow_copy_valid = tier == v1::TIER_SLOW;

  // Only kernels with moves or recomputations change the tier: visit those,
  // in order (both lists are sorted by kernel), instead of every kernel of
  // the life.
  const std::vector<int>& recomputes = tensor_recomputes_[t];
  std::vector<std::pair<int, int>>& dropped = dropped_[t];
  dropped.clear();
  size_t next_drop = 0, next_rerun = 0;
  bool is_dropped = false;
  size_t next = 0;
  auto drop_at = [&](size_t i) {
    return static_cast<int>(
        plan_.recomputes(recomputes[i]).dropped_after_kernel_index());
  };
  auto rerun_at = [&](size_t i) {
    return static_cast<int>(
        plan_.recomputes(recomputes[i]).before_kernel_index());
  };
  while (next < moves.size() || next_drop < recomputes.size() ||
         next_rerun < recomputes.size()) {
    int k = std::numeric_limits<int>::max();
    if (next < moves.size()) {
      k = static_cast<int>(plan_.moves(moves[next]).kernel_index());
    }
    if (next_drop < recomputes.size()) k = std::min(k, drop_at(next_drop));
    if (next_rerun < recomputes.size()) k = std::min(k, rerun_at(next_rerun));
    // A re-run before k makes the tensor again, in the fast tier.
    if (next_rerun < recomputes.size() && rerun_at(next_rerun) == k) {
      if (!is_dropped) {
        return absl::InvalidArgumentError(
            absl::StrCat(RecomputeName(recomputes[next_rerun]),
                         ": the tensor is not dropped there"));
      }
      dropped.emplace_back(drop_at(next_rerun) + 1, k - 1);
      is_dropped = false;
      tier = v1::TIER_FAST;
      fast_since = k;
      slow_copy_valid = false;
      ++next_rerun;
    }
    // This tensor's moves at k: at most one TO_FAST, then at most one TO_SLOW.
    std::optional<int> to_fast, to_slow;
    if (absl::Status status = TakeMovesAt(t, k, next, to_fast, to_slow);
        !status.ok()) {
      return status;
    }
    if (is_dropped && (to_fast.has_value() || to_slow.has_value())) {
      return absl::InvalidArgumentError(absl::StrCat(
          TensorName(t), ": ", MoveName(to_fast ? *to_fast : *to_slow), " at ",
          KernelName(k), " moves it while it is dropped"));
    }

    if (to_fast.has_value()) {
      if (tensor.producer == k) {
        return absl::InvalidArgumentError(absl::StrCat(
            TensorName(t), ": ", MoveName(*to_fast), " at its producer ",
            KernelName(k), " reads a copy that does not exist yet"));
      }
      if (tier != v1::TIER_SLOW) {
        return absl::InvalidArgumentError(absl::StrCat(
            TensorName(t), ": ", MoveName(*to_fast), " at ", KernelName(k),
            " but the tensor is already in the fast tier there"));
      }
      tier = v1::TIER_FAST;
      // Fast from k on; a stretch that ended at k - 1 continues.
      if (!fast.empty() && fast.back().second == k - 1) {
        fast_since = fast.back().first;
        fast.pop_back();
      } else {
        fast_since = k;
      }
      if (absl::Status priced = CheckMovePrice(t, *to_fast, false);
          !priced.ok()) {
        return priced;
      }
    }
    if (to_slow.has_value()) {
      if (tier != v1::TIER_FAST) {
        return absl::InvalidArgumentError(absl::StrCat(
            TensorName(t), ": ", MoveName(*to_slow), " at ", KernelName(k),
            " but the tensor is in the slow tier while the kernel runs"));
      }
      tier = v1::TIER_SLOW;
      if (absl::Status priced = CheckMovePrice(t, *to_slow, slow_copy_valid);
          !priced.ok()) {
        return priced;
      }
      slow_copy_valid = true;
      // Kernel k ran with the tensor fast; it leaves after.
      fast.emplace_back(fast_since, k);
      fast_since = -1;
    }
    // A drop after k discards every copy.
    if (next_drop < recomputes.size() && drop_at(next_drop) == k) {
      if (fast_since >= 0) fast.emplace_back(fast_since, k);
      fast_since = -1;
      tier = v1::TIER_UNSPECIFIED;
      slow_copy_valid = false;
      is_dropped = true;
      ++next_drop;
    }
  }
  if (fast_since >= 0) fast.emplace_back(fast_since, tensor.last_live);
  ends_slow_[t] = tier == v1::TIER_SLOW;
  AddFastBytes(t);
  return absl::OkStatus();
}

void Checker::AddFastBytes(int t) {
  // Fast bytes per kernel by differences, summed up in Run().
  for (const auto& [first, last] : fast_[t]) {
    fast_starting_[first] += graph_.tensor(t).size_bytes;
    fast_ending_[last + 1] += graph_.tensor(t).size_bytes;
  }
}

absl::Status Checker::CheckKernels(VerifyReport& report) {
  if (plan_.kernels_size() != graph_.num_kernels()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "plan has ", plan_.kernels_size(), " kernel choices for ",
        graph_.num_kernels(), " kernels of graph '", graph_.name(), "'"));
  }
  for (int k = 0; k < graph_.num_kernels(); ++k) {
    const v1::KernelChoice& choice = plan_.kernels(k);
    const KernelInfo& kernel = graph_.kernel(k);
    if (choice.kernel_id() != kernel.id) {
      return absl::InvalidArgumentError(absl::StrCat(
          "kernel choice #", k, " is for kernel '", choice.kernel_id(),
          "', expected '", kernel.id, "' (choices must follow graph order)"));
    }
    std::vector<bool> slow(kernel.operands.size(), false);
    for (size_t p = 0; p < kernel.operands.size(); ++p) {
      const int t = kernel.operands[p];
      const TensorInfo& tensor = graph_.tensor(t);
      if (k < tensor.first_live || k > tensor.last_live) {
        return absl::InternalError(absl::StrCat(
            KernelName(k), ": operand ", p, " (", TensorName(t),
            ") is not live there; the graph model is inconsistent"));
      }
      if (IsDropped(t, k)) {
        return absl::InvalidArgumentError(
            absl::StrCat(KernelName(k), ": operand ", p, " (", TensorName(t),
                         ") is dropped for a recomputation there"));
      }
      slow[p] = !IsFast(t, k);
    }
    const std::string expected = FormatConfig(slow, kernel.num_inputs);
    if (choice.config() != expected) {
      // Name the first operand whose letter differs (positions skip '|').
      std::string detail;
      if (choice.config().size() != expected.size()) {
        detail = absl::StrCat(" (it has ", choice.config().size(),
                              " characters, expected ", expected.size(), ")");
      } else {
        for (size_t i = 0, p = 0; i < expected.size(); ++i) {
          if (expected[i] == '|') continue;
          if (choice.config()[i] != expected[i]) {
            detail = absl::StrCat(
                " (operand ", p, ", ", TensorName(kernel.operands[p]), ", is ",
                slow[p] ? "slow" : "fast", " while the kernel runs)");
            break;
          }
          ++p;
        }
      }
      return absl::InvalidArgumentError(absl::StrCat(
          KernelName(k), ": plan config ", choice.config(),
          " does not match the operand tiers, which give ", expected, detail));
    }
    // Without a profile the plan's own kernel time stands (nothing to
    // check it against).
    std::optional<double> time = choice.time_us();
    if (profile_ != nullptr) {
      const KernelCost* cost = profile_->Find(kernel.signature_key);
      if (cost == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat(
            KernelName(k), ": profile '", profile_->host_class().name(),
            "' has no entry for its signature ", kernel.signature_key));
      }
      time = cost->TimeUs(slow);
      if (!time.has_value()) {
        return absl::InvalidArgumentError(absl::StrCat(
            KernelName(k), ": config ", expected, " is missing from profile '",
            profile_->host_class().name(), "' for ", kernel.signature_key));
      }
    }
    if (!Close(choice.time_us(), *time)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: plan kernel time %.9g us for config %s, the profile says %.9g "
          "us",
          KernelName(k), choice.time_us(), expected, *time));
    }
    if (fast_bytes_[k] > budget_bytes_) {
      return absl::InvalidArgumentError(absl::StrCat(
          KernelName(k), ": fast memory ", HumanBytes(fast_bytes_[k]), " (",
          fast_bytes_[k], " bytes) exceeds budget ", budget_bytes_, " bytes"));
    }
    if (choice.fast_bytes() != fast_bytes_[k]) {
      return absl::InvalidArgumentError(
          absl::StrCat(KernelName(k), ": plan fast_bytes ", choice.fast_bytes(),
                       " but the tensors fast while it runs total ",
                       fast_bytes_[k], " bytes"));
    }
    report.kernel_time_us += *time;
    if (profile_ != nullptr) {
      report.move_time_us += std::max(0.0, async_us_[k] - *time);
    }
    report.peak_fast_bytes = std::max(report.peak_fast_bytes, fast_bytes_[k]);
  }
  report.move_time_us += sync_move_us_;
  report.predicted_time_us = report.kernel_time_us + report.move_time_us;
  report.fast_bytes_per_kernel = fast_bytes_;
  return absl::OkStatus();
}

absl::Status Checker::CheckTotals(const VerifyReport& report) {
  if (plan_.peak_fast_bytes() != report.peak_fast_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("plan peak_fast_bytes ", plan_.peak_fast_bytes(),
                     " but the largest fast occupancy is ",
                     report.peak_fast_bytes, " bytes"));
  }
  if (profile_ == nullptr) return absl::OkStatus();  // times unpriced
  const struct {
    const char* name;
    double claimed;
    double actual;
  } totals[] = {
      {"kernel_time_us", plan_.kernel_time_us(), report.kernel_time_us},
      {"move_time_us", plan_.move_time_us(), report.move_time_us},
      {"predicted_time_us", plan_.predicted_time_us(),
       report.predicted_time_us},
  };
  for (const auto& total : totals) {
    if (!Close(total.claimed, total.actual)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("plan %s is %.9g but the recomputed value is %.9g",
                          total.name, total.claimed, total.actual));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<VerifyReport> Checker::Run() {
  absl::Status status = CheckTableCollapse();
  if (!status.ok()) return status;
  status = CheckPlacements();
  if (!status.ok()) return status;
  status = CheckMoveList();
  if (!status.ok()) return status;
  status = CheckRecomputeList();
  if (!status.ok()) return status;

  fast_.assign(graph_.num_tensors(), {});
  dropped_.assign(graph_.num_tensors(), {});
  ends_slow_.assign(graph_.num_tensors(), 0);
  fast_starting_.assign(graph_.num_kernels() + 1, 0);
  fast_ending_.assign(graph_.num_kernels() + 1, 0);
  fast_bytes_.assign(graph_.num_kernels(), 0);
  async_us_.assign(graph_.num_kernels(), 0.0);
  sync_move_us_ = 0;
  for (int t = 0; t < graph_.num_tensors(); ++t) {
    status = CheckMoveIndices(t);
    if (!status.ok()) return status;
    status = CheckRecomputeIndices(t);
    if (!status.ok()) return status;
    status = ReplayTensor(t);
    if (!status.ok()) return status;
    status = CheckIntervals(t);
    if (!status.ok()) return status;
  }
  // Sizes are at most GraphLimits::max_total_bytes in all: no wrap-around.
  uint64_t fast_bytes = 0;
  for (int k = 0; k < graph_.num_kernels(); ++k) {
    fast_bytes = fast_bytes + fast_starting_[k] - fast_ending_[k];
    fast_bytes_[k] = fast_bytes;
  }
  status = CheckOffsets();
  if (!status.ok()) return status;

  VerifyReport report;
  status = CheckKernels(report);
  if (!status.ok()) return status;
  status = CheckRecomputes(report);
  if (!status.ok()) return status;
  status = CheckTotals(report);
  if (!status.ok()) return status;
  return report;
}

absl::Status Checker::CheckTableCollapse() {
  if (profile_ == nullptr) return absl::OkStatus();
  const ProfileModel& profile = *profile_;
  const TableCollapseOptions& model = profile.table_collapse();
  const TableCollapseOptions planned = TableCollapseOptionsOf(plan_);
  auto describe = [](const TableCollapseOptions& options) {
    return options.enabled
               ? absl::StrFormat(
                     "tables collapsed within max(%g of the all-fast time, "
                     "%g us)",
                     options.relative_tolerance, options.absolute_tolerance_us)
               : std::string("tables as given");
  };
  if (planned.enabled != model.enabled ||
      (model.enabled &&
       (planned.relative_tolerance != model.relative_tolerance ||
        planned.absolute_tolerance_us != model.absolute_tolerance_us))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the plan was priced with ", describe(planned),
        " but the profile model has ", describe(model),
        "; build it with the plan's TableCollapseOptionsOf(plan)"));
  }
  if (!model.enabled) return absl::OkStatus();
  const TableCollapseSummary summary = SummarizeTableCollapse(graph_, profile);
  const v1::TableCollapse& report = plan_.table_collapse();
  if (report.collapsed_kernels() !=
          static_cast<uint32_t>(summary.collapsed_kernels) ||
      report.table_kernels() != static_cast<uint32_t>(summary.table_kernels) ||
      !Close(report.max_residual_us(), summary.max_residual_us)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "plan table_collapse says %u kernels collapsed, %u tables, worst "
        "residual %.9g us; the profile gives %d, %d and %.9g us",
        report.collapsed_kernels(), report.table_kernels(),
        report.max_residual_us(), summary.collapsed_kernels,
        summary.table_kernels, summary.max_residual_us));
  }
  return absl::OkStatus();
}

absl::Status Checker::CheckIntervals(int t) {
  const auto& intervals = plan_.tensors(t).fast_intervals();
  const std::vector<std::pair<int, int>>& fast = fast_[t];
  for (size_t i = 0; i < fast.size(); ++i) {
    const auto [first, last] = fast[i];
    if (static_cast<int>(i) >= intervals.size() ||
        static_cast<int64_t>(intervals[i].first_kernel()) != first ||
        static_cast<int64_t>(intervals[i].last_kernel()) != last) {
      return absl::InvalidArgumentError(absl::StrCat(
          TensorName(t), ": fast interval #", i, " should span kernels [",
          first, ", ", last, "], where the moves leave it fast"));
    }
  }
  if (static_cast<size_t>(intervals.size()) != fast.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(TensorName(t), ": has ", intervals.size(),
                     " fast intervals, the moves give ", fast.size()));
  }
  return absl::OkStatus();
}

absl::Status Checker::CheckOffsets() {
  const uint64_t alignment = plan_.alignment_bytes();
  if (alignment == 0) {
    if (require_offsets_) {
      return absl::InvalidArgumentError(
          "plan has no fast-pool offsets (alignment_bytes is 0)");
    }
    return absl::OkStatus();
  }
  struct Block {
    uint64_t offset;
    uint64_t end;
    int tensor;
    int first;
    int last;
  };
  std::vector<Block> blocks;
  uint64_t used = 0;
  for (int t = 0; t < graph_.num_tensors(); ++t) {
    const uint64_t size = AlignUp(graph_.tensor(t).size_bytes, alignment);
    for (const v1::FastInterval& interval : plan_.tensors(t).fast_intervals()) {
      const uint64_t offset = interval.offset_bytes();
      if (offset % alignment != 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(TensorName(t), ": offset ", offset,
                         " is not a multiple of the alignment ", alignment));
      }
      if (offset > budget_bytes_ || size > budget_bytes_ - offset) {
        return absl::InvalidArgumentError(absl::StrCat(
            TensorName(t), ": block [", offset, ", ", offset + size,
            ") at kernels [", interval.first_kernel(), ", ",
            interval.last_kernel(), "] ends past the budget of ", budget_bytes_,
            " bytes"));
      }
      used = std::max(used, offset + size);
      // CheckIntervals has matched the intervals with the replayed ones:
      // inside the tensor's live range.
      blocks.push_back({offset, offset + size, t,
                        static_cast<int>(interval.first_kernel()),
                        static_cast<int>(interval.last_kernel())});
    }
  }
  // No two blocks live at one kernel may overlap. A sweep over kernels
  // keeps the live blocks ordered by offset; they never overlap each other,
  // so a new block need only be compared with its neighbours. O(B log B)
  // for B blocks, instead of a bucket per kernel holding every block live
  // there (kernels x lifetime). The first overlap found is at the earliest
  // kernel where one exists.
  std::vector<int> by_first(blocks.size());
  for (size_t b = 0; b < blocks.size(); ++b) by_first[b] = static_cast<int>(b);
  std::stable_sort(by_first.begin(), by_first.end(), [&](int a, int b) {
    return blocks[a].first < blocks[b].first;
  });
  std::set<std::pair<uint64_t, int>> live;  // (offset, block)
  // Live blocks by last kernel, to retire them: (last, block), min first.
  std::priority_queue<std::pair<int, int>, std::vector<std::pair<int, int>>,
                      std::greater<>>
      retire;
  auto overlap = [&](int k, const Block& low, const Block& high) {
    return absl::InvalidArgumentError(absl::StrCat(
        KernelName(k), ": ", TensorName(low.tensor), " at [", low.offset, ", ",
        low.end, ") overlaps ", TensorName(high.tensor), " at [", high.offset,
        ", ", high.end, ") in the fast pool"));
  };
  for (const int b : by_first) {
    const Block& block = blocks[b];
    const int k = block.first;
    while (!retire.empty() && retire.top().first < k) {
      live.erase({blocks[retire.top().second].offset, retire.top().second});
      retire.pop();
    }
    auto [it, inserted] = live.insert({block.offset, b});
    if (it != live.begin()) {
      const Block& below = blocks[std::prev(it)->second];
      if (below.end > block.offset) return overlap(k, below, block);
    }
    if (std::next(it) != live.end()) {
      const Block& above = blocks[std::next(it)->second];
      if (block.end > above.offset) return overlap(k, block, above);
    }
    retire.push({block.last, b});
  }
  if (plan_.pool_bytes_used() != used) {
    return absl::InvalidArgumentError(
        absl::StrCat("plan pool_bytes_used is ", plan_.pool_bytes_used(),
                     ", the offsets give ", used));
  }
  return absl::OkStatus();
}

// A 2LM simulation's plan: the structure of an all-slow plan without moves,
// and times that a simulation of the same cache reproduces. Not independent
// of the code that made the plan, unlike the rest of this file: a simulated
// time can only be checked by simulating again. That still catches a plan
// altered or mislabelled on its way, and one priced with another profile.
absl::StatusOr<VerifyReport> VerifyTwoLevelMemoryPlan(
    const GraphModel& graph, const ProfileModel& profile, const v1::Plan& plan,
    uint64_t budget_bytes, bool require_offsets) {
  AUTOTM_ASSIGN_OR_RETURN(
      VerifyReport report,
      Checker(graph, nullptr, plan, budget_bytes, require_offsets).Run());
  if (plan.moves_size() > 0 || report.peak_fast_bytes > 0) {
    return absl::InvalidArgumentError(
        "a 2LM plan places every tensor in the slow tier and moves none");
  }
  if (!plan.has_two_level_memory()) {
    return absl::InvalidArgumentError(
        "a 2LM plan must say what it simulated (two_level_memory)");
  }
  TwoLevelMemoryOptions options;
  options.cache_bytes = plan.budget_bytes();
  options.line_bytes = plan.two_level_memory().line_bytes();
  AUTOTM_ASSIGN_OR_RETURN(TwoLevelMemoryResult simulated,
                          SimulateTwoLevelMemory(graph, profile, options));
  for (int k = 0; k < graph.num_kernels(); ++k) {
    if (!Close(plan.kernels(k).time_us(), simulated.kernel_time_us[k])) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "kernel %s: the plan says %.6f us, the 2LM simulation %.6f us",
          graph.kernel(k).id, plan.kernels(k).time_us(),
          simulated.kernel_time_us[k]));
    }
  }
  const v1::TwoLevelMemory& cache = plan.two_level_memory();
  if (!Close(plan.predicted_time_us(), simulated.time_us) ||
      !Close(plan.kernel_time_us(), simulated.time_us) ||
      plan.move_time_us() != 0 || cache.hit_bytes() != simulated.hit_bytes ||
      cache.miss_bytes() != simulated.miss_bytes ||
      cache.writeback_bytes() != simulated.writeback_bytes ||
      cache.address_space_bytes() != simulated.address_space_bytes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "the plan's 2LM totals (%.6f us, %u hit, %u missed, %u written back) "
        "differ from the simulation's (%.6f us, %u, %u, %u)",
        plan.predicted_time_us(), cache.hit_bytes(), cache.miss_bytes(),
        cache.writeback_bytes(), simulated.time_us, simulated.hit_bytes,
        simulated.miss_bytes, simulated.writeback_bytes));
  }
  report.predicted_time_us = simulated.time_us;
  report.kernel_time_us = simulated.time_us;
  report.move_time_us = 0;
  return report;
}

}  // namespace

TableCollapseOptions TableCollapseOptionsOf(const v1::Plan& plan) {
  if (!plan.has_table_collapse()) return TableCollapseOptions::Disabled();
  return {
      .enabled = true,
      .relative_tolerance = plan.table_collapse().relative_tolerance(),
      .absolute_tolerance_us = plan.table_collapse().absolute_tolerance_us()};
}

absl::StatusOr<VerifyReport> VerifyPlan(const GraphModel& graph,
                                        const ProfileModel& profile,
                                        const v1::Plan& plan,
                                        uint64_t budget_bytes,
                                        bool require_offsets) {
  if (plan.method() == v1::METHOD_TWO_LEVEL_MEMORY) {
    return VerifyTwoLevelMemoryPlan(graph, profile, plan, budget_bytes,
                                    require_offsets);
  }
  return Checker(graph, &profile, plan, budget_bytes, require_offsets).Run();
}

absl::StatusOr<VerifyReport> VerifyPlanStructure(const GraphModel& graph,
                                                 const v1::Plan& plan,
                                                 uint64_t budget_bytes,
                                                 bool require_offsets) {
  return Checker(graph, nullptr, plan, budget_bytes, require_offsets).Run();
}

}  // namespace autotm::solver
