// The skyline layout of blocks with lifetimes (kernels) in a pool: a second
// placement rule for AssignOffsets (solver/allocator.h) beside best fit, for
// plans whose fast blocks fill the pool so closely at their peak that best
// fit in every order tried leaves them over it (docs/FORMULATION.md,
// "Laying out the pool").
#ifndef AUTOTM_SOLVER_SKYLINE_LAYOUT_H_
#define AUTOTM_SOLVER_SKYLINE_LAYOUT_H_

#include <cstdint>
#include <vector>

#include "solver/best_fit_layout.h"

namespace autotm::solver {

// How the layout ranks the blocks it may put at the lowest point.
enum class SkylineCandidateOrder {
  kLargestFirst,       // size, then lifetime
  kLongestLivedFirst,  // lifetime (kernels), then size
  kLargestAreaFirst,   // size x kernels, then size
};

struct SkylineLayoutResult {
  // False when the layout stopped at `max_work` (offsets then unset).
  bool complete = false;
  // Pool bytes the layout needs: max over blocks of offset + size.
  uint64_t required = 0;
  // Steps done: one per block placed or floor raised, plus one per kernel
  // section it covers and per block looked at as a candidate. Independent
  // of the clock.
  int64_t work = 0;
};

// Lays `blocks` out bottom-up on a skyline: the kernels are cut into
// sections at the blocks' first and last kernels, each section has a floor
// (the top of what is placed there, initially 0), and the space below a
// floor is never used again. Repeatedly it takes the lowest floor among
// sections where unplaced blocks are live - among equally low ones, the
// section with the most unplaced bytes live (the least slack: the peak is
// built first) - and the flat stretch of equal floors around it, and puts
// there, at the floor, the first block - by `priority`, then `order`, then
// first kernel and index - that is live at that section and whose lifetime
// lies within the stretch; when none does, it raises the stretch to its
// lower neighbour's floor (the space below is lost). Every layout can be
// lowered until each block rests at 0 or on a block that overlaps it in time,
// and built so, by placing blocks in order of offset; this takes the order one
// greedy step at a time. Unlike best fit, no block counts on a gap that the
// blocks placed before it happened to leave, and the peak is laid first: of
// eight block sets from Inception v3 bs2's plans at 25% it fits the six whose
// peak leaves room, best fit (with 256 squeaky-wheel layouts) two
// (docs/EVALUATION.md, "Skyline layouts").
//
// `priority` (empty, or one per block) ranks candidates before `order`:
// higher first (AssignOffsets raises the blocks that overflowed in an
// earlier layout). Deterministic. Cost per step: the blocks live at the
// section (placed ones are dropped from its list as met), plus the sections
// the block placed or the stretch raised covers, plus O(log sections);
// stops once it has done `max_work` steps.
SkylineLayoutResult SkylineLayOut(const std::vector<LayoutBlock>& blocks,
                                  SkylineCandidateOrder order,
                                  const std::vector<int>& priority,
                                  int64_t max_work,
                                  std::vector<uint64_t>& offsets);

}  // namespace autotm::solver

#endif  // AUTOTM_SOLVER_SKYLINE_LAYOUT_H_
