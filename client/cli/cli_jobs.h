// The `autotm` commands that plan through an autotm-server:
//
//   autotm plan --graph G --host-class H --budget B   the cached plan, or a
//                                                     queued solve with a
//                                                     live progress line
//   autotm jobs list [--state S]     solve jobs, newest first
//   autotm jobs show ID              one job
//   autotm jobs watch ID             stream a job's progress until final
//   autotm jobs cancel ID            cancel a queued or running job
//
// Each takes --server ADDR (default 127.0.0.1:50051, or $AUTOTM_SERVER) and
// --json (the protobuf JSON of the response on stdout). Exit codes
// (cli_common.h): 0 success; 1 bad input or a server-side refusal; 2 no
// plan (infeasible, cancelled without a plan, failed solve); 5 server
// unreachable.
#ifndef AUTOTM_CLIENT_CLI_CLI_JOBS_H_
#define AUTOTM_CLIENT_CLI_CLI_JOBS_H_

#include <vector>

#include "CLI/CLI.hpp"
#include "client/cli/cli_common.h"

namespace autotm::client {

// Registers `plan` and `jobs list|show|watch|cancel` on `app`.
std::vector<CliCommand> AddJobCommands(CLI::App& app);

}  // namespace autotm::client

#endif  // AUTOTM_CLIENT_CLI_CLI_JOBS_H_
