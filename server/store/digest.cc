#include "server/store/digest.h"

#include "common/graph_digest.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace autotm::server {

std::string DeterministicBytes(const google::protobuf::MessageLite& message) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream raw(&bytes);
    google::protobuf::io::CodedOutputStream coded(&raw);
    coded.SetSerializationDeterministic(true);
    // Fails only for messages over 2 GiB, which gRPC never delivers.
    message.SerializeToCodedStream(&coded);
  }
  return bytes;
}

std::string Sha256Hex(absl::string_view data) {
  return autotm::Sha256Hex(data);
}

std::string GraphDigest(const v1::Graph& graph) {
  return CanonicalGraphDigest(graph);
}

bool IsWellFormedDigest(absl::string_view digest) {
  return IsWellFormedGraphDigest(digest);
}

}  // namespace autotm::server
