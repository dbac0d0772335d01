#include "client/costmodel/op_family.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace autotm::costmodel {
namespace {

constexpr absl::string_view kFamilyNames[kNumOpFamilies] = {
    "conv_fwd",  "conv_bwd_data", "conv_bwd_weights",
    "batchnorm", "batchnorm_bwd", "eltwise",
    "pool",      "concat_split",  "matmul",
    "other"};

// How the FLOPs of an op are counted.
enum class FlopRule { kConv, kGemm, kPool, kPerElement, kCopy };

// Where a convolution keeps its weight, and how its dims are ordered.
enum class ConvLayout { kOihw, kJulia };

struct OpRule {
  absl::string_view name;
  OpFamily family;
  FlopRule flops;
  // kPerElement: FLOPs per element of the largest operand; < 0 means
  // max(1, inputs - 1) (n-ary eltwise such as add).
  double per_element = 0;
  // kConv: the weight operand (an output when weight_is_output).
  bool weight_is_output = false;
  int weight_index = 0;
  ConvLayout layout = ConvLayout::kOihw;
};

constexpr double kNary = -1;

// Exact op names of both vocabularies. Operand orders: client/zoo/ops.h for
// autotm's names; tests/testdata/example_cnn.graph.json for the example's
// ("conv2d_bwd_filter" takes (dy, x), "linear_*"); nGraph's op definitions
// for the measured kernels (ConvolutionBackpropData takes (w, dy)).
constexpr OpRule kRules[] = {
    // autotm (client/zoo/ops.h) and the bundled example graph.
    {"conv2d_fwd", OpFamily::kConvFwd, FlopRule::kConv, 0, false, 1},
    {"conv2d_bwd_data", OpFamily::kConvBwdData, FlopRule::kConv, 0, false, 1},
    {"conv2d_bwd_weights", OpFamily::kConvBwdWeights, FlopRule::kConv, 0, true,
     0},
    {"conv2d_bwd_filter", OpFamily::kConvBwdWeights, FlopRule::kConv, 0, true,
     0},
    {"batchnorm_fwd", OpFamily::kBatchNorm, FlopRule::kPerElement, 8},
    {"batchnorm_bwd", OpFamily::kBatchNormBwd, FlopRule::kPerElement, 12},
    {"relu_fwd", OpFamily::kEltwise, FlopRule::kPerElement, 1},
    {"relu_bwd", OpFamily::kEltwise, FlopRule::kPerElement, 1},
    {"add", OpFamily::kEltwise, FlopRule::kPerElement, kNary},
    {"sgd_update", OpFamily::kEltwise, FlopRule::kPerElement, 2},
    {"maxpool_fwd", OpFamily::kPool, FlopRule::kPool},
    {"maxpool_bwd", OpFamily::kPool, FlopRule::kPool},
    {"avgpool_fwd", OpFamily::kPool, FlopRule::kPool},
    {"avgpool_bwd", OpFamily::kPool, FlopRule::kPool},
    {"maxpool2d_fwd", OpFamily::kPool, FlopRule::kPool},
    {"maxpool2d_bwd", OpFamily::kPool, FlopRule::kPool},
    {"avgpool2d_fwd", OpFamily::kPool, FlopRule::kPool},
    {"avgpool2d_bwd", OpFamily::kPool, FlopRule::kPool},
    {"concat", OpFamily::kConcatSplit, FlopRule::kCopy},
    {"split", OpFamily::kConcatSplit, FlopRule::kCopy},
    {"matmul_fwd", OpFamily::kMatmul, FlopRule::kGemm},
    {"matmul_bwd_data", OpFamily::kMatmul, FlopRule::kGemm},
    {"matmul_bwd_weights", OpFamily::kMatmul, FlopRule::kGemm},
    {"linear_fwd", OpFamily::kMatmul, FlopRule::kGemm},
    {"linear_bwd_data", OpFamily::kMatmul, FlopRule::kGemm},
    {"linear_bwd_weight", OpFamily::kMatmul, FlopRule::kGemm},
    {"linear_bwd_weights", OpFamily::kMatmul, FlopRule::kGemm},
    {"softmax_xent_fwd", OpFamily::kOther, FlopRule::kPerElement, 10},
    {"softmax_xent_bwd", OpFamily::kOther, FlopRule::kPerElement, 10},
    // nGraph (AutoTM's measurements), shapes in Julia order.
    {"Convolution", OpFamily::kConvFwd, FlopRule::kConv, 0, false, 1,
     ConvLayout::kJulia},
    {"ConvolutionBias", OpFamily::kConvFwd, FlopRule::kConv, 0, false, 1,
     ConvLayout::kJulia},
    {"ConvolutionBackpropData", OpFamily::kConvBwdData, FlopRule::kConv, 0,
     false, 0, ConvLayout::kJulia},
    {"ConvolutionBackpropFilters", OpFamily::kConvBwdWeights, FlopRule::kConv,
     0, true, 0, ConvLayout::kJulia},
    {"ConvolutionBiasBackpropFiltersBias", OpFamily::kConvBwdWeights,
     FlopRule::kConv, 0, true, 0, ConvLayout::kJulia},
    {"BatchNormTraining", OpFamily::kBatchNorm, FlopRule::kPerElement, 8},
    {"BatchNormTrainingRelu", OpFamily::kBatchNorm, FlopRule::kPerElement, 8},
    {"BatchNormInference", OpFamily::kBatchNorm, FlopRule::kPerElement, 8},
    {"BatchNormTrainingBackprop", OpFamily::kBatchNormBwd,
     FlopRule::kPerElement, 12},
    {"Relu", OpFamily::kEltwise, FlopRule::kPerElement, 1},
    {"ReluBackprop", OpFamily::kEltwise, FlopRule::kPerElement, 1},
    {"Add", OpFamily::kEltwise, FlopRule::kPerElement, kNary},
    {"Multiply", OpFamily::kEltwise, FlopRule::kPerElement, kNary},
    {"Maximum", OpFamily::kEltwise, FlopRule::kPerElement, kNary},
    {"Minimum", OpFamily::kEltwise, FlopRule::kPerElement, kNary},
    {"Divide", OpFamily::kEltwise, FlopRule::kPerElement, kNary},
    {"Subtract", OpFamily::kEltwise, FlopRule::kPerElement, kNary},
    {"Greater", OpFamily::kEltwise, FlopRule::kPerElement, kNary},
    {"Less", OpFamily::kEltwise, FlopRule::kPerElement, kNary},
    {"Negative", OpFamily::kEltwise, FlopRule::kPerElement, 1},
    {"Log", OpFamily::kEltwise, FlopRule::kPerElement, 1},
    {"Exp", OpFamily::kEltwise, FlopRule::kPerElement, 1},
    {"Sqrt", OpFamily::kEltwise, FlopRule::kPerElement, 1},
    {"Sigmoid", OpFamily::kEltwise, FlopRule::kPerElement, 1},
    {"Convert", OpFamily::kEltwise, FlopRule::kPerElement, 1},
    {"MaxPool", OpFamily::kPool, FlopRule::kPool},
    {"MaxPoolBackprop", OpFamily::kPool, FlopRule::kPool},
    {"MaxPoolWithIndices", OpFamily::kPool, FlopRule::kPool},
    {"MaxPoolWithIndicesBackprop", OpFamily::kPool, FlopRule::kPool},
    {"AvgPool", OpFamily::kPool, FlopRule::kPool},
    {"AvgPoolBackprop", OpFamily::kPool, FlopRule::kPool},
    {"Concat", OpFamily::kConcatSplit, FlopRule::kCopy},
    {"Slice", OpFamily::kConcatSplit, FlopRule::kCopy},
    {"Dot", OpFamily::kMatmul, FlopRule::kGemm},
    {"MatmulBias", OpFamily::kMatmul, FlopRule::kGemm},
    {"ConvertLayout", OpFamily::kOther, FlopRule::kCopy},
    {"Reshape", OpFamily::kOther, FlopRule::kCopy},
    {"Broadcast", OpFamily::kOther, FlopRule::kCopy},
    {"Sum", OpFamily::kOther, FlopRule::kPerElement, 1},
    {"Softmax", OpFamily::kOther, FlopRule::kPerElement, 10},
};

// The rule for an op not in kRules, from substrings of its lower-cased name.
OpRule GuessRule(absl::string_view op) {
  const std::string name = absl::AsciiStrToLower(op);
  auto has = [&name](absl::string_view part) {
    return absl::StrContains(name, part);
  };
  if (has("conv") && !has("convert")) {
    if (has("data")) {
      return {op, OpFamily::kConvBwdData, FlopRule::kConv, 0, false, 1};
    }
    if (has("filter") || has("weight")) {
      return {op, OpFamily::kConvBwdWeights, FlopRule::kConv, 0, true, 0};
    }
    return {op, OpFamily::kConvFwd, FlopRule::kConv, 0, false, 1};
  }
  if (has("batchnorm") || has("batch_norm")) {
    if (has("bwd") || has("backprop") || has("grad")) {
      return {op, OpFamily::kBatchNormBwd, FlopRule::kPerElement, 12};
    }
    return {op, OpFamily::kBatchNorm, FlopRule::kPerElement, 8};
  }
  if (has("pool")) return {op, OpFamily::kPool, FlopRule::kPool};
  if (has("concat") || has("split") || has("slice")) {
    return {op, OpFamily::kConcatSplit, FlopRule::kCopy};
  }
  if (has("matmul") || has("linear") || has("gemm") || has("dot") ||
      has("dense")) {
    return {op, OpFamily::kMatmul, FlopRule::kGemm};
  }
  if (has("relu") || has("add") || has("sgd") || has("mul") || has("sub") ||
      has("div") || has("sigmoid") || has("tanh") || has("gelu")) {
    return {op, OpFamily::kEltwise, FlopRule::kPerElement, kNary};
  }
  return {op, OpFamily::kOther, FlopRule::kPerElement, 1};
}

OpRule FindRule(absl::string_view op) {
  for (const OpRule& rule : kRules) {
    if (rule.name == op) return rule;
  }
  return GuessRule(op);
}

double Elements(const v1::OperandSpec& operand) {
  double elements = 1;
  for (int64_t dim : operand.dims()) {
    if (dim <= 0) return 0;
    elements *= static_cast<double>(dim);
  }
  return elements;
}

// Window elements from a "kernel" attribute ("3x3", "3", "1x7"); 9 when
// absent or malformed.
double WindowElements(const v1::KernelSignature& signature) {
  constexpr double kDefault = 9;
  auto it = signature.attributes().find("kernel");
  if (it == signature.attributes().end()) return kDefault;
  double elements = 1;
  int parts = 0;
  for (absl::string_view part : absl::StrSplit(it->second, 'x')) {
    int64_t value = 0;
    if (!absl::SimpleAtoi(part, &value) || value <= 0) return kDefault;
    elements *= static_cast<double>(value);
    ++parts;
  }
  if (parts == 1) elements *= elements;  // "3" means 3x3
  return elements;
}

// 2 * |Y| * |W| / K, or nullopt when the operands do not look like a
// convolution. Y is the operand (other than W) with W's rank whose channel
// dim equals K; when several qualify, the smallest (the strided side).
std::optional<double> ConvFlops(const v1::KernelSignature& signature,
                                const OpRule& rule) {
  const auto& weights =
      rule.weight_is_output ? signature.outputs() : signature.inputs();
  if (rule.weight_index >= weights.size()) return std::nullopt;
  const v1::OperandSpec& w = weights[rule.weight_index];
  const int rank = w.dims_size();
  if (rank < 3) return std::nullopt;
  const bool julia = rule.layout == ConvLayout::kJulia;
  const int64_t k = julia ? w.dims(rank - 1) : w.dims(0);
  if (k <= 0) return std::nullopt;
  const int channel_dim = julia ? rank - 2 : 1;
  std::optional<double> best_y;
  for (const auto* side : {&signature.inputs(), &signature.outputs()}) {
    for (const v1::OperandSpec& y : *side) {
      if (&y == &w || y.dims_size() != rank || y.dims(channel_dim) != k) {
        continue;
      }
      const double elements = Elements(y);
      if (!best_y || elements < *best_y) best_y = elements;
    }
  }
  if (!best_y) return std::nullopt;
  return 2.0 * *best_y * Elements(w) / static_cast<double>(k);
}

double MaxElements(const v1::KernelSignature& signature) {
  double most = 0;
  for (const auto& operand : signature.inputs()) {
    most = std::max(most, Elements(operand));
  }
  for (const auto& operand : signature.outputs()) {
    most = std::max(most, Elements(operand));
  }
  return most;
}

double MinNonEmptyElements(const v1::KernelSignature& signature) {
  double least = 0;
  auto visit = [&least](const v1::OperandSpec& operand) {
    const double elements = Elements(operand);
    if (elements > 0 && (least == 0 || elements < least)) least = elements;
  };
  for (const auto& operand : signature.inputs()) visit(operand);
  for (const auto& operand : signature.outputs()) visit(operand);
  return least;
}

double PerElementFlops(const v1::KernelSignature& signature,
                       const OpRule& rule) {
  double per_element = rule.per_element;
  if (per_element == kNary) {
    per_element = std::max(1, signature.inputs_size() - 1);
  }
  return per_element * MaxElements(signature);
}

}  // namespace

absl::string_view OpFamilyName(OpFamily family) {
  const int index = static_cast<int>(family);
  if (index < 0 || index >= kNumOpFamilies) return "unknown";
  return kFamilyNames[index];
}

std::optional<OpFamily> OpFamilyFromName(absl::string_view name) {
  for (int i = 0; i < kNumOpFamilies; ++i) {
    if (kFamilyNames[i] == name) return static_cast<OpFamily>(i);
  }
  return std::nullopt;
}

const std::vector<OpFamily>& AllOpFamilies() {
  static const auto* const kAll = [] {
    auto* all = new std::vector<OpFamily>;
    for (int i = 0; i < kNumOpFamilies; ++i) {
      all->push_back(static_cast<OpFamily>(i));
    }
    return all;
  }();
  return *kAll;
}

OpFamily ClassifyOp(absl::string_view op) { return FindRule(op).family; }

int DataTypeBytes(v1::DataType dtype) {
  switch (dtype) {
    case v1::DATA_TYPE_F16:
    case v1::DATA_TYPE_BF16:
      return 2;
    case v1::DATA_TYPE_F64:
    case v1::DATA_TYPE_I64:
      return 8;
    case v1::DATA_TYPE_I8:
    case v1::DATA_TYPE_U8:
    case v1::DATA_TYPE_BOOL:
      return 1;
    default:  // F32, I32, unspecified
      return 4;
  }
}

double KernelWork::read_bytes() const {
  double total = 0;
  for (double bytes : input_bytes) total += bytes;
  return total;
}

double KernelWork::write_bytes() const {
  double total = 0;
  for (double bytes : output_bytes) total += bytes;
  return total;
}

KernelWork AnalyzeKernel(const v1::KernelSignature& signature) {
  const OpRule rule = FindRule(signature.op());
  KernelWork work;
  work.family = rule.family;
  for (const auto& operand : signature.inputs()) {
    work.input_bytes.push_back(Elements(operand) *
                               DataTypeBytes(operand.dtype()));
  }
  for (const auto& operand : signature.outputs()) {
    work.output_bytes.push_back(Elements(operand) *
                                DataTypeBytes(operand.dtype()));
  }
  // nGraph's Slice copies a window of its input: it reads what it writes.
  if (signature.op() == "Slice" && work.input_bytes.size() == 1) {
    work.input_bytes[0] = std::min(work.input_bytes[0], work.write_bytes());
  }
  switch (rule.flops) {
    case FlopRule::kConv:
      if (std::optional<double> flops = ConvFlops(signature, rule)) {
        work.flops = *flops;
      } else {
        work.flops = MaxElements(signature);
      }
      break;
    case FlopRule::kGemm:
      if (signature.inputs_size() >= 2 && signature.outputs_size() >= 1) {
        work.flops = 2.0 * std::sqrt(Elements(signature.inputs(0)) *
                                     Elements(signature.inputs(1)) *
                                     Elements(signature.outputs(0)));
      } else {
        work.flops = MaxElements(signature);
      }
      break;
    case FlopRule::kPool:
      work.flops = WindowElements(signature) * MinNonEmptyElements(signature);
      break;
    case FlopRule::kPerElement:
      work.flops = PerElementFlops(signature, rule);
      break;
    case FlopRule::kCopy:
      work.flops = 0;
      break;
  }
  return work;
}

}  // namespace autotm::costmodel
