// `autotm zoo list|export` and `autotm profile synth`: the built-in training
// graphs and the synthetic cost models.
#ifndef AUTOTM_CLIENT_CLI_CLI_ZOO_H_
#define AUTOTM_CLIENT_CLI_CLI_ZOO_H_

#include <vector>

#include "CLI/CLI.hpp"
#include "client/cli/cli_common.h"

namespace autotm::client {

// Registers the commands on `app` and returns them for main to run.
std::vector<CliCommand> AddZooCommands(CLI::App& app);

}  // namespace autotm::client

#endif  // AUTOTM_CLIENT_CLI_CLI_ZOO_H_
