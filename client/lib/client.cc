#include "client/lib/client.h"

#include <grpcpp/grpcpp.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/lib/client_internal.h"
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
  if (options.max_message_bytes < (size_t{64} << 10) ||
      options.max_message_bytes > (size_t{1} << 30)) {
    return absl::InvalidArgumentError(
        absl::StrCat("client: max_message_bytes ", options.max_message_bytes,
                     " is not in [64 KiB, 1 GiB]"));
  }
  if (options.max_attempts < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "client: max_attempts must be at least 1, not ", options.max_attempts));
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (options.tls_enabled()) {
    if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
      return absl::InvalidArgumentError(
          "client: a TLS client certificate needs both the certificate and "
          "its key (--tls-cert and --tls-key)");
    }
    grpc::SslCredentialsOptions ssl;
    auto read = [](const std::string& path,
                   const char* what) -> absl::StatusOr<std::string> {
      std::ifstream in(path, std::ios::binary);
      if (!in) {
        return absl::NotFoundError(
            absl::StrCat("client: cannot read ", what, " ", path));
      }
      std::ostringstream text;
      text << in.rdbuf();
      return text.str();
    };
    if (!options.tls_ca_file.empty()) {
      AUTOTM_ASSIGN_OR_RETURN(ssl.pem_root_certs,
                              read(options.tls_ca_file, "TLS CA file"));
    }
    if (!options.tls_cert_file.empty()) {
      AUTOTM_ASSIGN_OR_RETURN(ssl.pem_cert_chain,
                              read(options.tls_cert_file, "TLS certificate"));
      AUTOTM_ASSIGN_OR_RETURN(ssl.pem_private_key,
                              read(options.tls_key_file, "TLS key"));
    }
    credentials = grpc::SslCredentials(ssl);
  } else {
    if (!options.token.empty()) {
      return absl::InvalidArgumentError(
          "client: a token needs TLS (--tls-ca): it would travel in clear "
          "text");
    }
    credentials = grpc::InsecureChannelCredentials();
  }
  auto internal = std::make_unique<Internal>();
  internal->options = options;
  grpc::ChannelArguments arguments;
  arguments.SetMaxReceiveMessageSize(
      static_cast<int>(options.max_message_bytes));
  arguments.SetMaxSendMessageSize(static_cast<int>(options.max_message_bytes));
  internal->channel =
      grpc::CreateCustomChannel(options.address, credentials, arguments);
  internal->profiles = v1::ProfileService::NewStub(internal->channel);
  internal->placement = v1::PlacementService::NewStub(internal->channel);
  internal->server = v1::ServerService::NewStub(internal->channel);
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

absl::StatusOr<v1::ServerInfo> Client::GetServerInfo() {
  v1::GetServerInfoRequest request;
  v1::ServerInfo response;
  AUTOTM_RETURN_IF_ERROR(internal_->Call([&](grpc::ClientContext* context) {
    return internal_->server->GetServerInfo(context, request, &response);
  }));
  return response;
}

absl::StatusOr<v1::PruneStoreResponse> Client::PruneStore(
    const v1::PruneStoreRequest& request, absl::Duration deadline) {
  v1::PruneStoreResponse response;
  std::unique_ptr<grpc::ClientContext> context =
      internal_->NewContext(deadline);
  AUTOTM_RETURN_IF_ERROR(FromGrpcStatus(
      internal_->server->PruneStore(context.get(), request, &response)));
  return response;
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

absl::StatusOr<v1::DropMeasurementsResponse> Client::DropMeasurements(
    const std::string& host_class, const std::string& principal) {
  v1::DropMeasurementsRequest request;
  request.set_host_class(host_class);
  request.set_principal(principal);
  v1::DropMeasurementsResponse response;
  AUTOTM_RETURN_IF_ERROR(internal_->Call([&](grpc::ClientContext* context) {
    return internal_->profiles->DropMeasurements(context, request, &response);
  }));
  return response;
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
