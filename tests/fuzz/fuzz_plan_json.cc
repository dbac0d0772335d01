// libFuzzer target: the JSON reader of autotm.v1.Plan. A plan that parses
// must print and parse back to the same message (the on-disk form
// round-trips).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "autotm/v1/plan.pb.h"
#include "client/common/proto_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  autotm::v1::Plan plan;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (!autotm::client::ParseProtoJson(text, "fuzz", &plan).ok()) return 0;
  absl::StatusOr<std::string> json = autotm::client::ProtoToJson(plan);
  if (!json.ok()) return 0;  // e.g. an enum number without a name
  autotm::v1::Plan again;
  if (!autotm::client::ParseProtoJson(*json, "printed", &again).ok() ||
      again.SerializeAsString() != plan.SerializeAsString()) {
    std::fprintf(stderr, "plan JSON does not round-trip:\n%s\n", json->c_str());
    std::abort();
  }
  return 0;
}
