// libFuzzer target: graph validation (solver::GraphModel::Create) on
// autotm.v1.Graph messages decoded from the protobuf wire format, as the
// server receives them. Mutating the binary form reaches validation rules
// that JSON mutations mostly do not (the JSON parser rejects most inputs).
#include <cstddef>
#include <cstdint>

#include "autotm/v1/graph.pb.h"
#include "tests/fuzz/fuzz_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  autotm::v1::Graph graph;
  if (!graph.ParseFromArray(data, static_cast<int>(size))) return 0;
  autotm::fuzz::CheckGraph(graph);
  return 0;
}
