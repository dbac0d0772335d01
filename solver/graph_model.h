// A validated, indexed view of a training graph (autotm.v1.Graph).
#ifndef AUTOTM_SOLVER_GRAPH_MODEL_H_
#define AUTOTM_SOLVER_GRAPH_MODEL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/call_once.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "autotm/v1/graph.pb.h"

namespace autotm::solver {

// Caps that keep a hostile or mistaken graph from exhausting memory or
// overflowing arithmetic. GraphModel::Create checks them before building
// anything large, so every entry point that validates a graph (the CLI's
// file readers, every RPC that takes a graph, the profiler agent) refuses a
// graph over a cap with InvalidArgument naming the cap. Validation itself
// needs O(kernels + tensors + operands) memory, so a graph at the caps is
// validated, not exhausted.
struct GraphLimits {
  int64_t max_kernels = 1'000'000;
  int64_t max_tensors = 4'000'000;
  // Inputs plus outputs of one kernel. Far above any real kernel (the zoo's
  // widest has a few dozen); a full configuration table needs 2^n entries
  // anyway, so wide kernels are profiled with separable costs.
  int64_t max_operands_per_kernel = 4096;
  // Bytes of the graph name, every kernel and tensor id, and every
  // signature op.
  int64_t max_id_bytes = 1024;
  // One tensor may not exceed 2^50 bytes (1 PiB): sizes stay exact in double
  // arithmetic.
  uint64_t max_tensor_bytes = uint64_t{1} << 50;
  // All tensors together may not exceed 2^60 bytes (1 EiB), so that every
  // sum of sizes (live bytes, totals, budgets derived from them) is exact
  // in uint64 and never wraps around.
  uint64_t max_total_bytes = uint64_t{1} << 60;
};

struct TensorInfo {
  std::string id;
  uint64_t size_bytes = 0;
  // Never TENSOR_ROLE_UNSPECIFIED: inferred as ACTIVATION when a kernel
  // produces the tensor and INPUT otherwise.
  v1::TensorRole role = v1::TENSOR_ROLE_UNSPECIFIED;
  // TIER_UNSPECIFIED when the planner may choose.
  v1::Tier fixed_tier = v1::TIER_UNSPECIFIED;
  // Index of the producing kernel, or -1 for graph arguments (weights,
  // inputs, constants), which exist from kernel 0.
  int producer = -1;
  // Tensor.persistent: the iteration hands it on, so it lives to the end.
  bool persistent = false;
  // The tensor occupies memory at kernels [first_live, last_live]. It is
  // created at first_live (its producer, or 0) and freed after last_live (its
  // last consumer; the end of the iteration for an updated weight and a
  // persistent tensor).
  int first_live = 0;
  int last_live = 0;
  // first_live followed by every distinct consuming kernel after it, in
  // execution order: the points where a synchronous plan may move it.
  std::vector<int> users;
};

struct KernelInfo {
  std::string id;
  // Tensor index per operand position, inputs then outputs. A tensor may
  // occupy several positions.
  std::vector<int> operands;
  int num_inputs = 0;
  int num_outputs = 0;
  // SignatureKey() of the kernel's signature: the profile key.
  std::string signature_key;
  // Distinct operand tensors, in first-appearance order.
  std::vector<int> distinct_operands;
};

class GraphModel {
 public:
  // Validates `graph` and builds the index. Returns InvalidArgument naming
  // the offending kernel or tensor and the rule it breaks: empty graph, too
  // many kernels or tensors, missing or duplicate id, zero or oversized
  // tensor, unknown tensor id, a tensor produced twice or used before it is
  // produced, a produced constant, a tensor neither produced nor used, a
  // signature whose operand counts differ from the kernel's, or a cap of
  // `limits` exceeded (the message names the cap). Time and memory are
  // O(kernels + tensors + operands).
  static absl::StatusOr<GraphModel> Create(const v1::Graph& graph,
                                           const GraphLimits& limits = {});

  const std::string& name() const { return name_; }
  int num_tensors() const { return static_cast<int>(tensors_.size()); }
  int num_kernels() const { return static_cast<int>(kernels_.size()); }
  const TensorInfo& tensor(int index) const { return tensors_[index]; }
  const KernelInfo& kernel(int index) const { return kernels_[index]; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const std::vector<KernelInfo>& kernels() const { return kernels_; }

  // Index of the tensor or kernel with this id, or -1.
  int FindTensor(absl::string_view id) const;
  int FindKernel(absl::string_view id) const;

  // Tensors live at `kernel`, ascending by index. Liveness is stored as
  // intervals (TensorInfo::first_live/last_live); these per-kernel sets are
  // materialized on the first call, all at once, in one array of
  // sum over tensors of (last_live - first_live + 1) entries (a chain of K
  // kernels whose outputs all live to the end has K^2/2). Only the ILP
  // formulation needs them; anything else should use the intervals,
  // LiveBytes() or PeakLiveBytes(), which cost O(kernels). Thread-safe.
  absl::Span<const int> LiveAt(int kernel) const;
  // Sum of the sizes of the tensors live at `kernel`.
  uint64_t LiveBytes(int kernel) const { return live_bytes_[kernel]; }
  // max over kernels of LiveBytes(): the fast memory that runs everything
  // in the fast tier.
  uint64_t PeakLiveBytes() const { return peak_live_bytes_; }
  // Sum of all tensor sizes (at most GraphLimits::max_total_bytes).
  uint64_t TotalBytes() const { return total_bytes_; }

 private:
  GraphModel() = default;

  // Create's stages, in order; each returns Create's error for what it
  // checks, and the model is usable only when all of them succeeded.
  //
  // Validates and appends every tensor (ids, sizes, enums, total size);
  // fills tensors_, tensor_index_ and total_bytes_.
  absl::Status AddTensors(const v1::Graph& graph, const GraphLimits& limits);
  // Scratch per tensor while the kernels are added, in kernel order.
  struct OperandScan {
    // Last kernel reading each tensor, -1 when none.
    std::vector<int> last_use;
    // Last kernel (+1) that listed each tensor as an output / as any
    // operand: duplicate checks in O(1) instead of a scan of the operands.
    std::vector<int> output_mark;
    std::vector<int> operand_mark;
  };
  // Validates and appends kernel k (ids, signature, operand counts, then
  // its operands: see AddOperands); fills kernels_ and kernel_index_.
  absl::Status AddKernel(const v1::Graph& graph, int k,
                         const GraphLimits& limits, OperandScan& scan);
  // Resolves kernel k's input and output ids into `info`, setting each
  // output's producer. Errors: unknown ids, outputs listed twice or produced
  // twice, a tensor read by its own producer or before it is produced, a
  // produced constant or input.
  absl::Status AddOperands(const v1::Graph& graph, int k, KernelInfo& info,
                           OperandScan& scan);
  // Sets every tensor's role (when unspecified), live range and users, from
  // its producer and readers; InvalidArgument for a tensor neither produced
  // nor used, or an activation or gradient that no kernel produces.
  absl::Status ComputeLifetimes();
  // live_bytes_ and peak_live_bytes_ from the live ranges.
  void ComputeLiveBytes();

  std::string name_;
  std::vector<TensorInfo> tensors_;
  std::vector<KernelInfo> kernels_;
  absl::flat_hash_map<std::string, int> tensor_index_;
  absl::flat_hash_map<std::string, int> kernel_index_;
  // LiveAt()'s sets in compressed rows, built on first use; shared by
  // copies of the model (it is immutable once built).
  struct LiveSets {
    absl::once_flag once;
    std::vector<int64_t>
        begin;  // kernel k's set: tensors[begin[k], begin[k+1])
    std::vector<int> tensors;
  };
  std::shared_ptr<LiveSets> live_sets_;
  std::vector<uint64_t> live_bytes_;
  uint64_t peak_live_bytes_ = 0;
  uint64_t total_bytes_ = 0;
};

}  // namespace autotm::solver

#endif  // AUTOTM_SOLVER_GRAPH_MODEL_H_
