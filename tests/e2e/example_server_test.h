// The fixture shared by the end-to-end tests that drive one real
// autotm-server with the bundled example: a temporary directory of the
// test's own (removed after it passes, kept when it fails: test_dir.h), the
// example's graph and profile loaded, and StartServer() to start the server
// on a database in that directory and connect a client to it.
#ifndef AUTOTM_TESTS_E2E_EXAMPLE_SERVER_TEST_H_
#define AUTOTM_TESTS_E2E_EXAMPLE_SERVER_TEST_H_

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "autotm/v1/graph.pb.h"
#include "autotm/v1/profile.pb.h"
#include "client/common/proto_json.h"
#include "client/lib/client.h"
#include "gtest/gtest.h"
#include "tests/e2e/server_process.h"
#include "tests/e2e/test_dir.h"

namespace autotm::testing {

// tests/testdata/NAME under $AUTOTM_SOURCE_DIR (ctest sets it), or under
// the working directory.
inline std::string TestDataPath(const std::string& name) {
  const char* source_dir = std::getenv("AUTOTM_SOURCE_DIR");
  return absl::StrCat(source_dir != nullptr ? source_dir : ".",
                      "/tests/testdata/", name);
}

class ExampleServerTest : public ::testing::Test {
 protected:
  // `dir_prefix` names the temporary directory (autotm_PREFIX_XXXXXX).
  explicit ExampleServerTest(std::string dir_prefix)
      : dir_prefix_(std::move(dir_prefix)) {}

  void SetUp() override {
    absl::StatusOr<std::string> dir = MakeTestDir(dir_prefix_);
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = *dir;
    ASSERT_TRUE(client::ReadProtoJsonFile(
                    TestDataPath("example_cnn.profile.json"), &profile_)
                    .ok());
    ASSERT_TRUE(client::ReadProtoJsonFile(
                    TestDataPath("example_cnn.graph.json"), &graph_)
                    .ok());
  }

  void TearDown() override {
    client_.reset();
    server_.reset();
    RemoveTestDirIfPassed(dir_);
  }

  // Starts autotm-server on dir_/autotm.db (its log in dir_/server.log)
  // with `extra_args`, and connects client_ with `client_options`' address
  // set to the server's. A failure is a fatal test failure.
  void StartServer(std::vector<std::string> extra_args = {},
                   ClientOptions client_options = DefaultClientOptions()) {
    ServerProcessOptions options;
    options.db = dir_ + "/autotm.db";
    options.log_path = dir_ + "/server.log";
    options.extra_args = std::move(extra_args);
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        ServerProcess::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    client_options.address = server_->address();
    absl::StatusOr<std::unique_ptr<Client>> client =
        Client::Connect(client_options);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
  }

  static ClientOptions DefaultClientOptions() {
    ClientOptions options;
    options.deadline = absl::Seconds(60);
    return options;
  }

  std::string dir_;
  v1::Profile profile_;
  v1::Graph graph_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<Client> client_;

 private:
  std::string dir_prefix_;
};

}  // namespace autotm::testing

#endif  // AUTOTM_TESTS_E2E_EXAMPLE_SERVER_TEST_H_
