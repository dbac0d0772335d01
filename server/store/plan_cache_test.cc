#include "server/store/plan_cache.h"

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/store/sqlite_store.h"

namespace autotm::server {
namespace {

// A real (SQLite, in memory) PlanStore that counts the reads reaching it.
class CountingPlanStore : public PlanStore {
 public:
  explicit CountingPlanStore(PlanStore& inner) : inner_(inner) {}
  absl::Status PutPlan(const std::string& key, const v1::Plan& plan) override {
    return inner_.PutPlan(key, plan);
  }
  absl::StatusOr<v1::Plan> GetPlan(const std::string& key) override {
    ++reads;
    return inner_.GetPlan(key);
  }
  int reads = 0;

 private:
  PlanStore& inner_;
};

v1::Plan PlanNamed(const std::string& name, int padding = 0) {
  v1::Plan plan;
  plan.set_graph_name(name + std::string(padding, 'x'));
  return plan;
}

class PlanCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Store>> store = OpenSqliteStore(":memory:");
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    counting_ = std::make_unique<CountingPlanStore>(store_->plans());
  }
  std::unique_ptr<Store> store_;
  std::unique_ptr<CountingPlanStore> counting_;
};

TEST_F(PlanCacheTest, HitsDoNotReachTheStore) {
  CachingPlanStore cache(*counting_, 1 << 20);
  ASSERT_TRUE(cache.PutPlan("k", PlanNamed("a")).ok());
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<v1::Plan> plan = cache.GetPlan("k");
    ASSERT_TRUE(plan.ok()) << plan.status();
    EXPECT_EQ(plan->graph_name(), "a");
  }
  EXPECT_EQ(counting_->reads, 1);
  EXPECT_EQ(cache.stats().hits, 2u);
  EXPECT_EQ(cache.stats().misses, 1u);
  // Misses are not cached: the plan may be stored later.
  EXPECT_EQ(cache.GetPlan("absent").status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(cache.PutPlan("absent", PlanNamed("late")).ok());
  absl::StatusOr<v1::Plan> late = cache.GetPlan("absent");
  ASSERT_TRUE(late.ok());
  EXPECT_EQ(late->graph_name(), "late");
}

// A put that loses to the key's first plan must not be served.
TEST_F(PlanCacheTest, ServesTheStoredFirstPlanNotTheLastPut) {
  CachingPlanStore cache(*counting_, 1 << 20);
  ASSERT_TRUE(cache.PutPlan("k", PlanNamed("first")).ok());
  ASSERT_TRUE(cache.PutPlan("k", PlanNamed("second")).ok());
  EXPECT_EQ(cache.GetPlan("k")->graph_name(), "first");
  ASSERT_TRUE(cache.PutPlan("k", PlanNamed("third")).ok());
  EXPECT_EQ(cache.GetPlan("k")->graph_name(), "first");
}

TEST_F(PlanCacheTest, StaysUnderItsByteBoundLeastRecentlyUsedFirst) {
  // Each entry: a ~1,000-byte plan plus its key.
  CachingPlanStore cache(*counting_, 3500);
  for (const char* key : {"a", "b", "c", "d"}) {
    ASSERT_TRUE(cache.PutPlan(key, PlanNamed(key, 1000)).ok());
  }
  for (const char* key : {"a", "b", "c"}) ASSERT_TRUE(cache.GetPlan(key).ok());
  ASSERT_TRUE(cache.GetPlan("a").ok());  // a is now the most recent
  EXPECT_EQ(counting_->reads, 3);
  ASSERT_TRUE(cache.GetPlan("d").ok());  // evicts b, the least recent
  EXPECT_EQ(counting_->reads, 4);
  EXPECT_LE(cache.stats().bytes, 3500u);
  EXPECT_EQ(cache.stats().entries, 3u);
  ASSERT_TRUE(cache.GetPlan("a").ok());
  ASSERT_TRUE(cache.GetPlan("c").ok());
  EXPECT_EQ(counting_->reads, 4);
  ASSERT_TRUE(cache.GetPlan("b").ok());
  EXPECT_EQ(counting_->reads, 5);
  // Larger than the whole bound: served, never cached.
  ASSERT_TRUE(cache.PutPlan("huge", PlanNamed("huge", 5000)).ok());
  ASSERT_TRUE(cache.GetPlan("huge").ok());
  ASSERT_TRUE(cache.GetPlan("huge").ok());
  EXPECT_EQ(counting_->reads, 7);
  EXPECT_LE(cache.stats().bytes, 3500u);
}

TEST_F(PlanCacheTest, WithPlanCacheForwardsTheOtherStores) {
  std::unique_ptr<Store> cached = WithPlanCache(*store_, 1 << 20);
  EXPECT_EQ(&cached->jobs(), &store_->jobs());
  EXPECT_EQ(&cached->graphs(), &store_->graphs());
  EXPECT_NE(&cached->plans(), &store_->plans());
  ASSERT_TRUE(cached->plans().PutPlan("k", PlanNamed("p")).ok());
  EXPECT_EQ(store_->plans().GetPlan("k")->graph_name(), "p");
}

TEST_F(PlanCacheTest, HitsHandOutTheCachedBytesWithoutCopies) {
  CachingPlanStore cache(*counting_, 1 << 20);
  ASSERT_TRUE(cache.PutPlan("k", PlanNamed("a")).ok());
  absl::StatusOr<std::shared_ptr<const std::string>> first =
      cache.GetPlanBytes("k");
  absl::StatusOr<std::shared_ptr<const std::string>> second =
      cache.GetPlanBytes("k");
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->get(), second->get());
  EXPECT_EQ(**first, PlanNamed("a").SerializeAsString());
  EXPECT_EQ(counting_->reads, 1);
  EXPECT_EQ(cache.GetPlanBytes("absent").status().code(),
            absl::StatusCode::kNotFound);
}

class VersionCacheTest : public PlanCacheTest {
 protected:
  // Creates host class "h" through `profiles` with one measurement.
  static void Upload(ProfileStore& profiles, const std::string& id) {
    v1::HostClass host_class;
    host_class.set_name("h");
    host_class.set_fingerprint("f");
    ProfileUpdate update;
    update.host_class = host_class;
    Measurement m;
    m.signature_key = "op()->()";
    m.signature.set_op("op");
    m.config = "|";
    m.time_us = 1;
    m.measurement_id = id;
    update.measurements.push_back(m);
    absl::StatusOr<uint64_t> added = profiles.ApplyProfileUpdate("h", update);
    ASSERT_TRUE(added.ok()) << added.status();
  }
};

TEST_F(VersionCacheTest, ChangesThroughTheCacheAreSeenAtOnce) {
  std::unique_ptr<Store> cached =
      WithPlanCache(*store_, 1 << 20, absl::Hours(1));
  ASSERT_NO_FATAL_FAILURE(Upload(cached->profiles(), "m1"));
  absl::StatusOr<HostClassInfo> before =
      cached->profiles().GetHostClassVersion("h");
  ASSERT_TRUE(before.ok()) << before.status();
  ASSERT_NO_FATAL_FAILURE(Upload(cached->profiles(), "m2"));
  absl::StatusOr<HostClassInfo> after =
      cached->profiles().GetHostClassVersion("h");
  ASSERT_TRUE(after.ok());
  EXPECT_GT(after->version, before->version);
  ASSERT_TRUE(cached->profiles().DeleteHostClass("h").ok());
  EXPECT_EQ(cached->profiles().GetHostClassVersion("h").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(VersionCacheTest, OtherWritersAreSeenWithinTheTtl) {
  // Writes to store_ directly stand for another replica's.
  std::unique_ptr<Store> remembering =
      WithPlanCache(*store_, 1 << 20, absl::Hours(1));
  std::unique_ptr<Store> forgetting =
      WithPlanCache(*store_, 1 << 20, absl::ZeroDuration());
  ASSERT_NO_FATAL_FAILURE(Upload(store_->profiles(), "m1"));
  const uint64_t v1 = remembering->profiles().GetHostClassVersion("h")->version;
  ASSERT_EQ(forgetting->profiles().GetHostClassVersion("h")->version, v1);
  ASSERT_NO_FATAL_FAILURE(Upload(store_->profiles(), "m2"));
  // Within the hour: the remembered version; with no TTL: the new one.
  EXPECT_EQ(remembering->profiles().GetHostClassVersion("h")->version, v1);
  EXPECT_GT(forgetting->profiles().GetHostClassVersion("h")->version, v1);
}

}  // namespace
}  // namespace autotm::server
