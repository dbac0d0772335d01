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
  // around `section`.
  std::pair<int, int> Stretch(int section) const;
  // The lower floor of the stretch's neighbours that have unplaced blocks
  // (kNoFloor when neither has).
  uint64_t NeighbourFloor(int from, int to) const;
  void Place(int block, uint64_t offset);
  void Raise(int from, int to, uint64_t floor);

  int first_section(int block) const { return first_section_[block]; }
  int last_section(int block) const { return last_section_[block]; }
  const std::vector<int>& live_at(int section) const {
    return live_at_[section];
  }
  uint64_t floor(int section) const { return floor_[section]; }
  bool placed(int block) const { return placed_[block]; }

 private:
  using Key = std::pair<uint64_t, uint64_t>;  // floor, ~unplaced bytes
  Key KeyOf(int section) const;
  void Update(int section);

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
  for (int s = 0; s < sections; ++s) tree_[leaves_ + s] = KeyOf(s);
  for (int node = leaves_ - 1; node >= 1; --node) {
    tree_[node] = std::min(tree_[2 * node], tree_[2 * node + 1]);
  }
}

Skyline::Key Skyline::KeyOf(int section) const {
  if (unplaced_count_[section] == 0) return Key(kNoFloor, kNoFloor);
  return Key(floor_[section], kNoFloor - unplaced_bytes_[section]);
}

void Skyline::Update(int section) {
  int node = leaves_ + section;
  tree_[node] = KeyOf(section);
  for (node /= 2; node >= 1; node /= 2) {
    tree_[node] = std::min(tree_[2 * node], tree_[2 * node + 1]);
  }
}

int Skyline::Lowest() const {
  int node = 1;
  while (node < leaves_) {
    node = tree_[2 * node] <= tree_[2 * node + 1] ? 2 * node : 2 * node + 1;
  }
  return node - leaves_;
}

std::pair<int, int> Skyline::Stretch(int section) const {
  const auto flat = [&](int s) {
    return unplaced_count_[s] > 0 && floor_[s] == floor_[section];
  };
  int from = section;
  while (from > 0 && flat(from - 1)) --from;
  int to = section;
  while (to + 1 < static_cast<int>(floor_.size()) && flat(to + 1)) ++to;
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
  for (int s = from; s <= to; ++s) {
    floor_[s] = floor;
    Update(s);
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
    for (int i : skyline.live_at(lowest)) {
      if (!skyline.placed(i) && skyline.first_section(i) >= from &&
          skyline.last_section(i) <= to && (best < 0 || key(i) < key(best))) {
        best = i;
      }
    }
    const uint64_t floor = skyline.floor(lowest);
    result.work += 1 + static_cast<int64_t>(skyline.live_at(lowest).size()) +
                   (to - from + 1);
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
    }
  }
  result.complete = true;
  offsets = std::move(placed_at);
  return result;
}

}  // namespace autotm::solver
