#include "solver/profile_model.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <set>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "solver/signature.h"

namespace autotm::solver {
namespace {

absl::Status KernelProfileError(const std::string& key,
                                absl::string_view problem) {
  return absl::InvalidArgumentError(
      absl::StrCat("profile kernel ", key, ": ", problem));
}

// A separable fit of an exactly separable table differs from it by rounding
// only: allow this much of the table's largest time.
constexpr double kRoundingTolerance = 1e-9;

// Copy time in microseconds: bytes / (GB/s * 1e9) seconds.
double CopyUs(uint64_t bytes, double gb_per_s) {
  return static_cast<double>(bytes) / (gb_per_s * 1e3);
}

}  // namespace

absl::Status CheckKernelTimeUs(double time_us) {
  // Written so that NaN fails too.
  if (std::isfinite(time_us) && time_us >= 0 && time_us <= kMaxKernelTimeUs) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "is ", time_us, " us; kernel times must be finite, >= 0 and at most ",
      kMaxKernelTimeUs, " us"));
}

absl::Status CheckBandwidths(const v1::CopyBandwidths& bw) {
  const std::pair<const char*, double> bandwidths[] = {
      {"slow_to_fast_sync_gb_per_s", bw.slow_to_fast_sync_gb_per_s()},
      {"fast_to_slow_sync_gb_per_s", bw.fast_to_slow_sync_gb_per_s()},
      {"slow_to_fast_async_gb_per_s", bw.slow_to_fast_async_gb_per_s()},
      {"fast_to_slow_async_gb_per_s", bw.fast_to_slow_async_gb_per_s()}};
  for (const auto& [name, value] : bandwidths) {
    if (!(std::isfinite(value) && value >= kMinBandwidthGbPerS &&
          value <= kMaxBandwidthGbPerS)) {
      return absl::InvalidArgumentError(
          absl::StrCat("bandwidths.", name, " is ", value,
                       "; bandwidths must be finite numbers of GB/s between ",
                       kMinBandwidthGbPerS, " and ", kMaxBandwidthGbPerS));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ConfigMask> ParseConfig(absl::string_view config, int num_inputs,
                                       int num_outputs) {
  const size_t bar = config.find('|');
  if (bar == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("configuration \"", config,
                     "\" has no '|' between inputs and outputs"));
  }
  const absl::string_view inputs = config.substr(0, bar);
  const absl::string_view outputs = config.substr(bar + 1);
  if (static_cast<int>(inputs.size()) != num_inputs ||
      static_cast<int>(outputs.size()) != num_outputs) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "configuration \"%s\" has %d inputs and %d outputs; the kernel has %d "
        "and %d",
        config, inputs.size(), outputs.size(), num_inputs, num_outputs));
  }
  if (num_inputs + num_outputs > 63) {
    return absl::InvalidArgumentError(absl::StrCat(
        "configuration \"", config, "\" has more than 63 operands"));
  }
  ConfigMask mask = 0;
  int position = 0;
  for (absl::string_view part : {inputs, outputs}) {
    for (char c : part) {
      if (c == 'S') {
        mask |= ConfigMask{1} << position;
      } else if (c != 'F') {
        return absl::InvalidArgumentError(
            absl::StrCat("configuration \"", config, "\" has '",
                         std::string(1, c), "'; use F (fast) or S (slow)"));
      }
      ++position;
    }
  }
  return mask;
}

std::string FormatConfig(ConfigMask mask, int num_inputs, int num_outputs) {
  std::string text;
  text.reserve(num_inputs + num_outputs + 1);
  for (int p = 0; p < num_inputs + num_outputs; ++p) {
    if (p == num_inputs) text.push_back('|');
    text.push_back((mask >> p & 1) ? 'S' : 'F');
  }
  if (num_inputs + num_outputs == num_inputs) text.push_back('|');
  return text;
}

std::string FormatConfig(const std::vector<bool>& slow, int num_inputs) {
  std::string text;
  text.reserve(slow.size() + 1);
  for (size_t p = 0; p < slow.size(); ++p) {
    if (static_cast<int>(p) == num_inputs) text.push_back('|');
    text.push_back(slow[p] ? 'S' : 'F');
  }
  if (static_cast<int>(slow.size()) == num_inputs) text.push_back('|');
  return text;
}

std::optional<double> KernelCost::TimeUs(const std::vector<bool>& slow) const {
  if (static_cast<int>(slow.size()) != num_inputs_ + num_outputs_) {
    return std::nullopt;
  }
  if (separable_) {
    double time = all_fast_time_us_;
    for (size_t p = 0; p < slow.size(); ++p) {
      if (!slow[p]) continue;
      if (OnlyFast(static_cast<int>(p))) return std::nullopt;
      time += slow_penalty_us_[p];
    }
    return time;
  }
  ConfigMask mask = 0;
  for (size_t p = 0; p < slow.size(); ++p) {
    if (slow[p]) mask |= ConfigMask{1} << p;
  }
  return TimeUs(mask);
}

std::optional<double> KernelCost::TimeUs(ConfigMask mask) const {
  if (num_inputs_ + num_outputs_ > 63) return std::nullopt;
  if (separable_) {
    // As its table did, a collapsed one knows no operand past the last.
    const int n = num_inputs_ + num_outputs_;
    if (collapsed_ && (mask >> n) != 0) return std::nullopt;
    double time = all_fast_time_us_;
    for (size_t p = 0; p < slow_penalty_us_.size(); ++p) {
      if (!(mask >> p & 1)) continue;
      if (OnlyFast(static_cast<int>(p))) return std::nullopt;
      time += slow_penalty_us_[p];
    }
    return time;
  }
  auto it = std::lower_bound(table_.begin(), table_.end(), mask,
                             [](const std::pair<ConfigMask, double>& entry,
                                ConfigMask m) { return entry.first < m; });
  if (it == table_.end() || it->first != mask) return std::nullopt;
  return it->second;
}

void ProfileModel::CollapseIfSeparable(const TableCollapseOptions& options,
                                       KernelCost& cost) {
  const std::vector<std::pair<ConfigMask, double>>& table = cost.table_;
  // A single configuration is a constant, which needs no variables either
  // way.
  if (!options.enabled || table.size() < 2) return;
  // The operands slow in some listed configuration. A separable cost can
  // keep the others fast (OnlyFast) but cannot exclude any combination of
  // these, so every combination must be listed. The masks are distinct
  // subsets of `free`, so counting them settles it.
  ConfigMask free = 0;
  for (const auto& [mask, time] : table) free |= mask;
  const int num_free = std::popcount(free);
  if (table.size() != size_t{1} << num_free) return;
  const int n = cost.num_inputs_ + cost.num_outputs_;

  // Least squares over a complete two-level factorial design: in +-1 coding
  // (s_p = +1 slow, -1 fast) the columns are orthogonal, so
  // t ~ c0 + sum_p c_p s_p has c0 = mean(t) and c_p = mean(t s_p), each
  // independent of the others; the penalty is 2 c_p and the all-fast time
  // c0 - sum_p c_p. Orthogonality also makes clamping a negative c_p at 0
  // the exact non-negative least-squares fit. Negative penalties are
  // clamped because the rest of autotm assumes a slow operand never speeds
  // a kernel up (ProfileModel rejects them in given separable costs) and
  // the ILP should not be paid for a slow placement that only noise
  // favours; a real speed-up larger than the tolerance fails the residual
  // check below, and the table is kept.
  const double count = static_cast<double>(table.size());
  double sum = 0;
  std::vector<double> signed_sum(n, 0.0);
  for (const auto& [mask, time] : table) {
    sum += time;
    for (int p = 0; p < n; ++p) {
      if (free >> p & 1) signed_sum[p] += (mask >> p & 1) ? time : -time;
    }
  }
  std::vector<double> penalty(n, 0.0);
  double all_fast = sum / count;
  for (int p = 0; p < n; ++p) {
    penalty[p] = std::max(0.0, 2 * signed_sum[p] / count);
    all_fast -= penalty[p] / 2;
  }
  all_fast = std::max(0.0, all_fast);

  // The residual, with times summed as TimeUs sums them.
  double residual = 0;
  double largest = 0;
  for (const auto& [mask, time] : table) {
    double fit = all_fast;
    for (int p = 0; p < n; ++p) {
      if (mask >> p & 1) fit += penalty[p];
    }
    residual = std::max(residual, std::fabs(fit - time));
    largest = std::max(largest, time);
  }
  // table[0] is the all-fast configuration: the masks are sorted and 0 is
  // among them.
  const double tolerance =
      std::max({options.relative_tolerance * table.front().second,
                options.absolute_tolerance_us, kRoundingTolerance * largest});
  if (!(residual <= tolerance)) return;

  cost.separable_ = true;
  cost.collapsed_ = true;
  cost.collapse_residual_us_ = residual;
  cost.all_fast_time_us_ = all_fast;
  cost.slow_penalty_us_ = std::move(penalty);
  if (num_free < n) {
    cost.only_fast_.assign(n, false);
    for (int p = 0; p < n; ++p) cost.only_fast_[p] = !(free >> p & 1);
  }
  cost.table_.clear();
  cost.table_.shrink_to_fit();
}

absl::StatusOr<ProfileModel> ProfileModel::Create(
    const v1::Profile& profile, const TableCollapseOptions& collapse) {
  if (!std::isfinite(collapse.relative_tolerance) ||
      collapse.relative_tolerance < 0 ||
      !std::isfinite(collapse.absolute_tolerance_us) ||
      collapse.absolute_tolerance_us < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("table collapse tolerances must be finite and >= 0; got ",
                     collapse.relative_tolerance, " relative and ",
                     collapse.absolute_tolerance_us, " us"));
  }
  ProfileModel model;
  model.collapse_ = collapse;
  model.host_class_ = profile.host_class();
  model.bandwidths_ = profile.bandwidths();
  if (absl::Status s = CheckBandwidths(profile.bandwidths()); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("profile ", s.message()));
  }

  for (int i = 0; i < profile.kernels_size(); ++i) {
    const v1::KernelProfile& entry = profile.kernels(i);
    if (!entry.has_signature() || entry.signature().op().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("profile kernel #", i, " has no signature"));
    }
    const std::string key = SignatureKey(entry.signature());
    KernelCost cost;
    cost.num_inputs_ = entry.signature().inputs_size();
    cost.num_outputs_ = entry.signature().outputs_size();
    const int num_operands = cost.num_inputs_ + cost.num_outputs_;
    const bool has_table = entry.configs_size() > 0;
    const bool has_separable = entry.has_separable();
    if (has_table == has_separable) {
      return KernelProfileError(
          key, has_table ? "has both a configuration table and a separable "
                           "cost; give exactly one"
                         : "has neither a configuration table nor a "
                           "separable cost");
    }
    if (has_table) {
      if (num_operands > kMaxTableOperands) {
        return KernelProfileError(
            key,
            absl::StrCat("has ", num_operands,
                         " operands; configuration tables are limited "
                         "to ",
                         kMaxTableOperands, " operands, use a separable cost"));
      }
      for (const v1::ConfigTiming& timing : entry.configs()) {
        absl::StatusOr<ConfigMask> mask =
            ParseConfig(timing.config(), cost.num_inputs_, cost.num_outputs_);
        if (!mask.ok()) return KernelProfileError(key, mask.status().message());
        if (absl::Status s = CheckKernelTimeUs(timing.time_us()); !s.ok()) {
          return KernelProfileError(
              key, absl::StrCat("configuration ", timing.config(), " time ",
                                s.message()));
        }
        cost.table_.emplace_back(*mask, timing.time_us());
      }
      std::sort(cost.table_.begin(), cost.table_.end());
      for (size_t j = 1; j < cost.table_.size(); ++j) {
        if (cost.table_[j].first == cost.table_[j - 1].first) {
          return KernelProfileError(
              key,
              absl::StrCat("configuration ",
                           FormatConfig(cost.table_[j].first, cost.num_inputs_,
                                        cost.num_outputs_),
                           " is listed twice"));
        }
      }
      CollapseIfSeparable(collapse, cost);
    } else {
      const v1::SeparableCost& separable = entry.separable();
      if (separable.input_slow_penalty_us_size() != cost.num_inputs_ ||
          separable.output_slow_penalty_us_size() != cost.num_outputs_) {
        return KernelProfileError(
            key, absl::StrFormat(
                     "separable cost has %d input and %d output penalties "
                     "for %d inputs and %d outputs",
                     separable.input_slow_penalty_us_size(),
                     separable.output_slow_penalty_us_size(), cost.num_inputs_,
                     cost.num_outputs_));
      }
      if (absl::Status s = CheckKernelTimeUs(separable.all_fast_time_us());
          !s.ok()) {
        return KernelProfileError(
            key, absl::StrCat("separable all_fast_time_us ", s.message()));
      }
      cost.separable_ = true;
      cost.all_fast_time_us_ = separable.all_fast_time_us();
      for (double penalty : separable.input_slow_penalty_us()) {
        cost.slow_penalty_us_.push_back(penalty);
      }
      for (double penalty : separable.output_slow_penalty_us()) {
        cost.slow_penalty_us_.push_back(penalty);
      }
      for (size_t p = 0; p < cost.slow_penalty_us_.size(); ++p) {
        // A negative penalty could make a kernel's time negative.
        if (absl::Status s = CheckKernelTimeUs(cost.slow_penalty_us_[p]);
            !s.ok()) {
          return KernelProfileError(
              key, absl::StrCat("separable slow penalty of operand ", p, " ",
                                s.message()));
        }
      }
    }
    if (!model.costs_.emplace(key, std::move(cost)).second) {
      return KernelProfileError(key, "appears twice in the profile");
    }
  }
  return model;
}

const KernelCost* ProfileModel::Find(absl::string_view signature_key) const {
  auto it = costs_.find(signature_key);
  return it == costs_.end() ? nullptr : &it->second;
}

double ProfileModel::SyncToFastUs(uint64_t bytes) const {
  return CopyUs(bytes, bandwidths_.slow_to_fast_sync_gb_per_s());
}
double ProfileModel::SyncToSlowUs(uint64_t bytes) const {
  return CopyUs(bytes, bandwidths_.fast_to_slow_sync_gb_per_s());
}
double ProfileModel::AsyncToFastUs(uint64_t bytes) const {
  return CopyUs(bytes, bandwidths_.slow_to_fast_async_gb_per_s());
}
double ProfileModel::AsyncToSlowUs(uint64_t bytes) const {
  return CopyUs(bytes, bandwidths_.fast_to_slow_async_gb_per_s());
}

TableCollapseSummary SummarizeTableCollapse(const GraphModel& graph,
                                            const ProfileModel& profile) {
  TableCollapseSummary summary;
  for (const KernelInfo& kernel : graph.kernels()) {
    const KernelCost* cost = profile.Find(kernel.signature_key);
    if (cost == nullptr) continue;
    if (cost->collapsed()) {
      ++summary.collapsed_kernels;
      summary.max_residual_us =
          std::max(summary.max_residual_us, cost->collapse_residual_us());
    } else if (!cost->separable()) {
      ++summary.table_kernels;
    }
  }
  return summary;
}

absl::Status CheckCoverage(const GraphModel& graph,
                           const ProfileModel& profile) {
  std::set<std::string> missing;
  for (const KernelInfo& kernel : graph.kernels()) {
    if (profile.Find(kernel.signature_key) == nullptr) {
      missing.insert(kernel.signature_key);
    }
  }
  if (missing.empty()) return absl::OkStatus();
  constexpr size_t kShown = 20;
  std::vector<std::string> shown;
  for (const std::string& key : missing) {
    if (shown.size() == kShown) break;
    shown.push_back(key);
  }
  std::string more =
      missing.size() > kShown
          ? absl::StrCat("\n  ... and ", missing.size() - kShown, " more")
          : "";
  return absl::FailedPreconditionError(
      absl::StrCat("profile '", profile.host_class().name(), "' lacks ",
                   missing.size(), " kernel signature(s) of graph '",
                   graph.name(), "':\n  ", absl::StrJoin(shown, "\n  "), more));
}

}  // namespace autotm::solver
