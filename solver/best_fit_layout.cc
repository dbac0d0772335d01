#include "solver/best_fit_layout.h"

#include <algorithm>
#include <bit>
#include <climits>
#include <cstdint>
#include <iterator>
#include <utility>
#include <vector>

namespace autotm::solver {
namespace {

// Entries per chunk of the address order before it splits: an insertion
// moves at most this many, a scan stays nearly as fast as over one vector.
constexpr size_t kMaxChunk = 1024;

// The best-fit search over the overlapping blocks of one block, fed in
// address order: the smallest gap between them that holds `size` bytes (the
// lowest offset among equal gaps), else the end of the highest. It sees only
// the union of their ranges: ranges at the same offset may come in any
// order (the first is the only one that can open a gap; the cursor ends at
// the highest end among them), and overlapping or touching ranges leave no
// gap between them, so merged ranges give the same result as the blocks.
class GapSearch {
 public:
  explicit GapSearch(uint64_t size) : size_(size) {}

  void Visit(uint64_t offset, uint64_t other_size) {
    if (offset > cursor_ && offset - cursor_ >= size_ &&
        offset - cursor_ < best_gap_) {
      best_gap_ = offset - cursor_;
      best_offset_ = cursor_;
    }
    cursor_ = std::max(cursor_, offset + other_size);
  }

  // An exact fit: no later gap is smaller, or as small at a lower offset.
  bool Done() const { return best_gap_ == size_; }

  uint64_t Chosen() const {
    return best_gap_ != UINT64_MAX ? best_offset_ : cursor_;
  }

 private:
  uint64_t size_;
  uint64_t cursor_ = 0;
  uint64_t best_offset_ = 0;
  uint64_t best_gap_ = UINT64_MAX;
};

}  // namespace

void BestFitLayout::RangeUnion::Add(uint64_t start, uint64_t end) {
  auto next = ranges_.upper_bound(start);
  if (next != ranges_.begin()) {
    auto previous = std::prev(next);
    if (previous->second >= start) {
      start = previous->first;
      end = std::max(end, previous->second);
      next = ranges_.erase(previous);
    }
  }
  while (next != ranges_.end() && next->first <= end) {
    end = std::max(end, next->second);
    next = ranges_.erase(next);
  }
  ranges_.insert(next, {start, end});
}

void BestFitLayout::AddressOrder::Insert(uint64_t offset, int block) {
  // After every entry at the same offset, as one sorted vector's
  // upper_bound would put it.
  auto chunk = std::partition_point(
      chunks_.begin(), chunks_.end(),
      [&](const auto& c) { return c.back().first <= offset; });
  if (chunk == chunks_.end()) {
    if (chunks_.empty() || chunks_.back().size() >= kMaxChunk) {
      chunks_.emplace_back();
      chunks_.back().reserve(kMaxChunk);
      chunks_.back().push_back({offset, block});
      return;
    }
    chunk = chunks_.end() - 1;
  }
  chunk->insert(std::upper_bound(chunk->begin(), chunk->end(),
                                 std::make_pair(offset, INT_MAX)),
                {offset, block});
  if (chunk->size() > kMaxChunk) {
    std::vector<std::pair<uint64_t, int>> upper(
        chunk->begin() + static_cast<std::ptrdiff_t>(kMaxChunk / 2),
        chunk->end());
    chunk->resize(kMaxChunk / 2);
    chunks_.insert(chunk + 1, std::move(upper));
  }
}

BestFitLayout::BestFitLayout(std::vector<LayoutBlock> blocks)
    : blocks_(std::move(blocks)) {
  for (const LayoutBlock& block : blocks_) {
    num_kernels_ = std::max(num_kernels_, block.last + 1);
  }
  leaves_ = static_cast<int>(
      std::bit_ceil(static_cast<unsigned>(std::max(num_kernels_, 1))));
}

void BestFitLayout::Reset() {
  placed_ = 0;
  live_.resize(2 * static_cast<size_t>(leaves_));
  for (RangeUnion& ranges : live_) ranges.Clear();
  starting_.resize(2 * static_cast<size_t>(leaves_));
  for (RangeUnion& ranges : starting_) ranges.Clear();
  by_address_.Clear();
}

void BestFitLayout::Insert(int index, uint64_t offset) {
  const LayoutBlock& block = blocks_[index];
  const uint64_t end = offset + block.size;
  for (int lo = block.first + leaves_, hi = block.last + leaves_ + 1; lo < hi;
       lo >>= 1, hi >>= 1) {
    if (lo & 1) live_[lo++].Add(offset, end);
    if (hi & 1) live_[--hi].Add(offset, end);
  }
  for (int node = block.first + leaves_; node >= 1; node >>= 1) {
    starting_[node].Add(offset, end);
  }
  by_address_.Insert(offset, index);
  ++placed_;
}

template <typename Visit>
void BestFitLayout::ForEachOverlapUnion(const LayoutBlock& block,
                                        Visit&& visit) const {
  // Live at block.first, or starting in (block.first, block.last]: every
  // overlapping block exactly once, as the two sets are disjoint.
  for (int node = block.first + leaves_; node >= 1; node >>= 1) {
    visit(live_[node]);
  }
  for (int lo = block.first + 1 + leaves_, hi = block.last + leaves_ + 1;
       lo < hi; lo >>= 1, hi >>= 1) {
    if (lo & 1) visit(starting_[lo++]);
    if (hi & 1) visit(starting_[--hi]);
  }
}

uint64_t BestFitLayout::Place(const LayoutBlock& block) {
  GapSearch search(block.size);
  int64_t ranges = 0;
  cursors_.clear();
  ForEachOverlapUnion(block, [&](const RangeUnion& union_of) {
    if (union_of.size() == 0) return;
    ranges += static_cast<int64_t>(union_of.size());
    cursors_.push_back({union_of.begin(), union_of.end()});
  });
  // Merging r ranges from u unions costs about r log u steps, scanning
  // every placed block one step each.
  const int64_t merge_steps = ranges * (std::bit_width(cursors_.size()) + 1);
  if (merge_steps < placed_) {
    // The unions merged in address order, smallest start first.
    auto later = [](const auto& a, const auto& b) {
      return a.first->first > b.first->first;
    };
    std::make_heap(cursors_.begin(), cursors_.end(), later);
    work_ += static_cast<int64_t>(cursors_.size());
    while (!cursors_.empty() && !search.Done()) {
      std::pop_heap(cursors_.begin(), cursors_.end(), later);
      auto& [next, end] = cursors_.back();
      search.Visit(next->first, next->second - next->first);
      ++work_;
      if (++next == end) {
        cursors_.pop_back();
      } else {
        std::push_heap(cursors_.begin(), cursors_.end(), later);
      }
    }
  } else {
    work_ += placed_;
    by_address_.ForEach([&](uint64_t offset, int other) {
      const LayoutBlock& b = blocks_[other];
      if (b.first > block.last || block.first > b.last) return;
      search.Visit(offset, b.size);
    });
  }
  return search.Chosen();
}

uint64_t BestFitLayout::LayOut(const std::vector<int>& order,
                               std::vector<uint64_t>& offsets) {
  Reset();
  offsets.assign(blocks_.size(), 0);
  uint64_t required = 0;
  for (int index : order) {
    const LayoutBlock& block = blocks_[index];
    const uint64_t chosen = Place(block);
    ++work_;
    offsets[index] = chosen;
    required = std::max(required, chosen + block.size);
    Insert(index, chosen);
  }
  return required;
}

}  // namespace autotm::solver
