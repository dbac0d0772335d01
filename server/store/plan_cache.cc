#include "server/store/plan_cache.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/store/digest.h"

namespace autotm::server {

CachingPlanStore::CachingPlanStore(PlanStore& inner, size_t max_bytes)
    : inner_(inner), max_bytes_(max_bytes) {}

absl::Status CachingPlanStore::PutPlan(const std::string& key,
                                       const v1::Plan& plan) {
  // Not cached here: if the key exists, the stored plan is the first one,
  // not necessarily `plan`.
  return inner_.PutPlan(key, plan);
}

absl::StatusOr<v1::Plan> CachingPlanStore::GetPlan(const std::string& key) {
  std::shared_ptr<const std::string> bytes;
  {
    absl::MutexLock lock(&mu_);
    auto it = index_.find(key);
    if (it != index_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);
      bytes = it->second->bytes;
      ++hits_;
    } else {
      ++misses_;
    }
  }
  if (bytes != nullptr) {
    v1::Plan plan;
    if (!plan.ParseFromString(*bytes)) {
      return absl::InternalError(
          absl::StrCat("cached plan ", key, " is corrupt"));
    }
    return plan;
  }
  absl::StatusOr<v1::Plan> plan = inner_.GetPlan(key);
  if (!plan.ok()) return plan;
  auto serialized =
      std::make_shared<const std::string>(DeterministicBytes(*plan));
  const size_t size = serialized->size() + key.size();
  if (size > max_bytes_) return plan;
  absl::MutexLock lock(&mu_);
  if (index_.contains(key)) return plan;  // another caller cached it
  lru_.push_front(Entry{key, std::move(serialized)});
  index_[key] = lru_.begin();
  bytes_ += size;
  while (bytes_ > max_bytes_) {
    const Entry& last = lru_.back();
    bytes_ -= last.bytes->size() + last.key.size();
    index_.erase(last.key);
    lru_.pop_back();
  }
  return plan;
}

CachingPlanStore::Stats CachingPlanStore::stats() const {
  absl::MutexLock lock(&mu_);
  return Stats{hits_, misses_, index_.size(), bytes_};
}

namespace {

class CachedPlansStore final : public Store {
 public:
  CachedPlansStore(Store& inner, size_t max_bytes)
      : inner_(inner), plans_(inner.plans(), max_bytes) {}
  ProfileStore& profiles() override { return inner_.profiles(); }
  GraphStore& graphs() override { return inner_.graphs(); }
  PlanStore& plans() override { return plans_; }
  JobStore& jobs() override { return inner_.jobs(); }

 private:
  Store& inner_;
  CachingPlanStore plans_;
};

}  // namespace

std::unique_ptr<Store> WithPlanCache(Store& inner, size_t max_bytes) {
  return std::make_unique<CachedPlansStore>(inner, max_bytes);
}

}  // namespace autotm::server
