// The PostgreSQL store's storage failures (issue 19: disk-full handling as
// SQLite's, issue 18), against a real PostgreSQL server that the test starts
// (TestPostgres):
//   - errors of SQLSTATE class 53 (disk full, out of memory) and 58 (I/O
//     error), raised by the server itself (a trigger, testing/write_fault.h),
//     become Unavailable marked IsStorageFailure, with a message free of SQL,
//     and reach the StoreObserver with PostgreSQL's words and the query;
//     other errors stay Internal and are not reported;
//   - a lost connection (the database refuses connections and its sessions
//     are terminated) is a storage failure too, and the store recovers;
//   - ProbeWrite fails while the storage fails and succeeds once it works;
//   - a replica does not take over the expired lease of a job it still
//     holds (a full disk stops its renewals), while another replica, or the
//     same replica id in a new process, does;
//   - a real full disk: the store's tables in a tablespace on a small tmpfs,
//     filled up. Skipped, with the reason, where mount(8) is refused.
#include <pwd.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <pqxx/pqxx>
#include <random>
#include <string>
#include <system_error>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "autotm/v1/graph.pb.h"
#include "autotm/v1/job.pb.h"
#include "autotm/v1/plan.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/store/postgres_store.h"
#include "server/store/store.h"
#include "server/store/testing/test_postgres.h"
#include "server/store/testing/write_fault.h"

namespace autotm::server {
namespace {

using ::autotm::server::testing::ClearWriteFault;
using ::autotm::server::testing::InstallWriteFault;
using ::autotm::server::testing::SetWriteFault;
using ::autotm::server::testing::TestPostgres;
using ::testing::HasSubstr;
using ::testing::Not;

class RecordingObserver : public StoreObserver {
 public:
  void OnStorageFailure(const absl::Status& status,
                        const std::string& detail) override {
    std::lock_guard<std::mutex> lock(mutex_);
    statuses_.push_back(status);
    details_.push_back(detail);
  }
  size_t count() {
    std::lock_guard<std::mutex> lock(mutex_);
    return details_.size();
  }
  std::string last_detail() {
    std::lock_guard<std::mutex> lock(mutex_);
    return details_.empty() ? "" : details_.back();
  }

 private:
  std::mutex mutex_;
  std::vector<absl::Status> statuses_;
  std::vector<std::string> details_;
};

// Words of SQL that must never reach a client.
void ExpectNoSql(absl::string_view message) {
  for (const char* word : {"INSERT", "UPDATE", "SELECT", "TRUNCATE", "plans",
                           "jobs", "write_probe", "test fault"}) {
    EXPECT_THAT(std::string(message), Not(HasSubstr(word)));
  }
}

std::string DatabaseName(const std::string& uri) {
  return uri.substr(uri.rfind('/') + 1);
}

absl::Status Exec(const std::string& uri, const std::string& sql) {
  try {
    pqxx::connection connection(uri);
    pqxx::nontransaction txn(connection);
    txn.exec(sql);
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return absl::InternalError(e.what());
  }
}

v1::Plan SomePlan(double predicted_us) {
  v1::Plan plan;
  plan.set_predicted_time_us(predicted_us);
  return plan;
}

v1::SolveJob NewJob() {
  v1::SolveJob job;
  job.set_graph_digest("sha256:" + std::string(64, 'a'));
  job.set_host_class("h");
  job.add_budgets_bytes(1 << 20);
  return job;
}

class PostgresStorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<TestPostgres*> pg = TestPostgres::Shared();
    ASSERT_TRUE(pg.ok()) << pg.status();
    pg_ = *pg;
    absl::StatusOr<std::string> uri = pg_->NewDatabase();
    ASSERT_TRUE(uri.ok()) << uri.status();
    uri_ = *uri;
    ASSERT_NO_FATAL_FAILURE(Open());
  }

  void Open() {
    absl::StatusOr<std::unique_ptr<Store>> store = OpenPostgresStore(uri_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    store_->SetObserver(&observer_);
  }

  // `status` is a storage failure as clients see it: Unavailable, marked,
  // naming `words`, without SQL.
  void ExpectStorageFailure(const absl::Status& status,
                            const std::string& words) {
    EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
    EXPECT_TRUE(IsStorageFailure(status)) << status;
    EXPECT_THAT(std::string(status.message()),
                HasSubstr("database cannot be written"));
    EXPECT_THAT(std::string(status.message()), HasSubstr(words));
    ExpectNoSql(status.message());
  }

  TestPostgres* pg_ = nullptr;
  std::string uri_;
  RecordingObserver observer_;
  std::unique_ptr<Store> store_;
};

struct StorageCase {
  const char* sqlstate;
  const char* words;  // in the client's message
};

class PostgresStorageFailureTest
    : public PostgresStorageTest,
      public ::testing::WithParamInterface<StorageCase> {};

TEST_P(PostgresStorageFailureTest, UnavailableReportedAndProbedBack) {
  const StorageCase& param = GetParam();
  ASSERT_TRUE(InstallWriteFault(uri_, {"plans", "write_probe"}).ok());
  ASSERT_TRUE(store_->ProbeWrite().ok());
  ASSERT_TRUE(SetWriteFault(uri_, param.sqlstate).ok());

  absl::Status put = store_->plans().PutPlan("k", SomePlan(1));
  ExpectStorageFailure(put, param.words);
  EXPECT_THAT(std::string(put.message()),
              HasSubstr(absl::StrCat("SQLSTATE ", param.sqlstate)));
  ASSERT_EQ(observer_.count(), 1u);
  // The log gets PostgreSQL's words and the query.
  EXPECT_THAT(observer_.last_detail(), HasSubstr("PutPlan"));
  EXPECT_THAT(observer_.last_detail(), HasSubstr("test fault"));
  EXPECT_THAT(observer_.last_detail(), HasSubstr("INSERT INTO plans"));
  // Reads go on.
  EXPECT_TRUE(absl::IsNotFound(store_->plans().GetPlan("k").status()));

  absl::Status probe = store_->ProbeWrite();
  ExpectStorageFailure(probe, param.words);
  EXPECT_EQ(observer_.count(), 2u);

  ASSERT_TRUE(ClearWriteFault(uri_).ok());
  EXPECT_TRUE(store_->ProbeWrite().ok());
  ASSERT_TRUE(store_->plans().PutPlan("k", SomePlan(1)).ok());
  absl::StatusOr<v1::Plan> plan = store_->plans().GetPlan("k");
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->predicted_time_us(), 1);
  EXPECT_EQ(observer_.count(), 2u);
}

INSTANTIATE_TEST_SUITE_P(
    Postgres, PostgresStorageFailureTest,
    ::testing::Values(StorageCase{"53100", "the disk is full"},
                      StorageCase{"53200", "out of memory"},
                      StorageCase{"53400", "out of resources"},
                      StorageCase{"58030", "I/O error"},
                      StorageCase{"58000", "system error"}),
    [](const ::testing::TestParamInfo<StorageCase>& info) {
      return std::string("Sqlstate") + info.param.sqlstate;
    });

class PostgresOtherErrorTest
    : public PostgresStorageTest,
      public ::testing::WithParamInterface<const char*> {};

TEST_P(PostgresOtherErrorTest, StaysInternalAndUnreported) {
  ASSERT_TRUE(InstallWriteFault(uri_, {"plans"}).ok());
  ASSERT_TRUE(SetWriteFault(uri_, GetParam()).ok());
  absl::Status put = store_->plans().PutPlan("k", SomePlan(1));
  EXPECT_EQ(put.code(), absl::StatusCode::kInternal) << put;
  EXPECT_FALSE(IsStorageFailure(put));
  EXPECT_THAT(std::string(put.message()),
              HasSubstr(absl::StrCat("SQLSTATE ", GetParam())));
  ExpectNoSql(put.message());
  EXPECT_EQ(observer_.count(), 0u);
}

// A RAISE without a code, a check violation, an invalid number.
INSTANTIATE_TEST_SUITE_P(Postgres, PostgresOtherErrorTest,
                         ::testing::Values("P0001", "23514", "22P02"));

TEST_F(PostgresStorageTest, PostgresLostConnectionIsAStorageFailure) {
  ASSERT_TRUE(store_->jobs().CreateJob(NewJob(), 0).ok());
  const std::string name = DatabaseName(uri_);
  // The database refuses new sessions and its sessions end: the store's
  // pooled connections break and its one retry cannot connect.
  ASSERT_TRUE(Exec(pg_->AdminUri(), absl::StrCat("ALTER DATABASE ", name,
                                                 " ALLOW_CONNECTIONS false"))
                  .ok());
  ASSERT_TRUE(Exec(pg_->AdminUri(),
                   absl::StrCat("SELECT pg_terminate_backend(pid) FROM "
                                "pg_stat_activity WHERE datname = '",
                                name, "'"))
                  .ok());
  // Termination is asynchronous: wait until the sessions are gone.
  const absl::Time end = absl::Now() + absl::Seconds(10);
  while (absl::Now() < end) {
    pqxx::connection admin(pg_->AdminUri());
    pqxx::nontransaction txn(admin);
    if (txn.exec_params("SELECT count(*) FROM pg_stat_activity WHERE "
                        "datname = $1",
                        name)[0][0]
            .as<int>() == 0) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  absl::StatusOr<JobPage> page = store_->jobs().ListJobs(JobFilter{});
  ExpectStorageFailure(page.status(), "connection");
  EXPECT_GE(observer_.count(), 1u);
  ExpectStorageFailure(store_->ProbeWrite(), "connection");

  ASSERT_TRUE(Exec(pg_->AdminUri(), absl::StrCat("ALTER DATABASE ", name,
                                                 " ALLOW_CONNECTIONS true"))
                  .ok());
  EXPECT_TRUE(store_->ProbeWrite().ok());
  page = store_->jobs().ListJobs(JobFilter{});
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->jobs.size(), 1u);
}

// A job whose replica cannot renew its lease or store its final state
// while the disk is full.
class PostgresLeaseTest : public PostgresStorageTest {
 protected:
  void SetUp() override {
    PostgresStorageTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(InstallWriteFault(uri_).ok());
    absl::StatusOr<v1::SolveJob> created =
        store_->jobs().CreateJob(NewJob(), 0);
    ASSERT_TRUE(created.ok()) << created.status();
    absl::StatusOr<std::optional<v1::SolveJob>> claimed =
        store_->jobs().ClaimNextJobLeased("r1", kLease);
    ASSERT_TRUE(claimed.ok() && claimed->has_value()) << claimed.status();
    job_ = **claimed;
    // The disk fills: renewals and the final state fail; the lease runs
    // out; space returns.
    ASSERT_TRUE(SetWriteFault(uri_, "53100").ok());
    absl::StatusOr<std::vector<LeaseState>> renewed =
        store_->jobs().RenewLeases("r1", {job_.id()}, kLease);
    ExpectStorageFailure(renewed.status(), "the disk is full");
    final_ = job_;
    final_.set_state(v1::SolveJob::FAILED);
    final_.set_error("cannot store the plan");
    ExpectStorageFailure(store_->jobs().UpdateLeasedJob(final_, "r1"),
                         "the disk is full");
    absl::SleepFor(kLease * 2);
    // Expired, but nobody can take it over while the disk is full.
    ExpectStorageFailure(
        store_->jobs().ClaimNextJobLeased("r2", kLease).status(),
        "the disk is full");
    ASSERT_TRUE(ClearWriteFault(uri_).ok());
  }

  absl::StatusOr<v1::SolveJob> Stored() {
    return store_->jobs().GetJob(job_.id());
  }

  static constexpr absl::Duration kLease = absl::Milliseconds(300);
  v1::SolveJob job_;
  v1::SolveJob final_;
};

TEST_F(PostgresLeaseTest, PostgresOwnReplicaStoresItsFinalState) {
  // The replica's own idle slot does not take the job over: it holds its
  // final state, which it then stores although the lease ran out.
  absl::StatusOr<std::optional<v1::SolveJob>> again =
      store_->jobs().ClaimNextJobLeased("r1", kLease);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->has_value());
  ASSERT_TRUE(store_->jobs().UpdateLeasedJob(final_, "r1").ok());
  absl::StatusOr<v1::SolveJob> stored = Stored();
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->state(), v1::SolveJob::FAILED);
  // Nothing is left to claim.
  again = store_->jobs().ClaimNextJobLeased("r1", kLease);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->has_value());
}

TEST_F(PostgresLeaseTest, PostgresAnotherReplicaMayRunItAgain) {
  // Another replica claims it first: it runs again, and the first
  // replica's final state is refused (the runner drops it).
  absl::StatusOr<std::optional<v1::SolveJob>> taken =
      store_->jobs().ClaimNextJobLeased("r2", absl::Hours(1));
  ASSERT_TRUE(taken.ok()) << taken.status();
  ASSERT_TRUE(taken->has_value());
  EXPECT_EQ((*taken)->id(), job_.id());
  EXPECT_TRUE(
      absl::IsFailedPrecondition(store_->jobs().UpdateLeasedJob(final_, "r1")));
  v1::SolveJob done = **taken;
  done.set_state(v1::SolveJob::SUCCEEDED);
  ASSERT_TRUE(store_->jobs().UpdateLeasedJob(done, "r2").ok());
  absl::StatusOr<v1::SolveJob> stored = Stored();
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->state(), v1::SolveJob::SUCCEEDED);
}

TEST_F(PostgresLeaseTest, PostgresRestartedReplicaTakesItsJobBack) {
  // The same replica id in a new process (a restart with a fixed
  // --replica-id) holds nothing, so it takes its expired job over.
  store_.reset();
  ASSERT_NO_FATAL_FAILURE(Open());
  absl::StatusOr<std::optional<v1::SolveJob>> taken =
      store_->jobs().ClaimNextJobLeased("r1", kLease);
  ASSERT_TRUE(taken.ok()) << taken.status();
  ASSERT_TRUE(taken->has_value());
  EXPECT_EQ((*taken)->id(), job_.id());
}

TEST_F(PostgresStorageTest, PostgresReplicaTakesBackAJobItGaveUp) {
  // A final state that fails for another reason than the storage is not
  // written again (the runner logs and drops it): the job is no longer held,
  // and once its lease runs out the same replica may run it again.
  ASSERT_TRUE(InstallWriteFault(uri_, {"jobs"}).ok());
  ASSERT_TRUE(store_->jobs().CreateJob(NewJob(), 0).ok());
  absl::StatusOr<std::optional<v1::SolveJob>> claimed =
      store_->jobs().ClaimNextJobLeased("r1", absl::Milliseconds(300));
  ASSERT_TRUE(claimed.ok() && claimed->has_value()) << claimed.status();
  v1::SolveJob failed = **claimed;
  failed.set_state(v1::SolveJob::FAILED);
  ASSERT_TRUE(SetWriteFault(uri_, "P0001").ok());
  absl::Status update = store_->jobs().UpdateLeasedJob(failed, "r1");
  EXPECT_EQ(update.code(), absl::StatusCode::kInternal) << update;
  ASSERT_TRUE(ClearWriteFault(uri_).ok());
  absl::SleepFor(absl::Milliseconds(600));
  absl::StatusOr<std::optional<v1::SolveJob>> again =
      store_->jobs().ClaimNextJobLeased("r1", absl::Hours(1));
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_TRUE(again->has_value());
  EXPECT_EQ((*again)->id(), failed.id());
}

// ---------------------------------------------------------------------------
// A real full disk: the store's tables in a tablespace on a small tmpfs.

class PostgresTmpfsTest : public PostgresStorageTest {
 protected:
  void SetUp() override {
    // Before the store opens: its tables go to the tablespace.
    absl::StatusOr<TestPostgres*> pg = TestPostgres::Shared();
    ASSERT_TRUE(pg.ok()) << pg.status();
    pg_ = *pg;
    if (::geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs needs root";
    std::string dir =
        (std::filesystem::temp_directory_path() / "autotm_pg_tmpfs_XXXXXX")
            .string();
    ASSERT_NE(::mkdtemp(dir.data()), nullptr);
    dir_ = dir;
    const std::string mount =
        absl::StrCat("mount -t tmpfs -o size=", kTmpfsBytes,
                     ",mode=0700 autotm-pg-test ", dir_, " 2>", dir_, ".err");
    if (std::system(mount.c_str()) != 0) {
      std::filesystem::remove(dir_ + ".err");
      GTEST_SKIP() << "mount -t tmpfs was refused (no CAP_SYS_ADMIN in this "
                      "container?): the real-disk-full case cannot run here";
    }
    std::filesystem::remove(dir_ + ".err");
    mounted_ = true;
    // The cluster runs as `postgres` when the test runs as root.
    struct passwd* pw = ::getpwnam("postgres");
    ASSERT_NE(pw, nullptr);
    ASSERT_EQ(::chown(dir_.c_str(), pw->pw_uid, pw->pw_gid), 0);
    tablespace_ = absl::StrCat("autotm_small_", ::getpid());
    absl::Status created =
        Exec(pg_->AdminUri(), absl::StrCat("CREATE TABLESPACE ", tablespace_,
                                           " LOCATION '", dir_, "'"));
    ASSERT_TRUE(created.ok()) << created;
    absl::StatusOr<std::string> uri = pg_->NewDatabase();
    ASSERT_TRUE(uri.ok()) << uri.status();
    uri_ = *uri;
    ASSERT_TRUE(Exec(pg_->AdminUri(),
                     absl::StrCat("ALTER DATABASE ", DatabaseName(uri_),
                                  " SET default_tablespace = ", tablespace_))
                    .ok());
    ASSERT_NO_FATAL_FAILURE(Open());
  }

  void TearDown() override {
    store_.reset();
    if (!uri_.empty()) {
      EXPECT_TRUE(Exec(pg_->AdminUri(),
                       absl::StrCat("DROP DATABASE ", DatabaseName(uri_),
                                    " WITH (FORCE)"))
                      .ok());
    }
    if (!tablespace_.empty()) {
      EXPECT_TRUE(
          Exec(pg_->AdminUri(), absl::StrCat("DROP TABLESPACE ", tablespace_))
              .ok());
    }
    if (mounted_) {
      EXPECT_EQ(std::system(absl::StrCat("umount ", dir_).c_str()), 0);
    }
    if (!dir_.empty()) {
      std::error_code ignored;
      std::filesystem::remove(dir_, ignored);
    }
  }

  // Fills the tablespace: 64 KiB rows of incompressible bytes, each
  // committed, until PostgreSQL answers disk_full. Returns the rows.
  int Fill() {
    EXPECT_TRUE(Exec(uri_,
                     "CREATE TABLE filler (b BYTEA NOT NULL); "
                     "ALTER TABLE filler ALTER COLUMN b SET STORAGE EXTERNAL")
                    .ok());
    pqxx::connection connection(uri_);
    for (int rows = 0; rows < 10000; ++rows) {
      try {
        pqxx::work txn(connection);
        txn.exec_params("INSERT INTO filler VALUES ($1)",
                        pqxx::binarystring(RandomBytes(64 << 10)));
        txn.commit();
      } catch (const pqxx::sql_error& e) {
        EXPECT_EQ(e.sqlstate(), "53100") << e.what();
        return rows;
      }
    }
    ADD_FAILURE() << "the tablespace never filled";
    return -1;
  }

  // Letters and digits (a proto string must be UTF-8), which pglz cannot
  // compress: no repeats.
  std::string RandomText(size_t n) {
    static constexpr char kAlphabet[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    std::string text(n, 'a');
    for (char& c : text) c = kAlphabet[random_() % (sizeof(kAlphabet) - 1)];
    return text;
  }

  std::string RandomBytes(size_t n) {
    std::string bytes(n, '\0');
    for (char& c : bytes) c = static_cast<char>(random_());
    return bytes;
  }

  static constexpr int kTmpfsBytes = 4 << 20;
  std::mt19937 random_{19};
  std::string dir_;
  bool mounted_ = false;
  std::string tablespace_;
};

TEST_F(PostgresTmpfsTest, PostgresRealDiskFull) {
  ASSERT_TRUE(store_->ProbeWrite().ok());
  ASSERT_TRUE(store_->jobs().CreateJob(NewJob(), 0).ok());
  const int rows = Fill();
  ASSERT_GT(rows, 0);

  // A graph far larger than any room left in a page.
  v1::Graph graph;
  graph.set_name(RandomText(256 << 10));
  absl::StatusOr<std::string> digest = store_->graphs().PutGraph(graph);
  ExpectStorageFailure(digest.status(), "the disk is full (SQLSTATE 53100)");
  EXPECT_THAT(observer_.last_detail(), HasSubstr("could not extend file"));
  // The probe needs fresh pages, so it fails too; an update in place of
  // the probe's row (what a smaller probe would do) still fits.
  ExpectStorageFailure(store_->ProbeWrite(), "the disk is full");
  EXPECT_TRUE(Exec(uri_, "UPDATE write_probe SET at_us = 0").ok());
  // Reads go on.
  absl::StatusOr<JobPage> page = store_->jobs().ListJobs(JobFilter{});
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->jobs.size(), 1u);

  // Space is freed.
  ASSERT_TRUE(Exec(uri_, "DROP TABLE filler").ok());
  EXPECT_TRUE(store_->ProbeWrite().ok());
  digest = store_->graphs().PutGraph(graph);
  ASSERT_TRUE(digest.ok()) << digest.status();
  absl::StatusOr<v1::Graph> stored = store_->graphs().GetGraph(*digest);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->name(), graph.name());
}

}  // namespace
}  // namespace autotm::server
