// Pieces shared by the `autotm` commands that talk to autotm-server.
#ifndef AUTOTM_CLIENT_CLI_CLI_REMOTE_H_
#define AUTOTM_CLIENT_CLI_CLI_REMOTE_H_

#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/common/security_flags.h"
#include "client/lib/client.h"
#include "google/protobuf/message.h"

namespace autotm::client {

inline constexpr char kDefaultServer[] = "127.0.0.1:50051";

// Flags every remote command takes.
struct RemoteFlags {
  std::string server = kDefaultServer;
  bool json = false;
  SecurityFlags security;
};

// Adds --server (also $AUTOTM_SERVER), --json and the TLS/token flags
// (security_flags.h) to `command`.
void AddRemoteFlags(CLI::App* command, RemoteFlags* flags);

// Prints the error and returns the exit code for it: kExitUnavailable when
// the server could not be reached in time, kExitBadInput otherwise.
int Fail(const absl::Status& status);

absl::StatusOr<std::unique_ptr<Client>> ConnectTo(const RemoteFlags& flags);

// Prints `message` as JSON with zero values included (a count of 0 is
// information for a script).
int PrintJson(const google::protobuf::Message& message);

}  // namespace autotm::client

#endif  // AUTOTM_CLIENT_CLI_CLI_REMOTE_H_
