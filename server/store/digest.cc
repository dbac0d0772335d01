#include "server/store/digest.h"

#include <openssl/evp.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace autotm::server {
namespace {

constexpr absl::string_view kDigestPrefix = "sha256:";

}  // namespace

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
  unsigned char hash[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  // EVP_Digest only fails on allocation failure or a missing algorithm;
  // SHA-256 is always built into libcrypto.
  EVP_Digest(data.data(), data.size(), hash, &length, EVP_sha256(), nullptr);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(hash), length));
}

std::string GraphDigest(const v1::Graph& graph) {
  return absl::StrCat(kDigestPrefix, Sha256Hex(DeterministicBytes(graph)));
}

bool IsWellFormedDigest(absl::string_view digest) {
  if (!absl::ConsumePrefix(&digest, kDigestPrefix) || digest.size() != 64) {
    return false;
  }
  for (char c : digest) {
    if (!absl::ascii_isdigit(c) && !(c >= 'a' && c <= 'f')) return false;
  }
  return true;
}

}  // namespace autotm::server
