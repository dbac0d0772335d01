// End to end: kill -9 of the real autotm-server in the middle of an
// ImportProfile of tens of thousands of entries leaves, after a restart on
// the same database, either the profile as it was before the import or the
// complete new one -- never a host class with part (or none) of its
// measurements (issue 18, finding 3: the host class used to be committed
// before its measurements).
//
// Each trial starts a server, sends the import from a thread, SIGKILLs the
// server after a delay spread over the time a full import takes on this
// machine, restarts it on the same database and compares the served host
// class with the two allowed states. Half the trials start from an empty
// database (old state: no host class), half from a smaller earlier import
// (old state: its counts).

#include <stdlib.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "autotm/v1/profile.pb.h"
#include "autotm/v1/profile_service.pb.h"
#include "client/lib/client.h"
#include "gtest/gtest.h"
#include "tests/e2e/server_process.h"

namespace autotm {
namespace {

using ::autotm::testing::ServerProcess;
using ::autotm::testing::ServerProcessOptions;

constexpr int kKernels = 12000;  // x 4 configurations = 48,000 entries
constexpr int kOldKernels = 500;

// A profile of `kernels` one-input, one-output kernels with all four
// configurations each; `scale` changes every time (so a re-import adds
// measurements).
v1::Profile SyntheticProfile(int kernels, double scale) {
  v1::Profile profile;
  profile.mutable_host_class()->set_name("crash-test");
  profile.mutable_host_class()->set_fingerprint("synthetic");
  v1::CopyBandwidths* bw = profile.mutable_bandwidths();
  bw->set_slow_to_fast_sync_gb_per_s(20);
  bw->set_fast_to_slow_sync_gb_per_s(10);
  bw->set_slow_to_fast_async_gb_per_s(2);
  bw->set_fast_to_slow_async_gb_per_s(2);
  for (int k = 0; k < kernels; ++k) {
    v1::KernelProfile* kernel = profile.add_kernels();
    v1::KernelSignature* signature = kernel->mutable_signature();
    signature->set_op("relu_fwd");
    for (v1::OperandSpec* operand :
         {signature->add_inputs(), signature->add_outputs()}) {
      operand->add_dims(k + 1);
      operand->add_dims(64);
      operand->set_dtype(v1::DATA_TYPE_F32);
    }
    const double base = scale * (1 + k % 97);
    const char* configs[] = {"F|F", "F|S", "S|F", "S|S"};
    const double factors[] = {1, 3, 2, 4};
    for (int c = 0; c < 4; ++c) {
      v1::ConfigTiming* timing = kernel->add_configs();
      timing->set_config(configs[c]);
      timing->set_time_us(base * factors[c]);
    }
  }
  return profile;
}

class ImportCrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir_template =
        (std::filesystem::temp_directory_path() / "autotm_crash_XXXXXX")
            .string();
    ASSERT_NE(::mkdtemp(dir_template.data()), nullptr);
    dir_ = dir_template;
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  // A server on `db` and a client of it.
  void Start(const std::string& db, std::unique_ptr<ServerProcess>* server,
             std::unique_ptr<Client>* client) {
    ServerProcessOptions options;
    options.db = db;
    options.log_path = dir_ + "/server.log";
    absl::StatusOr<std::unique_ptr<ServerProcess>> started =
        ServerProcess::Start(options);
    ASSERT_TRUE(started.ok()) << started.status();
    *server = *std::move(started);
    ClientOptions client_options;
    client_options.address = (*server)->address();
    client_options.deadline = absl::Seconds(60);
    client_options.max_attempts = 1;  // a killed server must not be retried
    absl::StatusOr<std::unique_ptr<Client>> connected =
        Client::Connect(client_options);
    ASSERT_TRUE(connected.ok()) << connected.status();
    *client = *std::move(connected);
  }

  std::string dir_;
};

TEST_F(ImportCrashTest, KillNineMidImportLeavesTheOldOrTheNewProfile) {
  const v1::Profile big = SyntheticProfile(kKernels, 1.0);
  const v1::Profile old = SyntheticProfile(kOldKernels, 1.5);
  ASSERT_GT(big.ByteSizeLong(), 1u << 20);

  // How long a full import takes here, and the counts it leaves.
  absl::Duration full;
  {
    std::unique_ptr<ServerProcess> server;
    std::unique_ptr<Client> client;
    ASSERT_NO_FATAL_FAILURE(Start(dir_ + "/timing.db", &server, &client));
    const absl::Time start = absl::Now();
    absl::StatusOr<v1::UploadMeasurementsResponse> imported =
        client->UploadProfile(big);
    full = absl::Now() - start;
    ASSERT_TRUE(imported.ok()) << imported.status() << server->ReadLog();
    ASSERT_EQ(imported->accepted(), 4u * kKernels);
  }
  std::printf("a full import of %d entries takes %s\n", 4 * kKernels,
              absl::FormatDuration(full).c_str());

  int ended_old = 0;
  int ended_new = 0;
  constexpr int kTrials = 8;
  for (int trial = 0; trial < kTrials; ++trial) {
    SCOPED_TRACE(absl::StrCat("trial ", trial));
    const bool from_old = trial % 2 == 1;
    const std::string db = absl::StrCat(dir_, "/trial", trial, ".db");
    // Delays from 5% to 110% of a full import: before, during and after
    // the store's writes.
    const absl::Duration delay = full * (0.05 + 1.05 * trial / (kTrials - 1));

    std::unique_ptr<ServerProcess> server;
    std::unique_ptr<Client> client;
    ASSERT_NO_FATAL_FAILURE(Start(db, &server, &client));
    if (from_old) {
      absl::StatusOr<v1::UploadMeasurementsResponse> imported =
          client->UploadProfile(old);
      ASSERT_TRUE(imported.ok()) << imported.status();
    }
    absl::Status import_status;
    std::thread importer(
        [&] { import_status = client->UploadProfile(big).status(); });
    absl::SleepFor(delay);
    server->Kill();
    importer.join();
    client.reset();
    server.reset();

    ASSERT_NO_FATAL_FAILURE(Start(db, &server, &client));
    absl::StatusOr<v1::HostClassSummary> summary =
        client->GetHostClass("crash-test");
    // The old state: nothing, or the earlier import's counts.
    bool is_old;
    if (!from_old) {
      is_old = absl::IsNotFound(summary.status());
    } else {
      ASSERT_TRUE(summary.ok()) << summary.status();
      is_old = summary->signatures() == kOldKernels &&
               summary->measurements() == 4u * kOldKernels;
    }
    // The new state: every signature, every measurement (the old import's
    // 4 x 500 add to the big one's: different times, different ids).
    const uint64_t new_measurements =
        4u * kKernels + (from_old ? 4u * kOldKernels : 0);
    const bool is_new = summary.ok() && summary->signatures() == kKernels &&
                        summary->configs() == 4u * kKernels &&
                        summary->measurements() == new_measurements;
    EXPECT_TRUE(is_old || is_new)
        << "killed after " << absl::FormatDuration(delay) << " ("
        << (from_old ? "over an earlier import" : "empty database")
        << "), the import " << import_status << "; served afterwards: "
        << (summary.ok()
                ? absl::StrCat(
                      summary->signatures(), " signatures, ",
                      summary->configs(), " configs, ", summary->measurements(),
                      " measurements, version ", summary->profile_version())
                : summary.status().ToString());
    if (is_new) {
      ++ended_new;
      // A complete import is also served: the export has every kernel.
      absl::StatusOr<v1::Profile> exported =
          client->ExportProfile("crash-test");
      ASSERT_TRUE(exported.ok()) << exported.status();
      EXPECT_EQ(exported->kernels_size(), kKernels);
    } else if (is_old) {
      ++ended_old;
    }
    EXPECT_EQ(server->Terminate().value_or(-1), 0);
  }
  std::printf("%d trial(s) ended with the old profile, %d with the new one\n",
              ended_old, ended_new);
  // A kill at 5% of the import time lands before the commit.
  EXPECT_GT(ended_old, 0);
}

}  // namespace
}  // namespace autotm
