// Tests for VerifyPlan: valid plans (hand-built, random, baselines) verify
// with the recomputed figures, and every kind of corruption is caught with a
// message naming what is wrong.
#include "solver/verifier.h"

#include <bit>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "autotm/v1/graph.pb.h"
#include "autotm/v1/plan.pb.h"
#include "autotm/v1/profile.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solver/baselines.h"
#include "solver/graph_model.h"
#include "solver/profile_model.h"
#include "solver/schedule.h"
#include "solver/testing/chain_fixture.h"
#include "solver/testing/test_graphs.h"

namespace autotm::solver {
namespace {

using ::autotm::solver::testing::AsyncRecomputeGraph;
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

constexpr uint64_t kChainPeak = 36500;

// Recomputes every tensor's move_indices from plan.moves, so that a test
// adding or reordering moves breaks nothing else.
void RebuildMoveIndices(v1::Plan& plan) {
  for (v1::TensorPlacement& placement : *plan.mutable_tensors()) {
    placement.clear_move_indices();
  }
  for (int m = 0; m < plan.moves_size(); ++m) {
    for (v1::TensorPlacement& placement : *plan.mutable_tensors()) {
      if (placement.tensor_id() == plan.moves(m).tensor_id()) {
        placement.add_move_indices(m);
      }
    }
  }
}

// Inserts a move at position `index` of plan.moves and fixes move_indices.
void InsertMove(v1::Plan& plan, int index, const std::string& tensor,
                int kernel, v1::MoveDirection direction, uint64_t bytes,
                double time_us) {
  v1::Move move;
  move.set_tensor_id(tensor);
  move.set_kernel_id(absl::StrCat("k", kernel));
  move.set_kernel_index(kernel);
  move.set_direction(direction);
  move.set_sync(true);
  move.set_bytes_copied(bytes);
  move.set_time_us(time_us);
  auto* moves = plan.mutable_moves();
  moves->Add(std::move(move));
  for (int i = moves->size() - 1; i > index; --i) moves->SwapElements(i, i - 1);
  RebuildMoveIndices(plan);
}

class ChainVerifyTest : public ::testing::Test {
 protected:
  ChainVerifyTest()
      : graph_(MustGraph(ChainGraph())),
        profile_(MustProfile(ChainProfile(graph_))) {
    absl::StatusOr<v1::Plan> plan = AssemblePlan(
        graph_, profile_, ChainSchedule(), v1::METHOD_SYNCHRONOUS, kChainPeak);
    EXPECT_TRUE(plan.ok()) << plan.status();
    if (plan.ok()) plan_ = *std::move(plan);
  }

  GraphModel graph_;
  ProfileModel profile_;
  v1::Plan plan_;
};

TEST_F(ChainVerifyTest, ValidPlanVerifiesWithRecomputedFigures) {
  // Sanity: the plan is the one described above ChainSchedule().
  ASSERT_EQ(plan_.moves_size(), 6);
  absl::StatusOr<VerifyReport> report =
      VerifyPlan(graph_, profile_, plan_, kChainPeak);
  ASSERT_TRUE(report.ok()) << report.status();
  const double kernels = 10 + 40 + 210 + 80 + 300 + 4;
  const double moves = 1000 / 29e3 + 12000 / 12e3 + 12000 / 29e3 + (6.0 - 4.0);
  EXPECT_DOUBLE_EQ(report->kernel_time_us, kernels);
  EXPECT_DOUBLE_EQ(report->move_time_us, moves);
  EXPECT_DOUBLE_EQ(report->predicted_time_us, kernels + moves);
  EXPECT_EQ(report->peak_fast_bytes, kChainPeak);
  EXPECT_THAT(report->fast_bytes_per_kernel,
              ElementsAre(13500, 36500, 24500, 4500, 16000, 14000));
}

TEST_F(ChainVerifyTest, LargerBudgetAlsoVerifies) {
  EXPECT_TRUE(VerifyPlan(graph_, profile_, plan_, 1 << 30).ok());
}

TEST_F(ChainVerifyTest, DifferencesWithinToleranceAreAccepted) {
  plan_.set_predicted_time_us(plan_.predicted_time_us() * (1 + 1e-9));
  plan_.mutable_moves(3)->set_time_us(plan_.moves(3).time_us() * (1 - 1e-9));
  plan_.mutable_kernels(2)->set_time_us(210 * (1 + 1e-9));
  EXPECT_TRUE(VerifyPlan(graph_, profile_, plan_, kChainPeak).ok());
}

TEST_F(ChainVerifyTest, OverBudgetNamesKernelAndNumbers) {
  absl::StatusOr<VerifyReport> report =
      VerifyPlan(graph_, profile_, plan_, kChainPeak - 1);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(report.status().message()),
              HasSubstr("kernel #1 'k1': fast memory 35.64 KiB (36500 bytes) "
                        "exceeds budget 36499 bytes"));
}

TEST_F(ChainVerifyTest, OverBudgetInGiB) {
  const v1::Graph graph =
      GraphBuilder("big")
          .Tensor("in", uint64_t{1} << 30, v1::TENSOR_ROLE_INPUT)
          .Tensor("out", 214748365)
          .Kernel("k", {"in"}, {"out"})
          .graph();
  const GraphModel model = MustGraph(graph);
  const ProfileModel profile =
      MustProfile(FullTableProfile(model, [](int, ConfigMask) { return 1.0; }));
  std::vector<TensorSchedule> schedule(2, TensorSchedule{F, {}});
  absl::StatusOr<v1::Plan> plan =
      AssemblePlan(model, profile, schedule, v1::METHOD_STATIC, 0);
  ASSERT_TRUE(plan.ok()) << plan.status();
  absl::StatusOr<VerifyReport> report =
      VerifyPlan(model, profile, *plan, uint64_t{1} << 30);
  ASSERT_FALSE(report.ok());
  EXPECT_THAT(std::string(report.status().message()),
              HasSubstr("kernel #0 'k': fast memory 1.20 GiB (1288490189 "
                        "bytes) exceeds budget 1073741824 bytes"));
}

TEST_F(ChainVerifyTest, ConfigMissingFromProfile) {
  v1::Profile profile = ChainProfile(graph_);
  auto* configs = profile.mutable_kernels(2)->mutable_configs();
  for (int i = 0; i < configs->size(); ++i) {
    if (configs->Get(i).config() == "SF|S") {
      configs->DeleteSubrange(i, 1);
      break;
    }
  }
  const ProfileModel partial = MustProfile(profile);
  absl::StatusOr<VerifyReport> report =
      VerifyPlan(graph_, partial, plan_, kChainPeak);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(report.status().message()),
              HasSubstr("kernel #2 'k2': config SF|S is missing from profile "
                        "'test'"));
}

TEST_F(ChainVerifyTest, KernelMissingFromProfile) {
  v1::Profile profile = ChainProfile(graph_);
  profile.mutable_kernels()->DeleteSubrange(4, 1);
  const ProfileModel partial = MustProfile(profile);
  absl::StatusOr<VerifyReport> report =
      VerifyPlan(graph_, partial, plan_, kChainPeak);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(report.status().message()),
              HasSubstr("kernel #4 'k4': profile 'test' has no entry for its "
                        "signature"));
}

TEST_F(ChainVerifyTest, UsesTheProfileBandwidths) {
  v1::Profile profile = ChainProfile(graph_);
  profile.mutable_bandwidths()->set_slow_to_fast_sync_gb_per_s(58);
  const ProfileModel faster = MustProfile(profile);
  absl::StatusOr<VerifyReport> report =
      VerifyPlan(graph_, faster, plan_, kChainPeak);
  ASSERT_FALSE(report.ok());
  // Move #0 prefetches 1000 bytes: 1000 / 58e3 us at the new bandwidth.
  EXPECT_THAT(std::string(report.status().message()),
              HasSubstr("move #0 (TO_FAST of tensor 'x' at kernel #0) claims "
                        "time 0.0344827586 us, expected 0.0172413793 us"));
}

struct Corruption {
  std::string name;
  std::function<void(v1::Plan&)> mutate;
  std::vector<std::string> substrings;
};

std::vector<Corruption> Corruptions() {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  return {
      // Placements.
      {"TooFewPlacements",
       [](v1::Plan& p) { p.mutable_tensors()->RemoveLast(); },
       {"plan has 8 tensor placements for 9 tensors of graph 'chain'"}},
      {"PlacementsOutOfOrder",
       [](v1::Plan& p) { p.mutable_tensors()->SwapElements(0, 1); },
       {"tensor placement #0 is for tensor 'w', expected 'x'"}},
      {"WrongPlacementId",
       [](v1::Plan& p) { p.mutable_tensors(kB)->set_tensor_id("bb"); },
       {"tensor placement #4 is for tensor 'bb', expected 'b'"}},
      {"CreationTierUnspecified",
       [](v1::Plan& p) {
         p.mutable_tensors(kC)->set_creation_tier(v1::TIER_UNSPECIFIED);
       },
       {"tensor 'c': creation tier is TIER_UNSPECIFIED"}},
      {"FixedFastTensorCreatedSlow",
       [](v1::Plan& p) { p.mutable_tensors(kW)->set_creation_tier(S); },
       {"tensor 'w' is fixed to the fast tier but the plan creates it in the "
        "slow tier"}},
      {"FixedSlowTensorCreatedFast",
       [](v1::Plan& p) { p.mutable_tensors(kG)->set_creation_tier(F); },
       {"tensor 'g' is fixed to the slow tier but the plan creates it in the "
        "fast tier"}},
      {"FixedTensorMoved",
       [](v1::Plan& p) { InsertMove(p, 3, "w", 2, kToSlow, 500, 500 / 12e3); },
       {"tensor 'w' is fixed to the fast tier but the plan moves it",
        "move #3 (TO_SLOW of tensor 'w' at kernel #2)"}},
      // Move structure.
      {"MoveOfUnknownTensor",
       [](v1::Plan& p) { p.mutable_moves(0)->set_tensor_id("nope"); },
       {"move #0 (TO_FAST of tensor 'nope' at kernel #0): unknown tensor id"}},
      {"MoveKernelIdMismatch",
       [](v1::Plan& p) { p.mutable_moves(2)->set_kernel_id("k2"); },
       {"move #2 (TO_SLOW of tensor 'a' at kernel #1): kernel id 'k2' does "
        "not match kernel #1 'k1'"}},
      {"MoveKernelIndexOutOfRange",
       [](v1::Plan& p) { p.mutable_moves(5)->set_kernel_index(6); },
       {"move #5", "kernel index 6 is out of range; the graph has 6 kernels"}},
      {"MoveWithoutDirection",
       [](v1::Plan& p) {
         p.mutable_moves(3)->set_direction(v1::MOVE_DIRECTION_UNSPECIFIED);
       },
       {"move #3 (UNSPECIFIED of tensor 'a' at kernel #4): direction is "
        "unspecified"}},
      {"MovesOutOfOrder",
       [](v1::Plan& p) { p.mutable_moves()->SwapElements(2, 3); },
       {"move #3 (TO_SLOW of tensor 'a' at kernel #1) at kernel #1 'k1' comes "
        "after a move at kernel #4"}},
      {"ToSlowBeforeToFastAtOneKernel",
       [](v1::Plan& p) {
         p.mutable_moves()->SwapElements(0, 1);
         RebuildMoveIndices(p);
       },
       {"tensor 'x': move #1 (TO_FAST of tensor 'x' at kernel #0) at kernel "
        "#0 'k0' is out of order"}},
      {"MoveAfterLiveRange",
       [](v1::Plan& p) { InsertMove(p, 3, "b", 3, kToSlow, 0, 0); },
       {"tensor 'b': move #3 (TO_SLOW of tensor 'b' at kernel #3) at kernel "
        "#3 'k3' is outside its live range [1, 2]"}},
      {"MoveBeforeLiveRange",
       [](v1::Plan& p) {
         InsertMove(p, 3, "d", 1, kToFast, 4000, 4000 / 29e3);
       },
       {"tensor 'd'", "is outside its live range [3, 4]"}},
      // Tier replay.
      {"ToFastOfFastTensor",
       [](v1::Plan& p) {
         InsertMove(p, 3, "d", 4, kToFast, 4000, 4000 / 29e3);
       },
       {"tensor 'd': move #3 (TO_FAST of tensor 'd' at kernel #4) at kernel "
        "#4 'k4' but the tensor is already in the fast tier there"}},
      {"ToFastAtProducer",
       [](v1::Plan& p) {
         InsertMove(p, 3, "d", 3, kToFast, 4000, 4000 / 29e3);
       },
       {"tensor 'd': move #3 (TO_FAST of tensor 'd' at kernel #3) at its "
        "producer kernel #3 'k3' reads a copy that does not exist yet"}},
      {"ToSlowOfSlowTensor",
       [](v1::Plan& p) { InsertMove(p, 3, "c", 2, kToSlow, 0, 0); },
       {"tensor 'c': move #3 (TO_SLOW of tensor 'c' at kernel #2) at kernel "
        "#2 'k2' but the tensor is in the slow tier while the kernel runs"}},
      {"SecondToFastAfterPrefetch",
       [](v1::Plan& p) { InsertMove(p, 4, "a", 4, kToFast, 0, 0); },
       {"tensor 'a': move #4 (TO_FAST of tensor 'a' at kernel #4) at kernel "
        "#4 'k4' is out of order"}},
      {"CreationTierFlippedUnderMoves",
       [](v1::Plan& p) { p.mutable_tensors(kA)->set_creation_tier(S); },
       {"tensor 'a': move #2 (TO_SLOW of tensor 'a' at kernel #1)",
        "in the slow tier while the kernel runs"}},
      // Move pricing.
      {"DropClaimedAsCopy",
       [](v1::Plan& p) {
         p.mutable_moves(1)->set_bytes_copied(1000);
         p.mutable_moves(1)->set_time_us(1000 / 12e3);
       },
       {"tensor 'x': move #1 (TO_SLOW of tensor 'x' at kernel #0) claims "
        "bytes_copied 1000, expected 0 (a valid slow copy exists"}},
      {"CopyClaimedAsDrop",
       [](v1::Plan& p) {
         p.mutable_moves(2)->set_bytes_copied(0);
         p.mutable_moves(2)->set_time_us(0);
       },
       {"tensor 'a': move #2 (TO_SLOW of tensor 'a' at kernel #1) claims "
        "bytes_copied 0, expected 12000 (no slow copy exists yet"}},
      {"SecondEvictionIsADrop",
       [](v1::Plan& p) {
         p.mutable_moves(4)->set_bytes_copied(12000);
         p.mutable_moves(4)->set_time_us(1);
       },
       {"move #4 (TO_SLOW of tensor 'a' at kernel #4) claims bytes_copied "
        "12000, expected 0"}},
      {"PrefetchBytesWrong",
       [](v1::Plan& p) { p.mutable_moves(0)->set_bytes_copied(999); },
       {"move #0 (TO_FAST of tensor 'x' at kernel #0) claims bytes_copied "
        "999, expected 1000"}},
      {"MoveTimeWrong",
       [](v1::Plan& p) {
         p.mutable_moves(3)->set_time_us(2 * p.moves(3).time_us());
       },
       {"move #3 (TO_FAST of tensor 'a' at kernel #4) claims time "
        "0.827586207 us, expected 0.413793103 us (12000 bytes sync at 29 "
        "GB/s)"}},
      {"AsyncPricedAsSync",
       [](v1::Plan& p) { p.mutable_moves(5)->set_sync(true); },
       {"move #5 (TO_FAST of tensor 'a' at kernel #5) claims time 6 us, "
        "expected 0.413793103 us"}},
      {"FreeDropWithTime",
       [](v1::Plan& p) { p.mutable_moves(4)->set_time_us(0.5); },
       {"move #4", "claims time 0.5 us, expected 0 us"}},
      {"MoveTimeNaN",
       [nan](v1::Plan& p) { p.mutable_moves(2)->set_time_us(nan); },
       {"move #2", "claims time nan us"}},
      // move_indices.
      {"MoveIndicesMissingOne",
       [](v1::Plan& p) {
         p.mutable_tensors(kA)->mutable_move_indices()->RemoveLast();
       },
       {"tensor 'a': move_indices [2, 3, 4] do not list its moves in plan "
        "order; expected [2, 3, 4, 5]"}},
      {"MoveIndicesReversed",
       [](v1::Plan& p) {
         p.mutable_tensors(kX)->mutable_move_indices()->SwapElements(0, 1);
       },
       {"tensor 'x': move_indices [1, 0] do not list its moves in plan order; "
        "expected [0, 1]"}},
      {"MoveIndicesOfAnotherTensor",
       [](v1::Plan& p) { p.mutable_tensors(kB)->add_move_indices(5); },
       {"tensor 'b': move_indices [5] do not list its moves in plan order; "
        "expected []"}},
      {"MoveIndexOutOfRange",
       [](v1::Plan& p) { p.mutable_tensors(kB)->add_move_indices(17); },
       {"tensor 'b': move_indices[0] = 17 is out of range; the plan has 6 "
        "moves"}},
      // Kernel choices.
      {"TooFewKernelChoices",
       [](v1::Plan& p) { p.mutable_kernels()->RemoveLast(); },
       {"plan has 5 kernel choices for 6 kernels of graph 'chain'"}},
      {"WrongKernelChoiceId",
       [](v1::Plan& p) { p.mutable_kernels(2)->set_kernel_id("kx"); },
       {"kernel choice #2 is for kernel 'kx', expected 'k2'"}},
      {"ConfigMismatchesTiers",
       [](v1::Plan& p) { p.mutable_kernels(2)->set_config("FF|S"); },
       {"kernel #2 'k2': plan config FF|S does not match the operand tiers, "
        "which give SF|S (operand 0, tensor 'x', is slow while the kernel "
        "runs)"}},
      {"ConfigMalformed",
       [](v1::Plan& p) { p.mutable_kernels(0)->set_config("F"); },
       {"kernel #0 'k0': plan config F does not match",
        "(it has 1 characters, expected 3)"}},
      {"CreationTierFlippedWithoutMoves",
       [](v1::Plan& p) { p.mutable_tensors(kC)->set_creation_tier(F); },
       {"tensor 'c': fast interval #0 should span kernels [2, 3]"}},
      {"CreationTierFlippedWithIntervalsToMatch",
       [](v1::Plan& p) {
         p.mutable_tensors(kC)->set_creation_tier(F);
         v1::FastInterval* interval =
             p.mutable_tensors(kC)->add_fast_intervals();
         interval->set_first_kernel(2);
         interval->set_last_kernel(3);
       },
       {"kernel #2 'k2': plan config SF|S does not match the operand tiers, "
        "which give SF|F (operand 2, tensor 'c', is fast"}},
      {"KernelTimeWrong",
       [](v1::Plan& p) { p.mutable_kernels(4)->set_time_us(299); },
       {"kernel #4 'k4': plan kernel time 299 us for config FF|S, the "
        "profile says 300 us"}},
      {"KernelFastBytesWrong",
       [](v1::Plan& p) { p.mutable_kernels(3)->set_fast_bytes(4501); },
       {"kernel #3 'k3': plan fast_bytes 4501 but the tensors fast while it "
        "runs total 4500 bytes"}},
      // Totals.
      {"PeakWrong",
       [](v1::Plan& p) { p.set_peak_fast_bytes(36501); },
       {"plan peak_fast_bytes 36501 but the largest fast occupancy is 36500 "
        "bytes"}},
      {"KernelTimeTotalWrong",
       [](v1::Plan& p) { p.set_kernel_time_us(p.kernel_time_us() + 1); },
       {"plan kernel_time_us is 645 but the recomputed value is 644"}},
      {"MoveTimeIgnoresOverlapExcess",
       [](v1::Plan& p) {
         p.set_move_time_us(p.move_time_us() - 2);
         p.set_predicted_time_us(p.predicted_time_us() - 2);
       },
       {"plan move_time_us is 1.44827586 but the recomputed value is "
        "3.44827586"}},
      {"PredictedTimeWrong",
       [](v1::Plan& p) {
         p.set_predicted_time_us(p.predicted_time_us() * 1.00001);
       },
       {"plan predicted_time_us is"}},
      {"PredictedTimeNaN",
       [nan](v1::Plan& p) { p.set_predicted_time_us(nan); },
       {"plan predicted_time_us is nan"}},
  };
}

class CorruptionTest : public ChainVerifyTest,
                       public ::testing::WithParamInterface<Corruption> {};

TEST_P(CorruptionTest, IsRejectedWithMessage) {
  const Corruption& c = GetParam();
  ASSERT_TRUE(VerifyPlan(graph_, profile_, plan_, kChainPeak).ok());
  c.mutate(plan_);
  absl::StatusOr<VerifyReport> report =
      VerifyPlan(graph_, profile_, plan_, kChainPeak);
  ASSERT_FALSE(report.ok()) << c.name;
  EXPECT_EQ(report.status().code(), absl::StatusCode::kInvalidArgument)
      << report.status();
  for (const std::string& substring : c.substrings) {
    EXPECT_THAT(std::string(report.status().message()), HasSubstr(substring));
  }
}

INSTANTIATE_TEST_SUITE_P(AllKinds, CorruptionTest,
                         ::testing::ValuesIn(Corruptions()),
                         [](const ::testing::TestParamInfo<Corruption>& info) {
                           return info.param.name;
                         });

// Issue 17: clients verify served plans without a profile. Every corruption
// that does not touch prices is still caught; price-only corruptions pass
// (there is nothing to check them against) but VerifyPlan catches them.
TEST_P(CorruptionTest, StructuralVerificationCatchesAllButPrices) {
  const Corruption& c = GetParam();
  ASSERT_TRUE(VerifyPlanStructure(graph_, plan_, kChainPeak).ok());
  c.mutate(plan_);
  absl::StatusOr<VerifyReport> structural =
      VerifyPlanStructure(graph_, plan_, kChainPeak);
  absl::StatusOr<VerifyReport> full =
      VerifyPlan(graph_, profile_, plan_, kChainPeak);
  ASSERT_FALSE(full.ok());
  if (structural.ok()) {
    // Only what a profile prices may slip through.
    EXPECT_THAT(
        std::string(full.status().message()),
        ::testing::AnyOf(HasSubstr("time"), HasSubstr("profile"),
                         HasSubstr("table_collapse"), HasSubstr("priced")))
        << c.name << ": " << full.status();
  } else {
    EXPECT_EQ(structural.status().code(), absl::StatusCode::kInvalidArgument)
        << c.name;
  }
}

TEST_F(ChainVerifyTest, StructuralVerificationChecksTheBudget) {
  absl::StatusOr<VerifyReport> report =
      VerifyPlanStructure(graph_, plan_, kChainPeak);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->peak_fast_bytes, kChainPeak);
  EXPECT_DOUBLE_EQ(report->kernel_time_us, plan_.kernel_time_us());
  const absl::StatusOr<VerifyReport> over =
      VerifyPlanStructure(graph_, plan_, kChainPeak - 1);
  EXPECT_THAT(std::string(over.status().message()),
              HasSubstr("exceeds budget 36499 bytes"));
}

// Random well-formed schedules (including no-op moves) over random graphs:
// whatever AssemblePlan builds verifies, with the same figures.
// A plan records how tables priced it; the verifier accepts it only from a
// profile model that prices tables the same way.
TEST(VerifyTableCollapseTest, PlanVerifiesOnlyWithItsOwnTablePricing) {
  const GraphModel graph = MustGraph(ChainGraph());
  // Separable up to a 0.25 us interaction: collapsed by default, not when
  // exact.
  const v1::Profile proto = FullTableProfile(graph, [](int k, ConfigMask m) {
    return OptaneLikeTimeUs(50.0 + 10 * k, 1, m) +
           (std::popcount(m) % 2 ? 0.25 : -0.25);
  });
  const ProfileModel collapsed = MustProfile(proto, TableCollapseOptions());
  const ProfileModel as_given = MustProfile(proto);
  const ProfileModel exact =
      MustProfile(proto, TableCollapseOptions::ExactOnly());
  const uint64_t budget = 64ull << 20;
  absl::StatusOr<PlanOutcome> outcome =
      RunBaseline(graph, collapsed, v1::METHOD_FIRST_TOUCH, budget);
  ASSERT_TRUE(outcome.ok() && outcome->plan.has_value());
  v1::Plan plan = *outcome->plan;
  ASSERT_TRUE(plan.has_table_collapse());
  EXPECT_GT(plan.table_collapse().collapsed_kernels(), 0u);
  EXPECT_TRUE(VerifyPlan(graph, collapsed, plan, budget).ok());
  EXPECT_TRUE(VerifyPlan(graph,
                         MustProfile(proto, TableCollapseOptionsOf(plan)), plan,
                         budget)
                  .ok());

  absl::StatusOr<VerifyReport> report =
      VerifyPlan(graph, as_given, plan, budget);
  EXPECT_EQ(report.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(report.status().message(),
              HasSubstr("the plan was priced with tables collapsed within "
                        "max(0.01 of the all-fast time, 0.5 us) but the "
                        "profile model has tables as given"));
  report = VerifyPlan(graph, exact, plan, budget);
  EXPECT_THAT(report.status().message(),
              HasSubstr("profile model has tables collapsed within max(0 of"));

  // Without its record, the plan's times are the fit's, not the table's.
  v1::Plan unrecorded = plan;
  unrecorded.clear_table_collapse();
  EXPECT_EQ(TableCollapseOptionsOf(unrecorded).enabled, false);
  report = VerifyPlan(graph, as_given, unrecorded, budget);
  EXPECT_THAT(report.status().message(), HasSubstr("plan kernel time"));

  // The record's summary is checked too.
  v1::Plan tampered = plan;
  tampered.mutable_table_collapse()->set_table_kernels(7);
  report = VerifyPlan(graph, collapsed, tampered, budget);
  EXPECT_THAT(report.status().message(), HasSubstr("plan table_collapse says"));

  // A plan made with tables as given verifies with them.
  absl::StatusOr<PlanOutcome> given =
      RunBaseline(graph, as_given, v1::METHOD_FIRST_TOUCH, budget);
  ASSERT_TRUE(given.ok() && given->plan.has_value());
  EXPECT_FALSE(given->plan->has_table_collapse());
  EXPECT_TRUE(VerifyPlan(graph, as_given, *given->plan, budget).ok());
  EXPECT_FALSE(VerifyPlan(graph, collapsed, *given->plan, budget).ok());
}

TEST(VerifyRandomTest, AssembledPlansVerify) {
  std::mt19937_64 rng(20200316);
  for (int trial = 0; trial < 200; ++trial) {
    SCOPED_TRACE(trial);
    const GraphModel graph = MustGraph(RandomGraph(rng, 12, 10));
    const ProfileModel profile =
        MustProfile(FullTableProfile(graph, [&](int k, ConfigMask mask) {
          return OptaneLikeTimeUs(1 + k % 4, graph.kernel(k).num_inputs, mask);
        }));
    std::vector<TensorSchedule> schedule(graph.num_tensors());
    std::bernoulli_distribution coin(0.5), rare(0.25);
    for (int t = 0; t < graph.num_tensors(); ++t) {
      const TensorInfo& tensor = graph.tensor(t);
      TensorSchedule& entry = schedule[t];
      entry.creation_tier = coin(rng) ? F : S;
      for (int k = tensor.first_live; k <= tensor.last_live; ++k) {
        // No copy exists at the producer, so no TO_FAST there.
        if (rare(rng) && k != tensor.producer) {
          entry.moves.push_back({k, kToFast, coin(rng)});
        }
        if (rare(rng)) entry.moves.push_back({k, kToSlow, coin(rng)});
      }
    }
    const v1::Method method = v1::METHOD_SYNCHRONOUS;
    absl::StatusOr<v1::Plan> plan =
        AssemblePlan(graph, profile, schedule, method, 0);
    ASSERT_TRUE(plan.ok()) << plan.status();
    absl::StatusOr<VerifyReport> report =
        VerifyPlan(graph, profile, *plan, plan->peak_fast_bytes());
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_DOUBLE_EQ(report->predicted_time_us, plan->predicted_time_us());
    EXPECT_DOUBLE_EQ(report->kernel_time_us, plan->kernel_time_us());
    EXPECT_DOUBLE_EQ(report->move_time_us, plan->move_time_us());
    EXPECT_EQ(report->peak_fast_bytes, plan->peak_fast_bytes());
    ASSERT_EQ(static_cast<int>(report->fast_bytes_per_kernel.size()),
              graph.num_kernels());
    for (int k = 0; k < graph.num_kernels(); ++k) {
      EXPECT_EQ(report->fast_bytes_per_kernel[k],
                plan->kernels(k).fast_bytes());
    }
    if (plan->peak_fast_bytes() > 0) {
      EXPECT_FALSE(
          VerifyPlan(graph, profile, *plan, plan->peak_fast_bytes() - 1).ok());
    }
  }
}

TEST(VerifyRandomTest, BaselinePlansVerify) {
  std::mt19937_64 rng(42);
  for (int trial = 0; trial < 100; ++trial) {
    SCOPED_TRACE(trial);
    const GraphModel graph = MustGraph(RandomGraph(rng, 12, 10));
    const ProfileModel profile =
        MustProfile(FullTableProfile(graph, [&](int k, ConfigMask mask) {
          return OptaneLikeTimeUs(2, graph.kernel(k).num_inputs, mask);
        }));
    const uint64_t budget = graph.PeakLiveBytes() * (trial % 4 + 1) / 4;
    for (v1::Method method :
         {v1::METHOD_ALL_FAST, v1::METHOD_ALL_SLOW, v1::METHOD_FIRST_TOUCH}) {
      absl::StatusOr<PlanOutcome> outcome =
          RunBaseline(graph, profile, method, budget, /*alignment_bytes=*/1);
      ASSERT_TRUE(outcome.ok()) << outcome.status();
      if (!outcome->plan.has_value()) continue;  // ALL_FAST over budget
      absl::StatusOr<VerifyReport> report =
          VerifyPlan(graph, profile, *outcome->plan, budget);
      ASSERT_TRUE(report.ok())
          << v1::Method_Name(method) << ": " << report.status();
      EXPECT_DOUBLE_EQ(report->predicted_time_us,
                       outcome->plan->predicted_time_us());
    }
  }
}

// Recomputation (v1::Recompute). x -> k0 -> a; k1(a) -> b; k2(b) -> c;
// k3(a, x, c) -> d, 4 MiB each: `a` is idle at k2 and can be dropped after
// k1 and recomputed from x (live to k3 anyway) before k3. With `x_late`
// false, k3 does not read x, so x is dead at k3 and `a` cannot be
// recomputed there.
GraphModel RecomputeGraph(bool x_late = true) {
  constexpr uint64_t kMiB = 1 << 20;
  GraphBuilder builder("recompute");
  builder.Tensor("x", 4 * kMiB, v1::TENSOR_ROLE_INPUT)
      .Tensor("a", 4 * kMiB)
      .Tensor("b", 4 * kMiB)
      .Tensor("c", 4 * kMiB)
      .Tensor("d", 4 * kMiB)
      .Kernel("k0", {"x"}, {"a"})
      .Kernel("k1", {"a"}, {"b"})
      .Kernel("k2", {"b"}, {"c"});
  if (x_late) {
    builder.Kernel("k3", {"a", "x", "c"}, {"d"});
  } else {
    builder.Kernel("k3", {"a", "c"}, {"d"});
  }
  return MustGraph(builder.graph());
}

// 10 us plus 100 us per slow operand.
double RecomputeTimeUs(int, ConfigMask mask) {
  return 10.0 + 100.0 * std::popcount(mask);
}

// Everything fast; `a` dropped after k1 and re-made before k3.
std::vector<TensorSchedule> RecomputeSchedule(const GraphModel& graph) {
  std::vector<TensorSchedule> schedule(graph.num_tensors());
  for (TensorSchedule& entry : schedule) entry.creation_tier = F;
  schedule[graph.FindTensor("a")].recomputes.push_back({1, 3});
  return schedule;
}

TEST(VerifyRecomputeTest, ValidPlanVerifiesWithTheReRunCounted) {
  GraphModel graph = RecomputeGraph();
  ProfileModel profile = MustProfile(FullTableProfile(graph, RecomputeTimeUs));
  absl::StatusOr<v1::Plan> plan =
      AssemblePlan(graph, profile, RecomputeSchedule(graph),
                   v1::METHOD_SYNCHRONOUS, 64 << 20);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->recomputes_size(), 1);
  const v1::Recompute& recompute = plan->recomputes(0);
  EXPECT_EQ(recompute.tensor_id(), "a");
  EXPECT_EQ(recompute.kernel_id(), "k0");
  EXPECT_EQ(recompute.dropped_after_kernel_index(), 1u);
  EXPECT_EQ(recompute.before_kernel_id(), "k3");
  EXPECT_EQ(recompute.config(), "F|F");
  EXPECT_DOUBLE_EQ(recompute.time_us(), 10.0);
  EXPECT_DOUBLE_EQ(plan->recompute_time_us(), 10.0);
  // Four kernels of 10 us and the re-run.
  EXPECT_DOUBLE_EQ(plan->kernel_time_us(), 50.0);
  EXPECT_DOUBLE_EQ(plan->predicted_time_us(), 50.0);
  // `a` is in neither tier at k2: x, b, c there.
  EXPECT_EQ(plan->kernels(2).fast_bytes(), 12u << 20);
  EXPECT_THAT(plan->tensors(1).recompute_indices(), ElementsAre(0u));
  ASSERT_EQ(plan->tensors(1).fast_intervals_size(), 2);
  absl::StatusOr<VerifyReport> report =
      VerifyPlan(graph, profile, *plan, 64 << 20);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_DOUBLE_EQ(report->recompute_time_us, 10.0);
  EXPECT_DOUBLE_EQ(report->predicted_time_us, 50.0);
  EXPECT_EQ(report->fast_bytes_per_kernel[2], 12u << 20);
}

TEST(VerifyRecomputeTest, ReRunReadsItsInputsWhereTheyAre) {
  GraphModel graph = RecomputeGraph();
  ProfileModel profile = MustProfile(FullTableProfile(graph, RecomputeTimeUs));
  std::vector<TensorSchedule> schedule = RecomputeSchedule(graph);
  // x slow from the start: the re-run reads it slow.
  schedule[graph.FindTensor("x")].creation_tier = S;
  absl::StatusOr<v1::Plan> plan =
      AssemblePlan(graph, profile, schedule, v1::METHOD_SYNCHRONOUS, 64 << 20);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->recomputes(0).config(), "S|F");
  EXPECT_DOUBLE_EQ(plan->recomputes(0).time_us(), 110.0);
  EXPECT_TRUE(VerifyPlan(graph, profile, *plan, 64 << 20).ok());
}

// Async plans: x -> k0 -> a; k1(a) -> b; k2(b) -> c; k3(a, c) -> d;
// k4(x, d) -> e. `a` is dropped after k1 and re-made before k3 from x, which
// k3 does not read but which is live there. x starts slow and is read to
// fast by an overlapped (async) copy: at k3 the copy runs while k3 runs,
// after the re-run, which therefore reads x slow; at k2 it lands first.
TEST(VerifyRecomputeTest, ReRunReadsAnInputInFlightAtItsKernelSlow) {
  constexpr uint64_t kMiB = 1 << 20;
  GraphModel graph = MustGraph(AsyncRecomputeGraph());
  ProfileModel profile = MustProfile(FullTableProfile(graph, RecomputeTimeUs));
  std::vector<TensorSchedule> schedule(graph.num_tensors());
  for (TensorSchedule& entry : schedule) entry.creation_tier = F;
  schedule[graph.FindTensor("a")].recomputes.push_back({1, 3});
  schedule[graph.FindTensor("x")].creation_tier = S;
  schedule[graph.FindTensor("x")].moves.push_back({3, kToFast, false});
  absl::StatusOr<v1::Plan> plan =
      AssemblePlan(graph, profile, schedule, v1::METHOD_ASYNCHRONOUS, 64 << 20);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->recomputes_size(), 1);
  EXPECT_EQ(plan->recomputes(0).config(), "S|F");
  EXPECT_DOUBLE_EQ(plan->recomputes(0).time_us(), 110.0);
  // x counts fast at k3 (its copy lands there) beside a, c and d.
  EXPECT_EQ(plan->kernels(3).fast_bytes(), 16 * kMiB);
  EXPECT_TRUE(VerifyPlan(graph, profile, *plan, 64 << 20).ok());

  // Priced as if the copy had landed: refused.
  v1::Plan tampered = *plan;
  tampered.mutable_recomputes(0)->set_config("F|F");
  tampered.mutable_recomputes(0)->set_time_us(10.0);
  tampered.set_recompute_time_us(10.0);
  tampered.set_kernel_time_us(plan->kernel_time_us() - 100.0);
  tampered.set_predicted_time_us(plan->predicted_time_us() - 100.0);
  EXPECT_THAT(VerifyPlan(graph, profile, tampered, 64 << 20).status().message(),
              HasSubstr("does not match its inputs' tiers"));

  // The copy overlapping k2 lands before the re-run: x is read fast.
  schedule[graph.FindTensor("x")].moves[0].kernel = 2;
  plan =
      AssemblePlan(graph, profile, schedule, v1::METHOD_ASYNCHRONOUS, 64 << 20);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->recomputes(0).config(), "F|F");
  EXPECT_DOUBLE_EQ(plan->recomputes(0).time_us(), 10.0);
  EXPECT_TRUE(VerifyPlan(graph, profile, *plan, 64 << 20).ok());
}

TEST(VerifyRecomputeTest, AssemblePlanRefusesImpossibleRecomputations) {
  {
    // x is dead at k3.
    GraphModel graph = RecomputeGraph(/*x_late=*/false);
    ProfileModel profile =
        MustProfile(FullTableProfile(graph, RecomputeTimeUs));
    absl::StatusOr<v1::Plan> plan =
        AssemblePlan(graph, profile, RecomputeSchedule(graph),
                     v1::METHOD_SYNCHRONOUS, 64 << 20);
    EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(plan.status().message(),
                HasSubstr("input 'x' of kernel 'k0' is not present"));
  }
  GraphModel graph = RecomputeGraph();
  ProfileModel profile = MustProfile(FullTableProfile(graph, RecomputeTimeUs));
  std::vector<TensorSchedule> schedule = RecomputeSchedule(graph);
  // Dropped after k0: k1 reads it while dropped.
  schedule[graph.FindTensor("a")].recomputes[0].dropped_after = 0;
  absl::StatusOr<v1::Plan> plan =
      AssemblePlan(graph, profile, schedule, v1::METHOD_SYNCHRONOUS, 64 << 20);
  EXPECT_THAT(plan.status().message(),
              HasSubstr("kernel #1 reads it while it is dropped"));
  // A move while dropped.
  schedule = RecomputeSchedule(graph);
  schedule[graph.FindTensor("a")].moves.push_back({2, kToSlow, true});
  plan =
      AssemblePlan(graph, profile, schedule, v1::METHOD_SYNCHRONOUS, 64 << 20);
  EXPECT_THAT(plan.status().message(), HasSubstr("while dropped"));
  // Nothing between drop and re-run.
  schedule = RecomputeSchedule(graph);
  schedule[graph.FindTensor("a")].recomputes[0] = {2, 3};
  plan =
      AssemblePlan(graph, profile, schedule, v1::METHOD_SYNCHRONOUS, 64 << 20);
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(VerifyRecomputeTest, CorruptedRecomputationsAreCaught) {
  GraphModel graph = RecomputeGraph();
  ProfileModel profile = MustProfile(FullTableProfile(graph, RecomputeTimeUs));
  absl::StatusOr<v1::Plan> valid =
      AssemblePlan(graph, profile, RecomputeSchedule(graph),
                   v1::METHOD_SYNCHRONOUS, 64 << 20);
  ASSERT_TRUE(valid.ok()) << valid.status();
  auto verify = [&](const v1::Plan& plan) {
    return VerifyPlan(graph, profile, plan, 64 << 20).status();
  };
  {
    v1::Plan plan = *valid;
    plan.mutable_recomputes(0)->set_time_us(5);
    EXPECT_THAT(verify(plan).message(), HasSubstr("the profile says 10"));
  }
  {
    v1::Plan plan = *valid;
    plan.mutable_recomputes(0)->set_config("S|F");
    EXPECT_THAT(verify(plan).message(),
                HasSubstr("does not match its inputs' tiers there"));
  }
  {
    v1::Plan plan = *valid;
    plan.set_recompute_time_us(0);
    EXPECT_THAT(verify(plan).message(), HasSubstr("recompute_time_us"));
  }
  {
    // Not the producer.
    v1::Plan plan = *valid;
    plan.mutable_recomputes(0)->set_kernel_index(1);
    plan.mutable_recomputes(0)->set_kernel_id("k1");
    EXPECT_THAT(verify(plan).message(), HasSubstr("is not the producer"));
  }
  {
    // Dropped after k0 with the fast intervals to match: k1 reads it.
    v1::Plan plan = *valid;
    plan.mutable_recomputes(0)->set_dropped_after_kernel_index(0);
    plan.mutable_tensors(1)->mutable_fast_intervals(0)->set_last_kernel(0);
    EXPECT_THAT(verify(plan).message(),
                HasSubstr("is dropped for a recomputation there"));
  }
  {
    // The tensor's placement does not list its recomputation.
    v1::Plan plan = *valid;
    plan.mutable_tensors(1)->clear_recompute_indices();
    EXPECT_THAT(verify(plan).message(), HasSubstr("recompute_indices"));
  }
  {
    // The kernel time without the re-run.
    v1::Plan plan = *valid;
    plan.set_kernel_time_us(40);
    EXPECT_THAT(verify(plan).message(), HasSubstr("kernel_time_us"));
  }
}

}  // namespace
}  // namespace autotm::solver
