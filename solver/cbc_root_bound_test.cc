// The bound CBC reaches on a real placement model with the backend's
// settings (cbc_solver.cc): the zoo's ResNet-50 at batch 32, priced by the
// Optane cost model, synchronous at 10% of its peak - the corpus cell whose
// 60 s sync solve ended 2% from its bound while its plan was within 0.3% of
// the optimum (docs/EVALUATION.md).
#include <cstdint>

#include "client/costmodel/cost_model.h"
#include "client/zoo/zoo.h"
#include "gtest/gtest.h"
#include "solver/allocator.h"
#include "solver/cbc_solver.h"
#include "solver/defaults.h"
#include "solver/formulation.h"
#include "solver/graph_model.h"
#include "solver/profile_model.h"

namespace autotm::solver {
namespace {

TEST(CbcRootBoundTest, BoundProbeClosesTheResNet50Bs32SyncRoot) {
  // With Gomory and two-MIR cuts alone the root bound stops 1.7% below the
  // optimum, and 87 s of tree search did not move it; the bound probe's
  // root, with reduce-and-split, is within 0.01% of it. The test asks for
  // the probe's root (max_nodes 0 returns it) to be at least 1% above the
  // plain root, and for the planner's 1% gap to be proven with the probe
  // well inside a minute (about a second on the 2-core VM), at a plan the
  // probe's bound does not exceed.
  const absl::StatusOr<v1::Graph> proto = zoo::BuildZooGraph("resnet50", 32);
  ASSERT_TRUE(proto.ok()) << proto.status();
  const absl::StatusOr<v1::Profile> priced =
      costmodel::SynthesizeProfile(*proto, costmodel::CostModel::Optane2019());
  ASSERT_TRUE(priced.ok()) << priced.status();
  const absl::StatusOr<GraphModel> graph = GraphModel::Create(*proto);
  ASSERT_TRUE(graph.ok()) << graph.status();
  const absl::StatusOr<ProfileModel> profile = ProfileModel::Create(*priced);
  ASSERT_TRUE(profile.ok()) << profile.status();

  FormulationOptions options;
  options.method = v1::METHOD_SYNCHRONOUS;
  options.alignment_bytes = kDefaultAlignmentBytes;
  const uint64_t peak = AlignedPeakLiveBytes(*graph, kDefaultAlignmentBytes);
  options.kernel_limit_bytes.assign(graph->num_kernels(), peak / 10);
  const absl::StatusOr<Formulation> formulation =
      Formulation::Build(*graph, *profile, options);
  ASSERT_TRUE(formulation.ok()) << formulation.status();
  const IlpModel& model = formulation->model();
  ASSERT_LT(model.num_columns(), kDefaultRootCutsMaxColumns);

  SolveParams params;
  params.time_limit_seconds = 60;
  params.relative_gap = kDefaultRelativeGap;
  params.max_nodes = 0;
  const absl::StatusOr<SolveResult> root =
      MakeCbcSolver()->Solve(model, params);
  ASSERT_TRUE(root.ok()) << root.status();
  params.bound_probe = true;
  const absl::StatusOr<SolveResult> probe =
      MakeCbcSolver()->Solve(model, params);
  ASSERT_TRUE(probe.ok()) << probe.status();
  params.max_nodes = -1;
  const absl::StatusOr<SolveResult> search =
      MakeCbcSolver()->Solve(model, params);
  ASSERT_TRUE(search.ok()) << search.status();

  EXPECT_GT(probe->best_bound, root->best_bound * 1.01)
      << "probe's root bound " << probe->best_bound
      << " us, root bound without reduce-and-split " << root->best_bound;
  EXPECT_EQ(search->termination, SolveTermination::kOptimal)
      << "gap " << search->relative_gap;
  EXPECT_LT(search->solve_seconds, 30);
  for (const SolveResult* solved : {&*root, &*probe, &*search}) {
    if (solved->has_solution()) {
      EXPECT_LE(probe->best_bound, solved->objective * (1 + 1e-9));
    }
  }
  EXPECT_GE(search->best_bound, probe->best_bound);
}

}  // namespace
}  // namespace autotm::solver
