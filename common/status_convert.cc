#include "common/status_convert.h"

#include <string>

namespace autotm {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // The message travels in the grpc-message trailer, whose size gRPC
  // limits (8 KiB of metadata by default, percent-encoded): a longer one
  // made the reply itself fail (issue 18, an 8,000-character host class
  // name). Validation keeps client input out of messages or excerpts it;
  // this is the last line.
  constexpr size_t kMaxMessageBytes = 4096;
  absl::string_view message = status.message();
  std::string text(message.substr(0, kMaxMessageBytes));
  if (message.size() > kMaxMessageBytes) {
    text += "... (message truncated)";
  }
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::move(text));
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  const int code = static_cast<int>(status.error_code());
  // grpc::StatusCode and absl::StatusCode share the canonical numbering
  // 0..16; anything else is not a code either side defines.
  const absl::StatusCode absl_code =
      code > 0 && code <= static_cast<int>(absl::StatusCode::kUnauthenticated)
          ? static_cast<absl::StatusCode>(code)
          : absl::StatusCode::kUnknown;
  return absl::Status(absl_code, status.error_message());
}

}  // namespace autotm
