// What the offline planning commands (`autotm solve`, `verify`, `graph
// stats`, `sweep`) share: loading a graph and the profile that covers it
// with messages that name the file, checking an output path before a long
// solve, and Ctrl-C handling around one.
#ifndef AUTOTM_CLIENT_CLI_CLI_PLANNING_H_
#define AUTOTM_CLIENT_CLI_CLI_PLANNING_H_

#include <atomic>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "autotm/v1/plan.pb.h"
#include "solver/graph_model.h"
#include "solver/profile_model.h"

namespace autotm::client {

// The graph file, validated; errors start with the path.
absl::StatusOr<solver::GraphModel> LoadGraph(const std::string& path);
// The profile file, validated, its tables collapsed per `collapse`; errors
// start with the path.
absl::StatusOr<solver::ProfileModel> LoadProfile(
    const std::string& path, const solver::TableCollapseOptions& collapse = {});

// The --table-collapse values of `autotm solve` and `sweep`: "on" (the
// default tolerances), "exact" or "off". InvalidArgument for anything else.
absl::StatusOr<solver::TableCollapseOptions> ParseTableCollapse(
    const std::string& mode);
// The line `autotm solve` prints about collapsed tables, e.g. "212 kernels
// priced by separable fits of their tables (worst residual 0.000 us), 3 by
// tables"; empty when the plan's tables were priced as given.
std::string DescribeTableCollapse(const v1::Plan& plan);

// A graph and a profile that covers it (both always set on success).
struct PlanningInputs {
  std::optional<solver::GraphModel> graph;
  std::optional<solver::ProfileModel> profile;
};
// LoadGraph, LoadProfile, then solver::CheckCoverage, whose error names both
// files and the missing kernels.
absl::StatusOr<PlanningInputs> LoadPlanningInputs(
    const std::string& graph_path, const std::string& profile_path,
    const solver::TableCollapseOptions& collapse = {});

// Fails early, before a long solve, when `path` cannot be written:
// CheckOutputFile() (proto_json.h).
absl::Status CheckWritable(const std::string& path);

// From now on the first Ctrl-C sets the returned flag (cleared here) and
// writes `note` to stderr; a second one kills the process the usual way.
// `note` must outlive the handler (pass a string literal). One handler per
// process: the last call wins. RestoreInterrupt() puts back the default.
std::atomic<bool>* CancelOnInterrupt(const char* note);
void RestoreInterrupt();

}  // namespace autotm::client

#endif  // AUTOTM_CLIENT_CLI_CLI_PLANNING_H_
