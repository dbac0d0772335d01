// Each kernel's time rho_k as a linear function of the D(t,k): a separable
// cost's penalties, or configuration columns y[k,c] linked to the operands'
// tiers; and for a kernel that asynchronous copies overlap, the column
// z[k] >= max(rho_k, their sum) with its lifted rows.

#include <algorithm>
#include <utility>
#include <vector>

#include "solver/formulation_internal.h"

namespace autotm::solver {

void FormulationBuilder::AddKernelCost(int k) {
  std::vector<IlpModel::Term> rho;
  double rho_constant = 0;
  KernelTime(k, rho, rho_constant);
  IlpModel& m = out_.model_;
  const auto copies = async_copies_.find(k);
  if (copies == async_copies_.end()) {
    m.objective_offset += rho_constant;
    for (const auto& [column, coefficient] : rho) {
      m.objective[column] += coefficient;
    }
    return;
  }
  // z[k] = max(rho_k, C) with C the sum of the chosen copies' times.
  // The plain rows z >= rho and z >= C are weak in the LP: a copy chosen
  // to the extent x costs only max(rho, c x), whereas any integral choice
  // of a copy longer than the kernel costs its excess in full. Two
  // lifted rows carry that excess (both valid for binary x; see
  // docs/FORMULATION.md, "Overlapped copies"):
  //   z >= rho   + sum_i (c_i - rho_max)^+ x_i    (replaces z >= rho)
  //   z >= rho_min + sum_i (c_i - rho_min)^+ x_i  (when rho varies)
  // and z >= C stays for several copies that only together outlast k.
  // With one copy the lifted rows imply z >= C.
  const bool lift = options_.lift_overlap_rows;
  auto [rho_min, rho_max] = TimeRangeUs(k, rho, rho_constant);
  rho_min = std::max(0.0, rho_min);
  if (!lift) rho_max = rho_min = kInfinity;
  const int z = m.AddColumn(0, kInfinity, 1, /*integer=*/false);
  std::vector<IlpModel::Term> terms = {{z, 1}};
  for (const auto& [column, coefficient] : rho) {
    terms.emplace_back(column, -coefficient);
  }
  for (const auto& [column, time_us] : copies->second) {
    if (time_us > rho_max) terms.emplace_back(column, rho_max - time_us);
  }
  m.AddRow(rho_constant, kInfinity, terms);
  if (lift && !rho.empty() && rho_min < rho_max) {
    terms = {{z, 1}};
    for (const auto& [column, time_us] : copies->second) {
      if (time_us > rho_min) terms.emplace_back(column, rho_min - time_us);
    }
    if (terms.size() > 1) m.AddRow(rho_min, kInfinity, terms);
  }
  if (lift && copies->second.size() == 1) return;
  terms = {{z, 1}};
  for (const auto& [column, time_us] : copies->second) {
    terms.emplace_back(column, -time_us);
  }
  m.AddRow(0, kInfinity, terms);
}

std::pair<double, double> FormulationBuilder::TimeRangeUs(
    int k, const std::vector<IlpModel::Term>& rho, double constant) const {
  if (rho.empty()) return {constant, constant};
  double low = 0, high = 0;
  if (costs_[k]->separable()) {
    // Terms are -penalty * D(t, k), each D in {0, 1}.
    for (const auto& [column, coefficient] : rho) {
      low += std::min(0.0, coefficient);
      high += std::max(0.0, coefficient);
    }
  } else {
    // One y column per usable configuration, exactly one of them 1.
    low = kInfinity;
    high = -kInfinity;
    for (const auto& [column, coefficient] : rho) {
      low = std::min(low, coefficient);
      high = std::max(high, coefficient);
    }
  }
  return {constant + low, constant + high};
}

void FormulationBuilder::KernelTime(int k, std::vector<IlpModel::Term>& rho,
                                    double& constant) {
  const KernelInfo& kernel = graph_.kernel(k);
  const KernelCost& cost = *costs_[k];
  IlpModel& m = out_.model_;
  std::vector<IlpModel::Term> terms;
  double unused = 0;
  if (cost.separable()) {
    // time = base + sum_p penalty_p * (1 - D(t_p, k)); an OnlyFast
    // operand (of a collapsed table) is fast: D(t_p, k) = 1, once per
    // tensor (a fixed tensor is fast here already, see AnalyseKernels).
    constant += cost.all_fast_time_us();
    std::vector<int> pinned_fast;
    for (size_t p = 0; p < kernel.operands.size(); ++p) {
      const int t = kernel.operands[p];
      if (cost.OnlyFast(static_cast<int>(p))) {
        if (out_.fixed_tier_[t] == v1::TIER_UNSPECIFIED &&
            std::find(pinned_fast.begin(), pinned_fast.end(), t) ==
                pinned_fast.end()) {
          pinned_fast.push_back(t);
          out_.only_fast_positions_[k].push_back(static_cast<int>(p));
          terms.clear();
          AppendFast(t, k, 1, terms, &unused);
          m.AddRow(1, 1, terms);
        }
        continue;
      }
      const double penalty = cost.slow_penalty_us()[p];
      constant += penalty;
      AppendFast(t, k, -penalty, rho, &constant);
    }
    return;
  }
  const std::vector<Option>& options = options_per_kernel_[k];
  // Free distinct operand tensors and a representative position of each.
  std::vector<std::pair<int, int>> free_operands;  // (tensor, position)
  for (size_t p = 0; p < kernel.operands.size(); ++p) {
    const int t = kernel.operands[p];
    if (out_.fixed_tier_[t] != v1::TIER_UNSPECIFIED) continue;
    bool seen = false;
    for (const auto& [other, q] : free_operands) seen |= other == t;
    if (!seen) free_operands.emplace_back(t, static_cast<int>(p));
  }
  if (options.size() == 1) {
    // The time is fixed, and so is each free operand's tier at k.
    constant += options[0].time_us;
    for (const auto& [t, p] : free_operands) {
      const bool fast = !(options[0].mask >> p & 1);
      terms.clear();
      AppendFast(t, k, 1, terms, &unused);
      m.AddRow(fast ? 1 : 0, fast ? 1 : 0, terms);
    }
    return;
  }
  // y[k,c] with sum_c y = 1 and sum_{c: j fast} y = D(j,k).
  std::vector<int> y(options.size());
  for (size_t c = 0; c < options.size(); ++c) {
    y[c] = m.AddBinary(0);
    rho.emplace_back(y[c], options[c].time_us);
    terms.emplace_back(y[c], 1);
    out_.config_columns_[k].emplace_back(options[c].mask, y[c]);
  }
  m.AddRow(1, 1, terms);
  for (const auto& [t, p] : free_operands) {
    terms.clear();
    for (size_t c = 0; c < options.size(); ++c) {
      if (!(options[c].mask >> p & 1)) terms.emplace_back(y[c], 1);
    }
    AppendFast(t, k, -1, terms, &unused);
    m.AddRow(0, 0, terms);
  }
}

}  // namespace autotm::solver
