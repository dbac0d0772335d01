#include "client/zoo/zoo.h"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/zoo/architectures.h"
#include "client/zoo/network_builder.h"
#include "client/zoo/ops.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solver/graph_model.h"

namespace autotm::zoo {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct Built {
  v1::Graph graph;
  solver::GraphModel model;
};

Built MustBuild(const std::string& name, int batch) {
  absl::StatusOr<v1::Graph> graph = BuildZooGraph(name, batch);
  EXPECT_TRUE(graph.ok()) << name << ": " << graph.status();
  absl::StatusOr<solver::GraphModel> model =
      solver::GraphModel::Create(graph.ok() ? *graph : v1::Graph());
  EXPECT_TRUE(model.ok()) << name << ": " << model.status();
  if (!model.ok()) std::abort();
  return {*std::move(graph), *std::move(model)};
}

std::vector<std::string> ModelNames() {
  std::vector<std::string> names;
  for (const ZooModelInfo& info : ZooModels()) names.push_back(info.name);
  return names;
}

// Output `i` dims of kernel `id`, from its signature.
std::vector<int64_t> OutDims(const Built& b, const std::string& id, int i = 0) {
  const int k = b.model.FindKernel(id);
  EXPECT_GE(k, 0) << "no kernel " << id;
  if (k < 0) return {};
  const auto& dims = b.graph.kernels(k).signature().outputs(i).dims();
  return {dims.begin(), dims.end()};
}

// Sum of the sizes of the weights fed to the graph, in fp32 elements.
int64_t ParameterCount(const solver::GraphModel& model) {
  int64_t bytes = 0;
  for (const solver::TensorInfo& t : model.tensors()) {
    if (t.role == v1::TENSOR_ROLE_WEIGHT && t.producer < 0) {
      bytes += static_cast<int64_t>(t.size_bytes);
    }
  }
  return bytes / 4;
}

int CountOp(const v1::Graph& graph, absl::string_view op) {
  int n = 0;
  for (const v1::Kernel& k : graph.kernels()) n += k.op() == op;
  return n;
}

int UniqueSignatures(const solver::GraphModel& model) {
  absl::flat_hash_set<std::string> keys;
  for (const solver::KernelInfo& k : model.kernels()) {
    keys.insert(k.signature_key);
  }
  return static_cast<int>(keys.size());
}

bool IsForward(absl::string_view kernel_id) {
  return absl::EndsWith(kernel_id, ".fwd");
}

TEST(ZooTest, ListsTheSixModels) {
  EXPECT_THAT(ModelNames(),
              ElementsAre("vgg19", "vgg416", "resnet50", "resnet200",
                          "inception_v4", "densenet264"));
  for (const ZooModelInfo& info : ZooModels()) {
    EXPECT_GE(info.default_batch, 1) << info.name;
    EXPECT_FALSE(info.description.empty()) << info.name;
  }
}

TEST(ZooTest, EveryModelBuildsAtItsDefaultBatchAndValidates) {
  for (const ZooModelInfo& info : ZooModels()) {
    SCOPED_TRACE(info.name);
    const Built b = MustBuild(info.name, info.default_batch);
    EXPECT_EQ(b.graph.name(),
              absl::StrCat(info.name, "-bs", info.default_batch));
    EXPECT_EQ(b.model.tensor(b.model.FindTensor("input")).role,
              v1::TENSOR_ROLE_INPUT);
    EXPECT_EQ(b.model.tensor(b.model.FindTensor("labels")).role,
              v1::TENSOR_ROLE_INPUT);
  }
}

TEST(ZooTest, RejectsUnknownModelsAndBadBatches) {
  absl::StatusOr<v1::Graph> unknown = BuildZooGraph("alexnet", 16);
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(unknown.status().message(), HasSubstr("'alexnet'"));
  for (const std::string& name : ModelNames()) {
    EXPECT_THAT(unknown.status().message(), HasSubstr(name));
  }
  for (int batch : {0, -1, kMaxZooBatch + 1}) {
    EXPECT_EQ(BuildZooGraph("resnet50", batch).status().code(),
              absl::StatusCode::kInvalidArgument)
        << batch;
  }
  EXPECT_TRUE(BuildZooGraph("resnet50", 1).ok());
}

// Published parameter counts: VGG19 143,667,240 (Simonyan & Zisserman 2015,
// config E); ResNet-50 25,557,032 and ResNet-200 64.7M (He et al. 2016, the
// counts of the torchvision and fb.resnet.torch models); Inception v4 42.7M
// (Szegedy et al. 2016, the TF-Slim reference model); DenseNet-264 (k=32)
// 33.3M (Huang et al. 2017). VGG416 has no published count: it is checked
// exactly against its layer list.
TEST(ZooTest, ParameterCountsMatchThePublishedArchitectures) {
  const absl::flat_hash_map<std::string, double> published = {
      {"vgg19", 143'667'240},      {"resnet50", 25'557'032},
      {"resnet200", 64'700'000},   {"inception_v4", 42'700'000},
      {"densenet264", 33'300'000},
  };
  for (const auto& [name, count] : published) {
    const Built b = MustBuild(name, 2);
    const double ours = static_cast<double>(ParameterCount(b.model));
    std::printf("%s: %lld parameters\n", name.c_str(),
                static_cast<long long>(ParameterCount(b.model)));
    EXPECT_NEAR(ours / count, 1.0, 0.02) << name << ": " << ours;
  }
  EXPECT_EQ(ParameterCount(MustBuild("vgg19", 2).model), 143'667'240);
  EXPECT_EQ(ParameterCount(MustBuild("resnet50", 2).model), 25'557'032);

  auto conv = [](int64_t in, int64_t out) { return in * out * 9 + out; };
  auto fc = [](int64_t in, int64_t out) { return in * out + out; };
  const int64_t vgg416 =
      conv(3, 64) + 80 * conv(64, 64) + conv(64, 128) + 81 * conv(128, 128) +
      conv(128, 256) + 82 * conv(256, 256) + conv(256, 512) +
      166 * conv(512, 512) + fc(25088, 4096) + fc(4096, 4096) + fc(4096, 1000);
  EXPECT_EQ(ParameterCount(MustBuild("vgg416", 2).model), vgg416);
}

TEST(ZooTest, LayerCounts) {
  const Built vgg19 = MustBuild("vgg19", 2);
  EXPECT_EQ(CountOp(vgg19.graph, ops::kConvFwd), 16);
  EXPECT_EQ(CountOp(vgg19.graph, ops::kMatmulFwd), 3);
  const Built vgg416 = MustBuild("vgg416", 2);
  EXPECT_EQ(CountOp(vgg416.graph, ops::kConvFwd), 413);
  EXPECT_EQ(CountOp(vgg416.graph, ops::kMatmulFwd), 3);
  // 3 per bottleneck, 1 projection per stage, the stem.
  const Built resnet50 = MustBuild("resnet50", 2);
  EXPECT_EQ(CountOp(resnet50.graph, ops::kConvFwd), 3 * 16 + 4 + 1);
  const Built resnet200 = MustBuild("resnet200", 2);
  EXPECT_EQ(CountOp(resnet200.graph, ops::kConvFwd), 3 * 66 + 4 + 1);
  // 2 per dense layer, 1 per transition, the stem.
  const Built densenet = MustBuild("densenet264", 2);
  EXPECT_EQ(CountOp(densenet.graph, ops::kConvFwd), 2 * 130 + 3 + 1);
  // Stem 11, A 7 x 4, reduction A 4, B 10 x 7, reduction B 6, C 10 x 3.
  const Built inception = MustBuild("inception_v4", 2);
  EXPECT_EQ(CountOp(inception.graph, ops::kConvFwd), 11 + 28 + 4 + 70 + 6 + 30);
}

TEST(ZooTest, OutputShapesOfKeyLayers) {
  const Built vgg19 = MustBuild("vgg19", 2);
  EXPECT_THAT(OutDims(vgg19, "conv1_2.fwd"), ElementsAre(2, 64, 224, 224));
  EXPECT_THAT(OutDims(vgg19, "pool5.fwd"), ElementsAre(2, 512, 7, 7));
  EXPECT_THAT(OutDims(vgg19, "fc8.fwd"), ElementsAre(2, 1000));

  const Built vgg416 = MustBuild("vgg416", 2);
  EXPECT_THAT(OutDims(vgg416, "conv1_82.fwd"), ElementsAre(2, 128, 224, 224));
  EXPECT_THAT(OutDims(vgg416, "conv5_83.fwd"), ElementsAre(2, 512, 14, 14));
  EXPECT_THAT(OutDims(vgg416, "pool5.fwd"), ElementsAre(2, 512, 7, 7));

  const Built resnet50 = MustBuild("resnet50", 2);
  EXPECT_THAT(OutDims(resnet50, "stem.pool.fwd"), ElementsAre(2, 64, 56, 56));
  EXPECT_THAT(OutDims(resnet50, "stage2.block3.relu.fwd"),
              ElementsAre(2, 256, 56, 56));
  EXPECT_THAT(OutDims(resnet50, "stage3.block1.a.conv.fwd"),
              ElementsAre(2, 128, 28, 28));
  EXPECT_THAT(OutDims(resnet50, "stage4.block6.relu.fwd"),
              ElementsAre(2, 1024, 14, 14));
  EXPECT_THAT(OutDims(resnet50, "stage5.block3.relu.fwd"),
              ElementsAre(2, 2048, 7, 7));
  EXPECT_THAT(OutDims(resnet50, "pool.fwd"), ElementsAre(2, 2048, 1, 1));

  const Built resnet200 = MustBuild("resnet200", 2);
  EXPECT_THAT(OutDims(resnet200, "stage3.block24.relu.fwd"),
              ElementsAre(2, 512, 28, 28));
  EXPECT_THAT(OutDims(resnet200, "stage4.block36.relu.fwd"),
              ElementsAre(2, 1024, 14, 14));
  EXPECT_THAT(OutDims(resnet200, "stage5.block3.relu.fwd"),
              ElementsAre(2, 2048, 7, 7));

  const Built inception = MustBuild("inception_v4", 2);
  EXPECT_THAT(OutDims(inception, "stem.conv1.conv.fwd"),
              ElementsAre(2, 32, 149, 149));
  EXPECT_THAT(OutDims(inception, "stem.mixed1.concat.fwd"),
              ElementsAre(2, 160, 73, 73));
  EXPECT_THAT(OutDims(inception, "stem.mixed2.concat.fwd"),
              ElementsAre(2, 192, 71, 71));
  EXPECT_THAT(OutDims(inception, "stem.mixed3.concat.fwd"),
              ElementsAre(2, 384, 35, 35));
  EXPECT_THAT(OutDims(inception, "inception_a4.concat.fwd"),
              ElementsAre(2, 384, 35, 35));
  EXPECT_THAT(OutDims(inception, "reduction_a.concat.fwd"),
              ElementsAre(2, 1024, 17, 17));
  EXPECT_THAT(OutDims(inception, "inception_b7.concat.fwd"),
              ElementsAre(2, 1024, 17, 17));
  EXPECT_THAT(OutDims(inception, "reduction_b.concat.fwd"),
              ElementsAre(2, 1536, 8, 8));
  EXPECT_THAT(OutDims(inception, "inception_c3.concat.fwd"),
              ElementsAre(2, 1536, 8, 8));
  EXPECT_THAT(OutDims(inception, "pool.fwd"), ElementsAre(2, 1536, 1, 1));

  const Built densenet = MustBuild("densenet264", 2);
  EXPECT_THAT(OutDims(densenet, "stem.pool.fwd"), ElementsAre(2, 64, 56, 56));
  EXPECT_THAT(OutDims(densenet, "block1.concat.fwd"),
              ElementsAre(2, 256, 56, 56));
  EXPECT_THAT(OutDims(densenet, "transition1.pool.fwd"),
              ElementsAre(2, 128, 28, 28));
  EXPECT_THAT(OutDims(densenet, "block2.concat.fwd"),
              ElementsAre(2, 512, 28, 28));
  EXPECT_THAT(OutDims(densenet, "transition2.pool.fwd"),
              ElementsAre(2, 256, 14, 14));
  EXPECT_THAT(OutDims(densenet, "block3.concat.fwd"),
              ElementsAre(2, 2304, 14, 14));
  EXPECT_THAT(OutDims(densenet, "transition3.pool.fwd"),
              ElementsAre(2, 1152, 7, 7));
  EXPECT_THAT(OutDims(densenet, "block4.concat.fwd"),
              ElementsAre(2, 2688, 7, 7));
  // The last layer of block 3 concatenates the block input and 63 layers.
  const int wide = densenet.model.FindKernel("block3.layer64.concat.fwd");
  ASSERT_GE(wide, 0);
  EXPECT_EQ(densenet.graph.kernels(wide).inputs_size(), 64);
  EXPECT_EQ(densenet.graph
                .kernels(densenet.model.FindKernel("block3.layer64.concat.bwd"))
                .outputs_size(),
            64);
}

TEST(ZooTest, IdenticalLayersShareSignatures) {
  for (const std::string& name : ModelNames()) {
    const Built b = MustBuild(name, 2);
    const int unique = UniqueSignatures(b.model);
    EXPECT_LT(unique, b.model.num_kernels()) << name;
    // Signatures carry nothing instance-specific: besides the op and the
    // operand shapes, only window attributes with numeric values.
    for (const v1::Kernel& k : b.graph.kernels()) {
      for (const auto& [key, value] : k.signature().attributes()) {
        ASSERT_TRUE(key == "kernel" || key == "stride" || key == "pad")
            << k.id() << ": " << key;
        ASSERT_EQ(value.find_first_not_of("0123456789x"), std::string::npos)
            << k.id() << ": " << value;
      }
    }
  }
  const Built resnet = MustBuild("resnet200", 2);
  auto key = [&](const std::string& id) {
    const int k = resnet.model.FindKernel(id);
    EXPECT_GE(k, 0) << id;
    return k < 0 ? std::string() : resnet.model.kernel(k).signature_key;
  };
  for (const char* kernel :
       {"b.conv.fwd", "b.conv.bwd_data", "b.conv.bwd_weights", "b.bn.fwd",
        "b.bn.bwd", "c.conv.bwd_weights", "relu.bwd", "c.conv.w.sgd"}) {
    EXPECT_EQ(key(absl::StrCat("stage3.block2.", kernel)),
              key(absl::StrCat("stage3.block17.", kernel)))
        << kernel;
  }
  // Blocks 2..24 of stage 3 are identical: their kernels add no signatures.
  EXPECT_LT(UniqueSignatures(resnet.model), 150);
}

// Forward activations that backward reads stay live until that backward
// kernel; those it does not read die in the forward pass.
TEST(ZooTest, ActivationsLiveUntilTheirBackwardConsumer) {
  for (const std::string& name : ModelNames()) {
    SCOPED_TRACE(name);
    const Built b = MustBuild(name, 2);
    const solver::GraphModel& m = b.model;
    int first_backward = m.num_kernels();
    for (int k = 0; k < m.num_kernels(); ++k) {
      if (!IsForward(m.kernel(k).id)) {
        first_backward = k;
        break;
      }
    }
    for (int k = first_backward; k < m.num_kernels(); ++k) {
      ASSERT_FALSE(IsForward(m.kernel(k).id)) << "forward after backward";
    }
    int checked = 0;
    for (int k = 0; k < first_backward; ++k) {
      const v1::Kernel& fwd = b.graph.kernels(k);
      const std::string base = fwd.id().substr(0, fwd.id().size() - 4);
      auto live_until = [&](const std::string& tensor,
                            const std::string& kernel) {
        const int t = m.FindTensor(tensor);
        const int reader = m.FindKernel(kernel);
        ASSERT_GE(t, 0) << tensor;
        ASSERT_GE(reader, first_backward) << kernel;
        EXPECT_LE(m.tensor(t).first_live, k) << tensor;
        EXPECT_GE(m.tensor(t).last_live, reader) << tensor << " / " << kernel;
        ++checked;
      };
      if (fwd.op() == ops::kConvFwd || fwd.op() == ops::kMatmulFwd) {
        live_until(fwd.inputs(0), base + ".bwd_weights");
      } else if (fwd.op() == ops::kReluFwd) {
        live_until(fwd.outputs(0), base + ".bwd");
      } else if (fwd.op() == ops::kMaxPoolFwd) {
        live_until(fwd.inputs(0), base + ".bwd");
      } else if (fwd.op() == ops::kBatchNormFwd) {
        live_until(fwd.inputs(0), base + ".bwd");
        live_until(fwd.outputs(1), base + ".bwd");
        live_until(fwd.outputs(2), base + ".bwd");
        // The normalised output only feeds the forward pass (a relu or an
        // add): it is freed before backward starts.
        const int y = m.FindTensor(fwd.outputs(0));
        EXPECT_LT(m.tensor(y).last_live, first_backward) << fwd.outputs(0);
      } else if (fwd.op() == ops::kSoftmaxXentFwd) {
        live_until(fwd.outputs(1), base + ".bwd");
      }
    }
    EXPECT_GT(checked, 0);
  }
}

TEST(ZooTest, EveryWeightHasExactlyOneSgdUpdate) {
  for (const std::string& name : ModelNames()) {
    SCOPED_TRACE(name);
    const Built b = MustBuild(name, 2);
    const solver::GraphModel& m = b.model;
    absl::flat_hash_map<int, int> updates;  // weight -> sgd kernel count
    for (int k = 0; k < m.num_kernels(); ++k) {
      const v1::Kernel& kernel = b.graph.kernels(k);
      if (kernel.op() != ops::kSgdUpdate) continue;
      ASSERT_EQ(kernel.inputs_size(), 2);
      ASSERT_EQ(kernel.outputs_size(), 1);
      const int w = m.FindTensor(kernel.inputs(0));
      ++updates[w];
      EXPECT_EQ(kernel.outputs(0), kernel.inputs(0) + ".next");
      const solver::TensorInfo& next =
          m.tensor(m.FindTensor(kernel.outputs(0)));
      EXPECT_EQ(next.role, v1::TENSOR_ROLE_WEIGHT);
      EXPECT_EQ(next.size_bytes, m.tensor(w).size_bytes);
      EXPECT_EQ(next.last_live, m.num_kernels() - 1);
      // The gradient is produced by backward, before the update.
      const solver::TensorInfo& grad = m.tensor(m.FindTensor(kernel.inputs(1)));
      EXPECT_GE(grad.producer, 0);
      EXPECT_LT(grad.producer, k);
      EXPECT_EQ(grad.size_bytes, m.tensor(w).size_bytes);
    }
    int weights = 0;
    for (int t = 0; t < m.num_tensors(); ++t) {
      const solver::TensorInfo& tensor = m.tensor(t);
      if (tensor.role != v1::TENSOR_ROLE_WEIGHT || tensor.producer >= 0) {
        continue;
      }
      ++weights;
      EXPECT_EQ(updates[t], 1) << tensor.id;
    }
    EXPECT_EQ(static_cast<int>(updates.size()), weights);
  }
}

TEST(ZooTest, GraphSizeDoesNotDependOnBatch) {
  for (const std::string& name : ModelNames()) {
    const Built one = MustBuild(name, 1);
    const Built three = MustBuild(name, 3);
    EXPECT_EQ(one.model.num_kernels(), three.model.num_kernels()) << name;
    EXPECT_EQ(one.model.num_tensors(), three.model.num_tensors()) << name;
    EXPECT_EQ(UniqueSignatures(one.model), UniqueSignatures(three.model))
        << name;
    const int input = three.model.FindTensor("input");
    EXPECT_EQ(three.model.tensor(input).size_bytes,
              3 * one.model.tensor(one.model.FindTensor("input")).size_bytes);
  }
}

struct Row {
  std::string label;
  int batch;
  double paper_gb;
  v1::Graph graph;
  double build_s;
};

void PrintRow(const Row& row, const solver::GraphModel& m) {
  const double peak_gb = static_cast<double>(m.PeakLiveBytes()) / 1e9;
  std::printf(
      "| %-28s | %5d | %6d | %6d | %5d | %8.1f | %8.1f | %6.0f | %5.3f "
      "| %6.3f |\n",
      row.label.c_str(), row.batch, m.num_kernels(), m.num_tensors(),
      UniqueSignatures(m), peak_gb, static_cast<double>(m.TotalBytes()) / 1e9,
      row.paper_gb, row.paper_gb > 0 ? peak_gb / row.paper_gb : 0.0,
      row.build_s);
}

// Prints the footprint table of docs/ZOO.md: ours = PeakLiveBytes() (GB,
// 1e9), the total of all tensor sizes, the paper's footprint and the ratio.
// Only checks each ratio is within 2x; the docs discuss the exact values.
TEST(ZooTest, FootprintsAtThePaperConfigurations) {
  std::vector<Row> rows;
  auto timed = [](auto&& build) {
    const auto start = std::chrono::steady_clock::now();
    v1::Graph graph = build();
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
    return std::make_pair(std::move(graph), s);
  };
  for (const ZooModelInfo& info : ZooModels()) {
    for (const auto& [batch, paper] :
         {std::make_pair(info.default_batch, info.paper_footprint_gb_default),
          std::make_pair(info.large_batch, info.paper_footprint_gb_large)}) {
      if (paper <= 0) continue;
      auto [graph, s] = timed(
          [&, batch = batch] { return *BuildZooGraph(info.name, batch); });
      rows.push_back({info.name, batch, paper, std::move(graph), s});
    }
  }
  // AutoTM's own variants, which explain the larger ratios (docs/ZOO.md).
  for (const ZooModelInfo& info : ZooModels()) {
    if (info.name == "inception_v4") {
      for (const auto& [batch, paper] :
           {std::make_pair(info.default_batch, info.paper_footprint_gb_default),
            std::make_pair(info.large_batch, info.paper_footprint_gb_large)}) {
        auto [graph, s] = timed([&, batch = batch] {
          NetworkBuilder b("inception_v4-autotm");
          AddInceptionV4(b, batch, /*batch_norm=*/false);
          return *b.Finish();
        });
        rows.push_back(
            {"inception_v4 (no BN)", batch, paper, std::move(graph), s});
      }
    }
    if (info.name == "densenet264") {
      for (const auto& [batch, paper] :
           {std::make_pair(info.default_batch, info.paper_footprint_gb_default),
            std::make_pair(info.large_batch, info.paper_footprint_gb_large)}) {
        auto [graph, s] = timed([&, batch = batch] {
          NetworkBuilder b("densenet264-autotm");
          AddDenseNet(b, batch, DenseNetConfig{.transition_channels = 64});
          return *b.Finish();
        });
        rows.push_back(
            {"densenet264 (transition 64)", batch, paper, std::move(graph), s});
      }
    }
  }
  std::printf(
      "| model                        | batch | kernels | tensors | sigs | "
      "peak "
      "GB | total GB | paper GB | ratio | build s |\n");
  for (const Row& row : rows) {
    absl::StatusOr<solver::GraphModel> m =
        solver::GraphModel::Create(row.graph);
    ASSERT_TRUE(m.ok()) << row.label << ": " << m.status();
    PrintRow(row, *m);
    const double ratio =
        static_cast<double>(m->PeakLiveBytes()) / 1e9 / row.paper_gb;
    EXPECT_GT(ratio, 0.5) << row.label << " bs" << row.batch;
    EXPECT_LT(ratio, 2.0) << row.label << " bs" << row.batch;
  }
}

}  // namespace
}  // namespace autotm::zoo
