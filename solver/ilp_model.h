// A solver-neutral mixed-integer linear program, built row by row.
#ifndef AUTOTM_SOLVER_ILP_MODEL_H_
#define AUTOTM_SOLVER_ILP_MODEL_H_

#include <cstdint>
#include <limits>
#include <span>
#include <utility>
#include <vector>

namespace autotm::solver {

inline constexpr double kInfinity = std::numeric_limits<double>::infinity();

// minimize objective_offset + sum_j objective[j] * x[j]
// subject to row_lower[i] <= sum_j a[i][j] * x[j] <= row_upper[i]
//            col_lower[j] <= x[j] <= col_upper[j], x[j] integer if marked.
// Rows are stored compressed (CSR); backends convert as they need.
struct IlpModel {
  using Term = std::pair<int, double>;  // (column, coefficient)

  std::vector<double> col_lower;
  std::vector<double> col_upper;
  std::vector<double> objective;
  std::vector<char> is_integer;
  double objective_offset = 0;

  std::vector<double> row_lower;
  std::vector<double> row_upper;
  std::vector<int64_t> row_start = {0};  // size num_rows() + 1
  std::vector<int> row_column;
  std::vector<double> row_value;

  int num_columns() const { return static_cast<int>(objective.size()); }
  int num_rows() const { return static_cast<int>(row_lower.size()); }
  int64_t num_nonzeros() const { return row_start.back(); }
  int num_integer() const;

  // Adds a column and returns its index.
  int AddColumn(double lower, double upper, double cost, bool integer);
  int AddBinary(double cost) { return AddColumn(0, 1, cost, true); }
  // Adds lower <= sum(terms) <= upper. Terms on the same column are merged;
  // zero coefficients are dropped. Returns the row index.
  int AddRow(double lower, double upper, std::span<const Term> terms);

  // Objective value of `x` (including the offset).
  double Evaluate(std::span<const double> x) const;
  // Largest bound or row violation of `x` (0 when feasible).
  double MaxViolation(std::span<const double> x) const;
};

}  // namespace autotm::solver

#endif  // AUTOTM_SOLVER_ILP_MODEL_H_
