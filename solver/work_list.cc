#include "solver/work_list.h"

#include <algorithm>
#include <utility>

namespace autotm::solver {

OperandUsage FromProto(const v1::OperandUsage& usage) {
  OperandUsage out;
  out.first_position.assign(usage.first_position().begin(),
                            usage.first_position().end());
  for (int tier : usage.fixed_tier()) {
    out.fixed_tier.push_back(static_cast<v1::Tier>(tier));
  }
  return out;
}

v1::OperandUsage ToProto(const OperandUsage& usage) {
  v1::OperandUsage out;
  out.mutable_first_position()->Assign(usage.first_position.begin(),
                                       usage.first_position.end());
  for (v1::Tier tier : usage.fixed_tier) out.add_fixed_tier(tier);
  return out;
}

void WorkListBuilder::AddGraph(const v1::Graph& graph) {
  const int g = graphs_++;
  absl::flat_hash_map<std::string, v1::Tier> pinned;
  for (const v1::Tensor& tensor : graph.tensors()) {
    if (tensor.fixed_tier() != v1::TIER_UNSPECIFIED) {
      pinned[tensor.id()] = tensor.fixed_tier();
    }
  }
  auto fixed_tier_of = [&](const std::string& id) {
    auto it = pinned.find(id);
    return it == pinned.end() ? v1::TIER_UNSPECIFIED : it->second;
  };
  // Item index -> last graph counted, so a graph counts once per item.
  absl::flat_hash_map<size_t, int> counted;
  for (const v1::Kernel& kernel : graph.kernels()) {
    std::string key = SignatureKey(kernel.signature());
    if (known_.contains(key)) continue;
    auto [it, inserted] = index_.try_emplace(std::move(key), items_.size());
    if (inserted) {
      items_.emplace_back();
      *items_.back().mutable_signature() = kernel.signature();
    }
    v1::WorkItem& item = items_[it->second];
    if (auto [c, first] = counted.try_emplace(it->second, g); first) {
      item.set_graphs(item.graphs() + 1);
    }
    const OperandUsage usage = UsageOf(kernel, fixed_tier_of);
    const bool seen = std::any_of(
        item.usages().begin(), item.usages().end(),
        [&](const v1::OperandUsage& u) { return FromProto(u) == usage; });
    if (!seen) *item.add_usages() = ToProto(usage);
  }
}

std::vector<v1::WorkItem> WorkListBuilder::Take() {
  index_.clear();
  return std::exchange(items_, {});
}

std::vector<uint64_t> UsableConfigs(const v1::WorkItem& item) {
  const int n =
      item.signature().inputs_size() + item.signature().outputs_size();
  std::vector<OperandUsage> usages;
  for (const v1::OperandUsage& u : item.usages()) {
    usages.push_back(FromProto(u));
  }
  std::vector<uint64_t> masks;
  for (uint64_t mask = 0; mask < (uint64_t{1} << n); ++mask) {
    if (usages.empty() || std::any_of(usages.begin(), usages.end(),
                                      [mask](const OperandUsage& u) {
                                        return UsageAllows(u, mask);
                                      })) {
      masks.push_back(mask);
    }
  }
  return masks;
}

}  // namespace autotm::solver
