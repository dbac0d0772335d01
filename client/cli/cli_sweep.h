// `autotm sweep`: plans one graph under several fast-memory budgets in one
// call (solver/sweep.h) and reports predicted time against fast memory as a
// table, CSV, JSON and an SVG curve.
//
//   autotm sweep --graph G --profile P --budgets 10%,20%,50%,100%
//                [--budgets 10%:100%:10%] [--variant sync|static|async]
//                [--time-limit 60s] [--svg F] [--csv F] [--json]
//                [--plans-dir DIR] [--no-warm-start]
//
// Every plan is checked by the verifier before it is reported or written.
// Ctrl-C stops the budget being solved (keeping its best plan) and skips the
// rest; what was planned is still printed and written.
//
// Exit codes (cli_common.h): 0 at least one budget got a plan; 1 bad input
// (files, flags, a budget list that does not parse); 2 no budget got a plan
// (all infeasible, or none found in time); 3 the verifier rejected a plan
// (a bug: it is not written); 4 the solver backend failed.
#ifndef AUTOTM_CLIENT_CLI_CLI_SWEEP_H_
#define AUTOTM_CLIENT_CLI_CLI_SWEEP_H_

#include <cstdint>
#include <string_view>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "client/cli/cli_common.h"

namespace autotm::client {

// Registers `sweep` on `app` and returns it for main to run.
std::vector<CliCommand> AddSweepCommands(CLI::App& app);

// Parses a --budgets list: comma-separated items, each a budget as
// ParseBudget() reads it ("20%", "512MiB") or a range "START:STOP:STEP" of
// such budgets (STOP included when the steps land on it; "10%:100%:10%").
// A range whose three parts are all percentages steps in percent, so it
// lands on the same bytes as the equivalent list. InvalidArgument quoting
// the offending item for bad text, an empty list, a STEP that is zero or a
// STOP below START, or more than 1000 budgets. Order and duplicates are
// kept (the sweep sorts and plans each budget once).
absl::StatusOr<std::vector<uint64_t>> ParseBudgetList(std::string_view text,
                                                      uint64_t peak_live_bytes);

}  // namespace autotm::client

#endif  // AUTOTM_CLIENT_CLI_CLI_SWEEP_H_
