#include "client/zoo/network_builder.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "client/zoo/ops.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solver/graph_model.h"

namespace autotm::zoo {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

std::vector<std::string> KernelIds(const v1::Graph& graph) {
  std::vector<std::string> ids;
  for (const v1::Kernel& k : graph.kernels()) ids.push_back(k.id());
  return ids;
}

const v1::Kernel& GetKernel(const v1::Graph& graph, const std::string& id) {
  for (const v1::Kernel& k : graph.kernels()) {
    if (k.id() == id) return k;
  }
  ADD_FAILURE() << "no kernel " << id;
  static const v1::Kernel& kEmpty = *new v1::Kernel();
  return kEmpty;
}

const v1::Tensor& GetTensor(const v1::Graph& graph, const std::string& id) {
  for (const v1::Tensor& t : graph.tensors()) {
    if (t.id() == id) return t;
  }
  ADD_FAILURE() << "no tensor " << id;
  static const v1::Tensor& kEmpty = *new v1::Tensor();
  return kEmpty;
}

std::vector<int64_t> OutDims(const v1::Kernel& k, int i = 0) {
  const auto& dims = k.signature().outputs(i).dims();
  return {dims.begin(), dims.end()};
}

std::vector<int64_t> InDims(const v1::Kernel& k, int i) {
  const auto& dims = k.signature().inputs(i).dims();
  return {dims.begin(), dims.end()};
}

v1::Graph MustFinish(const NetworkBuilder& b) {
  absl::StatusOr<v1::Graph> graph = b.Finish();
  EXPECT_TRUE(graph.ok()) << graph.status();
  if (!graph.ok()) return v1::Graph();
  absl::StatusOr<solver::GraphModel> model = solver::GraphModel::Create(*graph);
  EXPECT_TRUE(model.ok()) << model.status();
  return *std::move(graph);
}

// input -> conv (bias) -> relu -> maxpool -> linear -> loss.
v1::Graph SmallChain() {
  NetworkBuilder b("chain");
  Value x = b.Input("input", {2, 3, 8, 8});
  const Value labels = b.Input("labels", {2, 10});
  x = b.Conv("c", x, 4, 3, 1, 1, /*bias=*/true);
  x = b.Relu("r", x);
  x = b.MaxPool("p", x, 2, 2);
  x = b.Linear("fc", x, 10);
  b.SoftmaxCrossEntropy("loss", x, labels);
  return MustFinish(b);
}

TEST(NetworkBuilderTest, EmitsForwardBackwardThenSgdInOrder) {
  const v1::Graph graph = SmallChain();
  EXPECT_EQ(graph.name(), "chain");
  // No bwd_data for the first conv: the input needs no gradient.
  EXPECT_THAT(KernelIds(graph),
              ElementsAre("c.fwd", "r.fwd", "p.fwd", "fc.fwd", "loss.fwd",
                          "loss.bwd", "fc.bwd_data", "fc.bwd_weights", "p.bwd",
                          "r.bwd", "c.bwd_weights", "c.w.sgd", "c.b.sgd",
                          "fc.w.sgd", "fc.b.sgd"));
}

TEST(NetworkBuilderTest, KernelsFollowOpsVocabularyAndOperandOrder) {
  const v1::Graph graph = SmallChain();
  const v1::Kernel& conv = GetKernel(graph, "c.fwd");
  EXPECT_EQ(conv.op(), ops::kConvFwd);
  EXPECT_EQ(conv.signature().op(), ops::kConvFwd);
  EXPECT_THAT(conv.inputs(), ElementsAre("input", "c.w", "c.b"));
  EXPECT_THAT(conv.outputs(), ElementsAre("c"));

  const v1::Kernel& conv_bw = GetKernel(graph, "c.bwd_weights");
  EXPECT_EQ(conv_bw.op(), ops::kConvBwdWeights);
  EXPECT_THAT(conv_bw.inputs(), ElementsAre("input", "r.dx"));
  EXPECT_THAT(conv_bw.outputs(), ElementsAre("c.dw", "c.db"));

  const v1::Kernel& relu_bwd = GetKernel(graph, "r.bwd");
  EXPECT_EQ(relu_bwd.op(), ops::kReluBwd);
  EXPECT_THAT(relu_bwd.inputs(), ElementsAre("p.dx", "r"));  // (dy, y)
  EXPECT_THAT(relu_bwd.outputs(), ElementsAre("r.dx"));

  const v1::Kernel& pool_bwd = GetKernel(graph, "p.bwd");
  EXPECT_EQ(pool_bwd.op(), ops::kMaxPoolBwd);
  EXPECT_THAT(pool_bwd.inputs(), ElementsAre("fc.dx", "r"));  // (dy, x)

  const v1::Kernel& fc_data = GetKernel(graph, "fc.bwd_data");
  EXPECT_EQ(fc_data.op(), ops::kMatmulBwdData);
  EXPECT_THAT(fc_data.inputs(), ElementsAre("loss.dlogits", "fc.w"));
  const v1::Kernel& fc_weights = GetKernel(graph, "fc.bwd_weights");
  EXPECT_EQ(fc_weights.op(), ops::kMatmulBwdWeights);
  EXPECT_THAT(fc_weights.inputs(), ElementsAre("p", "loss.dlogits"));
  EXPECT_THAT(fc_weights.outputs(), ElementsAre("fc.dw", "fc.db"));

  const v1::Kernel& loss = GetKernel(graph, "loss.fwd");
  EXPECT_EQ(loss.op(), ops::kSoftmaxXentFwd);
  EXPECT_THAT(loss.inputs(), ElementsAre("fc", "labels"));
  EXPECT_THAT(loss.outputs(), ElementsAre("loss", "loss.probs"));
  const v1::Kernel& loss_bwd = GetKernel(graph, "loss.bwd");
  EXPECT_EQ(loss_bwd.op(), ops::kSoftmaxXentBwd);
  EXPECT_THAT(loss_bwd.inputs(), ElementsAre("loss.probs", "labels"));

  const v1::Kernel& sgd = GetKernel(graph, "c.w.sgd");
  EXPECT_EQ(sgd.op(), ops::kSgdUpdate);
  EXPECT_THAT(sgd.inputs(), ElementsAre("c.w", "c.dw"));
  EXPECT_THAT(sgd.outputs(), ElementsAre("c.w.next"));
  EXPECT_EQ(GetTensor(graph, "c.w.next").role(), v1::TENSOR_ROLE_WEIGHT);
}

TEST(NetworkBuilderTest, ShapesSizesAndRoles) {
  const v1::Graph graph = SmallChain();
  const v1::Kernel& conv = GetKernel(graph, "c.fwd");
  EXPECT_THAT(InDims(conv, 0), ElementsAre(2, 3, 8, 8));
  EXPECT_THAT(InDims(conv, 1), ElementsAre(4, 3, 3, 3));  // OIHW
  EXPECT_THAT(InDims(conv, 2), ElementsAre(4));
  EXPECT_THAT(OutDims(conv), ElementsAre(2, 4, 8, 8));
  for (const v1::OperandSpec& spec : conv.signature().inputs()) {
    EXPECT_EQ(spec.dtype(), v1::DATA_TYPE_F32);
  }
  EXPECT_THAT(OutDims(GetKernel(graph, "p.fwd")), ElementsAre(2, 4, 4, 4));
  // The linear layer sees its NCHW input flattened, and so does bwd_data.
  const v1::Kernel& fc = GetKernel(graph, "fc.fwd");
  EXPECT_THAT(InDims(fc, 0), ElementsAre(2, 64));
  EXPECT_THAT(InDims(fc, 1), ElementsAre(10, 64));
  EXPECT_THAT(OutDims(fc), ElementsAre(2, 10));
  EXPECT_THAT(OutDims(GetKernel(graph, "fc.bwd_data")), ElementsAre(2, 64));
  EXPECT_THAT(OutDims(GetKernel(graph, "loss.fwd")), ElementsAre());

  EXPECT_EQ(GetTensor(graph, "input").size_bytes(), 2u * 3 * 8 * 8 * 4);
  EXPECT_EQ(GetTensor(graph, "input").role(), v1::TENSOR_ROLE_INPUT);
  EXPECT_EQ(GetTensor(graph, "labels").role(), v1::TENSOR_ROLE_INPUT);
  EXPECT_EQ(GetTensor(graph, "c.w").size_bytes(), 4u * 3 * 3 * 3 * 4);
  EXPECT_EQ(GetTensor(graph, "c.w").role(), v1::TENSOR_ROLE_WEIGHT);
  EXPECT_EQ(GetTensor(graph, "p.dx").size_bytes(), 2u * 4 * 8 * 8 * 4);
  EXPECT_EQ(GetTensor(graph, "p.dx").role(), v1::TENSOR_ROLE_ACTIVATION);
  EXPECT_EQ(GetTensor(graph, "loss").size_bytes(), 4u);
}

TEST(NetworkBuilderTest, WindowAttributes) {
  NetworkBuilder b("windows");
  Value x = b.Input("input", {1, 8, 17, 17});
  const Value labels = b.Input("labels", {1, 5});
  x = b.Conv("a", x, 8, {1, 7}, 1, {0, 3});
  EXPECT_THAT(b.dims(x), ElementsAre(1, 8, 17, 17));
  x = b.Conv("b", x, 8, 3, 2);
  EXPECT_THAT(b.dims(x), ElementsAre(1, 8, 8, 8));
  x = b.AvgPool("p", x, 3, 1, 1);
  x = b.Linear("fc", x, 5);
  b.SoftmaxCrossEntropy("loss", x, labels);
  const v1::Graph graph = MustFinish(b);
  using Attrs = google::protobuf::Map<std::string, std::string>;
  const Attrs& a = GetKernel(graph, "a.fwd").signature().attributes();
  EXPECT_EQ(a.at("kernel"), "1x7");
  EXPECT_EQ(a.at("stride"), "1");
  EXPECT_EQ(a.at("pad"), "0x3");
  EXPECT_EQ(a.size(), 3u);
  const Attrs& bwd = GetKernel(graph, "b.bwd_data").signature().attributes();
  EXPECT_EQ(bwd.at("kernel"), "3x3");
  EXPECT_EQ(bwd.at("stride"), "2");
  EXPECT_EQ(bwd.at("pad"), "0");
  const v1::Kernel& pool_bwd = GetKernel(graph, "p.bwd");
  EXPECT_EQ(pool_bwd.op(), ops::kAvgPoolBwd);
  EXPECT_EQ(pool_bwd.inputs_size(), 1);  // (dy) only
  EXPECT_EQ(pool_bwd.signature().attributes().at("kernel"), "3x3");
}

// x fans out to two relus whose outputs are added: x's gradient is the sum
// of two contributions, and the add passes its gradient through unchanged.
TEST(NetworkBuilderTest, FanOutGradientsAreSummedAsTheyArrive) {
  NetworkBuilder b("fanout");
  Value in = b.Input("input", {2, 3, 4, 4});
  const Value labels = b.Input("labels", {2, 3});
  const Value x = b.Conv("c", in, 3, 1);
  const Value r1 = b.Relu("r1", x);
  const Value r2 = b.Relu("r2", x);
  Value y = b.Add("sum", r1, r2);
  y = b.Linear("fc", y, 3);
  b.SoftmaxCrossEntropy("loss", y, labels);
  const v1::Graph graph = MustFinish(b);
  EXPECT_THAT(KernelIds(graph),
              ElementsAre("c.fwd", "r1.fwd", "r2.fwd", "sum.fwd", "fc.fwd",
                          "loss.fwd", "loss.bwd", "fc.bwd_data",
                          "fc.bwd_weights", "r2.bwd", "r1.bwd", "c.grad.acc1",
                          "c.bwd_weights", "c.w.sgd", "fc.w.sgd", "fc.b.sgd"));
  // Both relu backward kernels read the add's gradient (no kernel for add).
  EXPECT_THAT(GetKernel(graph, "r1.bwd").inputs(), ElementsAre("fc.dx", "r1"));
  EXPECT_THAT(GetKernel(graph, "r2.bwd").inputs(), ElementsAre("fc.dx", "r2"));
  const v1::Kernel& acc = GetKernel(graph, "c.grad.acc1");
  EXPECT_EQ(acc.op(), ops::kAdd);
  EXPECT_THAT(acc.inputs(), ElementsAre("r2.dx", "r1.dx"));
  EXPECT_THAT(acc.outputs(), ElementsAre("c.grad.acc1"));
  EXPECT_THAT(GetKernel(graph, "c.bwd_weights").inputs(),
              ElementsAre("input", "c.grad.acc1"));
  EXPECT_EQ(GetKernel(graph, "sum.fwd").op(), ops::kAdd);
}

TEST(NetworkBuilderTest, ConcatBackwardIsSplitAndThreeWayFanOutChainsAdds) {
  NetworkBuilder b("concat");
  Value in = b.Input("input", {1, 3, 4, 4});
  const Value labels = b.Input("labels", {1, 2});
  const Value x = b.Conv("c", in, 2, 1);
  const Value a = b.Relu("a", x);
  const Value cat1 = b.Concat("cat1", {x, a});
  const Value cat2 = b.Concat("cat2", {x, cat1});
  EXPECT_THAT(b.dims(cat2), ElementsAre(1, 6, 4, 4));
  Value y = b.Linear("fc", cat2, 2);
  b.SoftmaxCrossEntropy("loss", y, labels);
  const v1::Graph graph = MustFinish(b);

  const v1::Kernel& split2 = GetKernel(graph, "cat2.bwd");
  EXPECT_EQ(split2.op(), ops::kSplit);
  EXPECT_THAT(split2.inputs(), ElementsAre("fc.dx"));
  EXPECT_THAT(split2.outputs(), ElementsAre("cat2.dx0", "cat2.dx1"));
  EXPECT_THAT(OutDims(split2, 0), ElementsAre(1, 2, 4, 4));
  EXPECT_THAT(OutDims(split2, 1), ElementsAre(1, 4, 4, 4));
  // x is read by cat2, cat1 and relu a: three contributions, two adds.
  EXPECT_THAT(GetKernel(graph, "c.grad.acc1").inputs(),
              ElementsAre("cat2.dx0", "cat1.dx0"));
  EXPECT_THAT(GetKernel(graph, "c.grad.acc2").inputs(),
              ElementsAre("c.grad.acc1", "a.dx"));
  EXPECT_THAT(GetKernel(graph, "c.bwd_weights").inputs(),
              ElementsAre("input", "c.grad.acc2"));
}

TEST(NetworkBuilderTest, BatchNormOperandsAndUpdates) {
  NetworkBuilder b("bn");
  Value x = b.Input("input", {2, 3, 4, 4});
  const Value labels = b.Input("labels", {2, 2});
  x = b.Conv("c", x, 5, 3, 1, 1);
  x = b.BatchNorm("bn", x);
  x = b.Relu("r", x);
  x = b.GlobalAvgPool("gap", x);
  EXPECT_THAT(b.dims(x), ElementsAre(2, 5, 1, 1));
  x = b.Linear("fc", x, 2);
  b.SoftmaxCrossEntropy("loss", x, labels);
  const v1::Graph graph = MustFinish(b);
  const v1::Kernel& fwd = GetKernel(graph, "bn.fwd");
  EXPECT_EQ(fwd.op(), ops::kBatchNormFwd);
  EXPECT_THAT(fwd.inputs(), ElementsAre("c", "bn.gamma", "bn.beta"));
  EXPECT_THAT(fwd.outputs(), ElementsAre("bn", "bn.mean", "bn.var"));
  EXPECT_THAT(OutDims(fwd, 1), ElementsAre(5));
  const v1::Kernel& bwd = GetKernel(graph, "bn.bwd");
  EXPECT_EQ(bwd.op(), ops::kBatchNormBwd);
  EXPECT_THAT(bwd.inputs(),
              ElementsAre("r.dx", "c", "bn.gamma", "bn.mean", "bn.var"));
  EXPECT_THAT(bwd.outputs(), ElementsAre("bn.dx", "bn.dgamma", "bn.dbeta"));
  EXPECT_THAT(GetKernel(graph, "bn.gamma.sgd").inputs(),
              ElementsAre("bn.gamma", "bn.dgamma"));
  EXPECT_THAT(GetKernel(graph, "bn.beta.sgd").inputs(),
              ElementsAre("bn.beta", "bn.dbeta"));
  // No bias on this conv.
  EXPECT_THAT(GetKernel(graph, "c.bwd_weights").outputs(), ElementsAre("c.dw"));
  EXPECT_EQ(GetTensor(graph, "bn.gamma").role(), v1::TENSOR_ROLE_WEIGHT);

  // Liveness: the batchnorm input lives until batchnorm backward; its output,
  // which backward does not read, dies at the relu.
  absl::StatusOr<solver::GraphModel> model = solver::GraphModel::Create(graph);
  ASSERT_TRUE(model.ok()) << model.status();
  const solver::TensorInfo& conv_out = model->tensor(model->FindTensor("c"));
  EXPECT_EQ(conv_out.first_live, model->FindKernel("c.fwd"));
  EXPECT_EQ(conv_out.last_live, model->FindKernel("bn.bwd"));
  const solver::TensorInfo& bn_out = model->tensor(model->FindTensor("bn"));
  EXPECT_EQ(bn_out.last_live, model->FindKernel("r.fwd"));
  const solver::TensorInfo& mean = model->tensor(model->FindTensor("bn.mean"));
  EXPECT_EQ(mean.last_live, model->FindKernel("bn.bwd"));
  const solver::TensorInfo& next =
      model->tensor(model->FindTensor("bn.gamma.next"));
  EXPECT_EQ(next.last_live, model->num_kernels() - 1);
}

TEST(NetworkBuilderTest, IdenticalLayersShareSignatures) {
  NetworkBuilder b("same");
  Value x = b.Input("input", {2, 4, 6, 6});
  const Value labels = b.Input("labels", {2, 2});
  x = b.Relu("r1", b.Conv("c1", x, 4, 3, 1, 1));
  x = b.Relu("r2", b.Conv("c2", x, 4, 3, 1, 1));
  x = b.Relu("r3", b.Conv("c3", x, 4, 3, 1, 1));
  x = b.Linear("fc", x, 2);
  b.SoftmaxCrossEntropy("loss", x, labels);
  const v1::Graph graph = MustFinish(b);
  absl::StatusOr<solver::GraphModel> model = solver::GraphModel::Create(graph);
  ASSERT_TRUE(model.ok());
  auto key = [&](const std::string& id) {
    return model->kernel(model->FindKernel(id)).signature_key;
  };
  for (const char* suffix : {".fwd", ".bwd_weights", ".w.sgd"}) {
    EXPECT_EQ(key(std::string("c1") + suffix), key(std::string("c2") + suffix));
    EXPECT_EQ(key(std::string("c2") + suffix), key(std::string("c3") + suffix));
  }
  EXPECT_EQ(key("c2.bwd_data"), key("c3.bwd_data"));
  EXPECT_EQ(key("r1.bwd"), key("r3.bwd"));
  EXPECT_EQ(key("c1.fwd"),
            "conv2d_fwd(f32[2,4,6,6],f32[4,4,3,3])->(f32[2,4,6,6])"
            "{kernel=3x3,pad=1,stride=1}");
}

TEST(NetworkBuilderTest, ErrorsAreReportedByFinish) {
  {
    NetworkBuilder b("dup");
    Value x = b.Input("input", {1, 1, 4, 4});
    b.Relu("r", x);
    EXPECT_FALSE(b.Relu("r", x).valid());
    EXPECT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(b.Finish().status().message(), HasSubstr("duplicate op name"));
  }
  {
    NetworkBuilder b("noloss");
    b.Relu("r", b.Input("input", {1, 1, 4, 4}));
    EXPECT_EQ(b.Finish().status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(b.Finish().status().message(), HasSubstr("no loss"));
  }
  {
    NetworkBuilder b("mismatch");
    const Value x = b.Input("input", {1, 2, 4, 4});
    const Value y = b.Input("other", {1, 3, 4, 4});
    EXPECT_FALSE(b.Add("add", x, y).valid());
    EXPECT_EQ(b.Finish().status().code(), absl::StatusCode::kInvalidArgument);
  }
  {
    NetworkBuilder b("concat");
    const Value x = b.Input("input", {1, 2, 4, 4});
    const Value y = b.Input("other", {1, 3, 5, 5});
    EXPECT_FALSE(b.Concat("cat", {x, y}).valid());
    EXPECT_THAT(b.Finish().status().message(), HasSubstr("N, H and W"));
  }
  {
    NetworkBuilder b("tiny");
    const Value x = b.Input("input", {1, 2, 2, 2});
    EXPECT_FALSE(b.Conv("c", x, 4, 3).valid());  // 2x2 input, 3x3 valid conv
    EXPECT_THAT(b.Finish().status().message(), HasSubstr(">= 1"));
  }
  {
    NetworkBuilder b("collide");
    const Value x = b.Input("c.w", {1, 2, 4, 4});
    EXPECT_FALSE(b.Conv("c", x, 4, 1).valid());
    EXPECT_THAT(b.Finish().status().message(),
                HasSubstr("duplicate tensor id 'c.w'"));
  }
  {
    NetworkBuilder b("after_loss");
    const Value x = b.Input("input", {1, 3});
    const Value labels = b.Input("labels", {1, 3});
    b.SoftmaxCrossEntropy("loss", x, labels);
    EXPECT_FALSE(b.Relu("r", x).valid());
    EXPECT_THAT(b.Finish().status().message(), HasSubstr("after the loss"));
  }
  {
    NetworkBuilder b("rank");
    const Value x = b.Input("input", {1, 3});
    EXPECT_FALSE(b.MaxPool("p", x, 2, 2).valid());
    EXPECT_EQ(b.Finish().status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(b.dims(Value{}).empty());
  }
}

TEST(NetworkBuilderTest, FinishIsRepeatable) {
  NetworkBuilder b("twice");
  const Value x = b.Input("input", {1, 3});
  const Value labels = b.Input("labels", {1, 3});
  b.SoftmaxCrossEntropy("loss", b.Linear("fc", x, 3), labels);
  absl::StatusOr<v1::Graph> first = b.Finish();
  absl::StatusOr<v1::Graph> second = b.Finish();
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->SerializeAsString(), second->SerializeAsString());
  EXPECT_THAT(KernelIds(*first),
              UnorderedElementsAre("fc.fwd", "loss.fwd", "loss.bwd",
                                   "fc.bwd_weights", "fc.w.sgd", "fc.b.sgd"));
}

}  // namespace
}  // namespace autotm::zoo
