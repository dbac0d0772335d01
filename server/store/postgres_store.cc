// The PostgreSQL backend of the store interfaces (libpqxx 6).
//
// Concurrency: a small pool of connections; each method takes one for the
// duration of one transaction (READ COMMITTED unless stated). Rows that a
// read-modify-write depends on are locked (FOR UPDATE / FOR SHARE), and
// transactions that still collide (serialization failure, deadlock) are
// retried, so every method is atomic with respect to other threads and
// other replicas. A connection that breaks is dropped and the method
// retried once on a fresh one.
//
// Lock order, to keep deadlocks rare: host class row, signature rows,
// measurement and separable-cost rows, then the profile version row.
//
// Profile versions follow the SQLite backend exactly (sqlite_store.cc):
// `profile_versions` outlives DeleteHostClass, and a call bumps the version
// exactly when it changes what GetProfile returns.
//
// Jobs: claims are SELECT ... FOR UPDATE SKIP LOCKED, so replicas claiming
// at once take different jobs without waiting for each other; the owners'
// turns come from a sequence, so they increase across replicas. Leases are
// times in microseconds on the database's clock. Every insert or update of
// a job row NOTIFYs channel autotm_jobs with the job id (a trigger), which
// WaitForJobChanges listens to on a connection of its own.
//
// Errors: a database error becomes Internal("<operation>: database error
// (SQLSTATE ...)"); the server's full message (which may name tables and
// values) goes to the log only, never to a client. Storage failures (store.h,
// IsStorageFailure) are the errors that say the database cannot take the
// work now rather than that the call was wrong: SQLSTATE class 53
// (insufficient resources: 53100 disk full, 53200 out of memory, ...), class
// 58 (system errors: 58030 I/O error, ...) and a connection that is lost or
// cannot be opened. They become Unavailable and go, with PostgreSQL's own
// words and the query, to the StoreObserver (the server's StoreMonitor,
// which turns health NOT_SERVING and probes with ProbeWrite).
#include "server/store/postgres_store.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/store/digest.h"
#include "server/store/store_common.h"
#include "solver/status_macros.h"
#include "spdlog/spdlog.h"

namespace autotm::server {
namespace {

constexpr char kJobsChannel[] = "autotm_jobs";
// Serializes migrations between replicas starting at once ('ATTM').
constexpr int64_t kMigrationLock = 0x4154544D;
// Taken while checking queue limits, so that replicas creating jobs at once
// cannot together overshoot max_queued.
constexpr int64_t kQueueLimitLock = 0x4154544E;
constexpr int kMaxAttempts = 5;

// Schema migrations; migration i takes the schema from version i to i + 1.
// Append only: never edit a migration that has shipped. (The schema matches
// SQLite's version 4, plus leases and the change trigger.)
constexpr const char* kMigrations[] = {
    // 0 -> 1: the initial schema.
    R"sql(
CREATE TABLE host_classes (
  name TEXT PRIMARY KEY,
  fingerprint TEXT NOT NULL,
  host_class BYTEA NOT NULL,  -- serialized v1.HostClass
  bandwidths BYTEA NOT NULL   -- serialized v1.CopyBandwidths
);

-- Outlives host_classes rows so that versions are never reused.
CREATE TABLE profile_versions (
  name TEXT PRIMARY KEY,
  version BIGINT NOT NULL
);

CREATE TABLE signatures (
  id BIGSERIAL PRIMARY KEY,
  host_class TEXT NOT NULL
      REFERENCES host_classes(name) ON DELETE CASCADE,
  signature_key TEXT NOT NULL,
  signature BYTEA NOT NULL,   -- serialized v1.KernelSignature
  UNIQUE (host_class, signature_key)
);

CREATE TABLE measurements (
  host_class TEXT NOT NULL
      REFERENCES host_classes(name) ON DELETE CASCADE,
  measurement_id TEXT NOT NULL,
  signature_id BIGINT NOT NULL
      REFERENCES signatures(id) ON DELETE CASCADE,
  config TEXT NOT NULL,
  time_us DOUBLE PRECISION NOT NULL,
  uploader TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (host_class, measurement_id)
);
CREATE INDEX measurements_by_config
  ON measurements (signature_id, config, time_us);
CREATE INDEX measurements_by_uploader ON measurements (host_class, uploader);

CREATE TABLE separable_costs (
  host_class TEXT NOT NULL
      REFERENCES host_classes(name) ON DELETE CASCADE,
  signature_key TEXT NOT NULL,
  kernel BYTEA NOT NULL,      -- serialized v1.KernelProfile
  PRIMARY KEY (host_class, signature_key)
);

CREATE TABLE graphs (
  digest TEXT PRIMARY KEY,
  graph BYTEA NOT NULL        -- serialized v1.Graph
);

-- No foreign key to host_classes: a graph may be submitted for a host class
-- before any agent has profiled it.
CREATE TABLE graph_submissions (
  sequence BIGSERIAL PRIMARY KEY,
  host_class TEXT NOT NULL,
  digest TEXT NOT NULL REFERENCES graphs(digest),
  UNIQUE (host_class, digest)
);

CREATE TABLE plans (
  key TEXT PRIMARY KEY,
  plan BYTEA NOT NULL         -- serialized v1.Plan
);

CREATE SEQUENCE job_sequence;
CREATE TABLE jobs (
  sequence BIGINT PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  state INTEGER NOT NULL,
  priority INTEGER NOT NULL,
  owner TEXT NOT NULL,
  job BYTEA NOT NULL,         -- serialized v1.SolveJob
  -- The replica running the job and until when (us since the epoch, on the
  -- database's clock); '' and 0 when no replica holds it.
  lease_owner TEXT NOT NULL DEFAULT '',
  lease_expires_us BIGINT NOT NULL DEFAULT 0,
  cancel_requested BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX jobs_by_claim_order ON jobs (state, priority DESC, sequence);
CREATE INDEX jobs_by_owner ON jobs (owner, state, sequence);

-- Round robin between owners: a higher turn was served more recently.
CREATE SEQUENCE job_owner_turn;
CREATE TABLE job_owner_turns (
  owner TEXT PRIMARY KEY,
  turn BIGINT NOT NULL
);

-- Every change of a job is announced to the replicas (watch, cancel).
CREATE FUNCTION autotm_notify_job() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('autotm_jobs', NEW.id);
  RETURN NULL;
END $$;
CREATE TRIGGER jobs_notify AFTER INSERT OR UPDATE ON jobs
  FOR EACH ROW EXECUTE FUNCTION autotm_notify_job();
)sql",
    // 1 -> 2: retention (issue 19), as SQLite's 3 -> 4: when each job was
    // last written, each graph last stored or submitted and each plan
    // stored, in us since the epoch on the database's clock. Rows that
    // predate this migration count from the migration (the volatile default
    // fills them), so an upgrade deletes nothing by age at once.
    R"sql(
ALTER TABLE jobs ADD COLUMN updated_us BIGINT NOT NULL
  DEFAULT (extract(epoch from clock_timestamp()) * 1000000)::bigint;
ALTER TABLE graphs ADD COLUMN used_us BIGINT NOT NULL
  DEFAULT (extract(epoch from clock_timestamp()) * 1000000)::bigint;
ALTER TABLE plans ADD COLUMN created_us BIGINT NOT NULL
  DEFAULT (extract(epoch from clock_timestamp()) * 1000000)::bigint;
CREATE INDEX jobs_by_update ON jobs (state, updated_us);
)sql",
    // 2 -> 3: the write probe (ProbeWrite, issue 19: disk-full handling as
    // SQLite's). Its padding is stored out of line and uncompressed, so that
    // a probe needs fresh pages (see ProbeWrite).
    R"sql(
CREATE TABLE write_probe (
  at_us BIGINT NOT NULL,
  padding BYTEA NOT NULL
);
ALTER TABLE write_probe ALTER COLUMN padding SET STORAGE EXTERNAL;
)sql",
};
constexpr int kSchemaVersion = sizeof(kMigrations) / sizeof(kMigrations[0]);

// The database clock in microseconds since the epoch.
constexpr char kNowUs[] =
    "(extract(epoch from clock_timestamp()) * 1000000)::bigint";

int64_t NowMicros() { return absl::ToUnixMicros(absl::Now()); }

pqxx::binarystring Bytes(const std::string& bytes) {
  return pqxx::binarystring(bytes.data(), bytes.size());
}

template <typename Message>
absl::StatusOr<Message> ParseField(const pqxx::field& field,
                                   absl::string_view what) {
  pqxx::binarystring bytes(field);
  return ParseStored<Message>(absl::string_view(bytes.get(), bytes.size()),
                              what);
}

// What a storage failure with this SQLSTATE is, in words for clients, or
// nullptr when the error is not one (store.h, IsStorageFailure).
const char* StorageFailureOf(const std::string& sqlstate) {
  if (sqlstate == "53100") return "the disk is full";
  if (sqlstate == "53200") return "the database server is out of memory";
  if (absl::StartsWith(sqlstate, "53")) {
    return "the database server is out of resources";
  }
  if (sqlstate == "58030") return "I/O error";
  if (absl::StartsWith(sqlstate, "58")) {
    return "a system error in the database server";
  }
  return nullptr;
}

// SQLSTATEs that say the session is gone (connection exceptions, the
// server shutting down or restarting): handled as a broken connection.
bool IsConnectionLoss(const std::string& sqlstate) {
  return absl::StartsWith(sqlstate, "08") || sqlstate == "57P01" ||
         sqlstate == "57P02" || sqlstate == "57P03";
}

// Job ids as a PostgreSQL text[] literal.
std::string TextArray(const std::vector<std::string>& values) {
  std::string literal = "{";
  for (const std::string& value : values) {
    if (literal.size() > 1) literal += ',';
    literal += '"';
    for (char c : value) {
      if (c == '"' || c == '\\') literal += '\\';
      literal += c;
    }
    literal += '"';
  }
  return literal + "}";
}

class PostgresStore final : public Store,
                            public ProfileStore,
                            public GraphStore,
                            public PlanStore,
                            public JobStore {
 public:
  PostgresStore(std::string uri, PostgresStoreOptions options)
      : uri_(std::move(uri)), options_(options) {}

  absl::Status Initialize();

  ProfileStore& profiles() override { return *this; }
  GraphStore& graphs() override { return *this; }
  PlanStore& plans() override { return *this; }
  JobStore& jobs() override { return *this; }

  // ProfileStore.
  absl::Status PutHostClass(const v1::HostClass& host_class,
                            const v1::CopyBandwidths& bandwidths) override;
  absl::StatusOr<uint64_t> AddMeasurements(
      const std::string& host_class,
      const std::vector<Measurement>& measurements) override;
  absl::Status PutSeparableCosts(
      const std::string& host_class,
      const std::vector<v1::KernelProfile>& kernels) override;
  absl::StatusOr<uint64_t> ApplyProfileUpdate(
      const std::string& host_class, const ProfileUpdate& update) override;
  absl::StatusOr<v1::Profile> GetProfile(
      const std::string& host_class) override;
  absl::StatusOr<HostClassInfo> GetHostClassVersion(
      const std::string& host_class) override;
  absl::StatusOr<HostClassInfo> GetHostClass(
      const std::string& host_class) override;
  absl::StatusOr<std::vector<HostClassInfo>> ListHostClasses() override;
  absl::Status DeleteHostClass(const std::string& host_class) override;
  absl::StatusOr<std::vector<Contribution>> ListContributions(
      const std::string& host_class) override;
  absl::StatusOr<uint64_t> DeleteMeasurementsBy(
      const std::string& host_class, const std::string& uploader) override;

  // GraphStore.
  absl::StatusOr<std::string> PutGraph(const v1::Graph& graph) override;
  absl::StatusOr<v1::Graph> GetGraph(const std::string& digest) override;
  absl::Status RecordSubmission(const std::string& host_class,
                                const std::string& digest) override;
  absl::StatusOr<std::vector<std::string>> ListSubmittedGraphs(
      const std::string& host_class) override;

  // PlanStore.
  absl::Status PutPlan(const std::string& key, const v1::Plan& plan) override;
  absl::StatusOr<v1::Plan> GetPlan(const std::string& key) override;

  // JobStore.
  absl::StatusOr<v1::SolveJob> CreateJob(v1::SolveJob job, int max_queued,
                                         int max_queued_per_owner) override;
  absl::StatusOr<v1::SolveJob> GetJob(const std::string& id) override;
  absl::Status UpdateJob(const v1::SolveJob& job) override;
  absl::StatusOr<std::optional<v1::SolveJob>> ClaimNextJob() override;
  absl::StatusOr<JobPage> ListJobs(const JobFilter& filter) override;
  absl::StatusOr<int> RequeueRunningJobs() override;
  absl::StatusOr<std::optional<v1::SolveJob>> ClaimNextJobLeased(
      const std::string& replica, absl::Duration lease) override;
  absl::StatusOr<std::optional<absl::Duration>> NextLeaseExpiry(
      const std::string& replica) override;
  absl::StatusOr<std::vector<LeaseState>> RenewLeases(
      const std::string& replica, const std::vector<std::string>& ids,
      absl::Duration lease) override;
  absl::Status UpdateLeasedJob(const v1::SolveJob& job,
                               const std::string& replica) override;
  absl::StatusOr<v1::SolveJob> RequestCancel(const std::string& id) override;
  absl::StatusOr<std::vector<std::string>> WaitForJobChanges(
      absl::Duration timeout) override;

  // Store: sizes in one snapshot; size_bytes is pg_database_size(), the
  // whole database (tables, indexes, catalogs).
  absl::StatusOr<StoreStats> Stats() override;

  // Store: the same deletions as SQLite's Prune, in one transaction that
  // holds the jobs table in SHARE ROW EXCLUSIVE mode: prunes of several
  // replicas run one after the other, and no job is created, claimed or
  // updated while the references are collected and the deletions made
  // (reads go on). Times are the database's clock. Deletes re-check the
  // state or time they were chosen by, so a graph a request marks used
  // meanwhile stays. file_bytes_* are pg_database_size(); free_bytes_after
  // is 0 (PostgreSQL reports free space only through an extension);
  // `vacuum` runs a plain VACUUM of the four tables after the commit
  // (space becomes reusable and trailing pages go back to the file system;
  // no VACUUM FULL, which would lock the tables against every replica).
  absl::StatusOr<PruneResult> Prune(const RetentionLimits& limits) override;

  void SetObserver(StoreObserver* observer) override { observer_ = observer; }
  // Store: empties the write_probe table (TRUNCATE gives it new, empty
  // files) and inserts one row with 64 KiB of uncompressed padding, in one
  // transaction. So the probe needs about 80 KiB of fresh pages: an update
  // in place, which often still fits in a page of a full disk, would report
  // the storage writable too early. Replicas probing at once take turns
  // (TRUNCATE's lock).
  absl::Status ProbeWrite() override;

 private:
  // The status for a storage failure (`storage`: its words for clients,
  // with the SQLSTATE when there is one); tells the observer, with `detail`
  // (the operation, PostgreSQL's words and the query) for the server's log,
  // or logs it when there is no observer.
  absl::Status StorageFailure(absl::string_view storage,
                              absl::string_view sqlstate,
                              const std::string& detail);
  // Jobs this process claimed under `replica` and still holds (see Claim).
  std::vector<std::string> HeldIds(const std::string& replica);
  void Hold(const std::string& replica, const std::string& id);
  void LetGo(const std::string& replica, const std::string& id);

  // Runs `body(txn)` in one transaction on a pooled connection and commits
  // when it returns OK; a non-OK result rolls back. Collisions are retried;
  // database errors become Internal naming `what`. `body` may run more than
  // once, so it must not have effects outside the transaction.
  template <typename Body>
  auto Transact(absl::string_view what, Body&& body)
      -> decltype(body(std::declval<pqxx::work&>()));

  std::unique_ptr<pqxx::connection> Acquire();
  void Release(std::unique_ptr<pqxx::connection> connection);

  // Transaction bodies shared by several methods.
  static absl::StatusOr<uint64_t> BumpVersion(pqxx::work& txn,
                                              const std::string& host_class);
  static absl::Status RequireHostClass(pqxx::work& txn,
                                       const std::string& host_class);
  static absl::StatusOr<bool> PutHostClassIn(
      pqxx::work& txn, const v1::HostClass& host_class,
      const v1::CopyBandwidths& bandwidths);
  static absl::StatusOr<uint64_t> AddMeasurementsIn(
      pqxx::work& txn, const std::string& host_class,
      const std::vector<MeasurementRow>& rows);
  static absl::StatusOr<bool> PutSeparableCostsIn(
      pqxx::work& txn, const std::string& host_class,
      const std::map<std::string, std::string>& rows);
  static absl::StatusOr<HostClassInfo> HostClassInfoIn(
      pqxx::work& txn, const std::string& host_class);
  // The job `id` with its row locked (FOR UPDATE), and its lease owner.
  static absl::StatusOr<std::pair<v1::SolveJob, std::string>> LockJob(
      pqxx::work& txn, const std::string& id);
  static void WriteJob(pqxx::work& txn, const v1::SolveJob& job);
  // Prune's steps, inside its transaction; each counts what it deletes in
  // *result (as SqliteStore's steps of the same names).
  static void PruneFinishedJobsIn(pqxx::work& txn,
                                  const RetentionLimits& limits, int64_t now,
                                  PruneResult* result);
  static absl::Status PruneUnreferencedIn(pqxx::work& txn,
                                          const RetentionLimits& limits,
                                          int64_t now, int64_t grace_cutoff,
                                          PruneResult* result);
  static absl::Status PruneToBytesIn(pqxx::work& txn,
                                     const RetentionLimits& limits,
                                     int64_t grace_cutoff, PruneResult* result);
  // Runs `sql` outside any transaction (VACUUM cannot run inside one).
  absl::Status ExecOutsideTransaction(absl::string_view what,
                                      const std::string& sql);
  // Claims the next job in claim order; with `replica` set, also expired
  // leases, and leases it.
  absl::StatusOr<std::optional<v1::SolveJob>> Claim(const std::string* replica,
                                                    absl::Duration lease);

  const std::string uri_;
  const PostgresStoreOptions options_;

  absl::Mutex pool_mu_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_
      ABSL_GUARDED_BY(pool_mu_);
  int open_ ABSL_GUARDED_BY(pool_mu_) = 0;

  // The LISTEN connection of WaitForJobChanges (one waiter at a time).
  absl::Mutex listen_mu_;
  std::unique_ptr<pqxx::connection> listener_ ABSL_GUARDED_BY(listen_mu_);
  struct Receiver;
  std::unique_ptr<Receiver> receiver_ ABSL_GUARDED_BY(listen_mu_);

  // Set once before the store is shared (Store::SetObserver).
  std::atomic<StoreObserver*> observer_{nullptr};

  // The (replica, job id) pairs this process claimed and has not let go:
  // a job leaves when a write of it under the lease ends the lease, is
  // refused, or fails for good (a final state that failed for the storage
  // stays: it is written again), or a renewal finds the lease lost. Claim never
  // takes over an expired lease of these: this process still runs the job, or
  // holds its final state until the database takes it (a full disk stops
  // renewals too), and taking it over would run it twice here. A restarted
  // process (same --replica-id, empty set) does take over its own expired jobs.
  absl::Mutex held_mu_;
  std::set<std::pair<std::string, std::string>> held_ ABSL_GUARDED_BY(held_mu_);
};

// Collects the ids NOTIFY sent on the listening connection.
struct PostgresStore::Receiver : pqxx::notification_receiver {
  Receiver(pqxx::connection& connection)
      : pqxx::notification_receiver(connection, kJobsChannel) {}
  void operator()(const std::string& payload, int) override {
    if (seen.insert(payload).second) ids.push_back(payload);
  }
  std::vector<std::string> ids;
  std::set<std::string> seen;
};

std::unique_ptr<pqxx::connection> PostgresStore::Acquire() {
  {
    absl::MutexLock lock(&pool_mu_);
    auto available = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(pool_mu_) {
      return !idle_.empty() || open_ < options_.max_connections;
    };
    pool_mu_.Await(absl::Condition(&available));
    if (!idle_.empty()) {
      std::unique_ptr<pqxx::connection> connection = std::move(idle_.back());
      idle_.pop_back();
      return connection;
    }
    ++open_;
  }
  try {
    return std::make_unique<pqxx::connection>(uri_);
  } catch (...) {
    absl::MutexLock lock(&pool_mu_);
    --open_;
    throw;
  }
}

void PostgresStore::Release(std::unique_ptr<pqxx::connection> connection) {
  absl::MutexLock lock(&pool_mu_);
  if (connection != nullptr && connection->is_open()) {
    idle_.push_back(std::move(connection));
  } else {
    --open_;
  }
}

template <typename Body>
auto PostgresStore::Transact(absl::string_view what, Body&& body)
    -> decltype(body(std::declval<pqxx::work&>())) {
  using Result = decltype(body(std::declval<pqxx::work&>()));
  for (int attempt = 1;; ++attempt) {
    std::unique_ptr<pqxx::connection> connection;
    // Gives the connection back to the pool, or closes it (broken).
    auto give_back = [&](bool keep) {
      if (connection == nullptr) return;  // Acquire failed: nothing held
      if (!keep) connection.reset();
      Release(std::move(connection));
    };
    try {
      connection = Acquire();
      std::optional<Result> result;
      {
        pqxx::work txn(*connection);
        result.emplace(body(txn));
        if (result->ok()) {
          txn.commit();
        } else {
          txn.abort();
        }
      }
      give_back(true);
      return *std::move(result);
    } catch (const pqxx::transaction_rollback& e) {
      // Serialization failure or deadlock: run it again.
      give_back(true);
      if (attempt < kMaxAttempts) continue;
      spdlog::error("{}: {}", std::string(what), e.what());
      return absl::UnavailableError(
          absl::StrCat(what, ": too much contention in the database"));
    } catch (const pqxx::in_doubt_error& e) {
      // A lost connection too; the caller may write again (a final job
      // state is kept and rewritten, which is refused if it had landed).
      give_back(false);
      return StorageFailure(
          "the connection to it broke during a commit", "",
          absl::StrCat(what, ": ", e.what(), " (outcome unknown)"));
    } catch (const pqxx::broken_connection& e) {
      // Nothing was committed: retry once on a fresh connection.
      give_back(false);
      if (attempt < 2) {
        spdlog::warn("{}: database connection lost: {}", std::string(what),
                     e.what());
        continue;
      }
      return StorageFailure("the connection to it is lost", "",
                            absl::StrCat(what, ": ", e.what()));
    } catch (const pqxx::sql_error& e) {
      const std::string detail =
          absl::StrCat(what, ": ", e.what(), " (SQLSTATE ", e.sqlstate(),
                       "; query: ", e.query(), ")");
      if (IsConnectionLoss(e.sqlstate())) {
        give_back(false);
        if (attempt < 2) {
          spdlog::warn("{}", detail);
          continue;
        }
        return StorageFailure("the connection to it is lost", e.sqlstate(),
                              detail);
      }
      give_back(true);
      if (const char* storage = StorageFailureOf(e.sqlstate())) {
        return StorageFailure(storage, e.sqlstate(), detail);
      }
      spdlog::error("{}", detail);
      return absl::InternalError(
          absl::StrCat(what, ": database error (SQLSTATE ", e.sqlstate(), ")"));
    } catch (const std::exception& e) {
      give_back(connection != nullptr && connection->is_open());
      spdlog::error("{}: {}", std::string(what), e.what());
      return absl::InternalError(absl::StrCat(what, ": database error"));
    }
  }
}

absl::Status PostgresStore::StorageFailure(absl::string_view storage,
                                           absl::string_view sqlstate,
                                           const std::string& detail) {
  absl::Status status = MarkStorageFailure(absl::UnavailableError(absl::StrCat(
      "the server's database cannot be written: ", storage,
      sqlstate.empty() ? "" : absl::StrCat(" (SQLSTATE ", sqlstate, ")"),
      "; the operator has been told (server log); try again later")));
  if (StoreObserver* observer = observer_.load(); observer != nullptr) {
    observer->OnStorageFailure(status, detail);
  } else {
    spdlog::error("{}", detail);
  }
  return status;
}

std::vector<std::string> PostgresStore::HeldIds(const std::string& replica) {
  absl::MutexLock lock(&held_mu_);
  std::vector<std::string> ids;
  for (auto it = held_.lower_bound({replica, ""});
       it != held_.end() && it->first == replica; ++it) {
    ids.push_back(it->second);
  }
  return ids;
}

void PostgresStore::Hold(const std::string& replica, const std::string& id) {
  absl::MutexLock lock(&held_mu_);
  held_.emplace(replica, id);
}

void PostgresStore::LetGo(const std::string& replica, const std::string& id) {
  absl::MutexLock lock(&held_mu_);
  held_.erase({replica, id});
}

absl::Status PostgresStore::ProbeWrite() {
  // Zeros: the column is stored uncompressed (migration 2 -> 3).
  static const std::string* const kPadding = new std::string(64 << 10, '\0');
  return Transact("ProbeWrite", [&](pqxx::work& txn) -> absl::Status {
    txn.exec("TRUNCATE write_probe");
    txn.exec_params(absl::StrCat("INSERT INTO write_probe (at_us, padding) "
                                 "VALUES (",
                                 kNowUs, ", $1)"),
                    Bytes(*kPadding));
    return absl::OkStatus();
  });
}

absl::Status PostgresStore::Initialize() {
  return Transact("migrate", [](pqxx::work& txn) -> absl::Status {
    // Replicas starting together migrate one after the other.
    txn.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLock);
    pqxx::result has_version = txn.exec(
        "SELECT count(*) FROM information_schema.tables WHERE "
        "table_schema = current_schema() AND table_name = 'autotm_schema'");
    int version = 0;
    if (has_version[0][0].as<int64_t>() == 0) {
      pqxx::result tables = txn.exec(
          "SELECT count(*) FROM information_schema.tables WHERE "
          "table_schema = current_schema()");
      if (tables[0][0].as<int64_t>() != 0) {
        return absl::InternalError(
            "the database has tables but is not an autotm database");
      }
      txn.exec("CREATE TABLE autotm_schema (version INTEGER NOT NULL)");
      txn.exec("INSERT INTO autotm_schema VALUES (0)");
    } else {
      version = txn.exec("SELECT version FROM autotm_schema")[0][0].as<int>();
    }
    if (version > kSchemaVersion) {
      return absl::InternalError(absl::StrFormat(
          "database schema version %d is newer than this server's %d", version,
          kSchemaVersion));
    }
    for (int v = version; v < kSchemaVersion; ++v) txn.exec(kMigrations[v]);
    if (version != kSchemaVersion) {
      txn.exec_params("UPDATE autotm_schema SET version = $1", kSchemaVersion);
    }
    return absl::OkStatus();
  });
}

// ---------------------------------------------------------------------------
// ProfileStore

absl::StatusOr<uint64_t> PostgresStore::BumpVersion(
    pqxx::work& txn, const std::string& host_class) {
  pqxx::result r = txn.exec_params(
      "INSERT INTO profile_versions (name, version) VALUES ($1, 1) "
      "ON CONFLICT (name) DO UPDATE SET version = profile_versions.version + 1 "
      "RETURNING version",
      host_class);
  return r[0][0].as<uint64_t>();
}

absl::Status PostgresStore::RequireHostClass(pqxx::work& txn,
                                             const std::string& host_class) {
  // FOR SHARE: the host class cannot be deleted under the writer.
  pqxx::result r = txn.exec_params(
      "SELECT 1 FROM host_classes WHERE name = $1 FOR SHARE", host_class);
  if (r.empty()) {
    return absl::NotFoundError(
        absl::StrCat("unknown host class \"", host_class, "\""));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> PostgresStore::PutHostClassIn(
    pqxx::work& txn, const v1::HostClass& host_class,
    const v1::CopyBandwidths& bandwidths) {
  if (host_class.name().empty()) {
    return absl::InvalidArgumentError("host class name is empty");
  }
  const std::string host_class_bytes = DeterministicBytes(host_class);
  const std::string bandwidth_bytes = DeterministicBytes(bandwidths);
  auto conflict = [&](const std::string& stored) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "host class \"%s\" exists with fingerprint \"%s\", not \"%s\"; "
        "delete it first to re-profile",
        host_class.name(), stored, host_class.fingerprint()));
  };
  pqxx::result r = txn.exec_params(
      "SELECT fingerprint, host_class, bandwidths FROM host_classes "
      "WHERE name = $1 FOR UPDATE",
      host_class.name());
  if (!r.empty()) {
    const std::string fingerprint = r[0][0].as<std::string>();
    if (fingerprint != host_class.fingerprint()) return conflict(fingerprint);
    if (pqxx::binarystring(r[0][1]).str() == host_class_bytes &&
        pqxx::binarystring(r[0][2]).str() == bandwidth_bytes) {
      return false;
    }
  }
  // The WHERE guards a concurrent creation with another fingerprint.
  pqxx::result upsert = txn.exec_params(
      "INSERT INTO host_classes (name, fingerprint, host_class, bandwidths) "
      "VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO UPDATE SET "
      "host_class = excluded.host_class, bandwidths = excluded.bandwidths "
      "WHERE host_classes.fingerprint = excluded.fingerprint",
      host_class.name(), host_class.fingerprint(), Bytes(host_class_bytes),
      Bytes(bandwidth_bytes));
  if (upsert.affected_rows() == 0) {
    pqxx::result stored =
        txn.exec_params("SELECT fingerprint FROM host_classes WHERE name = $1",
                        host_class.name());
    return conflict(stored.empty() ? "" : stored[0][0].as<std::string>());
  }
  AUTOTM_RETURN_IF_ERROR(BumpVersion(txn, host_class.name()).status());
  return true;
}

absl::Status PostgresStore::PutHostClass(const v1::HostClass& host_class,
                                         const v1::CopyBandwidths& bandwidths) {
  return Transact("PutHostClass", [&](pqxx::work& txn) -> absl::Status {
    return PutHostClassIn(txn, host_class, bandwidths).status();
  });
}

absl::StatusOr<uint64_t> PostgresStore::AddMeasurementsIn(
    pqxx::work& txn, const std::string& host_class,
    const std::vector<MeasurementRow>& rows) {
  AUTOTM_RETURN_IF_ERROR(RequireHostClass(txn, host_class));
  // Signature ids in two statements per chunk of keys (a multi-row insert
  // of the new ones, then one SELECT of them all) rather than a round trip
  // or two per signature: an upload of 1000 entries has ~60 signatures.
  // Keys sorted, so that concurrent uploaders lock new keys in one order. A
  // concurrent insert of the same key makes ours a no-op once it commits,
  // and the SELECT after it (a new snapshot) then sees its row.
  std::map<std::string, const v1::KernelSignature*> signatures;
  for (const MeasurementRow& row : rows) {
    signatures.emplace(row.key, &row.m->signature);
  }
  absl::flat_hash_map<std::string, int64_t> signature_ids;
  constexpr size_t kSignaturesPerStatement = 500;
  for (auto next = signatures.begin(); next != signatures.end();) {
    std::string insert =
        "INSERT INTO signatures (host_class, signature_key, signature) "
        "VALUES ";
    std::string select =
        "SELECT signature_key, id FROM signatures WHERE host_class = $1 AND "
        "signature_key IN (";
    std::vector<std::string> insert_params = {host_class};
    std::vector<std::string> select_params = {host_class};
    for (size_t n = 0; n < kSignaturesPerStatement && next != signatures.end();
         ++n, ++next) {
      const size_t p = insert_params.size() + 1;
      absl::StrAppend(&insert, n == 0 ? "" : ", ", "($1, $", p, ", $", p + 1,
                      "::bytea)");
      insert_params.push_back(next->first);
      // bytea's text input (hex format): the parameters travel as text.
      insert_params.push_back(absl::StrCat(
          "\\x", absl::BytesToHexString(DeterministicBytes(*next->second))));
      absl::StrAppend(&select, n == 0 ? "" : ", ", "$",
                      select_params.size() + 1);
      select_params.push_back(next->first);
    }
    insert += " ON CONFLICT (host_class, signature_key) DO NOTHING";
    select += ")";
    txn.exec_params(insert, pqxx::prepare::make_dynamic_params(insert_params));
    for (const pqxx::row& row : txn.exec_params(
             select, pqxx::prepare::make_dynamic_params(select_params))) {
      signature_ids[row[0].as<std::string>()] = row[1].as<int64_t>();
    }
  }
  if (signature_ids.size() != signatures.size()) {
    return absl::InternalError("signature insert lost");
  }
  // Many rows per statement (one round trip per chunk, not per row): the
  // parameters travel as text and PostgreSQL converts them to the columns'
  // types; %.17g keeps every double exact.
  constexpr size_t kRowsPerStatement = 500;
  uint64_t added = 0;
  for (size_t first = 0; first < rows.size(); first += kRowsPerStatement) {
    const size_t last = std::min(rows.size(), first + kRowsPerStatement);
    std::string sql =
        "INSERT INTO measurements (host_class, measurement_id, signature_id, "
        "config, time_us, uploader) VALUES ";
    std::vector<std::string> params = {host_class};
    params.reserve(1 + 5 * (last - first));
    for (size_t i = first; i < last; ++i) {
      const MeasurementRow& row = rows[i];
      const size_t p = params.size() + 1;
      absl::StrAppend(&sql, i == first ? "" : ", ", "($1, $", p, ", $", p + 1,
                      "::bigint, $", p + 2, ", $", p + 3,
                      "::double precision, $", p + 4, ")");
      params.push_back(row.id);
      params.push_back(absl::StrCat(signature_ids.at(row.key)));
      params.push_back(row.m->config);
      params.push_back(absl::StrFormat("%.17g", row.m->time_us));
      params.push_back(row.m->uploader);
    }
    sql += " ON CONFLICT DO NOTHING";
    added += txn.exec_params(sql, pqxx::prepare::make_dynamic_params(params))
                 .affected_rows();
  }
  if (added > 0) AUTOTM_RETURN_IF_ERROR(BumpVersion(txn, host_class).status());
  return added;
}

absl::StatusOr<uint64_t> PostgresStore::AddMeasurements(
    const std::string& host_class,
    const std::vector<Measurement>& measurements) {
  AUTOTM_ASSIGN_OR_RETURN(const std::vector<MeasurementRow> rows,
                          CheckMeasurements(measurements));
  return Transact("AddMeasurements",
                  [&](pqxx::work& txn) -> absl::StatusOr<uint64_t> {
                    return AddMeasurementsIn(txn, host_class, rows);
                  });
}

absl::StatusOr<bool> PostgresStore::PutSeparableCostsIn(
    pqxx::work& txn, const std::string& host_class,
    const std::map<std::string, std::string>& rows) {
  AUTOTM_RETURN_IF_ERROR(RequireHostClass(txn, host_class));
  bool changed = false;
  for (const auto& [key, bytes] : rows) {
    pqxx::result r = txn.exec_params(
        "INSERT INTO separable_costs (host_class, signature_key, kernel) "
        "VALUES ($1, $2, $3) ON CONFLICT (host_class, signature_key) DO "
        "UPDATE SET kernel = excluded.kernel "
        "WHERE separable_costs.kernel <> excluded.kernel",
        host_class, key, Bytes(bytes));
    changed |= r.affected_rows() > 0;
  }
  if (changed) AUTOTM_RETURN_IF_ERROR(BumpVersion(txn, host_class).status());
  return changed;
}

absl::Status PostgresStore::PutSeparableCosts(
    const std::string& host_class,
    const std::vector<v1::KernelProfile>& kernels) {
  AUTOTM_ASSIGN_OR_RETURN(const auto rows, CheckSeparableCosts(kernels));
  return Transact("PutSeparableCosts", [&](pqxx::work& txn) -> absl::Status {
    return PutSeparableCostsIn(txn, host_class, rows).status();
  });
}

absl::StatusOr<uint64_t> PostgresStore::ApplyProfileUpdate(
    const std::string& host_class, const ProfileUpdate& update) {
  if (update.host_class.has_value() &&
      update.host_class->name() != host_class) {
    return absl::InvalidArgumentError(absl::StrCat(
        "profile update for host class \"", host_class,
        "\" carries host class \"", update.host_class->name(), "\""));
  }
  AUTOTM_ASSIGN_OR_RETURN(const std::vector<MeasurementRow> measurements,
                          CheckMeasurements(update.measurements));
  AUTOTM_ASSIGN_OR_RETURN(const auto separable,
                          CheckSeparableCosts(update.separable));
  // One transaction for the whole upload: all or nothing, crash included.
  return Transact(
      "ApplyProfileUpdate", [&](pqxx::work& txn) -> absl::StatusOr<uint64_t> {
        if (update.host_class.has_value()) {
          AUTOTM_RETURN_IF_ERROR(
              PutHostClassIn(txn, *update.host_class, update.bandwidths)
                  .status());
        }
        uint64_t added = 0;
        if (!measurements.empty()) {
          AUTOTM_ASSIGN_OR_RETURN(
              added, AddMeasurementsIn(txn, host_class, measurements));
        }
        if (!separable.empty()) {
          AUTOTM_RETURN_IF_ERROR(
              PutSeparableCostsIn(txn, host_class, separable).status());
        }
        return added;
      });
}

absl::StatusOr<v1::Profile> PostgresStore::GetProfile(
    const std::string& host_class) {
  return Transact(
      "GetProfile", [&](pqxx::work& txn) -> absl::StatusOr<v1::Profile> {
        // One snapshot for all three queries.
        txn.exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY");
        v1::Profile profile;
        pqxx::result hc = txn.exec_params(
            "SELECT host_class, bandwidths FROM host_classes WHERE name = $1",
            host_class);
        if (hc.empty()) {
          return absl::NotFoundError(
              absl::StrCat("unknown host class \"", host_class, "\""));
        }
        AUTOTM_ASSIGN_OR_RETURN(
            *profile.mutable_host_class(),
            ParseField<v1::HostClass>(hc[0][0], "host class"));
        AUTOTM_ASSIGN_OR_RETURN(
            *profile.mutable_bandwidths(),
            ParseField<v1::CopyBandwidths>(hc[0][1], "bandwidths"));
        // Separable costs take precedence over a table for the same signature.
        std::map<std::string, v1::KernelProfile> kernels;
        for (const pqxx::row& row : txn.exec_params(
                 "SELECT signature_key, kernel FROM separable_costs "
                 "WHERE host_class = $1",
                 host_class)) {
          AUTOTM_ASSIGN_OR_RETURN(
              kernels[row[0].as<std::string>()],
              ParseField<v1::KernelProfile>(row[1], "separable cost"));
        }
        // Byte order (COLLATE "C"), as SQLite sorts: a database created with
        // another collation must not change the served bytes.
        pqxx::result rows = txn.exec_params(
            "SELECT s.signature_key, m.config, m.time_us, s.signature "
            "FROM signatures s JOIN measurements m ON m.signature_id = s.id "
            "WHERE s.host_class = $1 ORDER BY s.signature_key COLLATE \"C\", "
            "m.config COLLATE \"C\", m.time_us",
            host_class);
        std::string key, config;
        std::vector<double> times;
        v1::KernelProfile* kernel = nullptr;
        auto flush = [&] {
          if (kernel != nullptr && !times.empty()) {
            v1::ConfigTiming* timing = kernel->add_configs();
            timing->set_config(config);
            timing->set_time_us(times[(times.size() - 1) / 2]);  // lower median
            timing->set_repetitions(static_cast<uint32_t>(times.size()));
          }
          times.clear();
        };
        bool first = true;
        for (const pqxx::row& row : rows) {
          std::string row_key = row[0].as<std::string>();
          std::string row_config = row[1].as<std::string>();
          if (first || row_key != key || row_config != config) {
            flush();
            config = row_config;
            if (first || row_key != key) {
              key = row_key;
              auto [it, inserted] = kernels.try_emplace(key);
              if (inserted) {
                kernel = &it->second;
                AUTOTM_ASSIGN_OR_RETURN(
                    *kernel->mutable_signature(),
                    ParseField<v1::KernelSignature>(row[3], "signature"));
              } else {
                kernel = nullptr;  // served as a separable cost
              }
            }
            first = false;
          }
          times.push_back(row[2].as<double>());
        }
        flush();
        for (auto& [k, kp] : kernels) *profile.add_kernels() = std::move(kp);
        return profile;
      });
}

absl::StatusOr<HostClassInfo> PostgresStore::HostClassInfoIn(
    pqxx::work& txn, const std::string& host_class) {
  pqxx::result r = txn.exec_params(
      "SELECT h.host_class, v.version, "
      "(SELECT count(*) FROM ("
      "   SELECT signature_key FROM signatures s WHERE host_class = $1 "
      "   AND EXISTS (SELECT 1 FROM measurements m "
      "               WHERE m.signature_id = s.id) "
      "   UNION SELECT signature_key FROM separable_costs "
      "   WHERE host_class = $1) AS keys), "
      "(SELECT count(*) FROM (SELECT DISTINCT signature_id, config "
      "   FROM measurements WHERE host_class = $1) AS pairs), "
      "(SELECT count(*) FROM measurements WHERE host_class = $1) "
      "FROM host_classes h JOIN profile_versions v ON v.name = h.name "
      "WHERE h.name = $1",
      host_class);
  if (r.empty()) {
    return absl::NotFoundError(
        absl::StrCat("unknown host class \"", host_class, "\""));
  }
  HostClassInfo info;
  AUTOTM_ASSIGN_OR_RETURN(info.host_class,
                          ParseField<v1::HostClass>(r[0][0], "host class"));
  info.version = r[0][1].as<uint64_t>();
  info.signatures = r[0][2].as<uint64_t>();
  info.configs = r[0][3].as<uint64_t>();
  info.measurements = r[0][4].as<uint64_t>();
  return info;
}

absl::StatusOr<HostClassInfo> PostgresStore::GetHostClass(
    const std::string& host_class) {
  return Transact("GetHostClass", [&](pqxx::work& txn) {
    return HostClassInfoIn(txn, host_class);
  });
}

absl::StatusOr<HostClassInfo> PostgresStore::GetHostClassVersion(
    const std::string& host_class) {
  return Transact(
      "GetHostClassVersion",
      [&](pqxx::work& txn) -> absl::StatusOr<HostClassInfo> {
        pqxx::result r = txn.exec_params(
            "SELECT h.host_class, v.version FROM host_classes h "
            "JOIN profile_versions v ON v.name = h.name "
            "WHERE h.name = $1",
            host_class);
        if (r.empty()) {
          return absl::NotFoundError(
              absl::StrCat("unknown host class \"", host_class, "\""));
        }
        HostClassInfo info;
        AUTOTM_ASSIGN_OR_RETURN(
            info.host_class, ParseField<v1::HostClass>(r[0][0], "host class"));
        info.version = r[0][1].as<uint64_t>();
        return info;
      });
}

absl::StatusOr<std::vector<HostClassInfo>> PostgresStore::ListHostClasses() {
  return Transact(
      "ListHostClasses",
      [&](pqxx::work& txn) -> absl::StatusOr<std::vector<HostClassInfo>> {
        txn.exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY");
        std::vector<HostClassInfo> infos;
        for (const pqxx::row& row : txn.exec(
                 "SELECT name FROM host_classes ORDER BY name COLLATE \"C\"")) {
          AUTOTM_ASSIGN_OR_RETURN(
              infos.emplace_back(),
              HostClassInfoIn(txn, row[0].as<std::string>()));
        }
        return infos;
      });
}

absl::Status PostgresStore::DeleteHostClass(const std::string& host_class) {
  // Measurements, signatures and separable costs go by ON DELETE CASCADE;
  // the version counter stays.
  return Transact("DeleteHostClass", [&](pqxx::work& txn) -> absl::Status {
    pqxx::result r =
        txn.exec_params("DELETE FROM host_classes WHERE name = $1", host_class);
    if (r.affected_rows() == 0) {
      return absl::NotFoundError(
          absl::StrCat("unknown host class \"", host_class, "\""));
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<Contribution>> PostgresStore::ListContributions(
    const std::string& host_class) {
  return Transact(
      "ListContributions",
      [&](pqxx::work& txn) -> absl::StatusOr<std::vector<Contribution>> {
        AUTOTM_RETURN_IF_ERROR(RequireHostClass(txn, host_class));
        std::vector<Contribution> contributions;
        for (const pqxx::row& row : txn.exec_params(
                 "SELECT uploader, count(*), count(DISTINCT signature_id) "
                 "FROM measurements WHERE host_class = $1 "
                 "GROUP BY uploader ORDER BY uploader COLLATE \"C\"",
                 host_class)) {
          Contribution& c = contributions.emplace_back();
          c.uploader = row[0].as<std::string>();
          c.measurements = row[1].as<uint64_t>();
          c.signatures = row[2].as<uint64_t>();
        }
        return contributions;
      });
}

absl::StatusOr<uint64_t> PostgresStore::DeleteMeasurementsBy(
    const std::string& host_class, const std::string& uploader) {
  return Transact(
      "DeleteMeasurementsBy", [&](pqxx::work& txn) -> absl::StatusOr<uint64_t> {
        AUTOTM_RETURN_IF_ERROR(RequireHostClass(txn, host_class));
        pqxx::result r = txn.exec_params(
            "DELETE FROM measurements WHERE host_class = $1 AND uploader = $2",
            host_class, uploader);
        const uint64_t removed = r.affected_rows();
        if (removed == 0) return uint64_t{0};
        // Signatures left without measurements no longer count as covered.
        txn.exec_params(
            "DELETE FROM signatures WHERE host_class = $1 AND NOT EXISTS "
            "(SELECT 1 FROM measurements m WHERE m.signature_id = "
            "signatures.id)",
            host_class);
        AUTOTM_RETURN_IF_ERROR(BumpVersion(txn, host_class).status());
        return removed;
      });
}

// ---------------------------------------------------------------------------
// GraphStore and PlanStore

absl::StatusOr<std::string> PostgresStore::PutGraph(const v1::Graph& graph) {
  const std::string bytes = DeterministicBytes(graph);
  const std::string digest = absl::StrCat("sha256:", Sha256Hex(bytes));
  return Transact(
      "PutGraph", [&](pqxx::work& txn) -> absl::StatusOr<std::string> {
        txn.exec_params(
            absl::StrCat("INSERT INTO graphs (digest, graph) VALUES ($1, "
                         "$2) ON CONFLICT (digest) DO UPDATE SET used_us = ",
                         kNowUs),
            digest, Bytes(bytes));
        return digest;
      });
}

absl::StatusOr<v1::Graph> PostgresStore::GetGraph(const std::string& digest) {
  if (!IsWellFormedDigest(digest)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "graph digest \"", digest, "\" is not of the form sha256:<64 hex>"));
  }
  return Transact(
      "GetGraph", [&](pqxx::work& txn) -> absl::StatusOr<v1::Graph> {
        pqxx::result r = txn.exec_params(
            "SELECT graph FROM graphs WHERE digest = $1", digest);
        if (r.empty())
          return absl::NotFoundError(absl::StrCat("no graph ", digest));
        return ParseField<v1::Graph>(r[0][0], "graph");
      });
}

absl::Status PostgresStore::RecordSubmission(const std::string& host_class,
                                             const std::string& digest) {
  if (!IsWellFormedDigest(digest)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "graph digest \"", digest, "\" is not of the form sha256:<64 hex>"));
  }
  return Transact("RecordSubmission", [&](pqxx::work& txn) -> absl::Status {
    // Marks the graph used (retention keeps it); the row lock makes a prune
    // deleting it at once either wait for this or finish first.
    if (txn.exec_params(absl::StrCat("UPDATE graphs SET used_us = ", kNowUs,
                                     " WHERE digest = $1 RETURNING 1"),
                        digest)
            .empty()) {
      return absl::NotFoundError(absl::StrCat("no graph ", digest));
    }
    txn.exec_params(
        "INSERT INTO graph_submissions (host_class, digest) VALUES ($1, $2) "
        "ON CONFLICT DO NOTHING",
        host_class, digest);
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<std::string>> PostgresStore::ListSubmittedGraphs(
    const std::string& host_class) {
  return Transact(
      "ListSubmittedGraphs",
      [&](pqxx::work& txn) -> absl::StatusOr<std::vector<std::string>> {
        std::vector<std::string> digests;
        for (const pqxx::row& row : txn.exec_params(
                 "SELECT digest FROM graph_submissions WHERE host_class = $1 "
                 "ORDER BY sequence",
                 host_class)) {
          digests.push_back(row[0].as<std::string>());
        }
        return digests;
      });
}

absl::Status PostgresStore::PutPlan(const std::string& key,
                                    const v1::Plan& plan) {
  if (key.empty()) return absl::InvalidArgumentError("plan key is empty");
  const std::string bytes = DeterministicBytes(plan);
  return Transact("PutPlan", [&](pqxx::work& txn) -> absl::Status {
    txn.exec_params(
        "INSERT INTO plans (key, plan) VALUES ($1, $2) ON CONFLICT (key) DO "
        "UPDATE SET created_us = excluded.created_us",
        key, Bytes(bytes));
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::Plan> PostgresStore::GetPlan(const std::string& key) {
  return Transact("GetPlan", [&](pqxx::work& txn) -> absl::StatusOr<v1::Plan> {
    pqxx::result r =
        txn.exec_params("SELECT plan FROM plans WHERE key = $1", key);
    if (r.empty()) {
      return absl::NotFoundError(absl::StrCat("no plan cached for ", key));
    }
    return ParseField<v1::Plan>(r[0][0], "plan");
  });
}

// ---------------------------------------------------------------------------
// JobStore

absl::StatusOr<std::pair<v1::SolveJob, std::string>> PostgresStore::LockJob(
    pqxx::work& txn, const std::string& id) {
  pqxx::result r = txn.exec_params(
      "SELECT job, lease_owner FROM jobs WHERE id = $1 FOR UPDATE", id);
  if (r.empty())
    return absl::NotFoundError(absl::StrCat("no job \"", id, "\""));
  AUTOTM_ASSIGN_OR_RETURN(v1::SolveJob job,
                          ParseField<v1::SolveJob>(r[0][0], "job"));
  return std::make_pair(std::move(job), r[0][1].as<std::string>());
}

void PostgresStore::WriteJob(pqxx::work& txn, const v1::SolveJob& job) {
  // A job that leaves RUNNING leaves its lease and any cancel request.
  txn.exec_params(
      "UPDATE jobs SET state = $2::integer, priority = $3, owner = $4, "
      "job = $5, "
      "lease_owner = CASE WHEN $2::integer = $6::integer THEN lease_owner "
      "ELSE '' END, "
      "lease_expires_us = CASE WHEN $2::integer = $6::integer "
      "THEN lease_expires_us ELSE 0 END, "
      "cancel_requested = cancel_requested AND $2::integer = $6::integer, "
      "updated_us = " +
          std::string(kNowUs) + " WHERE sequence = $1",
      static_cast<int64_t>(job.sequence()), static_cast<int>(job.state()),
      job.priority(), job.owner(), Bytes(DeterministicBytes(job)),
      static_cast<int>(v1::SolveJob::RUNNING));
}

absl::StatusOr<v1::SolveJob> PostgresStore::CreateJob(
    v1::SolveJob job, int max_queued, int max_queued_per_owner) {
  if (max_queued < 0 || max_queued_per_owner < 0) {
    return absl::InvalidArgumentError("queue limits must be >= 0");
  }
  return Transact(
      "CreateJob", [&](pqxx::work& txn) -> absl::StatusOr<v1::SolveJob> {
        v1::SolveJob created = job;
        if (max_queued > 0 || max_queued_per_owner > 0) {
          txn.exec_params("SELECT pg_advisory_xact_lock($1)", kQueueLimitLock);
        }
        if (max_queued > 0) {
          pqxx::result r =
              txn.exec_params("SELECT count(*) FROM jobs WHERE state = $1",
                              static_cast<int>(v1::SolveJob::QUEUED));
          if (r[0][0].as<int64_t>() >= max_queued) {
            return absl::ResourceExhaustedError(absl::StrFormat(
                "the solve queue is full (%d queued jobs)", max_queued));
          }
        }
        if (max_queued_per_owner > 0) {
          pqxx::result r = txn.exec_params(
              "SELECT count(*) FROM jobs WHERE owner = $1 AND state = $2",
              created.owner(), static_cast<int>(v1::SolveJob::QUEUED));
          if (r[0][0].as<int64_t>() >= max_queued_per_owner) {
            return absl::ResourceExhaustedError(absl::StrFormat(
                "principal %s already has %d queued jobs, its limit "
                "(--max-queued-per-principal); wait for some to run or cancel "
                "them",
                created.owner(), max_queued_per_owner));
          }
        }
        created.set_sequence(
            txn.exec("SELECT nextval('job_sequence')")[0][0].as<uint64_t>());
        created.set_id(absl::StrFormat("job-%06d", created.sequence()));
        created.set_state(v1::SolveJob::QUEUED);
        created.set_create_time_us(NowMicros());
        txn.exec_params(
            "INSERT INTO jobs (sequence, id, state, priority, owner, job) "
            "VALUES ($1, $2, $3, $4, $5, $6)",
            static_cast<int64_t>(created.sequence()), created.id(),
            static_cast<int>(created.state()), created.priority(),
            created.owner(), Bytes(DeterministicBytes(created)));
        return created;
      });
}

absl::StatusOr<v1::SolveJob> PostgresStore::GetJob(const std::string& id) {
  return Transact(
      "GetJob", [&](pqxx::work& txn) -> absl::StatusOr<v1::SolveJob> {
        pqxx::result r =
            txn.exec_params("SELECT job FROM jobs WHERE id = $1", id);
        if (r.empty())
          return absl::NotFoundError(absl::StrCat("no job \"", id, "\""));
        return ParseField<v1::SolveJob>(r[0][0], "job");
      });
}

absl::Status PostgresStore::UpdateJob(const v1::SolveJob& job) {
  return UpdateLeasedJob(job, /*replica=*/"");
}

absl::Status PostgresStore::UpdateLeasedJob(const v1::SolveJob& job,
                                            const std::string& replica) {
  if (job.state() == v1::SolveJob::STATE_UNSPECIFIED ||
      !v1::SolveJob::State_IsValid(job.state())) {
    return absl::InvalidArgumentError(
        absl::StrCat("job ", job.id(), ": state must be set"));
  }
  // replica "" (UpdateJob): no lease check.
  absl::Status status =
      Transact("UpdateJob", [&](pqxx::work& txn) -> absl::Status {
        AUTOTM_ASSIGN_OR_RETURN(auto locked, LockJob(txn, job.id()));
        const v1::SolveJob& stored = locked.first;
        if (IsFinalState(stored.state())) {
          return absl::FailedPreconditionError(
              absl::StrCat("job ", job.id(), " is already ",
                           v1::SolveJob::State_Name(stored.state())));
        }
        if (!replica.empty() && (stored.state() != v1::SolveJob::RUNNING ||
                                 locked.second != replica)) {
          return absl::FailedPreconditionError(
              absl::StrCat("job ", job.id(), ": replica ", replica,
                           " no longer holds its lease"));
        }
        v1::SolveJob updated = job;
        // Store-assigned fields never change.
        updated.set_sequence(stored.sequence());
        updated.set_create_time_us(stored.create_time_us());
        WriteJob(txn, updated);
        return absl::OkStatus();
      });
  // The replica still holds the job while it runs it, and while it keeps
  // a final state the storage could not take (it writes it again:
  // job_runner.h); otherwise the lease ended, is not its own, or the
  // replica gave the job up.
  const bool still_held =
      job.state() == v1::SolveJob::RUNNING
          ? !absl::IsFailedPrecondition(status) && !absl::IsNotFound(status)
          : IsFinalState(job.state()) && IsStorageFailure(status);
  if (!replica.empty() && !still_held) LetGo(replica, job.id());
  return status;
}

absl::StatusOr<std::optional<v1::SolveJob>> PostgresStore::Claim(
    const std::string* replica, absl::Duration lease) {
  // Expired leases this process still holds are not taken over (held_).
  const std::string held = TextArray(
      replica != nullptr ? HeldIds(*replica) : std::vector<std::string>());
  absl::StatusOr<std::optional<v1::SolveJob>> claimed = Transact(
      "ClaimNextJob",
      [&](pqxx::work& txn) -> absl::StatusOr<std::optional<v1::SolveJob>> {
        // Within the highest priority, the owner served least recently first,
        // FIFO within an owner; rows other claimers hold are skipped.
        pqxx::result r = txn.exec_params(
            absl::StrCat("SELECT j.job, j.state FROM jobs j "
                         "LEFT JOIN job_owner_turns t ON t.owner = j.owner "
                         "WHERE j.state = $1::integer OR ($2::boolean AND "
                         "j.state = $3::integer "
                         "AND "
                         "j.lease_owner <> '' AND j.lease_expires_us < ",
                         kNowUs,
                         " AND NOT (j.lease_owner = $5 AND "
                         "j.id = ANY($4::text[]))"
                         ") ORDER BY j.priority DESC, coalesce(t.turn, 0) ASC, "
                         "j.sequence ASC LIMIT 1 FOR UPDATE OF j SKIP LOCKED"),
            static_cast<int>(v1::SolveJob::QUEUED), replica != nullptr,
            static_cast<int>(v1::SolveJob::RUNNING), held,
            replica != nullptr ? *replica : std::string());
        if (r.empty()) return std::optional<v1::SolveJob>();
        AUTOTM_ASSIGN_OR_RETURN(v1::SolveJob job,
                                ParseField<v1::SolveJob>(r[0][0], "job"));
        if (r[0][1].as<int>() == v1::SolveJob::RUNNING) {
          // An expired lease: restart as RequeueRunningJobs would.
          job.set_incumbent_us(0);
          job.set_bound_us(0);
          job.set_relative_gap(0);
          job.set_elapsed_seconds(0);
        }
        txn.exec_params(
            "INSERT INTO job_owner_turns (owner, turn) "
            "VALUES ($1, nextval('job_owner_turn')) "
            "ON CONFLICT (owner) DO UPDATE SET turn = excluded.turn",
            job.owner());
        job.set_state(v1::SolveJob::RUNNING);
        job.set_start_time_us(NowMicros());
        WriteJob(txn, job);
        txn.exec_params(
            absl::StrCat("UPDATE jobs SET lease_owner = $2, cancel_requested = "
                         "false, lease_expires_us = ",
                         kNowUs, " + $3 WHERE sequence = $1"),
            static_cast<int64_t>(job.sequence()),
            replica != nullptr ? *replica : std::string(),
            replica != nullptr ? absl::ToInt64Microseconds(lease) : int64_t{0});
        return std::optional<v1::SolveJob>(std::move(job));
      });
  if (replica != nullptr && claimed.ok() && claimed->has_value()) {
    Hold(*replica, (*claimed)->id());
  }
  return claimed;
}

absl::StatusOr<std::optional<v1::SolveJob>> PostgresStore::ClaimNextJob() {
  return Claim(nullptr, absl::ZeroDuration());
}

absl::StatusOr<std::optional<v1::SolveJob>> PostgresStore::ClaimNextJobLeased(
    const std::string& replica, absl::Duration lease) {
  if (replica.empty()) {
    return absl::InvalidArgumentError("replica id is empty");
  }
  if (lease <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("lease must be positive");
  }
  return Claim(&replica, lease);
}

absl::StatusOr<std::optional<absl::Duration>> PostgresStore::NextLeaseExpiry(
    const std::string& replica) {
  if (replica.empty()) {
    return absl::InvalidArgumentError("replica id is empty");
  }
  // The same candidates as Claim's expired leases, less the expiry test;
  // the difference is taken on the database's clock, in one statement.
  const std::string held = TextArray(HeldIds(replica));
  return Transact(
      "NextLeaseExpiry",
      [&](pqxx::work& txn) -> absl::StatusOr<std::optional<absl::Duration>> {
        pqxx::result r = txn.exec_params(
            absl::StrCat("SELECT min(lease_expires_us) - ", kNowUs,
                         " FROM jobs WHERE state = $1::integer AND "
                         "lease_owner <> '' AND NOT (lease_owner = $2 AND "
                         "id = ANY($3::text[]))"),
            static_cast<int>(v1::SolveJob::RUNNING), replica, held);
        if (r.empty() || r[0][0].is_null()) {
          return std::optional<absl::Duration>();
        }
        return std::optional<absl::Duration>(std::max(
            absl::ZeroDuration(), absl::Microseconds(r[0][0].as<int64_t>())));
      });
}

absl::StatusOr<std::vector<LeaseState>> PostgresStore::RenewLeases(
    const std::string& replica, const std::vector<std::string>& ids,
    absl::Duration lease) {
  if (replica.empty()) {
    return absl::InvalidArgumentError("replica id is empty");
  }
  absl::StatusOr<std::vector<LeaseState>> renewed = Transact(
      "RenewLeases",
      [&](pqxx::work& txn) -> absl::StatusOr<std::vector<LeaseState>> {
        std::vector<LeaseState> states;
        for (const std::string& id : ids) {
          // Renew only a lease still held (not yet taken over); an expired one
          // that nobody took yet is still ours.
          pqxx::result r = txn.exec_params(
              absl::StrCat(
                  "UPDATE jobs SET lease_expires_us = ", kNowUs,
                  " + $3 WHERE id = $1 AND lease_owner = $2 AND state = "
                  "$4 RETURNING cancel_requested"),
              id, replica, absl::ToInt64Microseconds(lease),
              static_cast<int>(v1::SolveJob::RUNNING));
          LeaseState& state = states.emplace_back();
          state.id = id;
          state.held = !r.empty();
          state.cancel_requested = state.held && r[0][0].as<bool>();
        }
        return states;
      });
  if (renewed.ok()) {
    for (const LeaseState& state : *renewed) {
      if (!state.held) LetGo(replica, state.id);
    }
  }
  return renewed;
}

absl::StatusOr<v1::SolveJob> PostgresStore::RequestCancel(
    const std::string& id) {
  return Transact(
      "RequestCancel", [&](pqxx::work& txn) -> absl::StatusOr<v1::SolveJob> {
        AUTOTM_ASSIGN_OR_RETURN(auto locked, LockJob(txn, id));
        v1::SolveJob job = std::move(locked.first);
        if (job.state() == v1::SolveJob::QUEUED) {
          job.set_state(v1::SolveJob::CANCELLED);
          job.set_termination(v1::TERMINATION_CANCELLED);
          job.set_end_time_us(NowMicros());
          job.set_error("cancelled before it ran");
          WriteJob(txn, job);
        } else if (job.state() == v1::SolveJob::RUNNING) {
          txn.exec_params(
              "UPDATE jobs SET cancel_requested = true WHERE id = $1", id);
        }
        return job;
      });
}

absl::StatusOr<JobPage> PostgresStore::ListJobs(const JobFilter& filter) {
  if (!v1::SolveJob::State_IsValid(filter.state)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown job state ", static_cast<int>(filter.state)));
  }
  if (filter.page_size < 0 || filter.page_size > kMaxPageSize) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "page_size %d is outside 0..%d", filter.page_size, kMaxPageSize));
  }
  const int page_size =
      filter.page_size == 0 ? kDefaultPageSize : filter.page_size;
  int64_t before = INT64_MAX;
  if (!filter.page_token.empty()) {
    AUTOTM_ASSIGN_OR_RETURN(uint64_t sequence,
                            DecodePageToken(filter.page_token, filter.state));
    before = static_cast<int64_t>(sequence);
  }
  return Transact("ListJobs", [&](pqxx::work& txn) -> absl::StatusOr<JobPage> {
    pqxx::result r = txn.exec_params(
        "SELECT job FROM jobs WHERE ($1::integer = 0 OR state = $1::integer) "
        "AND sequence < $2 AND (NOT $4::boolean OR owner = $5) "
        "ORDER BY sequence DESC LIMIT $3",
        static_cast<int>(filter.state), before, page_size + 1,
        filter.owner.has_value(), filter.owner.value_or(""));
    JobPage page;
    for (const pqxx::row& row : r) {
      if (static_cast<int>(page.jobs.size()) == page_size) {
        page.next_page_token =
            EncodePageToken(filter.state, page.jobs.back().sequence());
        break;
      }
      AUTOTM_ASSIGN_OR_RETURN(page.jobs.emplace_back(),
                              ParseField<v1::SolveJob>(row[0], "job"));
    }
    return page;
  });
}

absl::StatusOr<int> PostgresStore::RequeueRunningJobs() {
  return Transact(
      "RequeueRunningJobs", [&](pqxx::work& txn) -> absl::StatusOr<int> {
        pqxx::result r =
            txn.exec_params("SELECT job FROM jobs WHERE state = $1 FOR UPDATE",
                            static_cast<int>(v1::SolveJob::RUNNING));
        for (const pqxx::row& row : r) {
          AUTOTM_ASSIGN_OR_RETURN(v1::SolveJob job,
                                  ParseField<v1::SolveJob>(row[0], "job"));
          // Back in line at its old place; finished budgets stay.
          job.set_state(v1::SolveJob::QUEUED);
          job.set_start_time_us(0);
          job.set_incumbent_us(0);
          job.set_bound_us(0);
          job.set_relative_gap(0);
          job.set_elapsed_seconds(0);
          WriteJob(txn, job);
        }
        return static_cast<int>(r.size());
      });
}

absl::StatusOr<std::vector<std::string>> PostgresStore::WaitForJobChanges(
    absl::Duration timeout) {
  absl::MutexLock lock(&listen_mu_);
  try {
    if (listener_ == nullptr || !listener_->is_open()) {
      receiver_.reset();
      listener_ = std::make_unique<pqxx::connection>(uri_);
      receiver_ = std::make_unique<Receiver>(*listener_);
    }
    receiver_->ids.clear();
    receiver_->seen.clear();
    // Notifications already queued first; then wait for the next ones.
    if (listener_->get_notifs() == 0) {
      const int64_t us =
          std::max<int64_t>(0, absl::ToInt64Microseconds(timeout));
      listener_->await_notification(us / 1000000, us % 1000000);
      listener_->get_notifs();
    }
    return std::move(receiver_->ids);
  } catch (const std::exception& e) {
    // Changes made while the connection was down are lost; callers poll
    // as well (job_runner.h).
    receiver_.reset();
    listener_.reset();
    spdlog::warn("job change feed: {}", e.what());
    return absl::UnavailableError("job change feed: database unreachable");
  }
}

absl::StatusOr<StoreStats> PostgresStore::Stats() {
  return Transact("Stats", [](pqxx::work& txn) -> absl::StatusOr<StoreStats> {
    StoreStats stats;
    for (const pqxx::row& row :
         txn.exec("SELECT state, priority, count(*) FROM jobs "
                  "GROUP BY state, priority ORDER BY state, priority")) {
      StoreStats::JobCount& count = stats.jobs.emplace_back();
      count.state = static_cast<v1::SolveJob::State>(row[0].as<int>());
      count.priority = row[1].as<int32_t>();
      count.count = row[2].as<uint64_t>();
    }
    const pqxx::result totals = txn.exec(
        "SELECT (SELECT count(*) FROM graphs), "
        "(SELECT count(*) FROM plans), "
        "pg_database_size(current_database())");
    stats.graphs = totals[0][0].as<uint64_t>();
    stats.plans = totals[0][1].as<uint64_t>();
    stats.size_bytes = totals[0][2].as<uint64_t>();
    return stats;
  });
}

// ---------------------------------------------------------------------------
// Retention

// Something Prune may delete, with its age and size.
struct PruneCandidate {
  enum Kind { kJob, kGraph, kPlan };
  int64_t time_us;
  Kind kind;
  std::string key;       // a job's id, a graph's digest or a plan's key
  int64_t sequence = 0;  // kJob
  uint64_t bytes = 0;
};

// Graph digests and plan keys the stored jobs refer to.
using References = absl::flat_hash_set<std::string>;

// The final job states as an SQL list, "(a, b, c)".
std::string FinalStatesSql() {
  return absl::StrFormat("(%d, %d, %d)", v1::SolveJob::SUCCEEDED,
                         v1::SolveJob::FAILED, v1::SolveJob::CANCELLED);
}

uint64_t ContentBytesIn(pqxx::work& txn) {
  return txn
      .exec(
          "SELECT (SELECT coalesce(sum(octet_length(graph)), 0) FROM graphs) "
          "+ (SELECT coalesce(sum(octet_length(plan)), 0) FROM plans) "
          "+ (SELECT coalesce(sum(octet_length(job)), 0) FROM jobs)")[0][0]
      .as<uint64_t>();
}

uint64_t DatabaseBytesIn(pqxx::transaction_base& txn) {
  return txn.exec("SELECT pg_database_size(current_database())")[0][0]
      .as<uint64_t>();
}

// Deletes `candidate` if it still qualifies: a finished job, or a graph or
// plan last used before `cutoff` (a request may have marked it used since
// it was chosen; the row lock orders the two).
void PruneDeleteIn(pqxx::work& txn, const PruneCandidate& candidate,
                   int64_t cutoff, PruneResult* result) {
  switch (candidate.kind) {
    case PruneCandidate::kJob:
      result->jobs_deleted +=
          txn.exec_params(absl::StrCat("DELETE FROM jobs WHERE sequence = $1 "
                                       "AND state IN ",
                                       FinalStatesSql()),
                          candidate.sequence)
              .affected_rows();
      return;
    case PruneCandidate::kGraph:
      if (txn.exec_params("SELECT 1 FROM graphs WHERE digest = $1 AND "
                          "used_us < $2 FOR UPDATE",
                          candidate.key, cutoff)
              .empty()) {
        return;
      }
      txn.exec_params("DELETE FROM graph_submissions WHERE digest = $1",
                      candidate.key);
      result->graphs_deleted +=
          txn.exec_params("DELETE FROM graphs WHERE digest = $1", candidate.key)
              .affected_rows();
      return;
    case PruneCandidate::kPlan:
      result->plans_deleted +=
          txn.exec_params(
                 "DELETE FROM plans WHERE key = $1 AND created_us < $2",
                 candidate.key, cutoff)
              .affected_rows();
      return;
  }
}

// What the stored jobs (every state: a running job's finished budgets are
// referenced from its plan_keys) refer to, into *refs; the finished jobs
// into *finished_jobs when not null.
absl::Status CollectReferencesIn(pqxx::work& txn, References* refs,
                                 std::vector<PruneCandidate>* finished_jobs) {
  refs->clear();
  for (const pqxx::row& row :
       txn.exec("SELECT job, sequence, updated_us, octet_length(job) "
                "FROM jobs")) {
    AUTOTM_ASSIGN_OR_RETURN(v1::SolveJob job,
                            ParseField<v1::SolveJob>(row[0], "job"));
    refs->insert(job.graph_digest());
    for (const std::string& key : job.plan_keys()) refs->insert(key);
    if (finished_jobs != nullptr && IsFinalState(job.state())) {
      finished_jobs->push_back({row[2].as<int64_t>(), PruneCandidate::kJob,
                                job.id(), row[1].as<int64_t>(),
                                row[3].as<uint64_t>()});
    }
  }
  return absl::OkStatus();
}

// Graphs and plans not in `refs` and last used before `cutoff`, appended
// to *out.
void CollectUnreferencedIn(pqxx::work& txn, const References& refs,
                           int64_t cutoff, std::vector<PruneCandidate>* out) {
  for (const pqxx::row& row : txn.exec_params(
           "SELECT digest, used_us, octet_length(graph) FROM graphs "
           "WHERE used_us < $1",
           cutoff)) {
    std::string digest = row[0].as<std::string>();
    if (refs.contains(digest)) continue;
    out->push_back({row[1].as<int64_t>(), PruneCandidate::kGraph,
                    std::move(digest), 0, row[2].as<uint64_t>()});
  }
  for (const pqxx::row& row :
       txn.exec_params("SELECT key, created_us, octet_length(plan) FROM plans "
                       "WHERE created_us < $1",
                       cutoff)) {
    std::string key = row[0].as<std::string>();
    if (refs.contains(key)) continue;
    out->push_back({row[1].as<int64_t>(), PruneCandidate::kPlan, std::move(key),
                    0, row[2].as<uint64_t>()});
  }
}

void PostgresStore::PruneFinishedJobsIn(pqxx::work& txn,
                                        const RetentionLimits& limits,
                                        int64_t now, PruneResult* result) {
  if (limits.job_age > absl::ZeroDuration()) {
    const int64_t cutoff = now - absl::ToInt64Microseconds(limits.job_age);
    result->jobs_deleted +=
        txn.exec_params(absl::StrCat("DELETE FROM jobs WHERE state IN ",
                                     FinalStatesSql(), " AND updated_us < $1"),
                        cutoff)
            .affected_rows();
  }
  if (limits.max_jobs > 0) {
    result->jobs_deleted +=
        txn.exec_params(
               absl::StrCat(
                   "DELETE FROM jobs WHERE state IN ", FinalStatesSql(),
                   " AND sequence NOT IN (SELECT sequence FROM jobs "
                   "WHERE state IN ",
                   FinalStatesSql(), " ORDER BY sequence DESC LIMIT $1)"),
               limits.max_jobs)
            .affected_rows();
  }
}

absl::Status PostgresStore::PruneUnreferencedIn(pqxx::work& txn,
                                                const RetentionLimits& limits,
                                                int64_t now,
                                                int64_t grace_cutoff,
                                                PruneResult* result) {
  if (limits.unreferenced_age <= absl::ZeroDuration()) return absl::OkStatus();
  const int64_t cutoff = std::min(
      grace_cutoff, now - absl::ToInt64Microseconds(limits.unreferenced_age));
  References refs;
  AUTOTM_RETURN_IF_ERROR(CollectReferencesIn(txn, &refs, nullptr));
  std::vector<PruneCandidate> candidates;
  CollectUnreferencedIn(txn, refs, cutoff, &candidates);
  for (const PruneCandidate& c : candidates) {
    PruneDeleteIn(txn, c, cutoff, result);
  }
  return absl::OkStatus();
}

absl::Status PostgresStore::PruneToBytesIn(pqxx::work& txn,
                                           const RetentionLimits& limits,
                                           int64_t grace_cutoff,
                                           PruneResult* result) {
  if (limits.max_bytes == 0) return absl::OkStatus();
  uint64_t bytes = ContentBytesIn(txn);
  References refs;
  // A deleted job's graph and plans become unreferenced only on the next
  // round, so rounds repeat while they make progress (at most 4).
  for (int round = 0; round < 4 && bytes > limits.max_bytes; ++round) {
    std::vector<PruneCandidate> candidates;
    AUTOTM_RETURN_IF_ERROR(CollectReferencesIn(txn, &refs, &candidates));
    CollectUnreferencedIn(txn, refs, grace_cutoff, &candidates);
    std::sort(candidates.begin(), candidates.end(),
              [](const PruneCandidate& a, const PruneCandidate& b) {
                return a.time_us < b.time_us;
              });
    bool progress = false;
    for (const PruneCandidate& c : candidates) {
      if (bytes <= limits.max_bytes) break;
      PruneDeleteIn(txn, c, grace_cutoff, result);
      bytes -= std::min(bytes, c.bytes);
      progress = true;
    }
    if (!progress) break;
  }
  return absl::OkStatus();
}

absl::Status PostgresStore::ExecOutsideTransaction(absl::string_view what,
                                                   const std::string& sql) {
  std::unique_ptr<pqxx::connection> connection;
  try {
    connection = Acquire();
    {
      pqxx::nontransaction txn(*connection);
      txn.exec(sql);
    }
    Release(std::move(connection));
    return absl::OkStatus();
  } catch (const pqxx::sql_error& e) {
    if (connection != nullptr) {
      if (!connection->is_open()) connection.reset();
      Release(std::move(connection));
    }
    const std::string detail =
        absl::StrCat(what, ": ", e.what(), " (SQLSTATE ", e.sqlstate(),
                     "; query: ", e.query(), ")");
    if (IsConnectionLoss(e.sqlstate())) {
      return StorageFailure("the connection to it is lost", e.sqlstate(),
                            detail);
    }
    if (const char* storage = StorageFailureOf(e.sqlstate())) {
      return StorageFailure(storage, e.sqlstate(), detail);
    }
    spdlog::error("{}", detail);
    return absl::InternalError(
        absl::StrCat(what, ": database error (SQLSTATE ", e.sqlstate(), ")"));
  } catch (const pqxx::broken_connection& e) {
    if (connection != nullptr) {
      connection.reset();
      Release(nullptr);  // closed: no longer counted
    }
    return StorageFailure("the connection to it is lost", "",
                          absl::StrCat(what, ": ", e.what()));
  } catch (const std::exception& e) {
    if (connection != nullptr) {
      if (!connection->is_open()) connection.reset();
      Release(std::move(connection));
    }
    spdlog::error("{}: {}", std::string(what), e.what());
    return absl::UnavailableError(absl::StrCat(what, ": database error"));
  }
}

absl::StatusOr<PruneResult> PostgresStore::Prune(
    const RetentionLimits& limits) {
  if (limits.max_jobs < 0 || limits.job_age < absl::ZeroDuration() ||
      limits.unreferenced_age < absl::ZeroDuration() ||
      limits.grace < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("retention limits must be >= 0");
  }
  AUTOTM_ASSIGN_OR_RETURN(
      PruneResult result,
      Transact("Prune", [&](pqxx::work& txn) -> absl::StatusOr<PruneResult> {
        PruneResult result;
        // Self-conflicting, and conflicts with every job write but not with
        // reads: see the contract in the class.
        txn.exec("LOCK TABLE jobs IN SHARE ROW EXCLUSIVE MODE");
        result.file_bytes_before = DatabaseBytesIn(txn);
        result.content_bytes_before = ContentBytesIn(txn);
        const int64_t now =
            txn.exec(absl::StrCat("SELECT ", kNowUs))[0][0].as<int64_t>();
        const int64_t grace_cutoff =
            now - absl::ToInt64Microseconds(limits.grace);
        PruneFinishedJobsIn(txn, limits, now, &result);
        AUTOTM_RETURN_IF_ERROR(
            PruneUnreferencedIn(txn, limits, now, grace_cutoff, &result));
        AUTOTM_RETURN_IF_ERROR(
            PruneToBytesIn(txn, limits, grace_cutoff, &result));
        result.content_bytes_after = ContentBytesIn(txn);
        return result;
      }));
  if (limits.vacuum) {
    AUTOTM_RETURN_IF_ERROR(ExecOutsideTransaction(
        "Prune (vacuum)", "VACUUM jobs, graphs, graph_submissions, plans"));
  }
  AUTOTM_ASSIGN_OR_RETURN(
      result.file_bytes_after,
      Transact("Prune (sizes)",
               [](pqxx::work& txn) -> absl::StatusOr<uint64_t> {
                 return DatabaseBytesIn(txn);
               }));
  result.free_bytes_after = 0;
  return result;
}

}  // namespace

std::string RedactUri(const std::string& uri) {
  // postgresql://user:password@host/...: drop ":password".
  const size_t scheme = uri.find("://");
  const size_t at = uri.find('@');
  if (scheme == std::string::npos || at == std::string::npos || at < scheme) {
    return uri.find("password") == std::string::npos ? uri : "<uri>";
  }
  const size_t colon = uri.find(':', scheme + 3);
  std::string redacted = uri;
  if (colon != std::string::npos && colon < at) {
    redacted = uri.substr(0, colon) + ":***" + uri.substr(at);
  }
  return redacted.find("password") == std::string::npos ? redacted : "<uri>";
}

bool IsPostgresUri(absl::string_view db) {
  return absl::StartsWith(db, "postgresql://") ||
         absl::StartsWith(db, "postgres://");
}

absl::StatusOr<std::unique_ptr<Store>> OpenPostgresStore(
    const std::string& uri, PostgresStoreOptions options) {
  if (options.max_connections < 1) {
    return absl::InvalidArgumentError("max_connections must be >= 1");
  }
  auto store = std::make_unique<PostgresStore>(uri, options);
  absl::Status status = store->Initialize();
  if (!status.ok()) {
    return absl::Status(absl::StatusCode::kInternal,
                        absl::StrCat(RedactUri(uri), ": ", status.message()));
  }
  return store;
}

}  // namespace autotm::server
