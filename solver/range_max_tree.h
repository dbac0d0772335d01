// Range add and range maximum over a fixed array of signed sums, both in
// O(log n): the fast-memory accounting of the heuristics, which place and
// remove tensors over kernel intervals and ask whether an interval has room.
#ifndef AUTOTM_SOLVER_RANGE_MAX_TREE_H_
#define AUTOTM_SOLVER_RANGE_MAX_TREE_H_

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

namespace autotm::solver {

class RangeMaxTree {
 public:
  // `values` are the initial entries (at least one).
  explicit RangeMaxTree(const std::vector<int64_t>& values)
      : size_(static_cast<int>(values.size())),
        max_(4 * values.size(), 0),
        pending_(4 * values.size(), 0) {
    Build(1, 0, size_ - 1, values);
  }

  int size() const { return size_; }

  // Adds `delta` to every entry in [first, last] (inclusive; first <= last).
  void Add(int first, int last, int64_t delta) {
    Add(1, 0, size_ - 1, first, last, delta);
  }

  // The largest entry in [first, last] (inclusive; first <= last).
  int64_t Max(int first, int last) const {
    return Max(1, 0, size_ - 1, first, last);
  }

 private:
  void Build(int node, int lo, int hi, const std::vector<int64_t>& values) {
    if (lo == hi) {
      max_[node] = values[lo];
      return;
    }
    const int mid = lo + (hi - lo) / 2;
    Build(2 * node, lo, mid, values);
    Build(2 * node + 1, mid + 1, hi, values);
    max_[node] = std::max(max_[2 * node], max_[2 * node + 1]);
  }

  void Add(int node, int lo, int hi, int first, int last, int64_t delta) {
    if (last < lo || hi < first) return;
    if (first <= lo && hi <= last) {
      max_[node] += delta;
      pending_[node] += delta;
      return;
    }
    const int mid = lo + (hi - lo) / 2;
    Add(2 * node, lo, mid, first, last, delta);
    Add(2 * node + 1, mid + 1, hi, first, last, delta);
    // A node's pending addition applies to its whole range and is kept out
    // of its children (no push-down), so it is added back here and in Max.
    max_[node] = std::max(max_[2 * node], max_[2 * node + 1]) + pending_[node];
  }

  // Called only for nodes whose range meets [first, last].
  int64_t Max(int node, int lo, int hi, int first, int last) const {
    if (first <= lo && hi <= last) return max_[node];
    const int mid = lo + (hi - lo) / 2;
    int64_t below = std::numeric_limits<int64_t>::min();
    if (first <= mid) below = Max(2 * node, lo, mid, first, last);
    if (last > mid) {
      below = std::max(below, Max(2 * node + 1, mid + 1, hi, first, last));
    }
    return below + pending_[node];
  }

  int size_;
  std::vector<int64_t> max_;
  std::vector<int64_t> pending_;
};

}  // namespace autotm::solver

#endif  // AUTOTM_SOLVER_RANGE_MAX_TREE_H_
