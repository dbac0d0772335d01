// Asks an autotm-server for its version and health through the installed
// client library. Usage: consumer HOST:PORT. Exit 0 when both answer.
#include <cstdio>
#include <memory>

#include "autotm/client/client.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: consumer HOST:PORT\n");
    return 2;
  }
  autotm::ClientOptions options;
  options.address = argv[1];
  absl::StatusOr<std::unique_ptr<autotm::Client>> client =
      autotm::Client::Connect(options);
  if (!client.ok()) {
    std::fprintf(stderr, "consumer: %s\n", client.status().ToString().c_str());
    return 1;
  }
  absl::StatusOr<autotm::v1::ServerInfo> info = (*client)->GetServerInfo();
  if (!info.ok()) {
    std::fprintf(stderr, "consumer: %s\n", info.status().ToString().c_str());
    return 1;
  }
  absl::StatusOr<bool> healthy = (*client)->Health();
  if (!healthy.ok() || !*healthy) {
    std::fprintf(stderr, "consumer: server not healthy\n");
    return 1;
  }
  std::printf("consumer: autotm-server %s, serving\n", info->version().c_str());
  return 0;
}
