// libFuzzer target: the RPC request validators of server/request_limits.h
// and server/plan_key.h (NormalizeParameters), which every handler runs
// before anything is queued or stored. The input is read three ways: as a
// CreateSolveJobRequest and as a PruneStoreRequest (protobuf wire format),
// and as raw bytes for the name, id and excerpt checks. Each validator must
// either accept a value that meets its stated contract or refuse it with
// its documented code and a bounded message; a violation aborts.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "autotm/v1/placement_service.pb.h"
#include "autotm/v1/server_service.pb.h"
#include "server/plan_key.h"
#include "server/request_limits.h"
#include "server/store/store.h"

namespace {

using autotm::server::RequestLimits;

[[noreturn]] void Fail(const char* what, const absl::Status& status) {
  std::fprintf(stderr, "fuzz check failed: %s (%s)\n", what,
               status.ToString().c_str());
  std::abort();
}

// A refusal has the expected code and a message of bounded size (messages
// travel in gRPC trailers and must not echo unbounded input).
void CheckRefusal(const absl::Status& status, absl::StatusCode code,
                  const char* what) {
  if (status.code() != code) Fail(what, status);
  if (status.message().empty() || status.message().size() > 1024) {
    Fail("a refusal's message must be non-empty and short", status);
  }
}

void CheckName(absl::string_view name) {
  const absl::Status status =
      autotm::server::CheckHostClassName(name, "host_class");
  if (status.ok()) {
    if (name.empty() || name.size() > autotm::server::kMaxHostClassNameBytes) {
      Fail("accepted a host class name of a refused length", status);
    }
    for (char c : name) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
        Fail("accepted a host class name with a control character", status);
      }
    }
  } else {
    CheckRefusal(status, absl::StatusCode::kInvalidArgument, "host class");
  }
  const absl::Status id = autotm::server::CheckJobId(name, "id");
  if (id.ok() !=
      (!name.empty() && name.size() <= autotm::server::kMaxJobIdBytes)) {
    Fail("job id check disagrees with its contract", id);
  }
  if (!id.ok()) CheckRefusal(id, absl::StatusCode::kInvalidArgument, "id");
  const std::string excerpt = autotm::server::Excerpt(name, 64);
  if (excerpt.size() > 64 + 32) Fail("an excerpt is not short", id);
}

void CheckSolveRequest(const autotm::v1::CreateSolveJobRequest& request) {
  CheckName(request.host_class());
  absl::StatusOr<autotm::v1::SolveParameters> normalized =
      autotm::server::NormalizeParameters(request.parameters());
  if (!normalized.ok()) {
    CheckRefusal(normalized.status(), absl::StatusCode::kInvalidArgument,
                 "parameters");
    return;
  }
  const autotm::v1::SolveParameters& p = *normalized;
  if (!std::isfinite(p.time_limit_seconds()) || p.time_limit_seconds() <= 0 ||
      !(p.relative_gap() >= 0 && p.relative_gap() < 1) ||
      p.async_window() > autotm::server::kMaxAsyncWindow ||
      p.alignment_bytes() > autotm::server::kMaxAlignmentBytes ||
      (p.alignment_bytes() & (p.alignment_bytes() - 1)) != 0) {
    Fail("normalized parameters outside their contract", absl::OkStatus());
  }
  // Normalizing is idempotent: the plan-cache key of a request does not
  // depend on whether its defaults were explicit.
  absl::StatusOr<autotm::v1::SolveParameters> again =
      autotm::server::NormalizeParameters(p);
  if (!again.ok() || again->SerializeAsString() != p.SerializeAsString()) {
    Fail("NormalizeParameters is not idempotent", again.status());
  }
  const RequestLimits limits;
  const absl::Status capped =
      autotm::server::CheckSolveLimits(request.budgets_bytes_size(), p, limits);
  const bool over = request.budgets_bytes_size() > limits.max_budgets_per_job ||
                    p.time_limit_seconds() > limits.max_time_limit_seconds;
  if (capped.ok() == over) Fail("CheckSolveLimits disagrees", capped);
  if (!capped.ok()) {
    CheckRefusal(capped, absl::StatusCode::kResourceExhausted, "limits");
  }
}

void CheckPruneRequest(const autotm::v1::PruneStoreRequest& request) {
  absl::StatusOr<autotm::server::RetentionLimits> limits =
      autotm::server::RetentionOf(request, autotm::server::RetentionLimits());
  if (!limits.ok()) {
    CheckRefusal(limits.status(), absl::StatusCode::kInvalidArgument,
                 "retention");
    return;
  }
  const absl::Duration zero = absl::ZeroDuration();
  if (limits->job_age < zero || limits->unreferenced_age < zero ||
      limits->grace < zero || limits->max_jobs < 0 ||
      limits->job_age == absl::InfiniteDuration() ||
      limits->unreferenced_age == absl::InfiniteDuration() ||
      limits->grace == absl::InfiniteDuration()) {
    Fail("accepted retention limits outside their contract", absl::OkStatus());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  CheckName(bytes);
  autotm::v1::CreateSolveJobRequest solve;
  if (solve.ParseFromArray(data, static_cast<int>(size))) {
    CheckSolveRequest(solve);
  }
  autotm::v1::PruneStoreRequest prune;
  if (prune.ParseFromArray(data, static_cast<int>(size))) {
    CheckPruneRequest(prune);
  }
  return 0;
}
