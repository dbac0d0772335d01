// The server's persistent state behind backend-neutral interfaces: kernel
// profiles per host class, graphs by content digest, cached plans, and solve
// jobs. Two backends: SQLite (sqlite_store.h), embedded, for one server
// process; PostgreSQL (postgres_store.h), shared by many server replicas.
// Every backend passes the conformance suite in store_conformance_test.cc.
//
// Thread safety: every method of every store may be called concurrently from
// any thread. Errors: InvalidArgument for malformed input (naming it),
// NotFound for a missing key, FailedPrecondition for a state conflict (e.g.
// a job transition from a final state), Internal for backend failures,
// Unavailable when the storage cannot take a write (disk full, I/O error,
// read-only file; IsStorageFailure) or is busy. Messages never carry the
// backend's query text (they reach clients); the backend's own words go to
// the StoreObserver for the server's log.
#ifndef AUTOTM_SERVER_STORE_STORE_H_
#define AUTOTM_SERVER_STORE_STORE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "autotm/v1/graph.pb.h"
#include "autotm/v1/job.pb.h"
#include "autotm/v1/plan.pb.h"
#include "autotm/v1/profile.pb.h"

namespace autotm::server {

// One measured time of one (kernel signature, configuration) on a host.
struct Measurement {
  // Canonical key of the signature (solver::SignatureKey) and the signature
  // itself (stored once per key).
  std::string signature_key;
  v1::KernelSignature signature;
  // "FS|F" form (solver::FormatConfig).
  std::string config;
  double time_us = 0;
  // Identifies the measurement so that re-sending it changes nothing, e.g.
  // "<agent>/<run>/<n>". Empty: derived from the other fields.
  std::string measurement_id;
  // The principal that uploaded it (provenance; docs/SECURITY.md). Not part
  // of the id: re-sending the same id as another principal changes nothing.
  std::string uploader;
};

// Who contributed how much to a host class's profile.
struct Contribution {
  std::string uploader;
  uint64_t measurements = 0;
  uint64_t signatures = 0;  // distinct signatures it measured
};

struct HostClassInfo {
  v1::HostClass host_class;
  // Increases whenever the served profile of this host class changes.
  uint64_t version = 0;
  uint64_t signatures = 0;    // distinct kernel signatures
  uint64_t configs = 0;       // distinct (signature, config) pairs
  uint64_t measurements = 0;  // stored measurements
};

// Everything one upload or import changes, for ApplyProfileUpdate.
struct ProfileUpdate {
  // When set, created or updated first, as PutHostClass(*host_class,
  // bandwidths) does; its name must be the update's host class.
  std::optional<v1::HostClass> host_class;
  v1::CopyBandwidths bandwidths;
  // Then added as AddMeasurements and PutSeparableCosts do.
  std::vector<Measurement> measurements;
  std::vector<v1::KernelProfile> separable;
};

class ProfileStore {
 public:
  virtual ~ProfileStore() = default;

  // Creates the host class or updates its fingerprint/tier names and
  // bandwidths. InvalidArgument for an empty name; FailedPrecondition when
  // the host class exists with a different fingerprint (profiles from
  // different fingerprints never mix).
  virtual absl::Status PutHostClass(const v1::HostClass& host_class,
                                    const v1::CopyBandwidths& bandwidths) = 0;

  // Adds measurements to an existing host class (NotFound otherwise).
  // Idempotent: a measurement whose id is already stored is ignored. Returns
  // how many were new. Several measurements of one (signature, config) are
  // all kept.
  virtual absl::StatusOr<uint64_t> AddMeasurements(
      const std::string& host_class,
      const std::vector<Measurement>& measurements) = 0;

  // Adds separable costs (one per signature; a newer one replaces an older).
  virtual absl::Status PutSeparableCosts(
      const std::string& host_class,
      const std::vector<v1::KernelProfile>& kernels) = 0;

  // PutHostClass (when update.host_class is set), AddMeasurements and
  // PutSeparableCosts, with their rules and errors, as ONE atomic write: on
  // any error, and after a crash at any point (kill -9, power loss), the
  // profile is as before, never half-written (a host class without its
  // measurements). Versions bump as the separate calls would. Returns how
  // many measurements were new. InvalidArgument when update.host_class
  // names another host class.
  virtual absl::StatusOr<uint64_t> ApplyProfileUpdate(
      const std::string& host_class, const ProfileUpdate& update) = 0;

  // The profile served for planning: per (signature, config) the MEDIAN of
  // its measurements (lower median for an even count: a value that was
  // measured), separable costs as stored, signatures sorted by key and
  // configs by config string, so equal contents give equal bytes.
  // NotFound for an unknown host class.
  virtual absl::StatusOr<v1::Profile> GetProfile(
      const std::string& host_class) = 0;

  virtual absl::StatusOr<HostClassInfo> GetHostClass(
      const std::string& host_class) = 0;
  // The host class and its profile version only, the coverage counts left
  // 0: GetHostClass counts them by scanning every measurement, far too slow
  // for hot paths (a plan-cache hit, an upload). NotFound if unknown.
  virtual absl::StatusOr<HostClassInfo> GetHostClassVersion(
      const std::string& host_class) = 0;
  // All host classes, sorted by name.
  virtual absl::StatusOr<std::vector<HostClassInfo>> ListHostClasses() = 0;
  // Deletes the host class and all its measurements (NotFound if unknown).
  virtual absl::Status DeleteHostClass(const std::string& host_class) = 0;

  // Measurements per uploader, sorted by uploader. NotFound if unknown.
  // (Defaults: Unimplemented, for test doubles that do not need them.)
  virtual absl::StatusOr<std::vector<Contribution>> ListContributions(
      const std::string& host_class) {
    return absl::UnimplementedError("ListContributions");
  }
  // Deletes every measurement `uploader` contributed to `host_class` and
  // returns how many; the profile version moves when any was deleted.
  // NotFound for an unknown host class.
  virtual absl::StatusOr<uint64_t> DeleteMeasurementsBy(
      const std::string& host_class, const std::string& uploader) {
    return absl::UnimplementedError("DeleteMeasurementsBy");
  }
};

class GraphStore {
 public:
  virtual ~GraphStore() = default;
  // Stores a graph under its content digest ("sha256:<hex>" of its
  // deterministic serialization) and returns the digest. Idempotent.
  virtual absl::StatusOr<std::string> PutGraph(const v1::Graph& graph) = 0;
  virtual absl::StatusOr<v1::Graph> GetGraph(const std::string& digest) = 0;
  // Records that the stored graph `digest` was submitted for planning on
  // `host_class` (which need not exist yet): the profiler agents' work list.
  // Idempotent; the first submission's order is kept. NotFound when no such
  // graph is stored.
  virtual absl::Status RecordSubmission(const std::string& host_class,
                                        const std::string& digest) = 0;
  // Digests of the graphs submitted for `host_class`, in first-submission
  // order (empty for a host class nothing was submitted for).
  virtual absl::StatusOr<std::vector<std::string>> ListSubmittedGraphs(
      const std::string& host_class) = 0;
};

class PlanStore {
 public:
  virtual ~PlanStore() = default;
  // Caches `plan` under `key` (see PlanCacheKey in plan_key.h). Putting an
  // existing key keeps the first plan (same inputs give the same plan) but
  // restarts its age, so a job that reuses a cached plan can refer to it
  // before retention would delete it as old and unreferenced.
  virtual absl::Status PutPlan(const std::string& key,
                               const v1::Plan& plan) = 0;
  // NotFound when absent.
  virtual absl::StatusOr<v1::Plan> GetPlan(const std::string& key) = 0;
  // The plan's protobuf encoding, shared and immutable: what a cache hit
  // sends as it is (CachingPlanStore hands out its cached bytes without
  // parsing them). The default serializes GetPlan's plan. NotFound when
  // absent.
  virtual absl::StatusOr<std::shared_ptr<const std::string>> GetPlanBytes(
      const std::string& key);
};

struct JobFilter {
  // Only jobs in this state; STATE_UNSPECIFIED for all.
  v1::SolveJob::State state = v1::SolveJob::STATE_UNSPECIFIED;
  // At most this many (1..1000; 0 means 100).
  int page_size = 0;
  // From ListJobsPage::next_page_token; empty for the first page.
  std::string page_token;
  // Only jobs created by this principal (SolveJob.owner); nullopt for all.
  std::optional<std::string> owner;
};

// What RenewLeases found for one job.
struct LeaseState {
  std::string id;
  // False when the replica no longer holds the job's lease (it expired and
  // another replica took the job, or the job was handed back or finished):
  // the replica must stop working on it and write nothing more.
  bool held = false;
  // RequestCancel was called for the job (from any replica).
  bool cancel_requested = false;
};

struct JobPage {
  // Newest first (descending sequence).
  std::vector<v1::SolveJob> jobs;
  // Empty when there is no further page.
  std::string next_page_token;
};

class JobStore {
 public:
  virtual ~JobStore() = default;
  // Assigns id, sequence and create time, sets state QUEUED, stores and
  // returns the job. Rejects with ResourceExhausted when `max_queued` jobs
  // are already QUEUED, or `max_queued_per_owner` jobs of job.owner() are
  // (0 = unlimited; the message names the limit).
  virtual absl::StatusOr<v1::SolveJob> CreateJob(
      v1::SolveJob job, int max_queued, int max_queued_per_owner = 0) = 0;
  virtual absl::StatusOr<v1::SolveJob> GetJob(const std::string& id) = 0;
  // Replaces a job's stored fields with `job` (matched by id). A job in a
  // final state (SUCCEEDED, FAILED, CANCELLED) can no longer change:
  // FailedPrecondition.
  virtual absl::Status UpdateJob(const v1::SolveJob& job) = 0;
  // Atomically picks the QUEUED job with the highest priority, marks it
  // RUNNING with a start time, and returns it; nullopt when none is queued.
  // Within a priority, owners (SolveJob.owner) take turns: the owner whose
  // job was claimed least recently goes first, and an owner's own jobs run
  // in creation order (lowest sequence first). With a single owner this is
  // plain FIFO.
  virtual absl::StatusOr<std::optional<v1::SolveJob>> ClaimNextJob() = 0;
  virtual absl::StatusOr<JobPage> ListJobs(const JobFilter& filter) = 0;
  // Start-up recovery: every RUNNING job goes back to QUEUED (keeping its
  // sequence, so it keeps its place). Returns how many.
  virtual absl::StatusOr<int> RequeueRunningJobs() = 0;

  // --- Leases: several server replicas sharing one store -----------------
  // A backend that several processes share (PostgreSQL) implements these;
  // an embedded one (SQLite) answers Unimplemented (the defaults) and its
  // single server uses ClaimNextJob, UpdateJob and RequeueRunningJobs.
  // Lease times are taken from the backend's clock, so replicas' clocks
  // need not agree. A job's lease is held by one replica id at a time.

  // As ClaimNextJob (same order), and the claimed job is leased to
  // `replica` until now + `lease`. Also claims a RUNNING job whose lease
  // expired (its replica died or stalled): it restarts as
  // RequeueRunningJobs would restart it (finished budgets kept, live
  // progress cleared), keeping its place.
  virtual absl::StatusOr<std::optional<v1::SolveJob>> ClaimNextJobLeased(
      const std::string& replica, absl::Duration lease) {
    return absl::UnimplementedError("leases need a shared store");
  }
  // How long until ClaimNextJobLeased(replica, ...) can take over an
  // expired lease: the time from now to the earliest lease expiry among the
  // RUNNING jobs it would take over once expired (every leased job except
  // those whose lease this store object itself handed to `replica` and
  // that have not been let go, which the claim skips too). Zero when one
  // has expired already; nullopt when no such job is leased. Measured on
  // the backend's clock and returned as a duration, so a caller may wait it
  // on its own clock: the clocks' offset does not matter, only their rates
  // (and a caller that waits this long wakes no earlier than the expiry,
  // give or take that drift, since the answer takes time to arrive).
  // InvalidArgument for an empty `replica`.
  virtual absl::StatusOr<std::optional<absl::Duration>> NextLeaseExpiry(
      const std::string& replica) {
    return absl::UnimplementedError("leases need a shared store");
  }
  // Extends to now + `lease` the leases `replica` still holds among `ids`,
  // and reports for each id whether it is held and whether a cancel was
  // requested. Ids of unknown jobs are reported not held.
  virtual absl::StatusOr<std::vector<LeaseState>> RenewLeases(
      const std::string& replica, const std::vector<std::string>& ids,
      absl::Duration lease) {
    return absl::UnimplementedError("leases need a shared store");
  }
  // UpdateJob (same rules), but only while `replica` holds the job's
  // lease: FailedPrecondition otherwise, with nothing written (a replica
  // that lost a job can never overwrite the replica that took it over). A
  // state other than RUNNING ends the lease: QUEUED hands the job back
  // (claimable at once), a final state completes it.
  virtual absl::Status UpdateLeasedJob(const v1::SolveJob& job,
                                       const std::string& replica) {
    return absl::UnimplementedError("leases need a shared store");
  }
  // Cancels job `id` from any replica, atomically: a QUEUED job becomes
  // CANCELLED (termination CANCELLED, end time set, error "cancelled before
  // it ran"); a RUNNING one is flagged, and the replica holding its lease
  // sees the flag at its next RenewLeases and stops it; a final one is left
  // as it is. Returns the job as stored after the call. NotFound if
  // unknown.
  virtual absl::StatusOr<v1::SolveJob> RequestCancel(const std::string& id) {
    return absl::UnimplementedError("leases need a shared store");
  }
  // Blocks until a job was created or changed by any process, or `timeout`
  // passes; returns the ids of the changed jobs (empty on timeout), each
  // once per call, in commit order. A caller that reads the jobs after the
  // call sees at least the notified change. Only one thread may wait at a
  // time. Unimplemented for a store no other process changes.
  virtual absl::StatusOr<std::vector<std::string>> WaitForJobChanges(
      absl::Duration timeout) {
    return absl::UnimplementedError("change feed needs a shared store");
  }
};

// Sizes for operators (metrics), read in one consistent snapshot.
struct StoreStats {
  struct JobCount {
    v1::SolveJob::State state = v1::SolveJob::STATE_UNSPECIFIED;
    int32_t priority = 0;
    uint64_t count = 0;
  };
  // Jobs per (state, priority); only pairs with at least one job, sorted
  // by state, then priority.
  std::vector<JobCount> jobs;
  uint64_t graphs = 0;
  uint64_t plans = 0;  // cached plans and the plans kept per job
  // Bytes the backend's data occupies (SQLite: the database file's pages,
  // not its write-ahead log).
  uint64_t size_bytes = 0;
};

// Told about storage failures, so that the server can make them visible
// (health, log) instead of leaving clients to guess.
class StoreObserver {
 public:
  virtual ~StoreObserver() = default;
  // A write failed because the storage cannot take it (disk full, I/O
  // error, read-only file; on PostgreSQL also SQLSTATE classes 53 and 58
  // and a lost connection to the database). `status` is what the caller got
  // (Unavailable, IsStorageFailure); `detail` the backend's own words, query
  // included, for the server's log only. Called on the failing caller's thread,
  // possibly with the store's lock held: keep it short and never call back
  // into the store.
  virtual void OnStorageFailure(const absl::Status& status,
                                const std::string& detail) = 0;
};

// True for the Unavailable errors a store returns when its storage cannot
// take a write (as opposed to a busy database or a client error).
bool IsStorageFailure(const absl::Status& status);
// Marks `status` as a storage failure (backends use it).
absl::Status MarkStorageFailure(absl::Status status);

// What Prune may delete (README "Retention", docs/CLI.md "autotm admin
// prune"). Zero turns a limit
// off. Never deleted: queued or running jobs, and the graphs and plans that
// any job still stored refers to.
struct RetentionLimits {
  // Finished jobs (SUCCEEDED, FAILED, CANCELLED) last updated longer ago.
  absl::Duration job_age = absl::ZeroDuration();
  // Keep at most this many finished jobs (the newest).
  int64_t max_jobs = 0;
  // Graphs and plans no stored job refers to, stored (graphs: last
  // submitted) longer ago.
  absl::Duration unreferenced_age = absl::ZeroDuration();
  // Bytes of stored graphs, plans and jobs (their serialized sizes); over
  // it, the oldest finished jobs and unreferenced graphs and plans go first.
  uint64_t max_bytes = 0;
  // Graphs and plans younger than this are never deleted, even when
  // unreferenced: a request stores its graph (and a job its plan) a moment
  // before the job that refers to it.
  absl::Duration grace = absl::Minutes(10);
  // Then give the freed pages back to the file system (rewrites the file).
  bool vacuum = false;
};

struct PruneResult {
  uint64_t jobs_deleted = 0;
  uint64_t graphs_deleted = 0;
  uint64_t plans_deleted = 0;
  // Serialized bytes of graphs, plans and jobs, before and after.
  uint64_t content_bytes_before = 0;
  uint64_t content_bytes_after = 0;
  // The database's size (pages x page size) and its free pages' bytes
  // after the prune (a vacuum returns the free pages to the file system).
  uint64_t file_bytes_before = 0;
  uint64_t file_bytes_after = 0;
  uint64_t free_bytes_after = 0;
};

// All four stores of one backend, sharing its connection(s).
class Store {
 public:
  virtual ~Store() = default;
  virtual ProfileStore& profiles() = 0;
  virtual GraphStore& graphs() = 0;
  virtual PlanStore& plans() = 0;
  virtual JobStore& jobs() = 0;
  // (Default: Unimplemented, for test doubles that do not need it.)
  virtual absl::StatusOr<StoreStats> Stats() {
    return absl::UnimplementedError("Stats");
  }

  // Set once, before the store is shared; must outlive the store's use.
  virtual void SetObserver(StoreObserver* observer) { (void)observer; }
  // Commits a tiny write: OK when the storage takes writes again.
  virtual absl::Status ProbeWrite() { return absl::OkStatus(); }
  // Deletes what `limits` allow, in one transaction.
  virtual absl::StatusOr<PruneResult> Prune(const RetentionLimits& limits) {
    (void)limits;
    return absl::UnimplementedError("Prune");
  }
};

}  // namespace autotm::server

#endif  // AUTOTM_SERVER_STORE_STORE_H_
