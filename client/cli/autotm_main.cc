// The `autotm` command-line tool: the composition root of the offline
// planner. Flags are parsed here and only here, copied into the solver's
// option structs, and every failure becomes a message naming the file and
// the problem plus one of the documented exit codes.
//
// CLI11 reports parse errors by throwing; those exceptions are caught right
// at the parse call below and nowhere else. Everything else returns
// absl::Status.

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "autotm/v1/graph.pb.h"
#include "autotm/v1/plan.pb.h"
#include "autotm/v1/profile.pb.h"
#include "client/cli/cli_common.h"
#include "client/cli/cli_jobs.h"
#include "client/cli/cli_pictures.h"
#include "client/cli/cli_planning.h"
#include "client/cli/cli_profiles.h"
#include "client/cli/cli_sweep.h"
#include "client/cli/cli_zoo.h"
#include "client/cli/plan_report.h"
#include "client/common/progress_line.h"
#include "client/common/proto_json.h"
#include "client/common/units.h"
#include "solver/allocator.h"
#include "solver/cbc_solver.h"
#include "solver/checked_math.h"
#include "solver/defaults.h"
#include "solver/graph_model.h"
#include "solver/planner.h"
#include "solver/profile_model.h"
#include "solver/solver.h"
#include "solver/verifier.h"

#ifndef AUTOTM_VERSION
#define AUTOTM_VERSION "unknown"
#endif

namespace autotm::client {
namespace {

// ---------------------------------------------------------------------------
// Solve progress on stderr.

// Objective values are predicted iteration times in microseconds; the
// solver reports +-inf while it has no incumbent or bound.
std::string FormatObjective(double us) {
  if (!std::isfinite(us)) return "none";
  return absl::StrFormat("%.3f ms", us / 1000);
}

std::string FormatGap(double gap) {
  if (!std::isfinite(gap)) return "-";
  return absl::StrFormat("%.2f%%", 100 * gap);
}

// Shows "incumbent, bound, gap, elapsed" on the progress line while the
// solver runs, when stderr is a terminal. A ticker thread keeps the elapsed
// time moving even while the solver is silent (the root LP of a large model
// can take a while); Update() may be called from any thread.
class SolveProgressTicker {
 public:
  explicit SolveProgressTicker(bool live) : line_(stderr, live) {
    if (!line_.live()) return;
    ticker_ = std::thread([this] {
      absl::MutexLock lock(&mu_);
      while (!stopped_) {
        line_.Show(TextLocked());
        wake_.WaitWithTimeout(&mu_, absl::Milliseconds(250));
      }
    });
  }
  SolveProgressTicker(const SolveProgressTicker&) = delete;
  SolveProgressTicker& operator=(const SolveProgressTicker&) = delete;
  ~SolveProgressTicker() { Stop(); }

  void Update(const solver::SolveProgress& progress) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    last_ = progress;
    have_progress_ = true;
  }

  // Stops the ticker and erases the live line, so the final line can take
  // its place. Idempotent.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      if (stopped_) return;
      stopped_ = true;
    }
    wake_.SignalAll();
    if (ticker_.joinable()) ticker_.join();
    line_.Clear();
  }

 private:
  std::string TextLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_)
            .count();
    std::string line = absl::StrFormat("solving... %.1f s", elapsed);
    if (have_progress_) {
      absl::StrAppend(&line, "  incumbent ", FormatObjective(last_.incumbent),
                      "  bound ", FormatObjective(last_.bound), "  gap ",
                      FormatGap(last_.relative_gap));
      if (last_.windows > 0) {
        absl::StrAppend(&line, "  windows ", last_.windows);
      } else {
        absl::StrAppend(&line, "  nodes ", last_.nodes);
      }
    }
    return line;
  }

  ProgressLine line_;
  const std::chrono::steady_clock::time_point start_ =
      std::chrono::steady_clock::now();
  absl::Mutex mu_;
  absl::CondVar wake_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  bool have_progress_ ABSL_GUARDED_BY(mu_) = false;
  solver::SolveProgress last_ ABSL_GUARDED_BY(mu_);
  std::thread ticker_;
};

// ---------------------------------------------------------------------------
// autotm solve

struct SolveFlags {
  std::string graph_path;
  std::string profile_path;
  std::string budget;
  std::string variant = "sync";
  std::string time_limit = absl::StrCat(solver::kDefaultTimeLimitSeconds, "s");
  double gap = solver::kDefaultRelativeGap;
  int threads = 0;
  int async_window = solver::kDefaultAsyncWindow;
  bool plain_overlap_rows = false;
  bool no_window_search = false;
  std::string table_collapse = "on";
  std::string repetition = "off";
  uint64_t cache_line = 64;
  std::string recompute = "none";
  std::string out_path;
  std::string svg_path;
  bool json = false;
};

// The flags that can be checked before the inputs are read: the time limit
// (to *time_limit) and that --out and --svg can be written. Prints what is
// wrong; returns kExitOk or kExitBadInput.
int CheckSolveFlags(const SolveFlags& flags, double* time_limit_seconds) {
  absl::StatusOr<double> time_limit = ParseDuration(flags.time_limit);
  if (!time_limit.ok()) {
    PrintError(absl::StrCat("--time-limit: ", Message(time_limit.status())));
    return kExitBadInput;
  }
  if (*time_limit <= 0) {
    PrintError(absl::StrCat("--time-limit: \"", flags.time_limit,
                            "\" must be longer than zero"));
    return kExitBadInput;
  }
  if (!flags.out_path.empty()) {
    if (absl::Status status = CheckWritable(flags.out_path); !status.ok()) {
      PrintError(absl::StrCat("--out: ", Message(status)));
      return kExitBadInput;
    }
  }
  if (!flags.svg_path.empty()) {
    if (absl::Status status = CheckWritable(flags.svg_path); !status.ok()) {
      PrintError(absl::StrCat("--svg: ", Message(status)));
      return kExitBadInput;
    }
  }
  *time_limit_seconds = *time_limit;
  return kExitOk;
}

// The ILP's final line on stderr (on a terminal it replaces the live
// progress line): termination, time, objective, bound, gap and nodes.
void PrintSolveEnd(const solver::PlanOutcome& outcome) {
  const v1::SolverStats& stats = outcome.stats;
  if (outcome.plan.has_value()) {
    std::fprintf(stderr,
                 "autotm: %s after %s: objective %s, bound %s, gap %s, %llu "
                 "nodes\n",
                 solver::TerminationName(stats.termination()),
                 FormatDuration(stats.solve_seconds()).c_str(),
                 FormatObjective(stats.objective_us()).c_str(),
                 FormatObjective(stats.best_bound_us()).c_str(),
                 FormatGap(stats.relative_gap()).c_str(),
                 static_cast<unsigned long long>(stats.nodes()));
  } else {
    std::fprintf(stderr, "autotm: %s after %s\n",
                 solver::TerminationName(stats.termination()),
                 FormatDuration(stats.solve_seconds()).c_str());
  }
}

// Why there is no plan, and what to change, on stderr.
void PrintNoPlan(const solver::PlanOutcome& outcome) {
  const v1::SolverStats& stats = outcome.stats;
  std::string advice;
  switch (stats.termination()) {
    case v1::TERMINATION_INFEASIBLE:
      advice = "raise --budget";
      break;
    case v1::TERMINATION_NO_SOLUTION:
      advice = "allow more --time-limit";
      break;
    default:
      break;
  }
  std::fprintf(stderr, "autotm: no plan: %s%s%s%s%s\n",
               solver::TerminationName(stats.termination()),
               outcome.diagnostic.empty() ? "" : ": ",
               outcome.diagnostic.c_str(), advice.empty() ? "" : "; ",
               advice.c_str());
}

// Writes --out and --svg, then prints the plan (JSON with --json, else the
// summary) and what was written. Returns the exit code.
int WriteSolveOutputs(const SolveFlags& flags, const v1::Plan& plan,
                      const solver::GraphModel& graph,
                      const solver::ProfileModel& profile,
                      const solver::VerifyReport& verified) {
  if (!flags.out_path.empty()) {
    if (absl::Status status = WriteProtoJsonFile(flags.out_path, plan);
        !status.ok()) {
      PrintError(Message(status));
      return kExitBadInput;
    }
  }
  if (!flags.svg_path.empty()) {
    if (absl::Status status = WritePlanSvg(flags.svg_path, plan, graph,
                                           &profile, kDefaultPictureRows);
        !status.ok()) {
      PrintError(Message(status));
      return kExitBadInput;
    }
  }

  if (flags.json) {
    absl::StatusOr<std::string> json = ProtoToJson(plan);
    if (!json.ok()) {
      PrintError(Message(json.status()));
      return kExitInternal;
    }
    std::fputs(json->c_str(), stdout);
    std::fprintf(stderr, "autotm: verified\n");
  } else {
    std::fputs(FormatPlanReport(plan, &graph).c_str(), stdout);
    std::fprintf(stdout, "\nverified: predicted %.3f ms, peak fast %s\n",
                 verified.predicted_time_us / 1000,
                 FormatBytes(verified.peak_fast_bytes).c_str());
  }
  if (!flags.out_path.empty()) {
    std::fprintf(stderr, "autotm: wrote %s\n", flags.out_path.c_str());
  }
  if (!flags.svg_path.empty()) {
    std::fprintf(stderr, "autotm: wrote %s\n", flags.svg_path.c_str());
  }
  return kExitOk;
}

int RunSolve(const SolveFlags& flags) {
  double time_limit = 0;
  if (int exit_code = CheckSolveFlags(flags, &time_limit);
      exit_code != kExitOk) {
    return exit_code;
  }

  absl::StatusOr<solver::TableCollapseOptions> collapse =
      ParseTableCollapse(flags.table_collapse);
  if (!collapse.ok()) {
    PrintError(absl::StrCat("--table-collapse: ", Message(collapse.status())));
    return kExitBadInput;
  }
  absl::StatusOr<PlanningInputs> inputs =
      LoadPlanningInputs(flags.graph_path, flags.profile_path, *collapse);
  if (!inputs.ok()) {
    PrintError(Message(inputs.status()));
    return kExitBadInput;
  }
  const solver::GraphModel& graph = *inputs->graph;
  const solver::ProfileModel& profile = *inputs->profile;

  // Percentages are of the peak counted as the pool places tensors (sizes
  // rounded up to its alignment), so that 100% always holds everything.
  const uint64_t peak =
      solver::AlignedPeakLiveBytes(graph, solver::kDefaultAlignmentBytes);
  absl::StatusOr<uint64_t> budget = ParseBudget(flags.budget, peak);
  if (!budget.ok()) {
    PrintError(absl::StrCat("--budget: ", Message(budget.status())));
    return kExitBadInput;
  }

  solver::PlanOptions options;
  options.method = Variants().at(flags.variant);
  options.budget_bytes = *budget;
  options.time_limit_seconds = time_limit;
  options.relative_gap = flags.gap;
  options.threads = flags.threads;
  options.async_window = flags.async_window;
  options.lift_overlap_rows = !flags.plain_overlap_rows;
  options.window_search = !flags.no_window_search;
  options.cache_line_bytes = flags.cache_line;
  options.recompute = flags.recompute == "auto";
  options.exploit_repetition = flags.repetition == "auto";

  const bool ilp = solver::IsIlpMethod(options.method);
  const std::string share =
      peak == 0
          ? std::string("-")
          : absl::StrFormat("%.3g%%", 100.0 * static_cast<double>(*budget) /
                                          static_cast<double>(peak));
  std::fprintf(stderr,
               "autotm: planning %s (%d kernels, %d tensors) with %s under a "
               "budget of %s (%s of the %s peak live)\n",
               graph.name().c_str(), graph.num_kernels(), graph.num_tensors(),
               flags.variant.c_str(), FormatBytes(*budget).c_str(),
               share.c_str(), FormatBytes(peak).c_str());

  SolveProgressTicker progress(ilp && ProgressLine::IsTerminal(stderr));
  options.on_progress = [&progress](const solver::SolveProgress& p) {
    progress.Update(p);
  };
  std::unique_ptr<solver::Solver> cbc = ilp ? solver::MakeCbcSolver() : nullptr;
  // Ctrl-C asks the solver to stop and keep its best plan.
  options.cancel = CancelOnInterrupt(
      "\nautotm: interrupted: stopping the solver and keeping the best plan "
      "so far (Ctrl-C again to abort)\n");
  absl::StatusOr<solver::PlanOutcome> outcome =
      solver::PlanGraph(graph, profile, options, cbc.get());
  progress.Stop();
  RestoreInterrupt();

  if (!outcome.ok()) {
    PrintError(Message(outcome.status()));
    const absl::StatusCode code = outcome.status().code();
    return code == absl::StatusCode::kInvalidArgument ||
                   code == absl::StatusCode::kFailedPrecondition
               ? kExitBadInput
               : kExitInternal;
  }
  if (ilp) PrintSolveEnd(*outcome);
  if (!outcome->plan.has_value()) {
    PrintNoPlan(*outcome);
    return kExitNoPlan;
  }
  const v1::Plan& plan = *outcome->plan;
  if (const std::string tables = DescribeTableCollapse(plan);
      !tables.empty() && (plan.table_collapse().collapsed_kernels() > 0 ||
                          plan.table_collapse().table_kernels() > 0)) {
    std::fprintf(stderr, "autotm: %s\n", tables.c_str());
  }
  // Why a fallback plan was returned (the ILP's own plan did not fit the
  // pool, or was slower than its start, ...).
  if (!outcome->diagnostic.empty()) {
    std::fprintf(stderr, "autotm: note: %s\n", outcome->diagnostic.c_str());
  }

  // Always re-check what the solver produced against an implementation
  // written apart from the formulation: a plan that breaks the budget or
  // misprices a kernel must never reach a framework.
  absl::StatusOr<solver::VerifyReport> verified =
      solver::VerifyPlan(graph, profile, plan, *budget);
  if (!verified.ok()) {
    PrintError(absl::StrCat(
        "the verifier rejected the plan the solver produced (a bug in "
        "autotm; please report it with the input files); no plan was "
        "written: ",
        Message(verified.status())));
    return kExitRejected;
  }

  return WriteSolveOutputs(flags, plan, graph, profile, *verified);
}

// ---------------------------------------------------------------------------
// autotm verify

struct VerifyFlags {
  std::string graph_path;
  std::string profile_path;
  std::string plan_path;
  std::string budget;  // empty: the plan's own budget_bytes
};

int RunVerify(const VerifyFlags& flags) {
  v1::Plan plan;
  if (absl::Status status = ReadProtoJsonFile(flags.plan_path, &plan);
      !status.ok()) {
    PrintError(Message(status));
    return kExitBadInput;
  }
  // Price the tables as the plan was priced (its table_collapse, or as
  // given for a plan without one).
  absl::StatusOr<PlanningInputs> inputs =
      LoadPlanningInputs(flags.graph_path, flags.profile_path,
                         solver::TableCollapseOptionsOf(plan));
  if (!inputs.ok()) {
    PrintError(Message(inputs.status()));
    return kExitBadInput;
  }
  uint64_t budget = plan.budget_bytes();
  if (!flags.budget.empty()) {
    absl::StatusOr<uint64_t> parsed = ParseBudget(
        flags.budget, solver::AlignedPeakLiveBytes(
                          *inputs->graph, solver::kDefaultAlignmentBytes));
    if (!parsed.ok()) {
      PrintError(absl::StrCat("--budget: ", Message(parsed.status())));
      return kExitBadInput;
    }
    budget = *parsed;
  }
  absl::StatusOr<solver::VerifyReport> report =
      solver::VerifyPlan(*inputs->graph, *inputs->profile, plan, budget);
  if (!report.ok()) {
    std::fprintf(stderr, "autotm: rejected: %s: %s\n", flags.plan_path.c_str(),
                 Message(report.status()).c_str());
    return kExitRejected;
  }
  std::fputs(FormatVerifyReport(*report, plan, budget).c_str(), stdout);
  return kExitOk;
}

// ---------------------------------------------------------------------------
// autotm graph stats

int RunGraphStats(const std::string& path) {
  absl::StatusOr<solver::GraphModel> graph = LoadGraph(path);
  if (!graph.ok()) {
    PrintError(Message(graph.status()));
    return kExitBadInput;
  }
  std::set<std::string> signatures;
  std::map<v1::TensorRole, int> roles;
  int largest = -1;
  int widest = -1;  // the kernel with the most operands
  for (const solver::KernelInfo& kernel : graph->kernels()) {
    signatures.insert(kernel.signature_key);
    if (widest < 0 ||
        kernel.operands.size() > graph->kernel(widest).operands.size()) {
      widest = graph->FindKernel(kernel.id);
    }
  }
  int persistent = 0;
  uint64_t persistent_bytes = 0;
  for (int t = 0; t < graph->num_tensors(); ++t) {
    ++roles[graph->tensor(t).role];
    if (graph->tensor(t).persistent) {
      ++persistent;
      persistent_bytes += graph->tensor(t).size_bytes;
    }
    if (largest < 0 ||
        graph->tensor(t).size_bytes > graph->tensor(largest).size_bytes) {
      largest = t;
    }
  }
  int peak_kernel = 0;
  for (int k = 0; k < graph->num_kernels(); ++k) {
    if (graph->LiveBytes(k) > graph->LiveBytes(peak_kernel)) peak_kernel = k;
  }

  auto line = [](const std::string& label, const std::string& value) {
    std::printf("  %-20s%s\n", label.c_str(), value.c_str());
  };
  std::printf("graph %s (%s)\n", graph->name().c_str(), path.c_str());
  line("kernels", absl::StrCat(graph->num_kernels()));
  line("tensors",
       absl::StrFormat(
           "%d (%d activations, %d gradients, %d weights, %d "
           "optimizer state, %d inputs, %d constants)",
           graph->num_tensors(), roles[v1::TENSOR_ROLE_ACTIVATION],
           roles[v1::TENSOR_ROLE_GRADIENT], roles[v1::TENSOR_ROLE_WEIGHT],
           roles[v1::TENSOR_ROLE_OPTIMIZER_STATE], roles[v1::TENSOR_ROLE_INPUT],
           roles[v1::TENSOR_ROLE_CONSTANT]));
  if (persistent > 0) {
    line("persistent",
         absl::StrFormat("%d tensor%s, %s (handed on as they are: live "
                         "to the last kernel)",
                         persistent, persistent == 1 ? "" : "s",
                         FormatBytes(persistent_bytes)));
  }
  line("unique signatures",
       absl::StrFormat(
           "%d (kernels sharing one profile entry: %d)", signatures.size(),
           graph->num_kernels() - static_cast<int>(signatures.size())));
  if (graph->num_kernels() > 0) {
    line("peak live bytes",
         absl::StrFormat("%s at kernel %d (%s): the budget that fits "
                         "everything",
                         FormatBytes(graph->PeakLiveBytes()), peak_kernel,
                         graph->kernel(peak_kernel).id));
  }
  line("total bytes", FormatBytes(graph->TotalBytes()));
  if (largest >= 0) {
    line("largest tensor",
         absl::StrFormat("%s, %s", graph->tensor(largest).id,
                         FormatBytes(graph->tensor(largest).size_bytes)));
  }
  if (widest >= 0) {
    const solver::KernelInfo& kernel = graph->kernel(widest);
    const std::optional<uint64_t> count =
        solver::ConfigurationCount(kernel.operands.size());
    line("most operands",
         absl::StrFormat(
             "%d on %s (%d in, %d out: %s configurations in a full profile "
             "table)",
             kernel.operands.size(), kernel.id, kernel.num_inputs,
             kernel.num_outputs,
             count.has_value() ? absl::StrCat(*count)
                               : absl::StrCat("2^", kernel.operands.size())));
  }
  return kExitOk;
}

// ---------------------------------------------------------------------------
// Command-line definition.

// Command descriptions are "one line\n\nparagraph": a parent's --help lists
// its subcommands by the first line, a command's own --help opens with all.
class HelpFormatter : public CLI::Formatter {
 public:
  std::string make_subcommand(const CLI::App* sub) const override {
    const std::string& text = sub->get_description();
    std::stringstream out;
    CLI::detail::format_help(out, sub->get_display_name(true),
                             text.substr(0, text.find('\n')), column_width_);
    return out.str();
  }
};

constexpr char kToolDescription[] =
    "autotm: plan tensor placement in two-tier memory for DNN training\n"
    "\n"
    "autotm plans where the tensors of a deep-learning training graph live\n"
    "in a two-tier memory system (fast DRAM/HBM vs slow PMM/CXL memory) and\n"
    "when they move between the tiers. It solves AutoTM's integer linear\n"
    "program (Hildebrand et al., ASPLOS 2020) with COIN-OR CBC, using kernel\n"
    "timings measured under every tier configuration. Inputs and outputs\n"
    "are the protobuf JSON form of autotm.v1 messages.\n";

constexpr char kExitCodes[] =
    "Exit codes: 0 success; 1 bad input (unreadable or invalid file, bad\n"
    "flag; the message names the file and the problem); 2 no plan\n"
    "(infeasible under the budget, or none found in the time limit);\n"
    "3 the verifier rejected a plan.";

// Greedy word wrap for help paragraphs (CLI11 prints them verbatim).
std::string Wrap(const std::string& text, size_t width = 72) {
  std::string out;
  size_t line_length = 0;
  std::stringstream words(text);
  std::string word;
  while (words >> word) {
    if (line_length > 0 && line_length + 1 + word.size() > width) {
      out += '\n';
      line_length = 0;
    } else if (line_length > 0) {
      out += ' ';
      ++line_length;
    }
    out += word;
    line_length += word.size();
  }
  return out;
}

std::string BudgetUnits() {
  return Wrap(absl::StrCat("Budgets (--budget): ", kBudgetHelp,
                           ". Byte counts: ", kBytesHelp, "."));
}
std::string DurationUnits() {
  return Wrap(absl::StrCat("Durations (--time-limit): ", kDurationHelp, "."));
}

// The `autotm solve` options that tune the planner rather than say what to
// plan: CBC threads, the async window and rows, table collapse,
// repetition, recomputation and the 2LM cache line.
void AddSolverTuningOptions(CLI::App& solve_command, SolveFlags& flags) {
  CLI::App* solve = &solve_command;
  solve
      ->add_option("--threads", flags.threads,
                   "CBC threads; 0 = serial, deterministic")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str()
      ->type_name("N");
  solve
      ->add_option("--async-window", flags.async_window,
                   "async: kernels within this distance of a tensor's use may "
                   "overlap its copies (AutoTM: 15); smaller = a smaller ILP")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str()
      ->type_name("K");
  solve->add_flag(
      "--plain-overlap-rows", flags.plain_overlap_rows,
      "async: AutoTM's plain rows z >= kernel time, z >= sum of copy times "
      "instead of the lifted ones (same optimum, weaker LP bound; for "
      "comparison)");
  solve->add_flag(
      "--no-window-search", flags.no_window_search,
      "async, models of 100k+ columns: let CBC branch on the whole model "
      "after its root instead of re-solving windows of kernels around the "
      "best plan (slower to improve; for comparison)");
  solve
      ->add_option(
          "--repetition", flags.repetition,
          "ILP variants: auto = find runs of identical layers, solve the "
          "model with their columns tied first and start the full ILP from "
          "its broadcast plan (docs/FORMULATION.md, \"Repetition\"); off = "
          "the full ILP only (the default: it measured as good or better)")
      ->check(CLI::IsMember({"auto", "off"}))
      ->capture_default_str()
      ->type_name("MODE");
  solve
      ->add_option(
          "--table-collapse", flags.table_collapse,
          "Price configuration tables that a separable cost describes by "
          "that cost (no configuration variables): on = within max(1% of the "
          "all-fast time, 0.5 us) of every listed time; exact = only exactly "
          "separable tables; off = every table as given")
      ->check(CLI::IsMember({"on", "exact", "off"}))
      ->capture_default_str()
      ->type_name("MODE");
  solve
      ->add_option(
          "--recompute", flags.recompute,
          "static, sync, async: none = keep or move every tensor; auto = the "
          "ILP may also "
          "drop a tensor after a use and re-run its producer before the next "
          "(single-output kernels with separable costs whose inputs are live "
          "there; docs/FORMULATION.md, \"Recomputation\")")
      ->check(CLI::IsMember({"none", "auto"}))
      ->capture_default_str()
      ->type_name("MODE");
  solve
      ->add_option("--cache-line", flags.cache_line,
                   "2lm: the simulated cache's line in bytes, a power of two "
                   "from 64 (Optane's Memory Mode) to 1 GiB")
      ->capture_default_str()
      ->type_name("BYTES");
}

}  // namespace

// `autotm solve`: its flags land in `flags`.
CLI::App* AddSolveCommand(CLI::App& app, SolveFlags& flags) {
  CLI::App* solve = app.add_subcommand(
      "solve",
      "Plan tensor placement for one training iteration under a budget\n"
      "\n"
      "Plans where every tensor of a training iteration lives and when it\n"
      "moves, under a fast-memory budget. Reads a graph (autotm.v1.Graph\n"
      "JSON) and a kernel timing profile for it (autotm.v1.Profile JSON),\n"
      "solves the chosen variant, checks the plan with the independent\n"
      "verifier, prints a summary (or the plan as JSON with --json) and\n"
      "writes the plan (autotm.v1.Plan JSON) to --out. Ctrl-C stops the\n"
      "solver and keeps the best plan found so far.\n"
      "\n"
      "Variants:\n"
      "  sync         ILP (default): tensors may move, with blocking copies\n"
      "               right before or after the kernels that use them\n"
      "  static       ILP: each tensor stays in the tier it is created in\n"
      "  async        ILP: sync, plus copies overlapped with kernels near\n"
      "               a tensor's uses (a kernel costs max(itself, copies))\n"
      "  heuristic    no ILP: a sync-style plan from the pricing heuristic in\n"
      "               seconds (every ILP variant starts from it)\n"
      "  all-fast     baseline: every tensor fast (only when it all fits)\n"
      "  all-slow     baseline: every tensor slow\n"
      "  first-touch  baseline: fast if it fits when created, never moves\n"
      "  2lm          simulation: every tensor slow, the fast tier a\n"
      "               direct-mapped hardware cache of the budget in front of\n"
      "               it (Optane's Memory Mode; see --cache-line)\n");
  solve
      ->add_option("--graph", flags.graph_path,
                   "Training graph (autotm.v1.Graph JSON)")
      ->required()
      ->type_name("FILE");
  solve
      ->add_option("--profile", flags.profile_path,
                   "Its kernel timings (autotm.v1.Profile JSON)")
      ->required()
      ->type_name("FILE");
  solve
      ->add_option("--budget", flags.budget,
                   "Fast memory at every kernel: 24GiB, 512MB, 20%")
      ->required()
      ->type_name("SIZE|P%");
  solve->add_option("--variant", flags.variant, "See Variants above")
      ->check(CLI::IsMember(VariantNames()))
      ->capture_default_str()
      ->type_name("NAME");
  solve
      ->add_option(
          "--time-limit", flags.time_limit,
          "Wall-clock limit of the planning: seed solves, ILP and pool layout")
      ->capture_default_str()
      ->type_name("DURATION");
  solve
      ->add_option("--gap", flags.gap,
                   "Stop within this relative gap of optimal")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str()
      ->type_name("FRACTION");
  AddSolverTuningOptions(*solve, flags);
  solve->add_option("--out", flags.out_path, "Write the plan here (atomically)")
      ->type_name("FILE");
  solve->add_option("--svg", flags.svg_path, kPlanSvgHelp)->type_name("FILE");
  solve->add_flag("--json", flags.json,
                  "Print the plan JSON on stdout, not the summary");
  solve->footer(absl::StrCat(
      "Example:\n"
      "  autotm solve --graph tests/testdata/example_cnn.graph.json \\\n"
      "      --profile tests/testdata/example_cnn.profile.json \\\n"
      "      --budget 50% --out plan.json --svg plan.svg\n\n"
      "Look at a saved plan later: autotm plan show plan.json --graph G\n"
      "[--profile P] [--svg OUT].\n\n",
      BudgetUnits(), "\n\n", DurationUnits(),
      "\n\nWith --json only the plan goes to stdout; progress and diagnostics\n"
      "go to stderr.\n\n",
      kExitCodes));
  return solve;
}

// `autotm verify`: its flags land in `flags`.
CLI::App* AddVerifyCommand(CLI::App& app, VerifyFlags& flags) {
  CLI::App* verify = app.add_subcommand(
      "verify",
      "Check a plan against its graph, profile and budget\n"
      "\n"
      "Replays a plan (autotm.v1.Plan JSON) kernel by kernel against its\n"
      "graph and profile, independently of the solver: every tensor placed\n"
      "once, moves inside live ranges, kernel configurations matching where\n"
      "the operands are, fast memory within the budget at every kernel, and\n"
      "the plan's predicted times equal to the recomputed ones. Prints the\n"
      "recomputed figures, or the first violation (exit code 3).\n");
  verify
      ->add_option("--graph", flags.graph_path,
                   "Training graph (autotm.v1.Graph JSON)")
      ->required()
      ->type_name("FILE");
  verify
      ->add_option("--profile", flags.profile_path,
                   "Its kernel timings (autotm.v1.Profile JSON)")
      ->required()
      ->type_name("FILE");
  verify
      ->add_option("--plan", flags.plan_path,
                   "The plan to check (autotm.v1.Plan JSON)")
      ->required()
      ->type_name("FILE");
  verify
      ->add_option("--budget", flags.budget,
                   "Check against this budget, not the plan's")
      ->type_name("SIZE|P%");
  verify->footer(absl::StrCat(
      "Example:\n"
      "  autotm verify --graph tests/testdata/example_cnn.graph.json \\\n"
      "      --profile tests/testdata/example_cnn.profile.json \\\n"
      "      --plan plan.json --budget 8MiB\n\n",
      BudgetUnits(), "\n\n", kExitCodes));
  return verify;
}

// `autotm graph stats GRAPH`: the graph's path lands in *graph_path.
CLI::App* AddGraphStatsCommand(CLI::App& app, std::string* graph_path) {
  CLI::App* graph_cmd = app.add_subcommand(
      "graph",
      "Inspect training graphs\n"
      "\n"
      "Inspects training graphs (autotm.v1.Graph JSON) without a profile.\n");
  graph_cmd->require_subcommand(1);
  graph_cmd->footer(
      "Example:\n  autotm graph stats tests/testdata/example_cnn.graph.json");
  CLI::App* stats = graph_cmd->add_subcommand(
      "stats",
      "Print the size and memory figures of a graph\n"
      "\n"
      "Validates a graph and prints its size: kernels, tensors by role,\n"
      "unique kernel signatures (what a profile must cover), the tensors\n"
      "marked persistent (kept to the last kernel), the peak live\n"
      "bytes (the smallest budget that keeps every tensor fast: 100% in\n"
      "budget percentages), the total bytes, the largest tensor and the\n"
      "kernel with the most operands (2^n configurations to profile).\n");
  stats
      ->add_option("graph", *graph_path,
                   "Training graph (autotm.v1.Graph JSON)")
      ->required()
      ->type_name("FILE");
  stats->footer(
      "Example:\n  autotm graph stats tests/testdata/example_cnn.graph.json\n\n"
      "Exit codes: 0 success; 1 unreadable or invalid graph.");
  return stats;
}

int Main(int argc, char** argv) {
  CLI::App app(kToolDescription, "autotm");
  // Set before adding subcommands: they copy the parent's formatter.
  app.formatter(std::make_shared<HelpFormatter>());
  app.get_formatter()->column_width(30);
  app.set_version_flag("--version", absl::StrCat("autotm ", AUTOTM_VERSION),
                       "Print the version and exit");
  app.require_subcommand(1);

  SolveFlags solve_flags;
  CLI::App* solve = AddSolveCommand(app, solve_flags);
  VerifyFlags verify_flags;
  CLI::App* verify = AddVerifyCommand(app, verify_flags);
  std::string stats_path;
  CLI::App* stats = AddGraphStatsCommand(app, &stats_path);

  // --- command modules
  std::vector<CliCommand> commands = AddZooCommands(app);
  for (CliCommand& c : AddSweepCommands(app)) commands.push_back(c);
  for (CliCommand& c : AddProfileCommands(app)) commands.push_back(c);
  for (CliCommand& c : AddJobCommands(app)) commands.push_back(c);

  app.footer(absl::StrCat(
      "Examples:\n"
      "  autotm zoo export --model resnet50 --batch 16 --out G.json\n"
      "  autotm profile synth --graph G.json --out P.json\n"
      "  autotm graph stats G.json\n"
      "  autotm solve --graph G.json --profile P.json --budget 50% "
      "--out plan.json\n"
      "  autotm verify --graph G.json --profile P.json --plan plan.json\n"
      "  autotm plan show plan.json --graph G.json --profile P.json "
      "--svg plan.svg\n"
      "  autotm sweep --graph G.json --profile P.json --budgets 10%:100%:10% "
      "--svg curve.svg\n\n"
      "Run 'autotm COMMAND --help' for a command's flags and units.\n\n",
      kExitCodes));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Help and --version exit 0; every usage error is bad input.
    return app.exit(e) == 0 ? kExitOk : kExitBadInput;
  }

  if (solve->parsed()) return RunSolve(solve_flags);
  if (verify->parsed()) return RunVerify(verify_flags);
  if (stats->parsed()) return RunGraphStats(stats_path);
  for (const CliCommand& command : commands) {
    if (command.app->parsed()) return command.run();
  }
  return kExitBadInput;  // unreachable: a subcommand is required
}

}  // namespace autotm::client

int main(int argc, char** argv) { return autotm::client::Main(argc, argv); }
