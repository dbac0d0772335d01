// Conversions between absl::Status (our code) and grpc::Status (the wire).
// Both use the same canonical code numbers, so the code and the message
// survive a round trip unchanged. Thread-safe (pure functions).
//
// Shared by the server and the installable client library (autotm::client),
// so it lives in neither: the client must not depend on server/.
#ifndef AUTOTM_COMMON_STATUS_CONVERT_H_
#define AUTOTM_COMMON_STATUS_CONVERT_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace autotm {

// OK maps to grpc::Status::OK; any other code keeps its number and message
// (messages longer than 4 KiB are cut, to fit gRPC's trailer limit).
grpc::Status ToGrpcStatus(const absl::Status& status);

// The inverse of ToGrpcStatus. Codes outside the canonical range become
// Unknown (keeping the message).
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace autotm

#endif  // AUTOTM_COMMON_STATUS_CONVERT_H_
