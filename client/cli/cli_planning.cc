#include "client/cli/cli_planning.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "autotm/v1/graph.pb.h"
#include "autotm/v1/profile.pb.h"
#include "client/cli/cli_common.h"
#include "client/common/proto_json.h"

namespace autotm::client {
namespace {

std::atomic<bool> g_cancel{false};
const char* g_note = "";

void OnInterrupt(int) {
  g_cancel.store(true);
  // write() is async-signal-safe; stdio is not.
  [[maybe_unused]] ssize_t ignored =
      ::write(STDERR_FILENO, g_note, std::strlen(g_note));
}

// `status` with `prefix` in front of its message.
absl::Status Annotate(const absl::Status& status, const std::string& prefix) {
  return absl::Status(status.code(), absl::StrCat(prefix, Message(status)));
}

}  // namespace

absl::StatusOr<solver::GraphModel> LoadGraph(const std::string& path) {
  v1::Graph graph;
  if (absl::Status status = ReadProtoJsonFile(path, &graph); !status.ok()) {
    return status;
  }
  absl::StatusOr<solver::GraphModel> model = solver::GraphModel::Create(graph);
  if (!model.ok()) {
    return Annotate(model.status(), absl::StrCat(path, ": invalid graph: "));
  }
  return model;
}

absl::StatusOr<solver::ProfileModel> LoadProfile(
    const std::string& path, const solver::TableCollapseOptions& collapse) {
  v1::Profile profile;
  if (absl::Status status = ReadProtoJsonFile(path, &profile); !status.ok()) {
    return status;
  }
  absl::StatusOr<solver::ProfileModel> model =
      solver::ProfileModel::Create(profile, collapse);
  if (!model.ok()) {
    return Annotate(model.status(), absl::StrCat(path, ": invalid profile: "));
  }
  return model;
}

absl::StatusOr<solver::TableCollapseOptions> ParseTableCollapse(
    const std::string& mode) {
  if (mode == "on") return solver::TableCollapseOptions();
  if (mode == "exact") return solver::TableCollapseOptions::ExactOnly();
  if (mode == "off") return solver::TableCollapseOptions::Disabled();
  return absl::InvalidArgumentError(absl::StrCat(
      "\"", mode, "\" is not a table collapse mode; use on, exact or off"));
}

std::string DescribeTableCollapse(const v1::Plan& plan) {
  if (!plan.has_table_collapse()) return "";
  const v1::TableCollapse& report = plan.table_collapse();
  return absl::StrFormat(
      "%u kernel(s) priced by separable fits of their tables (worst residual "
      "%.3f us), %u by tables",
      report.collapsed_kernels(), report.max_residual_us(),
      report.table_kernels());
}

absl::StatusOr<PlanningInputs> LoadPlanningInputs(
    const std::string& graph_path, const std::string& profile_path,
    const solver::TableCollapseOptions& collapse) {
  PlanningInputs inputs;
  absl::StatusOr<solver::GraphModel> graph = LoadGraph(graph_path);
  if (!graph.ok()) return graph.status();
  inputs.graph.emplace(*std::move(graph));
  absl::StatusOr<solver::ProfileModel> profile =
      LoadProfile(profile_path, collapse);
  if (!profile.ok()) return profile.status();
  inputs.profile.emplace(*std::move(profile));
  if (absl::Status covered =
          solver::CheckCoverage(*inputs.graph, *inputs.profile);
      !covered.ok()) {
    return Annotate(covered,
                    absl::StrCat(profile_path, " does not cover ", graph_path,
                                 " (profile the missing kernels first): "));
  }
  return inputs;
}

absl::Status CheckWritable(const std::string& path) {
  return CheckOutputFile(path);
}

std::atomic<bool>* CancelOnInterrupt(const char* note) {
  g_cancel.store(false);
  g_note = note;
  struct sigaction action = {};
  action.sa_handler = OnInterrupt;
  action.sa_flags = SA_RESETHAND;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, nullptr);
  return &g_cancel;
}

void RestoreInterrupt() { ::signal(SIGINT, SIG_DFL); }

}  // namespace autotm::client
