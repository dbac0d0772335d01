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

namespace {

// One window search (ImproveByWindows): the incumbent in result_, and what
// the windows' sizing has learnt so far.
class WindowSearch {
 public:
  // `model`, `column_kernel` and `options` checked by the caller.
  WindowSearch(Solver& solver, const IlpModel& model,
               std::span<const int> column_kernel,
               std::span<const double> start,
               const WindowSearchOptions& options)
      : solver_(solver),
        model_(model),
        options_(options),
        begin_(absl::Now()),
        end_(begin_ + absl::Seconds(options.time_limit_seconds)),
        accept_seconds_(options.expected_accept_seconds),
        free_(model.num_columns(), 0) {
    const int num_columns = model.num_columns();
    for (int j = 0; j < num_columns; ++j) {
      if (model.is_integer[j] && column_kernel[j] >= 0) {
        num_kernels_ = std::max(num_kernels_, column_kernel[j] + 1);
      }
    }
    kernel_columns_.resize(num_kernels_);
    for (int j = 0; j < num_columns; ++j) {
      if (model.is_integer[j] && column_kernel[j] >= 0) {
        kernel_columns_[column_kernel[j]].push_back(j);
        ++total_integer_;
      }
    }
    result_.values.assign(start.begin(), start.end());
    params_.relative_gap = kWindowGap;
    params_.cancel = options.cancel;
  }

  // Completes the start (its continuous columns), then sweeps windows until
  // the time, a cancel, the gap, or a whole-model sweep without progress.
  absl::StatusOr<WindowSearchResult> Run() {
    // The start's own objective: its continuous columns for its integer
    // ones (an LP, as no integer column is free).
    AUTOTM_ASSIGN_OR_RETURN(SolveResult completion, SolveWindow(true));
    if (completion.termination == SolveTermination::kInfeasible) {
      return absl::FailedPreconditionError(
          "window search: the start's integer columns admit no feasible "
          "values of the continuous ones");
    }
    if (!completion.has_solution()) {  // stopped before the LP finished
      result_.seconds = absl::ToDoubleSeconds(absl::Now() - begin_);
      return result_;
    }
    Report();

    double target = options_.window_columns;
    while (!Cancelled() && TimeForAWindow() && !WithinGap()) {
      const bool whole_model = target >= total_integer_;
      AUTOTM_ASSIGN_OR_RETURN(const bool improved, Sweep(target));
      if (!improved) {
        if (whole_model) break;
        target *= 2;
      }
    }
    result_.seconds = absl::ToDoubleSeconds(absl::Now() - begin_);
    return result_;
  }

 private:
  double SecondsLeft() const {
    return absl::ToDoubleSeconds(end_ - absl::Now());
  }
  bool Cancelled() const {
    return options_.cancel != nullptr &&
           options_.cancel->load(std::memory_order_relaxed);
  }
  // Kept in hand so that the last window ends within the search's time.
  double Reserve() const { return solve_overrun_ + accept_seconds_; }
  // A window is worth starting only with this much time left.
  bool TimeForAWindow() const {
    return SecondsLeft() > kMinWindowSeconds + Reserve();
  }
  bool WithinGap() const {
    return std::isfinite(result_.objective) && std::isfinite(options_.bound) &&
           result_.objective - options_.bound <=
               options_.relative_gap * std::abs(result_.objective);
  }

  // One sweep of half-overlapping windows of about `target` integer
  // columns over the kernels; adapts `target` to how the windows solved.
  // Returns whether any window improved the incumbent.
  absl::StatusOr<bool> Sweep(double& target) {
    bool improved = false;
    for (int first = 0; first < num_kernels_;) {
      if (Cancelled() || !TimeForAWindow() || WithinGap()) break;
      // The window: kernels [first, last] holding about `target` integer
      // columns.
      int last = first;
      int64_t count = kernel_columns_[first].size();
      while (last + 1 < num_kernels_ && count < target) {
        count += kernel_columns_[++last].size();
      }
      if (count > 0) {
        AUTOTM_ASSIGN_OR_RETURN(const bool better,
                                SolveKernels(first, last, target));
        improved |= better;
      }
      if (last + 1 >= num_kernels_) break;
      // Half overlapping: a move whose columns straddle one window's edge
      // lies inside the next.
      first += std::max(1, (last - first + 1) / 2);
    }
    return improved;
  }

  // Solves the window of kernels [first, last], grows `target` after a
  // quick optimal solve and shrinks it after one cut short. Returns
  // whether the incumbent improved.
  absl::StatusOr<bool> SolveKernels(int first, int last, double& target) {
    for (int k = first; k <= last; ++k) {
      for (int j : kernel_columns_[k]) free_[j] = 1;
    }
    const double objective_before = result_.objective;
    AUTOTM_ASSIGN_OR_RETURN(SolveResult solved, SolveWindow(false));
    for (int k = first; k <= last; ++k) {
      for (int j : kernel_columns_[k]) free_[j] = 0;
    }
    ++result_.windows;
    const bool improved = result_.objective < objective_before;
    if (improved) ++result_.improvements;
    if (solved.termination == SolveTermination::kOptimal) {
      if (solved.solve_seconds < params_.time_limit_seconds / 4) {
        target *= 1.5;
      }
    } else if (solved.termination != SolveTermination::kCancelled) {
      target =
          std::max(std::min<double>(kMinWindowColumns, options_.window_columns),
                   target * 0.7);
    }
    Report();
    return improved;
  }

  // Solves the model restricted to free_ around the incumbent and adopts
  // the window's solution when it is better (`always`: when it exists).
  absl::StatusOr<SolveResult> SolveWindow(bool always) {
    RestrictedModel window = Restrict(model_, result_.values, free_);
    params_.time_limit_seconds = std::max(
        0.1, std::min(options_.window_seconds, SecondsLeft() - Reserve()));
    params_.initial_solution.resize(window.model.num_columns());
    for (int c = 0; c < window.model.num_columns(); ++c) {
      params_.initial_solution[c] = result_.values[window.original_column[c]];
    }
    const absl::Time solve_start = absl::Now();
    AUTOTM_ASSIGN_OR_RETURN(SolveResult solved,
                            solver_.Solve(window.model, params_));
    solve_overrun_ = std::max(solve_overrun_,
                              absl::ToDoubleSeconds(absl::Now() - solve_start) -
                                  params_.time_limit_seconds);
    const double margin = 1e-9 * std::max(1.0, std::abs(result_.objective));
    if (!solved.has_solution() ||
        !(always || solved.objective < result_.objective - margin)) {
      return solved;
    }
    if (always || !options_.accept) {
      for (int c = 0; c < window.model.num_columns(); ++c) {
        result_.values[window.original_column[c]] = solved.values[c];
      }
      result_.objective = solved.objective;
      return solved;
    }
    std::vector<double> candidate = result_.values;
    for (int c = 0; c < window.model.num_columns(); ++c) {
      candidate[window.original_column[c]] = solved.values[c];
    }
    const absl::Time accept_start = absl::Now();
    const bool accepted = options_.accept(candidate);
    accept_seconds_ = std::max(
        accept_seconds_, absl::ToDoubleSeconds(absl::Now() - accept_start));
    if (accepted) {
      result_.values = std::move(candidate);
      result_.objective = solved.objective;
    } else {
      ++result_.rejected;
    }
    return solved;
  }

  void Report() {
    result_.seconds = absl::ToDoubleSeconds(absl::Now() - begin_);
    if (!options_.on_progress) return;
    SolveProgress progress;
    progress.elapsed_seconds = result_.seconds;
    progress.incumbent = result_.objective;
    progress.bound = options_.bound;
    if (std::isfinite(result_.objective) && std::isfinite(options_.bound)) {
      progress.relative_gap =
          std::max(0.0, (result_.objective - options_.bound) /
                            std::max(1e-10, std::abs(result_.objective)));
    }
    progress.windows = result_.windows;
    options_.on_progress(progress);
  }

  Solver& solver_;
  const IlpModel& model_;
  const WindowSearchOptions& options_;
  const absl::Time begin_;
  const absl::Time end_;
  WindowSearchResult result_;
  // What a window costs beyond its solve's limit, the slowest seen so far:
  // CBC runs past its limit by up to a second on windows of 50k+ columns,
  // and accept() lays a whole plan out.
  double solve_overrun_ = 0;
  double accept_seconds_;
  std::vector<char> free_;  // by column: free in the window being solved
  SolveParams params_;
  int num_kernels_ = 0;
  std::vector<std::vector<int>> kernel_columns_;  // integer ones, by kernel
  int total_integer_ = 0;
};

}  // namespace

absl::StatusOr<WindowSearchResult> ImproveByWindows(
    Solver& solver, const IlpModel& model, std::span<const int> column_kernel,
    std::span<const double> start, const WindowSearchOptions& options) {
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
  WindowSearch search(solver, model, column_kernel, start, options);
  return search.Run();
}

}  // namespace autotm::solver
