#include "solver/testing/chain_fixture.h"

#include "solver/testing/test_graphs.h"

namespace autotm::solver::testing {

v1::Graph ChainGraph() {
  return GraphBuilder("chain")
      .Tensor("x", 1000, v1::TENSOR_ROLE_INPUT)
      .Tensor("w", 500, v1::TENSOR_ROLE_WEIGHT, v1::TIER_FAST)
      .Tensor("g", 300, v1::TENSOR_ROLE_CONSTANT, v1::TIER_SLOW)
      .Tensor("a", 12000)
      .Tensor("b", 24000)
      .Tensor("c", 36000)
      .Tensor("d", 4000)
      .Tensor("e", 8000)
      .Tensor("f", 2000)
      .Kernel("k0", {"x"}, {"a"})
      .Kernel("k1", {"a", "g"}, {"b"})
      .Kernel("k2", {"x", "b"}, {"c"})
      .Kernel("k3", {"c", "w"}, {"d"})
      .Kernel("k4", {"a", "d"}, {"e"})
      .Kernel("k5", {"a", "e"}, {"f"})
      .graph();
}

v1::Profile ChainProfile(const GraphModel& graph) {
  return FullTableProfile(graph, [&](int k, ConfigMask mask) {
    return OptaneLikeTimeUs(kChainBaseUs[k], graph.kernel(k).num_inputs, mask);
  });
}

std::vector<TensorSchedule> ChainSchedule() {
  constexpr v1::Tier F = v1::TIER_FAST;
  constexpr v1::Tier S = v1::TIER_SLOW;
  constexpr v1::MoveDirection kToFast = v1::MOVE_DIRECTION_TO_FAST;
  constexpr v1::MoveDirection kToSlow = v1::MOVE_DIRECTION_TO_SLOW;
  std::vector<TensorSchedule> schedule(kNumTensors);
  schedule[kX] = {S, {{0, kToFast, true}, {0, kToSlow, true}}};
  schedule[kW] = {F, {}};
  schedule[kG] = {S, {}};
  schedule[kA] = {F,
                  {{1, kToSlow, true},
                   {4, kToFast, true},
                   {4, kToSlow, true},
                   {5, kToFast, false}}};
  schedule[kB] = {F, {{2, kToFast, true}}};
  schedule[kC] = {S, {}};
  schedule[kD] = {F, {}};
  schedule[kE] = {S, {{4, kToSlow, true}}};
  schedule[kF] = {F, {}};
  return schedule;
}

}  // namespace autotm::solver::testing
