#include "server/store/store.h"

#include <utility>

#include "absl/strings/cord.h"
#include "server/store/digest.h"

namespace autotm::server {
namespace {

// The payload that tells a storage failure from other Unavailable errors
// (a busy database). Payloads are not sent to clients.
constexpr char kStorageFailureUrl[] = "type.autotm.dev/storage-failure";

}  // namespace

bool IsStorageFailure(const absl::Status& status) {
  return absl::IsUnavailable(status) &&
         status.GetPayload(kStorageFailureUrl).has_value();
}

absl::Status MarkStorageFailure(absl::Status status) {
  status.SetPayload(kStorageFailureUrl, absl::Cord("1"));
  return status;
}

absl::StatusOr<std::shared_ptr<const std::string>> PlanStore::GetPlanBytes(
    const std::string& key) {
  absl::StatusOr<v1::Plan> plan = GetPlan(key);
  if (!plan.ok()) return plan.status();
  return std::make_shared<const std::string>(DeterministicBytes(*plan));
}

}  // namespace autotm::server
