#include "client/costmodel/cost_model.h"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <string>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "solver/graph_model.h"
#include "solver/profile_model.h"
#include "solver/signature.h"

namespace autotm::costmodel {
namespace {

struct FactorsRow {
  OpFamily family;
  FamilyFactors factors;
};

// Written by autotm-fit-optane; see the comment at the top of the file.
constexpr FactorsRow kOptane2019Rows[] = {
#include "client/costmodel/optane_2019_factors.inc"
};

constexpr bool RowsCoverEveryFamilyInOrder() {
  if (std::size(kOptane2019Rows) != kNumOpFamilies) return false;
  for (int i = 0; i < kNumOpFamilies; ++i) {
    if (static_cast<int>(kOptane2019Rows[i].family) != i) return false;
  }
  return true;
}
static_assert(RowsCoverEveryFamilyInOrder(),
              "optane_2019_factors.inc must list every OpFamily in order");

double Share(double bytes, double total) {
  return total > 0 ? bytes / total : 0;
}

absl::Status CheckDims(const v1::Kernel& kernel) {
  for (const auto* side :
       {&kernel.signature().inputs(), &kernel.signature().outputs()}) {
    for (const v1::OperandSpec& operand : *side) {
      for (int64_t dim : operand.dims()) {
        if (dim < 0) {
          return absl::InvalidArgumentError(
              absl::StrCat("kernel ", kernel.id(), ": signature operand has ",
                           "negative dimension ", dim));
        }
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

double RooflineTimeUs(const RooflineConstants& roofline,
                      const FamilyFactors& factors, const KernelWork& work) {
  // GFLOP/s and GB/s times 1e3 are FLOPs and bytes per microsecond.
  const double compute_us = work.flops / (roofline.peak_gflop_per_s * 1e3 *
                                          factors.compute_efficiency);
  const double read = work.read_bytes();
  const double write = work.write_bytes();
  const double efficiency = read + write <= roofline.llc_bytes
                                ? factors.cache_efficiency
                                : factors.dram_efficiency;
  const double memory_us = (read / roofline.dram_read_gb_per_s +
                            write / roofline.dram_write_gb_per_s) /
                           (1e3 * efficiency);
  return factors.launch_us + std::max(compute_us, memory_us);
}

SeparableTime SlowPenalties(const FamilyFactors& factors,
                            const KernelWork& work, double all_fast_us) {
  SeparableTime cost;
  cost.all_fast_us = all_fast_us;
  const double read = work.read_bytes();
  const double write = work.write_bytes();
  for (double bytes : work.input_bytes) {
    cost.input_penalty_us.push_back(
        factors.input_time_share * all_fast_us * Share(bytes, read) +
        factors.input_us_per_mb * bytes / 1e6 + factors.input_fixed_us);
  }
  for (double bytes : work.output_bytes) {
    cost.output_penalty_us.push_back(
        factors.output_time_share * all_fast_us * Share(bytes, write) +
        factors.output_us_per_mb * bytes / 1e6 + factors.output_fixed_us);
  }
  return cost;
}

CostModel::CostModel(const RooflineConstants& roofline,
                     const std::array<FamilyFactors, kNumOpFamilies>& factors,
                     const v1::HostClass& host_class,
                     const v1::CopyBandwidths& bandwidths)
    : roofline_(roofline),
      factors_(factors),
      host_class_(host_class),
      bandwidths_(bandwidths) {}

CostModel CostModel::Optane2019() {
  std::array<FamilyFactors, kNumOpFamilies> factors;
  for (const FactorsRow& row : kOptane2019Rows) {
    factors[static_cast<int>(row.family)] = row.factors;
  }
  v1::HostClass host;
  host.set_name("optane-2019");
  host.set_fingerprint(
      "synthetic cost model fitted on AutoTM's Optane DC measurements (2019): "
      "roofline all-DRAM time (24-core Cascade Lake socket) plus per-family "
      "PMM penalties; autotm client/costmodel v1");
  host.set_fast_tier_name("DRAM (modelled)");
  host.set_slow_tier_name("Optane DC PMM, App Direct (modelled)");
  // AutoTM's constants (AutoTM/src/optimizer/abstractoptimizer.jl,
  // BANDWIDTHS), which match the copy bandwidths the same team measured on
  // the same machine (darchr/ml-tools ngraph/Benchmarks/plot.tex): a sync
  // non-temporal copy PMM->DRAM at 24 threads 27.4 GB/s, DRAM->PMM at 4
  // threads 11.9 GB/s; the async ones run on one helper thread (measured
  // 2.4 and 3.7 GB/s). See docs/COST_MODEL.md.
  v1::CopyBandwidths bandwidths;
  bandwidths.set_slow_to_fast_sync_gb_per_s(29);
  bandwidths.set_fast_to_slow_sync_gb_per_s(12);
  bandwidths.set_slow_to_fast_async_gb_per_s(2);
  bandwidths.set_fast_to_slow_async_gb_per_s(2.5);
  return CostModel(RooflineConstants{}, factors, host, bandwidths);
}

std::vector<std::string> CostModelNames() { return {"optane-2019"}; }

absl::StatusOr<CostModel> CostModelByName(absl::string_view name) {
  if (name == "optane-2019") return CostModel::Optane2019();
  return absl::NotFoundError(
      absl::StrCat("unknown cost model \"", name,
                   "\"; known: ", absl::StrJoin(CostModelNames(), ", ")));
}

SeparableTime CostModel::KernelCost(
    const v1::KernelSignature& signature) const {
  const KernelWork work = AnalyzeKernel(signature);
  const FamilyFactors& f = factors(work.family);
  return SlowPenalties(f, work, RooflineTimeUs(roofline_, f, work));
}

absl::StatusOr<double> CostModel::TimeUs(const v1::KernelSignature& signature,
                                         const std::vector<bool>& slow) const {
  const size_t operands = signature.inputs_size() + signature.outputs_size();
  if (slow.size() != operands) {
    return absl::InvalidArgumentError(
        absl::StrCat("kernel ", signature.op(), " has ", operands,
                     " operands; the configuration has ", slow.size()));
  }
  const SeparableTime cost = KernelCost(signature);
  double time = cost.all_fast_us;
  for (size_t p = 0; p < slow.size(); ++p) {
    if (!slow[p]) continue;
    time += p < cost.input_penalty_us.size()
                ? cost.input_penalty_us[p]
                : cost.output_penalty_us[p - cost.input_penalty_us.size()];
  }
  return time;
}

absl::StatusOr<v1::Profile> SynthesizeProfile(const v1::Graph& graph,
                                              const CostModel& model,
                                              const SynthesisOptions& options) {
  if (options.max_table_operands < 0 ||
      options.max_table_operands > solver::kMaxTableOperands) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_table_operands must lie in [0, ", solver::kMaxTableOperands,
        "]; got ", options.max_table_operands));
  }
  absl::StatusOr<solver::GraphModel> validated =
      solver::GraphModel::Create(graph);
  if (!validated.ok()) return validated.status();

  v1::Profile profile;
  *profile.mutable_host_class() = model.host_class();
  *profile.mutable_bandwidths() = model.bandwidths();
  absl::flat_hash_set<std::string> seen;
  for (int k = 0; k < graph.kernels_size(); ++k) {
    const v1::Kernel& kernel = graph.kernels(k);
    if (!seen.insert(validated->kernel(k).signature_key).second) continue;
    if (absl::Status status = CheckDims(kernel); !status.ok()) return status;

    const v1::KernelSignature& signature = kernel.signature();
    const SeparableTime cost = model.KernelCost(signature);
    v1::KernelProfile* entry = profile.add_kernels();
    *entry->mutable_signature() = signature;
    const int num_inputs = signature.inputs_size();
    const int num_outputs = signature.outputs_size();
    const int operands = num_inputs + num_outputs;
    if (operands > options.max_table_operands) {
      v1::SeparableCost* separable = entry->mutable_separable();
      separable->set_all_fast_time_us(cost.all_fast_us);
      for (double penalty : cost.input_penalty_us) {
        separable->add_input_slow_penalty_us(penalty);
      }
      for (double penalty : cost.output_penalty_us) {
        separable->add_output_slow_penalty_us(penalty);
      }
      continue;
    }
    // The table entries add the penalties in operand order, as
    // solver::KernelCost does for a separable cost, so both forms give
    // bit-identical times.
    std::vector<double> penalty = cost.input_penalty_us;
    penalty.insert(penalty.end(), cost.output_penalty_us.begin(),
                   cost.output_penalty_us.end());
    for (solver::ConfigMask mask = 0;
         mask < (solver::ConfigMask{1} << operands); ++mask) {
      double time = cost.all_fast_us;
      for (int p = 0; p < operands; ++p) {
        if (mask >> p & 1) time += penalty[p];
      }
      v1::ConfigTiming* timing = entry->add_configs();
      timing->set_config(solver::FormatConfig(mask, num_inputs, num_outputs));
      timing->set_time_us(time);
    }
  }
  return profile;
}

}  // namespace autotm::costmodel
