// Runs queued solve jobs: N slot threads claim jobs from the JobStore
// (priority first, FIFO within a priority) and solve each budget of a job in
// an autotm-solve-worker child process, so that CBC's process-wide state, a
// crash or a runaway solve never touch the server.
//
// Per budget the runner writes the progress the worker reports into the job
// (incumbent, bound, gap, elapsed), stores the plan in the PlanStore and
// appends its key to the job's plan_keys: the plan-cache key (PlanCacheKey)
// for a completed solve, or "job:<id>/<budget index>" for the best plan of a
// cancelled one (which must not be served as the plan for those inputs).
// A budget whose plan is already cached is not solved again.
//
// The curve never rises with the budget: each budget's worker gets the
// fastest finished plan of a budget <= its own as its warm start, and before
// SUCCEEDED a budget whose plan is slower than a smaller budget's adopts a
// verified copy of the faster plan (stored under "job:<id>/<budget index>",
// since the cache keeps a key's first plan). See docs/FORMULATION.md.
//
// Final states: SUCCEEDED when every budget has a plan; CANCELLED (with the
// best plan so far, if any); FAILED with a reason in `error`: no plan under a
// budget, the worker crashed (signal or non-zero exit), or the watchdog
// killed it after time_limit + watchdog grace.
//
// Replicas (JobRunnerOptions::replica_id set; needs a shared store such as
// PostgreSQL): several servers run jobs from one store. A slot claims a job
// under a lease (JobStore::ClaimNextJobLeased) that a lease thread renews
// every lease/4; every write of a running job is fenced by the lease
// (UpdateLeasedJob). A replica that dies stops renewing, and after the
// lease time another replica claims the job and runs it again (finished
// budgets kept); a replica that finds its lease lost kills its worker and
// writes nothing more. So each job completes exactly once, and each plan is
// stored once under its key (PlanStore keeps a key's first plan).
// Stop() hands running jobs back (QUEUED, lease ended) at once. Cancel() of
// a job that another replica runs flags it in the store; that replica sees
// the flag at its next renewal (within lease/4) and cancels as for a local
// cancel. Subscribers and WaitForChange see the changes every replica
// makes: a feed thread reads the jobs the store announces
// (JobStore::WaitForJobChanges, PostgreSQL's NOTIFY) and publishes them in
// the order it reads them, so a subscriber never sees a job go back in
// time; a slot that is idle wakes when any replica queues a job.
//
// Failover time: an idle slot does not wait for its next poll to notice a
// dead replica. It asks the store when the earliest lease it could take
// over expires (JobStore::NextLeaseExpiry) and claims right after that, so
// with an idle slot anywhere a dead replica's job restarts at most `lease`
// (plus one claim) after that replica's last renewal: within `lease` of its
// death. Clock skew between replicas does not matter: expiry is judged by
// the store's clock alone (a lease is stored as the database's now + lease,
// and NextLeaseExpiry answers a duration computed there); a replica only
// waits that duration on its own clock, so that clock's offset from the
// database's does not matter (a step of it during the wait would shift
// that one wake-up; a wake-up before the expiry just asks again).
//
// Storage failures (issue 18, disk full): a final state the store cannot
// take is kept in memory, served by GetJob/Cancel/subscribers as if stored
// (so a watch ends and no caller waits on a job that cannot progress), and
// written by FlushUnsaved() once the store takes writes again (the server
// calls it when its StoreMonitor sees the store recover; idle slots try it
// too). A job whose plan cannot be stored ends FAILED naming the storage.
//
// Worker request files are named autotm-solve-<server pid>-XXXXXX in
// $TMPDIR (or /tmp); Start() deletes those of server processes that no
// longer run (a server killed with -9 leaves its open one behind).
//
// Thread safety: every public method may be called from any thread.
#ifndef AUTOTM_SERVER_JOB_RUNNER_H_
#define AUTOTM_SERVER_JOB_RUNNER_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "autotm/v1/job.pb.h"
#include "autotm/v1/plan.pb.h"
#include "server/store/store.h"
#include "spdlog/logger.h"

namespace autotm::server {

namespace worker {
class SolveRequest;  // server/worker.proto
}  // namespace worker

struct JobRunnerOptions {
  // Path of the autotm-solve-worker binary. Required.
  std::string worker_path;
  // Concurrent solves (worker processes). Default 1.
  int slots = 1;
  // A worker still running this long after its time limit is killed and its
  // job FAILED. Seconds; default 10.
  double watchdog_grace_seconds = 10;
  // A cancelled worker that has not exited this long after SIGTERM gets
  // SIGKILL. Seconds; default 2.
  double cancel_grace_seconds = 2;
  // Submit() answers ResourceExhausted when this many jobs are QUEUED.
  // 0 = unlimited (default).
  int max_queued = 0;
  // ... or when this many jobs of the job's owner are QUEUED (0 =
  // unlimited), so that one principal cannot fill the whole queue.
  int max_queued_per_owner = 0;
  // How often an idle slot looks for jobs created by another process. The
  // runner's own Submit() wakes the slots at once, and so does, for a
  // replica, a job that another replica queued (the change feed); a
  // replica's idle slot also wakes when a lease it could take over expires,
  // if that comes first (see the class comment). So the poll only matters
  // when a change notification is lost. Default 1 s.
  absl::Duration idle_poll = absl::Seconds(1);
  // Called after every budget's worker run that ended (not one interrupted
  // by Stop()), on the slot thread: the job's parameters, how the solve
  // ended (FAILED for a worker that crashed or was killed by the watchdog)
  // and its wall time. Budgets served from the plan cache are not solves
  // and are not reported. Empty: nothing is called. Keep it short.
  std::function<void(const v1::SolveParameters& parameters,
                     v1::Termination termination, absl::Duration wall)>
      on_solve;
  // Called for every budget's plan-cache check before it would be solved:
  // true when the plan was cached (the budget is not solved), false for a
  // miss. On the slot thread; empty: nothing is called.
  std::function<void(bool hit)> on_cache_lookup;
  // Non-empty: run as one replica of several on a shared store, under this
  // id (unique among the replicas; see the class comment). Empty: the only
  // server of its store (Start() requeues jobs left RUNNING).
  std::string replica_id;
  // Replicas: how long a claimed job stays leased without renewal, i.e.
  // how soon another replica re-runs the jobs of one that died. Renewed
  // every lease/4. Default 10 s.
  absl::Duration lease = absl::Seconds(10);
};

class JobRunner {
 public:
  // `store` and `logger` must outlive the runner.
  JobRunner(Store& store, JobRunnerOptions options,
            std::shared_ptr<spdlog::logger> logger);
  // Stops (see Stop()).
  ~JobRunner();

  JobRunner(const JobRunner&) = delete;
  JobRunner& operator=(const JobRunner&) = delete;

  // Start-up recovery (every job left RUNNING by an earlier process goes
  // back to QUEUED, keeping its place; replicas skip this, leases expire
  // instead), then launches the slot threads (and, for a replica, the
  // lease and feed threads).
  // InvalidArgument for bad options; the store's error if recovery fails.
  absl::Status Start() ABSL_LOCKS_EXCLUDED(mutex_);

  // Stops claiming jobs, kills running workers and puts their jobs back to
  // QUEUED (a restart, or another replica, runs them again), and joins the
  // threads. Idempotent.
  void Stop() ABSL_LOCKS_EXCLUDED(mutex_);

  // Queues `job` (graph_digest, host_class, budgets, normalised parameters,
  // priority, profile_version set by the caller). ResourceExhausted when the
  // queue is full.
  absl::StatusOr<v1::SolveJob> Submit(v1::SolveJob job);

  // A queued job becomes CANCELLED without running; a running one is asked
  // to stop (SIGTERM to its worker, SIGKILL after cancel_grace) and becomes
  // CANCELLED shortly after, keeping its best plan; a finished job is
  // returned unchanged. Returns the job as it is right after the request.
  // NotFound for an unknown id. A replica cancels jobs that other replicas
  // run too (see the class comment); a single server answers
  // FailedPrecondition for a job RUNNING in the store but not here.
  absl::StatusOr<v1::SolveJob> Cancel(const std::string& id)
      ABSL_LOCKS_EXCLUDED(mutex_);

  // Change notification. Every update of any job the runner makes
  // increments the generation. WaitForChange blocks until the generation
  // differs from `seen` or `timeout` passes, and returns the current one.
  uint64_t generation() const ABSL_LOCKS_EXCLUDED(mutex_);
  uint64_t WaitForChange(uint64_t seen, absl::Duration timeout) const
      ABSL_LOCKS_EXCLUDED(mutex_);

  // Calls `callback` with the job after every update the runner makes (on
  // the runner's threads; keep it short and do not call Subscribe or
  // Unsubscribe from it). Returns a token for Unsubscribe, after which the
  // callback is never called again.
  using Subscriber = std::function<void(const v1::SolveJob&)>;
  int Subscribe(Subscriber callback) ABSL_LOCKS_EXCLUDED(subscribers_mutex_);
  void Unsubscribe(int token) ABSL_LOCKS_EXCLUDED(subscribers_mutex_);

  // The job as stored, or its final state that the store could not take
  // yet. NotFound for an unknown id.
  absl::StatusOr<v1::SolveJob> GetJob(const std::string& id)
      ABSL_LOCKS_EXCLUDED(mutex_);
  // Replaces jobs of `jobs` whose final state is not stored yet by it.
  void Overlay(std::vector<v1::SolveJob>& jobs) ABSL_LOCKS_EXCLUDED(mutex_);
  // Writes the final states the store could not take; returns how many
  // are still unsaved. A replica writes them under its lease only: a job
  // whose lease it lost meanwhile (another replica may run it now) is
  // dropped, never overwritten.
  size_t FlushUnsaved() ABSL_LOCKS_EXCLUDED(mutex_);

  // Blocks until job `id` is in a final state or `timeout` passes; returns
  // the job as last stored. NotFound for an unknown id.
  absl::StatusOr<v1::SolveJob> WaitForFinal(const std::string& id,
                                            absl::Duration timeout);

  Store& store() { return store_; }
  const JobRunnerOptions& options() const { return options_; }

 private:
  struct Running {
    pid_t pid = -1;
    bool cancel_requested = false;
    // Replicas: the lease was lost (another replica may run the job now):
    // the worker is killed and nothing more is written.
    bool lease_lost = false;
  };
  // What a worker run produced for one budget.
  struct BudgetResult;
  struct WorkerRun;

  bool replicated() const { return !options_.replica_id.empty(); }
  void SlotLoop(int slot) ABSL_LOCKS_EXCLUDED(mutex_);
  // A job was queued: wakes one idle slot, or all, to claim again.
  void WakeSlots(bool all) ABSL_LOCKS_EXCLUDED(mutex_);
  // How long an idle slot waits before it claims again: the idle poll, or
  // for a replica whose claim did not fail, if sooner, until just after the
  // earliest lease it could take over expires (but at least 20 ms after the
  // claim). Asks the store.
  absl::Duration IdleWait(bool claim_failed) ABSL_LOCKS_EXCLUDED(mutex_);
  // Replicas: renews the leases of the running jobs every lease/4 and acts
  // on lost leases and cancel requests; publishes other replicas' changes.
  void LeaseLoop() ABSL_LOCKS_EXCLUDED(mutex_);
  void FeedLoop() ABSL_LOCKS_EXCLUDED(mutex_);
  // Blocks until Stop() joined the slots or `timeout` passes; returns
  // whether it did.
  bool AwaitSlotsJoined(absl::Duration timeout) ABSL_LOCKS_EXCLUDED(mutex_);
  // Marks a running job cancelled and signals its worker.
  void CancelRunningLocked(const std::string& id, Running& running)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  bool LeaseLost(const std::string& id) ABSL_LOCKS_EXCLUDED(mutex_);
  void RunJob(v1::SolveJob job);
  // Ends `job` in `state` (FAILED or CANCELLED) with `reason`, unless its
  // lease was lost; `termination`: UNSPECIFIED gives CANCELLED or FAILED by
  // `state`.
  void FailJob(v1::SolveJob& job, v1::SolveJob::State state,
               const std::string& reason, v1::Termination termination);
  // The worker's request for `job`: its graph, and the host class's profile
  // as it is now (its version recorded in the job). Errors name what is
  // missing.
  absl::StatusOr<worker::SolveRequest> PrepareSolveRequest(v1::SolveJob& job);
  std::vector<std::optional<v1::Plan>> FinishedPlans(const v1::SolveJob& job);
  bool TakeCachedPlan(v1::SolveJob& job, int index, const std::string& key,
                      std::vector<std::optional<v1::Plan>>* finished);
  BudgetResult RunWorker(v1::SolveJob& job, const std::string& request)
      ABSL_LOCKS_EXCLUDED(mutex_);
  double WatchWorker(v1::SolveJob& job, pid_t pid, int fd, WorkerRun& run)
      ABSL_LOCKS_EXCLUDED(mutex_);
  BudgetResult ResultOf(WorkerRun& run, const v1::SolveJob& job) const;
  // Stores `job` and notifies; logs and returns the store's error (for a
  // replica: FailedPrecondition once its lease is lost).
  absl::Status Save(const v1::SolveJob& job) ABSL_LOCKS_EXCLUDED(mutex_);
  // Moves the generation and calls the subscribers; a replica's own
  // changes reach subscribers through the feed only (`from_feed`), so that
  // they see every replica's changes in one order.
  void Publish(const v1::SolveJob& job, bool from_feed = false)
      ABSL_LOCKS_EXCLUDED(mutex_, subscribers_mutex_);
  bool CancelRequested(const std::string& id) ABSL_LOCKS_EXCLUDED(mutex_);

  Store& store_;
  const JobRunnerOptions options_;
  std::shared_ptr<spdlog::logger> logger_;

  mutable absl::Mutex mutex_;
  mutable absl::CondVar changed_;  // generation_ moved
  absl::CondVar wake_;             // wakeups_ moved, or Stop()
  // Moves whenever a job was queued (here or, seen by the feed, on another
  // replica): a slot that read it before claiming waits only while it has
  // not moved, so a job queued during its claim is never left to the poll.
  uint64_t wakeups_ ABSL_GUARDED_BY(mutex_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  bool started_ ABSL_GUARDED_BY(mutex_) = false;
  uint64_t generation_ ABSL_GUARDED_BY(mutex_) = 0;
  std::map<std::string, Running> running_ ABSL_GUARDED_BY(mutex_);
  // Final states the store could not take (by job id), until FlushUnsaved.
  std::map<std::string, v1::SolveJob> unsaved_ ABSL_GUARDED_BY(mutex_);
  std::vector<std::thread> slots_ ABSL_GUARDED_BY(mutex_);
  // Set by Start() under mutex_ and joined by Stop(); both run on the
  // owner's thread (Stop() after Start() returned), never concurrently, so
  // they need no lock.
  std::thread lease_thread_;
  std::thread feed_thread_;
  absl::CondVar stop_cv_;  // slots_joined_ became true
  // Stop() joined the slots: the lease and feed threads end.
  bool slots_joined_ ABSL_GUARDED_BY(mutex_) = false;

  absl::Mutex subscribers_mutex_;
  int next_token_ ABSL_GUARDED_BY(subscribers_mutex_) = 1;
  std::map<int, Subscriber> subscribers_ ABSL_GUARDED_BY(subscribers_mutex_);
};

// True for SUCCEEDED, FAILED and CANCELLED.
bool IsFinal(v1::SolveJob::State state);

}  // namespace autotm::server

#endif  // AUTOTM_SERVER_JOB_RUNNER_H_
