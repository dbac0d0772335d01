// autotm.v1.ProfileService over a ProfileStore: kernel timing profiles per
// host class, uploaded by profiler agents and read for planning. The RPC
// contracts (and error codes) are documented in
// proto/autotm/v1/profile_service.proto; this class adds validation in
// front of the store:
//   - INVALID_ARGUMENT for an empty or over-long host class name
//     (request_limits.h), a measurement entry without a signature op, a
//     malformed configuration, a time or bandwidth outside the solver's
//     physical bounds (solver::CheckKernelTimeUs, solver::CheckBandwidths),
//     a separable cost of the wrong shape, missing bandwidths for a new host
//     class, or measurements that contradict the host class's data
//     (measurement_guard.h) — the message names the entry by index and
//     signature key, or the field; nothing of a refused request is stored;
//   - FAILED_PRECONDITION when the host class exists with another
//     fingerprint;
//   - NOT_FOUND for an unknown host class (get, export, delete);
//   - INVALID_ARGUMENT for a work-list request with an invalid inline graph;
//   - PERMISSION_DENIED when the caller's principal may not profile the
//     host class (an agent it was not granted: server/auth.h; the roles of
//     each RPC are enforced before the handler, the grant here because it
//     depends on the request);
//   - whatever the store returns otherwise (INTERNAL for backend failures).
// Mutating calls (uploads, import, drop, delete) write an audit line.
// Provenance: every measurement records the principal that uploaded it;
// GetHostClass lists the contributions, DropMeasurements deletes one
// principal's.
//
// Idempotence: measurements carry ids (ImportProfile derives them from the
// signature, configuration and time), the store ignores ids it already has,
// bandwidths and separable costs are written only when they differ from the
// stored ones, so re-sending the same data leaves the profile version as it
// was.
//
// Thread safety: all methods may be called concurrently. Mutating calls are
// serialized by a mutex so that the check-then-write of the host class
// (fingerprint, bandwidths) is atomic with respect to other uploads. The
// handlers run the (short, synchronous) store calls on gRPC's callback
// threads.
#ifndef AUTOTM_SERVER_PROFILE_SERVICE_H_
#define AUTOTM_SERVER_PROFILE_SERVICE_H_

#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "autotm/v1/profile_service.grpc.pb.h"
#include "autotm/v1/profile_service.pb.h"
#include "server/auth.h"
#include "server/measurement_guard.h"
#include "server/store/store.h"
#include "spdlog/spdlog.h"

namespace autotm::server {

class ProfileServiceImpl final : public v1::ProfileService::CallbackService {
 public:
  // The stores must outlive the service (`graphs` is read for the work
  // list); `logger` must not be null.
  // `authorizer` must outlive the service too.
  ProfileServiceImpl(ProfileStore& store, GraphStore& graphs,
                     const Authorizer& authorizer,
                     std::shared_ptr<spdlog::logger> logger);

  // The RPC logic as plain functions (the handlers below call them; tests
  // may call them directly) on behalf of `principal`.
  // `rpc` names the RPC in the audit log.
  absl::StatusOr<v1::UploadMeasurementsResponse> Upload(
      const v1::UploadMeasurementsRequest& request, const Principal& principal,
      const char* rpc = "UploadMeasurements");
  absl::StatusOr<v1::UploadMeasurementsResponse> Import(
      const v1::Profile& profile, const Principal& principal);
  absl::StatusOr<v1::HostClassSummary> GetSummary(const std::string& name);
  absl::StatusOr<v1::ListHostClassesResponse> List();
  absl::StatusOr<v1::Profile> Export(const std::string& name);
  absl::Status Delete(const std::string& name, const Principal& principal);
  absl::StatusOr<v1::DropMeasurementsResponse> Drop(
      const v1::DropMeasurementsRequest& request, const Principal& principal);
  absl::StatusOr<v1::WorkList> GetWorkList(
      const v1::GetWorkListRequest& request, const Principal& principal);

  // autotm.v1.ProfileService.
  grpc::ServerUnaryReactor* UploadMeasurements(
      grpc::CallbackServerContext* context,
      const v1::UploadMeasurementsRequest* request,
      v1::UploadMeasurementsResponse* response) override;
  grpc::ServerReadReactor<v1::UploadMeasurementsRequest>* StreamMeasurements(
      grpc::CallbackServerContext* context,
      v1::UploadMeasurementsResponse* response) override;
  grpc::ServerUnaryReactor* GetHostClass(
      grpc::CallbackServerContext* context,
      const v1::GetHostClassRequest* request,
      v1::HostClassSummary* response) override;
  grpc::ServerUnaryReactor* ListHostClasses(
      grpc::CallbackServerContext* context,
      const v1::ListHostClassesRequest* request,
      v1::ListHostClassesResponse* response) override;
  grpc::ServerUnaryReactor* ExportProfile(
      grpc::CallbackServerContext* context,
      const v1::ExportProfileRequest* request, v1::Profile* response) override;
  grpc::ServerUnaryReactor* ImportProfile(
      grpc::CallbackServerContext* context,
      const v1::ImportProfileRequest* request,
      v1::UploadMeasurementsResponse* response) override;
  grpc::ServerUnaryReactor* DeleteHostClass(
      grpc::CallbackServerContext* context,
      const v1::DeleteHostClassRequest* request,
      v1::DeleteHostClassResponse* response) override;
  grpc::ServerUnaryReactor* DropMeasurements(
      grpc::CallbackServerContext* context,
      const v1::DropMeasurementsRequest* request,
      v1::DropMeasurementsResponse* response) override;
  grpc::ServerUnaryReactor* GetWorkList(grpc::CallbackServerContext* context,
                                        const v1::GetWorkListRequest* request,
                                        v1::WorkList* response) override;

 private:
  // Logs the outcome of one RPC (info when OK or a client error, error for
  // server-side failures) and returns `status` unchanged.
  absl::Status LogOutcome(const char* method, const std::string& host_class,
                          absl::Status status);

  ProfileStore& store_;
  GraphStore& graphs_;
  const Authorizer& authorizer_;
  std::shared_ptr<spdlog::logger> logger_;
  absl::Mutex write_mu_;
  // What uploads are checked against (measurement_guard.h).
  StoredReference reference_ ABSL_GUARDED_BY(write_mu_);
};

}  // namespace autotm::server

#endif  // AUTOTM_SERVER_PROFILE_SERVICE_H_
