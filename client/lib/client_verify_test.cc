// autotm::Client verifies served plans against the graph it sent (issue 17).
// A fake PlacementService (in-process, on loopback) serves a plan that a
// test may corrupt; the real Client must refuse the corrupt ones.
#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "autotm/v1/placement_service.grpc.pb.h"
#include "client/lib/client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solver/baselines.h"
#include "solver/testing/chain_fixture.h"
#include "solver/testing/test_graphs.h"

namespace autotm {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

class FakePlacement final : public v1::PlacementService::Service {
 public:
  grpc::Status GetPlan(grpc::ServerContext*, const v1::GetPlanRequest*,
                       v1::Plan* plan) override {
    *plan = served;
    return grpc::Status::OK;
  }
  grpc::Status PlanGraph(grpc::ServerContext*, const v1::PlanGraphRequest*,
                         v1::Plan* plan) override {
    *plan = served;
    return grpc::Status::OK;
  }
  v1::Plan served;
};

class ClientVerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    graph_ = solver::testing::ChainGraph();
    const solver::GraphModel model = solver::testing::MustGraph(graph_);
    profile_ = solver::testing::ChainProfile(model);
    absl::StatusOr<solver::ProfileModel> priced =
        solver::ProfileModel::Create(profile_);
    ASSERT_TRUE(priced.ok());
    absl::StatusOr<solver::PlanOutcome> outcome =
        solver::RunBaseline(model, *priced, v1::METHOD_FIRST_TOUCH, kBudget);
    ASSERT_TRUE(outcome.ok() && outcome->plan.has_value());
    valid_ = *outcome->plan;
    ASSERT_GT(valid_.peak_fast_bytes(), 0u);

    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(&fake_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ClientOptions options;
    options.address = "127.0.0.1:" + std::to_string(port);
    options.max_attempts = 1;
    absl::StatusOr<std::unique_ptr<Client>> client = Client::Connect(options);
    ASSERT_TRUE(client.ok());
    client_ = *std::move(client);
  }

  void TearDown() override {
    client_.reset();
    if (server_ != nullptr) server_->Shutdown();
  }

  absl::StatusOr<v1::Plan> Get(const v1::Plan& served, uint64_t budget,
                               const v1::Profile* profile = nullptr) {
    fake_.served = served;
    Client::PlanOptions options;
    options.profile = profile;
    return client_->GetPlan(graph_, "hc", budget, options);
  }

  static constexpr uint64_t kBudget = 30000;
  v1::Graph graph_;
  v1::Profile profile_;
  v1::Plan valid_;
  FakePlacement fake_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<Client> client_;
};

TEST_F(ClientVerifyTest, AValidPlanIsReturned) {
  absl::StatusOr<v1::Plan> plan = Get(valid_, kBudget);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->tensors_size(), valid_.tensors_size());
  EXPECT_TRUE(Get(valid_, kBudget, &profile_).ok());
}

TEST_F(ClientVerifyTest, APlanOverTheBudgetSentIsRefused) {
  const absl::StatusOr<v1::Plan> plan =
      Get(valid_, valid_.peak_fast_bytes() - 1);
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(plan.status().message(),
              AllOf(HasSubstr("fails verification against the graph sent"),
                    HasSubstr("budget")));
}

TEST_F(ClientVerifyTest, APlanForAnotherGraphIsRefused) {
  v1::Plan other = valid_;
  other.mutable_tensors(0)->set_tensor_id("not-in-the-graph");
  EXPECT_THAT(
      Get(other, kBudget).status().message(),
      HasSubstr("tensor placement #0 is for tensor 'not-in-the-graph'"));
  v1::Plan fewer = valid_;
  fewer.mutable_kernels()->RemoveLast();
  EXPECT_EQ(Get(fewer, kBudget).status().code(), absl::StatusCode::kInternal);
}

TEST_F(ClientVerifyTest, OffsetsAreAlwaysChecked) {
  v1::Plan no_offsets = valid_;
  no_offsets.set_alignment_bytes(0);
  EXPECT_THAT(Get(no_offsets, kBudget).status().message(),
              HasSubstr("no fast-pool offsets"));
}

TEST_F(ClientVerifyTest, TimesAreCheckedOnlyWithAProfile) {
  v1::Plan wrong_time = valid_;
  wrong_time.mutable_kernels(0)->set_time_us(valid_.kernels(0).time_us() + 7);
  EXPECT_TRUE(Get(wrong_time, kBudget).ok());
  const absl::StatusOr<v1::Plan> priced = Get(wrong_time, kBudget, &profile_);
  EXPECT_EQ(priced.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(priced.status().message(), HasSubstr("plan kernel time"));
}

TEST_F(ClientVerifyTest, PlanGraphAndLookupPlanVerifyToo) {
  v1::Plan over = valid_;
  v1::PlanGraphRequest request;
  *request.mutable_graph()->mutable_inline_graph() = graph_;
  request.set_host_class("hc");
  request.set_budget_bytes(valid_.peak_fast_bytes() - 1);
  fake_.served = over;
  EXPECT_EQ(client_->PlanGraph(request, absl::Seconds(10)).status().code(),
            absl::StatusCode::kInternal);
  v1::GetPlanRequest lookup;
  *lookup.mutable_graph() = request.graph();
  lookup.set_budget_bytes(valid_.peak_fast_bytes() - 1);
  EXPECT_EQ(client_->LookupPlan(lookup).status().code(),
            absl::StatusCode::kInternal);
  // By digest no graph was sent: nothing to check against.
  lookup.mutable_graph()->set_digest("sha256:0");
  EXPECT_TRUE(client_->LookupPlan(lookup).ok());
}

}  // namespace
}  // namespace autotm
