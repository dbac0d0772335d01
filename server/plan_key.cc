#include "server/plan_key.h"

#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/store/digest.h"
#include "solver/cbc_solver.h"

#ifndef AUTOTM_VERSION
#define AUTOTM_VERSION "unknown"
#endif

namespace autotm::server {

absl::StatusOr<v1::SolveParameters> NormalizeParameters(
    const v1::SolveParameters& parameters) {
  v1::SolveParameters out = parameters;
  if (out.method() == v1::METHOD_UNSPECIFIED) out.set_method(kDefaultMethod);
  if (!v1::Method_IsValid(out.method())) {
    return absl::InvalidArgumentError(
        absl::StrCat("parameters.method: unknown method ", out.method()));
  }
  const double time_limit = out.time_limit_seconds();
  if (!std::isfinite(time_limit) || time_limit < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "parameters.time_limit_seconds: ", time_limit,
        " must be a finite number of seconds >= 0 (0 = default 60)"));
  }
  if (time_limit == 0) out.set_time_limit_seconds(kDefaultTimeLimitSeconds);
  const double gap = out.relative_gap();
  if (!std::isfinite(gap) || gap < 0 || gap >= 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("parameters.relative_gap: ", gap,
                     " must be in [0, 1) (0 = default 0.01)"));
  }
  if (gap == 0) out.set_relative_gap(kDefaultRelativeGap);
  if (out.alignment_bytes() == 0)
    out.set_alignment_bytes(kDefaultAlignmentBytes);
  const uint64_t alignment = out.alignment_bytes();
  if ((alignment & (alignment - 1)) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "parameters.alignment_bytes: ", alignment, " is not a power of two"));
  }
  if (alignment > kMaxAlignmentBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("parameters.alignment_bytes: ", alignment,
                     " is over the limit of ", kMaxAlignmentBytes, " (1 GiB)"));
  }
  if (out.async_window() == 0) out.set_async_window(kDefaultAsyncWindow);
  if (out.async_window() > kMaxAsyncWindow) {
    return absl::InvalidArgumentError(
        absl::StrCat("parameters.async_window: ", out.async_window(),
                     " kernels is over the limit of ", kMaxAsyncWindow));
  }
  if (out.recompute() == v1::RECOMPUTE_MODE_UNSPECIFIED) {
    out.set_recompute(v1::RECOMPUTE_MODE_NONE);
  }
  if (!v1::RecomputeMode_IsValid(out.recompute())) {
    return absl::InvalidArgumentError(
        absl::StrCat("parameters.recompute: unknown mode ", out.recompute(),
                     " (RECOMPUTE_MODE_NONE or RECOMPUTE_MODE_AUTO)"));
  }
  if (out.repetition() == v1::REPETITION_MODE_UNSPECIFIED) {
    out.set_repetition(v1::REPETITION_MODE_OFF);
  }
  if (!v1::RepetitionMode_IsValid(out.repetition())) {
    return absl::InvalidArgumentError(
        absl::StrCat("parameters.repetition: unknown mode ", out.repetition(),
                     " (REPETITION_MODE_OFF or REPETITION_MODE_AUTO)"));
  }
  return out;
}

const std::string& SolverVersion() {
  static const std::string* const kVersion = new std::string(absl::StrCat(
      solver::MakeCbcSolver()->name(), "; autotm ", AUTOTM_VERSION));
  return *kVersion;
}

std::string PlanCacheKey(absl::string_view graph_digest,
                         absl::string_view host_class, uint64_t profile_version,
                         uint64_t budget_bytes,
                         const v1::SolveParameters& parameters,
                         absl::string_view solver_version) {
  // One "name=value" line per input; strings are length-prefixed so that no
  // value can imitate a separator. Doubles use %a (exact, locale-free).
  auto text = [](absl::string_view s) {
    return absl::StrCat(s.size(), ":", s);
  };
  const std::string canonical = absl::StrCat(
      "autotm-plan-key-v1\n",                                  //
      "graph=", text(graph_digest), "\n",                      //
      "host_class=", text(host_class), "\n",                   //
      "profile_version=", profile_version, "\n",               //
      "budget_bytes=", budget_bytes, "\n",                     //
      "method=", static_cast<int>(parameters.method()), "\n",  //
      "time_limit_seconds=",
      absl::StrFormat("%a", parameters.time_limit_seconds()), "\n",
      "relative_gap=", absl::StrFormat("%a", parameters.relative_gap()), "\n",
      "alignment_bytes=", parameters.alignment_bytes(), "\n",
      "async_window=", parameters.async_window(), "\n",
      // Only when re-runs are allowed: plain plans keep the keys they had
      // before the field existed.
      parameters.recompute() == v1::RECOMPUTE_MODE_AUTO ? "recompute=auto\n"
                                                        : "",
      parameters.repetition() == v1::REPETITION_MODE_AUTO ? "repetition=auto\n"
                                                          : "",
      "solver=", text(solver_version), "\n");
  return absl::StrCat("sha256:", Sha256Hex(canonical));
}

}  // namespace autotm::server
