// libFuzzer target: the JSON reader of autotm.v1.Graph, then graph
// validation and the liveness figures built from a graph that validates.
// Any input must give an absl::Status (never a crash, a sanitizer report,
// or a hang); a graph that validates must have consistent liveness.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "autotm/v1/graph.pb.h"
#include "client/common/proto_json.h"
#include "tests/fuzz/fuzz_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  autotm::v1::Graph graph;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (!autotm::client::ParseProtoJson(text, "fuzz", &graph).ok()) return 0;
  autotm::fuzz::CheckGraph(graph);
  return 0;
}
