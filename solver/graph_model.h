// A validated, indexed view of a training graph (autotm.v1.Graph).
#ifndef AUTOTM_SOLVER_GRAPH_MODEL_H_
#define AUTOTM_SOLVER_GRAPH_MODEL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "autotm/v1/graph.pb.h"

namespace autotm::solver {

// Caps that keep a hostile or mistaken graph from exhausting memory.
struct GraphLimits {
  int64_t max_kernels = 1'000'000;
  int64_t max_tensors = 4'000'000;
  // One tensor may not exceed 2^50 bytes (1 PiB): sizes stay exact in double
  // arithmetic and sums cannot overflow.
  uint64_t max_tensor_bytes = uint64_t{1} << 50;
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
  // The tensor occupies memory at kernels [first_live, last_live]. It is
  // created at first_live (its producer, or 0) and freed after last_live (its
  // last consumer; the end of the iteration for an updated weight).
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
  // produced, a produced constant, a tensor neither produced nor used, or a
  // signature whose operand counts differ from the kernel's.
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

  // Tensors live at `kernel`, ascending by index.
  const std::vector<int>& LiveAt(int kernel) const { return live_[kernel]; }
  // Sum of the sizes of the tensors live at `kernel`.
  uint64_t LiveBytes(int kernel) const { return live_bytes_[kernel]; }
  // max over kernels of LiveBytes(): the fast memory that runs everything
  // in the fast tier.
  uint64_t PeakLiveBytes() const { return peak_live_bytes_; }
  // Sum of all tensor sizes.
  uint64_t TotalBytes() const { return total_bytes_; }

 private:
  GraphModel() = default;

  std::string name_;
  std::vector<TensorInfo> tensors_;
  std::vector<KernelInfo> kernels_;
  absl::flat_hash_map<std::string, int> tensor_index_;
  absl::flat_hash_map<std::string, int> kernel_index_;
  std::vector<std::vector<int>> live_;
  std::vector<uint64_t> live_bytes_;
  uint64_t peak_live_bytes_ = 0;
  uint64_t total_bytes_ = 0;
};

}  // namespace autotm::solver

#endif  // AUTOTM_SOLVER_GRAPH_MODEL_H_
