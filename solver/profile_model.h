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

// How ProfileModel::Create treats configuration tables that a separable cost
// describes (docs/FORMULATION.md, "Separable tables"). A table costs the ILP
// one binary per usable configuration (1,024 for a 10-operand batch-norm
// backward); a separable cost costs none and has the same LP relaxation, so
// a table that is separable is priced by its separable fit instead.
//
// A table collapses when (1) the configurations it lists are exactly every
// combination of its "free" operands (those slow in some listed
// configuration) with every other operand fast, so no configuration it omits
// becomes choosable: the others stay fast-only (KernelCost::OnlyFast); and
// (2) the least-squares separable fit over the listed configurations, with
// penalties clamped at 0, is within
//   max(relative_tolerance * the all-fast time, absolute_tolerance_us)
// of every listed time (plus 1e-9 of the largest time, for rounding).
// Tables with a single configuration need no variables and stay as given.
struct TableCollapseOptions {
  // False: every table is priced as given.
  bool enabled = true;
  // Default 1% and 0.5 us: below the repeat-to-repeat noise of a measured
  // kernel time, so the fit is as faithful as the table itself, and small
  // enough that the predicted time of any plan moves by at most 1% of the
  // all-fast iteration (plus 0.5 us per kernel). Both 0: exactly separable
  // tables only (e.g. `autotm profile synth`'s, written from a separable
  // model).
  double relative_tolerance = 0.01;
  double absolute_tolerance_us = 0.5;

  // Every table as given.
  static TableCollapseOptions Disabled() {
    return {
        .enabled = false, .relative_tolerance = 0, .absolute_tolerance_us = 0};
  }
  // Exactly separable tables only (up to rounding).
  static TableCollapseOptions ExactOnly() {
    return {
        .enabled = true, .relative_tolerance = 0, .absolute_tolerance_us = 0};
  }
};

// Physical bounds on the numbers of a profile. Every entry point that takes
// profile numbers (ProfileModel::Create, which the CLI, the server's import
// and planning paths and the solve worker all use, and the server's
// measurement upload) refuses values outside them as input errors, so that
// the ILP never gets a coefficient CBC cannot take (Clp asserts
// |objective| < 1e25 and aborts the process). The bounds are far outside any
// real machine, so they only catch typos and hostile input:
// - a kernel time (a configuration time, a separable all-fast time or slow
//   penalty) is at most 1e10 us (2.8 hours for one kernel of one training
//   iteration);
// - a copy bandwidth is between 1e-3 GB/s (1 MB/s, slower than a floppy
//   disk) and 1e6 GB/s (1 PB/s, far beyond any memory bus).
// With tensors of at most 2^50 bytes (GraphLimits) the largest copy time is
// then 2^50 / 1e-3 GB/s = 1.1e15 us, and every ILP coefficient stays below
// kMaxIlpCoefficient (see Formulation::Build's last-line check).
inline constexpr double kMaxKernelTimeUs = 1e10;
inline constexpr double kMinBandwidthGbPerS = 1e-3;
inline constexpr double kMaxBandwidthGbPerS = 1e6;

// OK when `time_us` is a finite kernel time in [0, kMaxKernelTimeUs];
// otherwise InvalidArgument whose message says what is wrong with the value,
// e.g. "is 1e+308 us; kernel times must be finite, >= 0 and at most 1e+10
// us", for callers to prefix with where the value came from.
absl::Status CheckKernelTimeUs(double time_us);

// OK when all four bandwidths are finite and in [kMinBandwidthGbPerS,
// kMaxBandwidthGbPerS]; otherwise InvalidArgument naming the first bad
// field, e.g. "bandwidths.slow_to_fast_sync_gb_per_s is 1e-300; ...".
absl::Status CheckBandwidths(const v1::CopyBandwidths& bandwidths);

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
  // True for a separable cost, whether the profile gave one or it is the
  // fit of a table that collapsed (collapsed()).
  bool separable() const { return separable_; }
  // A separable cost fitted to the profile's configuration table
  // (TableCollapseOptions); the table itself is not kept.
  bool collapsed() const { return collapsed_; }
  // collapsed(): the largest |fit - listed time| over the table's
  // configurations, microseconds; 0 otherwise.
  double collapse_residual_us() const { return collapse_residual_us_; }
  // Whether operand `position` can only be fast: a collapsed table listed no
  // configuration with it slow, so none may be chosen (TimeUs gives nullopt).
  // Always false for separable costs given as such, and for tables.
  bool OnlyFast(int position) const {
    return !only_fast_.empty() && only_fast_[position];
  }

  // Time of the kernel with operand p in the slow tier iff slow[p] (one
  // entry per operand, inputs then outputs), or nullopt when the profile
  // lacks that configuration (a table without it, or an OnlyFast operand
  // slow: it must then never be chosen) or `slow` has the wrong length.
  // Works for any number of operands.
  std::optional<double> TimeUs(const std::vector<bool>& slow) const;
  // The same for a mask; only for kernels with at most 63 operands (every
  // table kernel), nullopt otherwise.
  std::optional<double> TimeUs(ConfigMask mask) const;

  // Table entries (mask, time), sorted by mask. Empty for separable costs.
  const std::vector<std::pair<ConfigMask, double>>& table() const {
    return table_;
  }
  // Separable model: all-fast time and per-operand slow penalty (inputs then
  // outputs), every penalty >= 0 (0 for OnlyFast operands). Meaningful only
  // when separable().
  double all_fast_time_us() const { return all_fast_time_us_; }
  const std::vector<double>& slow_penalty_us() const {
    return slow_penalty_us_;
  }

 private:
  friend class ProfileModel;
  int num_inputs_ = 0;
  int num_outputs_ = 0;
  bool separable_ = false;
  bool collapsed_ = false;
  double collapse_residual_us_ = 0;
  std::vector<bool> only_fast_;  // empty: every operand may be slow
  std::vector<std::pair<ConfigMask, double>> table_;
  double all_fast_time_us_ = 0;
  std::vector<double> slow_penalty_us_;
};

class ProfileModel {
 public:
  // Validates `profile`: every bandwidth within the physical bounds
  // (CheckBandwidths), every kernel with a signature, no signature twice,
  // exactly one of a configuration table or a separable cost, every
  // configuration well formed and listed once, every time within the
  // physical bounds (CheckKernelTimeUs). InvalidArgument names the kernel
  // signature and the problem. Tables that a separable cost describes are
  // collapsed into one per `collapse` (see TableCollapseOptions); the
  // planner and the verifier must price a plan with models built with the
  // same options (a plan records them: v1::Plan.table_collapse).
  // InvalidArgument for a negative or non-finite tolerance.
  static absl::StatusOr<ProfileModel> Create(
      const v1::Profile& profile, const TableCollapseOptions& collapse = {});

  const TableCollapseOptions& table_collapse() const { return collapse_; }
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

  // Replaces `cost`'s table by its separable fit when TableCollapseOptions
  // allow.
  static void CollapseIfSeparable(const TableCollapseOptions& options,
                                  KernelCost& cost);

  TableCollapseOptions collapse_;
  v1::HostClass host_class_;
  v1::CopyBandwidths bandwidths_;
  absl::flat_hash_map<std::string, KernelCost> costs_;
};

// What collapsing the profile's tables did for one graph: over its kernels,
// how many are priced by a collapsed table's fit, how many keep a table
// (kernels with one configuration included), and the largest residual of the
// fits used. Kernels the profile lacks are skipped.
struct TableCollapseSummary {
  int collapsed_kernels = 0;
  int table_kernels = 0;
  double max_residual_us = 0;
};
TableCollapseSummary SummarizeTableCollapse(const GraphModel& graph,
                                            const ProfileModel& profile);

// FailedPrecondition listing (sorted, de-duplicated) every signature of
// `graph` that `profile` lacks, so a profiler knows what to measure. OK when
// fully covered. (Operand counts need no check: they are part of the key.)
absl::Status CheckCoverage(const GraphModel& graph,
                           const ProfileModel& profile);

}  // namespace autotm::solver

#endif  // AUTOTM_SOLVER_PROFILE_MODEL_H_
