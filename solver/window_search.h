// Window search: a primal heuristic for placement ILPs too large for CBC's
// tree search. It improves a feasible solution by re-solving a stretch of
// consecutive kernels at a time, every other integer column fixed at the
// incumbent's value (a large-neighbourhood search, in the family of RINS
// and local branching). Each window is a small MIP that CBC solves in
// seconds, while on the whole model (an asynchronous DenseNet-264 or
// Inception v4 at the paper's batch size: 0.5-1.2 M columns) CBC manages
// about one branch-and-bound node a minute after the root. Placement
// decisions interact mostly through the kernels they share, so windows
// reach what a tree search over the whole model would not in the time.
// The search proves nothing: the bound comes from the whole model's root.
#ifndef AUTOTM_SOLVER_WINDOW_SEARCH_H_
#define AUTOTM_SOLVER_WINDOW_SEARCH_H_

#include <atomic>
#include <functional>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "solver/ilp_model.h"
#include "solver/solver.h"

namespace autotm::solver {

// `model` with only some integer columns left free: every other integer
// column is fixed at its (rounded) value and substituted out - its cost
// joins the objective offset and its activity the row bounds - and rows
// left without any column are dropped. Continuous columns all stay (their
// values are re-solved).
struct RestrictedModel {
  IlpModel model;
  // The column of the original model behind each column of `model`.
  std::vector<int> original_column;
};

// `values` and `free` have one entry per column of `model`; `free` is read
// for integer columns only.
RestrictedModel Restrict(const IlpModel& model, std::span<const double> values,
                         std::span<const char> free);

struct WindowSearchOptions {
  // Wall-clock seconds for the whole search, accept() calls included: a
  // window starts only when its solve and an accept() fit in what is left,
  // judged by the slowest of each seen so far. Default 60.
  double time_limit_seconds = 60;
  // Integer columns freed per window at first. Adapts to the model: a
  // window solved to optimality in under a quarter of its time makes the
  // next one half again as large, one that runs out of time makes it
  // smaller, and a sweep without improvement doubles it. Default 2000.
  int window_columns = 2000;
  // Time limit of one window's solve. Default 10 s.
  double window_seconds = 10;
  // The bound to report with progress (the search proves none itself),
  // e.g. the whole model's root bound. Default -inf: none.
  double bound = -kInfinity;
  // Stop once the incumbent is within this relative gap of `bound`, as a
  // MIP solve stops at its gap. Default 0: search until the time limit.
  double relative_gap = 0;
  const std::atomic<bool>* cancel = nullptr;
  // When set, a better window solution is adopted only if accept(values)
  // (the whole model's values) returns true - e.g. the planner's check that
  // the plan's fast tensors still lay out in the pool. A rejected window
  // counts as solved, not improved. The start is not checked.
  std::function<bool(std::span<const double> values)> accept;
  // How long one accept() call is expected to take, kept in hand for each
  // window until the search has timed a call itself (on DenseNet-264 the
  // planner's layout check takes about a second). Default 0.
  double expected_accept_seconds = 0;
  // Called after every window with the incumbent, `bound` and the windows
  // solved so far.
  std::function<void(const SolveProgress&)> on_progress;
};

struct WindowSearchResult {
  // The best solution found, one value per column: the start or better,
  // its continuous columns re-solved for its integer ones.
  std::vector<double> values;
  double objective = kInfinity;  // including the offset
  int windows = 0;               // window MIPs solved
  int improvements = 0;          // of which improved the incumbent
  int rejected = 0;              // better, but refused by `accept`
  double seconds = 0;
};

// Improves `start`, a solution of `model` whose integer columns are
// feasible (continuous values are ignored and re-solved), by sweeping
// windows of consecutive kernels over the model, half overlapping, with
// `column_kernel[j]` the kernel of column j (-1 for continuous columns;
// see Formulation::ColumnKernels). Ends at the time limit, on cancel,
// within `relative_gap` of `bound`, or when a sweep with windows covering
// the whole model improves nothing.
// The result is never worse than `start`. Errors: InvalidArgument when a
// size disagrees with the model; FailedPrecondition when `start`'s integer
// columns admit no feasible continuous completion; a backend's error.
absl::StatusOr<WindowSearchResult> ImproveByWindows(
    Solver& solver, const IlpModel& model, std::span<const int> column_kernel,
    std::span<const double> start, const WindowSearchOptions& options);

}  // namespace autotm::solver

#endif  // AUTOTM_SOLVER_WINDOW_SEARCH_H_
