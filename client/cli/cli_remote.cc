#include "client/cli/cli_remote.h"

#include <cstdio>

#include "client/cli/cli_common.h"
#include "google/protobuf/util/json_util.h"

namespace autotm::client {

void AddRemoteFlags(CLI::App* command, RemoteFlags* flags) {
  command
      ->add_option("--server", flags->server,
                   "autotm-server address HOST:PORT (default "
                   "127.0.0.1:50051, or $AUTOTM_SERVER)")
      ->envname("AUTOTM_SERVER")
      ->type_name("ADDR");
  command->add_flag("--json", flags->json,
                    "Print the result as JSON (for scripts)");
  AddSecurityFlags(command, &flags->security);
}

int Fail(const absl::Status& status) {
  PrintError(Message(status));
  return absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status)
             ? kExitUnavailable
             : kExitBadInput;
}

absl::StatusOr<std::unique_ptr<Client>> ConnectTo(const RemoteFlags& flags) {
  ClientOptions options;
  options.address = flags.server;
  if (absl::Status status = ApplySecurityFlags(flags.security, &options);
      !status.ok()) {
    return status;
  }
  return Client::Connect(options);
}

int PrintJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(message, &json, options)
           .ok()) {
    return Fail(absl::InternalError("cannot print the response as JSON"));
  }
  std::fputs(json.c_str(), stdout);
  return kExitOk;
}

}  // namespace autotm::client
