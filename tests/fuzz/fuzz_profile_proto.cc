// libFuzzer target: profile validation (solver::ProfileModel::Create) on
// autotm.v1.Profile messages decoded from the protobuf wire format.
#include <cstddef>
#include <cstdint>

#include "autotm/v1/profile.pb.h"
#include "tests/fuzz/fuzz_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  autotm::v1::Profile profile;
  if (!profile.ParseFromArray(data, static_cast<int>(size))) return 0;
  autotm::fuzz::CheckProfile(profile);
  return 0;
}
