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
  EXPECT_EQ(&cached->profiles(), &store_->profiles());
  EXPECT_EQ(&cached->graphs(), &store_->graphs());
  EXPECT_NE(&cached->plans(), &store_->plans());
  ASSERT_TRUE(cached->plans().PutPlan("k", PlanNamed("p")).ok());
  EXPECT_EQ(store_->plans().GetPlan("k")->graph_name(), "p");
}

}  // namespace
}  // namespace autotm::server
