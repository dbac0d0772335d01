// The SQLite backend of the store interfaces.
//
// Concurrency: one connection per store, guarded by one absl::Mutex, so every
// method is serialized within the process and each runs against a consistent
// database. Multi-row writes run in one BEGIN IMMEDIATE transaction, which
// also makes them atomic with respect to other processes opening the same
// file (they wait up to the busy timeout). WAL mode lets readers in other
// processes proceed while a writer commits; synchronous=NORMAL in WAL mode
// survives a crash of the process (it may lose the last commits on power
// loss, never the database).
//
// Profile versions: each host class has a version counter kept in
// `profile_versions`, a table that outlives DeleteHostClass, so a host class
// deleted and created again never reuses a version (the plan cache is keyed
// by it). A call bumps the version exactly when it changes what GetProfile
// returns: new host class, changed tier names or bandwidths, at least one new
// measurement (the served table carries the repetition count), or a changed
// separable cost.
#include "server/store/sqlite_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/store/digest.h"
#include "server/store/store_common.h"
#include "solver/signature.h"
#include "solver/status_macros.h"

namespace autotm::server {
namespace {

// 'ATTM': marks the file as an autotm database.
constexpr int32_t kApplicationId = 0x4154544D;
constexpr int kBusyTimeoutMs = 5000;

// Schema migrations; migration i takes the schema from version i to i + 1.
// Append only: never edit a migration that has shipped.
constexpr const char* kMigrations[] = {
    // 0 -> 1: the initial schema.
    R"sql(
CREATE TABLE host_classes (
  name TEXT PRIMARY KEY,
  fingerprint TEXT NOT NULL,
  host_class BLOB NOT NULL,   -- serialized v1.HostClass
  bandwidths BLOB NOT NULL    -- serialized v1.CopyBandwidths
) STRICT;

-- Outlives host_classes rows so that versions are never reused.
CREATE TABLE profile_versions (
  name TEXT PRIMARY KEY,
  version INTEGER NOT NULL
) STRICT;

-- Signatures with measurements; measurements refer to them by id (keys are
-- long, and the median index stays small with an integer prefix).
CREATE TABLE signatures (
  id INTEGER PRIMARY KEY,
  host_class TEXT NOT NULL
      REFERENCES host_classes(name) ON DELETE CASCADE,
  signature_key TEXT NOT NULL,
  signature BLOB NOT NULL,    -- serialized v1.KernelSignature
  UNIQUE (host_class, signature_key)
) STRICT;

CREATE TABLE measurements (
  host_class TEXT NOT NULL
      REFERENCES host_classes(name) ON DELETE CASCADE,
  measurement_id TEXT NOT NULL,
  signature_id INTEGER NOT NULL
      REFERENCES signatures(id) ON DELETE CASCADE,
  config TEXT NOT NULL,
  time_us REAL NOT NULL,
  PRIMARY KEY (host_class, measurement_id)
) STRICT;
CREATE INDEX measurements_by_config
  ON measurements (signature_id, config, time_us);

CREATE TABLE separable_costs (
  host_class TEXT NOT NULL
      REFERENCES host_classes(name) ON DELETE CASCADE,
  signature_key TEXT NOT NULL,
  kernel BLOB NOT NULL,       -- serialized v1.KernelProfile
  PRIMARY KEY (host_class, signature_key)
) STRICT, WITHOUT ROWID;

CREATE TABLE graphs (
  digest TEXT PRIMARY KEY,
  graph BLOB NOT NULL         -- serialized v1.Graph
) STRICT;

CREATE TABLE plans (
  key TEXT PRIMARY KEY,
  plan BLOB NOT NULL          -- serialized v1.Plan
) STRICT;

CREATE TABLE jobs (
  sequence INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  state INTEGER NOT NULL,
  priority INTEGER NOT NULL,
  job BLOB NOT NULL           -- serialized v1.SolveJob
) STRICT;
CREATE INDEX jobs_by_claim_order ON jobs (state, priority DESC, sequence);
)sql",
    // 1 -> 2: graphs submitted per host class (the profiler agents' work
    // list). No foreign key to host_classes: a graph may be submitted for a
    // host class before any agent has profiled it.
    R"sql(
CREATE TABLE graph_submissions (
  sequence INTEGER PRIMARY KEY AUTOINCREMENT,
  host_class TEXT NOT NULL,
  digest TEXT NOT NULL REFERENCES graphs(digest),
  UNIQUE (host_class, digest)
) STRICT;
)sql",
    // 2 -> 3: job owners (the principal that created each job: planners
    // see only their own) and the round-robin turn of each owner, so that
    // one principal's hundreds of queued jobs do not starve another's.
    R"sql(
ALTER TABLE jobs ADD COLUMN owner TEXT NOT NULL DEFAULT '';
CREATE INDEX jobs_by_owner ON jobs (owner, state, sequence);
CREATE TABLE job_owner_turns (
  owner TEXT PRIMARY KEY,
  turn INTEGER NOT NULL       -- higher: served more recently
) STRICT;
-- Provenance: the principal that uploaded each measurement ('' before).
ALTER TABLE measurements ADD COLUMN uploader TEXT NOT NULL DEFAULT '';
CREATE INDEX measurements_by_uploader ON measurements (host_class, uploader);
)sql",
    // 3 -> 4: retention (issue 18): when each job was last written, each
    // graph last submitted and each plan stored (rows that predate this
    // migration count from the migration), and the one-row table the write
    // probe rewrites while the storage is failing.
    R"sql(
ALTER TABLE jobs ADD COLUMN updated_us INTEGER NOT NULL DEFAULT 0;
ALTER TABLE graphs ADD COLUMN used_us INTEGER NOT NULL DEFAULT 0;
ALTER TABLE plans ADD COLUMN created_us INTEGER NOT NULL DEFAULT 0;
UPDATE jobs SET updated_us =
  CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER);
UPDATE graphs SET used_us =
  CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER);
UPDATE plans SET created_us =
  CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER);
CREATE INDEX jobs_by_update ON jobs (state, updated_us);
CREATE TABLE write_probe (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  at_us INTEGER NOT NULL
) STRICT;
)sql",
};
constexpr int kSchemaVersion = sizeof(kMigrations) / sizeof(kMigrations[0]);

// The status callers get for SQLite's `rc`. Its message never carries the
// query (`what`) or SQLite's own message, which can quote the schema: they
// reach clients (issue 18). Those go, as `detail`, to the observer (the
// server's log) when the storage cannot take a write.
absl::Status SqliteError(sqlite3* db, int rc, absl::string_view what,
                         StoreObserver* observer,
                         absl::string_view message_override = {}) {
  const std::string detail =
      absl::StrCat(what, ": ",
                   !message_override.empty() ? message_override
                   : db != nullptr           ? sqlite3_errmsg(db)
                                             : sqlite3_errstr(rc));
  const int primary = rc & 0xff;
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
    // Another process held the database past the busy timeout: retryable.
    return absl::UnavailableError(
        "the database is busy (another process holds it); try again");
  }
  const char* storage = nullptr;
  switch (primary) {
    case SQLITE_FULL:
      storage = "the disk is full";
      break;
    case SQLITE_IOERR:
      storage = "I/O error (disk full, file size limit or a failing disk)";
      break;
    case SQLITE_READONLY:
      storage = "the database file is read-only";
      break;
    case SQLITE_CANTOPEN:
      storage = "a file it needs cannot be opened";
      break;
    case SQLITE_NOMEM:
      storage = "out of memory";
      break;
  }
  if (storage != nullptr) {
    absl::Status status = MarkStorageFailure(absl::UnavailableError(
        absl::StrCat("the server's database cannot be written: ", storage,
                     "; the operator has been told (server log); try again "
                     "later")));
    if (observer != nullptr) observer->OnStorageFailure(status, detail);
    return status;
  }
  return absl::InternalError(
      absl::StrCat("database error: ", sqlite3_errstr(rc)));
}

int64_t NowMicros() { return absl::ToUnixMicros(absl::Now()); }

// One cached prepared statement in use: bindings and state are reset when
// it goes out of scope. Only used under the store's mutex.
class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt, StoreObserver* observer)
      : db_(db), stmt_(stmt), observer_(observer) {}
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement(Statement&& other)
      : db_(other.db_),
        stmt_(std::exchange(other.stmt_, nullptr)),
        observer_(other.observer_) {}
  ~Statement() {
    if (stmt_ != nullptr) {
      sqlite3_reset(stmt_);
      sqlite3_clear_bindings(stmt_);
    }
  }

  // Parameters are 1-based, as in SQLite. Values are copied.
  Statement& BindText(int index, absl::string_view text) {
    sqlite3_bind_text64(stmt_, index, text.data(), text.size(),
                        SQLITE_TRANSIENT, SQLITE_UTF8);
    return *this;
  }
  Statement& BindBlob(int index, absl::string_view bytes) {
    // A zero-length blob must still be a BLOB, not NULL (NOT NULL columns).
    sqlite3_bind_blob64(stmt_, index, bytes.empty() ? "" : bytes.data(),
                        bytes.size(), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& BindInt(int index, int64_t value) {
    sqlite3_bind_int64(stmt_, index, value);
    return *this;
  }
  Statement& BindDouble(int index, double value) {
    sqlite3_bind_double(stmt_, index, value);
    return *this;
  }

  // True when a row is available, false when done.
  absl::StatusOr<bool> Step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return SqliteError(db_, rc, sqlite3_sql(stmt_), observer_);
  }
  // Steps a statement that returns no rows.
  absl::Status Run() {
    AUTOTM_ASSIGN_OR_RETURN(bool row, Step());
    (void)row;
    return absl::OkStatus();
  }

  int64_t Int(int column) { return sqlite3_column_int64(stmt_, column); }
  double Double(int column) { return sqlite3_column_double(stmt_, column); }
  // Valid until the next Step.
  absl::string_view Bytes(int column) {
    const void* data = sqlite3_column_blob(stmt_, column);
    int size = sqlite3_column_bytes(stmt_, column);
    return data == nullptr
               ? absl::string_view()
               : absl::string_view(static_cast<const char*>(data), size);
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
  StoreObserver* observer_;
};

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
using References = absl::flat_hash_map<std::string, bool>;

class SqliteStore final : public Store,
                          public ProfileStore,
                          public GraphStore,
                          public PlanStore,
                          public JobStore {
 public:
  explicit SqliteStore(sqlite3* db) : db_(db) {}
  ~SqliteStore() override {
    for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
    sqlite3_close_v2(db_);
  }

  // Pragmas and migrations; called once before the store is shared.
  absl::Status Initialize();

  ProfileStore& profiles() override { return *this; }
  GraphStore& graphs() override { return *this; }
  PlanStore& plans() override { return *this; }
  JobStore& jobs() override { return *this; }
  void SetObserver(StoreObserver* observer) override { observer_ = observer; }
  absl::Status ProbeWrite() override;
  absl::StatusOr<PruneResult> Prune(const RetentionLimits& limits) override;

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

  absl::StatusOr<StoreStats> Stats() override;

 private:
  absl::StatusOr<StoreStats> StatsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // An IMMEDIATE transaction that rolls back unless committed. Lives within
  // a scope that holds store->mu_ (the connection is not thread-safe).
  class Transaction {
   public:
    explicit Transaction(SqliteStore* store) : store_(store) {}
    // Each member asserts the lock rather than requiring it: the analysis
    // cannot tell that txn.store_->mu_ is the caller's mu_, nor carry a
    // requirement to the implicit destructor call.
    ~Transaction() {
      store_->mu_.AssertHeld();
      if (open_) (void)store_->Exec("ROLLBACK");
    }
    absl::Status Begin() {
      store_->mu_.AssertHeld();
      AUTOTM_RETURN_IF_ERROR(store_->Exec("BEGIN IMMEDIATE"));
      open_ = true;
      return absl::OkStatus();
    }
    absl::Status Commit() {
      store_->mu_.AssertHeld();
      AUTOTM_RETURN_IF_ERROR(store_->Exec("COMMIT"));
      open_ = false;
      return absl::OkStatus();
    }

   private:
    SqliteStore* store_;
    bool open_ = false;
  };

  absl::Status Exec(const char* sql) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<Statement> Prepare(const char* sql)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Bumps and returns the profile version of `host_class`.
  absl::StatusOr<uint64_t> BumpVersion(const std::string& host_class)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status RequireHostClass(const std::string& host_class)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // The bodies of the ProfileStore writes, inside a transaction the caller
  // opened, so that ApplyProfileUpdate can run them all in one. Each bumps
  // the profile version when it changed something and says whether it did
  // (PutHostClassLocked, PutSeparableCostsLocked) or how many measurements
  // were new. CheckMeasurements and CheckSeparableCosts (store_common.h)
  // validate before anything is written.
  absl::StatusOr<bool> PutHostClassLocked(const v1::HostClass& host_class,
                                          const v1::CopyBandwidths& bandwidths)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<uint64_t> AddMeasurementsLocked(
      const std::string& host_class, const std::vector<MeasurementRow>& rows)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<bool> PutSeparableCostsLocked(
      const std::string& host_class,
      const std::map<std::string, std::string>& rows)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The id of `key` in `host_class`'s signatures, added if new.
  absl::StatusOr<int64_t> SignatureId(const std::string& host_class,
                                      const std::string& key,
                                      const v1::KernelSignature& signature)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<HostClassInfo> HostClassInfoLocked(
      const std::string& host_class) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<v1::SolveJob> GetJobLocked(const std::string& id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status WriteJob(const v1::SolveJob& job)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Prune's steps, inside its transaction; each counts what it deletes in
  // *result. 1: finished jobs past limits.job_age, then beyond
  // limits.max_jobs (the newest kept).
  absl::Status PruneFinishedJobs(const RetentionLimits& limits, int64_t now,
                                 PruneResult* result)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // 2: graphs and plans no job refers to, older than
  // limits.unreferenced_age (and than the grace).
  absl::Status PruneUnreferenced(const RetentionLimits& limits, int64_t now,
                                 int64_t grace_cutoff, PruneResult* result)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // 3: the oldest finished jobs and unreferenced graphs and plans until the
  // content fits limits.max_bytes. A deleted job's graph and plans become
  // unreferenced only on the next round, so rounds repeat while they make
  // progress (at most 4).
  absl::Status PruneToBytes(const RetentionLimits& limits, int64_t grace_cutoff,
                            PruneResult* result)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // What the stored jobs (every state: a running job's finished budgets are
  // referenced from its plan_keys) refer to, into *refs; the finished jobs
  // into *finished_jobs when not null.
  absl::Status CollectReferences(References* refs,
                                 std::vector<PruneCandidate>* finished_jobs)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Graphs and plans not in `refs` and last used before `grace_cutoff`,
  // appended to *out.
  absl::Status CollectUnreferenced(const References& refs, int64_t grace_cutoff,
                                   std::vector<PruneCandidate>* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status PruneDelete(const PruneCandidate& candidate, PruneResult* result)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Sizes for PruneResult.
  absl::StatusOr<uint64_t> ContentBytes() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<int64_t> PragmaInt(const char* pragma)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  sqlite3* const db_;
  // Set before the store is shared (SetObserver), read without the lock.
  StoreObserver* observer_ = nullptr;
  // Prepared statements by SQL text, finalized on destruction.
  absl::flat_hash_map<std::string, sqlite3_stmt*> statements_
      ABSL_GUARDED_BY(mu_);
};

absl::Status SqliteStore::Exec(const char* sql) {
  char* error = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &error);
  if (rc != SQLITE_OK) {
    std::string message = error != nullptr ? error : sqlite3_errstr(rc);
    sqlite3_free(error);
    return SqliteError(nullptr, rc, sql, observer_, message);
  }
  return absl::OkStatus();
}

absl::StatusOr<Statement> SqliteStore::Prepare(const char* sql) {
  auto it = statements_.find(sql);
  if (it == statements_.end()) {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt,
                                nullptr);
    if (rc != SQLITE_OK) return SqliteError(db_, rc, sql, observer_);
    it = statements_.emplace(sql, stmt).first;
  }
  return Statement(db_, it->second, observer_);
}

absl::Status SqliteStore::Initialize() {
  absl::MutexLock lock(&mu_);
  sqlite3_busy_timeout(db_, kBusyTimeoutMs);
  // Reading the application id is the first access to the file: a file that
  // is not a database fails here.
  int32_t application_id;
  int user_version;
  int64_t objects;
  {
    AUTOTM_ASSIGN_OR_RETURN(Statement stmt, Prepare("PRAGMA application_id"));
    AUTOTM_RETURN_IF_ERROR(stmt.Step().status());
    application_id = static_cast<int32_t>(stmt.Int(0));
  }
  {
    AUTOTM_ASSIGN_OR_RETURN(Statement stmt,
                            Prepare("SELECT count(*) FROM sqlite_schema"));
    AUTOTM_RETURN_IF_ERROR(stmt.Step().status());
    objects = stmt.Int(0);
  }
  if (application_id != kApplicationId && (application_id != 0 || objects)) {
    return absl::InternalError(
        "the file is a SQLite database but not an autotm database");
  }
  // WAL persists in the file; ":memory:" answers "memory", which is fine.
  AUTOTM_RETURN_IF_ERROR(Exec("PRAGMA journal_mode=WAL"));
  AUTOTM_RETURN_IF_ERROR(Exec("PRAGMA synchronous=NORMAL"));
  AUTOTM_RETURN_IF_ERROR(Exec("PRAGMA foreign_keys=ON"));
  // 32 MiB of page cache keeps the measurement indexes hot while ingesting.
  AUTOTM_RETURN_IF_ERROR(Exec("PRAGMA cache_size=-32768"));

  Transaction txn(this);
  AUTOTM_RETURN_IF_ERROR(txn.Begin());
  AUTOTM_RETURN_IF_ERROR(
      Exec("CREATE TABLE IF NOT EXISTS schema_version ("
           "  version INTEGER NOT NULL) STRICT"));
  {
    AUTOTM_ASSIGN_OR_RETURN(Statement stmt,
                            Prepare("SELECT version FROM schema_version"));
    AUTOTM_ASSIGN_OR_RETURN(bool row, stmt.Step());
    user_version = row ? static_cast<int>(stmt.Int(0)) : -1;
  }
  if (user_version < 0) {
    AUTOTM_RETURN_IF_ERROR(Exec("INSERT INTO schema_version VALUES (0)"));
    AUTOTM_RETURN_IF_ERROR(
        Exec(absl::StrCat("PRAGMA application_id=", kApplicationId).c_str()));
    user_version = 0;
  }
  if (user_version > kSchemaVersion) {
    return absl::InternalError(absl::StrFormat(
        "database schema version %d is newer than this server's %d",
        user_version, kSchemaVersion));
  }
  for (int v = user_version; v < kSchemaVersion; ++v) {
    AUTOTM_RETURN_IF_ERROR(Exec(kMigrations[v]));
  }
  if (user_version != kSchemaVersion) {
    AUTOTM_ASSIGN_OR_RETURN(Statement stmt,
                            Prepare("UPDATE schema_version SET version = ?"));
    AUTOTM_RETURN_IF_ERROR(stmt.BindInt(1, kSchemaVersion).Run());
  }
  return txn.Commit();
}

// ---------------------------------------------------------------------------
// ProfileStore

absl::StatusOr<uint64_t> SqliteStore::BumpVersion(
    const std::string& host_class) {
  AUTOTM_ASSIGN_OR_RETURN(
      Statement stmt,
      Prepare("INSERT INTO profile_versions (name, version) VALUES (?, 1) "
              "ON CONFLICT (name) DO UPDATE SET version = version + 1 "
              "RETURNING version"));
  stmt.BindText(1, host_class);
  AUTOTM_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return absl::InternalError("profile version upsert returned none");
  return static_cast<uint64_t>(stmt.Int(0));
}

absl::Status SqliteStore::RequireHostClass(const std::string& host_class) {
  AUTOTM_ASSIGN_OR_RETURN(Statement stmt,
                          Prepare("SELECT 1 FROM host_classes WHERE name = ?"));
  AUTOTM_ASSIGN_OR_RETURN(bool row, stmt.BindText(1, host_class).Step());
  if (!row) {
    return absl::NotFoundError(
        absl::StrCat("unknown host class \"", host_class, "\""));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> SqliteStore::PutHostClassLocked(
    const v1::HostClass& host_class, const v1::CopyBandwidths& bandwidths) {
  if (host_class.name().empty()) {
    return absl::InvalidArgumentError("host class name is empty");
  }
  std::string host_class_bytes = DeterministicBytes(host_class);
  std::string bandwidth_bytes = DeterministicBytes(bandwidths);
  {
    AUTOTM_ASSIGN_OR_RETURN(
        Statement stmt,
        Prepare("SELECT fingerprint, host_class, bandwidths FROM host_classes "
                "WHERE name = ?"));
    AUTOTM_ASSIGN_OR_RETURN(bool row,
                            stmt.BindText(1, host_class.name()).Step());
    if (row) {
      if (stmt.Bytes(0) != host_class.fingerprint()) {
        return absl::FailedPreconditionError(absl::StrFormat(
            "host class \"%s\" exists with fingerprint \"%s\", not \"%s\"; "
            "delete it first to re-profile",
            host_class.name(), stmt.Bytes(0), host_class.fingerprint()));
      }
      if (stmt.Bytes(1) == host_class_bytes &&
          stmt.Bytes(2) == bandwidth_bytes) {
        return false;
      }
    }
  }
  {
    AUTOTM_ASSIGN_OR_RETURN(
        Statement stmt,
        Prepare("INSERT INTO host_classes "
                "(name, fingerprint, host_class, bandwidths) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                "host_class = excluded.host_class, "
                "bandwidths = excluded.bandwidths"));
    AUTOTM_RETURN_IF_ERROR(stmt.BindText(1, host_class.name())
                               .BindText(2, host_class.fingerprint())
                               .BindBlob(3, host_class_bytes)
                               .BindBlob(4, bandwidth_bytes)
                               .Run());
  }
  AUTOTM_RETURN_IF_ERROR(BumpVersion(host_class.name()).status());
  return true;
}

absl::Status SqliteStore::PutHostClass(const v1::HostClass& host_class,
                                       const v1::CopyBandwidths& bandwidths) {
  absl::MutexLock lock(&mu_);
  Transaction txn(this);
  AUTOTM_RETURN_IF_ERROR(txn.Begin());
  AUTOTM_ASSIGN_OR_RETURN(const bool changed,
                          PutHostClassLocked(host_class, bandwidths));
  if (!changed) return absl::OkStatus();  // rolls back the empty transaction
  return txn.Commit();
}

absl::StatusOr<uint64_t> SqliteStore::AddMeasurementsLocked(
    const std::string& host_class, const std::vector<MeasurementRow>& rows) {
  AUTOTM_RETURN_IF_ERROR(RequireHostClass(host_class));
  uint64_t added = 0;
  absl::flat_hash_map<std::string, int64_t> signature_ids;
  for (const MeasurementRow& row : rows) {
    auto [it, inserted] = signature_ids.try_emplace(row.key, 0);
    if (inserted) {
      AUTOTM_ASSIGN_OR_RETURN(
          it->second, SignatureId(host_class, row.key, row.m->signature));
    }
    AUTOTM_ASSIGN_OR_RETURN(
        Statement stmt,
        Prepare("INSERT OR IGNORE INTO measurements "
                "(host_class, measurement_id, signature_id, config, time_us, "
                "uploader) VALUES (?, ?, ?, ?, ?, ?)"));
    AUTOTM_RETURN_IF_ERROR(stmt.BindText(1, host_class)
                               .BindText(2, row.id)
                               .BindInt(3, it->second)
                               .BindText(4, row.m->config)
                               .BindDouble(5, row.m->time_us)
                               .BindText(6, row.m->uploader)
                               .Run());
    added += sqlite3_changes(db_);
  }
  if (added > 0) AUTOTM_RETURN_IF_ERROR(BumpVersion(host_class).status());
  return added;
}

absl::StatusOr<uint64_t> SqliteStore::AddMeasurements(
    const std::string& host_class,
    const std::vector<Measurement>& measurements) {
  // Validate everything before touching the database: a batch is all or
  // nothing.
  AUTOTM_ASSIGN_OR_RETURN(const std::vector<MeasurementRow> rows,
                          CheckMeasurements(measurements));
  absl::MutexLock lock(&mu_);
  Transaction txn(this);
  AUTOTM_RETURN_IF_ERROR(txn.Begin());
  AUTOTM_ASSIGN_OR_RETURN(const uint64_t added,
                          AddMeasurementsLocked(host_class, rows));
  if (added == 0) return 0;  // nothing served changed; roll back
  AUTOTM_RETURN_IF_ERROR(txn.Commit());
  return added;
}

absl::StatusOr<int64_t> SqliteStore::SignatureId(
    const std::string& host_class, const std::string& key,
    const v1::KernelSignature& signature) {
  {
    AUTOTM_ASSIGN_OR_RETURN(
        Statement stmt, Prepare("SELECT id FROM signatures "
                                "WHERE host_class = ? AND signature_key = ?"));
    AUTOTM_ASSIGN_OR_RETURN(
        bool row, stmt.BindText(1, host_class).BindText(2, key).Step());
    if (row) return stmt.Int(0);
  }
  AUTOTM_ASSIGN_OR_RETURN(
      Statement stmt,
      Prepare("INSERT INTO signatures (host_class, signature_key, signature) "
              "VALUES (?, ?, ?) RETURNING id"));
  AUTOTM_ASSIGN_OR_RETURN(bool row,
                          stmt.BindText(1, host_class)
                              .BindText(2, key)
                              .BindBlob(3, DeterministicBytes(signature))
                              .Step());
  if (!row) return absl::InternalError("signature insert returned no id");
  return stmt.Int(0);
}

absl::StatusOr<bool> SqliteStore::PutSeparableCostsLocked(
    const std::string& host_class,
    const std::map<std::string, std::string>& rows) {
  AUTOTM_RETURN_IF_ERROR(RequireHostClass(host_class));
  bool changed = false;
  for (const auto& [key, bytes] : rows) {
    AUTOTM_ASSIGN_OR_RETURN(
        Statement stmt,
        Prepare("INSERT INTO separable_costs (host_class, signature_key, "
                "kernel) VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET "
                "kernel = excluded.kernel WHERE kernel != excluded.kernel"));
    AUTOTM_RETURN_IF_ERROR(
        stmt.BindText(1, host_class).BindText(2, key).BindBlob(3, bytes).Run());
    changed |= sqlite3_changes(db_) > 0;
  }
  if (changed) AUTOTM_RETURN_IF_ERROR(BumpVersion(host_class).status());
  return changed;
}

absl::Status SqliteStore::PutSeparableCosts(
    const std::string& host_class,
    const std::vector<v1::KernelProfile>& kernels) {
  AUTOTM_ASSIGN_OR_RETURN(const auto rows, CheckSeparableCosts(kernels));
  absl::MutexLock lock(&mu_);
  Transaction txn(this);
  AUTOTM_RETURN_IF_ERROR(txn.Begin());
  AUTOTM_ASSIGN_OR_RETURN(const bool changed,
                          PutSeparableCostsLocked(host_class, rows));
  if (!changed) return absl::OkStatus();
  return txn.Commit();
}

absl::StatusOr<uint64_t> SqliteStore::ApplyProfileUpdate(
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
  absl::MutexLock lock(&mu_);
  // One transaction for the whole upload: a crash (kill -9, power loss)
  // at any point leaves the profile as it was before or as it is after,
  // never a host class without its measurements.
  Transaction txn(this);
  AUTOTM_RETURN_IF_ERROR(txn.Begin());
  if (update.host_class.has_value()) {
    AUTOTM_RETURN_IF_ERROR(
        PutHostClassLocked(*update.host_class, update.bandwidths).status());
  }
  uint64_t added = 0;
  if (!measurements.empty()) {
    AUTOTM_ASSIGN_OR_RETURN(added,
                            AddMeasurementsLocked(host_class, measurements));
  }
  if (!separable.empty()) {
    AUTOTM_RETURN_IF_ERROR(
        PutSeparableCostsLocked(host_class, separable).status());
  }
  AUTOTM_RETURN_IF_ERROR(txn.Commit());
  return added;
}

absl::StatusOr<v1::Profile> SqliteStore::GetProfile(
    const std::string& host_class) {
  absl::MutexLock lock(&mu_);
  // A read transaction gives one consistent snapshot across the queries.
  AUTOTM_RETURN_IF_ERROR(Exec("BEGIN"));
  struct EndRead {
    SqliteStore* store;
    ~EndRead() { (void)store->Exec("COMMIT"); }
  } end_read{this};

  v1::Profile profile;
  {
    AUTOTM_ASSIGN_OR_RETURN(
        Statement stmt,
        Prepare("SELECT host_class, bandwidths FROM host_classes "
                "WHERE name = ?"));
    AUTOTM_ASSIGN_OR_RETURN(bool row, stmt.BindText(1, host_class).Step());
    if (!row) {
      return absl::NotFoundError(
          absl::StrCat("unknown host class \"", host_class, "\""));
    }
    AUTOTM_ASSIGN_OR_RETURN(
        *profile.mutable_host_class(),
        ParseStored<v1::HostClass>(stmt.Bytes(0), "host class"));
    AUTOTM_ASSIGN_OR_RETURN(
        *profile.mutable_bandwidths(),
        ParseStored<v1::CopyBandwidths>(stmt.Bytes(1), "bandwidths"));
  }
  // Separable costs by key; they take precedence over a table for the same
  // signature (a KernelProfile carries exactly one of the two).
  std::map<std::string, v1::KernelProfile> kernels;
  {
    AUTOTM_ASSIGN_OR_RETURN(
        Statement stmt,
        Prepare("SELECT signature_key, kernel FROM separable_costs "
                "WHERE host_class = ?"));
    stmt.BindText(1, host_class);
    while (true) {
      AUTOTM_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      AUTOTM_ASSIGN_OR_RETURN(
          kernels[std::string(stmt.Bytes(0))],
          ParseStored<v1::KernelProfile>(stmt.Bytes(1), "separable cost"));
    }
  }
  {
    // Ordered by key, config, time: one pass takes each group's median.
    AUTOTM_ASSIGN_OR_RETURN(
        Statement stmt,
        Prepare("SELECT s.signature_key, m.config, m.time_us, s.signature "
                "FROM signatures s JOIN measurements m "
                "ON m.signature_id = s.id WHERE s.host_class = ? "
                "ORDER BY s.signature_key, m.config, m.time_us"));
    stmt.BindText(1, host_class);
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
    while (true) {
      AUTOTM_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      absl::string_view row_key = stmt.Bytes(0);
      absl::string_view row_config = stmt.Bytes(1);
      if (row_key != key || row_config != config) {
        flush();
        config = std::string(row_config);
        if (row_key != key) {
          key = std::string(row_key);
          auto [it, inserted] = kernels.try_emplace(key);
          if (inserted) {
            kernel = &it->second;
            AUTOTM_ASSIGN_OR_RETURN(
                *kernel->mutable_signature(),
                ParseStored<v1::KernelSignature>(stmt.Bytes(3), "signature"));
          } else {
            kernel = nullptr;  // served as a separable cost
          }
        }
      }
      times.push_back(stmt.Double(2));
    }
    flush();
  }
  for (auto& [key, kernel] : kernels) {
    *profile.add_kernels() = std::move(kernel);
  }
  return profile;
}

absl::StatusOr<HostClassInfo> SqliteStore::HostClassInfoLocked(
    const std::string& host_class) {
  HostClassInfo info;
  AUTOTM_ASSIGN_OR_RETURN(
      Statement stmt,
      Prepare("SELECT h.host_class, v.version, "
              "(SELECT count(*) FROM ("
              "   SELECT signature_key FROM signatures s WHERE host_class = ?1 "
              "   AND EXISTS (SELECT 1 FROM measurements m "
              "               WHERE m.signature_id = s.id) "
              "   UNION SELECT signature_key FROM separable_costs "
              "   WHERE host_class = ?1)), "
              "(SELECT count(*) FROM (SELECT DISTINCT signature_id, config "
              "   FROM measurements WHERE host_class = ?1)), "
              "(SELECT count(*) FROM measurements WHERE host_class = ?1) "
              "FROM host_classes h JOIN profile_versions v ON v.name = h.name "
              "WHERE h.name = ?1"));
  AUTOTM_ASSIGN_OR_RETURN(bool row, stmt.BindText(1, host_class).Step());
  if (!row) {
    return absl::NotFoundError(
        absl::StrCat("unknown host class \"", host_class, "\""));
  }
  AUTOTM_ASSIGN_OR_RETURN(
      info.host_class, ParseStored<v1::HostClass>(stmt.Bytes(0), "host class"));
  info.version = static_cast<uint64_t>(stmt.Int(1));
  info.signatures = static_cast<uint64_t>(stmt.Int(2));
  info.configs = static_cast<uint64_t>(stmt.Int(3));
  info.measurements = static_cast<uint64_t>(stmt.Int(4));
  return info;
}

absl::StatusOr<HostClassInfo> SqliteStore::GetHostClass(
    const std::string& host_class) {
  absl::MutexLock lock(&mu_);
  return HostClassInfoLocked(host_class);
}

absl::StatusOr<std::vector<Contribution>> SqliteStore::ListContributions(
    const std::string& host_class) {
  absl::MutexLock lock(&mu_);
  AUTOTM_RETURN_IF_ERROR(RequireHostClass(host_class));
  AUTOTM_ASSIGN_OR_RETURN(
      Statement stmt,
      Prepare("SELECT uploader, count(*), count(DISTINCT signature_id) "
              "FROM measurements WHERE host_class = ? "
              "GROUP BY uploader ORDER BY uploader"));
  stmt.BindText(1, host_class);
  std::vector<Contribution> contributions;
  while (true) {
    AUTOTM_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    Contribution& c = contributions.emplace_back();
    c.uploader = std::string(stmt.Bytes(0));
    c.measurements = static_cast<uint64_t>(stmt.Int(1));
    c.signatures = static_cast<uint64_t>(stmt.Int(2));
  }
  return contributions;
}

absl::StatusOr<uint64_t> SqliteStore::DeleteMeasurementsBy(
    const std::string& host_class, const std::string& uploader) {
  absl::MutexLock lock(&mu_);
  Transaction txn(this);
  AUTOTM_RETURN_IF_ERROR(txn.Begin());
  AUTOTM_RETURN_IF_ERROR(RequireHostClass(host_class));
  uint64_t removed = 0;
  {
    AUTOTM_ASSIGN_OR_RETURN(
        Statement stmt,
        Prepare("DELETE FROM measurements WHERE host_class = ? AND "
                "uploader = ?"));
    AUTOTM_RETURN_IF_ERROR(
        stmt.BindText(1, host_class).BindText(2, uploader).Run());
    removed = sqlite3_changes(db_);
  }
  if (removed == 0) return 0;
  {
    // Signatures left without measurements no longer count as covered.
    AUTOTM_ASSIGN_OR_RETURN(
        Statement stmt,
        Prepare("DELETE FROM signatures WHERE host_class = ?1 AND NOT EXISTS "
                "(SELECT 1 FROM measurements m WHERE m.signature_id = "
                "signatures.id)"));
    AUTOTM_RETURN_IF_ERROR(stmt.BindText(1, host_class).Run());
  }
  AUTOTM_RETURN_IF_ERROR(BumpVersion(host_class).status());
  AUTOTM_RETURN_IF_ERROR(txn.Commit());
  return removed;
}

absl::StatusOr<HostClassInfo> SqliteStore::GetHostClassVersion(
    const std::string& host_class) {
  absl::MutexLock lock(&mu_);
  AUTOTM_ASSIGN_OR_RETURN(
      Statement stmt,
      Prepare("SELECT h.host_class, v.version FROM host_classes h "
              "JOIN profile_versions v ON v.name = h.name WHERE h.name = ?1"));
  AUTOTM_ASSIGN_OR_RETURN(bool row, stmt.BindText(1, host_class).Step());
  if (!row) {
    return absl::NotFoundError(
        absl::StrCat("unknown host class \"", host_class, "\""));
  }
  HostClassInfo info;
  AUTOTM_ASSIGN_OR_RETURN(
      info.host_class, ParseStored<v1::HostClass>(stmt.Bytes(0), "host class"));
  info.version = static_cast<uint64_t>(stmt.Int(1));
  return info;
}

absl::StatusOr<std::vector<HostClassInfo>> SqliteStore::ListHostClasses() {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> names;
  {
    AUTOTM_ASSIGN_OR_RETURN(
        Statement stmt, Prepare("SELECT name FROM host_classes ORDER BY name"));
    while (true) {
      AUTOTM_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      names.emplace_back(stmt.Bytes(0));
    }
  }
  std::vector<HostClassInfo> infos;
  infos.reserve(names.size());
  for (const std::string& name : names) {
    AUTOTM_ASSIGN_OR_RETURN(infos.emplace_back(), HostClassInfoLocked(name));
  }
  return infos;
}

absl::Status SqliteStore::DeleteHostClass(const std::string& host_class) {
  absl::MutexLock lock(&mu_);
  // Measurements, signatures and separable costs go by ON DELETE CASCADE;
  // the version counter stays.
  AUTOTM_ASSIGN_OR_RETURN(Statement stmt,
                          Prepare("DELETE FROM host_classes WHERE name = ?"));
  AUTOTM_RETURN_IF_ERROR(stmt.BindText(1, host_class).Run());
  if (sqlite3_changes(db_) == 0) {
    return absl::NotFoundError(
        absl::StrCat("unknown host class \"", host_class, "\""));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// GraphStore and PlanStore

absl::StatusOr<std::string> SqliteStore::PutGraph(const v1::Graph& graph) {
  std::string bytes = DeterministicBytes(graph);
  std::string digest = absl::StrCat("sha256:", Sha256Hex(bytes));
  absl::MutexLock lock(&mu_);
  AUTOTM_ASSIGN_OR_RETURN(
      Statement stmt,
      Prepare("INSERT INTO graphs (digest, graph, used_us) VALUES (?, ?, ?) "
              "ON CONFLICT (digest) DO UPDATE SET used_us = excluded.used_us"));
  AUTOTM_RETURN_IF_ERROR(stmt.BindText(1, digest)
                             .BindBlob(2, bytes)
                             .BindInt(3, NowMicros())
                             .Run());
  return digest;
}

absl::StatusOr<v1::Graph> SqliteStore::GetGraph(const std::string& digest) {
  if (!IsWellFormedDigest(digest)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "graph digest \"", digest, "\" is not of the form sha256:<64 hex>"));
  }
  absl::MutexLock lock(&mu_);
  AUTOTM_ASSIGN_OR_RETURN(Statement stmt,
                          Prepare("SELECT graph FROM graphs WHERE digest = ?"));
  AUTOTM_ASSIGN_OR_RETURN(bool row, stmt.BindText(1, digest).Step());
  if (!row) return absl::NotFoundError(absl::StrCat("no graph ", digest));
  return ParseStored<v1::Graph>(stmt.Bytes(0), "graph");
}

absl::Status SqliteStore::RecordSubmission(const std::string& host_class,
                                           const std::string& digest) {
  if (!IsWellFormedDigest(digest)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "graph digest \"", digest, "\" is not of the form sha256:<64 hex>"));
  }
  absl::MutexLock lock(&mu_);
  {
    // A submission is a use: retention keeps recently submitted graphs.
    AUTOTM_ASSIGN_OR_RETURN(
        Statement exists,
        Prepare("UPDATE graphs SET used_us = ? WHERE digest = ? RETURNING 1"));
    AUTOTM_ASSIGN_OR_RETURN(
        bool row, exists.BindInt(1, NowMicros()).BindText(2, digest).Step());
    if (!row) return absl::NotFoundError(absl::StrCat("no graph ", digest));
    AUTOTM_ASSIGN_OR_RETURN(row, exists.Step());  // finishes the UPDATE
  }
  AUTOTM_ASSIGN_OR_RETURN(
      Statement stmt,
      Prepare("INSERT OR IGNORE INTO graph_submissions (host_class, digest) "
              "VALUES (?, ?)"));
  return stmt.BindText(1, host_class).BindText(2, digest).Run();
}

absl::StatusOr<std::vector<std::string>> SqliteStore::ListSubmittedGraphs(
    const std::string& host_class) {
  absl::MutexLock lock(&mu_);
  AUTOTM_ASSIGN_OR_RETURN(Statement stmt,
                          Prepare("SELECT digest FROM graph_submissions "
                                  "WHERE host_class = ? ORDER BY sequence"));
  stmt.BindText(1, host_class);
  std::vector<std::string> digests;
  while (true) {
    AUTOTM_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    digests.emplace_back(stmt.Bytes(0));
  }
  return digests;
}

absl::Status SqliteStore::PutPlan(const std::string& key,
                                  const v1::Plan& plan) {
  if (key.empty()) return absl::InvalidArgumentError("plan key is empty");
  std::string bytes = DeterministicBytes(plan);
  absl::MutexLock lock(&mu_);
  AUTOTM_ASSIGN_OR_RETURN(
      Statement stmt,
      Prepare("INSERT INTO plans (key, plan, created_us) VALUES (?, ?, ?) "
              "ON CONFLICT (key) DO UPDATE SET created_us = "
              "excluded.created_us"));
  return stmt.BindText(1, key).BindBlob(2, bytes).BindInt(3, NowMicros()).Run();
}

absl::StatusOr<v1::Plan> SqliteStore::GetPlan(const std::string& key) {
  absl::MutexLock lock(&mu_);
  AUTOTM_ASSIGN_OR_RETURN(Statement stmt,
                          Prepare("SELECT plan FROM plans WHERE key = ?"));
  AUTOTM_ASSIGN_OR_RETURN(bool row, stmt.BindText(1, key).Step());
  if (!row)
    return absl::NotFoundError(absl::StrCat("no plan cached for ", key));
  return ParseStored<v1::Plan>(stmt.Bytes(0), "plan");
}

// ---------------------------------------------------------------------------
// JobStore

absl::StatusOr<v1::SolveJob> SqliteStore::GetJobLocked(const std::string& id) {
  AUTOTM_ASSIGN_OR_RETURN(Statement stmt,
                          Prepare("SELECT job FROM jobs WHERE id = ?"));
  AUTOTM_ASSIGN_OR_RETURN(bool row, stmt.BindText(1, id).Step());
  if (!row) return absl::NotFoundError(absl::StrCat("no job \"", id, "\""));
  return ParseStored<v1::SolveJob>(stmt.Bytes(0), "job");
}

absl::Status SqliteStore::WriteJob(const v1::SolveJob& job) {
  AUTOTM_ASSIGN_OR_RETURN(
      Statement stmt,
      Prepare("UPDATE jobs SET id = ?, state = ?, priority = ?, job = ?, "
              "owner = ?, updated_us = ? WHERE sequence = ?"));
  return stmt.BindText(1, job.id())
      .BindInt(2, job.state())
      .BindInt(3, job.priority())
      .BindBlob(4, DeterministicBytes(job))
      .BindText(5, job.owner())
      .BindInt(6, NowMicros())
      .BindInt(7, static_cast<int64_t>(job.sequence()))
      .Run();
}

absl::StatusOr<v1::SolveJob> SqliteStore::CreateJob(v1::SolveJob job,
                                                    int max_queued,
                                                    int max_queued_per_owner) {
  if (max_queued < 0 || max_queued_per_owner < 0) {
    return absl::InvalidArgumentError("queue limits must be >= 0");
  }
  absl::MutexLock lock(&mu_);
  Transaction txn(this);
  AUTOTM_RETURN_IF_ERROR(txn.Begin());
  if (max_queued > 0) {
    AUTOTM_ASSIGN_OR_RETURN(
        Statement stmt, Prepare("SELECT count(*) FROM jobs WHERE state = ?"));
    AUTOTM_RETURN_IF_ERROR(
        stmt.BindInt(1, v1::SolveJob::QUEUED).Step().status());
    if (stmt.Int(0) >= max_queued) {
      return absl::ResourceExhaustedError(absl::StrFormat(
          "the solve queue is full (%d queued jobs)", max_queued));
    }
  }
  if (max_queued_per_owner > 0) {
    AUTOTM_ASSIGN_OR_RETURN(
        Statement stmt,
        Prepare("SELECT count(*) FROM jobs WHERE owner = ? AND state = ?"));
    AUTOTM_RETURN_IF_ERROR(stmt.BindText(1, job.owner())
                               .BindInt(2, v1::SolveJob::QUEUED)
                               .Step()
                               .status());
    if (stmt.Int(0) >= max_queued_per_owner) {
      return absl::ResourceExhaustedError(absl::StrFormat(
          "principal %s already has %d queued jobs, its limit "
          "(--max-queued-per-principal); wait for some to run or cancel them",
          job.owner(), max_queued_per_owner));
    }
  }
  {
    // The row first, for its sequence; the id derives from it.
    AUTOTM_ASSIGN_OR_RETURN(
        Statement stmt, Prepare("INSERT INTO jobs (id, state, priority, job) "
                                "VALUES ('', 0, 0, X'') RETURNING sequence"));
    AUTOTM_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return absl::InternalError("job insert returned no sequence");
    job.set_sequence(static_cast<uint64_t>(stmt.Int(0)));
  }
  job.set_id(absl::StrFormat("job-%06d", job.sequence()));
  job.set_state(v1::SolveJob::QUEUED);
  job.set_create_time_us(NowMicros());
  AUTOTM_RETURN_IF_ERROR(WriteJob(job));
  AUTOTM_RETURN_IF_ERROR(txn.Commit());
  return job;
}

absl::StatusOr<v1::SolveJob> SqliteStore::GetJob(const std::string& id) {
  absl::MutexLock lock(&mu_);
  return GetJobLocked(id);
}

absl::Status SqliteStore::UpdateJob(const v1::SolveJob& job) {
  if (job.state() == v1::SolveJob::STATE_UNSPECIFIED ||
      !v1::SolveJob::State_IsValid(job.state())) {
    return absl::InvalidArgumentError(
        absl::StrCat("job ", job.id(), ": state must be set"));
  }
  absl::MutexLock lock(&mu_);
  Transaction txn(this);
  AUTOTM_RETURN_IF_ERROR(txn.Begin());
  AUTOTM_ASSIGN_OR_RETURN(v1::SolveJob stored, GetJobLocked(job.id()));
  if (IsFinalState(stored.state())) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", job.id(), " is already ",
                     v1::SolveJob::State_Name(stored.state())));
  }
  v1::SolveJob updated = job;
  // Store-assigned fields never change.
  updated.set_sequence(stored.sequence());
  updated.set_create_time_us(stored.create_time_us());
  AUTOTM_RETURN_IF_ERROR(WriteJob(updated));
  return txn.Commit();
}

absl::StatusOr<std::optional<v1::SolveJob>> SqliteStore::ClaimNextJob() {
  absl::MutexLock lock(&mu_);
  Transaction txn(this);
  AUTOTM_RETURN_IF_ERROR(txn.Begin());
  v1::SolveJob job;
  {
    AUTOTM_ASSIGN_OR_RETURN(
        Statement stmt,
        // Within the highest priority, the owner served least recently
        // first (round robin between principals), FIFO within an owner.
        Prepare("SELECT j.job FROM jobs j "
                "LEFT JOIN job_owner_turns t ON t.owner = j.owner "
                "WHERE j.state = ? ORDER BY j.priority DESC, "
                "coalesce(t.turn, 0) ASC, j.sequence ASC LIMIT 1"));
    AUTOTM_ASSIGN_OR_RETURN(bool row,
                            stmt.BindInt(1, v1::SolveJob::QUEUED).Step());
    if (!row) return std::optional<v1::SolveJob>();
    AUTOTM_ASSIGN_OR_RETURN(job,
                            ParseStored<v1::SolveJob>(stmt.Bytes(0), "job"));
  }
  {
    AUTOTM_ASSIGN_OR_RETURN(
        Statement stmt,
        Prepare("INSERT INTO job_owner_turns (owner, turn) VALUES (?1, "
                "(SELECT coalesce(max(turn), 0) + 1 FROM job_owner_turns)) "
                "ON CONFLICT (owner) DO UPDATE SET turn = excluded.turn"));
    AUTOTM_RETURN_IF_ERROR(stmt.BindText(1, job.owner()).Run());
  }
  job.set_state(v1::SolveJob::RUNNING);
  job.set_start_time_us(NowMicros());
  AUTOTM_RETURN_IF_ERROR(WriteJob(job));
  AUTOTM_RETURN_IF_ERROR(txn.Commit());
  return std::optional<v1::SolveJob>(std::move(job));
}

absl::StatusOr<JobPage> SqliteStore::ListJobs(const JobFilter& filter) {
  if (!v1::SolveJob::State_IsValid(filter.state)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown job state ", static_cast<int>(filter.state)));
  }
  if (filter.page_size < 0 || filter.page_size > kMaxPageSize) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "page_size %d is outside 0..%d", filter.page_size, kMaxPageSize));
  }
  int page_size = filter.page_size == 0 ? kDefaultPageSize : filter.page_size;
  int64_t before = INT64_MAX;
  if (!filter.page_token.empty()) {
    AUTOTM_ASSIGN_OR_RETURN(uint64_t sequence,
                            DecodePageToken(filter.page_token, filter.state));
    before = static_cast<int64_t>(sequence);
  }
  absl::MutexLock lock(&mu_);
  AUTOTM_ASSIGN_OR_RETURN(
      Statement stmt,
      Prepare("SELECT job FROM jobs WHERE (?1 = 0 OR state = ?1) "
              "AND sequence < ?2 AND (?4 IS NULL OR owner = ?4) "
              "ORDER BY sequence DESC LIMIT ?3"));
  stmt.BindInt(1, filter.state).BindInt(2, before).BindInt(3, page_size + 1);
  if (filter.owner.has_value()) stmt.BindText(4, *filter.owner);
  JobPage page;
  while (true) {
    AUTOTM_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    if (static_cast<int>(page.jobs.size()) == page_size) {
      page.next_page_token =
          EncodePageToken(filter.state, page.jobs.back().sequence());
      break;
    }
    AUTOTM_ASSIGN_OR_RETURN(page.jobs.emplace_back(),
                            ParseStored<v1::SolveJob>(stmt.Bytes(0), "job"));
  }
  return page;
}

absl::StatusOr<int> SqliteStore::RequeueRunningJobs() {
  absl::MutexLock lock(&mu_);
  Transaction txn(this);
  AUTOTM_RETURN_IF_ERROR(txn.Begin());
  std::vector<v1::SolveJob> running;
  {
    AUTOTM_ASSIGN_OR_RETURN(Statement stmt,
                            Prepare("SELECT job FROM jobs WHERE state = ?"));
    stmt.BindInt(1, v1::SolveJob::RUNNING);
    while (true) {
      AUTOTM_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      AUTOTM_ASSIGN_OR_RETURN(running.emplace_back(),
                              ParseStored<v1::SolveJob>(stmt.Bytes(0), "job"));
    }
  }
  for (v1::SolveJob& job : running) {
    // Back in line at its old place. Finished budgets (plan_keys,
    // budgets_done) stay; the interrupted solve's live progress goes.
    job.set_state(v1::SolveJob::QUEUED);
    job.set_start_time_us(0);
    job.set_incumbent_us(0);
    job.set_bound_us(0);
    job.set_relative_gap(0);
    job.set_elapsed_seconds(0);
    AUTOTM_RETURN_IF_ERROR(WriteJob(job));
  }
  AUTOTM_RETURN_IF_ERROR(txn.Commit());
  return static_cast<int>(running.size());
}

// ---------------------------------------------------------------------------
// Storage health and retention

absl::Status SqliteStore::ProbeWrite() {
  absl::MutexLock lock(&mu_);
  AUTOTM_ASSIGN_OR_RETURN(
      Statement stmt,
      Prepare("INSERT INTO write_probe (id, at_us) VALUES (1, ?) "
              "ON CONFLICT (id) DO UPDATE SET at_us = excluded.at_us"));
  return stmt.BindInt(1, NowMicros()).Run();
}

absl::StatusOr<int64_t> SqliteStore::PragmaInt(const char* pragma) {
  AUTOTM_ASSIGN_OR_RETURN(Statement stmt, Prepare(pragma));
  AUTOTM_ASSIGN_OR_RETURN(bool row, stmt.Step());
  return row ? stmt.Int(0) : 0;
}

absl::StatusOr<uint64_t> SqliteStore::ContentBytes() {
  AUTOTM_ASSIGN_OR_RETURN(
      Statement stmt,
      Prepare("SELECT (SELECT coalesce(sum(length(graph)), 0) FROM graphs) + "
              "(SELECT coalesce(sum(length(plan)), 0) FROM plans) + "
              "(SELECT coalesce(sum(length(job)), 0) FROM jobs)"));
  AUTOTM_ASSIGN_OR_RETURN(bool row, stmt.Step());
  return row ? static_cast<uint64_t>(stmt.Int(0)) : 0;
}

absl::Status SqliteStore::PruneDelete(const PruneCandidate& candidate,
                                      PruneResult* result) {
  switch (candidate.kind) {
    case PruneCandidate::kJob: {
      AUTOTM_ASSIGN_OR_RETURN(Statement stmt,
                              Prepare("DELETE FROM jobs WHERE sequence = ?"));
      AUTOTM_RETURN_IF_ERROR(stmt.BindInt(1, candidate.sequence).Run());
      ++result->jobs_deleted;
      return absl::OkStatus();
    }
    case PruneCandidate::kGraph: {
      {
        AUTOTM_ASSIGN_OR_RETURN(
            Statement stmt,
            Prepare("DELETE FROM graph_submissions WHERE digest = ?"));
        AUTOTM_RETURN_IF_ERROR(stmt.BindText(1, candidate.key).Run());
      }
      AUTOTM_ASSIGN_OR_RETURN(Statement stmt,
                              Prepare("DELETE FROM graphs WHERE digest = ?"));
      AUTOTM_RETURN_IF_ERROR(stmt.BindText(1, candidate.key).Run());
      ++result->graphs_deleted;
      return absl::OkStatus();
    }
    case PruneCandidate::kPlan: {
      AUTOTM_ASSIGN_OR_RETURN(Statement stmt,
                              Prepare("DELETE FROM plans WHERE key = ?"));
      AUTOTM_RETURN_IF_ERROR(stmt.BindText(1, candidate.key).Run());
      ++result->plans_deleted;
      return absl::OkStatus();
    }
  }
  return absl::InternalError("unknown prune candidate kind");
}

absl::Status SqliteStore::PruneFinishedJobs(const RetentionLimits& limits,
                                            int64_t now, PruneResult* result) {
  const int final_states[] = {v1::SolveJob::SUCCEEDED, v1::SolveJob::FAILED,
                              v1::SolveJob::CANCELLED};
  if (limits.job_age > absl::ZeroDuration()) {
    const int64_t cutoff = now - absl::ToInt64Microseconds(limits.job_age);
    for (int state : final_states) {
      AUTOTM_ASSIGN_OR_RETURN(
          Statement stmt,
          Prepare("DELETE FROM jobs WHERE state = ? AND updated_us < ?"));
      AUTOTM_RETURN_IF_ERROR(stmt.BindInt(1, state).BindInt(2, cutoff).Run());
      result->jobs_deleted += static_cast<uint64_t>(sqlite3_changes64(db_));
    }
  }
  if (limits.max_jobs > 0) {
    AUTOTM_ASSIGN_OR_RETURN(
        Statement stmt,
        Prepare("DELETE FROM jobs WHERE state IN (?1, ?2, ?3) AND sequence "
                "NOT IN (SELECT sequence FROM jobs WHERE state IN (?1, ?2, ?3) "
                "ORDER BY sequence DESC LIMIT ?4)"));
    AUTOTM_RETURN_IF_ERROR(stmt.BindInt(1, final_states[0])
                               .BindInt(2, final_states[1])
                               .BindInt(3, final_states[2])
                               .BindInt(4, limits.max_jobs)
                               .Run());
    result->jobs_deleted += static_cast<uint64_t>(sqlite3_changes64(db_));
  }
  return absl::OkStatus();
}

absl::Status SqliteStore::CollectReferences(
    References* refs, std::vector<PruneCandidate>* finished_jobs) {
  refs->clear();
  AUTOTM_ASSIGN_OR_RETURN(
      Statement stmt,
      Prepare("SELECT job, sequence, updated_us, length(job) FROM jobs"));
  while (true) {
    AUTOTM_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    AUTOTM_ASSIGN_OR_RETURN(v1::SolveJob job,
                            ParseStored<v1::SolveJob>(stmt.Bytes(0), "job"));
    (*refs)[job.graph_digest()] = true;
    for (const std::string& key : job.plan_keys()) (*refs)[key] = true;
    if (finished_jobs != nullptr && IsFinalState(job.state())) {
      finished_jobs->push_back({stmt.Int(2), PruneCandidate::kJob, job.id(),
                                stmt.Int(1),
                                static_cast<uint64_t>(stmt.Int(3))});
    }
  }
  return absl::OkStatus();
}

absl::Status SqliteStore::CollectUnreferenced(
    const References& refs, int64_t grace_cutoff,
    std::vector<PruneCandidate>* out) {
  {
    AUTOTM_ASSIGN_OR_RETURN(
        Statement stmt,
        Prepare("SELECT digest, used_us, length(graph) FROM graphs"));
    while (true) {
      AUTOTM_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      std::string digest(stmt.Bytes(0));
      if (stmt.Int(1) >= grace_cutoff || refs.contains(digest)) continue;
      out->push_back({stmt.Int(1), PruneCandidate::kGraph, std::move(digest), 0,
                      static_cast<uint64_t>(stmt.Int(2))});
    }
  }
  AUTOTM_ASSIGN_OR_RETURN(
      Statement stmt,
      Prepare("SELECT key, created_us, length(plan) FROM plans"));
  while (true) {
    AUTOTM_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    std::string key(stmt.Bytes(0));
    if (stmt.Int(1) >= grace_cutoff || refs.contains(key)) continue;
    out->push_back({stmt.Int(1), PruneCandidate::kPlan, std::move(key), 0,
                    static_cast<uint64_t>(stmt.Int(2))});
  }
  return absl::OkStatus();
}

absl::Status SqliteStore::PruneUnreferenced(const RetentionLimits& limits,
                                            int64_t now, int64_t grace_cutoff,
                                            PruneResult* result) {
  if (limits.unreferenced_age <= absl::ZeroDuration()) return absl::OkStatus();
  const int64_t cutoff =
      now - absl::ToInt64Microseconds(limits.unreferenced_age);
  References refs;
  AUTOTM_RETURN_IF_ERROR(CollectReferences(&refs, nullptr));
  std::vector<PruneCandidate> candidates;
  AUTOTM_RETURN_IF_ERROR(CollectUnreferenced(refs, grace_cutoff, &candidates));
  for (const PruneCandidate& c : candidates) {
    if (c.time_us < cutoff) AUTOTM_RETURN_IF_ERROR(PruneDelete(c, result));
  }
  return absl::OkStatus();
}

absl::Status SqliteStore::PruneToBytes(const RetentionLimits& limits,
                                       int64_t grace_cutoff,
                                       PruneResult* result) {
  if (limits.max_bytes == 0) return absl::OkStatus();
  AUTOTM_ASSIGN_OR_RETURN(uint64_t bytes, ContentBytes());
  References refs;
  for (int round = 0; round < 4 && bytes > limits.max_bytes; ++round) {
    std::vector<PruneCandidate> candidates;
    AUTOTM_RETURN_IF_ERROR(CollectReferences(&refs, &candidates));
    AUTOTM_RETURN_IF_ERROR(
        CollectUnreferenced(refs, grace_cutoff, &candidates));
    std::sort(candidates.begin(), candidates.end(),
              [](const PruneCandidate& a, const PruneCandidate& b) {
                return a.time_us < b.time_us;
              });
    bool progress = false;
    for (const PruneCandidate& c : candidates) {
      if (bytes <= limits.max_bytes) break;
      AUTOTM_RETURN_IF_ERROR(PruneDelete(c, result));
      bytes -= std::min(bytes, c.bytes);
      progress = true;
    }
    if (!progress) break;
  }
  return absl::OkStatus();
}

absl::StatusOr<PruneResult> SqliteStore::Prune(const RetentionLimits& limits) {
  if (limits.max_jobs < 0 || limits.job_age < absl::ZeroDuration() ||
      limits.unreferenced_age < absl::ZeroDuration() ||
      limits.grace < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("retention limits must be >= 0");
  }
  absl::MutexLock lock(&mu_);
  PruneResult result;
  AUTOTM_ASSIGN_OR_RETURN(const int64_t page_size,
                          PragmaInt("PRAGMA page_size"));
  AUTOTM_ASSIGN_OR_RETURN(int64_t pages, PragmaInt("PRAGMA page_count"));
  result.file_bytes_before = static_cast<uint64_t>(pages * page_size);
  AUTOTM_ASSIGN_OR_RETURN(result.content_bytes_before, ContentBytes());
  const int64_t now = NowMicros();
  const int64_t grace_cutoff = now - absl::ToInt64Microseconds(limits.grace);
  Transaction txn(this);
  AUTOTM_RETURN_IF_ERROR(txn.Begin());
  AUTOTM_RETURN_IF_ERROR(PruneFinishedJobs(limits, now, &result));
  AUTOTM_RETURN_IF_ERROR(PruneUnreferenced(limits, now, grace_cutoff, &result));
  AUTOTM_RETURN_IF_ERROR(PruneToBytes(limits, grace_cutoff, &result));
  AUTOTM_RETURN_IF_ERROR(txn.Commit());
  AUTOTM_ASSIGN_OR_RETURN(result.content_bytes_after, ContentBytes());
  if (limits.vacuum) {
    // Rewrites the file without its free pages (needs as much free disk as
    // the database's size, for the copy).
    AUTOTM_RETURN_IF_ERROR(Exec("VACUUM"));
    (void)Exec("PRAGMA wal_checkpoint(TRUNCATE)");
  }
  AUTOTM_ASSIGN_OR_RETURN(pages, PragmaInt("PRAGMA page_count"));
  AUTOTM_ASSIGN_OR_RETURN(const int64_t free_pages,
                          PragmaInt("PRAGMA freelist_count"));
  result.file_bytes_after = static_cast<uint64_t>(pages * page_size);
  result.free_bytes_after = static_cast<uint64_t>(free_pages * page_size);
  return result;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(
    const std::string& path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(
      path.c_str(), &db,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
      nullptr);
  if (rc != SQLITE_OK) {
    absl::Status status = absl::InternalError(
        absl::StrCat("cannot open ", path, ": ",
                     db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
    sqlite3_close_v2(db);
    return status;
  }
  auto store = std::make_unique<SqliteStore>(db);
  absl::Status status = store->Initialize();
  if (!status.ok()) {
    return absl::Status(status.code(),
                        absl::StrCat(path, ": ", status.message()));
  }
  return store;
}

absl::StatusOr<StoreStats> SqliteStore::Stats() {
  absl::MutexLock lock(&mu_);
  // One read transaction: the counts agree with each other.
  AUTOTM_RETURN_IF_ERROR(Exec("BEGIN"));
  absl::StatusOr<StoreStats> stats = StatsLocked();
  AUTOTM_RETURN_IF_ERROR(Exec(stats.ok() ? "COMMIT" : "ROLLBACK"));
  return stats;
}

absl::StatusOr<StoreStats> SqliteStore::StatsLocked() {
  StoreStats stats;
  {
    AUTOTM_ASSIGN_OR_RETURN(
        Statement stmt,
        Prepare("SELECT state, priority, count(*) FROM jobs "
                "GROUP BY state, priority ORDER BY state, priority"));
    while (true) {
      AUTOTM_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      StoreStats::JobCount& count = stats.jobs.emplace_back();
      count.state = static_cast<v1::SolveJob::State>(stmt.Int(0));
      count.priority = static_cast<int32_t>(stmt.Int(1));
      count.count = static_cast<uint64_t>(stmt.Int(2));
    }
  }
  AUTOTM_ASSIGN_OR_RETURN(
      Statement stmt,
      Prepare("SELECT (SELECT count(*) FROM graphs), "
              "(SELECT count(*) FROM plans), "
              "(SELECT page_count * page_size "
              " FROM pragma_page_count(), pragma_page_size())"));
  AUTOTM_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (row) {
    stats.graphs = static_cast<uint64_t>(stmt.Int(0));
    stats.plans = static_cast<uint64_t>(stmt.Int(1));
    stats.size_bytes = static_cast<uint64_t>(stmt.Int(2));
  }
  return stats;
}

}  // namespace autotm::server
