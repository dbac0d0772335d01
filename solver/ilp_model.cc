#include "solver/ilp_model.h"

#include <algorithm>
#include <cmath>

namespace autotm::solver {

int IlpModel::num_integer() const {
  return static_cast<int>(std::count(is_integer.begin(), is_integer.end(), 1));
}

int IlpModel::AddColumn(double lower, double upper, double cost, bool integer) {
  col_lower.push_back(lower);
  col_upper.push_back(upper);
  objective.push_back(cost);
  is_integer.push_back(integer ? 1 : 0);
  return num_columns() - 1;
}

int IlpModel::AddRow(double lower, double upper, std::span<const Term> terms) {
  // Merge duplicates so that backends always see one entry per column.
  std::vector<Term> merged(terms.begin(), terms.end());
  std::sort(merged.begin(), merged.end(),
            [](const Term& a, const Term& b) { return a.first < b.first; });
  size_t out = 0;
  for (size_t i = 0; i < merged.size(); ++i) {
    if (out > 0 && merged[out - 1].first == merged[i].first) {
      merged[out - 1].second += merged[i].second;
    } else {
      merged[out++] = merged[i];
    }
  }
  merged.resize(out);
  for (const auto& [column, value] : merged) {
    if (value == 0) continue;
    row_column.push_back(column);
    row_value.push_back(value);
  }
  row_lower.push_back(lower);
  row_upper.push_back(upper);
  row_start.push_back(static_cast<int64_t>(row_column.size()));
  return num_rows() - 1;
}

double IlpModel::Evaluate(std::span<const double> x) const {
  double total = objective_offset;
  for (int j = 0; j < num_columns(); ++j) total += objective[j] * x[j];
  return total;
}

double IlpModel::MaxViolation(std::span<const double> x) const {
  double worst = 0;
  for (int j = 0; j < num_columns(); ++j) {
    worst = std::max({worst, col_lower[j] - x[j], x[j] - col_upper[j]});
  }
  for (int i = 0; i < num_rows(); ++i) {
    double activity = 0;
    for (int64_t p = row_start[i]; p < row_start[i + 1]; ++p) {
      activity += row_value[p] * x[row_column[p]];
    }
    worst = std::max({worst, row_lower[i] - activity, activity - row_upper[i]});
  }
  return worst;
}

}  // namespace autotm::solver
