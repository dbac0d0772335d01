#include "common/graph_digest.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace autotm {
namespace {

constexpr absl::string_view kDigestPrefix = "sha256:";

// Protobuf wire types.
constexpr uint32_t kVarint = 0;
constexpr uint32_t kLengthDelimited = 2;

void PutVarint(uint64_t value, std::string& out) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

void PutTag(uint32_t field, uint32_t wire_type, std::string& out) {
  PutVarint((uint64_t{field} << 3) | wire_type, out);
}

// A length-delimited field, written even when `bytes` is empty.
void PutBytes(uint32_t field, absl::string_view bytes, std::string& out) {
  PutTag(field, kLengthDelimited, out);
  PutVarint(bytes.size(), out);
  out.append(bytes.data(), bytes.size());
}

// A singular string: left out when empty.
void PutString(uint32_t field, absl::string_view value, std::string& out) {
  if (!value.empty()) PutBytes(field, value, out);
}

// A singular uint64 or enum: left out when zero. Enums are int32 values
// sign-extended to 64 bits, as protobuf encodes them.
void PutUint(uint32_t field, uint64_t value, std::string& out) {
  if (value == 0) return;
  PutTag(field, kVarint, out);
  PutVarint(value, out);
}
void PutEnum(uint32_t field, int32_t value, std::string& out) {
  PutUint(field, static_cast<uint64_t>(static_cast<int64_t>(value)), out);
}

std::string OperandBytes(const v1::OperandSpec& operand) {
  std::string out;
  if (operand.dims_size() > 0) {
    std::string packed;
    for (int64_t dim : operand.dims()) {
      PutVarint(static_cast<uint64_t>(dim), packed);
    }
    PutBytes(1, packed, out);
  }
  PutEnum(2, operand.dtype(), out);
  return out;
}

std::string SignatureBytes(const v1::KernelSignature& signature) {
  std::string out;
  PutString(1, signature.op(), out);
  for (const v1::OperandSpec& input : signature.inputs()) {
    PutBytes(2, OperandBytes(input), out);
  }
  for (const v1::OperandSpec& output : signature.outputs()) {
    PutBytes(3, OperandBytes(output), out);
  }
  std::vector<std::pair<absl::string_view, absl::string_view>> attributes(
      signature.attributes().begin(), signature.attributes().end());
  std::sort(attributes.begin(), attributes.end());  // bytewise by key
  for (const auto& [key, value] : attributes) {
    std::string entry;
    PutBytes(1, key, entry);
    PutBytes(2, value, entry);
    PutBytes(4, entry, out);
  }
  return out;
}

std::string KernelBytes(const v1::Kernel& kernel) {
  std::string out;
  PutString(1, kernel.id(), out);
  PutString(2, kernel.op(), out);
  for (const std::string& input : kernel.inputs()) PutBytes(3, input, out);
  for (const std::string& output : kernel.outputs()) PutBytes(4, output, out);
  if (kernel.has_signature()) {
    PutBytes(5, SignatureBytes(kernel.signature()), out);
  }
  return out;
}

std::string TensorBytes(const v1::Tensor& tensor) {
  std::string out;
  PutString(1, tensor.id(), out);
  PutUint(2, tensor.size_bytes(), out);
  PutEnum(3, tensor.role(), out);
  PutEnum(4, tensor.fixed_tier(), out);
  PutUint(5, tensor.persistent() ? 1 : 0, out);
  return out;
}

}  // namespace

std::string CanonicalGraphBytes(const v1::Graph& graph) {
  std::string out;
  // About what the protobuf encoding takes; saves the regrowth copies of a
  // multi-megabyte graph.
  out.reserve(graph.ByteSizeLong());
  PutString(1, graph.name(), out);
  for (const v1::Tensor& tensor : graph.tensors()) {
    PutBytes(2, TensorBytes(tensor), out);
  }
  for (const v1::Kernel& kernel : graph.kernels()) {
    PutBytes(3, KernelBytes(kernel), out);
  }
  return out;
}

std::string Sha256Hex(absl::string_view data) {
  unsigned char hash[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  // Fetched once: with EVP_sha256() OpenSSL 3 looks the algorithm up in
  // its provider tables on every call (a lock and a hash lookup, more than
  // hashing a plan-cache key), which the server pays on every cache hit.
  // The fetched EVP_MD is immutable and shared by all threads.
  static const EVP_MD* const kSha256 = [] {
    const EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return fetched != nullptr ? fetched : EVP_sha256();
  }();
  // EVP_Digest only fails on allocation failure or a missing algorithm;
  // SHA-256 is always built into libcrypto.
  EVP_Digest(data.data(), data.size(), hash, &length, kSha256, nullptr);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(hash), length));
}

std::string CanonicalGraphDigest(const v1::Graph& graph) {
  return absl::StrCat(kDigestPrefix, Sha256Hex(CanonicalGraphBytes(graph)));
}

bool IsWellFormedGraphDigest(absl::string_view digest) {
  if (!absl::ConsumePrefix(&digest, kDigestPrefix) || digest.size() != 64) {
    return false;
  }
  for (char c : digest) {
    if (!absl::ascii_isdigit(c) && !(c >= 'a' && c <= 'f')) return false;
  }
  return true;
}

}  // namespace autotm
