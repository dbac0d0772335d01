// End to end, issue 18 finding 6: hostile or mistaken requests against a
// real autotm-server (child process) through the real autotm::Client. Each
// is refused at the RPC boundary, before anything is queued or stored, with
// the documented code naming the field and the limit; error messages stay
// short (no unbounded echo); the server stays up and serves the next
// request; and no job was queued by any of them. After the cases, the
// server's peak RSS (VmHWM) stays under a stated bound (kRssBoundBytes).

#include <stdlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "autotm/v1/graph.pb.h"
#include "autotm/v1/placement_service.pb.h"
#include "autotm/v1/profile.pb.h"
#include "client/common/proto_json.h"
#include "client/lib/client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solver/graph_model.h"
#include "solver/testing/test_graphs.h"
#include "tests/e2e/example_server_test.h"
#include "tests/e2e/server_process.h"

namespace autotm {
namespace {

using ::autotm::testing::ExampleServerTest;
using ::autotm::testing::TestDataPath;
using ::testing::AllOf;
using ::testing::HasSubstr;

class HostileRequestsTest : public ExampleServerTest {
 protected:
  HostileRequestsTest() : ExampleServerTest("hostile") {}

  // The server, with the example's profile uploaded.
  void StartServer(std::vector<std::string> extra_args = {}) {
    ExampleServerTest::StartServer(std::move(extra_args));
    if (HasFatalFailure()) return;
    ASSERT_TRUE(client_->UploadProfile(profile_).ok());
  }

  v1::CreateSolveJobRequest Job() const {
    v1::CreateSolveJobRequest request;
    *request.mutable_graph()->mutable_inline_graph() = graph_;
    request.set_host_class(profile_.host_class().name());
    request.add_budgets_bytes(
        solver::GraphModel::Create(graph_)->PeakLiveBytes() / 2);
    return request;
  }

  // `status` has `code`, its message has every substring and is short.
  void ExpectRefused(const absl::Status& status, absl::StatusCode code,
                     const std::vector<std::string>& substrings,
                     const std::string& what) {
    SCOPED_TRACE(what);
    EXPECT_EQ(status.code(), code) << status;
    for (const std::string& s : substrings) {
      EXPECT_THAT(std::string(status.message()), HasSubstr(s));
    }
    EXPECT_LT(status.message().size(), 600u) << "unbounded echo";
    // The server is still up and answers.
    absl::StatusOr<bool> health = client_->Health();
    ASSERT_TRUE(health.ok()) << health.status();
    EXPECT_TRUE(*health);
    EXPECT_TRUE(server_->running());
  }

  // Jobs in the store (all pages).
  int CountJobs() {
    int count = 0;
    v1::ListSolveJobsRequest request;
    do {
      absl::StatusOr<v1::ListSolveJobsResponse> page =
          client_->ListSolveJobs(request);
      EXPECT_TRUE(page.ok()) << page.status();
      if (!page.ok()) return -1;
      count += page->jobs_size();
      request.set_page_token(page->next_page_token());
    } while (!request.page_token().empty());
    return count;
  }

  // The server's peak resident memory so far (VmHWM), bytes; 0 if unknown.
  uint64_t PeakRssBytes() {
    std::ifstream status(absl::StrCat("/proc/", server_->pid(), "/status"));
    std::string line;
    while (std::getline(status, line)) {
      uint64_t kib = 0;
      if (absl::StartsWith(line, "VmHWM:") &&
          absl::SimpleAtoi(absl::StripAsciiWhitespace(
                               absl::StripSuffix(line.substr(6), "kB")),
                           &kib)) {
        return kib << 10;
      }
    }
    return 0;
  }

  // The bound the hostile cases must keep the server under (issue 18: a
  // 2 MB request once got it OOM-killed). Observed on the 2-core VM: 129
  // MiB after the boundary cases (the 100,000-budget and the nested
  // 30,000-kernel requests), 50 MiB after the job-list case.
  static constexpr uint64_t kRssBoundBytes = uint64_t{256} << 20;
  void ExpectRssBounded() {
    const uint64_t peak = PeakRssBytes();
    ASSERT_GT(peak, 0u);
    std::printf("server peak RSS (VmHWM): %.1f MiB (bound %.0f MiB)\n",
                peak / 1048576.0, kRssBoundBytes / 1048576.0);
    EXPECT_LT(peak, kRssBoundBytes);
  }
};

TEST_F(HostileRequestsTest, RefusedAtTheBoundaryWithTheDocumentedCodes) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  const auto kExhausted = absl::StatusCode::kResourceExhausted;

  v1::CreateSolveJobRequest window = Job();
  window.mutable_parameters()->set_async_window(4294967295u);
  ExpectRefused(client_->CreateSolveJob(window).status(), kInvalid,
                {"parameters.async_window: 4294967295", "limit of 1000"},
                "async_window = 2^32-1");

  v1::CreateSolveJobRequest alignment = Job();
  alignment.mutable_parameters()->set_alignment_bytes(uint64_t{1} << 40);
  ExpectRefused(client_->CreateSolveJob(alignment).status(), kInvalid,
                {"parameters.alignment_bytes"}, "alignment 1 TiB");

  v1::CreateSolveJobRequest tier = Job();
  tier.mutable_graph()
      ->mutable_inline_graph()
      ->mutable_tensors(0)
      ->set_fixed_tier(static_cast<v1::Tier>(7));
  ExpectRefused(client_->CreateSolveJob(tier).status(), kInvalid,
                {"graph: tensor '", "fixed_tier 7 is not a Tier"},
                "fixed_tier = 7");

  v1::CreateSolveJobRequest role = Job();
  role.mutable_graph()->mutable_inline_graph()->mutable_tensors(1)->set_role(
      static_cast<v1::TensorRole>(99));
  ExpectRefused(client_->CreateSolveJob(role).status(), kInvalid,
                {"role 99 is not a TensorRole"}, "role = 99");

  v1::CreateSolveJobRequest forever = Job();
  forever.mutable_parameters()->set_time_limit_seconds(1e18);
  ExpectRefused(
      client_->CreateSolveJob(forever).status(), kExhausted,
      {"parameters.time_limit_seconds", "limit of 3600 s", "--max-time-limit"},
      "time_limit_seconds = 1e18");
  v1::PlanGraphRequest plan_forever;
  *plan_forever.mutable_graph() = forever.graph();
  plan_forever.set_host_class(forever.host_class());
  plan_forever.set_budget_bytes(forever.budgets_bytes(0));
  *plan_forever.mutable_parameters() = forever.parameters();
  ExpectRefused(client_->PlanGraph(plan_forever, absl::Seconds(30)).status(),
                kExhausted, {"--max-time-limit"}, "PlanGraph 1e18 s");

  v1::CreateSolveJobRequest budgets = Job();
  for (int i = 1; i < 100000; ++i) budgets.add_budgets_bytes(1u << 20);
  ExpectRefused(client_->CreateSolveJob(budgets).status(), kExhausted,
                {"100000 budgets", "at most 256", "--max-budgets-per-job"},
                "100,000 budgets");

  const std::string long_name(8000, 'h');
  v1::CreateSolveJobRequest named = Job();
  named.set_host_class(long_name);
  ExpectRefused(client_->CreateSolveJob(named).status(), kInvalid,
                {"host_class is 8000 bytes long", "limited to 256"},
                "CreateSolveJob with an 8,000-character host class");
  ExpectRefused(client_->GetHostClass(long_name).status(), kInvalid,
                {"8000 bytes long"}, "GetHostClass");
  ExpectRefused(client_->ExportProfile(long_name).status(), kInvalid,
                {"8000 bytes long"}, "ExportProfile");
  v1::UploadMeasurementsRequest upload;
  *upload.mutable_host_class() = profile_.host_class();
  upload.mutable_host_class()->set_name(long_name);
  ExpectRefused(client_->UploadMeasurements(upload).status(), kInvalid,
                {"host_class.name is 8000 bytes long"}, "UploadMeasurements");
  v1::Profile long_profile = profile_;
  long_profile.mutable_host_class()->set_name(long_name);
  ExpectRefused(client_->UploadProfile(long_profile).status(), kInvalid,
                {"profile.host_class.name is 8000 bytes long"},
                "ImportProfile");
  v1::GetPlanRequest lookup;
  lookup.mutable_graph()->set_digest(std::string(8000, 'd'));
  lookup.set_host_class(profile_.host_class().name());
  lookup.set_budget_bytes(1 << 20);
  ExpectRefused(client_->LookupPlan(lookup).status(), kInvalid,
                {"graph.digest", "(8000 bytes)"}, "an 8,000-byte digest");
  ExpectRefused(client_->GetSolveJob(std::string(8000, 'j')).status(), kInvalid,
                {"id is 8000 bytes long"}, "GetSolveJob");
  ExpectRefused(client_->CancelSolveJob(std::string(8000, 'j')).status(),
                kInvalid, {"id is 8000 bytes long"}, "CancelSolveJob");
  ExpectRefused(client_
                    ->WatchSolveJob(
                        std::string(8000, 'j'), [](const v1::SolveJob&) {},
                        absl::Seconds(10))
                    .status(),
                kInvalid, {"id is 8000 bytes long"}, "WatchSolveJob");

  // Finding 1's shape: every kernel of the first half leaves a tensor that
  // a kernel of the second half reads (as a backward pass does), so live
  // sets per kernel would hold K^2/4 entries (225 million here; the old
  // validation kept them and a 60k-kernel request got the server
  // OOM-killed). Validated in linear memory, then refused: the example's
  // profile has no such kernel.
  {
    constexpr int kKernels = 30000;
    v1::CreateSolveJobRequest nested = Job();
    v1::Graph& g = *nested.mutable_graph()->mutable_inline_graph();
    g.Clear();
    g.set_name("nested-lifetimes");
    auto tensor = [&](const std::string& id, v1::TensorRole role) {
      v1::Tensor* t = g.add_tensors();
      t->set_id(id);
      t->set_size_bytes(1024);
      t->set_role(role);
    };
    auto spec = [](v1::OperandSpec* s) {
      s->add_dims(256);
      s->set_dtype(v1::DATA_TYPE_F32);
    };
    tensor("c0", v1::TENSOR_ROLE_INPUT);
    for (int k = 0; k < kKernels; ++k) {
      v1::Kernel* kernel = g.add_kernels();
      kernel->set_id(absl::StrCat("k", k));
      kernel->set_op("hostile_nested");
      kernel->mutable_signature()->set_op("hostile_nested");
      kernel->add_inputs(absl::StrCat("c", k));
      if (k >= kKernels / 2) {
        kernel->add_inputs(absl::StrCat("keep", kKernels - 1 - k));
      }
      tensor(absl::StrCat("c", k + 1), v1::TENSOR_ROLE_ACTIVATION);
      kernel->add_outputs(absl::StrCat("c", k + 1));
      if (k < kKernels / 2) {
        tensor(absl::StrCat("keep", k), v1::TENSOR_ROLE_ACTIVATION);
        kernel->add_outputs(absl::StrCat("keep", k));
      }
      for (int i = 0; i < kernel->inputs_size(); ++i) {
        spec(kernel->mutable_signature()->add_inputs());
      }
      for (int i = 0; i < kernel->outputs_size(); ++i) {
        spec(kernel->mutable_signature()->add_outputs());
      }
    }
    ASSERT_LT(nested.ByteSizeLong(), size_t{4} << 20);
    ASSERT_TRUE(solver::GraphModel::Create(g).ok());
    absl::StatusOr<v1::SolveJob> refused = client_->CreateSolveJob(nested);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition)
        << refused.status();
    EXPECT_THAT(std::string(refused.status().message()),
                HasSubstr("hostile_nested"));
    EXPECT_TRUE(server_->running());
  }
  ASSERT_NO_FATAL_FAILURE(ExpectRssBounded());

  // Nothing was queued or stored by any of them.
  EXPECT_EQ(CountJobs(), 0);
  // And a good request still works.
  EXPECT_TRUE(client_->CreateSolveJob(Job()).ok());
}

// A dozen jobs of 100,000 budgets (on a server that allows them) made
// ListSolveJobs exceed the 4 MB message limit for everyone; pages are now
// cut by size, and paging through returns every job.
TEST_F(HostileRequestsTest, JobListPagesStayUnderTheMessageLimit) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--max-budgets-per-job", "100000"}));
  // Budgets of 1 KiB: the first is infeasible at once and ends the job, so
  // the rows keep their 100,000 budgets and stay put while listed.
  v1::CreateSolveJobRequest big = Job();
  big.clear_budgets_bytes();
  for (int i = 0; i < 100000; ++i) big.add_budgets_bytes(1024);
  constexpr int kJobs = 12;
  for (int i = 0; i < kJobs; ++i) {
    absl::StatusOr<v1::SolveJob> job = client_->CreateSolveJob(big);
    ASSERT_TRUE(job.ok()) << job.status();
  }
  int pages = 0;
  int jobs = 0;
  v1::ListSolveJobsRequest request;
  do {
    absl::StatusOr<v1::ListSolveJobsResponse> page =
        client_->ListSolveJobs(request);
    ASSERT_TRUE(page.ok()) << page.status();
    EXPECT_LE(page->ByteSizeLong(), size_t{2} << 20);
    ++pages;
    jobs += page->jobs_size();
    request.set_page_token(page->next_page_token());
  } while (!request.page_token().empty() && pages < 100);
  EXPECT_EQ(jobs, kJobs);
  EXPECT_GT(pages, 1);
  EXPECT_TRUE(*client_->Health());
  ASSERT_NO_FATAL_FAILURE(ExpectRssBounded());
}

// Graphs submitted for profiling pile up on a host class's work list; its
// response is cut to about 1 MiB (WorkList.truncated) rather than growing
// past the message limit. Three graphs of 10,000 kernels, each kernel its
// own signature: about 2 MiB of work items in all.
TEST_F(HostileRequestsTest, WorkListStaysUnderTheMessageLimit) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  for (int g = 0; g < 3; ++g) {
    solver::testing::GraphBuilder builder(absl::StrCat("many-", g));
    builder.Tensor("t0", 4096, v1::TENSOR_ROLE_INPUT);
    for (int k = 0; k < 10000; ++k) {
      builder.Tensor(absl::StrCat("t", k + 1), 4096);
      builder.Kernel(absl::StrCat("g", g, "k", k), {absl::StrCat("t", k)},
                     {absl::StrCat("t", k + 1)});
    }
    v1::GetWorkListRequest submit;
    submit.set_host_class("unprofiled");
    *submit.mutable_graph() = builder.graph();
    absl::StatusOr<v1::WorkList> one = client_->GetWorkList(submit);
    ASSERT_TRUE(one.ok()) << one.status();
    EXPECT_EQ(one->items_size(), 10000);
    EXPECT_FALSE(one->truncated());
  }
  v1::GetWorkListRequest request;
  request.set_host_class("unprofiled");
  absl::StatusOr<v1::WorkList> list = client_->GetWorkList(request);
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->graphs(), 3u);
  EXPECT_TRUE(list->truncated());
  EXPECT_GT(list->items_size(), 1000);
  EXPECT_LT(list->items_size(), 30000);
  EXPECT_LE(list->ByteSizeLong(), size_t{1} << 20);
  ASSERT_NO_FATAL_FAILURE(ExpectRssBounded());
}

}  // namespace
}  // namespace autotm
