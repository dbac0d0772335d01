// The conformance suite every store backend passes. Each backend registers a
// factory in kBackends; persistent backends also run the reopen checks, and
// backends shared between processes (PostgreSQL) the lease checks. The
// PostgreSQL cases run against a real server that the binary starts once
// (server/store/testing/test_postgres.h), a fresh database per case.
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "autotm/v1/graph.pb.h"
#include "autotm/v1/job.pb.h"
#include "autotm/v1/plan.pb.h"
#include "autotm/v1/profile.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/store/digest.h"
#include "server/store/postgres_store.h"
#include "server/store/sqlite_store.h"
#include "server/store/store.h"
#include "server/store/testing/test_postgres.h"
#include "solver/signature.h"
#include "solver/testing/test_graphs.h"

namespace autotm::server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct Backend {
  std::string name;
  // Makes an empty location for one test's store, given a fresh directory
  // (SQLite: the directory; PostgreSQL: a new database's URI).
  std::function<absl::StatusOr<std::string>(const std::string& dir)> prepare;
  // Opens the backend's store kept at `location`.
  std::function<absl::StatusOr<std::unique_ptr<Store>>(
      const std::string& location)>
      open;
  // Whether a store opened again on the same location sees the same data.
  bool persistent;
  // Whether several processes may share it (leases, change feed).
  bool shared;
  // Whether it implements retention (Store::Prune); every backend does
  // now, the flag stays for test doubles and future backends.
  bool prunes;
};

void PrintTo(const Backend& backend, std::ostream* os) { *os << backend.name; }

absl::StatusOr<std::string> SameDir(const std::string& dir) { return dir; }

absl::StatusOr<std::string> NewPostgresDatabase(const std::string&) {
  absl::StatusOr<testing::TestPostgres*> pg = testing::TestPostgres::Shared();
  if (!pg.ok()) return pg.status();
  return (*pg)->NewDatabase();
}

const Backend kBackends[] = {
    {"SqliteFile", SameDir,
     [](const std::string& dir) { return OpenSqliteStore(dir + "/autotm.db"); },
     true, false, true},
    {"SqliteMemory", SameDir,
     [](const std::string&) { return OpenSqliteStore(":memory:"); }, false,
     false, true},
    {"Postgres", NewPostgresDatabase,
     [](const std::string& uri) { return OpenPostgresStore(uri); }, true, true,
     true},
};

// A signature with `inputs` and `outputs` f32 operands of shape [n].
v1::KernelSignature Sig(const std::string& op, int inputs, int outputs,
                        int n = 16) {
  v1::KernelSignature sig;
  sig.set_op(op);
  for (int i = 0; i < inputs; ++i) {
    v1::OperandSpec* spec = sig.add_inputs();
    spec->add_dims(n);
    spec->set_dtype(v1::DATA_TYPE_F32);
  }
  for (int i = 0; i < outputs; ++i) {
    v1::OperandSpec* spec = sig.add_outputs();
    spec->add_dims(n);
    spec->set_dtype(v1::DATA_TYPE_F32);
  }
  return sig;
}

Measurement M(const v1::KernelSignature& sig, const std::string& config,
              double time_us, const std::string& id = "") {
  Measurement m;
  m.signature = sig;
  m.signature_key = solver::SignatureKey(sig);
  m.config = config;
  m.time_us = time_us;
  m.measurement_id = id;
  return m;
}

v1::HostClass Host(const std::string& name,
                   const std::string& fingerprint = "fp-1") {
  v1::HostClass host;
  host.set_name(name);
  host.set_fingerprint(fingerprint);
  host.set_fast_tier_name("DRAM");
  host.set_slow_tier_name("PMM");
  return host;
}

v1::CopyBandwidths Bandwidths() { return solver::testing::OptaneBandwidths(); }

v1::Graph SmallGraph(const std::string& name = "g") {
  return solver::testing::GraphBuilder(name)
      .Tensor("a", 4096)
      .Tensor("b", 8192)
      .Kernel("k0", {"a"}, {"b"})
      .graph();
}

v1::SolveJob NewJob(int priority, const std::string& host = "h") {
  v1::SolveJob job;
  job.set_graph_digest(GraphDigest(SmallGraph()));
  job.set_host_class(host);
  job.add_budgets_bytes(1 << 20);
  job.set_priority(priority);
  return job;
}

// The median served for (sig, config) in `profile`, or nullopt.
std::optional<double> Served(const v1::Profile& profile,
                             const v1::KernelSignature& sig,
                             const std::string& config) {
  const std::string key = solver::SignatureKey(sig);
  for (const v1::KernelProfile& kernel : profile.kernels()) {
    if (solver::SignatureKey(kernel.signature()) != key) continue;
    for (const v1::ConfigTiming& timing : kernel.configs()) {
      if (timing.config() == config) return timing.time_us();
    }
  }
  return std::nullopt;
}

class StoreConformanceTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    const ::testing::TestInfo* info =
        ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = absl::StrCat(info->test_suite_name(), "_", info->name());
    std::replace(name.begin(), name.end(), '/', '_');
    dir_ = std::filesystem::path(::testing::TempDir()) /
           absl::StrCat("autotm_store_", name, "_", getpid());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    absl::StatusOr<std::string> location = GetParam().prepare(dir_);
    ASSERT_TRUE(location.ok()) << location.status();
    location_ = *location;
    Reopen();
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Closes the store (if open) and opens it again on the same directory.
  void Reopen() {
    store_.reset();
    absl::StatusOr<std::unique_ptr<Store>> store = GetParam().open(location_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  ProfileStore& profiles() { return store_->profiles(); }
  JobStore& jobs() { return store_->jobs(); }

  // Creates host class `name` with default fields.
  void MakeHost(const std::string& name) {
    ASSERT_TRUE(profiles().PutHostClass(Host(name), Bandwidths()).ok());
  }
  uint64_t Version(const std::string& name) {
    absl::StatusOr<HostClassInfo> info = profiles().GetHostClass(name);
    EXPECT_TRUE(info.ok()) << info.status();
    return info.ok() ? info->version : 0;
  }

  std::string dir_;
  std::string location_;  // where GetParam().open opens the store
  std::unique_ptr<Store> store_;
};

// ---------------------------------------------------------------------------
// Profiles

TEST_P(StoreConformanceTest, ProfileRoundTrip) {
  MakeHost("h");
  v1::KernelSignature relu = Sig("relu", 1, 1);
  v1::KernelSignature add = Sig("add", 2, 1);
  absl::StatusOr<uint64_t> added =
      profiles().AddMeasurements("h", {M(relu, "F|F", 10), M(relu, "S|F", 30),
                                       M(add, "FF|F", 5), M(add, "SF|S", 50)});
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ(*added, 4u);

  absl::StatusOr<v1::Profile> profile = profiles().GetProfile("h");
  ASSERT_TRUE(profile.ok()) << profile.status();
  EXPECT_EQ(profile->host_class().name(), "h");
  EXPECT_EQ(profile->host_class().fingerprint(), "fp-1");
  EXPECT_EQ(profile->host_class().slow_tier_name(), "PMM");
  EXPECT_DOUBLE_EQ(profile->bandwidths().slow_to_fast_sync_gb_per_s(),
                   Bandwidths().slow_to_fast_sync_gb_per_s());
  ASSERT_EQ(profile->kernels_size(), 2);
  // Sorted by signature key: "add(...)" < "relu(...)".
  EXPECT_EQ(profile->kernels(0).signature().op(), "add");
  EXPECT_EQ(profile->kernels(1).signature().op(), "relu");
  EXPECT_EQ(profile->kernels(1).configs(0).config(), "F|F");
  EXPECT_EQ(profile->kernels(1).configs(1).config(), "S|F");
  EXPECT_EQ(Served(*profile, relu, "S|F"), 30);
  EXPECT_EQ(Served(*profile, add, "SF|S"), 50);

  absl::StatusOr<HostClassInfo> info = profiles().GetHostClass("h");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->signatures, 2u);
  EXPECT_EQ(info->configs, 4u);
  EXPECT_EQ(info->measurements, 4u);
}

TEST_P(StoreConformanceTest, ProfileBytesIndependentOfInsertOrder) {
  v1::KernelSignature relu = Sig("relu", 1, 1);
  v1::KernelSignature add = Sig("add", 2, 1);
  std::vector<Measurement> ms = {M(relu, "F|F", 10), M(add, "FF|F", 5),
                                 M(relu, "S|F", 30), M(add, "SS|F", 9)};
  MakeHost("a");
  MakeHost("b");
  ASSERT_TRUE(profiles().AddMeasurements("a", ms).ok());
  std::reverse(ms.begin(), ms.end());
  ASSERT_TRUE(profiles().AddMeasurements("b", ms).ok());
  absl::StatusOr<v1::Profile> a = profiles().GetProfile("a");
  absl::StatusOr<v1::Profile> b = profiles().GetProfile("b");
  ASSERT_TRUE(a.ok() && b.ok());
  a->clear_host_class();
  b->clear_host_class();
  EXPECT_EQ(DeterministicBytes(*a), DeterministicBytes(*b));
}

TEST_P(StoreConformanceTest, ReuploadIsIdempotent) {
  MakeHost("h");
  v1::KernelSignature relu = Sig("relu", 1, 1);
  // With ids, and without (ids derived from the contents).
  std::vector<Measurement> batch = {M(relu, "F|F", 10, "agent/run1/0"),
                                    M(relu, "F|F", 12, "agent/run1/1"),
                                    M(relu, "S|F", 30), M(relu, "S|S", 31)};
  absl::StatusOr<uint64_t> first = profiles().AddMeasurements("h", batch);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, 4u);
  uint64_t version = Version("h");
  absl::StatusOr<v1::Profile> before = profiles().GetProfile("h");

  absl::StatusOr<uint64_t> again = profiles().AddMeasurements("h", batch);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, 0u);
  EXPECT_EQ(Version("h"), version);
  absl::StatusOr<v1::Profile> after = profiles().GetProfile("h");
  ASSERT_TRUE(before.ok() && after.ok());
  EXPECT_EQ(DeterministicBytes(*before), DeterministicBytes(*after));

  // Putting the same host class again changes nothing either.
  MakeHost("h");
  EXPECT_EQ(Version("h"), version);
  // A partially new batch adds only the new one and bumps the version once.
  batch.push_back(M(relu, "F|F", 11, "agent/run2/0"));
  absl::StatusOr<uint64_t> partial = profiles().AddMeasurements("h", batch);
  ASSERT_TRUE(partial.ok());
  EXPECT_EQ(*partial, 1u);
  EXPECT_EQ(Version("h"), version + 1);
}

TEST_P(StoreConformanceTest, ServesLowerMedian) {
  MakeHost("h");
  v1::KernelSignature relu = Sig("relu", 1, 1);
  struct Case {
    std::string config;
    std::vector<double> times;
    double median;
  };
  const std::vector<Case> cases = {
      {"F|F", {7}, 7},
      {"F|S", {9, 3}, 3},             // lower of two
      {"S|F", {5, 1, 3}, 3},          // middle of three
      {"S|S", {40, 10, 30, 20}, 20},  // lower middle of four, not 25
  };
  std::vector<Measurement> ms;
  for (const Case& c : cases) {
    for (size_t i = 0; i < c.times.size(); ++i) {
      ms.push_back(M(relu, c.config, c.times[i], absl::StrCat(c.config, i)));
    }
  }
  ASSERT_TRUE(profiles().AddMeasurements("h", ms).ok());
  absl::StatusOr<v1::Profile> profile = profiles().GetProfile("h");
  ASSERT_TRUE(profile.ok()) << profile.status();
  for (const Case& c : cases) {
    EXPECT_EQ(Served(*profile, relu, c.config), c.median) << c.config;
  }
  ASSERT_EQ(profile->kernels_size(), 1);
  EXPECT_EQ(profile->kernels(0).configs(3).repetitions(), 4u);
}

// Served times are the stored doubles bit for bit (no decimal rounding on
// the way through the backend).
TEST_P(StoreConformanceTest, TimesRoundTripExactly) {
  MakeHost("h");
  const double times[] = {0.1, 1.0 / 3.0, 12345.678901234567, 5e-324,
                          1.7976931348623157e308};
  const char* configs[] = {"F|F", "F|S", "S|F", "S|S"};
  std::vector<Measurement> batch;
  for (int i = 0; i < 4; ++i) {
    batch.push_back(M(Sig("relu", 1, 1, 8 + i), configs[i], times[i]));
  }
  batch.push_back(M(Sig("add", 2, 1), "FF|F", times[4]));
  ASSERT_TRUE(profiles().AddMeasurements("h", batch).ok());
  absl::StatusOr<v1::Profile> profile = profiles().GetProfile("h");
  ASSERT_TRUE(profile.ok()) << profile.status();
  for (int i = 0; i < 4; ++i) {
    std::optional<double> served =
        Served(*profile, Sig("relu", 1, 1, 8 + i), configs[i]);
    ASSERT_TRUE(served.has_value()) << i;
    EXPECT_EQ(*served, times[i]) << i;
  }
  EXPECT_EQ(Served(*profile, Sig("add", 2, 1), "FF|F"), times[4]);
}

TEST_P(StoreConformanceTest, MedianIsNotLastWriterWins) {
  MakeHost("h");
  v1::KernelSignature relu = Sig("relu", 1, 1);
  ASSERT_TRUE(profiles()
                  .AddMeasurements(
                      "h", {M(relu, "F|F", 10, "a"), M(relu, "F|F", 11, "b")})
                  .ok());
  ASSERT_TRUE(
      profiles().AddMeasurements("h", {M(relu, "F|F", 1000, "outlier")}).ok());
  absl::StatusOr<v1::Profile> profile = profiles().GetProfile("h");
  ASSERT_TRUE(profile.ok());
  EXPECT_EQ(Served(*profile, relu, "F|F"), 11);
}

TEST_P(StoreConformanceTest, SeparableCostReplaces) {
  MakeHost("h");
  v1::KernelProfile kernel;
  *kernel.mutable_signature() = Sig("concat", 3, 1);
  kernel.mutable_separable()->set_all_fast_time_us(100);
  for (int i = 0; i < 3; ++i) {
    kernel.mutable_separable()->add_input_slow_penalty_us(i + 1);
  }
  kernel.mutable_separable()->add_output_slow_penalty_us(10);
  ASSERT_TRUE(profiles().PutSeparableCosts("h", {kernel}).ok());
  uint64_t version = Version("h");
  // The same again: no change.
  ASSERT_TRUE(profiles().PutSeparableCosts("h", {kernel}).ok());
  EXPECT_EQ(Version("h"), version);
  // A newer one replaces it.
  kernel.mutable_separable()->set_all_fast_time_us(200);
  ASSERT_TRUE(profiles().PutSeparableCosts("h", {kernel}).ok());
  EXPECT_EQ(Version("h"), version + 1);

  absl::StatusOr<v1::Profile> profile = profiles().GetProfile("h");
  ASSERT_TRUE(profile.ok()) << profile.status();
  ASSERT_EQ(profile->kernels_size(), 1);
  EXPECT_EQ(profile->kernels(0).configs_size(), 0);
  EXPECT_EQ(profile->kernels(0).separable().all_fast_time_us(), 200);
  EXPECT_THAT(profile->kernels(0).separable().input_slow_penalty_us(),
              ElementsAre(1, 2, 3));
  absl::StatusOr<HostClassInfo> info = profiles().GetHostClass("h");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->signatures, 1u);

  // A table entry is not a separable cost.
  v1::KernelProfile table = kernel;
  table.add_configs()->set_config("FFF|F");
  EXPECT_EQ(profiles().PutSeparableCosts("h", {table}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(profiles().PutSeparableCosts("nope", {kernel}).code(),
            absl::StatusCode::kNotFound);
}

// ApplyProfileUpdate is one atomic write: a new host class with its
// measurements and separable costs at once, or, on any error, nothing at all
// (issue 18: the host class used to be committed before its measurements).
TEST_P(StoreConformanceTest, ProfileUpdateIsAllOrNothing) {
  v1::KernelSignature relu = Sig("relu", 1, 1);
  v1::KernelProfile concat;
  *concat.mutable_signature() = Sig("concat", 2, 1);
  concat.mutable_separable()->set_all_fast_time_us(100);
  concat.mutable_separable()->add_input_slow_penalty_us(1);
  concat.mutable_separable()->add_input_slow_penalty_us(2);
  concat.mutable_separable()->add_output_slow_penalty_us(3);

  // A bad measurement after good ones: nothing is written, not even the
  // host class.
  ProfileUpdate bad;
  bad.host_class = Host("h");
  bad.bandwidths = Bandwidths();
  bad.measurements = {M(relu, "F|F", 10), M(relu, "FF|F", 20)};
  bad.separable = {concat};
  EXPECT_EQ(profiles().ApplyProfileUpdate("h", bad).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(profiles().GetHostClass("h").status().code(),
            absl::StatusCode::kNotFound);
  // A host class whose fingerprint conflicts: the measurements stay out.
  MakeHost("other");
  ProfileUpdate conflict;
  conflict.host_class = Host("other", "fp-2");
  conflict.measurements = {M(relu, "F|F", 10)};
  EXPECT_EQ(profiles().ApplyProfileUpdate("other", conflict).status().code(),
            absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<HostClassInfo> other = profiles().GetHostClass("other");
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(other->measurements, 0u);
  // The update's host class must be the one named.
  EXPECT_EQ(profiles().ApplyProfileUpdate("x", bad).status().code(),
            absl::StatusCode::kInvalidArgument);

  ProfileUpdate good = bad;
  good.measurements = {M(relu, "F|F", 10), M(relu, "S|F", 20)};
  absl::StatusOr<uint64_t> added = profiles().ApplyProfileUpdate("h", good);
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ(*added, 2u);
  absl::StatusOr<HostClassInfo> info = profiles().GetHostClass("h");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->signatures, 2u);  // relu and concat
  EXPECT_EQ(info->measurements, 2u);
  // Versions bump as the separate calls would: created, measured, costed.
  EXPECT_EQ(info->version, 3u);
  // The same update again changes nothing.
  ProfileUpdate again = good;
  again.host_class.reset();
  added = profiles().ApplyProfileUpdate("h", again);
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ(*added, 0u);
  EXPECT_EQ(Version("h"), 3u);
}

TEST_P(StoreConformanceTest, FingerprintConflictIsFailedPrecondition) {
  MakeHost("h");
  absl::Status status =
      profiles().PutHostClass(Host("h", "other-fingerprint"), Bandwidths());
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("other-fingerprint"));
  EXPECT_EQ(profiles().PutHostClass(Host(""), Bandwidths()).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(StoreConformanceTest, HostClassChangesBumpVersion) {
  MakeHost("h");
  uint64_t version = Version("h");
  EXPECT_GE(version, 1u);
  v1::HostClass renamed = Host("h");
  renamed.set_slow_tier_name("CXL");
  ASSERT_TRUE(profiles().PutHostClass(renamed, Bandwidths()).ok());
  EXPECT_EQ(Version("h"), version + 1);
  absl::StatusOr<v1::Profile> profile = profiles().GetProfile("h");
  ASSERT_TRUE(profile.ok());
  EXPECT_EQ(profile->host_class().slow_tier_name(), "CXL");
}

TEST_P(StoreConformanceTest, UnknownHostClassIsNotFound) {
  v1::KernelSignature relu = Sig("relu", 1, 1);
  EXPECT_EQ(profiles().GetProfile("nope").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(profiles().GetHostClass("nope").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(profiles().GetHostClassVersion("nope").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(
      profiles().AddMeasurements("nope", {M(relu, "F|F", 1)}).status().code(),
      absl::StatusCode::kNotFound);
  EXPECT_EQ(profiles().DeleteHostClass("nope").code(),
            absl::StatusCode::kNotFound);
}

TEST_P(StoreConformanceTest, VersionLookupMatchesTheFullLookup) {
  MakeHost("h");
  v1::KernelSignature relu = Sig("relu", 1, 1);
  ASSERT_TRUE(profiles().AddMeasurements("h", {M(relu, "F|F", 1)}).ok());
  absl::StatusOr<HostClassInfo> full = profiles().GetHostClass("h");
  absl::StatusOr<HostClassInfo> cheap = profiles().GetHostClassVersion("h");
  ASSERT_TRUE(full.ok() && cheap.ok());
  EXPECT_EQ(cheap->version, full->version);
  EXPECT_EQ(cheap->host_class.name(), "h");
  EXPECT_EQ(cheap->host_class.fingerprint(), full->host_class.fingerprint());
  EXPECT_EQ(full->measurements, 1u);
  EXPECT_EQ(cheap->measurements, 0u);  // not counted
  ASSERT_TRUE(profiles().AddMeasurements("h", {M(relu, "F|S", 2)}).ok());
  EXPECT_GT(profiles().GetHostClassVersion("h")->version, cheap->version);
}

TEST_P(StoreConformanceTest, BadMeasurementsAreInvalidArgument) {
  MakeHost("h");
  v1::KernelSignature relu = Sig("relu", 1, 1);
  Measurement wrong_key = M(relu, "F|F", 1);
  wrong_key.signature_key = "relu()";
  const std::vector<Measurement> bad = {
      M(relu, "FF|F", 1),  // three operands for a kernel with two
      M(relu, "F|X", 1),   // bad letter
      M(relu, "FF", 1),    // no bar
      M(relu, "F|F", -1),  // negative time
      wrong_key,
  };
  for (const Measurement& m : bad) {
    absl::StatusOr<uint64_t> added =
        profiles().AddMeasurements("h", {M(relu, "S|S", 2), m});
    EXPECT_EQ(added.status().code(), absl::StatusCode::kInvalidArgument)
        << m.config << " " << m.time_us;
  }
  // All or nothing: the good measurement of each bad batch was not kept.
  absl::StatusOr<HostClassInfo> info = profiles().GetHostClass("h");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->measurements, 0u);
}

TEST_P(StoreConformanceTest, ListSortedAndDelete) {
  v1::KernelSignature relu = Sig("relu", 1, 1);
  for (const char* name : {"zeta", "alpha", "mid"}) {
    MakeHost(name);
    ASSERT_TRUE(profiles().AddMeasurements(name, {M(relu, "F|F", 1)}).ok());
  }
  absl::StatusOr<std::vector<HostClassInfo>> list =
      profiles().ListHostClasses();
  ASSERT_TRUE(list.ok()) << list.status();
  std::vector<std::string> names;
  for (const HostClassInfo& info : *list) {
    names.push_back(info.host_class.name());
    EXPECT_EQ(info.measurements, 1u);
  }
  EXPECT_THAT(names, ElementsAre("alpha", "mid", "zeta"));

  uint64_t version = Version("mid");
  ASSERT_TRUE(profiles().DeleteHostClass("mid").ok());
  EXPECT_EQ(profiles().GetProfile("mid").status().code(),
            absl::StatusCode::kNotFound);
  list = profiles().ListHostClasses();
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 2u);
  // Created again it starts empty, and never reuses an old version (plans
  // are cached by version).
  MakeHost("mid");
  absl::StatusOr<HostClassInfo> info = profiles().GetHostClass("mid");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->measurements, 0u);
  EXPECT_GT(info->version, version);
  // Another fingerprint is fine after a delete.
  ASSERT_TRUE(profiles().DeleteHostClass("mid").ok());
  EXPECT_TRUE(profiles().PutHostClass(Host("mid", "fp-2"), Bandwidths()).ok());
}

// ---------------------------------------------------------------------------
// Graphs and plans

TEST_P(StoreConformanceTest, GraphDigestStableAndIdempotent) {
  v1::Graph graph = SmallGraph();
  absl::StatusOr<std::string> digest = store_->graphs().PutGraph(graph);
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_EQ(*digest, GraphDigest(graph));
  EXPECT_TRUE(IsWellFormedDigest(*digest)) << *digest;
  absl::StatusOr<std::string> again = store_->graphs().PutGraph(graph);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *digest);

  absl::StatusOr<v1::Graph> stored = store_->graphs().GetGraph(*digest);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(DeterministicBytes(*stored), DeterministicBytes(graph));

  absl::StatusOr<std::string> other =
      store_->graphs().PutGraph(SmallGraph("other"));
  ASSERT_TRUE(other.ok());
  EXPECT_NE(*other, *digest);
}

TEST_P(StoreConformanceTest, GraphDigestIgnoresAttributeMapOrder) {
  v1::Graph a = SmallGraph();
  v1::Graph b = SmallGraph();
  auto* attrs_a =
      a.mutable_kernels(0)->mutable_signature()->mutable_attributes();
  auto* attrs_b =
      b.mutable_kernels(0)->mutable_signature()->mutable_attributes();
  for (int i = 0; i < 20; ++i) (*attrs_a)[absl::StrCat("k", i)] = "v";
  for (int i = 19; i >= 0; --i) (*attrs_b)[absl::StrCat("k", i)] = "v";
  EXPECT_EQ(GraphDigest(a), GraphDigest(b));
}

TEST_P(StoreConformanceTest, UnknownDigest) {
  std::string unknown = absl::StrCat("sha256:", std::string(64, '0'));
  EXPECT_EQ(store_->graphs().GetGraph(unknown).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->graphs().GetGraph("md5:abc").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(StoreConformanceTest, SubmissionsInFirstSubmissionOrderPerHostClass) {
  GraphStore& graphs = store_->graphs();
  absl::StatusOr<std::string> a = graphs.PutGraph(SmallGraph("a"));
  absl::StatusOr<std::string> b = graphs.PutGraph(SmallGraph("b"));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(graphs.RecordSubmission("h", *b).ok());
  EXPECT_TRUE(graphs.RecordSubmission("h", *a).ok());
  EXPECT_TRUE(graphs.RecordSubmission("h", *b).ok());  // idempotent
  EXPECT_TRUE(graphs.RecordSubmission("other", *a).ok());
  absl::StatusOr<std::vector<std::string>> h = graphs.ListSubmittedGraphs("h");
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(*h, (std::vector<std::string>{*b, *a}));
  absl::StatusOr<std::vector<std::string>> other =
      graphs.ListSubmittedGraphs("other");
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(*other, (std::vector<std::string>{*a}));
  absl::StatusOr<std::vector<std::string>> none =
      graphs.ListSubmittedGraphs("nobody");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_P(StoreConformanceTest, SubmissionOfUnknownGraphIsRejected) {
  std::string unknown = absl::StrCat("sha256:", std::string(64, '0'));
  EXPECT_EQ(store_->graphs().RecordSubmission("h", unknown).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->graphs().RecordSubmission("h", "md5:abc").code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<std::vector<std::string>> h =
      store_->graphs().ListSubmittedGraphs("h");
  ASSERT_TRUE(h.ok());
  EXPECT_TRUE(h->empty());
}

TEST_P(StoreConformanceTest, PlanCacheFirstWriterWins) {
  v1::Plan first;
  first.set_graph_name("first");
  v1::Plan second;
  second.set_graph_name("second");
  EXPECT_EQ(store_->plans().GetPlan("key").status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(store_->plans().PutPlan("key", first).ok());
  ASSERT_TRUE(store_->plans().PutPlan("key", second).ok());
  absl::StatusOr<v1::Plan> plan = store_->plans().GetPlan("key");
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->graph_name(), "first");
  EXPECT_EQ(store_->plans().PutPlan("", first).code(),
            absl::StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------
// Jobs

TEST_P(StoreConformanceTest, CreateAssignsFields) {
  absl::StatusOr<v1::SolveJob> a = jobs().CreateJob(NewJob(0), 0);
  absl::StatusOr<v1::SolveJob> b = jobs().CreateJob(NewJob(0), 0);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_FALSE(a->id().empty());
  EXPECT_NE(a->id(), b->id());
  EXPECT_LT(a->sequence(), b->sequence());
  EXPECT_EQ(a->state(), v1::SolveJob::QUEUED);
  EXPECT_GT(a->create_time_us(), 0);
  absl::StatusOr<v1::SolveJob> got = jobs().GetJob(a->id());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(DeterministicBytes(*got), DeterministicBytes(*a));
  EXPECT_EQ(jobs().GetJob("job-nope").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_P(StoreConformanceTest, ClaimByPriorityThenFifo) {
  absl::StatusOr<std::optional<v1::SolveJob>> none = jobs().ClaimNextJob();
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->has_value());

  std::vector<std::string> ids;
  for (int priority : {0, 5, 0, 5, -1, 9}) {
    absl::StatusOr<v1::SolveJob> job = jobs().CreateJob(NewJob(priority), 0);
    ASSERT_TRUE(job.ok());
    ids.push_back(job->id());
  }
  std::vector<std::string> order;
  while (true) {
    absl::StatusOr<std::optional<v1::SolveJob>> job = jobs().ClaimNextJob();
    ASSERT_TRUE(job.ok()) << job.status();
    if (!job->has_value()) break;
    EXPECT_EQ((*job)->state(), v1::SolveJob::RUNNING);
    EXPECT_GT((*job)->start_time_us(), 0);
    order.push_back((*job)->id());
  }
  EXPECT_THAT(order,
              ElementsAre(ids[5], ids[1], ids[3], ids[0], ids[2], ids[4]));
  absl::StatusOr<v1::SolveJob> stored = jobs().GetJob(ids[0]);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->state(), v1::SolveJob::RUNNING);
}

// Stats (the metrics' store gauges): jobs per (state, priority), graphs,
// plans and a size that grows with the data.
TEST_P(StoreConformanceTest, StatsCountJobsGraphsAndPlans) {
  absl::StatusOr<StoreStats> empty = store_->Stats();
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE(empty->jobs.empty());
  EXPECT_EQ(empty->graphs, 0u);
  EXPECT_EQ(empty->plans, 0u);
  EXPECT_GT(empty->size_bytes, 0u);

  for (int priority : {0, 5, 0, 5, 5}) {
    ASSERT_TRUE(jobs().CreateJob(NewJob(priority), 0).ok());
  }
  absl::StatusOr<std::optional<v1::SolveJob>> claimed = jobs().ClaimNextJob();
  ASSERT_TRUE(claimed.ok() && claimed->has_value());  // a priority-5 job
  ASSERT_TRUE(store_->graphs().PutGraph(SmallGraph("a")).ok());
  ASSERT_TRUE(store_->graphs().PutGraph(SmallGraph("b")).ok());
  v1::Plan plan;
  plan.set_graph_name("a");
  ASSERT_TRUE(store_->plans().PutPlan("k1", plan).ok());
  // Enough data to need more pages than the empty schema.
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(jobs().CreateJob(NewJob(1), 0).ok());
  }

  absl::StatusOr<StoreStats> stats = store_->Stats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  std::vector<std::tuple<int, int, uint64_t>> jobs_seen;
  for (const StoreStats::JobCount& count : stats->jobs) {
    jobs_seen.emplace_back(count.state, count.priority, count.count);
  }
  EXPECT_THAT(jobs_seen,
              ElementsAre(std::make_tuple(v1::SolveJob::QUEUED, 0, 2u),
                          std::make_tuple(v1::SolveJob::QUEUED, 1, 200u),
                          std::make_tuple(v1::SolveJob::QUEUED, 5, 2u),
                          std::make_tuple(v1::SolveJob::RUNNING, 5, 1u)));
  EXPECT_EQ(stats->graphs, 2u);
  EXPECT_EQ(stats->plans, 1u);
  EXPECT_GT(stats->size_bytes, empty->size_bytes);
}

v1::SolveJob OwnedJob(const std::string& owner, int priority = 0) {
  v1::SolveJob job = NewJob(priority);
  job.set_owner(owner);
  return job;
}

// Fairness between principals: while "flood" has many jobs queued, a job
// "late" queues after them runs second, not after all of flood's.
TEST_P(StoreConformanceTest, ClaimTakesTurnsBetweenOwnersWithinAPriority) {
  std::vector<std::string> flood;
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<v1::SolveJob> job = jobs().CreateJob(OwnedJob("flood"), 0);
    ASSERT_TRUE(job.ok()) << job.status();
    flood.push_back(job->id());
  }
  absl::StatusOr<v1::SolveJob> late = jobs().CreateJob(OwnedJob("late"), 0);
  absl::StatusOr<v1::SolveJob> late2 = jobs().CreateJob(OwnedJob("late"), 0);
  absl::StatusOr<v1::SolveJob> urgent =
      jobs().CreateJob(OwnedJob("flood", /*priority=*/1), 0);
  ASSERT_TRUE(late.ok() && late2.ok() && urgent.ok());
  std::vector<std::string> order;
  while (true) {
    absl::StatusOr<std::optional<v1::SolveJob>> job = jobs().ClaimNextJob();
    ASSERT_TRUE(job.ok()) << job.status();
    if (!job->has_value()) break;
    order.push_back((*job)->id());
  }
  // Priority first; then flood and late alternate (flood was served
  // last, by the urgent job); each owner's jobs in creation order.
  EXPECT_THAT(order,
              ElementsAre(urgent->id(), late->id(), flood[0], late2->id(),
                          flood[1], flood[2], flood[3], flood[4]));
}

TEST_P(StoreConformanceTest, QueuedJobsPerOwnerAreLimited) {
  ASSERT_TRUE(jobs().CreateJob(OwnedJob("a"), 0, 2).ok());
  ASSERT_TRUE(jobs().CreateJob(OwnedJob("a"), 0, 2).ok());
  absl::StatusOr<v1::SolveJob> third = jobs().CreateJob(OwnedJob("a"), 0, 2);
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(third.status().message().find("principal a"), std::string::npos)
      << third.status();
  // Another owner is not affected; a claimed job frees a place.
  EXPECT_TRUE(jobs().CreateJob(OwnedJob("b"), 0, 2).ok());
  ASSERT_TRUE(jobs().ClaimNextJob().ok());
  EXPECT_TRUE(jobs().CreateJob(OwnedJob("a"), 0, 2).ok());
}

TEST_P(StoreConformanceTest, ListFiltersByOwner) {
  ASSERT_TRUE(jobs().CreateJob(OwnedJob("a"), 0).ok());
  absl::StatusOr<v1::SolveJob> b = jobs().CreateJob(OwnedJob("b"), 0);
  ASSERT_TRUE(jobs().CreateJob(OwnedJob("a"), 0).ok());
  ASSERT_TRUE(b.ok());
  JobFilter filter;
  filter.owner = "b";
  absl::StatusOr<JobPage> page = jobs().ListJobs(filter);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->jobs.size(), 1u);
  EXPECT_EQ(page->jobs[0].id(), b->id());
  EXPECT_EQ(page->jobs[0].owner(), "b");
  filter.owner.reset();
  page = jobs().ListJobs(filter);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->jobs.size(), 3u);
}

TEST_P(StoreConformanceTest, UpdateFinalJobIsFailedPrecondition) {
  absl::StatusOr<v1::SolveJob> job = jobs().CreateJob(NewJob(0), 0);
  ASSERT_TRUE(job.ok());
  v1::SolveJob update = *job;
  update.set_state(v1::SolveJob::RUNNING);
  update.set_incumbent_us(123);
  update.set_sequence(999);  // store-assigned: ignored
  ASSERT_TRUE(jobs().UpdateJob(update).ok());
  absl::StatusOr<v1::SolveJob> stored = jobs().GetJob(job->id());
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->incumbent_us(), 123);
  EXPECT_EQ(stored->sequence(), job->sequence());

  update.set_state(v1::SolveJob::SUCCEEDED);
  ASSERT_TRUE(jobs().UpdateJob(update).ok());
  for (auto state : {v1::SolveJob::RUNNING, v1::SolveJob::CANCELLED,
                     v1::SolveJob::SUCCEEDED}) {
    update.set_state(state);
    EXPECT_EQ(jobs().UpdateJob(update).code(),
              absl::StatusCode::kFailedPrecondition);
  }
  stored = jobs().GetJob(job->id());
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->state(), v1::SolveJob::SUCCEEDED);

  v1::SolveJob missing = update;
  missing.set_id("job-nope");
  EXPECT_EQ(jobs().UpdateJob(missing).code(), absl::StatusCode::kNotFound);
}

TEST_P(StoreConformanceTest, QueueFullIsResourceExhausted) {
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(jobs().CreateJob(NewJob(0), 3).ok());
  }
  absl::StatusOr<v1::SolveJob> full = jobs().CreateJob(NewJob(0), 3);
  EXPECT_EQ(full.status().code(), absl::StatusCode::kResourceExhausted);
  // Unlimited still accepts; a claimed job frees a queue slot.
  EXPECT_TRUE(jobs().CreateJob(NewJob(0), 0).ok());
  ASSERT_TRUE(jobs().ClaimNextJob().ok());
  ASSERT_TRUE(jobs().ClaimNextJob().ok());
  EXPECT_TRUE(jobs().CreateJob(NewJob(0), 3).ok());
}

TEST_P(StoreConformanceTest, ListPagesNewestFirstWithStateFilter) {
  std::vector<std::string> ids;  // creation order
  for (int i = 0; i < 7; ++i) {
    absl::StatusOr<v1::SolveJob> job = jobs().CreateJob(NewJob(0), 0);
    ASSERT_TRUE(job.ok());
    ids.push_back(job->id());
  }
  // Claims ids[0], ids[1], ids[2] (same priority: FIFO).
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(jobs().ClaimNextJob().ok());

  JobFilter filter;
  filter.page_size = 3;
  std::vector<std::string> seen;
  int pages = 0;
  do {
    absl::StatusOr<JobPage> page = jobs().ListJobs(filter);
    ASSERT_TRUE(page.ok()) << page.status();
    ++pages;
    for (const v1::SolveJob& job : page->jobs) seen.push_back(job.id());
    filter.page_token = page->next_page_token;
  } while (!filter.page_token.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  EXPECT_THAT(seen, ElementsAre(ids[6], ids[5], ids[4], ids[3], ids[2], ids[1],
                                ids[0]));

  filter = JobFilter();
  filter.state = v1::SolveJob::RUNNING;
  filter.page_size = 2;
  absl::StatusOr<JobPage> page = jobs().ListJobs(filter);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->jobs.size(), 2u);
  EXPECT_EQ(page->jobs[0].id(), ids[2]);
  EXPECT_EQ(page->jobs[1].id(), ids[1]);
  ASSERT_FALSE(page->next_page_token.empty());
  filter.page_token = page->next_page_token;
  page = jobs().ListJobs(filter);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->jobs.size(), 1u);
  EXPECT_EQ(page->jobs[0].id(), ids[0]);
  EXPECT_TRUE(page->next_page_token.empty());

  // Default page size covers all seven.
  page = jobs().ListJobs(JobFilter());
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->jobs.size(), 7u);
  EXPECT_TRUE(page->next_page_token.empty());
}

TEST_P(StoreConformanceTest, BadListArgumentsAreInvalidArgument) {
  ASSERT_TRUE(jobs().CreateJob(NewJob(0), 0).ok());
  ASSERT_TRUE(jobs().CreateJob(NewJob(0), 0).ok());
  JobFilter filter;
  filter.page_token = "not a token!";
  EXPECT_EQ(jobs().ListJobs(filter).status().code(),
            absl::StatusCode::kInvalidArgument);
  filter.page_token = "AAAA";  // valid base64, not a token
  EXPECT_EQ(jobs().ListJobs(filter).status().code(),
            absl::StatusCode::kInvalidArgument);
  // A token from an unfiltered listing under a state filter.
  filter = JobFilter();
  filter.page_size = 1;
  absl::StatusOr<JobPage> page = jobs().ListJobs(filter);
  ASSERT_TRUE(page.ok());
  ASSERT_FALSE(page->next_page_token.empty());
  filter.page_token = page->next_page_token;
  filter.state = v1::SolveJob::QUEUED;
  EXPECT_EQ(jobs().ListJobs(filter).status().code(),
            absl::StatusCode::kInvalidArgument);
  for (int size : {-1, 1001}) {
    JobFilter bad_size;
    bad_size.page_size = size;
    EXPECT_EQ(jobs().ListJobs(bad_size).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
}

TEST_P(StoreConformanceTest, RequeueRunningKeepsPlace) {
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<v1::SolveJob> job = jobs().CreateJob(NewJob(0), 0);
    ASSERT_TRUE(job.ok());
    ids.push_back(job->id());
  }
  absl::StatusOr<std::optional<v1::SolveJob>> first = jobs().ClaimNextJob();
  ASSERT_TRUE(first.ok() && first->has_value());
  EXPECT_EQ((*first)->id(), ids[0]);
  absl::StatusOr<int> requeued = jobs().RequeueRunningJobs();
  ASSERT_TRUE(requeued.ok()) << requeued.status();
  EXPECT_EQ(*requeued, 1);
  absl::StatusOr<v1::SolveJob> job = jobs().GetJob(ids[0]);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->state(), v1::SolveJob::QUEUED);
  EXPECT_EQ(job->sequence(), (*first)->sequence());
  // It keeps its place at the head of the queue.
  first = jobs().ClaimNextJob();
  ASSERT_TRUE(first.ok() && first->has_value());
  EXPECT_EQ((*first)->id(), ids[0]);
  requeued = jobs().RequeueRunningJobs();
  ASSERT_TRUE(requeued.ok());
  EXPECT_EQ(*requeued, 1);
  requeued = jobs().RequeueRunningJobs();
  ASSERT_TRUE(requeued.ok());
  EXPECT_EQ(*requeued, 0);
}

// ---------------------------------------------------------------------------
// Concurrency

TEST_P(StoreConformanceTest, ConcurrentWritersLoseAndDuplicateNothing) {
  constexpr int kThreads = 8;
  constexpr int kBatches = 10;
  constexpr int kPerBatch = 20;
  constexpr int kJobsPerThread = 10;
  MakeHost("h");
  v1::KernelSignature relu = Sig("relu", 1, 1);
  for (int i = 0; i < kThreads * kJobsPerThread; ++i) {
    ASSERT_TRUE(jobs().CreateJob(NewJob(i % 3), 0).ok());
  }
  std::atomic<uint64_t> added{0};
  std::atomic<int> errors{0};
  absl::Mutex mu;
  std::vector<std::string> claimed;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int b = 0; b < kBatches; ++b) {
        std::vector<Measurement> batch;
        for (int i = 0; i < kPerBatch; ++i) {
          // Each thread's own measurements, plus one shared by every thread.
          batch.push_back(M(relu, i % 2 ? "F|F" : "S|F", t * 1000 + b * 50 + i,
                            absl::StrCat("t", t, "/b", b, "/", i)));
        }
        batch.push_back(M(relu, "S|S", 1, absl::StrCat("shared/", b)));
        absl::StatusOr<uint64_t> n = profiles().AddMeasurements("h", batch);
        if (n.ok()) {
          added += *n;
        } else {
          ++errors;
        }
        absl::StatusOr<std::optional<v1::SolveJob>> job = jobs().ClaimNextJob();
        if (!job.ok()) {
          ++errors;
        } else if (job->has_value()) {
          absl::MutexLock lock(&mu);
          claimed.push_back((*job)->id());
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(errors.load(), 0);
  constexpr uint64_t kExpected = kThreads * kBatches * kPerBatch + kBatches;
  EXPECT_EQ(added.load(), kExpected);
  absl::StatusOr<HostClassInfo> info = profiles().GetHostClass("h");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->measurements, kExpected);
  std::set<std::string> unique(claimed.begin(), claimed.end());
  EXPECT_EQ(claimed.size(), static_cast<size_t>(kThreads * kBatches));
  EXPECT_EQ(unique.size(), claimed.size());
  JobFilter running;
  running.state = v1::SolveJob::RUNNING;
  running.page_size = 1000;
  absl::StatusOr<JobPage> page = jobs().ListJobs(running);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->jobs.size(), claimed.size());
}

// Two stores on one file (a server and, say, a worker process): claims stay
// atomic across connections.
TEST_P(StoreConformanceTest, TwoOpenersClaimEachJobOnce) {
  if (!GetParam().persistent) GTEST_SKIP() << "not a persistent backend";
  absl::StatusOr<std::unique_ptr<Store>> other = GetParam().open(location_);
  ASSERT_TRUE(other.ok()) << other.status();
  constexpr int kJobs = 60;
  for (int i = 0; i < kJobs; ++i) {
    ASSERT_TRUE(jobs().CreateJob(NewJob(i % 4), 0).ok());
  }
  absl::Mutex mu;
  std::vector<std::string> claimed;
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    JobStore& store = t % 2 ? (*other)->jobs() : jobs();
    threads.emplace_back([&] {
      while (true) {
        absl::StatusOr<std::optional<v1::SolveJob>> job = store.ClaimNextJob();
        if (!job.ok()) {
          ++errors;
          return;
        }
        if (!job->has_value()) return;
        absl::MutexLock lock(&mu);
        claimed.push_back((*job)->id());
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(errors.load(), 0);
  std::set<std::string> unique(claimed.begin(), claimed.end());
  EXPECT_EQ(claimed.size(), static_cast<size_t>(kJobs));
  EXPECT_EQ(unique.size(), claimed.size());
}

// ---------------------------------------------------------------------------
// Persistence

TEST_P(StoreConformanceTest, ReopenKeepsEverything) {
  if (!GetParam().persistent) GTEST_SKIP() << "not a persistent backend";
  MakeHost("h");
  v1::KernelSignature relu = Sig("relu", 1, 1);
  ASSERT_TRUE(profiles()
                  .AddMeasurements("h", {M(relu, "F|F", 10), M(relu, "F|F", 30),
                                         M(relu, "F|F", 20)})
                  .ok());
  absl::StatusOr<v1::Profile> profile = profiles().GetProfile("h");
  ASSERT_TRUE(profile.ok());
  uint64_t version = Version("h");
  absl::StatusOr<std::string> digest = store_->graphs().PutGraph(SmallGraph());
  ASSERT_TRUE(digest.ok());
  ASSERT_TRUE(store_->graphs().RecordSubmission("h", *digest).ok());
  v1::Plan plan;
  plan.set_graph_name("cached");
  ASSERT_TRUE(store_->plans().PutPlan("key", plan).ok());
  absl::StatusOr<v1::SolveJob> queued = jobs().CreateJob(NewJob(1), 0);
  absl::StatusOr<v1::SolveJob> running = jobs().CreateJob(NewJob(5), 0);
  ASSERT_TRUE(queued.ok() && running.ok());
  ASSERT_TRUE(jobs().ClaimNextJob().ok());

  Reopen();

  absl::StatusOr<v1::Profile> reopened = profiles().GetProfile("h");
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ(DeterministicBytes(*reopened), DeterministicBytes(*profile));
  EXPECT_EQ(Served(*reopened, relu, "F|F"), 20);
  EXPECT_EQ(Version("h"), version);
  // Re-uploading after a restart is still idempotent.
  absl::StatusOr<uint64_t> again =
      profiles().AddMeasurements("h", {M(relu, "F|F", 10)});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0u);
  EXPECT_TRUE(store_->graphs().GetGraph(*digest).ok());
  absl::StatusOr<std::vector<std::string>> submitted =
      store_->graphs().ListSubmittedGraphs("h");
  ASSERT_TRUE(submitted.ok());
  EXPECT_EQ(*submitted, (std::vector<std::string>{*digest}));
  absl::StatusOr<v1::Plan> cached = store_->plans().GetPlan("key");
  ASSERT_TRUE(cached.ok());
  EXPECT_EQ(cached->graph_name(), "cached");

  absl::StatusOr<v1::SolveJob> job = jobs().GetJob(running->id());
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->state(), v1::SolveJob::RUNNING);
  absl::StatusOr<int> requeued = jobs().RequeueRunningJobs();
  ASSERT_TRUE(requeued.ok());
  EXPECT_EQ(*requeued, 1);
  // Priority order survives: the higher-priority job first, then the other.
  absl::StatusOr<std::optional<v1::SolveJob>> next = jobs().ClaimNextJob();
  ASSERT_TRUE(next.ok() && next->has_value());
  EXPECT_EQ((*next)->id(), running->id());
  next = jobs().ClaimNextJob();
  ASSERT_TRUE(next.ok() && next->has_value());
  EXPECT_EQ((*next)->id(), queued->id());
  // New jobs continue the sequence.
  absl::StatusOr<v1::SolveJob> later = jobs().CreateJob(NewJob(0), 0);
  ASSERT_TRUE(later.ok());
  EXPECT_GT(later->sequence(), running->sequence());
  EXPECT_NE(later->id(), running->id());
}

TEST_P(StoreConformanceTest, ReopenKeepsVersionsOfDeletedHostClasses) {
  if (!GetParam().persistent) GTEST_SKIP() << "not a persistent backend";
  MakeHost("h");
  uint64_t version = Version("h");
  ASSERT_TRUE(profiles().DeleteHostClass("h").ok());
  Reopen();
  MakeHost("h");
  EXPECT_GT(Version("h"), version);
}

// ---------------------------------------------------------------------------
// Leases and the change feed (backends shared by several server replicas)

TEST_P(StoreConformanceTest, LeasedClaimIsFencedToItsReplica) {
  if (!GetParam().shared) GTEST_SKIP() << "not shared between processes";
  absl::StatusOr<v1::SolveJob> created = jobs().CreateJob(NewJob(0), 0);
  ASSERT_TRUE(created.ok()) << created.status();
  absl::StatusOr<std::optional<v1::SolveJob>> job =
      jobs().ClaimNextJobLeased("r1", absl::Hours(1));
  ASSERT_TRUE(job.ok()) << job.status();
  ASSERT_TRUE(job->has_value());
  EXPECT_EQ((*job)->id(), created->id());
  EXPECT_EQ((*job)->state(), v1::SolveJob::RUNNING);
  // Held by r1: nobody else gets it, and only r1 may write it.
  absl::StatusOr<std::optional<v1::SolveJob>> none =
      jobs().ClaimNextJobLeased("r2", absl::Hours(1));
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  v1::SolveJob progress = **job;
  progress.set_incumbent_us(42);
  EXPECT_EQ(jobs().UpdateLeasedJob(progress, "r2").code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(jobs().UpdateLeasedJob(progress, "r1").ok());
  absl::StatusOr<std::vector<LeaseState>> leases =
      jobs().RenewLeases("r1", {created->id(), "job-nope"}, absl::Hours(1));
  ASSERT_TRUE(leases.ok()) << leases.status();
  ASSERT_EQ(leases->size(), 2u);
  EXPECT_TRUE((*leases)[0].held);
  EXPECT_FALSE((*leases)[0].cancel_requested);
  EXPECT_FALSE((*leases)[1].held);
  leases = jobs().RenewLeases("r2", {created->id()}, absl::Hours(1));
  ASSERT_TRUE(leases.ok());
  EXPECT_FALSE((*leases)[0].held);
  // Completion ends the lease: no further write, not even by r1.
  progress.set_state(v1::SolveJob::SUCCEEDED);
  ASSERT_TRUE(jobs().UpdateLeasedJob(progress, "r1").ok());
  EXPECT_EQ(jobs().UpdateLeasedJob(progress, "r1").code(),
            absl::StatusCode::kFailedPrecondition);
  leases = jobs().RenewLeases("r1", {created->id()}, absl::Hours(1));
  ASSERT_TRUE(leases.ok());
  EXPECT_FALSE((*leases)[0].held);
}

TEST_P(StoreConformanceTest, ExpiredLeaseMovesToAnotherReplica) {
  if (!GetParam().shared) GTEST_SKIP() << "not shared between processes";
  v1::SolveJob two_budgets = NewJob(0);
  two_budgets.add_budgets_bytes(2 << 20);
  ASSERT_TRUE(jobs().CreateJob(two_budgets, 0).ok());
  absl::StatusOr<v1::SolveJob> later = jobs().CreateJob(NewJob(0), 0);
  ASSERT_TRUE(later.ok());
  absl::StatusOr<std::optional<v1::SolveJob>> first =
      jobs().ClaimNextJobLeased("r1", absl::Milliseconds(200));
  ASSERT_TRUE(first.ok() && first->has_value());
  v1::SolveJob job = **first;
  // r1 finishes one budget, reports progress, then dies (stops renewing).
  job.add_plan_keys("key-0");
  job.set_budgets_done(1);
  job.set_incumbent_us(7);
  ASSERT_TRUE(jobs().UpdateLeasedJob(job, "r1").ok());
  // Before expiry, r2 gets the next job, not r1's.
  absl::StatusOr<std::optional<v1::SolveJob>> other =
      jobs().ClaimNextJobLeased("r2", absl::Hours(1));
  ASSERT_TRUE(other.ok() && other->has_value());
  EXPECT_EQ((*other)->id(), later->id());
  absl::SleepFor(absl::Milliseconds(400));
  absl::StatusOr<std::optional<v1::SolveJob>> taken =
      jobs().ClaimNextJobLeased("r2", absl::Hours(1));
  ASSERT_TRUE(taken.ok()) << taken.status();
  ASSERT_TRUE(taken->has_value());
  EXPECT_EQ((*taken)->id(), job.id());
  EXPECT_EQ((*taken)->state(), v1::SolveJob::RUNNING);
  // Finished budgets are kept; the interrupted solve's progress is not.
  EXPECT_EQ((*taken)->budgets_done(), 1u);
  EXPECT_THAT((*taken)->plan_keys(), ElementsAre("key-0"));
  EXPECT_EQ((*taken)->incumbent_us(), 0);
  // r1 comes back: it has lost the job and can write nothing.
  absl::StatusOr<std::vector<LeaseState>> leases =
      jobs().RenewLeases("r1", {job.id()}, absl::Hours(1));
  ASSERT_TRUE(leases.ok());
  EXPECT_FALSE((*leases)[0].held);
  job.set_state(v1::SolveJob::SUCCEEDED);
  EXPECT_EQ(jobs().UpdateLeasedJob(job, "r1").code(),
            absl::StatusCode::kFailedPrecondition);
  v1::SolveJob done = **taken;
  done.set_state(v1::SolveJob::SUCCEEDED);
  EXPECT_TRUE(jobs().UpdateLeasedJob(done, "r2").ok());
}

// When the next expired lease can be taken over: what an idle replica
// waits for before it claims.
TEST_P(StoreConformanceTest, NextLeaseExpiryIsWhenAClaimCanTakeOver) {
  if (!GetParam().shared) GTEST_SKIP() << "not shared between processes";
  absl::StatusOr<std::optional<absl::Duration>> next =
      jobs().NextLeaseExpiry("r2");
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_FALSE(next->has_value()) << "nothing is leased";
  EXPECT_EQ(jobs().NextLeaseExpiry("").status().code(),
            absl::StatusCode::kInvalidArgument);

  absl::StatusOr<v1::SolveJob> long_lease = jobs().CreateJob(NewJob(0), 0);
  absl::StatusOr<v1::SolveJob> short_lease = jobs().CreateJob(NewJob(0), 0);
  absl::StatusOr<v1::SolveJob> queued = jobs().CreateJob(NewJob(0), 0);
  ASSERT_TRUE(long_lease.ok() && short_lease.ok() && queued.ok());
  ASSERT_TRUE(jobs().ClaimNextJobLeased("r1", absl::Hours(1)).ok());
  // A queued job is claimable now, but it is no lease: not counted.
  next = jobs().NextLeaseExpiry("r2");
  ASSERT_TRUE(next.ok() && next->has_value()) << next.status();
  EXPECT_GT(**next, absl::Minutes(59));
  EXPECT_LE(**next, absl::Hours(1));
  // r1's own lease, handed out by this store object (this process), is
  // never taken over by r1 through it: not counted...
  next = jobs().NextLeaseExpiry("r1");
  ASSERT_TRUE(next.ok());
  EXPECT_FALSE(next->has_value());
  // ... but through another opener (a restarted r1) it is.
  absl::StatusOr<std::unique_ptr<Store>> other = GetParam().open(location_);
  ASSERT_TRUE(other.ok()) << other.status();
  next = (*other)->jobs().NextLeaseExpiry("r1");
  ASSERT_TRUE(next.ok() && next->has_value()) << next.status();
  EXPECT_GT(**next, absl::Minutes(59));

  // The earliest expiry wins; once past, it is zero and the claim takes it.
  const absl::Time claimed = absl::Now();
  absl::StatusOr<std::optional<v1::SolveJob>> dying =
      jobs().ClaimNextJobLeased("r3", absl::Milliseconds(300));
  ASSERT_TRUE(dying.ok() && dying->has_value());
  ASSERT_EQ((*dying)->id(), short_lease->id());
  next = (*other)->jobs().NextLeaseExpiry("r2");
  ASSERT_TRUE(next.ok() && next->has_value()) << next.status();
  EXPECT_LE(**next, absl::Milliseconds(300));
  EXPECT_GT(**next, absl::Milliseconds(300) - (absl::Now() - claimed) -
                        absl::Milliseconds(50));
  absl::SleepFor(**next + absl::Milliseconds(20));
  next = (*other)->jobs().NextLeaseExpiry("r2");
  ASSERT_TRUE(next.ok() && next->has_value());
  EXPECT_EQ(**next, absl::ZeroDuration());
  // (It keeps its place: before the job queued after it.)
  absl::StatusOr<std::optional<v1::SolveJob>> taken =
      (*other)->jobs().ClaimNextJobLeased("r2", absl::Hours(2));
  ASSERT_TRUE(taken.ok() && taken->has_value()) << taken.status();
  EXPECT_EQ((*taken)->id(), short_lease->id());

  // A finished job holds no lease.
  v1::SolveJob done = **taken;
  done.set_state(v1::SolveJob::SUCCEEDED);
  ASSERT_TRUE((*other)->jobs().UpdateLeasedJob(done, "r2").ok());
  next = (*other)->jobs().NextLeaseExpiry("r2");
  ASSERT_TRUE(next.ok() && next->has_value());
  EXPECT_GT(**next, absl::Minutes(59));
  EXPECT_LE(**next, absl::Hours(1)) << "r1's lease, not r2's";
}

TEST_P(StoreConformanceTest, HandedBackJobIsClaimableAtOnce) {
  if (!GetParam().shared) GTEST_SKIP() << "not shared between processes";
  ASSERT_TRUE(jobs().CreateJob(NewJob(0), 0).ok());
  absl::StatusOr<std::optional<v1::SolveJob>> job =
      jobs().ClaimNextJobLeased("r1", absl::Hours(1));
  ASSERT_TRUE(job.ok() && job->has_value());
  v1::SolveJob back = **job;
  back.set_state(v1::SolveJob::QUEUED);
  back.set_start_time_us(0);
  ASSERT_TRUE(jobs().UpdateLeasedJob(back, "r1").ok());
  absl::StatusOr<std::optional<v1::SolveJob>> again =
      jobs().ClaimNextJobLeased("r2", absl::Hours(1));
  ASSERT_TRUE(again.ok() && again->has_value());
  EXPECT_EQ((*again)->id(), back.id());
}

TEST_P(StoreConformanceTest, RequestCancelFromAnyReplica) {
  if (!GetParam().shared) GTEST_SKIP() << "not shared between processes";
  absl::StatusOr<v1::SolveJob> running = jobs().CreateJob(NewJob(1), 0);
  absl::StatusOr<v1::SolveJob> queued = jobs().CreateJob(NewJob(0), 0);
  ASSERT_TRUE(running.ok() && queued.ok());
  ASSERT_TRUE(jobs().ClaimNextJobLeased("r1", absl::Hours(1)).ok());

  absl::StatusOr<v1::SolveJob> cancelled = jobs().RequestCancel(queued->id());
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->state(), v1::SolveJob::CANCELLED);
  EXPECT_EQ(cancelled->termination(), v1::TERMINATION_CANCELLED);
  EXPECT_GT(cancelled->end_time_us(), 0);
  absl::StatusOr<v1::SolveJob> stored = jobs().GetJob(queued->id());
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->state(), v1::SolveJob::CANCELLED);

  absl::StatusOr<v1::SolveJob> flagged = jobs().RequestCancel(running->id());
  ASSERT_TRUE(flagged.ok());
  EXPECT_EQ(flagged->state(), v1::SolveJob::RUNNING);
  absl::StatusOr<std::vector<LeaseState>> leases =
      jobs().RenewLeases("r1", {running->id()}, absl::Hours(1));
  ASSERT_TRUE(leases.ok());
  EXPECT_TRUE((*leases)[0].held);
  EXPECT_TRUE((*leases)[0].cancel_requested);

  // Final jobs stay as they are; unknown ids are NotFound.
  absl::StatusOr<v1::SolveJob> again = jobs().RequestCancel(queued->id());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->state(), v1::SolveJob::CANCELLED);
  EXPECT_EQ(jobs().RequestCancel("job-nope").status().code(),
            absl::StatusCode::kNotFound);
}

// Two openers (two replicas) claiming from many threads: each job once.
TEST_P(StoreConformanceTest, LeasedClaimsFromTwoOpenersTakeEachJobOnce) {
  if (!GetParam().shared) GTEST_SKIP() << "not shared between processes";
  absl::StatusOr<std::unique_ptr<Store>> other = GetParam().open(location_);
  ASSERT_TRUE(other.ok()) << other.status();
  constexpr int kJobs = 60;
  for (int i = 0; i < kJobs; ++i) {
    ASSERT_TRUE(jobs().CreateJob(OwnedJob(absl::StrCat("o", i % 3)), 0).ok());
  }
  absl::Mutex mu;
  std::vector<std::string> claimed;
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    JobStore& store = t % 2 ? (*other)->jobs() : jobs();
    threads.emplace_back([&, t] {
      const std::string replica = absl::StrCat("r", t);
      while (true) {
        absl::StatusOr<std::optional<v1::SolveJob>> job =
            store.ClaimNextJobLeased(replica, absl::Hours(1));
        if (!job.ok()) {
          ++errors;
          return;
        }
        if (!job->has_value()) return;
        absl::MutexLock lock(&mu);
        claimed.push_back((*job)->id());
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(errors.load(), 0);
  std::set<std::string> unique(claimed.begin(), claimed.end());
  EXPECT_EQ(claimed.size(), static_cast<size_t>(kJobs));
  EXPECT_EQ(unique.size(), claimed.size());
}

TEST_P(StoreConformanceTest, ChangeFeedSeesAnotherOpenersWrites) {
  if (!GetParam().shared) GTEST_SKIP() << "not shared between processes";
  absl::StatusOr<std::unique_ptr<Store>> other = GetParam().open(location_);
  ASSERT_TRUE(other.ok()) << other.status();
  // The first call starts listening (and may time out with nothing).
  ASSERT_TRUE(jobs().WaitForJobChanges(absl::Milliseconds(10)).ok());
  absl::StatusOr<v1::SolveJob> created =
      (*other)->jobs().CreateJob(NewJob(0), 0);
  ASSERT_TRUE(created.ok());
  std::set<std::string> seen;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (seen.count(created->id()) == 0 && absl::Now() < deadline) {
    absl::StatusOr<std::vector<std::string>> ids =
        jobs().WaitForJobChanges(absl::Seconds(1));
    ASSERT_TRUE(ids.ok()) << ids.status();
    seen.insert(ids->begin(), ids->end());
  }
  EXPECT_EQ(seen.count(created->id()), 1u);
  // An update is announced too.
  ASSERT_TRUE((*other)->jobs().RequestCancel(created->id()).ok());
  seen.clear();
  while (seen.count(created->id()) == 0 && absl::Now() < deadline) {
    absl::StatusOr<std::vector<std::string>> ids =
        jobs().WaitForJobChanges(absl::Seconds(1));
    ASSERT_TRUE(ids.ok()) << ids.status();
    seen.insert(ids->begin(), ids->end());
  }
  EXPECT_EQ(seen.count(created->id()), 1u);
  // Nothing changed: times out empty.
  absl::StatusOr<std::vector<std::string>> quiet =
      jobs().WaitForJobChanges(absl::Milliseconds(50));
  ASSERT_TRUE(quiet.ok());
  EXPECT_TRUE(quiet->empty());
}

TEST_P(StoreConformanceTest, LeasesAreUnimplementedWhereNotShared) {
  if (GetParam().shared) GTEST_SKIP() << "shared backend";
  EXPECT_EQ(jobs().ClaimNextJobLeased("r1", absl::Seconds(1)).status().code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_EQ(jobs().NextLeaseExpiry("r1").status().code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_EQ(jobs().WaitForJobChanges(absl::Milliseconds(1)).status().code(),
            absl::StatusCode::kUnimplemented);
}

// Retention (issue 18 finding 8)

// Finishes `job` as SUCCEEDED with `plan_keys`.
void Finish(JobStore& jobs, v1::SolveJob job,
            const std::vector<std::string>& plan_keys) {
  job.set_state(v1::SolveJob::SUCCEEDED);
  for (const std::string& key : plan_keys) job.add_plan_keys(key);
  ASSERT_TRUE(jobs.UpdateJob(job).ok());
}

TEST_P(StoreConformanceTest, PruneKeepsLiveJobsAndWhatJobsReferTo) {
  if (!GetParam().prunes) {
    EXPECT_TRUE(absl::IsUnimplemented(store_->Prune({}).status()));
    GTEST_SKIP() << "no retention on this backend yet";
  }
  // Two graphs: one a job refers to, one nobody does.
  absl::StatusOr<std::string> used = store_->graphs().PutGraph(SmallGraph());
  absl::StatusOr<std::string> orphan =
      store_->graphs().PutGraph(SmallGraph("orphan"));
  ASSERT_TRUE(used.ok() && orphan.ok());
  ASSERT_TRUE(store_->graphs().RecordSubmission("h", *orphan).ok());
  v1::Plan plan;
  plan.set_budget_bytes(1 << 20);
  for (const char* key : {"kept", "old-job-plan", "cache-only"}) {
    ASSERT_TRUE(store_->plans().PutPlan(key, plan).ok());
  }
  // Five finished jobs (the newest refers to "kept"), one running, one
  // queued.
  std::vector<v1::SolveJob> finished;
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<v1::SolveJob> job = jobs().CreateJob(NewJob(0), 0);
    ASSERT_TRUE(job.ok());
    finished.push_back(*job);
  }
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(jobs().ClaimNextJob().ok());
  }
  for (int i = 0; i < 5; ++i) {
    ASSERT_NO_FATAL_FAILURE(
        Finish(jobs(), finished[i],
               {i == 4 ? "kept" : (i == 0 ? "old-job-plan" : "")}));
  }
  absl::StatusOr<v1::SolveJob> running = jobs().CreateJob(NewJob(0), 0);
  ASSERT_TRUE(running.ok());
  ASSERT_TRUE(jobs().ClaimNextJob().ok());
  absl::StatusOr<v1::SolveJob> queued = jobs().CreateJob(NewJob(0), 0);
  ASSERT_TRUE(queued.ok());

  // Within the grace nothing unreferenced goes; by count, the 3 oldest
  // finished jobs do.
  RetentionLimits limits;
  limits.max_jobs = 2;
  limits.unreferenced_age = absl::Nanoseconds(1);
  absl::StatusOr<PruneResult> first = store_->Prune(limits);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->jobs_deleted, 3u);
  EXPECT_EQ(first->graphs_deleted, 0u);
  EXPECT_EQ(first->plans_deleted, 0u);
  EXPECT_FALSE(jobs().GetJob(finished[0].id()).ok());
  EXPECT_TRUE(jobs().GetJob(finished[3].id()).ok());

  // Without the grace: the orphan graph (and its work-list entry) and the
  // plans no remaining job refers to go; live jobs and referenced things
  // stay.
  limits.grace = absl::ZeroDuration();
  absl::StatusOr<PruneResult> second = store_->Prune(limits);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->jobs_deleted, 0u);
  EXPECT_EQ(second->graphs_deleted, 1u);
  EXPECT_EQ(second->plans_deleted, 2u);
  EXPECT_LT(second->content_bytes_after, second->content_bytes_before);
  EXPECT_TRUE(absl::IsNotFound(store_->graphs().GetGraph(*orphan).status()));
  EXPECT_TRUE(store_->graphs().ListSubmittedGraphs("h")->empty());
  EXPECT_TRUE(store_->graphs().GetGraph(*used).ok());
  EXPECT_TRUE(store_->plans().GetPlan("kept").ok());
  EXPECT_FALSE(store_->plans().GetPlan("cache-only").ok());
  EXPECT_EQ(jobs().GetJob(running->id())->state(), v1::SolveJob::RUNNING);
  EXPECT_EQ(jobs().GetJob(queued->id())->state(), v1::SolveJob::QUEUED);

  // Bytes: everything finished may go, nothing live.
  limits = RetentionLimits();
  limits.grace = absl::ZeroDuration();
  limits.max_bytes = 1;
  limits.vacuum = true;
  absl::StatusOr<PruneResult> third = store_->Prune(limits);
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(third->jobs_deleted, 2u);
  EXPECT_EQ(third->plans_deleted, 1u);  // "kept", once its job was gone
  EXPECT_TRUE(jobs().GetJob(running->id()).ok());
  EXPECT_TRUE(jobs().GetJob(queued->id()).ok());
  EXPECT_TRUE(store_->graphs().GetGraph(*used).ok());  // live jobs' graph
}

TEST_P(StoreConformanceTest, PruneRefusesNegativeLimits) {
  if (!GetParam().prunes) {
    EXPECT_TRUE(absl::IsUnimplemented(store_->Prune({}).status()));
    GTEST_SKIP() << "no retention on this backend yet";
  }
  RetentionLimits limits;
  limits.max_jobs = -1;
  EXPECT_TRUE(absl::IsInvalidArgument(store_->Prune(limits).status()));
}

// Two openers (replicas) prune at once while a third claims jobs: the
// deletions add up to one prune's, and no queued or running job is lost.
TEST_P(StoreConformanceTest, ConcurrentPrunesDeleteEachThingOnce) {
  if (!GetParam().prunes) GTEST_SKIP() << "no retention on this backend";
  if (!GetParam().persistent) GTEST_SKIP() << "not a persistent backend";
  absl::StatusOr<std::unique_ptr<Store>> other = GetParam().open(location_);
  ASSERT_TRUE(other.ok()) << other.status();
  ASSERT_TRUE(store_->graphs().PutGraph(SmallGraph()).ok());
  absl::StatusOr<std::string> orphan =
      store_->graphs().PutGraph(SmallGraph("orphan"));
  ASSERT_TRUE(orphan.ok());
  v1::Plan plan;
  plan.set_budget_bytes(1 << 20);
  constexpr int kFinished = 12;
  constexpr int kKept = 4;
  for (int i = 0; i < kFinished; ++i) {
    ASSERT_TRUE(store_->plans().PutPlan(absl::StrCat("plan-", i), plan).ok());
  }
  std::vector<v1::SolveJob> finished;
  for (int i = 0; i < kFinished; ++i) {
    absl::StatusOr<v1::SolveJob> job = jobs().CreateJob(NewJob(0), 0);
    ASSERT_TRUE(job.ok());
    finished.push_back(*job);
    ASSERT_TRUE(jobs().ClaimNextJob().ok());
  }
  for (int i = 0; i < kFinished; ++i) {
    ASSERT_NO_FATAL_FAILURE(
        Finish(jobs(), finished[i], {absl::StrCat("plan-", i)}));
  }
  // Queued jobs, claimed by the other opener while the prunes run.
  constexpr int kQueued = 8;
  std::vector<std::string> queued;
  for (int i = 0; i < kQueued; ++i) {
    absl::StatusOr<v1::SolveJob> job = jobs().CreateJob(NewJob(1), 0);
    ASSERT_TRUE(job.ok());
    queued.push_back(job->id());
  }

  RetentionLimits limits;
  limits.max_jobs = kKept;
  limits.unreferenced_age = absl::Nanoseconds(1);
  limits.grace = absl::ZeroDuration();
  absl::StatusOr<PruneResult> results[2];
  std::atomic<int> claim_errors{0};
  std::thread claimer([&] {
    for (int i = 0; i < kQueued; ++i) {
      if (!(*other)->jobs().ClaimNextJob().ok()) ++claim_errors;
    }
  });
  std::thread first([&] { results[0] = store_->Prune(limits); });
  std::thread second([&] { results[1] = (*other)->Prune(limits); });
  first.join();
  second.join();
  claimer.join();
  EXPECT_EQ(claim_errors.load(), 0);
  PruneResult total;
  for (const absl::StatusOr<PruneResult>& result : results) {
    ASSERT_TRUE(result.ok()) << result.status();
    total.jobs_deleted += result->jobs_deleted;
    total.graphs_deleted += result->graphs_deleted;
    total.plans_deleted += result->plans_deleted;
  }
  EXPECT_EQ(total.jobs_deleted, static_cast<uint64_t>(kFinished - kKept));
  // The orphan graph, and each deleted job's plan (by whichever prune ran
  // second, or by the first once its own job deletions made them orphans;
  // never twice).
  EXPECT_EQ(total.graphs_deleted, 1u);
  EXPECT_EQ(total.plans_deleted, static_cast<uint64_t>(kFinished - kKept));
  EXPECT_TRUE(absl::IsNotFound(store_->graphs().GetGraph(*orphan).status()));
  for (int i = 0; i < kFinished; ++i) {
    EXPECT_EQ(jobs().GetJob(finished[i].id()).ok(), i >= kFinished - kKept)
        << finished[i].id();
    EXPECT_EQ(store_->plans().GetPlan(absl::StrCat("plan-", i)).ok(),
              i >= kFinished - kKept);
  }
  for (const std::string& id : queued) {
    absl::StatusOr<v1::SolveJob> job = jobs().GetJob(id);
    ASSERT_TRUE(job.ok()) << id << ": " << job.status();
    EXPECT_EQ(job->state(), v1::SolveJob::RUNNING) << id;
  }
}

// A graph submitted again is used again: retention by age keeps it.
TEST_P(StoreConformanceTest, ResubmittedGraphIsNotPrunedByAge) {
  if (!GetParam().prunes) GTEST_SKIP() << "no retention on this backend";
  absl::StatusOr<std::string> digest =
      store_->graphs().PutGraph(SmallGraph("resubmitted"));
  ASSERT_TRUE(digest.ok());
  absl::SleepFor(absl::Milliseconds(1200));
  ASSERT_TRUE(store_->graphs().RecordSubmission("h", *digest).ok());
  RetentionLimits limits;
  // Wide margins: the first prune must come within a second of the
  // resubmission even on a loaded machine.
  limits.unreferenced_age = absl::Seconds(1);
  limits.grace = absl::ZeroDuration();
  absl::StatusOr<PruneResult> kept = store_->Prune(limits);
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_EQ(kept->graphs_deleted, 0u);
  absl::SleepFor(absl::Milliseconds(1200));
  absl::StatusOr<PruneResult> gone = store_->Prune(limits);
  ASSERT_TRUE(gone.ok()) << gone.status();
  EXPECT_EQ(gone->graphs_deleted, 1u);
}

// A job that finds its plan cached puts it again before it records the key:
// that put must restart the plan's age, or a prune in between could delete
// the plan the job is about to refer to.
TEST_P(StoreConformanceTest, PlanPutAgainIsNotPrunedByAge) {
  if (!GetParam().prunes) GTEST_SKIP() << "no retention on this backend";
  v1::Plan first;
  first.set_predicted_time_us(1.0);
  ASSERT_TRUE(store_->plans().PutPlan("again", first).ok());
  absl::SleepFor(absl::Milliseconds(1200));
  v1::Plan second = first;
  second.set_predicted_time_us(2.0);
  ASSERT_TRUE(store_->plans().PutPlan("again", second).ok());
  RetentionLimits limits;
  limits.unreferenced_age = absl::Seconds(1);
  limits.grace = absl::ZeroDuration();
  absl::StatusOr<PruneResult> kept = store_->Prune(limits);
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_EQ(kept->plans_deleted, 0u);
  absl::StatusOr<v1::Plan> stored = store_->plans().GetPlan("again");
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->predicted_time_us(), 1.0) << "the first plan is kept";
  absl::SleepFor(absl::Milliseconds(1200));
  absl::StatusOr<PruneResult> gone = store_->Prune(limits);
  ASSERT_TRUE(gone.ok()) << gone.status();
  EXPECT_EQ(gone->plans_deleted, 1u);
}

TEST_P(StoreConformanceTest, ProbeWriteSucceedsOnAWritableStore) {
  EXPECT_TRUE(store_->ProbeWrite().ok());
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreConformanceTest,
                         ::testing::ValuesIn(kBackends),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return info.param.name;
                         });

// ---------------------------------------------------------------------------
// SQLite specifics

TEST(SqliteStoreTest, RejectsAFileThatIsNotADatabase) {
  std::string path =
      ::testing::TempDir() + "/autotm_not_a_db_" + std::to_string(getpid());
  {
    FILE* f = fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    fputs(
        "this is not a database, just some text that is long enough\n"
        "to fill a header page of a SQLite file and then some more.\n",
        f);
    fclose(f);
  }
  absl::StatusOr<std::unique_ptr<Store>> store = OpenSqliteStore(path);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kInternal);
  std::filesystem::remove(path);
}

TEST(SqliteStoreTest, RejectsAnotherApplicationsDatabase) {
  std::string dir =
      ::testing::TempDir() + "/autotm_other_db_" + std::to_string(getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::string path = dir + "/other.db";
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE t (x INTEGER)", nullptr, nullptr,
                           nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  absl::StatusOr<std::unique_ptr<Store>> store = OpenSqliteStore(path);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(store.status().message(), HasSubstr("not an autotm database"));
  std::filesystem::remove_all(dir);
}

TEST(SqliteStoreTest, UnopenablePathIsInternal) {
  absl::StatusOr<std::unique_ptr<Store>> store =
      OpenSqliteStore("/nonexistent-dir/for/sure/autotm.db");
  EXPECT_EQ(store.status().code(), absl::StatusCode::kInternal);
}

// ---------------------------------------------------------------------------
// PostgreSQL specifics

TEST(PostgresStoreTest, RejectsAnotherApplicationsDatabase) {
  absl::StatusOr<testing::TestPostgres*> pg = testing::TestPostgres::Shared();
  ASSERT_TRUE(pg.ok()) << pg.status();
  absl::StatusOr<std::string> uri = (*pg)->NewDatabase();
  ASSERT_TRUE(uri.ok()) << uri.status();
  {
    absl::StatusOr<std::unique_ptr<Store>> store = OpenPostgresStore(*uri);
    ASSERT_TRUE(store.ok()) << store.status();
  }
  // Opening again finds autotm's schema; another application's tables in a
  // fresh database are refused.
  EXPECT_TRUE(OpenPostgresStore(*uri).ok());
  absl::StatusOr<std::string> foreign = (*pg)->NewDatabase();
  ASSERT_TRUE(foreign.ok());
  {
    pqxx::connection connection(*foreign);
    pqxx::nontransaction txn(connection);
    txn.exec("CREATE TABLE t (x INTEGER)");
  }
  absl::StatusOr<std::unique_ptr<Store>> store = OpenPostgresStore(*foreign);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(store.status().message(), HasSubstr("not an autotm database"));
}

// A database at schema version 1 (before retention) upgrades in place:
// its rows stay, get the migration's time as their write time (so nothing
// goes by age at once), and prune from then on.
TEST(PostgresStoreTest, UpgradesAVersion1DatabaseInPlace) {
  absl::StatusOr<testing::TestPostgres*> pg = testing::TestPostgres::Shared();
  ASSERT_TRUE(pg.ok()) << pg.status();
  absl::StatusOr<std::string> uri = (*pg)->NewDatabase();
  ASSERT_TRUE(uri.ok()) << uri.status();
  std::string digest;
  std::string job_id;
  {
    absl::StatusOr<std::unique_ptr<Store>> store = OpenPostgresStore(*uri);
    ASSERT_TRUE(store.ok()) << store.status();
    absl::StatusOr<std::string> put = (*store)->graphs().PutGraph(SmallGraph());
    ASSERT_TRUE(put.ok());
    digest = *put;
    v1::Plan plan;
    plan.set_budget_bytes(1 << 20);
    ASSERT_TRUE((*store)->plans().PutPlan("old-plan", plan).ok());
    absl::StatusOr<v1::SolveJob> job = (*store)->jobs().CreateJob(NewJob(0), 0);
    ASSERT_TRUE(job.ok());
    job_id = job->id();
    ASSERT_TRUE((*store)->jobs().ClaimNextJob().ok());
    ASSERT_NO_FATAL_FAILURE(Finish((*store)->jobs(), *job, {}));
  }
  {
    // Back to version 1: what migrations 1 -> 2 and 2 -> 3 add, removed.
    pqxx::connection connection(*uri);
    pqxx::work txn(connection);
    txn.exec("DROP TABLE write_probe");
    txn.exec("DROP INDEX jobs_by_update");
    txn.exec("ALTER TABLE jobs DROP COLUMN updated_us");
    txn.exec("ALTER TABLE graphs DROP COLUMN used_us");
    txn.exec("ALTER TABLE plans DROP COLUMN created_us");
    txn.exec("UPDATE autotm_schema SET version = 1");
    txn.commit();
  }
  absl::StatusOr<std::unique_ptr<Store>> store = OpenPostgresStore(*uri);
  ASSERT_TRUE(store.ok()) << store.status();
  {
    pqxx::connection connection(*uri);
    pqxx::nontransaction txn(connection);
    EXPECT_EQ(txn.exec("SELECT version FROM autotm_schema")[0][0].as<int>(), 3);
    // Write times within a minute of the database's clock.
    pqxx::result ages = txn.exec(
        "SELECT (SELECT max(abs(extract(epoch from now()) * 1e6 - updated_us))"
        " FROM jobs), (SELECT max(abs(extract(epoch from now()) * 1e6 - "
        "used_us)) FROM graphs), (SELECT max(abs(extract(epoch from now()) * "
        "1e6 - created_us)) FROM plans)");
    for (int column = 0; column < 3; ++column) {
      EXPECT_LT(ages[0][column].as<double>(), 60e6) << column;
    }
  }
  EXPECT_TRUE((*store)->jobs().GetJob(job_id).ok());
  EXPECT_TRUE((*store)->graphs().GetGraph(digest).ok());
  EXPECT_TRUE((*store)->plans().GetPlan("old-plan").ok());
  RetentionLimits by_age;
  by_age.job_age = absl::Hours(1);
  by_age.unreferenced_age = absl::Hours(1);
  absl::StatusOr<PruneResult> nothing = (*store)->Prune(by_age);
  ASSERT_TRUE(nothing.ok()) << nothing.status();
  EXPECT_EQ(
      nothing->jobs_deleted + nothing->graphs_deleted + nothing->plans_deleted,
      0u);
  RetentionLimits everything;
  everything.max_bytes = 1;
  everything.grace = absl::ZeroDuration();
  absl::StatusOr<PruneResult> all = (*store)->Prune(everything);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->jobs_deleted, 1u);
  EXPECT_EQ(all->graphs_deleted, 1u);
  EXPECT_EQ(all->plans_deleted, 1u);
  EXPECT_EQ(all->content_bytes_after, 0u);
}

TEST(PostgresStoreTest, UnreachableServerIsInternalWithoutPassword) {
  absl::StatusOr<std::unique_ptr<Store>> store = OpenPostgresStore(
      "postgresql://autotm:s3cret@127.0.0.1:1/autotm?connect_timeout=2");
  EXPECT_EQ(store.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(store.status().message(), ::testing::Not(HasSubstr("s3cret")));
}

// A database error reaches the caller as Internal naming the operation and
// the SQLSTATE, never the SQL or the server's message.
TEST(PostgresStoreTest, DatabaseErrorsAreInternalWithoutSql) {
  absl::StatusOr<testing::TestPostgres*> pg = testing::TestPostgres::Shared();
  ASSERT_TRUE(pg.ok()) << pg.status();
  absl::StatusOr<std::string> uri = (*pg)->NewDatabase();
  ASSERT_TRUE(uri.ok()) << uri.status();
  absl::StatusOr<std::unique_ptr<Store>> store = OpenPostgresStore(*uri);
  ASSERT_TRUE(store.ok()) << store.status();
  {
    pqxx::connection connection(*uri);
    pqxx::nontransaction txn(connection);
    txn.exec("DROP TABLE plans");
  }
  absl::Status status = (*store)->plans().GetPlan("key").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(status.message(), HasSubstr("GetPlan: database error"));
  EXPECT_THAT(status.message(), HasSubstr("SQLSTATE 42P01"));
  EXPECT_THAT(status.message(), ::testing::Not(HasSubstr("SELECT")));
  EXPECT_THAT(status.message(), ::testing::Not(HasSubstr("plans")));
}

// Connections the server drops (a restart, a failover, an idle timeout)
// are replaced: the next call succeeds.
TEST(PostgresStoreTest, ReconnectsAfterTheServerDropsItsConnections) {
  absl::StatusOr<testing::TestPostgres*> pg = testing::TestPostgres::Shared();
  ASSERT_TRUE(pg.ok()) << pg.status();
  absl::StatusOr<std::string> uri = (*pg)->NewDatabase();
  ASSERT_TRUE(uri.ok()) << uri.status();
  absl::StatusOr<std::unique_ptr<Store>> store = OpenPostgresStore(*uri);
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<v1::SolveJob> job = (*store)->jobs().CreateJob(NewJob(0), 0);
  ASSERT_TRUE(job.ok()) << job.status();
  {
    pqxx::connection connection(*uri);
    pqxx::nontransaction txn(connection);
    pqxx::result r = txn.exec(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()");
    ASSERT_GE(r[0][0].as<int>(), 1);
  }
  absl::StatusOr<v1::SolveJob> got = (*store)->jobs().GetJob(job->id());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->id(), job->id());
}

TEST(PostgresStoreTest, RecognisesUris) {
  EXPECT_TRUE(IsPostgresUri("postgresql://h/db"));
  EXPECT_TRUE(IsPostgresUri("postgres://h/db"));
  EXPECT_FALSE(IsPostgresUri("autotm.db"));
  EXPECT_FALSE(IsPostgresUri("/var/lib/postgresql.db"));
}

}  // namespace
}  // namespace autotm::server
