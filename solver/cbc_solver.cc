#include "solver/cbc_solver.h"

#include <CbcConfig.h>

#include <CbcEventHandler.hpp>
#include <CbcModel.hpp>
#include <CbcSolver.hpp>
#include <ClpEventHandler.hpp>
#include <CoinError.hpp>
#include <CoinFinite.hpp>
#include <OsiClpSolverInterface.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "solver/status_macros.h"

namespace autotm::solver {

const char* SolveTerminationName(SolveTermination termination) {
  switch (termination) {
    case SolveTermination::kOptimal:
      return "OPTIMAL";
    case SolveTermination::kFeasible:
      return "FEASIBLE";
    case SolveTermination::kInfeasible:
      return "INFEASIBLE";
    case SolveTermination::kNoSolution:
      return "NO_SOLUTION";
    case SolveTermination::kCancelled:
      return "CANCELLED";
  }
  return "UNKNOWN";
}

namespace {

#ifdef CBC_VERSION
constexpr char kCbcVersion[] = CBC_VERSION;
#else
constexpr char kCbcVersion[] = "2.10";
#endif

// CBC reports "no value" as +-COIN_DBL_MAX and treats anything beyond 1e50
// as unbounded; these map such values to +-kInfinity.
constexpr double kCbcHuge = 1e50;

// Interval between throttled progress reports.
constexpr double kProgressIntervalSeconds = 1.0;

// Largest row or bound violation we accept in a vector CBC returns, relative
// to the size of the row (see Violation()). CBC works to a primal tolerance
// of 1e-7 on a scaled model, so real solutions sit far below this.
constexpr double kMaxRelativeViolation = 1e-5;

// Time limits beyond this are treated as "no limit" (CBC wants a number).
constexpr double kNoTimeLimitSeconds = 1e9;

double FromCbc(double value) {
  if (value >= kCbcHuge) return kInfinity;
  if (value <= -kCbcHuge) return -kInfinity;
  return value;
}

double ToCbc(double value) {
  if (value == kInfinity) return COIN_DBL_MAX;
  if (value == -kInfinity) return -COIN_DBL_MAX;
  return value;
}

// (incumbent - bound) / max(1e-10, |incumbent|), never negative (a bound a
// hair above the incumbent is rounding noise), +inf when either is unknown.
double RelativeGap(double incumbent, double bound) {
  if (!std::isfinite(incumbent) || !std::isfinite(bound)) return kInfinity;
  return std::max(0.0,
                  (incumbent - bound) / std::max(1e-10, std::abs(incumbent)));
}

std::string FormatDouble(double value) {
  return absl::StrFormat("%.17g", value);
}

absl::Status ValidateModel(const IlpModel& model) {
  const size_t num_columns = model.objective.size();
  if (model.col_lower.size() != num_columns ||
      model.col_upper.size() != num_columns ||
      model.is_integer.size() != num_columns) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "column arrays disagree: %d objective, %d col_lower, %d col_upper, "
        "%d is_integer",
        num_columns, model.col_lower.size(), model.col_upper.size(),
        model.is_integer.size()));
  }
  if (num_columns > static_cast<size_t>(INT_MAX)) {
    return absl::InvalidArgumentError("too many columns for CBC");
  }
  const size_t num_rows = model.row_lower.size();
  if (model.row_upper.size() != num_rows ||
      model.row_start.size() != num_rows + 1) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "row arrays disagree: %d row_lower, %d row_upper, %d row_start "
        "(want rows + 1)",
        num_rows, model.row_upper.size(), model.row_start.size()));
  }
  if (model.row_start.front() != 0) {
    return absl::InvalidArgumentError("row_start[0] must be 0");
  }
  if (model.row_column.size() != model.row_value.size() ||
      static_cast<int64_t>(model.row_column.size()) != model.row_start.back()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "nonzero arrays disagree: %d row_column, %d row_value, row_start "
        "ends at %d",
        model.row_column.size(), model.row_value.size(),
        model.row_start.back()));
  }
  // CoinBigIndex is int in the Debian build.
  if (model.row_start.back() > static_cast<int64_t>(INT_MAX)) {
    return absl::InvalidArgumentError("too many nonzeros for CBC");
  }
  if (!std::isfinite(model.objective_offset)) {
    return absl::InvalidArgumentError("objective_offset is not finite");
  }
  for (size_t j = 0; j < num_columns; ++j) {
    if (!std::isfinite(model.objective[j])) {
      return absl::InvalidArgumentError(
          absl::StrFormat("column %d: objective coefficient %g is not finite",
                          j, model.objective[j]));
    }
    const double lower = model.col_lower[j];
    const double upper = model.col_upper[j];
    // The negated comparisons also reject NaN.
    if (!(lower <= upper) || lower == kInfinity || upper == -kInfinity) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "column %d: bounds [%g, %g] are empty or invalid", j, lower, upper));
    }
  }
  // Column seen last in which row, to catch duplicates that AddRow would have
  // merged (Clp's behaviour on them is undefined).
  std::vector<int64_t> last_row(num_columns, -1);
  for (size_t i = 0; i < num_rows; ++i) {
    const double lower = model.row_lower[i];
    const double upper = model.row_upper[i];
    if (!(lower <= upper) || lower == kInfinity || upper == -kInfinity) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "row %d: bounds [%g, %g] are empty or invalid", i, lower, upper));
    }
    const int64_t begin = model.row_start[i];
    const int64_t end = model.row_start[i + 1];
    if (end < begin) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "row %d: row_start decreases (%d then %d)", i, begin, end));
    }
    for (int64_t p = begin; p < end; ++p) {
      const int column = model.row_column[p];
      if (column < 0 || static_cast<size_t>(column) >= num_columns) {
        return absl::InvalidArgumentError(
            absl::StrFormat("row %d: column index %d out of range [0, %d)", i,
                            column, num_columns));
      }
      if (!std::isfinite(model.row_value[p])) {
        return absl::InvalidArgumentError(
            absl::StrFormat("row %d: coefficient %g of column %d is not finite",
                            i, model.row_value[p], column));
      }
      if (last_row[column] == static_cast<int64_t>(i)) {
        return absl::InvalidArgumentError(
            absl::StrFormat("row %d: column %d appears twice", i, column));
      }
      last_row[column] = static_cast<int64_t>(i);
    }
  }
  return absl::OkStatus();
}

// Largest violation of `x`, bounds absolute and each row relative to its
// scale (largest |coefficient| or finite side, at least 1): placement rows
// carry byte counts, where an absolute 1e-5 would demand more precision than
// double arithmetic on the activity has.
double Violation(const IlpModel& model, const std::vector<double>& x) {
  double worst = 0;
  for (int j = 0; j < model.num_columns(); ++j) {
    if (!std::isfinite(x[j])) return kInfinity;
    worst =
        std::max({worst, model.col_lower[j] - x[j], x[j] - model.col_upper[j]});
  }
  for (int i = 0; i < model.num_rows(); ++i) {
    double activity = 0;
    double scale = 1;
    for (int64_t p = model.row_start[i]; p < model.row_start[i + 1]; ++p) {
      activity += model.row_value[p] * x[model.row_column[p]];
      scale = std::max(scale, std::abs(model.row_value[p]));
    }
    if (std::isfinite(model.row_lower[i])) {
      scale = std::max(scale, std::abs(model.row_lower[i]));
    }
    if (std::isfinite(model.row_upper[i])) {
      scale = std::max(scale, std::abs(model.row_upper[i]));
    }
    worst = std::max({worst, (model.row_lower[i] - activity) / scale,
                      (activity - model.row_upper[i]) / scale});
  }
  return worst;
}

// A model without columns: every row's activity is 0.
SolveResult SolveEmptyModel(const IlpModel& model) {
  SolveResult result;
  for (int i = 0; i < model.num_rows(); ++i) {
    if (model.row_lower[i] > 0 || model.row_upper[i] < 0) {
      result.termination = SolveTermination::kInfeasible;
      result.best_bound = kInfinity;
      return result;
    }
  }
  result.termination = SolveTermination::kOptimal;
  result.objective = model.objective_offset;
  result.best_bound = model.objective_offset;
  result.relative_gap = 0;
  return result;
}

}  // namespace
}  // namespace autotm::solver

// CBC's command source for CbcMain1 (CbcOrClpParam.cpp); no header
// declares it.
extern FILE* CbcOrClpReadCommand;

namespace autotm::solver {
namespace {

// CbcMain1 keeps its argument cursor and print flags in process globals, so
// two concurrent calls corrupt each other (cbc.md §3). A timed mutex lets a
// queued solve notice its cancel flag while it waits. Never destroyed, so
// that a solve on a detached thread cannot outlive it.
std::timed_mutex& CbcMainMutex() {
  static std::timed_mutex* const mutex = new std::timed_mutex;
  return *mutex;
}

// State shared by the CBC callbacks of one solve. CBC clones its event
// handlers into every model copy (the branching copy, heuristic sub-MIPs,
// worker threads); the clones all point here.
class SolveState {
 public:
  SolveState(const SolveParams& params, double objective_offset,
             double deadline_seconds)
      : params_(params),
        objective_offset_(objective_offset),
        deadline_seconds_(deadline_seconds),
        start_(std::chrono::steady_clock::now()),
        known_bound_(params.known_bound - objective_offset),
        bound_(known_bound_) {
    // A start solution is an incumbent from the first moment: a search that
    // never improves on it stalls like one that stopped improving.
    if (!params.initial_solution.empty()) last_improvement_seconds_ = 0;
  }

  double ElapsedSeconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                         start_)
        .count();
  }

  // True once cancellation was requested; remembers that CBC saw it, since
  // CBC's own status after a stop cannot be trusted (cbc.md §3).
  bool CancelRequested() {
    if (params_.cancel == nullptr ||
        !params_.cancel->load(std::memory_order_relaxed)) {
      return false;
    }
    cancel_seen_.store(true, std::memory_order_relaxed);
    return true;
  }
  bool cancel_seen() const {
    return cancel_seen_.load(std::memory_order_relaxed);
  }

  // CBC's own time limit is soft: one root LP, cut pass or pump round can
  // run minutes past it on large models. Past the hard deadline the solve is
  // stopped like a cancel (but reported as a limit, not a cancel).
  bool DeadlinePassed() {
    if (deadline_seen_.load(std::memory_order_relaxed)) return true;
    if (ElapsedSeconds() <= deadline_seconds_) return false;
    deadline_seen_.store(true, std::memory_order_relaxed);
    return true;
  }
  bool deadline_seen() const {
    return deadline_seen_.load(std::memory_order_relaxed);
  }
  // Stalled: an incumbent exists and has not improved for
  // params_.stall_seconds. Stopped like the deadline, reported as a limit.
  bool Stalled() {
    if (stall_seen_.load(std::memory_order_relaxed)) return true;
    if (!(params_.stall_seconds > 0)) return false;
    const double improved =
        last_improvement_seconds_.load(std::memory_order_relaxed);
    if (!(ElapsedSeconds() - improved > params_.stall_seconds)) return false;
    stall_seen_.store(true, std::memory_order_relaxed);
    return true;
  }
  bool stall_seen() const {
    return stall_seen_.load(std::memory_order_relaxed);
  }
  bool StopRequested() {
    return CancelRequested() || DeadlinePassed() || Stalled();
  }
  // Whether the incumbent is within the relative gap of
  // SolveParams::known_bound: CBC cannot see that bound, so the search is
  // stopped at its next event (not inside an LP: this is a finish, and the
  // incumbent must survive it).
  bool gap_closed() const {
    return gap_closed_.load(std::memory_order_relaxed);
  }

  // The absolute gap CBC may stop at given its incumbent `cbc_incumbent`
  // (CBC's objective, without the offset): SolveParams::relative_gap of the
  // incumbent WITH the offset. CBC's own -ratioGap measures the gap against
  // its objective alone, which a constant term makes meaningless: the
  // formulation's separable costs put every kernel's all-slow time in the
  // offset and the savings, negative, in the columns, so CBC's objective is
  // minus the time saved, and on MobileNet v2 at 10% of peak a "1%" ratio
  // gap stopped the sync solve at 4.9% of the plan's time. Nullopt without
  // an incumbent or without an offset (then -ratioGap is exact).
  std::optional<double> AllowableGap(double cbc_incumbent) const {
    if (objective_offset_ == 0) return std::nullopt;
    const double incumbent = FromCbc(cbc_incumbent);
    if (!std::isfinite(incumbent)) return std::nullopt;
    return params_.relative_gap * std::abs(incumbent + objective_offset_);
  }

  // Whether an LP may still be aborted on cancel. Once the top-level search
  // ends, CBC re-solves the LP with the integers fixed to rebuild the
  // returned vector; aborting that LP corrupts the vector (cbc.md §3).
  bool lp_cancel_armed() const {
    return lp_cancel_armed_.load(std::memory_order_relaxed);
  }
  void DisarmLpCancel() {
    lp_cancel_armed_.store(false, std::memory_order_relaxed);
  }

  // The root LP value: the first valid bound, available long before the
  // tree (and its bound events) exists.
  void OnRootBound(double bound) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    bound_ = std::max(bound_, FromCbc(bound));
    Report();
  }

  // An event of the top-level model. Reports at once on a better
  // incumbent, else at most once per interval: reading the tree bound scans
  // the open nodes, so it is only read when we report.
  void OnEvent(CbcModel& model, bool new_solution, bool tree_event)
      ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    const double value = FromCbc(model.getMinimizationObjValue());
    const bool improved = new_solution && value < incumbent_;
    if (improved) {
      last_improvement_seconds_.store(ElapsedSeconds(),
                                      std::memory_order_relaxed);
    }
    if (!improved &&
        ElapsedSeconds() - last_report_seconds_ < kProgressIntervalSeconds) {
      return;
    }
    incumbent_ = std::min(incumbent_, value);
    if (RelativeGap(incumbent_ + objective_offset_,
                    known_bound_ + objective_offset_) <= params_.relative_gap) {
      gap_closed_.store(true, std::memory_order_relaxed);
    }
    // The tree bound is only meaningful once the tree exists; during the
    // root it can be stale, so the root LP bound stands until then.
    if (tree_event) {
      const double bound = FromCbc(model.getBestPossibleObjValue());
      if (bound < incumbent_ || !std::isfinite(incumbent_)) {
        bound_ = std::max(bound_, bound);
      }
    }
    nodes_ = std::max<int64_t>(nodes_, model.getNodeCount());
    Report();
  }

  // The last bound reported (minimisation sense, without the offset).
  double last_bound() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return bound_;
  }

 private:
  void Report() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    last_report_seconds_ = ElapsedSeconds();
    if (!params_.on_progress) return;
    SolveProgress progress;
    progress.elapsed_seconds = last_report_seconds_;
    progress.incumbent = incumbent_ + objective_offset_;
    progress.bound = bound_ + objective_offset_;
    progress.relative_gap = RelativeGap(progress.incumbent, progress.bound);
    progress.nodes = nodes_;
    params_.on_progress(progress);
  }

  const SolveParams& params_;
  const double objective_offset_;
  const double deadline_seconds_;
  const std::chrono::steady_clock::time_point start_;
  // SolveParams::known_bound without the offset.
  const double known_bound_;
  std::atomic<bool> gap_closed_{false};
  std::atomic<bool> cancel_seen_{false};
  std::atomic<bool> deadline_seen_{false};
  std::atomic<bool> lp_cancel_armed_{true};
  std::atomic<bool> stall_seen_{false};
  // When the incumbent last improved; +inf until there is one (no stall
  // without an incumbent: the time limit governs the search for one).
  std::atomic<double> last_improvement_seconds_{kInfinity};

  // Guards the progress record and serialises on_progress calls, which may
  // come from CBC worker threads.
  absl::Mutex mu_;
  double incumbent_ ABSL_GUARDED_BY(mu_) = kInfinity;
  // Never below known_bound_.
  double bound_ ABSL_GUARDED_BY(mu_);
  int64_t nodes_ ABSL_GUARDED_BY(mu_) = 0;
  double last_report_seconds_ ABSL_GUARDED_BY(mu_) = -kInfinity;
};

// Progress and cancellation at CBC's own events (nodes, solutions,
// heuristic passes).
class CbcEvents : public CbcEventHandler {
 public:
  explicit CbcEvents(SolveState* state) : state_(state) {}
  CbcEvents(const CbcEvents& other) = default;
  CbcEvents& operator=(const CbcEvents&) = delete;

  CbcEventHandler* clone() const override { return new CbcEvents(*this); }

  using CbcEventHandler::event;
  CbcAction event(CbcEvent which) override {
    const bool top_level =
        model_ != nullptr && model_->parentModel() == nullptr;
    if (which == endSearch && top_level) state_->DisarmLpCancel();
    // Stop sub-MIPs too, or a heuristic's mini branch-and-bound runs on.
    if (state_->StopRequested() || state_->gap_closed()) return stop;
    // Sub-MIP incumbents and bounds are not the problem's.
    if (!top_level) return noAction;
    // CBC reads its allowable gap afresh at every stopping test.
    if (const std::optional<double> gap =
            state_->AllowableGap(model_->getMinimizationObjValue());
        gap.has_value()) {
      model_->setAllowableGap(*gap);
    }
    const bool new_solution = which == solution || which == heuristicSolution;
    const bool tree_event = which == node || which == treeStatus;
    if (new_solution || tree_event || which == heuristicPass ||
        which == generatedCuts || which == afterHeuristic) {
      state_->OnEvent(*model_, new_solution, tree_event);
    }
    return noAction;
  }

 private:
  SolveState* state_;
};

// Cancellation inside an LP: checked every simplex iteration of every LP CBC
// solves, so a cancel lands within a fraction of a second even during the
// root LP or the feasibility pump, where no CBC event fires.
class LpCancel : public ClpEventHandler {
 public:
  explicit LpCancel(SolveState* state) : state_(state) {}
  LpCancel(const LpCancel& other) = default;
  LpCancel& operator=(const LpCancel&) = delete;

  ClpEventHandler* clone() const override { return new LpCancel(*this); }

  int event(Event which) override {
    // 0 stops the LP; -1 carries on.
    return which == endOfIteration && state_->lp_cancel_armed() &&
                   state_->StopRequested()
               ? 0
               : -1;
  }

 private:
  SolveState* state_;
};

// The state of the solve inside CbcMain1. CbcMain1 takes a plain function
// pointer, so the callback finds its state here; guarded by CbcMainMutex().
SolveState* active_state = nullptr;

// whereFrom: 1 after the root LP, 2 after preprocessing, 3 before
// branch-and-bound, 4 and 5 after it. A nonzero return abandons the solve;
// at 4 or 5 that skips the postprocessing that maps the incumbent back to
// the original columns, and the solution is lost, so only stop at <= 3.
int CbcMainCallback(CbcModel* model, int where_from) {
  SolveState* state = active_state;
  if (state == nullptr) return 0;
  if (where_from == 1 && model != nullptr && model->solver() != nullptr &&
      model->solver()->isProvenOptimal()) {
    const OsiSolverInterface& lp = *model->solver();
    state->OnRootBound(lp.getObjValue() * lp.getObjSense());
  }
  if (where_from >= 4) {
    state->DisarmLpCancel();
    return 0;
  }
  return state->StopRequested() ? 1 : 0;
}

class CbcBackend final : public Solver {
 public:
  std::string name() const override {
    return absl::StrCat("cbc ", kCbcVersion);
  }

  absl::StatusOr<SolveResult> Solve(const IlpModel& model,
                                    const SolveParams& params) override;

 private:
  // Runs the bound probe, when asked for, then the search; the caller holds
  // CbcMainMutex().
  static absl::StatusOr<SolveResult> ProbeAndSolveLocked(
      const IlpModel& model, const SolveParams& params, double time_limit);
  // Runs CbcMain1 once; the caller holds CbcMainMutex().
  static absl::StatusOr<SolveResult> SolveLocked(const IlpModel& model,
                                                 const SolveParams& params,
                                                 double time_limit,
                                                 bool reduce_and_split);
};

absl::StatusOr<SolveResult> CbcBackend::Solve(const IlpModel& model,
                                              const SolveParams& params) {
  if (absl::Status status = ValidateModel(model); !status.ok()) return status;
  if (!params.initial_solution.empty() &&
      static_cast<int>(params.initial_solution.size()) != model.num_columns()) {
    return absl::InvalidArgumentError(
        absl::StrCat("initial_solution has ", params.initial_solution.size(),
                     " values for ", model.num_columns(), " columns"));
  }
  if (!(params.stall_seconds >= 0)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "stall_seconds %g is negative or not a number", params.stall_seconds));
  }
  if (!(params.time_limit_seconds >= 0)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "time_limit_seconds %g is negative", params.time_limit_seconds));
  }
  if (!(params.relative_gap >= 0) || !std::isfinite(params.relative_gap)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "relative_gap %g is negative or not finite", params.relative_gap));
  }
  if (params.threads < 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("threads %d is negative", params.threads));
  }
  if (params.root_cut_passes < 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "root_cut_passes %d is negative", params.root_cut_passes));
  }
  if (std::isnan(params.known_bound) || params.known_bound == kInfinity) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "known_bound %g is not a number or +inf", params.known_bound));
  }
  if (params.root_cuts_max_columns < 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "root_cuts_max_columns %d is negative", params.root_cuts_max_columns));
  }
  if (model.num_columns() == 0) return SolveEmptyModel(model);
  const double time_limit =
      std::min(params.time_limit_seconds, kNoTimeLimitSeconds);

  // Wait for our turn, but give up at once if cancelled while queued. The
  // time limit starts when the solve does, not when the call was made.
  std::unique_lock<std::timed_mutex> lock(CbcMainMutex(), std::defer_lock);
  while (!lock.try_lock_for(std::chrono::milliseconds(50))) {
    if (params.cancel != nullptr && params.cancel->load()) {
      SolveResult result;
      result.termination = SolveTermination::kCancelled;
      return result;
    }
  }
  try {
    return ProbeAndSolveLocked(model, params, time_limit);
  } catch (const CoinError& error) {
    active_state = nullptr;
    return absl::InternalError(absl::StrCat("CBC failed in ", error.className(),
                                            "::", error.methodName(), ": ",
                                            error.message()));
  } catch (const std::exception& error) {
    active_state = nullptr;
    return absl::InternalError(absl::StrCat("CBC failed: ", error.what()));
  } catch (...) {
    active_state = nullptr;
    return absl::InternalError("CBC failed with an unknown exception");
  }
}

// The model as Clp loads it: column-ordered (CSC) coefficients, CBC's
// infinities in the bounds, and the integer columns.
struct ColumnMajorModel {
  std::vector<CoinBigIndex> column_start;
  std::vector<int> row_index;
  std::vector<double> value;
  std::vector<double> col_lower, col_upper;
  std::vector<double> row_lower, row_upper;
  std::vector<int> integer_columns;
};

// Transposes `model`'s rows (CSR) into Clp's columns.
ColumnMajorModel ToColumnMajor(const IlpModel& model) {
  const int num_columns = model.num_columns();
  const int num_rows = model.num_rows();
  ColumnMajorModel out;
  std::vector<CoinBigIndex>& column_start = out.column_start;
  column_start.assign(num_columns + 1, 0);
  for (int column : model.row_column) ++column_start[column + 1];
  for (int j = 0; j < num_columns; ++j) {
    column_start[j + 1] += column_start[j];
  }
  out.row_index.resize(model.row_column.size());
  out.value.resize(model.row_column.size());
  {
    std::vector<CoinBigIndex> next(column_start.begin(),
                                   column_start.end() - 1);
    for (int i = 0; i < num_rows; ++i) {
      for (int64_t p = model.row_start[i]; p < model.row_start[i + 1]; ++p) {
        const CoinBigIndex q = next[model.row_column[p]]++;
        out.row_index[q] = i;
        out.value[q] = model.row_value[p];
      }
    }
  }
  out.col_lower.resize(num_columns);
  out.col_upper.resize(num_columns);
  for (int j = 0; j < num_columns; ++j) {
    out.col_lower[j] = ToCbc(model.col_lower[j]);
    out.col_upper[j] = ToCbc(model.col_upper[j]);
    if (model.is_integer[j]) out.integer_columns.push_back(j);
  }
  out.row_lower.resize(num_rows);
  out.row_upper.resize(num_rows);
  for (int i = 0; i < num_rows; ++i) {
    out.row_lower[i] = ToCbc(model.row_lower[i]);
    out.row_upper[i] = ToCbc(model.row_upper[i]);
  }
  return out;
}

// Loads `columns` into `lp`, silenced.
void LoadLp(const IlpModel& model, const ColumnMajorModel& columns,
            OsiClpSolverInterface& lp) {
  lp.messageHandler()->setLogLevel(0);
  lp.getModelPtr()->setLogLevel(0);
  lp.loadProblem(model.num_columns(), model.num_rows(),
                 columns.column_start.data(), columns.row_index.data(),
                 columns.value.data(), columns.col_lower.data(),
                 columns.col_upper.data(), model.objective.data(),
                 columns.row_lower.data(), columns.row_upper.data());
  if (!columns.integer_columns.empty()) {
    lp.setInteger(columns.integer_columns.data(),
                  static_cast<int>(columns.integer_columns.size()));
  }
}

// Gives CBC `initial_solution` (one value per column) as its MIP start.
void SetMipStart(const OsiClpSolverInterface& lp,
                 const std::vector<int>& integer_columns,
                 const std::vector<double>& initial_solution, CbcModel& cbc) {
  // CBC matches MIP-start values by column name; without names set, a
  // column is called "C%07d" (cbc.md §4). All integer columns are given,
  // zeros included, so that none is left free.
  std::vector<std::pair<std::string, double>> start;
  start.reserve(integer_columns.size());
  for (int j : integer_columns) {
    start.emplace_back(lp.getColName(j), std::round(initial_solution[j]));
  }
  cbc.setMIPStart(start);
}

// CbcMain1's arguments for a solve of `params` within `time_limit` seconds.
// The "lite" settings measured best for placement ILPs (cbc.md §5):
// preprocessing and the Gomory/two-MIR/zero-half generators cost memory,
// make the limit and cancellation slow (their passes cannot be
// interrupted), and zero-half cuts can crash CBC on large models. Small
// models get the Gomory and two-MIR passes back at the root (below).
// -timeMode elapsed: the limit is wall-clock, not CPU time.
// -integerTolerance 1e-7 (CBC's default, pinned): placement rows carry
// large coefficients, and the caller rounds the values we return.
// -probingCuts off: with preprocessing off, probing's column cuts on the
// continuous capacity columns can cross a lower bound over its upper one,
// and Debian's Clp then aborts the process in
// ClpNonLinearCost::checkInfeasibilities (coin-or/Clp#173; reproduced by
// tests/testdata/clp_probing_abort.*). Turning it off cost nothing in
// `autotm-bench paper --quick` (same plans, 63.7 s against 65.6 s).
// -feasibilityPump off: the pump's second major pass can make Debian's Clp
// abort in OsiClpSolverInterface::crunch on a reduced problem
// (coin-or/Clp#288; reproduced by tests/testdata/clp_pump_abort.*). Our
// solves rarely need it: models of 20,000 columns or more start from a
// plan. Without it the paper's 24 static and sync cells at 8:1-1:1 stayed
// optimal within their gaps and took 194 s instead of 237 s.
// -ratioGap / -allowableGap: CBC measures its ratio gap against its own
// objective, which lacks the model's constant offset (see
// SolveState::AllowableGap). With an offset the ratio is off and the gap is
// absolute instead: relative_gap of the start solution's objective (offset
// included) to begin with, then of each incumbent (CbcEvents).
// Whether `model` gets the root cuts (SolveParams::root_cuts_max_columns).
bool RootCutsOn(const IlpModel& model, const SolveParams& params) {
  return model.num_columns() < params.root_cuts_max_columns;
}

std::vector<std::string> CbcArguments(const IlpModel& model,
                                      const SolveParams& params,
                                      double time_limit,
                                      bool reduce_and_split) {
  const bool offset = model.objective_offset != 0;
  // CBC's default absolute gap (1e-10) until an incumbent sets it.
  std::string allowable_gap = "1e-10";
  if (offset && params.initial_solution.size() == model.objective.size()) {
    allowable_gap =
        FormatDouble(params.relative_gap *
                     std::abs(model.Evaluate(params.initial_solution)));
  }
  const std::pair<const char*, std::string> options[] = {
      {"-log", "0"},
      {"-timeMode", "elapsed"},
      {"-sec", FormatDouble(time_limit)},
      {"-ratioGap", offset ? "0" : FormatDouble(params.relative_gap)},
      {"-allowableGap", allowable_gap},
      {"-threads", absl::StrCat(params.threads)},
      {"-integerTolerance", "1e-7"},
      {"-preprocess", "off"},
      {"-gomoryCuts", "off"},
      {"-twoMirCuts", "off"},
      {"-zeroHalfCuts", "off"},
      {"-probingCuts", "off"},
      {"-feasibilityPump", "off"},
  };
  std::vector<std::string> arguments = {"cbc"};
  for (const auto& [name, value] : options) {
    arguments.push_back(name);
    arguments.push_back(value);
  }
  // Below the size limit, Gomory and two-MIR cuts at the root (not in the
  // tree): the capacity rows are telescoped through continuous sums, where
  // knapsack covers see little, and these generators' mixed-integer
  // rounding of the aggregated rows is what lifts the LP bound. Without
  // them CBC's search on the captured ResNet-18 bs2 and bs16 sync models at
  // 10% of peak ended the 60 s limit 2.4-4.3% from a bound that had hardly
  // left the LP's; with them both are proven within 0.3% in seconds (see
  // SolveParams::root_cuts_max_columns). `reduce_and_split` adds
  // reduce-and-split cuts (CglRedSplit) there: the bound probe's root
  // (SolveParams::bound_probe).
  if (RootCutsOn(model, params)) {
    for (const char* name : {"-gomoryCuts", "-twoMirCuts"}) {
      arguments.push_back(name);
      arguments.push_back("root");
    }
    if (reduce_and_split) {
      arguments.push_back("-reduceAndSplitCuts");
      arguments.push_back("root");
    }
    if (params.root_cut_passes > 0) {
      arguments.push_back("-passCuts");
      arguments.push_back(absl::StrCat(params.root_cut_passes));
    }
  }
  if (!params.heuristics) {
    arguments.push_back("-heuristicsOnOff");
    arguments.push_back("off");
  }
  if (params.max_nodes >= 0) {
    arguments.push_back("-maxNodes");
    arguments.push_back(absl::StrCat(params.max_nodes));
  }
  arguments.push_back("-solve");
  arguments.push_back("-quit");
  return arguments;
}

// Takes CBC's best solution into result->values, if it has one that
// satisfies `model`. Internal when it violates the model after a normal
// finish (`stopped` false): a CBC fault.
absl::Status TakeSolution(const IlpModel& model, CbcModel& cbc, bool stopped,
                          SolveResult* result) {
  const int num_columns = model.num_columns();
  // Results are back in the original column space after CbcMain1.
  if (const double* x = cbc.bestSolution();
      x != nullptr && cbc.getNumCols() == num_columns) {
    result->values.assign(x, x + num_columns);
    const double violation = Violation(model, result->values);
    if (!(violation <= kMaxRelativeViolation)) {
      // A cancel can leave a half-rebuilt vector behind; then the incumbent
      // is lost but the outcome stands. Anywhere else it is a CBC fault.
      if (!stopped) {
        return absl::InternalError(absl::StrFormat(
            "CBC returned a solution violating the model by %g", violation));
      }
      result->values.clear();
    }
  }
  return absl::OkStatus();
}

// The solve's best bound, without the objective offset; `objective` is the
// incumbent's (offset included), read only when `has_solution`.
double SolveBound(const IlpModel& model, CbcModel& cbc, SolveState& state,
                  bool stopped, bool has_solution, double objective) {
  // The bound: CBC's after a normal finish; after a cancel CBC's bound can be
  // an aborted LP's value, so use the last one we reported. The callback's
  // root LP bound is valid in every case.
  double bound = state.last_bound();
  if (!stopped) {
    const double cbc_bound = FromCbc(cbc.getBestPossibleObjValue());
    // A limit can hit before the tree exists, when CBC's "bound" may just be
    // the incumbent, or "none" (+inf) without one; only trust it when it is
    // strictly below the incumbent, or finite when there is none.
    const bool trusted = has_solution
                             ? cbc_bound < objective - model.objective_offset ||
                                   cbc.isProvenOptimal()
                             : std::isfinite(cbc_bound);
    if (trusted) bound = std::max(bound, cbc_bound);
  }
  return bound;
}

// Sets result->termination (and tightens the bound of a proven optimum)
// from how the solve ended.
void ClassifyTermination(const SolveParams& params, double time_limit,
                         CbcModel& cbc, SolveState& state, bool cancelled,
                         bool has_solution, SolveResult* result) {
  const bool hit_limit = result->solve_seconds >= time_limit ||
                         state.deadline_seen() || state.stall_seen();
  if (cancelled) {
    result->termination = SolveTermination::kCancelled;
  } else if (has_solution &&
             ((cbc.isProvenOptimal() &&
               (!hit_limit || result->relative_gap <= params.relative_gap)) ||
              (state.gap_closed() &&
               result->relative_gap <= params.relative_gap))) {
    // A bound above the incumbent is rounding noise once optimality is
    // proven.
    result->termination = SolveTermination::kOptimal;
    result->best_bound = std::min(result->best_bound, result->objective);
    result->relative_gap = RelativeGap(result->objective, result->best_bound);
  } else if (has_solution) {
    result->termination = SolveTermination::kFeasible;
  } else if (cbc.isProvenInfeasible() && !hit_limit) {
    // At the limit CBC can report "infeasible" for a search it cut short
    // (cbc.md §5b), so that case falls through to kNoSolution.
    result->termination = SolveTermination::kInfeasible;
    result->best_bound = kInfinity;
  } else {
    result->termination = SolveTermination::kNoSolution;
  }
}

absl::StatusOr<SolveResult> CbcBackend::SolveLocked(const IlpModel& model,
                                                    const SolveParams& params,
                                                    double time_limit,
                                                    bool reduce_and_split) {
  // A few seconds past CBC's own (soft) limit, the solve is stopped hard.
  constexpr double kHardDeadlineGraceSeconds = 3.0;
  SolveState state(params, model.objective_offset,
                   time_limit + kHardDeadlineGraceSeconds);
  SolveResult result;
  if (state.CancelRequested()) {
    result.termination = SolveTermination::kCancelled;
    return result;
  }
  const ColumnMajorModel columns = ToColumnMajor(model);
  OsiClpSolverInterface lp;
  LoadLp(model, columns, lp);
  // Installed before CbcModel copies the solver, so every LP copy CBC makes
  // inherits it.
  LpCancel lp_cancel(&state);
  lp.getModelPtr()->passInEventHandler(&lp_cancel);

  CbcModel cbc(lp);
  cbc.setLogLevel(0);
  CbcEvents events(&state);
  cbc.passInEventHandler(&events);

  CbcSolverUsefulData data;
  CbcMain0(cbc, data);
  data.noPrinting_ = true;
  if (!params.initial_solution.empty()) {
    SetMipStart(lp, columns.integer_columns, params.initial_solution, cbc);
  }
  // A library must not take over the process's SIGINT.
  data.useSignalHandler_ = false;

  const std::vector<std::string> arguments =
      CbcArguments(model, params, time_limit, reduce_and_split);
  std::vector<const char*> argv;
  for (const std::string& argument : arguments) {
    argv.push_back(argument.c_str());
  }
  // CbcMain1 reads further commands from CbcOrClpReadCommand (stdin by
  // default) when its arguments leave it wanting more, which would block a
  // process whose stdin is a terminal or a pipe. Point it at /dev/null,
  // here, once for every program that links the backend, rather than have
  // each main() give up its own stdin.
  static FILE* const no_commands = std::fopen("/dev/null", "r");
  if (no_commands != nullptr) CbcOrClpReadCommand = no_commands;
  active_state = &state;
  CbcMain1(static_cast<int>(argv.size()), argv.data(), cbc, CbcMainCallback,
           data);
  active_state = nullptr;

  result.solve_seconds = state.ElapsedSeconds();
  result.nodes = cbc.getNodeCount();
  const bool cancelled = state.cancel_seen();
  // A hard-deadline stop is a forced stop like a cancel: CBC's status and
  // bound are as untrustworthy, but it is reported as the limit it is.
  const bool stopped = cancelled || state.deadline_seen() || state.stall_seen();
  if (absl::Status status = TakeSolution(model, cbc, stopped, &result);
      !status.ok()) {
    return status;
  }
  const bool has_solution = !result.values.empty();
  if (has_solution) result.objective = model.Evaluate(result.values);
  result.best_bound =
      SolveBound(model, cbc, state, stopped, has_solution, result.objective) +
      model.objective_offset;
  result.relative_gap = RelativeGap(result.objective, result.best_bound);
  ClassifyTermination(params, time_limit, cbc, state, cancelled, has_solution,
                      &result);
  return result;
}

// A solve that stopped short (at the root, or its limit) with its incumbent
// within the gap of its bound is optimal within the gap; a cancel stays one.
void PromoteWithinGap(const SolveParams& params, SolveResult& result) {
  if (result.termination == SolveTermination::kFeasible &&
      result.relative_gap <= params.relative_gap) {
    result.termination = SolveTermination::kOptimal;
  }
}

absl::StatusOr<SolveResult> CbcBackend::ProbeAndSolveLocked(
    const IlpModel& model, const SolveParams& params, double time_limit) {
  if (!params.bound_probe || !RootCutsOn(model, params)) {
    return SolveLocked(model, params, time_limit, /*reduce_and_split=*/false);
  }
  // The probe: the root alone, with reduce-and-split, in at most a quarter
  // of the limit (under a second on the models this is for; a root cut
  // short still gives the LP's bound).
  SolveParams probe_params = params;
  probe_params.max_nodes = 0;
  AUTOTM_ASSIGN_OR_RETURN(SolveResult probe,
                          SolveLocked(model, probe_params, time_limit / 4,
                                      /*reduce_and_split=*/true));
  // A probe that overran its share (an uninterruptible cut pass, up to the
  // hard deadline's grace) leaves the search nothing: the call ends with
  // the probe's result rather than overrun its limit twice.
  const double search_limit = time_limit - probe.solve_seconds;
  if (probe.termination == SolveTermination::kCancelled ||
      probe.termination == SolveTermination::kInfeasible ||
      params.max_nodes == 0 || probe.relative_gap <= params.relative_gap ||
      !(search_limit > 0)) {
    PromoteWithinGap(params, probe);
    return probe;
  }
  SolveParams search_params = params;
  search_params.known_bound = std::max(params.known_bound, probe.best_bound);
  // The probe started from params.initial_solution, so its incumbent, when
  // it has one, is at least as good.
  if (probe.has_solution()) search_params.initial_solution = probe.values;
  AUTOTM_ASSIGN_OR_RETURN(SolveResult result,
                          SolveLocked(model, search_params, search_limit,
                                      /*reduce_and_split=*/false));
  result.solve_seconds += probe.solve_seconds;
  result.nodes += probe.nodes;
  if (!result.has_solution() && probe.has_solution() &&
      result.termination != SolveTermination::kInfeasible) {
    result.values = std::move(probe.values);
    result.objective = probe.objective;
    if (result.termination == SolveTermination::kNoSolution) {
      result.termination = SolveTermination::kFeasible;
    }
  }
  result.best_bound = std::max(result.best_bound, probe.best_bound);
  result.relative_gap = RelativeGap(result.objective, result.best_bound);
  PromoteWithinGap(params, result);
  return result;
}

}  // namespace

std::unique_ptr<Solver> MakeCbcSolver() {
  return std::make_unique<CbcBackend>();
}

}  // namespace autotm::solver
