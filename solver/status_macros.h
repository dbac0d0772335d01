// Status propagation helpers. Debian's Abseil (20220623) does not ship
// absl/status/status_macros.h, so autotm carries these two.
#ifndef AUTOTM_SOLVER_STATUS_MACROS_H_
#define AUTOTM_SOLVER_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Returns from the enclosing function when `expr` is not OK.
#define AUTOTM_RETURN_IF_ERROR(expr)                                  \
  do {                                                                \
    if (absl::Status _autotm_status = (expr); !_autotm_status.ok()) { \
      return _autotm_status;                                          \
    }                                                                 \
  } while (false)

#define AUTOTM_STATUS_MACROS_CONCAT_INNER(x, y) x##y
#define AUTOTM_STATUS_MACROS_CONCAT(x, y) \
  AUTOTM_STATUS_MACROS_CONCAT_INNER(x, y)

// `AUTOTM_ASSIGN_OR_RETURN(auto x, MakeX());` assigns the value of an
// absl::StatusOr expression or returns its error.
#define AUTOTM_ASSIGN_OR_RETURN(lhs, rexpr) \
  AUTOTM_ASSIGN_OR_RETURN_IMPL(             \
      AUTOTM_STATUS_MACROS_CONCAT(_autotm_statusor_, __LINE__), lhs, rexpr)

#define AUTOTM_ASSIGN_OR_RETURN_IMPL(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                 \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = *std::move(statusor)

#endif  // AUTOTM_SOLVER_STATUS_MACROS_H_
