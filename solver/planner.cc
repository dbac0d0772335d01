#include "solver/planner.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "solver/allocator.h"
#include "solver/baselines.h"
#include "solver/formulation.h"
#include "solver/heuristic.h"
#include "solver/repetition.h"
#include "solver/schedule.h"
#include "solver/status_macros.h"
#include "solver/two_level_memory.h"
#include "solver/verifier.h"
#include "solver/window_search.h"

namespace autotm::solver {
namespace {

// The heuristic as a call with `options` runs it: moves unless STATIC, the
// call's alignment, time limit and cancellation. Callers that give it a
// share of the call narrow the time limit.
HeuristicOptions HeuristicOptionsOf(const PlanOptions& options) {
  HeuristicOptions heuristic;
  heuristic.allow_moves = options.method != v1::METHOD_STATIC;
  heuristic.alignment_bytes = options.alignment_bytes;
  heuristic.skyline_layouts = options.skyline_layouts;
  heuristic.time_limit_seconds = options.time_limit_seconds;
  heuristic.cancel = options.cancel;
  return heuristic;
}

v1::Termination ToProto(SolveTermination termination) {
  switch (termination) {
    case SolveTermination::kOptimal:
      return v1::TERMINATION_OPTIMAL;
    case SolveTermination::kFeasible:
      return v1::TERMINATION_FEASIBLE;
    case SolveTermination::kInfeasible:
      return v1::TERMINATION_INFEASIBLE;
    case SolveTermination::kNoSolution:
      return v1::TERMINATION_NO_SOLUTION;
    case SolveTermination::kCancelled:
      return v1::TERMINATION_CANCELLED;
  }
  return v1::TERMINATION_UNSPECIFIED;
}

// A plan's per-tensor schedule: creation tiers and moves, in plan order.
std::vector<TensorSchedule> ScheduleOf(const GraphModel& graph,
                                       const v1::Plan& plan) {
  std::vector<TensorSchedule> schedule(graph.num_tensors());
  for (int t = 0; t < graph.num_tensors() && t < plan.tensors_size(); ++t) {
    schedule[t].creation_tier = plan.tensors(t).creation_tier();
    schedule[t].kept_slow = plan.tensors(t).kept_slow_until_kernel() > 0;
  }
  for (const v1::Move& move : plan.moves()) {
    const int t = graph.FindTensor(move.tensor_id());
    if (t < 0) continue;
    schedule[t].moves.push_back(
        {static_cast<int>(move.kernel_index()), move.direction(), move.sync()});
  }
  for (const v1::Recompute& recompute : plan.recomputes()) {
    const int t = graph.FindTensor(recompute.tensor_id());
    if (t < 0) continue;
    ScheduledRecompute& entry = schedule[t].recomputes.emplace_back();
    entry.dropped_after =
        static_cast<int>(recompute.dropped_after_kernel_index());
    entry.before = static_cast<int>(recompute.before_kernel_index());
    for (const v1::RemadeInput& remade : recompute.remade_inputs()) {
      entry.remade_inputs.push_back(graph.FindTensor(remade.tensor_id()));
    }
  }
  return schedule;
}

// RepairLayout rebuilds a plan from its fast intervals, so `original`'s
// re-runs come back in `repaired` as moves: a write at the drop and a read
// at the re-run. Puts back every re-run whose tensor `repaired` writes to
// slow right at the drop and reads back right at the re-run (no move in
// between), and keeps slow the inputs `original` kept for re-runs: the fast
// intervals stay the same, and so does their layout. Returns the plan, laid
// out in the pool, when anything was put back and it still fits; nullopt
// otherwise.
std::optional<v1::Plan> RestoreRecomputes(const GraphModel& graph,
                                          const ProfileModel& profile,
                                          const v1::Plan& original,
                                          const v1::Plan& repaired,
                                          uint64_t budget_bytes,
                                          uint64_t alignment_bytes) {
  if (original.recomputes_size() == 0) return std::nullopt;
  const std::vector<TensorSchedule> wanted = ScheduleOf(graph, original);
  std::vector<TensorSchedule> schedule = ScheduleOf(graph, repaired);
  bool restored = false;
  for (int t = 0; t < graph.num_tensors(); ++t) {
    std::vector<ScheduledMove>& moves = schedule[t].moves;
    for (const ScheduledRecompute& recompute : wanted[t].recomputes) {
      for (size_t i = 0; i + 1 < moves.size(); ++i) {
        if (moves[i].kernel == recompute.dropped_after &&
            moves[i].direction == v1::MOVE_DIRECTION_TO_SLOW &&
            moves[i + 1].kernel == recompute.before &&
            moves[i + 1].direction == v1::MOVE_DIRECTION_TO_FAST) {
          moves.erase(moves.begin() + i, moves.begin() + i + 2);
          schedule[t].recomputes.push_back(recompute);
          restored = true;
          break;
        }
      }
    }
    std::sort(schedule[t].recomputes.begin(), schedule[t].recomputes.end(),
              [](const ScheduledRecompute& a, const ScheduledRecompute& b) {
                return a.before < b.before;
              });
  }
  if (!restored) return std::nullopt;
  const std::vector<std::vector<v1::Tier>> tiers =
      TiersOverTime(graph, schedule);
  for (int t = 0; t < graph.num_tensors(); ++t) {
    if (!wanted[t].kept_slow) continue;
    schedule[t].kept_slow = true;
    const int last = graph.tensor(t).last_live;
    const bool ends_moved_slow =
        !schedule[t].moves.empty() && schedule[t].moves.back().kernel == last &&
        schedule[t].moves.back().direction == v1::MOVE_DIRECTION_TO_SLOW;
    if (tiers[t].back() == v1::TIER_FAST && !ends_moved_slow) {
      schedule[t].moves.push_back({last, v1::MOVE_DIRECTION_TO_SLOW, true});
    }
  }
  absl::StatusOr<v1::Plan> plan =
      AssemblePlan(graph, profile, schedule, repaired.method(), budget_bytes);
  if (!plan.ok() || plan->peak_fast_bytes() > budget_bytes) return std::nullopt;
  absl::StatusOr<AllocationReport> layout =
      AssignOffsets(graph, budget_bytes, alignment_bytes, &*plan);
  if (!layout.ok() || !layout->fits) return std::nullopt;
  return *std::move(plan);
}

// The MIP start for `plan` in `formulation`, whose kernel limits are
// `limits`: InvalidArgument when the plan is for another graph or has a move
// where the formulation has no decision point, FailedPrecondition when its
// fast tensors exceed a kernel's limit (Encode does not check capacity, and
// CBC would only discard an infeasible start after trying it).
absl::StatusOr<std::vector<double>> EncodeWarmStart(
    const GraphModel& graph, const Formulation& formulation,
    const std::vector<uint64_t>& limits, uint64_t alignment_bytes,
    const v1::Plan& plan) {
  if (plan.tensors_size() != graph.num_tensors()) {
    return absl::InvalidArgumentError(
        absl::StrCat("it places ", plan.tensors_size(), " tensors; graph '",
                     graph.name(), "' has ", graph.num_tensors()));
  }
  for (int t = 0; t < graph.num_tensors(); ++t) {
    if (plan.tensors(t).tensor_id() != graph.tensor(t).id) {
      return absl::InvalidArgumentError(
          absl::StrCat("its tensor #", t, " is '", plan.tensors(t).tensor_id(),
                       "', the graph's is '", graph.tensor(t).id, "'"));
    }
  }
  const std::vector<TensorSchedule> schedule = ScheduleOf(graph, plan);
  // Fast bytes per kernel from the tier runs by a difference array: linear
  // in kernels + tensors + moves, not in the sum of the lifetimes.
  const std::vector<std::vector<TierRun>> runs =
      TierRunsOverTime(graph, schedule);
  std::vector<int64_t> fast_diff(graph.num_kernels() + 1, 0);
  for (int t = 0; t < graph.num_tensors(); ++t) {
    const TensorInfo& tensor = graph.tensor(t);
    const int64_t size =
        static_cast<int64_t>(AlignUp(tensor.size_bytes, alignment_bytes));
    for (size_t i = 0; i < runs[t].size(); ++i) {
      if (runs[t][i].tier != v1::TIER_FAST) continue;
      const int end = i + 1 < runs[t].size() ? runs[t][i + 1].first_kernel - 1
                                             : tensor.last_live;
      fast_diff[runs[t][i].first_kernel] += size;
      fast_diff[end + 1] -= size;
    }
  }
  uint64_t fast = 0;
  for (int k = 0; k < graph.num_kernels(); ++k) {
    fast += static_cast<uint64_t>(fast_diff[k]);
    if (fast > limits[k]) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "it keeps %u fast bytes at kernel %d ('%s'), above the limit of %u",
          fast, k, graph.kernel(k).id, limits[k]));
    }
  }
  return formulation.Encode(schedule);
}

// (objective - bound) / |objective|, at least 0; +inf without an objective
// or a bound (-inf).
double GapToBound(double objective, double bound) {
  if (!std::isfinite(objective) || !std::isfinite(bound)) return kInfinity;
  return std::max(0.0,
                  (objective - bound) / std::max(1e-10, std::abs(objective)));
}

// How a method's plans may move tensors: a plan of a method of lower or
// equal rank is a valid plan of the other (no moves < synchronous moves at
// users < asynchronous moves anywhere in their window).
int MoveRank(v1::Method method) {
  switch (method) {
    case v1::METHOD_SYNCHRONOUS:
      return 1;
    case v1::METHOD_HEURISTIC:  // synchronous moves, or none
      return 1;
    case v1::METHOD_ASYNCHRONOUS:
      return 2;
    default:
      return 0;  // static and the baselines never move a tensor
  }
}

// The fastest plan seen in a call that is valid for it: laid out in a pool
// of the budget with every offset assigned, from a method whose moves this
// variant allows. Ties keep the plan offered first.
class BestPlan {
 public:
  void Offer(const v1::Plan& plan, PlanSource source, std::string what) {
    if (best_.has_value() &&
        !(plan.predicted_time_us() < best_->predicted_time_us())) {
      return;
    }
    best_ = plan;
    source_ = source;
    what_ = std::move(what);
  }
  bool has_value() const { return best_.has_value(); }
  double time_us() const {
    return best_.has_value() ? best_->predicted_time_us() : kInfinity;
  }
  const v1::Plan& plan() const { return *best_; }
  PlanSource source() const { return source_; }
  const std::string& what() const { return what_; }

 private:
  std::optional<v1::Plan> best_;
  PlanSource source_ = PlanSource::kNone;
  std::string what_;
};

// Shared by a call and the seed solves it makes (same graph, profile,
// budget and alignment).
struct CallShared {
  // The first-touch plan, computed once; empty when first touch has none
  // (then `first_touch_why` says why).
  std::optional<v1::Plan> first_touch;
  std::string first_touch_why;
  bool first_touch_done = false;
  // The heuristic's plans without moves (for STATIC) and with them, each
  // computed once; empty when it has none (then `heuristic_why` says why).
  std::optional<v1::Plan> heuristic[2];
  std::string heuristic_why[2];
  bool heuristic_done[2] = {false, false};
};

const std::optional<v1::Plan>& FirstTouchOf(const GraphModel& graph,
                                            const ProfileModel& profile,
                                            const PlanOptions& options,
                                            CallShared& shared) {
  if (!shared.first_touch_done) {
    shared.first_touch_done = true;
    // First touch may be impossible under the profile (a kernel whose
    // outputs can only be fast, as PyTorch ops without an out= kernel, when
    // the output does not fit at creation, or a configuration the profile
    // does not list): not an error, the ILP may still find a plan.
    absl::StatusOr<PlanOutcome> baseline = RunBaseline(
        graph, profile, v1::METHOD_FIRST_TOUCH, options.budget_bytes,
        options.alignment_bytes, options.skyline_layouts);
    if (baseline.ok() && baseline->plan.has_value()) {
      shared.first_touch = std::move(baseline->plan);
    } else {
      shared.first_touch_why =
          baseline.ok() ? baseline->diagnostic
                        : absl::StrCat("first touch has no plan either: ",
                                       baseline.status().message());
    }
  }
  return shared.first_touch;
}

// The heuristic gets a tenth of the call's time, at most 10 s; it usually
// needs far less (it stops after its pricing rounds).
const std::optional<v1::Plan>& HeuristicOf(const GraphModel& graph,
                                           const ProfileModel& profile,
                                           const PlanOptions& options,
                                           CallShared& shared) {
  const bool moves = options.method != v1::METHOD_STATIC;
  if (!shared.heuristic_done[moves]) {
    shared.heuristic_done[moves] = true;
    HeuristicOptions heuristic_options = HeuristicOptionsOf(options);
    heuristic_options.time_limit_seconds =
        std::min(10.0, options.time_limit_seconds / 10);
    heuristic_options.compare_first_touch = false;  // the call offers it
    // Like first touch, the heuristic may find no plan the profile can
    // price; the ILP may still.
    absl::StatusOr<PlanOutcome> heuristic =
        RunHeuristic(graph, profile, options.budget_bytes, heuristic_options);
    if (heuristic.ok() && heuristic->plan.has_value()) {
      shared.heuristic[moves] = std::move(heuristic->plan);
    } else {
      shared.heuristic_why[moves] =
          heuristic.ok() ? heuristic->diagnostic
                         : absl::StrCat("the heuristic has no plan: ",
                                        heuristic.status().message());
    }
  }
  return shared.heuristic[moves];
}

// Ends an ILP call: hands back the faster of `ilp` (this call's ILP plan
// at its own variant, laid out in the pool, with `outcome.stats` already
// describing its solve) and `best` (the fastest other valid plan seen);
// ties go to `ilp`. A plan from `best` keeps the ILP's bound (valid for
// every plan of this budget and variant) and is marked for what it is:
// HEURISTIC for first touch; for an optimised plan (the poorer variant's
// seed, the caller's warm start, window repair) OPTIMAL when the bound
// proves it within the relative gap, else FEASIBLE; CANCELLED stays so.
// Without either, NO_SOLUTION. `why` says why the ILP's own plan is
// missing (or what it is, when it is kept), for the diagnostic.
PlanOutcome Conclude(const PlanOptions& options, double budget_bound,
                     std::optional<v1::Plan> ilp, const BestPlan& best,
                     const CallShared& shared, const std::string& why,
                     PlanOutcome outcome) {
  v1::SolverStats& stats = outcome.stats;
  stats.set_best_bound_us(budget_bound);  // -inf: none
  if (ilp.has_value() && !(best.time_us() < ilp->predicted_time_us())) {
    stats.set_objective_us(ilp->predicted_time_us());
    stats.set_relative_gap(GapToBound(ilp->predicted_time_us(), budget_bound));
    // The solver's own OPTIMAL is taken only when the bound for the budget
    // shows it (a solver stopped by its own, looser, criterion is not proof;
    // the slack absorbs the solver's slightly different gap formula).
    if (stats.termination() == v1::TERMINATION_OPTIMAL &&
        !(stats.relative_gap() <= options.relative_gap * 1.001 + 1e-7)) {
      stats.set_termination(v1::TERMINATION_FEASIBLE);
    }
    *ilp->mutable_stats() = stats;
    outcome.plan = std::move(ilp);
    outcome.source = PlanSource::kIlp;
    outcome.diagnostic = why;
    return outcome;
  }
  if (!best.has_value()) {
    stats.set_termination(v1::TERMINATION_NO_SOLUTION);
    outcome.source = PlanSource::kNone;
    outcome.diagnostic = absl::StrCat(why, "; ", shared.heuristic_why[1], "; ",
                                      shared.first_touch_why);
    return outcome;
  }
  v1::Plan plan = best.plan();
  // A warm start was laid out for a smaller budget; it fits this one.
  plan.set_budget_bytes(options.budget_bytes);
  const double time = plan.predicted_time_us();
  stats.set_objective_us(time);
  stats.set_relative_gap(GapToBound(time, budget_bound));
  // A plan the bound proves within the gap is OPTIMAL whatever produced it;
  // otherwise the heuristic's and first touch's plans are HEURISTIC (a
  // fallback) and optimised ones FEASIBLE.
  if (stats.termination() != v1::TERMINATION_CANCELLED) {
    const bool heuristic = best.source() == PlanSource::kFirstTouch ||
                           best.source() == PlanSource::kHeuristic;
    stats.set_termination(stats.relative_gap() <= options.relative_gap
                              ? v1::TERMINATION_OPTIMAL
                          : heuristic ? v1::TERMINATION_HEURISTIC
                                      : v1::TERMINATION_FEASIBLE);
  }
  *plan.mutable_stats() = stats;
  outcome.plan = std::move(plan);
  outcome.source = best.source();
  outcome.diagnostic =
      ilp.has_value()
          ? absl::StrFormat(
                "the ILP's best plan (%.3f ms) is slower than %s (%.3f ms); "
                "returning that instead",
                ilp->predicted_time_us() / 1000, best.what(), time / 1000)
          : absl::StrCat(why, "; returning ", best.what(),
                         " instead (raise the time limit for a better one)");
  return outcome;
}

// The plan of `values`, a solution of `formulation` (window search's
// candidates), as the call's method and budget assemble it.
absl::StatusOr<v1::Plan> PlanOfSolution(const GraphModel& graph,
                                        const ProfileModel& profile,
                                        const PlanOptions& options,
                                        const Formulation& formulation,
                                        std::span<const double> values) {
  return AssemblePlan(
      graph, profile,
      formulation.Decode(std::vector<double>(values.begin(), values.end())),
      options.method, options.budget_bytes);
}

// Lays `plan` out in the pool the way window search's checks do: around
// `anchor`'s layout when there is one (AssignOffsetsAround: the blocks the
// two plans share keep their offsets), else - or when that does not fit -
// from scratch, with the allocator's default repair layouts.
absl::StatusOr<AllocationReport> LayOutForWindows(const GraphModel& graph,
                                                  const PlanOptions& options,
                                                  const v1::Plan* anchor,
                                                  v1::Plan* plan) {
  if (anchor != nullptr) {
    absl::StatusOr<AllocationReport> layout = AssignOffsetsAround(
        graph, options.budget_bytes, options.alignment_bytes, *anchor, plan);
    if (layout.ok() && layout->fits) return layout;
  }
  return AssignOffsets(graph, options.budget_bytes, options.alignment_bytes,
                       plan, kMaxLayoutRepairRounds, absl::InfiniteDuration(),
                       INT64_MAX, kMaxClassicLayoutPairs,
                       SkylineLayoutPairs(options.skyline_layouts));
}

// Whether the plan of `values`, a solution of `formulation`, lays out in a
// pool of the budget from scratch.
bool PlanFitsPool(const GraphModel& graph, const ProfileModel& profile,
                  const PlanOptions& options, const Formulation& formulation,
                  std::span<const double> values) {
  absl::StatusOr<v1::Plan> plan =
      PlanOfSolution(graph, profile, options, formulation, values);
  if (!plan.ok()) return false;
  absl::StatusOr<AllocationReport> layout =
      LayOutForWindows(graph, options, /*anchor=*/nullptr, &*plan);
  return layout.ok() && layout->fits;
}

// The fragmentation loop's last resort, when lowering limits found no plan
// that fits and beats `seed`: window search on the first round's model
// (every limit at the budget) from `seed` until `deadline`, adopting only
// plans that lay out in the pool. Returns the plan, laid out, when it is
// faster than the seed; nullopt otherwise. Records the windows in `stats`.
absl::StatusOr<std::optional<v1::Plan>> ImproveSeedByWindows(
    Solver& solver, const GraphModel& graph, const ProfileModel& profile,
    const PlanOptions& options, const Formulation& formulation,
    const v1::Plan& seed, absl::Time deadline, v1::SolverStats* stats) {
  if (deadline - absl::Now() < absl::Seconds(2)) return std::nullopt;
  absl::StatusOr<std::vector<double>> start =
      formulation.Encode(ScheduleOf(graph, seed));
  if (!start.ok()) return std::nullopt;
  // Laying a plan out takes as long as the check of each window and the
  // final layout after the search (about a second on DenseNet-264): time
  // one, on the seed, to keep that much in hand.
  const absl::Time check_start = absl::Now();
  PlanFitsPool(graph, profile, options, formulation, *start);
  const double finish_seconds =
      absl::ToDoubleSeconds(absl::Now() - check_start);
  WindowSearchOptions search_options;
  search_options.time_limit_seconds =
      absl::ToDoubleSeconds(deadline - absl::Now()) - finish_seconds;
  search_options.expected_accept_seconds = finish_seconds;
  if (search_options.time_limit_seconds < 1.0) return std::nullopt;
  // The whole model's optimum did not fit (that is why we are here), so
  // windows must be well smaller than the model, also on small ones.
  search_options.window_columns = std::clamp(
      formulation.model().num_integer() / 8, 8, search_options.window_columns);
  search_options.bound = stats->best_bound_us();
  search_options.relative_gap = options.relative_gap;
  search_options.cancel = options.cancel;
  search_options.on_progress = options.on_progress;
  // A window changes a few tensors of a plan that fits the pool, often
  // only after many repair layouts (an allocation round's plan, up to 256;
  // this check gets the allocator's default 16): laid out from scratch, the
  // changed plan is reshuffled and need not fit again even where the
  // changed blocks fit the gaps of the last layout. So the changed blocks
  // first go into those gaps (AssignOffsetsAround), and only when they do
  // not fit is the plan laid out from scratch. `anchor` is the search's
  // incumbent plan, laid out.
  v1::Plan anchor = seed;
  search_options.accept = [&](std::span<const double> values) {
    absl::StatusOr<v1::Plan> plan =
        PlanOfSolution(graph, profile, options, formulation, values);
    if (!plan.ok()) return false;
    absl::StatusOr<AllocationReport> layout =
        LayOutForWindows(graph, options, &anchor, &*plan);
    if (!layout.ok() || !layout->fits) return false;
    anchor = *std::move(plan);
    return true;
  };
  absl::StatusOr<WindowSearchResult> search =
      ImproveByWindows(solver, formulation.model(), formulation.ColumnKernels(),
                       *start, search_options);
  if (!search.ok()) {
    if (absl::IsFailedPrecondition(search.status())) return std::nullopt;
    return search.status();
  }
  stats->set_solve_seconds(stats->solve_seconds() + search->seconds);
  stats->set_search_windows(stats->search_windows() + search->windows);
  stats->set_search_improvements(stats->search_improvements() +
                                 search->improvements);
  if (!(search->objective < seed.predicted_time_us() * (1 - 1e-9))) {
    return std::nullopt;
  }
  // The incumbent's plan as accept() laid it out: a layout from scratch
  // need not fit again.
  AUTOTM_ASSIGN_OR_RETURN(
      v1::Plan plan,
      AssemblePlan(graph, profile, formulation.Decode(search->values),
                   options.method, options.budget_bytes));
  AUTOTM_ASSIGN_OR_RETURN(
      AllocationReport layout,
      AssignOffsetsAround(graph, options.budget_bytes, options.alignment_bytes,
                          anchor, &plan));
  if (!layout.fits) return std::nullopt;  // accept() said it would
  return plan;
}

// Large ASYNCHRONOUS models: CBC's root, then window search. On these
// models (Inception v4 or DenseNet-264 at the paper's batch sizes, 0.5-1.2 M
// columns) CBC completes about one node a minute after the root and never
// improved on its starting plan (docs/FORMULATION.md, "Window search"), so
// the tree is skipped: the root gives the bound (and whatever its
// heuristics find), and the rest of the time - at least a quarter - goes to
// re-solving windows of consecutive kernels around the incumbent.
// `fits` says whether a solution's plan lays out in the pool; the search
// only adopts plans that do, so fragmentation cannot discard its work.
absl::StatusOr<SolveResult> SolveRootThenWindows(
    Solver& solver, const Formulation& formulation, SolveParams params,
    const PlanOptions& options,
    const std::function<bool(std::span<const double>)>& fits,
    v1::SolverStats* stats) {
  const IlpModel& model = formulation.model();
  const absl::Time end = absl::Now() + absl::Seconds(params.time_limit_seconds);
  // The root gets three quarters of the time: on DenseNet-264 bs512 its LP
  // alone takes 2-3 minutes and its cut passes and heuristics would use up
  // the rest, leaving the windows nothing. Cutting it short after the LP
  // keeps the LP bound.
  SolveParams root = params;
  root.max_nodes = 0;
  root.time_limit_seconds = 0.75 * params.time_limit_seconds;
  // The whole call's bound is this root's. The async LP lets copies overlap
  // kernels in fractions, and one round of cuts recovers most of what that
  // costs the bound (WindowRootCutsMaxColumns).
  root.root_cuts_max_columns = WindowRootCutsMaxColumns(
      options, model.num_columns(), root.time_limit_seconds);
  root.root_cut_passes = 1;
  // The root starts from the seed and the windows improve it: CBC's
  // heuristics would take time from the cuts (SolveParams::heuristics).
  root.heuristics = false;
  AUTOTM_ASSIGN_OR_RETURN(SolveResult result, solver.Solve(model, root));
  stats->set_solve_seconds(stats->solve_seconds() + result.solve_seconds);
  stats->set_nodes(stats->nodes() + result.nodes);
  // The root's incumbent is at least as good as the start it was given,
  // but its layout may not fit.
  const absl::Time fits_start = absl::Now();
  const bool root_fits = result.has_solution() && fits(result.values);
  // The planner lays the final plan out after the search, which takes about
  // as long as this check: keep that much of the time in hand.
  const double finish_seconds =
      result.has_solution() ? absl::ToDoubleSeconds(absl::Now() - fits_start)
                            : 0;
  std::vector<double> start =
      root_fits ? result.values : params.initial_solution;
  const bool done = result.termination == SolveTermination::kOptimal ||
                    result.termination == SolveTermination::kInfeasible ||
                    result.termination == SolveTermination::kCancelled ||
                    result.relative_gap <= params.relative_gap;
  const double left = absl::ToDoubleSeconds(end - absl::Now()) - finish_seconds;
  if (done || left < 1.0 || start.empty()) {
    stats->set_termination(ToProto(result.termination));
    return result;
  }
  WindowSearchOptions search_options;
  search_options.time_limit_seconds = left;
  // Windows of at most an eighth of the model (as ImproveSeedByWindows):
  // the default on the large models this path is for, and on small ones a
  // search rather than one solve of the whole model.
  search_options.window_columns =
      std::clamp(model.num_integer() / 8, 8, search_options.window_columns);
  search_options.bound = result.best_bound;
  search_options.relative_gap = params.relative_gap;
  search_options.cancel = params.cancel;
  search_options.on_progress = params.on_progress;
  search_options.accept = fits;
  search_options.expected_accept_seconds = finish_seconds;
  const std::vector<int> column_kernel = formulation.ColumnKernels();
  absl::StatusOr<WindowSearchResult> search =
      ImproveByWindows(solver, model, column_kernel, start, search_options);
  if (!search.ok()) {
    // An infeasible start (CBC rejects those too) leaves the root's result.
    if (!absl::IsFailedPrecondition(search.status())) return search.status();
    stats->set_termination(ToProto(result.termination));
    return result;
  }
  stats->set_solve_seconds(stats->solve_seconds() + search->seconds);
  stats->set_search_windows(search->windows);
  stats->set_search_improvements(search->improvements);
  result.solve_seconds += search->seconds;
  if (!root_fits || search->objective < result.objective) {
    result.values = std::move(search->values);
    result.objective = search->objective;  // +inf if it stopped at once
  }
  result.relative_gap = GapToBound(result.objective, result.best_bound);
  const bool cancelled = params.cancel != nullptr && params.cancel->load();
  result.termination = cancelled                ? SolveTermination::kCancelled
                       : !result.has_solution() ? SolveTermination::kNoSolution
                       : result.relative_gap <= params.relative_gap
                           ? SolveTermination::kOptimal
                           : SolveTermination::kFeasible;
  stats->set_termination(ToProto(result.termination));
  return result;
}

// Solves `formulation`'s model; an ASYNCHRONOUS model is solved in restarts
// (or, when large, by SolveRootThenWindows), and so is a SYNCHRONOUS one
// below PlanOptions::sync_restart_max_columns in a call of 60 s or more. CBC's
// search on these models depends on the limit it is given (VGG19 bs2048 at 4:1:
// a 40 s solve ended at a 1.3% gap where a 300 s one stalled at 3.6%), so the
// time is cut into slices that double - a quarter of it first - and each slice
// starts from the best plan so far. The result keeps the best incumbent and the
// best bound of all slices (every slice's bound is valid). Only models below
// `restart_max_columns` restart: on larger ones each slice would spend most of
// its time solving the root LP again. Adds solve seconds and nodes to `stats`.
absl::StatusOr<SolveResult> SolveWithRestarts(
    Solver& solver, const Formulation& formulation, SolveParams params,
    const PlanOptions& options,
    const std::function<bool(std::span<const double>)>& fits,
    v1::SolverStats* stats) {
  const v1::Method method = options.method;
  const int restart_max_columns = options.async_restart_max_columns;
  const IlpModel& model = formulation.model();
  auto account = [stats](const SolveResult& result) {
    stats->set_solve_seconds(stats->solve_seconds() + result.solve_seconds);
    stats->set_nodes(stats->nodes() + result.nodes);
  };
  if (method == v1::METHOD_ASYNCHRONOUS && params.time_limit_seconds >= 60 &&
      model.num_columns() >= restart_max_columns && options.window_search) {
    return SolveRootThenWindows(solver, formulation, std::move(params), options,
                                fits, stats);
  }
  // Sync gates on the call's limit: its rounds get what the static seed and
  // the layout reserve leave, under 60 s at a 60 s call. A round with under
  // 20 s (a later allocation round, mostly) solves once: its first slice
  // would be little longer than the root that every slice solves again
  // (1.7 s on MobileNet v2 bs2's 18,793 columns, with the root cuts).
  const bool restart =
      method == v1::METHOD_ASYNCHRONOUS
          ? params.time_limit_seconds >= 60 &&
                model.num_columns() < restart_max_columns
          : method == v1::METHOD_SYNCHRONOUS &&
                options.time_limit_seconds >= 60 &&
                params.time_limit_seconds >= 20 &&
                model.num_columns() < options.sync_restart_max_columns;
  if (!restart) {
    AUTOTM_ASSIGN_OR_RETURN(SolveResult result, solver.Solve(model, params));
    account(result);
    stats->set_termination(ToProto(result.termination));
    return result;
  }
  const absl::Time end = absl::Now() + absl::Seconds(params.time_limit_seconds);
  double slice = params.time_limit_seconds / 4;
  SolveResult best;  // no incumbent, no bound yet
  while (true) {
    const double left = absl::ToDoubleSeconds(end - absl::Now());
    params.time_limit_seconds = std::max(0.5, std::min(slice, left));
    // Async slices cut at the root of larger models than other solves: their
    // LP lets copies overlap kernels in fractions, and the cuts' bound is
    // most of what a slice proves (AsyncSliceRootCutsMaxColumns).
    if (method == v1::METHOD_ASYNCHRONOUS) {
      params.root_cuts_max_columns = AsyncSliceRootCutsMaxColumns(
          options, model.num_columns(), params.time_limit_seconds);
    }
    AUTOTM_ASSIGN_OR_RETURN(SolveResult result, solver.Solve(model, params));
    account(result);
    best.solve_seconds += result.solve_seconds;
    best.nodes += result.nodes;
    best.best_bound = std::max(best.best_bound, result.best_bound);
    if (result.objective < best.objective) {
      best.values = std::move(result.values);
      best.objective = result.objective;
    }
    best.relative_gap = GapToBound(best.objective, best.best_bound);
    const bool within_gap = best.relative_gap <= params.relative_gap;
    if (within_gap || result.termination == SolveTermination::kOptimal ||
        result.termination == SolveTermination::kInfeasible ||
        result.termination == SolveTermination::kCancelled ||
        absl::ToDoubleSeconds(end - absl::Now()) < 1.0) {
      best.termination = result.termination == SolveTermination::kCancelled
                             ? result.termination
                         : within_gap          ? SolveTermination::kOptimal
                         : best.has_solution() ? SolveTermination::kFeasible
                                               : result.termination;
      stats->set_termination(ToProto(best.termination));
      return best;
    }
    if (best.has_solution()) params.initial_solution = best.values;
    // The next slice starts from what this one proved: it stops once its
    // incumbent is within the gap of the best bound so far, and does not
    // probe the root again.
    params.known_bound = best.best_bound;
    params.bound_probe = false;
    slice *= 2;
  }
}

// The options of a seed solve of the poorer variant `method` within a call
// with `options`. Adaptive (PlanOptions::adaptive_seed_time): up to
// `adaptive_share` of the call's time, stopped once its incumbent stalls -
// when the seed stops improving, the richer model (which starts from the
// seed's plan) makes better use of the time - or proven within the gap.
// Fixed: a quarter of the time. Either way at least `floor_seconds`.
PlanOptions SeedOptions(const PlanOptions& options, v1::Method method,
                        double adaptive_share, double floor_seconds) {
  PlanOptions seed = options;
  seed.method = method;
  if (options.adaptive_seed_time) {
    seed.time_limit_seconds =
        std::max(floor_seconds, options.time_limit_seconds * adaptive_share);
    seed.stall_seconds = std::max(2.0, options.time_limit_seconds / 20);
  } else {
    seed.time_limit_seconds =
        std::max(floor_seconds, options.time_limit_seconds / 4);
  }
  return seed;
}

// One ILP call of PlanGraph (and each seed solve it makes), in stages:
//
//   OfferPlansInHand   first touch, the heuristic, the caller's warm start
//   SolveSyncSeed      ASYNCHRONOUS, or SYNCHRONOUS with recomputation: the
//                      synchronous plan to start from (with recomputation
//                      for ASYNCHRONOUS with it)
//   SolveStaticSeed    STATIC with recomputation: the static plan
//   then, per allocation round (AutoTM's fragmentation loop):
//   BuildRound         the formulation under this round's kernel limits
//   SolveStaticSeed    SYNCHRONOUS, round 1: the static plan to start from
//   SolveRound         CBC, started from the best plan in hand
//   LayOut             the round's plan, its pool layout and layout repair
//   NextLimits         lower the limits where the plan overflowed, or bisect
//                      between limits that fit and limits that did not
//   Finish             window search around the best plan, and Conclude
//
// Every stage may end the call with the best valid plan it has met; the
// call never returns a plan slower than one it had in hand.
class IlpPlanning {
 public:
  IlpPlanning(const GraphModel& graph, const ProfileModel& profile,
              const PlanOptions& options, Solver* solver, CallShared& shared)
      : graph_(graph),
        profile_(profile),
        options_(options),
        solver_(solver),
        shared_(shared),
        start_(absl::Now()),
        limits_(graph.num_kernels(), options.budget_bytes) {
    outcome_.stats.set_solver(solver->name());
  }

  absl::StatusOr<PlanOutcome> Run() {
    OfferPlansInHand();
    // Each variant with recomputation starts from the poorer variant's
    // plan: static from static, sync from sync, async from sync with
    // recomputation (itself started from sync), as async starts from sync.
    const bool recompute = options_.recompute;
    if (options_.method == v1::METHOD_ASYNCHRONOUS ||
        (options_.method == v1::METHOD_SYNCHRONOUS && recompute)) {
      AUTOTM_RETURN_IF_ERROR(SolveSyncSeed());
    }
    if (options_.method == v1::METHOD_STATIC && recompute) {
      AUTOTM_RETURN_IF_ERROR(SolveStaticSeed(/*large=*/false));
    }
    if (options_.method == v1::METHOD_ASYNCHRONOUS) {
      if (std::optional<std::string> why = NoTimeForAsyncModel()) {
        return Conclude(options_, budget_bound_, std::nullopt, best_, shared_,
                        *why, std::move(outcome_));
      }
    }
    for (int round = 1;; ++round) {
      AUTOTM_ASSIGN_OR_RETURN(Formulation formulation, BuildRound(round));
      const bool large = formulation.model().num_columns() >= kLargeColumns;
      if (round == 1 && options_.method == v1::METHOD_SYNCHRONOUS &&
          !seed_.has_value() && options_.warm_start == nullptr &&
          !formulation.infeasible().has_value()) {
        AUTOTM_RETURN_IF_ERROR(SolveStaticSeed(large));
      }
      if (formulation.infeasible().has_value()) {
        if (best_fitting_.has_value()) {
          return Finish(round - 1, *std::move(best_fitting_));
        }
        return ConcludeInfeasible(round, *formulation.infeasible());
      }
      if (round == 1 && options_.exploit_repetition) {
        AUTOTM_RETURN_IF_ERROR(SolveTied(formulation));
      }
      const absl::Time solve_start = absl::Now();
      AUTOTM_ASSIGN_OR_RETURN(SolveResult result,
                              SolveRound(round, formulation, large));
      AllocationRound& record = outcome_.allocation_rounds.emplace_back();
      record.limits = limits_;
      record.solve_seconds = absl::ToDoubleSeconds(absl::Now() - solve_start);
      if (!result.has_solution()) {
        if (best_fitting_.has_value()) {
          return Finish(round, *std::move(best_fitting_));
        }
        return ConcludeWithoutPlan(round, result);
      }
      record.objective_us = result.objective;
      AUTOTM_ASSIGN_OR_RETURN(RoundPlan laid_out,
                              LayOut(round, formulation, result));
      record.required_bytes = laid_out.layout.required_bytes;
      record.fits = laid_out.layout.fits;
      record.layout_seconds = laid_out.layout_seconds;
      record.repair_layouts =
          laid_out.layout.repair_rounds + laid_out.layout.skyline_layouts;
      record.repair_work = laid_out.layout.repair_work;
      record.repair_stopped_by_time = laid_out.layout.repair_stopped_by_time;
      if (!record.fits) {
        record.overflow =
            FindPoolOverflow(graph_, laid_out.plan, options_.budget_bytes);
      }
      if (laid_out.proven) {
        return Conclude(
            options_, budget_bound_, std::nullopt, best_, shared_,
            absl::StrFormat("the ILP's plan needs a %u-byte pool for its fast "
                            "tensors (fragmentation)",
                            laid_out.layout.required_bytes),
            std::move(outcome_));
      }
      // `record` may move when the vector grows: copy what NextLimits reads.
      const PoolOverflow overflow = record.overflow;
      if (NextLimits(round, laid_out, overflow)) {
        if (round == 1) first_round_.emplace(std::move(formulation));
        continue;
      }
      // The fastest round plan that fits, when there is one, not
      // necessarily the last (a bisection round may overflow, or fit slower).
      if (best_fitting_.has_value()) {
        return Finish(round, *std::move(best_fitting_));
      }
      return Finish(round, std::move(laid_out));
    }
  }

 private:
  // AutoTM's fragmentation loop (autotm.md §5.2): solve, lay the fast
  // tensors out in a pool of exactly the budget, and when the layout
  // overflows, lower the limits where the overflowing blocks are live and
  // solve again (NextLimits).
  static constexpr int kMaxAllocationRounds = 12;
  // A static or synchronous round's plan gets more squeaky-wheel layouts
  // than the allocator's default (kMaxLayoutRepairRounds), within
  // PlanOptions::layout_repair_work: each layout costs milliseconds on most
  // graphs, a round's solve seconds, and on the captured GPT-tiny graph the
  // static optimum's layout fit after 87 rounds (16 left it 0.1% over,
  // costing two more rounds of solving). Asynchronous rounds keep the
  // default: their window search accepts only plans that lay out, and more
  // rounds there were not measured.
  static constexpr int kRoundLayoutRepairRounds = 256;
  // A round's repair layouts stop after this many layout reserves of wall
  // time (RoundLayoutRepairTime), whatever work is left.
  static constexpr double kLayoutRepairTimeCapReserves = 2;
  // Models at least this large get a starting solution (see SolveRound).
  static constexpr int kLargeColumns = 20000;

  // A round's plan, laid out in the pool.
  struct RoundPlan {
    v1::Plan plan;
    AllocationReport layout;
    // Wall seconds of the layout, repair layouts included.
    double layout_seconds = 0;
    // The solve was cancelled (it stopped with its incumbent).
    bool stopped = false;
    // The best plan in hand is proven within the gap by the budget's bound:
    // no further round can do better enough to be worth its solve.
    bool proven = false;
  };

  // Every valid plan the call has at the start competes with the ILP's
  // own: first touch, the heuristic's plan, and the caller's warm start
  // when it is a valid plan of this budget and variant, offsets included (a
  // plan for a smaller budget is). The verifier replays the warm start with
  // this profile, so it is priced as this call's plans are (a plan priced
  // with other table-collapse settings fails).
  void OfferPlansInHand() {
    if (const std::optional<v1::Plan>& first_touch =
            FirstTouchOf(graph_, profile_, options_, shared_);
        first_touch.has_value()) {
      best_.Offer(*first_touch, PlanSource::kFirstTouch,
                  "the first-touch baseline's plan");
    }
    if (options_.heuristic) {
      if (const std::optional<v1::Plan>& heuristic =
              HeuristicOf(graph_, profile_, options_, shared_);
          heuristic.has_value()) {
        outcome_.heuristic_time_us = heuristic->predicted_time_us();
        best_.Offer(*heuristic, PlanSource::kHeuristic, "the heuristic's plan");
      }
    }
    if (options_.warm_start != nullptr &&
        MoveRank(options_.warm_start->method()) <= MoveRank(options_.method) &&
        VerifyPlan(graph_, profile_, *options_.warm_start,
                   options_.budget_bytes, /*require_offsets=*/true)
            .ok()) {
      best_.Offer(
          *options_.warm_start, PlanSource::kWarmStart,
          absl::StrFormat("the warm start (the plan of the %u-byte budget)",
                          options_.warm_start->budget_bytes()));
    }
  }

  // The poorer variant's plan this call starts from: valid for this variant
  // too, whatever stage produced it (static plans never move a tensor;
  // synchronous moves sit at users, which stay asynchronous decision
  // points). It also guarantees static >= sync >= async within one call.
  void TakeSeed(PlanOutcome& poorer, const char* variant) {
    if (!poorer.plan.has_value()) return;
    outcome_.seed_time_us = poorer.plan->predicted_time_us();
    best_.Offer(*poorer.plan,
                poorer.source == PlanSource::kFirstTouch ||
                        poorer.source == PlanSource::kHeuristic
                    ? poorer.source
                    : PlanSource::kSeed,
                absl::StrCat("the ", variant, " plan it started from"));
    seed_ = std::move(poorer.plan);
  }

  // An asynchronous solve starts from the synchronous plan: the async ILP is
  // several times larger and on big graphs finds little on its own, while
  // the sync ILP solves in seconds, so the sync plan is most of what an
  // async call achieves there. It may take up to half of the time (a fixed
  // quarter starved it: ResNet-152 async at 25% returned first touch at
  // 120 s while sync alone found 1.33x in 60 s), and stops when it stalls.
  //
  // Async with recomputation starts from sync with it, a seed that is itself
  // two solves (plain sync, then sync with recomputation): it may take up to
  // three quarters, and is not stopped when it stalls (only by the gap or
  // its limit): started from the plain sync plan, the sync+recompute model
  // shows no better incumbent before its root LP is done, which on
  // DenseNet-264 (196,067 columns) takes longer than a stall window. With
  // half and the stall stop, DenseNet-264 at 4:1 (120 s, loaded machine)
  // stopped at the plain sync start: 1.551 against 1.371 from a 60 s
  // sync+recompute call.
  absl::Status SolveSyncSeed() {
    const bool recompute =
        options_.method == v1::METHOD_ASYNCHRONOUS && options_.recompute;
    PlanOptions sync_options = SeedOptions(
        options_, v1::METHOD_SYNCHRONOUS,
        /*adaptive_share=*/recompute ? 0.75 : 0.5, /*floor_seconds=*/1.0);
    // Sync with recomputation starts from sync without it (that inner seed
    // keeps its own stall stop).
    sync_options.recompute = recompute;
    if (recompute) sync_options.stall_seconds = 0;
    // Sync restarts were measured on sync calls only; a seed keeps one
    // solve (and its stall stop), as the async figures were taken with.
    sync_options.sync_restart_max_columns = 0;
    AUTOTM_ASSIGN_OR_RETURN(
        PlanOutcome sync,
        IlpPlanning(graph_, profile_, sync_options, solver_, shared_).Run());
    outcome_.warm_start_used = sync.warm_start_used;
    sync_build_seconds_ = sync.stats.build_seconds() /
                          std::max(1u, sync.stats.allocation_rounds());
    TakeSeed(sync, "sync");
    // What the sync solve reported last (its bound in particular) says
    // nothing about the async model: restart the progress from the seed.
    if (options_.on_progress) {
      SolveProgress progress;
      progress.elapsed_seconds = absl::ToDoubleSeconds(absl::Now() - start_);
      if (seed_.has_value()) progress.incumbent = seed_->predicted_time_us();
      options_.on_progress(progress);
    }
    return absl::OkStatus();
  }

  // Whether the time left after the synchronous seed is too short for the
  // asynchronous model to pay: building it takes about kAsyncBuildFactor
  // times the synchronous build (it has several times the columns), and a
  // solve needs at least as long again. Starting anyway only overruns the
  // limit (CBC's root cannot stop before it has read the model) for a plan
  // no better than the seed. Returns why, or nullopt to go on.
  std::optional<std::string> NoTimeForAsyncModel() const {
    if (!best_.has_value()) return std::nullopt;  // nothing to fall back on
    constexpr double kAsyncBuildFactor = 4;
    const double build = kAsyncBuildFactor * sync_build_seconds_;
    const double left = options_.time_limit_seconds -
                        absl::ToDoubleSeconds(absl::Now() - start_);
    if (left >= 2 * build + 1.0) return std::nullopt;
    return absl::StrFormat(
        "%.1f s left after the synchronous seed: too little to build (about "
        "%.1f s) and solve the asynchronous ILP",
        std::max(0.0, left), build);
  }

  // A synchronous solve first obtains the static plan, itself a valid
  // synchronous plan (no moves), and keeps it as a candidate: that makes
  // sync <= static within one call for every model, whatever CBC does with
  // the sync ILP. On large models it is also CBC's start (SolveRound): there
  // CBC may find nothing better than first touch on its own within the
  // limit, while the static ILP (half the size) solves; they give it at
  // most a quarter of the time, at least a second. On small models it only
  // competes (CBC solves them well without a start, cbc.md §4) and takes
  // milliseconds; a quarter of the time, without the floor, keeps short
  // calls within their limit. A caller's warm start replaces it.
  absl::Status SolveStaticSeed(bool large) {
    PlanOptions static_options =
        SeedOptions(options_, v1::METHOD_STATIC, /*adaptive_share=*/0.25,
                    /*floor_seconds=*/large ? 1.0 : 0.0);
    static_options.recompute = false;
    AUTOTM_ASSIGN_OR_RETURN(
        PlanOutcome static_outcome,
        IlpPlanning(graph_, profile_, static_options, solver_, shared_).Run());
    TakeSeed(static_outcome, "static");
    return absl::OkStatus();
  }

  // The formulation under this round's limits, with its size in the stats.
  absl::StatusOr<Formulation> BuildRound(int round) {
    const absl::Time build_start = absl::Now();
    FormulationOptions formulation_options;
    formulation_options.method = options_.method;
    formulation_options.async_window = options_.async_window;
    formulation_options.lift_overlap_rows = options_.lift_overlap_rows;
    formulation_options.telescope_capacity =
        options_.method != v1::METHOD_ASYNCHRONOUS ||
        IlpLiveEntries(graph_) >
            options_.async_direct_capacity_max_live_entries;
    formulation_options.recompute = options_.recompute;
    formulation_options.alignment_bytes = options_.alignment_bytes;
    formulation_options.kernel_limit_bytes = limits_;
    AUTOTM_ASSIGN_OR_RETURN(
        Formulation formulation,
        Formulation::Build(graph_, profile_, formulation_options));
    const IlpModel& model = formulation.model();
    v1::SolverStats& stats = outcome_.stats;
    stats.set_allocation_rounds(round);
    stats.set_variables(model.num_columns());
    stats.set_integer_variables(model.num_integer());
    stats.set_rows(model.num_rows());
    stats.set_nonzeros(model.num_nonzeros());
    last_build_seconds_ = absl::ToDoubleSeconds(absl::Now() - build_start);
    stats.set_build_seconds(stats.build_seconds() + last_build_seconds_);
    return formulation;
  }

  // PlanOptions::exploit_repetition: the budget's model with the columns of
  // corresponding tensors and kernels of repeated blocks tied
  // (solver/repetition.h), solved within a third of the time left (less the
  // longest layout) and stopped when it stalls. Its solution, expanded, is
  // a solution of the full model (tying only restricts it), so its plan is
  // laid out, layout-repaired when it overflows, and competes like every
  // other plan in hand; SolveRound starts CBC from it when it is the best.
  // A tied model no smaller than nine tenths of the full one is not solved:
  // it would cost nearly a full solve for a worse optimum.
  absl::Status SolveTied(const Formulation& formulation) {
    RepetitionReport& report = outcome_.repetition.emplace();
    const IlpModel& full = formulation.model();
    report.full_integer_columns = full.num_integer();
    report.full_rows = full.num_rows();
    report.tied_integer_columns = report.full_integer_columns;
    report.tied_rows = report.full_rows;
    const Repetition repetition = FindRepetition(graph_);
    report.runs = static_cast<int>(repetition.runs.size());
    report.covered_kernels = repetition.covered_kernels;
    report.tied_tensors = repetition.tied_tensors;
    if (repetition.tied_tensors == 0) return absl::OkStatus();
    const TiedModel tied =
        TieModel(full, TieColumns(graph_, formulation, repetition));
    report.tied_integer_columns = tied.model.num_integer();
    report.tied_rows = tied.model.num_rows();
    if (report.tied_integer_columns > 0.9 * report.full_integer_columns) {
      return absl::OkStatus();
    }
    report.solved = true;
    SolveParams params;
    const double left = options_.time_limit_seconds -
                        absl::ToDoubleSeconds(absl::Now() - start_) -
                        layout_seconds_;
    params.time_limit_seconds = std::max(0.2, left / 3);
    params.stall_seconds = std::max(2.0, options_.time_limit_seconds / 20);
    params.relative_gap = options_.relative_gap;
    params.threads = options_.threads;
    params.cancel = options_.cancel;
    // Start from the best plan in hand with every tied column taking its
    // leader's value (one block's decisions broadcast): often feasible, and
    // CBC discards it when not. Without a start CBC may find nothing on a
    // large tied model (async ResNet-200: 97,000 integer columns) in time.
    const v1::Plan* best = best_.has_value() ? &best_.plan() : nullptr;
    const v1::Plan* seed = seed_.has_value() ? &*seed_ : nullptr;
    for (const v1::Plan* plan : {best, seed}) {
      if (plan == nullptr) continue;
      absl::StatusOr<std::vector<double>> values =
          formulation.Encode(ScheduleOf(graph_, *plan));
      if (values.ok()) {
        params.initial_solution = tied.Restrict(*values);
        break;
      }
    }
    // No on_progress: the tied model's bound is not a bound of this call.
    AUTOTM_ASSIGN_OR_RETURN(SolveResult result,
                            solver_->Solve(tied.model, params));
    report.solve_seconds = result.solve_seconds;
    if (!result.has_solution()) return absl::OkStatus();
    AUTOTM_ASSIGN_OR_RETURN(
        v1::Plan plan,
        AssemblePlan(graph_, profile_,
                     formulation.Decode(tied.Expand(result.values)),
                     options_.method, options_.budget_bytes));
    const absl::Time layout_start = absl::Now();
    AUTOTM_ASSIGN_OR_RETURN(
        AllocationReport layout,
        AssignOffsets(graph_, options_.budget_bytes, options_.alignment_bytes,
                      &plan, RoundLayoutRepairRounds(), RoundLayoutRepairTime(),
                      RoundLayoutRepairWork()));
    layout_seconds_ = std::max(
        layout_seconds_, absl::ToDoubleSeconds(absl::Now() - layout_start));
    if (layout.fits) {
      report.broadcast_time_us = plan.predicted_time_us();
      best_.Offer(plan, PlanSource::kRepetition,
                  "the plan of the model with repeated blocks tied");
      return absl::OkStatus();
    }
    HeuristicOptions repair_options;
    repair_options.allow_moves = options_.method != v1::METHOD_STATIC;
    repair_options.alignment_bytes = options_.alignment_bytes;
    repair_options.skyline_layouts = options_.skyline_layouts;
    repair_options.time_limit_seconds = std::max(
        0.0, options_.time_limit_seconds -
                 absl::ToDoubleSeconds(absl::Now() - start_) - layout_seconds_);
    absl::StatusOr<std::optional<v1::Plan>> repaired = RepairLayout(
        graph_, profile_, options_.budget_bytes, plan, repair_options);
    if (repaired.ok() && repaired->has_value()) {
      report.broadcast_time_us = (*repaired)->predicted_time_us();
      best_.Offer(**repaired, PlanSource::kRepetition,
                  "the plan of the model with repeated blocks tied, its pool "
                  "layout repaired");
    }
    return absl::OkStatus();
  }

  // A round whose limits leave no plan: the budget's own model (round 1)
  // has none; a later round's lowered limits went too far, and whatever
  // valid plan is in hand beats none.
  absl::StatusOr<PlanOutcome> ConcludeInfeasible(int round,
                                                 const std::string& why) {
    outcome_.stats.set_termination(v1::TERMINATION_INFEASIBLE);
    outcome_.diagnostic = why;
    if (round == 1) return std::move(outcome_);
    // A copy: Conclude takes the outcome by value, which would move the
    // diagnostic out from under a reference to it.
    const std::string diagnostic =
        absl::StrCat(why, " (after ", round - 1,
                     " round(s) of lowering limits to avoid fragmentation)");
    outcome_.diagnostic = diagnostic;
    return Conclude(options_, budget_bound_, std::nullopt, best_, shared_,
                    diagnostic, std::move(outcome_));
  }

  // The starting solution of a round's solve, as CBC columns; empty for
  // none. A caller's warm start (e.g. the plan of a smaller budget in a
  // sweep) goes first: it is usually far better than the built-in starts.
  // Against the synchronous seed of an asynchronous solve, the faster of
  // the two is kept. On large models CBC may find no solution at all before
  // the limit (its feasibility pump alone can take minutes); start it from
  // the fastest valid plan in hand (the seed, the heuristic's plan or first
  // touch), or failing its encoding the seed, then the heuristic's plan. On
  // small synchronous ones its own heuristics do better without a start
  // (cbc.md §4); those plans still compete with its result.
  std::vector<double> StartingSolution(int round,
                                       const Formulation& formulation,
                                       bool large) {
    std::vector<double> start;
    if (options_.warm_start != nullptr) {
      absl::StatusOr<std::vector<double>> values =
          EncodeWarmStart(graph_, formulation, limits_,
                          options_.alignment_bytes, *options_.warm_start);
      if (!values.ok()) {
        if (!outcome_.warm_start_used) {
          outcome_.warm_start_skipped =
              absl::StrCat("warm start not used in round ", round, ": ",
                           values.status().message());
        }
      } else if (!seed_.has_value() ||
                 options_.warm_start->predicted_time_us() <=
                     seed_->predicted_time_us()) {
        start = *std::move(values);
        outcome_.warm_start_used = true;
        outcome_.warm_start_skipped.clear();
      } else if (!outcome_.warm_start_used) {
        outcome_.warm_start_skipped =
            "warm start slower than the synchronous seed";
      }
    }
    // The tied model's broadcast plan, when it is the best in hand, starts
    // the full model at any size: it is usually near the full optimum,
    // which CBC's own heuristics reach late or not at all.
    if (start.empty() && best_.has_value() &&
        best_.source() == PlanSource::kRepetition) {
      absl::StatusOr<std::vector<double>> values =
          formulation.Encode(ScheduleOf(graph_, best_.plan()));
      if (values.ok()) {
        window_anchor_ = best_.plan();
        return *std::move(values);
      }
    }
    if (!start.empty() ||
        !(large || options_.method == v1::METHOD_ASYNCHRONOUS)) {
      return start;
    }
    const bool moves = options_.method != v1::METHOD_STATIC;
    std::vector<const v1::Plan*> candidates;
    if (best_.has_value()) candidates.push_back(&best_.plan());
    if (seed_.has_value()) candidates.push_back(&*seed_);
    if (shared_.heuristic[moves].has_value()) {
      candidates.push_back(&*shared_.heuristic[moves]);
    }
    if (shared_.first_touch.has_value()) {
      candidates.push_back(&*shared_.first_touch);
    }
    for (const v1::Plan* plan : candidates) {
      absl::StatusOr<std::vector<double>> values =
          formulation.Encode(ScheduleOf(graph_, *plan));
      if (values.ok()) {
        window_anchor_ = *plan;
        return *std::move(values);
      }
    }
    return start;
  }

  // CBC on the round's model, within what is left of the call's limit
  // (less the longest layout so far, repair included, or the layout
  // repair's reserve when longer: the round's plan will need it. A sync
  // solve of the captured ResNet-18 bs16 at 10% that used the whole limit
  // left its optimum 0.4% over the pool with no time for repair rounds, and
  // the heuristic's layout repair then cost 0.4% more).
  absl::StatusOr<SolveResult> SolveRound(int round,
                                         const Formulation& formulation,
                                         bool large) {
    SolveParams params;
    params.initial_solution = StartingSolution(round, formulation, large);
    params.time_limit_seconds = std::max(
        0.5, options_.time_limit_seconds -
                 absl::ToDoubleSeconds(absl::Now() - start_) -
                 std::max(layout_seconds_, LayoutRepairReserveSeconds()));
    params.relative_gap = options_.relative_gap;
    params.threads = options_.threads;
    params.stall_seconds = options_.stall_seconds;
    params.cancel = options_.cancel;
    params.on_progress = options_.on_progress;
    // Synchronous and static models get a second root with reduce-and-split
    // for the bound (SolveParams::bound_probe); asynchronous ones, whose
    // root costs tens of seconds, gain nothing from it.
    params.bound_probe = options_.method != v1::METHOD_ASYNCHRONOUS;
    auto fits = [&](std::span<const double> values) {
      return LaysOutForWindows(formulation, values);
    };
    AUTOTM_ASSIGN_OR_RETURN(SolveResult result,
                            SolveWithRestarts(*solver_, formulation, params,
                                              options_, fits, &outcome_.stats));
    // The first round's bound, the only one valid for the budget itself:
    // later rounds solve under lowered limits, a smaller feasible set, whose
    // bound can exceed the best plan that fits the budget.
    if (round == 1) budget_bound_ = result.best_bound;
    outcome_.stats.set_best_bound_us(budget_bound_);  // -inf: none
    return result;
  }

  // A solve that ended without a plan: proven infeasible (round 1),
  // cancelled, or out of time; the best plan in hand, if any, is returned.
  absl::StatusOr<PlanOutcome> ConcludeWithoutPlan(int round,
                                                  const SolveResult& result) {
    if (result.termination == SolveTermination::kInfeasible && round == 1) {
      outcome_.diagnostic =
          "the solver proved that no plan fits the budget (the must-be-"
          "fast tensors of some kernels cannot all fit together)";
      return std::move(outcome_);
    }
    if (result.termination == SolveTermination::kCancelled) {
      return Conclude(options_, budget_bound_, std::nullopt, best_, shared_,
                      "cancelled before the ILP found a plan",
                      std::move(outcome_));
    }
    const std::string why =
        round == 1 ? absl::StrFormat("the ILP found no plan within %.1f s",
                                     options_.time_limit_seconds)
                   : absl::StrFormat(
                         "after %d round(s) of lowering limits to avoid "
                         "fragmentation, the ILP found no plan within %.1f s",
                         round - 1, options_.time_limit_seconds);
    return Conclude(options_, budget_bound_, std::nullopt, best_, shared_, why,
                    std::move(outcome_));
  }

  // The round's plan, checked against the ILP objective and laid out in the
  // pool. The first round's plan is the optimum of the budget's own model:
  // when only fragmentation keeps it out of the pool, cutting back a few
  // fast stretches near the overflow usually costs far less than the
  // lowered limits of the next rounds (solver/heuristic.h, RepairLayout).
  // The repaired plan competes like every other.
  absl::StatusOr<RoundPlan> LayOut(int round, const Formulation& formulation,
                                   const SolveResult& result) {
    AUTOTM_ASSIGN_OR_RETURN(
        v1::Plan plan,
        AssemblePlan(graph_, profile_, formulation.Decode(result.values),
                     options_.method, options_.budget_bytes));
    // The plan's own accounting must reproduce the ILP objective: a mismatch
    // means the formulation and the plan semantics disagree.
    const double objective = result.objective;
    const double predicted = plan.predicted_time_us();
    if (std::abs(predicted - objective) >
        1e-6 * std::max({std::abs(objective), std::abs(predicted), 1.0})) {
      return absl::InternalError(absl::StrFormat(
          "plan predicted time %.6f us differs from the ILP objective %.6f us",
          predicted, objective));
    }
    const absl::Time layout_start = absl::Now();
    AUTOTM_ASSIGN_OR_RETURN(AllocationReport layout, LayOutOnce(plan));
    const double layout_seconds =
        absl::ToDoubleSeconds(absl::Now() - layout_start);
    layout_seconds_ = std::max(layout_seconds_, layout_seconds);
    RoundPlan laid_out{
        .plan = std::move(plan),
        .layout = std::move(layout),
        .layout_seconds = layout_seconds,
        .stopped = result.termination == SolveTermination::kCancelled};
    if (!laid_out.layout.fits && options_.heuristic &&
        (round == 1 || round == kMaxAllocationRounds || laid_out.stopped)) {
      HeuristicOptions repair_options;
      repair_options.allow_moves = options_.method != v1::METHOD_STATIC;
      repair_options.alignment_bytes = options_.alignment_bytes;
      repair_options.skyline_layouts = options_.skyline_layouts;
      repair_options.time_limit_seconds =
          options_.time_limit_seconds -
          absl::ToDoubleSeconds(absl::Now() - start_) - layout_seconds_;
      absl::StatusOr<std::optional<v1::Plan>> repaired =
          RepairLayout(graph_, profile_, options_.budget_bytes, laid_out.plan,
                       repair_options);
      if (repaired.ok() && repaired->has_value()) {
        best_.Offer(**repaired, PlanSource::kLayoutRepair,
                    absl::StrFormat("the ILP's round-%d plan with its pool "
                                    "layout repaired",
                                    round));
        if (std::optional<v1::Plan> restored = RestoreRecomputes(
                graph_, profile_, laid_out.plan, **repaired,
                options_.budget_bytes, options_.alignment_bytes)) {
          best_.Offer(*restored, PlanSource::kLayoutRepair,
                      absl::StrFormat("the ILP's round-%d plan with its pool "
                                      "layout repaired and its re-runs kept",
                                      round));
        }
      }
      laid_out.proven =
          GapToBound(best_.time_us(), budget_bound_) <= options_.relative_gap;
    }
    return laid_out;
  }

  // Window search's check (SolveRootThenWindows): whether the plan of
  // `values`, a solution of `formulation`, lays out in the pool - around
  // the layout of the last plan that did, starting with the plan the solve
  // started from (window_anchor_), else from scratch. A plan that does
  // becomes the anchor and is kept with its layout (window_accepted_): the
  // search's result is the last plan it accepted, and the round lays it out
  // as the check did. Laid out again, from scratch and under the round's
  // repair limits and clock, an accepted plan could overflow: DenseNet-121
  // bs8 async at 10%, beside the CI check, had round 1's plan 2.34% from
  // the bound but 0.11% over the pool, and the call returned the
  // heuristic's. And the start need not fit from scratch: the sync seed of
  // ResNet-18 bs16 at 10% (put on this path for the experiment) did not,
  // and its windows, checked from scratch, improved 7 times in 52 (38
  // rejected); around the seed's layout, 12 times in 54 (33 rejected).
  bool LaysOutForWindows(const Formulation& formulation,
                         std::span<const double> values) {
    absl::StatusOr<v1::Plan> plan =
        PlanOfSolution(graph_, profile_, options_, formulation, values);
    if (!plan.ok()) return false;
    std::string key = plan->SerializeAsString();
    if (window_accepted_.has_value() && window_accepted_->plan == key) {
      return true;
    }
    absl::StatusOr<AllocationReport> layout = LayOutForWindows(
        graph_, options_,
        window_anchor_.has_value() ? &*window_anchor_ : nullptr, &*plan);
    if (!layout.ok() || !layout->fits) return false;
    window_anchor_ = *plan;
    window_accepted_ =
        KnownLayout{std::move(key), *std::move(plan), *std::move(layout)};
    return true;
  }

  // AssignOffsets for a round's plan, with the round's repair layouts. A
  // bisection round often returns a plan an earlier round already laid out
  // (ResNet-50 bs2 at 25%: rounds 1, 3 and 5 the same plan, each 256 repair
  // layouts that never fit, 6.5-8 s apiece at a load of 9 on 2 cores): its
  // layout is taken from that round, offsets and report, unless the clock
  // cut that one short. The same layout either way: AssignOffsets is a
  // function of the plan when the clock does not stop it.
  absl::StatusOr<AllocationReport> LayOutOnce(v1::Plan& plan) {
    std::string key = plan.SerializeAsString();
    if (window_accepted_.has_value() && window_accepted_->plan == key) {
      plan = window_accepted_->laid_out;
      return window_accepted_->report;
    }
    for (const auto& [known, laid_out, report] : layouts_) {
      if (known != key) continue;
      plan = laid_out;
      return report;
    }
    AUTOTM_ASSIGN_OR_RETURN(
        AllocationReport report,
        AssignOffsets(graph_, options_.budget_bytes, options_.alignment_bytes,
                      &plan, RoundLayoutRepairRounds(), RoundLayoutRepairTime(),
                      RoundLayoutRepairWork(), kMaxClassicLayoutPairs,
                      SkylineLayoutPairs(options_.skyline_layouts)));
    if (!report.repair_stopped_by_time) {
      layouts_.push_back({std::move(key), plan, report});
    }
    return report;
  }

  int RoundLayoutRepairRounds() const {
    return options_.method == v1::METHOD_ASYNCHRONOUS
               ? kMaxLayoutRepairRounds
               : kRoundLayoutRepairRounds;
  }
  // The reserve SolveRound leaves free for the round's layout.
  double LayoutRepairReserveSeconds() const {
    return solver::LayoutRepairReserveSeconds(options_.time_limit_seconds);
  }
  // The repair layouts of a round are bounded by their work
  // (PlanOptions::layout_repair_work), which normally takes about a quarter
  // of the reserve, so that a round's layout - and with it the next round's
  // limits - is the same on a loaded machine as on an idle one; a cap at the
  // reserve itself made the rounds depend on the load (docs/EVALUATION.md,
  // "Deterministic repair layouts"). The clock cap is only a safety net for
  // a starved machine: two reserves, never past the call's limit. Without
  // it a starved round 1 (Inception v3 bs2 with two CPU hogs beside it)
  // spent 13.8 s on its layouts, a later round's solve kept that much back
  // (layout_seconds_) and found no plan in the 3.6 s left; with three
  // reserves it spent 8.5 s, and the next solve found none in 3.9 s.
  int64_t RoundLayoutRepairWork() const {
    return options_.layout_repair_work.value_or(
        LayoutRepairWork(options_.time_limit_seconds));
  }
  absl::Duration RoundLayoutRepairTime() const {
    const double left = options_.time_limit_seconds -
                        absl::ToDoubleSeconds(absl::Now() - start_);
    return absl::Seconds(std::clamp(
        left, 0.0,
        kLayoutRepairTimeCapReserves * LayoutRepairReserveSeconds()));
  }

  // Sets the limits of the next allocation round after `laid_out`, this
  // round's plan (`overflow`: where and by how much it overflowed the
  // pool); false when the loop ends here. Until a round's plan fits, each
  // round lowers the limits over the whole stretch where its overflowing
  // blocks are live to the plan's peak there less the overflow
  // (LowerLimitsByOverflow); AutoTM's fixed factor near the blocks' ends
  // lowered them by 1-20% however small the overflow, and the plan that fit
  // paid for the excess. Once a round fits (not the first: that plan is the
  // budget's optimum), the rounds bisect between the lowest limits that
  // overflowed and the highest that fit (MidwayLimits) while the fitting
  // plan sits above the gap to the budget's bound, the two limits differ by
  // more than BisectionResolution() somewhere, and time and rounds are
  // left. The fastest fitting round plan is kept in best_fitting_.
  bool NextLimits(int round, const RoundPlan& laid_out,
                  const PoolOverflow& overflow) {
    if (laid_out.layout.fits) {
      if (!best_fitting_.has_value() ||
          laid_out.plan.predicted_time_us() <
              best_fitting_->plan.predicted_time_us()) {
        if (best_fitting_.has_value()) KeepWindowStart(best_fitting_->plan);
        best_fitting_ = laid_out;
      } else {
        KeepWindowStart(laid_out.plan);
      }
      fitting_limits_ = limits_;
    } else {
      overflowing_limits_ = limits_;
    }
    if (laid_out.stopped || round >= kMaxAllocationRounds ||
        absl::Now() - start_ >= absl::Seconds(options_.time_limit_seconds)) {
      return false;
    }
    if (!fitting_limits_.has_value()) {
      limits_ = LowerLimitsByOverflow(std::move(limits_), overflow,
                                      options_.alignment_bytes);
      return true;
    }
    if (round == 1) return false;
    // A bisection round only improves on a plan in hand: start one only
    // when its model build, a short solve and its layout fit in the time
    // left (the lowering rounds above must go on to find a plan that fits).
    const double left = options_.time_limit_seconds -
                        absl::ToDoubleSeconds(absl::Now() - start_);
    // The layout's share as SolveRound keeps it back: a round started with
    // less left gets CBC's 0.5 s floor, which large models overrun.
    if (left < last_build_seconds_ +
                   std::max(layout_seconds_, LayoutRepairReserveSeconds()) +
                   1.0) {
      return false;
    }
    const double fastest =
        std::min(best_fitting_->plan.predicted_time_us(), best_.time_us());
    if (GapToBound(fastest, budget_bound_) <= options_.relative_gap ||
        LargestLimitDifference(*fitting_limits_, overflowing_limits_) <
            BisectionResolution()) {
      return false;
    }
    limits_ = MidwayLimits(*fitting_limits_, overflowing_limits_,
                           options_.alignment_bytes);
    return limits_ != *fitting_limits_;
  }

  // Keeps `plan`, a round plan that fit but is not the fastest, as a start
  // for window search (Finish): the kMoreWindowStarts fastest, fastest
  // first.
  void KeepWindowStart(const v1::Plan& plan) {
    auto faster = [](const v1::Plan& a, const v1::Plan& b) {
      return a.predicted_time_us() < b.predicted_time_us();
    };
    more_window_starts_.insert(
        std::upper_bound(more_window_starts_.begin(), more_window_starts_.end(),
                         plan, faster),
        plan);
    if (more_window_starts_.size() > kMoreWindowStarts) {
      more_window_starts_.pop_back();
    }
  }

  // Bisection stops when the limits that fit and those that overflowed
  // differ by less than this anywhere: a thousandth of the budget (below
  // what a round's solve is worth) or two alignments.
  uint64_t BisectionResolution() const {
    return std::max<uint64_t>(
        options_.budget_bytes / 1000,
        2 * std::max<uint64_t>(options_.alignment_bytes, 1));
  }

  // The last round: when lowering limits found nothing that fits and beats
  // the best plan in hand, window search around that plan under the
  // budget's own limits; then the faster of the round's plan (when it
  // fits) and the best plan in hand.
  absl::StatusOr<PlanOutcome> Finish(int round, RoundPlan laid_out) {
    const double predicted = laid_out.plan.predicted_time_us();
    const AllocationReport& layout = laid_out.layout;
    // Window search around the leading plan, under the budget's own limits
    // and accepting only plans that lay out in the pool: around the best
    // plan in hand when the round's plan does not fit or is slower; around
    // the round's plan when it fits only because lowered limits left room
    // for the layout and sits above the gap to the budget's bound (the
    // fragmentation price), to use the time left on that price.
    const bool round_plan_leads = layout.fits && !(best_.time_us() < predicted);
    const bool worth_searching =
        round_plan_leads
            ? !(GapToBound(predicted, budget_bound_) <= options_.relative_gap)
            : best_.has_value();
    if (worth_searching && first_round_.has_value() && !laid_out.stopped) {
      AUTOTM_ASSIGN_OR_RETURN(
          std::optional<v1::Plan> repaired,
          ImproveSeedByWindows(
              *solver_, graph_, profile_, options_, *first_round_,
              round_plan_leads ? laid_out.plan : best_.plan(),
              start_ + absl::Seconds(options_.time_limit_seconds),
              &outcome_.stats));
      if (repaired.has_value()) {
        best_.Offer(*repaired, PlanSource::kWindowRepair,
                    "the plan window search found around the leading plan "
                    "under the budget's own limits");
      }
      // Window search is a local search: from another fitting round plan,
      // slower but laid out differently, it can end faster than from the
      // fastest (the README's example: from the rounds' 9.276 ms plan it
      // found nothing, from another fitting round plan 9.247 ms). Small models
      // leave time for that; each search stops when a sweep improves
      // nothing, or at the limit.
      const double fitting = layout.fits ? predicted : kInfinity;
      for (const v1::Plan& start : more_window_starts_) {
        if (GapToBound(std::min(best_.time_us(), fitting), budget_bound_) <=
            options_.relative_gap) {
          break;
        }
        AUTOTM_ASSIGN_OR_RETURN(
            std::optional<v1::Plan> found,
            ImproveSeedByWindows(
                *solver_, graph_, profile_, options_, *first_round_, start,
                start_ + absl::Seconds(options_.time_limit_seconds),
                &outcome_.stats));
        if (found.has_value()) {
          best_.Offer(*found, PlanSource::kWindowRepair,
                      "the plan window search found around another round "
                      "plan that fit, under the budget's own limits");
        }
      }
    }
    if (!layout.fits) {
      return Conclude(
          options_, budget_bound_, std::nullopt, best_, shared_,
          absl::StrFormat(
              "the best ILP plan needs a %u-byte pool for its fast tensors "
              "(fragmentation) and %d round(s) of lowering limits did not "
              "make it fit the %u-byte budget",
              layout.required_bytes, round, options_.budget_bytes),
          std::move(outcome_));
    }
    std::string why;
    // Optimal under lowered limits is optimal for the budget only when the
    // first round's bound says so; FEASIBLE then means a layout-forced
    // stop, not the time limit, and the diagnostic says so.
    v1::SolverStats& stats = outcome_.stats;
    if (round > 1 && stats.termination() == v1::TERMINATION_OPTIMAL &&
        !(GapToBound(predicted, budget_bound_) <= options_.relative_gap)) {
      stats.set_termination(v1::TERMINATION_FEASIBLE);
      why = absl::StrFormat(
          "the plan is optimal under kernel limits lowered in %d round(s) to "
          "avoid fragmentation, not proven within the gap for the budget "
          "itself (a layout-forced stop, not the time limit)",
          round - 1);
    }
    return Conclude(options_, budget_bound_, std::move(laid_out.plan), best_,
                    shared_, why, std::move(outcome_));
  }

  const GraphModel& graph_;
  const ProfileModel& profile_;
  const PlanOptions& options_;
  Solver* const solver_;
  CallShared& shared_;
  const absl::Time start_;
  // Fast bytes allowed at each kernel: the budget, lowered near overflows.
  std::vector<uint64_t> limits_;
  // The first round's bound (see SolveRound); -inf: none.
  double budget_bound_ = -kInfinity;
  // The longest pool layout of a round so far: a later round's CBC limit
  // leaves that much for laying out its own plan.
  double layout_seconds_ = 0;
  // How long the last round's model took to build.
  double last_build_seconds_ = 0;
  // The first round's model, kept when its plan does not fit the pool.
  std::optional<Formulation> first_round_;
  // The fastest round plan that laid out in the pool, and the limits of the
  // last round whose plan fit and of the last whose plan did not (the
  // bracket NextLimits bisects).
  std::optional<RoundPlan> best_fitting_;
  // Other round plans that fit, fastest first (KeepWindowStart).
  static constexpr size_t kMoreWindowStarts = 3;
  std::vector<v1::Plan> more_window_starts_;
  // The rounds' plans as assembled (serialized), laid out (LayOutOnce).
  struct KnownLayout {
    std::string plan;
    v1::Plan laid_out;
    AllocationReport report;
  };
  std::vector<KnownLayout> layouts_;
  // Window search's anchor and the last plan its check accepted, laid out
  // (LaysOutForWindows).
  std::optional<v1::Plan> window_anchor_;
  std::optional<KnownLayout> window_accepted_;
  std::optional<std::vector<uint64_t>> fitting_limits_;
  std::vector<uint64_t> overflowing_limits_;
  PlanOutcome outcome_;
  // Every valid plan the call meets competes with the ILP's own: the call
  // never returns a plan slower than one it had in hand (first touch, the
  // poorer variant's seed, the caller's warm start, a window repair).
  BestPlan best_;
  std::optional<v1::Plan> seed_;
  // ASYNCHRONOUS: how long the synchronous seed took to build its model
  // (per allocation round).
  double sync_build_seconds_ = 0;
};

}  // namespace

double LayoutRepairReserveSeconds(double time_limit_seconds) {
  return std::clamp(0.05 * time_limit_seconds, 0.2, 3.0);
}

int64_t LayoutRepairWork(double time_limit_seconds) {
  return static_cast<int64_t>(kLayoutRepairStepsPerSecond *
                              LayoutRepairReserveSeconds(time_limit_seconds));
}

int WindowRootCutsMaxColumns(const PlanOptions& options, int columns,
                             double root_seconds) {
  const bool time_for_cuts =
      root_seconds >= kWindowRootCutSecondsPerColumn * std::max(0, columns);
  return time_for_cuts ? options.window_root_cuts_max_columns : 0;
}

int AsyncSliceRootCutsMaxColumns(const PlanOptions& options, int columns,
                                 double slice_seconds) {
  const bool time_for_cuts =
      slice_seconds >= kRootCutSecondsPerColumn * std::max(0, columns);
  return time_for_cuts ? std::max(kDefaultRootCutsMaxColumns,
                                  options.async_root_cuts_max_columns)
                       : kDefaultRootCutsMaxColumns;
}

bool IsIlpMethod(v1::Method method) {
  return method == v1::METHOD_STATIC || method == v1::METHOD_SYNCHRONOUS ||
         method == v1::METHOD_ASYNCHRONOUS;
}

const char* MethodName(v1::Method method) {
  switch (method) {
    case v1::METHOD_STATIC:
      return "static";
    case v1::METHOD_SYNCHRONOUS:
      return "sync";
    case v1::METHOD_ASYNCHRONOUS:
      return "async";
    case v1::METHOD_ALL_FAST:
      return "all-fast";
    case v1::METHOD_ALL_SLOW:
      return "all-slow";
    case v1::METHOD_FIRST_TOUCH:
      return "first-touch";
    case v1::METHOD_HEURISTIC:
      return "heuristic";
    case v1::METHOD_TWO_LEVEL_MEMORY:
      return "2lm";
    default:
      return "unspecified";
  }
}

const char* TerminationName(v1::Termination termination) {
  switch (termination) {
    case v1::TERMINATION_OPTIMAL:
      return "OPTIMAL";
    case v1::TERMINATION_FEASIBLE:
      return "FEASIBLE";
    case v1::TERMINATION_INFEASIBLE:
      return "INFEASIBLE";
    case v1::TERMINATION_NO_SOLUTION:
      return "NO_SOLUTION";
    case v1::TERMINATION_CANCELLED:
      return "CANCELLED";
    case v1::TERMINATION_HEURISTIC:
      return "HEURISTIC";
    default:
      return "UNSPECIFIED";
  }
}

int64_t IlpLiveEntries(const GraphModel& graph) {
  int64_t entries = 0;
  for (const TensorInfo& tensor : graph.tensors()) {
    entries += tensor.last_live - tensor.first_live + 1;
  }
  return entries;
}

namespace {

// An ILP call on a graph whose model would exceed
// options.max_ilp_live_entries: the heuristic's plan (without moves for
// STATIC) instead of an ILP that would not fit in memory, saying so.
absl::StatusOr<PlanOutcome> PlanWithoutIlp(const GraphModel& graph,
                                           const ProfileModel& profile,
                                           const PlanOptions& options,
                                           int64_t live_entries) {
  AUTOTM_ASSIGN_OR_RETURN(PlanOutcome outcome,
                          RunHeuristic(graph, profile, options.budget_bytes,
                                       HeuristicOptionsOf(options)));
  const std::string note = absl::StrCat(
      "ILP skipped: the ", MethodName(options.method), " model of ",
      graph.num_kernels(), " kernels would hold ", live_entries,
      " live (tensor, kernel) pairs, above the limit of ",
      options.max_ilp_live_entries);
  // The plan names its solver; this one says why it is not CBC, so that a
  // plan fetched from the server explains itself.
  const std::string solver =
      absl::StrCat(outcome.stats.solver(), " (", note, ")");
  outcome.stats.set_solver(solver);
  outcome.diagnostic = outcome.diagnostic.empty()
                           ? note
                           : absl::StrCat(note, "; ", outcome.diagnostic);
  if (outcome.plan.has_value()) {
    outcome.plan->mutable_stats()->set_solver(solver);
    outcome.source = PlanSource::kHeuristic;
  }
  return outcome;
}

}  // namespace

absl::StatusOr<PlanOutcome> PlanGraph(const GraphModel& graph,
                                      const ProfileModel& profile,
                                      const PlanOptions& options,
                                      Solver* solver) {
  AUTOTM_RETURN_IF_ERROR(CheckCoverage(graph, profile));
  if (options.method == v1::METHOD_HEURISTIC) {
    if (!(options.time_limit_seconds > 0)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "time limit must be > 0 s (got ", options.time_limit_seconds, ")"));
    }
    AUTOTM_ASSIGN_OR_RETURN(PlanOutcome outcome,
                            RunHeuristic(graph, profile, options.budget_bytes,
                                         HeuristicOptionsOf(options)));
    if (outcome.plan.has_value()) outcome.source = PlanSource::kHeuristic;
    return outcome;
  }
  if (options.method == v1::METHOD_TWO_LEVEL_MEMORY) {
    TwoLevelMemoryOptions cache;
    cache.cache_bytes = options.budget_bytes;
    cache.line_bytes = options.cache_line_bytes;
    AUTOTM_ASSIGN_OR_RETURN(v1::Plan plan,
                            TwoLevelMemoryPlan(graph, profile, cache));
    PlanOutcome outcome;
    outcome.stats = plan.stats();
    outcome.plan = std::move(plan);
    outcome.source = PlanSource::kBaseline;
    return outcome;
  }
  if (!IsIlpMethod(options.method)) {
    AUTOTM_ASSIGN_OR_RETURN(
        PlanOutcome outcome,
        RunBaseline(graph, profile, options.method, options.budget_bytes,
                    options.alignment_bytes));
    if (outcome.plan.has_value()) outcome.source = PlanSource::kBaseline;
    return outcome;
  }
  if (solver == nullptr) {
    return absl::InvalidArgumentError("an ILP method needs a solver backend");
  }
  if (!(options.time_limit_seconds > 0) || !(options.relative_gap >= 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "time limit must be > 0 s (got ", options.time_limit_seconds,
        ") and relative gap >= 0 (got ", options.relative_gap, ")"));
  }
  if (const int64_t live_entries = IlpLiveEntries(graph);
      live_entries > options.max_ilp_live_entries) {
    return PlanWithoutIlp(graph, profile, options, live_entries);
  }
  CallShared shared;
  return IlpPlanning(graph, profile, options, solver, shared).Run();
}

}  // namespace autotm::solver
