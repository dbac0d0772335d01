#include "solver/skyline_layout.h"

#include <algorithm>
#include <cstdint>
#include <tuple>
#include <utility>
#include <vector>

namespace autotm::solver {
namespace {

constexpr uint64_t kNoFloor = UINT64_MAX;

class Skyline {
 public:
  explicit Skyline(const std::vector<LayoutBlock>& blocks);

  // The section to fill next: the lowest floor among sections where
  // unplaced blocks are live, the most unplaced bytes among equal floors.
  int Lowest() const;
  // The flat stretch [from, to] of equal floors (and unplaced blocks)
  // around `section`, the lowest: O(log sections).
  std::pair<int, int> Stretch(int section) const;
  // The lower floor of the stretch's neighbours that have unplaced blocks
  // (kNoFloor when neither has).
  uint64_t NeighbourFloor(int from, int to) const;
  void Place(int block, uint64_t offset);
  void Raise(int from, int to, uint64_t floor);

  int first_section(int block) const { return first_section_[block]; }
  int last_section(int block) const { return last_section_[block]; }
  // The blocks live at `section`; placed ones may linger (the caller drops
  // them as it meets them: each entry is dropped once, so a layout looks at
  // O(sections covered + candidates) entries, not every placed block again
  // at every step, as dense lifetimes would make it).
  std::vector<int>& live_at(int section) { return live_at_[section]; }
  uint64_t floor(int section) const { return floor_[section]; }
  bool placed(int block) const { return placed_[block]; }

 private:
  using Key = std::pair<uint64_t, uint64_t>;  // floor, ~unplaced bytes
  Key KeyOf(int section) const;
  // The last section before `before` / the first after `after` whose floor
  // is above `floor` or that has no unplaced block (-1 / leaves_ if none),
  // in the subtree of `node` over sections [lo, hi).
  int LastAbove(int node, int lo, int hi, int before, uint64_t floor) const;
  int FirstAbove(int node, int lo, int hi, int after, uint64_t floor) const;

  const std::vector<LayoutBlock>& blocks_;
  std::vector<int> first_section_;  // per block
  std::vector<int> last_section_;
  std::vector<std::vector<int>> live_at_;  // blocks live per section
  std::vector<uint64_t> floor_;
  std::vector<uint64_t> unplaced_bytes_;
  std::vector<int> unplaced_count_;
  std::vector<bool> placed_;
  int leaves_ = 1;
  std::vector<Key> tree_;  // min tree over the sections' keys
  // Max tree over the sections' floors, kNoFloor where no block is unplaced.
  std::vector<uint64_t> max_tree_;
};

Skyline::Skyline(const std::vector<LayoutBlock>& blocks) : blocks_(blocks) {
  std::vector<int> bounds;
  bounds.reserve(2 * blocks.size());
  for (const LayoutBlock& b : blocks) {
    bounds.push_back(b.first);
    bounds.push_back(b.last + 1);
  }
  std::sort(bounds.begin(), bounds.end());
  bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
  const int sections = std::max<int>(1, static_cast<int>(bounds.size()) - 1);
  auto section_of = [&](int kernel) {
    return static_cast<int>(
        std::lower_bound(bounds.begin(), bounds.end(), kernel) -
        bounds.begin());
  };
  live_at_.resize(sections);
  floor_.assign(sections, 0);
  unplaced_bytes_.assign(sections, 0);
  unplaced_count_.assign(sections, 0);
  for (size_t i = 0; i < blocks.size(); ++i) {
    const int from = section_of(blocks[i].first);
    const int to = section_of(blocks[i].last + 1) - 1;
    first_section_.push_back(from);
    last_section_.push_back(to);
    for (int s = from; s <= to; ++s) {
      live_at_[s].push_back(static_cast<int>(i));
      unplaced_bytes_[s] += blocks[i].size;
      ++unplaced_count_[s];
    }
  }
  placed_.assign(blocks.size(), false);
  while (leaves_ < sections) leaves_ *= 2;
  tree_.assign(2 * leaves_, Key(kNoFloor, kNoFloor));
  max_tree_.assign(2 * leaves_, kNoFloor);
  for (int s = 0; s < sections; ++s) {
    tree_[leaves_ + s] = KeyOf(s);
    max_tree_[leaves_ + s] = KeyOf(s).first;
  }
  for (int node = leaves_ - 1; node >= 1; --node) {
    tree_[node] = std::min(tree_[2 * node], tree_[2 * node + 1]);
    max_tree_[node] = std::max(max_tree_[2 * node], max_tree_[2 * node + 1]);
  }
}

Skyline::Key Skyline::KeyOf(int section) const {
  if (unplaced_count_[section] == 0) return Key(kNoFloor, kNoFloor);
  return Key(floor_[section], kNoFloor - unplaced_bytes_[section]);
}

int Skyline::LastAbove(int node, int lo, int hi, int before,
                       uint64_t floor) const {
  if (lo >= before || max_tree_[node] <= floor) return -1;
  if (hi - lo == 1) return lo;
  const int mid = (lo + hi) / 2;
  const int right = LastAbove(2 * node + 1, mid, hi, before, floor);
  return right >= 0 ? right : LastAbove(2 * node, lo, mid, before, floor);
}

int Skyline::FirstAbove(int node, int lo, int hi, int after,
                        uint64_t floor) const {
  if (hi <= after + 1 || max_tree_[node] <= floor) return leaves_;
  if (hi - lo == 1) return lo;
  const int mid = (lo + hi) / 2;
  const int left = FirstAbove(2 * node, lo, mid, after, floor);
  return left < leaves_ ? left
                        : FirstAbove(2 * node + 1, mid, hi, after, floor);
}

int Skyline::Lowest() const {
  int node = 1;
  while (node < leaves_) {
    node = tree_[2 * node] <= tree_[2 * node + 1] ? 2 * node : 2 * node + 1;
  }
  return node - leaves_;
}

std::pair<int, int> Skyline::Stretch(int section) const {
  // Sections with unplaced blocks have floors no lower than the lowest's:
  // the stretch ends where one is higher or has none.
  const uint64_t floor = floor_[section];
  const int sections = static_cast<int>(floor_.size());
  const int from = LastAbove(1, 0, leaves_, section, floor) + 1;
  const int to =
      std::min(FirstAbove(1, 0, leaves_, section, floor), sections) - 1;
  return {from, to};
}

uint64_t Skyline::NeighbourFloor(int from, int to) const {
  uint64_t floor = kNoFloor;
  if (from > 0 && unplaced_count_[from - 1] > 0) floor = floor_[from - 1];
  if (to + 1 < static_cast<int>(floor_.size()) && unplaced_count_[to + 1] > 0) {
    floor = std::min(floor, floor_[to + 1]);
  }
  return floor;
}

void Skyline::Place(int block, uint64_t offset) {
  placed_[block] = true;
  for (int s = first_section_[block]; s <= last_section_[block]; ++s) {
    unplaced_bytes_[s] -= blocks_[block].size;
    --unplaced_count_[s];
  }
  Raise(first_section_[block], last_section_[block],
        offset + blocks_[block].size);
}

void Skyline::Raise(int from, int to, uint64_t floor) {
  // The leaves, then their ancestors level by level: O(to - from + log)
  // rather than a path to the root per section.
  for (int s = from; s <= to; ++s) {
    floor_[s] = floor;
    tree_[leaves_ + s] = KeyOf(s);
    max_tree_[leaves_ + s] = tree_[leaves_ + s].first;
  }
  for (int lo = (leaves_ + from) / 2, hi = (leaves_ + to) / 2; lo >= 1;
       lo /= 2, hi /= 2) {
    for (int node = lo; node <= hi; ++node) {
      tree_[node] = std::min(tree_[2 * node], tree_[2 * node + 1]);
      max_tree_[node] = std::max(max_tree_[2 * node], max_tree_[2 * node + 1]);
    }
  }
}

}  // namespace

SkylineLayoutResult SkylineLayOut(const std::vector<LayoutBlock>& blocks,
                                  SkylineCandidateOrder order,
                                  const std::vector<int>& priority,
                                  int64_t max_work,
                                  std::vector<uint64_t>& offsets) {
  SkylineLayoutResult result;
  const auto key = [&](int i) {
    const LayoutBlock& b = blocks[i];
    const int64_t size = static_cast<int64_t>(b.size);
    const int64_t length = int64_t{b.last} - b.first + 1;
    int64_t primary = -size;
    int64_t secondary = -length;
    if (order == SkylineCandidateOrder::kLongestLivedFirst) {
      std::swap(primary, secondary);
    } else if (order == SkylineCandidateOrder::kLargestAreaFirst) {
      primary = -size * length;
      secondary = -size;
    }
    const int rank = priority.empty() ? 0 : -priority[i];
    return std::make_tuple(rank, primary, secondary, b.first, i);
  };
  Skyline skyline(blocks);
  std::vector<uint64_t> placed_at(blocks.size(), 0);
  size_t placed = 0;
  while (placed < blocks.size()) {
    if (result.work >= max_work) return result;
    const int lowest = skyline.Lowest();
    const auto [from, to] = skyline.Stretch(lowest);
    int best = -1;
    std::vector<int>& live = skyline.live_at(lowest);
    result.work += 1 + static_cast<int64_t>(live.size());
    for (size_t k = 0; k < live.size();) {
      const int i = live[k];
      if (skyline.placed(i)) {
        live[k] = live.back();
        live.pop_back();
        continue;
      }
      if (skyline.first_section(i) >= from && skyline.last_section(i) <= to &&
          (best < 0 || key(i) < key(best))) {
        best = i;
      }
      ++k;
    }
    const uint64_t floor = skyline.floor(lowest);
    if (best >= 0) {
      placed_at[best] = floor;
      result.required = std::max(result.required, floor + blocks[best].size);
      skyline.Place(best, floor);
      result.work += skyline.last_section(best) - skyline.first_section(best);
      ++placed;
    } else {
      // Every unplaced block live here extends past the stretch, into a
      // section with unplaced blocks and a higher floor: one exists.
      skyline.Raise(from, to, skyline.NeighbourFloor(from, to));
      result.work += to - from + 1;
    }
  }
  result.complete = true;
  offsets = std::move(placed_at);
  return result;
}

}  // namespace autotm::solver
