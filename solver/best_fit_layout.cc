#include "solver/best_fit_layout.h"

#include <algorithm>
#include <bit>
#include <climits>
#include <cstdint>
#include <functional>
#include <iterator>
#include <queue>
#include <utility>
#include <vector>

#include "absl/container/btree_set.h"

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

// The blocks live at the current kernel of a sweep, as address ranges
// [start, end) (a point where end == start: a block of 0 bytes), and the
// free gaps between them by size. Live blocks never overlap (each went into
// a gap of those live when it was placed, and a point never lands inside a
// range), so in (start, end) order the ends do not decrease: a range's gap
// below it runs from the end of the one before it (or 0), exactly as
// GapSearch's cursor, and the highest end is the last range's.
class LiveGaps {
 public:
  // GapSearch's choice over the live blocks: the smallest gap that holds
  // `size` bytes (the lowest offset among equal gaps; every gap is at least
  // 1 byte, as GapSearch's), else the highest end (0 when none is live).
  uint64_t BestFit(uint64_t size) const {
    auto gap = by_size_.lower_bound({size, 0});
    if (gap != by_size_.end()) return gap->second;
    return live_.empty() ? 0 : std::prev(live_.end())->second;
  }

  void Insert(uint64_t start, uint64_t end) {
    auto it = live_.insert({start, end});
    const Range* below = it == live_.begin() ? nullptr : &*std::prev(it);
    auto next = std::next(it);
    const Range* above = next == live_.end() ? nullptr : &*next;
    // Everything read before the gap index changes; live_ does not change
    // below, so the pointers stay valid.
    if (above != nullptr) RemoveGap(below, *above);
    AddGap(below, *it);
    if (above != nullptr) AddGap(&*it, *above);
  }

  void Erase(uint64_t start, uint64_t end) {
    auto it = live_.find({start, end});
    const Range* below = it == live_.begin() ? nullptr : &*std::prev(it);
    auto next = std::next(it);
    const Range* above = next == live_.end() ? nullptr : &*next;
    RemoveGap(below, *it);
    if (above != nullptr) {
      RemoveGap(&*it, *above);
      AddGap(below, *above);
    }
    live_.erase(it);
  }

 private:
  using Range = std::pair<uint64_t, uint64_t>;
  // The gap between `below` (nullptr: address 0) and `above`, if any, as
  // (size, start).
  static bool GapBetween(const Range* below, const Range& above,
                         std::pair<uint64_t, uint64_t>& gap) {
    const uint64_t from = below == nullptr ? 0 : below->second;
    if (above.first <= from) return false;
    gap = {above.first - from, from};
    return true;
  }
  void AddGap(const Range* below, const Range& above) {
    std::pair<uint64_t, uint64_t> gap;
    if (GapBetween(below, above, gap)) by_size_.insert(gap);
  }
  void RemoveGap(const Range* below, const Range& above) {
    std::pair<uint64_t, uint64_t> gap;
    if (GapBetween(below, above, gap)) by_size_.erase(gap);
  }

  absl::btree_multiset<Range> live_;
  // Gaps as (size, start): the first at or above (size, 0) is best fit's.
  absl::btree_set<std::pair<uint64_t, uint64_t>> by_size_;
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

int BestFitLayout::SweepDirection(const std::vector<int>& order) const {
  if (std::is_sorted(order.begin(), order.end(), [&](int a, int b) {
        return blocks_[a].first < blocks_[b].first;
      })) {
    return 1;
  }
  if (std::is_sorted(order.begin(), order.end(), [&](int a, int b) {
        return blocks_[a].last > blocks_[b].last;
      })) {
    return -1;
  }
  return 0;
}

uint64_t BestFitLayout::SweepLayOut(const std::vector<int>& order, bool forward,
                                    std::vector<uint64_t>& offsets) const {
  // Backward is forward on kernels mirrored (k -> -k): by last descending is
  // by mirrored first ascending.
  auto begin_of = [&](const LayoutBlock& b) {
    return forward ? b.first : -b.last;
  };
  auto end_of = [&](const LayoutBlock& b) {
    return forward ? b.last : -b.first;
  };
  offsets.assign(blocks_.size(), 0);
  LiveGaps live;
  // The placed blocks by (mirrored) last kernel, earliest on top: those
  // that end before a block begins overlap neither it nor any later one.
  std::priority_queue<std::pair<int, int>, std::vector<std::pair<int, int>>,
                      std::greater<>>
      ending;
  uint64_t required = 0;
  for (int index : order) {
    const LayoutBlock& block = blocks_[index];
    const int begin = begin_of(block);
    while (!ending.empty() && ending.top().first < begin) {
      const int other = ending.top().second;
      ending.pop();
      live.Erase(offsets[other], offsets[other] + blocks_[other].size);
    }
    const uint64_t chosen = live.BestFit(block.size);
    offsets[index] = chosen;
    required = std::max(required, chosen + block.size);
    live.Insert(chosen, chosen + block.size);
    ending.push({end_of(block), index});
  }
  return required;
}

uint64_t BestFitLayout::LayOut(const std::vector<int>& order,
                               std::vector<uint64_t>& offsets) {
  if (const int direction = SweepDirection(order); direction != 0) {
    // A sweep finds each gap in O(log B): its work is one step per block.
    work_ += static_cast<int64_t>(order.size());
    return SweepLayOut(order, /*forward=*/direction > 0, offsets);
  }
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
