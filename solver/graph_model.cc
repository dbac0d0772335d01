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

}  // namespace

absl::StatusOr<GraphModel> GraphModel::Create(const v1::Graph& graph,
                                              const GraphLimits& limits) {
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
  // Ids are checked for length before they are copied or hashed.
  auto too_long = [&](absl::string_view what, const std::string& id) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " is ", id.size(), " bytes long, more than the limit of ",
        limits.max_id_bytes, " bytes (starts '", id.substr(0, 40), "')"));
  };
  if (static_cast<int64_t>(graph.name().size()) > limits.max_id_bytes) {
    return too_long("the graph name", graph.name());
  }

  GraphModel model;
  model.name_ = graph.name();
  model.tensors_.reserve(graph.tensors_size());
  for (int t = 0; t < graph.tensors_size(); ++t) {
    const v1::Tensor& tensor = graph.tensors(t);
    if (tensor.id().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor #", t, " has an empty id"));
    }
    if (static_cast<int64_t>(tensor.id().size()) > limits.max_id_bytes) {
      return too_long(absl::StrCat("the id of tensor #", t), tensor.id());
    }
    if (!model.tensor_index_.emplace(tensor.id(), t).second) {
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
    if (tensor.size_bytes() > limits.max_total_bytes - model.total_bytes_) {
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
    SaturatingAddTo(model.total_bytes_, info.size_bytes);
    model.tensors_.push_back(std::move(info));
  }

  const int num_kernels = graph.kernels_size();
  // Last kernel reading each tensor, -1 when none.
  std::vector<int> last_use(model.tensors_.size(), -1);
  // Last kernel (+1) that listed each tensor as an output / as any operand:
  // duplicate checks in O(1) instead of a scan of the kernel's operands.
  std::vector<int> output_mark(model.tensors_.size(), 0);
  std::vector<int> operand_mark(model.tensors_.size(), 0);
  model.kernels_.reserve(num_kernels);
  for (int k = 0; k < num_kernels; ++k) {
    const v1::Kernel& kernel = graph.kernels(k);
    if (kernel.id().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("kernel #", k, " has an empty id"));
    }
    if (static_cast<int64_t>(kernel.id().size()) > limits.max_id_bytes) {
      return too_long(absl::StrCat("the id of kernel #", k), kernel.id());
    }
    if (!model.kernel_index_.emplace(kernel.id(), k).second) {
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
          too_long("signature.op", kernel.signature().op()).message());
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
                          kernel.signature().outputs_size(),
                          kernel.inputs_size(), kernel.outputs_size()));
    }
    KernelInfo info;
    info.id = kernel.id();
    info.num_inputs = kernel.inputs_size();
    info.num_outputs = kernel.outputs_size();
    info.signature_key = SignatureKey(kernel.signature());
    auto resolve = [&](const std::string& id) -> absl::StatusOr<int> {
      auto it = model.tensor_index_.find(id);
      if (it == model.tensor_index_.end()) {
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
      last_use[*t] = k;
      info.operands.push_back(*t);
    }
    for (const std::string& id : kernel.outputs()) {
      absl::StatusOr<int> t = resolve(id);
      if (!t.ok()) return t.status();
      TensorInfo& tensor = model.tensors_[*t];
      if (output_mark[*t] == k + 1) {
        return KernelError(k, kernel.id(),
                           absl::StrCat("lists output '", id, "' twice"));
      }
      output_mark[*t] = k + 1;
      if (tensor.producer >= 0) {
        return KernelError(
            k, kernel.id(),
            absl::StrCat("produces tensor '", id, "', already produced by '",
                         model.kernels_[tensor.producer].id, "'"));
      }
      if (last_use[*t] == k) {
        return KernelError(
            k, kernel.id(),
            absl::StrCat("reads tensor '", id, "' that it also produces"));
      }
      if (last_use[*t] >= 0) {
        // Read before this kernel: used before it is produced.
        const int reader = last_use[*t];
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
    for (int t : info.operands) {
      if (operand_mark[t] != k + 1) {
        operand_mark[t] = k + 1;
        info.distinct_operands.push_back(t);
      }
    }
    model.kernels_.push_back(std::move(info));
  }

  // Lifetimes and decision points.
  std::vector<std::vector<int>> consumers(model.tensors_.size());
  for (int k = 0; k < num_kernels; ++k) {
    const KernelInfo& kernel = model.kernels_[k];
    for (int p = 0; p < kernel.num_inputs; ++p) {
      std::vector<int>& list = consumers[kernel.operands[p]];
      if (list.empty() || list.back() != k) list.push_back(k);
    }
  }
  for (int t = 0; t < model.num_tensors(); ++t) {
    TensorInfo& tensor = model.tensors_[t];
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
        return KernelError(readers.front(), model.kernels_[readers.front()].id,
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
    tensor.users.push_back(tensor.first_live);
    for (int k : readers) {
      if (k > tensor.first_live) tensor.users.push_back(k);
    }
  }

  // Live bytes per kernel from the intervals: +size where a tensor starts
  // living, -size after it ends, then a prefix sum. O(kernels + tensors);
  // every partial sum is a sum of sizes, so at most max_total_bytes.
  std::vector<uint64_t> starting(num_kernels + 1, 0);
  std::vector<uint64_t> ending(num_kernels + 1, 0);
  for (const TensorInfo& tensor : model.tensors_) {
    starting[tensor.first_live] += tensor.size_bytes;
    ending[tensor.last_live + 1] += tensor.size_bytes;
  }
  model.live_bytes_.assign(num_kernels, 0);
  uint64_t live = 0;
  for (int k = 0; k < num_kernels; ++k) {
    live = live + starting[k] - ending[k];
    model.live_bytes_[k] = live;
  }
  model.peak_live_bytes_ =
      *std::max_element(model.live_bytes_.begin(), model.live_bytes_.end());
  model.live_sets_ = std::make_shared<LiveSets>();
  return model;
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
