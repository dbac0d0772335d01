// An in-memory, byte-bounded cache of serialized plans in front of a
// store's PlanStore: the plan-cache hit (a framework asking again for a plan
// already solved) then reads no plan from the database.
//
// Coherent without invalidation, also with replicas sharing the store: a
// key's plan never changes once stored (PlanStore keeps a key's first plan),
// so a cached plan is the stored plan for as long as the key exists. Only
// plans read back from the store are cached, never a plan being put (which
// may lose to an earlier one).
//
// Thread safety: every method may be called from any thread.
#ifndef AUTOTM_SERVER_STORE_PLAN_CACHE_H_
#define AUTOTM_SERVER_STORE_PLAN_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/store/store.h"

namespace autotm::server {

class CachingPlanStore final : public PlanStore {
 public:
  // Keeps at most `max_bytes` of serialized plans (keys included), least
  // recently used first out; a plan larger than that is not cached. `inner`
  // must outlive this.
  CachingPlanStore(PlanStore& inner, size_t max_bytes);

  absl::Status PutPlan(const std::string& key, const v1::Plan& plan) override;
  absl::StatusOr<v1::Plan> GetPlan(const std::string& key) override;
  // A hit is a lookup and a shared pointer: no parse, no copy.
  absl::StatusOr<std::shared_ptr<const std::string>> GetPlanBytes(
      const std::string& key) override;

  struct Stats {
    uint64_t hits = 0;
    uint64_t misses = 0;
    size_t entries = 0;
    size_t bytes = 0;
  };
  Stats stats() const;

 private:
  struct Entry {
    std::string key;
    std::shared_ptr<const std::string> bytes;  // shared: parsed unlocked
  };

  PlanStore& inner_;
  const size_t max_bytes_;
  mutable absl::Mutex mu_;
  std::list<Entry> lru_ ABSL_GUARDED_BY(mu_);  // front: most recent
  absl::flat_hash_map<std::string, std::list<Entry>::iterator> index_
      ABSL_GUARDED_BY(mu_);
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t hits_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t misses_ ABSL_GUARDED_BY(mu_) = 0;
};

// `inner` with its plans behind a CachingPlanStore of `max_bytes`, and the
// host classes' profile versions (GetHostClassVersion, the other store read
// of every plan-cache hit) remembered for up to `version_ttl`: forgotten at
// once when this process changes the host class's profile through the
// result, so only changes made by other replicas (sharing a PostgreSQL
// store) are seen up to `version_ttl` late. The other stores are inner's.
// `inner` must outlive the result.
std::unique_ptr<Store> WithPlanCache(
    Store& inner, size_t max_bytes,
    absl::Duration version_ttl = absl::Seconds(1));

}  // namespace autotm::server

#endif  // AUTOTM_SERVER_STORE_PLAN_CACHE_H_
