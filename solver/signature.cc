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

}  // namespace autotm::solver
