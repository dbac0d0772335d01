// `autotm-bench`: reruns the AutoTM paper's CPU experiment matrix (ASPLOS
// 2020, Fig. 7; docs/EVALUATION.md) on autotm's own planner and the
// Optane cost model, and prints the paper's table.
//
// For every workload (a zoo training graph), PMM:DRAM ratio and method it
// plans the graph under the DRAM budget the ratio implies, re-checks the plan
// with the independent verifier, and reports the predicted slowdown against
// an all-DRAM run. These are predictions of the cost model, not
// measurements on Optane PMM (docs/EVALUATION.md).
//
// CLI11 reports parse errors by throwing; those exceptions are caught right
// at the parse call in main() and nowhere else. Everything else returns
// absl::Status.

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
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
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "autotm/v1/graph.pb.h"
#include "autotm/v1/plan.pb.h"
#include "autotm/v1/profile.pb.h"
#include "client/bench/bench_report.h"
#include "client/common/svg_chart.h"
#include "client/costmodel/cost_model.h"
#include "client/zoo/zoo.h"
#include "solver/allocator.h"
#include "solver/cbc_solver.h"
#include "solver/defaults.h"
#include "solver/graph_model.h"
#include "solver/planner.h"
#include "solver/profile_model.h"
#include "solver/solver.h"
#include "solver/verifier.h"

namespace autotm::bench {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitUsage = 2;
// A plan failed verification or the planner returned an error: a bug.
constexpr int kExitBug = 3;
constexpr int kExitIo = 4;

// The paper's headline figures (AutoTM, ASPLOS 2020, §7.1).
constexpr double kPaperSyncLoss = 0.277;
constexpr double kPaperFirstTouchLoss = 0.719;

// The all-DRAM reference runs ALL_FAST with this much headroom over the
// aligned peak, so that pool fragmentation never makes it infeasible.
constexpr double kDramHeadroom = 1.5;
constexpr int kQuickBatch = 8;
constexpr double kQuickTimeLimit = 10;
// --quick's defaults. Async is left out: its ILPs (550k-730k variables on
// Inception v4 and ResNet-200, whatever the batch) overrun a 10 s limit by
// minutes in CBC's uninterruptible phases; ask for it with --methods.
constexpr char kQuickRatios[] = "pmm,4";
constexpr char kQuickMethods[] =
    "all-slow,first-touch,2lm,static,sync,all-fast";

// ---------------------------------------------------------------------------
// Flags and their parsing.

struct Flags {
  std::string models = "inception_v4,vgg19,resnet200,densenet264";
  std::string ratios = "pmm,8,4,1,dram";
  std::string methods = "all-slow,first-touch,2lm,static,sync,async,all-fast";
  double time_limit = solver::kDefaultTimeLimitSeconds;
  double async_time_limit = 300;
  double gap = solver::kDefaultRelativeGap;
  double batch_scale = 1;
  bool quick = false;
  bool case_study = false;
  int threads = 0;
  std::string csv = "paper.csv";
  std::string svg = "inception_case_study.svg";
};

// A PMM:DRAM ratio column.
struct Ratio {
  enum Kind { kAllPmm, kRatio, kAllDram };
  Kind kind = kRatio;
  double pmm_per_dram = 0;  // r of r:1 (kRatio only)
  std::string label;        // "pmm", "8:1", "dram"
};

absl::StatusOr<Ratio> ParseRatio(absl::string_view text) {
  Ratio ratio;
  if (text == "pmm" || text == "1:0") {
    ratio.kind = Ratio::kAllPmm;
    ratio.label = "pmm";
    return ratio;
  }
  if (text == "dram" || text == "0:1") {
    ratio.kind = Ratio::kAllDram;
    ratio.label = "dram";
    return ratio;
  }
  absl::string_view number = text;
  absl::ConsumeSuffix(&number, ":1");
  double r = 0;
  if (!absl::SimpleAtod(number, &r) || !std::isfinite(r) || r < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bad ratio '", text,
        "': use pmm (all PMM), dram (all DRAM) or R / R:1 with R >= 0 "
        "PMM bytes per DRAM byte, e.g. 4 or 4:1"));
  }
  ratio.pmm_per_dram = r;
  ratio.label = absl::StrFormat("%g:1", r);
  return ratio;
}

// A row of the matrix: an autotm method and, for the ILP methods, whether
// the ILP may also recompute tensors (issue 22's "static+recompute",
// "sync+recompute" and "async+recompute" rows).
struct BenchMethod {
  v1::Method method = v1::METHOD_UNSPECIFIED;
  bool recompute = false;
  auto operator<=>(const BenchMethod&) const = default;
};

const char* Name(BenchMethod m) {
  if (!m.recompute) return solver::MethodName(m.method);
  switch (m.method) {
    case v1::METHOD_STATIC:
      return "static+recompute";
    case v1::METHOD_SYNCHRONOUS:
      return "sync+recompute";
    case v1::METHOD_ASYNCHRONOUS:
      return "async+recompute";
    default:
      return "unknown+recompute";
  }
}

absl::StatusOr<BenchMethod> ParseMethod(absl::string_view text) {
  for (v1::Method m :
       {v1::METHOD_STATIC, v1::METHOD_SYNCHRONOUS, v1::METHOD_ASYNCHRONOUS}) {
    if (text == Name(BenchMethod{m, true})) {
      return BenchMethod{m, true};
    }
  }
  for (v1::Method m :
       {v1::METHOD_ALL_SLOW, v1::METHOD_FIRST_TOUCH,
        v1::METHOD_TWO_LEVEL_MEMORY, v1::METHOD_STATIC, v1::METHOD_SYNCHRONOUS,
        v1::METHOD_ASYNCHRONOUS, v1::METHOD_ALL_FAST}) {
    if (text == solver::MethodName(m)) return BenchMethod{m};
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown method '", text,
                   "': use all-slow, first-touch, 2lm, static, sync, "
                   "async (each of the three ILP methods also +recompute, "
                   "e.g. sync+recompute) or all-fast"));
}

bool IsIlp(BenchMethod m) {
  return m.method == v1::METHOD_STATIC || m.method == v1::METHOD_SYNCHRONOUS ||
         m.method == v1::METHOD_ASYNCHRONOUS;
}

std::vector<std::string> SplitList(absl::string_view text) {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    out.emplace_back(absl::StripAsciiWhitespace(part));
  }
  return out;
}

// ---------------------------------------------------------------------------
// One planning run and its figures.

struct Cell {
  std::string sweep;  // "matrix" or "case-study"
  std::string model;
  int batch = 0;
  std::string ratio;         // "4:1", "pmm", "dram", or "1/3" in the case study
  double dram_fraction = 0;  // budget / aligned peak
  uint64_t budget = 0;
  uint64_t peak = 0;
  BenchMethod method;
  v1::Termination termination = v1::TERMINATION_UNSPECIFIED;
  bool has_plan = false;
  double predicted_us = 0;
  double reference_us = 0;
  double slowdown = 0;
  v1::SolverStats stats;
  uint64_t peak_fast = 0;
  uint64_t pool_used = 0;
  // The plan's recomputations and their summed re-run time.
  int recomputes = 0;
  double recompute_us = 0;
  // "ok", "FAILED" (verifier rejected the plan), "ERROR" (planner error) or
  // "-" (no plan).
  std::string verified = "-";
  std::string diagnostic;
  double wall_seconds = 0;
};

struct Workload {
  std::string model;
  int batch = 0;
  std::optional<solver::GraphModel> graph;
  std::optional<solver::ProfileModel> profile;
  uint64_t peak = 0;
  double reference_us = 0;
};

const char* ShortTermination(v1::Termination t) {
  switch (t) {
    case v1::TERMINATION_OPTIMAL:
      return "optimal";
    case v1::TERMINATION_FEASIBLE:
      return "feasible";
    case v1::TERMINATION_INFEASIBLE:
      return "infeasible";
    case v1::TERMINATION_NO_SOLUTION:
      return "no-solution";
    case v1::TERMINATION_CANCELLED:
      return "cancelled";
    case v1::TERMINATION_HEURISTIC:
      return "heuristic";
    default:
      return "-";
  }
}

// 2LM cells are simulations, not a heuristic's plan (the plan carries
// TERMINATION_HEURISTIC because it is no solver's result).
const char* CellTermination(const Cell& c) {
  if (c.method.method == v1::METHOD_TWO_LEVEL_MEMORY && c.has_plan) {
    return "simulated";
  }
  return ShortTermination(c.termination);
}

double Gib(uint64_t bytes) { return static_cast<double>(bytes) / (1 << 30); }
double Gb(uint64_t bytes) { return static_cast<double>(bytes) / 1e9; }

class Bench {
 public:
  Bench(const Flags& flags, const costmodel::CostModel& cost_model)
      : flags_(flags), cost_model_(cost_model), cbc_(solver::MakeCbcSolver()) {}

  absl::StatusOr<Workload> Prepare(const std::string& model, int batch) {
    Workload w;
    w.model = model;
    w.batch = batch;
    absl::StatusOr<v1::Graph> graph = zoo::BuildZooGraph(model, batch);
    if (!graph.ok()) return graph.status();
    absl::StatusOr<solver::GraphModel> gm = solver::GraphModel::Create(*graph);
    if (!gm.ok()) return gm.status();
    absl::StatusOr<v1::Profile> profile =
        costmodel::SynthesizeProfile(*graph, cost_model_);
    if (!profile.ok()) return profile.status();
    absl::StatusOr<solver::ProfileModel> pm =
        solver::ProfileModel::Create(*profile);
    if (!pm.ok()) return pm.status();
    w.graph = std::move(*gm);
    w.profile = std::move(*pm);
    w.peak =
        solver::AlignedPeakLiveBytes(*w.graph, solver::kDefaultAlignmentBytes);

    Cell ref = Run(w, "reference", "dram", DramBudget(w),
                   BenchMethod{v1::METHOD_ALL_FAST});
    if (!ref.has_plan || ref.verified != "ok") {
      return absl::InternalError(absl::StrCat(
          "the all-DRAM reference (all-fast at ", kDramHeadroom,
          "x the aligned peak) of ", model, " produced no verified plan: ",
          ShortTermination(ref.termination), " ", ref.diagnostic));
    }
    w.reference_us = ref.predicted_us;
    return w;
  }

  uint64_t DramBudget(const Workload& w) const {
    return static_cast<uint64_t>(static_cast<double>(w.peak) * kDramHeadroom);
  }

  // Plans `w` with `method` under `budget`, verifies the plan, and counts
  // failures. `reference_us` of 0 leaves the slowdown at 0.
  Cell Run(const Workload& w, const std::string& sweep,
           const std::string& ratio_label, uint64_t budget,
           BenchMethod method) {
    Cell cell;
    cell.sweep = sweep;
    cell.model = w.model;
    cell.batch = w.batch;
    cell.ratio = ratio_label;
    cell.budget = budget;
    cell.peak = w.peak;
    cell.dram_fraction =
        w.peak == 0 ? 0
                    : static_cast<double>(budget) / static_cast<double>(w.peak);
    cell.method = method;
    cell.reference_us = w.reference_us;

    solver::PlanOptions options;
    options.method = method.method;
    options.recompute = method.recompute;
    options.budget_bytes = budget;
    options.alignment_bytes = solver::kDefaultAlignmentBytes;
    options.time_limit_seconds = method.method == v1::METHOD_ASYNCHRONOUS
                                     ? flags_.async_time_limit
                                     : flags_.time_limit;
    options.relative_gap = flags_.gap;
    options.threads = flags_.threads;

    // 2LM needs DRAM to cache in; at 'pmm' there is none.
    if (method.method == v1::METHOD_TWO_LEVEL_MEMORY &&
        budget < options.cache_line_bytes) {
      cell.termination = v1::TERMINATION_INFEASIBLE;
      cell.diagnostic = "no DRAM to use as a cache";
      return cell;
    }
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<solver::PlanOutcome> outcome = solver::PlanGraph(
        *w.graph, *w.profile, options, IsIlp(method) ? cbc_.get() : nullptr);
    cell.wall_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
    if (!outcome.ok()) {
      cell.verified = "ERROR";
      cell.diagnostic = std::string(outcome.status().ToString());
      ++failures_;
      std::fprintf(stderr,
                   "\n*** PLANNER ERROR (a bug in autotm) for %s bs%d %s %s: "
                   "%s\n\n",
                   w.model.c_str(), w.batch, ratio_label.c_str(), Name(method),
                   cell.diagnostic.c_str());
      return cell;
    }
    cell.stats = outcome->stats;
    cell.termination = outcome->stats.termination();
    cell.diagnostic = outcome->diagnostic;
    if (!outcome->plan.has_value()) return cell;

    const v1::Plan& plan = *outcome->plan;
    cell.has_plan = true;
    cell.predicted_us = plan.predicted_time_us();
    cell.peak_fast = plan.peak_fast_bytes();
    cell.pool_used = plan.pool_bytes_used();
    cell.recomputes = plan.recomputes_size();
    cell.recompute_us = plan.recompute_time_us();
    if (w.reference_us > 0) cell.slowdown = cell.predicted_us / w.reference_us;

    absl::StatusOr<solver::VerifyReport> report = solver::VerifyPlan(
        *w.graph, *w.profile, plan, budget, /*require_offsets=*/true);
    if (report.ok()) {
      cell.verified = "ok";
    } else {
      cell.verified = "FAILED";
      cell.diagnostic = std::string(report.status().message());
      ++failures_;
      std::fprintf(stderr,
                   "\n*** VERIFICATION FAILED (a bug in autotm) for %s bs%d "
                   "%s %s: %s\n\n",
                   w.model.c_str(), w.batch, ratio_label.c_str(), Name(method),
                   cell.diagnostic.c_str());
    }
    return cell;
  }

  int failures() const { return failures_; }

 private:
  const Flags& flags_;
  const costmodel::CostModel& cost_model_;
  std::unique_ptr<solver::Solver> cbc_;
  int failures_ = 0;
};

// Whether the cell counts in geomeans and comparisons: a plan the method
// itself produced (not the planner's heuristic fallback for an ILP that found
// nothing in time).
bool Counts(const Cell& c) {
  return c.has_plan &&
         !(IsIlp(c.method) && c.termination == v1::TERMINATION_HEURISTIC);
}

std::string SlowdownText(const Cell& c) {
  if (c.verified == "ERROR") return "ERROR";
  if (!c.has_plan) {
    return c.termination == v1::TERMINATION_INFEASIBLE ? "infeas" : "no-sol";
  }
  std::string s = absl::StrFormat("%.3f", c.slowdown);
  if (c.verified != "ok") s += "!";
  // Mark plans stopped at the time limit: their slowdown is an upper bound.
  if (c.termination == v1::TERMINATION_FEASIBLE ||
      c.termination == v1::TERMINATION_CANCELLED) {
    s += "*";
  }
  // An ILP method whose solve found nothing: the planner's heuristic
  // fallback plan.
  if (IsIlp(c.method) && c.termination == v1::TERMINATION_HEURISTIC) s += "h";
  return s;
}

std::string GapText(const Cell& c) {
  // A heuristic fallback keeps the ILP's bound, hence a gap, when it had
  // one.
  if (!IsIlp(c.method) || !c.has_plan ||
      !std::isfinite(c.stats.relative_gap())) {
    return "-";
  }
  return absl::StrFormat("%.2f%%", 100 * c.stats.relative_gap());
}

void PrintProgress(const Cell& c, int done, int total) {
  std::string ilp;
  if (IsIlp(c.method)) {
    ilp = absl::StrFormat(", %s, gap %s, solve %.1f s, %u vars",
                          ShortTermination(c.termination), GapText(c),
                          c.stats.solve_seconds(), c.stats.variables());
  }
  std::fprintf(stderr, "[%3d/%d] %-12s bs%-5d %-6s %-11s slowdown %-9s%s%s\n",
               done, total, c.model.c_str(), c.batch, c.ratio.c_str(),
               Name(c.method), SlowdownText(c).c_str(), ilp.c_str(),
               c.verified == "ok" || c.verified == "-"
                   ? ""
                   : absl::StrCat(" [", c.verified, "]").c_str());
  std::fflush(stderr);
}

std::string CsvHeader() {
  return CsvRow({"sweep",
                 "model",
                 "batch",
                 "ratio",
                 "dram_fraction",
                 "budget_bytes",
                 "aligned_peak_bytes",
                 "method",
                 "termination",
                 "has_plan",
                 "slowdown",
                 "predicted_time_us",
                 "all_dram_time_us",
                 "solve_seconds",
                 "build_seconds",
                 "wall_seconds",
                 "relative_gap",
                 "variables",
                 "integer_variables",
                 "rows",
                 "nonzeros",
                 "allocation_rounds",
                 "peak_fast_bytes",
                 "pool_bytes_used",
                 "verified",
                 "diagnostic",
                 "recomputes",
                 "recompute_time_us"});
}

std::string CsvLine(const Cell& c) {
  return CsvRow(
      {c.sweep,
       c.model,
       absl::StrCat(c.batch),
       c.ratio,
       absl::StrFormat("%.6g", c.dram_fraction),
       absl::StrCat(c.budget),
       absl::StrCat(c.peak),
       Name(c.method),
       CellTermination(c),
       c.has_plan ? "1" : "0",
       c.has_plan ? absl::StrFormat("%.6f", c.slowdown) : "",
       c.has_plan ? absl::StrFormat("%.3f", c.predicted_us) : "",
       absl::StrFormat("%.3f", c.reference_us),
       absl::StrFormat("%.3f", c.stats.solve_seconds()),
       absl::StrFormat("%.3f", c.stats.build_seconds()),
       absl::StrFormat("%.3f", c.wall_seconds),
       IsIlp(c.method) && c.has_plan && std::isfinite(c.stats.relative_gap())
           ? absl::StrFormat("%.6f", c.stats.relative_gap())
           : "",
       absl::StrCat(c.stats.variables()),
       absl::StrCat(c.stats.integer_variables()),
       absl::StrCat(c.stats.rows()),
       absl::StrCat(c.stats.nonzeros()),
       absl::StrCat(c.stats.allocation_rounds()),
       absl::StrCat(c.peak_fast),
       absl::StrCat(c.pool_used),
       c.verified,
       c.diagnostic,
       absl::StrCat(c.recomputes),
       absl::StrFormat("%.3f", c.recompute_us)});
}

std::string DisplayName(absl::string_view model) {
  if (model == "inception_v4") return "Inception v4";
  if (model == "vgg19") return "VGG19";
  if (model == "vgg416") return "VGG416";
  if (model == "resnet50") return "ResNet-50";
  if (model == "resnet200") return "ResNet-200";
  if (model == "densenet264") return "DenseNet-264";
  return std::string(model);
}

// ---------------------------------------------------------------------------
// The run.

constexpr char kDescription[] =
    "autotm-bench: the AutoTM paper's experiments, predicted by autotm's "
    "planner and cost model";

constexpr char kPaperHelp[] =
    "Reruns the AutoTM paper's CPU experiment matrix (ASPLOS 2020, Fig. 7) on\n"
    "the zoo's training graphs and the optane-2019 cost model, and prints the\n"
    "paper's table.\n\n"
    "For each workload (model at its paper batch), each PMM:DRAM ratio and\n"
    "each method it plans the graph under a DRAM budget of\n"
    "  peak / (r + 1)          for ratio r:1 (AutoTM: L = upper bound/(r+1)),\n"
    "  0                       for 'pmm' (all PMM),\n"
    "  1.5 x peak              for 'dram' (all DRAM, headroom for the pool),\n"
    "where peak is the aligned peak live bytes (everything fast). Each plan "
    "is\n"
    "re-checked by the independent verifier (offsets included). Slowdown is\n"
    "the plan's predicted time over the all-fast plan's at 1.5 x peak.\n\n"
    "Methods: all-slow, first-touch (NUMA first-touch baseline), 2lm (a\n"
    "simulation of Optane's Memory Mode: DRAM as a direct-mapped cache with\n"
    "64-byte lines; none at 'pmm'), static, sync, async (ILPs), all-fast\n"
    "(fits only at 'dram'); static+recompute, sync+recompute and\n"
    "async+recompute: the ILP may also drop a tensor between two uses and\n"
    "re-run its producer (--recompute auto; async+recompute gets the async\n"
    "time limit).\n\n"
    "Output: progress on stderr as each cell finishes; on stdout the\n"
    "slowdown table with geometric-mean rows per method (over the models, at\n"
    "every ratio column; the 'geo r:1' column is over the r:1 ratios only),\n"
    "the per-cell detail (termination, gap, solve time, ILP size), and the\n"
    "paper's headline (geomean at 4:1, sync vs first-touch), and sync\n"
    "against 2LM per model (the paper: AutoTM at least 2x faster on the\n"
    "large workloads). A CSV of every\n"
    "cell and an SVG of slowdown vs DRAM limit for Inception v4 are written.\n"
    "In the tables '*' marks a plan stopped at the time limit (an upper\n"
    "bound), 'h' an ILP that found nothing in time (the planner's heuristic\n"
    "fallback plan), '!' a plan the verifier rejected, 'infeas' no plan fits,\n"
    "'no-sol' no plan within the limit.\n\n"
    "The figures are predictions of the cost model, not measurements on\n"
    "Optane PMM. The full matrix takes about 65 minutes (twelve async\n"
    "cells of up to 300 s each; everything else about 5 minutes);\n"
    "--quick (batch 8, 10 s limits, ratios pmm,4, no async) finishes in\n"
    "about two minutes: a CI smoke run.\n\n"
    "Exit status: 0 all plans verified; 3 a plan failed verification or the\n"
    "planner returned an error (a bug); 2 bad flags; 4 cannot write output.";

constexpr char kPaperFooter[] =
    "Examples:\n"
    "  autotm-bench paper --quick\n"
    "  autotm-bench paper --models vgg19 --ratios 4 --methods sync\n"
    "  autotm-bench paper --models inception_v4 --case-study --ratios dram\n"
    "  autotm-bench paper --batch-scale 0.25 --time-limit 30\n"
    "See docs/EVALUATION.md for the results and how to read them.";

int RunPaper(const Flags& flags) {
  std::vector<std::string> models = SplitList(flags.models);
  std::vector<Ratio> ratios;
  for (const std::string& text : SplitList(flags.ratios)) {
    absl::StatusOr<Ratio> r = ParseRatio(text);
    if (!r.ok()) {
      std::fprintf(stderr, "autotm-bench: --ratios: %s\n",
                   std::string(r.status().message()).c_str());
      return kExitUsage;
    }
    ratios.push_back(*r);
  }
  std::vector<BenchMethod> methods;
  for (const std::string& text : SplitList(flags.methods)) {
    absl::StatusOr<BenchMethod> m = ParseMethod(text);
    if (!m.ok()) {
      std::fprintf(stderr, "autotm-bench: --methods: %s\n",
                   std::string(m.status().message()).c_str());
      return kExitUsage;
    }
    methods.push_back(*m);
  }
  std::map<std::string, int> default_batch;
  for (const zoo::ZooModelInfo& info : zoo::ZooModels()) {
    default_batch[info.name] = info.default_batch;
  }
  for (const std::string& m : models) {
    if (!default_batch.contains(m)) {
      std::vector<std::string> known;
      for (const auto& [name, batch] : default_batch) known.push_back(name);
      std::fprintf(stderr,
                   "autotm-bench: --models: unknown model '%s' (known: %s)\n",
                   m.c_str(), absl::StrJoin(known, ", ").c_str());
      return kExitUsage;
    }
  }
  if (models.empty() && !flags.case_study) {
    std::fprintf(stderr, "autotm-bench: --models is empty\n");
    return kExitUsage;
  }

  absl::StatusOr<costmodel::CostModel> cost_model =
      costmodel::CostModelByName("optane-2019");
  if (!cost_model.ok()) {
    std::fprintf(stderr, "autotm-bench: %s\n",
                 std::string(cost_model.status().message()).c_str());
    return kExitBug;
  }
  auto batch_of = [&](const std::string& model) {
    if (flags.quick) return kQuickBatch;
    return std::max(1, static_cast<int>(std::lround(default_batch[model] *
                                                    flags.batch_scale)));
  };

  // Case-study DRAM fractions (Fig. 10a): 1/1 .. 1/10; a small set in quick.
  std::vector<int> denominators;
  if (flags.case_study) {
    denominators = flags.quick
                       ? std::vector<int>{1, 2, 4, 8}
                       : std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  }
  const std::vector<BenchMethod> case_methods = {
      {v1::METHOD_FIRST_TOUCH}, {v1::METHOD_STATIC}, {v1::METHOD_SYNCHRONOUS}};

  const int total =
      static_cast<int>(models.size() * ratios.size() * methods.size()) +
      static_cast<int>(denominators.size() * case_methods.size());
  std::fprintf(stderr,
               "autotm-bench paper: %zu model(s) x %zu ratio(s) x %zu "
               "method(s)%s = %d cells; cost model optane-2019; ILP limit "
               "%g s (async %g s), gap %g; %s\n",
               models.size(), ratios.size(), methods.size(),
               denominators.empty()
                   ? ""
                   : absl::StrFormat(" + %zu case-study cells",
                                     denominators.size() * case_methods.size())
                         .c_str(),
               total, flags.time_limit, flags.async_time_limit, flags.gap,
               flags.quick ? "QUICK (batch 8)" : "paper batches");

  const auto start = std::chrono::steady_clock::now();
  Bench bench(flags, *cost_model);
  std::vector<Cell> cells;
  std::vector<Cell> case_cells;
  std::map<std::string, Workload> workloads;  // kept for the case study
  int done = 0;
  for (const std::string& model : models) {
    const int batch = batch_of(model);
    std::fprintf(stderr, "autotm-bench: building %s bs%d ...\n", model.c_str(),
                 batch);
    absl::StatusOr<Workload> w = bench.Prepare(model, batch);
    if (!w.ok()) {
      std::fprintf(stderr, "autotm-bench: %s bs%d: %s\n", model.c_str(), batch,
                   std::string(w.status().message()).c_str());
      return kExitBug;
    }
    std::fprintf(stderr,
                 "autotm-bench: %s bs%d: %d kernels, %d tensors, aligned peak "
                 "%.2f GB, all-DRAM time %.3f s\n",
                 model.c_str(), batch, w->graph->num_kernels(),
                 w->graph->num_tensors(), Gb(w->peak), w->reference_us / 1e6);
    for (const Ratio& ratio : ratios) {
      uint64_t budget = 0;
      switch (ratio.kind) {
        case Ratio::kAllPmm:
          budget = 0;
          break;
        case Ratio::kAllDram:
          budget = bench.DramBudget(*w);
          break;
        case Ratio::kRatio:
          budget = static_cast<uint64_t>(static_cast<double>(w->peak) /
                                         (ratio.pmm_per_dram + 1));
          break;
      }
      for (BenchMethod method : methods) {
        cells.push_back(bench.Run(*w, "matrix", ratio.label, budget, method));
        PrintProgress(cells.back(), ++done, total);
      }
    }
    if (model == "inception_v4") workloads.emplace(model, std::move(*w));
  }

  if (!denominators.empty()) {
    const std::string model = "inception_v4";
    if (!workloads.contains(model)) {
      const int batch = batch_of(model);
      absl::StatusOr<Workload> w = bench.Prepare(model, batch);
      if (!w.ok()) {
        std::fprintf(stderr, "autotm-bench: %s bs%d: %s\n", model.c_str(),
                     batch, std::string(w.status().message()).c_str());
        return kExitBug;
      }
      workloads.emplace(model, std::move(*w));
    }
    const Workload& w = workloads.at(model);
    for (int d : denominators) {
      const uint64_t budget = w.peak / static_cast<uint64_t>(d);
      for (BenchMethod method : case_methods) {
        case_cells.push_back(
            bench.Run(w, "case-study", absl::StrCat("1/", d), budget, method));
        PrintProgress(case_cells.back(), ++done, total);
      }
    }
  }
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();

  // ---- The slowdown table: one row per model and method, one column per
  // ratio; geomean rows per method.
  auto find = [&cells](const std::string& model, const std::string& ratio,
                       BenchMethod method) -> const Cell* {
    for (const Cell& c : cells) {
      if (c.model == model && c.ratio == ratio && c.method == method) return &c;
    }
    return nullptr;
  };
  std::vector<std::string> mid_ratios;  // the r:1 columns
  for (const Ratio& r : ratios) {
    if (r.kind == Ratio::kRatio) mid_ratios.push_back(r.label);
  }
  const std::string mid_label =
      mid_ratios.empty() ? ""
                         : absl::StrCat("geo ", absl::StrJoin(mid_ratios, ","));

  TextTable table;
  table.header = {"model", "batch", "method"};
  for (const Ratio& r : ratios) table.header.push_back(r.label);
  if (!mid_ratios.empty()) table.header.push_back(mid_label);
  for (size_t c = 3; c < table.header.size(); ++c) {
    table.right_aligned.push_back(static_cast<int>(c));
  }
  table.right_aligned.push_back(1);
  for (const std::string& model : models) {
    for (BenchMethod method : methods) {
      std::vector<std::string> row = {
          DisplayName(model), absl::StrCat(batch_of(model)), Name(method)};
      std::vector<double> mids;
      bool mids_complete = true;
      for (const Ratio& r : ratios) {
        const Cell* c = find(model, r.label, method);
        row.push_back(c == nullptr ? "" : SlowdownText(*c));
        if (r.kind == Ratio::kRatio) {
          if (c != nullptr && Counts(*c)) {
            mids.push_back(c->slowdown);
          } else {
            mids_complete = false;
          }
        }
      }
      if (!mid_ratios.empty()) {
        std::optional<double> g = GeometricMean(mids);
        row.push_back(
            g.has_value() && mids_complete ? absl::StrFormat("%.3f", *g) : "-");
      }
      table.rows.push_back(std::move(row));
    }
    table.rows.push_back({});
  }
  // Geomean rows: over the models, per column.
  std::map<std::pair<BenchMethod, std::string>, std::optional<double>> geomeans;
  std::map<std::pair<BenchMethod, std::string>, int> plan_counts;
  for (BenchMethod method : methods) {
    std::vector<std::string> row = {"geomean", "", Name(method)};
    std::vector<double> all_mids;
    bool all_complete = true;
    for (const Ratio& r : ratios) {
      std::vector<double> values;
      for (const std::string& model : models) {
        const Cell* c = find(model, r.label, method);
        if (c != nullptr && Counts(*c)) values.push_back(c->slowdown);
      }
      const bool complete = values.size() == models.size();
      std::optional<double> g = GeometricMean(values);
      if (complete) geomeans[{method, r.label}] = g;
      plan_counts[{method, r.label}] = static_cast<int>(values.size());
      if (r.kind == Ratio::kRatio) {
        all_mids.insert(all_mids.end(), values.begin(), values.end());
        all_complete = all_complete && complete;
      }
      row.push_back(g.has_value() && complete ? absl::StrFormat("%.3f", *g)
                                              : "-");
    }
    if (!mid_ratios.empty()) {
      std::optional<double> g = GeometricMean(all_mids);
      row.push_back(g.has_value() && all_complete ? absl::StrFormat("%.3f", *g)
                                                  : "-");
    }
    table.rows.push_back(std::move(row));
  }

  std::printf(
      "AutoTM paper matrix: predicted slowdown vs all-DRAM (optane-2019 cost "
      "model; predictions, not PMM measurements)%s\n",
      flags.quick ? " -- QUICK: batch 8, not the paper's batches" : "");
  std::printf(
      "DRAM budget = aligned peak / (r+1) at r:1; pmm = 0; dram = 1.5 x "
      "peak. ILP limit %g s (async %g s), gap %g. '*' = stopped at the time "
      "limit, 'h' = ILP found no plan in time (planner's heuristic fallback; "
      "not in geomeans), "
      "'infeas' = no plan fits, 'no-sol' = no plan in time.\n"
      "geomean rows: over the %zu model(s) per column; '%s' column: over the "
      "r:1 ratios.\n\n",
      flags.time_limit, flags.async_time_limit, flags.gap, models.size(),
      mid_label.c_str());
  std::fputs(RenderTextTable(table).c_str(), stdout);

  // ---- The headline comparison at 4:1.
  {
    auto text = [&](BenchMethod m) {
      auto it = geomeans.find({m, "4:1"});
      if (it != geomeans.end() && it->second.has_value()) {
        const double v = *it->second;
        return absl::StrFormat("%.3f (%+.1f%% time)", v, 100 * (v - 1));
      }
      auto count = plan_counts.find({m, "4:1"});
      if (count == plan_counts.end()) return std::string("not run");
      return absl::StrFormat("incomplete (%d/%zu plans)", count->second,
                             models.size());
    };
    // "Losing x% performance" reads as +x% time (slowdown 1 + x) or as
    // x% less throughput (slowdown 1 / (1 - x)); the paper does not say.
    auto paper = [](double loss) {
      return absl::StrFormat(
          "paper: %.1f%% loss (%.3f as +time; %.3f as -throughput)", 100 * loss,
          1 + loss, 1 / (1 - loss));
    };
    std::printf(
        "\nHeadline, geomean over the %zu model(s) at 4:1 (80%% PMM):\n"
        "  sync        %-26s %s\n"
        "  first-touch %-26s %s\n",
        models.size(), text({v1::METHOD_SYNCHRONOUS}).c_str(),
        paper(kPaperSyncLoss).c_str(), text({v1::METHOD_FIRST_TOUCH}).c_str(),
        paper(kPaperFirstTouchLoss).c_str());
    if (std::find(methods.begin(), methods.end(),
                  BenchMethod{v1::METHOD_SYNCHRONOUS, true}) != methods.end()) {
      std::printf("  sync+recompute %-26s (issue 22's target: <= 1.200)\n",
                  text({v1::METHOD_SYNCHRONOUS, true}).c_str());
    }
    for (v1::Method other : {v1::METHOD_STATIC, v1::METHOD_ASYNCHRONOUS}) {
      const BenchMethod with = {other, true};
      if (std::find(methods.begin(), methods.end(), with) != methods.end()) {
        std::printf("  %-14s %-26s beside %s %s\n", Name(with),
                    text(with).c_str(), Name({other}), text({other}).c_str());
      }
    }
  }

  // ---- Sync against 2LM, the paper's other comparison (§7: AutoTM at
  // least 2x faster than the hardware DRAM cache on the large workloads).
  if (std::find(methods.begin(), methods.end(),
                BenchMethod{v1::METHOD_TWO_LEVEL_MEMORY}) != methods.end() &&
      std::find(methods.begin(), methods.end(),
                BenchMethod{v1::METHOD_SYNCHRONOUS}) != methods.end() &&
      !mid_ratios.empty()) {
    TextTable versus;
    versus.header = {"2LM time / sync time"};
    for (const std::string& ratio : mid_ratios) versus.header.push_back(ratio);
    for (size_t c = 1; c < versus.header.size(); ++c) {
      versus.right_aligned.push_back(static_cast<int>(c));
    }
    int at_least_2x = 0;
    int compared = 0;
    for (const std::string& model : models) {
      std::vector<std::string> row = {DisplayName(model)};
      for (const std::string& ratio : mid_ratios) {
        const Cell* lm = find(model, ratio, {v1::METHOD_TWO_LEVEL_MEMORY});
        const Cell* sync = find(model, ratio, {v1::METHOD_SYNCHRONOUS});
        if (lm == nullptr || sync == nullptr || !Counts(*lm) ||
            !Counts(*sync)) {
          row.push_back("-");
          continue;
        }
        const double ratio_2lm = lm->predicted_us / sync->predicted_us;
        ++compared;
        at_least_2x += ratio_2lm >= 2;
        row.push_back(absl::StrFormat("%.2fx", ratio_2lm));
      }
      versus.rows.push_back(std::move(row));
    }
    std::printf(
        "\nSync against 2LM (DRAM as a direct-mapped cache, 64-byte lines): "
        "the paper found AutoTM at least 2x faster on its large workloads; "
        "here %d of %d cells are.\n%s",
        at_least_2x, compared, RenderTextTable(versus).c_str());
  }

  // ---- Detail: every cell.
  TextTable detail;
  detail.header = {
      "model",       "ratio",    "method",  "budget GiB",      "slowdown",
      "termination", "gap",      "solve s", "build s",         "vars",
      "rows",        "nonzeros", "rounds",  "recomputes (ms)", "verified"};
  detail.right_aligned = {3, 4, 6, 7, 8, 9, 10, 11, 12, 13};
  auto detail_row = [](const Cell& c) {
    const bool ilp = IsIlp(c.method);
    return std::vector<std::string>{
        DisplayName(c.model),
        c.ratio,
        Name(c.method),
        absl::StrFormat("%.2f", Gib(c.budget)),
        SlowdownText(c),
        CellTermination(c),
        GapText(c),
        ilp ? absl::StrFormat("%.1f", c.stats.solve_seconds()) : "-",
        ilp ? absl::StrFormat("%.1f", c.stats.build_seconds()) : "-",
        ilp ? absl::StrCat(c.stats.variables()) : "-",
        ilp ? absl::StrCat(c.stats.rows()) : "-",
        ilp ? absl::StrCat(c.stats.nonzeros()) : "-",
        ilp ? absl::StrCat(c.stats.allocation_rounds()) : "-",
        c.method.recompute && c.has_plan
            ? absl::StrFormat("%d (%.1f)", c.recomputes, c.recompute_us / 1000)
            : "-",
        c.verified};
  };
  std::string last_model;
  for (const Cell& c : cells) {
    if (!last_model.empty() && c.model != last_model) detail.rows.push_back({});
    last_model = c.model;
    detail.rows.push_back(detail_row(c));
  }
  std::printf(
      "\nPer cell (solve/build seconds summed over allocation rounds):\n\n");
  std::fputs(RenderTextTable(detail).c_str(), stdout);

  if (!case_cells.empty()) {
    TextTable cs = detail;
    cs.rows.clear();
    cs.header[1] = "DRAM";
    for (const Cell& c : case_cells) cs.rows.push_back(detail_row(c));
    std::printf(
        "\nInception v4 case study (Fig. 10a): DRAM budget = aligned peak x "
        "fraction:\n\n");
    std::fputs(RenderTextTable(cs).c_str(), stdout);
  }

  // ---- Anomalies: a richer formulation must never be worse than a poorer
  // one solved to optimality (static ⊂ sync ⊂ async).
  int anomalies = 0;
  auto check = [&](const std::vector<Cell>& set) {
    for (const Cell& rich : set) {
      // A method with recomputation's poorer formulation is the same
      // method without it (recomputation only adds choices); async with it
      // also starts from sync with it, the comparison made here.
      BenchMethod poorer;
      if (rich.method == BenchMethod{v1::METHOD_SYNCHRONOUS}) {
        poorer = {v1::METHOD_STATIC};
      }
      if (rich.method == BenchMethod{v1::METHOD_SYNCHRONOUS, true} ||
          rich.method == BenchMethod{v1::METHOD_ASYNCHRONOUS}) {
        poorer = {v1::METHOD_SYNCHRONOUS};
      }
      if (rich.method == BenchMethod{v1::METHOD_STATIC, true}) {
        poorer = {v1::METHOD_STATIC};
      }
      if (rich.method == BenchMethod{v1::METHOD_ASYNCHRONOUS, true}) {
        poorer = {v1::METHOD_SYNCHRONOUS, true};
      }
      if (poorer.method == v1::METHOD_UNSPECIFIED || !Counts(rich)) continue;
      for (const Cell& poor : set) {
        if (poor.method != poorer || poor.model != rich.model ||
            poor.ratio != rich.ratio || !Counts(poor)) {
          continue;
        }
        if (rich.slowdown > poor.slowdown * (1 + flags.gap) + 1e-9) {
          ++anomalies;
          std::printf(
              "NOTE: %s %s: %s %.4f is worse than %s %.4f (%s; %s). %s\n",
              DisplayName(rich.model).c_str(), rich.ratio.c_str(),
              Name(rich.method), rich.slowdown, Name(poor.method),
              poor.slowdown, ShortTermination(rich.termination),
              ShortTermination(poor.termination),
              rich.termination == v1::TERMINATION_OPTIMAL
                  ? "A BUG: the richer ILP was proven optimal."
                  : "The richer ILP stopped at its time limit.");
        }
      }
    }
  };
  check(cells);
  check(case_cells);

  // ---- CSV.
  {
    std::ofstream csv(flags.csv);
    csv << CsvHeader();
    for (const Cell& c : cells) csv << CsvLine(c);
    for (const Cell& c : case_cells) csv << CsvLine(c);
    csv.close();
    if (!csv) {
      std::fprintf(stderr, "autotm-bench: cannot write %s\n",
                   flags.csv.c_str());
      return kExitIo;
    }
  }

  // ---- SVG: slowdown vs DRAM limit for Inception v4.
  {
    client::LineChart chart;
    chart.y_references.push_back({.y = 1.0, .label = ""});
    chart.x_label = "DRAM limit (GB, ILP budget)";
    chart.y_label = "predicted slowdown vs all-DRAM";
    const std::vector<Cell>& source = case_cells.empty() ? cells : case_cells;
    const std::vector<BenchMethod> plot_methods =
        case_cells.empty() ? methods : case_methods;
    int batch = 0;
    for (BenchMethod method : plot_methods) {
      if (method.method == v1::METHOD_ALL_FAST) continue;
      client::ChartSeries series;
      series.name = Name(method);
      std::vector<std::pair<double, double>> points;
      for (const Cell& c : source) {
        // The all-DRAM column's budget carries 50% headroom; the dashed
        // line at 1.0 stands for it instead.
        if (c.model != "inception_v4" || c.method != method || !c.has_plan ||
            c.ratio == "dram") {
          continue;
        }
        batch = c.batch;
        points.emplace_back(Gb(c.budget), c.slowdown);
      }
      std::sort(points.begin(), points.end());
      series.points = std::move(points);
      if (!series.points.empty()) chart.series.push_back(std::move(series));
    }
    if (chart.series.empty()) {
      std::fprintf(stderr,
                   "autotm-bench: no Inception v4 cells: %s not written\n",
                   flags.svg.c_str());
    } else {
      chart.title =
          absl::StrFormat("Inception v4 bs%d: slowdown vs DRAM limit", batch);
      chart.subtitle = absl::StrFormat(
          "%s; optane-2019 cost model predictions (not PMM measurements); "
          "dashed = all-DRAM",
          case_cells.empty() ? "PMM:DRAM ratio sweep"
                             : "case study, DRAM = peak/1 .. peak/N");
      std::ofstream svg(flags.svg);
      svg << client::RenderLineChartSvg(chart);
      svg.close();
      if (!svg) {
        std::fprintf(stderr, "autotm-bench: cannot write %s\n",
                     flags.svg.c_str());
        return kExitIo;
      }
    }
  }

  const int bugs = bench.failures();
  std::printf(
      "\n%zu plans, %d verification failure(s) or planner error(s), %d "
      "anomal%s; %.1f s wall. CSV: %s  SVG: %s\n",
      cells.size() + case_cells.size(), bugs, anomalies,
      anomalies == 1 ? "y" : "ies", elapsed, flags.csv.c_str(),
      flags.svg.c_str());
  if (bugs > 0) {
    std::fprintf(stderr,
                 "\n*** autotm-bench: %d plan(s) FAILED verification or "
                 "planning errored: this is a bug in autotm (see above).\n",
                 bugs);
    return kExitBug;
  }
  return kExitOk;
}

}  // namespace
}  // namespace autotm::bench

int main(int argc, char** argv) {
  using autotm::bench::Flags;
  Flags flags;
  CLI::App app(autotm::bench::kDescription, "autotm-bench");
  app.require_subcommand(1);
  CLI::App* paper = app.add_subcommand(
      "paper",
      "The AutoTM paper's table: slowdown per workload, PMM:DRAM "
      "ratio and method");
  paper->description(autotm::bench::kPaperHelp);
  paper->footer(autotm::bench::kPaperFooter);
  paper
      ->add_option("--models", flags.models,
                   "Comma list of zoo models (each at its paper batch)")
      ->capture_default_str();
  CLI::Option* ratios =
      paper
          ->add_option("--ratios", flags.ratios,
                       "Comma list of PMM:DRAM ratios: pmm, dram, R or R:1 "
                       "(--quick: pmm,4)")
          ->capture_default_str();
  CLI::Option* methods =
      paper
          ->add_option("--methods", flags.methods,
                       "Comma list: all-slow, first-touch, 2lm, static, "
                       "sync, async, all-fast, static+recompute, "
                       "sync+recompute, async+recompute (--quick: all but "
                       "async)")
          ->capture_default_str();
  CLI::Option* time_limit =
      paper
          ->add_option("--time-limit", flags.time_limit,
                       "Seconds per static/sync ILP solve (10 with --quick)")
          ->check(CLI::PositiveNumber)
          ->capture_default_str();
  CLI::Option* async_limit =
      paper
          ->add_option("--async-time-limit", flags.async_time_limit,
                       "Seconds per async ILP solve (10 with --quick)")
          ->check(CLI::PositiveNumber)
          ->capture_default_str();
  paper
      ->add_option("--gap", flags.gap,
                   "Relative MIP gap at which a solve stops as optimal")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  CLI::Option* scale =
      paper
          ->add_option("--batch-scale", flags.batch_scale,
                       "Multiply every paper batch by this (rounded, >= 1)")
          ->check(CLI::PositiveNumber)
          ->capture_default_str();
  paper
      ->add_flag("--quick", flags.quick,
                 "CI smoke run (< 2 min): batch 8 for every model, 10 s ILP "
                 "limits, ratios pmm,4, no async (flags given "
                 "explicitly win)")
      ->excludes(scale);
  paper->add_flag("--case-study", flags.case_study,
                  "Also sweep Inception v4 at DRAM = peak/1 .. peak/10 "
                  "(Fig. 10a; peak/1,2,4,8 with --quick) for first-touch, "
                  "static and sync; the SVG then plots this sweep");
  paper
      ->add_option("--threads", flags.threads,
                   "CBC threads per solve (0 = serial, deterministic)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  paper->add_option("--csv", flags.csv, "CSV of every cell")
      ->capture_default_str();
  paper
      ->add_option("--svg", flags.svg,
                   "SVG plot of slowdown vs DRAM limit for Inception v4")
      ->capture_default_str();
  app.footer("Run 'autotm-bench paper --help' for the experiment and flags.");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : autotm::bench::kExitUsage;
  }
  if (flags.quick) {
    if (ratios->count() == 0) flags.ratios = autotm::bench::kQuickRatios;
    if (methods->count() == 0) flags.methods = autotm::bench::kQuickMethods;
    if (time_limit->count() == 0)
      flags.time_limit = autotm::bench::kQuickTimeLimit;
    if (async_limit->count() == 0) {
      flags.async_time_limit = autotm::bench::kQuickTimeLimit;
    }
  }
  return autotm::bench::RunPaper(flags);
}
