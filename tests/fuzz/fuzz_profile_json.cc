// libFuzzer target: the JSON reader of autotm.v1.Profile, then profile
// validation (solver::ProfileModel::Create, with and without collapsing
// tables).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "autotm/v1/profile.pb.h"
#include "client/common/proto_json.h"
#include "tests/fuzz/fuzz_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  autotm::v1::Profile profile;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (!autotm::client::ParseProtoJson(text, "fuzz", &profile).ok()) return 0;
  autotm::fuzz::CheckProfile(profile);
  return 0;
}
