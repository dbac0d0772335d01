// The best-fit offline layout of blocks with lifetimes (kernels) in a pool:
// the placement step of AssignOffsets (solver/allocator.h), apart so that it
// can be tested against a reference on random block sets.
#ifndef AUTOTM_SOLVER_BEST_FIT_LAYOUT_H_
#define AUTOTM_SOLVER_BEST_FIT_LAYOUT_H_

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/container/btree_map.h"

namespace autotm::solver {

// A block of the pool, live over kernels [first, last] (0 <= first <= last).
struct LayoutBlock {
  int first = 0;
  int last = 0;
  uint64_t size = 0;
};

// Lays blocks out one by one in a given order: each goes to the smallest gap
// left by the already placed blocks whose lifetimes overlap its own (a gap
// that holds it; the lowest offset among equal gaps), or above all of them.
//
// Cost: the gaps depend only on the union of the address ranges of the
// overlapping blocks, so the placed blocks are kept as unions in two
// segment trees over kernels: by the nodes their lifetimes cover (the blocks
// live at a kernel: a path to the root) and by their first kernel (the
// blocks that start in a range: O(log kernels) nodes). A block's gaps come
// from the O(log kernels) unions that together hold its overlapping blocks,
// merged address ranges rather than blocks: a weight live from the first
// kernel to the last is one range in a few unions, not one entry visited by
// every later block. When those unions hold more ranges than there are
// placed blocks (dense lifetimes, as in training graphs where activations
// live from the forward pass to the backward), every placed block is
// scanned in address order instead, as a plain best fit would: no layout
// costs more than that quadratic scan. Both ways see the same free gaps, so
// the offsets do not depend on which is taken.
//
// Sweep orders: when `order` lists the blocks by first kernel (ascending,
// ties in any order), the placed blocks that overlap a block are exactly
// those still live at its first kernel, as in an online allocator; when it
// lists them by last kernel (descending), those live at its last kernel. A
// sweep over the kernels then keeps the free gaps of the live blocks, by
// size, and each block takes the smallest in O(log blocks): the same gaps,
// hence the same offsets, as either way above, at O(B log B) for the
// layout whatever the lifetimes (the earliest-first order of AssignOffsets
// is one; issue 19's 200,080-kernel plans, 4.4 G overlapping pairs, lay
// out in 0.13-0.29 s this way).
class BestFitLayout {
 public:
  explicit BestFitLayout(std::vector<LayoutBlock> blocks);

  // Places blocks[order[0]], blocks[order[1]], ... (`order` lists every
  // block once; blocks not listed are not placed) and writes their offsets
  // to `offsets` (resized to the number of blocks). Returns the pool bytes
  // the layout needs: max over placed blocks of offset + size.
  uint64_t LayOut(const std::vector<int>& order,
                  std::vector<uint64_t>& offsets);

  const std::vector<LayoutBlock>& blocks() const { return blocks_; }

  // Whether LayOut(order, ...) takes the O(B log B) sweep: `order` lists
  // the blocks by first kernel ascending, or by last kernel descending.
  bool IsSweepOrder(const std::vector<int>& order) const {
    return SweepDirection(order) != 0;
  }
  // 1 when `order` is by first kernel ascending, -1 when by last kernel
  // descending (and not the former), else 0.
  int SweepDirection(const std::vector<int>& order) const;
  // The work of every LayOut call so far, in steps: one per block placed
  // plus one per range or placed block its gap search visited (a sweep
  // layout's search is logarithmic and counts nothing more). A measure of
  // the time the layouts took that does not depend on the clock (or the
  // load of the machine), so that callers can bound repeated layouts by it
  // and get the same layouts on a busy machine as on an idle one.
  int64_t work() const { return work_; }

 private:
  // A union of address ranges [start, end) as disjoint ranges by start;
  // ranges that touch are merged, an empty range (a block of size 0) stays
  // a point unless a range holds it.
  class RangeUnion {
   public:
    void Clear() { ranges_.clear(); }
    void Add(uint64_t start, uint64_t end);
    size_t size() const { return ranges_.size(); }
    using Iterator = absl::btree_map<uint64_t, uint64_t>::const_iterator;
    Iterator begin() const { return ranges_.begin(); }
    Iterator end() const { return ranges_.end(); }

   private:
    absl::btree_map<uint64_t, uint64_t> ranges_;
  };

  // The placed blocks as (offset, block), sorted by offset, in chunks so
  // that an insertion moves at most a chunk.
  class AddressOrder {
   public:
    void Clear() { chunks_.clear(); }
    void Insert(uint64_t offset, int block);
    template <typename Visit>
    void ForEach(Visit&& visit) const {
      for (const auto& chunk : chunks_) {
        for (const auto& [offset, block] : chunk) visit(offset, block);
      }
    }

   private:
    std::vector<std::vector<std::pair<uint64_t, int>>> chunks_;
  };

  void Reset();
  void Insert(int block, uint64_t offset);
  // Calls visit(node) for the nodes of the two trees whose unions together
  // hold the placed blocks that overlap `block`'s lifetime.
  template <typename Visit>
  void ForEachOverlapUnion(const LayoutBlock& block, Visit&& visit) const;
  // The offset the best fit gives `block`.
  uint64_t Place(const LayoutBlock& block);
  // LayOut for a sweep order: `forward` when `order` is by first kernel
  // ascending, else by last kernel descending.
  uint64_t SweepLayOut(const std::vector<int>& order, bool forward,
                       std::vector<uint64_t>& offsets) const;

  std::vector<LayoutBlock> blocks_;
  int num_kernels_ = 0;
  int leaves_ = 1;  // a power of two >= num_kernels_
  int64_t placed_ = 0;
  int64_t work_ = 0;
  // Segment trees over kernels (node 1 the root, leaf k at leaves_ + k).
  // live_: a placed block's range sits in the nodes that cover its lifetime
  // exactly, so the blocks live at kernel k are on the path from leaf k to
  // the root. starting_: in leaf `first` and every node above it.
  std::vector<RangeUnion> live_;
  std::vector<RangeUnion> starting_;
  AddressOrder by_address_;
  // Scratch of Place: the unions being merged, as (next, end) cursors.
  std::vector<std::pair<RangeUnion::Iterator, RangeUnion::Iterator>> cursors_;
};

}  // namespace autotm::solver

#endif  // AUTOTM_SOLVER_BEST_FIT_LAYOUT_H_
