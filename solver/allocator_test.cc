// Tests of the fast-pool layout: offsets, alignment, reuse, overflow
// reporting, and adversarial lifetimes.
#include "solver/allocator.h"

#include <random>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solver/schedule.h"
#include "solver/testing/test_graphs.h"
#include "solver/verifier.h"

namespace autotm::solver {
namespace {

using ::autotm::solver::testing::FullTableProfile;
using ::autotm::solver::testing::GraphBuilder;
using ::autotm::solver::testing::MustGraph;
using ::autotm::solver::testing::MustProfile;
using ::testing::ElementsAre;

// A plan where every tensor is created fast and never moves.
v1::Plan AllFastPlan(const GraphModel& graph, const ProfileModel& profile,
                     uint64_t budget) {
  std::vector<TensorSchedule> schedule(graph.num_tensors());
  for (auto& entry : schedule) entry.creation_tier = v1::TIER_FAST;
  absl::StatusOr<v1::Plan> plan =
      AssemblePlan(graph, profile, schedule, v1::METHOD_ALL_FAST, budget);
  EXPECT_TRUE(plan.ok()) << plan.status();
  return *plan;
}

double UnitTime(int, ConfigMask) { return 1.0; }

// AssignOffsets without the skyline layouts (4 KiB alignment): the tests of
// best fit's squeaky-wheel rounds, which the skyline otherwise pre-empts.
absl::StatusOr<AllocationReport> AssignOffsetsByBestFit(
    const GraphModel& graph, uint64_t pool, v1::Plan* plan, int rounds,
    absl::Duration max_time = absl::InfiniteDuration(),
    int64_t max_work = INT64_MAX) {
  return AssignOffsets(graph, pool, 4096, plan, rounds, max_time, max_work,
                       kMaxClassicLayoutPairs,
                       /*max_skyline_layout_pairs=*/-1);
}

// A random synchronous schedule: each tensor created slow with probability
// 1/slow_one_in, and at each kernel of its life after the first moved to
// fast, and then to slow, each with probability 1/move_one_in.
std::vector<TensorSchedule> RandomSchedule(const GraphModel& graph,
                                           std::mt19937_64& rng,
                                           int slow_one_in, int move_one_in) {
  std::vector<TensorSchedule> schedule(graph.num_tensors());
  for (int t = 0; t < graph.num_tensors(); ++t) {
    const TensorInfo& tensor = graph.tensor(t);
    schedule[t].creation_tier =
        rng() % slow_one_in ? v1::TIER_FAST : v1::TIER_SLOW;
    for (int k = tensor.first_live + 1; k <= tensor.last_live; ++k) {
      if (rng() % move_one_in == 0) {
        schedule[t].moves.push_back({k, v1::MOVE_DIRECTION_TO_FAST, true});
      }
      if (rng() % move_one_in == 0) {
        schedule[t].moves.push_back({k, v1::MOVE_DIRECTION_TO_SLOW, true});
      }
    }
  }
  return schedule;
}

TEST(AlignUpTest, RoundsUpToMultiples) {
  EXPECT_EQ(AlignUp(0, 4096), 0u);
  EXPECT_EQ(AlignUp(1, 4096), 4096u);
  EXPECT_EQ(AlignUp(4096, 4096), 4096u);
  EXPECT_EQ(AlignUp(4097, 4096), 8192u);
  EXPECT_EQ(AlignUp(100, 1), 100u);
  EXPECT_EQ(AlignUp(100, 0), 100u);
  EXPECT_EQ(AlignUp(100, 48), 144u);
}

TEST(AssignOffsetsTest, DisjointLifetimesShareAnOffset) {
  // a [0,1], b [1,2], c [2,2]: a and c never meet, so c reuses a's block.
  const GraphModel graph =
      MustGraph(GraphBuilder()
                    .Tensor("x", 4096, v1::TENSOR_ROLE_INPUT)
                    .Tensor("a", 8192)
                    .Tensor("b", 4096)
                    .Tensor("c", 8192)
                    .Kernel("k0", {"x"}, {"a"})
                    .Kernel("k1", {"a"}, {"b"})
                    .Kernel("k2", {"b"}, {"c"})
                    .graph());
  const ProfileModel profile = MustProfile(FullTableProfile(graph, UnitTime));
  v1::Plan plan = AllFastPlan(graph, profile, 1 << 20);
  absl::StatusOr<AllocationReport> report =
      AssignOffsets(graph, 16384, 4096, &plan);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->fits);
  // Largest first: a and c (8 KiB) at 0; x and b (4 KiB) above a.
  EXPECT_EQ(plan.tensors(1).fast_intervals(0).offset_bytes(), 0u);
  EXPECT_EQ(plan.tensors(3).fast_intervals(0).offset_bytes(), 0u);
  EXPECT_EQ(plan.tensors(0).fast_intervals(0).offset_bytes(), 8192u);
  EXPECT_EQ(plan.tensors(2).fast_intervals(0).offset_bytes(), 8192u);
  EXPECT_EQ(report->required_bytes, 12288u);
  EXPECT_EQ(plan.pool_bytes_used(), 12288u);
  EXPECT_EQ(plan.alignment_bytes(), 4096u);
  EXPECT_TRUE(VerifyPlan(graph, profile, plan, 16384, true).ok());
}

TEST(AssignOffsetsTest, SizesRoundUpToTheAlignment) {
  const GraphModel graph = MustGraph(GraphBuilder()
                                         .Tensor("x", 10, v1::TENSOR_ROLE_INPUT)
                                         .Tensor("y", 5000)
                                         .Kernel("k0", {"x"}, {"y"})
                                         .graph());
  const ProfileModel profile = MustProfile(FullTableProfile(graph, UnitTime));
  v1::Plan plan = AllFastPlan(graph, profile, 1 << 20);
  absl::StatusOr<AllocationReport> report =
      AssignOffsets(graph, 3 * 4096, 4096, &plan);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->fits);
  EXPECT_EQ(plan.tensors(1).fast_intervals(0).offset_bytes(), 0u);     // 8 KiB
  EXPECT_EQ(plan.tensors(0).fast_intervals(0).offset_bytes(), 8192u);  // 4 KiB
  // 5010 bytes by count, but 12 KiB once aligned: a 8 KiB pool overflows.
  v1::Plan tight = AllFastPlan(graph, profile, 1 << 20);
  report = AssignOffsets(graph, 8192, 4096, &tight);
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->fits);
  EXPECT_EQ(report->required_bytes, 12288u);
  EXPECT_THAT(report->overflow_kernels, ElementsAre(0));
}

TEST(AssignOffsetsTest, OverflowNamesTheKernelsOfTheBlocksThatDoNotFit) {
  const GraphModel graph =
      MustGraph(GraphBuilder()
                    .Tensor("x", 4096, v1::TENSOR_ROLE_INPUT)
                    .Tensor("a", 4096)
                    .Tensor("b", 4096)
                    .Tensor("c", 4096)
                    .Kernel("k0", {"x"}, {"a"})
                    .Kernel("k1", {"a"}, {"b"})
                    .Kernel("k2", {"a", "b"}, {"c"})
                    .graph());
  const ProfileModel profile = MustProfile(FullTableProfile(graph, UnitTime));
  v1::Plan plan = AllFastPlan(graph, profile, 1 << 20);
  // Peak is 12 KiB at k2; an 8 KiB pool holds two blocks.
  absl::StatusOr<AllocationReport> report =
      AssignOffsets(graph, 8192, 4096, &plan);
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->fits);
  EXPECT_EQ(report->required_bytes, 12288u);
  EXPECT_FALSE(report->overflow_kernels.empty());
  for (int k : report->overflow_kernels) {
    EXPECT_GE(k, 1);  // the third block is needed only from k1 on
  }
}

TEST(AssignOffsetsTest, MovesSplitATensorIntoIntervalsWithOwnOffsets) {
  const GraphModel graph =
      MustGraph(GraphBuilder()
                    .Tensor("x", 4096, v1::TENSOR_ROLE_INPUT)
                    .Tensor("a", 4096)
                    .Tensor("b", 8192)
                    .Tensor("c", 4096)
                    .Kernel("k0", {"x"}, {"a"})
                    .Kernel("k1", {"x"}, {"b"})
                    .Kernel("k2", {"a", "b"}, {"c"})
                    .graph());
  const ProfileModel profile = MustProfile(FullTableProfile(graph, UnitTime));
  std::vector<TensorSchedule> schedule(graph.num_tensors());
  for (auto& entry : schedule) entry.creation_tier = v1::TIER_FAST;
  // a leaves fast memory after k0 and comes back for k2.
  schedule[1].moves = {{0, v1::MOVE_DIRECTION_TO_SLOW, true},
                       {2, v1::MOVE_DIRECTION_TO_FAST, true}};
  absl::StatusOr<v1::Plan> plan =
      AssemblePlan(graph, profile, schedule, v1::METHOD_SYNCHRONOUS, 1 << 20);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->tensors(1).fast_intervals_size(), 2);
  EXPECT_EQ(plan->tensors(1).fast_intervals(0).last_kernel(), 0u);
  EXPECT_EQ(plan->tensors(1).fast_intervals(1).first_kernel(), 2u);
  absl::StatusOr<AllocationReport> report =
      AssignOffsets(graph, 1 << 20, 4096, &*plan);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(VerifyPlan(graph, profile, *plan, 1 << 20, true).ok());
}

TEST(AssignOffsetsTest, EqualSizesAlwaysFitThePeak) {
  // With equal sizes the layout is an interval colouring, which the
  // largest-first (then earliest-first) order solves optimally: the pool
  // needed is exactly the peak, whatever the lifetimes.
  std::mt19937_64 rng(11);
  for (int trial = 0; trial < 50; ++trial) {
    GraphBuilder builder;
    builder.Tensor("in", 4096, v1::TENSOR_ROLE_INPUT);
    std::vector<std::string> produced = {"in"};
    for (int k = 0; k < 12; ++k) {
      const std::string out = "t" + std::to_string(k);
      builder.Tensor(out, 4096);
      const std::string& in = produced[rng() % produced.size()];
      builder.Kernel("k" + std::to_string(k), {in}, {out});
      produced.push_back(out);
    }
    const GraphModel graph = MustGraph(builder.graph());
    const ProfileModel profile = MustProfile(FullTableProfile(graph, UnitTime));
    v1::Plan plan = AllFastPlan(graph, profile, 1 << 30);
    absl::StatusOr<AllocationReport> report =
        AssignOffsets(graph, graph.PeakLiveBytes(), 4096, &plan);
    ASSERT_TRUE(report.ok());
    EXPECT_TRUE(report->fits) << "trial " << trial;
    EXPECT_EQ(report->required_bytes, graph.PeakLiveBytes());
  }
}

TEST(AssignOffsetsTest, StaircaseLifetimesStayDisjoint) {
  // A staircase that splits free space: small s1 [0,1] and s2 [1,2], large
  // big1 [0,0] and big2 [2,2], and a long-lived m [0,2] beside them. A
  // 16 KiB (= peak) layout exists only if big2 reuses s1's and big1's room;
  // whatever the allocator finds, its blocks must never overlap.
  const GraphModel graph =
      MustGraph(GraphBuilder()
                    .Tensor("m", 4096, v1::TENSOR_ROLE_INPUT)
                    .Tensor("s1", 4096)
                    .Tensor("big1", 8192)
                    .Tensor("s2", 4096)
                    .Tensor("big2", 8192)
                    .Kernel("k0", {"m"}, {"s1", "big1"})
                    .Kernel("k1", {"m", "s1"}, {"s2"})
                    .Kernel("k2", {"m", "s2"}, {"big2"})
                    .graph());
  const ProfileModel profile = MustProfile(FullTableProfile(graph, UnitTime));
  v1::Plan plan = AllFastPlan(graph, profile, 1 << 20);
  absl::StatusOr<AllocationReport> report =
      AssignOffsets(graph, 1 << 20, 4096, &plan);
  ASSERT_TRUE(report.ok());
  // Every kernel's blocks are disjoint however they were placed.
  EXPECT_TRUE(VerifyPlan(graph, profile, plan, 1 << 20, true).ok());
  EXPECT_GE(report->required_bytes, graph.PeakLiveBytes());
}

TEST(AssignOffsetsTest, RandomPlansNeverOverlap) {
  std::mt19937_64 rng(5);
  for (int trial = 0; trial < 100; ++trial) {
    const GraphModel graph = MustGraph(testing::RandomGraph(rng, 14, 12));
    const ProfileModel profile = MustProfile(FullTableProfile(graph, UnitTime));
    const std::vector<TensorSchedule> schedule =
        RandomSchedule(graph, rng, /*slow_one_in=*/2, /*move_one_in=*/4);
    absl::StatusOr<v1::Plan> plan = AssemblePlan(
        graph, profile, schedule, v1::METHOD_SYNCHRONOUS, 1ull << 40);
    ASSERT_TRUE(plan.ok()) << plan.status();
    absl::StatusOr<AllocationReport> report =
        AssignOffsets(graph, 1ull << 40, 4096, &*plan);
    ASSERT_TRUE(report.ok());
    EXPECT_GE(report->required_bytes, plan->peak_fast_bytes());
    absl::StatusOr<VerifyReport> verified =
        VerifyPlan(graph, profile, *plan, 1ull << 40, true);
    EXPECT_TRUE(verified.ok())
        << "trial " << trial << ": " << verified.status();
  }
}

TEST(AssignOffsetsTest, OverflowingBlocksMovedAheadFitPoolsOfExactlyThePeak) {
  // Random plans laid out in a pool of exactly their peak: the classic
  // orders leave some overflowing, and the squeaky-wheel rounds must then
  // fit some of those, always with valid offsets.
  std::mt19937_64 rng(17);
  int fit_by_repair = 0;
  int not_fit = 0;
  for (int trial = 0; trial < 300; ++trial) {
    const GraphModel graph = MustGraph(testing::RandomGraph(rng, 16, 12));
    const ProfileModel profile = MustProfile(FullTableProfile(graph, UnitTime));
    const std::vector<TensorSchedule> schedule =
        RandomSchedule(graph, rng, /*slow_one_in=*/3, /*move_one_in=*/5);
    absl::StatusOr<v1::Plan> plan = AssemblePlan(
        graph, profile, schedule, v1::METHOD_SYNCHRONOUS, 1ull << 40);
    ASSERT_TRUE(plan.ok()) << plan.status();
    const uint64_t pool = plan->peak_fast_bytes();
    absl::StatusOr<AllocationReport> report =
        AssignOffsetsByBestFit(graph, pool, &*plan, kMaxLayoutRepairRounds);
    ASSERT_TRUE(report.ok());
    EXPECT_LE(report->repair_rounds, kMaxLayoutRepairRounds);
    if (!report->fits) {
      ++not_fit;
      EXPECT_EQ(report->repair_rounds, kMaxLayoutRepairRounds);
      continue;
    }
    if (report->repair_rounds > 0) ++fit_by_repair;
    absl::StatusOr<VerifyReport> verified =
        VerifyPlan(graph, profile, *plan, pool, /*require_offsets=*/true);
    EXPECT_TRUE(verified.ok())
        << "trial " << trial << ": " << verified.status();
  }
  // 12 of 300 fit only after repair rounds, 3 not at all (measured).
  EXPECT_GT(fit_by_repair, 0);
  EXPECT_LT(not_fit, fit_by_repair);
}

TEST(AssignOffsetsTest, MoreRepairRoundsFitMoreAndTheTimeCapStopsThem) {
  // The plans of the test above that the default rounds leave overflowing:
  // with the planner's 256 rounds some of them fit (valid offsets), none
  // needs more pool than with 16, and a zero time cap runs no repair round.
  std::mt19937_64 rng(17);
  int overflowing = 0;
  int fit_by_more_rounds = 0;
  for (int trial = 0; trial < 300; ++trial) {
    const GraphModel graph = MustGraph(testing::RandomGraph(rng, 16, 12));
    const ProfileModel profile = MustProfile(FullTableProfile(graph, UnitTime));
    const std::vector<TensorSchedule> schedule =
        RandomSchedule(graph, rng, /*slow_one_in=*/3, /*move_one_in=*/5);
    absl::StatusOr<v1::Plan> plan = AssemblePlan(
        graph, profile, schedule, v1::METHOD_SYNCHRONOUS, 1ull << 40);
    ASSERT_TRUE(plan.ok()) << plan.status();
    const uint64_t pool = plan->peak_fast_bytes();
    v1::Plan capped = *plan;
    absl::StatusOr<AllocationReport> none = AssignOffsetsByBestFit(
        graph, pool, &capped, kMaxLayoutRepairRounds, absl::ZeroDuration());
    ASSERT_TRUE(none.ok());
    EXPECT_EQ(none->repair_rounds, 0);
    absl::StatusOr<AllocationReport> few =
        AssignOffsetsByBestFit(graph, pool, &*plan, kMaxLayoutRepairRounds);
    ASSERT_TRUE(few.ok());
    if (few->fits) continue;
    ++overflowing;
    absl::StatusOr<AllocationReport> many =
        AssignOffsetsByBestFit(graph, pool, &*plan, /*max_repair_rounds=*/256);
    ASSERT_TRUE(many.ok());
    EXPECT_LE(many->required_bytes, few->required_bytes) << "trial " << trial;
    if (!many->fits) continue;
    ++fit_by_more_rounds;
    EXPECT_GT(many->repair_rounds, kMaxLayoutRepairRounds);
    absl::StatusOr<VerifyReport> verified =
        VerifyPlan(graph, profile, *plan, pool, /*require_offsets=*/true);
    EXPECT_TRUE(verified.ok())
        << "trial " << trial << ": " << verified.status();
  }
  EXPECT_GT(overflowing, 0);
  EXPECT_GT(fit_by_more_rounds, 0)
      << overflowing << " plans overflowed after 16 rounds";
}

TEST(AssignOffsetsTest, TheWorkBoundStopsRepairLayoutsWhateverTheClock) {
  // The plans above in pools of their peak, with 256 repair rounds and a
  // work bound of about three layouts: the repair stops on its work, not on
  // the clock, so an unbounded and a one-hour time cap give the same
  // layouts, offsets included, and a repair that ends without a fit ran
  // fewer than 256 layouts whose work reached the bound. A zero time cap
  // still stops the repair (the safety net) and says so.
  std::mt19937_64 rng(17);
  int stopped_by_work = 0;
  int several_layouts = 0;
  for (int trial = 0; trial < 300; ++trial) {
    const GraphModel graph = MustGraph(testing::RandomGraph(rng, 16, 12));
    const ProfileModel profile = MustProfile(FullTableProfile(graph, UnitTime));
    const std::vector<TensorSchedule> schedule =
        RandomSchedule(graph, rng, /*slow_one_in=*/3, /*move_one_in=*/5);
    absl::StatusOr<v1::Plan> plan = AssemblePlan(
        graph, profile, schedule, v1::METHOD_SYNCHRONOUS, 1ull << 40);
    ASSERT_TRUE(plan.ok()) << plan.status();
    const uint64_t pool = plan->peak_fast_bytes();
    // The work of one repair layout of this plan.
    v1::Plan probe = *plan;
    absl::StatusOr<AllocationReport> one =
        AssignOffsetsByBestFit(graph, pool, &probe, /*max_repair_rounds=*/1);
    ASSERT_TRUE(one.ok());
    if (one->fits) continue;
    ASSERT_EQ(one->repair_rounds, 1);
    ASSERT_GT(one->repair_work, 0);
    const int64_t bound = 3 * one->repair_work;
    v1::Plan unbounded = *plan;
    v1::Plan hour = *plan;
    absl::StatusOr<AllocationReport> a = AssignOffsetsByBestFit(
        graph, pool, &unbounded, 256, absl::InfiniteDuration(), bound);
    absl::StatusOr<AllocationReport> b =
        AssignOffsetsByBestFit(graph, pool, &hour, 256, absl::Hours(1), bound);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->repair_rounds, b->repair_rounds) << "trial " << trial;
    EXPECT_EQ(a->repair_work, b->repair_work) << "trial " << trial;
    EXPECT_EQ(a->required_bytes, b->required_bytes) << "trial " << trial;
    EXPECT_FALSE(a->repair_stopped_by_time);
    EXPECT_FALSE(b->repair_stopped_by_time);
    for (int t = 0; t < graph.num_tensors(); ++t) {
      for (int i = 0; i < unbounded.tensors(t).fast_intervals_size(); ++i) {
        EXPECT_EQ(unbounded.tensors(t).fast_intervals(i).offset_bytes(),
                  hour.tensors(t).fast_intervals(i).offset_bytes())
            << "trial " << trial << " tensor " << t;
      }
    }
    if (a->repair_rounds > 1) ++several_layouts;
    if (!a->fits) {
      ++stopped_by_work;
      EXPECT_LT(a->repair_rounds, 256);
      EXPECT_GE(a->repair_work, bound);
    }
    v1::Plan starved = *plan;
    absl::StatusOr<AllocationReport> none = AssignOffsetsByBestFit(
        graph, pool, &starved, 256, absl::ZeroDuration(), bound);
    ASSERT_TRUE(none.ok());
    EXPECT_EQ(none->repair_rounds, 0);
    EXPECT_TRUE(none->repair_stopped_by_time);
  }
  EXPECT_GT(stopped_by_work, 0);
  EXPECT_GT(several_layouts, 0);
}

TEST(AssignOffsetsTest, SkylineLayoutsFitWhereBestFitsRepairDoesNot) {
  // The random plans above in pools of exactly their peak. With the skyline
  // layouts a plan never needs more pool than with best fit alone (256
  // squeaky-wheel rounds, the planner's), every layout that fits verifies,
  // and some plans that best fit leaves over the pool fit: by a skyline
  // layout.
  std::mt19937_64 rng(17);
  int best_fit_over = 0;
  int fit_by_skyline = 0;
  for (int trial = 0; trial < 300; ++trial) {
    const GraphModel graph = MustGraph(testing::RandomGraph(rng, 16, 12));
    const ProfileModel profile = MustProfile(FullTableProfile(graph, UnitTime));
    const std::vector<TensorSchedule> schedule =
        RandomSchedule(graph, rng, /*slow_one_in=*/3, /*move_one_in=*/5);
    absl::StatusOr<v1::Plan> plan = AssemblePlan(
        graph, profile, schedule, v1::METHOD_SYNCHRONOUS, 1ull << 40);
    ASSERT_TRUE(plan.ok()) << plan.status();
    const uint64_t pool = plan->peak_fast_bytes();
    v1::Plan by_best_fit = *plan;
    absl::StatusOr<AllocationReport> best_fit =
        AssignOffsetsByBestFit(graph, pool, &by_best_fit, 256);
    absl::StatusOr<AllocationReport> both =
        AssignOffsets(graph, pool, 4096, &*plan, 256);
    ASSERT_TRUE(best_fit.ok() && both.ok());
    EXPECT_LE(both->required_bytes, best_fit->required_bytes)
        << "trial " << trial;
    if (both->fits) {
      EXPECT_TRUE(VerifyPlan(graph, profile, *plan, pool, true).ok())
          << "trial " << trial;
    }
    if (best_fit->fits) continue;
    ++best_fit_over;
    EXPECT_GT(both->skyline_layouts, 0) << "trial " << trial;
    if (both->fits) ++fit_by_skyline;
  }
  EXPECT_GT(best_fit_over, 0);
  EXPECT_GT(fit_by_skyline, 0) << best_fit_over << " overflowed best fit";
}

TEST(AssignOffsetsTest, OverlappingPairsAboveTheLimitTakeTheSweepOrders) {
  // x [0,0], y [0,1], z [1,1]: two overlapping pairs, (x, y) and (y, z).
  const GraphModel graph =
      MustGraph(GraphBuilder()
                    .Tensor("x", 4096, v1::TENSOR_ROLE_INPUT)
                    .Tensor("y", 8192)
                    .Tensor("z", 4096)
                    .Kernel("k0", {"x"}, {"y"})
                    .Kernel("k1", {"y"}, {"z"})
                    .graph());
  const ProfileModel profile = MustProfile(FullTableProfile(graph, UnitTime));
  for (const int64_t limit : {2, 1, 0}) {
    v1::Plan plan = AllFastPlan(graph, profile, 1 << 20);
    absl::StatusOr<AllocationReport> report =
        AssignOffsets(graph, 1 << 20, 4096, &plan, kMaxLayoutRepairRounds,
                      absl::InfiniteDuration(), INT64_MAX, limit);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_EQ(report->sweep_orders_only, limit < 2) << "limit " << limit;
    EXPECT_TRUE(report->fits);
    EXPECT_TRUE(VerifyPlan(graph, profile, plan, 1 << 20, true).ok());
  }
}

TEST(AssignOffsetsTest, SweepOrdersAloneGiveValidLayoutsAndNoRepairRounds) {
  // Random plans in pools of exactly their peak, laid out in the sweep
  // orders alone (a limit of 0 pairs): never less than the peak, valid
  // offsets wherever the layout fits, and no squeaky-wheel round.
  std::mt19937_64 rng(23);
  int sweep_fits = 0;
  for (int trial = 0; trial < 200; ++trial) {
    const GraphModel graph = MustGraph(testing::RandomGraph(rng, 16, 12));
    const ProfileModel profile = MustProfile(FullTableProfile(graph, UnitTime));
    const std::vector<TensorSchedule> schedule =
        RandomSchedule(graph, rng, /*slow_one_in=*/3, /*move_one_in=*/5);
    absl::StatusOr<v1::Plan> assembled = AssemblePlan(
        graph, profile, schedule, v1::METHOD_SYNCHRONOUS, 1ull << 40);
    ASSERT_TRUE(assembled.ok()) << assembled.status();
    const uint64_t pool = assembled->peak_fast_bytes();
    v1::Plan sweep = *assembled;
    absl::StatusOr<AllocationReport> swept =
        AssignOffsets(graph, pool, 4096, &sweep, kMaxLayoutRepairRounds,
                      absl::InfiniteDuration(), INT64_MAX,
                      /*max_classic_layout_pairs=*/0);
    ASSERT_TRUE(swept.ok()) << swept.status();
    EXPECT_EQ(swept->repair_rounds, 0);
    EXPECT_GE(swept->required_bytes, pool);
    if (!swept->fits) continue;
    ++sweep_fits;
    absl::StatusOr<VerifyReport> verified =
        VerifyPlan(graph, profile, sweep, pool, /*require_offsets=*/true);
    EXPECT_TRUE(verified.ok())
        << "trial " << trial << ": " << verified.status();
  }
  EXPECT_GT(sweep_fits, 0);
}

TEST(AssignOffsetsTest, RejectsIntervalsOutsideTheLiveRange) {
  const GraphModel graph =
      MustGraph(GraphBuilder()
                    .Tensor("x", 4096, v1::TENSOR_ROLE_INPUT)
                    .Tensor("y", 4096)
                    .Kernel("k0", {"x"}, {"y"})
                    .graph());
  const ProfileModel profile = MustProfile(FullTableProfile(graph, UnitTime));
  v1::Plan plan = AllFastPlan(graph, profile, 1 << 20);
  plan.mutable_tensors(1)->mutable_fast_intervals(0)->set_last_kernel(3);
  absl::StatusOr<AllocationReport> report =
      AssignOffsets(graph, 1 << 20, 4096, &plan);
  EXPECT_EQ(report.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(report.status().message(), ::testing::HasSubstr("tensor 'y'"));
}

// The offset `plan` gives tensor t's fast interval [first, last]; -1 when
// it has none.
int64_t OffsetOf(const v1::Plan& plan, int t, uint32_t first, uint32_t last) {
  for (const v1::FastInterval& interval : plan.tensors(t).fast_intervals()) {
    if (interval.first_kernel() == first && interval.last_kernel() == last) {
      return static_cast<int64_t>(interval.offset_bytes());
    }
  }
  return -1;
}

TEST(AssignOffsetsAroundTest, KeepsTheAnchorsOffsetsAndNeverOverlaps) {
  // A random plan laid out, then a few tensors' schedules drawn again: the
  // intervals both plans have keep the anchor's offsets, the others go
  // into the gaps, and the layout is valid in a pool of what it needs.
  std::mt19937_64 rng(11);
  int kept = 0;
  int placed = 0;
  for (int trial = 0; trial < 100; ++trial) {
    const GraphModel graph = MustGraph(testing::RandomGraph(rng, 14, 12));
    const ProfileModel profile = MustProfile(FullTableProfile(graph, UnitTime));
    std::vector<TensorSchedule> schedule =
        RandomSchedule(graph, rng, /*slow_one_in=*/2, /*move_one_in=*/4);
    absl::StatusOr<v1::Plan> anchor = AssemblePlan(
        graph, profile, schedule, v1::METHOD_SYNCHRONOUS, 1ull << 40);
    ASSERT_TRUE(anchor.ok()) << anchor.status();
    ASSERT_TRUE(AssignOffsets(graph, 1ull << 40, 4096, &*anchor).ok());
    const std::vector<TensorSchedule> redrawn =
        RandomSchedule(graph, rng, /*slow_one_in=*/2, /*move_one_in=*/4);
    for (int change = 0; change < 2; ++change) {
      const int t = static_cast<int>(rng() % graph.num_tensors());
      schedule[t] = redrawn[t];
    }
    absl::StatusOr<v1::Plan> plan = AssemblePlan(
        graph, profile, schedule, v1::METHOD_SYNCHRONOUS, 1ull << 40);
    ASSERT_TRUE(plan.ok()) << plan.status();
    absl::StatusOr<AllocationReport> report =
        AssignOffsetsAround(graph, 1ull << 40, 4096, *anchor, &*plan);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_TRUE(report->fits);
    EXPECT_EQ(plan->pool_bytes_used(), report->required_bytes);
    for (int t = 0; t < graph.num_tensors(); ++t) {
      for (const v1::FastInterval& interval :
           plan->tensors(t).fast_intervals()) {
        const int64_t before = OffsetOf(*anchor, t, interval.first_kernel(),
                                        interval.last_kernel());
        if (before < 0) {
          ++placed;
          continue;
        }
        ++kept;
        EXPECT_EQ(static_cast<int64_t>(interval.offset_bytes()), before)
            << "trial " << trial << ", tensor " << t;
      }
    }
    absl::StatusOr<VerifyReport> verified =
        VerifyPlan(graph, profile, *plan, report->required_bytes,
                   /*require_offsets=*/true);
    EXPECT_TRUE(verified.ok())
        << "trial " << trial << ": " << verified.status();
  }
  EXPECT_GT(kept, 0);
  EXPECT_GT(placed, 0);
}

TEST(AssignOffsetsAroundTest, FewerFastBlocksFitWhereTheAnchorFit) {
  // Plans laid out in a pool of exactly what they need, then a few tensors
  // made slow: around the anchor the rest keeps its place and fits, always
  // (a layout from scratch is a best fit, not monotone in its blocks).
  std::mt19937_64 rng(12);
  for (int trial = 0; trial < 200; ++trial) {
    const GraphModel graph = MustGraph(testing::RandomGraph(rng, 16, 14));
    const ProfileModel profile = MustProfile(FullTableProfile(graph, UnitTime));
    std::vector<TensorSchedule> schedule =
        RandomSchedule(graph, rng, /*slow_one_in=*/4, /*move_one_in=*/5);
    absl::StatusOr<v1::Plan> anchor = AssemblePlan(
        graph, profile, schedule, v1::METHOD_SYNCHRONOUS, 1ull << 40);
    ASSERT_TRUE(anchor.ok()) << anchor.status();
    absl::StatusOr<AllocationReport> anchored =
        AssignOffsets(graph, 1ull << 40, 4096, &*anchor);
    ASSERT_TRUE(anchored.ok());
    const uint64_t pool = anchored->required_bytes;
    for (int change = 0; change < 2; ++change) {
      const int t = static_cast<int>(rng() % graph.num_tensors());
      if (graph.tensor(t).role == v1::TENSOR_ROLE_INPUT) continue;
      schedule[t] = TensorSchedule{};
      schedule[t].creation_tier = v1::TIER_SLOW;
    }
    absl::StatusOr<v1::Plan> plan = AssemblePlan(
        graph, profile, schedule, v1::METHOD_SYNCHRONOUS, 1ull << 40);
    ASSERT_TRUE(plan.ok()) << plan.status();
    absl::StatusOr<AllocationReport> report =
        AssignOffsetsAround(graph, pool, 4096, *anchor, &*plan);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_TRUE(report->fits) << "trial " << trial;
    EXPECT_TRUE(VerifyPlan(graph, profile, *plan, pool, true).ok())
        << "trial " << trial;
  }
}

TEST(AssignOffsetsAroundTest, RejectsAnAnchorOfAnotherAlignment) {
  const GraphModel graph =
      MustGraph(GraphBuilder()
                    .Tensor("x", 4096, v1::TENSOR_ROLE_INPUT)
                    .Tensor("y", 4096)
                    .Kernel("k0", {"x"}, {"y"})
                    .graph());
  const ProfileModel profile = MustProfile(FullTableProfile(graph, UnitTime));
  v1::Plan anchor = AllFastPlan(graph, profile, 1 << 20);
  ASSERT_TRUE(AssignOffsets(graph, 1 << 20, 8192, &anchor).ok());
  v1::Plan plan = AllFastPlan(graph, profile, 1 << 20);
  absl::StatusOr<AllocationReport> report =
      AssignOffsetsAround(graph, 1 << 20, 4096, anchor, &plan);
  EXPECT_EQ(report.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace autotm::solver
