// autotm.v1.ServerService: the server's version, security mode and quotas,
// and the caller's principal ("whoami"), for `autotm server status`.
#ifndef AUTOTM_SERVER_SERVER_INFO_SERVICE_H_
#define AUTOTM_SERVER_SERVER_INFO_SERVICE_H_

#include "autotm/v1/server_service.grpc.pb.h"
#include "autotm/v1/server_service.pb.h"
#include "server/auth.h"

namespace autotm::server {

class ServerServiceImpl final : public v1::ServerService::CallbackService {
 public:
  // `server` holds the fixed fields (version, security, quotas); the
  // caller's fields are filled per call. `authorizer` must outlive this.
  ServerServiceImpl(const Authorizer& authorizer, v1::ServerInfo server)
      : authorizer_(authorizer), server_(std::move(server)) {}

  grpc::ServerUnaryReactor* GetServerInfo(
      grpc::CallbackServerContext* context,
      const v1::GetServerInfoRequest* request,
      v1::ServerInfo* response) override;

 private:
  const Authorizer& authorizer_;
  const v1::ServerInfo server_;
};

}  // namespace autotm::server

#endif  // AUTOTM_SERVER_SERVER_INFO_SERVICE_H_
