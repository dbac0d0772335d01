// FormulationBuilder's first steps: which tensors carry no variables (fixed
// tiers, too big for any limit), which configurations of each kernel are
// usable, and whether some kernel provably needs more fast memory than its
// limit (then the Formulation is infeasible() and gets no model).

#include <algorithm>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "solver/checked_math.h"
#include "solver/formulation_internal.h"

namespace autotm::solver {

void FormulationBuilder::ClassifyTensors() {
  const uint64_t max_limit = *std::max_element(
      options_.kernel_limit_bytes.begin(), options_.kernel_limit_bytes.end());
  out_.fixed_tier_.assign(graph_.num_tensors(), v1::TIER_UNSPECIFIED);
  out_.flows_.assign(graph_.num_tensors(), {});
  for (int t = 0; t < graph_.num_tensors(); ++t) {
    const TensorInfo& tensor = graph_.tensor(t);
    if (tensor.fixed_tier != v1::TIER_UNSPECIFIED) {
      out_.fixed_tier_[t] = tensor.fixed_tier;
    } else if (Footprint(t) > max_limit) {
      // It can never be fast anywhere: no variables.
      out_.fixed_tier_[t] = v1::TIER_SLOW;
      too_big_.push_back(t);
    }
  }
}

absl::Status FormulationBuilder::AnalyseKernels() {
  options_per_kernel_.assign(graph_.num_kernels(), {});
  for (int k = 0; k < graph_.num_kernels(); ++k) {
    const KernelInfo& kernel = graph_.kernel(k);
    const KernelCost* cost = profile_.Find(kernel.signature_key);
    if (cost == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat("kernel #", k, " '", kernel.id,
                       "' has no profile entry for ", kernel.signature_key));
    }
    costs_.push_back(cost);
    max_time_us_.push_back(MaxTimeUs(*cost));
    bool had_graph_consistent = false;
    bool usable = false;
    if (cost->separable()) {
      // Every configuration is listed but those with an OnlyFast operand
      // slow (a collapsed table), so it is consistent unless such an
      // operand is pinned slow, and usable unless it is too big.
      had_graph_consistent = usable = true;
      for (size_t p = 0; p < kernel.operands.size(); ++p) {
        if (!cost->OnlyFast(static_cast<int>(p))) continue;
        const int t = kernel.operands[p];
        if (graph_.tensor(t).fixed_tier == v1::TIER_SLOW) {
          had_graph_consistent = false;
        }
        if (out_.fixed_tier_[t] == v1::TIER_SLOW) usable = false;
      }
    } else {
      for (const auto& [mask, time] : cost->table()) {
        if (!ConsistentWithGraph(kernel, mask, /*respect_size=*/false))
          continue;
        had_graph_consistent = true;
        if (!ConsistentWithGraph(kernel, mask, /*respect_size=*/true)) continue;
        options_per_kernel_[k].push_back({mask, time});
      }
      usable = !options_per_kernel_[k].empty();
    }
    if (!had_graph_consistent) {
      return absl::FailedPreconditionError(absl::StrCat(
          "kernel #", k, " '", kernel.id, "': profile ",
          profile_.host_class().name(),
          " has no configuration consistent with the graph's fixed tiers ",
          "and repeated operands for ", kernel.signature_key));
    }
    if (!usable) {
      std::vector<std::string> names;
      for (int t : too_big_) {
        if (std::find(kernel.distinct_operands.begin(),
                      kernel.distinct_operands.end(),
                      t) != kernel.distinct_operands.end()) {
          names.push_back(absl::StrCat("'", graph_.tensor(t).id, "' (",
                                       graph_.tensor(t).size_bytes, " bytes)"));
        }
      }
      out_.infeasible_ = absl::StrCat(
          "kernel #", k, " '", kernel.id,
          "' has no profiled configuration with its operand(s) ",
          absl::StrJoin(names, ", "),
          " in the slow tier, and they are larger than the fast-memory "
          "budget");
    }
  }
  return absl::OkStatus();
}

bool FormulationBuilder::ConsistentWithGraph(const KernelInfo& kernel,
                                             ConfigMask mask,
                                             bool respect_size) const {
  for (size_t p = 0; p < kernel.operands.size(); ++p) {
    const bool slow = mask >> p & 1;
    const int t = kernel.operands[p];
    for (size_t q = 0; q < p; ++q) {
      if (kernel.operands[q] == t && ((mask >> q & 1) != slow)) return false;
    }
    v1::Tier fixed = graph_.tensor(t).fixed_tier;
    if (respect_size) fixed = out_.fixed_tier_[t];
    if (fixed == v1::TIER_FAST && slow) return false;
    if (fixed == v1::TIER_SLOW && !slow) return false;
  }
  return true;
}

bool FormulationBuilder::CheckMustBeFast() {
  if (out_.infeasible_.has_value()) return true;
  const int num_kernels = graph_.num_kernels();
  // Tensors that every usable configuration of kernel k puts in fast
  // memory (static: then fast for their whole life).
  std::vector<std::vector<int>> forced(num_kernels);
  std::vector<char> forced_for_life(graph_.num_tensors(), 0);
  for (int k = 0; k < num_kernels; ++k) {
    const KernelInfo& kernel = graph_.kernel(k);
    const KernelCost& cost = *costs_[k];
    if (!cost.separable() && options_per_kernel_[k].empty()) continue;
    for (size_t p = 0; p < kernel.operands.size(); ++p) {
      const int t = kernel.operands[p];
      if (out_.fixed_tier_[t] != v1::TIER_UNSPECIFIED) continue;
      bool always_fast = true;
      if (cost.separable()) {
        always_fast = cost.OnlyFast(static_cast<int>(p));
      } else {
        for (const Option& option : options_per_kernel_[k]) {
          if (option.mask >> p & 1) always_fast = false;
        }
      }
      if (always_fast &&
          std::find(forced[k].begin(), forced[k].end(), t) == forced[k].end()) {
        forced[k].push_back(t);
        if (IsStatic()) forced_for_life[t] = 1;
      }
    }
  }
  for (int k = 0; k < num_kernels; ++k) {
    uint64_t bytes = 0;
    std::vector<int> culprits;
    for (int t : graph_.LiveAt(k)) {
      const bool fixed_fast = out_.fixed_tier_[t] == v1::TIER_FAST;
      const bool needed =
          fixed_fast || forced_for_life[t] ||
          std::find(forced[k].begin(), forced[k].end(), t) != forced[k].end();
      if (needed) {
        SaturatingAddTo(bytes, Footprint(t));
        culprits.push_back(t);
      }
    }
    if (bytes <= options_.kernel_limit_bytes[k]) continue;
    std::sort(culprits.begin(), culprits.end(), [&](int a, int b) {
      return graph_.tensor(a).size_bytes > graph_.tensor(b).size_bytes;
    });
    std::vector<std::string> names;
    for (size_t i = 0; i < culprits.size() && i < 5; ++i) {
      names.push_back(absl::StrCat("'", graph_.tensor(culprits[i]).id, "' (",
                                   graph_.tensor(culprits[i]).size_bytes,
                                   " bytes)"));
    }
    if (culprits.size() > 5) {
      names.push_back(absl::StrCat("and ", culprits.size() - 5, " more"));
    }
    out_.infeasible_ = absl::StrFormat(
        "kernel #%d '%s' needs %u bytes of fast memory for tensors that "
        "must be fast while it runs (%s), more than its limit of %u bytes",
        k, graph_.kernel(k).id, bytes, absl::StrJoin(names, ", "),
        options_.kernel_limit_bytes[k]);
    return true;
  }
  return false;
}

double FormulationBuilder::MaxTimeUs(const KernelCost& cost) {
  if (cost.separable()) {
    double time = cost.all_fast_time_us();
    for (double penalty : cost.slow_penalty_us()) {
      time += std::max(0.0, penalty);
    }
    return time;
  }
  double time = 0;
  for (const auto& [mask, time_us] : cost.table()) {
    time = std::max(time, time_us);
  }
  return time;
}

}  // namespace autotm::solver
