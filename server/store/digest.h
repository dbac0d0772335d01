// Content digests and deterministic bytes for stored messages.
#ifndef AUTOTM_SERVER_STORE_DIGEST_H_
#define AUTOTM_SERVER_STORE_DIGEST_H_

#include <string>

#include "absl/strings/string_view.h"
#include "autotm/v1/graph.pb.h"
#include "google/protobuf/message_lite.h"

namespace autotm::server {

// The message's deterministic protobuf serialization (map entries sorted by
// key), so equal messages give equal bytes within one protobuf version.
std::string DeterministicBytes(const google::protobuf::MessageLite& message);

// Lower-case hex SHA-256 of `data` (64 characters).
std::string Sha256Hex(absl::string_view data);

// The canonical graph digest (common/graph_digest.h, documented in
// proto/autotm/v1/graph.proto): the key under which GraphStore keeps it.
std::string GraphDigest(const v1::Graph& graph);

// True when `digest` has the form GraphDigest returns.
bool IsWellFormedDigest(absl::string_view digest);

}  // namespace autotm::server

#endif  // AUTOTM_SERVER_STORE_DIGEST_H_
