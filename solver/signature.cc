#include "solver/signature.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace autotm::solver {

const char* DataTypeName(v1::DataType dtype) {
  switch (dtype) {
    case v1::DATA_TYPE_F32:
      return "f32";
    case v1::DATA_TYPE_F16:
      return "f16";
    case v1::DATA_TYPE_BF16:
      return "bf16";
    case v1::DATA_TYPE_F64:
      return "f64";
    case v1::DATA_TYPE_I32:
      return "i32";
    case v1::DATA_TYPE_I64:
      return "i64";
    case v1::DATA_TYPE_I8:
      return "i8";
    case v1::DATA_TYPE_U8:
      return "u8";
    case v1::DATA_TYPE_BOOL:
      return "bool";
    default:
      return "?";
  }
}

namespace {

std::string OperandKey(const v1::OperandSpec& operand) {
  return absl::StrCat(DataTypeName(operand.dtype()), "[",
                      absl::StrJoin(operand.dims(), ","), "]");
}

std::string OperandList(
    const google::protobuf::RepeatedPtrField<v1::OperandSpec>& operands) {
  std::vector<std::string> keys;
  keys.reserve(operands.size());
  for (const auto& operand : operands) keys.push_back(OperandKey(operand));
  return absl::StrJoin(keys, ",");
}

}  // namespace

std::string SignatureKey(const v1::KernelSignature& signature) {
  std::vector<std::pair<std::string, std::string>> attributes(
      signature.attributes().begin(), signature.attributes().end());
  std::sort(attributes.begin(), attributes.end());
  std::string key =
      absl::StrCat(signature.op(), "(", OperandList(signature.inputs()), ")->(",
                   OperandList(signature.outputs()), ")");
  if (!attributes.empty()) {
    absl::StrAppend(&key, "{",
                    absl::StrJoin(attributes, ",", absl::PairFormatter("=")),
                    "}");
  }
  return key;
}

OperandUsage UsageOf(
    const v1::Kernel& kernel,
    const std::function<v1::Tier(const std::string&)>& fixed_tier_of) {
  std::vector<const std::string*> ids;
  ids.reserve(kernel.inputs_size() + kernel.outputs_size());
  for (const std::string& id : kernel.inputs()) ids.push_back(&id);
  for (const std::string& id : kernel.outputs()) ids.push_back(&id);
  OperandUsage usage;
  usage.first_position.resize(ids.size());
  usage.fixed_tier.resize(ids.size());
  for (size_t p = 0; p < ids.size(); ++p) {
    usage.first_position[p] = static_cast<int>(p);
    for (size_t q = 0; q < p; ++q) {
      if (*ids[q] == *ids[p]) {
        usage.first_position[p] = static_cast<int>(q);
        break;
      }
    }
    usage.fixed_tier[p] = fixed_tier_of(*ids[p]);
  }
  return usage;
}

bool UsageAllows(const OperandUsage& usage, uint64_t slow_mask) {
  const size_t n = std::min<size_t>(usage.first_position.size(), 63);
  for (size_t p = 0; p < n; ++p) {
    const bool slow = (slow_mask >> p) & 1;
    const int q = usage.first_position[p];
    if (q >= 0 && static_cast<size_t>(q) < n &&
        slow != ((slow_mask >> q) & 1)) {
      return false;
    }
  }
  const size_t m = std::min<size_t>(usage.fixed_tier.size(), 63);
  for (size_t p = 0; p < m; ++p) {
    const bool slow = (slow_mask >> p) & 1;
    if ((usage.fixed_tier[p] == v1::TIER_FAST && slow) ||
        (usage.fixed_tier[p] == v1::TIER_SLOW && !slow)) {
      return false;
    }
  }
  return true;
}

}  // namespace autotm::solver
