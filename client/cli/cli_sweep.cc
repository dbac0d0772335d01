#include "client/cli/cli_sweep.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "autotm/v1/graph.pb.h"
#include "autotm/v1/plan.pb.h"
#include "autotm/v1/profile.pb.h"
#include "client/cli/cli_planning.h"
#include "client/common/progress_line.h"
#include "client/common/proto_json.h"
#include "client/common/svg_chart.h"
#include "client/common/units.h"
#include "solver/allocator.h"
#include "solver/cbc_solver.h"
#include "solver/defaults.h"
#include "solver/graph_model.h"
#include "solver/planner.h"
#include "solver/profile_model.h"
#include "solver/sweep.h"
#include "solver/verifier.h"

namespace autotm::client {
namespace {

constexpr int kMaxBudgets = 1000;

struct SweepFlags {
  std::string graph_path;
  std::string profile_path;
  std::string budgets;
  std::string variant = "sync";
  std::string time_limit = absl::StrCat(solver::kDefaultTimeLimitSeconds, "s");
  double gap = solver::kDefaultRelativeGap;
  std::string recompute = "none";
  std::string repetition = "off";
  int threads = 0;
  std::string svg_path;
  std::string csv_path;
  std::string plans_dir;
  bool json = false;
  bool no_warm_start = false;
  std::string table_collapse = "on";
};

// ---------------------------------------------------------------------------
// Inputs and outputs.

std::string CsvField(const std::string& field) {
  if (field.find_first_of(",\"\n\r") == std::string::npos) return field;
  return absl::StrCat("\"", absl::StrReplaceAll(field, {{"\"", "\"\""}}), "\"");
}

// ---------------------------------------------------------------------------
// One row per budget.

struct Row {
  const solver::SweepPoint* point = nullptr;
  double percent = 0;  // of the aligned peak
  std::optional<double> slowdown;
  // "yes" (started from the smaller budget's plan), "no" (offered but not
  // usable, or warm starts off) or "-" (nothing to start from).
  std::string warm;
};

std::string Ms(double us) { return absl::StrFormat("%.3f ms", us / 1000); }

// A plan has a gap when its solve had a bound; a heuristic fallback keeps
// the ILP's bound, hence a gap, when it had one.
bool HasGap(const solver::SweepPoint& point) {
  return point.outcome.plan.has_value() &&
         std::isfinite(point.outcome.stats.relative_gap());
}

constexpr char kTableFormat[] = "%12s %8s %12s %9s %-11s %7s %9s %5s  %s\n";

void PrintHeader() {
  std::printf(kTableFormat, "budget", "% peak", "predicted", "slowdown",
              "termination", "gap", "solve", "warm", "how");
}

void PrintRow(const Row& row) {
  const solver::SweepPoint& p = *row.point;
  const v1::SolverStats& stats = p.outcome.stats;
  const bool has_plan = p.outcome.plan.has_value();
  std::printf(
      kTableFormat, FormatBytes(p.budget_bytes).c_str(),
      absl::StrFormat("%.1f%%", row.percent).c_str(),
      has_plan ? Ms(p.outcome.plan->predicted_time_us()).c_str() : "-",
      row.slowdown.has_value() ? absl::StrFormat("%.3fx", *row.slowdown).c_str()
                               : "-",
      solver::TerminationName(stats.termination()),
      HasGap(p) ? absl::StrFormat("%.2f%%", 100 * stats.relative_gap()).c_str()
                : "-",
      absl::StrFormat("%.2f s", stats.solve_seconds()).c_str(),
      row.warm.c_str(), solver::SweepSourceName(p.source));
  std::fflush(stdout);
}

// Budgets in the sweep's order: ascending, each once.
std::vector<uint64_t> SweepOrder(std::vector<uint64_t> budgets) {
  std::sort(budgets.begin(), budgets.end());
  budgets.erase(std::unique(budgets.begin(), budgets.end()), budgets.end());
  return budgets;
}

// The unit the chart's x axis uses: the largest binary unit that keeps the
// peak at least 1.
std::pair<double, const char*> AxisUnit(uint64_t peak) {
  if (peak >= (uint64_t{1} << 30)) return {1 << 30, "GiB"};
  if (peak >= (uint64_t{1} << 20)) return {1 << 20, "MiB"};
  if (peak >= (uint64_t{1} << 10)) return {1 << 10, "KiB"};
  return {1, "B"};
}

std::string RenderSvg(const solver::GraphModel& graph,
                      const std::string& variant,
                      const solver::SweepResult& result,
                      const std::vector<Row>& rows) {
  const auto [unit, unit_name] = AxisUnit(result.aligned_peak_bytes);
  LineChart chart;
  chart.title = absl::StrFormat("%s: predicted time vs fast memory (%s)",
                                graph.name(), variant);
  chart.subtitle = absl::StrFormat(
      "aligned peak live %s; dashed: all-fast and all-slow; autotm sweep",
      FormatBytes(result.aligned_peak_bytes));
  chart.x_label = absl::StrCat("fast memory budget (", unit_name, ")");
  chart.y_label = "predicted iteration time (ms)";
  ChartSeries series;
  series.name = variant;
  for (const Row& row : rows) {
    if (!row.point->outcome.plan.has_value()) continue;
    series.points.emplace_back(
        static_cast<double>(row.point->budget_bytes) / unit,
        row.point->outcome.plan->predicted_time_us() / 1000);
  }
  chart.series.push_back(std::move(series));
  if (result.all_fast_time_us.has_value()) {
    chart.y_references.push_back(
        {*result.all_fast_time_us / 1000,
         absl::StrCat("all-fast ", Ms(*result.all_fast_time_us))});
  }
  if (result.all_slow_time_us.has_value()) {
    chart.y_references.push_back(
        {*result.all_slow_time_us / 1000,
         absl::StrCat("all-slow ", Ms(*result.all_slow_time_us))});
  }
  return RenderLineChartSvg(chart);
}

std::string RenderCsv(const std::vector<Row>& rows) {
  std::string csv =
      "budget_bytes,percent_of_peak,predicted_time_us,slowdown,termination,"
      "relative_gap,solve_seconds,wall_seconds,warm_start,how\n";
  for (const Row& row : rows) {
    const solver::SweepPoint& p = *row.point;
    const bool has_plan = p.outcome.plan.has_value();
    absl::StrAppend(
        &csv, p.budget_bytes, ",", absl::StrFormat("%.4f", row.percent), ",",
        has_plan ? absl::StrFormat("%.3f", p.outcome.plan->predicted_time_us())
                 : "",
        ",",
        row.slowdown.has_value() ? absl::StrFormat("%.6f", *row.slowdown) : "",
        ",", solver::TerminationName(p.outcome.stats.termination()), ",",
        HasGap(p) ? absl::StrFormat("%.6f", p.outcome.stats.relative_gap())
                  : "",
        ",", absl::StrFormat("%.3f", p.outcome.stats.solve_seconds()), ",",
        absl::StrFormat("%.3f", p.wall_seconds), ",", row.warm, ",",
        CsvField(solver::SweepSourceName(p.source)), "\n");
  }
  return csv;
}

std::string OptionalUs(const std::optional<double>& us) {
  return us.has_value() ? absl::StrFormat("%.3f", *us) : "null";
}

std::string RenderJson(const solver::GraphModel& graph,
                       const std::string& variant,
                       const solver::SweepResult& result,
                       const std::vector<Row>& rows, double wall_seconds) {
  std::string json = absl::StrFormat(
      "{\n  \"graphName\": %s,\n  \"variant\": %s,\n"
      "  \"alignedPeakBytes\": \"%u\",\n  \"allFastTimeUs\": %s,\n"
      "  \"allSlowTimeUs\": %s,\n  \"cancelled\": %s,\n"
      "  \"warmStartsUsed\": %d,\n  \"wallSeconds\": %.3f,\n",
      JsonStringLiteral(graph.name()), JsonStringLiteral(variant),
      result.aligned_peak_bytes, OptionalUs(result.all_fast_time_us),
      OptionalUs(result.all_slow_time_us), result.cancelled ? "true" : "false",
      result.warm_starts_used, wall_seconds);
  if (result.largest_infeasible_bytes.has_value()) {
    absl::StrAppendFormat(
        &json, "  \"largestInfeasibleBytes\": \"%u\",\n  \"infeasible\": %s,\n",
        *result.largest_infeasible_bytes,
        JsonStringLiteral(result.infeasible_diagnostic));
  }
  json += "  \"points\": [";
  for (size_t i = 0; i < rows.size(); ++i) {
    const solver::SweepPoint& p = *rows[i].point;
    const v1::SolverStats& stats = p.outcome.stats;
    const bool has_plan = p.outcome.plan.has_value();
    absl::StrAppendFormat(
        &json,
        "%s\n    {\"budgetBytes\": \"%u\", \"percentOfPeak\": %.4f, "
        "\"predictedTimeUs\": %s, \"slowdown\": %s, \"termination\": %s, "
        "\"relativeGap\": %s, \"solveSeconds\": %.3f, \"wallSeconds\": %.3f, "
        "\"warmStart\": %s, \"how\": %s, \"note\": %s, \"diagnostic\": %s}",
        i == 0 ? "" : ",", p.budget_bytes, rows[i].percent,
        has_plan ? absl::StrFormat("%.3f", p.outcome.plan->predicted_time_us())
                 : "null",
        rows[i].slowdown.has_value()
            ? absl::StrFormat("%.6f", *rows[i].slowdown)
            : "null",
        JsonStringLiteral(solver::TerminationName(stats.termination())),
        HasGap(p) ? absl::StrFormat("%.6f", stats.relative_gap()) : "null",
        stats.solve_seconds(), p.wall_seconds, JsonStringLiteral(rows[i].warm),
        JsonStringLiteral(solver::SweepSourceName(p.source)),
        JsonStringLiteral(p.note), JsonStringLiteral(p.outcome.diagnostic));
  }
  json += "\n  ]\n}\n";
  return json;
}

// The live line on stderr: which budget, elapsed, incumbent and gap.
// Start() and Update() may come from different threads.
class SweepProgress {
 public:
  SweepProgress(bool live, int total) : line_(stderr, live), total_(total) {}

  void Start(int index, uint64_t budget, double percent)
      ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    label_ = absl::StrFormat("budget %d/%d (%s, %.1f%%)", index + 1, total_,
                             FormatBytes(budget), percent);
    start_ = std::chrono::steady_clock::now();
    DrawLocked("");
  }
  void Update(const solver::SolveProgress& progress) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    std::string detail;
    if (std::isfinite(progress.incumbent)) {
      absl::StrAppend(&detail, "  incumbent ", Ms(progress.incumbent));
    }
    if (std::isfinite(progress.relative_gap)) {
      absl::StrAppendFormat(&detail, "  gap %.2f%%",
                            100 * progress.relative_gap);
    }
    DrawLocked(detail);
  }
  // Erases the line so a table row can be printed.
  void Clear() { line_.Clear(); }

 private:
  void DrawLocked(const std::string& detail) ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    if (!line_.live()) return;
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_)
            .count();
    line_.Show(
        absl::StrFormat("%s: solving %.1f s%s", label_, elapsed, detail));
  }

  ProgressLine line_;
  const int total_;
  absl::Mutex mu_;
  std::string label_ ABSL_GUARDED_BY(mu_);
  std::chrono::steady_clock::time_point start_ ABSL_GUARDED_BY(mu_);
};

// ---------------------------------------------------------------------------

// The flags checked before the inputs are read: the time limit (to
// *time_limit_seconds) and that --svg and --csv can be written. Prints what
// is wrong; returns kExitOk or kExitBadInput.
int CheckSweepFlags(const SweepFlags& flags, double* time_limit_seconds) {
  absl::StatusOr<double> time_limit = ParseDuration(flags.time_limit);
  if (!time_limit.ok() || *time_limit <= 0) {
    PrintError(absl::StrCat("--time-limit: ",
                            time_limit.ok()
                                ? absl::StrCat("\"", flags.time_limit,
                                               "\" must be longer than zero")
                                : Message(time_limit.status())));
    return kExitBadInput;
  }
  for (const auto& [flag, path] :
       {std::pair<const char*, const std::string&>{"--svg", flags.svg_path},
        {"--csv", flags.csv_path}}) {
    if (path.empty()) continue;
    if (absl::Status s = CheckWritable(path); !s.ok()) {
      PrintError(absl::StrCat(flag, ": ", Message(s)));
      return kExitBadInput;
    }
  }
  *time_limit_seconds = *time_limit;
  return kExitOk;
}

// Creates --plans-dir (when given) and checks that it takes files.
absl::Status MakePlansDir(const std::string& dir) {
  if (dir.empty()) return absl::OkStatus();
  if (::mkdir(dir.c_str(), 0777) != 0 && errno != EEXIST) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot create ", dir));
  }
  return CheckWritable(dir + "/x");
}

// The table row of a settled budget; `had_plan_before`: a smaller budget
// got a plan (so a solve without a warm start is a "no", not a "-").
Row MakeRow(const solver::SweepPoint& point, bool had_plan_before,
            double percent, std::optional<double> all_fast_us) {
  Row row;
  row.point = &point;
  row.percent = percent;
  if (point.outcome.plan.has_value() && all_fast_us.has_value() &&
      *all_fast_us > 0) {
    row.slowdown = point.outcome.plan->predicted_time_us() / *all_fast_us;
  }
  const bool solved = point.source == solver::SweepSource::kSolved ||
                      point.source == solver::SweepSource::kKeptSmaller;
  row.warm = !solved                         ? "-"
             : point.outcome.warm_start_used ? "yes"
             : had_plan_before               ? "no"
                                             : "-";
  return row;
}

// The text after the table: reference times, the infeasible range, notes
// per budget and the totals.
void PrintSweepSummary(const solver::SweepResult& result, uint64_t peak,
                       int with_plan, size_t budgets, double wall,
                       bool warm_start) {
  std::printf("\n");
  if (result.all_fast_time_us.has_value()) {
    std::printf("all-fast %s (slowdown 1x)",
                Ms(*result.all_fast_time_us).c_str());
  }
  if (result.all_slow_time_us.has_value()) {
    std::printf(
        "%sall-slow %s (%.3fx)",
        result.all_fast_time_us.has_value() ? ", " : "",
        Ms(*result.all_slow_time_us).c_str(),
        result.all_fast_time_us.has_value() && *result.all_fast_time_us > 0
            ? *result.all_slow_time_us / *result.all_fast_time_us
            : 0.0);
  }
  std::printf("; aligned peak live %s\n", FormatBytes(peak).c_str());
  if (result.largest_infeasible_bytes.has_value()) {
    std::printf("infeasible at %s and below: %s\n",
                FormatBytes(*result.largest_infeasible_bytes).c_str(),
                result.infeasible_diagnostic.c_str());
  }
  for (const solver::SweepPoint& point : result.points) {
    if (point.source == solver::SweepSource::kKeptSmaller) {
      std::printf("at %s: %s\n", FormatBytes(point.budget_bytes).c_str(),
                  point.note.c_str());
    } else if (!point.outcome.plan.has_value() &&
               point.source == solver::SweepSource::kSolved &&
               !point.outcome.diagnostic.empty()) {
      std::printf("at %s: %s\n", FormatBytes(point.budget_bytes).c_str(),
                  point.outcome.diagnostic.c_str());
    }
  }
  std::printf(
      "%d of %zu budget(s) planned in %.2f s; %d solve(s) started "
      "from the smaller budget's plan%s\n",
      with_plan, budgets, wall, result.warm_starts_used,
      warm_start ? "" : " (warm starts off)");
}

// Writes --svg and --csv and says what was written (with `plans_written`
// plans in --plans-dir). Returns kExitOk or kExitBadInput.
int WriteSweepFiles(const SweepFlags& flags, const solver::GraphModel& graph,
                    const solver::SweepResult& result,
                    const std::vector<Row>& rows, int plans_written) {
  if (!flags.svg_path.empty()) {
    if (absl::Status s = WriteFileAtomically(
            flags.svg_path, RenderSvg(graph, flags.variant, result, rows));
        !s.ok()) {
      PrintError(Message(s));
      return kExitBadInput;
    }
    std::fprintf(stderr, "autotm: wrote %s\n", flags.svg_path.c_str());
  }
  if (!flags.csv_path.empty()) {
    if (absl::Status s = WriteFileAtomically(flags.csv_path, RenderCsv(rows));
        !s.ok()) {
      PrintError(Message(s));
      return kExitBadInput;
    }
    std::fprintf(stderr, "autotm: wrote %s\n", flags.csv_path.c_str());
  }
  if (!flags.plans_dir.empty()) {
    std::fprintf(stderr, "autotm: wrote %d plan(s) into %s\n", plans_written,
                 flags.plans_dir.c_str());
  }
  return kExitOk;
}

// Verifies the plan of a settled budget (if it got one) and writes it into
// `plans_dir` (when given). False when the verifier rejected it (said on
// stderr: a bug in autotm).
bool VerifyAndWritePlan(const solver::GraphModel& graph,
                        const solver::ProfileModel& profile,
                        const solver::SweepPoint& point,
                        const std::string& plans_dir) {
  if (!point.outcome.plan.has_value()) return true;
  absl::StatusOr<solver::VerifyReport> verified = solver::VerifyPlan(
      graph, profile, *point.outcome.plan, point.budget_bytes);
  if (!verified.ok()) {
    PrintError(absl::StrCat(
        "the verifier rejected the plan for the ", point.budget_bytes,
        "-byte budget (a bug in autotm; please report it with the input "
        "files); it is not written: ",
        Message(verified.status())));
    return false;
  }
  if (!plans_dir.empty()) {
    const std::string path = absl::StrFormat("%s/budget_%u.plan.json",
                                             plans_dir, point.budget_bytes);
    if (absl::Status s = WriteProtoJsonFile(path, *point.outcome.plan);
        !s.ok()) {
      PrintError(Message(s));
    }
  }
  return true;
}

solver::SweepOptions SweepOptionsOf(const SweepFlags& flags,
                                    double time_limit_seconds) {
  solver::SweepOptions options;
  options.plan.method = flags.variant == "static"  ? v1::METHOD_STATIC
                        : flags.variant == "async" ? v1::METHOD_ASYNCHRONOUS
                                                   : v1::METHOD_SYNCHRONOUS;
  options.plan.time_limit_seconds = time_limit_seconds;
  options.plan.relative_gap = flags.gap;
  options.plan.recompute = flags.recompute == "auto";
  options.plan.exploit_repetition = flags.repetition == "auto";
  options.plan.threads = flags.threads;
  options.warm_start = !flags.no_warm_start;
  return options;
}

// A failed sweep's exit code: bad input for what the caller can fix.
int ExitCodeOfPlanningError(const absl::Status& status) {
  return status.code() == absl::StatusCode::kInvalidArgument ||
                 status.code() == absl::StatusCode::kFailedPrecondition
             ? kExitBadInput
             : kExitInternal;
}

// The graph and profile, with --table-collapse applied; errors name the
// flag or the file.
absl::StatusOr<PlanningInputs> LoadSweepInputs(const SweepFlags& flags) {
  absl::StatusOr<solver::TableCollapseOptions> collapse =
      ParseTableCollapse(flags.table_collapse);
  if (!collapse.ok()) {
    return absl::Status(
        collapse.status().code(),
        absl::StrCat("--table-collapse: ", Message(collapse.status())));
  }
  return LoadPlanningInputs(flags.graph_path, flags.profile_path, *collapse);
}

// kExitRejected when the verifier rejected a plan, kExitNoPlan (said on
// stderr) when no budget got one, else kExitOk.
int SweepExitCode(const solver::SweepResult& result, int rejected,
                  int with_plan) {
  if (rejected > 0) return kExitRejected;
  if (with_plan == 0) {
    std::fprintf(stderr,
                 "autotm: no plan: no budget of the sweep got one%s%s\n",
                 result.infeasible_diagnostic.empty() ? "" : ": ",
                 result.infeasible_diagnostic.c_str());
    return kExitNoPlan;
  }
  return kExitOk;
}

// The sweep's result on stdout: JSON with --json, else the text after the
// table; and on stderr how far an interrupted sweep got.
void PrintSweepResult(const SweepFlags& flags, const solver::GraphModel& graph,
                      const solver::SweepResult& result,
                      const std::vector<Row>& rows, uint64_t peak,
                      int with_plan, size_t budgets, double wall,
                      bool warm_start) {
  if (flags.json) {
    std::fputs(RenderJson(graph, flags.variant, result, rows, wall).c_str(),
               stdout);
  } else {
    PrintSweepSummary(result, peak, with_plan, budgets, wall, warm_start);
  }
  if (result.cancelled) {
    std::fprintf(stderr, "autotm: interrupted: %zu of %zu budget(s) settled\n",
                 result.points.size(), budgets);
  }
}

int RunSweep(const SweepFlags& flags) {
  double time_limit = 0;
  if (int exit_code = CheckSweepFlags(flags, &time_limit);
      exit_code != kExitOk) {
    return exit_code;
  }
  absl::StatusOr<PlanningInputs> inputs = LoadSweepInputs(flags);
  if (!inputs.ok()) {
    PrintError(Message(inputs.status()));
    return kExitBadInput;
  }
  const solver::GraphModel& graph = *inputs->graph;
  const solver::ProfileModel& profile = *inputs->profile;
  // Percentages are of the aligned peak, as for `autotm solve --budget`.
  const uint64_t peak =
      solver::AlignedPeakLiveBytes(graph, solver::kDefaultAlignmentBytes);
  absl::StatusOr<std::vector<uint64_t>> budgets =
      ParseBudgetList(flags.budgets, peak);
  if (!budgets.ok()) {
    PrintError(absl::StrCat("--budgets: ", Message(budgets.status())));
    return kExitBadInput;
  }
  // Created only once the inputs are known to be good.
  if (absl::Status s = MakePlansDir(flags.plans_dir); !s.ok()) {
    PrintError(absl::StrCat("--plans-dir: ", Message(s)));
    return kExitBadInput;
  }
  const std::vector<uint64_t> order = SweepOrder(*budgets);
  auto percent_of = [peak](uint64_t bytes) {
    return peak == 0
               ? 0.0
               : 100.0 * static_cast<double>(bytes) / static_cast<double>(peak);
  };

  solver::SweepOptions options = SweepOptionsOf(flags, time_limit);
  std::fprintf(stderr,
               "autotm: sweeping %s (%d kernels, %d tensors) with %s over %zu "
               "budget(s) from %s to %s (%s peak live, aligned), up to %s "
               "each\n",
               graph.name().c_str(), graph.num_kernels(), graph.num_tensors(),
               flags.variant.c_str(), order.size(),
               FormatBytes(order.front()).c_str(),
               FormatBytes(order.back()).c_str(), FormatBytes(peak).c_str(),
               FormatDuration(time_limit).c_str());

  SweepProgress progress(ProgressLine::IsTerminal(stderr),
                         static_cast<int>(order.size()));
  options.plan.on_progress = [&progress](const solver::SolveProgress& p) {
    progress.Update(p);
  };

  std::unique_ptr<solver::Solver> cbc = solver::MakeCbcSolver();
  // The all-fast time, for the slowdown of rows printed as they settle.
  const solver::ReferenceTimes references = solver::ComputeReferenceTimes(
      graph, profile, solver::kDefaultAlignmentBytes);
  auto make_row = [&](const solver::SweepPoint& point, bool had_plan_before) {
    return MakeRow(point, had_plan_before, percent_of(point.budget_bytes),
                   references.all_fast_us);
  };

  // Each point is verified, written and printed as it settles, so an
  // interrupted sweep keeps what it planned.
  int settled = 0;
  int rejected = 0;
  bool had_plan = false;
  const std::atomic<bool>* cancelled = nullptr;  // set below
  auto on_budget = [&](const solver::SweepPoint& point) {
    progress.Clear();
    if (!VerifyAndWritePlan(graph, profile, point, flags.plans_dir)) {
      ++rejected;
    }
    if (!flags.json) {
      if (settled == 0) PrintHeader();
      PrintRow(make_row(point, had_plan));
    }
    had_plan = had_plan || point.outcome.plan.has_value();
    ++settled;
    if (settled < static_cast<int>(order.size()) && !cancelled->load()) {
      progress.Start(settled, order[settled], percent_of(order[settled]));
    }
  };

  // Ctrl-C stops the budget being solved and keeps what was planned.
  cancelled = CancelOnInterrupt(
      "\nautotm: interrupted: keeping the budgets planned so far and the "
      "best plan of this one (Ctrl-C again to abort)\n");
  options.plan.cancel = cancelled;

  progress.Start(0, order[0], percent_of(order[0]));
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<solver::SweepResult> result = solver::PlanSweep(
      graph, profile, *budgets, options, cbc.get(), on_budget);
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  progress.Clear();
  RestoreInterrupt();
  if (!result.ok()) {
    PrintError(Message(result.status()));
    return ExitCodeOfPlanningError(result.status());
  }

  std::vector<Row> rows;
  int with_plan = 0;
  for (const solver::SweepPoint& point : result->points) {
    rows.push_back(make_row(point, with_plan > 0));
    if (point.outcome.plan.has_value()) ++with_plan;
  }

  PrintSweepResult(flags, graph, *result, rows, peak, with_plan, order.size(),
                   wall, options.warm_start);
  if (int exit_code =
          WriteSweepFiles(flags, graph, *result, rows, with_plan - rejected);
      exit_code != kExitOk) {
    return exit_code;
  }
  return SweepExitCode(*result, rejected, with_plan);
}

}  // namespace

absl::StatusOr<std::vector<uint64_t>> ParseBudgetList(
    std::string_view text_view, uint64_t peak_live_bytes) {
  // Debian's Abseil has its own string_view: work on a std::string.
  const std::string text(text_view);
  auto std_view = [](absl::string_view s) {
    return std::string_view(s.data(), s.size());
  };
  std::vector<uint64_t> budgets;
  auto too_many = [&] {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", text, "\" asks for more than ", kMaxBudgets, " budgets"));
  };
  for (absl::string_view raw : absl::StrSplit(text, ',')) {
    const absl::string_view item = absl::StripAsciiWhitespace(raw);
    if (item.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "\"", text,
          "\" has an empty item; want budgets separated by commas, e.g. "
          "\"10%,20%,512MiB\" or a range \"10%:100%:10%\""));
    }
    const std::vector<absl::string_view> parts = absl::StrSplit(item, ':');
    if (parts.size() == 1) {
      absl::StatusOr<uint64_t> budget =
          ParseBudget(std_view(item), peak_live_bytes);
      if (!budget.ok()) return budget.status();
      budgets.push_back(*budget);
    } else if (parts.size() == 3) {
      auto is_percent = [](absl::string_view s) {
        return absl::EndsWith(absl::StripAsciiWhitespace(s), "%");
      };
      const bool percent =
          is_percent(parts[0]) && is_percent(parts[1]) && is_percent(parts[2]);
      std::vector<uint64_t> bytes;
      std::vector<double> pct;
      for (size_t i = 0; i < parts.size(); ++i) {
        const absl::string_view part = parts[i];
        // A percent step is a difference, not a budget: "0%" must reach
        // the zero-step message below rather than ParseBudget's range check.
        const bool zero_step =
            percent && i == 2 &&
            absl::StripSuffix(absl::StripAsciiWhitespace(part), "%") == "0";
        absl::StatusOr<uint64_t> b =
            zero_step ? absl::StatusOr<uint64_t>(0)
                      : ParseBudget(std_view(part), peak_live_bytes);
        if (!b.ok()) {
          return absl::InvalidArgumentError(
              absl::StrCat("in range \"", item, "\": ", Message(b.status())));
        }
        bytes.push_back(*b);
        if (percent) {
          double p = 0;
          const absl::string_view number =
              absl::StripSuffix(absl::StripAsciiWhitespace(part), "%");
          if (!absl::SimpleAtod(number, &p)) {
            return absl::InvalidArgumentError(
                absl::StrCat("in range \"", item, "\": bad percentage"));
          }
          pct.push_back(p);
        }
      }
      if ((percent && pct[2] <= 0) || (!percent && bytes[2] == 0)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "range \"", item, "\" has a zero step; want START:STOP:STEP"));
      }
      if (percent ? pct[1] < pct[0] : bytes[1] < bytes[0]) {
        return absl::InvalidArgumentError(
            absl::StrCat("range \"", item,
                         "\" stops below its start; want START:STOP:STEP"));
      }
      if (percent) {
        // Step in percent and round each like a typed percentage, so that
        // "10%:30%:10%" gives exactly the bytes of "10%,20%,30%".
        for (int i = 0;; ++i) {
          const double p = pct[0] + i * pct[2];
          if (p > pct[1] + 1e-9 * std::max(1.0, pct[1])) break;
          if (budgets.size() >= kMaxBudgets) return too_many();
          absl::StatusOr<uint64_t> b =
              ParseBudget(absl::StrFormat("%.10g%%", p), peak_live_bytes);
          if (!b.ok()) return b.status();
          budgets.push_back(*b);
        }
      } else {
        for (uint64_t b = bytes[0]; b <= bytes[1]; b += bytes[2]) {
          if (budgets.size() >= kMaxBudgets) return too_many();
          budgets.push_back(b);
          if (bytes[1] - b < bytes[2]) break;  // no overflow past STOP
        }
      }
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "\"", item,
          "\" is neither a budget nor a range START:STOP:STEP (e.g. "
          "\"10%:100%:10%\")"));
    }
    if (budgets.size() > kMaxBudgets) return too_many();
  }
  return budgets;
}

namespace {

// Greedy word wrap for help paragraphs (CLI11 prints them verbatim).
std::string Wrap(const std::string& text, size_t width = 72) {
  std::string out;
  size_t line_length = 0;
  for (absl::string_view word : absl::StrSplit(text, ' ', absl::SkipEmpty())) {
    if (line_length > 0 && line_length + 1 + word.size() > width) {
      out += '\n';
      line_length = 0;
    } else if (line_length > 0) {
      out += ' ';
      ++line_length;
    }
    absl::StrAppend(&out, word);
    line_length += word.size();
  }
  return out;
}

}  // namespace

std::vector<CliCommand> AddSweepCommands(CLI::App& app) {
  auto flags = std::make_shared<SweepFlags>();
  CLI::App* sweep = app.add_subcommand(
      "sweep",
      "Plan under several budgets and chart predicted time vs fast memory\n"
      "\n"
      "Plans one graph under every budget of --budgets in one call and\n"
      "prints predicted iteration time against fast memory: a row per\n"
      "budget with its share of the peak, the slowdown against all-fast,\n"
      "how the solve ended and whether it started from the previous plan.\n"
      "Budgets are solved from small to large, each ILP starting from the\n"
      "smaller budget's plan (it fits the larger budget too); budgets that\n"
      "hold every tensor take the all-fast plan when it is provably\n"
      "optimal, budgets below the smallest feasible one are reported\n"
      "INFEASIBLE without solving, and the curve never rises: a larger\n"
      "budget keeps the smaller budget's plan when its own solve did worse.\n"
      "Every plan passes the verifier. Ctrl-C stops the budget being\n"
      "solved and keeps everything planned so far.\n");
  sweep
      ->add_option("--graph", flags->graph_path,
                   "Training graph (autotm.v1.Graph JSON)")
      ->required()
      ->type_name("FILE");
  sweep
      ->add_option("--profile", flags->profile_path,
                   "Its kernel timings (autotm.v1.Profile JSON)")
      ->required()
      ->type_name("FILE");
  sweep
      ->add_option("--budgets", flags->budgets,
                   "Budgets: 10%,20%,512MiB or a range 10%:100%:10%")
      ->required()
      ->type_name("LIST");
  sweep
      ->add_option("--variant", flags->variant,
                   "sync (default), static or async: the ILP to solve")
      ->check(CLI::IsMember({"static", "sync", "async"}))
      ->capture_default_str()
      ->type_name("NAME");
  sweep
      ->add_option("--time-limit", flags->time_limit,
                   "Wall-clock limit of each budget's solve")
      ->capture_default_str()
      ->type_name("DURATION");
  sweep
      ->add_option("--gap", flags->gap,
                   "Stop each solve within this relative gap of optimal")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str()
      ->type_name("FRACTION");
  sweep
      ->add_option("--recompute", flags->recompute,
                   "sync: none or auto, as `autotm solve --recompute` (the "
                   "ILP may re-run producers instead of keeping or moving)")
      ->check(CLI::IsMember({"none", "auto"}))
      ->capture_default_str()
      ->type_name("MODE");
  sweep
      ->add_option("--repetition", flags->repetition,
                   "off or auto, as `autotm solve --repetition` (each "
                   "budget's ILP tries the model with identical layers tied "
                   "first)")
      ->check(CLI::IsMember({"off", "auto"}))
      ->capture_default_str()
      ->type_name("MODE");
  sweep
      ->add_option("--threads", flags->threads,
                   "CBC threads; 0 = serial, deterministic")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str()
      ->type_name("N");
  sweep->add_option("--svg", flags->svg_path, "Write the curve here (SVG)")
      ->type_name("FILE");
  sweep->add_option("--csv", flags->csv_path, "Write one row per budget here")
      ->type_name("FILE");
  sweep
      ->add_option("--plans-dir", flags->plans_dir,
                   "Write each plan as DIR/budget_BYTES.plan.json")
      ->type_name("DIR");
  sweep->add_flag("--json", flags->json,
                  "Print the sweep as JSON on stdout, not the table");
  sweep->add_flag("--no-warm-start", flags->no_warm_start,
                  "Solve every budget from scratch (for comparison)");
  sweep
      ->add_option("--table-collapse", flags->table_collapse,
                   "As for autotm solve: on, exact or off")
      ->check(CLI::IsMember({"on", "exact", "off"}))
      ->capture_default_str()
      ->type_name("MODE");
  sweep->footer(absl::StrCat(
      "Example:\n"
      "  autotm sweep --graph tests/testdata/example_cnn.graph.json \\\n"
      "      --profile tests/testdata/example_cnn.profile.json \\\n"
      "      --budgets 10%:100%:10% --svg curve.svg --csv curve.csv\n\n",
      Wrap(absl::StrCat("Budgets: each item as `autotm solve --budget` reads "
                        "it: ",
                        kBudgetHelp,
                        ". A range START:STOP:STEP includes STOP when the "
                        "steps land on it.")),
      "\n\n", Wrap(absl::StrCat("Durations (--time-limit): ", kDurationHelp)),
      ".\n\nColumns: budget, its share of the aligned peak live bytes, the\n"
      "predicted iteration time, slowdown vs all-fast, termination, relative\n"
      "gap, solve seconds, warm (yes: started from the smaller budget's\n"
      "plan), how (solved, all-fast, kept-smaller, infeasible).\n\n"
      "Exit codes: 0 at least one budget got a plan; 1 bad input (file,\n"
      "flag, budget list); 2 no budget got a plan; 3 the verifier rejected\n"
      "a plan."));
  return {{sweep, [flags] { return RunSweep(*flags); }}};
}

}  // namespace autotm::client
