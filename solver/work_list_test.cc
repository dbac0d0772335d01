#include "solver/work_list.h"

#include <vector>

#include "gtest/gtest.h"
#include "solver/testing/test_graphs.h"

namespace autotm::solver {
namespace {

using testing::GraphBuilder;

// Makes kernels `a` and `b` of `graph` share one signature.
void ShareSignature(v1::Graph& graph, int a, int b) {
  *graph.mutable_kernels(b)->mutable_signature() = graph.kernels(a).signature();
}

TEST(WorkListBuilderTest, OneItemPerMissingSignatureInFirstUseOrder) {
  v1::Graph g = GraphBuilder("g")
                    .Tensor("x", 64)
                    .Tensor("y", 64)
                    .Tensor("z", 64)
                    .Tensor("w", 64)
                    .Kernel("k0", {"x"}, {"y"})
                    .Kernel("k1", {"y"}, {"z"})
                    .Kernel("k2", {"z"}, {"w"})
                    .graph();
  ShareSignature(g, 0, 2);  // k2 runs k0's kernel
  WorkListBuilder builder({SignatureKey(g.kernels(1).signature())});
  builder.AddGraph(g);
  builder.AddGraph(g);
  EXPECT_EQ(builder.graphs(), 2);
  std::vector<v1::WorkItem> items = builder.Take();
  ASSERT_EQ(items.size(), 1u);  // k1 is known; k0 and k2 are one signature
  EXPECT_EQ(SignatureKey(items[0].signature()),
            SignatureKey(g.kernels(0).signature()));
  EXPECT_EQ(items[0].graphs(), 2u);      // counted once per graph
  ASSERT_EQ(items[0].usages_size(), 1);  // both kernels use it alike
  EXPECT_TRUE(builder.Take().empty());
}

TEST(WorkListBuilderTest, UsableConfigsAreTheUnionOverUsages) {
  // k0 reads x twice; k1 (same signature) reads two distinct tensors.
  v1::Graph g = GraphBuilder("g")
                    .Tensor("x", 64)
                    .Tensor("y", 64)
                    .Tensor("z", 64)
                    .Kernel("k0", {"x", "x"}, {"y"})
                    .graph();
  WorkListBuilder only_aliased;
  only_aliased.AddGraph(g);
  std::vector<v1::WorkItem> items = only_aliased.Take();
  ASSERT_EQ(items.size(), 1u);
  // Inputs 0 and 1 are one tensor: masks with bits 0 and 1 equal.
  EXPECT_EQ(UsableConfigs(items[0]),
            (std::vector<uint64_t>{0b000, 0b011, 0b100, 0b111}));

  v1::Graph both = GraphBuilder("both")
                       .Tensor("x", 64)
                       .Tensor("y", 64)
                       .Tensor("z", 64)
                       .Tensor("u", 64)
                       .Kernel("k0", {"x", "x"}, {"y"})
                       .Kernel("k1", {"x", "y"}, {"u"})
                       .graph();
  ShareSignature(both, 0, 1);
  WorkListBuilder builder;
  builder.AddGraph(both);
  items = builder.Take();
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].usages_size(), 2);
  EXPECT_EQ(UsableConfigs(items[0]).size(), 8u);  // k1 can use every one
}

TEST(WorkListBuilderTest, PinnedTensorsRestrictConfigurations) {
  v1::Graph g = GraphBuilder("g")
                    .Tensor("x", 64)
                    .Tensor("w", 64, v1::TENSOR_ROLE_WEIGHT, v1::TIER_FAST)
                    .Tensor("y", 64, v1::TENSOR_ROLE_ACTIVATION, v1::TIER_SLOW)
                    .Kernel("k0", {"x", "w"}, {"y"})
                    .graph();
  WorkListBuilder builder;
  builder.AddGraph(g);
  std::vector<v1::WorkItem> items = builder.Take();
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(UsableConfigs(items[0]), (std::vector<uint64_t>{0b100, 0b101}));
}

TEST(WorkListBuilderTest, NoUsagesMeansEveryConfiguration) {
  v1::WorkItem item;
  item.mutable_signature()->add_inputs();
  item.mutable_signature()->add_outputs();
  EXPECT_EQ(UsableConfigs(item), (std::vector<uint64_t>{0, 1, 2, 3}));
}

}  // namespace
}  // namespace autotm::solver
