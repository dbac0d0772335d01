// Plans a graph under a fast-memory budget: the public entry point of the
// solver library.
#ifndef AUTOTM_SOLVER_PLANNER_H_
#define AUTOTM_SOLVER_PLANNER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "autotm/v1/plan.pb.h"
#include "solver/defaults.h"
#include "solver/fragmentation.h"
#include "solver/graph_model.h"
#include "solver/profile_model.h"
#include "solver/solver.h"

namespace autotm::solver {

struct PlanOptions {
  // STATIC, SYNCHRONOUS or ASYNCHRONOUS (ILP), HEURISTIC (no ILP:
  // solver/heuristic.h, within time_limit_seconds), or ALL_FAST / ALL_SLOW /
  // FIRST_TOUCH (baselines). Default SYNCHRONOUS.
  v1::Method method = v1::METHOD_SYNCHRONOUS;
  // Fast-memory bytes available at every kernel.
  uint64_t budget_bytes = 0;
  // ASYNCHRONOUS: kernels within this distance of a tensor's user may
  // overlap copies of it. Default 15, as AutoTM.
  int async_window = kDefaultAsyncWindow;
  // Fast-pool offsets are multiples of this, and sizes count rounded up to
  // it. Default 4 KiB.
  uint64_t alignment_bytes = kDefaultAlignmentBytes;
  // ILP solve limits (see SolveParams). Defaults: 60 s, 1% relative gap.
  // The time limit is for the whole call: seed solves, ILP solves, window
  // search and pool layouts. Large ASYNCHRONOUS models keep the time of
  // the final layout in hand, and so does every allocation round after the
  // first (its CBC limit leaves the longest layout so far); a first round
  // lays its plan out after the solver stops, which can end the call up to
  // one layout past the limit (0.6 s on the zoo's largest graph,
  // DenseNet-264 bs512). CBC itself may overrun short limits on large
  // models by up to a few seconds per solve (its hard stop).
  double time_limit_seconds = kDefaultTimeLimitSeconds;
  double relative_gap = kDefaultRelativeGap;
  int threads = 0;
  const std::atomic<bool>* cancel = nullptr;
  std::function<void(const SolveProgress&)> on_progress;
  // ILP methods: an optional plan to start the solver from (not owned; must
  // outlive the call), typically the plan of the same graph, profile and
  // variant under a smaller budget, which is valid under this one. It is
  // encoded into the ILP's columns and passed as a MIP start in preference
  // to the built-in ones (see PlanOutcome::warm_start_used). A plan that
  // does not fit this model (another graph, a move where this variant has no
  // decision point, more fast bytes at some kernel than its limit) is not an
  // error: it is skipped and PlanOutcome::warm_start_skipped says why.
  // Default none.
  const v1::Plan* warm_start = nullptr;
  // ASYNCHRONOUS solves of 60 s or more on models with fewer columns than
  // this run CBC in restarts (see docs/FORMULATION.md); larger models do
  // not, since every restart solves the root LP again (over a minute on
  // DenseNet-264 bs512's 1.2 M columns), and search windows instead (see
  // window_search). Default 100,000.
  int async_restart_max_columns = 100000;
  // ASYNCHRONOUS solves in restarts (above): each slice runs CBC's Gomory and
  // two-MIR root cuts on models with fewer columns than this, where other
  // solves stop at SolveParams::root_cuts_max_columns (50,000), provided the
  // slice's limit is at least kRootCutSecondsPerColumn per column (the cut
  // passes cannot be interrupted). The async LP relaxation lets a copy
  // overlap a kernel in fractions, so its root bound sits well below the
  // sync model's; the cuts lifted it by 2.8% on the captured GPT-small bs8
  // at 10% of peak (57,565 columns, 9 s of cuts) and by 6.8% on ResNet-18
  // bs2 (91,782 columns, 16 s), on a 2-core VM at load 6
  // (docs/FORMULATION.md, "Solving with CBC"). 0: the general limit only.
  // Default 100,000.
  int async_root_cuts_max_columns = 100000;
  // SYNCHRONOUS calls of 60 s or more (the call's limit: a round's own limit
  // is below it after the seed and the layout reserve) on models with fewer
  // columns than this run CBC in restarts too. CBC's tree on these models
  // can stall on one open node that its node selection never revisits (the
  // captured MobileNet v2 bs2 at 10%); a restart from the incumbent builds a
  // new tree without it. The limit is the root cuts' (SolveParams::
  // root_cuts_max_columns): below it the root, solved again by every slice,
  // takes seconds. 0: sync solves never restart. Default 50,000.
  int sync_restart_max_columns = 50000;
  // ASYNCHRONOUS models of async_restart_max_columns or more, given 60 s
  // or more: stop CBC after its root and spend the rest of the time in
  // window search (solver/window_search.h). False lets CBC branch on the
  // whole model instead (for comparison). Default true.
  bool window_search = true;
  // ASYNCHRONOUS models searched by windows (above): their root runs one
  // round of CBC's Gomory and two-MIR cuts (SolveParams::root_cut_passes)
  // on models with fewer columns than this, provided the root's limit is at
  // least kWindowRootCutSecondsPerColumn per column (neither the LP nor a
  // round of cuts can be interrupted for long). The bound of the whole call
  // is this root's: on the captured ResNet-50 bs2 at 25% of peak one round
  // lifted it from 4.4% below the best plan known to 1.1%
  // (docs/FORMULATION.md, "Root cuts on asynchronous models in windows").
  // The cap keeps the round off DenseNet-121 (720,413 columns), whose LP
  // alone took 174 s: a round after it would outlast a 300 s call. 0: none.
  // Default 500,000.
  int window_root_cuts_max_columns = 500000;
  // ASYNCHRONOUS: FormulationOptions::lift_overlap_rows. Default true.
  bool lift_overlap_rows = true;
  // ASYNCHRONOUS models of graphs with at most this many IlpLiveEntries
  // (one nonzero per live tensor per kernel) get direct capacity rows
  // (FormulationOptions::telescope_capacity false): the same LP, but CBC's
  // Gomory and two-MIR cuts, which the telescoped rows hide the kernels'
  // knapsacks from, lift the root bound much further. On the captured
  // ResNet-18 bs16 at 10% of peak (85,199 entries) the root with cuts rose
  // from 3.8% to 1.6% under the sync plan, and the 300 s call went from a
  // 3.45-3.91% gap to 0.98% in 129 s (docs/EVALUATION.md, "Async at 300 s:
  // direct capacity rows"). The cap keeps the window-search models as they
  // were: MobileNet v2 bs2 (547,791 entries) gained little in its 300 s
  // call (3.68% -> 3.59%) and ResNet-50 (560,967) was not measured;
  // DenseNet-121 bs2 (3.7 M) would have 9.3 M nonzeros instead of 2.5 M.
  // 0: always telescoped. Default 200,000.
  int64_t async_direct_capacity_max_live_entries = 200000;
  // ILP methods: plan with the heuristic first (solver/heuristic.h) and let
  // its plan compete and start CBC. False leaves it out, for comparison
  // (`autotm-corpus-bench --compare-heuristic`); first touch still competes.
  // Default true.
  bool heuristic = true;
  // ILP methods: stop a CBC solve of this call whose incumbent has not
  // improved for this many seconds (SolveParams::stall_seconds); 0: only the
  // time limit stops it. The planner sets it on the seed solves it runs
  // itself (see adaptive_seed_time). Default 0.
  double stall_seconds = 0;
  // SYNCHRONOUS and ASYNCHRONOUS: how the call's time is shared with the
  // poorer variant's seed solve (docs/FORMULATION.md, "Time shares"). True:
  // the seed may use up to half of the time (an async call's sync seed) or
  // a quarter (a sync call's static seed), but stops as soon as its incumbent
  // stalls for max(2 s, 5% of the limit) or is proven within the gap, and
  // the richer model gets everything left. False: the fixed quarter of
  // earlier versions, stopped only by the gap, for comparison
  // (`autotm-corpus-bench --compare-time-shares`). Default true.
  bool adaptive_seed_time = true;
  // TWO_LEVEL_MEMORY: the simulated cache's line size, a power of two from
  // 64 bytes to 1 GiB (solver/two_level_memory.h). Default 64, as Optane's
  // Memory Mode.
  uint64_t cache_line_bytes = 64;
  // ILP methods: let the ILP drop tensors and recompute them instead of
  // keeping or moving them (FormulationOptions::recompute; `--recompute
  // none|auto`). The call then starts from the poorer variant's plan: STATIC
  // from plain static (a quarter of the time), SYNCHRONOUS from plain sync
  // and ASYNCHRONOUS from sync with recomputation (up to half of the time,
  // as plain ASYNCHRONOUS starts from sync), so within a call it is never
  // slower than that plan. Default false.
  bool recompute = false;
  // ILP methods: the largest model to build, as live (tensor, kernel) pairs
  // - the sum over tensors of their lifetimes in kernels, IlpLiveEntries().
  // The formulation has a capacity row per kernel over the tensors live
  // there (and per-kernel live sets behind it), so its memory grows with
  // this count, quadratically in kernels when long-lived tensors such as
  // weights are live everywhere. Above it the call builds no ILP and returns
  // the heuristic's plan (no moves for STATIC), termination HEURISTIC, with
  // stats.solver ("heuristic (ILP skipped: ...)") and the diagnostic
  // saying so. Default 32 M (2^25): three
  // times the zoo's largest graph (DenseNet-264: 10.4 M, its topology the
  // same at every batch); a 20,000-kernel chain of copies of the example CNN
  // has 112 M.
  int64_t max_ilp_live_entries = int64_t{32} << 20;
  // ILP methods: find runs of structurally identical kernel blocks
  // (solver/repetition.h), solve the model with the columns of
  // corresponding tensors and kernels tied (one block's columns stand for
  // every block's), broadcast its plan, let it compete like every other
  // plan in hand and start the full ILP from it. Skipped when the ties
  // remove less than a tenth of the integer columns. The tied solve gets up
  // to a third of the time left and stops when it stalls. Default false:
  // measured on the zoo and captured graphs (docs/FORMULATION.md,
  // "Repetition"), the full ILP alone was as good or better at equal
  // limits (sync models solve within the limit anyway; the tied time is
  // taken from the full solve); `autotm-corpus-bench --compare-repetition`
  // repeats the comparison.
  bool exploit_repetition = false;
  // ILP methods: the work each allocation round's layout repair may do
  // (up to 256 squeaky-wheel layouts after the classic orders for static
  // and sync rounds, 16 for async ones), in BestFitLayout::work() steps, a
  // count independent of the clock: a round's layout, and with it the
  // rounds that follow, is then the same on a loaded machine as on an idle
  // one. The clock stops the repair only on a starved machine, after twice
  // LayoutRepairReserveSeconds or when the call's time runs out
  // (AllocationRound::repair_stopped_by_time). Default (nullopt):
  // LayoutRepairWork(time_limit_seconds).
  std::optional<int64_t> layout_repair_work;
  // Whether the call's layouts (the allocation rounds', the checks of CBC's
  // incumbents and window search's candidates, the heuristic's and its
  // layout repair's, first touch's) try the skyline layouts after best fit's
  // classic orders (AssignOffsets). Off: best fit alone, as before 2026-12-07 -
  // for tests of the fragmentation loop, whose small random plans the skyline
  // otherwise fits in round 1.
  bool skyline_layouts = true;
};

// What PlanOptions::exploit_repetition found and did in one call (the
// call's own variant; seed solves report nothing here).
struct RepetitionReport {
  int runs = 0;             // runs of repeated blocks found
  int covered_kernels = 0;  // kernels inside them
  int tied_tensors = 0;     // tensors tied to one of an earlier block
  // The full and the tied model's sizes (round 1).
  int full_integer_columns = 0;
  int full_rows = 0;
  int tied_integer_columns = 0;
  int tied_rows = 0;
  // False when the ties removed too little for a tied solve to pay.
  bool solved = false;
  double solve_seconds = 0;
  // The broadcast plan's predicted time, after layout (repair); unset when
  // the tied solve found no plan that fits.
  std::optional<double> broadcast_time_us;
};

// One allocation round of an ILP call (the fragmentation loop: solve under
// per-kernel fast-byte limits, lay the plan out in a pool of the budget,
// lower the limits where it overflowed; solver/fragmentation.h).
struct AllocationRound {
  // The fast-byte limit of every kernel in this round (the budget in round
  // 1; lowered where earlier rounds' plans overflowed, or halfway back up
  // while bisecting between limits that fit and limits that did not).
  std::vector<uint64_t> limits;
  // The round's solve: wall seconds, and its plan's predicted time (+inf
  // when it found none).
  double solve_seconds = 0;
  double objective_us = std::numeric_limits<double>::infinity();
  // The pool the plan's layout needed (with layout repair rounds), and by
  // how much and where it overflowed the budget (empty when it fits).
  uint64_t required_bytes = 0;
  bool fits = false;
  PoolOverflow overflow;
  // Wall seconds of the layout (classic orders and repair layouts).
  double layout_seconds = 0;
  // The repair layouts that followed the classic orders (skyline and
  // squeaky-wheel: AllocationReport's skyline_layouts + repair_rounds),
  // their work (AllocationReport::repair_work), and whether the clock
  // stopped them (the call's time ran out) rather than their count, their
  // work or a fit.
  int repair_layouts = 0;
  int64_t repair_work = 0;
  bool repair_stopped_by_time = false;
};

// Where PlanOutcome::plan came from.
enum class PlanSource {
  kNone,          // no plan
  kBaseline,      // a baseline method was asked for
  kIlp,           // this call's ILP at the requested variant (any round)
  kSeed,          // the poorer variant's plan the call started from
  kWarmStart,     // PlanOptions::warm_start, valid under this budget
  kWindowRepair,  // window search around the best plan in hand
  kLayoutRepair,  // the ILP's plan that overflowed the pool, layout repaired
  kFirstTouch,    // the first-touch baseline
  kHeuristic,     // the pricing heuristic (solver/heuristic.h)
  kRepetition,    // the tied model's plan, broadcast (exploit_repetition)
};

// What a planning request produced. `stats.termination()` says why it ended
// and `stats` also carries model size and timings; `plan` is set exactly when
// a plan exists (OPTIMAL, FEASIBLE, HEURISTIC, and CANCELLED with an
// incumbent). `diagnostic` explains INFEASIBLE / NO_SOLUTION outcomes (e.g.
// naming the kernel whose must-be-fast operands exceed the budget) and any
// plan that is not the ILP's own.
//
// Guarantees of an ILP call, whatever its time limit or however the solver
// behaves: every plan it returns is laid out in a pool of the budget
// (offsets included) and is the fastest valid plan it met - never slower
// than the heuristic's plan and first touch (solver/heuristic.h; the
// heuristic moves nothing for STATIC), than the poorer variant's
// plan it started from (`seed_time_us`: the synchronous plan for
// ASYNCHRONOUS, so sync >= async within a call; for SYNCHRONOUS without a
// warm start the static plan, so static >= sync within a call on every
// model - CBC starts from it only on models of 20,000 columns or more,
// smaller ones let it compete), than a valid PlanOptions::warm_start, or
// than a window repair. A plan that is not this call's ILP plan says so in
// `source` and `diagnostic`; its termination is OPTIMAL only when this call's
// first-round bound proves it within the relative gap, else HEURISTIC for the
// heuristic's and first touch's plans and FEASIBLE for optimised ones
// (CANCELLED stays CANCELLED). FEASIBLE after
// allocation rounds whose lowered limits were solved to optimality is a
// layout-forced stop, not the time limit; the diagnostic says so.
struct PlanOutcome {
  v1::SolverStats stats;
  std::optional<v1::Plan> plan;
  std::string diagnostic;
  // True when PlanOptions::warm_start was passed to the solver as its
  // starting solution (in at least one solve of this call).
  bool warm_start_used = false;
  // Why a given PlanOptions::warm_start was not used; empty when it was
  // used or none was given.
  std::string warm_start_skipped;
  // Where `plan` came from.
  PlanSource source = PlanSource::kNone;
  // Predicted time of the poorer variant's plan this call started from
  // (SYNCHRONOUS without a warm start: the static plan;
  // ASYNCHRONOUS: the synchronous plan), whatever produced it; unset when
  // there was none.
  // `plan` is never slower.
  std::optional<double> seed_time_us;
  // ILP calls: predicted time of the heuristic's plan the call had
  // (solver/heuristic.h; without moves for STATIC); unset when the heuristic
  // found none. `plan` is never slower.
  std::optional<double> heuristic_time_us;
  // Set when PlanOptions::exploit_repetition looked for repetition.
  std::optional<RepetitionReport> repetition;
  // ILP calls: the call's own allocation rounds, in order (seed solves'
  // rounds are not included).
  std::vector<AllocationRound> allocation_rounds;
};

// The size PlanOptions::max_ilp_live_entries limits: the sum over tensors of
// (last_live - first_live + 1). O(tensors), from the live intervals.
int64_t IlpLiveEntries(const GraphModel& graph);

// Plans `graph` with `profile`. Errors (not outcomes): FailedPrecondition
// when the profile lacks kernels of the graph (listing them) or a baseline
// needs a configuration the profile lacks; InvalidArgument for bad options.
// `solver` is used for ILP methods and may be null for baselines.
absl::StatusOr<PlanOutcome> PlanGraph(const GraphModel& graph,
                                      const ProfileModel& profile,
                                      const PlanOptions& options,
                                      Solver* solver);

// The time an ILP call keeps back from each allocation round's solve for
// laying out its plan with repair rounds (solver/allocator.h): 5% of the
// call's limit, between 0.2 s and 3 s. A solve of a call with limit L gets
// at most L - LayoutRepairReserveSeconds(L) (less what earlier stages used).
double LayoutRepairReserveSeconds(double time_limit_seconds);

// The default PlanOptions::layout_repair_work of a call with limit L:
// kLayoutRepairStepsPerSecond steps per second of
// LayoutRepairReserveSeconds(L), 18 M at 60 s. Sized from measurements on
// the 2-core VM (docs/EVALUATION.md, "Deterministic repair layouts"): a
// layout step cost 30-50 ns of CPU on the captured Inception v3 bs2, so
// the repair takes about a quarter of the reserve on a core of its own and
// fits the clock's safety net (two reserves) down to about an eighth of a
// core; the repairs that fit in the measured cells took at most 13.4 M.
inline constexpr double kLayoutRepairStepsPerSecond = 6e6;
int64_t LayoutRepairWork(double time_limit_seconds);

// The root cut cap (SolveParams::root_cuts_max_columns) of one slice of an
// ASYNCHRONOUS solve in restarts, on a model of `columns` columns with
// `slice_seconds` of limit: PlanOptions::async_root_cuts_max_columns when the
// slice has at least kRootCutSecondsPerColumn per column, else the general
// kDefaultRootCutsMaxColumns. Never below the general cap. The time rule keeps
// an uninterruptible cut pass from taking a short slice (the last one gets
// what is left) past the call's limit. The constant is about 2.5 times the
// measured cost: Gomory and two-MIR at the root took 8.7 s on 57,565
// columns and 16.3 s on 91,782 (0.15-0.18 ms a column) on the 2-core VM at
// load 6, so a 300 s call's slices (a quarter of the time first) all
// qualify, while a few seconds left at the end do not.
inline constexpr double kRootCutSecondsPerColumn = 4e-4;
int AsyncSliceRootCutsMaxColumns(const PlanOptions& options, int columns,
                                 double slice_seconds);

// The root cut cap of the root of an ASYNCHRONOUS solve by windows, on a
// model of `columns` columns whose root has `root_seconds` of limit:
// PlanOptions::window_root_cuts_max_columns when the root has at least
// kWindowRootCutSecondsPerColumn per column, else 0 (no cuts; the general
// cap is below every such model). The root then runs one round of cuts.
// The LP and a round together took 0.22 ms a column on ResNet-50 bs2
// (246,796 columns: 32 s and 23 s) and 0.34 ms on Inception v3 bs2
// (464,146: 66 s and 94 s), each beside another solve on the 2-core VM. A
// root whose round runs over its limit eats into the windows' quarter of
// the time, so the rule is near the measured cost, not far below it; at
// 0.2 ms the 300 s calls on Inception v3 bs2 still ended in 290-295 s.
inline constexpr double kWindowRootCutSecondsPerColumn = 3e-4;
int WindowRootCutsMaxColumns(const PlanOptions& options, int columns,
                             double root_seconds);

// STATIC, SYNCHRONOUS and ASYNCHRONOUS: the methods that solve an ILP (and
// need a Solver); every other method plans without one.
bool IsIlpMethod(v1::Method method);

const char* MethodName(v1::Method method);       // "sync", "static", ...
const char* TerminationName(v1::Termination t);  // "OPTIMAL", ...

}  // namespace autotm::solver

#endif  // AUTOTM_SOLVER_PLANNER_H_
