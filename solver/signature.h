// Canonical text keys for kernel signatures.
#ifndef AUTOTM_SOLVER_SIGNATURE_H_
#define AUTOTM_SOLVER_SIGNATURE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "autotm/v1/graph.pb.h"

namespace autotm::solver {

// Returns the canonical key of `signature`, the string profiles are keyed by:
//   op(in0,in1,...)->(out0,...){attr=value,...}
// with each operand as dtype[d0,d1,...] and attributes sorted by name, e.g.
//   "conv2d_fwd(f32[16,3,224,224],f32[64,3,7,7])->(f32[16,64,112,112]){pad=3,stride=2}".
// Equal signatures give equal keys regardless of attribute map order.
std::string SignatureKey(const v1::KernelSignature& signature);

// How one kernel uses its operand positions (inputs, then outputs).
// Operands that are one tensor are always in the same tier, and a pinned
// tensor (Tensor.fixed_tier) never leaves its tier, so the configurations
// that break either can never be used and need not be measured.
struct OperandUsage {
  // For each position p, the first position naming the same tensor (p itself
  // for a tensor not seen at an earlier position).
  std::vector<int> first_position;
  // For each position, the tensor's pinned tier; TIER_UNSPECIFIED if free.
  std::vector<v1::Tier> fixed_tier;

  bool operator==(const OperandUsage& other) const {
    return first_position == other.first_position &&
           fixed_tier == other.fixed_tier;
  }
};

// The usage of `kernel`'s operands; `fixed_tier_of` gives a tensor id's
// pinned tier (TIER_UNSPECIFIED for free or unknown tensors).
OperandUsage UsageOf(
    const v1::Kernel& kernel,
    const std::function<v1::Tier(const std::string&)>& fixed_tier_of);

// Whether configuration `slow_mask` (bit p set = operand p in the slow tier)
// is one `usage` can produce: aliased operands share their first position's
// tier and pinned operands are in their tier. Positions beyond 63, and
// entries a usage lacks, are unconstrained.
bool UsageAllows(const OperandUsage& usage, uint64_t slow_mask);

// Short dtype name used in keys ("f32", "i64", ..., "?" when unspecified).
const char* DataTypeName(v1::DataType dtype);

}  // namespace autotm::solver

#endif  // AUTOTM_SOLVER_SIGNATURE_H_
