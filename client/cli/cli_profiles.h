// The `autotm` commands that talk to an autotm-server about profiles:
//
//   autotm server status             health of the server
//   autotm profiles list             host classes with their coverage
//   autotm profiles show NAME        one host class
//   autotm profiles import FILE      upload a Profile JSON file
//   autotm profiles import --format optane-jsonl FILE [--host-class NAME]
//          [--out PROFILE.json [--upload]] [--coverage-graph G.json]
//                                    map AutoTM's 2019 Optane measurements
//                                    to our signatures (costmodel/
//                                    optane_import.h), print the mapping
//                                    report, write and/or upload the profile
//   autotm profiles export NAME      the served profile (medians) as JSON
//   autotm profiles delete NAME      remove a host class (admin)
//
// Each takes --server ADDR (default 127.0.0.1:50051, or $AUTOTM_SERVER) and
// --json (machine-readable output on stdout: the protobuf JSON mapping of
// the response, with zero values printed); without --json the output is an
// aligned table or a one-line summary for people. Errors go to stderr as
// "autotm: error: ..." with the server's message.
//
// Exit codes (cli_common.h): 0 success; 1 bad input or a server-side
// refusal (INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION, ...; the
// message says which); 5 the server could not be reached (UNAVAILABLE after
// the client's retries, or DEADLINE_EXCEEDED); `server status` exits 1
// when the server answers NOT_SERVING.
#ifndef AUTOTM_CLIENT_CLI_CLI_PROFILES_H_
#define AUTOTM_CLIENT_CLI_CLI_PROFILES_H_

#include <vector>

#include "CLI/CLI.hpp"
#include "client/cli/cli_common.h"

namespace autotm::client {

// Registers `server status` and `profiles list|show|import|export|delete`
// as subcommands of `app` and returns them for main to run (the CliCommand
// convention of cli_common.h).
std::vector<CliCommand> AddProfileCommands(CLI::App& app);

}  // namespace autotm::client

#endif  // AUTOTM_CLIENT_CLI_CLI_PROFILES_H_
