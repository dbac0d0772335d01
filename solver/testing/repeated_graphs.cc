#include "solver/testing/repeated_graphs.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "solver/profile_model.h"
#include "solver/signature.h"
#include "solver/testing/test_graphs.h"

namespace autotm::solver::testing {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;

class Builder {
 public:
  void Tensor(const std::string& id, uint64_t bytes, v1::TensorRole role) {
    v1::Tensor* tensor = graph_.add_tensors();
    tensor->set_id(id);
    tensor->set_size_bytes(bytes);
    tensor->set_role(role);
    sizes_.push_back({id, bytes});
  }
  // Kernels of one `kind` with equal operand sizes share a signature.
  void Kernel(const std::string& id, const std::string& kind,
              const std::vector<std::string>& inputs,
              const std::vector<std::string>& outputs) {
    v1::Kernel* kernel = graph_.add_kernels();
    kernel->set_id(id);
    kernel->set_op(kind);
    v1::KernelSignature* signature = kernel->mutable_signature();
    signature->set_op(kind);
    for (const std::string& input : inputs) {
      kernel->add_inputs(input);
      AddSpec(signature->add_inputs(), input);
    }
    for (const std::string& output : outputs) {
      kernel->add_outputs(output);
      AddSpec(signature->add_outputs(), output);
    }
  }
  v1::Graph& graph() { return graph_; }

 private:
  void AddSpec(v1::OperandSpec* spec, const std::string& id) {
    for (const auto& [name, bytes] : sizes_) {
      if (name == id) spec->add_dims(static_cast<int64_t>(bytes / 4));
    }
    spec->set_dtype(v1::DATA_TYPE_F32);
  }
  v1::Graph graph_;
  std::vector<std::pair<std::string, uint64_t>> sizes_;
};

}  // namespace

v1::Graph RepeatedResidualGraph(int layers, bool vary_last_layer) {
  Builder b;
  b.graph().set_name(absl::StrCat("repeated-residual-", layers));
  b.Tensor("x0", 4 * kMiB, v1::TENSOR_ROLE_INPUT);
  for (int i = 0; i < layers; ++i) {
    const bool varied = vary_last_layer && i == layers - 1;
    b.Tensor(absl::StrCat("w", i), (varied ? 3 : 2) * kMiB,
             v1::TENSOR_ROLE_WEIGHT);
  }
  for (int i = 0; i < layers; ++i) {
    const std::string n = absl::StrCat(i);
    const std::string next = absl::StrCat(i + 1);
    b.Tensor("a" + n, 4 * kMiB, v1::TENSOR_ROLE_ACTIVATION);
    b.Tensor("b" + n, 4 * kMiB, v1::TENSOR_ROLE_ACTIVATION);
    b.Tensor("x" + next, 4 * kMiB, v1::TENSOR_ROLE_ACTIVATION);
    b.Kernel("conv" + n, "conv", {"x" + n, "w" + n}, {"a" + n});
    b.Kernel("relu" + n, "relu", {"a" + n}, {"b" + n});
    b.Kernel("add" + n, "add", {"b" + n, "x" + n}, {"x" + next});
  }
  const std::string last = absl::StrCat("g", layers);
  b.Tensor(last, 4 * kMiB, v1::TENSOR_ROLE_ACTIVATION);
  b.Kernel("loss", "loss", {absl::StrCat("x", layers)}, {last});
  for (int i = layers - 1; i >= 0; --i) {
    const std::string n = absl::StrCat(i);
    const std::string up = absl::StrCat("g", i + 1);
    b.Tensor("ga" + n, 4 * kMiB, v1::TENSOR_ROLE_ACTIVATION);
    b.Tensor("gx" + n, 4 * kMiB, v1::TENSOR_ROLE_ACTIVATION);
    const uint64_t weight_bytes =
        (vary_last_layer && i == layers - 1 ? 3 : 2) * kMiB;
    b.Tensor("dw" + n, weight_bytes, v1::TENSOR_ROLE_GRADIENT);
    b.Tensor("g" + n, 4 * kMiB, v1::TENSOR_ROLE_ACTIVATION);
    b.Tensor("w" + n + ".next", weight_bytes, v1::TENSOR_ROLE_WEIGHT);
    b.Kernel("relu_bwd" + n, "relu_bwd", {up, "b" + n}, {"ga" + n});
    b.Kernel("conv_bwd_data" + n, "conv_bwd_data", {"ga" + n, "w" + n},
             {"gx" + n});
    b.Kernel("conv_bwd_weight" + n, "conv_bwd_weight", {"ga" + n, "x" + n},
             {"dw" + n});
    b.Kernel("add_bwd" + n, "add_bwd", {"gx" + n, up}, {"g" + n});
    b.Kernel("sgd" + n, "sgd", {"w" + n, "dw" + n}, {"w" + n + ".next"});
  }
  return b.graph();
}

v1::Profile RepeatedResidualProfile(const v1::Graph& graph) {
  v1::Profile profile;
  profile.mutable_host_class()->set_name("test");
  *profile.mutable_bandwidths() = OptaneBandwidths();
  absl::flat_hash_set<std::string> seen;
  for (const v1::Kernel& kernel : graph.kernels()) {
    if (!seen.insert(SignatureKey(kernel.signature())).second) continue;
    v1::KernelProfile* entry = profile.add_kernels();
    *entry->mutable_signature() = kernel.signature();
    const int inputs = kernel.inputs_size();
    const int n = inputs + kernel.outputs_size();
    // Heavier kernels for convolutions, as in real networks.
    const double base_us =
        kernel.op().rfind("conv", 0) == 0 ? 400.0 : 60.0 + 10.0 * n;
    for (ConfigMask mask = 0; mask < (ConfigMask{1} << n); ++mask) {
      v1::ConfigTiming* timing = entry->add_configs();
      timing->set_config(FormatConfig(mask, inputs, kernel.outputs_size()));
      timing->set_time_us(OptaneLikeTimeUs(base_us, inputs, mask));
    }
  }
  return profile;
}

}  // namespace autotm::solver::testing
