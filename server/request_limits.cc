#include "server/request_limits.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace autotm::server {

std::string Excerpt(absl::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  return absl::StrCat(text.substr(0, max_bytes), "... (", text.size(),
                      " bytes)");
}

absl::Status CheckHostClassName(absl::string_view name,
                                absl::string_view field) {
  if (name.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(field, " is empty"));
  }
  if (name.size() > kMaxHostClassNameBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " is ", name.size(),
                     " bytes long; host class names are limited to ",
                     kMaxHostClassNameBytes, " bytes"));
  }
  if (std::any_of(name.begin(), name.end(), [](char c) {
        return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
      })) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " has a control character; host class names may not"));
  }
  return absl::OkStatus();
}

absl::Status CheckJobId(absl::string_view id, absl::string_view field) {
  if (id.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(field, " is empty"));
  }
  if (id.size() > kMaxJobIdBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " is ", id.size(), " bytes long; job ids are at most ",
        kMaxJobIdBytes, " bytes"));
  }
  return absl::OkStatus();
}

absl::Status CheckSolveLimits(int num_budgets,
                              const v1::SolveParameters& normalized,
                              const RequestLimits& limits) {
  if (num_budgets > limits.max_budgets_per_job) {
    return absl::ResourceExhaustedError(
        absl::StrCat("budgets_bytes: ", num_budgets,
                     " budgets in one job; this server allows at most ",
                     limits.max_budgets_per_job,
                     " (--max-budgets-per-job); split them over several jobs"));
  }
  if (normalized.time_limit_seconds() > limits.max_time_limit_seconds) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "parameters.time_limit_seconds: ", normalized.time_limit_seconds(),
        " s is over this server's limit of ", limits.max_time_limit_seconds,
        " s (--max-time-limit)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<RetentionLimits> RetentionOf(
    const v1::PruneStoreRequest& request, RetentionLimits limits) {
  auto days = [](const char* field,
                 double value) -> absl::StatusOr<absl::Duration> {
    if (!std::isfinite(value) || value < 0 || value > 1e6) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": ", value, " is not in 0..1e6"));
    }
    return absl::Seconds(value * 86400);
  };
  if (request.has_job_age_days()) {
    absl::StatusOr<absl::Duration> d =
        days("job_age_days", request.job_age_days());
    if (!d.ok()) return d.status();
    limits.job_age = *d;
  }
  if (request.has_unreferenced_age_days()) {
    absl::StatusOr<absl::Duration> d =
        days("unreferenced_age_days", request.unreferenced_age_days());
    if (!d.ok()) return d.status();
    limits.unreferenced_age = *d;
  }
  if (request.has_grace_seconds()) {
    absl::StatusOr<absl::Duration> d =
        days("grace_seconds", request.grace_seconds() / 86400);
    if (!d.ok()) return d.status();
    limits.grace = *d;
  }
  if (request.has_max_jobs()) {
    if (request.max_jobs() < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("max_jobs: ", request.max_jobs(), " is negative"));
    }
    limits.max_jobs = request.max_jobs();
  }
  if (request.has_max_bytes()) limits.max_bytes = request.max_bytes();
  limits.vacuum = request.vacuum();
  return limits;
}

}  // namespace autotm::server
