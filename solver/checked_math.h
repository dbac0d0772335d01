// Saturating arithmetic for byte counts and configuration counts.
//
// Graphs come from users: one tensor may be up to GraphLimits::
// max_tensor_bytes (2^50), and there may be millions of them, so a plain
// uint64_t sum of sizes can wrap around (16,385 tensors of 1 PiB "sum" to
// 1 PiB). Every sum or product of byte counts over user input saturates at
// kSaturatedBytes instead: a saturated total is larger than any budget, so
// comparisons against budgets stay correct, and printers show it as "at
// least 16 EiB" (FormatBytes) rather than a wrapped value.
#ifndef AUTOTM_SOLVER_CHECKED_MATH_H_
#define AUTOTM_SOLVER_CHECKED_MATH_H_

#include <cstdint>
#include <limits>
#include <optional>

namespace autotm::solver {

inline constexpr uint64_t kSaturatedBytes =
    std::numeric_limits<uint64_t>::max();

// a + b, or kSaturatedBytes when the sum does not fit.
constexpr uint64_t SaturatingAdd(uint64_t a, uint64_t b) {
  uint64_t sum = 0;
  return __builtin_add_overflow(a, b, &sum) ? kSaturatedBytes : sum;
}

// a * b, or kSaturatedBytes when the product does not fit.
constexpr uint64_t SaturatingMul(uint64_t a, uint64_t b) {
  uint64_t product = 0;
  return __builtin_mul_overflow(a, b, &product) ? kSaturatedBytes : product;
}

// Adds `b` to `a` in place, saturating.
constexpr void SaturatingAddTo(uint64_t& a, uint64_t b) {
  a = SaturatingAdd(a, b);
}

// 2^operands, the number of tier configurations of a kernel with that many
// operands, or nullopt when it does not fit in 64 bits (operands >= 64; a
// shift by 64 or more is undefined behaviour in C++ and gave "0" before).
constexpr std::optional<uint64_t> ConfigurationCount(int64_t operands) {
  if (operands < 0 || operands >= 64) return std::nullopt;
  return uint64_t{1} << operands;
}

}  // namespace autotm::solver

#endif  // AUTOTM_SOLVER_CHECKED_MATH_H_
