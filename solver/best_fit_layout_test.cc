// BestFitLayout against the quadratic best fit it replaced (kept here as the
// reference): the same offsets on random block sets, dense (every block
// overlaps most others: the address-order scan) and chained (each block
// overlaps a few neighbours: the sorted overlap sets), and mixtures.
#include "solver/best_fit_layout.h"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace autotm::solver {
namespace {

using ::testing::ElementsAre;

// The layout before issue 19, verbatim but for the block type: the placed
// blocks sorted by offset, one scan over all of them per block, O(B^2).
uint64_t ReferenceLayOut(const std::vector<LayoutBlock>& blocks,
                         const std::vector<int>& order,
                         std::vector<uint64_t>& offsets) {
  std::vector<std::pair<uint64_t, int>> placed;
  offsets.assign(blocks.size(), 0);
  uint64_t required = 0;
  for (int index : order) {
    const LayoutBlock& block = blocks[index];
    uint64_t cursor = 0;
    uint64_t best_offset = 0;
    uint64_t best_gap = UINT64_MAX;
    for (const auto& [offset, other] : placed) {
      const LayoutBlock& b = blocks[other];
      if (b.first > block.last || block.first > b.last) continue;
      if (offset > cursor && offset - cursor >= block.size &&
          offset - cursor < best_gap) {
        best_gap = offset - cursor;
        best_offset = cursor;
      }
      cursor = std::max(cursor, offset + b.size);
    }
    const uint64_t chosen = best_gap != UINT64_MAX ? best_offset : cursor;
    offsets[index] = chosen;
    required = std::max(required, chosen + block.size);
    placed.insert(std::upper_bound(placed.begin(), placed.end(),
                                   std::make_pair(chosen, INT_MAX)),
                  {chosen, index});
  }
  return required;
}

struct Shape {
  int num_blocks;
  int num_kernels;
  int max_life;        // lifetimes drawn from [1, max_life] kernels
  int long_one_in;     // and one in this many lives from kernel 0 on
  uint64_t max_units;  // sizes: multiples of 64 bytes, up to this many
  int zero_one_in;     // one in this many has size 0 (0: none)
};

std::vector<LayoutBlock> RandomBlocks(const Shape& shape,
                                      std::mt19937_64& rng) {
  std::vector<LayoutBlock> blocks;
  for (int i = 0; i < shape.num_blocks; ++i) {
    const int first =
        std::uniform_int_distribution<int>(0, shape.num_kernels - 1)(rng);
    const int life = std::uniform_int_distribution<int>(1, shape.max_life)(rng);
    LayoutBlock block;
    block.first = first;
    block.last = std::min(shape.num_kernels - 1, first + life - 1);
    if (std::uniform_int_distribution<int>(1, shape.long_one_in)(rng) == 1) {
      block.first = 0;
    }
    // Few distinct sizes, so that equal gaps and equal offsets are common.
    block.size =
        64 * std::uniform_int_distribution<uint64_t>(1, shape.max_units)(rng);
    if (shape.zero_one_in > 0 &&
        std::uniform_int_distribution<int>(1, shape.zero_one_in)(rng) == 1) {
      block.size = 0;
    }
    blocks.push_back(block);
  }
  return blocks;
}

// The orders AssignOffsets tries: largest first, earliest first, and random;
// and the sweep orders with their ties in random order: by first kernel
// ascending and by last kernel descending.
std::vector<std::vector<int>> Orders(const std::vector<LayoutBlock>& blocks,
                                     std::mt19937_64& rng) {
  std::vector<int> identity(blocks.size());
  for (size_t i = 0; i < blocks.size(); ++i) identity[i] = static_cast<int>(i);
  std::vector<int> largest = identity;
  std::stable_sort(largest.begin(), largest.end(), [&](int a, int b) {
    return blocks[a].size > blocks[b].size;
  });
  std::vector<int> earliest = identity;
  std::stable_sort(earliest.begin(), earliest.end(), [&](int a, int b) {
    return blocks[a].first < blocks[b].first;
  });
  std::vector<int> shuffled = identity;
  std::shuffle(shuffled.begin(), shuffled.end(), rng);
  std::vector<int> earliest_ties_shuffled = shuffled;
  std::stable_sort(
      earliest_ties_shuffled.begin(), earliest_ties_shuffled.end(),
      [&](int a, int b) { return blocks[a].first < blocks[b].first; });
  std::vector<int> latest_ties_shuffled = shuffled;
  std::stable_sort(
      latest_ties_shuffled.begin(), latest_ties_shuffled.end(),
      [&](int a, int b) { return blocks[a].last > blocks[b].last; });
  return {largest, earliest, shuffled, earliest_ties_shuffled,
          latest_ties_shuffled};
}

void ExpectSameAsReference(const Shape& shape, int seeds) {
  for (int seed = 0; seed < seeds; ++seed) {
    std::mt19937_64 rng(seed);
    const std::vector<LayoutBlock> blocks = RandomBlocks(shape, rng);
    BestFitLayout layout(blocks);
    for (const std::vector<int>& order : Orders(blocks, rng)) {
      std::vector<uint64_t> expected;
      std::vector<uint64_t> actual;
      const uint64_t expected_required =
          ReferenceLayOut(blocks, order, expected);
      // Twice on one layout object: a second layout starts afresh.
      for (int repeat = 0; repeat < 2; ++repeat) {
        ASSERT_EQ(layout.LayOut(order, actual), expected_required)
            << "seed " << seed;
        ASSERT_EQ(actual, expected) << "seed " << seed;
      }
    }
  }
}

TEST(BestFitLayoutTest, MatchesReferenceOnDenseBlocks) {
  ExpectSameAsReference({.num_blocks = 400,
                         .num_kernels = 60,
                         .max_life = 60,
                         .long_one_in = 4,
                         .max_units = 8,
                         .zero_one_in = 0},
                        20);
}

TEST(BestFitLayoutTest, MatchesReferenceOnChainedBlocks) {
  ExpectSameAsReference({.num_blocks = 3000,
                         .num_kernels = 5000,
                         .max_life = 12,
                         .long_one_in = 1000,
                         .max_units = 16,
                         .zero_one_in = 50},
                        10);
}

TEST(BestFitLayoutTest, MatchesReferenceOnMixedLifetimes) {
  ExpectSameAsReference({.num_blocks = 2000,
                         .num_kernels = 700,
                         .max_life = 200,
                         .long_one_in = 30,
                         .max_units = 4,
                         .zero_one_in = 20},
                        10);
}

// Issue 19's shape: many blocks live from kernel 0 on (weights fast until
// their use), the rest short, so a block's overlapping set is large and
// fragmented in address space; few sizes and zero-byte blocks for ties.
TEST(BestFitLayoutTest, MatchesReferenceOnLongLivedBlocksFromKernelZero) {
  ExpectSameAsReference({.num_blocks = 2500,
                         .num_kernels = 3000,
                         .max_life = 40,
                         .long_one_in = 5,
                         .max_units = 6,
                         .zero_one_in = 25},
                        6);
}

TEST(BestFitLayoutTest, SweepOrdersAreRecognised) {
  // Lifetimes [0,4], [1,2], [1,5], [3,3].
  BestFitLayout layout({{0, 4, 8}, {1, 2, 8}, {1, 5, 8}, {3, 3, 8}});
  EXPECT_TRUE(layout.IsSweepOrder({0, 1, 2, 3}));  // by first
  EXPECT_TRUE(layout.IsSweepOrder({0, 2, 1, 3}));  // by first, ties swapped
  EXPECT_TRUE(layout.IsSweepOrder({2, 0, 3, 1}));  // by last descending
  EXPECT_FALSE(layout.IsSweepOrder({1, 0, 2, 3}));
  EXPECT_FALSE(layout.IsSweepOrder({3, 2, 1, 0}));
}

// A zero-byte block left at the end of blocks that then die splits the gap
// it sits in, in the sweep as in the scan. At kernel 0: A [0,2), the point
// P at 2, D [2,4), C [4,5). At kernel 1 only P and C are live: B (3 bytes)
// would fit [0,4) but for P, and goes above C.
TEST(BestFitLayoutTest, ZeroByteBlocksSplitGapsInTheSweep) {
  const std::vector<LayoutBlock> blocks = {
      {0, 0, 2}, {0, 2, 0}, {0, 0, 2}, {0, 2, 1}, {1, 2, 3}};
  BestFitLayout layout(blocks);
  std::vector<uint64_t> offsets;
  const std::vector<int> order = {0, 1, 2, 3, 4};
  ASSERT_TRUE(layout.IsSweepOrder(order));
  EXPECT_EQ(layout.LayOut(order, offsets), 8u);
  EXPECT_THAT(offsets, ElementsAre(0, 2, 2, 4, 5));
  std::vector<uint64_t> expected;
  EXPECT_EQ(ReferenceLayOut(blocks, order, expected), 8u);
  EXPECT_EQ(offsets, expected);
}

TEST(BestFitLayoutTest, TakesTheSmallestGapThatHoldsTheBlock) {
  // At kernel 0: A [0,2), B [2,5), C [5,6), D [6,8). At kernel 2 only B and
  // D are live, leaving gaps [0,2) and [5,6): E (1 byte) takes the smaller,
  // F (2 bytes, kernels 1-2) the one that holds it, and G (kernel 2) finds
  // no gap left and goes above D.
  const std::vector<LayoutBlock> blocks = {
      {0, 0, 2}, {0, 2, 3}, {0, 0, 1}, {0, 2, 2},
      {2, 2, 1}, {1, 2, 2}, {2, 2, 2},
  };
  BestFitLayout layout(blocks);
  std::vector<uint64_t> offsets;
  EXPECT_EQ(layout.LayOut({0, 1, 2, 3, 4, 5, 6}, offsets), 10u);
  EXPECT_THAT(offsets, ElementsAre(0, 2, 5, 6, 5, 0, 8));
}

TEST(BestFitLayoutTest, EmptyOrderPlacesNothing) {
  BestFitLayout layout({{0, 3, 8}});
  std::vector<uint64_t> offsets;
  EXPECT_EQ(layout.LayOut({}, offsets), 0u);
  EXPECT_THAT(offsets, ElementsAre(0));
}

}  // namespace
}  // namespace autotm::solver
