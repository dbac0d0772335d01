// `autotm-corpus-bench`: the planner on graphs nobody tuned it for (issue 21).
//
// Plans every graph of a corpus - zoo training graphs at several batches and
// any graphs captured from real models (`python -m autotm.torch capture`) -
// at fractions of its peak fast memory, with each variant, priced by the
// Optane cost model, and prints per variant: the geometric-mean slowdown
// against the all-fast plan, the geometric mean and worst gap to the
// solver's bound, how many plans are the heuristic's or first touch's
// (HEURISTIC), how many of those are more than 1.10x the bound, and the
// violations of the planner's guarantees, which must be 0: a plan that fails
// the independent verifier, a plan slower than the heuristic's plan or than
// the poorer variant's plan its call started from, and a curve that rises
// with the budget (each graph and variant is planned as one sweep over its
// budgets, as `autotm sweep` does). --compare-heuristic runs every cell a
// second time without the heuristic, the planner before it existed;
// --compare-time-shares once more with the fixed quarter-time seeds of
// earlier versions (PlanOptions::adaptive_seed_time); --compare-repetition
// once more with PlanOptions::exploit_repetition (off by default), whose
// cells report the tied model's size and its broadcast plan, compared with
// the planner's (the full ILP alone). --model-sizes only builds each cell's
// first model and prints its size with and without repetition tied (no
// solving).
//
// A benchmark, not a test: the figures depend on the machine and on the
// load (CBC gets one thread). The exit code is 1 when a guarantee is
// violated or a plan fails verification, so a quick run is also a smoke test.
//
// CLI11 reports parse errors by throwing; those exceptions are caught right
// at the parse call in main() and nowhere else.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "autotm/v1/graph.pb.h"
#include "autotm/v1/plan.pb.h"
#include "client/bench/bench_report.h"
#include "client/common/proto_json.h"
#include "client/costmodel/cost_model.h"
#include "client/zoo/zoo.h"
#include "solver/allocator.h"
#include "solver/baselines.h"
#include "solver/cbc_solver.h"
#include "solver/defaults.h"
#include "solver/formulation.h"
#include "solver/graph_model.h"
#include "solver/planner.h"
#include "solver/profile_model.h"
#include "solver/repetition.h"
#include "solver/sweep.h"
#include "solver/verifier.h"

namespace autotm::bench {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitViolation = 1;
constexpr int kExitUsage = 2;

struct Flags {
  std::string zoo =
      "vgg19:2,vgg19:32,resnet50:2,resnet50:32,inception_v4:2,"
      "inception_v4:32,densenet264:2,densenet264:32";
  std::string graph_dir;
  std::string profile;  // --profile: price --graph-dir's graphs with it
  std::string budgets = "50,25,10";
  std::string variants = "static,sync,async";
  double time_limit = solver::kDefaultTimeLimitSeconds;
  double async_time_limit = 300;
  bool compare_heuristic = false;
  bool compare_time_shares = false;
  bool compare_repetition = false;
  bool model_sizes = false;
  bool quick = false;
  bool rounds = false;
  std::string csv_path;
};

// A configuration of the planner that cells are planned with.
struct Mode {
  std::string name;                // "planner": as it is
  std::string description;         // for the summary's title
  bool heuristic = true;           // PlanOptions::heuristic
  bool adaptive_seed_time = true;  // PlanOptions::adaptive_seed_time
  // PlanOptions::exploit_repetition
  bool exploit_repetition = solver::PlanOptions{}.exploit_repetition;
};

struct Workload {
  std::string name;
  std::optional<solver::GraphModel> graph;
  std::optional<solver::ProfileModel> profile;
  double all_fast_us = 0;
  uint64_t peak = 0;
};

// One planned cell.
struct Cell {
  std::string workload;
  std::string variant;
  std::string mode;  // Mode::name
  int budget_percent = 0;
  bool has_plan = false;
  double time_us = 0;
  double slowdown = 0;
  double gap = std::numeric_limits<double>::infinity();
  bool bound = false;
  bool fallback = false;  // HEURISTIC: the heuristic's or first touch's plan
  bool fallback_far = false;  // ... and more than 1.10x the bound
  std::vector<std::string> violations;
  double seconds = 0;
  std::string source;
  // PlanOptions::exploit_repetition's report, when the call made one.
  std::optional<solver::RepetitionReport> repetition;
  // The call's allocation rounds (printed with --rounds).
  std::vector<solver::AllocationRound> rounds;
  uint64_t budget_bytes = 0;
  double bound_us = 0;
};

const char* SourceName(solver::PlanSource source) {
  switch (source) {
    case solver::PlanSource::kNone:
      return "none";
    case solver::PlanSource::kBaseline:
      return "baseline";
    case solver::PlanSource::kIlp:
      return "ilp";
    case solver::PlanSource::kSeed:
      return "seed";
    case solver::PlanSource::kWarmStart:
      return "smaller-budget";
    case solver::PlanSource::kWindowRepair:
      return "window-repair";
    case solver::PlanSource::kLayoutRepair:
      return "layout-repair";
    case solver::PlanSource::kFirstTouch:
      return "first-touch";
    case solver::PlanSource::kHeuristic:
      return "heuristic";
    case solver::PlanSource::kRepetition:
      return "repetition";
  }
  return "?";
}

// `profile_path`: price the graph with this profile file instead of the
// cost model (empty: the cost model).
absl::StatusOr<Workload> Prepare(std::string name, const v1::Graph& graph,
                                 const costmodel::CostModel& cost_model,
                                 const std::string& profile_path = "") {
  Workload w;
  w.name = std::move(name);
  absl::StatusOr<solver::GraphModel> model = solver::GraphModel::Create(graph);
  if (!model.ok()) return model.status();
  absl::StatusOr<v1::Profile> profile;
  if (profile_path.empty()) {
    profile = costmodel::SynthesizeProfile(graph, cost_model);
  } else {
    profile.emplace();
    if (absl::Status status =
            client::ReadProtoJsonFile(profile_path, &*profile);
        !status.ok()) {
      return status;
    }
  }
  if (!profile.ok()) return profile.status();
  absl::StatusOr<solver::ProfileModel> profile_model =
      solver::ProfileModel::Create(*profile);
  if (!profile_model.ok()) return profile_model.status();
  w.graph = std::move(*model);
  w.profile = std::move(*profile_model);
  w.peak =
      solver::AlignedPeakLiveBytes(*w.graph, solver::kDefaultAlignmentBytes);
  absl::StatusOr<solver::PlanOutcome> all_fast =
      solver::RunBaseline(*w.graph, *w.profile, v1::METHOD_ALL_FAST,
                          2 * w.peak);  // room for its layout
  if (!all_fast.ok()) return all_fast.status();
  if (!all_fast->plan.has_value()) {
    return absl::InternalError(
        absl::StrCat(w.name, ": no all-fast plan: ", all_fast->diagnostic));
  }
  w.all_fast_us = all_fast->plan->predicted_time_us();
  return w;
}

// Plans one workload with one variant over every budget, as one sweep.
std::vector<Cell> RunSweep(const Workload& w, v1::Method method,
                           const std::vector<int>& percents, const Mode& mode,
                           double time_limit, solver::Solver& solver) {
  std::vector<uint64_t> budgets;
  for (int percent : percents) {
    budgets.push_back(
        static_cast<uint64_t>(static_cast<double>(w.peak) * percent / 100.0));
  }
  solver::SweepOptions options;
  options.plan.method = method;
  options.plan.time_limit_seconds = time_limit;
  options.plan.heuristic = mode.heuristic;
  options.plan.adaptive_seed_time = mode.adaptive_seed_time;
  options.plan.exploit_repetition = mode.exploit_repetition;
  options.plan.threads = 1;
  std::vector<Cell> cells;
  auto on_budget = [&](const solver::SweepPoint& point) {
    Cell cell;
    cell.workload = w.name;
    cell.variant = solver::MethodName(method);
    cell.mode = mode.name;
    cell.budget_percent = static_cast<int>(
        std::lround(100.0 * static_cast<double>(point.budget_bytes) /
                    static_cast<double>(w.peak)));
    cell.seconds = point.wall_seconds;
    cell.source = SourceName(point.outcome.source);
    const solver::PlanOutcome& outcome = point.outcome;
    cell.repetition = outcome.repetition;
    cell.rounds = outcome.allocation_rounds;
    cell.budget_bytes = point.budget_bytes;
    cell.bound_us = outcome.stats.best_bound_us();
    if (!outcome.plan.has_value()) {
      cells.push_back(std::move(cell));
      return;
    }
    const v1::Plan& plan = *outcome.plan;
    cell.has_plan = true;
    cell.time_us = plan.predicted_time_us();
    cell.slowdown = cell.time_us / w.all_fast_us;
    const double bound = outcome.stats.best_bound_us();
    cell.bound = std::isfinite(bound) && bound > 0;
    if (cell.bound) cell.gap = std::max(0.0, cell.time_us / bound - 1);
    cell.fallback = outcome.stats.termination() == v1::TERMINATION_HEURISTIC;
    cell.fallback_far =
        cell.fallback && cell.bound && cell.time_us > 1.10 * bound;
    absl::Status verified =
        solver::VerifyPlan(*w.graph, *w.profile, plan, point.budget_bytes,
                           /*require_offsets=*/true)
            .status();
    if (!verified.ok()) {
      cell.violations.push_back(absl::StrCat("verifier: ", verified.message()));
    }
    constexpr double kSlack = 1 + 1e-9;
    if (outcome.heuristic_time_us.has_value() &&
        cell.time_us > *outcome.heuristic_time_us * kSlack) {
      cell.violations.push_back(absl::StrFormat(
          "slower than the heuristic's plan (%.3f ms > %.3f ms)",
          cell.time_us / 1000, *outcome.heuristic_time_us / 1000));
    }
    if (outcome.seed_time_us.has_value() &&
        cell.time_us > *outcome.seed_time_us * kSlack) {
      cell.violations.push_back(absl::StrFormat(
          "slower than its poorer-variant seed (%.3f ms > %.3f ms)",
          cell.time_us / 1000, *outcome.seed_time_us / 1000));
    }
    cells.push_back(std::move(cell));
  };
  absl::StatusOr<solver::SweepResult> result = solver::PlanSweep(
      *w.graph, *w.profile, budgets, options, &solver, on_budget);
  if (!result.ok()) {
    Cell cell;
    cell.workload = w.name;
    cell.variant = solver::MethodName(method);
    cell.mode = mode.name;
    cell.violations.push_back(
        absl::StrCat("planner error: ", result.status().ToString()));
    cells.push_back(std::move(cell));
    return cells;
  }
  // Budgets ascend in a sweep: the curve must never rise.
  std::sort(cells.begin(), cells.end(), [](const Cell& a, const Cell& b) {
    return a.budget_percent < b.budget_percent;
  });
  for (size_t i = 1; i < cells.size(); ++i) {
    if (cells[i].has_plan && cells[i - 1].has_plan &&
        cells[i].time_us > cells[i - 1].time_us * (1 + 1e-9)) {
      cells[i].violations.push_back(absl::StrFormat(
          "slower (%.3f ms) than at %d%% (%.3f ms)", cells[i].time_us / 1000,
          cells[i - 1].budget_percent, cells[i - 1].time_us / 1000));
    }
  }
  return cells;
}

std::string Fixed(double value, int digits) {
  return std::isfinite(value) ? absl::StrFormat("%.*f", digits, value) : "-";
}

// The per-variant summary of the `cells` planned in `mode`.
TextTable Summary(const std::vector<Cell>& cells,
                  const std::vector<std::string>& variants,
                  const std::string& mode) {
  TextTable table;
  table.header = {"variant",     "cells",     "plans",     "geomean slowdown",
                  "geomean gap", "worst gap", "HEURISTIC", "> 1.10x bound",
                  "violations",  "wall s"};
  table.right_aligned = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  for (const std::string& variant : variants) {
    std::vector<double> slowdowns;
    std::vector<double> gaps;
    double worst_gap = 0;
    int count = 0, plans = 0, fallbacks = 0, far = 0, violations = 0;
    double seconds = 0;
    for (const Cell& cell : cells) {
      if (cell.variant != variant || cell.mode != mode) continue;
      ++count;
      seconds += cell.seconds;
      violations += static_cast<int>(cell.violations.size());
      if (!cell.has_plan) continue;
      ++plans;
      slowdowns.push_back(cell.slowdown);
      if (cell.bound) {
        gaps.push_back(1 + cell.gap);
        worst_gap = std::max(worst_gap, cell.gap);
      }
      fallbacks += cell.fallback;
      far += cell.fallback_far;
    }
    const std::optional<double> slowdown = GeometricMean(slowdowns);
    const std::optional<double> gap = GeometricMean(gaps);
    table.rows.push_back(
        {variant, absl::StrCat(count), absl::StrCat(plans),
         slowdown.has_value() ? absl::StrFormat("%.3fx", *slowdown) : "-",
         gap.has_value() ? absl::StrFormat("%.2f%%", 100 * (*gap - 1)) : "-",
         gaps.empty() ? "-" : absl::StrFormat("%.2f%%", 100 * worst_gap),
         absl::StrCat(fallbacks), absl::StrCat(far), absl::StrCat(violations),
         Fixed(seconds, 1)});
  }
  return table;
}

// --compare-repetition: what repetition did in the cells of mode
// "repetition", per variant, and how they compare with the planner's cells
// (the full ILP alone) at equal limits, cell by cell.
TextTable RepetitionSummary(const std::vector<Cell>& cells,
                            const std::vector<std::string>& variants) {
  const bool compared = true;
  TextTable table;
  table.header = {"variant",       "cells",         "tied solves",
                  "int cols",      "tied int cols", "broadcast slowdown",
                  "final slowdown"};
  if (compared) {
    table.header.insert(table.header.end(),
                        {"full-ILP-alone slowdown", "faster", "slower",
                         "wall s (full alone)", "wall s (repetition)"});
  }
  table.right_aligned = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  for (const std::string& variant : variants) {
    int count = 0, solved = 0, faster = 0, slower = 0;
    double full_columns = 0, tied_columns = 0, seconds = 0, alone_seconds = 0;
    std::vector<double> broadcast, final_slowdowns, alone;
    for (const Cell& cell : cells) {
      if (cell.variant != variant || cell.mode != "repetition") continue;
      ++count;
      seconds += cell.seconds;
      if (cell.repetition.has_value()) {
        full_columns += cell.repetition->full_integer_columns;
        tied_columns += cell.repetition->tied_integer_columns;
        solved += cell.repetition->solved;
      }
      if (!cell.has_plan) continue;
      if (cell.repetition.has_value() &&
          cell.repetition->broadcast_time_us.has_value()) {
        broadcast.push_back(cell.slowdown *
                            *cell.repetition->broadcast_time_us / cell.time_us);
        final_slowdowns.push_back(cell.slowdown);
      }
      if (!compared) continue;
      for (const Cell& other : cells) {
        if (other.mode != "planner" || other.variant != variant ||
            other.workload != cell.workload ||
            other.budget_percent != cell.budget_percent) {
          continue;
        }
        alone_seconds += other.seconds;
        if (!other.has_plan) continue;
        alone.push_back(other.slowdown);
        faster += cell.time_us < other.time_us * (1 - 1e-6);
        slower += cell.time_us > other.time_us * (1 + 1e-6);
      }
    }
    auto mean = [](const std::vector<double>& values) {
      const std::optional<double> m = GeometricMean(values);
      return m.has_value() ? absl::StrFormat("%.3fx", *m) : std::string("-");
    };
    std::vector<std::string> row = {variant,
                                    absl::StrCat(count),
                                    absl::StrCat(solved),
                                    absl::StrFormat("%.0f", full_columns),
                                    absl::StrFormat("%.0f", tied_columns),
                                    mean(broadcast),
                                    mean(final_slowdowns)};
    if (compared) {
      row.insert(row.end(),
                 {mean(alone), absl::StrCat(faster), absl::StrCat(slower),
                  Fixed(alone_seconds, 1), Fixed(seconds, 1)});
    }
    table.rows.push_back(std::move(row));
  }
  return table;
}

// --model-sizes: each workload's and variant's model at the first budget,
// full and with repetition tied, built but not solved.
int PrintModelSizes(const std::vector<Workload>& corpus,
                    const std::vector<v1::Method>& methods, int percent) {
  TextTable table;
  table.header = {"workload",  "variant",        "kernels",    "runs",
                  "covered",   "int cols",       "rows",       "tied int cols",
                  "tied rows", "int cols ratio", "build+tie s"};
  table.right_aligned = {2, 3, 4, 5, 6, 7, 8, 9, 10};
  for (const Workload& w : corpus) {
    const solver::Repetition repetition = solver::FindRepetition(*w.graph);
    for (v1::Method method : methods) {
      if (!solver::IsIlpMethod(method)) continue;
      const auto start = std::chrono::steady_clock::now();
      solver::FormulationOptions options;
      options.method = method;
      options.alignment_bytes = solver::kDefaultAlignmentBytes;
      options.kernel_limit_bytes.assign(
          w.graph->num_kernels(),
          static_cast<uint64_t>(static_cast<double>(w.peak) * percent / 100));
      absl::StatusOr<solver::Formulation> formulation =
          solver::Formulation::Build(*w.graph, *w.profile, options);
      if (!formulation.ok()) {
        std::fprintf(stderr, "autotm-corpus-bench: %s %s: %s\n", w.name.c_str(),
                     solver::MethodName(method),
                     formulation.status().ToString().c_str());
        return kExitViolation;
      }
      const solver::IlpModel& full = formulation->model();
      const solver::TiedModel tied = solver::TieModel(
          full, solver::TieColumns(*w.graph, *formulation, repetition));
      const double seconds = std::chrono::duration<double>(
                                 std::chrono::steady_clock::now() - start)
                                 .count();
      table.rows.push_back(
          {w.name, solver::MethodName(method),
           absl::StrCat(w.graph->num_kernels()),
           absl::StrCat(repetition.runs.size()),
           absl::StrFormat("%.0f%%", 100.0 * repetition.covered_kernels /
                                         w.graph->num_kernels()),
           absl::StrCat(full.num_integer()), absl::StrCat(full.num_rows()),
           absl::StrCat(tied.model.num_integer()),
           absl::StrCat(tied.model.num_rows()),
           absl::StrFormat("%.3f",
                           static_cast<double>(tied.model.num_integer()) /
                               std::max(1, full.num_integer())),
           Fixed(seconds, 1)});
    }
  }
  std::printf(
      "Model sizes at %d%% of each graph's peak, full and with "
      "repetition tied:\n%s",
      percent, RenderTextTable(table).c_str());
  return kExitOk;
}

absl::StatusOr<std::vector<int>> ParsePercents(const std::string& text) {
  std::vector<int> percents;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    int percent = 0;
    if (!absl::SimpleAtoi(part, &percent) || percent <= 0 || percent > 100) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--budgets: \"", part, "\" is not a percentage in (0, 100]"));
    }
    percents.push_back(percent);
  }
  return percents;
}

absl::StatusOr<std::vector<v1::Method>> ParseVariants(
    const std::string& text, std::vector<std::string>* names) {
  const std::map<std::string, v1::Method> known = {
      {"static", v1::METHOD_STATIC},
      {"sync", v1::METHOD_SYNCHRONOUS},
      {"async", v1::METHOD_ASYNCHRONOUS},
      {"heuristic", v1::METHOD_HEURISTIC}};
  std::vector<v1::Method> methods;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    auto it = known.find(std::string(part));
    if (it == known.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--variants: unknown variant \"", part,
                       "\" (static, sync, async, heuristic)"));
    }
    methods.push_back(it->second);
    names->push_back(solver::MethodName(it->second));
  }
  return methods;
}

absl::StatusOr<std::vector<Workload>> LoadCorpus(
    const Flags& flags, const costmodel::CostModel& cost_model) {
  std::vector<Workload> corpus;
  for (absl::string_view entry :
       absl::StrSplit(flags.zoo, ',', absl::SkipEmpty())) {
    std::vector<std::string> parts = absl::StrSplit(entry, ':');
    int batch = 0;
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[1], &batch)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--zoo: \"", entry, "\" is not MODEL:BATCH"));
    }
    absl::StatusOr<v1::Graph> graph = zoo::BuildZooGraph(parts[0], batch);
    if (!graph.ok()) return graph.status();
    absl::StatusOr<Workload> w =
        Prepare(absl::StrCat(parts[0], " bs", batch), *graph, cost_model);
    if (!w.ok()) return w.status();
    corpus.push_back(*std::move(w));
  }
  if (!flags.graph_dir.empty()) {
    std::vector<std::filesystem::path> files;
    std::error_code error;
    for (const auto& entry :
         std::filesystem::directory_iterator(flags.graph_dir, error)) {
      if (entry.path().extension() == ".json") files.push_back(entry.path());
    }
    if (error) {
      return absl::InvalidArgumentError(
          absl::StrCat("--graph-dir ", flags.graph_dir, ": ", error.message()));
    }
    std::sort(files.begin(), files.end());
    for (const std::filesystem::path& file : files) {
      v1::Graph graph;
      if (absl::Status status =
              client::ReadProtoJsonFile(file.string(), &graph);
          !status.ok()) {
        return status;
      }
      absl::StatusOr<Workload> w =
          Prepare(file.stem().string(), graph, cost_model, flags.profile);
      if (!w.ok()) {
        return absl::Status(
            w.status().code(),
            absl::StrCat(file.string(), ": ", w.status().message()));
      }
      corpus.push_back(*std::move(w));
    }
  }
  if (corpus.empty()) {
    return absl::InvalidArgumentError(
        "the corpus is empty (--zoo, --graph-dir)");
  }
  return corpus;
}

// One finished cell on stderr: variant, mode, budget, slowdown, gap,
// plan source and time, and what repetition did.
void PrintCellLine(const Cell& cell) {
  std::fprintf(
      stderr, "  %-6s %-13s %3d%%  %s  gap %s  %-14s %6.1f s%s%s%s\n",
      cell.variant.c_str(), cell.mode.c_str(), cell.budget_percent,
      cell.has_plan ? absl::StrFormat("%.3fx", cell.slowdown).c_str()
                    : "no plan",
      cell.bound ? absl::StrFormat("%.2f%%", 100 * cell.gap).c_str() : "-",
      cell.source.c_str(), cell.seconds,
      cell.repetition.has_value() && cell.repetition->solved
          ? absl::StrFormat(
                "  tied %d/%d int cols%s",
                cell.repetition->tied_integer_columns,
                cell.repetition->full_integer_columns,
                cell.repetition->broadcast_time_us.has_value() && cell.has_plan
                    ? absl::StrFormat(", broadcast %.3fx",
                                      cell.slowdown *
                                          *cell.repetition->broadcast_time_us /
                                          cell.time_us)
                    : "")
                .c_str()
          : "",
      cell.violations.empty() ? "" : "  VIOLATION: ",
      cell.violations.empty() ? "" : cell.violations.front().c_str());
}

// --rounds: one line per allocation round of `cell` on stderr: its solve,
// its plan's gap to the call's bound, how far its layout overflowed the pool
// and over how many kernels, and how the round's limits sat below the
// budget (kernels lowered, the largest cut).
void PrintRoundLines(const Cell& cell) {
  for (size_t r = 0; r < cell.rounds.size(); ++r) {
    const solver::AllocationRound& round = cell.rounds[r];
    int lowered = 0;
    uint64_t largest_cut = 0;
    for (uint64_t limit : round.limits) {
      if (limit >= cell.budget_bytes) continue;
      ++lowered;
      largest_cut = std::max(largest_cut, cell.budget_bytes - limit);
    }
    const double budget = static_cast<double>(cell.budget_bytes);
    std::fprintf(
        stderr,
        "    round %zu: limits cut at %d kernels (up to %.2f%%), solve %.1f s, "
        "plan gap %s, pool %s%s%s\n",
        r + 1, lowered, 100 * static_cast<double>(largest_cut) / budget,
        round.solve_seconds,
        std::isfinite(round.objective_us) && cell.bound_us > 0
            ? absl::StrFormat("%.2f%%",
                              100 * (round.objective_us / cell.bound_us - 1))
                  .c_str()
            : "-",
        !std::isfinite(round.objective_us) ? "not laid out (no plan)"
        : round.fits
            ? "fits"
            : absl::StrFormat(
                  "over by %.2f%%",
                  100 * static_cast<double>(round.overflow.bytes) / budget)
                  .c_str(),
        round.fits || round.overflow.stretches.empty()
            ? ""
            : absl::StrFormat(
                  " over %d kernels in %zu stretch(es), kernels %d-%d",
                  round.overflow.kernels, round.overflow.stretches.size(),
                  round.overflow.stretches.front().first,
                  round.overflow.stretches.back().second)
                  .c_str(),
        round.repair_layouts == 0
            ? ""
            : absl::StrFormat(
                  ", %d repair layouts (%.1f M steps, %.2f s%s)",
                  round.repair_layouts,
                  static_cast<double>(round.repair_work) / 1e6,
                  round.layout_seconds,
                  round.repair_stopped_by_time ? ", stopped by the clock" : "")
                  .c_str());
  }
}

// Every cell as one CSV row (--csv), written atomically.
absl::Status WriteCellsCsv(const std::string& path,
                           const std::vector<Cell>& cells) {
  std::string csv = CsvRow({"workload", "variant", "mode", "budget_pct", "plan",
                            "time_us", "slowdown", "gap", "source",
                            "termination_heuristic", "violations", "seconds"});
  for (const Cell& cell : cells) {
    csv +=
        CsvRow({cell.workload, cell.variant, cell.mode,
                absl::StrCat(cell.budget_percent), cell.has_plan ? "yes" : "no",
                Fixed(cell.time_us, 3), Fixed(cell.slowdown, 5),
                cell.bound ? Fixed(cell.gap, 5) : "", cell.source,
                cell.fallback ? "yes" : "no",
                absl::StrCat(cell.violations.size()), Fixed(cell.seconds, 2)});
  }
  return client::WriteFileAtomically(path, csv);
}

int Run(const Flags& flags) {
  absl::StatusOr<std::vector<int>> percents = ParsePercents(flags.budgets);
  std::vector<std::string> variant_names;
  absl::StatusOr<std::vector<v1::Method>> methods =
      ParseVariants(flags.variants, &variant_names);
  for (const absl::Status& status : {percents.status(), methods.status()}) {
    if (!status.ok()) {
      std::fprintf(stderr, "autotm-corpus-bench: %s\n",
                   std::string(status.message()).c_str());
      return kExitUsage;
    }
  }
  absl::StatusOr<costmodel::CostModel> cost_model =
      costmodel::CostModelByName("optane-2019");
  if (!cost_model.ok()) {
    std::fprintf(stderr, "autotm-corpus-bench: %s\n",
                 cost_model.status().ToString().c_str());
    return kExitViolation;
  }
  absl::StatusOr<std::vector<Workload>> corpus = LoadCorpus(flags, *cost_model);
  if (!corpus.ok()) {
    std::fprintf(stderr, "autotm-corpus-bench: %s\n",
                 std::string(corpus.status().message()).c_str());
    return kExitUsage;
  }
  if (flags.model_sizes) {
    return PrintModelSizes(*corpus, *methods, percents->front());
  }
  std::unique_ptr<solver::Solver> cbc = solver::MakeCbcSolver();
  std::vector<Cell> cells;
  std::vector<Mode> modes = {
      {"planner", "With the heuristic (the planner as it is)", true, true}};
  if (flags.compare_heuristic) {
    modes.push_back({"no-heuristic",
                     "Without the heuristic (first touch the only fallback)",
                     false, true});
  }
  if (flags.compare_time_shares) {
    modes.push_back({"fixed-shares",
                     "With fixed quarter-time seeds (no stall stops)", true,
                     false});
  }
  if (flags.compare_repetition) {
    modes.push_back({"repetition",
                     "With repetition exploited (the tied model first)", true,
                     true, true});
  }
  const auto start = std::chrono::steady_clock::now();
  for (const Workload& w : *corpus) {
    std::fprintf(stderr, "%s: %d kernels, %d tensors, peak %.2f GiB\n",
                 w.name.c_str(), w.graph->num_kernels(), w.graph->num_tensors(),
                 static_cast<double>(w.peak) / (1 << 30));
    for (size_t v = 0; v < methods->size(); ++v) {
      const v1::Method method = (*methods)[v];
      for (const Mode& mode : modes) {
        const double limit = method == v1::METHOD_ASYNCHRONOUS
                                 ? flags.async_time_limit
                                 : flags.time_limit;
        std::vector<Cell> sweep =
            RunSweep(w, method, *percents, mode, limit, *cbc);
        for (const Cell& cell : sweep) {
          PrintCellLine(cell);
          if (flags.rounds) PrintRoundLines(cell);
        }
        cells.insert(cells.end(), sweep.begin(), sweep.end());
      }
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  std::printf(
      "Corpus: %zu graphs x %zu budgets (%s%% of each graph's peak), "
      "%.0f s limit (async %.0f s), CBC on 1 thread; %.0f s in all.\n",
      corpus->size(), percents->size(), flags.budgets.c_str(), flags.time_limit,
      flags.async_time_limit, seconds);
  for (const Mode& mode : modes) {
    std::printf(
        "\n%s:\n%s", mode.description.c_str(),
        RenderTextTable(Summary(cells, variant_names, mode.name)).c_str());
  }
  if (flags.compare_repetition) {
    std::printf(
        "\nRepetition (cells planned with it; tied solves: cells whose tied "
        "model was solved; broadcast: its plan after layout; full ILP alone: "
        "the planner's cells):\n%s",
        RenderTextTable(RepetitionSummary(cells, variant_names)).c_str());
  }
  int violations = 0;
  for (const Cell& cell : cells) {
    for (const std::string& violation : cell.violations) {
      ++violations;
      std::printf("VIOLATION %s %s %d%% (%s): %s\n", cell.workload.c_str(),
                  cell.variant.c_str(), cell.budget_percent, cell.mode.c_str(),
                  violation.c_str());
    }
  }
  if (!flags.csv_path.empty()) {
    if (absl::Status status = WriteCellsCsv(flags.csv_path, cells);
        !status.ok()) {
      std::fprintf(stderr, "autotm-corpus-bench: --csv: %s\n",
                   std::string(status.message()).c_str());
      return kExitUsage;
    }
  }
  return violations == 0 ? kExitOk : kExitViolation;
}

}  // namespace
}  // namespace autotm::bench

int main(int argc, char** argv) {
  autotm::bench::Flags flags;
  CLI::App app{
      "autotm-corpus-bench: the planner on a corpus of training graphs (zoo "
      "graphs at several batches, graphs captured from real models) at "
      "fractions of each graph's peak, priced by the Optane cost model. "
      "Prints per variant the geomean slowdown, gaps to the bound, fallbacks "
      "and guarantee violations (exit 1 when there is one). A full run takes "
      "hours on 2 cores; --quick is a smoke run of a few minutes.",
      "autotm-corpus-bench"};
  app.add_option("--zoo", flags.zoo,
                 "Zoo graphs, MODEL:BATCH,... (empty: none)")
      ->capture_default_str();
  app.add_option("--graph-dir", flags.graph_dir,
                 "Also every *.json graph (autotm.v1.Graph) in this directory, "
                 "e.g. from `python -m autotm.torch capture`")
      ->type_name("DIR");
  app.add_option("--profile", flags.profile,
                 "Price the --graph-dir graphs with this profile "
                 "(autotm.v1.Profile JSON) instead of the cost model, e.g. "
                 "tests/testdata/example_cnn.profile.json for the example")
      ->type_name("FILE");
  app.add_option("--budgets", flags.budgets,
                 "Budgets, percent of each graph's peak")
      ->capture_default_str();
  app.add_option("--variants", flags.variants, "static, sync, async, heuristic")
      ->capture_default_str();
  app.add_option("--time-limit", flags.time_limit,
                 "Seconds per static/sync plan")
      ->capture_default_str();
  app.add_option("--async-time-limit", flags.async_time_limit,
                 "Seconds per async plan")
      ->capture_default_str();
  app.add_flag("--compare-heuristic", flags.compare_heuristic,
               "Plan every cell again without the heuristic (before/after)");
  app.add_flag("--compare-time-shares", flags.compare_time_shares,
               "Plan every cell again with the fixed quarter-time seeds of "
               "earlier versions (before/after)");
  app.add_flag("--compare-repetition", flags.compare_repetition,
               "Plan every cell again exploiting repetition "
               "(PlanOptions::exploit_repetition; before/after)");
  app.add_flag("--model-sizes", flags.model_sizes,
               "Only build each graph's model per variant at the first budget "
               "and print its size, full and with repetition tied");
  app.add_flag("--quick", flags.quick,
               "Smoke run: vgg19 and resnet50 at batch 2, 2 s limits (4 s "
               "async)");
  app.add_flag("--rounds", flags.rounds,
               "Print each cell's allocation rounds: solve, gap, how far and "
               "where its plan overflowed the pool, the limits it had");
  app.add_option("--csv", flags.csv_path, "Write every cell as CSV")
      ->type_name("FILE");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error) == 0 ? 0 : autotm::bench::kExitUsage;
  }
  if (flags.quick) {
    flags.zoo = "vgg19:2,resnet50:2";
    flags.time_limit = 2;
    flags.async_time_limit = 4;
  }
  return autotm::bench::Run(flags);
}
