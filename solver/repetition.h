// Repetition in training graphs: runs of structurally identical kernel
// blocks (ResNet bottlenecks, transformer layers), the tensors and kernels
// that correspond across a run's blocks, and the ILP in which their decision
// columns are tied (one column per class), so that the model a solver sees
// stops growing with depth.
//
// Tying is a restriction of the full ILP (it adds x_i = x_j for tied
// columns): every solution of the reduced model, expanded, is a solution of
// the full model with the same objective. Detection therefore decides only
// how good the tied optimum is, never whether it is valid.
#ifndef AUTOTM_SOLVER_REPETITION_H_
#define AUTOTM_SOLVER_REPETITION_H_

#include <span>
#include <vector>

#include "solver/formulation.h"
#include "solver/graph_model.h"
#include "solver/ilp_model.h"

namespace autotm::solver {

struct RepetitionOptions {
  // A block has at least this many kernels. Default 3.
  int min_block_kernels = 3;
  // A run has at least this many consecutive identical blocks. Default 3.
  int min_repeats = 3;
};

// `repeats` consecutive blocks of `block_kernels` kernels each, starting at
// kernel `first_kernel`, whose kernels are pairwise identical (same profile
// key, operand sizes, fixed tiers and operand roles) at equal offsets.
struct RepeatedRun {
  int first_kernel = 0;
  int block_kernels = 0;
  int repeats = 0;
  int end_kernel() const { return first_kernel + block_kernels * repeats; }
};

struct Repetition {
  // Disjoint runs, ascending by first_kernel.
  std::vector<RepeatedRun> runs;
  // Kernels inside some run.
  int covered_kernels = 0;
  // Per kernel: the kernel of the run's first block at the same offset, or
  // the kernel itself outside runs.
  std::vector<int> kernel_representative;
  // Per tensor: the tensor of the run's first block it corresponds to, or
  // the tensor itself. Tensors correspond when they have the same size,
  // role and fixed tier, are produced (graph arguments: first used) at the
  // same slot of kernels at the same offset of blocks of one run, and every
  // later event of their lifetimes (each use, the end of life) happens at
  // the same offset of a block of the same run, or at the same kernel
  // outside runs. (In a training graph a forward block's saved activation
  // is used by the backward block of the same layer: such tensors
  // correspond although their lifetimes differ in length.)
  std::vector<int> tensor_representative;
  // Tensors whose representative is another tensor.
  int tied_tensors = 0;
};

// Finds maximal runs of repeated blocks, greedily by kernels covered (the
// shortest block period first on ties), and the corresponding tensors.
// Pure; O(kernels^2 / min_repeats) comparisons of precomputed kernel keys.
Repetition FindRepetition(const GraphModel& graph,
                          const RepetitionOptions& options = {});

// A model in which tied columns of a larger one are merged.
struct TiedModel {
  IlpModel model;
  // Per column of the full model: its column in `model`.
  std::vector<int> column;
  // Expands a solution of `model` to the full model's columns.
  std::vector<double> Expand(std::span<const double> values) const;
  // The inverse for a solution that already respects the ties (e.g. a
  // broadcast plan's encoding): the value of each merged column's first
  // full column.
  std::vector<double> Restrict(std::span<const double> full_values) const;
};

// Per column of `formulation`'s model: the column it is tied to (itself when
// untied). Integer columns of corresponding tensors tie when their flow
// graphs have the same shape (the same edges at each gadget, the same
// overlap, each decision point at the same signed distance from the
// tensor's nearest use); configuration columns of corresponding kernels tie
// when their kernels offer the same configurations. Within a class, each
// distinct shape has its own leader (a run's first or last block, whose
// asynchronous windows reach outside the run, usually differs from the
// rest), and the others tie to it. Continuous columns stay untied.
std::vector<int> TieColumns(const GraphModel& graph,
                            const Formulation& formulation,
                            const Repetition& repetition);

// The model of `model` with each column merged into the column `tie` names
// (a column tied to itself stays): objective costs and row coefficients add
// up, bounds intersect, and rows that become identical are kept once.
// `tie` must map every column to a column that maps to itself.
TiedModel TieModel(const IlpModel& model, std::span<const int> tie);

}  // namespace autotm::solver

#endif  // AUTOTM_SOLVER_REPETITION_H_
