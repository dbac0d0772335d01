// Makes storage failures visible (issue 18, disk full): the store tells the
// monitor about every write the storage could not take; the monitor logs the
// backend's detail (never sent to clients), reports the store unwritable,
// and probes it with a tiny write every `probe_interval` until it takes
// writes again. Each change is handed to the `on_change` callback given to
// Start() (the server turns gRPC health NOT_SERVING / SERVING and writes the
// job states it could not store).
//
// Thread safety: every method may be called from any thread;
// OnStorageFailure is called by the store with its lock held, so it only
// records and wakes the monitor's thread. `on_change` runs on that thread.
#ifndef AUTOTM_SERVER_STORE_MONITOR_H_
#define AUTOTM_SERVER_STORE_MONITOR_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/store/store.h"
#include "spdlog/logger.h"

namespace autotm::server {

class StoreMonitor final : public StoreObserver {
 public:
  // `store` and `logger` must outlive the monitor. Call
  // store.SetObserver(&monitor) before the store is shared.
  StoreMonitor(Store& store, std::shared_ptr<spdlog::logger> logger,
               absl::Duration probe_interval = absl::Seconds(1));
  // Stops.
  ~StoreMonitor() override;

  StoreMonitor(const StoreMonitor&) = delete;
  StoreMonitor& operator=(const StoreMonitor&) = delete;

  // Starts the probing thread; `on_change(writable)` is called on it at
  // every change, and once at start when a failure came before. Once only.
  void Start(std::function<void(bool writable)> on_change);
  // Joins the thread; no callback after it returns. Idempotent.
  void Stop();

  // False from a storage failure until a probe write succeeds.
  bool writable() const { return writable_.load(); }
  // Storage failures seen since the start.
  uint64_t failures() const { return failures_.load(); }

  void OnStorageFailure(const absl::Status& status,
                        const std::string& detail) override;

 private:
  void Loop();

  Store& store_;
  std::shared_ptr<spdlog::logger> logger_;
  const absl::Duration probe_interval_;
  std::atomic<bool> writable_{true};
  std::atomic<uint64_t> failures_{0};

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // A failure not yet seen by Loop.
  bool failure_pending_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time last_logged_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  // Set by Start() before the thread exists; read by the thread only.
  std::function<void(bool)> on_change_;
  std::thread thread_ ABSL_GUARDED_BY(mu_);
};

}  // namespace autotm::server

#endif  // AUTOTM_SERVER_STORE_MONITOR_H_
