// autotm::Client's PlacementService methods (see client.h).

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "client/lib/client.h"
#include "client/lib/client_internal.h"
#include "solver/graph_model.h"
#include "solver/profile_model.h"
#include "solver/status_macros.h"
#include "solver/verifier.h"

namespace autotm {
namespace {

// Issue 17: a served plan is checked against the graph the request sent
// before it is returned. Without a profile, the structure, the budget at
// every kernel and the pool offsets (solver::VerifyPlanStructure); with
// one, everything (solver::VerifyPlan). A request that named its graph by
// digest sent no graph to check against: the plan is returned as served.
absl::Status VerifyServedPlan(const v1::GraphRef& ref, uint64_t budget_bytes,
                              const v1::Plan& plan,
                              const v1::Profile* profile) {
  // PlanGraph's answer for an infeasible budget carries no plan: nothing to
  // verify but its shape and budget.
  if (plan.stats().termination() == v1::TERMINATION_INFEASIBLE) {
    if (plan.tensors_size() > 0 || plan.moves_size() > 0 ||
        plan.kernels_size() > 0 || plan.budget_bytes() != budget_bytes) {
      return absl::InternalError(
          "the server answered INFEASIBLE with a plan, or for another budget");
    }
    return absl::OkStatus();
  }
  if (ref.graph_case() != v1::GraphRef::kInlineGraph) return absl::OkStatus();
  absl::StatusOr<solver::GraphModel> graph =
      solver::GraphModel::Create(ref.inline_graph());
  // The server validated the same graph; a client-side failure here means
  // the request was refused anyway.
  if (!graph.ok()) return graph.status();
  absl::Status verified;
  if (profile != nullptr) {
    absl::StatusOr<solver::ProfileModel> model = solver::ProfileModel::Create(
        *profile, solver::TableCollapseOptionsOf(plan));
    verified = model.ok()
                   ? solver::VerifyPlan(*graph, *model, plan, budget_bytes,
                                        /*require_offsets=*/true)
                         .status()
                   : model.status();
  } else {
    verified = solver::VerifyPlanStructure(*graph, plan, budget_bytes,
                                           /*require_offsets=*/true)
                   .status();
  }
  if (verified.ok()) return verified;
  return absl::InternalError(
      absl::StrCat("the server returned a plan that fails verification "
                   "against the graph sent: ",
                   verified.message()));
}

}  // namespace

absl::StatusOr<v1::SolveJob> Client::CreateSolveJob(
    const v1::CreateSolveJobRequest& request) {
  v1::SolveJob job;
  AUTOTM_RETURN_IF_ERROR(internal_->Call([&](grpc::ClientContext* context) {
    return internal_->placement->CreateSolveJob(context, request, &job);
  }));
  return job;
}

absl::StatusOr<v1::SolveJob> Client::GetSolveJob(const std::string& id) {
  v1::GetSolveJobRequest request;
  request.set_id(id);
  v1::SolveJob job;
  AUTOTM_RETURN_IF_ERROR(internal_->Call([&](grpc::ClientContext* context) {
    return internal_->placement->GetSolveJob(context, request, &job);
  }));
  return job;
}

absl::StatusOr<v1::SolveJob> Client::CancelSolveJob(const std::string& id) {
  v1::CancelSolveJobRequest request;
  request.set_id(id);
  v1::SolveJob job;
  AUTOTM_RETURN_IF_ERROR(internal_->Call([&](grpc::ClientContext* context) {
    return internal_->placement->CancelSolveJob(context, request, &job);
  }));
  return job;
}

absl::StatusOr<v1::ListSolveJobsResponse> Client::ListSolveJobs(
    const v1::ListSolveJobsRequest& request) {
  v1::ListSolveJobsResponse response;
  AUTOTM_RETURN_IF_ERROR(internal_->Call([&](grpc::ClientContext* context) {
    return internal_->placement->ListSolveJobs(context, request, &response);
  }));
  return response;
}

absl::StatusOr<v1::Plan> Client::LookupPlan(const v1::GetPlanRequest& request,
                                            const v1::Profile* profile) {
  v1::Plan plan;
  AUTOTM_RETURN_IF_ERROR(internal_->Call([&](grpc::ClientContext* context) {
    return internal_->placement->GetPlan(context, request, &plan);
  }));
  AUTOTM_RETURN_IF_ERROR(
      VerifyServedPlan(request.graph(), request.budget_bytes(), plan, profile));
  return plan;
}

absl::StatusOr<v1::Plan> Client::PlanGraph(const v1::PlanGraphRequest& request,
                                           absl::Duration deadline,
                                           const v1::Profile* profile) {
  // Retrying UNAVAILABLE is safe: an UNAVAILABLE call created no job that
  // anyone waits for (a queued orphan still fills the cache).
  v1::Plan plan;
  AUTOTM_RETURN_IF_ERROR(
      internal_->CallWithDeadline(deadline, [&](grpc::ClientContext* context) {
        return internal_->placement->PlanGraph(context, request, &plan);
      }));
  AUTOTM_RETURN_IF_ERROR(
      VerifyServedPlan(request.graph(), request.budget_bytes(), plan, profile));
  return plan;
}

absl::StatusOr<v1::Plan> Client::GetPlan(const v1::Graph& graph,
                                         const std::string& host_class,
                                         uint64_t budget_bytes,
                                         const PlanOptions& options) {
  if (!options.solve_if_missing) {
    v1::GetPlanRequest request;
    *request.mutable_graph()->mutable_inline_graph() = graph;
    request.set_host_class(host_class);
    request.set_budget_bytes(budget_bytes);
    *request.mutable_parameters() = options.parameters;
    return LookupPlan(request, options.profile);
  }
  v1::PlanGraphRequest request;
  *request.mutable_graph()->mutable_inline_graph() = graph;
  request.set_host_class(host_class);
  request.set_budget_bytes(budget_bytes);
  *request.mutable_parameters() = options.parameters;
  request.set_priority(options.priority);
  return PlanGraph(request, options.deadline, options.profile);
}

absl::StatusOr<v1::SolveJob> Client::WatchSolveJob(
    const std::string& id,
    const std::function<void(const v1::SolveJob&)>& on_update,
    absl::Duration deadline) {
  v1::WatchSolveJobRequest request;
  request.set_id(id);
  const absl::Time end = absl::Now() + deadline;
  v1::SolveJob last;
  bool any = false;
  // The server ends a watch after its --max-watch-seconds even when the job
  // still runs (OK after the latest state): watch again until the job is
  // final or our own deadline passes.
  while (true) {
    std::unique_ptr<grpc::ClientContext> context =
        internal_->NewContext(std::max(end - absl::Now(), absl::Seconds(1)));
    std::unique_ptr<grpc::ClientReader<v1::SolveJob>> reader =
        internal_->placement->WatchSolveJob(context.get(), request);
    v1::SolveJob job;
    bool this_round = false;
    while (reader->Read(&job)) {
      any = this_round = true;
      if (on_update) on_update(job);
      last = job;
    }
    const grpc::Status status = reader->Finish();
    if (!status.ok()) return FromGrpcStatus(status);
    if (!any) return absl::InternalError("watch ended without any update");
    const bool final = last.state() == v1::SolveJob::SUCCEEDED ||
                       last.state() == v1::SolveJob::FAILED ||
                       last.state() == v1::SolveJob::CANCELLED;
    if (final || !this_round) return last;
    if (absl::Now() >= end) {
      return absl::DeadlineExceededError(absl::StrCat(
          "job ", id, " is still ", v1::SolveJob::State_Name(last.state()),
          " at the watch's deadline"));
    }
  }
}

}  // namespace autotm
