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
// there the first block in `order` (ties: the lower `priority`... see
// below) that is live at that section and whose lifetime lies within the
// stretch, at the floor; when none does, it raises the stretch to its lower
// neighbour's floor. Every layout can be lowered until each block rests at
// 0 or on a block that overlaps it in time, and built so, by placing
// blocks in order of offset; this takes the order one greedy step at a
// time. Unlike best fit, it never leaves a gap that a block placed later
// must find: on the captured Inception v3 bs2 plans it lays out at or
// within 0.3% of the peak where best fit needs 1.5-6.5% more
// (docs/EVALUATION.md).
//
// `priority` (empty, or one per block) ranks candidates before `order`:
// higher first (AssignOffsets raises the blocks that overflowed in an
// earlier layout). Deterministic. Cost: O(candidates + log sections) per
// step plus the sections a step covers; stops once it has done `max_work`
// steps.
SkylineLayoutResult SkylineLayOut(const std::vector<LayoutBlock>& blocks,
                                  SkylineCandidateOrder order,
                                  const std::vector<int>& priority,
                                  int64_t max_work,
                                  std::vector<uint64_t>& offsets);

}  // namespace autotm::solver

#endif  // AUTOTM_SOLVER_SKYLINE_LAYOUT_H_
