// Tests for AssemblePlan and TiersOverTime on a hand-built chain whose every
// figure is computed by hand below.
#include "solver/schedule.h"

#include <cstdint>
#include <functional>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "autotm/v1/plan.pb.h"
#include "autotm/v1/profile.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solver/graph_model.h"
#include "solver/profile_model.h"
#include "solver/testing/chain_fixture.h"
#include "solver/testing/test_graphs.h"

namespace autotm::solver {
namespace {

using ::autotm::solver::testing::FullTableProfile;
using ::autotm::solver::testing::MustGraph;
using ::autotm::solver::testing::MustProfile;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr v1::Tier F = v1::TIER_FAST;
constexpr v1::Tier S = v1::TIER_SLOW;
constexpr v1::MoveDirection kToFast = v1::MOVE_DIRECTION_TO_FAST;
constexpr v1::MoveDirection kToSlow = v1::MOVE_DIRECTION_TO_SLOW;

using ::autotm::solver::testing::ChainGraph;
using ::autotm::solver::testing::ChainProfile;
using ::autotm::solver::testing::ChainSchedule;
using ::autotm::solver::testing::kA;
using ::autotm::solver::testing::kB;
using ::autotm::solver::testing::kC;
using ::autotm::solver::testing::kD;
using ::autotm::solver::testing::kE;
using ::autotm::solver::testing::kF;
using ::autotm::solver::testing::kG;
using ::autotm::solver::testing::kNumTensors;
using ::autotm::solver::testing::kW;
using ::autotm::solver::testing::kX;

class ChainTest : public ::testing::Test {
 protected:
  ChainTest()
      : graph_(MustGraph(ChainGraph())),
        profile_(MustProfile(ChainProfile(graph_))) {}

  absl::StatusOr<v1::Plan> Assemble(
      const std::vector<TensorSchedule>& schedule) {
    return AssemblePlan(graph_, profile_, schedule, v1::METHOD_SYNCHRONOUS,
                        100000);
  }

  GraphModel graph_;
  ProfileModel profile_;
};

TEST_F(ChainTest, GraphHasTheLiveRangesTheTestsAssume) {
  const int first[] = {0, 0, 0, 0, 1, 2, 3, 4, 5};
  const int last[] = {2, 3, 1, 5, 2, 3, 4, 5, 5};
  for (int t = 0; t < kNumTensors; ++t) {
    EXPECT_EQ(graph_.tensor(t).first_live, first[t]) << graph_.tensor(t).id;
    EXPECT_EQ(graph_.tensor(t).last_live, last[t]) << graph_.tensor(t).id;
  }
}

TEST_F(ChainTest, PlanHeaderAndCreationTiers) {
  absl::StatusOr<v1::Plan> plan = Assemble(ChainSchedule());
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->graph_name(), "chain");
  EXPECT_EQ(plan->budget_bytes(), 100000u);
  EXPECT_EQ(plan->method(), v1::METHOD_SYNCHRONOUS);
  ASSERT_EQ(plan->tensors_size(), kNumTensors);
  const v1::Tier expected[] = {S, F, S, F, F, S, F, S, F};
  for (int t = 0; t < kNumTensors; ++t) {
    EXPECT_EQ(plan->tensors(t).tensor_id(), graph_.tensor(t).id);
    EXPECT_EQ(plan->tensors(t).creation_tier(), expected[t])
        << graph_.tensor(t).id;
  }
  // AssemblePlan leaves the stats to its caller.
  EXPECT_EQ(plan->stats().termination(), v1::TERMINATION_UNSPECIFIED);
}

TEST_F(ChainTest, MovesArePricedOrderedAndNoOpsDropped) {
  absl::StatusOr<v1::Plan> plan = Assemble(ChainSchedule());
  ASSERT_TRUE(plan.ok()) << plan.status();
  struct Expected {
    const char* tensor;
    int kernel;
    v1::MoveDirection direction;
    bool sync;
    uint64_t bytes;
    double time_us;
  };
  const Expected expected[] = {
      // Prefetch of an argument created slow: 1000 B at 29 GB/s.
      {"x", 0, kToFast, true, 1000, 1000 / 29e3},
      // Dropped after k0: the slow copy is still valid.
      {"x", 0, kToSlow, true, 0, 0},
      // Eviction of a tensor created fast: a copy at 12 GB/s.
      {"a", 1, kToSlow, true, 12000, 12000 / 12e3},
      {"a", 4, kToFast, true, 12000, 12000 / 29e3},
      // The slow copy written after k1 is still valid: free.
      {"a", 4, kToSlow, true, 0, 0},
      // Async prefetch at 2 GB/s.
      {"a", 5, kToFast, false, 12000, 12000 / 2e3},
  };
  ASSERT_EQ(plan->moves_size(), static_cast<int>(std::size(expected)));
  for (int m = 0; m < plan->moves_size(); ++m) {
    SCOPED_TRACE(m);
    const v1::Move& move = plan->moves(m);
    EXPECT_EQ(move.tensor_id(), expected[m].tensor);
    EXPECT_EQ(move.kernel_index(), static_cast<uint32_t>(expected[m].kernel));
    EXPECT_EQ(move.kernel_id(), graph_.kernel(expected[m].kernel).id);
    EXPECT_EQ(move.direction(), expected[m].direction);
    EXPECT_EQ(move.sync(), expected[m].sync);
    EXPECT_EQ(move.bytes_copied(), expected[m].bytes);
    EXPECT_DOUBLE_EQ(move.time_us(), expected[m].time_us);
  }
  EXPECT_THAT(plan->tensors(kX).move_indices(), ElementsAre(0, 1));
  EXPECT_THAT(plan->tensors(kA).move_indices(), ElementsAre(2, 3, 4, 5));
  // The no-op moves of b and e left nothing behind.
  EXPECT_THAT(plan->tensors(kB).move_indices(), IsEmpty());
  EXPECT_THAT(plan->tensors(kE).move_indices(), IsEmpty());
}

TEST_F(ChainTest, MovesOfSeveralTensorsAreSortedByKernel) {
  // Tensor order in the schedule differs from kernel order of the moves.
  std::vector<TensorSchedule> schedule(kNumTensors);
  schedule[kW] = {F, {}};
  schedule[kG] = {S, {}};
  schedule[kX] = {F, {{2, kToSlow, true}}};
  schedule[kA] = {F, {{0, kToSlow, true}, {4, kToFast, true}}};
  schedule[kB] = {S, {{2, kToFast, true}}};
  schedule[kC] = {F, {{2, kToSlow, true}}};
  schedule[kD] = {F, {}};
  schedule[kE] = {F, {}};
  schedule[kF] = {F, {}};
  absl::StatusOr<v1::Plan> plan = Assemble(schedule);
  ASSERT_TRUE(plan.ok()) << plan.status();
  std::vector<std::string> order;
  for (const v1::Move& move : plan->moves()) {
    order.push_back(absl::StrCat(move.tensor_id(), "@", move.kernel_index(),
                                 move.direction() == kToFast ? "F" : "S"));
  }
  // By kernel, then TO_FAST before TO_SLOW, then tensor index.
  EXPECT_THAT(order, ElementsAre("a@0S", "b@2F", "x@2S", "c@2S", "a@4F"));
  EXPECT_THAT(plan->tensors(kA).move_indices(), ElementsAre(0, 4));
  EXPECT_THAT(plan->tensors(kB).move_indices(), ElementsAre(1));
  EXPECT_THAT(plan->tensors(kX).move_indices(), ElementsAre(2));
  EXPECT_THAT(plan->tensors(kC).move_indices(), ElementsAre(3));
  // x was created fast and never written: its eviction is a copy.
  EXPECT_EQ(plan->moves(2).bytes_copied(), 1000u);
}

TEST_F(ChainTest, KernelConfigsTimesAndFastBytes) {
  absl::StatusOr<v1::Plan> plan = Assemble(ChainSchedule());
  ASSERT_TRUE(plan.ok()) << plan.status();
  struct Expected {
    const char* config;
    double time_us;
    uint64_t fast_bytes;
  };
  const Expected expected[] = {
      {"F|F", 10, 1000 + 500 + 12000},          // x a w
      {"FS|F", 20 * 2, 12000 + 24000 + 500},    // a b w; g slow
      {"SF|S", 30 * (1 + 1 + 5), 24000 + 500},  // b w; x c slow
      {"SF|F", 40 * 2, 4000 + 500},             // d w; c slow
      {"FF|S", 50 * 6, 12000 + 4000},           // a d; e slow
      {"FS|F", 2 * 2, 12000 + 2000},            // a f; e slow
  };
  ASSERT_EQ(plan->kernels_size(), 6);
  for (int k = 0; k < 6; ++k) {
    SCOPED_TRACE(k);
    EXPECT_EQ(plan->kernels(k).kernel_id(), graph_.kernel(k).id);
    EXPECT_EQ(plan->kernels(k).config(), expected[k].config);
    EXPECT_DOUBLE_EQ(plan->kernels(k).time_us(), expected[k].time_us);
    EXPECT_EQ(plan->kernels(k).fast_bytes(), expected[k].fast_bytes);
  }
  EXPECT_EQ(plan->peak_fast_bytes(), 36500u);
}

TEST_F(ChainTest, PredictedTimeIsKernelsPlusMoves) {
  absl::StatusOr<v1::Plan> plan = Assemble(ChainSchedule());
  ASSERT_TRUE(plan.ok()) << plan.status();
  const double kernels = 10 + 40 + 210 + 80 + 300 + 4;
  // Sync moves, plus the part of k5's 6 us async prefetch beyond its 4 us.
  const double moves = 1000 / 29e3 + 12000 / 12e3 + 12000 / 29e3 + (6.0 - 4.0);
  EXPECT_DOUBLE_EQ(plan->kernel_time_us(), kernels);
  EXPECT_DOUBLE_EQ(plan->move_time_us(), moves);
  EXPECT_DOUBLE_EQ(plan->predicted_time_us(), kernels + moves);
}

TEST_F(ChainTest, AsyncMoveHiddenByItsKernelCostsNothing) {
  std::vector<TensorSchedule> schedule = ChainSchedule();
  // Prefetch a before k4 (300 us) asynchronously instead: 6 us is hidden.
  schedule[kA] = {F, {{1, kToSlow, true}, {4, kToFast, false}}};
  absl::StatusOr<v1::Plan> plan = Assemble(schedule);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_DOUBLE_EQ(plan->move_time_us(), 1000 / 29e3 + 12000 / 12e3);
  EXPECT_DOUBLE_EQ(plan->predicted_time_us(),
                   plan->kernel_time_us() + plan->move_time_us());
}

TEST_F(ChainTest, StaticScheduleHasNoMoves) {
  std::vector<TensorSchedule> schedule(kNumTensors);  // all slow
  schedule[kW].creation_tier = F;
  absl::StatusOr<v1::Plan> plan = Assemble(schedule);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->moves_size(), 0);
  EXPECT_EQ(plan->kernels(0).config(), "S|S");
  EXPECT_EQ(plan->kernels(3).config(), "SF|S");
  EXPECT_EQ(plan->kernels(0).fast_bytes(), 500u);
  EXPECT_EQ(plan->kernels(4).fast_bytes(), 0u);
  EXPECT_EQ(plan->peak_fast_bytes(), 500u);
  EXPECT_DOUBLE_EQ(plan->move_time_us(), 0);
  EXPECT_DOUBLE_EQ(plan->predicted_time_us(), plan->kernel_time_us());
}

TEST_F(ChainTest, MissingConfigIsFailedPreconditionNamingTheKernel) {
  v1::Profile profile = ChainProfile(graph_);
  // Drop k2's "SF|S" entry, the configuration ChainSchedule needs.
  auto* configs = profile.mutable_kernels(2)->mutable_configs();
  for (int i = 0; i < configs->size(); ++i) {
    if (configs->Get(i).config() == "SF|S") {
      configs->DeleteSubrange(i, 1);
      break;
    }
  }
  ASSERT_EQ(configs->size(), 7);
  const ProfileModel partial = MustProfile(profile);
  absl::StatusOr<v1::Plan> plan =
      AssemblePlan(graph_, partial, ChainSchedule(), v1::METHOD_SYNCHRONOUS, 0);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(plan.status().message()),
              HasSubstr("kernel #2 'k2'"));
  EXPECT_THAT(std::string(plan.status().message()), HasSubstr("SF|S"));
}

TEST_F(ChainTest, MalformedSchedulesAreInvalidArgument) {
  struct Case {
    const char* name;
    std::function<void(std::vector<TensorSchedule>&)> mutate;
    const char* substring;
  };
  const Case cases[] = {
      {"move after the live range",
       [](auto& s) {
         s[kB].moves = {{3, kToSlow, true}};
       },
       "tensor 'b': move at kernel #3 is outside its live range [1, 2]"},
      {"move before the live range",
       [](auto& s) {
         s[kD].moves = {{2, kToSlow, true}};
       },
       "outside its live range [3, 4]"},
      {"moves out of kernel order",
       [](auto& s) {
         s[kA].moves = {{4, kToFast, true}, {1, kToSlow, true}};
       },
       "tensor 'a': moves are not in kernel order"},
      {"unspecified creation tier",
       [](auto& s) { s[kC].creation_tier = v1::TIER_UNSPECIFIED; },
       "tensor 'c': creation tier must be FAST or SLOW"},
      {"fixed tensor moved",
       [](auto& s) {
         s[kW].moves = {{2, kToSlow, true}};
       },
       "tensor 'w' is fixed to one tier"},
      {"fixed tensor created in the other tier",
       [](auto& s) { s[kG].creation_tier = F; },
       "tensor 'g' is fixed to one tier"},
      {"move without direction",
       [](auto& s) {
         s[kA].moves = {{2, v1::MOVE_DIRECTION_UNSPECIFIED, true}};
       },
       "tensor 'a': move without direction"},
      {"wrong number of entries", [](auto& s) { s.pop_back(); },
       "schedule has 8 entries for 9 tensors"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::vector<TensorSchedule> schedule = ChainSchedule();
    c.mutate(schedule);
    absl::StatusOr<v1::Plan> plan = Assemble(schedule);
    ASSERT_FALSE(plan.ok());
    EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(plan.status().message()), HasSubstr(c.substring));
  }
}

TEST_F(ChainTest, TiersOverTime) {
  const std::vector<std::vector<v1::Tier>> tiers =
      TiersOverTime(graph_, ChainSchedule());
  ASSERT_EQ(tiers.size(), static_cast<size_t>(kNumTensors));
  EXPECT_THAT(tiers[kX], ElementsAre(F, S, S));  // kernels 0..2
  EXPECT_THAT(tiers[kW], ElementsAre(F, F, F, F));
  EXPECT_THAT(tiers[kG], ElementsAre(S, S));
  EXPECT_THAT(tiers[kA], ElementsAre(F, F, S, S, F, F));  // kernels 0..5
  EXPECT_THAT(tiers[kB], ElementsAre(F, F));              // kernels 1..2
  EXPECT_THAT(tiers[kC], ElementsAre(S, S));
  EXPECT_THAT(tiers[kD], ElementsAre(F, F));
  EXPECT_THAT(tiers[kE], ElementsAre(S, S));
  EXPECT_THAT(tiers[kF], ElementsAre(F));
}

TEST_F(ChainTest, TiersOverTimeOfASameKernelRoundTrip) {
  // TO_FAST lands before the kernel and TO_SLOW after it.
  std::vector<TensorSchedule> schedule(kNumTensors);
  schedule[kW].creation_tier = F;
  schedule[kC] = {S, {{3, kToFast, true}, {3, kToSlow, true}}};
  const auto tiers = TiersOverTime(graph_, schedule);
  EXPECT_THAT(tiers[kC], ElementsAre(S, F));  // kernels 2..3
}

// The runs, expanded kernel by kernel, against the materialised tiers
// (TiersOverTime, the per-kernel replay) on random graphs and schedules:
// moves (same-kernel round trips included) and recomputations between
// consecutive users, most of them valid, some not (both report those slow).
TEST(TierRunsTest, MatchTheMaterialisedTiersOnRandomSchedules) {
  std::mt19937_64 rng(20261206);
  int tensors_with_moves = 0;
  int tensors_dropped = 0;
  for (int round = 0; round < 60; ++round) {
    const GraphModel graph =
        MustGraph(testing::RandomGraph(rng, /*max_tensors=*/40,
                                       /*max_kernels=*/30));
    std::vector<TensorSchedule> schedule(graph.num_tensors());
    for (int t = 0; t < graph.num_tensors(); ++t) {
      const TensorInfo& tensor = graph.tensor(t);
      TensorSchedule& entry = schedule[t];
      entry.creation_tier = rng() % 2 ? F : S;
      // A recomputation between two consecutive users far enough apart.
      std::vector<bool> dropped(tensor.last_live + 2, false);
      for (size_t u = 0; u + 1 < tensor.users.size(); ++u) {
        if (tensor.users[u + 1] - tensor.users[u] >= 2 && rng() % 3 == 0) {
          entry.recomputes.push_back({tensor.users[u], tensor.users[u + 1]});
          for (int k = tensor.users[u] + 1; k <= tensor.users[u + 1]; ++k) {
            dropped[k] = true;
          }
        }
      }
      for (int k = tensor.first_live; k <= tensor.last_live; ++k) {
        // One in 25 moves lands in a dropped stretch: an invalid schedule.
        if ((dropped[k] && rng() % 25 != 0) || rng() % 3 != 0) continue;
        if (rng() % 4 == 0) {
          entry.moves.push_back({k, kToFast, true});
          entry.moves.push_back({k, kToSlow, true});
        } else {
          entry.moves.push_back({k, rng() % 2 ? kToFast : kToSlow, true});
        }
      }
    }
    const std::vector<std::vector<v1::Tier>> tiers =
        TiersOverTime(graph, schedule);
    const std::vector<std::vector<TierRun>> runs =
        TierRunsOverTime(graph, schedule);
    ASSERT_EQ(runs.size(), tiers.size());
    for (int t = 0; t < graph.num_tensors(); ++t) {
      const TensorInfo& tensor = graph.tensor(t);
      SCOPED_TRACE(absl::StrCat("round ", round, ", tensor ", tensor.id));
      ASSERT_FALSE(runs[t].empty());
      EXPECT_EQ(runs[t].front().first_kernel, tensor.first_live);
      for (size_t i = 1; i < runs[t].size(); ++i) {
        EXPECT_LT(runs[t][i - 1].first_kernel, runs[t][i].first_kernel);
        EXPECT_NE(runs[t][i - 1].tier, runs[t][i].tier);
        EXPECT_LE(runs[t][i].first_kernel, tensor.last_live);
      }
      std::vector<v1::Tier> expanded;
      for (int k = tensor.first_live; k <= tensor.last_live; ++k) {
        expanded.push_back(TierAt(runs[t], k));
      }
      EXPECT_EQ(expanded, tiers[t]);
      tensors_with_moves += runs[t].size() > 1;
      for (const v1::Tier tier : tiers[t]) {
        if (tier == v1::TIER_UNSPECIFIED) {
          ++tensors_dropped;
          break;
        }
      }
    }
  }
  // The random schedules exercised moves and recomputations, not only
  // tensors that stay where they are created.
  EXPECT_GT(tensors_with_moves, 200);
  EXPECT_GT(tensors_dropped, 20);
}

TEST(TierRunsTest, ShortScheduleIsSlow) {
  const GraphModel graph = MustGraph(testing::ChainGraph());
  const std::vector<std::vector<TierRun>> runs =
      TierRunsOverTime(graph, std::vector<TensorSchedule>(2));
  ASSERT_EQ(runs.size(), static_cast<size_t>(kNumTensors));
  for (int t = 2; t < kNumTensors; ++t) {
    ASSERT_EQ(runs[t].size(), 1u);
    EXPECT_EQ(runs[t][0].tier, S);
    EXPECT_EQ(runs[t][0].first_kernel, graph.tensor(t).first_live);
  }
}

}  // namespace
}  // namespace autotm::solver
