// autotm::Client's PlacementService methods (see client.h).

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/lib/client.h"
#include "client/lib/client_internal.h"
#include "common/graph_digest.h"
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
// digest sent no graph to check against (graph null): the plan is returned
// as served.
absl::Status VerifyServedPlan(const v1::Graph* graph_sent,
                              uint64_t budget_bytes, const v1::Plan& plan,
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
  if (graph_sent == nullptr) return absl::OkStatus();
  absl::StatusOr<solver::GraphModel> graph =
      solver::GraphModel::Create(*graph_sent);
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

const v1::Graph* InlineGraph(const v1::GraphRef& ref) {
  return ref.graph_case() == v1::GraphRef::kInlineGraph ? &ref.inline_graph()
                                                        : nullptr;
}

// What a request adds to its graph's encoding (the other fields, tags and
// gRPC framing), with room to spare.
constexpr size_t kRequestOverheadBytes = 4096;

// The server's answers that switch a call to a streamed path (their texts
// are documented in placement_service.proto).
bool PlanTooLarge(const absl::Status& status) {
  return absl::IsResourceExhausted(status) &&
         absl::StartsWith(status.message(), "plan too large for one message");
}
bool GraphMissing(const absl::Status& status) {
  return absl::IsNotFound(status) &&
         absl::StartsWith(status.message(), "graph.digest: no stored graph");
}

// `request` with its inline graph replaced by the graph's digest, when the
// request would be over the message limit: after the upload the server
// has the graph. Nullopt when the request fits as it is (no copy: requests
// may carry megabytes of graph).
template <typename Request>
absl::StatusOr<std::optional<Request>> FitGraph(Client& client,
                                                const Request& request,
                                                size_t max_message_bytes) {
  if (request.graph().graph_case() != v1::GraphRef::kInlineGraph ||
      request.ByteSizeLong() + kRequestOverheadBytes <= max_message_bytes) {
    return std::nullopt;
  }
  AUTOTM_ASSIGN_OR_RETURN(std::string digest,
                          client.UploadGraph(request.graph().inline_graph()));
  Request by_digest = request;
  by_digest.mutable_graph()->set_digest(digest);
  return by_digest;
}

v1::GetPlanRequest LookupOf(const v1::PlanGraphRequest& request) {
  v1::GetPlanRequest lookup;
  *lookup.mutable_graph() = request.graph();
  lookup.set_host_class(request.host_class());
  lookup.set_budget_bytes(request.budget_bytes());
  *lookup.mutable_parameters() = request.parameters();
  return lookup;
}

}  // namespace

absl::StatusOr<std::string> Client::UploadGraph(const v1::Graph& graph) {
  const std::string bytes = CanonicalGraphBytes(graph);
  const std::string digest = absl::StrCat("sha256:", Sha256Hex(bytes));
  const size_t piece_bytes = std::min<size_t>(
      size_t{1} << 20, internal_->options.max_message_bytes / 2);
  v1::UploadGraphResponse response;
  // The whole stream is one attempt; UNAVAILABLE repeats it from the start.
  // A large graph needs more than the per-call deadline: a minute per
  // 100 MB on top of it.
  const absl::Duration deadline =
      internal_->options.deadline +
      absl::Seconds(static_cast<double>(bytes.size()) / (100 << 20) * 60);
  AUTOTM_RETURN_IF_ERROR(
      internal_->CallWithDeadline(deadline, [&](grpc::ClientContext* context) {
        std::unique_ptr<grpc::ClientWriter<v1::UploadGraphRequest>> writer =
            internal_->placement->UploadGraph(context, &response);
        v1::UploadGraphRequest piece;
        piece.set_digest(digest);
        piece.set_total_bytes(bytes.size());
        size_t offset = 0;
        do {
          const size_t n = std::min(piece_bytes, bytes.size() - offset);
          piece.set_data(bytes.data() + offset, n);
          offset += n;
          // A failed write means the server ended the call: Finish says why.
          if (!writer->Write(piece)) break;
          piece.clear_digest();
          piece.clear_total_bytes();
        } while (offset < bytes.size());
        writer->WritesDone();
        return writer->Finish();
      }));
  if (response.digest() != digest) {
    return absl::InternalError(
        absl::StrCat("UploadGraph: the server stored the graph as \"",
                     response.digest(), "\", not ", digest));
  }
  return digest;
}

absl::StatusOr<v1::Plan> Client::StreamPlan(const v1::GetPlanRequest& request) {
  v1::Plan plan;
  AUTOTM_RETURN_IF_ERROR(StreamPlanInto(request, &plan));
  return plan;
}

absl::Status Client::StreamPlanInto(const v1::GetPlanRequest& request,
                                    v1::Plan* plan) {
  std::string bytes;
  AUTOTM_RETURN_IF_ERROR(internal_->Call([&](grpc::ClientContext* context) {
    bytes.clear();
    std::unique_ptr<grpc::ClientReader<v1::PlanChunk>> reader =
        internal_->placement->StreamPlan(context, request);
    v1::PlanChunk chunk;
    bool first = true;
    while (reader->Read(&chunk)) {
      if (first) bytes.reserve(chunk.total_bytes());
      first = false;
      bytes.append(chunk.data());
    }
    return reader->Finish();
  }));
  if (!plan->ParseFromString(bytes)) {
    return absl::InternalError(absl::StrCat("StreamPlan: the ", bytes.size(),
                                            " bytes received are not a Plan"));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::SolveJob> Client::CreateSolveJob(
    const v1::CreateSolveJobRequest& request) {
  AUTOTM_ASSIGN_OR_RETURN(
      std::optional<v1::CreateSolveJobRequest> by_digest,
      FitGraph(*this, request, internal_->options.max_message_bytes));
  const v1::CreateSolveJobRequest& fitted = by_digest ? *by_digest : request;
  v1::SolveJob job;
  AUTOTM_RETURN_IF_ERROR(internal_->Call([&](grpc::ClientContext* context) {
    return internal_->placement->CreateSolveJob(context, fitted, &job);
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
  AUTOTM_RETURN_IF_ERROR(LookupPlanInto(request, &plan, profile));
  return plan;
}

absl::Status Client::LookupPlanInto(const v1::GetPlanRequest& request,
                                    v1::Plan* plan,
                                    const v1::Profile* profile) {
  AUTOTM_ASSIGN_OR_RETURN(
      std::optional<v1::GetPlanRequest> by_digest,
      FitGraph(*this, request, internal_->options.max_message_bytes));
  const v1::GetPlanRequest& fitted = by_digest ? *by_digest : request;
  absl::Status status = internal_->Call([&](grpc::ClientContext* context) {
    return internal_->placement->GetPlan(context, fitted, plan);
  });
  if (PlanTooLarge(status)) status = StreamPlanInto(fitted, plan);
  AUTOTM_RETURN_IF_ERROR(status);
  return VerifyServedPlan(InlineGraph(request.graph()), request.budget_bytes(),
                          *plan, profile);
}

absl::StatusOr<v1::Plan> Client::PlanGraph(const v1::PlanGraphRequest& request,
                                           absl::Duration deadline,
                                           const v1::Profile* profile) {
  v1::Plan plan;
  AUTOTM_RETURN_IF_ERROR(PlanGraphInto(request, deadline, &plan, profile));
  return plan;
}

absl::Status Client::PlanGraphInto(const v1::PlanGraphRequest& request,
                                   absl::Duration deadline, v1::Plan* plan,
                                   const v1::Profile* profile) {
  AUTOTM_ASSIGN_OR_RETURN(
      std::optional<v1::PlanGraphRequest> by_digest,
      FitGraph(*this, request, internal_->options.max_message_bytes));
  const v1::PlanGraphRequest& fitted = by_digest ? *by_digest : request;
  // Retrying UNAVAILABLE is safe: an UNAVAILABLE call created no job that
  // anyone waits for (a queued orphan still fills the cache).
  absl::Status status =
      internal_->CallWithDeadline(deadline, [&](grpc::ClientContext* context) {
        return internal_->placement->PlanGraph(context, fitted, plan);
      });
  // The plan is cached by the time the server says it is too large.
  if (PlanTooLarge(status)) status = StreamPlanInto(LookupOf(fitted), plan);
  AUTOTM_RETURN_IF_ERROR(status);
  return VerifyServedPlan(InlineGraph(request.graph()), request.budget_bytes(),
                          *plan, profile);
}

absl::StatusOr<v1::Plan> Client::GetPlan(const v1::Graph& graph,
                                         const std::string& host_class,
                                         uint64_t budget_bytes,
                                         const PlanOptions& options) {
  v1::Plan plan;
  AUTOTM_RETURN_IF_ERROR(
      GetPlanInto(graph, host_class, budget_bytes, options, &plan));
  return plan;
}

absl::Status Client::GetPlanInto(const v1::Graph& graph,
                                 const std::string& host_class,
                                 uint64_t budget_bytes,
                                 const PlanOptions& options, v1::Plan* plan) {
  const std::string digest = CanonicalGraphDigest(graph);
  // Asks by digest; `inline_graph` sends the graph itself (FitGraph turns
  // that into an upload when it is over the message limit).
  auto ask = [&](bool inline_graph) -> absl::Status {
    v1::GraphRef ref;
    if (inline_graph) {
      *ref.mutable_inline_graph() = graph;
    } else {
      ref.set_digest(digest);
    }
    if (!options.solve_if_missing) {
      v1::GetPlanRequest request;
      *request.mutable_graph() = std::move(ref);
      request.set_host_class(host_class);
      request.set_budget_bytes(budget_bytes);
      *request.mutable_parameters() = options.parameters;
      return LookupPlanInto(request, plan);
    }
    v1::PlanGraphRequest request;
    *request.mutable_graph() = std::move(ref);
    request.set_host_class(host_class);
    request.set_budget_bytes(budget_bytes);
    *request.mutable_parameters() = options.parameters;
    request.set_priority(options.priority);
    return PlanGraphInto(request, options.deadline, plan);
  };
  absl::Status status = ask(/*inline_graph=*/false);
  if (GraphMissing(status)) status = ask(/*inline_graph=*/true);
  AUTOTM_RETURN_IF_ERROR(status);
  // Verified here, once, against the graph the caller holds (the digest
  // request carried none).
  return VerifyServedPlan(&graph, budget_bytes, *plan, options.profile);
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
