// Shared pieces of the `autotm` command modules: exit codes, error printing,
// and the registration convention.
#ifndef AUTOTM_CLIENT_CLI_CLI_COMMON_H_
#define AUTOTM_CLIENT_CLI_CLI_COMMON_H_

#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "autotm/v1/plan.pb.h"

namespace autotm::client {

// The documented exit codes (README.md, docs/CLI.md).
enum ExitCode : int {
  kExitOk = 0,           // a plan was produced / verified / printed
  kExitBadInput = 1,     // unreadable or invalid input, bad flags, I/O failure
  kExitNoPlan = 2,       // infeasible under the budget, or no plan in time
  kExitRejected = 3,     // the verifier rejected a plan
  kExitInternal = 4,     // the solver backend failed: a bug worth reporting
  kExitUnavailable = 5,  // the server could not be reached
};

inline void PrintError(const std::string& message) {
  std::fprintf(stderr, "autotm: error: %s\n", message.c_str());
}

inline std::string Message(const absl::Status& status) {
  return std::string(status.message());
}

// The --variant names of `solve`, `plan` and `jobs submit`, and their methods.
inline const std::map<std::string, v1::Method>& Variants() {
  static const auto* const kVariants = new std::map<std::string, v1::Method>{
      {"static", v1::METHOD_STATIC},
      {"sync", v1::METHOD_SYNCHRONOUS},
      {"async", v1::METHOD_ASYNCHRONOUS},
      {"heuristic", v1::METHOD_HEURISTIC},
      {"all-fast", v1::METHOD_ALL_FAST},
      {"all-slow", v1::METHOD_ALL_SLOW},
      {"first-touch", v1::METHOD_FIRST_TOUCH},
      {"2lm", v1::METHOD_TWO_LEVEL_MEMORY},
  };
  return *kVariants;
}

inline std::vector<std::string> VariantNames() {
  std::vector<std::string> names;
  for (const auto& [name, method] : Variants()) names.push_back(name);
  return names;
}

// A subcommand registered by a command module (AddXxxCommands): after
// parsing, main runs the `run` of the one whose `app` was parsed and exits
// with its code. Modules parse their flags into state captured by `run`.
struct CliCommand {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

}  // namespace autotm::client

#endif  // AUTOTM_CLIENT_CLI_CLI_COMMON_H_
