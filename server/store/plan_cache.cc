#include "server/store/plan_cache.h"

#include <type_traits>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
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
  absl::StatusOr<std::shared_ptr<const std::string>> bytes = GetPlanBytes(key);
  if (!bytes.ok()) return bytes.status();
  v1::Plan plan;
  if (!plan.ParseFromString(**bytes)) {
    return absl::InternalError(
        absl::StrCat("cached plan ", key, " is corrupt"));
  }
  return plan;
}

absl::StatusOr<std::shared_ptr<const std::string>>
CachingPlanStore::GetPlanBytes(const std::string& key) {
  {
    absl::MutexLock lock(&mu_);
    auto it = index_.find(key);
    if (it != index_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);
      ++hits_;
      return it->second->bytes;
    }
    ++misses_;
  }
  absl::StatusOr<v1::Plan> plan = inner_.GetPlan(key);
  if (!plan.ok()) return plan.status();
  auto serialized =
      std::make_shared<const std::string>(DeterministicBytes(*plan));
  const size_t size = serialized->size() + key.size();
  if (size > max_bytes_) return serialized;
  absl::MutexLock lock(&mu_);
  if (auto it = index_.find(key); it != index_.end()) {
    return it->second->bytes;  // another caller cached it
  }
  lru_.push_front(Entry{key, serialized});
  index_[key] = lru_.begin();
  bytes_ += size;
  while (bytes_ > max_bytes_) {
    const Entry& last = lru_.back();
    bytes_ -= last.bytes->size() + last.key.size();
    index_.erase(last.key);
    lru_.pop_back();
  }
  return serialized;
}

CachingPlanStore::Stats CachingPlanStore::stats() const {
  absl::MutexLock lock(&mu_);
  return Stats{hits_, misses_, index_.size(), bytes_};
}

namespace {

// GetHostClassVersion answered from memory for up to `ttl`; every call that
// may change a host class's profile forgets it first.
class VersionCachingProfileStore final : public ProfileStore {
 public:
  VersionCachingProfileStore(ProfileStore& inner, absl::Duration ttl)
      : inner_(inner), ttl_(ttl) {}

  absl::Status PutHostClass(const v1::HostClass& host_class,
                            const v1::CopyBandwidths& bandwidths) override {
    return Changing(host_class.name(), [&] {
      return inner_.PutHostClass(host_class, bandwidths);
    });
  }
  absl::StatusOr<uint64_t> AddMeasurements(
      const std::string& host_class,
      const std::vector<Measurement>& measurements) override {
    return Changing(host_class, [&] {
      return inner_.AddMeasurements(host_class, measurements);
    });
  }
  absl::Status PutSeparableCosts(
      const std::string& host_class,
      const std::vector<v1::KernelProfile>& kernels) override {
    return Changing(host_class, [&] {
      return inner_.PutSeparableCosts(host_class, kernels);
    });
  }
  absl::StatusOr<uint64_t> ApplyProfileUpdate(
      const std::string& host_class, const ProfileUpdate& update) override {
    return Changing(host_class, [&] {
      return inner_.ApplyProfileUpdate(host_class, update);
    });
  }
  absl::StatusOr<v1::Profile> GetProfile(
      const std::string& host_class) override {
    return inner_.GetProfile(host_class);
  }
  absl::StatusOr<HostClassInfo> GetHostClass(
      const std::string& host_class) override {
    return inner_.GetHostClass(host_class);
  }
  absl::StatusOr<HostClassInfo> GetHostClassVersion(
      const std::string& host_class) override {
    const absl::Time now = absl::Now();
    {
      absl::MutexLock lock(&mu_);
      auto it = versions_.find(host_class);
      if (it != versions_.end() && now < it->second.expires) {
        return it->second.info;
      }
    }
    uint64_t generation;
    {
      absl::MutexLock lock(&mu_);
      generation = generation_;
    }
    absl::StatusOr<HostClassInfo> info = inner_.GetHostClassVersion(host_class);
    if (!info.ok()) return info;
    absl::MutexLock lock(&mu_);
    // A change that began while we read may not be in `info`: keep nothing.
    if (generation == generation_) {
      versions_[host_class] = Remembered{*info, now + ttl_};
    }
    return info;
  }
  absl::StatusOr<std::vector<HostClassInfo>> ListHostClasses() override {
    return inner_.ListHostClasses();
  }
  absl::Status DeleteHostClass(const std::string& host_class) override {
    return Changing(host_class,
                    [&] { return inner_.DeleteHostClass(host_class); });
  }
  absl::StatusOr<std::vector<Contribution>> ListContributions(
      const std::string& host_class) override {
    return inner_.ListContributions(host_class);
  }
  absl::StatusOr<uint64_t> DeleteMeasurementsBy(
      const std::string& host_class, const std::string& uploader) override {
    return Changing(host_class, [&] {
      return inner_.DeleteMeasurementsBy(host_class, uploader);
    });
  }

 private:
  struct Remembered {
    HostClassInfo info;
    absl::Time expires;
  };

  // Runs `change` (a call that may change the host class's profile) with
  // its remembered version forgotten before and after: a lookup that read
  // the version while the change was under way either finishes before the
  // second Forget (which erases what it kept) or after it (and keeps
  // nothing, as the generation moved).
  template <typename Change>
  std::invoke_result_t<Change&> Changing(const std::string& host_class,
                                         Change&& change) {
    Forget(host_class);
    auto result = change();
    Forget(host_class);
    return result;
  }

  void Forget(const std::string& host_class) {
    absl::MutexLock lock(&mu_);
    ++generation_;
    versions_.erase(host_class);
  }

  ProfileStore& inner_;
  const absl::Duration ttl_;
  absl::Mutex mu_;
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<std::string, Remembered> versions_ ABSL_GUARDED_BY(mu_);
};

class CachedPlansStore final : public Store {
 public:
  CachedPlansStore(Store& inner, size_t max_bytes, absl::Duration version_ttl)
      : inner_(inner),
        profiles_(inner.profiles(), version_ttl),
        plans_(inner.plans(), max_bytes) {}
  ProfileStore& profiles() override { return profiles_; }
  GraphStore& graphs() override { return inner_.graphs(); }
  PlanStore& plans() override { return plans_; }
  JobStore& jobs() override { return inner_.jobs(); }

 private:
  Store& inner_;
  VersionCachingProfileStore profiles_;
  CachingPlanStore plans_;
};

}  // namespace

std::unique_ptr<Store> WithPlanCache(Store& inner, size_t max_bytes,
                                     absl::Duration version_ttl) {
  return std::make_unique<CachedPlansStore>(inner, max_bytes, version_ttl);
}

}  // namespace autotm::server
