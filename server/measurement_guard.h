// Plausibility checks on uploaded measurements (issue 17, "poisoning"): a
// profile is shared by everyone who plans for its host class, so one upload
// of absurd timings must not silently change everyone's plans. Each check
// compares a measurement with what the host class already knows (the served
// profile: the medians of the stored measurements) and with the other
// entries of the same upload (rule 1 only). The rules, with F = max_factor and
// s = slack_us (defaults 10 and 1 us):
//
//  1. Zero: a time of exactly 0 is refused when the same kernel takes more
//     than s in any configuration (stored, or elsewhere in the upload). A
//     kernel takes no time in every configuration (a view, a no-op) or in
//     none; "0 us in the slow tier" while a faster
//     configuration takes time is the attack of issue 17, which made a
//     victim's plan predict 0 ms.
//  2. Same configuration: a time t for a (signature, configuration) that
//     has a stored median m must satisfy m / F - s <= t <= F * m + s.
//  3. Against the all-fast configuration: a configuration with slow
//     operands cannot be more than F times faster than the kernel's
//     stored all-fast median a: t >= a / F - s. (An upload's own values are
//     not compared with each other, zeros aside: one agent run's first
//     sample of a kernel can carry one-time costs.) And an uploaded all-fast
//     time cannot be more than F times slower than a stored configuration with
//     slow operands: t <= F * c + s for every stored median c of the kernel.
//  4. Separable costs: their all-fast time and their all-slow time
//     (all-fast plus every penalty) obey rule 1 and, against a stored
//     separable cost of the same signature, rule 2.
//  5. Bandwidths: a new value for a stored host class must be within a
//     factor max_bandwidth_factor (default 100) of the stored one, either
//     way (bounds themselves are solver::CheckBandwidths'). Wider than F:
//     re-measured copy bandwidths legitimately vary more than kernel times
//     (the tests' file-backed emulated tier gave 14.0 and 1.02 GB/s for one
//     direction in two runs under load).
//
// Physical noise (timer resolution, run-to-run jitter, a slow tier that is
// faster for a kernel by a few percent) is far inside these limits; the
// bundled profiles and the Optane data set pass them. A profile that is
// really wrong is replaced by deleting the host class and importing it
// again, which the error message says.
#ifndef AUTOTM_SERVER_MEASUREMENT_GUARD_H_
#define AUTOTM_SERVER_MEASUREMENT_GUARD_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "autotm/v1/profile.pb.h"
#include "autotm/v1/profile_service.pb.h"

namespace autotm::server {

struct PlausibilityLimits {
  double max_factor = 10;
  double slack_us = 1;
  double max_bandwidth_factor = 100;
};

// Checks `request`'s entries (already validated one by one: well-formed
// signatures and configurations, times within solver::CheckKernelTimeUs)
// against each other and against `stored`, the host class's served profile
// (nullptr when the host class is new). InvalidArgument naming the first
// implausible entry (entries[i], its signature key and configuration), the
// value it contradicts and the rule; for bandwidths, the field.
absl::Status CheckPlausible(const v1::UploadMeasurementsRequest& request,
                            const v1::Profile* stored,
                            const PlausibilityLimits& limits = {});

// The `stored` profile CheckPlausible compares uploads with, kept between
// uploads to one host class: reading the whole served profile for every
// batch made a long upload quadratic (100,000 entries in batches of 1,000:
// 3.4k entries/s over the last tenth, against 27k without the check). The
// cache holds one host class. It is read afresh whenever the host class's
// version is not the one it was left at (another writer, a delete); after
// each accepted upload, Update() adds the upload's new configurations (their
// uploaded time), separable costs and bandwidths, while the configurations
// already known keep the median read last as their reference (a slow drift
// of the medians under plausible re-measurements does not matter to a
// check with a factor of 10). Not thread-safe: callers serialize (the
// profile service's write lock).
class StoredReference {
 public:
  // The profile of `name` as the reference for an upload when the stored
  // version is `version`: the cached one when it is current, else
  // `fetch()` (cached).
  absl::StatusOr<const v1::Profile*> Get(
      const std::string& name, uint64_t version,
      const std::function<absl::StatusOr<v1::Profile>()>& fetch);
  // `request` was stored; the host class went from `before` to `after`.
  // Merges it into the cache when the cache was current at `before`.
  void Update(const v1::UploadMeasurementsRequest& request, uint64_t before,
              uint64_t after);
  void Invalidate() { valid_ = false; }

 private:
  bool valid_ = false;
  std::string name_;
  uint64_t version_ = 0;
  v1::Profile profile_;
  // Signature key -> index in profile_.kernels().
  absl::flat_hash_map<std::string, int> index_;
};

}  // namespace autotm::server

#endif  // AUTOTM_SERVER_MEASUREMENT_GUARD_H_
