// The solve worker's check of every plan it produced, before the plan
// leaves the worker (issue 17, "verified everywhere"): the solver's
// independent verifier (solver/verifier.h) replays the plan against the
// graph, the profile the job solved with and the budget. A plan it rejects
// is a solver bug, never a result: the job fails with the verifier's
// reason, and nothing is stored.
#ifndef AUTOTM_SERVER_PLAN_CHECK_H_
#define AUTOTM_SERVER_PLAN_CHECK_H_

#include <cstdint>

#include "absl/status/status.h"
#include "autotm/v1/plan.pb.h"
#include "autotm/v1/profile.pb.h"
#include "solver/graph_model.h"

namespace autotm::server {

// OK when `plan` verifies against `graph`, `profile` (priced with the
// plan's own table-collapse options, as the planner priced it) and
// `budget_bytes`, with its fast-pool offsets (every served plan has them).
// Internal otherwise: "the planner produced a plan that fails verification:
// <the verifier's reason>".
absl::Status CheckSolvedPlan(const solver::GraphModel& graph,
                             const v1::Profile& profile, const v1::Plan& plan,
                             uint64_t budget_bytes);

}  // namespace autotm::server

#endif  // AUTOTM_SERVER_PLAN_CHECK_H_
