// A validated, indexed view of a kernel timing profile (autotm.v1.Profile).
#ifndef AUTOTM_SOLVER_PROFILE_MODEL_H_
#define AUTOTM_SOLVER_PROFILE_MODEL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "autotm/v1/profile.pb.h"
#include "solver/graph_model.h"

namespace autotm::solver {

// An IO-tier configuration of a kernel as a bit mask over operand positions
// (inputs, then outputs): bit p set = operand p in the slow tier.
using ConfigMask = uint64_t;

// Full configuration tables are limited to this many operands (2^n entries);
// kernels with more operands need a separable cost.
inline constexpr int kMaxTableOperands = 24;

// Parses "FS|F" (inputs '|' outputs; F fast, S slow) for a kernel with the
// given operand counts. InvalidArgument names the problem.
absl::StatusOr<ConfigMask> ParseConfig(absl::string_view config, int num_inputs,
                                       int num_outputs);
// Inverse of ParseConfig (for at most 63 operands).
std::string FormatConfig(ConfigMask mask, int num_inputs, int num_outputs);
// The same for any number of operands: slow[p] for operand p.
std::string FormatConfig(const std::vector<bool>& slow, int num_inputs);

// The cost of one kernel signature.
class KernelCost {
 public:
  int num_inputs() const { return num_inputs_; }
  int num_outputs() const { return num_outputs_; }
  bool separable() const { return separable_; }

  // Time of the kernel with operand p in the slow tier iff slow[p] (one
  // entry per operand, inputs then outputs), or nullopt when the table lacks
  // that configuration (it must then never be chosen) or `slow` has the
  // wrong length. Works for any number of operands.
  std::optional<double> TimeUs(const std::vector<bool>& slow) const;
  // The same for a mask; only for kernels with at most 63 operands (every
  // table kernel), nullopt otherwise.
  std::optional<double> TimeUs(ConfigMask mask) const;

  // Table entries (mask, time), sorted by mask. Empty for separable costs.
  const std::vector<std::pair<ConfigMask, double>>& table() const {
    return table_;
  }
  // Separable model: all-fast time and per-operand slow penalty (inputs then
  // outputs). Meaningful only when separable().
  double all_fast_time_us() const { return all_fast_time_us_; }
  const std::vector<double>& slow_penalty_us() const {
    return slow_penalty_us_;
  }

 private:
  friend class ProfileModel;
  int num_inputs_ = 0;
  int num_outputs_ = 0;
  bool separable_ = false;
  std::vector<std::pair<ConfigMask, double>> table_;
  double all_fast_time_us_ = 0;
  std::vector<double> slow_penalty_us_;
};

class ProfileModel {
 public:
  // Validates `profile`: every bandwidth positive and finite, every kernel
  // with a signature, no signature twice, exactly one of a configuration
  // table or a separable cost, every configuration well formed and listed
  // once, every time finite and >= 0. InvalidArgument names the kernel
  // signature and the problem.
  static absl::StatusOr<ProfileModel> Create(const v1::Profile& profile);

  const v1::HostClass& host_class() const { return host_class_; }
  const v1::CopyBandwidths& bandwidths() const { return bandwidths_; }
  int num_kernels() const { return static_cast<int>(costs_.size()); }

  // The cost for a signature key (SignatureKey()), or nullptr.
  const KernelCost* Find(absl::string_view signature_key) const;

  // Copy times in microseconds for `bytes`.
  double SyncToFastUs(uint64_t bytes) const;
  double SyncToSlowUs(uint64_t bytes) const;
  double AsyncToFastUs(uint64_t bytes) const;
  double AsyncToSlowUs(uint64_t bytes) const;

 private:
  ProfileModel() = default;

  v1::HostClass host_class_;
  v1::CopyBandwidths bandwidths_;
  absl::flat_hash_map<std::string, KernelCost> costs_;
};

// FailedPrecondition listing (sorted, de-duplicated) every signature of
// `graph` that `profile` lacks, so a profiler knows what to measure. OK when
// fully covered. (Operand counts need no check: they are part of the key.)
absl::Status CheckCoverage(const GraphModel& graph,
                           const ProfileModel& profile);

}  // namespace autotm::solver

#endif  // AUTOTM_SOLVER_PROFILE_MODEL_H_
