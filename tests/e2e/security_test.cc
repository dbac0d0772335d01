// End to end: TLS, identities and roles on the real autotm-server (a child
// process on 127.0.0.1:0) with the real autotm::Client. The PKI is made at
// run time by tests/e2e/make_test_pki.sh with the openssl CLI.
//
//   - TLS: a TLS server refuses a plaintext client; a client trusting
//     another CA refuses the server; with mutual TLS a client without a
//     certificate, or with one of another CA, is refused.
//   - The role matrix: every RPC x {no credentials, a principal without the
//     RPC's role, one with it} -> UNAUTHENTICATED / PERMISSION_DENIED /
//     anything but those two (docs/SECURITY.md has the table).
//   - Ownership and grants: planners see and cancel only their own jobs; an
//     agent cannot touch a host class it was not granted.
//   - Safe by default: a non-loopback --listen without TLS and tokens does
//     not start unless --insecure, which is logged loudly; --tokens needs
//     TLS. SIGHUP re-reads the identities file. Mutating RPCs are audited.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/lib/client.h"
#include "common/graph_digest.h"
#include "gtest/gtest.h"
#include "server/auth.h"
#include "solver/graph_model.h"
#include "solver/testing/chain_fixture.h"
#include "tests/e2e/server_process.h"
#include "tests/e2e/test_dir.h"

namespace autotm {
namespace {

using ::autotm::testing::MakeTestDir;
using ::autotm::testing::RemoveTestDirIfPassed;
using ::autotm::testing::ServerProcess;
using ::autotm::testing::ServerProcessOptions;

std::string SourceDir() {
  const char* root = std::getenv("AUTOTM_SOURCE_DIR");
  return root != nullptr ? root : ".";
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The identities of the matrix: one principal per role, a second planner,
// and a certificate principal.
std::string TokensFile() {
  using server::HashToken;
  return absl::StrCat("# test identities\n",                                 //
                      HashToken("tok-planner"), " alice planner\n",          //
                      HashToken("tok-planner2"), " bob planner\n",           //
                      HashToken("tok-reader"), " watcher reader\n",          //
                      HashToken("tok-agent"), " agent7 agent granted-hc\n",  //
                      HashToken("tok-operator"), " root operator\n",         //
                      "cn:alice-cert certuser planner\n");
}

v1::Profile ChainProfileFor(const std::string& host_class) {
  v1::Profile profile = solver::testing::ChainProfile(
      *solver::GraphModel::Create(solver::testing::ChainGraph()));
  profile.mutable_host_class()->set_name(host_class);
  profile.mutable_host_class()->set_fingerprint("security_test");
  return profile;
}

// One measurement of the chain's first kernel, with bandwidths.
v1::UploadMeasurementsRequest OneMeasurement(const std::string& host_class,
                                             double gb_per_s) {
  v1::Profile profile = ChainProfileFor(host_class);
  v1::UploadMeasurementsRequest request;
  *request.mutable_host_class() = profile.host_class();
  v1::CopyBandwidths* b = request.mutable_bandwidths();
  b->set_slow_to_fast_sync_gb_per_s(gb_per_s);
  b->set_fast_to_slow_sync_gb_per_s(gb_per_s);
  b->set_slow_to_fast_async_gb_per_s(gb_per_s);
  b->set_fast_to_slow_async_gb_per_s(gb_per_s);
  v1::MeasurementEntry* entry = request.add_entries();
  *entry->mutable_signature() = profile.kernels(0).signature();
  entry->set_config(profile.kernels(0).configs(0).config());
  entry->set_time_us(profile.kernels(0).configs(0).time_us());
  entry->set_measurement_id(absl::StrCat("security_test/", host_class));
  return request;
}

class SecurityTest : public ::testing::Test {
 protected:
  static void TearDownTestSuite() {
    if (pki_ != nullptr) std::filesystem::remove_all(*pki_);
    delete pki_;
    pki_ = nullptr;
  }
  static std::string Pki(const std::string& name) {
    return absl::StrCat(*pki_, "/", name);
  }

  void SetUp() override {
    // The PKI, once per process (ctest runs each test in its own process,
    // in parallel: hence the pid). Made here rather than in
    // SetUpTestSuite, whose failures ctest would report as skipped tests.
    if (pki_ == nullptr) {
      const std::string dir =
          absl::StrCat(::testing::TempDir(), "/security_test_pki_", ::getpid());
      const std::string command =
          absl::StrCat("bash ", SourceDir(), "/tests/e2e/make_test_pki.sh ",
                       dir, " >/dev/null");
      ASSERT_EQ(std::system(command.c_str()), 0) << command;
      pki_ = new std::string(dir);
    }
    absl::StatusOr<std::string> dir = MakeTestDir(absl::StrCat(
        "security_",
        ::testing::UnitTest::GetInstance()->current_test_info()->name()));
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = *dir;
    tokens_ = dir_ + "/tokens";
    WriteFile(tokens_, TokensFile());
  }

  // Each test's servers are its own locals, stopped by now.
  void TearDown() override { RemoveTestDirIfPassed(dir_); }

  absl::StatusOr<std::unique_ptr<ServerProcess>> Start(
      std::vector<std::string> args,
      const std::string& listen = "127.0.0.1:0") {
    ServerProcessOptions options;
    options.db = dir_ + "/autotm.db";
    options.log_path = dir_ + "/server.log";
    options.listen = listen;
    options.extra_args = std::move(args);
    // Open client connections hold a graceful shutdown for the whole grace.
    options.extra_args.push_back("--shutdown-grace");
    options.extra_args.push_back("0.5");
    return ServerProcess::Start(options);
  }
  // TLS with the test CA, plus --tokens.
  std::vector<std::string> TlsArgs(bool tokens = true) {
    std::vector<std::string> args = {"--tls-cert", Pki("server.pem"),
                                     "--tls-key", Pki("server.key")};
    if (tokens) {
      args.push_back("--tokens");
      args.push_back(tokens_);
    }
    return args;
  }

  std::unique_ptr<Client> Connect(const ServerProcess& server,
                                  const std::string& token,
                                  const std::string& ca = "ca.pem",
                                  const std::string& cert = "") {
    ClientOptions options;
    options.address = server.address();
    options.deadline = absl::Seconds(20);
    options.max_attempts = 1;
    if (!ca.empty()) options.tls_ca_file = Pki(ca);
    if (!cert.empty()) {
      options.tls_cert_file = Pki(cert + ".pem");
      options.tls_key_file = Pki(cert + ".key");
    }
    options.token = token;
    absl::StatusOr<std::unique_ptr<Client>> client = Client::Connect(options);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  std::string Log() { return ReadFile(dir_ + "/server.log"); }

  static std::string* pki_;
  std::string dir_;
  std::string tokens_;
};

std::string* SecurityTest::pki_ = nullptr;

// --- TLS.

TEST_F(SecurityTest, TlsServerRefusesPlaintextAndWrongCa) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      Start(TlsArgs(/*tokens=*/false));
  ASSERT_TRUE(server.ok()) << server.status();

  std::unique_ptr<Client> good = Connect(**server, "");
  absl::StatusOr<bool> health = good->Health();
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_TRUE(*health);
  EXPECT_TRUE(good->ListHostClasses().ok());

  std::unique_ptr<Client> plaintext = Connect(**server, "", /*ca=*/"");
  EXPECT_EQ(plaintext->ListHostClasses().status().code(),
            absl::StatusCode::kUnavailable);
  std::unique_ptr<Client> wrong_ca = Connect(**server, "", "other-ca.pem");
  EXPECT_EQ(wrong_ca->ListHostClasses().status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ((*server)->Terminate().value(), 0);
}

TEST_F(SecurityTest, MutualTlsRequiresAClientCertificateOfTheCa) {
  std::vector<std::string> args = TlsArgs();
  args.push_back("--tls-client-ca");
  args.push_back(Pki("ca.pem"));
  absl::StatusOr<std::unique_ptr<ServerProcess>> server = Start(args);
  ASSERT_TRUE(server.ok()) << server.status();

  std::unique_ptr<Client> no_cert = Connect(**server, "tok-operator");
  EXPECT_EQ(no_cert->ListHostClasses().status().code(),
            absl::StatusCode::kUnavailable);
  std::unique_ptr<Client> other =
      Connect(**server, "", "ca.pem", "other-client");
  EXPECT_EQ(other->ListHostClasses().status().code(),
            absl::StatusCode::kUnavailable);

  // The certificate's CN is the principal: certuser, a planner.
  std::unique_ptr<Client> cert = Connect(**server, "", "ca.pem", "client");
  EXPECT_TRUE(cert->ListSolveJobs({}).ok());
  EXPECT_EQ(cert->ExportProfile("x").status().code(),
            absl::StatusCode::kPermissionDenied);
  absl::Status denied = cert->DeleteHostClass("x");
  EXPECT_NE(denied.message().find("certuser"), std::string::npos) << denied;
  // A token wins over the certificate.
  std::unique_ptr<Client> both =
      Connect(**server, "tok-operator", "ca.pem", "client");
  EXPECT_EQ(both->ExportProfile("x").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ((*server)->Terminate().value(), 0);
}

// --- The role matrix.

struct Rpc {
  std::string name;
  std::function<absl::Status(Client&)> call;
  // A principal's token without the RPC's role; empty when every role may
  // call it.
  std::string wrong;
  std::string right;
};

std::vector<Rpc> AllRpcs() {
  const v1::Graph graph = solver::testing::ChainGraph();
  auto create = [graph](Client& c) {
    v1::CreateSolveJobRequest r;
    *r.mutable_graph()->mutable_inline_graph() = graph;
    r.set_host_class("no-such-class");
    r.add_budgets_bytes(1 << 20);
    return c.CreateSolveJob(r).status();
  };
  auto lookup = [graph](Client& c) {
    v1::GetPlanRequest r;
    *r.mutable_graph()->mutable_inline_graph() = graph;
    r.set_host_class("no-such-class");
    r.set_budget_bytes(1 << 20);
    return c.LookupPlan(r).status();
  };
  auto plan = [graph](Client& c) {
    v1::PlanGraphRequest r;
    *r.mutable_graph()->mutable_inline_graph() = graph;
    r.set_host_class("no-such-class");
    r.set_budget_bytes(1 << 20);
    return c.PlanGraph(r, absl::Seconds(20)).status();
  };
  return {
      {"UploadMeasurements",
       [](Client& c) {
         return c.UploadMeasurements(OneMeasurement("granted-hc", 10)).status();
       },
       "tok-planner", "tok-agent"},
      {"StreamMeasurements",
       [](Client& c) {
         return c.StreamMeasurements({OneMeasurement("granted-hc", 10)})
             .status();
       },
       "tok-reader", "tok-agent"},
      {"GetHostClass",
       [](Client& c) { return c.GetHostClass("granted-hc").status(); }, "",
       "tok-reader"},
      {"ListHostClasses",
       [](Client& c) { return c.ListHostClasses().status(); }, "",
       "tok-reader"},
      {"ExportProfile",
       [](Client& c) { return c.ExportProfile("granted-hc").status(); },
       "tok-planner", "tok-operator"},
      {"ImportProfile",
       [](Client& c) {
         return c.UploadProfile(ChainProfileFor("granted-hc")).status();
       },
       "tok-planner", "tok-agent"},
      {"GetWorkList",
       [](Client& c) {
         v1::GetWorkListRequest r;
         r.set_host_class("granted-hc");
         return c.GetWorkList(r).status();
       },
       "tok-planner", "tok-agent"},
      {"DropMeasurements",
       [](Client& c) {
         return c.DropMeasurements("no-such-class", "agent7").status();
       },
       "tok-agent", "tok-operator"},
      {"DeleteHostClass",
       [](Client& c) { return c.DeleteHostClass("no-such-class"); },
       "tok-agent", "tok-operator"},
      {"CreateSolveJob", create, "tok-agent", "tok-planner"},
      {"GetSolveJob",
       [](Client& c) { return c.GetSolveJob("job-999999").status(); },
       "tok-reader", "tok-planner"},
      {"WatchSolveJob",
       [](Client& c) {
         return c
             .WatchSolveJob(
                 "job-999999", [](const v1::SolveJob&) {}, absl::Seconds(20))
             .status();
       },
       "tok-agent", "tok-planner"},
      {"CancelSolveJob",
       [](Client& c) { return c.CancelSolveJob("job-999999").status(); },
       "tok-reader", "tok-planner"},
      {"ListSolveJobs", [](Client& c) { return c.ListSolveJobs({}).status(); },
       "tok-agent", "tok-reader"},
      {"GetPlan", lookup, "tok-reader", "tok-planner"},
      {"PlanGraph", plan, "tok-agent", "tok-planner"},
      {"UploadGraph",
       [graph](Client& c) { return c.UploadGraph(graph).status(); },
       "tok-reader", "tok-planner"},
      {"StreamPlan",
       [graph](Client& c) {
         v1::GetPlanRequest r;
         r.mutable_graph()->set_digest(CanonicalGraphDigest(graph));
         r.set_host_class("no-such-class");
         r.set_budget_bytes(1 << 20);
         return c.StreamPlan(r).status();
       },
       "tok-agent", "tok-planner"},
      {"GetServerInfo", [](Client& c) { return c.GetServerInfo().status(); },
       "", "tok-reader"},
      {"PruneStore",
       [](Client& c) {
         return c.PruneStore(v1::PruneStoreRequest(), absl::Seconds(20))
             .status();
       },
       "tok-planner", "tok-operator"},
  };
}

TEST_F(SecurityTest, EveryRpcAnswersTheDocumentedCodeForEachCaller) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> server = Start(TlsArgs());
  ASSERT_TRUE(server.ok()) << server.status();
  std::vector<Rpc> rpcs = AllRpcs();
  // Every RPC of the three services (server_auth_test checks the table has
  // exactly these).
  ASSERT_EQ(rpcs.size(), server::MethodRoles().size() - 1);  // - reflection

  std::unique_ptr<Client> anonymous = Connect(**server, "");
  std::unique_ptr<Client> unknown = Connect(**server, "not-a-token");
  for (const Rpc& rpc : rpcs) {
    SCOPED_TRACE(rpc.name);
    absl::Status none = rpc.call(*anonymous);
    EXPECT_EQ(none.code(), absl::StatusCode::kUnauthenticated) << none;
    absl::Status bad = rpc.call(*unknown);
    EXPECT_EQ(bad.code(), absl::StatusCode::kUnauthenticated) << bad;
    if (!rpc.wrong.empty()) {
      absl::Status wrong = rpc.call(*Connect(**server, rpc.wrong));
      EXPECT_EQ(wrong.code(), absl::StatusCode::kPermissionDenied) << wrong;
      EXPECT_NE(wrong.message().find(rpc.name), std::string::npos) << wrong;
    }
    absl::Status right = rpc.call(*Connect(**server, rpc.right));
    EXPECT_NE(right.code(), absl::StatusCode::kUnauthenticated) << right;
    EXPECT_NE(right.code(), absl::StatusCode::kPermissionDenied) << right;
    // Operators may do everything.
    absl::Status op = rpc.call(*Connect(**server, "tok-operator"));
    EXPECT_NE(op.code(), absl::StatusCode::kUnauthenticated) << op;
    EXPECT_NE(op.code(), absl::StatusCode::kPermissionDenied) << op;
  }
  // Health checking stays open.
  absl::StatusOr<bool> health = anonymous->Health();
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_TRUE(*health);

  // One audit line per mutating RPC, naming the principal.
  const std::string log = Log();
  EXPECT_NE(log.find("audit principal=root rpc=DeleteHostClass "
                     "target=host_class=no-such-class result=NOT_FOUND"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("audit principal=agent7 rpc=UploadMeasurements "
                     "target=host_class=granted-hc"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("audit principal=alice rpc=CreateSolveJob"),
            std::string::npos)
      << log;
  EXPECT_EQ((*server)->Terminate().value(), 0);
}

// --- Ownership and grants.

TEST_F(SecurityTest, PlannersSeeAndCancelOnlyTheirOwnJobs) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> server = Start(TlsArgs());
  ASSERT_TRUE(server.ok()) << server.status();
  std::unique_ptr<Client> op = Connect(**server, "tok-operator");
  ASSERT_TRUE(op->UploadProfile(ChainProfileFor("chain")).ok());

  std::unique_ptr<Client> alice = Connect(**server, "tok-planner");
  std::unique_ptr<Client> bob = Connect(**server, "tok-planner2");
  std::unique_ptr<Client> reader = Connect(**server, "tok-reader");
  v1::CreateSolveJobRequest request;
  *request.mutable_graph()->mutable_inline_graph() =
      solver::testing::ChainGraph();
  request.set_host_class("chain");
  request.add_budgets_bytes(1 << 20);
  absl::StatusOr<v1::SolveJob> job = alice->CreateSolveJob(request);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->owner(), "alice");

  EXPECT_TRUE(alice->GetSolveJob(job->id()).ok());
  EXPECT_EQ(bob->GetSolveJob(job->id()).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(bob->CancelSolveJob(job->id()).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(bob->WatchSolveJob(
                   job->id(), [](const v1::SolveJob&) {}, absl::Seconds(20))
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
  auto ids = [](const absl::StatusOr<v1::ListSolveJobsResponse>& list) {
    std::vector<std::string> out;
    if (list.ok()) {
      for (const v1::SolveJob& j : list->jobs()) out.push_back(j.id());
    }
    return out;
  };
  EXPECT_TRUE(ids(bob->ListSolveJobs({})).empty());
  EXPECT_EQ(ids(alice->ListSolveJobs({})), std::vector<std::string>{job->id()});
  EXPECT_EQ(ids(reader->ListSolveJobs({})),
            std::vector<std::string>{job->id()});
  // Bob's own job is his; the operator sees both.
  ASSERT_TRUE(bob->CreateSolveJob(request).ok());
  EXPECT_EQ(ids(bob->ListSolveJobs({})).size(), 1u);
  EXPECT_EQ(ids(op->ListSolveJobs({})).size(), 2u);
  EXPECT_TRUE(op->CancelSolveJob(job->id()).ok());
  EXPECT_NE(Log().find(absl::StrCat("audit principal=root rpc=CancelSolveJob "
                                    "target=",
                                    job->id(), " result=OK")),
            std::string::npos);
  EXPECT_EQ((*server)->Terminate().value(), 0);
}

TEST_F(SecurityTest, AgentsProfileOnlyTheirGrantedHostClasses) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> server = Start(TlsArgs());
  ASSERT_TRUE(server.ok()) << server.status();
  std::unique_ptr<Client> op = Connect(**server, "tok-operator");
  ASSERT_TRUE(op->UploadProfile(ChainProfileFor("victim")).ok());
  absl::StatusOr<v1::Profile> before = op->ExportProfile("victim");
  ASSERT_TRUE(before.ok());

  std::unique_ptr<Client> agent = Connect(**server, "tok-agent");
  EXPECT_TRUE(agent->UploadMeasurements(OneMeasurement("granted-hc", 10)).ok());
  // 1e-300 GB/s: the bandwidth attack of issue 17, on a class not granted.
  absl::Status attack =
      agent->UploadMeasurements(OneMeasurement("victim", 1e-300)).status();
  EXPECT_EQ(attack.code(), absl::StatusCode::kPermissionDenied) << attack;
  EXPECT_NE(attack.message().find("victim"), std::string::npos) << attack;
  EXPECT_EQ(agent->StreamMeasurements({OneMeasurement("victim", 1e-300)})
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
  v1::Profile whole = ChainProfileFor("victim");
  whole.mutable_bandwidths()->set_slow_to_fast_sync_gb_per_s(1e-300);
  EXPECT_EQ(agent->UploadProfile(whole).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(agent->UploadProfile(ChainProfileFor("granted-hc")).ok());
  v1::GetWorkListRequest work;
  work.set_host_class("victim");
  EXPECT_EQ(agent->GetWorkList(work).status().code(),
            absl::StatusCode::kPermissionDenied);
  absl::StatusOr<v1::Profile> after = op->ExportProfile("victim");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->SerializeAsString(), before->SerializeAsString());
  EXPECT_EQ((*server)->Terminate().value(), 0);
}

// --- Provenance.

TEST_F(SecurityTest, MeasurementsRecordTheirUploaderAndOperatorsCanDropThem) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> server = Start(TlsArgs());
  ASSERT_TRUE(server.ok()) << server.status();
  std::unique_ptr<Client> op = Connect(**server, "tok-operator");
  std::unique_ptr<Client> agent = Connect(**server, "tok-agent");
  v1::Profile profile = ChainProfileFor("granted-hc");
  absl::StatusOr<v1::UploadMeasurementsResponse> imported =
      op->UploadProfile(profile);
  ASSERT_TRUE(imported.ok()) << imported.status();
  v1::UploadMeasurementsRequest extra = OneMeasurement("granted-hc", 0);
  extra.clear_bandwidths();
  extra.mutable_entries(0)->set_time_us(extra.entries(0).time_us() *
                                        1.5);  // a second opinion
  ASSERT_TRUE(agent->UploadMeasurements(extra).ok());

  absl::StatusOr<v1::HostClassSummary> summary =
      agent->GetHostClass("granted-hc");
  ASSERT_TRUE(summary.ok()) << summary.status();
  ASSERT_EQ(summary->contributions_size(), 2) << summary->DebugString();
  EXPECT_EQ(summary->contributions(0).principal(), "agent7");
  EXPECT_EQ(summary->contributions(0).measurements(), 1u);
  EXPECT_EQ(summary->contributions(0).signatures(), 1u);
  EXPECT_EQ(summary->contributions(1).principal(), "root");
  EXPECT_EQ(summary->contributions(1).measurements(), imported->accepted());

  EXPECT_EQ(agent->DropMeasurements("granted-hc", "agent7").status().code(),
            absl::StatusCode::kPermissionDenied);
  absl::StatusOr<v1::DropMeasurementsResponse> dropped =
      op->DropMeasurements("granted-hc", "agent7");
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_EQ(dropped->removed(), 1u);
  EXPECT_GT(dropped->profile_version(), summary->profile_version());
  summary = op->GetHostClass("granted-hc");
  ASSERT_TRUE(summary.ok());
  ASSERT_EQ(summary->contributions_size(), 1);
  EXPECT_EQ(summary->contributions(0).principal(), "root");
  // The served profile is the imported one again.
  absl::StatusOr<v1::Profile> served = op->ExportProfile("granted-hc");
  ASSERT_TRUE(served.ok());
  for (const v1::KernelProfile& k : served->kernels()) {
    for (const v1::ConfigTiming& t : k.configs()) {
      EXPECT_EQ(t.repetitions(), 1u) << k.signature().op() << " " << t.config();
    }
  }
  EXPECT_NE(Log().find("audit principal=root rpc=DropMeasurements "
                       "target=host_class=granted-hc principal=agent7 "
                       "removed=1 result=OK"),
            std::string::npos)
      << Log();
  EXPECT_EQ((*server)->Terminate().value(), 0);
}

// --- Safe by default.

TEST_F(SecurityTest, NonLoopbackNeedsTlsAndTokensOrInsecure) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> plain = Start({}, "0.0.0.0:0");
  ASSERT_FALSE(plain.ok());
  EXPECT_NE(Log().find("refusing to start"), std::string::npos) << Log();
  absl::StatusOr<std::unique_ptr<ServerProcess>> tls_only =
      Start(TlsArgs(/*tokens=*/false), "0.0.0.0:0");
  ASSERT_FALSE(tls_only.ok());
  EXPECT_NE(Log().find("no identities file"), std::string::npos) << Log();
  absl::StatusOr<std::unique_ptr<ServerProcess>> tokens_only =
      Start({"--tokens", tokens_});
  ASSERT_FALSE(tokens_only.ok());
  EXPECT_NE(Log().find("--tokens needs TLS"), std::string::npos) << Log();

  absl::StatusOr<std::unique_ptr<ServerProcess>> secure =
      Start(TlsArgs(), "0.0.0.0:0");
  ASSERT_TRUE(secure.ok()) << secure.status();
  EXPECT_EQ((*secure)->Terminate().value(), 0);
  absl::StatusOr<std::unique_ptr<ServerProcess>> insecure =
      Start({"--insecure"}, "0.0.0.0:0");
  ASSERT_TRUE(insecure.ok()) << insecure.status();
  EXPECT_NE(Log().find("INSECURE (--insecure)"), std::string::npos) << Log();
  // ... and `autotm server status` says so.
  const std::string address = absl::StrCat("127.0.0.1:", (*insecure)->port());
  ClientOptions options;
  options.address = address;
  absl::StatusOr<v1::ServerInfo> info =
      (*Client::Connect(options))->GetServerInfo();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_TRUE(info->insecure());
  EXPECT_FALSE(info->authentication());
  EXPECT_EQ(info->principal(), "local");
  const std::string out = dir_ + "/status.out";
  const std::string command =
      absl::StrCat(AUTOTM_CLI_BINARY, " server status --server ", address,
                   " > ", out, " 2>&1");
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
  EXPECT_NE(ReadFile(out).find("WARNING: INSECURE"), std::string::npos)
      << ReadFile(out);
  EXPECT_EQ((*insecure)->Terminate().value(), 0);
}

// The CLI's TLS and token flags, and what `autotm server status` reports.
TEST_F(SecurityTest, CliTalksTlsWithATokenFile) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> server = Start(TlsArgs());
  ASSERT_TRUE(server.ok()) << server.status();
  WriteFile(dir_ + "/alice.token", "tok-planner\n");
  const std::string out = dir_ + "/status.out";
  const std::string command =
      absl::StrCat(AUTOTM_CLI_BINARY, " server status --server ",
                   (*server)->address(), " --tls-ca ", Pki("ca.pem"),
                   " --token-file ", dir_, "/alice.token > ", out, " 2>&1");
  ASSERT_EQ(std::system(command.c_str()), 0) << command << "\n"
                                             << ReadFile(out);
  EXPECT_NE(ReadFile(out).find("security: TLS, identities"), std::string::npos)
      << ReadFile(out);
  EXPECT_NE(ReadFile(out).find("you are: alice (roles: planner)"),
            std::string::npos)
      << ReadFile(out);
  EXPECT_EQ(ReadFile(out).find("INSECURE"), std::string::npos);
  // The environment variables work as the flags; a planner may not delete.
  const std::string env_command = absl::StrCat(
      "AUTOTM_TLS_CA=", Pki("ca.pem"), " AUTOTM_TOKEN=tok-planner ",
      AUTOTM_CLI_BINARY, " profiles delete x --server ", (*server)->address(),
      " > ", out, " 2>&1");
  EXPECT_EQ(WEXITSTATUS(std::system(env_command.c_str())), 1);
  EXPECT_NE(ReadFile(out).find("may not call "
                               "/autotm.v1.ProfileService/DeleteHostClass"),
            std::string::npos)
      << ReadFile(out);
  EXPECT_EQ((*server)->Terminate().value(), 0);
}

TEST_F(SecurityTest, SighupReloadsTheIdentities) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> server = Start(TlsArgs());
  ASSERT_TRUE(server.ok()) << server.status();
  std::unique_ptr<Client> carol = Connect(**server, "tok-carol");
  EXPECT_EQ(carol->ListSolveJobs({}).status().code(),
            absl::StatusCode::kUnauthenticated);

  WriteFile(tokens_,
            absl::StrCat(server::HashToken("tok-carol"), " carol reader\n"));
  ASSERT_EQ(::kill((*server)->pid(), SIGHUP), 0);
  absl::Status status;
  for (int i = 0; i < 100; ++i) {
    status = carol->ListSolveJobs({}).status();
    if (status.ok()) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(Connect(**server, "tok-planner")->ListSolveJobs({}).status().code(),
            absl::StatusCode::kUnauthenticated);

  // A broken file keeps the identities in force.
  WriteFile(tokens_, "this is not an identity\n");
  ASSERT_EQ(::kill((*server)->pid(), SIGHUP), 0);
  for (int i = 0;
       i < 100 && Log().find("keeping the old identities") == std::string::npos;
       ++i) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_NE(Log().find("keeping the old identities"), std::string::npos);
  EXPECT_TRUE(carol->ListSolveJobs({}).ok());
  EXPECT_EQ((*server)->Terminate().value(), 0);
}

// `autotm-server hash-token` prints the identities-file line for a token
// on stdin; a server reading that line accepts the token.
TEST_F(SecurityTest, HashTokenPrintsALineTheServerAccepts) {
  WriteFile(dir_ + "/dana.token", "  tok-dana  \n");
  const std::string command = absl::StrCat(
      AUTOTM_SERVER_BINARY, " hash-token dana agent,reader xeon,epyc < ", dir_,
      "/dana.token > ", tokens_);
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  EXPECT_EQ(ReadFile(tokens_), absl::StrCat(server::HashToken("tok-dana"),
                                            " dana agent,reader xeon,epyc\n"));
  const std::string bad =
      absl::StrCat(AUTOTM_SERVER_BINARY, " hash-token dana wizard < ", dir_,
                   "/dana.token > /dev/null 2>&1");
  EXPECT_EQ(WEXITSTATUS(std::system(bad.c_str())), 1) << "unknown role";

  absl::StatusOr<std::unique_ptr<ServerProcess>> server = Start(TlsArgs());
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<v1::ServerInfo> info =
      Connect(**server, "tok-dana")->GetServerInfo();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->principal(), "dana");
  EXPECT_EQ(absl::StrJoin(info->roles(), ","), "reader,agent");
  EXPECT_EQ(absl::StrJoin(info->host_classes(), ","), "xeon,epyc");
  EXPECT_EQ((*server)->Terminate().value(), 0);
}

// --max-queued-per-principal: one principal's queue is full long before
// the server's (jobs are queued far faster than one worker solves them),
// and another principal can still queue.
TEST_F(SecurityTest, QueuedJobsPerPrincipalAreLimited) {
  std::vector<std::string> args = TlsArgs();
  args.push_back("--max-queued-per-principal");
  args.push_back("5");
  absl::StatusOr<std::unique_ptr<ServerProcess>> server = Start(args);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE(Connect(**server, "tok-operator")
                  ->UploadProfile(ChainProfileFor("chain"))
                  .ok());
  std::unique_ptr<Client> alice = Connect(**server, "tok-planner");
  v1::CreateSolveJobRequest request;
  *request.mutable_graph()->mutable_inline_graph() =
      solver::testing::ChainGraph();
  request.set_host_class("chain");
  absl::Status full;
  int created = 0;
  for (int i = 0; i < 100 && full.ok(); ++i) {
    request.clear_budgets_bytes();
    request.add_budgets_bytes((1 << 20) + 4096 * i);  // no plan-cache hits
    absl::StatusOr<v1::SolveJob> job = alice->CreateSolveJob(request);
    full = job.status();
    created += job.ok();
  }
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted) << full;
  EXPECT_NE(full.message().find("principal alice already has 5 queued jobs"),
            std::string::npos)
      << full;
  EXPECT_NE(full.message().find("--max-queued-per-principal"),
            std::string::npos)
      << full;
  EXPECT_GE(created, 5);
  EXPECT_TRUE(Connect(**server, "tok-planner2")->CreateSolveJob(request).ok());
  EXPECT_EQ((*server)->Terminate().value(), 0);
}

TEST_F(SecurityTest, BudgetsPerJobAreLimited) {
  std::vector<std::string> args = TlsArgs();
  args.push_back("--max-budgets-per-job");
  args.push_back("2");
  absl::StatusOr<std::unique_ptr<ServerProcess>> server = Start(args);
  ASSERT_TRUE(server.ok()) << server.status();
  v1::CreateSolveJobRequest request;
  *request.mutable_graph()->mutable_inline_graph() =
      solver::testing::ChainGraph();
  request.set_host_class("no-such-class");
  for (int i = 1; i <= 3; ++i) request.add_budgets_bytes(i << 20);
  absl::Status status =
      Connect(**server, "tok-planner")->CreateSolveJob(request).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
  EXPECT_NE(status.message().find("--max-budgets-per-job"), std::string::npos)
      << status;
  EXPECT_EQ((*server)->Terminate().value(), 0);
}

// Fairness: while alice has 200 jobs queued, bob's job is the next one
// started (round robin between principals within a priority), not the
// 201st. Each of alice's jobs has its own budget so that none is a plan-
// cache hit.
TEST_F(SecurityTest, ASecondPrincipalRunsWhileTheFirstHasHundredsQueued) {
  std::vector<std::string> args = TlsArgs();
  args.push_back("--max-queued-per-principal");
  args.push_back("0");
  absl::StatusOr<std::unique_ptr<ServerProcess>> server = Start(args);
  ASSERT_TRUE(server.ok()) << server.status();
  std::unique_ptr<Client> op = Connect(**server, "tok-operator");
  ASSERT_TRUE(op->UploadProfile(ChainProfileFor("chain")).ok());
  std::unique_ptr<Client> alice = Connect(**server, "tok-planner");
  std::unique_ptr<Client> bob = Connect(**server, "tok-planner2");
  v1::CreateSolveJobRequest request;
  *request.mutable_graph()->mutable_inline_graph() =
      solver::testing::ChainGraph();
  request.set_host_class("chain");
  constexpr int kFlood = 200;
  for (int i = 0; i < kFlood; ++i) {
    request.clear_budgets_bytes();
    request.add_budgets_bytes((1 << 20) + 4096 * i);
    ASSERT_TRUE(alice->CreateSolveJob(request).ok()) << i;
  }
  request.clear_budgets_bytes();
  request.add_budgets_bytes(1 << 21);
  absl::StatusOr<v1::SolveJob> bobs = bob->CreateSolveJob(request);
  ASSERT_TRUE(bobs.ok()) << bobs.status();
  absl::StatusOr<v1::SolveJob> done = bob->WatchSolveJob(
      bobs->id(), [](const v1::SolveJob&) {}, absl::Seconds(120));
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state(), v1::SolveJob::SUCCEEDED) << done->error();

  // How many of alice's jobs started while bob's waited (after it was
  // queued, before it started); those started earlier ran while alice was
  // still queueing hers.
  v1::ListSolveJobsRequest list;
  list.set_page_size(1000);
  absl::StatusOr<v1::ListSolveJobsResponse> jobs = op->ListSolveJobs(list);
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  int alices = 0, earlier = 0, overtook = 0, still_queued = 0;
  for (const v1::SolveJob& job : jobs->jobs()) {
    if (job.owner() != "alice") continue;
    ++alices;
    if (job.start_time_us() == 0) {
      ++still_queued;
    } else if (job.start_time_us() < bobs->create_time_us()) {
      ++earlier;
    } else if (job.start_time_us() < done->start_time_us()) {
      ++overtook;
    }
  }
  EXPECT_EQ(alices, kFlood);
  std::printf(
      "fairness: of alice's %d jobs, %d started before bob queued his, %d "
      "between his queueing and his start, %d were still queued when his "
      "finished\n",
      kFlood, earlier, overtook, still_queued);
  // At most the one a slot claimed as bob's arrived.
  EXPECT_LE(overtook, 1);
  EXPECT_GT(still_queued, kFlood / 4);
  EXPECT_EQ((*server)->Terminate().value(), 0);
}

TEST(ClientSecurityTest, ATokenIsNeverSentInClearText) {
  ClientOptions options;
  options.token = "secret";
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Connect(options);
  EXPECT_EQ(client.status().code(), absl::StatusCode::kInvalidArgument);
  options.tls_cert_file = "/nonexistent.pem";
  client = Client::Connect(options);
  EXPECT_EQ(client.status().code(), absl::StatusCode::kInvalidArgument)
      << "a certificate without its key";
}

}  // namespace
}  // namespace autotm
