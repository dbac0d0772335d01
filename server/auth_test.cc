#include "server/auth.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "autotm/v1/placement_service.pb.h"
#include "autotm/v1/profile_service.pb.h"
#include "autotm/v1/server_service.pb.h"
#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"

namespace autotm::server {
namespace {

constexpr char kAbcHash[] =
    "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

TEST(HashTokenTest, IsSha256OfTheToken) {
  EXPECT_EQ(HashToken("abc"), kAbcHash);
}

TEST(RolesTest, ParseAndName) {
  absl::StatusOr<uint32_t> roles = ParseRoles("agent,reader");
  ASSERT_TRUE(roles.ok()) << roles.status();
  EXPECT_EQ(*roles, kRoleAgent | kRoleReader);
  EXPECT_EQ(RoleNames(*roles), "reader,agent");
  absl::StatusOr<uint32_t> bad = ParseRoles("planner,admin");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("\"admin\""), std::string::npos);
}

TEST(IdentityTableTest, ParsesTokensAndCertificates) {
  absl::StatusOr<IdentityTable> table = IdentityTable::Parse(
      absl::StrCat("# comment\n\n", kAbcHash,
                   "  alice  planner   # trailing comment\n"
                   "cn:agent-host  agent7  agent  xeon,epyc\n"
                   "cn:boss root operator\n"),
      "tokens");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->size(), 3u);
  const Principal* alice = table->ByToken("abc");
  ASSERT_NE(alice, nullptr);
  EXPECT_EQ(alice->name, "alice");
  EXPECT_EQ(alice->roles, kRolePlanner);
  EXPECT_EQ(table->ByToken("abd"), nullptr);
  const Principal* agent = table->ByCertificate("agent-host");
  ASSERT_NE(agent, nullptr);
  EXPECT_TRUE(agent->MayProfile("xeon"));
  EXPECT_TRUE(agent->MayProfile("epyc"));
  EXPECT_FALSE(agent->MayProfile("other"));
  EXPECT_FALSE(alice->MayProfile("xeon"));
  EXPECT_TRUE(table->ByCertificate("boss")->MayProfile("anything"));
  EXPECT_EQ(table->ByCertificate("alice"), nullptr);
}

TEST(IdentityTableTest, RejectsBadLinesNamingTheLine) {
  struct Case {
    std::string text;
    std::string expected;
  } cases[] = {
      {"sha256:abc alice planner\n", "tokens:1: credential"},
      {"\ncn:x alice wizard\n", "tokens:2: unknown role \"wizard\""},
      {"cn:x a7 agent\n", "agent role but no host classes"},
      {"token alice planner\n", "must start with sha256:"},
      {"cn:x alice\n", "got 2 field(s)"},
      {"cn:x a planner\ncn:x b reader\n",
       "tokens:2: certificate cn:x is "
       "listed twice"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<IdentityTable> table =
        IdentityTable::Parse(c.text, "tokens");
    ASSERT_FALSE(table.ok()) << c.text;
    EXPECT_EQ(table.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(table.status().message().find(c.expected), std::string::npos)
        << table.status();
  }
}

// Every RPC of every autotm service has a rule: a method missing from the
// table would be denied to everyone (and an RPC added without thinking
// about its role fails here first).
TEST(MethodRolesTest, CoversEveryMethodOfEveryService) {
  std::set<std::string> in_table;
  for (const MethodRule& rule : MethodRoles()) {
    EXPECT_TRUE(in_table.insert(rule.method).second) << rule.method;
    EXPECT_NE(rule.roles, kOpen) << rule.method << ": only health is open";
  }
  int methods = 0;
  // Through a message of each file, so that its descriptor is linked in.
  for (const google::protobuf::ServiceDescriptor* descriptor :
       {v1::UploadMeasurementsRequest::descriptor()->file()->FindServiceByName(
            "ProfileService"),
        v1::CreateSolveJobRequest::descriptor()->file()->FindServiceByName(
            "PlacementService"),
        v1::GetServerInfoRequest::descriptor()->file()->FindServiceByName(
            "ServerService")}) {
    ASSERT_NE(descriptor, nullptr);
    const std::string service = descriptor->full_name();
    for (int i = 0; i < descriptor->method_count(); ++i) {
      const std::string path =
          absl::StrCat("/", service, "/", descriptor->method(i)->name());
      EXPECT_TRUE(RequiredRoles(path).has_value()) << path;
      EXPECT_EQ(in_table.count(path), 1u) << path;
      ++methods;
    }
  }
  EXPECT_EQ(methods, 20);
  EXPECT_EQ(RequiredRoles("/grpc.health.v1.Health/Check"), kOpen);
  EXPECT_EQ(RequiredRoles("/autotm.v1.ProfileService/NoSuchMethod"),
            std::nullopt);
}

// The "Roles:" line above each rpc in the protos states the table.
TEST(MethodRolesTest, ProtoCommentsStateTheTable) {
  const char* root = std::getenv("AUTOTM_SOURCE_DIR");
  ASSERT_NE(root, nullptr) << "AUTOTM_SOURCE_DIR (set by ctest)";
  int checked = 0;
  for (const auto& [service, file_name] :
       {std::pair{"ProfileService", "profile_service"},
        std::pair{"PlacementService", "placement_service"},
        std::pair{"ServerService", "server_service"}}) {
    const std::string file =
        absl::StrCat(root, "/proto/autotm/v1/", file_name, ".proto");
    std::ifstream in(file);
    ASSERT_TRUE(in) << file;
    std::string line, roles_line;
    while (std::getline(in, line)) {
      const size_t roles = line.find("// Roles: ");
      if (roles != std::string::npos) {
        roles_line = line.substr(roles + 10);
        continue;
      }
      const size_t rpc = line.find("  rpc ");
      if (rpc != 0) continue;
      const std::string name =
          line.substr(6, line.find('(') - 6);  // "  rpc Name(..."
      SCOPED_TRACE(name);
      ASSERT_FALSE(roles_line.empty()) << "no Roles: line before rpc " << name;
      uint32_t stated = 0;
      if (roles_line.rfind("any", 0) == 0) stated = kAllRoles;
      for (const auto& [bit, word] :
           {std::pair{kRoleReader, "reader"},
            std::pair{kRolePlanner, "planner"}, std::pair{kRoleAgent, "agent"},
            std::pair{kRoleOperator, "operator"}}) {
        if (roles_line.find(word) != std::string::npos) stated |= bit;
      }
      EXPECT_EQ(RequiredRoles(absl::StrCat("/autotm.v1.", service, "/", name)),
                stated)
          << roles_line;
      roles_line.clear();
      ++checked;
    }
  }
  EXPECT_EQ(checked, 20);
}

TEST(AuthorizerTest, OpenModeIsTheLocalUserWithEveryRole) {
  Authorizer open;
  EXPECT_TRUE(open.open());
  absl::StatusOr<std::optional<Principal>> decision =
      open.Authorize("/autotm.v1.ProfileService/DeleteHostClass", "", "");
  ASSERT_TRUE(decision.ok()) << decision.status();
  ASSERT_TRUE(decision->has_value());
  EXPECT_EQ((*decision)->name, "local");
  EXPECT_EQ((*decision)->roles, kAllRoles);
}

class FileAuthorizerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // One file per test and process: ctest runs the tests of this suite
    // at once, and a shared file let one test read the other's half-written
    // table.
    path_ = absl::StrCat(
        ::testing::TempDir(), "/auth_test_tokens_", ::getpid(), "_",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    Write(absl::StrCat(HashToken("planner-token"), " alice planner\n",
                       HashToken("reader-token"), " watcher reader\n",
                       "cn:ops root operator\n"));
    absl::StatusOr<std::unique_ptr<Authorizer>> authorizer =
        Authorizer::FromFile(path_);
    ASSERT_TRUE(authorizer.ok()) << authorizer.status();
    authorizer_ = *std::move(authorizer);
  }
  void TearDown() override { std::remove(path_.c_str()); }
  void Write(const std::string& text) {
    FILE* f = std::fopen(path_.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs(text.c_str(), f);
    std::fclose(f);
  }
  absl::StatusCode Code(const std::string& method, const std::string& token,
                        const std::string& cn = "") {
    return authorizer_->Authorize(method, token, cn).status().code();
  }

  std::string path_;
  std::unique_ptr<Authorizer> authorizer_;
};

TEST_F(FileAuthorizerTest, DecidesByRole) {
  const std::string create = "/autotm.v1.PlacementService/CreateSolveJob";
  const std::string list = "/autotm.v1.PlacementService/ListSolveJobs";
  const std::string del = "/autotm.v1.ProfileService/DeleteHostClass";
  EXPECT_EQ(Code(create, ""), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(Code(create, "wrong"), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(Code(create, "reader-token"), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Code(create, "planner-token"), absl::StatusCode::kOk);
  EXPECT_EQ(Code(list, "reader-token"), absl::StatusCode::kOk);
  EXPECT_EQ(Code(del, "planner-token"), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Code(del, "", "ops"), absl::StatusCode::kOk);
  EXPECT_EQ(Code(del, "", "someone"), absl::StatusCode::kUnauthenticated);
  // An unknown token is not rescued by a known certificate.
  EXPECT_EQ(Code(del, "wrong", "ops"), absl::StatusCode::kUnauthenticated);
  // Health is open, even without credentials.
  EXPECT_EQ(Code("/grpc.health.v1.Health/Check", ""), absl::StatusCode::kOk);
  EXPECT_EQ(Code("/autotm.v1.ProfileService/Nope", "planner-token"),
            absl::StatusCode::kPermissionDenied);
  absl::Status denied =
      authorizer_->Authorize(del, "reader-token", "").status();
  EXPECT_NE(denied.message().find("watcher"), std::string::npos) << denied;
  EXPECT_NE(denied.message().find("operator"), std::string::npos) << denied;
}

TEST_F(FileAuthorizerTest, ReloadSwapsIdentitiesAndKeepsThemOnError) {
  const std::string create = "/autotm.v1.PlacementService/CreateSolveJob";
  Write(absl::StrCat(HashToken("new-token"), " bob planner\n"));
  ASSERT_TRUE(authorizer_->Reload().ok());
  EXPECT_EQ(Code(create, "planner-token"), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(Code(create, "new-token"), absl::StatusCode::kOk);
  Write("garbage line\n");
  absl::Status bad = authorizer_->Reload();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Code(create, "new-token"), absl::StatusCode::kOk);
}

TEST(LoopbackTest, RecognisesLoopbackAddresses) {
  EXPECT_TRUE(IsLoopbackAddress("127.0.0.1:50051"));
  EXPECT_TRUE(IsLoopbackAddress("127.3.4.5:0"));
  EXPECT_TRUE(IsLoopbackAddress("localhost:1"));
  EXPECT_TRUE(IsLoopbackAddress("[::1]:50051"));
  EXPECT_FALSE(IsLoopbackAddress("0.0.0.0:50051"));
  EXPECT_FALSE(IsLoopbackAddress("[::]:50051"));
  EXPECT_FALSE(IsLoopbackAddress("10.1.2.3:50051"));
  EXPECT_FALSE(IsLoopbackAddress("autotm.internal:50051"));
}

}  // namespace
}  // namespace autotm::server
