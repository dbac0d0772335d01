#include "server/store_monitor.h"

#include <utility>

#include "absl/time/clock.h"

namespace autotm::server {

StoreMonitor::StoreMonitor(Store& store, std::shared_ptr<spdlog::logger> logger,
                           absl::Duration probe_interval)
    : store_(store),
      logger_(std::move(logger)),
      probe_interval_(probe_interval) {}

StoreMonitor::~StoreMonitor() { Stop(); }

void StoreMonitor::Start(std::function<void(bool writable)> on_change) {
  absl::MutexLock lock(&mu_);
  if (thread_.joinable() || stopping_) return;
  on_change_ = std::move(on_change);
  thread_ = std::thread([this] { Loop(); });
}

void StoreMonitor::Stop() {
  std::thread thread;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    thread = std::move(thread_);
  }
  if (thread.joinable()) thread.join();
}

void StoreMonitor::OnStorageFailure(const absl::Status& status,
                                    const std::string& detail) {
  failures_.fetch_add(1);
  const bool was_writable = writable_.exchange(false);
  absl::MutexLock lock(&mu_);
  failure_pending_ = true;
  // The first failure, then at most one line every 10 s: a full disk
  // fails every write.
  const absl::Time now = absl::Now();
  if (was_writable || now - last_logged_ > absl::Seconds(10)) {
    last_logged_ = now;
    logger_->error(
        "database write failed: {} ({}); health is NOT_SERVING "
        "until a probe write succeeds",
        detail, std::string(status.message()));
  }
}

void StoreMonitor::Loop() {
  bool reported_writable = true;
  // Woken early only by the first failure; while unwritable, probes come
  // every probe_interval however often writes fail.
  const auto wake_early = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || (failure_pending_ && reported_writable);
  };
  mu_.Lock();
  while (!stopping_) {
    mu_.AwaitWithTimeout(absl::Condition(&wake_early), probe_interval_);
    if (stopping_) break;
    failure_pending_ = false;
    if (reported_writable && !writable_.load()) {
      reported_writable = false;
      mu_.Unlock();
      on_change_(false);
      mu_.Lock();
      continue;  // probe after an interval, not at once
    }
    if (reported_writable) continue;
    mu_.Unlock();
    // The probe's own failure calls OnStorageFailure (and logs). A failure
    // of another write meanwhile keeps the store unwritable.
    const uint64_t failures_before = failures_.load();
    absl::Status probe = store_.ProbeWrite();
    if (probe.ok() && failures_.load() != failures_before) {
      probe = absl::UnavailableError("another write failed meanwhile");
    }
    if (probe.ok()) {
      writable_.store(true);
      logger_->info("the database takes writes again; health is SERVING");
      on_change_(true);
    }
    mu_.Lock();
    if (probe.ok()) {
      reported_writable = true;
      // A failure between the probe and here is handled next round.
    }
  }
  mu_.Unlock();
}

}  // namespace autotm::server
