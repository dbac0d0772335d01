#include "solver/window_search.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "solver/status_macros.h"

namespace autotm::solver {
namespace {

// Windows never shrink below this many integer columns (or the initial
// size, if smaller): smaller ones hold too little to improve anything, and
// their solves are mostly overhead.
constexpr double kMinWindowColumns = 50;

// Relative gap of a window's solve. The window's objective includes the
// fixed rest of the model, so the default gaps would stop long before the
// window itself is optimal.
constexpr double kWindowGap = 1e-7;

// The shortest window solve worth starting, in seconds.
constexpr double kMinWindowSeconds = 0.5;

}  // namespace

RestrictedModel Restrict(const IlpModel& model, std::span<const double> values,
                         std::span<const char> free) {
  RestrictedModel out;
  IlpModel& sub = out.model;
  const int num_columns = model.num_columns();
  std::vector<int> index(num_columns, -1);
  double offset = model.objective_offset;
  for (int j = 0; j < num_columns; ++j) {
    if (model.is_integer[j] && !free[j]) {
      offset += model.objective[j] * std::round(values[j]);
      continue;
    }
    index[j] = sub.AddColumn(model.col_lower[j], model.col_upper[j],
                             model.objective[j], model.is_integer[j] != 0);
    out.original_column.push_back(j);
  }
  sub.objective_offset = offset;
  std::vector<IlpModel::Term> terms;
  for (int i = 0; i < model.num_rows(); ++i) {
    terms.clear();
    double fixed_activity = 0;
    for (int64_t p = model.row_start[i]; p < model.row_start[i + 1]; ++p) {
      const int j = model.row_column[p];
      if (index[j] >= 0) {
        terms.emplace_back(index[j], model.row_value[p]);
      } else {
        fixed_activity += model.row_value[p] * std::round(values[j]);
      }
    }
    // A row of fixed columns only is satisfied by the incumbent they come
    // from; nothing in this window can change it.
    if (terms.empty()) continue;
    sub.AddRow(model.row_lower[i] - fixed_activity,
               model.row_upper[i] - fixed_activity, terms);
  }
  return out;
}

absl::StatusOr<WindowSearchResult> ImproveByWindows(
    Solver& solver, const IlpModel& model, std::span<const int> column_kernel,
    std::span<const double> start, const WindowSearchOptions& options) {
  const absl::Time begin = absl::Now();
  const absl::Time end = begin + absl::Seconds(options.time_limit_seconds);
  const int num_columns = model.num_columns();
  if (static_cast<int>(column_kernel.size()) != num_columns ||
      static_cast<int>(start.size()) != num_columns) {
    return absl::InvalidArgumentError(absl::StrCat(
        "window search: the model has ", num_columns, " columns, but ",
        column_kernel.size(), " column kernels and ", start.size(),
        " start values were given"));
  }
  if (!(options.window_columns > 0) || !(options.window_seconds > 0)) {
    return absl::InvalidArgumentError(
        "window search: window_columns and window_seconds must be > 0");
  }
  int num_kernels = 0;
  for (int j = 0; j < num_columns; ++j) {
    if (model.is_integer[j] && column_kernel[j] >= 0) {
      num_kernels = std::max(num_kernels, column_kernel[j] + 1);
    }
  }
  std::vector<std::vector<int>> kernel_columns(num_kernels);
  int total_integer = 0;
  for (int j = 0; j < num_columns; ++j) {
    if (model.is_integer[j] && column_kernel[j] >= 0) {
      kernel_columns[column_kernel[j]].push_back(j);
      ++total_integer;
    }
  }

  WindowSearchResult result;
  result.values.assign(start.begin(), start.end());
  auto seconds_left = [&] { return absl::ToDoubleSeconds(end - absl::Now()); };
  auto cancelled = [&] {
    return options.cancel != nullptr &&
           options.cancel->load(std::memory_order_relaxed);
  };
  // What a window costs beyond its solve's limit, the slowest seen so far:
  // CBC runs past its limit by up to a second on windows of 50k+ columns,
  // and accept() lays a whole plan out. Kept in hand so that the last
  // window ends within the search's time.
  double solve_overrun = 0;
  double accept_seconds = options.expected_accept_seconds;
  auto reserve = [&] { return solve_overrun + accept_seconds; };
  std::vector<char> free(num_columns, 0);
  SolveParams params;
  params.relative_gap = kWindowGap;
  params.cancel = options.cancel;
  // Solves the model restricted to `free` around the incumbent and adopts
  // the window's solution when it is better (`always`: when it exists).
  auto solve_window = [&](bool always) -> absl::StatusOr<SolveResult> {
    RestrictedModel window = Restrict(model, result.values, free);
    params.time_limit_seconds = std::max(
        0.1, std::min(options.window_seconds, seconds_left() - reserve()));
    params.initial_solution.resize(window.model.num_columns());
    for (int c = 0; c < window.model.num_columns(); ++c) {
      params.initial_solution[c] = result.values[window.original_column[c]];
    }
    const absl::Time solve_start = absl::Now();
    AUTOTM_ASSIGN_OR_RETURN(SolveResult solved,
                            solver.Solve(window.model, params));
    solve_overrun = std::max(solve_overrun,
                             absl::ToDoubleSeconds(absl::Now() - solve_start) -
                                 params.time_limit_seconds);
    const double margin = 1e-9 * std::max(1.0, std::abs(result.objective));
    if (!solved.has_solution() ||
        !(always || solved.objective < result.objective - margin)) {
      return solved;
    }
    if (always || !options.accept) {
      for (int c = 0; c < window.model.num_columns(); ++c) {
        result.values[window.original_column[c]] = solved.values[c];
      }
      result.objective = solved.objective;
      return solved;
    }
    std::vector<double> candidate = result.values;
    for (int c = 0; c < window.model.num_columns(); ++c) {
      candidate[window.original_column[c]] = solved.values[c];
    }
    const absl::Time accept_start = absl::Now();
    const bool accepted = options.accept(candidate);
    accept_seconds = std::max(
        accept_seconds, absl::ToDoubleSeconds(absl::Now() - accept_start));
    if (accepted) {
      result.values = std::move(candidate);
      result.objective = solved.objective;
    } else {
      ++result.rejected;
    }
    return solved;
  };
  auto within_gap = [&] {
    return std::isfinite(result.objective) && std::isfinite(options.bound) &&
           result.objective - options.bound <=
               options.relative_gap * std::abs(result.objective);
  };
  auto report = [&] {
    result.seconds = absl::ToDoubleSeconds(absl::Now() - begin);
    if (!options.on_progress) return;
    SolveProgress progress;
    progress.elapsed_seconds = result.seconds;
    progress.incumbent = result.objective;
    progress.bound = options.bound;
    if (std::isfinite(result.objective) && std::isfinite(options.bound)) {
      progress.relative_gap =
          std::max(0.0, (result.objective - options.bound) /
                            std::max(1e-10, std::abs(result.objective)));
    }
    progress.windows = result.windows;
    options.on_progress(progress);
  };

  // The start's own objective: its continuous columns for its integer ones
  // (an LP, as no integer column is free).
  AUTOTM_ASSIGN_OR_RETURN(SolveResult completion, solve_window(true));
  if (completion.termination == SolveTermination::kInfeasible) {
    return absl::FailedPreconditionError(
        "window search: the start's integer columns admit no feasible "
        "values of the continuous ones");
  }
  if (!completion.has_solution()) {  // stopped before the LP finished
    result.seconds = absl::ToDoubleSeconds(absl::Now() - begin);
    return result;
  }
  report();

  double target = options.window_columns;
  // A window is worth starting only with this much time left.
  auto time_for_a_window = [&] {
    return seconds_left() > kMinWindowSeconds + reserve();
  };
  while (!cancelled() && time_for_a_window() && !within_gap()) {
    bool improved = false;
    const bool whole_model = target >= total_integer;
    for (int first = 0; first < num_kernels;) {
      if (cancelled() || !time_for_a_window() || within_gap()) break;
      // The window: kernels [first, last] holding about `target` integer
      // columns.
      int last = first;
      int64_t count = kernel_columns[first].size();
      while (last + 1 < num_kernels && count < target) {
        count += kernel_columns[++last].size();
      }
      if (count > 0) {
        for (int k = first; k <= last; ++k) {
          for (int j : kernel_columns[k]) free[j] = 1;
        }
        const double objective_before = result.objective;
        AUTOTM_ASSIGN_OR_RETURN(SolveResult solved, solve_window(false));
        for (int k = first; k <= last; ++k) {
          for (int j : kernel_columns[k]) free[j] = 0;
        }
        ++result.windows;
        if (result.objective < objective_before) {
          ++result.improvements;
          improved = true;
        }
        if (solved.termination == SolveTermination::kOptimal) {
          if (solved.solve_seconds < params.time_limit_seconds / 4) {
            target *= 1.5;
          }
        } else if (solved.termination != SolveTermination::kCancelled) {
          target = std::max(
              std::min<double>(kMinWindowColumns, options.window_columns),
              target * 0.7);
        }
        report();
      }
      if (last + 1 >= num_kernels) break;
      // Half overlapping: a move whose columns straddle one window's edge
      // lies inside the next.
      first += std::max(1, (last - first + 1) / 2);
    }
    if (!improved) {
      if (whole_model) break;
      target *= 2;
    }
  }
  result.seconds = absl::ToDoubleSeconds(absl::Now() - begin);
  return result;
}

}  // namespace autotm::solver
