#include "server/server_info_service.h"

#include "absl/strings/str_split.h"
#include "common/status_convert.h"

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
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace autotm::server
