// AutoTM's static, synchronous and asynchronous placement ILPs
// (docs/FORMULATION.md), built as a solver-neutral IlpModel,
// and the decoding of a solution back into per-tensor schedules.
//
// Model, per free tensor t with decision points ("gadgets") u_1 < ... < u_G
// (u_1 = creation, then each distinct consumer; STATIC has only u_1;
// ASYNCHRONOUS adds every kernel within a window of a user, where copies
// overlap with that kernel: a kernel k with such copies costs
// z[k] >= max(rho_k, sum of its copy times)):
//   * a lifetime flow graph whose unit of flow is the tensor's location
//     history. At gadget g the tensor is in one of F1 (fast, no slow copy),
//     F2 (fast with a valid slow copy; g >= 2) or S (slow only). Edges:
//     creation SOURCE->F1(1) | SOURCE->S(1); in the interval after u_g:
//     F1->F1, F1->S (a write: fast->slow copy after u_g), F2->F2,
//     F2->S (free drop of a clean copy), S->S; and at u_g for g >= 2 the
//     read S(g)->F2(g) (slow->fast copy before u_g). A write can happen at
//     most once per tensor by construction (F1 is never re-entered), so
//     AutoTM's write indicator w[t] is not needed.
//   * The fast-memory indicator D(t,k) is substituted by edge sums (AutoTM's
//     x/p variables are not created): at u_g the flow into F1(g) and F2(g);
//     between gadgets the flow on the F1->F1 and F2->F2 interval edges.
// Per kernel k:
//   * with a configuration table and more than one usable configuration:
//     y[k,c] binary, sum_c y[k,c] = 1 and, for each free operand tensor j,
//     sum_{c: j fast in c} y[k,c] = D(j,k). This tight link is exact for any
//     set of usable configurations (an integral y picks one configuration,
//     which must then agree with every operand's tier), so a configuration
//     missing from the profile can never be chosen, and its LP relaxation is
//     at least as tight as AutoTM's per-configuration AND linearisation.
//   * with a separable cost: time = base + sum_j penalty_j (1 - D(j,k)),
//     linear in D; no y variables. ProfileModel collapses a table that a
//     separable cost describes into one (TableCollapseOptions); operands
//     such a table never lists slow stay fast: a row D(j,k) = 1.
//   * recomputation (FormulationOptions::recompute): a dropped state X in
//     the interval after a use u_g, entered from F1, F2 or S for free,
//     left only by a re-run r into F1 at the next use (ASYNCHRONOUS: past
//     the overlapped-copy points in between, which see no flow) that costs
//     the producer's separable time under its inputs' tiers right before
//     that use u; the product r * (1 - D(j,u)) is a continuous
//     s_j >= r - D(j,u) (exact: penalties are >= 0), where D(j,u) leaves out
//     an asynchronous read of j overlapping u (it lands after the re-run).
//     A dropped tensor counts nowhere; an input dropped itself at u
//     excludes the re-run (r + r_j <= 1). An input whose life ended before
//     u must be kept in slow memory until then: keep edges from its last
//     gadget's F1 (a write), F2 or S, with r <= keep_j and its slow penalty
//     charged to r. SYNCHRONOUS only, a second re-run column (the ILP
//     picks): the producer's one dead input is made again first by
//     re-running its own producer from inputs live there, priced the same
//     way (two levels). Outputs a re-run writes beyond t (a producer's other
//     outputs, the remade input's producer's outputs) are scratch:
//     U_u + bytes * r <= L_u at the re-run's kernel u. STATIC: a fast tensor
//     may be dropped between two uses (x <= static_fast, D = static_fast - x
//     in between) and re-made fast; a slow one may be kept
//     (keep + static_fast <= 1).
//   * capacity: sum_{t live at k} size_t D(t,k) <= L_k, with sizes in MiB;
//     rows identical to the previous kernel's are not repeated.
// Objective: sum of kernel times + sum of read and write copy times (us).
//
// Reductions: fixed tensors and tensors larger than every limit carry no
// variables; kernels whose time cannot vary contribute a constant.
#ifndef AUTOTM_SOLVER_FORMULATION_H_
#define AUTOTM_SOLVER_FORMULATION_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "autotm/v1/plan.pb.h"
#include "solver/defaults.h"
#include "solver/graph_model.h"
#include "solver/ilp_model.h"
#include "solver/profile_model.h"
#include "solver/schedule.h"

namespace autotm::solver {

struct FormulationOptions {
  // METHOD_STATIC, METHOD_SYNCHRONOUS or METHOD_ASYNCHRONOUS.
  v1::Method method = v1::METHOD_SYNCHRONOUS;
  // ASYNCHRONOUS: non-user kernels within this many kernels of a user are
  // decision points with overlapped copies (AutoTM uses 15). Default 15.
  int async_window = kDefaultAsyncWindow;
  // Fast-memory limit per kernel, bytes (one entry per kernel).
  std::vector<uint64_t> kernel_limit_bytes;
  // Tensor sizes count rounded up to this in the capacity rows, as the pool
  // allocator places them. Default 1 (exact sizes).
  uint64_t alignment_bytes = 1;
  // Capacity rows in telescoped form (see AddCapacityRows): the same LP with
  // far fewer nonzeros on long graphs. Default true.
  bool telescope_capacity = true;
  // ASYNCHRONOUS: lifted rows for a kernel's overlapped copies (see
  // AddKernelCost): the same integer optimum, a tighter LP relaxation.
  // Default true; false gives the plain max rows, for comparison.
  bool lift_overlap_rows = true;
  // Every method: a tensor may also be dropped after one use and
  // recomputed right before its next, by re-running its producer
  // (docs/FORMULATION.md, "Recomputation"). Tensors whose producer has a
  // separable cost and whose producer's inputs are all live at the next use
  // are candidates; the producer's other outputs are written into scratch.
  // STATIC drops only fast tensors. Default false.
  bool recompute = false;
  // With `recompute`: a re-run may also read an input whose life ended
  // before it, if that input is kept in the slow tier until then (written
  // there after its last use when it has no slow copy). This lets a
  // concatenation be re-made from its parts. False restricts re-runs to
  // inputs that are live anyway. Default true.
  bool keep_inputs_for_recompute = true;
  // With `recompute`: the longest re-run chain, in inputs made again first.
  // A re-run may first make again, by re-running its producer (separable),
  // an input that is dead there, in scratch freed after the re-run, and
  // that producer likewise an input dead or possibly dropped there (a
  // re-made input is scratch either way), down to this many levels
  // (one column per chain; a kernel with more than kMaxRemakeCandidates
  // such inputs makes none again); every producer of the chain reads its
  // other inputs live or kept slow. 1: ReLU(BN(x)) re-made from x (two
  // levels); 2 (default): also ReLU(BN(concat)) from the concatenation's
  // kept parts when the concatenation is dropped there (three levels); 0:
  // one level only. SYNCHRONOUS only (ignored by the other methods;
  // docs/FORMULATION.md says why). At most kMaxRemadeInputs.
  int max_remade_inputs = 2;
};

// The largest FormulationOptions::max_remade_inputs Build accepts.
inline constexpr int kMaxRemadeInputs = 8;
// A kernel of a re-run chain makes one of its inputs again only when at most
// this many of them are dead at the re-run or may be dropped there (one
// chain per choice; a concatenation of many dead parts is a chain's deepest
// producer, reading them kept, never a branch point).
inline constexpr size_t kMaxRemakeCandidates = 2;

// The largest magnitude of any finite number in a Formulation's model():
// Build refuses models beyond it (InvalidArgument), because Clp asserts
// |objective| < 1e25 and aborts the process, and coefficients near that are
// numerically meaningless anyway. Inputs within the physical bounds of
// ProfileModel (kMaxKernelTimeUs, kMinBandwidthGbPerS) and GraphModel
// (GraphLimits::max_tensor_bytes) stay below 1e16.
inline constexpr double kMaxIlpCoefficient = 1e18;

class Formulation {
 public:
  // Builds the ILP. Errors: InvalidArgument for an unsupported method or a
  // limit vector of the wrong length; FailedPrecondition when a kernel has
  // no profiled configuration consistent with the graph's fixed tiers or
  // repeated operands (names the kernel); InvalidArgument when a number of
  // the model would exceed kMaxIlpCoefficient (out-of-range profile or
  // graph numbers that bypassed their validation). A budget that provably
  // cannot be met is not an error: see infeasible().
  static absl::StatusOr<Formulation> Build(const GraphModel& graph,
                                           const ProfileModel& profile,
                                           const FormulationOptions& options);

  // Set when the budget cannot be met before any solving: explains which
  // kernel needs more fast memory than its limit, and why. The model is then
  // empty.
  const std::optional<std::string>& infeasible() const { return infeasible_; }

  const IlpModel& model() const { return model_; }

  // Decodes a solution of model() (values rounded at 0.5) into one schedule
  // per tensor, ready for AssemblePlan.
  std::vector<TensorSchedule> Decode(const std::vector<double>& values) const;

  // The inverse: values of the integer columns of model() that represent
  // `schedule` (continuous columns are left 0, to be re-solved), for use as
  // a solver's starting solution. InvalidArgument when the schedule has a
  // move where this formulation has no decision point, or puts a kernel in
  // a configuration it cannot choose. Does not check capacity.
  absl::StatusOr<std::vector<double>> Encode(
      const std::vector<TensorSchedule>& schedule) const;

  // The kernel each column of model() belongs to, for searches that free
  // the columns of a stretch of kernels: a flow column's is its decision
  // point's kernel (the creation for the source edges), a configuration
  // column's its kernel; -1 for continuous columns (kernel times z and
  // capacity sums U), which depend on integer columns everywhere.
  std::vector<int> ColumnKernels() const;

  // What each integer column of model() stands for, so that columns of
  // structurally identical tensors or kernels can be tied
  // (solver/repetition.h). A flow column: its tensor, its gadget index and
  // which edge (kind); a configuration column: its kernel and configuration
  // mask. Continuous columns have tensor = kernel = -1.
  struct ColumnRole {
    enum Kind : int8_t {
      kNone = 0,
      kStaticFast,
      kSourceFast,
      kSourceSlow,
      kRead,
      kFastFast,
      kFastSlow,
      kCleanFast,
      kCleanSlow,
      kSlowSlow,
      kConfiguration,
    };
    int tensor = -1;
    int kernel = -1;
    int gadget = -1;
    Kind kind = kNone;
    ConfigMask mask = 0;
    // The decision point's copies overlap its kernel (ASYNCHRONOUS).
    bool async = false;
  };
  std::vector<ColumnRole> ColumnRoles() const;

 private:
  // Columns of one free tensor's flow graph (-1 where an edge does not exist).
  struct Interval {
    int f1_f1 = -1, f1_s = -1, f2_f2 = -1, f2_s = -1, s_s = -1;
    // Recomputation: drops from F1, F2 or S into the dropped state, and the
    // re-runs that leave it into F1 at gadget rerun_into (its only ways
    // out): the next gadget (SYNCHRONOUS), the next use, past the
    // asynchronous points in between (ASYNCHRONOUS). `recompute` reads dead
    // inputs kept slow; each of `remakes` (SYNCHRONOUS) makes a chain of
    // inputs again first (remade_chains_, FormulationOptions::
    // max_remade_inputs). STATIC: f1_x = recompute is the one drop column of
    // a fast tensor, re-made at the next gadget (its use).
    int f1_x = -1, f2_x = -1, s_x = -1, recompute = -1;
    int rerun_into = -1;
    std::vector<int> remakes;
  };
  struct TensorFlow {
    std::vector<int> gadgets;         // kernel indices u_1 < ... < u_G
    int source_f1 = -1;               // created fast
    int source_s = -1;                // created slow
    std::vector<Interval> intervals;  // after gadget g (the last: to the end)
    std::vector<int> reads;           // read at gadget g (-1 for g = 0)
    std::vector<char> async;          // moves at gadget g overlap its kernel
    // Per gadget: the interval whose re-run columns re-make the tensor into
    // F1 there (-1: none).
    std::vector<int> remade_from;
    // STATIC: the single "fast" column. With recomputation candidates the
    // gadgets are then the tensor's uses and `intervals` hold its drops.
    int static_fast = -1;
    // Kept in slow memory past its life, from F1 / F2 / S at the last
    // gadget (recomputation inputs; -1 when it cannot be kept).
    int keep_f1 = -1, keep_f2 = -1, keep_s = -1;
  };

  Formulation() = default;

  // Encode's first half: sets the flow columns along free tensor t's
  // schedule `entry`; InvalidArgument when a move, drop or keep has no edge.
  absl::Status EncodeTensorFlow(int t, const TensorSchedule& entry,
                                std::vector<double>& values) const;
  // The re-run column of interval `in` that `recompute` takes: the one
  // that makes its remade_inputs again first, or (none) the one that reads
  // inputs as they are; -1 when the interval has no such column.
  int RerunColumn(const Interval& in,
                  const ScheduledRecompute& recompute) const;
  // EncodeTensorFlow for a STATIC tensor: its tier, drops and keep.
  absl::Status EncodeStaticTensor(int t, const TensorSchedule& entry,
                                  std::vector<double>& values) const;
  // Encode's second half: sets the configuration column of every kernel
  // that has them to the configuration its operands' `tiers` (per tensor,
  // per live kernel) give; InvalidArgument when it cannot choose that one.
  absl::Status EncodeKernelChoices(
      const std::vector<std::vector<v1::Tier>>& tiers,
      std::vector<double>& values) const;
  // Build's last-line check against kMaxIlpCoefficient.
  absl::Status CheckCoefficients() const;

  const GraphModel* graph_ = nullptr;
  v1::Method method_ = v1::METHOD_UNSPECIFIED;
  IlpModel model_;
  // Tier of tensors that carry no variables, else TIER_UNSPECIFIED.
  std::vector<v1::Tier> fixed_tier_;
  std::vector<TensorFlow> flows_;
  // Per re-run chain column (Interval::remakes): the inputs it makes again,
  // in re-run order (ScheduledRecompute::remade_inputs).
  absl::flat_hash_map<int, std::vector<int>> remade_chains_;
  // Per kernel with configuration variables: (full configuration mask,
  // column) of each usable configuration.
  std::vector<std::vector<std::pair<ConfigMask, int>>> config_columns_;
  // Per kernel with a separable cost: the operand positions its cost keeps
  // fast (KernelCost::OnlyFast) whose free tensor a row pins fast there.
  std::vector<std::vector<int>> only_fast_positions_;
  std::optional<std::string> infeasible_;

  friend class FormulationBuilder;
};

}  // namespace autotm::solver

#endif  // AUTOTM_SOLVER_FORMULATION_H_
