#include "solver/graph_model.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "solver/checked_math.h"
#include "solver/signature.h"
#include "solver/status_macros.h"

namespace autotm::solver {
namespace {

absl::Status KernelError(int index, const std::string& id,
                         absl::string_view problem) {
  return absl::InvalidArgumentError(
      absl::StrCat("kernel #", index, " '", id, "': ", problem));
}

absl::Status TensorError(const std::string& id, absl::string_view problem) {
  return absl::InvalidArgumentError(
      absl::StrCat("tensor '", id, "': ", problem));
}

// Ids are checked for length before they are copied or hashed.
absl::Status TooLong(const GraphLimits& limits, absl::string_view what,
                     const std::string& id) {
  return absl::InvalidArgumentError(absl::StrCat(
      what, " is ", id.size(), " bytes long, more than the limit of ",
      limits.max_id_bytes, " bytes (starts '", id.substr(0, 40), "')"));
}

// The graph's kernel and tensor counts and its name's length, checked before
// anything is copied.
absl::Status CheckGraphSize(const v1::Graph& graph, const GraphLimits& limits) {
  if (graph.kernels().empty()) {
    return absl::InvalidArgumentError("graph '" + graph.name() +
                                      "' is empty: it has no kernels");
  }
  if (graph.kernels_size() > limits.max_kernels) {
    return absl::InvalidArgumentError(
        absl::StrCat("graph has ", graph.kernels_size(),
                     " kernels, more than the limit of ", limits.max_kernels));
  }
  if (graph.tensors_size() > limits.max_tensors) {
    return absl::InvalidArgumentError(
        absl::StrCat("graph has ", graph.tensors_size(),
                     " tensors, more than the limit of ", limits.max_tensors));
  }
  if (static_cast<int64_t>(graph.name().size()) > limits.max_id_bytes) {
    return TooLong(limits, "the graph name", graph.name());
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<GraphModel> GraphModel::Create(const v1::Graph& graph,
                                              const GraphLimits& limits) {
  AUTOTM_RETURN_IF_ERROR(CheckGraphSize(graph, limits));
  GraphModel model;
  model.name_ = graph.name();
  AUTOTM_RETURN_IF_ERROR(model.AddTensors(graph, limits));
  OperandScan scan;
  scan.last_use.assign(model.tensors_.size(), -1);
  scan.output_mark.assign(model.tensors_.size(), 0);
  scan.operand_mark.assign(model.tensors_.size(), 0);
  model.kernels_.reserve(graph.kernels_size());
  for (int k = 0; k < graph.kernels_size(); ++k) {
    AUTOTM_RETURN_IF_ERROR(model.AddKernel(graph, k, limits, scan));
  }
  AUTOTM_RETURN_IF_ERROR(model.ComputeLifetimes());
  model.ComputeLiveBytes();
  model.live_sets_ = std::make_shared<LiveSets>();
  return model;
}

absl::Status GraphModel::AddTensors(const v1::Graph& graph,
                                    const GraphLimits& limits) {
  tensors_.reserve(graph.tensors_size());
  for (int t = 0; t < graph.tensors_size(); ++t) {
    const v1::Tensor& tensor = graph.tensors(t);
    if (tensor.id().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor #", t, " has an empty id"));
    }
    if (static_cast<int64_t>(tensor.id().size()) > limits.max_id_bytes) {
      return TooLong(limits, absl::StrCat("the id of tensor #", t),
                     tensor.id());
    }
    if (!tensor_index_.emplace(tensor.id(), t).second) {
      return TensorError(tensor.id(), "duplicate tensor id");
    }
    if (tensor.size_bytes() == 0) {
      return TensorError(tensor.id(), "size_bytes is 0; tensors must be > 0");
    }
    if (tensor.size_bytes() > limits.max_tensor_bytes) {
      return TensorError(tensor.id(),
                         absl::StrCat("size_bytes ", tensor.size_bytes(),
                                      " overflows the limit of ",
                                      limits.max_tensor_bytes, " bytes"));
    }
    // Enums arrive as open integers over the wire (proto3): refuse values
    // this version does not know (issue 18: fixed_tier = 7 became an
    // INTERNAL error of a queued job, role = 99 was accepted).
    if (!v1::TensorRole_IsValid(tensor.role())) {
      return TensorError(tensor.id(), absl::StrCat("role ", tensor.role(),
                                                   " is not a TensorRole"));
    }
    if (!v1::Tier_IsValid(tensor.fixed_tier())) {
      return TensorError(
          tensor.id(),
          absl::StrCat("fixed_tier ", tensor.fixed_tier(), " is not a Tier"));
    }
    // Each size is at most max_tensor_bytes (2^50) and the sum so far at
    // most max_total_bytes (2^60), so this addition cannot wrap.
    if (tensor.size_bytes() > limits.max_total_bytes - total_bytes_) {
      return TensorError(
          tensor.id(),
          absl::StrCat("brings the total size of all tensors over the limit "
                       "of ",
                       limits.max_total_bytes, " bytes"));
    }
    TensorInfo info;
    info.id = tensor.id();
    info.size_bytes = tensor.size_bytes();
    info.role = tensor.role();
    info.fixed_tier = tensor.fixed_tier();
    info.persistent = tensor.persistent();
    SaturatingAddTo(total_bytes_, info.size_bytes);
    tensors_.push_back(std::move(info));
  }
  return absl::OkStatus();
}

absl::Status GraphModel::AddKernel(const v1::Graph& graph, int k,
                                   const GraphLimits& limits,
                                   OperandScan& scan) {
  const v1::Kernel& kernel = graph.kernels(k);
  if (kernel.id().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("kernel #", k, " has an empty id"));
  }
  if (static_cast<int64_t>(kernel.id().size()) > limits.max_id_bytes) {
    return TooLong(limits, absl::StrCat("the id of kernel #", k), kernel.id());
  }
  if (!kernel_index_.emplace(kernel.id(), k).second) {
    return KernelError(k, kernel.id(), "duplicate kernel id");
  }
  if (!kernel.has_signature() || kernel.signature().op().empty()) {
    return KernelError(k, kernel.id(),
                       "has no signature (signature.op is empty)");
  }
  if (static_cast<int64_t>(kernel.signature().op().size()) >
      limits.max_id_bytes) {
    return KernelError(
        k, kernel.id(),
        TooLong(limits, "signature.op", kernel.signature().op()).message());
  }
  if (int64_t{kernel.inputs_size()} + kernel.outputs_size() >
      limits.max_operands_per_kernel) {
    return KernelError(
        k, kernel.id(),
        absl::StrCat("has ", kernel.inputs_size(), " inputs and ",
                     kernel.outputs_size(),
                     " outputs, more than the limit "
                     "of ",
                     limits.max_operands_per_kernel, " operands per kernel"));
  }
  if (kernel.signature().inputs_size() != kernel.inputs_size() ||
      kernel.signature().outputs_size() != kernel.outputs_size()) {
    return KernelError(
        k, kernel.id(),
        absl::StrFormat("signature has %d inputs and %d outputs but the "
                        "kernel has %d inputs and %d outputs",
                        kernel.signature().inputs_size(),
                        kernel.signature().outputs_size(), kernel.inputs_size(),
                        kernel.outputs_size()));
  }
  KernelInfo info;
  info.id = kernel.id();
  info.num_inputs = kernel.inputs_size();
  info.num_outputs = kernel.outputs_size();
  info.signature_key = SignatureKey(kernel.signature());
  AUTOTM_RETURN_IF_ERROR(AddOperands(graph, k, info, scan));
  for (int t : info.operands) {
    if (scan.operand_mark[t] != k + 1) {
      scan.operand_mark[t] = k + 1;
      info.distinct_operands.push_back(t);
    }
  }
  kernels_.push_back(std::move(info));
  return absl::OkStatus();
}

absl::Status GraphModel::AddOperands(const v1::Graph& graph, int k,
                                     KernelInfo& info, OperandScan& scan) {
  const v1::Kernel& kernel = graph.kernels(k);
  auto resolve = [&](const std::string& id) -> absl::StatusOr<int> {
    auto it = tensor_index_.find(id);
    if (it == tensor_index_.end()) {
      return KernelError(k, kernel.id(),
                         absl::StrCat("unknown tensor id '", id, "'"));
    }
    return it->second;
  };
  for (const std::string& id : kernel.inputs()) {
    absl::StatusOr<int> t = resolve(id);
    if (!t.ok()) return t.status();
    // Whether the tensor exists yet is checked when its producer comes
    // (a producer after a reader is a use before production).
    scan.last_use[*t] = k;
    info.operands.push_back(*t);
  }
  for (const std::string& id : kernel.outputs()) {
    absl::StatusOr<int> t = resolve(id);
    if (!t.ok()) return t.status();
    TensorInfo& tensor = tensors_[*t];
    if (scan.output_mark[*t] == k + 1) {
      return KernelError(k, kernel.id(),
                         absl::StrCat("lists output '", id, "' twice"));
    }
    scan.output_mark[*t] = k + 1;
    if (tensor.producer >= 0) {
      return KernelError(
          k, kernel.id(),
          absl::StrCat("produces tensor '", id, "', already produced by '",
                       kernels_[tensor.producer].id, "'"));
    }
    if (scan.last_use[*t] == k) {
      return KernelError(
          k, kernel.id(),
          absl::StrCat("reads tensor '", id, "' that it also produces"));
    }
    if (scan.last_use[*t] >= 0) {
      // Read before this kernel: used before it is produced.
      const int reader = scan.last_use[*t];
      return KernelError(
          reader, graph.kernels(reader).id(),
          absl::StrCat("uses tensor '", id, "' before it is produced (by '",
                       kernel.id(), "', kernel #", k, ")"));
    }
    if (tensor.role == v1::TENSOR_ROLE_CONSTANT) {
      return KernelError(k, kernel.id(),
                         absl::StrCat("produces constant tensor '", id,
                                      "'; constants are never written"));
    }
    if (tensor.role == v1::TENSOR_ROLE_INPUT) {
      return KernelError(k, kernel.id(),
                         absl::StrCat("produces input tensor '", id,
                                      "'; inputs are fed by the framework"));
    }
    tensor.producer = k;
    info.operands.push_back(*t);
  }
  return absl::OkStatus();
}

absl::Status GraphModel::ComputeLifetimes() {
  const int num_kernels = static_cast<int>(kernels_.size());
  std::vector<std::vector<int>> consumers(tensors_.size());
  for (int k = 0; k < num_kernels; ++k) {
    const KernelInfo& kernel = kernels_[k];
    for (int p = 0; p < kernel.num_inputs; ++p) {
      std::vector<int>& list = consumers[kernel.operands[p]];
      if (list.empty() || list.back() != k) list.push_back(k);
    }
  }
  for (int t = 0; t < num_tensors(); ++t) {
    TensorInfo& tensor = tensors_[t];
    const std::vector<int>& readers = consumers[t];
    if (tensor.role == v1::TENSOR_ROLE_UNSPECIFIED) {
      tensor.role = tensor.producer >= 0 ? v1::TENSOR_ROLE_ACTIVATION
                                         : v1::TENSOR_ROLE_INPUT;
    }
    if (tensor.producer < 0) {
      if (tensor.role == v1::TENSOR_ROLE_ACTIVATION ||
          tensor.role == v1::TENSOR_ROLE_GRADIENT) {
        if (readers.empty()) {
          return TensorError(tensor.id, "is neither produced nor used");
        }
        return KernelError(readers.front(), kernels_[readers.front()].id,
                           absl::StrCat("uses activation '", tensor.id,
                                        "' before it is produced (no kernel "
                                        "produces it)"));
      }
      if (readers.empty()) {
        return TensorError(tensor.id, "is neither produced nor used");
      }
      tensor.first_live = 0;
      tensor.last_live = readers.back();
    } else {
      tensor.first_live = tensor.producer;
      tensor.last_live = readers.empty() ? tensor.producer : readers.back();
      // An updated weight (or optimizer state) is the next iteration's:
      // it persists.
      if (tensor.role == v1::TENSOR_ROLE_WEIGHT ||
          tensor.role == v1::TENSOR_ROLE_OPTIMIZER_STATE) {
        tensor.last_live = num_kernels - 1;
      }
    }
    // Handed on as it is (a buffer no kernel replaces, the loss): whatever
    // fast memory it holds stays taken after its last reader.
    if (tensor.persistent) tensor.last_live = num_kernels - 1;
    tensor.users.push_back(tensor.first_live);
    for (int k : readers) {
      if (k > tensor.first_live) tensor.users.push_back(k);
    }
  }
  return absl::OkStatus();
}

void GraphModel::ComputeLiveBytes() {
  const int num_kernels = static_cast<int>(kernels_.size());
  // Live bytes per kernel from the intervals: +size where a tensor starts
  // living, -size after it ends, then a prefix sum. O(kernels + tensors);
  // every partial sum is a sum of sizes, so at most max_total_bytes.
  std::vector<uint64_t> starting(num_kernels + 1, 0);
  std::vector<uint64_t> ending(num_kernels + 1, 0);
  for (const TensorInfo& tensor : tensors_) {
    starting[tensor.first_live] += tensor.size_bytes;
    ending[tensor.last_live + 1] += tensor.size_bytes;
  }
  live_bytes_.assign(num_kernels, 0);
  uint64_t live = 0;
  for (int k = 0; k < num_kernels; ++k) {
    live = live + starting[k] - ending[k];
    live_bytes_[k] = live;
  }
  peak_live_bytes_ = *std::max_element(live_bytes_.begin(), live_bytes_.end());
}

absl::Span<const int> GraphModel::LiveAt(int kernel) const {
  LiveSets& sets = *live_sets_;
  absl::call_once(sets.once, [this, &sets] {
    const int num_kernels = static_cast<int>(kernels_.size());
    // Counting sort by kernel: sizes, offsets, then tensors in ascending
    // index order into each kernel's row.
    std::vector<int64_t> count(num_kernels + 1, 0);
    for (const TensorInfo& tensor : tensors_) {
      ++count[tensor.first_live];
      --count[tensor.last_live + 1];
    }
    sets.begin.assign(num_kernels + 1, 0);
    int64_t live = 0;
    for (int k = 0; k < num_kernels; ++k) {
      live += count[k];
      sets.begin[k + 1] = sets.begin[k] + live;
    }
    sets.tensors.resize(sets.begin[num_kernels]);
    std::vector<int64_t> cursor(sets.begin.begin(), sets.begin.end() - 1);
    for (int t = 0; t < static_cast<int>(tensors_.size()); ++t) {
      for (int k = tensors_[t].first_live; k <= tensors_[t].last_live; ++k) {
        sets.tensors[cursor[k]++] = t;
      }
    }
  });
  return absl::MakeConstSpan(sets.tensors.data() + sets.begin[kernel],
                             sets.begin[kernel + 1] - sets.begin[kernel]);
}

int GraphModel::FindTensor(absl::string_view id) const {
  auto it = tensor_index_.find(id);
  return it == tensor_index_.end() ? -1 : it->second;
}

int GraphModel::FindKernel(absl::string_view id) const {
  auto it = kernel_index_.find(id);
  return it == kernel_index_.end() ? -1 : it->second;
}

}  // namespace autotm::solver
