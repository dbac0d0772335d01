// Rules every store backend shares (validation, derived ids, page tokens,
// parsing stored messages), so that backends agree byte for byte on what
// they accept and return. Internal to the store backends.
#ifndef AUTOTM_SERVER_STORE_STORE_COMMON_H_
#define AUTOTM_SERVER_STORE_STORE_COMMON_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "autotm/v1/job.pb.h"
#include "autotm/v1/profile.pb.h"
#include "server/store/store.h"

namespace autotm::server {

// ListJobs page sizes: 0 means kDefaultPageSize; at most kMaxPageSize.
inline constexpr int kDefaultPageSize = 100;
inline constexpr int kMaxPageSize = 1000;

// SUCCEEDED, FAILED and CANCELLED.
bool IsFinalState(v1::SolveJob::State state);

// Checks `config` against the "FS|F" form for `signature`'s operand counts.
absl::Status ValidateConfig(absl::string_view config,
                            const v1::KernelSignature& signature);

// The id under which a measurement without one is stored: equal
// (signature, config, time) give equal ids, so re-sending is idempotent.
std::string DerivedMeasurementId(const std::string& signature_key,
                                 const std::string& config, double time_us);

// ListJobs page tokens: web-safe base64 of "v1:<state>:<last sequence>". The
// state is carried so a token is not reused under another filter.
std::string EncodePageToken(int state, uint64_t last_sequence);
// InvalidArgument for a malformed token or one of another state filter.
absl::StatusOr<uint64_t> DecodePageToken(const std::string& token, int state);

// A validated measurement: its signature key, its (possibly derived) id and
// the measurement itself (borrowed from the caller's vector).
struct MeasurementRow {
  std::string key;
  std::string id;
  const Measurement* m;
};
// Validates every measurement (InvalidArgument naming the first bad one)
// before anything is written: a batch is all or nothing.
absl::StatusOr<std::vector<MeasurementRow>> CheckMeasurements(
    const std::vector<Measurement>& measurements);
// Validates separable costs; returns signature key -> the kernel's
// deterministic bytes (a later one for the same key wins).
absl::StatusOr<std::map<std::string, std::string>> CheckSeparableCosts(
    const std::vector<v1::KernelProfile>& kernels);

// Parses a stored message; Internal ("stored <what> is corrupt") on failure.
template <typename Message>
absl::StatusOr<Message> ParseStored(absl::string_view bytes,
                                    absl::string_view what) {
  Message message;
  if (!message.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InternalError(absl::StrCat("stored ", what, " is corrupt"));
  }
  return message;
}

}  // namespace autotm::server

#endif  // AUTOTM_SERVER_STORE_STORE_COMMON_H_
