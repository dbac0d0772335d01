// `autotm plan show` and the --svg output of `solve` and `plan`: plan
// pictures (plan_picture.h) on the command line.
//
//   autotm plan show PLAN --graph G [--profile P] [--svg OUT] [--top N]
//
// prints the plan's summary and what its picture shows (phases, peak, time
// split, largest tensors), and writes the picture with --svg. Exit codes
// (cli_common.h): 0 success; 1 bad input (unreadable file, a plan that is
// not the graph's, an unwritable --svg path).
#ifndef AUTOTM_CLIENT_CLI_CLI_PICTURES_H_
#define AUTOTM_CLIENT_CLI_CLI_PICTURES_H_

#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "autotm/v1/plan.pb.h"
#include "client/cli/cli_common.h"
#include "solver/graph_model.h"
#include "solver/profile_model.h"

namespace autotm::client {

// Default Gantt rows of --svg pictures.
inline constexpr int kDefaultPictureRows = 12;

// The help line of every --svg flag that writes a plan picture.
inline constexpr char kPlanSvgHelp[] =
    "Also draw the plan here (SVG: fast memory over the kernels against the "
    "budget and all-fast, moves, time split, residency of the largest "
    "tensors; docs/PICTURES.md)";

// Renders the picture of `plan` for `graph` (`profile` optional) and writes
// it to `path` with WriteFileAtomically(). Errors name the path or say why
// the plan does not fit the graph.
absl::Status WritePlanSvg(const std::string& path, const v1::Plan& plan,
                          const solver::GraphModel& graph,
                          const solver::ProfileModel* profile,
                          int top_tensors = kDefaultPictureRows);

// Adds `show` under the `plan` command and returns it. Its run must be
// tried before `plan`'s own (a parsed `show` also marks `plan` parsed).
CliCommand AddPlanShowCommand(CLI::App* plan);

}  // namespace autotm::client

#endif  // AUTOTM_CLIENT_CLI_CLI_PICTURES_H_
