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
  std::lock_guard<std::mutex> lock(mutex_);
  if (thread_.joinable() || stopping_) return;
  on_change_ = std::move(on_change);
  thread_ = std::thread([this] { Loop(); });
}

void StoreMonitor::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void StoreMonitor::OnStorageFailure(const absl::Status& status,
                                    const std::string& detail) {
  failures_.fetch_add(1);
  const bool was_writable = writable_.exchange(false);
  {
    std::lock_guard<std::mutex> lock(mutex_);
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
  wake_.notify_all();
}

void StoreMonitor::Loop() {
  bool reported_writable = true;
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    // Woken early only by the first failure; while unwritable, probes
    // come every probe_interval however often writes fail.
    wake_.wait_for(lock, absl::ToChronoNanoseconds(probe_interval_), [&] {
      return stopping_ || (failure_pending_ && reported_writable);
    });
    if (stopping_) break;
    failure_pending_ = false;
    if (reported_writable && !writable_.load()) {
      reported_writable = false;
      lock.unlock();
      on_change_(false);
      lock.lock();
      continue;  // probe after an interval, not at once
    }
    if (reported_writable) continue;
    lock.unlock();
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
    lock.lock();
    if (probe.ok()) {
      reported_writable = true;
      // A failure between the probe and here is handled next round.
    }
  }
}

}  // namespace autotm::server
