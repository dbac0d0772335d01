#include "server/measurement_guard.h"

#include <algorithm>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "solver/profile_model.h"
#include "solver/signature.h"

namespace autotm::server {
namespace {

using solver::ConfigMask;

constexpr absl::string_view kHowToReplace =
    "; measurements that contradict the host class's data are refused (to "
    "replace a wrong profile, delete the host class and import the profile "
    "again)";

// A time of a kernel the check can point to.
struct Known {
  double time_us = 0;
  std::string where;  // "configuration FF|F (stored)", "entries[3]", ...
};

struct Upload {
  int entry = 0;
  ConfigMask mask = 0;
  double time_us = 0;
};

struct KernelData {
  int num_inputs = 0;
  int num_outputs = 0;
  // Stored medians by configuration.
  absl::flat_hash_map<ConfigMask, double> stored;
  const v1::SeparableCost* stored_separable = nullptr;
  std::vector<Upload> uploads;
  std::vector<int> separable_entries;
};

double AllSlowUs(const v1::SeparableCost& cost) {
  double total = cost.all_fast_time_us();
  for (double p : cost.input_slow_penalty_us()) total += p;
  for (double p : cost.output_slow_penalty_us()) total += p;
  return total;
}

std::string FormatUs(double us) { return absl::StrCat(us, " us"); }

// The "FF|S" name of a configuration of the kernel.
std::string ConfigName(const KernelData& data, ConfigMask mask) {
  return solver::FormatConfig(mask, data.num_inputs, data.num_outputs);
}

absl::Status Refuse(absl::string_view key, int entry, absl::string_view what,
                    double value, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("entries[", entry, "] (", key, "): ", what, " ",
                   FormatUs(value), " is implausible: ", why, kHowToReplace));
}

// The uploaded bandwidths against the stored ones: within a factor of
// limits.max_bandwidth_factor (an upload without bandwidths passes).
absl::Status CheckBandwidths(const v1::UploadMeasurementsRequest& request,
                             const v1::Profile& stored,
                             const PlausibilityLimits& limits) {
  const v1::CopyBandwidths& b = request.bandwidths();
  const v1::CopyBandwidths& old = stored.bandwidths();
  const bool given = b.slow_to_fast_sync_gb_per_s() != 0 ||
                     b.fast_to_slow_sync_gb_per_s() != 0 ||
                     b.slow_to_fast_async_gb_per_s() != 0 ||
                     b.fast_to_slow_async_gb_per_s() != 0;
  const std::tuple<const char*, double, double> fields[] = {
      {"slow_to_fast_sync_gb_per_s", b.slow_to_fast_sync_gb_per_s(),
       old.slow_to_fast_sync_gb_per_s()},
      {"fast_to_slow_sync_gb_per_s", b.fast_to_slow_sync_gb_per_s(),
       old.fast_to_slow_sync_gb_per_s()},
      {"slow_to_fast_async_gb_per_s", b.slow_to_fast_async_gb_per_s(),
       old.slow_to_fast_async_gb_per_s()},
      {"fast_to_slow_async_gb_per_s", b.fast_to_slow_async_gb_per_s(),
       old.fast_to_slow_async_gb_per_s()}};
  for (const auto& [name, value, was] : fields) {
    if (!given || was <= 0) continue;
    const double bf = limits.max_bandwidth_factor;
    if (!(value <= bf * was && value >= was / bf)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "host class ", request.host_class().name(), ": bandwidths.", name,
          " ", value, " GB/s is implausible: the host class has ", was,
          " GB/s, and a new value may differ by at most a factor of ", bf,
          kHowToReplace));
    }
  }
  return absl::OkStatus();
}

// Per signature, what is stored and what is uploaded, into *kernels;
// *order lists the signatures by first entry, so that errors name the
// earliest bad one.
void GatherKernels(const v1::UploadMeasurementsRequest& request,
                   const v1::Profile* stored,
                   absl::flat_hash_map<std::string, KernelData>* kernels,
                   std::vector<std::string>* order) {
  for (int i = 0; i < request.entries_size(); ++i) {
    const v1::MeasurementEntry& entry = request.entries(i);
    std::string key = solver::SignatureKey(entry.signature());
    auto [slot, inserted] = kernels->try_emplace(key);
    if (inserted) order->push_back(std::move(key));
    KernelData& data = slot->second;
    data.num_inputs = entry.signature().inputs_size();
    data.num_outputs = entry.signature().outputs_size();
    if (entry.has_separable()) {
      data.separable_entries.push_back(i);
      continue;
    }
    absl::StatusOr<ConfigMask> mask =
        solver::ParseConfig(entry.config(), data.num_inputs, data.num_outputs);
    if (!mask.ok()) continue;  // reported by the entry validation
    data.uploads.push_back({i, *mask, entry.time_us()});
  }
  if (stored != nullptr) {
    for (const v1::KernelProfile& kernel : stored->kernels()) {
      auto it = kernels->find(solver::SignatureKey(kernel.signature()));
      if (it == kernels->end()) continue;
      KernelData& data = it->second;
      if (kernel.has_separable()) data.stored_separable = &kernel.separable();
      for (const v1::ConfigTiming& timing : kernel.configs()) {
        absl::StatusOr<ConfigMask> mask = solver::ParseConfig(
            timing.config(), data.num_inputs, data.num_outputs);
        if (mask.ok()) data.stored[*mask] = timing.time_us();
      }
    }
  }
}

// A positive time of this kernel, for rule 1: the stored one with the
// fewest slow operands (the all-fast one where positive), so the message
// is the same whatever the hash order; else the stored separable cost's
// all-slow time; else the first positive uploaded time.
std::optional<Known> PositiveTime(const KernelData& data, double slack_us) {
  std::optional<Known> positive;
  std::optional<ConfigMask> positive_mask;
  for (const auto& [mask, time] : data.stored) {
    if (time > slack_us &&
        (!positive_mask.has_value() || mask < *positive_mask)) {
      positive_mask = mask;
    }
  }
  if (positive_mask.has_value()) {
    positive =
        Known{data.stored.at(*positive_mask),
              absl::StrCat("configuration ", ConfigName(data, *positive_mask),
                           " (stored median)")};
  }
  if (!positive.has_value() && data.stored_separable != nullptr &&
      AllSlowUs(*data.stored_separable) > slack_us) {
    positive = Known{AllSlowUs(*data.stored_separable),
                     "the all-slow time of its stored separable cost"};
  }
  if (!positive.has_value()) {
    for (const Upload& u : data.uploads) {
      if (u.time_us > slack_us) {
        positive = Known{
            u.time_us, absl::StrCat("configuration ", ConfigName(data, u.mask),
                                    " (entries[", u.entry, "])")};
        break;
      }
    }
  }
  return positive;
}

// Rules 1 to 3 for the uploaded configuration times of one kernel (`key`):
// no zero beside a positive time, within a factor of the stored median, not
// faster with slow operands than all-fast by more than the factor, and an
// all-fast time not slower than any stored configuration by more than it.
absl::Status CheckConfigUploads(const std::string& key, const KernelData& data,
                                const std::optional<Known>& positive,
                                const PlausibilityLimits& limits) {
  const double f = limits.max_factor;
  const double s = limits.slack_us;
  // The all-fast reference for rule 3a, and per configuration the value
  // an all-fast time is compared with (rule 3b).
  // Only a stored all-fast median is a reference for rule 3a: one
  // agent measures every configuration of a kernel in one run, and its
  // first sample can carry one-time costs (a CI run saw a convolution's
  // all-fast time at 7,155 us, its first call, against 4.5 us for the
  // same kernel with slow operands), so the upload's own values are not
  // compared with each other, except for zeros (rule 1).
  std::optional<Known> all_fast;
  if (auto it = data.stored.find(0); it != data.stored.end()) {
    all_fast = Known{it->second, "the stored all-fast median"};
  }
  absl::flat_hash_map<ConfigMask, Known> slower;
  for (const auto& [mask, time] : data.stored) {
    if (mask != 0) {
      slower[mask] =
          Known{time, absl::StrCat("configuration ", ConfigName(data, mask),
                                   " (stored median)")};
    }
  }

  std::vector<ConfigMask> slower_masks;
  for (const auto& [mask, c] : slower) slower_masks.push_back(mask);
  std::sort(slower_masks.begin(), slower_masks.end());

  // Rule 1 first, over the whole upload, so that a zero is named as
  // the culprit rather than the time it contradicts.
  for (const Upload& u : data.uploads) {
    if (u.time_us == 0 && positive.has_value()) {
      return Refuse(
          key, u.entry,
          absl::StrCat("configuration ", ConfigName(data, u.mask), " time_us"),
          u.time_us,
          absl::StrCat("the kernel takes ", FormatUs(positive->time_us), " in ",
                       positive->where,
                       ", and a kernel's time is 0 in every "
                       "configuration or in none"));
    }
  }
  for (const Upload& u : data.uploads) {
    const std::string what =
        absl::StrCat("configuration ", ConfigName(data, u.mask), " time_us");
    const double t = u.time_us;
    if (auto it = data.stored.find(u.mask); it != data.stored.end()) {
      const double m = it->second;
      if (!(t <= f * m + s && t >= m / f - s)) {
        return Refuse(
            key, u.entry, what, t,
            absl::StrCat("its stored median is ", FormatUs(m),
                         ", and a new measurement may differ by at most a "
                         "factor of ",
                         f, " (or ", FormatUs(s), ")"));
      }
    }
    if (u.mask != 0 && all_fast.has_value() &&
        !(t >= all_fast->time_us / f - s)) {
      return Refuse(
          key, u.entry, what, t,
          absl::StrCat("the kernel takes ", FormatUs(all_fast->time_us),
                       " with every operand fast (", all_fast->where,
                       "), and slow operands cannot make it more than a "
                       "factor of ",
                       f, " faster"));
    }
    if (u.mask == 0) {
      for (ConfigMask mask : slower_masks) {
        const Known& c = slower.at(mask);
        if (!(t <= f * c.time_us + s)) {
          return Refuse(
              key, u.entry, what, t,
              absl::StrCat("the kernel takes ", FormatUs(c.time_us), " in ",
                           c.where,
                           ", and with every operand fast it cannot be "
                           "more than a factor of ",
                           f, " slower"));
        }
      }
    }
  }
  return absl::OkStatus();
}

// The uploaded separable costs of one kernel (`key`): no zero beside a
// positive time, and all-fast and all-slow times within a factor of the
// stored separable cost's.
absl::Status CheckSeparableUploads(const v1::UploadMeasurementsRequest& request,
                                   const std::string& key,
                                   const KernelData& data,
                                   const std::optional<Known>& positive,
                                   const PlausibilityLimits& limits) {
  const double f = limits.max_factor;
  const double s = limits.slack_us;
  for (int entry : data.separable_entries) {
    const v1::SeparableCost& cost = request.entries(entry).separable();
    const double fast = cost.all_fast_time_us();
    const double slow = AllSlowUs(cost);
    if (fast == 0 && positive.has_value()) {
      return Refuse(
          key, entry, "separable.all_fast_time_us", fast,
          absl::StrCat("the kernel takes ", FormatUs(positive->time_us), " in ",
                       positive->where,
                       ", and a kernel's time is 0 in every "
                       "configuration or in none"));
    }
    if (data.stored_separable == nullptr) continue;
    const std::pair<const char*, std::pair<double, double>> checks[] = {
        {"separable.all_fast_time_us",
         {fast, data.stored_separable->all_fast_time_us()}},
        {"the separable cost's all-slow time (all-fast plus every penalty)",
         {slow, AllSlowUs(*data.stored_separable)}}};
    for (const auto& [what, values] : checks) {
      const auto [t, m] = values;
      if (!(t <= f * m + s && t >= m / f - s)) {
        return Refuse(
            key, entry, what, t,
            absl::StrCat("the stored separable cost has ", FormatUs(m),
                         ", and a new one may differ by at most a factor of ",
                         f, " (or ", FormatUs(s), ")"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckPlausible(const v1::UploadMeasurementsRequest& request,
                            const v1::Profile* stored,
                            const PlausibilityLimits& limits) {
  if (stored != nullptr) {
    if (absl::Status status = CheckBandwidths(request, *stored, limits);
        !status.ok()) {
      return status;
    }
  }
  absl::flat_hash_map<std::string, KernelData> kernels;
  std::vector<std::string> order;
  GatherKernels(request, stored, &kernels, &order);
  for (const std::string& key : order) {
    const KernelData& data = kernels.at(key);
    const std::optional<Known> positive = PositiveTime(data, limits.slack_us);
    if (absl::Status status = CheckConfigUploads(key, data, positive, limits);
        !status.ok()) {
      return status;
    }
    if (absl::Status status =
            CheckSeparableUploads(request, key, data, positive, limits);
        !status.ok()) {
      return status;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<const v1::Profile*> StoredReference::Get(
    const std::string& name, uint64_t version,
    const std::function<absl::StatusOr<v1::Profile>()>& fetch) {
  if (valid_ && name_ == name && version_ == version) return &profile_;
  valid_ = false;
  absl::StatusOr<v1::Profile> profile = fetch();
  if (!profile.ok()) return profile.status();
  profile_ = *std::move(profile);
  index_.clear();
  for (int k = 0; k < profile_.kernels_size(); ++k) {
    index_[solver::SignatureKey(profile_.kernels(k).signature())] = k;
  }
  name_ = name;
  version_ = version;
  valid_ = true;
  return &profile_;
}

void StoredReference::Update(const v1::UploadMeasurementsRequest& request,
                             uint64_t before, uint64_t after) {
  if (!valid_ || name_ != request.host_class().name() || version_ != before) {
    valid_ = false;
    return;
  }
  const v1::CopyBandwidths& b = request.bandwidths();
  if (b.slow_to_fast_sync_gb_per_s() != 0 ||
      b.fast_to_slow_sync_gb_per_s() != 0 ||
      b.slow_to_fast_async_gb_per_s() != 0 ||
      b.fast_to_slow_async_gb_per_s() != 0) {
    *profile_.mutable_bandwidths() = b;
  }
  for (const v1::MeasurementEntry& entry : request.entries()) {
    const std::string key = solver::SignatureKey(entry.signature());
    auto [it, inserted] = index_.try_emplace(key, profile_.kernels_size());
    if (inserted) {
      *profile_.add_kernels()->mutable_signature() = entry.signature();
    }
    v1::KernelProfile& kernel = *profile_.mutable_kernels(it->second);
    if (entry.has_separable()) {
      *kernel.mutable_separable() = entry.separable();
      continue;
    }
    absl::StatusOr<ConfigMask> mask =
        solver::ParseConfig(entry.config(), entry.signature().inputs_size(),
                            entry.signature().outputs_size());
    if (!mask.ok()) continue;
    const std::string config =
        solver::FormatConfig(*mask, entry.signature().inputs_size(),
                             entry.signature().outputs_size());
    bool known = false;
    for (const v1::ConfigTiming& timing : kernel.configs()) {
      known = known || timing.config() == config;
    }
    if (!known) {
      v1::ConfigTiming* timing = kernel.add_configs();
      timing->set_config(config);
      timing->set_time_us(entry.time_us());
    }
  }
  version_ = after;
}

}  // namespace autotm::server
