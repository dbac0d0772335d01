#include "solver/two_level_memory.h"

#include <cstdint>
#include <optional>
#include <random>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "autotm/v1/plan.pb.h"
#include "gtest/gtest.h"
#include "solver/baselines.h"
#include "solver/planner.h"
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

constexpr uint64_t kMiB = uint64_t{1} << 20;

// The simulation's specification, written the slow and obvious way: one
// array entry per cache set, one step per line, a first-fit allocator that
// scans the gaps between live blocks, and every configuration's weight
// computed from scratch.
struct Reference {
  double time_us = 0;
  uint64_t hit_bytes = 0;
  uint64_t miss_bytes = 0;
  uint64_t writeback_bytes = 0;
  uint64_t address_space_bytes = 0;
};

Reference Simulate(const GraphModel& graph, const ProfileModel& profile,
                   uint64_t cache_bytes, uint64_t line) {
  const uint64_t sets = cache_bytes / line;
  std::vector<int64_t> tag(sets, -1);
  std::vector<bool> dirty(sets, false);
  const uint64_t alignment = std::max<uint64_t>(4096, line);
  auto aligned = [&](uint64_t bytes) {
    return (bytes + alignment - 1) / alignment * alignment;
  };
  std::vector<std::optional<uint64_t>> address(graph.num_tensors());
  Reference out;
  auto allocate = [&](int t) {
    const uint64_t size = aligned(graph.tensor(t).size_bytes);
    uint64_t candidate = 0;
    bool moved = true;
    while (moved) {  // the lowest address that overlaps no live block
      moved = false;
      for (int u = 0; u < graph.num_tensors(); ++u) {
        if (!address[u].has_value()) continue;
        const uint64_t begin = *address[u];
        const uint64_t end = begin + aligned(graph.tensor(u).size_bytes);
        if (candidate < end && begin < candidate + size) {
          candidate = end;
          moved = true;
        }
      }
    }
    address[t] = candidate;
    out.address_space_bytes =
        std::max(out.address_space_bytes, candidate + size);
  };
  for (int t = 0; t < graph.num_tensors(); ++t) {
    if (graph.tensor(t).producer < 0) allocate(t);
  }
  // Lines of tensor t that hit, for one sweep.
  auto sweep = [&](int t, bool write, uint64_t& writebacks) {
    const uint64_t first = *address[t] / line;
    const uint64_t lines = (graph.tensor(t).size_bytes + line - 1) / line;
    uint64_t hits = 0;
    for (uint64_t l = first; l < first + lines; ++l) {
      const uint64_t set = l % sets;
      if (tag[set] == static_cast<int64_t>(l)) {
        ++hits;
        if (write) dirty[set] = true;
        continue;
      }
      if (tag[set] >= 0 && dirty[set]) ++writebacks;
      tag[set] = static_cast<int64_t>(l);
      dirty[set] = write;
    }
    out.hit_bytes += hits * line;
    out.miss_bytes += (lines - hits) * line;
    return static_cast<double>(hits) / static_cast<double>(lines);
  };
  for (int k = 0; k < graph.num_kernels(); ++k) {
    const KernelInfo& kernel = graph.kernel(k);
    const int n = static_cast<int>(kernel.operands.size());
    for (int p = kernel.num_inputs; p < n; ++p) {
      const int t = kernel.operands[p];
      if (graph.tensor(t).producer == k && !address[t].has_value()) {
        allocate(t);
      }
    }
    auto in_positions = [&](int t, bool outputs) {
      for (int p = outputs ? kernel.num_inputs : 0;
           p < (outputs ? n : kernel.num_inputs); ++p) {
        if (kernel.operands[p] == t) return true;
      }
      return false;
    };
    std::vector<double> read_fast(graph.num_tensors(), 0);
    std::vector<double> write_fast(graph.num_tensors(), 0);
    uint64_t writebacks = 0;
    for (int t : kernel.distinct_operands) {
      if (in_positions(t, false)) read_fast[t] = sweep(t, false, writebacks);
    }
    for (int t : kernel.distinct_operands) {
      if (in_positions(t, true)) write_fast[t] = sweep(t, true, writebacks);
    }
    const KernelCost& cost = *profile.Find(kernel.signature_key);
    double weighted = 0;
    double weights = 0;
    for (ConfigMask mask = 0; mask < (ConfigMask{1} << n); ++mask) {
      const std::optional<double> time = cost.TimeUs(mask);
      if (!time.has_value()) continue;
      double weight = 1;
      for (int p = 0; p < n; ++p) {
        const int t = kernel.operands[p];
        const double fast =
            p < kernel.num_inputs ? read_fast[t] : write_fast[t];
        weight *= (mask >> p) & 1 ? 1 - fast : fast;
      }
      weighted += weight * *time;
      weights += weight;
    }
    out.time_us += weighted / weights + profile.SyncToSlowUs(writebacks * line);
    out.writeback_bytes += writebacks * line;
    for (int t = 0; t < graph.num_tensors(); ++t) {
      if (graph.tensor(t).last_live == k) address[t].reset();
    }
  }
  return out;
}

ProfileModel OptaneLikeProfile(const GraphModel& graph) {
  return MustProfile(FullTableProfile(graph, [&](int k, ConfigMask mask) {
    return OptaneLikeTimeUs(50.0 + 7.0 * k, graph.kernel(k).num_inputs, mask);
  }));
}

TEST(TwoLevelMemoryTest, MatchesALineByLineSimulationOnRandomGraphs) {
  std::mt19937_64 rng(2020);
  const uint64_t lines[] = {64, 4096, 1 << 16};
  for (int trial = 0; trial < 60; ++trial) {
    const GraphModel graph = MustGraph(RandomGraph(rng, 9, 8));
    const ProfileModel profile = OptaneLikeProfile(graph);
    const uint64_t line = lines[trial % 3];
    // From a few lines to more than the whole address space, not always a
    // multiple of the line.
    const uint64_t cache_bytes =
        std::max<uint64_t>(line, rng() % (48 * kMiB) + rng() % line);
    TwoLevelMemoryOptions options;
    options.cache_bytes = cache_bytes;
    options.line_bytes = line;
    absl::StatusOr<TwoLevelMemoryResult> result =
        SimulateTwoLevelMemory(graph, profile, options);
    ASSERT_TRUE(result.ok()) << result.status();
    const Reference expected = Simulate(graph, profile, cache_bytes, line);
    SCOPED_TRACE(absl::StrCat("trial ", trial, ", line ", line, ", cache ",
                              cache_bytes));
    EXPECT_EQ(result->hit_bytes, expected.hit_bytes);
    EXPECT_EQ(result->miss_bytes, expected.miss_bytes);
    EXPECT_EQ(result->writeback_bytes, expected.writeback_bytes);
    EXPECT_EQ(result->address_space_bytes, expected.address_space_bytes);
    EXPECT_NEAR(result->time_us, expected.time_us, 1e-9 * expected.time_us);
  }
}

TEST(TwoLevelMemoryTest, ACacheAsLargeAsEverythingOnlyMissesFirstTouches) {
  // w is read by both kernels: its first read misses, its second hits; a's
  // write misses (a new line), its read hits; nothing is ever evicted.
  const GraphModel graph =
      MustGraph(GraphBuilder("two")
                    .Tensor("w", 4 * kMiB, v1::TENSOR_ROLE_WEIGHT)
                    .Tensor("a", 2 * kMiB)
                    .Tensor("b", 2 * kMiB)
                    .Kernel("k0", {"w"}, {"a"})
                    .Kernel("k1", {"w", "a"}, {"b"})
                    .graph());
  const ProfileModel profile = OptaneLikeProfile(graph);
  TwoLevelMemoryOptions options;
  options.cache_bytes = 64 * kMiB;
  options.line_bytes = 4096;
  absl::StatusOr<TwoLevelMemoryResult> result =
      SimulateTwoLevelMemory(graph, profile, options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->writeback_bytes, 0u);
  EXPECT_EQ(result->miss_bytes, 8 * kMiB);  // w, a, b once each
  EXPECT_EQ(result->hit_bytes, 6 * kMiB);   // w and a again
  // k1 runs with its inputs fast and its output slow: exactly that
  // configuration's time, since every line of each operand agrees.
  const KernelCost& k1 = *profile.Find(graph.kernel(1).signature_key);
  EXPECT_DOUBLE_EQ(result->kernel_time_us[1], *k1.TimeUs(ConfigMask{0b100}));
}

TEST(TwoLevelMemoryTest, ConflictingTensorsWriteBackDirtyLines) {
  // A one-line cache (4 KiB) and two 4 KiB tensors: every sweep evicts the
  // other, and a written line goes back to the slow tier when evicted.
  const GraphModel graph =
      MustGraph(GraphBuilder("conflict")
                    .Tensor("x", 4096, v1::TENSOR_ROLE_INPUT)
                    .Tensor("y", 4096)
                    .Tensor("z", 4096)
                    .Kernel("k0", {"x"}, {"y"})
                    .Kernel("k1", {"y"}, {"z"})
                    .graph());
  const ProfileModel profile = OptaneLikeProfile(graph);
  TwoLevelMemoryOptions options;
  options.cache_bytes = 4096;
  options.line_bytes = 4096;
  absl::StatusOr<TwoLevelMemoryResult> result =
      SimulateTwoLevelMemory(graph, profile, options);
  ASSERT_TRUE(result.ok()) << result.status();
  // k0: x misses, y (written) misses; k1: y hits, z misses and evicts dirty y.
  EXPECT_EQ(result->hit_bytes, 4096u);
  EXPECT_EQ(result->miss_bytes, 3 * 4096u);
  EXPECT_EQ(result->writeback_bytes, 4096u);
  EXPECT_DOUBLE_EQ(result->writeback_time_us, profile.SyncToSlowUs(4096));
}

TEST(TwoLevelMemoryTest, RefusesWhatItCannotSimulate) {
  const GraphModel graph =
      MustGraph(GraphBuilder("g")
                    .Tensor("x", kMiB, v1::TENSOR_ROLE_INPUT)
                    .Tensor("y", kMiB)
                    .Kernel("k", {"x"}, {"y"})
                    .graph());
  const ProfileModel profile = OptaneLikeProfile(graph);
  for (uint64_t line :
       {uint64_t{0}, uint64_t{32}, uint64_t{100}, uint64_t{1} << 31}) {
    TwoLevelMemoryOptions options;
    options.cache_bytes = 64 * kMiB;
    options.line_bytes = line;
    EXPECT_EQ(SimulateTwoLevelMemory(graph, profile, options).status().code(),
              absl::StatusCode::kInvalidArgument)
        << line;
  }
  TwoLevelMemoryOptions tiny;
  tiny.cache_bytes = 32;
  EXPECT_EQ(SimulateTwoLevelMemory(graph, profile, tiny).status().code(),
            absl::StatusCode::kInvalidArgument);

  v1::Graph pinned_graph = GraphBuilder("pinned")
                               .Tensor("x", kMiB, v1::TENSOR_ROLE_INPUT)
                               .Tensor("y", kMiB)
                               .Kernel("k", {"x"}, {"y"})
                               .graph();
  pinned_graph.mutable_tensors(0)->set_fixed_tier(v1::TIER_FAST);
  const GraphModel pinned = MustGraph(pinned_graph);
  TwoLevelMemoryOptions options;
  options.cache_bytes = 64 * kMiB;
  absl::Status status =
      SimulateTwoLevelMemory(pinned, OptaneLikeProfile(pinned), options)
          .status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("tensor x"), absl::string_view::npos);
}

TEST(TwoLevelMemoryTest, ThePlanVerifiesAndATamperedOneDoesNot) {
  std::mt19937_64 rng(7);
  const GraphModel graph = MustGraph(RandomGraph(rng, 9, 8));
  const ProfileModel profile = OptaneLikeProfile(graph);
  PlanOptions options;
  options.method = v1::METHOD_TWO_LEVEL_MEMORY;
  options.budget_bytes = graph.PeakLiveBytes() / 4;
  options.cache_line_bytes = 4096;
  absl::StatusOr<PlanOutcome> outcome =
      PlanGraph(graph, profile, options, /*solver=*/nullptr);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  ASSERT_TRUE(outcome->plan.has_value());
  const v1::Plan& plan = *outcome->plan;
  EXPECT_EQ(plan.method(), v1::METHOD_TWO_LEVEL_MEMORY);
  EXPECT_EQ(plan.moves_size(), 0);
  EXPECT_EQ(plan.peak_fast_bytes(), 0u);
  EXPECT_EQ(plan.two_level_memory().line_bytes(), 4096u);
  EXPECT_EQ(outcome->stats.termination(), v1::TERMINATION_HEURISTIC);
  absl::StatusOr<VerifyReport> report =
      VerifyPlan(graph, profile, plan, options.budget_bytes,
                 /*require_offsets=*/true);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_DOUBLE_EQ(report->predicted_time_us, plan.predicted_time_us());
  // Between everything fast and everything slow (plus write-backs).
  absl::StatusOr<PlanOutcome> all_fast = RunBaseline(
      graph, profile, v1::METHOD_ALL_FAST, graph.PeakLiveBytes() * 2);
  ASSERT_TRUE(all_fast.ok() && all_fast->plan.has_value());
  EXPECT_GE(plan.predicted_time_us(), all_fast->plan->predicted_time_us());

  v1::Plan faster = plan;
  faster.mutable_kernels(0)->set_time_us(plan.kernels(0).time_us() / 2);
  EXPECT_EQ(
      VerifyPlan(graph, profile, faster, options.budget_bytes).status().code(),
      absl::StatusCode::kInvalidArgument);
  v1::Plan more_hits = plan;
  more_hits.mutable_two_level_memory()->set_hit_bytes(
      plan.two_level_memory().hit_bytes() + 4096);
  EXPECT_FALSE(
      VerifyPlan(graph, profile, more_hits, options.budget_bytes).ok());
  v1::Plan moved = plan;
  moved.mutable_two_level_memory()->set_line_bytes(100);
  EXPECT_FALSE(VerifyPlan(graph, profile, moved, options.budget_bytes).ok());
}

}  // namespace
}  // namespace autotm::solver
