// Tests of the fragmentation loop's lowering step: the overflow of a laid-out
// plan, the limits lowered by it over the overflowing blocks' lifetimes, and
// the bisection between limits that fit and limits that did not.
#include "solver/fragmentation.h"

#include <cstdint>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solver/allocator.h"
#include "solver/schedule.h"
#include "solver/testing/test_graphs.h"

namespace autotm::solver {
namespace {

using ::autotm::solver::testing::FullTableProfile;
using ::autotm::solver::testing::GraphBuilder;
using ::autotm::solver::testing::MustGraph;
using ::autotm::solver::testing::MustProfile;
using ::testing::ElementsAre;
using ::testing::Pair;

constexpr uint64_t kPage = 4096;

double UnitTime(int, ConfigMask) { return 1.0; }

// A plan where every tensor is created fast and never moves.
v1::Plan AllFastPlan(const GraphModel& graph) {
  const ProfileModel profile = MustProfile(FullTableProfile(graph, UnitTime));
  std::vector<TensorSchedule> schedule(graph.num_tensors());
  for (auto& entry : schedule) entry.creation_tier = v1::TIER_FAST;
  absl::StatusOr<v1::Plan> plan = AssemblePlan(
      graph, profile, schedule, v1::METHOD_ALL_FAST, uint64_t{1} << 30);
  EXPECT_TRUE(plan.ok()) << plan.status();
  return *plan;
}

// x -> a -> b -> c -> d, each read by the next kernel only; `w` (a weight)
// read by k0 and k4, live from kernel 0 to 4.
GraphModel ChainWithWeight() {
  return MustGraph(GraphBuilder()
                       .Tensor("x", kPage, v1::TENSOR_ROLE_INPUT)
                       .Tensor("w", 2 * kPage, v1::TENSOR_ROLE_WEIGHT)
                       .Tensor("a", kPage)
                       .Tensor("b", kPage)
                       .Tensor("c", kPage)
                       .Tensor("d", kPage)
                       .Kernel("k0", {"x", "w"}, {"a"})
                       .Kernel("k1", {"a"}, {"b"})
                       .Kernel("k2", {"b"}, {"c"})
                       .Kernel("k3", {"c"}, {"d"})
                       .Kernel("k4", {"d", "w"}, {})
                       .graph());
}

TEST(FindPoolOverflowTest, AFittingLayoutHasNoOverflow) {
  const GraphModel graph = ChainWithWeight();
  v1::Plan plan = AllFastPlan(graph);
  absl::StatusOr<AllocationReport> report =
      AssignOffsets(graph, 1 << 20, kPage, &plan);
  ASSERT_TRUE(report.ok() && report->fits);
  const PoolOverflow overflow = FindPoolOverflow(graph, plan, 1 << 20);
  EXPECT_EQ(overflow.bytes, 0u);
  EXPECT_TRUE(overflow.stretches.empty());
  EXPECT_EQ(overflow.kernels, 0);
}

TEST(FindPoolOverflowTest, MeasuresTheAllocatorsOverflowAndWhereItIsLive) {
  // The peak is at k0 (x, w, a: 4 pages). In a 3-page pool some block of
  // k0 lands past the end; the overflow matches the allocator's report,
  // and the stretches are the overflowing blocks' lifetimes.
  const GraphModel graph = ChainWithWeight();
  v1::Plan plan = AllFastPlan(graph);
  absl::StatusOr<AllocationReport> report =
      AssignOffsets(graph, 3 * kPage, kPage, &plan);
  ASSERT_TRUE(report.ok());
  ASSERT_FALSE(report->fits);
  const PoolOverflow overflow = FindPoolOverflow(graph, plan, 3 * kPage);
  EXPECT_EQ(overflow.bytes, report->required_bytes - 3 * kPage);
  ASSERT_FALSE(overflow.stretches.empty());
  // Every kernel the allocator names as an overflowing block's end lies in
  // a stretch.
  for (int k : report->overflow_kernels) {
    bool covered = false;
    for (const auto& [first, last] : overflow.stretches) {
      covered = covered || (first <= k && k <= last);
    }
    EXPECT_TRUE(covered) << "kernel " << k;
  }
}

TEST(FindPoolOverflowTest, MergesOverlappingAndAdjacentLifetimes) {
  // Offsets written by hand: a [0,1] and b [1,2] overflow (overlapping),
  // d [3,4] overflows (adjacent to b's), c [2,3] fits; then w [0,4] alone
  // overflows, by 2 pages; then other pairs.
  const GraphModel graph = ChainWithWeight();
  v1::Plan plan = AllFastPlan(graph);
  plan.set_alignment_bytes(kPage);
  const uint64_t pool = 4 * kPage;
  auto set_offset = [&](int tensor, uint64_t offset) {
    for (v1::FastInterval& interval :
         *plan.mutable_tensors(tensor)->mutable_fast_intervals()) {
      interval.set_offset_bytes(offset);
    }
  };
  // Tensor indices follow the builder's order: x w a b c d.
  set_offset(0, 0);
  set_offset(1, kPage);      // w: pages 1-2, fits
  set_offset(2, 4 * kPage);  // a: 1 page over
  set_offset(3, 4 * kPage);  // b: 1 page over
  set_offset(4, 0);          // c fits
  set_offset(5, 4 * kPage);  // d: 1 page over
  PoolOverflow overflow = FindPoolOverflow(graph, plan, pool);
  EXPECT_EQ(overflow.bytes, kPage);
  // a [0,1], b [1,2] and d [3,4] merge into one stretch.
  EXPECT_THAT(overflow.stretches, ElementsAre(Pair(0, 4)));
  EXPECT_EQ(overflow.kernels, 5);
  // x w a at k0, w a b at k1, ...: 4 pages at most, 3 at k4 (w d).
  EXPECT_EQ(overflow.peak_fast_bytes, 4 * kPage);

  set_offset(1, 4 * kPage);  // w: pages 4-5, 2 pages over
  set_offset(2, 0);
  set_offset(3, 0);
  set_offset(5, 0);
  overflow = FindPoolOverflow(graph, plan, pool);
  EXPECT_EQ(overflow.bytes, 2 * kPage);
  EXPECT_THAT(overflow.stretches, ElementsAre(Pair(0, 4)));

  set_offset(1, 0);
  set_offset(2, 4 * kPage);  // a [0,1] and c [2,3]: merged (adjacent)
  set_offset(4, 4 * kPage);
  overflow = FindPoolOverflow(graph, plan, pool);
  EXPECT_THAT(overflow.stretches, ElementsAre(Pair(0, 3)));
  set_offset(4, 0);
  set_offset(5, 4 * kPage);  // a [0,1] and d [3,4]: two stretches
  overflow = FindPoolOverflow(graph, plan, pool);
  EXPECT_THAT(overflow.stretches, ElementsAre(Pair(0, 1), Pair(3, 4)));
  EXPECT_EQ(overflow.kernels, 4);
  // Only d overflowing: the peak of its stretch [3,4] is at k3 (w c d).
  set_offset(2, 0);
  overflow = FindPoolOverflow(graph, plan, pool);
  EXPECT_THAT(overflow.stretches, ElementsAre(Pair(3, 4)));
  EXPECT_EQ(overflow.peak_fast_bytes, 4 * kPage);
}

TEST(LowerLimitsByOverflowTest, LowersTheWholeStretchByTheAlignedOverflow) {
  PoolOverflow overflow;
  overflow.bytes = kPage + 1;  // rounds up to two pages
  overflow.stretches = {{1, 2}, {5, 7}};
  overflow.peak_fast_bytes = 100 * kPage;  // the plan filled its limits
  const std::vector<uint64_t> limits(9, 100 * kPage);
  std::vector<uint64_t> lowered =
      LowerLimitsByOverflow(limits, overflow, kPage);
  const uint64_t cut = 98 * kPage;
  const uint64_t same = 100 * kPage;
  EXPECT_THAT(lowered,
              ElementsAre(same, cut, cut, same, same, cut, cut, cut, same));
  // Again from the lowered limits: the cut adds up, and clamps at zero.
  overflow.bytes = 99 * kPage;
  lowered = LowerLimitsByOverflow(lowered, overflow, kPage);
  EXPECT_THAT(lowered, ElementsAre(same, 0u, 0u, same, same, 0u, 0u, 0u, same));
  // Stretches past the last kernel are cut off, not an error.
  overflow.bytes = kPage;
  overflow.stretches = {{8, 20}};
  lowered = LowerLimitsByOverflow(limits, overflow, kPage);
  EXPECT_EQ(lowered.back(), 99 * kPage);
  EXPECT_EQ(lowered.front(), same);
}

TEST(LowerLimitsByOverflowTest, CutsFromThePlansPeakWhenItLeftSlack) {
  // The plan peaked at 90 pages under limits of 100 (85 at kernel 2):
  // lowering the limits alone by a 1-page overflow would leave it feasible.
  PoolOverflow overflow;
  overflow.bytes = kPage;
  overflow.stretches = {{1, 3}};
  overflow.peak_fast_bytes = 90 * kPage;
  std::vector<uint64_t> limits(5, 100 * kPage);
  limits[2] = 85 * kPage;
  EXPECT_THAT(LowerLimitsByOverflow(limits, overflow, kPage),
              ElementsAre(100 * kPage, 89 * kPage, 84 * kPage, 89 * kPage,
                          100 * kPage));
}

TEST(MidwayLimitsTest, BisectsByWholeAlignmentsTowardTheOverflowingLimits) {
  const std::vector<uint64_t> fitting = {10 * kPage, 10 * kPage, 10 * kPage,
                                         10 * kPage};
  const std::vector<uint64_t> overflowing = {10 * kPage, 14 * kPage, 11 * kPage,
                                             9 * kPage};
  EXPECT_THAT(MidwayLimits(fitting, overflowing, kPage),
              ElementsAre(10 * kPage, 12 * kPage, 10 * kPage, 10 * kPage));
  EXPECT_EQ(LargestLimitDifference(fitting, overflowing), 4 * kPage);
  // Converges onto the fitting limits' side: probes never exceed the
  // overflowing ones, and once within an alignment they stop moving.
  std::vector<uint64_t> probe = fitting;
  std::vector<uint64_t> high = overflowing;
  for (int i = 0; i < 8; ++i) {
    const std::vector<uint64_t> next = MidwayLimits(probe, high, kPage);
    for (size_t k = 0; k < next.size(); ++k) {
      EXPECT_GE(next[k], probe[k]);
      EXPECT_LE(next[k], std::max(probe[k], high[k]));
    }
    high = next;  // pretend each probe overflows
  }
  EXPECT_EQ(MidwayLimits(probe, high, kPage), probe);
}

}  // namespace
}  // namespace autotm::solver
