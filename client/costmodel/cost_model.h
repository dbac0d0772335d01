// The Optane cost model: synthesises a kernel-timing Profile for any graph
// (docs/COST_MODEL.md).
//
// A kernel's time with every operand in the fast tier (DRAM) comes from a
// roofline over its FLOPs and bytes (op_family.h) with per-family
// efficiencies; each operand placed in the slow tier (Optane PMM) adds a
// penalty that depends on its bytes and on the kernel's all-fast time. Both
// parts are fitted per op family on AutoTM's real Optane measurements by
// `autotm-fit-optane` (optane_fit.h), which writes the committed factors in
// optane_2019_factors.inc. The model is separable by construction, so a full
// configuration table and a SeparableCost of the same kernel agree exactly,
// and it is monotone: moving an operand to the slow tier never makes a
// kernel faster.
//
// CostModel is immutable after construction and safe to share between
// threads.
#ifndef AUTOTM_CLIENT_COSTMODEL_COST_MODEL_H_
#define AUTOTM_CLIENT_COSTMODEL_COST_MODEL_H_

#include <array>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "autotm/v1/graph.pb.h"
#include "autotm/v1/profile.pb.h"
#include "client/costmodel/op_family.h"

namespace autotm::costmodel {

// The hardware constants of the roofline: the machine AutoTM measured on,
// one socket of a 2nd-generation Xeon Scalable (Cascade Lake) with 24 cores
// and 24 threads (the AutoTM paper, ASPLOS 2020, and
// data/optane-2019/README.md).
struct RooflineConstants {
  // Nominal fp32 peak, GFLOP/s: 24 cores x 2 AVX-512 FMA units x 16 lanes x
  // 2 FLOPs x 2.0 GHz (assumed AVX-512 all-core clock; the exact SKU is not
  // recorded). Per-family efficiencies are fitted against it.
  double peak_gflop_per_s = 3072;
  // Measured DRAM bandwidth of the socket, GB/s (1e9 B/s): peak read and
  // 24-thread write (github.com/darchr/ml-tools ngraph/Benchmarks/plot.tex,
  // 2019-06-05; data/optane-2019/bandwidth_vs_threads_GBps.csv).
  double dram_read_gb_per_s = 110.7;
  double dram_write_gb_per_s = 78.6;
  // A kernel whose bytes (read + written) fit in the last-level cache runs
  // at a cache bandwidth instead: AutoTM's profiler re-ran each kernel with
  // warm caches. 24 cores x 1.375 MB of L3, in bytes.
  double llc_bytes = 33e6;
};

// The fitted parameters of one op family. Defaults describe an idealised
// machine (roofline at the stated constants, no slow-tier penalty).
struct FamilyFactors {
  // All-fast time, microseconds, of a kernel with F FLOPs that reads R and
  // writes W bytes:
  //   launch_us + max(F / (peak * compute_efficiency),
  //                   R / (read_bw * e) + W / (write_bw * e))
  // with e = cache_efficiency when R + W <= llc_bytes, dram_efficiency
  // otherwise.
  double launch_us = 0;
  double compute_efficiency = 1;
  double dram_efficiency = 1;
  double cache_efficiency = 1;
  // The penalty, microseconds, of one input of B bytes in the slow tier, for
  // a kernel with all-fast time t whose inputs total S bytes:
  //   input_time_share * t * B / S + input_us_per_mb * B / 1e6
  //   + input_fixed_us
  // and likewise for an output with the output_ factors. All >= 0.
  double input_time_share = 0;
  double output_time_share = 0;
  double input_us_per_mb = 0;
  double output_us_per_mb = 0;
  double input_fixed_us = 0;
  double output_fixed_us = 0;
};

// The all-fast roofline time of `work` under `factors`, microseconds.
double RooflineTimeUs(const RooflineConstants& roofline,
                      const FamilyFactors& factors, const KernelWork& work);

// A kernel's cost in separable form: time = all_fast_us + the penalties of
// the operands in the slow tier.
struct SeparableTime {
  double all_fast_us = 0;
  std::vector<double> input_penalty_us;
  std::vector<double> output_penalty_us;
};

// The slow-tier penalties of every operand of `work` for a kernel whose
// all-fast time is `all_fast_us` (the roofline's, or a measured one).
SeparableTime SlowPenalties(const FamilyFactors& factors,
                            const KernelWork& work, double all_fast_us);

class CostModel {
 public:
  CostModel(const RooflineConstants& roofline,
            const std::array<FamilyFactors, kNumOpFamilies>& factors,
            const v1::HostClass& host_class,
            const v1::CopyBandwidths& bandwidths);

  // The model fitted on AutoTM's Optane DC measurements (2019): the
  // committed optane_2019_factors.inc, the roofline constants above, host
  // class "optane-2019" and AutoTM's copy bandwidths (sync PMM->DRAM 29 GB/s,
  // DRAM->PMM 12 GB/s, async 2 and 2.5 GB/s).
  static CostModel Optane2019();

  const RooflineConstants& roofline() const { return roofline_; }
  const FamilyFactors& factors(OpFamily family) const {
    return factors_[static_cast<int>(family)];
  }
  const v1::HostClass& host_class() const { return host_class_; }
  const v1::CopyBandwidths& bandwidths() const { return bandwidths_; }

  // The cost of a kernel with this signature.
  SeparableTime KernelCost(const v1::KernelSignature& signature) const;

  // Time, microseconds, with operand p (inputs, then outputs) in the slow
  // tier iff slow[p]. InvalidArgument when `slow` does not have one entry
  // per operand.
  absl::StatusOr<double> TimeUs(const v1::KernelSignature& signature,
                                const std::vector<bool>& slow) const;

 private:
  RooflineConstants roofline_;
  std::array<FamilyFactors, kNumOpFamilies> factors_;
  v1::HostClass host_class_;
  v1::CopyBandwidths bandwidths_;
};

// The cost models `autotm profile synth --cost-model NAME` offers, by name:
// "optane-2019" (CostModel::Optane2019()).
std::vector<std::string> CostModelNames();
// The model called `name`. NotFound (listing the known names) otherwise.
absl::StatusOr<CostModel> CostModelByName(absl::string_view name);

struct SynthesisOptions {
  // Kernels with at most this many operands get a full configuration table
  // (2^n entries); the others a SeparableCost. Default 10 (1,024 entries);
  // must lie in [0, solver::kMaxTableOperands].
  int max_table_operands = 10;
};

// A profile for every kernel signature of `graph` from `model`: one entry
// per distinct signature (solver::SignatureKey), in order of first use, with
// the model's host class and copy bandwidths. The result passes
// solver::ProfileModel::Create and covers the graph (solver::CheckCoverage).
// InvalidArgument for a graph that solver::GraphModel::Create rejects (its
// message), a signature operand with a negative dimension (naming the
// kernel), or options out of range.
absl::StatusOr<v1::Profile> SynthesizeProfile(
    const v1::Graph& graph, const CostModel& model,
    const SynthesisOptions& options = {});

}  // namespace autotm::costmodel

#endif  // AUTOTM_CLIENT_COSTMODEL_COST_MODEL_H_
