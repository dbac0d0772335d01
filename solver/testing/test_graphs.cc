#include "solver/testing/test_graphs.h"

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"

namespace autotm::solver::testing {

GraphBuilder& GraphBuilder::Tensor(const std::string& id, uint64_t size_bytes,
                                   v1::TensorRole role, v1::Tier fixed_tier) {
  v1::Tensor* tensor = graph_.add_tensors();
  tensor->set_id(id);
  tensor->set_size_bytes(size_bytes);
  tensor->set_role(role);
  tensor->set_fixed_tier(fixed_tier);
  return *this;
}

GraphBuilder& GraphBuilder::Kernel(const std::string& id,
                                   const std::vector<std::string>& inputs,
                                   const std::vector<std::string>& outputs) {
  auto size_of = [&](const std::string& tensor_id) -> int64_t {
    for (const auto& t : graph_.tensors()) {
      if (t.id() == tensor_id) return static_cast<int64_t>(t.size_bytes() / 4);
    }
    return 1;  // unknown ids are left for validation to report
  };
  v1::Kernel* kernel = graph_.add_kernels();
  kernel->set_id(id);
  kernel->set_op("test_op");
  v1::KernelSignature* signature = kernel->mutable_signature();
  signature->set_op("test_op");
  (*signature->mutable_attributes())["kernel"] = id;
  for (const auto& input : inputs) {
    kernel->add_inputs(input);
    v1::OperandSpec* spec = signature->add_inputs();
    spec->add_dims(size_of(input));
    spec->set_dtype(v1::DATA_TYPE_F32);
  }
  for (const auto& output : outputs) {
    kernel->add_outputs(output);
    v1::OperandSpec* spec = signature->add_outputs();
    spec->add_dims(size_of(output));
    spec->set_dtype(v1::DATA_TYPE_F32);
  }
  return *this;
}

v1::CopyBandwidths OptaneBandwidths() {
  v1::CopyBandwidths bandwidths;
  bandwidths.set_slow_to_fast_sync_gb_per_s(29);
  bandwidths.set_fast_to_slow_sync_gb_per_s(12);
  bandwidths.set_slow_to_fast_async_gb_per_s(2);
  bandwidths.set_fast_to_slow_async_gb_per_s(2.5);
  return bandwidths;
}

v1::Profile FullTableProfile(
    const GraphModel& graph,
    const std::function<double(int kernel, ConfigMask mask)>& time_us,
    const v1::CopyBandwidths& bandwidths) {
  v1::Profile profile;
  profile.mutable_host_class()->set_name("test");
  *profile.mutable_bandwidths() = bandwidths;
  // The graph proto is not kept by GraphModel, so rebuild signatures from
  // the keys' owners: tests pass graphs built by GraphBuilder, whose
  // signatures are recoverable from the kernel infos.
  for (int k = 0; k < graph.num_kernels(); ++k) {
    const KernelInfo& kernel = graph.kernel(k);
    v1::KernelProfile* entry = profile.add_kernels();
    v1::KernelSignature* signature = entry->mutable_signature();
    signature->set_op("test_op");
    (*signature->mutable_attributes())["kernel"] = kernel.id;
    for (int p = 0; p < static_cast<int>(kernel.operands.size()); ++p) {
      v1::OperandSpec* spec = p < kernel.num_inputs ? signature->add_inputs()
                                                    : signature->add_outputs();
      spec->add_dims(static_cast<int64_t>(
          graph.tensor(kernel.operands[p]).size_bytes / 4));
      spec->set_dtype(v1::DATA_TYPE_F32);
    }
    const int n = static_cast<int>(kernel.operands.size());
    for (ConfigMask mask = 0; mask < (ConfigMask{1} << n); ++mask) {
      v1::ConfigTiming* timing = entry->add_configs();
      timing->set_config(
          FormatConfig(mask, kernel.num_inputs, kernel.num_outputs));
      timing->set_time_us(time_us(k, mask));
    }
  }
  return profile;
}

double OptaneLikeTimeUs(double base_us, int num_inputs, ConfigMask mask) {
  double factor = 1;
  for (int p = 0; p < 64; ++p) {
    if (mask >> p & 1) factor += p < num_inputs ? 1.0 : 5.0;
  }
  return base_us * factor;
}

v1::Graph AsyncRecomputeGraph() {
  constexpr uint64_t kMiB = 1 << 20;
  GraphBuilder builder("async-recompute");
  builder.Tensor("x", 4 * kMiB, v1::TENSOR_ROLE_INPUT)
      .Tensor("a", 4 * kMiB)
      .Tensor("b", 4 * kMiB)
      .Tensor("c", 4 * kMiB)
      .Tensor("d", 4 * kMiB)
      .Tensor("e", 4 * kMiB)
      .Kernel("k0", {"x"}, {"a"})
      .Kernel("k1", {"a"}, {"b"})
      .Kernel("k2", {"b"}, {"c"})
      .Kernel("k3", {"a", "c"}, {"d"})
      .Kernel("k4", {"x", "d"}, {"e"});
  return builder.graph();
}

v1::Graph SkipConnectionGraph(
    const std::string& name, int kernels,
    const std::function<uint64_t(int tensor)>& size_bytes) {
  GraphBuilder builder(name);
  for (int t = 0; t <= kernels; ++t) {
    builder.Tensor(absl::StrCat("t", t), size_bytes(t),
                   t == 0 ? v1::TENSOR_ROLE_INPUT : v1::TENSOR_ROLE_ACTIVATION);
  }
  for (int k = 1; k <= kernels; ++k) {
    std::vector<std::string> inputs = {absl::StrCat("t", k - 1)};
    for (int back : {3, 7, 13}) {
      if (k - back >= 0) inputs.push_back(absl::StrCat("t", k - back));
    }
    builder.Kernel(absl::StrCat("k", k), inputs, {absl::StrCat("t", k)});
  }
  return builder.graph();
}

v1::Graph RandomGraph(std::mt19937_64& rng, int max_tensors, int max_kernels) {
  std::uniform_int_distribution<int> kernels_dist(2, max_kernels);
  const int num_kernels = kernels_dist(rng);
  GraphBuilder builder("random");
  std::vector<std::string> available;  // tensors that exist so far
  int next_tensor = 0;
  auto new_tensor = [&](v1::TensorRole role) {
    std::string id = absl::StrCat("t", next_tensor++);
    const uint64_t mib = std::uniform_int_distribution<int>(1, 8)(rng);
    builder.Tensor(id, mib << 20, role);
    return id;
  };
  // One or two graph arguments to start from.
  const int num_args =
      std::min(max_tensors - 1, 1 + static_cast<int>(rng() % 2));
  for (int i = 0; i < num_args; ++i) {
    available.push_back(
        new_tensor(i == 0 ? v1::TENSOR_ROLE_INPUT : v1::TENSOR_ROLE_WEIGHT));
  }
  std::vector<std::vector<std::string>> inputs(num_kernels),
      outputs(num_kernels);
  for (int k = 0; k < num_kernels; ++k) {
    // Kernel 0 reads every argument so that none is unused.
    if (k == 0) inputs[k] = available;
    const int num_inputs = k == 0 ? 0 : 1 + static_cast<int>(rng() % 2);
    for (int i = 0; i < num_inputs; ++i) {
      const std::string& pick = available[rng() % available.size()];
      if (std::find(inputs[k].begin(), inputs[k].end(), pick) ==
          inputs[k].end()) {
        inputs[k].push_back(pick);
      }
    }
    if (next_tensor < max_tensors) {
      outputs[k].push_back(new_tensor(v1::TENSOR_ROLE_ACTIVATION));
      available.push_back(outputs[k].back());
    }
    builder.Kernel(absl::StrCat("k", k), inputs[k], outputs[k]);
  }
  // Sizes were assigned at creation, so signatures carry the right shapes.
  return builder.graph();
}

GraphModel MustGraph(const v1::Graph& graph) {
  auto model = GraphModel::Create(graph);
  if (!model.ok()) {
    std::cerr << "MustGraph: " << model.status() << "\n";
    std::abort();
  }
  return *std::move(model);
}

ProfileModel MustProfile(const v1::Profile& profile,
                         const TableCollapseOptions& collapse) {
  auto model = ProfileModel::Create(profile, collapse);
  if (!model.ok()) {
    std::cerr << "MustProfile: " << model.status() << "\n";
    std::abort();
  }
  return *std::move(model);
}

int VariantCount(int full, int reduced) {
  const char* value = std::getenv("AUTOTM_TEST_REDUCED");
  const bool reduce =
      value != nullptr && value[0] != '\0' && std::string(value) != "0";
  return reduce ? std::min(full, reduced) : full;
}

}  // namespace autotm::solver::testing
