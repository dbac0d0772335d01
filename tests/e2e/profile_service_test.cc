// End to end: the real autotm-server (a child process on 127.0.0.1:0 with a
// temporary SQLite file) and the real autotm::Client, through the
// ProfileService and the health service.

#include <stdlib.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "autotm/v1/profile.pb.h"
#include "autotm/v1/profile_service.pb.h"
#include "client/common/proto_json.h"
#include "client/lib/client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solver/signature.h"
#include "tests/e2e/server_process.h"

namespace autotm {
namespace {

using ::autotm::testing::ServerProcess;
using ::autotm::testing::ServerProcessOptions;
using ::testing::HasSubstr;

// signature key -> config -> time_us.
using ProfileTable = std::map<std::string, std::map<std::string, double>>;

ProfileTable Table(const v1::Profile& profile) {
  ProfileTable table;
  for (const v1::KernelProfile& kernel : profile.kernels()) {
    auto& configs = table[solver::SignatureKey(kernel.signature())];
    for (const v1::ConfigTiming& timing : kernel.configs()) {
      configs[timing.config()] = timing.time_us();
    }
  }
  return table;
}

size_t CountConfigs(const v1::Profile& profile) {
  size_t n = 0;
  for (const v1::KernelProfile& kernel : profile.kernels()) {
    n += kernel.configs_size();
  }
  return n;
}

v1::Profile ExampleProfile() {
  const char* source_dir = std::getenv("AUTOTM_SOURCE_DIR");
  const std::string path =
      absl::StrCat(source_dir != nullptr ? source_dir : ".",
                   "/tests/testdata/example_cnn.profile.json");
  v1::Profile profile;
  const absl::Status read = client::ReadProtoJsonFile(path, &profile);
  EXPECT_TRUE(read.ok()) << read << " (is AUTOTM_SOURCE_DIR set?)";
  return profile;
}

v1::MeasurementEntry Entry(const v1::KernelSignature& signature,
                           const std::string& config, double time_us,
                           const std::string& id) {
  v1::MeasurementEntry entry;
  *entry.mutable_signature() = signature;
  entry.set_config(config);
  entry.set_time_us(time_us);
  entry.set_measurement_id(id);
  return entry;
}

class ProfileServiceE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir_template =
        (std::filesystem::temp_directory_path() / "autotm_e2e_XXXXXX").string();
    ASSERT_NE(::mkdtemp(dir_template.data()), nullptr);
    dir_ = dir_template;
    profile_ = ExampleProfile();
    ASSERT_GT(profile_.kernels_size(), 0);
    ASSERT_NO_FATAL_FAILURE(StartServer());
  }

  void TearDown() override {
    client_.reset();
    server_.reset();  // SIGKILLs a server still running
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  void StartServer() {
    ServerProcessOptions options;
    options.db = dir_ + "/autotm.db";
    options.log_path = dir_ + "/server.log";
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        ServerProcess::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ClientOptions client_options;
    client_options.address = server_->address();
    client_options.deadline = absl::Seconds(20);
    absl::StatusOr<std::unique_ptr<Client>> client =
        Client::Connect(client_options);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
  }

  // The server log, for failure messages.
  std::string Log() const { return server_ ? server_->ReadLog() : ""; }

  const std::string& name() const { return profile_.host_class().name(); }

  std::string dir_;
  v1::Profile profile_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<Client> client_;
};

TEST_F(ProfileServiceE2ETest, ImportListExportAndIdempotentReimport) {
  const size_t configs = CountConfigs(profile_);
  absl::StatusOr<v1::UploadMeasurementsResponse> first =
      client_->UploadProfile(profile_);
  ASSERT_TRUE(first.ok()) << first.status() << Log();
  EXPECT_EQ(first->accepted(), configs);
  EXPECT_EQ(first->duplicates(), 0u);
  EXPECT_GT(first->profile_version(), 0u);

  absl::StatusOr<v1::ListHostClassesResponse> list = client_->ListHostClasses();
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->host_classes_size(), 1);
  const v1::HostClassSummary& summary = list->host_classes(0);
  EXPECT_EQ(summary.host_class().name(), name());
  EXPECT_EQ(summary.host_class().fingerprint(),
            profile_.host_class().fingerprint());
  EXPECT_EQ(summary.profile_version(), first->profile_version());
  EXPECT_EQ(summary.signatures(),
            static_cast<uint64_t>(profile_.kernels_size()));
  EXPECT_EQ(summary.configs(), configs);
  EXPECT_EQ(summary.measurements(), configs);

  // One measurement per configuration: the medians are the imported times.
  absl::StatusOr<v1::Profile> exported = client_->ExportProfile(name());
  ASSERT_TRUE(exported.ok()) << exported.status();
  EXPECT_EQ(exported->host_class().SerializeAsString(),
            profile_.host_class().SerializeAsString());
  EXPECT_EQ(exported->bandwidths().SerializeAsString(),
            profile_.bandwidths().SerializeAsString());
  EXPECT_EQ(Table(*exported), Table(profile_));

  // Importing the same profile again changes nothing.
  absl::StatusOr<v1::UploadMeasurementsResponse> again =
      client_->UploadProfile(profile_);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->accepted(), 0u);
  EXPECT_EQ(again->duplicates(), configs);
  EXPECT_EQ(again->profile_version(), first->profile_version());
  absl::StatusOr<v1::HostClassSummary> after = client_->GetHostClass(name());
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->profile_version(), first->profile_version());
  EXPECT_EQ(after->measurements(), configs);

  // The exported profile is itself importable and, being equal, is a no-op.
  absl::StatusOr<v1::UploadMeasurementsResponse> round_trip =
      client_->UploadProfile(*exported);
  ASSERT_TRUE(round_trip.ok()) << round_trip.status();
  EXPECT_EQ(round_trip->accepted(), 0u);
  EXPECT_EQ(round_trip->profile_version(), first->profile_version());
}

TEST_F(ProfileServiceE2ETest, ServesTheMedianOfSeveralMeasurements) {
  absl::StatusOr<v1::UploadMeasurementsResponse> imported =
      client_->UploadProfile(profile_);
  ASSERT_TRUE(imported.ok()) << imported.status() << Log();
  const v1::KernelProfile& kernel = profile_.kernels(0);
  ASSERT_GT(kernel.configs_size(), 0);
  const std::string config = kernel.configs(0).config();
  const double t = kernel.configs(0).time_us();
  const std::string key = solver::SignatureKey(kernel.signature());

  // {t, 5t, 7t}: the median is 5t, not the last value written.
  v1::UploadMeasurementsRequest request;
  *request.mutable_host_class() = profile_.host_class();
  *request.add_entries() = Entry(kernel.signature(), config, 5 * t, "a/1/0");
  *request.add_entries() = Entry(kernel.signature(), config, 7 * t, "a/1/1");
  absl::StatusOr<v1::UploadMeasurementsResponse> uploaded =
      client_->UploadMeasurements(request);
  ASSERT_TRUE(uploaded.ok()) << uploaded.status();
  EXPECT_EQ(uploaded->accepted(), 2u);
  EXPECT_EQ(uploaded->duplicates(), 0u);
  EXPECT_GT(uploaded->profile_version(), imported->profile_version());
  absl::StatusOr<v1::Profile> exported = client_->ExportProfile(name());
  ASSERT_TRUE(exported.ok()) << exported.status();
  EXPECT_DOUBLE_EQ(Table(*exported)[key][config], 5 * t);
  absl::StatusOr<v1::HostClassSummary> summary = client_->GetHostClass(name());
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->measurements(), CountConfigs(profile_) + 2);

  // Re-sending the same ids is a no-op.
  absl::StatusOr<v1::UploadMeasurementsResponse> resent =
      client_->UploadMeasurements(request);
  ASSERT_TRUE(resent.ok()) << resent.status();
  EXPECT_EQ(resent->accepted(), 0u);
  EXPECT_EQ(resent->duplicates(), 2u);
  EXPECT_EQ(resent->profile_version(), uploaded->profile_version());

  // {0.5t, t, 5t, 7t}: an even count serves the lower median, t.
  v1::UploadMeasurementsRequest fourth;
  *fourth.mutable_host_class() = profile_.host_class();
  *fourth.add_entries() = Entry(kernel.signature(), config, 0.5 * t, "a/2/0");
  ASSERT_TRUE(client_->UploadMeasurements(fourth).ok());
  exported = client_->ExportProfile(name());
  ASSERT_TRUE(exported.ok()) << exported.status();
  EXPECT_DOUBLE_EQ(Table(*exported)[key][config], t);
}

TEST_F(ProfileServiceE2ETest, StreamAppliesBatchesAndStopsAtTheFirstBadOne) {
  ASSERT_TRUE(client_->UploadProfile(profile_).ok()) << Log();
  const v1::KernelProfile& kernel = profile_.kernels(0);
  const std::string config = kernel.configs(0).config();
  std::vector<v1::UploadMeasurementsRequest> batches(3);
  for (int b = 0; b < 3; ++b) {
    *batches[b].mutable_host_class() = profile_.host_class();
    for (int i = 0; i < 4; ++i) {
      *batches[b].add_entries() = Entry(kernel.signature(), config, 100 + i,
                                        absl::StrCat("s/", b, "/", i));
    }
  }
  absl::StatusOr<v1::UploadMeasurementsResponse> streamed =
      client_->StreamMeasurements(batches);
  ASSERT_TRUE(streamed.ok()) << streamed.status() << Log();
  EXPECT_EQ(streamed->accepted(), 12u);
  EXPECT_EQ(streamed->duplicates(), 0u);

  // A malformed configuration in the second batch: INVALID_ARGUMENT naming
  // the entry; the first (new) batch stays stored.
  std::vector<v1::UploadMeasurementsRequest> bad(2);
  for (int b = 0; b < 2; ++b)
    *bad[b].mutable_host_class() = profile_.host_class();
  *bad[0].add_entries() = Entry(kernel.signature(), config, 101.5, "t/0");
  *bad[1].add_entries() = Entry(kernel.signature(), "Q", 1, "t/1");
  absl::StatusOr<v1::UploadMeasurementsResponse> failed =
      client_->StreamMeasurements(bad);
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kInvalidArgument)
      << failed.status();
  EXPECT_THAT(failed.status().message(), HasSubstr("entries[0]"));
  absl::StatusOr<v1::HostClassSummary> summary = client_->GetHostClass(name());
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->measurements(), CountConfigs(profile_) + 12 + 1);
}

TEST_F(ProfileServiceE2ETest, DocumentedErrorCodes) {
  ASSERT_TRUE(client_->UploadProfile(profile_).ok()) << Log();
  const v1::KernelSignature& signature = profile_.kernels(0).signature();
  const std::string config = profile_.kernels(0).configs(0).config();

  // The same host class with another fingerprint never mixes.
  v1::Profile other = profile_;
  other.mutable_host_class()->set_fingerprint("another machine");
  absl::StatusOr<v1::UploadMeasurementsResponse> conflict =
      client_->UploadProfile(other);
  EXPECT_EQ(conflict.status().code(), absl::StatusCode::kFailedPrecondition)
      << conflict.status();
  EXPECT_THAT(conflict.status().message(), HasSubstr("fingerprint"));

  // Unknown host classes.
  EXPECT_EQ(client_->GetHostClass("no-such-host").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(client_->ExportProfile("no-such-host").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(client_->DeleteHostClass("no-such-host").code(),
            absl::StatusCode::kNotFound);

  // Empty names.
  v1::Profile unnamed = profile_;
  unnamed.mutable_host_class()->clear_name();
  absl::StatusOr<v1::UploadMeasurementsResponse> no_name =
      client_->UploadProfile(unnamed);
  EXPECT_EQ(no_name.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(no_name.status().message(), HasSubstr("name"));
  EXPECT_EQ(client_->GetHostClass("").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(client_->ExportProfile("").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(client_->DeleteHostClass("").code(),
            absl::StatusCode::kInvalidArgument);

  // Bad measurements, each named by entry index.
  struct BadEntry {
    const char* what;
    v1::MeasurementEntry entry;
    const char* message;
  };
  v1::MeasurementEntry no_op = Entry(signature, config, 1, "x/0");
  no_op.mutable_signature()->clear_op();
  const BadEntry bad_entries[] = {
      {"negative time", Entry(signature, config, -1, "x/1"), "time_us"},
      {"NaN time", Entry(signature, config, std::nan(""), "x/2"), "time_us"},
      {"malformed config", Entry(signature, "FX|F", 1, "x/3"), "entries[1]"},
      {"signature without op", no_op, "signature.op"},
  };
  for (const BadEntry& bad : bad_entries) {
    v1::UploadMeasurementsRequest request;
    *request.mutable_host_class() = profile_.host_class();
    *request.add_entries() = Entry(signature, config, 1, "ok/0");
    *request.add_entries() = bad.entry;
    absl::StatusOr<v1::UploadMeasurementsResponse> result =
        client_->UploadMeasurements(request);
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument)
        << bad.what << ": " << result.status();
    EXPECT_THAT(result.status().message(), HasSubstr(bad.message)) << bad.what;
  }
  // Nothing of the rejected requests was stored.
  absl::StatusOr<v1::HostClassSummary> summary = client_->GetHostClass(name());
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->measurements(), CountConfigs(profile_));

  // A new host class needs bandwidths.
  v1::UploadMeasurementsRequest fresh;
  fresh.mutable_host_class()->set_name("fresh-host");
  *fresh.add_entries() = Entry(signature, config, 1, "f/0");
  absl::StatusOr<v1::UploadMeasurementsResponse> no_bandwidths =
      client_->UploadMeasurements(fresh);
  EXPECT_EQ(no_bandwidths.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(no_bandwidths.status().message(), HasSubstr("bandwidths"));

  // An invalid profile file (negative time) is rejected whole.
  v1::Profile negative = profile_;
  negative.mutable_host_class()->set_name("negative");
  negative.mutable_kernels(0)->mutable_configs(0)->set_time_us(-5);
  EXPECT_EQ(client_->UploadProfile(negative).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(client_->GetHostClass("negative").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ProfileServiceE2ETest, DeleteRemovesTheHostClass) {
  ASSERT_TRUE(client_->UploadProfile(profile_).ok()) << Log();
  ASSERT_TRUE(client_->DeleteHostClass(name()).ok());
  absl::StatusOr<v1::ListHostClassesResponse> list = client_->ListHostClasses();
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->host_classes_size(), 0);
  EXPECT_EQ(client_->GetHostClass(name()).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(client_->DeleteHostClass(name()).code(),
            absl::StatusCode::kNotFound);
  // After a delete the name is free, even for another fingerprint.
  v1::Profile other = profile_;
  other.mutable_host_class()->set_fingerprint("another machine");
  absl::StatusOr<v1::UploadMeasurementsResponse> reimported =
      client_->UploadProfile(other);
  ASSERT_TRUE(reimported.ok()) << reimported.status();
  EXPECT_EQ(reimported->accepted(), CountConfigs(profile_));
}

TEST_F(ProfileServiceE2ETest, HealthServingThenSigtermExitsZero) {
  absl::StatusOr<bool> serving = client_->Health();
  ASSERT_TRUE(serving.ok()) << serving.status() << Log();
  EXPECT_TRUE(*serving);

  absl::StatusOr<int> code = server_->Terminate(absl::Seconds(15));
  ASSERT_TRUE(code.ok()) << code.status() << Log();
  EXPECT_EQ(*code, 0) << Log();
  EXPECT_THAT(Log(), HasSubstr("received SIGTERM"));

  // Nobody listens any more: UNAVAILABLE once the retries are spent.
  ClientOptions options;
  options.address = client_->options().address;
  options.deadline = absl::Seconds(5);
  options.max_attempts = 2;
  options.initial_backoff = absl::Milliseconds(10);
  absl::StatusOr<std::unique_ptr<Client>> gone = Client::Connect(options);
  ASSERT_TRUE(gone.ok()) << gone.status();
  absl::StatusOr<bool> down = (*gone)->Health();
  EXPECT_EQ(down.status().code(), absl::StatusCode::kUnavailable)
      << down.status();
  EXPECT_THAT(down.status().message(), HasSubstr("2 attempts"));
}

TEST_F(ProfileServiceE2ETest, KillDashNineAndRestartKeepsTheProfile) {
  absl::StatusOr<v1::UploadMeasurementsResponse> imported =
      client_->UploadProfile(profile_);
  ASSERT_TRUE(imported.ok()) << imported.status() << Log();
  absl::StatusOr<v1::HostClassSummary> before = client_->GetHostClass(name());
  ASSERT_TRUE(before.ok()) << before.status();

  server_->Kill();  // no shutdown, no checkpoint
  client_.reset();
  ASSERT_NO_FATAL_FAILURE(StartServer());

  absl::StatusOr<v1::HostClassSummary> after = client_->GetHostClass(name());
  ASSERT_TRUE(after.ok()) << after.status() << Log();
  EXPECT_EQ(after->SerializeAsString(), before->SerializeAsString());
  absl::StatusOr<v1::Profile> exported = client_->ExportProfile(name());
  ASSERT_TRUE(exported.ok()) << exported.status();
  EXPECT_EQ(Table(*exported), Table(profile_));
}

TEST_F(ProfileServiceE2ETest, ConcurrentUploadersLoseNothing) {
  ASSERT_TRUE(client_->UploadProfile(profile_).ok()) << Log();
  constexpr int kClients = 8;
  constexpr int kBatches = 5;
  constexpr int kPerBatch = 20;
  std::vector<std::thread> threads;
  std::vector<absl::Status> results(kClients);
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      ClientOptions options;
      options.address = server_->address();
      absl::StatusOr<std::unique_ptr<Client>> client = Client::Connect(options);
      if (!client.ok()) {
        results[c] = client.status();
        return;
      }
      for (int b = 0; b < kBatches; ++b) {
        v1::UploadMeasurementsRequest request;
        *request.mutable_host_class() = profile_.host_class();
        for (int i = 0; i < kPerBatch; ++i) {
          const v1::KernelProfile& kernel =
              profile_.kernels((b * kPerBatch + i) % profile_.kernels_size());
          // Plausible re-measurements (within a few percent of the stored
          // time): the server refuses contradicting ones (measurement_guard).
          *request.add_entries() =
              Entry(kernel.signature(), kernel.configs(0).config(),
                    kernel.configs(0).time_us() * (1 + 0.001 * (c * 100 + i)),
                    absl::StrCat("agent-", c, "/", b, "/", i));
        }
        absl::StatusOr<v1::UploadMeasurementsResponse> r =
            (*client)->UploadMeasurements(request);
        if (!r.ok()) {
          results[c] = r.status();
          return;
        }
        if (r->accepted() != kPerBatch) {
          results[c] = absl::InternalError(
              absl::StrCat("accepted ", r->accepted(), " of ", kPerBatch));
          return;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int c = 0; c < kClients; ++c) {
    EXPECT_TRUE(results[c].ok()) << "client " << c << ": " << results[c];
  }
  absl::StatusOr<v1::HostClassSummary> summary = client_->GetHostClass(name());
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->measurements(),
            CountConfigs(profile_) + kClients * kBatches * kPerBatch);
}

v1::Graph ExampleGraph() {
  const char* source_dir = std::getenv("AUTOTM_SOURCE_DIR");
  v1::Graph graph;
  const absl::Status read = client::ReadProtoJsonFile(
      absl::StrCat(source_dir != nullptr ? source_dir : ".",
                   "/tests/testdata/example_cnn.graph.json"),
      &graph);
  EXPECT_TRUE(read.ok()) << read;
  return graph;
}

std::vector<std::string> UniqueKeys(const v1::Graph& graph) {
  std::vector<std::string> keys;
  for (const v1::Kernel& kernel : graph.kernels()) {
    std::string key = solver::SignatureKey(kernel.signature());
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
      keys.push_back(std::move(key));
    }
  }
  return keys;
}

std::vector<std::string> ItemKeys(const v1::WorkList& list) {
  std::vector<std::string> keys;
  for (const v1::WorkItem& item : list.items()) {
    keys.push_back(solver::SignatureKey(item.signature()));
  }
  return keys;
}

// The agent's work list: a plan request for a host class nobody has
// profiled fails, but records the graph; the work list then names every
// kernel of it, and shrinks as measurements arrive — across a restart.
TEST_F(ProfileServiceE2ETest, WorkListFollowsSubmittedGraphsAndUploads) {
  const v1::Graph graph = ExampleGraph();
  const std::vector<std::string> keys = UniqueKeys(graph);
  ASSERT_GT(keys.size(), 2u);

  v1::GetWorkListRequest request;
  request.set_host_class("fresh");
  absl::StatusOr<v1::WorkList> empty = client_->GetWorkList(request);
  ASSERT_TRUE(empty.ok()) << empty.status() << Log();
  EXPECT_EQ(empty->graphs(), 0u);
  EXPECT_EQ(empty->items_size(), 0);

  v1::PlanGraphRequest plan;
  *plan.mutable_graph()->mutable_inline_graph() = graph;
  plan.set_host_class("fresh");
  plan.set_budget_bytes(1 << 20);
  absl::StatusOr<v1::Plan> refused = client_->PlanGraph(plan, absl::Seconds(5));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kNotFound)
      << refused.status();

  absl::StatusOr<v1::WorkList> all = client_->GetWorkList(request);
  ASSERT_TRUE(all.ok()) << all.status() << Log();
  EXPECT_EQ(all->graphs(), 1u);
  EXPECT_EQ(all->host_class().name(), "fresh");
  EXPECT_EQ(all->host_class().fingerprint(), "");  // not profiled yet
  EXPECT_EQ(ItemKeys(*all), keys);
  for (const v1::WorkItem& item : all->items()) {
    EXPECT_EQ(item.graphs(), 1u);
    ASSERT_GE(item.usages_size(), 1);
    EXPECT_EQ(item.usages(0).first_position_size(),
              item.signature().inputs_size() + item.signature().outputs_size());
  }

  // Upload the first two kernels' measurements under "fresh".
  v1::Profile part = profile_;
  part.mutable_host_class()->set_name("fresh");
  part.mutable_kernels()->Clear();
  for (const v1::KernelProfile& k : profile_.kernels()) {
    const std::string key = solver::SignatureKey(k.signature());
    if (key == keys[0] || key == keys[1]) *part.add_kernels() = k;
  }
  ASSERT_EQ(part.kernels_size(), 2);
  ASSERT_TRUE(client_->UploadProfile(part).ok());

  ASSERT_NO_FATAL_FAILURE(StartServer());  // a restart keeps submissions
  absl::StatusOr<v1::WorkList> rest = client_->GetWorkList(request);
  ASSERT_TRUE(rest.ok()) << rest.status() << Log();
  EXPECT_EQ(rest->host_class().fingerprint(),
            profile_.host_class().fingerprint());
  EXPECT_EQ(ItemKeys(*rest),
            std::vector<std::string>(keys.begin() + 2, keys.end()));

  // Another host class has its own list.
  request.set_host_class("other");
  absl::StatusOr<v1::WorkList> other = client_->GetWorkList(request);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->items_size(), 0);
}

TEST_F(ProfileServiceE2ETest, WorkListOfAnInlineGraphSharesAliasedOperands) {
  // add(x, x): one usage in which position 1 is position 0's tensor.
  v1::Graph graph;
  graph.set_name("aliased");
  for (const char* id : {"x", "y"}) {
    v1::Tensor* t = graph.add_tensors();
    t->set_id(id);
    t->set_size_bytes(4096);
  }
  v1::Kernel* k = graph.add_kernels();
  k->set_id("k0");
  k->set_op("add");
  k->add_inputs("x");
  k->add_inputs("x");
  k->add_outputs("y");
  k->mutable_signature()->set_op("add");
  for (int i = 0; i < 3; ++i) {
    v1::OperandSpec* spec = i < 2 ? k->mutable_signature()->add_inputs()
                                  : k->mutable_signature()->add_outputs();
    spec->set_dtype(v1::DATA_TYPE_F32);
    spec->add_dims(1024);
  }
  v1::GetWorkListRequest request;
  request.set_host_class("h");
  *request.mutable_graph() = graph;
  absl::StatusOr<v1::WorkList> list = client_->GetWorkList(request);
  ASSERT_TRUE(list.ok()) << list.status() << Log();
  ASSERT_EQ(list->items_size(), 1);
  ASSERT_EQ(list->items(0).usages_size(), 1);
  EXPECT_THAT(list->items(0).usages(0).first_position(),
              ::testing::ElementsAre(0, 0, 2));

  // An invalid inline graph names what is wrong; nothing is recorded.
  k->set_outputs(0, "nowhere");
  *request.mutable_graph() = graph;
  request.set_host_class("h2");
  absl::StatusOr<v1::WorkList> bad = client_->GetWorkList(request);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("nowhere"));
  request.clear_graph();
  absl::StatusOr<v1::WorkList> none = client_->GetWorkList(request);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->graphs(), 0u);

  request.set_host_class("");
  EXPECT_EQ(client_->GetWorkList(request).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace autotm
