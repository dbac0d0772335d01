// End to end: concurrent clients against the real autotm-server (a child
// process on 127.0.0.1:0 with a temporary SQLite file). Planners asking for
// the same and for different budgets at once, while others upload profiles,
// all succeed; every plan verifies against the graph and the exported
// profile; identical inputs give byte-identical plans; concurrent uploads of
// the same measurement ids store each once.
//
// Every call has a bounded deadline (ClientOptions::deadline, the PlanGraph
// deadline), so a hung server fails the test instead of hanging it.

#include <stdlib.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <latch>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "autotm/v1/plan.pb.h"
#include "autotm/v1/profile.pb.h"
#include "autotm/v1/profile_service.pb.h"
#include "client/common/proto_json.h"
#include "client/lib/client.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "gtest/gtest.h"
#include "solver/allocator.h"
#include "solver/graph_model.h"
#include "solver/profile_model.h"
#include "solver/verifier.h"
#include "tests/e2e/server_process.h"

namespace autotm {
namespace {

using ::autotm::testing::ServerProcess;
using ::autotm::testing::ServerProcessOptions;

// Bounds every PlanGraph call: the example CNN solves in seconds.
constexpr absl::Duration kPlanDeadline = absl::Seconds(120);

std::string TestData(const std::string& name) {
  const char* root = std::getenv("AUTOTM_SOURCE_DIR");
  return absl::StrCat(root != nullptr ? root : ".", "/tests/testdata/", name);
}

// The plan's bytes, serialized deterministically.
std::string Bytes(const google::protobuf::Message& message) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }
  return bytes;
}

// `count` measurements of generated signatures, ids "<prefix>/<n>".
v1::UploadMeasurementsRequest GeneratedBatch(const std::string& host_class,
                                             const std::string& prefix,
                                             int first, int count) {
  v1::UploadMeasurementsRequest request;
  request.mutable_host_class()->set_name(host_class);
  request.mutable_host_class()->set_fingerprint("concurrency_test");
  v1::CopyBandwidths* bandwidths = request.mutable_bandwidths();
  bandwidths->set_slow_to_fast_sync_gb_per_s(29);
  bandwidths->set_fast_to_slow_sync_gb_per_s(12);
  bandwidths->set_slow_to_fast_async_gb_per_s(2);
  bandwidths->set_fast_to_slow_async_gb_per_s(2.5);
  for (int n = first; n < first + count; ++n) {
    v1::MeasurementEntry* entry = request.add_entries();
    v1::KernelSignature* signature = entry->mutable_signature();
    signature->set_op("relu_fwd");
    for (v1::OperandSpec* operand :
         {signature->add_inputs(), signature->add_outputs()}) {
      operand->add_dims(1 + n / 4);
      operand->add_dims(64);
      operand->set_dtype(v1::DATA_TYPE_F32);
    }
    static constexpr const char* kConfigs[] = {"F|F", "S|F", "F|S", "S|S"};
    entry->set_config(kConfigs[n % 4]);
    entry->set_time_us(5.0 + n % 4 + 0.001 * n);
    entry->set_measurement_id(absl::StrCat(prefix, "/", n));
  }
  return request;
}

class ConcurrencyE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir_template =
        (std::filesystem::temp_directory_path() / "autotm_conc_XXXXXX")
            .string();
    ASSERT_NE(::mkdtemp(dir_template.data()), nullptr);
    dir_ = dir_template;
    ASSERT_TRUE(
        client::ReadProtoJsonFile(TestData("example_cnn.graph.json"), &graph_)
            .ok());
    ASSERT_TRUE(client::ReadProtoJsonFile(TestData("example_cnn.profile.json"),
                                          &profile_)
                    .ok())
        << "is AUTOTM_SOURCE_DIR set?";
    absl::StatusOr<solver::GraphModel> model =
        solver::GraphModel::Create(graph_);
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = std::make_unique<solver::GraphModel>(*std::move(model));
    peak_ =
        solver::AlignedPeakLiveBytes(*model_, solver::kDefaultAlignmentBytes);

    ServerProcessOptions options;
    options.db = dir_ + "/autotm.db";
    options.log_path = dir_ + "/server.log";
    options.extra_args = {"--workers", "2"};
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        ServerProcess::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    absl::StatusOr<std::unique_ptr<Client>> client = NewClient();
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
    absl::StatusOr<v1::UploadMeasurementsResponse> imported =
        client_->UploadProfile(profile_);
    ASSERT_TRUE(imported.ok()) << imported.status() << Log();
    version_ = imported->profile_version();
  }

  void TearDown() override {
    client_.reset();
    if (server_ != nullptr && server_->running()) {
      absl::StatusOr<int> code = server_->Terminate();
      EXPECT_TRUE(code.ok()) << code.status();
      if (code.ok()) {
        EXPECT_EQ(*code, 0) << Log();
      }
    }
    server_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  absl::StatusOr<std::unique_ptr<Client>> NewClient() {
    ClientOptions options;
    options.address = server_->address();
    options.deadline = absl::Seconds(30);
    return Client::Connect(options);
  }

  // Budget `percent`% of the graph's aligned peak live bytes.
  uint64_t Budget(int percent) const { return peak_ * percent / 100; }

  // Verifies `plan` against the graph and `host_class`'s exported profile.
  void ExpectVerifies(const v1::Plan& plan, const std::string& host_class,
                      uint64_t budget) {
    absl::StatusOr<v1::Profile> exported = client_->ExportProfile(host_class);
    ASSERT_TRUE(exported.ok()) << exported.status();
    absl::StatusOr<solver::ProfileModel> profile =
        solver::ProfileModel::Create(*exported);
    ASSERT_TRUE(profile.ok()) << profile.status();
    EXPECT_EQ(plan.budget_bytes(), budget);
    absl::StatusOr<solver::VerifyReport> report =
        solver::VerifyPlan(*model_, *profile, plan, budget);
    EXPECT_TRUE(report.ok())
        << host_class << " at " << budget << " bytes: " << report.status();
    if (report.ok()) {
      EXPECT_LE(report->peak_fast_bytes, budget);
    }
  }

  std::string Log() const {
    return server_ != nullptr ? "\nserver log:\n" + server_->ReadLog() : "";
  }

  std::string dir_;
  v1::Graph graph_;
  v1::Profile profile_;
  std::unique_ptr<solver::GraphModel> model_;
  uint64_t peak_ = 0;
  uint64_t version_ = 0;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<Client> client_;
};

// 8 threads at once: 5 planners over three budgets (each its own Client:
// PlanGraph, then the GetPlan RPC on the same key, which must be a hit), one
// planner on a copy of the profile imported under another host class while
// the others run, one uploader of fresh measurements to a third host class,
// and one re-importer of the planned profile (idempotent: nothing accepted,
// version unchanged, so the planners' cache key does not move).
TEST_F(ConcurrencyE2ETest, PlannersAndUploadersAtOnce) {
  const std::vector<int> percents = {50, 65, 80};
  const std::string& host_class = profile_.host_class().name();
  v1::Profile copy = profile_;
  copy.mutable_host_class()->set_name("example-copy");

  struct Result {
    std::string who;
    std::string host_class;
    uint64_t budget = 0;
    v1::Plan plan;
  };
  std::mutex mu;
  std::vector<Result> results;
  std::vector<std::string> failures;
  auto fail = [&](const std::string& what) {
    std::lock_guard<std::mutex> lock(mu);
    failures.push_back(what);
  };
  auto keep = [&](Result result) {
    std::lock_guard<std::mutex> lock(mu);
    results.push_back(std::move(result));
  };
  constexpr int kThreads = 8;
  constexpr int kUploadBatches = 20;
  constexpr int kUploadBatchSize = 200;
  std::latch start(kThreads);
  std::vector<std::thread> threads;

  for (int t = 0; t < 5; ++t) {
    threads.emplace_back([&, t] {
      const uint64_t budget = Budget(percents[t % percents.size()]);
      const std::string who = absl::StrCat("planner ", t);
      absl::StatusOr<std::unique_ptr<Client>> client = NewClient();
      start.arrive_and_wait();
      if (!client.ok()) return fail(client.status().ToString());
      Client::PlanOptions options;
      options.deadline = kPlanDeadline;
      absl::StatusOr<v1::Plan> plan =
          (*client)->GetPlan(graph_, host_class, budget, options);
      if (!plan.ok()) return fail(who + ": " + plan.status().ToString());
      keep({who, host_class, budget, *plan});
      v1::GetPlanRequest lookup;
      *lookup.mutable_graph()->mutable_inline_graph() = graph_;
      lookup.set_host_class(host_class);
      lookup.set_budget_bytes(budget);
      absl::StatusOr<v1::Plan> hit = (*client)->LookupPlan(lookup);
      if (!hit.ok()) return fail(who + " lookup: " + hit.status().ToString());
      keep({who + " lookup", host_class, budget, *hit});
    });
  }
  threads.emplace_back([&] {  // imports a copy, then plans on it
    const std::string who = "copy planner";
    absl::StatusOr<std::unique_ptr<Client>> client = NewClient();
    start.arrive_and_wait();
    if (!client.ok()) return fail(client.status().ToString());
    absl::StatusOr<v1::UploadMeasurementsResponse> imported =
        (*client)->UploadProfile(copy);
    if (!imported.ok()) return fail(who + ": " + imported.status().ToString());
    Client::PlanOptions options;
    options.deadline = kPlanDeadline;
    absl::StatusOr<v1::Plan> plan =
        (*client)->GetPlan(graph_, "example-copy", Budget(50), options);
    if (!plan.ok()) return fail(who + ": " + plan.status().ToString());
    keep({who, "example-copy", Budget(50), *plan});
  });
  threads.emplace_back([&] {  // fresh measurements, batch after batch
    absl::StatusOr<std::unique_ptr<Client>> client = NewClient();
    start.arrive_and_wait();
    if (!client.ok()) return fail(client.status().ToString());
    for (int b = 0; b < kUploadBatches; ++b) {
      absl::StatusOr<v1::UploadMeasurementsResponse> response =
          (*client)->UploadMeasurements(GeneratedBatch(
              "uploads", "u", b * kUploadBatchSize, kUploadBatchSize));
      if (!response.ok()) {
        return fail("uploader: " + response.status().ToString());
      }
      if (response->accepted() != kUploadBatchSize) {
        return fail(absl::StrCat("uploader: batch ", b, " accepted ",
                                 response->accepted()));
      }
    }
  });
  threads.emplace_back([&] {  // re-imports the planned profile
    absl::StatusOr<std::unique_ptr<Client>> client = NewClient();
    start.arrive_and_wait();
    if (!client.ok()) return fail(client.status().ToString());
    for (int i = 0; i < 5; ++i) {
      absl::StatusOr<v1::UploadMeasurementsResponse> response =
          (*client)->UploadProfile(profile_);
      if (!response.ok()) {
        return fail("re-importer: " + response.status().ToString());
      }
      if (response->accepted() != 0 ||
          response->profile_version() != version_) {
        return fail(absl::StrCat("re-importer: accepted ", response->accepted(),
                                 ", version ", response->profile_version(),
                                 " (was ", version_, ")"));
      }
    }
  });
  ASSERT_EQ(threads.size(), static_cast<size_t>(kThreads));
  for (std::thread& thread : threads) thread.join();

  EXPECT_TRUE(failures.empty()) << ::testing::PrintToString(failures) << Log();
  ASSERT_EQ(results.size(), 5u * 2 + 1);

  // Every plan is valid; identical inputs give byte-identical plans.
  std::map<std::pair<std::string, uint64_t>, std::string> bytes_by_key;
  for (const Result& result : results) {
    SCOPED_TRACE(result.who);
    ExpectVerifies(result.plan, result.host_class, result.budget);
    const std::string bytes = Bytes(result.plan);
    auto [it, inserted] = bytes_by_key.emplace(
        std::pair(result.host_class, result.budget), bytes);
    if (!inserted) {
      EXPECT_EQ(it->second, bytes) << "plans differ";
    }
  }
  EXPECT_EQ(bytes_by_key.size(), percents.size() + 1);

  // The uploads all landed; the planned profile never changed.
  absl::StatusOr<v1::HostClassSummary> uploads =
      client_->GetHostClass("uploads");
  ASSERT_TRUE(uploads.ok()) << uploads.status();
  EXPECT_EQ(uploads->measurements(),
            static_cast<uint64_t>(kUploadBatches * kUploadBatchSize));
  absl::StatusOr<v1::HostClassSummary> planned =
      client_->GetHostClass(host_class);
  ASSERT_TRUE(planned.ok()) << planned.status();
  EXPECT_EQ(planned->profile_version(), version_);

  // No solve failed.
  for (v1::SolveJob::State state :
       {v1::SolveJob::FAILED, v1::SolveJob::CANCELLED}) {
    v1::ListSolveJobsRequest request;
    request.set_state(state);
    absl::StatusOr<v1::ListSolveJobsResponse> jobs =
        client_->ListSolveJobs(request);
    ASSERT_TRUE(jobs.ok()) << jobs.status();
    EXPECT_EQ(jobs->jobs_size(), 0) << v1::SolveJob::State_Name(state) << ": "
                                    << jobs->jobs(0).ShortDebugString();
  }
}

// 8 callers ask for the same uncached plan at the same instant, then 8 x 20
// cache hits: every answer is the same bytes and verifies.
TEST_F(ConcurrencyE2ETest, SameKeyFromEightCallersAtOnce) {
  const std::string& host_class = profile_.host_class().name();
  const uint64_t budget = Budget(40);
  constexpr int kThreads = 8;
  constexpr int kHits = 20;
  std::vector<std::string> first(kThreads);
  std::vector<std::vector<std::string>> hits(kThreads);
  std::vector<absl::Status> errors(kThreads);
  v1::Plan sample;
  std::mutex mu;
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      Client::PlanOptions options;
      options.deadline = kPlanDeadline;
      absl::StatusOr<v1::Plan> plan =
          client_->GetPlan(graph_, host_class, budget, options);
      if (!plan.ok()) {
        errors[t] = plan.status();
        return;
      }
      first[t] = Bytes(*plan);
      if (t == 0) {
        std::lock_guard<std::mutex> lock(mu);
        sample = *plan;
      }
      for (int i = 0; i < kHits; ++i) {
        absl::StatusOr<v1::Plan> hit =
            client_->GetPlan(graph_, host_class, budget, options);
        if (!hit.ok()) {
          errors[t] = hit.status();
          return;
        }
        hits[t].push_back(Bytes(*hit));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  for (int t = 0; t < kThreads; ++t) {
    ASSERT_TRUE(errors[t].ok()) << "caller " << t << ": " << errors[t] << Log();
  }
  ExpectVerifies(sample, host_class, budget);
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(first[t], first[0]) << "caller " << t;
    ASSERT_EQ(hits[t].size(), static_cast<size_t>(kHits));
    for (const std::string& bytes : hits[t]) EXPECT_EQ(bytes, first[0]);
  }
}

// 4 clients upload the same 5 batches at once into a new host class: each
// measurement is stored once, the rest are duplicates, and no call fails
// (the first-use creation of the host class included).
TEST_F(ConcurrencyE2ETest, ConcurrentIdenticalUploadsStoreEachMeasurementOnce) {
  constexpr int kThreads = 4;
  constexpr int kBatches = 5;
  constexpr int kBatchSize = 100;
  std::vector<uint64_t> accepted(kThreads, 0), duplicates(kThreads, 0);
  std::vector<absl::Status> errors(kThreads);
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      absl::StatusOr<std::unique_ptr<Client>> client = NewClient();
      start.arrive_and_wait();
      if (!client.ok()) {
        errors[t] = client.status();
        return;
      }
      for (int b = 0; b < kBatches; ++b) {
        absl::StatusOr<v1::UploadMeasurementsResponse> response =
            (*client)->UploadMeasurements(
                GeneratedBatch("race", "r", b * kBatchSize, kBatchSize));
        if (!response.ok()) {
          errors[t] = response.status();
          return;
        }
        accepted[t] += response->accepted();
        duplicates[t] += response->duplicates();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  uint64_t total_accepted = 0, total_duplicates = 0;
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_TRUE(errors[t].ok()) << "client " << t << ": " << errors[t] << Log();
    total_accepted += accepted[t];
    total_duplicates += duplicates[t];
  }
  EXPECT_EQ(total_accepted, uint64_t{kBatches * kBatchSize});
  EXPECT_EQ(total_duplicates, uint64_t{(kThreads - 1) * kBatches * kBatchSize});
  absl::StatusOr<v1::HostClassSummary> race = client_->GetHostClass("race");
  ASSERT_TRUE(race.ok()) << race.status();
  EXPECT_EQ(race->measurements(), uint64_t{kBatches * kBatchSize});
}

}  // namespace
}  // namespace autotm
