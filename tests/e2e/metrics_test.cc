// End to end: the real autotm-server with --metrics-listen, scraped over
// real HTTP while the real autotm::Client imports a profile and plans the
// bundled example (docs/OPERATIONS.md lists the families checked here).

#include <stdlib.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "autotm/v1/plan.pb.h"
#include "autotm/v1/profile.pb.h"
#include "client/common/proto_json.h"
#include "client/lib/client.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "solver/testing/test_graphs.h"
#include "tests/e2e/long_solve_graph.h"
#include "tests/e2e/server_process.h"
#include "tests/e2e/test_dir.h"

namespace autotm {
namespace {

using ::autotm::solver::testing::MustGraph;
using ::autotm::testing::LongSolveBudget;
using ::autotm::testing::LongSolveJob;
using ::autotm::testing::LongSolveProfile;
using ::autotm::testing::MakeTestDir;
using ::autotm::testing::RemoveTestDirIfPassed;
using ::autotm::testing::ServerProcess;
using ::autotm::testing::ServerProcessOptions;
using ::testing::HasSubstr;

constexpr char kMetricsPrefix[] = "autotm-server metrics on ";

std::string TestData(const std::string& name) {
  const char* root = std::getenv("AUTOTM_SOURCE_DIR");
  return absl::StrCat(root != nullptr ? root : ".", "/tests/testdata/", name);
}

// One scrape: the raw text and "name{labels}" -> value.
struct Scrape {
  std::string text;
  std::map<std::string, double> samples;

  // 0 for a series not present (counters not yet incremented).
  double Get(const std::string& series) const {
    auto it = samples.find(series);
    return it == samples.end() ? 0 : it->second;
  }
  // Sum over every series of `name` whose labels contain `label_part`.
  double Sum(const std::string& name, const std::string& label_part) const {
    double sum = 0;
    for (const auto& [series, value] : samples) {
      if (absl::StartsWith(series, name + "{") &&
          absl::StrContains(series, label_part)) {
        sum += value;
      }
    }
    return sum;
  }
};

class MetricsE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::string> dir = MakeTestDir("metrics");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = *dir;
    ASSERT_TRUE(
        client::ReadProtoJsonFile(TestData("example_cnn.graph.json"), &graph_)
            .ok());
    ASSERT_TRUE(client::ReadProtoJsonFile(TestData("example_cnn.profile.json"),
                                          &profile_)
                    .ok());
  }

  void TearDown() override {
    client_.reset();
    server_.reset();
    RemoveTestDirIfPassed(dir_);
  }

  absl::StatusOr<std::unique_ptr<ServerProcess>> Launch(
      const std::vector<std::string>& extra_args, const std::string& db) {
    ServerProcessOptions options;
    options.db = dir_ + "/" + db;
    options.log_path = dir_ + "/" + db + ".log";
    options.extra_args = extra_args;
    return ServerProcess::Start(options);
  }

  void StartServer() {
    absl::StatusOr<std::unique_ptr<ServerProcess>> server = Launch(
        {"--metrics-listen", "127.0.0.1:0", "--workers", "1"}, "autotm.db");
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    for (const std::string& line : server_->startup_lines()) {
      if (absl::StartsWith(line, kMetricsPrefix)) {
        const std::string address = line.substr(sizeof(kMetricsPrefix) - 1);
        ASSERT_TRUE(absl::SimpleAtoi(address.substr(address.rfind(':') + 1),
                                     &metrics_port_))
            << line;
      }
    }
    ASSERT_GT(metrics_port_, 0) << "no \"" << kMetricsPrefix << "\" line";
    ClientOptions options;
    options.address = server_->address();
    options.deadline = absl::Seconds(20);
    absl::StatusOr<std::unique_ptr<Client>> client = Client::Connect(options);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
  }

  Scrape GetMetrics() {
    Scrape scrape;
    httplib::Client http("127.0.0.1", metrics_port_);
    httplib::Result result = http.Get("/metrics");
    EXPECT_TRUE(result) << httplib::to_string(result.error());
    if (!result) return scrape;
    EXPECT_EQ(result->status, 200);
    EXPECT_EQ(result->get_header_value("Content-Type"),
              "text/plain; version=0.0.4; charset=utf-8");
    scrape.text = result->body;
    for (absl::string_view line : absl::StrSplit(result->body, '\n')) {
      if (line.empty() || line[0] == '#') continue;
      const size_t space = line.rfind(' ');
      double value = 0;
      EXPECT_NE(space, absl::string_view::npos) << line;
      if (space == absl::string_view::npos) continue;
      std::string number(line.substr(space + 1));
      if (number == "+Inf") continue;
      EXPECT_TRUE(absl::SimpleAtod(number, &value)) << line;
      scrape.samples[std::string(line.substr(0, space))] = value;
    }
    return scrape;
  }

  std::string Log() const { return server_ ? server_->ReadLog() : ""; }

  std::string dir_;
  v1::Graph graph_;
  v1::Profile profile_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<Client> client_;
  int metrics_port_ = 0;
};

TEST_F(MetricsE2ETest, EveryFamilyIsServedAndCountersMoveWithASolve) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const Scrape before = GetMetrics();
  for (const char* family :
       {"autotm_rpc_requests_total counter",
        "autotm_rpc_duration_seconds histogram", "autotm_jobs_queued gauge",
        "autotm_jobs gauge", "autotm_jobs_running gauge",
        "autotm_solves_total counter",
        "autotm_solve_duration_seconds histogram",
        "autotm_plan_cache_lookups_total counter",
        "autotm_store_size_bytes gauge", "autotm_store_graphs gauge",
        "autotm_store_plans gauge", "autotm_profile_version gauge",
        "autotm_metrics_collect_errors_total counter"}) {
    EXPECT_THAT(before.text, HasSubstr(absl::StrCat("# TYPE ", family, "\n")));
  }
  EXPECT_EQ(before.Get("autotm_store_graphs"), 0);
  EXPECT_EQ(before.Sum("autotm_solves_total", ""), 0);
  EXPECT_GT(before.Get("autotm_store_size_bytes"), 0);

  ASSERT_TRUE(client_->UploadProfile(profile_).ok()) << Log();
  const std::string host = profile_.host_class().name();
  const uint64_t budget = MustGraph(graph_).PeakLiveBytes() / 2;
  Client::PlanOptions lookup;
  lookup.solve_if_missing = false;
  EXPECT_EQ(client_->GetPlan(graph_, host, budget, lookup).status().code(),
            absl::StatusCode::kNotFound);
  Client::PlanOptions solve;
  solve.parameters.set_method(v1::METHOD_SYNCHRONOUS);
  solve.parameters.set_time_limit_seconds(5);
  solve.deadline = absl::Seconds(60);
  absl::StatusOr<v1::Plan> first =
      client_->GetPlan(graph_, host, budget, solve);
  ASSERT_TRUE(first.ok()) << first.status() << Log();
  absl::StatusOr<v1::Plan> again =
      client_->GetPlan(graph_, host, budget, solve);
  ASSERT_TRUE(again.ok()) << again.status();

  const Scrape after = GetMetrics();
  // RPCs by method and code, with latency.
  const std::string plan_graph_ok =
      "{method=\"/autotm.v1.PlacementService/PlanGraph\",code=\"OK\"}";
  EXPECT_EQ(after.Get("autotm_rpc_requests_total" + plan_graph_ok), 2)
      << after.text;
  EXPECT_EQ(after.Get("autotm_rpc_duration_seconds_count" + plan_graph_ok), 2);
  EXPECT_GT(after.Get("autotm_rpc_duration_seconds_sum" + plan_graph_ok), 0);
  EXPECT_EQ(after.Get("autotm_rpc_requests_total{method=\"/autotm.v1."
                      "PlacementService/GetPlan\",code=\"NOT_FOUND\"}"),
            1);
  EXPECT_EQ(after.Get("autotm_rpc_requests_total{method=\"/autotm.v1."
                      "ProfileService/ImportProfile\",code=\"OK\"}"),
            1);
  // One solve of the synchronous variant, with its termination and time.
  EXPECT_EQ(after.Sum("autotm_solves_total", "variant=\"synchronous\""), 1)
      << after.text;
  EXPECT_EQ(
      after.Get(absl::StrCat(
          "autotm_solves_total{variant=\"synchronous\",termination=\"",
          absl::StripPrefix(v1::Termination_Name(first->stats().termination()),
                            "TERMINATION_"),
          "\"}")),
      1);
  EXPECT_EQ(after.Get("autotm_solve_duration_seconds_count{variant="
                      "\"synchronous\"}"),
            1);
  // Cache: GetPlan and the first PlanGraph missed — that one twice, as
  // GetPlan asks by digest first and the server did not have the graph yet
  // (NOT_FOUND, then again with the graph) —, the second hit; the runner
  // missed once (its one budget).
  EXPECT_EQ(after.Get("autotm_rpc_requests_total{method=\"/autotm.v1."
                      "PlacementService/PlanGraph\",code=\"NOT_FOUND\"}"),
            1);
  EXPECT_EQ(after.Get("autotm_plan_cache_lookups_total{lookup=\"rpc\","
                      "result=\"miss\"}"),
            3);
  EXPECT_EQ(after.Get("autotm_plan_cache_lookups_total{lookup=\"rpc\","
                      "result=\"hit\"}"),
            1);
  EXPECT_EQ(after.Get("autotm_plan_cache_lookups_total{lookup=\"job\","
                      "result=\"miss\"}"),
            1);
  // Store and profile gauges.
  EXPECT_EQ(after.Get("autotm_jobs{state=\"succeeded\"}"), 1);
  EXPECT_EQ(after.Get("autotm_jobs_running"), 0);
  EXPECT_EQ(after.Get("autotm_store_graphs"), 1);
  EXPECT_GE(after.Get("autotm_store_plans"), 1);
  EXPECT_GE(after.Get("autotm_store_size_bytes"),
            before.Get("autotm_store_size_bytes"));
  EXPECT_GE(after.Get(absl::StrCat("autotm_profile_version{host_class=\"", host,
                                   "\"}")),
            1);
  EXPECT_EQ(after.Sum("autotm_metrics_collect_errors_total", ""), 0);
}

TEST_F(MetricsE2ETest, QueueDepthByPriorityAndRunningJobs) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  ASSERT_TRUE(client_->UploadProfile(LongSolveProfile()).ok()) << Log();
  // One worker slot: one job runs (the long solve, until its 60 s limit;
  // which one depends on when the slot wakes), the others wait at their
  // priorities. The budgets differ by pages only (distinct jobs; the
  // graph's sizes are whole MiB, so the same model).
  std::vector<std::string> ids;
  std::map<std::string, int> priority_of;
  for (auto [pages, priority] : {std::pair{0, 0}, {1, 3}, {2, 3}, {3, -2}}) {
    v1::CreateSolveJobRequest request = LongSolveJob(
        /*time_limit_seconds=*/60, LongSolveBudget() + pages * 4096);
    request.set_priority(priority);
    absl::StatusOr<v1::SolveJob> job = client_->CreateSolveJob(request);
    ASSERT_TRUE(job.ok()) << job.status();
    ids.push_back(job->id());
    priority_of[job->id()] = priority;
  }
  Scrape scrape;
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  do {
    scrape = GetMetrics();
    if (scrape.Get("autotm_jobs_running") == 1) break;
    absl::SleepFor(absl::Milliseconds(50));
  } while (absl::Now() < deadline);
  // The running job cannot finish within its 60 s limit and the others
  // cannot start (one slot), so the states read now are those scraped.
  std::map<std::string, double> expected_queued;
  int running = 0;
  for (const std::string& id : ids) {
    absl::StatusOr<v1::SolveJob> job = client_->GetSolveJob(id);
    ASSERT_TRUE(job.ok()) << job.status();
    if (job->state() == v1::SolveJob::QUEUED) {
      expected_queued[absl::StrCat(priority_of[id])] += 1;
    } else if (job->state() == v1::SolveJob::RUNNING) {
      ++running;
    }
  }
  ASSERT_EQ(running, 1);
  EXPECT_EQ(scrape.Get("autotm_jobs_running"), 1) << scrape.text;
  // autotm_jobs_queued{priority="P"} for exactly the priorities queued.
  std::map<std::string, double> queued;
  constexpr absl::string_view kQueued = "autotm_jobs_queued{priority=\"";
  for (const auto& [series, value] : scrape.samples) {
    absl::string_view name = series;
    if (absl::ConsumePrefix(&name, kQueued) &&
        absl::ConsumeSuffix(&name, "\"}")) {
      queued[std::string(name)] = value;
    }
  }
  EXPECT_EQ(queued, expected_queued) << scrape.text;
  EXPECT_EQ(queued.size(), expected_queued.size());
  EXPECT_EQ(scrape.Get("autotm_jobs{state=\"queued\"}"), 3);

  for (const std::string& id : ids) {
    ASSERT_TRUE(client_->CancelSolveJob(id).ok());
  }
}

// Method names come from the client: one the server does not serve must
// not become a series of its own (a client could make unbounded series);
// such calls count under method="other".
TEST_F(MetricsE2ETest, UnknownMethodsCountAsOther) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  std::shared_ptr<grpc::Channel> channel = grpc::CreateChannel(
      server_->address(), grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  for (int i = 0; i < 3; ++i) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    grpc::CompletionQueue queue;
    grpc::Slice slice("x", 1);
    grpc::ByteBuffer request(&slice, 1);
    grpc::ByteBuffer response;
    grpc::Status status;
    std::unique_ptr<grpc::GenericClientAsyncResponseReader> call =
        stub.PrepareUnaryCall(&context, absl::StrCat("/autotm.v1.Nope/Nope", i),
                              request, &queue);
    call->StartCall();
    call->Finish(&response, &status, reinterpret_cast<void*>(1));
    void* tag = nullptr;
    bool ok = false;
    ASSERT_TRUE(queue.Next(&tag, &ok));
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED)
        << status.error_message();
    queue.Shutdown();
    while (queue.Next(&tag, &ok)) {
    }
  }
  ASSERT_TRUE(client_->Health().ok());
  const Scrape scrape = GetMetrics();
  EXPECT_FALSE(absl::StrContains(scrape.text, "Nope")) << scrape.text;
  EXPECT_EQ(scrape.Get("autotm_rpc_requests_total{method=\"other\","
                       "code=\"UNIMPLEMENTED\"}"),
            3)
      << scrape.text;
  EXPECT_EQ(scrape.Get("autotm_rpc_requests_total{method=\"/grpc.health.v1."
                       "Health/Check\",code=\"OK\"}"),
            1)
      << scrape.text;
}

TEST_F(MetricsE2ETest, RefusesARemoteMetricsAddressUnlessAllowed) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> refused =
      Launch({"--metrics-listen", "0.0.0.0:0"}, "refused.db");
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("--metrics-allow-remote"));

  absl::StatusOr<std::unique_ptr<ServerProcess>> allowed = Launch(
      {"--metrics-listen", "0.0.0.0:0", "--metrics-allow-remote"}, "ok.db");
  ASSERT_TRUE(allowed.ok()) << allowed.status();
  EXPECT_EQ((*allowed)->Terminate().value_or(-1), 0);
}

TEST_F(MetricsE2ETest, AMetricsPortInUseStopsTheStart) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  absl::StatusOr<std::unique_ptr<ServerProcess>> second =
      Launch({"--metrics-listen", absl::StrCat("127.0.0.1:", metrics_port_)},
             "second.db");
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(std::string(second.status().message()),
              HasSubstr("cannot serve metrics"));
}

}  // namespace
}  // namespace autotm
