// Canonical text keys for kernel signatures.
#ifndef AUTOTM_SOLVER_SIGNATURE_H_
#define AUTOTM_SOLVER_SIGNATURE_H_

#include <string>

#include "autotm/v1/graph.pb.h"

namespace autotm::solver {

// Returns the canonical key of `signature`, the string profiles are keyed by:
//   op(in0,in1,...)->(out0,...){attr=value,...}
// with each operand as dtype[d0,d1,...] and attributes sorted by name, e.g.
//   "conv2d_fwd(f32[16,3,224,224],f32[64,3,7,7])->(f32[16,64,112,112]){pad=3,stride=2}".
// Equal signatures give equal keys regardless of attribute map order.
std::string SignatureKey(const v1::KernelSignature& signature);

// Short dtype name used in keys ("f32", "i64", ..., "?" when unspecified).
const char* DataTypeName(v1::DataType dtype);

}  // namespace autotm::solver

#endif  // AUTOTM_SOLVER_SIGNATURE_H_
