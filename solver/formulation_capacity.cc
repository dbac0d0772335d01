// Capacity: the fast-memory bytes of the tensors live at each kernel stay
// within its limit, one row per kernel where that can bind.

#include <algorithm>
#include <cstdint>
#include <vector>

#include "solver/formulation_internal.h"

namespace autotm::solver {
namespace {

// Capacity rows count bytes in MiB: exact in double for any size (sizes are
// < 2^50) and small enough coefficients to keep the LP well scaled.
constexpr double kBytesPerUnit = 1024.0 * 1024.0;

double Units(uint64_t bytes) {
  return static_cast<double>(bytes) / kBytesPerUnit;
}

}  // namespace

void FormulationBuilder::AddCapacityRows() {
  IlpModel& m = out_.model_;
  std::vector<IlpModel::Term> terms, previous_terms, row;
  double previous_rhs = -1;
  int previous_u = -1;
  for (int k = 0; k < graph_.num_kernels(); ++k) {
    terms.clear();
    double fixed_fast = 0;
    double free_units = 0;
    for (int t : graph_.LiveAt(k)) {
      const double size = Units(Footprint(t));
      AppendFast(t, k, size, terms, &fixed_fast);
      if (out_.fixed_tier_[t] == v1::TIER_UNSPECIFIED) free_units += size;
    }
    const double rhs = Units(options_.kernel_limit_bytes[k]) - fixed_fast;
    // Re-runs right before k that write scratch: each needs the row's sum
    // plus its scratch within the limit.
    const auto scratch = rerun_scratch_.find(k);
    double max_scratch = 0;
    if (scratch != rerun_scratch_.end()) {
      for (const auto& [column, bytes] : scratch->second) {
        max_scratch = std::max(max_scratch, Units(bytes));
      }
    }
    // Rows that cannot bind, or that repeat the previous kernel's, add
    // nothing but LP work.
    if (free_units + max_scratch <= rhs) continue;
    std::sort(terms.begin(), terms.end());
    if (rhs == previous_rhs && terms == previous_terms) {
      AddScratchRows(k, free_units, rhs, previous_u, previous_terms);
      continue;
    }
    if (!options_.telescope_capacity) {
      m.AddRow(-kInfinity, rhs, terms);
    } else {
      const int u = m.AddColumn(0, rhs, 0, /*integer=*/false);
      row.clear();
      row.emplace_back(u, 1);
      if (previous_u >= 0) row.emplace_back(previous_u, -1);
      // - (terms - previous_terms), merging the two sorted lists.
      size_t a = 0, b = 0;
      while (a < terms.size() || b < previous_terms.size()) {
        if (b == previous_terms.size() ||
            (a < terms.size() && terms[a].first < previous_terms[b].first)) {
          row.emplace_back(terms[a].first, -terms[a].second);
          ++a;
        } else if (a == terms.size() ||
                   previous_terms[b].first < terms[a].first) {
          row.emplace_back(previous_terms[b].first, previous_terms[b].second);
          ++b;
        } else {
          const double change = previous_terms[b].second - terms[a].second;
          if (change != 0) row.emplace_back(terms[a].first, change);
          ++a;
          ++b;
        }
      }
      m.AddRow(0, 0, row);
      previous_u = u;
    }
    previous_terms.swap(terms);
    previous_rhs = rhs;
    AddScratchRows(k, free_units, rhs, previous_u, previous_terms);
  }
}

void FormulationBuilder::AddScratchRows(
    int k, double free_units, double rhs, int sum_column,
    const std::vector<IlpModel::Term>& terms) {
  const auto scratch = rerun_scratch_.find(k);
  if (scratch == rerun_scratch_.end()) return;
  IlpModel& m = out_.model_;
  std::vector<IlpModel::Term> row;
  for (const auto& [column, bytes] : scratch->second) {
    if (free_units + Units(bytes) <= rhs) continue;
    if (options_.telescope_capacity) {
      row = {{sum_column, 1}};  // U_k: the sum of k's row
    } else {
      row = terms;
    }
    row.emplace_back(column, Units(bytes));
    m.AddRow(-kInfinity, rhs, row);
  }
}

}  // namespace autotm::solver
