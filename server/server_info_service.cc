#include "server/server_info_service.h"

#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_convert.h"
#include "server/request_limits.h"

namespace autotm::server {

grpc::ServerUnaryReactor* ServerServiceImpl::GetServerInfo(
    grpc::CallbackServerContext* context,
    const v1::GetServerInfoRequest* request, v1::ServerInfo* response) {
  (void)request;
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<Principal> principal = authorizer_.Identify(*context);
  if (!principal.ok()) {
    reactor->Finish(ToGrpcStatus(principal.status()));
    return reactor;
  }
  *response = server_;
  response->set_principal(principal->name);
  if (principal->roles != 0) {
    for (absl::string_view role :
         absl::StrSplit(RoleNames(principal->roles), ',')) {
      response->add_roles(std::string(role));
    }
  }
  if (principal->Has(kRoleAgent) || principal->IsOperator()) {
    if (principal->all_host_classes || principal->IsOperator()) {
      // (A std::string: GCC 12 warns falsely on the const char* overload.)
      response->add_host_classes(std::string(1, '*'));
    } else {
      for (const std::string& name : principal->host_classes) {
        response->add_host_classes(name);
      }
    }
  }
  response->set_store_writable(writable_ ? writable_() : true);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* ServerServiceImpl::PruneStore(
    grpc::CallbackServerContext* context, const v1::PruneStoreRequest* request,
    v1::PruneStoreResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<Principal> principal = authorizer_.Identify(*context);
  if (!principal.ok()) {
    reactor->Finish(ToGrpcStatus(principal.status()));
    return reactor;
  }
  absl::StatusOr<RetentionLimits> limits = RetentionOf(*request, retention_);
  if (!limits.ok()) {
    reactor->Finish(ToGrpcStatus(limits.status()));
    return reactor;
  }
  // A prune (and a VACUUM above all) can take seconds on a large database:
  // not on gRPC's callback thread.
  std::thread([this, reactor, response, principal = *principal,
               limits = *limits] {
    absl::StatusOr<PruneResult> result = store_.Prune(limits);
    if (result.ok()) {
      response->set_jobs_deleted(result->jobs_deleted);
      response->set_graphs_deleted(result->graphs_deleted);
      response->set_plans_deleted(result->plans_deleted);
      response->set_content_bytes_before(result->content_bytes_before);
      response->set_content_bytes_after(result->content_bytes_after);
      response->set_file_bytes_before(result->file_bytes_before);
      response->set_file_bytes_after(result->file_bytes_after);
      response->set_free_bytes_after(result->free_bytes_after);
    }
    Audit(*logger_, principal, "PruneStore",
          result.ok() ? absl::StrCat("jobs=", result->jobs_deleted,
                                     " graphs=", result->graphs_deleted,
                                     " plans=", result->plans_deleted)
                      : std::string("store"),
          result.status());
    reactor->Finish(ToGrpcStatus(result.status()));
  }).detach();
  return reactor;
}

}  // namespace autotm::server
