// Tests for the ALL_FAST, ALL_SLOW and FIRST_TOUCH baselines on tiny graphs
// computed by hand, plus random graphs checked against the verifier and a
// reference first-touch walk.
#include "solver/baselines.h"

#include <algorithm>
#include <cstdint>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "autotm/v1/graph.pb.h"
#include "autotm/v1/plan.pb.h"
#include "autotm/v1/profile.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solver/allocator.h"
#include "solver/graph_model.h"
#include "solver/profile_model.h"
#include "solver/schedule.h"
#include "solver/testing/test_graphs.h"
#include "solver/verifier.h"

namespace autotm::solver {
namespace {

using ::autotm::solver::testing::FullTableProfile;
using ::autotm::solver::testing::GraphBuilder;
using ::autotm::solver::testing::MustGraph;
using ::autotm::solver::testing::MustProfile;
using ::autotm::solver::testing::OptaneLikeTimeUs;
using ::autotm::solver::testing::RandomGraph;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr v1::Tier F = v1::TIER_FAST;
constexpr v1::Tier S = v1::TIER_SLOW;

std::vector<std::string> Configs(const v1::Plan& plan) {
  std::vector<std::string> configs;
  for (const v1::KernelChoice& choice : plan.kernels()) {
    configs.push_back(choice.config());
  }
  return configs;
}

std::vector<uint64_t> FastBytes(const v1::Plan& plan) {
  std::vector<uint64_t> bytes;
  for (const v1::KernelChoice& choice : plan.kernels()) {
    bytes.push_back(choice.fast_bytes());
  }
  return bytes;
}

std::vector<v1::Tier> CreationTiers(const v1::Plan& plan) {
  std::vector<v1::Tier> tiers;
  for (const v1::TensorPlacement& placement : plan.tensors()) {
    tiers.push_back(placement.creation_tier());
  }
  return tiers;
}

// Runs a baseline that must produce a plan, and checks the plan verifies and
// carries the baseline stats.
v1::Plan MustPlan(const GraphModel& graph, const ProfileModel& profile,
                  v1::Method method, uint64_t budget) {
  absl::StatusOr<PlanOutcome> outcome =
      RunBaseline(graph, profile, method, budget, /*alignment_bytes=*/1);
  EXPECT_TRUE(outcome.ok()) << outcome.status();
  if (!outcome.ok()) return {};
  EXPECT_TRUE(outcome->plan.has_value()) << outcome->diagnostic;
  if (!outcome->plan.has_value()) return {};
  const v1::Plan& plan = *outcome->plan;
  EXPECT_EQ(outcome->stats.termination(), v1::TERMINATION_HEURISTIC);
  EXPECT_EQ(outcome->stats.solver(), "baseline");
  EXPECT_DOUBLE_EQ(outcome->stats.objective_us(), plan.predicted_time_us());
  EXPECT_GE(outcome->stats.build_seconds(), 0);
  EXPECT_EQ(plan.stats().termination(), v1::TERMINATION_HEURISTIC);
  EXPECT_EQ(plan.stats().solver(), "baseline");
  EXPECT_DOUBLE_EQ(plan.stats().objective_us(), plan.predicted_time_us());
  EXPECT_EQ(plan.method(), method);
  EXPECT_EQ(plan.budget_bytes(), budget);
  EXPECT_EQ(plan.moves_size(), 0);
  // One layout unless a block fixed to the fast tier overflows.
  EXPECT_GE(plan.stats().allocation_rounds(), 1u);
  EXPECT_LE(plan.stats().allocation_rounds(), 3u);
  absl::StatusOr<VerifyReport> report =
      VerifyPlan(graph, profile, plan, budget, /*require_offsets=*/true);
  EXPECT_TRUE(report.ok()) << report.status();
  return plan;
}

// Tensors (live ranges):  in [0,0]  big [0,3]  small [1,2]  out [2,3]  z [3,3]
//   k0: in         -> big
//   k1: big        -> small
//   k2: small      -> out
//   k3: big, out   -> z
// Live bytes per kernel: 1100, 1500, 1600, 1200.
class BigFirstTest : public ::testing::Test {
 protected:
  BigFirstTest()
      : graph_(MustGraph(GraphBuilder("big-first")
                             .Tensor("in", 100, v1::TENSOR_ROLE_INPUT)
                             .Tensor("big", 1000)
                             .Tensor("small", 500)
                             .Tensor("out", 100)
                             .Tensor("z", 100)
                             .Kernel("k0", {"in"}, {"big"})
                             .Kernel("k1", {"big"}, {"small"})
                             .Kernel("k2", {"small"}, {"out"})
                             .Kernel("k3", {"big", "out"}, {"z"})
                             .graph())),
        profile_(MustProfile(Profile(graph_))) {}

  // k1 and k2, the kernels touching `small`, are ten times the others.
  static v1::Profile Profile(const GraphModel& graph) {
    return FullTableProfile(graph, [&graph](int k, ConfigMask mask) {
      const double base[] = {1, 10, 10, 1};
      return OptaneLikeTimeUs(base[k], graph.kernel(k).num_inputs, mask);
    });
  }

  GraphModel graph_;
  ProfileModel profile_;
};

TEST_F(BigFirstTest, AllFastFits) {
  const v1::Plan plan = MustPlan(graph_, profile_, v1::METHOD_ALL_FAST, 1600);
  EXPECT_THAT(CreationTiers(plan), ElementsAre(F, F, F, F, F));
  EXPECT_THAT(Configs(plan), ElementsAre("F|F", "F|F", "F|F", "FF|F"));
  EXPECT_THAT(FastBytes(plan), ElementsAre(1100, 1500, 1600, 1200));
  EXPECT_EQ(plan.peak_fast_bytes(), 1600u);
  EXPECT_DOUBLE_EQ(plan.kernel_time_us(), 1 + 10 + 10 + 1);
  EXPECT_DOUBLE_EQ(plan.predicted_time_us(), 22);
  EXPECT_DOUBLE_EQ(plan.move_time_us(), 0);
}

TEST_F(BigFirstTest, AllFastOverBudgetIsInfeasibleNamingThePeakKernel) {
  absl::StatusOr<PlanOutcome> outcome = RunBaseline(
      graph_, profile_, v1::METHOD_ALL_FAST, 1599, /*alignment_bytes=*/1);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_FALSE(outcome->plan.has_value());
  EXPECT_EQ(outcome->stats.termination(), v1::TERMINATION_INFEASIBLE);
  EXPECT_EQ(outcome->stats.solver(), "baseline");
  EXPECT_THAT(outcome->diagnostic,
              HasSubstr("need 1600 bytes of fast memory at kernel #2 'k2', "
                        "more than the budget of 1599 bytes (1 bytes over)"));
}

TEST_F(BigFirstTest, AllSlowTimesAreTheAllSlowConfigs) {
  const v1::Plan plan = MustPlan(graph_, profile_, v1::METHOD_ALL_SLOW, 0);
  EXPECT_THAT(CreationTiers(plan), ElementsAre(S, S, S, S, S));
  EXPECT_THAT(Configs(plan), ElementsAre("S|S", "S|S", "S|S", "SS|S"));
  EXPECT_THAT(FastBytes(plan), ElementsAre(0, 0, 0, 0));
  EXPECT_EQ(plan.peak_fast_bytes(), 0u);
  // Each kernel at base * (1 + 1 per input + 5 per output).
  const double expected = 1 * 7 + 10 * 7 + 10 * 7 + 1 * 8;
  EXPECT_DOUBLE_EQ(plan.kernel_time_us(), expected);
  EXPECT_DOUBLE_EQ(plan.predicted_time_us(), expected);
}

TEST_F(BigFirstTest, FirstTouchGivesTheSpaceToWhatComesFirst) {
  const v1::Plan plan =
      MustPlan(graph_, profile_, v1::METHOD_FIRST_TOUCH, 1200);
  // in and big fit at k0 (1100); small does not fit beside big at k1
  // (1500 > 1200); out fits at k2 (1100) and z at k3 (1200).
  EXPECT_THAT(CreationTiers(plan), ElementsAre(F, F, S, F, F));
  EXPECT_THAT(Configs(plan), ElementsAre("F|F", "F|S", "S|F", "FF|F"));
  EXPECT_THAT(FastBytes(plan), ElementsAre(1100, 1000, 1100, 1200));
  EXPECT_DOUBLE_EQ(plan.predicted_time_us(), 1 + 60 + 20 + 1);

  // Keeping big slow instead and small fast would have been much faster.
  std::vector<TensorSchedule> better(5, TensorSchedule{F, {}});
  better[1].creation_tier = S;
  absl::StatusOr<v1::Plan> alternative =
      AssemblePlan(graph_, profile_, better, v1::METHOD_STATIC, 1200);
  ASSERT_TRUE(alternative.ok()) << alternative.status();
  ASSERT_TRUE(VerifyPlan(graph_, profile_, *alternative, 1200).ok());
  EXPECT_DOUBLE_EQ(alternative->predicted_time_us(), 6 + 20 + 10 + 2);
  EXPECT_LT(alternative->predicted_time_us(), plan.predicted_time_us());
}

TEST_F(BigFirstTest, FirstTouchWithRoomForEverythingIsAllFast) {
  const v1::Plan plan =
      MustPlan(graph_, profile_, v1::METHOD_FIRST_TOUCH, 1600);
  EXPECT_THAT(CreationTiers(plan), ElementsAre(F, F, F, F, F));
}

TEST_F(BigFirstTest, FirstTouchWithNoBudgetIsAllSlow) {
  const v1::Plan plan = MustPlan(graph_, profile_, v1::METHOD_FIRST_TOUCH, 0);
  EXPECT_THAT(CreationTiers(plan), ElementsAre(S, S, S, S, S));
}

TEST_F(BigFirstTest, FirstTouchCountsOnlyTensorsStillLive) {
  // Budget 1000: in (100) fits at k0, big (1000) does not beside it; at k1
  // in is dead and small fits; out fits beside small at k2; z at k3 beside
  // out.
  const v1::Plan plan =
      MustPlan(graph_, profile_, v1::METHOD_FIRST_TOUCH, 1000);
  EXPECT_THAT(CreationTiers(plan), ElementsAre(F, S, F, F, F));
  EXPECT_THAT(FastBytes(plan), ElementsAre(100, 500, 600, 200));
}

TEST_F(BigFirstTest, MissingConfigIsFailedPrecondition) {
  v1::Profile profile = Profile(graph_);
  auto* configs = profile.mutable_kernels(0)->mutable_configs();
  for (int i = 0; i < configs->size(); ++i) {
    if (configs->Get(i).config() == "F|F") {
      configs->DeleteSubrange(i, 1);
      break;
    }
  }
  const ProfileModel partial = MustProfile(profile);
  absl::StatusOr<PlanOutcome> outcome = RunBaseline(
      graph_, partial, v1::METHOD_ALL_FAST, 1600, /*alignment_bytes=*/1);
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(outcome.status().message()),
              HasSubstr("kernel #0 'k0'"));
  EXPECT_THAT(std::string(outcome.status().message()), HasSubstr("F|F"));
  // ALL_SLOW does not need that configuration.
  EXPECT_TRUE(RunBaseline(graph_, partial, v1::METHOD_ALL_SLOW, 0,
                          /*alignment_bytes=*/1)
                  .ok());
}

TEST_F(BigFirstTest, NonBaselineMethodsAreInvalidArgument) {
  for (v1::Method method : {v1::METHOD_UNSPECIFIED, v1::METHOD_STATIC,
                            v1::METHOD_SYNCHRONOUS, v1::METHOD_ASYNCHRONOUS}) {
    absl::StatusOr<PlanOutcome> outcome =
        RunBaseline(graph_, profile_, method, 1600, /*alignment_bytes=*/1);
    ASSERT_FALSE(outcome.ok());
    EXPECT_EQ(outcome.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(outcome.status().message()),
                HasSubstr("is not a baseline"));
  }
}

// Tensors (live ranges): w [0,1] weight fixed fast, c [0,0] constant fixed
// slow, in [0,0], h [0,1], y [1,1].
//   k0: in, w, c -> h
//   k1: h, w     -> y
class FixedTiersTest : public ::testing::Test {
 protected:
  FixedTiersTest()
      : graph_(MustGraph(
            GraphBuilder("fixed")
                .Tensor("w", 400, v1::TENSOR_ROLE_WEIGHT, v1::TIER_FAST)
                .Tensor("c", 50, v1::TENSOR_ROLE_CONSTANT, v1::TIER_SLOW)
                .Tensor("in", 300, v1::TENSOR_ROLE_INPUT)
                .Tensor("h", 200)
                .Tensor("y", 300)
                .Kernel("k0", {"in", "w", "c"}, {"h"})
                .Kernel("k1", {"h", "w"}, {"y"})
                .graph())),
        profile_(MustProfile(FullTableProfile(
            graph_, [](int, ConfigMask mask) { return 1.0 + mask; }))) {}

  GraphModel graph_;
  ProfileModel profile_;
};

TEST_F(FixedTiersTest, AllFastKeepsPinnedSlowTensorsSlow) {
  const v1::Plan plan = MustPlan(graph_, profile_, v1::METHOD_ALL_FAST, 900);
  EXPECT_THAT(CreationTiers(plan), ElementsAre(F, S, F, F, F));
  EXPECT_THAT(Configs(plan), ElementsAre("FFS|F", "FF|F"));
  EXPECT_THAT(FastBytes(plan), ElementsAre(900, 900));
}

TEST_F(FixedTiersTest, AllSlowKeepsPinnedFastTensorsFast) {
  const v1::Plan plan = MustPlan(graph_, profile_, v1::METHOD_ALL_SLOW, 400);
  EXPECT_THAT(CreationTiers(plan), ElementsAre(F, S, S, S, S));
  EXPECT_THAT(Configs(plan), ElementsAre("SFS|S", "SF|S"));
  EXPECT_THAT(FastBytes(plan), ElementsAre(400, 400));
}

TEST_F(FixedTiersTest, PinnedFastTensorsOverBudgetAreInfeasible) {
  for (v1::Method method :
       {v1::METHOD_ALL_SLOW, v1::METHOD_FIRST_TOUCH, v1::METHOD_ALL_FAST}) {
    SCOPED_TRACE(v1::Method_Name(method));
    absl::StatusOr<PlanOutcome> outcome =
        RunBaseline(graph_, profile_, method, 399, /*alignment_bytes=*/1);
    ASSERT_TRUE(outcome.ok()) << outcome.status();
    EXPECT_FALSE(outcome->plan.has_value());
    EXPECT_EQ(outcome->stats.termination(), v1::TERMINATION_INFEASIBLE);
    EXPECT_THAT(outcome->diagnostic,
                HasSubstr("tensors fixed to the fast tier need 400 bytes of "
                          "fast memory at kernel #0 'k0'"));
  }
}

TEST_F(FixedTiersTest, FirstTouchCountsPinnedTensorsFirst) {
  // Budget 700: w (400) is reserved; in (300) fits at k0; h (200) does not
  // beside them; at k1 y (300) fits beside w.
  const v1::Plan plan = MustPlan(graph_, profile_, v1::METHOD_FIRST_TOUCH, 700);
  EXPECT_THAT(CreationTiers(plan), ElementsAre(F, S, F, S, F));
  EXPECT_THAT(Configs(plan), ElementsAre("FFS|S", "SF|F"));
  EXPECT_THAT(FastBytes(plan), ElementsAre(700, 700));
}

TEST_F(FixedTiersTest, FirstTouchKeepsPinnedSlowTensorsSlowDespiteRoom) {
  const v1::Plan plan =
      MustPlan(graph_, profile_, v1::METHOD_FIRST_TOUCH, 1 << 20);
  EXPECT_THAT(CreationTiers(plan), ElementsAre(F, S, F, F, F));
}

TEST(FirstTouchTest, ReservesPinnedTensorsCreatedLater) {
  // p is pinned fast and produced at k1; a free tensor created earlier and
  // live beside it must not take its room.
  //   k0: in -> a     in [0,0]  a [0,2]
  //   k1: a -> p      p [1,2] fixed fast
  //   k2: a, p -> z   z [2,2]
  const GraphModel graph =
      MustGraph(GraphBuilder("late-pin")
                    .Tensor("in", 100, v1::TENSOR_ROLE_INPUT)
                    .Tensor("a", 500)
                    .Tensor("p", 600, v1::TENSOR_ROLE_ACTIVATION, v1::TIER_FAST)
                    .Tensor("z", 100)
                    .Kernel("k0", {"in"}, {"a"})
                    .Kernel("k1", {"a"}, {"p"})
                    .Kernel("k2", {"a", "p"}, {"z"})
                    .graph());
  const ProfileModel profile =
      MustProfile(FullTableProfile(graph, [](int, ConfigMask) { return 1.0; }));
  const v1::Plan plan = MustPlan(graph, profile, v1::METHOD_FIRST_TOUCH, 1000);
  EXPECT_THAT(CreationTiers(plan), ElementsAre(F, S, F, F));
  EXPECT_THAT(FastBytes(plan), ElementsAre(100, 600, 700));
}

// The first-touch rule, written out literally: at each kernel, arguments
// (at kernel 0, in tensor order) then outputs go fast when they fit beside
// the fast tensors live at that kernel. Graphs here have no pinned tensors.
std::vector<v1::Tier> ReferenceFirstTouch(const GraphModel& graph,
                                          uint64_t budget) {
  std::vector<v1::Tier> tiers(graph.num_tensors(), S);
  std::vector<int> created;  // in creation order
  for (int k = 0; k < graph.num_kernels(); ++k) {
    std::vector<int> now;
    if (k == 0) {
      for (int t = 0; t < graph.num_tensors(); ++t) {
        if (graph.tensor(t).producer < 0) now.push_back(t);
      }
    }
    const KernelInfo& kernel = graph.kernel(k);
    for (int p = kernel.num_inputs;
         p < static_cast<int>(kernel.operands.size()); ++p) {
      now.push_back(kernel.operands[p]);
    }
    for (int t : now) {
      uint64_t used = 0;
      for (int u : created) {
        if (tiers[u] == F && graph.tensor(u).last_live >= k) {
          used += graph.tensor(u).size_bytes;
        }
      }
      if (used + graph.tensor(t).size_bytes <= budget) tiers[t] = F;
      created.push_back(t);
    }
  }
  return tiers;
}

// Optane-like tables for the random graphs: kernel k takes 1 + k % 3 us with
// every operand fast.
ProfileModel RandomGraphProfile(const GraphModel& graph) {
  return MustProfile(FullTableProfile(graph, [&](int k, ConfigMask mask) {
    return OptaneLikeTimeUs(1 + k % 3, graph.kernel(k).num_inputs, mask);
  }));
}

TEST(BaselinesRandomTest, PlansVerifyAndMatchReferences) {
  std::mt19937_64 rng(7);
  int fragmented_first_touch = 0;
  int fragmented_all_fast = 0;
  constexpr int kTrials = 150;
  for (int trial = 0; trial < kTrials; ++trial) {
    SCOPED_TRACE(trial);
    const GraphModel graph = MustGraph(RandomGraph(rng, 14, 12));
    const ProfileModel profile = RandomGraphProfile(graph);
    const uint64_t peak = graph.PeakLiveBytes();
    const uint64_t budget = peak * (trial % 5) / 4;

    const v1::Plan first_touch =
        MustPlan(graph, profile, v1::METHOD_FIRST_TOUCH, budget);
    // The byte rule, unless fragmentation made the pool layout overflow:
    // then some of its fast tensors were demoted, never the other way.
    const std::vector<v1::Tier> reference = ReferenceFirstTouch(graph, budget);
    const std::vector<v1::Tier> actual = CreationTiers(first_touch);
    int demoted = 0;
    for (int t = 0; t < graph.num_tensors(); ++t) {
      if (actual[t] != reference[t]) {
        EXPECT_EQ(actual[t], S) << graph.tensor(t).id;
        ++demoted;
      }
    }
    fragmented_first_touch += demoted > 0;

    const v1::Plan all_slow = MustPlan(graph, profile, v1::METHOD_ALL_SLOW, 0);
    double all_slow_us = 0;
    for (int k = 0; k < graph.num_kernels(); ++k) {
      const KernelInfo& kernel = graph.kernel(k);
      const ConfigMask all = (ConfigMask{1} << kernel.operands.size()) - 1;
      all_slow_us += OptaneLikeTimeUs(1 + k % 3, kernel.num_inputs, all);
    }
    EXPECT_NEAR(all_slow.predicted_time_us(), all_slow_us, 1e-9 * all_slow_us);

    absl::StatusOr<PlanOutcome> all_fast = RunBaseline(
        graph, profile, v1::METHOD_ALL_FAST, budget, /*alignment_bytes=*/1);
    ASSERT_TRUE(all_fast.ok()) << all_fast.status();
    // Without the room by count there is no plan; with it, only a
    // fragmented layout can still refuse.
    if (budget < peak) {
      EXPECT_FALSE(all_fast->plan.has_value());
    }
    if (budget >= peak && !all_fast->plan.has_value()) {
      EXPECT_THAT(all_fast->diagnostic, HasSubstr("fragmentation"));
      ++fragmented_all_fast;
      continue;
    }
    if (all_fast->plan.has_value()) {
      EXPECT_TRUE(VerifyPlan(graph, profile, *all_fast->plan, budget).ok());
      EXPECT_EQ(all_fast->plan->peak_fast_bytes(), peak);
      // With room for everything first-touch is all-fast too.
      if (demoted == 0) {
        EXPECT_DOUBLE_EQ(first_touch.predicted_time_us(),
                         all_fast->plan->predicted_time_us());
      }
    } else {
      EXPECT_EQ(all_fast->stats.termination(), v1::TERMINATION_INFEASIBLE);
      EXPECT_THAT(all_fast->diagnostic, HasSubstr("kernel #"));
    }
  }
  // Fragmentation is the exception, not the rule, on these graphs.
  EXPECT_LT(fragmented_first_touch, kTrials / 4);
  EXPECT_LT(fragmented_all_fast, kTrials / 4);
}

// Fragmentation: first touch lays the byte rule's tensors out once, demotes
// the free tensors whose blocks overflow that layout, and keeps every other
// block where the layout put it (laying them out again could only demote
// more). Checked against AssignOffsets run here on the byte rule's plan.
TEST(BaselinesRandomTest, FirstTouchDemotesWhatItsOneLayoutOverflows) {
  std::mt19937_64 rng(11);
  int fragmented = 0;
  constexpr int kTrials = 300;
  for (int trial = 0; trial < kTrials; ++trial) {
    SCOPED_TRACE(trial);
    const GraphModel graph = MustGraph(RandomGraph(rng, 60, 60));
    const ProfileModel profile = RandomGraphProfile(graph);
    const uint64_t budget = graph.PeakLiveBytes() * (1 + trial % 4) / 5;

    const std::vector<v1::Tier> byte_rule = ReferenceFirstTouch(graph, budget);
    std::vector<TensorSchedule> schedule(graph.num_tensors());
    for (int t = 0; t < graph.num_tensors(); ++t) {
      schedule[t].creation_tier = byte_rule[t];
    }
    absl::StatusOr<v1::Plan> laid_out =
        AssemblePlan(graph, profile, schedule, v1::METHOD_FIRST_TOUCH, budget);
    ASSERT_TRUE(laid_out.ok()) << laid_out.status();
    absl::StatusOr<AllocationReport> layout =
        AssignOffsets(graph, budget, /*alignment_bytes=*/1, &*laid_out);
    ASSERT_TRUE(layout.ok()) << layout.status();
    std::vector<v1::Tier> expected = byte_rule;
    for (int t = 0; t < graph.num_tensors(); ++t) {
      for (const v1::FastInterval& interval :
           laid_out->tensors(t).fast_intervals()) {
        if (interval.offset_bytes() + graph.tensor(t).size_bytes > budget) {
          expected[t] = S;
        }
      }
    }
    fragmented += !layout->fits;

    const v1::Plan plan =
        MustPlan(graph, profile, v1::METHOD_FIRST_TOUCH, budget);
    EXPECT_EQ(plan.stats().allocation_rounds(), 1u);
    ASSERT_EQ(CreationTiers(plan), expected);
    for (int t = 0; t < graph.num_tensors(); ++t) {
      if (expected[t] != F) continue;
      ASSERT_EQ(plan.tensors(t).fast_intervals_size(), 1);
      EXPECT_EQ(plan.tensors(t).fast_intervals(0).offset_bytes(),
                laid_out->tensors(t).fast_intervals(0).offset_bytes())
          << graph.tensor(t).id;
    }
  }
  // The case under test must come up (83 of the 300 layouts overflow).
  EXPECT_GT(fragmented, 0);
}

// Tensors fixed to the fast tier whose blocks overflow: first touch lays
// out again, at most three layouts in all, the last with the fixed tensors
// alone; either the plan verifies (offsets included) with every fixed
// tensor fast, or the outcome says the layout is what failed.
TEST(BaselinesRandomTest, FirstTouchWithFixedFastTensorsLaysOutAtMostThrice) {
  std::mt19937_64 rng(13);
  int relaid = 0;
  int infeasible_layouts = 0;
  constexpr int kTrials = 400;
  for (int trial = 0; trial < kTrials; ++trial) {
    SCOPED_TRACE(trial);
    v1::Graph proto = RandomGraph(rng, 60, 60);
    for (v1::Tensor& tensor : *proto.mutable_tensors()) {
      if (rng() % 3 == 0) tensor.set_fixed_tier(v1::TIER_FAST);
    }
    const GraphModel graph = MustGraph(proto);
    const ProfileModel profile = RandomGraphProfile(graph);
    std::vector<bool> fixed_fast(graph.num_tensors(), false);
    for (int t = 0; t < graph.num_tensors(); ++t) {
      fixed_fast[t] = graph.tensor(t).fixed_tier == v1::TIER_FAST;
    }
    // Between the fixed tensors' own peak and the whole graph's.
    const uint64_t pinned = [&] {
      uint64_t peak = 0;
      for (int k = 0; k < graph.num_kernels(); ++k) {
        uint64_t live = 0;
        for (int t = 0; t < graph.num_tensors(); ++t) {
          const TensorInfo& tensor = graph.tensor(t);
          if (fixed_fast[t] && tensor.first_live <= k &&
              k <= tensor.last_live) {
            live += tensor.size_bytes;
          }
        }
        peak = std::max(peak, live);
      }
      return peak;
    }();
    const uint64_t budget =
        pinned + (graph.PeakLiveBytes() - pinned) * (trial % 4) / 4;

    absl::StatusOr<PlanOutcome> outcome = RunBaseline(
        graph, profile, v1::METHOD_FIRST_TOUCH, budget, /*alignment_bytes=*/1);
    ASSERT_TRUE(outcome.ok()) << outcome.status();
    EXPECT_GE(outcome->stats.allocation_rounds(), 1u);
    EXPECT_LE(outcome->stats.allocation_rounds(), 3u);
    relaid += outcome->stats.allocation_rounds() > 1;
    if (!outcome->plan.has_value()) {
      EXPECT_EQ(outcome->stats.termination(), v1::TERMINATION_INFEASIBLE);
      EXPECT_THAT(outcome->diagnostic, HasSubstr("(fragmentation)"));
      ++infeasible_layouts;
      continue;
    }
    const v1::Plan plan =
        MustPlan(graph, profile, v1::METHOD_FIRST_TOUCH, budget);
    const std::vector<v1::Tier> tiers = CreationTiers(plan);
    for (int t = 0; t < graph.num_tensors(); ++t) {
      if (fixed_fast[t]) {
        EXPECT_EQ(tiers[t], F) << graph.tensor(t).id;
      }
    }
  }
  // The path under test must come up.
  EXPECT_GT(relaid, 0);
  std::cout << relaid << " of " << kTrials << " laid out again, "
            << infeasible_layouts << " without a layout\n";
}

}  // namespace
}  // namespace autotm::solver
