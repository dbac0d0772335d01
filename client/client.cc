#include "client/client.h"

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/client_internal.h"
#include "solver/status_macros.h"

namespace autotm {

absl::StatusOr<std::unique_ptr<Client>> Client::Connect(
    const ClientOptions& options) {
  if (options.address.empty()) {
    return absl::InvalidArgumentError("client: the server address is empty");
  }
  if (options.deadline <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("client: the deadline must be positive, not ",
                     absl::FormatDuration(options.deadline)));
  }
  if (options.max_attempts < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "client: max_attempts must be at least 1, not ", options.max_attempts));
  }
  auto internal = std::make_unique<Internal>();
  internal->options = options;
  internal->channel =
      grpc::CreateChannel(options.address, grpc::InsecureChannelCredentials());
  internal->profiles = v1::ProfileService::NewStub(internal->channel);
  internal->placement = v1::PlacementService::NewStub(internal->channel);
  internal->health = grpc::health::v1::Health::NewStub(internal->channel);
  return std::unique_ptr<Client>(new Client(std::move(internal)));
}

Client::Client(std::unique_ptr<Internal> internal)
    : internal_(std::move(internal)) {}

Client::~Client() = default;

const ClientOptions& Client::options() const { return internal_->options; }

absl::StatusOr<bool> Client::Health() {
  grpc::health::v1::HealthCheckRequest request;  // "": the whole server
  grpc::health::v1::HealthCheckResponse response;
  AUTOTM_RETURN_IF_ERROR(internal_->Call([&](grpc::ClientContext* context) {
    return internal_->health->Check(context, request, &response);
  }));
  return response.status() == grpc::health::v1::HealthCheckResponse::SERVING;
}

absl::StatusOr<v1::UploadMeasurementsResponse> Client::UploadProfile(
    const v1::Profile& profile) {
  v1::ImportProfileRequest request;
  *request.mutable_profile() = profile;
  v1::UploadMeasurementsResponse response;
  AUTOTM_RETURN_IF_ERROR(internal_->Call([&](grpc::ClientContext* context) {
    return internal_->profiles->ImportProfile(context, request, &response);
  }));
  return response;
}

absl::StatusOr<v1::UploadMeasurementsResponse> Client::UploadMeasurements(
    const v1::UploadMeasurementsRequest& request) {
  v1::UploadMeasurementsResponse response;
  AUTOTM_RETURN_IF_ERROR(internal_->Call([&](grpc::ClientContext* context) {
    return internal_->profiles->UploadMeasurements(context, request, &response);
  }));
  return response;
}

absl::StatusOr<v1::UploadMeasurementsResponse> Client::StreamMeasurements(
    const std::vector<v1::UploadMeasurementsRequest>& batches) {
  v1::UploadMeasurementsResponse response;
  AUTOTM_RETURN_IF_ERROR(internal_->Call([&](grpc::ClientContext* context) {
    response.Clear();
    std::unique_ptr<grpc::ClientWriter<v1::UploadMeasurementsRequest>> writer =
        internal_->profiles->StreamMeasurements(context, &response);
    for (const v1::UploadMeasurementsRequest& batch : batches) {
      // A failed write means the call is over (the server rejected a batch
      // or the connection broke); Finish() reports why.
      if (!writer->Write(batch)) break;
    }
    writer->WritesDone();
    return writer->Finish();
  }));
  return response;
}

absl::StatusOr<v1::ListHostClassesResponse> Client::ListHostClasses() {
  v1::ListHostClassesRequest request;
  v1::ListHostClassesResponse response;
  AUTOTM_RETURN_IF_ERROR(internal_->Call([&](grpc::ClientContext* context) {
    return internal_->profiles->ListHostClasses(context, request, &response);
  }));
  return response;
}

absl::StatusOr<v1::HostClassSummary> Client::GetHostClass(
    const std::string& name) {
  v1::GetHostClassRequest request;
  request.set_name(name);
  v1::HostClassSummary response;
  AUTOTM_RETURN_IF_ERROR(internal_->Call([&](grpc::ClientContext* context) {
    return internal_->profiles->GetHostClass(context, request, &response);
  }));
  return response;
}

absl::StatusOr<v1::Profile> Client::ExportProfile(const std::string& name) {
  v1::ExportProfileRequest request;
  request.set_name(name);
  v1::Profile response;
  AUTOTM_RETURN_IF_ERROR(internal_->Call([&](grpc::ClientContext* context) {
    return internal_->profiles->ExportProfile(context, request, &response);
  }));
  return response;
}

absl::Status Client::DeleteHostClass(const std::string& name) {
  v1::DeleteHostClassRequest request;
  request.set_name(name);
  v1::DeleteHostClassResponse response;
  return internal_->Call([&](grpc::ClientContext* context) {
    return internal_->profiles->DeleteHostClass(context, request, &response);
  });
}

absl::StatusOr<v1::WorkList> Client::GetWorkList(
    const v1::GetWorkListRequest& request) {
  v1::WorkList response;
  AUTOTM_RETURN_IF_ERROR(internal_->Call([&](grpc::ClientContext* context) {
    return internal_->profiles->GetWorkList(context, request, &response);
  }));
  return response;
}

}  // namespace autotm
