// SynthesizeProfile on every graph of the zoo (client/zoo).
#include <algorithm>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "client/costmodel/cost_model.h"
#include "client/zoo/zoo.h"
#include "gtest/gtest.h"
#include "solver/graph_model.h"
#include "solver/profile_model.h"

namespace autotm::costmodel {
namespace {

TEST(SynthesizeZooTest, EveryZooGraphIsCoveredAndValid) {
  const CostModel model = CostModel::Optane2019();
  for (const zoo::ZooModelInfo& info : zoo::ZooModels()) {
    SCOPED_TRACE(info.name);
    const absl::StatusOr<v1::Graph> graph = zoo::BuildZooGraph(info.name, 2);
    ASSERT_TRUE(graph.ok()) << graph.status();
    const absl::StatusOr<v1::Profile> profile =
        SynthesizeProfile(*graph, model);
    ASSERT_TRUE(profile.ok()) << profile.status();

    const absl::StatusOr<solver::ProfileModel> profile_model =
        solver::ProfileModel::Create(*profile);
    ASSERT_TRUE(profile_model.ok()) << profile_model.status();
    const absl::StatusOr<solver::GraphModel> graph_model =
        solver::GraphModel::Create(*graph);
    ASSERT_TRUE(graph_model.ok()) << graph_model.status();
    EXPECT_TRUE(solver::CheckCoverage(*graph_model, *profile_model).ok());

    absl::flat_hash_set<std::string> keys;
    int most_operands = 0;
    for (const solver::KernelInfo& kernel : graph_model->kernels()) {
      keys.insert(kernel.signature_key);
      most_operands =
          std::max(most_operands, kernel.num_inputs + kernel.num_outputs);
    }
    EXPECT_EQ(profile->kernels_size(), static_cast<int>(keys.size()));
    int separable = 0;
    for (const v1::KernelProfile& kernel : profile->kernels()) {
      separable += kernel.has_separable() ? 1 : 0;
      const double fast = kernel.has_separable()
                              ? kernel.separable().all_fast_time_us()
                              : kernel.configs(0).time_us();
      EXPECT_GT(fast, 0) << kernel.signature().op();
    }
    // Only kernels beyond the table threshold (DenseNet's concats) are
    // separable.
    EXPECT_EQ(separable > 0, most_operands > 10);
  }
}

}  // namespace
}  // namespace autotm::costmodel
