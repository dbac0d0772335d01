// autotm.v1.ServerService: the server's version, security mode and quotas,
// and the caller's principal ("whoami"), for `autotm server status`; and
// PruneStore (`autotm admin prune`), the operator's retention run.
#ifndef AUTOTM_SERVER_SERVER_INFO_SERVICE_H_
#define AUTOTM_SERVER_SERVER_INFO_SERVICE_H_

#include <functional>
#include <memory>
#include <utility>

#include "autotm/v1/server_service.grpc.pb.h"
#include "autotm/v1/server_service.pb.h"
#include "server/auth.h"
#include "server/store/store.h"
#include "spdlog/logger.h"

namespace autotm::server {

class ServerServiceImpl final : public v1::ServerService::CallbackService {
 public:
  // `server` holds the fixed fields (version, security, quotas); the
  // caller's fields are filled per call. `authorizer` and `store` must
  // outlive this; `retention` are the server's limits, which PruneStore
  // requests override field by field; `writable` says whether the store
  // takes writes (ServerInfo.store_writable).
  ServerServiceImpl(const Authorizer& authorizer, v1::ServerInfo server,
                    Store& store, RetentionLimits retention,
                    std::shared_ptr<spdlog::logger> logger,
                    std::function<bool()> writable)
      : authorizer_(authorizer),
        server_(std::move(server)),
        store_(store),
        retention_(retention),
        logger_(std::move(logger)),
        writable_(std::move(writable)) {}

  grpc::ServerUnaryReactor* GetServerInfo(
      grpc::CallbackServerContext* context,
      const v1::GetServerInfoRequest* request,
      v1::ServerInfo* response) override;
  grpc::ServerUnaryReactor* PruneStore(
      grpc::CallbackServerContext* context,
      const v1::PruneStoreRequest* request,
      v1::PruneStoreResponse* response) override;

 private:
  const Authorizer& authorizer_;
  const v1::ServerInfo server_;
  Store& store_;
  const RetentionLimits retention_;
  std::shared_ptr<spdlog::logger> logger_;
  std::function<bool()> writable_;
};

}  // namespace autotm::server

#endif  // AUTOTM_SERVER_SERVER_INFO_SERVICE_H_
