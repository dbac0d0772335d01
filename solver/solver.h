// The interface between the formulation and a MIP solver backend.
#ifndef AUTOTM_SOLVER_SOLVER_H_
#define AUTOTM_SOLVER_SOLVER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "solver/defaults.h"
#include "solver/ilp_model.h"

namespace autotm::solver {

enum class SolveTermination {
  kOptimal,     // proven optimal within the relative gap
  kFeasible,    // a solution, stopped at the time limit
  kInfeasible,  // proven infeasible (never reported when a limit was hit)
  kNoSolution,  // stopped at a limit without any solution
  kCancelled,   // stopped by SolveParams::cancel; values hold the incumbent
};

const char* SolveTerminationName(SolveTermination termination);

struct SolveProgress {
  double elapsed_seconds = 0;
  // Best solution value so far (+inf when none) and best lower bound
  // (-inf when none), both including IlpModel::objective_offset.
  double incumbent = kInfinity;
  double bound = -kInfinity;
  // (incumbent - bound) / max(1e-10, |incumbent|); +inf when undefined.
  double relative_gap = kInfinity;
  int64_t nodes = 0;
  // Window search (solver/window_search.h): window MIPs solved so far; 0
  // while CBC searches the whole model.
  int64_t windows = 0;
};

struct SolveParams {
  // Wall-clock limit in seconds. Default 60.
  double time_limit_seconds = kDefaultTimeLimitSeconds;
  // Stop when (incumbent - bound) / |incumbent| falls below this. Default 1e-4.
  double relative_gap = 1e-4;
  // Solver threads; 0 = serial (deterministic). Default 0.
  int threads = 0;
  // When non-null and set to true by another thread, the solve stops soon
  // (typically well under a second) and returns kCancelled with its incumbent.
  const std::atomic<bool>* cancel = nullptr;
  // Called from the solving thread (or its workers) with progress, at most
  // about once a second plus once per new incumbent. Keep it cheap.
  std::function<void(const SolveProgress&)> on_progress;
  // Stop after this many branch-and-bound nodes; 0 stops after the root
  // (its LP, cuts and heuristics: the bound and any incumbent found there).
  // Default -1: no limit.
  int64_t max_nodes = -1;
  // When positive: once an incumbent exists, stop when it has not improved
  // for this many seconds (the initial solution counts as one). A stall stop
  // is a limit, like time_limit_seconds (kFeasible, or kOptimal within the
  // gap), not a cancel. The planner gives it to seed solves, so that the
  // time a stalled seed would waste goes to the richer model. Default 0:
  // never.
  double stall_seconds = 0;
  // Models with fewer columns than this also run CBC's Gomory and two-MIR
  // cut generators, at the root node only. On the placement ILPs their cuts
  // on the telescoped capacity rows lift the bound where the other
  // generators barely move it (the captured ResNet-18 bs2 sync model at 10%
  // of peak: the root bound rose from 4.2% below the best plan known to
  // 0.4%, in about a second); on models of 100,000 columns and more a
  // single pass of theirs takes tens of seconds and cannot be interrupted,
  // hence the limit (docs/FORMULATION.md, "Solving with CBC"). 0: never.
  int root_cuts_max_columns = kDefaultRootCutsMaxColumns;
  // When positive, at most this many rounds of those root cuts (CBC's
  // -passCuts; each round separates cuts and solves the LP again). The
  // first round does most of the lifting at a fraction of the cost: on the
  // captured ResNet-50 bs2 async model at 25% of peak (246,796 columns) the
  // LP bound was 69,203 us, one round lifted it to 71,564 us in 23 s, and
  // CBC's own number of rounds to 71,917 us in 110 s. Default 0: CBC's.
  int root_cut_passes = 0;
  // CBC's primal heuristics (rounding, diving, RINS, ...). Off, a solve
  // finds incumbents only in the LP's integral solutions and the start it
  // is given, and its root spends its time on the LP and the cuts. Window
  // search's root (planner.cc, SolveRootThenWindows) turns them off: it
  // starts from the synchronous plan, its heuristics rarely beat that plan
  // on models of 100,000 columns and more, and their time at a root cut
  // short by its limit is taken from the cuts that lift the bound (on
  // Inception v3 bs2 async at 50% of peak the root bound rose from 72,214
  // to 72,909 us). Default true.
  bool heuristics = true;
  // Before the search, a root-only solve (max_nodes 0, at most a quarter of
  // the limit) that adds reduce-and-split cuts to the root cuts, on models
  // below root_cuts_max_columns only. Its bound becomes known_bound and its
  // incumbent the start when better; the search that follows runs without
  // them. Reduce-and-split closes roots Gomory and two-MIR leave open (the
  // zoo's ResNet-50 bs32 sync model at 10% of peak: the root bound went from
  // 1.7% below the optimum to 0.01%), but left in the search they can stall
  // its bound where the search without them raises it (the captured
  // MobileNet v2 bs2 sync model at 10%: 2.85% after 60 s against 1.53%), so
  // the two bounds are taken from separate solves of the same model. The
  // planner asks for it on synchronous and static solves; on asynchronous
  // models the generator's work cap leaves it nothing to add. Default false.
  bool bound_probe = false;
  // A lower bound on the model's optimum (offset included) known from
  // elsewhere: an earlier solve of the same model, or bound_probe. The
  // reported bound never falls below it, and the search stops, as optimal
  // within relative_gap, once its incumbent is within relative_gap of it.
  // Must not be NaN or +inf. Default -inf: none.
  double known_bound = -kInfinity;
  // Optional feasible solution to start from (one value per column; the
  // integer columns are what counts, continuous ones are re-solved). It
  // guarantees an incumbent on models too large for the solver to find one
  // in time, but can steer the search away from its own heuristics, so
  // pass it where finding any solution is the problem. Empty: none.
  std::vector<double> initial_solution;
};

struct SolveResult {
  SolveTermination termination = SolveTermination::kNoSolution;
  // One value per column when a solution exists (empty for a model without
  // columns, which can still be solved).
  std::vector<double> values;
  // Including objective_offset. +inf without a solution.
  double objective = kInfinity;
  // Best proven lower bound, including objective_offset; -inf when unknown.
  double best_bound = -kInfinity;
  double relative_gap = kInfinity;
  double solve_seconds = 0;
  int64_t nodes = 0;
  // A solution exists exactly when its objective is finite.
  bool has_solution() const { return objective < kInfinity; }
};

// A MIP solver backend. Implementations document their thread safety.
class Solver {
 public:
  virtual ~Solver() = default;
  // E.g. "cbc 2.10.8".
  virtual std::string name() const = 0;
  // Solves `model` (minimisation). Infeasibility, limits and cancellation are
  // outcomes in SolveResult, not errors; a non-OK status means the backend
  // failed (InvalidArgument for a malformed model, Internal for a solver
  // crash it could catch).
  virtual absl::StatusOr<SolveResult> Solve(const IlpModel& model,
                                            const SolveParams& params) = 0;
};

}  // namespace autotm::solver

#endif  // AUTOTM_SOLVER_SOLVER_H_
