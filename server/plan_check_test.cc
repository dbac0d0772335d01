#include "server/plan_check.h"

#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solver/baselines.h"
#include "solver/testing/chain_fixture.h"
#include "solver/testing/test_graphs.h"

namespace autotm::server {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

class PlanCheckTest : public ::testing::Test {
 protected:
  PlanCheckTest()
      : graph_(solver::testing::MustGraph(solver::testing::ChainGraph())),
        profile_(solver::testing::ChainProfile(graph_)) {
    // A real plan with pool offsets, as the worker returns: first-touch.
    absl::StatusOr<solver::ProfileModel> model =
        solver::ProfileModel::Create(profile_);
    EXPECT_TRUE(model.ok()) << model.status();
    absl::StatusOr<solver::PlanOutcome> outcome =
        solver::RunBaseline(graph_, *model, v1::METHOD_FIRST_TOUCH, kBudget);
    EXPECT_TRUE(outcome.ok() && outcome->plan.has_value());
    if (outcome.ok() && outcome->plan.has_value()) plan_ = *outcome->plan;
  }

  static constexpr uint64_t kBudget = 30000;
  solver::GraphModel graph_;
  v1::Profile profile_;
  v1::Plan plan_;
};

TEST_F(PlanCheckTest, AValidPlanPasses) {
  ASSERT_GT(plan_.tensors_size(), 0);
  ASSERT_GT(plan_.peak_fast_bytes(), 0u);
  EXPECT_TRUE(CheckSolvedPlan(graph_, profile_, plan_, kBudget).ok());
}

TEST_F(PlanCheckTest, ARejectedPlanIsAnInternalErrorWithTheReason) {
  v1::Plan wrong_time = plan_;
  wrong_time.mutable_kernels(0)->set_time_us(plan_.kernels(0).time_us() + 5);
  const absl::Status status =
      CheckSolvedPlan(graph_, profile_, wrong_time, kBudget);
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr("fails verification"),
                    HasSubstr("kernel #0 'k0': plan kernel time")));

  // A plan over the budget it is stored under.
  const absl::Status over =
      CheckSolvedPlan(graph_, profile_, plan_, plan_.peak_fast_bytes() - 1);
  EXPECT_EQ(over.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(over.message(), HasSubstr("budget"));

  // Offsets are required: every served plan has them.
  v1::Plan no_offsets = plan_;
  no_offsets.set_alignment_bytes(0);
  EXPECT_THAT(CheckSolvedPlan(graph_, profile_, no_offsets, kBudget).message(),
              HasSubstr("no fast-pool offsets"));
}

}  // namespace
}  // namespace autotm::server
