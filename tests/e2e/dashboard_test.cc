// End to end: the web dashboard (issue 23) of a real autotm-server, loaded
// by headless Chromium (Debian's `chromium`, deploy/install-deps.sh) while
// real jobs run: the queue lists the test's jobs, a job page shows its plan
// pictures and sweep, a running job's progress changes between two loads,
// and with --tokens the pages refuse a browser without a token.
//
// Skips (with a message) only when no chromium binary is installed.

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "autotm/v1/placement_service.pb.h"
#include "client/common/proto_json.h"
#include "client/costmodel/cost_model.h"
#include "client/lib/client.h"
#include "client/zoo/zoo.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "server/auth.h"
#include "solver/testing/test_graphs.h"
#include "tests/e2e/server_process.h"

namespace autotm {
namespace {

using ::autotm::solver::testing::MustGraph;
using ::autotm::testing::ServerProcess;
using ::autotm::testing::ServerProcessOptions;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kMetricsPrefix[] = "autotm-server metrics on ";

std::string SourceDir() {
  const char* root = std::getenv("AUTOTM_SOURCE_DIR");
  return root != nullptr ? root : ".";
}

std::string TestData(const std::string& name) {
  return absl::StrCat(SourceDir(), "/tests/testdata/", name);
}

// The chromium binary, "" when none is installed.
std::string FindChromium() {
  for (const char* candidate :
       {"/usr/bin/chromium", "/usr/bin/chromium-browser"}) {
    if (::access(candidate, X_OK) == 0) return candidate;
  }
  return "";
}

// The text of the first element with data-f="FIELD" in `dom`.
std::string Field(const std::string& dom, const std::string& field) {
  std::smatch match;
  const std::regex pattern("data-f=\"" + field + "\">([^<]*)<");
  return std::regex_search(dom, match, pattern) ? match[1].str() : "";
}

class DashboardE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    chromium_ = FindChromium();
    if (chromium_.empty()) {
      GTEST_SKIP() << "chromium is not installed (deploy/install-deps.sh "
                      "installs Debian's chromium): the dashboard is not "
                      "loaded in a browser";
    }
    std::string dir =
        (std::filesystem::temp_directory_path() / "autotm_dashboard_XXXXXX")
            .string();
    ASSERT_NE(::mkdtemp(dir.data()), nullptr);
    dir_ = dir;
  }

  void TearDown() override {
    client_.reset();
    server_.reset();
    if (!dir_.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(dir_, ignored);
    }
  }

  void StartServer(std::vector<std::string> args,
                   const std::string& http_address = "127.0.0.1:0") {
    args.insert(args.end(),
                {"--metrics-listen", http_address, "--shutdown-grace", "0.5"});
    ServerProcessOptions options;
    options.db = dir_ + "/autotm.db";
    options.log_path = dir_ + "/server.log";
    options.extra_args = std::move(args);
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        ServerProcess::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    for (const std::string& line : server_->startup_lines()) {
      if (absl::StartsWith(line, kMetricsPrefix)) {
        const std::string address = line.substr(sizeof(kMetricsPrefix) - 1);
        ASSERT_TRUE(absl::SimpleAtoi(address.substr(address.rfind(':') + 1),
                                     &http_port_))
            << line;
      }
    }
    ASSERT_GT(http_port_, 0) << "no \"" << kMetricsPrefix << "\" line";
  }

  void Connect(const std::string& token = "", const std::string& ca = "") {
    ClientOptions options;
    options.address = server_->address();
    options.deadline = absl::Seconds(30);
    options.token = token;
    options.tls_ca_file = ca;
    absl::StatusOr<std::unique_ptr<Client>> client = Client::Connect(options);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
  }

  std::string Url(const std::string& path) const {
    return absl::StrCat("http://127.0.0.1:", http_port_, path);
  }

  // Chromium's DOM of `path` after it loaded (scripts included).
  std::string DumpDom(const std::string& path) {
    return RunChromium(absl::StrCat("--dump-dom '", Url(path), "'"));
  }

  std::string RunChromium(const std::string& args) {
    const std::string command =
        absl::StrCat("timeout 60 ", chromium_,
                     " --headless --no-sandbox --disable-gpu --no-first-run "
                     "--disable-dev-shm-usage --user-data-dir=",
                     dir_, "/chromium ", args, " 2>>", dir_, "/chromium.log");
    FILE* pipe = ::popen(command.c_str(), "r");
    EXPECT_NE(pipe, nullptr) << command;
    if (pipe == nullptr) return "";
    std::string out;
    char buffer[65536];
    size_t n;
    while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
      out.append(buffer, n);
    }
    const int status = ::pclose(pipe);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << command << " exited " << status;
    return out;
  }

  // GET over plain HTTP with an optional bearer token.
  httplib::Result Get(const std::string& path, const std::string& token = "") {
    httplib::Client http("127.0.0.1", http_port_);
    httplib::Headers headers;
    if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
    return http.Get(path.c_str(), headers);
  }

  v1::SolveJob Submit(const v1::Graph& graph, const std::string& host,
                      std::vector<uint64_t> budgets, double time_limit,
                      double relative_gap = 0) {
    v1::CreateSolveJobRequest request;
    request.mutable_parameters()->set_relative_gap(relative_gap);
    *request.mutable_graph()->mutable_inline_graph() = graph;
    request.set_host_class(host);
    for (uint64_t b : budgets) request.add_budgets_bytes(b);
    request.mutable_parameters()->set_time_limit_seconds(time_limit);
    absl::StatusOr<v1::SolveJob> job = client_->CreateSolveJob(request);
    EXPECT_TRUE(job.ok()) << job.status() << Log();
    return job.ok() ? *job : v1::SolveJob();
  }

  v1::SolveJob WaitFinal(const std::string& id, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    v1::SolveJob job;
    while (absl::Now() < deadline) {
      absl::StatusOr<v1::SolveJob> got = client_->GetSolveJob(id);
      if (got.ok()) job = *got;
      if (got.ok() && (job.state() == v1::SolveJob::SUCCEEDED ||
                       job.state() == v1::SolveJob::FAILED ||
                       job.state() == v1::SolveJob::CANCELLED)) {
        break;
      }
      absl::SleepFor(absl::Milliseconds(200));
    }
    return job;
  }

  std::string Log() const { return server_ ? server_->ReadLog() : ""; }

  std::string chromium_;
  std::string dir_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<Client> client_;
  int http_port_ = 0;
};

TEST_F(DashboardE2ETest, QueueJobPicturesAndLiveProgressInChromium) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--workers", "1"}));
  ASSERT_NO_FATAL_FAILURE(Connect());

  // A finished two-budget job of the bundled example: plans, pictures and
  // the sweep.
  v1::Graph example;
  v1::Profile example_profile;
  ASSERT_TRUE(
      client::ReadProtoJsonFile(TestData("example_cnn.graph.json"), &example)
          .ok());
  ASSERT_TRUE(client::ReadProtoJsonFile(TestData("example_cnn.profile.json"),
                                        &example_profile)
                  .ok());
  ASSERT_TRUE(client_->UploadProfile(example_profile).ok()) << Log();
  // Graph names come from clients: this one tries to inject markup.
  const std::string evil_name = "example<img src=x onerror=alert(1)>";
  example.set_name(evil_name);
  const uint64_t peak = MustGraph(example).PeakLiveBytes();
  const v1::SolveJob done = Submit(example, example_profile.host_class().name(),
                                   {peak / 2, peak * 3 / 4}, 10);
  ASSERT_EQ(WaitFinal(done.id(), absl::Seconds(40)).state(),
            v1::SolveJob::SUCCEEDED)
      << Log();

  // A long solve: DenseNet-264 at half its footprint, asked to prove a gap
  // of 1e-6 within 300 s (at the default 1% it may end within seconds),
  // cancelled at the end.
  absl::StatusOr<v1::Graph> densenet = zoo::BuildZooGraph("densenet264", 16);
  ASSERT_TRUE(densenet.ok()) << densenet.status();
  absl::StatusOr<v1::Profile> densenet_profile = costmodel::SynthesizeProfile(
      *densenet, costmodel::CostModel::Optane2019());
  ASSERT_TRUE(densenet_profile.ok()) << densenet_profile.status();
  ASSERT_TRUE(client_->UploadProfile(*densenet_profile).ok()) << Log();
  const v1::SolveJob running =
      Submit(*densenet, densenet_profile->host_class().name(),
             {MustGraph(*densenet).PeakLiveBytes() / 2}, 300,
             /*relative_gap=*/1e-6);
  ASSERT_FALSE(running.id().empty());

  // The queue lists both jobs, with states, owner and the graph names.
  const std::string queue = DumpDom("/dashboard");
  EXPECT_THAT(queue, HasSubstr("<table id=\"queue\""));
  for (const v1::SolveJob& job : {done, running}) {
    EXPECT_THAT(queue, HasSubstr(absl::StrCat("data-job=\"", job.id(), "\"")))
        << queue;
  }
  EXPECT_THAT(queue, HasSubstr("SUCCEEDED"));
  EXPECT_THAT(queue, HasSubstr("example&lt;img src=x onerror=alert(1)&gt;"));
  EXPECT_THAT(queue, Not(HasSubstr("<img")));
  EXPECT_THAT(queue, HasSubstr(densenet->name()));
  EXPECT_THAT(queue, HasSubstr(">local<"));  // the owner in open mode

  // The finished job's page: a plans table, one timeline per plan, the
  // sweep.
  const std::string job_page =
      DumpDom(absl::StrCat("/dashboard/job?id=", done.id()));
  EXPECT_THAT(job_page, HasSubstr("<table id=\"plans\""));
  EXPECT_THAT(job_page, HasSubstr("id=\"plan1-memory-timeline\""));
  EXPECT_THAT(job_page, HasSubstr("id=\"plan2-memory-timeline\""));
  EXPECT_THAT(job_page, HasSubstr("<figure id=\"sweep\""));
  EXPECT_THAT(job_page, HasSubstr("fast memory budget (MiB)"));
  EXPECT_THAT(job_page, Not(HasSubstr("<img")));

  // The graph's page: its job and its sweep curve.
  const std::string graph_page =
      DumpDom(absl::StrCat("/dashboard/graph?digest=", done.graph_digest()));
  EXPECT_THAT(graph_page, HasSubstr("<figure id=\"sweep\""));
  EXPECT_THAT(graph_page, HasSubstr(absl::StrCat("data-job=\"", done.id())));
  EXPECT_THAT(graph_page,
              Not(HasSubstr(absl::StrCat("data-job=\"", running.id()))));

  // The running job's progress, as two page loads show it, changes: wait
  // for the solver's first report, load, wait for the next, load again.
  auto live = [&](const std::string& field) {
    httplib::Result r =
        Get(absl::StrCat("/dashboard/api/job?id=", running.id()));
    if (!r || r->status != 200) return std::string();
    std::smatch match;
    const std::regex pattern("\"" + field + "\":\"([^\"]*)\"");
    return std::regex_search(r->body, match, pattern) ? match[1].str()
                                                      : std::string();
  };
  const std::string dash = "\xE2\x80\x94";
  absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline &&
         (live("elapsed").empty() || live("elapsed") == dash)) {
    absl::SleepFor(absl::Milliseconds(250));
  }
  const std::string page_path =
      absl::StrCat("/dashboard/job?id=", running.id());
  const std::string first = DumpDom(page_path);
  const std::string first_elapsed = Field(first, "elapsed");
  ASSERT_FALSE(first_elapsed.empty()) << first;
  ASSERT_NE(first_elapsed, dash) << "no progress within 30 s\n" << Log();
  EXPECT_THAT(first, HasSubstr("s-RUNNING"));
  deadline = absl::Now() + absl::Seconds(15);
  while (absl::Now() < deadline && live("elapsed") == first_elapsed) {
    absl::SleepFor(absl::Milliseconds(250));
  }
  const std::string second = DumpDom(page_path);
  EXPECT_NE(Field(second, "elapsed"), first_elapsed)
      << "the running job's progress did not change between two loads";
  EXPECT_NE(Field(second, "incumbent"), "") << second;

  // A screenshot renders (a person's view; kept when AUTOTM_DASHBOARD_SHOTS
  // names a directory).
  const char* shots = std::getenv("AUTOTM_DASHBOARD_SHOTS");
  const std::string shot_dir = shots != nullptr ? shots : dir_;
  RunChromium(absl::StrCat("--window-size=1400,900 --screenshot=", shot_dir,
                           "/queue.png '", Url("/dashboard"), "'"));
  EXPECT_TRUE(std::filesystem::exists(shot_dir + "/queue.png"));
  if (shots != nullptr) {
    RunChromium(absl::StrCat(
        "--window-size=1400,2400 --screenshot=", shot_dir, "/job.png '",
        Url(absl::StrCat("/dashboard/job?id=", done.id())), "'"));
    RunChromium(absl::StrCat("--window-size=1400,900 --screenshot=", shot_dir,
                             "/running.png '", Url(page_path), "'"));
    RunChromium(absl::StrCat("--window-size=1400,700 --screenshot=", shot_dir,
                             "/hosts.png '", Url("/dashboard/hosts"), "'"));
    RunChromium(absl::StrCat(
        "--window-size=1400,1000 --screenshot=", shot_dir, "/graph.png '",
        Url(absl::StrCat("/dashboard/graph?digest=", done.graph_digest())),
        "'"));
  }

  // Host classes with coverage and contributors.
  const std::string hosts = DumpDom("/dashboard/hosts");
  EXPECT_THAT(hosts, HasSubstr(example_profile.host_class().name()));
  EXPECT_THAT(hosts, HasSubstr(densenet_profile->host_class().name()));
  EXPECT_THAT(hosts, HasSubstr("<ul class=\"contributors\"><li>local ("));

  // Nothing can be changed: GET only.
  httplib::Client http("127.0.0.1", http_port_);
  httplib::Result post =
      http.Post(absl::StrCat("/dashboard/job?id=", running.id()).c_str(), "",
                "text/plain");
  ASSERT_TRUE(post);
  EXPECT_NE(post->status, 200);

  EXPECT_EQ(client_->CancelSolveJob(running.id()).status().code(),
            absl::StatusCode::kOk);
  EXPECT_EQ(WaitFinal(running.id(), absl::Seconds(20)).state(),
            v1::SolveJob::CANCELLED);
}

TEST_F(DashboardE2ETest, WithTokensTheBrowserMustSignIn) {
  const std::string pki = dir_ + "/pki";
  ASSERT_EQ(std::system(absl::StrCat("bash ", SourceDir(),
                                     "/tests/e2e/make_test_pki.sh ", pki,
                                     " >/dev/null")
                            .c_str()),
            0);
  std::ofstream(dir_ + "/tokens")
      << server::HashToken("operator-token") << " root operator\n"
      << server::HashToken("reader-token") << " rita reader\n";
  ASSERT_NO_FATAL_FAILURE(StartServer(
      {"--tls-cert", pki + "/server.pem", "--tls-key", pki + "/server.key",
       "--tokens", dir_ + "/tokens", "--workers", "1"}));
  ASSERT_NO_FATAL_FAILURE(Connect("operator-token", pki + "/ca.pem"));
  v1::Graph example;
  v1::Profile profile;
  ASSERT_TRUE(
      client::ReadProtoJsonFile(TestData("example_cnn.graph.json"), &example)
          .ok());
  ASSERT_TRUE(
      client::ReadProtoJsonFile(TestData("example_cnn.profile.json"), &profile)
          .ok());
  ASSERT_TRUE(client_->UploadProfile(profile).ok()) << Log();
  const v1::SolveJob job = Submit(example, profile.host_class().name(),
                                  {MustGraph(example).PeakLiveBytes() / 2}, 5);
  const std::string job_id = job.id();
  ASSERT_FALSE(job_id.empty());

  // The browser without a token: the sign-in form, no job.
  const std::string refused = DumpDom("/dashboard");
  EXPECT_THAT(refused, HasSubstr("id=\"login\""));
  EXPECT_THAT(refused, Not(HasSubstr("data-job=")));
  EXPECT_THAT(refused, Not(HasSubstr(job_id)));
  for (const char* path :
       {"/dashboard", "/dashboard/hosts", "/dashboard/api/jobs",
        "/dashboard/job?id=job-000001"}) {
    httplib::Result r = Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 401) << path;
    EXPECT_EQ(r->get_header_value("WWW-Authenticate"),
              "Bearer realm=\"autotm dashboard\"");
    r = Get(path, "wrong-token");
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 401) << path;
  }
  // A reader's token opens it.
  httplib::Result reader = Get("/dashboard", "reader-token");
  ASSERT_TRUE(reader);
  EXPECT_EQ(reader->status, 200);
  EXPECT_THAT(reader->body, HasSubstr("signed in as rita (reader)"));
  EXPECT_THAT(reader->body, HasSubstr(job_id));
  // The sign-in form itself is open.
  EXPECT_THAT(DumpDom("/dashboard/login"), HasSubstr("id=\"token\""));
  WaitFinal(job_id, absl::Seconds(20));
}

// A --metrics-listen address other hosts can reach serves /metrics only:
// the port is plain HTTP, so no dashboard (and no token) travels on it.
TEST_F(DashboardE2ETest, NoDashboardOnANonLoopbackPort) {
  ASSERT_NO_FATAL_FAILURE(StartServer(
      std::vector<std::string>{"--metrics-allow-remote"}, "0.0.0.0:0"));
  httplib::Result metrics = Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  for (const char* path : {"/", "/dashboard", "/dashboard/api/jobs",
                           "/dashboard/hosts", "/dashboard/login"}) {
    httplib::Result r = Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 404) << path;
  }
  EXPECT_THAT(Log(), HasSubstr("dashboard off: --metrics-listen 0.0.0.0:0"));
}

TEST_F(DashboardE2ETest, MetricsTlsNeedsTheServersCertificate) {
  ServerProcessOptions options;
  options.db = dir_ + "/autotm.db";
  options.log_path = dir_ + "/server.log";
  options.extra_args = {"--metrics-listen", "127.0.0.1:0", "--metrics-tls"};
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      ServerProcess::Start(options);
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(std::string(server.status().message()),
              HasSubstr("--metrics-tls needs --metrics-listen and the "
                        "server's certificate"));
}

// With --metrics-tls the port serves HTTPS with the server's certificate,
// and with --tokens the dashboard is served off loopback too.
TEST_F(DashboardE2ETest, OverHttpsWithTokensOnANonLoopbackPort) {
  const std::string pki = dir_ + "/pki";
  ASSERT_EQ(std::system(absl::StrCat("bash ", SourceDir(),
                                     "/tests/e2e/make_test_pki.sh ", pki,
                                     " >/dev/null")
                            .c_str()),
            0);
  std::ofstream(dir_ + "/tokens")
      << server::HashToken("reader-token") << " rita reader\n";
  ASSERT_NO_FATAL_FAILURE(StartServer(
      {"--tls-cert", pki + "/server.pem", "--tls-key", pki + "/server.key",
       "--tokens", dir_ + "/tokens", "--metrics-tls", "--metrics-allow-remote"},
      "0.0.0.0:0"));
  EXPECT_THAT(Log(), HasSubstr("dashboard on https://"));
  auto get = [&](const std::string& path, const std::string& token) {
    httplib::SSLClient https("127.0.0.1", http_port_);
    https.set_ca_cert_path((pki + "/ca.pem").c_str());
    https.enable_server_certificate_verification(true);
    httplib::Headers headers;
    if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
    return https.Get(path.c_str(), headers);
  };
  httplib::Result r = get("/dashboard", "reader-token");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 200);
  EXPECT_THAT(r->body, HasSubstr("signed in as rita (reader)"));
  r = get("/dashboard", "");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  r = get("/metrics", "");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  // Plain HTTP gets no page.
  httplib::Result plain = Get("/dashboard", "reader-token");
  EXPECT_TRUE(!plain || plain->status != 200);
  // The browser (the test CA is not in its store) sees the sign-in form.
  const std::string dom = RunChromium(absl::StrCat(
      "--ignore-certificate-errors --dump-dom 'https://127.0.0.1:", http_port_,
      "/dashboard'"));
  EXPECT_THAT(dom, HasSubstr("id=\"login\""));
}

}  // namespace
}  // namespace autotm
