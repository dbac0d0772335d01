#include "client/common/plan_picture.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "autotm/v1/graph.pb.h"
#include "autotm/v1/plan.pb.h"
#include "autotm/v1/profile.pb.h"
#include "client/common/proto_json.h"
#include "common/testing/text_count.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solver/allocator.h"
#include "solver/graph_model.h"
#include "solver/planner.h"
#include "solver/profile_model.h"
#include "solver/schedule.h"
#include "solver/testing/chain_fixture.h"
#include "solver/testing/test_graphs.h"

namespace autotm::client {
namespace {

using ::autotm::testing::CountOccurrences;
using solver::testing::GraphBuilder;
using solver::testing::MustGraph;
using solver::testing::MustProfile;
using ::testing::HasSubstr;
using ::testing::Not;

// xmllint's verdict on `xml`: "" when well-formed, its complaint otherwise.
// A real XML parser, not a hand-written check: the dashboard and browsers
// will parse these documents.
std::string XmllintProblem(const std::string& xml) {
  char path[] = "/tmp/plan_picture_test_XXXXXX";
  const int fd = ::mkstemp(path);
  if (fd < 0) return "mkstemp failed";
  ::close(fd);
  std::ofstream(path) << xml;
  const std::string command = std::string("xmllint --noout ") + path + " 2>&1";
  std::string output;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return "cannot run xmllint";
  char buffer[512];
  while (std::fgets(buffer, sizeof(buffer), pipe) != nullptr) output += buffer;
  const int status = ::pclose(pipe);
  std::remove(path);
  if (status != 0 && output.empty()) {
    output = "xmllint failed (is libxml2-utils installed?)";
  }
  return output;
}

// Every value of attribute `name` on elements whose opening tag contains
// `marker`, in document order.
std::vector<std::string> Attributes(const std::string& svg,
                                    const std::string& marker,
                                    const std::string& name) {
  // A scan, not std::regex: its recursion overflows the stack on the long
  // points lists of a 10k-kernel picture.
  std::vector<std::string> values;
  const std::string key = " " + name + "=\"";
  for (size_t open = svg.find('<'); open != std::string::npos;
       open = svg.find('<', open + 1)) {
    const size_t close = svg.find('>', open);
    if (close == std::string::npos) break;
    const std::string_view tag(svg.data() + open, close - open);
    if (tag.find(marker) == std::string_view::npos) continue;
    const size_t at = tag.find(key);
    if (at == std::string_view::npos) continue;
    const size_t begin = at + key.size();
    values.emplace_back(tag.substr(begin, tag.find('"', begin) - begin));
  }
  return values;
}

std::string Attribute(const std::string& svg, const std::string& marker,
                      const std::string& name) {
  std::vector<std::string> values = Attributes(svg, marker, name);
  return values.empty() ? "(absent)" : values.front();
}

int SumOf(const std::vector<std::string>& values) {
  int sum = 0;
  for (const std::string& v : values) sum += std::stoi(v);
  return sum;
}

std::string TestData(const std::string& name) {
  const char* root = std::getenv("AUTOTM_SOURCE_DIR");
  return std::string(root == nullptr ? "." : root) + "/tests/testdata/" + name;
}

// The bundled example, planned by the heuristic at half its footprint: a
// real plan with moves, made in milliseconds without CBC.
struct Example {
  solver::GraphModel graph;
  solver::ProfileModel profile;
  v1::Plan plan;
};
Example LoadExample() {
  v1::Graph graph;
  v1::Profile profile;
  EXPECT_TRUE(
      ReadProtoJsonFile(TestData("example_cnn.graph.json"), &graph).ok())
      << "AUTOTM_SOURCE_DIR (set by ctest)";
  EXPECT_TRUE(
      ReadProtoJsonFile(TestData("example_cnn.profile.json"), &profile).ok());
  Example example{MustGraph(graph),
                  MustProfile(profile, solver::TableCollapseOptions()),
                  {}};
  solver::PlanOptions options;
  options.method = v1::METHOD_HEURISTIC;
  options.budget_bytes = solver::AlignedPeakLiveBytes(
                             example.graph, solver::kDefaultAlignmentBytes) /
                         2;
  absl::StatusOr<solver::PlanOutcome> outcome =
      solver::PlanGraph(example.graph, example.profile, options, nullptr);
  EXPECT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_TRUE(outcome->plan.has_value());
  example.plan = *outcome->plan;
  return example;
}

TEST(InferPhasesTest, FindsTheBackwardOpsAndTheWeightUpdatesOfTheExample) {
  const Example example = LoadExample();
  const GraphPhases phases = InferPhases(example.graph);
  EXPECT_EQ(phases.backward_start, example.graph.FindKernel("loss.bwd"));
  EXPECT_EQ(phases.optimizer_start, example.graph.FindKernel("conv1a.w.sgd"));
  EXPECT_THAT(phases.how, HasSubstr("_bwd"));
}

TEST(InferPhasesTest, PrefersGradientRolesAndSaysWhenItCannotTell) {
  // "k1" has no backward op name; its output's GRADIENT role marks it.
  const solver::GraphModel graph =
      MustGraph(GraphBuilder("roles")
                    .Tensor("x", 64, v1::TENSOR_ROLE_INPUT)
                    .Tensor("y", 64)
                    .Tensor("dy", 64, v1::TENSOR_ROLE_GRADIENT)
                    .Kernel("k0", {"x"}, {"y"})
                    .Kernel("k1", {"y"}, {"dy"})
                    .Kernel("k2", {"dy"}, {})
                    .graph());
  const GraphPhases phases = InferPhases(graph);
  EXPECT_EQ(phases.backward_start, 1);
  EXPECT_EQ(phases.optimizer_start, -1);
  EXPECT_THAT(phases.how, HasSubstr("GRADIENT"));

  const solver::GraphModel plain = MustGraph(GraphBuilder("plain")
                                                 .Tensor("x", 64)
                                                 .Tensor("y", 64)
                                                 .Kernel("k0", {}, {"x"})
                                                 .Kernel("k1", {"x"}, {"y"})
                                                 .Kernel("k2", {"y"}, {})
                                                 .graph());
  const GraphPhases none = InferPhases(plain);
  EXPECT_EQ(none.backward_start, -1);
  EXPECT_EQ(none.optimizer_start, -1);
  EXPECT_THAT(none.how, HasSubstr("not inferable"));
  // The picture says so in its legend instead of drawing a guess.
  v1::Plan plan;
  plan.set_budget_bytes(1024);
  absl::StatusOr<std::string> svg = RenderPlanSvg(plan, plain, {});
  ASSERT_TRUE(svg.ok()) << svg.status();
  EXPECT_THAT(*svg, HasSubstr("not inferable"));
  EXPECT_EQ(CountOccurrences(*svg, "class=\"phase\""), 0);
}

TEST(PlanPictureTest, ExampleSvgIsWellFormedAndItsNumbersAreThePlans) {
  const Example example = LoadExample();
  const v1::Plan& plan = example.plan;
  ASSERT_GT(plan.moves_size(), 0) << "the check needs a plan with moves";
  PlanPictureOptions options;
  options.top_tensors = 7;
  options.profile = &example.profile;
  absl::StatusOr<std::string> svg = RenderPlanSvg(plan, example.graph, options);
  ASSERT_TRUE(svg.ok()) << svg.status();
  EXPECT_EQ(XmllintProblem(*svg), "");

  // (1) The timeline's peak is the plan's.
  EXPECT_EQ(Attribute(*svg, "id=\"memory-timeline\"", "data-peak-bytes"),
            std::to_string(plan.peak_fast_bytes()));
  EXPECT_EQ(Attribute(*svg, "class=\"fast-bytes\"", "data-max-bytes"),
            std::to_string(plan.peak_fast_bytes()));
  EXPECT_EQ(Attribute(*svg, "class=\"live-bytes\"", "data-max-bytes"),
            std::to_string(example.graph.PeakLiveBytes()));
  EXPECT_EQ(Attribute(*svg, "id=\"memory-timeline\"", "data-budget-bytes"),
            std::to_string(plan.budget_bytes()));
  EXPECT_EQ(CountOccurrences(*svg, "class=\"phase\""),
            8);  // 2 lines x 4 panels

  // (2) One tick per kernel and direction here (61 kernels: no buckets),
  // counting every move once.
  EXPECT_EQ(Attribute(*svg, "id=\"moves\"", "data-moves"),
            std::to_string(plan.moves_size()));
  EXPECT_EQ(SumOf(Attributes(*svg, "class=\"move ", "data-count")),
            plan.moves_size());
  uint64_t copied = 0;
  for (const v1::Move& move : plan.moves()) copied += move.bytes_copied();
  uint64_t drawn = 0;
  for (const std::string& b : Attributes(*svg, "class=\"move ", "data-bytes")) {
    drawn += std::stoull(b);
  }
  EXPECT_EQ(drawn, copied);
  EXPECT_NEAR(std::stod(Attribute(*svg, "id=\"time\"", "data-kernel-us")),
              plan.kernel_time_us(), 1e-3);
  EXPECT_NEAR(std::stod(Attribute(*svg, "id=\"time\"", "data-move-us")),
              plan.move_time_us(), 1e-3);
  EXPECT_THAT(*svg, HasSubstr("slow-operand penalty"));

  // (3) Gantt rows: the 7 largest tensors, largest first.
  EXPECT_EQ(Attribute(*svg, "id=\"residency\"", "data-rows"), "7");
  const std::vector<std::string> rows =
      Attributes(*svg, "class=\"tensor-row\"", "data-tensor");
  std::vector<std::string> want;
  for (int t : LargestTensors(example.graph, 7)) {
    want.push_back(example.graph.tensor(t).id);
  }
  EXPECT_EQ(rows, want);
  uint64_t previous = UINT64_MAX;
  for (const std::string& b :
       Attributes(*svg, "class=\"tensor-row\"", "data-bytes")) {
    EXPECT_LE(std::stoull(b), previous);
    previous = std::stoull(b);
  }
  EXPECT_EQ(RenderPlanSvg(plan, example.graph, options).value(), *svg)
      << "deterministic";
  // Two pictures in one HTML page: prefixed ids.
  options.id_prefix = "job7-";
  const std::string prefixed =
      RenderPlanSvg(plan, example.graph, options).value();
  EXPECT_EQ(CountOccurrences(prefixed, "id=\"job7-"), 4);
  EXPECT_EQ(CountOccurrences(prefixed, "id=\"memory-timeline\""), 0);
}

TEST(PlanPictureTest, ChainPlanDrawsEveryKindOfMove) {
  const solver::GraphModel graph = MustGraph(solver::testing::ChainGraph());
  const solver::ProfileModel profile =
      MustProfile(solver::testing::ChainProfile(graph));
  absl::StatusOr<v1::Plan> plan =
      solver::AssemblePlan(graph, profile, solver::testing::ChainSchedule(),
                           v1::METHOD_ASYNCHRONOUS, 40000);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->moves_size(), 6);
  absl::StatusOr<std::string> svg = RenderPlanSvg(*plan, graph, {});
  ASSERT_TRUE(svg.ok()) << svg.status();
  EXPECT_EQ(XmllintProblem(*svg), "");
  // x and a go to fast 3 times; a is copied out once; x and a are dropped.
  EXPECT_EQ(SumOf(Attributes(*svg, "class=\"move to-fast\"", "data-count")), 3);
  EXPECT_EQ(SumOf(Attributes(*svg, "class=\"move to-slow\"", "data-count")), 1);
  EXPECT_EQ(SumOf(Attributes(*svg, "class=\"move free-drop\"", "data-count")),
            2);
  EXPECT_EQ(Attribute(*svg, "id=\"memory-timeline\"", "data-peak-bytes"),
            "36500");
  // Every move of a drawn tensor is marked on its row (all 9 tensors here).
  EXPECT_EQ(CountOccurrences(*svg, "class=\"move-mark\""), 6);
  // a: fast at k0, k1 (evicted after it), k4 and k5 of its live kernels.
  const std::vector<std::string> ids =
      Attributes(*svg, "class=\"tensor-row\"", "data-tensor");
  const std::vector<std::string> fast =
      Attributes(*svg, "class=\"tensor-row\"", "data-fast-kernels");
  const auto a = std::find(ids.begin(), ids.end(), "a");
  ASSERT_NE(a, ids.end());
  EXPECT_EQ(fast[a - ids.begin()], "4");
  EXPECT_THAT(*svg, HasSubstr("pass the profile to split kernel time"));
  // Tooltips name the kernel and what moved.
  EXPECT_THAT(*svg, HasSubstr("<title>kernel 0 (k0): 1 to fast, "));
  EXPECT_THAT(*svg, HasSubstr("<title>a, "));
}

TEST(PlanPictureTest, ReRunsAreMarkedOnTheirTensorsRows) {
  const solver::GraphModel graph = MustGraph(solver::testing::ChainGraph());
  const solver::ProfileModel profile =
      MustProfile(solver::testing::ChainProfile(graph));
  absl::StatusOr<v1::Plan> plan =
      solver::AssemblePlan(graph, profile, solver::testing::ChainSchedule(),
                           v1::METHOD_ASYNCHRONOUS, 40000);
  ASSERT_TRUE(plan.ok()) << plan.status();
  absl::StatusOr<std::string> plain = RenderPlanSvg(*plan, graph, {});
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(CountOccurrences(*plain, "rerun-mark"), 0);
  EXPECT_THAT(*plain, Not(HasSubstr("re-made by re-running")));
  // Drawing does not verify: a step on "a" (live at k0-k5) is enough.
  v1::Recompute* step = plan->add_recomputes();
  step->set_tensor_id("a");
  step->set_kernel_id(graph.kernel(0).id);
  step->set_dropped_after_kernel_index(1);
  step->set_before_kernel_index(4);
  // One a hostile plan could hold: drawn nowhere, no failure.
  v1::Recompute* odd = plan->add_recomputes();
  odd->set_tensor_id("a");
  odd->set_dropped_after_kernel_index(4);
  odd->set_before_kernel_index(99);
  absl::StatusOr<std::string> svg = RenderPlanSvg(*plan, graph, {});
  ASSERT_TRUE(svg.ok()) << svg.status();
  EXPECT_EQ(XmllintProblem(*svg), "");
  EXPECT_EQ(CountOccurrences(*svg, "class=\"rerun-mark\""), 1);
  EXPECT_EQ(CountOccurrences(*svg, "class=\"dropped\""), 1);
  EXPECT_THAT(*svg, HasSubstr("re-made by re-running its producer"));
}

TEST(PlanPictureTest, FastBytesComeFromTheIntervalsWhenThePlanListsNoKernels) {
  const Example example = LoadExample();
  absl::StatusOr<PlanTimeline> full =
      ComputePlanTimeline(example.plan, example.graph);
  ASSERT_TRUE(full.ok()) << full.status();
  v1::Plan bare = example.plan;
  bare.clear_kernels();
  absl::StatusOr<PlanTimeline> recomputed =
      ComputePlanTimeline(bare, example.graph);
  ASSERT_TRUE(recomputed.ok()) << recomputed.status();
  EXPECT_EQ(recomputed->fast_bytes, full->fast_bytes);
  EXPECT_EQ(recomputed->peak_fast_bytes, example.plan.peak_fast_bytes());
}

TEST(PlanPictureTest, RefusesAPlanForAnotherGraph) {
  const Example example = LoadExample();
  const solver::GraphModel chain = MustGraph(solver::testing::ChainGraph());
  absl::StatusOr<std::string> svg = RenderPlanSvg(example.plan, chain, {});
  EXPECT_EQ(svg.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(svg.status().message(), HasSubstr("not this graph's plan"));

  v1::Plan unknown = example.plan;
  unknown.clear_kernels();
  unknown.mutable_moves(0)->set_kernel_index(100000);
  EXPECT_THAT(RenderPlanSvg(unknown, example.graph, {}).status().message(),
              HasSubstr("kernel 100000"));
  v1::Plan nan_time = example.plan;
  nan_time.mutable_kernels(3)->set_time_us(std::nan(""));
  EXPECT_THAT(RenderPlanSvg(nan_time, example.graph, {}).status().message(),
              HasSubstr("kernel 3"));
  v1::Plan negative_move = example.plan;
  negative_move.mutable_moves(0)->set_time_us(-1);
  EXPECT_THAT(
      RenderPlanSvg(negative_move, example.graph, {}).status().message(),
      HasSubstr("move 0: time -1 us"));
  v1::Plan stranger = example.plan;
  stranger.mutable_tensors(0)->set_tensor_id("no-such-tensor");
  EXPECT_THAT(RenderPlanSvg(stranger, example.graph, {}).status().message(),
              HasSubstr("no-such-tensor"));
}

// A plan from an untrusted source (the dashboard draws what it is sent):
// repeated intervals neither overflow nor claim more than 100%.
TEST(PlanPictureTest, RepeatedIntervalsStayWithinTheLiveRange) {
  const Example example = LoadExample();
  v1::Plan plan = example.plan;
  const int t = LargestTensors(example.graph, 1)[0];
  v1::TensorPlacement* placement = nullptr;
  for (v1::TensorPlacement& p : *plan.mutable_tensors()) {
    if (p.tensor_id() == example.graph.tensor(t).id) placement = &p;
  }
  ASSERT_NE(placement, nullptr);
  v1::FastInterval whole;
  whole.set_first_kernel(0);
  whole.set_last_kernel(example.graph.num_kernels() - 1);
  for (int i = 0; i < 1000; ++i) *placement->add_fast_intervals() = whole;
  PlanPictureOptions options;
  options.top_tensors = 1;
  absl::StatusOr<std::string> svg = RenderPlanSvg(plan, example.graph, options);
  ASSERT_TRUE(svg.ok()) << svg.status();
  EXPECT_EQ(Attribute(*svg, "class=\"tensor-row\"", "data-fast-kernels"),
            Attribute(*svg, "class=\"tensor-row\"", "data-live-kernels"));
  absl::StatusOr<std::string> text =
      FormatPlanPictureSummary(plan, example.graph, options);
  ASSERT_TRUE(text.ok());
  EXPECT_THAT(*text, HasSubstr("100%"));
  EXPECT_THAT(*text, Not(HasSubstr("1000%")));
}

// 10,000 kernels with 150 moves: the picture aggregates (buckets of kernels)
// yet keeps the peak and every move, in a bounded number of elements.
TEST(PlanPictureTest, TenThousandKernelsAggregateWithoutLosingThePeak) {
  constexpr int kKernels = 10000;
  constexpr int kLong = 50;
  GraphBuilder builder("long");
  for (int j = 0; j < kLong; ++j) {
    builder.Tensor("long" + std::to_string(j), (j + 1) * 4096,
                   v1::TENSOR_ROLE_INPUT);
  }
  for (int k = 0; k < kKernels; ++k) {
    builder.Tensor("t" + std::to_string(k), 1000 + (k * 7919) % 5000);
  }
  for (int k = 0; k < kKernels; ++k) {
    std::vector<std::string> inputs;
    if (k > 0) inputs.push_back("t" + std::to_string(k - 1));
    for (int j = 0; j < kLong; ++j) {
      if (k == 1 + j * 97 || k == kKernels - 1 - j * 97) {
        inputs.push_back("long" + std::to_string(j));
      }
    }
    builder.Kernel("k" + std::to_string(k), inputs, {"t" + std::to_string(k)});
  }
  const solver::GraphModel graph = MustGraph(builder.graph());
  const solver::ProfileModel profile = MustProfile(
      solver::testing::FullTableProfile(graph, [](int k, solver::ConfigMask m) {
        return solver::testing::OptaneLikeTimeUs(10 + k % 13, 2, m);
      }));
  std::vector<solver::TensorSchedule> schedule(graph.num_tensors());
  for (int j = 0; j < kLong; ++j) {
    const int t = graph.FindTensor("long" + std::to_string(j));
    schedule[t].creation_tier = v1::TIER_SLOW;
    const int a = 1 + j * 97, b = kKernels - 1 - j * 97;
    schedule[t].moves = {{a, v1::MOVE_DIRECTION_TO_FAST, true},
                         {a, v1::MOVE_DIRECTION_TO_SLOW, true},
                         {b, v1::MOVE_DIRECTION_TO_FAST, true}};
  }
  for (int k = 0; k < kKernels; ++k) {
    schedule[graph.FindTensor("t" + std::to_string(k))].creation_tier =
        v1::TIER_FAST;
  }
  absl::StatusOr<v1::Plan> plan = solver::AssemblePlan(
      graph, profile, schedule, v1::METHOD_SYNCHRONOUS, uint64_t{1} << 30);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->moves_size(), 3 * kLong);

  PlanPictureOptions options;
  options.profile = &profile;
  absl::StatusOr<std::string> svg = RenderPlanSvg(*plan, graph, options);
  ASSERT_TRUE(svg.ok()) << svg.status();
  EXPECT_EQ(XmllintProblem(*svg), "");
  EXPECT_GT(std::stoi(Attribute(*svg, "id=\"memory-timeline\"",
                                "data-bucket-kernels")),
            1);
  EXPECT_EQ(Attribute(*svg, "class=\"fast-bytes\"", "data-max-bytes"),
            std::to_string(plan->peak_fast_bytes()));
  EXPECT_EQ(SumOf(Attributes(*svg, "class=\"move ", "data-count")),
            plan->moves_size());
  EXPECT_LT(CountOccurrences(*svg, "<"), 6000) << "elements";
  EXPECT_LT(svg->size(), 1u << 20);
}

TEST(PlanPictureSummaryTest, NamesThePeakThePhasesAndTheLargestTensors) {
  const Example example = LoadExample();
  PlanPictureOptions options;
  options.top_tensors = 3;
  options.profile = &example.profile;
  absl::StatusOr<std::string> text =
      FormatPlanPictureSummary(example.plan, example.graph, options);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_THAT(*text, HasSubstr("backward from kernel 19 (loss.bwd)"));
  EXPECT_THAT(*text, HasSubstr("slow-operand penalty"));
  EXPECT_THAT(*text, HasSubstr("largest tensors (3 of 88"));
  const std::vector<int> top = LargestTensors(example.graph, 3);
  for (int t : top) {
    EXPECT_THAT(*text, HasSubstr(example.graph.tensor(t).id));
  }
  // The table: a header and exactly three rows.
  const std::string table = text->substr(text->find("largest tensors"));
  EXPECT_EQ(CountOccurrences(table, "\n"), 1 + 1 + 3);
}

TEST(LargestTensorsTest, OrdersBySizeThenLifetimeThenGraphOrder) {
  const solver::GraphModel graph =
      MustGraph(GraphBuilder("sizes")
                    .Tensor("a", 10)
                    .Tensor("b", 30)
                    .Tensor("c", 30)
                    .Tensor("d", 20)
                    .Kernel("k0", {}, {"a", "b"})
                    .Kernel("k1", {"a", "b"}, {"c", "d"})
                    .Kernel("k2", {"c", "d"}, {})
                    .graph());
  // b and c: 30 B, two kernels each (graph order); d: 20 B.
  EXPECT_EQ(LargestTensors(graph, 3), (std::vector<int>{1, 2, 3}));
  const solver::GraphModel lifetimes =
      MustGraph(GraphBuilder("lifetimes")
                    .Tensor("short", 30)
                    .Tensor("long", 30)
                    .Kernel("k0", {}, {"long"})
                    .Kernel("k1", {}, {"short"})
                    .Kernel("k2", {"short", "long"}, {})
                    .graph());
  EXPECT_EQ(LargestTensors(lifetimes, 2), (std::vector<int>{1, 0}));
  EXPECT_EQ(LargestTensors(graph, 10).size(), 4u);
  EXPECT_TRUE(LargestTensors(graph, 0).empty());
}

}  // namespace
}  // namespace autotm::client
