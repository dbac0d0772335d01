// Fits the Optane cost model (cost_model.h) per op family on AutoTM's
// measured kernels (optane_data.h), reports how well it predicts them, and
// writes the factors as the C++ include the model is built from.
//
// The fit is deterministic: the same data gives bit-identical factors.
//
//   * All-fast time: per family, launch_us and the compute / DRAM / cache
//     efficiencies minimise the squared log error of the roofline time
//     against the measured all-DRAM times, by coordinate descent over fixed
//     grids (efficiencies 10^(k/100) in [1e-4, 10], launch 0..100 us in
//     0.5 us steps) until no coordinate improves.
//   * Slow-tier penalties: per family, the six penalty factors (>= 0)
//     minimise the squared relative error sum over every measured
//     configuration with an operand in PMM of
//       (t_dram + sum of the slow operands' penalties - t) / t
//     where t_dram is the kernel's measured all-DRAM time: a linear least
//     squares problem with non-negativity, solved exactly by trying every
//     active set (2^6).
//
// Kernels without a measured all-DRAM time or with 0 us there, and 0 us
// timings, are left out (they have no relative error).
#ifndef AUTOTM_CLIENT_COSTMODEL_OPTANE_FIT_H_
#define AUTOTM_CLIENT_COSTMODEL_OPTANE_FIT_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/costmodel/cost_model.h"
#include "client/costmodel/op_family.h"
#include "client/costmodel/optane_data.h"

namespace autotm::costmodel {

// Relative errors |predicted - measured| / measured. Quantiles interpolate
// linearly between order statistics.
struct ErrorStats {
  int64_t count = 0;
  double median = 0;
  double p90 = 0;
};

// Geometric mean of time / all-DRAM time over one kind of configuration.
struct SlowdownStats {
  int64_t count = 0;
  double measured = 0;
  double predicted = 0;  // from the measured all-DRAM time and the penalties
};

struct FamilyFit {
  OpFamily family = OpFamily::kOther;
  FamilyFactors factors;
  // Kernels with a positive all-DRAM time, and their positive timings.
  int64_t kernels = 0;
  int64_t measurements = 0;
  // Roofline all-DRAM time vs the measured one, one per kernel.
  ErrorStats base_error;
  // Every configuration with an operand in PMM, predicted from the measured
  // all-DRAM time plus the penalties: the error of the slowdown model.
  ErrorStats slowdown_error;
  // Every timing, predicted from the roofline time plus the penalties: what
  // SynthesizeProfile() would say about the measured kernel.
  ErrorStats synthetic_error;
  // Inputs in DRAM and every output that is ever in PMM in PMM.
  SlowdownStats outputs_in_pmm;
  // Every input in PMM (kernels whose inputs may all be in PMM), outputs in
  // DRAM.
  SlowdownStats inputs_in_pmm;
};

struct FitResult {
  RooflineConstants roofline;
  // One per family, in OpFamily order; a family without data keeps the
  // factors of kOther (and zero counts).
  std::vector<FamilyFit> families;
  // Statistics over all families together (factors unused).
  FamilyFit overall;
  // The input: kernels and timings read, and those left out.
  int64_t total_kernels = 0;
  int64_t total_measurements = 0;
  int64_t kernels_without_base = 0;
  int64_t zero_time_measurements = 0;
};

// Fits every family. InvalidArgument when no kernel is usable.
absl::StatusOr<FitResult> FitOptaneModel(
    const std::vector<MeasuredKernel>& kernels,
    const RooflineConstants& roofline = {});

// The factors as a CostModel with Optane2019()'s host class and bandwidths.
CostModel ModelFromFit(const FitResult& fit);

// Human-readable tables: the constants, the model form, the factors, and
// per family the counts, errors and geomean slowdowns.
std::string FormatFitReport(const FitResult& fit);

// The contents of optane_2019_factors.inc: one row per family with every
// factor printed exactly (%.17g), headed by a comment naming `command` as
// the way to regenerate it.
std::string FormatFactorsInclude(const FitResult& fit,
                                 absl::string_view command);

}  // namespace autotm::costmodel

#endif  // AUTOTM_CLIENT_COSTMODEL_OPTANE_FIT_H_
