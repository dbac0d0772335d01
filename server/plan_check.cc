#include "server/plan_check.h"

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "solver/profile_model.h"
#include "solver/verifier.h"

namespace autotm::server {

absl::Status CheckSolvedPlan(const solver::GraphModel& graph,
                             const v1::Profile& profile, const v1::Plan& plan,
                             uint64_t budget_bytes) {
  absl::StatusOr<solver::ProfileModel> model = solver::ProfileModel::Create(
      profile, solver::TableCollapseOptionsOf(plan));
  absl::Status status = model.status();
  if (model.ok()) {
    status = solver::VerifyPlan(graph, *model, plan, budget_bytes,
                                /*require_offsets=*/true)
                 .status();
  }
  if (status.ok()) return status;
  return absl::InternalError(
      absl::StrCat("the planner produced a plan that fails verification (a "
                   "bug; please report it): ",
                   status.message()));
}

}  // namespace autotm::server
