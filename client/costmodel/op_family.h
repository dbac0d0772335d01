// Op families and the work of one kernel: what the Optane cost model needs to
// know about a KernelSignature (docs/COST_MODEL.md).
//
// Two op vocabularies are understood: autotm's own (client/zoo/ops.h, plus the
// names the bundled test graphs use, e.g. "linear_fwd", "maxpool2d_fwd") with
// NCHW activations and OIHW weights, and nGraph's (the ops in AutoTM's Optane
// measurements: "ConvolutionBias", "BatchNormTrainingBackprop", ...) with
// shapes in Julia order (W, H, C, N). Any other op is classified by name
// (substrings such as "conv", "pool", "matmul") and otherwise falls into
// kOther, so every graph gets a cost.
//
// All functions are pure and thread-safe.
#ifndef AUTOTM_CLIENT_COSTMODEL_OP_FAMILY_H_
#define AUTOTM_CLIENT_COSTMODEL_OP_FAMILY_H_

#include <optional>
#include <vector>

#include "absl/strings/string_view.h"
#include "autotm/v1/graph.pb.h"

namespace autotm::costmodel {

// Kernels whose slow-tier behaviour is fitted together.
enum class OpFamily {
  kConvFwd = 0,
  kConvBwdData,
  kConvBwdWeights,
  kBatchNorm,     // batch-norm forward (training)
  kBatchNormBwd,  // batch-norm backward
  kEltwise,       // relu fwd/bwd, add, sgd_update, other pointwise math
  kPool,          // max/avg pooling fwd/bwd
  kConcatSplit,   // concat, split, slice
  kMatmul,        // matmul / linear fwd and bwd, nGraph Dot/MatmulBias
  kOther,         // softmax, layout conversion, reshape, anything unknown
};
inline constexpr int kNumOpFamilies = 10;

// "conv_fwd", "conv_bwd_data", ..., "other".
absl::string_view OpFamilyName(OpFamily family);
// Inverse of OpFamilyName(); nullopt for an unknown name.
std::optional<OpFamily> OpFamilyFromName(absl::string_view name);
// Every family, in enum order.
const std::vector<OpFamily>& AllOpFamilies();

// The family of an op name of either vocabulary (see the file comment).
OpFamily ClassifyOp(absl::string_view op);

// Bytes per element of a dtype (4 when unspecified).
int DataTypeBytes(v1::DataType dtype);

// The work of one kernel, from its signature alone.
struct KernelWork {
  OpFamily family = OpFamily::kOther;
  // Floating-point operations (multiply and add count as two). For the GEMM
  // families (conv, matmul) this is the exact 2*MACs count; for the others
  // an elementwise estimate (documented in AnalyzeKernel).
  double flops = 0;
  // Bytes the kernel reads from each input and writes to each output. Equal
  // to the operand size except for nGraph's Slice, which reads only the part
  // of its input it copies out.
  std::vector<double> input_bytes;
  std::vector<double> output_bytes;

  double read_bytes() const;
  double write_bytes() const;
};

// Computes the family, FLOPs and bytes of `signature`. Never fails: operands
// with negative dimensions count as empty, and a GEMM-family kernel whose
// operands do not have the expected ranks gets the elementwise estimate.
//
// FLOPs:
//   convolutions: 2 * |Y| * |W| / K, i.e. 2*N*K*P*Q*(C/groups)*R*S, where W
//     is the weight (OIHW: K = dims[0]; nGraph: K = dims[3]) and Y the output
//     (forward), the output gradient (backward data and weights);
//   matmul (x, w, ...) -> (y, ...): 2 * sqrt(|x| * |w| * |y|) = 2*M*N*K for
//     any operand order of a GEMM (the same for both backward kernels);
//   pooling: window elements (attribute "kernel", "3x3" or "3"; default 9)
//     per element of the largest operand;
//   batch norm: 8 (forward) / 12 (backward) per element of the largest
//     operand; eltwise: (inputs - 1, at least 1) per element; softmax /
//     cross-entropy: 10 per element; copies (concat, split, slice, layout,
//     reshape): 0.
KernelWork AnalyzeKernel(const v1::KernelSignature& signature);

}  // namespace autotm::costmodel

#endif  // AUTOTM_CLIENT_COSTMODEL_OP_FAMILY_H_
