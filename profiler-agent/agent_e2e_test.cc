// Runs the real autotm-agent binary on tiny graphs with a DRAM tier
// (numa:0) and a file-backed emulated tier, and checks that the profile it
// writes is a valid solver::ProfileModel covering the graph. Never asserts
// that one tier is slower: on this host both are DRAM.
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "autotm/v1/graph.pb.h"
#include "autotm/v1/profile.pb.h"
#include "client/common/proto_json.h"
#include "client/lib/client.h"
#include "common/testing/scoped_temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/auth.h"
#include "solver/graph_model.h"
#include "solver/profile_model.h"
#include "tests/e2e/server_process.h"

namespace autotm {
namespace {

using ::testing::HasSubstr;

v1::OperandSpec* Spec(v1::OperandSpec* s, std::vector<int64_t> dims) {
  for (int64_t d : dims) s->add_dims(d);
  s->set_dtype(v1::DATA_TYPE_F32);
  return s;
}

int64_t Bytes(const std::vector<int64_t>& dims) {
  int64_t n = 4;
  for (int64_t d : dims) n *= d;
  return n;
}

class GraphWriter {
 public:
  void Tensor(const std::string& id, std::vector<int64_t> dims,
              v1::TensorRole role) {
    v1::Tensor* t = graph_.add_tensors();
    t->set_id(id);
    t->set_size_bytes(Bytes(dims));
    t->set_role(role);
    dims_[id] = dims;
  }
  void Kernel(const std::string& id, const std::string& op,
              std::vector<std::string> in, std::vector<std::string> out,
              std::map<std::string, std::string> attrs = {}) {
    v1::Kernel* k = graph_.add_kernels();
    k->set_id(id);
    k->set_op(op);
    k->mutable_signature()->set_op(op);
    for (auto& t : in) {
      k->add_inputs(t);
      Spec(k->mutable_signature()->add_inputs(), dims_[t]);
    }
    for (auto& t : out) {
      k->add_outputs(t);
      Spec(k->mutable_signature()->add_outputs(), dims_[t]);
    }
    for (auto& [a, v] : attrs)
      (*k->mutable_signature()->mutable_attributes())[a] = v;
  }
  v1::Graph graph_;
  std::map<std::string, std::vector<int64_t>> dims_;
};

v1::Graph TinyGraph(bool with_unsupported) {
  GraphWriter g;
  g.graph_.set_name("agent-e2e");
  const auto act = v1::TENSOR_ROLE_ACTIVATION;
  g.Tensor("x", {2, 3, 8, 8}, v1::TENSOR_ROLE_INPUT);
  g.Tensor("w", {4, 3, 3, 3}, v1::TENSOR_ROLE_WEIGHT);
  g.Tensor("y", {2, 4, 8, 8}, act);
  g.Tensor("r", {2, 4, 8, 8}, act);
  g.Tensor("s", {2, 4, 8, 8}, act);
  g.Tensor("r2", {2, 4, 8, 8}, act);
  g.Kernel("conv", "conv2d_fwd", {"x", "w"}, {"y"},
           {{"kernel", "3x3"}, {"stride", "1"}, {"pad", "1"}});
  g.Kernel("relu", "relu_fwd", {"y"}, {"r"});
  g.Kernel("add", "add", {"r", "y"}, {"s"});
  g.Kernel("relu2", "relu_fwd", {"s"}, {"r2"});  // same signature as relu
  if (with_unsupported) {
    g.Tensor("f", {2, 4, 8, 8}, act);
    g.Kernel("fft", "fft_fwd", {"r2"}, {"f"});
  }
  return g.graph_;
}

class AgentE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(temp_.path().empty());
    dir_ = temp_.path();
    slow_dir_ = dir_ + "/slowtier";
    ASSERT_EQ(mkdir(slow_dir_.c_str(), 0700), 0);
  }
  // Runs the agent; returns its exit status, stderr in *log.
  int RunAgent(const std::string& args, std::string* log) {
    const std::string log_path = dir_ + "/agent.log";
    const std::string cmd = absl::StrCat(
        AUTOTM_AGENT_BINARY, " profile --fast numa:0 --slow file:", slow_dir_,
        " --warmup 1 --min-reps 3 --max-reps 5 --copy-mib 4 ", args, " 2>",
        log_path);
    const int rc = std::system(cmd.c_str());
    std::ifstream in(log_path);
    std::stringstream text;
    text << in.rdbuf();
    *log = text.str();
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  }
  testing::ScopedTempDir temp_{"agent_e2e"};
  std::string dir_, slow_dir_;
};

TEST_F(AgentE2eTest, ProfileRoundTripsAndCoversTheGraph) {
  const std::string graph_path = dir_ + "/g.graph.json";
  const std::string out = dir_ + "/g.profile.json";
  const v1::Graph graph = TinyGraph(false);
  ASSERT_TRUE(client::WriteProtoJsonFile(graph_path, graph).ok());
  std::string log;
  ASSERT_EQ(
      RunAgent(absl::StrCat("--graph ", graph_path, " --out ", out,
                            " --host-class e2e --cache ", dir_, "/cache.json"),
               &log),
      0)
      << log;
  EXPECT_THAT(log, HasSubstr("file-backed emulated tier"));
  EXPECT_THAT(log, HasSubstr("3 measured, 0 from cache"));

  v1::Profile profile;
  ASSERT_TRUE(client::ReadProtoJsonFile(out, &profile).ok());
  auto model = solver::ProfileModel::Create(profile);
  ASSERT_TRUE(model.ok()) << model.status();
  auto graph_model = solver::GraphModel::Create(graph);
  ASSERT_TRUE(graph_model.ok());
  EXPECT_TRUE(solver::CheckCoverage(*graph_model, *model).ok());
  EXPECT_EQ(model->num_kernels(), 3);  // the two relus share a signature
  EXPECT_EQ(profile.host_class().name(), "e2e");
  EXPECT_THAT(profile.host_class().fingerprint(), HasSubstr("onednn=2."));
  EXPECT_THAT(profile.host_class().slow_tier_name(),
              HasSubstr("file-backed emulated"));
  // Full tables: conv (x,w|y) has 8 configurations, every one measured.
  for (const v1::KernelProfile& k : profile.kernels()) {
    const int n = k.signature().inputs_size() + k.signature().outputs_size();
    EXPECT_EQ(k.configs_size(), 1 << n) << k.signature().op();
    for (const v1::ConfigTiming& c : k.configs()) {
      EXPECT_GT(c.time_us(), 0);
      EXPECT_GE(c.repetitions(), 3u);
    }
  }

  // A second run resumes from the cache and measures nothing again.
  ASSERT_EQ(
      RunAgent(absl::StrCat("--graph ", graph_path, " --out ", out,
                            " --host-class e2e --cache ", dir_, "/cache.json"),
               &log),
      0)
      << log;
  EXPECT_THAT(log, HasSubstr("0 measured, 3 from cache"));
}

TEST_F(AgentE2eTest, SeparableWhenConfigsExceedTheCap) {
  const std::string graph_path = dir_ + "/g.graph.json";
  const std::string out = dir_ + "/g.profile.json";
  ASSERT_TRUE(client::WriteProtoJsonFile(graph_path, TinyGraph(false)).ok());
  std::string log;
  ASSERT_EQ(RunAgent(absl::StrCat("--graph ", graph_path, " --out ", out,
                                  " --max-configs 4 --quiet"),
                     &log),
            0)
      << log;
  v1::Profile profile;
  ASSERT_TRUE(client::ReadProtoJsonFile(out, &profile).ok());
  ASSERT_TRUE(solver::ProfileModel::Create(profile).ok());
  for (const v1::KernelProfile& k : profile.kernels()) {
    const int n = k.signature().inputs_size() + k.signature().outputs_size();
    if (n == 3) {  // conv and add: 8 > 4 configurations
      EXPECT_TRUE(k.has_separable()) << k.signature().op();
      EXPECT_EQ(k.separable().input_slow_penalty_us_size(), 2);
    } else {
      EXPECT_EQ(k.configs_size(), 4);
    }
  }
}

TEST_F(AgentE2eTest, UnsupportedOpsAreListedNotSkipped) {
  const std::string graph_path = dir_ + "/g.graph.json";
  const std::string out = dir_ + "/g.profile.json";
  const v1::Graph graph = TinyGraph(true);
  ASSERT_TRUE(client::WriteProtoJsonFile(graph_path, graph).ok());
  std::string log;
  EXPECT_EQ(
      RunAgent(absl::StrCat("--graph ", graph_path, " --out ", out, " --quiet"),
               &log),
      3)
      << log;
  EXPECT_THAT(log, HasSubstr("NOT MEASURED"));
  EXPECT_THAT(log, HasSubstr("fft_fwd"));
  v1::Profile profile;
  ASSERT_TRUE(client::ReadProtoJsonFile(out, &profile).ok());
  auto model = solver::ProfileModel::Create(profile);
  ASSERT_TRUE(model.ok());
  auto graph_model = solver::GraphModel::Create(graph);
  ASSERT_TRUE(graph_model.ok());
  const absl::Status coverage = solver::CheckCoverage(*graph_model, *model);
  EXPECT_EQ(coverage.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(coverage.message(), HasSubstr("fft_fwd"));
}

TEST_F(AgentE2eTest, MissingNumaNodeIsRefused) {
  const std::string graph_path = dir_ + "/g.graph.json";
  ASSERT_TRUE(client::WriteProtoJsonFile(graph_path, TinyGraph(false)).ok());
  const std::string cmd2 = absl::StrCat(
      AUTOTM_AGENT_BINARY, " profile --graph ", graph_path,
      " --fast numa:0 --slow numa:63 --out ", dir_, "/x.json 2>", dir_, "/log");
  const int rc = std::system(cmd2.c_str());
  EXPECT_EQ(WEXITSTATUS(rc), 1);
  std::ifstream in(dir_ + "/log");
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_THAT(text.str(), HasSubstr("NUMA node 63 does not exist"));
}

// A kernel that reads one tensor twice can only use configurations with
// both reads in the same tier: the agent measures just those.
TEST_F(AgentE2eTest, AliasedOperandsHalveTheTable) {
  GraphWriter g;
  g.graph_.set_name("aliased");
  g.Tensor("x", {2, 4, 8, 8}, v1::TENSOR_ROLE_INPUT);
  g.Tensor("y", {2, 4, 8, 8}, v1::TENSOR_ROLE_ACTIVATION);
  g.Kernel("double", "add", {"x", "x"}, {"y"});
  const std::string graph_path = dir_ + "/a.graph.json";
  const std::string out = dir_ + "/a.profile.json";
  ASSERT_TRUE(client::WriteProtoJsonFile(graph_path, g.graph_).ok());
  std::string log;
  ASSERT_EQ(
      RunAgent(absl::StrCat("--graph ", graph_path, " --out ", out), &log), 0)
      << log;
  v1::Profile profile;
  ASSERT_TRUE(client::ReadProtoJsonFile(out, &profile).ok());
  ASSERT_EQ(profile.kernels_size(), 1);
  std::vector<std::string> configs;
  for (const v1::ConfigTiming& c : profile.kernels(0).configs()) {
    configs.push_back(c.config());
  }
  EXPECT_THAT(configs,
              ::testing::UnorderedElementsAre("FF|F", "FF|S", "SS|F", "SS|S"));
  // The solver plans with the partial table (never a missing configuration).
  auto model = solver::ProfileModel::Create(profile);
  ASSERT_TRUE(model.ok()) << model.status();
}

// The agent against a live autotm-server: it measures what the host class
// lacks, uploads it, the server can plan the graph, and a second run
// measures nothing.
TEST_F(AgentE2eTest, ProfilesOnlyWhatTheServerLacksAndTheGraphThenPlans) {
  testing::ServerProcessOptions options;
  options.db = dir_ + "/autotm.db";
  options.log_path = dir_ + "/server.log";
  absl::StatusOr<std::unique_ptr<testing::ServerProcess>> server =
      testing::ServerProcess::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string address = (*server)->address();

  const v1::Graph graph = TinyGraph(false);
  const std::string graph_path = dir_ + "/g.graph.json";
  ASSERT_TRUE(client::WriteProtoJsonFile(graph_path, graph).ok());
  std::string log;
  ASSERT_EQ(RunAgent(absl::StrCat("--graph ", graph_path, " --server ", address,
                                  " --host-class live"),
                     &log),
            0)
      << log << (*server)->ReadLog();
  EXPECT_THAT(log, HasSubstr("3 of the graph's 3 unique signatures are "
                             "missing"));
  EXPECT_THAT(log, HasSubstr("uploaded to " + address + " as live"));

  ClientOptions client_options;
  client_options.address = address;
  absl::StatusOr<std::unique_ptr<Client>> client =
      Client::Connect(client_options);
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<v1::HostClassSummary> summary =
      (*client)->GetHostClass("live");
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->signatures(), 3u);
  EXPECT_EQ(summary->configs(), 8u + 4u + 8u);  // conv, relu, add: 2^n each
  EXPECT_THAT(summary->host_class().slow_tier_name(),
              HasSubstr("file-backed emulated"));

  v1::GetWorkListRequest request;
  request.set_host_class("live");
  absl::StatusOr<v1::WorkList> list = (*client)->GetWorkList(request);
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->graphs(), 1u);
  EXPECT_EQ(list->items_size(), 0);

  v1::PlanGraphRequest plan_request;
  *plan_request.mutable_graph()->mutable_inline_graph() = graph;
  plan_request.set_host_class("live");
  plan_request.set_budget_bytes(64 << 10);
  absl::StatusOr<v1::Plan> plan =
      (*client)->PlanGraph(plan_request, absl::Seconds(60));
  ASSERT_TRUE(plan.ok()) << plan.status() << (*server)->ReadLog();
  EXPECT_GT(plan->predicted_time_us(), 0);

  // Again: nothing left to measure; the work list (no --graph) agrees.
  ASSERT_EQ(RunAgent(absl::StrCat("--graph ", graph_path, " --server ", address,
                                  " --host-class live"),
                     &log),
            0)
      << log;
  EXPECT_THAT(log, HasSubstr("nothing to profile"));
  ASSERT_EQ(
      RunAgent(absl::StrCat("--server ", address, " --host-class live"), &log),
      0)
      << log;
  EXPECT_THAT(log, HasSubstr("0 signatures missing, from 1 submitted graph"));
}

// Issue 17: autotm-agent over TLS with a bearer token, against a server
// with --tls-cert/--tls-key/--tokens (a throwaway PKI from
// tests/e2e/make_test_pki.sh): the granted host class takes the upload
// under the agent's principal; no token, an unknown token, a wrong CA and a
// host class the agent was not granted are refused, and nothing of them is
// stored.
TEST_F(AgentE2eTest, UploadsOverTlsWithATokenAndOnlyThen) {
  const char* source = std::getenv("AUTOTM_SOURCE_DIR");
  ASSERT_NE(source, nullptr) << "AUTOTM_SOURCE_DIR (set by ctest)";
  const std::string pki = dir_ + "/pki";
  ASSERT_EQ(
      std::system(absl::StrCat("bash ", source, "/tests/e2e/make_test_pki.sh ",
                               pki, " >/dev/null")
                      .c_str()),
      0);
  const std::string tokens = dir_ + "/tokens";
  {
    std::ofstream out(tokens);
    out << server::HashToken("tok-agent") << " agent7 agent tls-live\n"
        << server::HashToken("tok-operator") << " root operator\n";
  }
  for (const auto& [name, token] :
       {std::pair{"agent.token", "tok-agent"},
        std::pair{"unknown.token", "not-a-token"}}) {
    std::ofstream out(dir_ + "/" + name);
    out << token << "\n";
  }
  testing::ServerProcessOptions options;
  options.db = dir_ + "/autotm.db";
  options.log_path = dir_ + "/server.log";
  options.extra_args = {"--tls-cert",       pki + "/server.pem",
                        "--tls-key",        pki + "/server.key",
                        "--tokens",         tokens,
                        "--shutdown-grace", "0.5"};
  absl::StatusOr<std::unique_ptr<testing::ServerProcess>> server =
      testing::ServerProcess::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string address = (*server)->address();
  const std::string graph_path = dir_ + "/g.graph.json";
  ASSERT_TRUE(client::WriteProtoJsonFile(graph_path, TinyGraph(false)).ok());
  const std::string ca = " --tls-ca " + pki + "/ca.pem";
  auto agent = [&](const std::string& host_class, const std::string& flags,
                   std::string* log) {
    return RunAgent(absl::StrCat("--graph ", graph_path, " --server ", address,
                                 " --host-class ", host_class, flags),
                    log);
  };

  std::string log;
  EXPECT_NE(agent("tls-live", ca, &log), 0);  // TLS, no token
  EXPECT_THAT(log, HasSubstr("UNAUTHENTICATED")) << log;
  EXPECT_NE(
      agent("tls-live",
            absl::StrCat(ca, " --token-file ", dir_, "/unknown.token"), &log),
      0);
  EXPECT_THAT(log, HasSubstr("UNAUTHENTICATED")) << log;
  EXPECT_NE(agent("tls-live",
                  absl::StrCat(" --tls-ca ", pki, "/other-ca.pem",
                               " --token-file ", dir_, "/agent.token"),
                  &log),
            0);  // the server's certificate does not chain to that CA
  EXPECT_THAT(log, HasSubstr("UNAVAILABLE")) << log;
  EXPECT_NE(
      agent("not-granted",
            absl::StrCat(ca, " --token-file ", dir_, "/agent.token"), &log),
      0);
  EXPECT_THAT(log, HasSubstr("PERMISSION_DENIED")) << log;
  ASSERT_EQ(
      agent("tls-live",
            absl::StrCat(ca, " --token-file ", dir_, "/agent.token"), &log),
      0)
      << log << (*server)->ReadLog();
  EXPECT_THAT(log, HasSubstr("uploaded to " + address + " as tls-live"));

  ClientOptions client_options;
  client_options.address = address;
  client_options.tls_ca_file = pki + "/ca.pem";
  client_options.token = "tok-operator";
  absl::StatusOr<std::unique_ptr<Client>> client =
      Client::Connect(client_options);
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<v1::HostClassSummary> summary =
      (*client)->GetHostClass("tls-live");
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->signatures(), 3u);
  EXPECT_TRUE(
      absl::IsNotFound((*client)->GetHostClass("not-granted").status()));
  EXPECT_THAT((*server)->ReadLog(),
              HasSubstr("audit principal=agent7 rpc=ImportProfile "
                        "target=host_class=tls-live"));
}

}  // namespace
}  // namespace autotm
