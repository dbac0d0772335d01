#include "client/cli/cli_pictures.h"

#include <cstdio>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "autotm/v1/plan.pb.h"
#include "client/cli/cli_planning.h"
#include "client/cli/plan_report.h"
#include "client/common/plan_picture.h"
#include "client/common/proto_json.h"
#include "solver/verifier.h"

namespace autotm::client {
namespace {

struct ShowFlags {
  std::string plan_path;
  std::string graph_path;
  std::string profile_path;
  std::string svg_path;
  int top = kDefaultPictureRows;
};

int RunPlanShow(const ShowFlags& flags) {
  if (!flags.svg_path.empty()) {
    if (absl::Status status = CheckWritable(flags.svg_path); !status.ok()) {
      PrintError(absl::StrCat("--svg: ", Message(status)));
      return kExitBadInput;
    }
  }
  v1::Plan plan;
  if (absl::Status status = ReadProtoJsonFile(flags.plan_path, &plan);
      !status.ok()) {
    PrintError(Message(status));
    return kExitBadInput;
  }
  absl::StatusOr<solver::GraphModel> graph = LoadGraph(flags.graph_path);
  if (!graph.ok()) {
    PrintError(Message(graph.status()));
    return kExitBadInput;
  }
  std::optional<solver::ProfileModel> profile;
  if (!flags.profile_path.empty()) {
    // Priced as the plan was (its table collapse), like `autotm verify`.
    absl::StatusOr<solver::ProfileModel> loaded =
        LoadProfile(flags.profile_path, solver::TableCollapseOptionsOf(plan));
    if (!loaded.ok()) {
      PrintError(Message(loaded.status()));
      return kExitBadInput;
    }
    profile.emplace(*std::move(loaded));
  }
  PlanPictureOptions options;
  options.top_tensors = flags.top;
  options.profile = profile.has_value() ? &*profile : nullptr;
  absl::StatusOr<std::string> summary =
      FormatPlanPictureSummary(plan, *graph, options);
  if (!summary.ok()) {
    PrintError(absl::StrCat(flags.plan_path, " is not a plan for ",
                            flags.graph_path, ": ", Message(summary.status())));
    return kExitBadInput;
  }
  std::fputs(FormatPlanReport(plan, &*graph, {.top_moves = 0}).c_str(), stdout);
  std::fputs(summary->c_str(), stdout);
  if (!flags.svg_path.empty()) {
    if (absl::Status status = WritePlanSvg(flags.svg_path, plan, *graph,
                                           options.profile, flags.top);
        !status.ok()) {
      PrintError(Message(status));
      return kExitBadInput;
    }
    std::fprintf(stderr, "autotm: wrote %s\n", flags.svg_path.c_str());
  }
  return kExitOk;
}

}  // namespace

absl::Status WritePlanSvg(const std::string& path, const v1::Plan& plan,
                          const solver::GraphModel& graph,
                          const solver::ProfileModel* profile,
                          int top_tensors) {
  PlanPictureOptions options;
  options.top_tensors = top_tensors;
  options.profile = profile;
  absl::StatusOr<std::string> svg = RenderPlanSvg(plan, graph, options);
  if (!svg.ok()) {
    return absl::Status(
        svg.status().code(),
        absl::StrCat("cannot draw ", path, ": ", Message(svg.status())));
  }
  return WriteFileAtomically(path, *svg);
}

CliCommand AddPlanShowCommand(CLI::App* plan) {
  auto* flags = new ShowFlags();  // lives as long as the process
  CLI::App* show = plan->add_subcommand(
      "show",
      "Summarize a plan file and draw its picture\n"
      "\n"
      "Reads a plan (autotm.v1.Plan JSON, from `autotm solve --out` or\n"
      "`autotm plan --out`) and the graph it is for, prints its summary and\n"
      "what its picture shows, and with --svg draws the picture: one SVG\n"
      "with four panels on one kernel axis (execution order):\n"
      "\n"
      "  fast memory  bytes live in the fast tier at every kernel, against\n"
      "               the budget and the all-fast footprint (every tensor\n"
      "               fast); the peak; forward/backward/optimizer\n"
      "               boundaries inferred from the graph (or a note that\n"
      "               they cannot be)\n"
      "  moves        ticks up = to fast, down = to slow, height = bytes\n"
      "               copied; grey = free drops of clean copies\n"
      "  time         kernel and move time per kernel; with --profile the\n"
      "               kernel time splits into all-fast speed and the\n"
      "               penalty of slow operands\n"
      "  residency    the --top largest tensors: fast (blue) and slow\n"
      "               (orange) stretches of their live ranges, their moves\n"
      "               and the kernels that use them\n"
      "\n"
      "Graphs with more kernels than the picture has pixels are drawn in\n"
      "buckets of consecutive kernels (the memory curve keeps each bucket's\n"
      "maximum, so the peak drawn is the plan's).\n");
  show->add_option("plan", flags->plan_path, "The plan (autotm.v1.Plan JSON)")
      ->required()
      ->type_name("PLAN");
  show->add_option("--graph", flags->graph_path,
                   "The graph the plan is for (autotm.v1.Graph JSON)")
      ->required()
      ->type_name("FILE");
  show->add_option("--profile", flags->profile_path,
                   "Its kernel timings (autotm.v1.Profile JSON): splits "
                   "kernel time into all-fast time and slow-operand penalty")
      ->type_name("FILE");
  show->add_option("--svg", flags->svg_path,
                   "Write the picture here (SVG; atomically)")
      ->type_name("FILE");
  show->add_option("--top", flags->top,
                   "Rows of the residency chart and the table: the N largest "
                   "tensors (0 = none)")
      ->check(CLI::Range(0, 1000))
      ->capture_default_str()
      ->type_name("N");
  show->footer(
      "Example:\n"
      "  autotm solve --graph tests/testdata/example_cnn.graph.json \\\n"
      "      --profile tests/testdata/example_cnn.profile.json \\\n"
      "      --budget 50% --out plan.json\n"
      "  autotm plan show plan.json \\\n"
      "      --graph tests/testdata/example_cnn.graph.json \\\n"
      "      --profile tests/testdata/example_cnn.profile.json \\\n"
      "      --svg plan.svg --top 12\n"
      "\n"
      "Open the SVG in a browser, or convert it: rsvg-convert plan.svg -o\n"
      "plan.png. `autotm solve --svg` and `autotm plan --svg` draw the same\n"
      "picture as they plan. docs/PICTURES.md explains how to read it.\n"
      "\n"
      "Exit codes: 0 success; 1 bad input (unreadable file, a plan that is\n"
      "not the graph's, an unwritable --svg path).");
  return {show, [flags] { return RunPlanShow(*flags); }};
}

}  // namespace autotm::client
