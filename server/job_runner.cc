#include "server/job_runner.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/subprocess.h"
#include "google/protobuf/io/coded_stream.h"
#include "server/plan_key.h"
#include "solver/graph_model.h"
#include "solver/profile_model.h"
#include "solver/verifier.h"
#include "worker.pb.h"

namespace autotm::server {

bool IsFinal(v1::SolveJob::State state) {
  return state == v1::SolveJob::SUCCEEDED || state == v1::SolveJob::FAILED ||
         state == v1::SolveJob::CANCELLED;
}

namespace {

int64_t NowMicros() { return absl::ToUnixMicros(absl::Now()); }

std::string Describe(const absl::Status& status) {
  return std::string(status.message());
}

std::string TempDir() {
  const char* tmpdir = ::getenv("TMPDIR");
  return tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp";
}

constexpr char kRequestPrefix[] = "autotm-solve-";

// An idle replica's slot claims this long after the earliest lease it could
// take over expires: the claim takes a lease strictly past its expiry (on
// the database's clock), so a slot that woke at the expiry itself could
// find nothing.
constexpr absl::Duration kAfterLeaseExpiry = absl::Milliseconds(1);
// ... and never sooner than this after its last claim: an expired lease
// that another replica is claiming right now (its row locked, so skipped)
// would otherwise be polled in a busy loop until that claim commits.
constexpr absl::Duration kMinIdleWait = absl::Milliseconds(20);

// Deletes the request files (autotm-solve-<pid>-XXXXXX) in TempDir() whose
// server process no longer runs and that this user owns; returns how many.
int CleanStaleRequestFiles() {
  const std::string dir = TempDir();
  DIR* stream = ::opendir(dir.c_str());
  if (stream == nullptr) return 0;
  int removed = 0;
  while (struct dirent* entry = ::readdir(stream)) {
    absl::string_view name = entry->d_name;
    if (!absl::ConsumePrefix(&name, kRequestPrefix)) continue;
    const size_t dash = name.find('-');
    int pid = 0;
    if (dash == absl::string_view::npos ||
        !absl::SimpleAtoi(name.substr(0, dash), &pid) || pid <= 0) {
      continue;
    }
    if (::kill(pid, 0) == 0 || errno != ESRCH) continue;  // still running
    const std::string path = absl::StrCat(dir, "/", entry->d_name);
    struct stat info;
    if (::lstat(path.c_str(), &info) != 0 || !S_ISREG(info.st_mode) ||
        info.st_uid != ::geteuid()) {
      continue;
    }
    if (::unlink(path.c_str()) == 0) ++removed;
  }
  ::closedir(stream);
  return removed;
}

// Writes `bytes` to a fresh temporary file; returns its path.
absl::StatusOr<std::string> WriteTempFile(const std::string& bytes) {
  std::string path =
      absl::StrCat(TempDir(), "/", kRequestPrefix, ::getpid(), "-XXXXXX");
  int fd = ::mkstemp(path.data());
  if (fd < 0) {
    return absl::InternalError(
        absl::StrCat("cannot create ", path, ": ", strerror(errno)));
  }
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int error = errno;
      ::close(fd);
      ::unlink(path.c_str());
      return absl::InternalError(
          absl::StrCat("cannot write ", path, ": ", strerror(error)));
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return path;
}

// Pops one length-delimited message off the front of `buffer`; false when
// the buffer does not yet hold a whole one. `*corrupt` on garbage.
bool PopEvent(std::string& buffer, worker::WorkerEvent* event, bool* corrupt) {
  google::protobuf::io::CodedInputStream input(
      reinterpret_cast<const uint8_t*>(buffer.data()),
      static_cast<int>(buffer.size()));
  uint32_t size = 0;
  if (!input.ReadVarint32(&size)) return false;  // incomplete varint
  const int header = input.CurrentPosition();
  if (buffer.size() < header + static_cast<size_t>(size)) return false;
  if (!event->ParseFromArray(buffer.data() + header, static_cast<int>(size))) {
    *corrupt = true;
    return false;
  }
  buffer.erase(0, header + size);
  return true;
}

std::string SignalName(int signal) {
  const char* name = ::sigabbrev_np(signal);
  return name != nullptr ? absl::StrCat("SIG", name) : absl::StrCat(signal);
}

// Relative gap of `objective` to `bound`, as the planner computes it:
// +inf when either is not finite (no bound).
double GapToBound(double objective, double bound) {
  if (!std::isfinite(objective) || !std::isfinite(bound)) {
    return std::numeric_limits<double>::infinity();
  }
  return std::max(0.0,
                  (objective - bound) / std::max(1e-10, std::abs(objective)));
}

// A finished budget's plan that may stand for others: not a cancelled
// solve's best-so-far (which is not the plan for its inputs).
bool Usable(const std::optional<v1::Plan>& plan) {
  return plan.has_value() &&
         plan->stats().termination() != v1::TERMINATION_CANCELLED;
}

// SolveJob.termination of a SUCCEEDED job: the weakest over its plans
// (FEASIBLE over OPTIMAL; HEURISTIC for baselines).
v1::Termination JobTermination(
    const std::vector<std::optional<v1::Plan>>& finished) {
  v1::Termination weakest = v1::TERMINATION_OPTIMAL;
  for (const std::optional<v1::Plan>& plan : finished) {
    if (!plan.has_value()) continue;
    const v1::Termination t = plan->stats().termination();
    if (t == v1::TERMINATION_HEURISTIC) return t;
    if (t != v1::TERMINATION_OPTIMAL) weakest = v1::TERMINATION_FEASIBLE;
  }
  return weakest;
}

// Index of the fastest usable plan in `finished` whose budget is <= `budget`
// and which is strictly faster than `than_us`, or -1.
int FastestAtOrBelow(const v1::SolveJob& job,
                     const std::vector<std::optional<v1::Plan>>& finished,
                     uint64_t budget, double than_us) {
  int best = -1;
  for (int j = 0; j < static_cast<int>(finished.size()); ++j) {
    if (!Usable(finished[j]) || job.budgets_bytes(j) > budget) continue;
    const double time = finished[j]->predicted_time_us();
    if (time < (best < 0 ? than_us : finished[best]->predicted_time_us())) {
      best = j;
    }
  }
  return best;
}

// The guarantee of a multi-budget job: its predicted time never rises with
// the budget. Solving in the order given, a budget solved before a smaller
// one had no warm start from it and may have ended slower under its time
// limit (or its plan was cached that way). For each budget i, the fastest
// finished plan of a budget <= budgets_bytes(i), when faster than i's own,
// is adopted for i: a copy re-labelled with i's budget and i's own bound
// (the only bound valid for it), stored under "job:<id>/<i>" (the cache key
// keeps its first plan) once VerifyPlan passes it under i's budget with
// offsets, priced as the plan was. A copy that does not verify is not
// adopted (logged). `finished` is index-aligned with job.plan_keys; an
// error only when the store cannot take a plan.
absl::Status AdoptFasterPlans(
    PlanStore& plans, spdlog::logger& logger, v1::SolveJob& job,
    const worker::SolveRequest& request,
    const std::vector<std::optional<v1::Plan>>& finished) {
  std::optional<solver::GraphModel> graph;
  for (int i = 0; i < static_cast<int>(finished.size()); ++i) {
    if (!Usable(finished[i])) continue;
    const uint64_t budget = job.budgets_bytes(i);
    const v1::Plan& own = *finished[i];
    const int from =
        FastestAtOrBelow(job, finished, budget, own.predicted_time_us());
    if (from < 0 || from == i) continue;
    const v1::Plan& faster = *finished[from];
    if (!graph.has_value()) {
      absl::StatusOr<solver::GraphModel> model =
          solver::GraphModel::Create(request.graph());
      if (!model.ok()) {
        logger.warn("job {}: cannot check plans across budgets: {}", job.id(),
                    model.status().ToString());
        return absl::OkStatus();
      }
      graph.emplace(*std::move(model));
    }
    v1::Plan adopted = faster;
    adopted.set_budget_bytes(budget);
    v1::SolverStats& stats = *adopted.mutable_stats();
    // Budget i's own solve: its model, timings and bound (a smaller budget's
    // bound is not valid for a larger one).
    stats = own.stats();
    stats.set_objective_us(adopted.predicted_time_us());
    stats.set_relative_gap(
        GapToBound(adopted.predicted_time_us(), stats.best_bound_us()));
    stats.set_termination(stats.relative_gap() <=
                                  job.parameters().relative_gap() * 1.001 + 1e-7
                              ? v1::TERMINATION_OPTIMAL
                              : v1::TERMINATION_FEASIBLE);
    absl::StatusOr<solver::ProfileModel> profile = solver::ProfileModel::Create(
        request.profile(), solver::TableCollapseOptionsOf(adopted));
    absl::StatusOr<solver::VerifyReport> report =
        profile.ok() ? solver::VerifyPlan(*graph, *profile, adopted, budget,
                                          /*require_offsets=*/true)
                     : absl::StatusOr<solver::VerifyReport>(profile.status());
    if (!report.ok()) {
      logger.warn(
          "job {}: budget {} bytes: the faster plan of the {}-byte budget "
          "({:.1f} us < {:.1f} us) does not verify under it, kept its own: {}",
          job.id(), budget, job.budgets_bytes(from), faster.predicted_time_us(),
          own.predicted_time_us(), report.status().ToString());
      continue;
    }
    const std::string key = absl::StrCat("job:", job.id(), "/", i);
    if (absl::Status status = plans.PutPlan(key, adopted); !status.ok()) {
      return status;
    }
    job.set_plan_keys(i, key);
    logger.info(
        "job {}: budget {} bytes: adopted the plan of the {}-byte budget "
        "({:.1f} us, its own {:.1f} us): a larger budget is never slower",
        job.id(), budget, job.budgets_bytes(from), faster.predicted_time_us(),
        own.predicted_time_us());
  }
  return absl::OkStatus();
}

}  // namespace

struct JobRunner::BudgetResult {
  enum Kind { kPlan, kNoPlan, kError, kCancelledNoPlan, kStopped };
  Kind kind = kError;
  v1::Plan plan;
  std::string reason;
  // kNoPlan: why (INFEASIBLE, NO_SOLUTION).
  v1::Termination termination = v1::TERMINATION_FAILED;

  // How the solve ended, for JobRunnerOptions::on_solve.
  v1::Termination Outcome() const {
    switch (kind) {
      case kPlan:
        return plan.stats().termination();
      case kNoPlan:
        return termination;
      case kCancelledNoPlan:
        return v1::TERMINATION_CANCELLED;
      case kError:
      case kStopped:
        break;
    }
    return v1::TERMINATION_FAILED;
  }
};

JobRunner::JobRunner(Store& store, JobRunnerOptions options,
                     std::shared_ptr<spdlog::logger> logger)
    : store_(store), options_(std::move(options)), logger_(std::move(logger)) {}

JobRunner::~JobRunner() { Stop(); }

absl::Status JobRunner::Start() {
  if (options_.worker_path.empty()) {
    return absl::InvalidArgumentError("job runner: no worker binary path");
  }
  if (::access(options_.worker_path.c_str(), X_OK) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("job runner: worker binary ", options_.worker_path,
                     " is not executable: ", strerror(errno)));
  }
  if (options_.slots < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("job runner: slots must be >= 1, not ", options_.slots));
  }
  if (const int stale = CleanStaleRequestFiles(); stale > 0) {
    logger_->info(
        "deleted {} request file(s) of solve workers left by a "
        "server that no longer runs",
        stale);
  }
  if (replicated()) {
    // Other replicas may be running jobs: those left by a dead replica
    // come back when their leases expire, not here.
    if (options_.lease < absl::Milliseconds(100)) {
      return absl::InvalidArgumentError(
          "job runner: the lease must be at least 100 ms");
    }
  } else {
    absl::StatusOr<int> requeued = store_.jobs().RequeueRunningJobs();
    if (!requeued.ok()) return requeued.status();
    if (*requeued > 0) {
      logger_->info("requeued {} job(s) left running by an earlier server",
                    *requeued);
    }
  }
  absl::MutexLock lock(&mutex_);
  if (started_) return absl::FailedPreconditionError("job runner started");
  started_ = true;
  for (int slot = 0; slot < options_.slots; ++slot) {
    slots_.emplace_back([this, slot] { SlotLoop(slot); });
  }
  if (replicated()) {
    lease_thread_ = std::thread([this] { LeaseLoop(); });
    feed_thread_ = std::thread([this] { FeedLoop(); });
    logger_->info("job runner: replica {}, {} slot(s), lease {}, worker {}",
                  options_.replica_id, options_.slots,
                  absl::FormatDuration(options_.lease), options_.worker_path);
  } else {
    logger_->info("job runner: {} slot(s), worker {}", options_.slots,
                  options_.worker_path);
  }
  return absl::OkStatus();
}

void JobRunner::Stop() {
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
    for (auto& [id, running] : running_) {
      if (running.pid > 0) ::kill(running.pid, SIGKILL);
    }
    threads.swap(slots_);
  }
  wake_.SignalAll();
  // Slots first: handing their jobs back needs the leases still renewed.
  for (std::thread& thread : threads) thread.join();
  {
    absl::MutexLock lock(&mutex_);
    slots_joined_ = true;
  }
  stop_cv_.SignalAll();
  if (lease_thread_.joinable()) lease_thread_.join();
  if (feed_thread_.joinable()) feed_thread_.join();
}

absl::StatusOr<v1::SolveJob> JobRunner::Submit(v1::SolveJob job) {
  absl::StatusOr<v1::SolveJob> created = store_.jobs().CreateJob(
      std::move(job), options_.max_queued, options_.max_queued_per_owner);
  if (!created.ok()) return created.status();
  logger_->info(
      "job {}: queued ({} budget(s), priority {}, graph {}, host "
      "class {})",
      created->id(), created->budgets_bytes_size(), created->priority(),
      created->graph_digest(), created->host_class());
  Publish(*created);
  WakeSlots(/*all=*/false);  // one job: one slot
  return created;
}

absl::StatusOr<v1::SolveJob> JobRunner::GetJob(const std::string& id) {
  {
    absl::MutexLock lock(&mutex_);
    auto it = unsaved_.find(id);
    if (it != unsaved_.end()) return it->second;
  }
  return store_.jobs().GetJob(id);
}

void JobRunner::Overlay(std::vector<v1::SolveJob>& jobs) {
  absl::MutexLock lock(&mutex_);
  if (unsaved_.empty()) return;
  for (v1::SolveJob& job : jobs) {
    auto it = unsaved_.find(job.id());
    if (it != unsaved_.end()) job = it->second;
  }
}

size_t JobRunner::FlushUnsaved() {
  std::map<std::string, v1::SolveJob> pending;
  {
    absl::MutexLock lock(&mutex_);
    pending = unsaved_;
  }
  for (const auto& [id, job] : pending) {
    // A replica writes under its lease, as Save() does: if the lease ran
    // out while the store was down, another replica may have claimed the
    // job and be running it, and a plain UpdateJob would overwrite that.
    absl::Status status =
        replicated() ? store_.jobs().UpdateLeasedJob(job, options_.replica_id)
                     : store_.jobs().UpdateJob(job);
    // FailedPrecondition: already final in the store (another writer), or
    // (replicas) the lease is lost and the job belongs to another replica.
    if (status.ok() || absl::IsFailedPrecondition(status) ||
        absl::IsNotFound(status)) {
      absl::MutexLock lock(&mutex_);
      unsaved_.erase(id);
      if (status.ok()) {
        logger_->info("job {}: its {} state is stored now", id,
                      v1::SolveJob::State_Name(job.state()));
      } else {
        logger_->warn("job {}: its {} state is dropped, not stored: {}", id,
                      v1::SolveJob::State_Name(job.state()), status.ToString());
      }
    } else if (!IsStorageFailure(status)) {
      logger_->error("job {}: cannot store its final state: {}", id,
                     status.ToString());
    }
  }
  absl::MutexLock lock(&mutex_);
  return unsaved_.size();
}

void JobRunner::CancelRunningLocked(const std::string& id, Running& running) {
  if (running.cancel_requested) return;
  running.cancel_requested = true;
  if (running.pid > 0) ::kill(running.pid, SIGTERM);
  logger_->info("job {}: cancel requested while running", id);
}

absl::StatusOr<v1::SolveJob> JobRunner::Cancel(const std::string& id) {
  absl::ReleasableMutexLock lock(&mutex_);
  if (auto it = unsaved_.find(id); it != unsaved_.end()) return it->second;
  absl::StatusOr<v1::SolveJob> job = store_.jobs().GetJob(id);
  if (!job.ok()) return job.status();
  if (IsFinal(job->state())) return job;
  auto it = running_.find(id);
  if (it != running_.end()) {
    CancelRunningLocked(id, it->second);
    return job;
  }
  if (replicated()) {
    // Queued (cancelled now, atomically against claims) or run by another
    // replica (flagged; it stops the job at its next lease renewal). A
    // claim by this replica racing with the request is flagged too and
    // stopped by the lease thread.
    lock.Release();
    job = store_.jobs().RequestCancel(id);
    if (job.ok() && job->state() == v1::SolveJob::CANCELLED) {
      logger_->info("job {}: cancelled while queued", id);
      Publish(*job);
    } else if (job.ok() && job->state() == v1::SolveJob::RUNNING) {
      logger_->info("job {}: cancel requested (it runs on another replica)",
                    id);
    }
    return job;
  }
  if (job->state() == v1::SolveJob::QUEUED) {
    // Claims happen under mutex_, so the job cannot start meanwhile.
    job->set_state(v1::SolveJob::CANCELLED);
    job->set_termination(v1::TERMINATION_CANCELLED);
    job->set_end_time_us(NowMicros());
    job->set_error("cancelled before it ran");
    if (absl::Status status = store_.jobs().UpdateJob(*job); !status.ok()) {
      return status;
    }
    logger_->info("job {}: cancelled while queued", id);
    lock.Release();
    Publish(*job);
    return job;
  }
  // RUNNING in the store but not here: another process runs it, or it was
  // left by a crashed server and will be requeued at the next start.
  return absl::FailedPreconditionError(
      absl::StrCat("job ", id, " is running outside this server"));
}

uint64_t JobRunner::generation() const {
  absl::MutexLock lock(&mutex_);
  return generation_;
}

uint64_t JobRunner::WaitForChange(uint64_t seen, absl::Duration timeout) const {
  absl::MutexLock lock(&mutex_);
  const absl::Time deadline = absl::Now() + timeout;
  while (generation_ == seen && !stopping_) {
    if (changed_.WaitWithDeadline(&mutex_, deadline)) break;  // timed out
  }
  return generation_;
}

int JobRunner::Subscribe(Subscriber callback) {
  absl::MutexLock lock(&subscribers_mutex_);
  int token = next_token_++;
  subscribers_.emplace(token, std::move(callback));
  return token;
}

void JobRunner::Unsubscribe(int token) {
  absl::MutexLock lock(&subscribers_mutex_);
  subscribers_.erase(token);
}

absl::StatusOr<v1::SolveJob> JobRunner::WaitForFinal(const std::string& id,
                                                     absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    uint64_t seen = generation();
    absl::StatusOr<v1::SolveJob> job = store_.jobs().GetJob(id);
    if (!job.ok() || IsFinal(job->state())) return job;
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return job;
    WaitForChange(seen, std::min(left, absl::Milliseconds(500)));
  }
}

void JobRunner::Publish(const v1::SolveJob& job, bool from_feed) {
  {
    absl::MutexLock lock(&mutex_);
    ++generation_;
  }
  changed_.SignalAll();
  if (replicated() && !from_feed) return;  // the feed brings it
  absl::MutexLock lock(&subscribers_mutex_);
  for (auto& [token, callback] : subscribers_) callback(job);
}

absl::Status JobRunner::Save(const v1::SolveJob& job) {
  absl::Status status =
      replicated() ? store_.jobs().UpdateLeasedJob(job, options_.replica_id)
                   : store_.jobs().UpdateJob(job);
  if (status.ok()) {
    Publish(job);
    return status;
  }
  if (replicated() && status.code() == absl::StatusCode::kFailedPrecondition) {
    absl::MutexLock lock(&mutex_);
    auto it = running_.find(job.id());
    if (it != running_.end() && !it->second.lease_lost) {
      it->second.lease_lost = true;
      if (it->second.pid > 0) ::kill(it->second.pid, SIGKILL);
      logger_->warn("job {}: lease lost, another replica may run it: {}",
                    job.id(), status.ToString());
    }
    return status;
  }
  if (!IsStorageFailure(status)) {
    logger_->error("job {}: cannot store its state: {}", job.id(),
                   status.ToString());
    return status;
  }
  // The storage cannot take writes (the StoreMonitor logs why). Progress is
  // still published; a final state is kept until it can be stored, so that
  // nobody waits on a job that will not move again.
  if (IsFinal(job.state())) {
    {
      absl::MutexLock lock(&mutex_);
      unsaved_[job.id()] = job;
    }
    logger_->warn(
        "job {}: its {} state cannot be stored yet; served from memory and "
        "written when the database takes writes again",
        job.id(), v1::SolveJob::State_Name(job.state()));
    // A replica's subscribers hear of its changes through the feed, which
    // announces only stored ones: this state goes to them directly, or their
    // watches would wait until the database takes writes again.
    Publish(job, /*from_feed=*/true);
    return status;
  }
  Publish(job);
  return status;
}

bool JobRunner::LeaseLost(const std::string& id) {
  absl::MutexLock lock(&mutex_);
  auto it = running_.find(id);
  return it != running_.end() && it->second.lease_lost;
}

void JobRunner::LeaseLoop() {
  // While the storage fails (a full disk), every renewal fails: that is
  // logged once, not every lease/4 (the StoreMonitor logs the failures).
  bool storage_failing = false;
  while (true) {
    if (AwaitSlotsJoined(options_.lease / 4)) return;
    std::vector<std::string> ids;
    {
      absl::MutexLock lock(&mutex_);
      for (const auto& [id, running] : running_) {
        if (!running.lease_lost) ids.push_back(id);
      }
    }
    if (ids.empty()) continue;
    absl::StatusOr<std::vector<LeaseState>> states =
        store_.jobs().RenewLeases(options_.replica_id, ids, options_.lease);
    if (!states.ok()) {
      // Writes stay fenced: if the leases expire meanwhile, this replica's
      // next write fails and it stops those jobs.
      if (!storage_failing || !IsStorageFailure(states.status())) {
        logger_->warn("cannot renew the leases of {} job(s): {}", ids.size(),
                      states.status().ToString());
      }
      storage_failing = IsStorageFailure(states.status());
      continue;
    }
    if (storage_failing) {
      storage_failing = false;
      logger_->info("leases renewed again ({} job(s))", ids.size());
    }
    absl::MutexLock lock(&mutex_);
    for (const LeaseState& state : *states) {
      auto it = running_.find(state.id);
      if (it == running_.end()) continue;  // finished meanwhile
      Running& running = it->second;
      if (!state.held) {
        // Finished meanwhile (its final write ended the lease), or taken
        // over after this replica stalled past the lease.
        if (!running.lease_lost) {
          running.lease_lost = true;
          if (running.pid > 0) {
            ::kill(running.pid, SIGKILL);
            logger_->warn(
                "job {}: lease lost, another replica may run it; "
                "worker pid {} killed",
                state.id, running.pid);
          }
        }
      } else if (state.cancel_requested) {
        CancelRunningLocked(state.id, running);
      }
    }
  }
}

void JobRunner::FeedLoop() {
  // After the feed broke, changes made meanwhile were not announced: the
  // newest jobs are published once it works again.
  bool resync = false;
  while (true) {
    {
      absl::MutexLock lock(&mutex_);
      if (slots_joined_) return;
    }
    absl::StatusOr<std::vector<std::string>> ids =
        store_.jobs().WaitForJobChanges(absl::Milliseconds(250));
    if (!ids.ok()) {
      if (!resync) {
        logger_->warn("job change feed: {}", ids.status().ToString());
      }
      resync = true;
      AwaitSlotsJoined(absl::Milliseconds(500));
      continue;
    }
    std::vector<v1::SolveJob> jobs;
    if (resync) {
      JobFilter newest;
      newest.page_size = 1000;
      absl::StatusOr<JobPage> page = store_.jobs().ListJobs(newest);
      if (!page.ok()) continue;  // still down; try again
      jobs = std::move(page->jobs);
      resync = false;
      logger_->info("job change feed: back; republished {} job(s)",
                    jobs.size());
    }
    for (const std::string& id : *ids) {
      absl::StatusOr<v1::SolveJob> job = store_.jobs().GetJob(id);
      if (job.ok()) jobs.push_back(*std::move(job));
    }
    bool queued = false;
    for (const v1::SolveJob& job : jobs) {
      queued |= job.state() == v1::SolveJob::QUEUED;
      Publish(job, /*from_feed=*/true);
    }
    if (queued) WakeSlots(/*all=*/true);  // job(s) queued on any replica
  }
}

bool JobRunner::AwaitSlotsJoined(absl::Duration timeout) {
  absl::MutexLock lock(&mutex_);
  const absl::Time deadline = absl::Now() + timeout;
  while (!slots_joined_) {
    if (stop_cv_.WaitWithDeadline(&mutex_, deadline)) break;  // timed out
  }
  return slots_joined_;
}

bool JobRunner::CancelRequested(const std::string& id) {
  absl::MutexLock lock(&mutex_);
  auto it = running_.find(id);
  return it != running_.end() && it->second.cancel_requested;
}

void JobRunner::WakeSlots(bool all) {
  absl::MutexLock lock(&mutex_);
  ++wakeups_;
  if (all) {
    wake_.SignalAll();
  } else {
    wake_.Signal();
  }
}

absl::Duration JobRunner::IdleWait(bool claim_failed) {
  // A claim that failed (a full disk, a lost database) fails again at
  // once: retried at the poll, even if a lease is up for taking over.
  if (!replicated() || claim_failed) return options_.idle_poll;
  absl::StatusOr<std::optional<absl::Duration>> next =
      store_.jobs().NextLeaseExpiry(options_.replica_id);
  // On an error the poll still finds the job; the claim reports the
  // store's trouble.
  if (!next.ok() || !next->has_value()) return options_.idle_poll;
  return std::min(options_.idle_poll,
                  std::max(**next + kAfterLeaseExpiry, kMinIdleWait));
}

void JobRunner::SlotLoop(int slot) {
  while (true) {
    std::optional<v1::SolveJob> job;
    uint64_t wakeups = 0;
    bool unsaved = false;
    bool claim_failed = false;
    {
      absl::MutexLock lock(&mutex_);
      if (stopping_) return;
      // A job queued after this point moves wakeups_ (Submit, the feed), so
      // the wait below cannot miss it even if the claim did.
      wakeups = wakeups_;
      absl::StatusOr<std::optional<v1::SolveJob>> claimed =
          replicated() ? store_.jobs().ClaimNextJobLeased(options_.replica_id,
                                                          options_.lease)
                       : store_.jobs().ClaimNextJob();
      if (!claimed.ok() && !IsStorageFailure(claimed.status())) {
        // (Storage failures are logged by the StoreMonitor; the job stays
        // queued until the store takes writes again.)
        logger_->error("slot {}: cannot claim a job: {}", slot,
                       claimed.status().ToString());
      } else if (claimed.ok() && claimed->has_value()) {
        job = std::move(**claimed);
        running_[job->id()] = Running{};
      }
      claim_failed = !claimed.ok();
      unsaved = !unsaved_.empty();
    }
    if (!job.has_value()) {
      // Outside the lock: IdleWait may ask the store.
      const absl::Time deadline = absl::Now() + IdleWait(claim_failed);
      bool stopping = false;
      {
        absl::MutexLock lock(&mutex_);
        while (!stopping_ && wakeups_ == wakeups) {
          if (wake_.WaitWithDeadline(&mutex_, deadline)) break;  // timed out
        }
        stopping = stopping_;
      }
      if (unsaved && !stopping) FlushUnsaved();
      continue;
    }
    logger_->info("job {}: started on slot {}", job->id(), slot);
    Publish(*job);
    const std::string id = job->id();
    RunJob(std::move(*job));
    absl::MutexLock lock(&mutex_);
    running_.erase(id);
  }
}

void JobRunner::FailJob(v1::SolveJob& job, v1::SolveJob::State state,
                        const std::string& reason,
                        v1::Termination termination) {
  if (LeaseLost(job.id())) {
    logger_->info("job {}: left to the replica that took it over", job.id());
    return;
  }
  job.set_state(state);
  job.set_termination(termination != v1::TERMINATION_UNSPECIFIED ? termination
                      : state == v1::SolveJob::CANCELLED
                          ? v1::TERMINATION_CANCELLED
                          : v1::TERMINATION_FAILED);
  job.set_error(reason);
  job.set_end_time_us(NowMicros());
  if (state == v1::SolveJob::FAILED) {
    logger_->warn("job {}: failed: {}", job.id(), reason);
  } else {
    logger_->info("job {}: {}: {}", job.id(), v1::SolveJob::State_Name(state),
                  reason);
  }
  Save(job).IgnoreError();
}

absl::StatusOr<worker::SolveRequest> JobRunner::PrepareSolveRequest(
    v1::SolveJob& job) {
  absl::StatusOr<v1::Graph> graph =
      store_.graphs().GetGraph(job.graph_digest());
  if (!graph.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "graph ", job.graph_digest(), ": ", Describe(graph.status())));
  }
  absl::StatusOr<HostClassInfo> info =
      store_.profiles().GetHostClassVersion(job.host_class());
  absl::StatusOr<v1::Profile> profile =
      store_.profiles().GetProfile(job.host_class());
  if (!info.ok() || !profile.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("host class ", job.host_class(), ": ",
                     Describe(info.ok() ? profile.status() : info.status())));
  }
  // Solve against the profile as it is now (it may have grown since the job
  // was queued); the keys record that version.
  job.set_profile_version(info->version);

  worker::SolveRequest request;
  *request.mutable_graph() = *std::move(graph);
  *request.mutable_profile() = *std::move(profile);
  *request.mutable_parameters() = job.parameters();
  return request;
}

// The plans of the finished budgets, index-aligned with plan_keys (read
// back so that a resumed job counts the budgets of its earlier run).
std::vector<std::optional<v1::Plan>> JobRunner::FinishedPlans(
    const v1::SolveJob& job) {
  std::vector<std::optional<v1::Plan>> finished;
  for (const std::string& plan_key : job.plan_keys()) {
    absl::StatusOr<v1::Plan> plan = store_.plans().GetPlan(plan_key);
    finished.push_back(plan.ok() ? std::optional<v1::Plan>(*std::move(plan))
                                 : std::nullopt);
  }
  return finished;
}

// When the plan store has the plan of budget `index` under `key` already
// (another job solved it), records it as that budget's plan and returns
// true.
bool JobRunner::TakeCachedPlan(v1::SolveJob& job, int index,
                               const std::string& key,
                               std::vector<std::optional<v1::Plan>>* finished) {
  const uint64_t budget = job.budgets_bytes(index);
  absl::StatusOr<v1::Plan> cached = store_.plans().GetPlan(key);
  if (options_.on_cache_lookup &&
      (cached.ok() || absl::IsNotFound(cached.status()))) {
    options_.on_cache_lookup(cached.ok());
  }
  if (cached.ok()) {
    logger_->info("job {}: budget {} bytes: plan already cached", job.id(),
                  budget);
    finished->push_back(*std::move(cached));
    job.add_plan_keys(key);
    job.set_budgets_done(index + 1);
    Save(job).IgnoreError();
    return true;
  }
  return false;
}

void JobRunner::RunJob(v1::SolveJob job) {
  auto fail = [&](v1::SolveJob::State state, const std::string& reason,
                  v1::Termination termination = v1::TERMINATION_UNSPECIFIED) {
    FailJob(job, state, reason, termination);
  };

  absl::StatusOr<worker::SolveRequest> prepared = PrepareSolveRequest(job);
  if (!prepared.ok()) {
    return fail(v1::SolveJob::FAILED, std::string(prepared.status().message()));
  }
  worker::SolveRequest& request = *prepared;

  std::vector<std::optional<v1::Plan>> finished = FinishedPlans(job);

  for (int i = static_cast<int>(job.budgets_done());
       i < job.budgets_bytes_size(); ++i) {
    if (LeaseLost(job.id())) {
      logger_->info("job {}: left to the replica that took it over", job.id());
      return;
    }
    if (CancelRequested(job.id())) {
      return fail(v1::SolveJob::CANCELLED, "cancelled by request");
    }
    const uint64_t budget = job.budgets_bytes(i);
    const std::string key = PlanCacheKey(job.graph_digest(), job.host_class(),
                                         job.profile_version(), budget,
                                         job.parameters(), SolverVersion());
    if (TakeCachedPlan(job, i, key, &finished)) continue;
    request.set_budget_bytes(budget);
    // The fastest finished plan of a budget <= this one is valid under it:
    // the worker never returns a slower plan than this warm start.
    if (const int from = FastestAtOrBelow(
            job, finished, budget, std::numeric_limits<double>::infinity());
        from >= 0) {
      *request.mutable_warm_start() = *finished[from];
    } else {
      request.clear_warm_start();
    }
    job.set_incumbent_us(0);
    job.set_bound_us(0);
    job.set_relative_gap(0);
    job.set_elapsed_seconds(0);
    const absl::Time solve_start = absl::Now();
    BudgetResult result = RunWorker(job, request.SerializeAsString());
    if (options_.on_solve && result.kind != BudgetResult::kStopped) {
      options_.on_solve(job.parameters(), result.Outcome(),
                        absl::Now() - solve_start);
    }
    switch (result.kind) {
      case BudgetResult::kStopped:
        if (LeaseLost(job.id())) {
          logger_->info("job {}: left to the replica that took it over",
                        job.id());
          return;
        }
        // Server shutting down: a restart (or another replica, at once)
        // runs the job again.
        job.set_state(v1::SolveJob::QUEUED);
        job.set_start_time_us(0);
        logger_->info("job {}: requeued at shutdown", job.id());
        Save(job).IgnoreError();
        return;
      case BudgetResult::kError:
        return fail(v1::SolveJob::FAILED,
                    absl::StrCat("budget ", budget, " bytes: ", result.reason));
      case BudgetResult::kNoPlan:
        return fail(v1::SolveJob::FAILED,
                    absl::StrCat("budget ", budget, " bytes: ", result.reason),
                    result.termination);
      case BudgetResult::kCancelledNoPlan:
        return fail(v1::SolveJob::CANCELLED,
                    "cancelled by request before any plan was found");
      case BudgetResult::kPlan:
        break;
    }
    const v1::SolverStats& stats = result.plan.stats();
    const bool cancelled = stats.termination() == v1::TERMINATION_CANCELLED;
    // A cancelled solve's plan is not the plan for these inputs: keep it
    // under the job only.
    const std::string plan_key =
        cancelled ? absl::StrCat("job:", job.id(), "/", i) : key;
    if (absl::Status status = store_.plans().PutPlan(plan_key, result.plan);
        !status.ok()) {
      return fail(v1::SolveJob::FAILED,
                  absl::StrCat("cannot store the plan: ", Describe(status)));
    }
    job.add_plan_keys(plan_key);
    finished.push_back(result.plan);
    job.set_budgets_done(i + 1);
    job.set_incumbent_us(stats.objective_us());
    // 0: no bound valid for the budget (the gap is then infinite).
    job.set_bound_us(
        std::isfinite(stats.best_bound_us()) ? stats.best_bound_us() : 0);
    job.set_relative_gap(stats.relative_gap());
    logger_->info(
        "job {}: budget {} bytes: {} plan, predicted {:.1f} us, gap "
        "{:.4f}",
        job.id(), budget, v1::Termination_Name(stats.termination()),
        result.plan.predicted_time_us(), stats.relative_gap());
    if (cancelled) {
      return fail(v1::SolveJob::CANCELLED,
                  "cancelled by request; kept the best plan so far");
    }
    Save(job).IgnoreError();
  }
  if (absl::Status status =
          AdoptFasterPlans(store_.plans(), *logger_, job, request, finished);
      !status.ok()) {
    return fail(v1::SolveJob::FAILED,
                absl::StrCat("cannot store the plan: ", Describe(status)));
  }
  job.set_state(v1::SolveJob::SUCCEEDED);
  job.set_termination(JobTermination(finished));
  job.set_end_time_us(NowMicros());
  job.clear_error();
  // Logged once stored: with replicas, only the lease holder's write lands.
  if (Save(job).ok()) logger_->info("job {}: succeeded", job.id());
}

// What a solve worker's run came to, as JobRunner::WatchWorker saw it.
struct JobRunner::WorkerRun {
  // The time limit plus the grace: the worker is killed after it.
  double watchdog_seconds = 0;
  // When the cancel's SIGTERM was sent (by Cancel()), if it was.
  std::optional<std::chrono::steady_clock::time_point> term_sent;
  bool killed_by_watchdog = false;
  // Stop() or a lost lease killed it: a stop, not a crash.
  bool stopped = false;
  // It wrote something that is not an event.
  bool corrupt = false;
  // Its plan, no-plan or error event.
  std::optional<worker::WorkerEvent> final_event;
  // waitpid()'s status.
  int wait_status = 0;
  // The worker's peak resident set (wait4's ru_maxrss), 0 when unknown.
  uint64_t peak_rss_bytes = 0;
};

namespace {

// The job's progress figures from a worker's progress event.
void ApplyProgress(const worker::Progress& p, v1::SolveJob& job) {
  job.set_elapsed_seconds(p.elapsed_seconds());
  job.set_incumbent_us(std::isfinite(p.incumbent_us()) ? p.incumbent_us() : 0);
  job.set_bound_us(std::isfinite(p.bound_us()) ? p.bound_us() : 0);
  // +inf while there is no bound, as in the final result: 0 would read as
  // "proven optimal".
  job.set_relative_gap(p.relative_gap());
}

}  // namespace

JobRunner::BudgetResult JobRunner::RunWorker(v1::SolveJob& job,
                                             const std::string& request) {
  BudgetResult result;
  absl::StatusOr<std::string> request_path = WriteTempFile(request);
  if (!request_path.ok()) {
    result.reason = Describe(request_path.status());
    return result;
  }
  absl::ReleasableMutexLock lock(&mutex_);
  if (stopping_) {
    ::unlink(request_path->c_str());
    result.kind = BudgetResult::kStopped;
    return result;
  }
  // Spawned under the lock, so that Cancel() and Stop() see the pid as soon
  // as the worker exists. It dies with this slot thread (e.g. the server
  // killed with -9).
  absl::StatusOr<SpawnedChild> child =
      SpawnWithStdoutPipe({.argv = {options_.worker_path, *request_path}});
  if (!child.ok()) {
    lock.Release();
    result.reason = std::string(child.status().message());
    ::unlink(request_path->c_str());
    return result;
  }
  const pid_t pid = child->pid;
  Running& running = running_[job.id()];
  running.pid = pid;
  if (running.cancel_requested) ::kill(pid, SIGTERM);
  lock.Release();
  logger_->info("job {}: worker pid {} solving budget {} bytes", job.id(), pid,
                job.budgets_bytes(job.budgets_done()));

  WorkerRun run;
  run.watchdog_seconds =
      job.parameters().time_limit_seconds() + options_.watchdog_grace_seconds;
  job.set_elapsed_seconds(WatchWorker(job, pid, child->stdout_fd, run));
  ::unlink(request_path->c_str());
  logger_->info(
      "job {}: worker pid {} exited after {:.3f} s, peak RSS {} bytes",
      job.id(), pid, job.elapsed_seconds(), run.peak_rss_bytes);
  return ResultOf(run, job);
}

// Reads the worker's events from `fd` (its stdout) until EOF, saving its
// progress into `job`; kills it on a corrupt event, a stop, a lost lease,
// a cancel it ignores for cancel_grace_seconds, or the watchdog; then
// closes `fd` and reaps it. What happened lands in *run (whose
// watchdog_seconds the caller sets). Returns the seconds it ran.
double JobRunner::WatchWorker(v1::SolveJob& job, pid_t pid, int fd,
                              WorkerRun& run) {
  const auto start = std::chrono::steady_clock::now();
  const double watchdog_seconds = run.watchdog_seconds;
  std::optional<std::chrono::steady_clock::time_point>& term_sent =
      run.term_sent;
  bool& killed_by_watchdog = run.killed_by_watchdog;
  bool killed_after_cancel = false;
  bool& stopped = run.stopped;
  bool& corrupt = run.corrupt;
  std::optional<worker::WorkerEvent>& final_event = run.final_event;
  std::string buffer;
  char chunk[1 << 16];
  while (true) {
    struct pollfd pfd = {fd, POLLIN, 0};
    int ready = ::poll(&pfd, 1, 100);
    if (ready < 0 && errno != EINTR) break;
    if (ready > 0) {
      ssize_t n = ::read(fd, chunk, sizeof(chunk));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // EOF: the worker exited (or closed stdout)
      buffer.append(chunk, static_cast<size_t>(n));
      worker::WorkerEvent event;
      while (PopEvent(buffer, &event, &corrupt)) {
        if (event.has_progress()) {
          ApplyProgress(event.progress(), job);
          Save(job).IgnoreError();
        } else {
          final_event = std::move(event);
        }
        event.Clear();
      }
      if (corrupt) {
        ::kill(pid, SIGKILL);
        break;
      }
    }
    const auto now = std::chrono::steady_clock::now();
    const double elapsed = std::chrono::duration<double>(now - start).count();
    bool cancel = false;
    {
      absl::MutexLock guard(&mutex_);
      cancel = running_[job.id()].cancel_requested;
      if ((stopping_ || running_[job.id()].lease_lost) && !stopped) {
        stopped = true;
        ::kill(pid, SIGKILL);
      }
    }
    if (cancel && !term_sent.has_value()) {
      term_sent = now;  // Cancel() already sent SIGTERM
    }
    if (term_sent.has_value() && !killed_after_cancel &&
        std::chrono::duration<double>(now - *term_sent).count() >
            options_.cancel_grace_seconds) {
      logger_->warn("job {}: worker pid {} ignored SIGTERM for {} s; killing",
                    job.id(), pid, options_.cancel_grace_seconds);
      killed_after_cancel = true;
      ::kill(pid, SIGKILL);
    }
    if (!killed_by_watchdog && elapsed > watchdog_seconds) {
      killed_by_watchdog = true;
      ::kill(pid, SIGKILL);
    }
  }
  ::close(fd);
  int& wait_status = run.wait_status;
  // wait4, not waitpid: the worker's peak memory comes with its status (the
  // log reports it, so that a graph too large for the host shows up before
  // the OOM killer does).
  struct rusage usage = {};
  while (::wait4(pid, &wait_status, 0, &usage) < 0 && errno == EINTR) {
  }
  run.peak_rss_bytes = static_cast<uint64_t>(usage.ru_maxrss) * 1024;  // KiB
  {
    absl::MutexLock guard(&mutex_);
    running_[job.id()].pid = -1;
    // Stop() (or a lost lease) may have killed the worker before the loop
    // above saw the flag (it ends at EOF): a stop, not a crash.
    if (stopping_ || running_[job.id()].lease_lost) stopped = true;
    // A worker killed by the cancel's SIGTERM before the loop above saw the
    // request (a cancel right after the start, before the worker installed
    // its handler) ends at EOF: that is the cancel, not a crash.
    if (running_[job.id()].cancel_requested && !term_sent.has_value()) {
      term_sent = std::chrono::steady_clock::now();
    }
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

// The budget's result from how the worker ended: its plan or no-plan
// event (its plan is moved out of `run`), else the watchdog, a cancel, or
// how it died.
JobRunner::BudgetResult JobRunner::ResultOf(WorkerRun& run,
                                            const v1::SolveJob& job) const {
  BudgetResult result;
  if (run.stopped) {
    result.kind = BudgetResult::kStopped;
    return result;
  }
  if (run.final_event.has_value()) {
    if (run.final_event->has_plan()) {
      result.kind = BudgetResult::kPlan;
      result.plan = std::move(*run.final_event->mutable_plan());
      return result;
    }
    if (run.final_event->has_no_plan()) {
      const worker::NoPlan& no_plan = run.final_event->no_plan();
      // A cancelled solve may also end as NO_SOLUTION (e.g. when the
      // cancel cut the allocation rounds short): still a cancellation.
      if (no_plan.stats().termination() == v1::TERMINATION_CANCELLED ||
          run.term_sent.has_value()) {
        result.kind = BudgetResult::kCancelledNoPlan;
        return result;
      }
      result.kind = BudgetResult::kNoPlan;
      result.termination = no_plan.stats().termination();
      result.reason = absl::StrCat(
          "no plan: ", v1::Termination_Name(no_plan.stats().termination()),
          no_plan.diagnostic().empty() ? "" : ": ", no_plan.diagnostic());
      return result;
    }
    result.kind = BudgetResult::kError;
    result.reason = run.final_event->error().message();
    return result;
  }
  if (run.killed_by_watchdog) {
    result.reason = absl::StrFormat(
        "watchdog: solve exceeded %.1f s (time limit %.1f s + grace %.1f s); "
        "worker killed",
        run.watchdog_seconds, job.parameters().time_limit_seconds(),
        options_.watchdog_grace_seconds);
    return result;
  }
  if (run.term_sent.has_value()) {
    result.kind = BudgetResult::kCancelledNoPlan;
    return result;
  }
  if (run.corrupt) {
    result.reason = "solve worker wrote a malformed event";
  } else if (WIFSIGNALED(run.wait_status)) {
    result.reason = absl::StrCat("solve worker crashed: killed by signal ",
                                 SignalName(WTERMSIG(run.wait_status)));
  } else if (WIFEXITED(run.wait_status) &&
             WEXITSTATUS(run.wait_status) == 127) {
    result.reason = absl::StrCat("cannot run the solve worker ",
                                 options_.worker_path, " (exit status 127)");
  } else if (WIFEXITED(run.wait_status) && WEXITSTATUS(run.wait_status) != 0) {
    result.reason = absl::StrCat("solve worker exited with status ",
                                 WEXITSTATUS(run.wait_status));
  } else {
    result.reason = "solve worker exited without a result";
  }
  return result;
}

}  // namespace autotm::server
