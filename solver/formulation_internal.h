// FormulationBuilder: the steps that build a Formulation's ILP, one concern
// per source file. Internal to the solver library (not installed); the
// model itself is described at the top of solver/formulation.h.
//
//   formulation.cc              Build: the order of the steps below
//   formulation_analysis.cc     tensors without variables, each kernel's
//                               usable configurations, must-be-fast check
//   formulation_flows.cc        per-tensor lifetime flow graphs, D(t,k)
//   formulation_recompute.cc    drop / re-run edges' candidates and costs
//   formulation_kernel_cost.cc  kernel times (configuration columns or
//                               separable costs), async overlap rows z[k]
//   formulation_capacity.cc     capacity rows, telescoped or direct
//
// Column and row order is part of the contract: the steps run in Build's
// order and each appends its columns and rows to out.model_, so a change of
// order changes the model (and the plans CBC finds) though not its optimum.
#ifndef AUTOTM_SOLVER_FORMULATION_INTERNAL_H_
#define AUTOTM_SOLVER_FORMULATION_INTERNAL_H_

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/types/span.h"
#include "solver/allocator.h"
#include "solver/formulation.h"
#include "solver/graph_model.h"
#include "solver/ilp_model.h"
#include "solver/profile_model.h"

namespace autotm::solver {

// Builds a Formulation; a class so that the many steps can share state.
class FormulationBuilder {
 public:
  FormulationBuilder(const GraphModel& graph, const ProfileModel& profile,
                     const FormulationOptions& options, Formulation& out)
      : graph_(graph), profile_(profile), options_(options), out_(out) {}

  // Fills `out` (options already validated by Formulation::Build). Errors:
  // FailedPrecondition from AnalyseKernels. A budget that cannot be met
  // sets out.infeasible_ and returns OK with the model unfinished.
  absl::Status Build();

 private:
  // One usable configuration of a kernel, projected on its free tensors.
  struct Option {
    ConfigMask mask;
    double time_us;
  };

  bool IsStatic() const { return options_.method == v1::METHOD_STATIC; }

  // Fast-memory bytes tensor t takes: its size rounded up to the pool's
  // alignment, as the allocator will place it.
  uint64_t Footprint(int t) const {
    return AlignUp(graph_.tensor(t).size_bytes, options_.alignment_bytes);
  }

  // ---- formulation_analysis.cc: what carries variables, and what is usable.

  // Sets out.fixed_tier_ for tensors that carry no variables: fixed by the
  // graph, or larger than every kernel's limit (slow; listed in too_big_).
  void ClassifyTensors();

  // Finds each kernel's cost (costs_, max_time_us_) and usable table
  // configurations (options_per_kernel_). FailedPrecondition, naming the
  // kernel, when the profile has no entry for it or no configuration
  // consistent with the graph's fixed tiers and repeated operands; sets
  // out.infeasible_ when only too-big tensors make it unusable.
  absl::Status AnalyseKernels();

  // Whether `mask` puts repeated operands in one tier and fixed tensors in
  // their tier (and, with respect_size, too-big tensors in the slow tier).
  bool ConsistentWithGraph(const KernelInfo& kernel, ConfigMask mask,
                           bool respect_size) const;

  // Returns true (and records why) when some kernel needs more fast memory
  // than its limit for tensors that must be fast there.
  bool CheckMustBeFast();

  // The longest a kernel can take, over every configuration: an upper bound
  // on the compute an asynchronous copy can hide behind.
  static double MaxTimeUs(const KernelCost& cost);

  // ---- formulation_flows.cc: lifetime flow graphs and the D(t,k) sums.

  // Decision points of tensor t: its users (SYNCHRONOUS), plus for
  // ASYNCHRONOUS every other kernel of its live range within
  // `async_window` kernels of a user, where moves overlap with that kernel.
  // `async[g]` tells which gadgets are asynchronous.
  //
  // A non-user kernel is left out when no copy of this tensor can pay
  // there: an asynchronous copy at kernel k adds at least (its time - the
  // longest k can take) to z[k], so when that is no less than the blocking
  // copy's time in both directions, the same move made synchronously at the
  // neighbouring user costs no more and holds the tensor in fast memory for
  // no longer (a read made later, an eviction made earlier). Dropping such
  // points keeps an optimal plan and shrinks the model: with AutoTM's
  // Optane bandwidths (async 2-2.5 GB/s, sync 12-29 GB/s) a large
  // activation's copy hides behind few kernels.
  std::vector<int> Gadgets(int t, std::vector<char>* async) const;

  // Free tensor t's flow graph: its gadgets, then every edge column (copies
  // priced, or queued in async_copies_ when they overlap a kernel; drop and
  // keep edges where formulation_recompute.cc allows them), then its rows.
  void AddTensorFlow(int t);
  // One row per state (F1, F2, S, dropped X) per gadget: flow in = flow
  // out, with one unit leaving the source.
  void AddFlowConservationRows(const Formulation::TensorFlow& flow);

  // Appends the terms of D(t,k) (scaled by `scale`) to `terms`, or adds its
  // constant value times `scale` to `*constant`.
  void AppendFast(int t, int k, double scale,
                  std::vector<IlpModel::Term>& terms, double* constant) const;

  // ---- formulation_recompute.cc: recomputation
  // (FormulationOptions::recompute, every method).

  // Every tensor that some candidate re-run would read after its life: it
  // may be kept in slow memory until then (options_.keep_inputs_for_recompute;
  // a fixed-slow tensor is kept for free, a fixed-fast one never).
  void FindKeepableInputs();

  // Whether tensor t may be dropped after kernel `after` (a decision point)
  // and recomputed before kernel `before` (its next one): see
  // FormulationOptions::recompute. The re-run's cost must be linear in the
  // D variables (a separable producer), and its inputs live at `before`
  // anyway, so that it adds no lifetime to any tensor.
  bool CanRecompute(int t, int after, int before) const;

  // CanRecompute's rules but an input's lifetime: one dead at `before` is
  // acceptable here when it may be kept (not fixed fast, not OnlyFast).
  bool CanRecomputeIgnoringDeadInputs(int t, int after, int before) const;

  // Re-run chains (options_.max_remade_inputs, SYNCHRONOUS): every chain of
  // inputs a re-run of t's producer right before `before` may make again
  // first, each in re-run order (deepest producer first): a kernel of the
  // chain (t's producer first, whose candidates are only dead inputs) makes
  // one of its RemakeCandidates again when
  // it has at most kMaxRemakeCandidates of them, down to max_remade_inputs
  // levels; every kernel of the chain must read its other inputs live or
  // kept slow (ChainReadsInputs; keepable_, or any keepable position with
  // `assume_keepable`, which FindKeepableInputs uses to fill keepable_).
  std::vector<std::vector<int>> RemakeChains(int t, int after, int before,
                                             bool assume_keepable) const;
  // The distinct inputs of `kernel` that a re-run right before `before`
  // could not read as they are: dead there, or (unless `dead_only`)
  // MayBeDroppedAt.
  std::vector<int> RemakeCandidates(int kernel, int before,
                                    bool dead_only) const;
  // Whether j could be dropped across kernel k: a free activation with a
  // producer, k strictly between two of its uses. Its re-made copy is
  // scratch whether or not the plan drops it there.
  bool MayBeDroppedAt(int j, int k) const;
  // Whether t's producer, re-run right before `before` after `chain`, and
  // each producer of the chain read every input not made before them live
  // or kept.
  bool ChainReadsInputs(int t, const std::vector<int>& chain, int before,
                        bool assume_keepable) const;
  // Whether a re-run of `kernel` right before `before` can read each input
  // not in `made`: live (CanReadLiveInput) or kept slow past its life.
  bool ReadsInputsAt(int kernel, int before, bool assume_keepable,
                     absl::Span<const int> made) const;

  // Whether a re-run of `kernel` right before kernel `before` can read its
  // input at operand position p, live there: not an OnlyFast position of a
  // fixed-slow tensor.
  bool CanReadLiveInput(int kernel, int p, int before) const;

  // Prices re-run column r of `kernel` right before kernel u: its all-fast
  // time, each input's slow penalty (inputs `made` again in scratch are
  // fast), and the rows excluding r where an input is dropped itself.
  void PriceRerun(int r, int kernel, int u, absl::Span<const int> made);

  // Bytes (aligned, as Footprint) of `kernel`'s outputs other than `except`.
  uint64_t OutputFootprint(int kernel, int except) const;

  // STATIC: free tensor t's drop columns between consecutive uses (a fast
  // tensor dropped and re-made fast; drop <= static_fast) and its keep
  // column (kept slow past its life: keep + static_fast <= 1).
  void AddStaticDrops(int t);

  // The gadget a drop after gadget g is re-made at: the next use's, or -1
  // when g is no use (an asynchronous point) or the last one.
  int NextUseGadget(const Formulation::TensorFlow& flow, int g) const;

  // The interval of input j's drop that spans kernel k (j absent from both
  // tiers there; its re-run columns exclude a re-run reading j at k), or
  // nullptr.
  const Formulation::Interval* DropSpanning(int j, int k) const;

  // AppendFast as a re-run right before kernel k sees it: a tensor whose
  // asynchronous read overlaps k has not landed yet (read from slow).
  void AppendFastAtRerun(int t, int k, double scale,
                         std::vector<IlpModel::Term>& terms,
                         double* constant) const;

  // Kernel time of every re-run column: the producer's all-fast time plus,
  // per input tensor j slow at the next use, its penalty, through a
  // continuous s_j >= r - D(j,u) (the producer's output is made fast), and
  // for a re-run chain each remade input's producer likewise. Also
  // excludes a re-run whose input is dropped itself at that point, and
  // records the re-run's scratch bytes (rerun_scratch_).
  void AddRecomputeCosts();

  // ---- formulation_kernel_cost.cc: kernel times and overlapped copies.

  // Adds kernel k's time rho_k: to the objective, or, when asynchronous
  // copies overlap with k, through z[k] >= rho_k and z[k] >= their sum.
  void AddKernelCost(int k);

  // Bounds on rho_k = constant + sum(rho) from KernelTime over kernel k's
  // usable configurations: {no more than its minimum, no less than its
  // maximum} (exact unless one tensor is several separable operands).
  std::pair<double, double> TimeRangeUs(int k,
                                        const std::vector<IlpModel::Term>& rho,
                                        double constant) const;

  // rho_k = constant + sum(terms), creating configuration variables and
  // their link rows as needed.
  void KernelTime(int k, std::vector<IlpModel::Term>& rho, double& constant);

  // ---- formulation_capacity.cc: the fast-memory limit per kernel.

  // Capacity: sum_{t live at k} size_t D(t,k) <= L_k at every kernel.
  // Written directly, each row lists every live tensor, so long-lived ones
  // (weights) appear in thousands of rows and the LP gets millions of
  // nonzeros. Telescoped, a continuous U_k bounded by the limit carries the
  // sum and each row adds only what changed since the previous row:
  // U_k = U_prev + sum(terms_k) - sum(terms_prev). Same LP, far fewer
  // nonzeros (tensors change at their decision points only).
  void AddCapacityRows();
  // For each re-run right before kernel k with scratch (rerun_scratch_):
  // k's fast bytes (`sum_column` U_k when telescoped, else `terms`) plus
  // the scratch times the re-run column within `rhs`, where that can bind.
  void AddScratchRows(int k, double free_units, double rhs, int sum_column,
                      const std::vector<IlpModel::Term>& terms);

  const GraphModel& graph_;
  const ProfileModel& profile_;
  const FormulationOptions& options_;
  Formulation& out_;
  std::vector<int> too_big_;
  // Per tensor: whether a candidate re-run may read it after its life, so
  // that its flow gets keep edges (FindKeepableInputs).
  std::vector<char> keepable_;
  // Per kernel u: (re-run column, scratch bytes) of the re-runs right
  // before u that write outputs beyond the tensor they re-make; each adds
  // a capacity row U_u + bytes * r <= L_u (AddCapacityRows).
  absl::flat_hash_map<int, std::vector<std::pair<int, uint64_t>>>
      rerun_scratch_;
  std::vector<const KernelCost*> costs_;
  std::vector<double> max_time_us_;  // MaxTimeUs per kernel
  std::vector<std::vector<Option>> options_per_kernel_;
  // Asynchronous copy columns and their times, by the kernel they overlap.
  absl::flat_hash_map<int, std::vector<std::pair<int, double>>> async_copies_;
};

}  // namespace autotm::solver

#endif  // AUTOTM_SOLVER_FORMULATION_INTERNAL_H_
