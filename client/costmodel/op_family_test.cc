#include "client/costmodel/op_family.h"

#include <cstdint>
#include <string>
#include <vector>

#include "client/zoo/ops.h"
#include "gtest/gtest.h"

namespace autotm::costmodel {
namespace {

namespace ops = ::autotm::zoo::ops;

v1::OperandSpec Spec(std::vector<int64_t> dims,
                     v1::DataType dtype = v1::DATA_TYPE_F32) {
  v1::OperandSpec spec;
  for (int64_t d : dims) spec.add_dims(d);
  spec.set_dtype(dtype);
  return spec;
}

v1::KernelSignature Sig(const std::string& op,
                        std::vector<std::vector<int64_t>> inputs,
                        std::vector<std::vector<int64_t>> outputs) {
  v1::KernelSignature sig;
  sig.set_op(op);
  for (auto& dims : inputs) *sig.add_inputs() = Spec(dims);
  for (auto& dims : outputs) *sig.add_outputs() = Spec(dims);
  return sig;
}

TEST(OpFamilyTest, NamesRoundTrip) {
  ASSERT_EQ(AllOpFamilies().size(), kNumOpFamilies);
  for (OpFamily family : AllOpFamilies()) {
    EXPECT_EQ(OpFamilyFromName(OpFamilyName(family)), family);
  }
  EXPECT_EQ(OpFamilyFromName("nope"), std::nullopt);
  EXPECT_EQ(OpFamilyName(OpFamily::kConcatSplit), "concat_split");
}

TEST(OpFamilyTest, ClassifiesTheZooVocabulary) {
  const std::pair<const char*, OpFamily> cases[] = {
      {ops::kConvFwd, OpFamily::kConvFwd},
      {ops::kConvBwdData, OpFamily::kConvBwdData},
      {ops::kConvBwdWeights, OpFamily::kConvBwdWeights},
      {ops::kBatchNormFwd, OpFamily::kBatchNorm},
      {ops::kBatchNormBwd, OpFamily::kBatchNormBwd},
      {ops::kReluFwd, OpFamily::kEltwise},
      {ops::kReluBwd, OpFamily::kEltwise},
      {ops::kMaxPoolFwd, OpFamily::kPool},
      {ops::kMaxPoolBwd, OpFamily::kPool},
      {ops::kAvgPoolFwd, OpFamily::kPool},
      {ops::kAvgPoolBwd, OpFamily::kPool},
      {ops::kAdd, OpFamily::kEltwise},
      {ops::kConcat, OpFamily::kConcatSplit},
      {ops::kSplit, OpFamily::kConcatSplit},
      {ops::kMatmulFwd, OpFamily::kMatmul},
      {ops::kMatmulBwdData, OpFamily::kMatmul},
      {ops::kMatmulBwdWeights, OpFamily::kMatmul},
      {ops::kSoftmaxXentFwd, OpFamily::kOther},
      {ops::kSoftmaxXentBwd, OpFamily::kOther},
      {ops::kSgdUpdate, OpFamily::kEltwise},
  };
  for (const auto& [op, family] : cases) {
    EXPECT_EQ(ClassifyOp(op), family) << op;
  }
}

TEST(OpFamilyTest, ClassifiesNGraphAndExampleNamesAndGuessesTheRest) {
  const std::pair<const char*, OpFamily> cases[] = {
      {"ConvolutionBias", OpFamily::kConvFwd},
      {"ConvolutionBackpropData", OpFamily::kConvBwdData},
      {"ConvolutionBiasBackpropFiltersBias", OpFamily::kConvBwdWeights},
      {"BatchNormTrainingRelu", OpFamily::kBatchNorm},
      {"BatchNormTrainingBackprop", OpFamily::kBatchNormBwd},
      {"ReluBackprop", OpFamily::kEltwise},
      {"MaxPoolWithIndicesBackprop", OpFamily::kPool},
      {"Slice", OpFamily::kConcatSplit},
      {"MatmulBias", OpFamily::kMatmul},
      {"ConvertLayout", OpFamily::kOther},
      {"Softmax", OpFamily::kOther},
      // tests/testdata/example_cnn.graph.json
      {"conv2d_bwd_filter", OpFamily::kConvBwdWeights},
      {"maxpool2d_fwd", OpFamily::kPool},
      {"linear_bwd_weight", OpFamily::kMatmul},
      // Guessed from the name.
      {"depthwise_conv_fwd", OpFamily::kConvFwd},
      {"my_conv_bwd_data", OpFamily::kConvBwdData},
      {"layer_norm_gelu", OpFamily::kEltwise},
      {"convert_layout", OpFamily::kOther},
      {"adaptive_pool3d", OpFamily::kPool},
      {"frobnicate", OpFamily::kOther},
  };
  for (const auto& [op, family] : cases) {
    EXPECT_EQ(ClassifyOp(op), family) << op;
  }
}

TEST(OpFamilyTest, ConvFlopsAreTwiceTheMacs) {
  // ResNet's stem: 16 x 3 x 224 x 224 -> 64 channels, 7x7, stride 2.
  const double macs = 16.0 * 64 * 112 * 112 * 3 * 7 * 7;
  const KernelWork fwd =
      AnalyzeKernel(Sig(ops::kConvFwd, {{16, 3, 224, 224}, {64, 3, 7, 7}, {64}},
                        {{16, 64, 112, 112}}));
  EXPECT_EQ(fwd.family, OpFamily::kConvFwd);
  EXPECT_DOUBLE_EQ(fwd.flops, 2 * macs);
  EXPECT_DOUBLE_EQ(fwd.read_bytes(),
                   4.0 * (16 * 3 * 224 * 224 + 64 * 3 * 7 * 7 + 64));
  EXPECT_DOUBLE_EQ(fwd.write_bytes(), 4.0 * 16 * 64 * 112 * 112);

  const KernelWork data =
      AnalyzeKernel(Sig(ops::kConvBwdData, {{16, 64, 112, 112}, {64, 3, 7, 7}},
                        {{16, 3, 224, 224}}));
  EXPECT_DOUBLE_EQ(data.flops, 2 * macs);
  const KernelWork weights = AnalyzeKernel(
      Sig(ops::kConvBwdWeights, {{16, 3, 224, 224}, {16, 64, 112, 112}},
          {{64, 3, 7, 7}, {64}}));
  EXPECT_DOUBLE_EQ(weights.flops, 2 * macs);
  // The example graph's (dy, x) order gives the same count.
  const KernelWork filter = AnalyzeKernel(
      Sig("conv2d_bwd_filter", {{16, 64, 112, 112}, {16, 3, 224, 224}},
          {{64, 3, 7, 7}, {64}}));
  EXPECT_DOUBLE_EQ(filter.flops, 2 * macs);
}

TEST(OpFamilyTest, ConvFlopsWithEqualChannelsAndGroups) {
  // 64 -> 64 channels, 3x3, stride 2: x and y both have 64 channels; the
  // smaller (y) is the output side.
  const double macs = 8.0 * 64 * 28 * 28 * 64 * 3 * 3;
  EXPECT_DOUBLE_EQ(
      AnalyzeKernel(Sig(ops::kConvFwd, {{8, 64, 56, 56}, {64, 64, 3, 3}},
                        {{8, 64, 28, 28}}))
          .flops,
      2 * macs);
  EXPECT_DOUBLE_EQ(
      AnalyzeKernel(Sig(ops::kConvBwdWeights,
                        {{8, 64, 56, 56}, {8, 64, 28, 28}}, {{64, 64, 3, 3}}))
          .flops,
      2 * macs);
  // Depthwise: OIHW weight [64, 1, 3, 3].
  EXPECT_DOUBLE_EQ(
      AnalyzeKernel(Sig(ops::kConvFwd, {{8, 64, 56, 56}, {64, 1, 3, 3}},
                        {{8, 64, 56, 56}}))
          .flops,
      2.0 * 8 * 64 * 56 * 56 * 9);
}

TEST(OpFamilyTest, NGraphConvolutionsUseJuliaOrder) {
  // The same stem in Julia order (W, H, C, N); weights (S, R, C, K).
  const double macs = 16.0 * 64 * 112 * 112 * 3 * 7 * 7;
  EXPECT_DOUBLE_EQ(AnalyzeKernel(Sig("ConvolutionBias",
                                     {{224, 224, 3, 16}, {7, 7, 3, 64}, {64}},
                                     {{112, 112, 64, 16}}))
                       .flops,
                   2 * macs);
  EXPECT_DOUBLE_EQ(AnalyzeKernel(Sig("ConvolutionBackpropData",
                                     {{7, 7, 3, 64}, {112, 112, 64, 16}},
                                     {{224, 224, 3, 16}}))
                       .flops,
                   2 * macs);
  EXPECT_DOUBLE_EQ(AnalyzeKernel(Sig("ConvolutionBiasBackpropFiltersBias",
                                     {{224, 224, 3, 16}, {112, 112, 64, 16}},
                                     {{7, 7, 3, 64}, {64}}))
                       .flops,
                   2 * macs);
}

TEST(OpFamilyTest, MatmulFlopsForEveryOperandOrder) {
  const double flops = 2.0 * 32 * 2048 * 1000;
  EXPECT_DOUBLE_EQ(
      AnalyzeKernel(Sig(ops::kMatmulFwd, {{32, 2048}, {1000, 2048}, {1000}},
                        {{32, 1000}}))
          .flops,
      flops);
  EXPECT_DOUBLE_EQ(AnalyzeKernel(Sig(ops::kMatmulBwdData,
                                     {{32, 1000}, {1000, 2048}}, {{32, 2048}}))
                       .flops,
                   flops);
  EXPECT_DOUBLE_EQ(
      AnalyzeKernel(Sig(ops::kMatmulBwdWeights, {{32, 2048}, {32, 1000}},
                        {{1000, 2048}, {1000}}))
          .flops,
      flops);
  // A 4-d input seen as [N, C*H*W] (the example's linear_fwd).
  EXPECT_DOUBLE_EQ(
      AnalyzeKernel(
          Sig("linear_fwd", {{32, 128, 4, 4}, {10, 2048}, {10}}, {{32, 10}}))
          .flops,
      2.0 * 32 * 2048 * 10);
}

TEST(OpFamilyTest, ElementwisePoolAndCopyWork) {
  const KernelWork add = AnalyzeKernel(
      Sig(ops::kAdd, {{4, 8, 16}, {4, 8, 16}, {4, 8, 16}}, {{4, 8, 16}}));
  EXPECT_EQ(add.family, OpFamily::kEltwise);
  EXPECT_DOUBLE_EQ(add.flops, 2.0 * 512);

  v1::KernelSignature pool =
      Sig(ops::kMaxPoolFwd, {{2, 8, 32, 32}}, {{2, 8, 16, 16}});
  (*pool.mutable_attributes())["kernel"] = "3x3";
  EXPECT_DOUBLE_EQ(AnalyzeKernel(pool).flops, 9.0 * 2 * 8 * 16 * 16);
  (*pool.mutable_attributes())["kernel"] = "2";
  EXPECT_DOUBLE_EQ(AnalyzeKernel(pool).flops, 4.0 * 2 * 8 * 16 * 16);

  const KernelWork concat = AnalyzeKernel(
      Sig(ops::kConcat, {{2, 3, 4, 4}, {2, 5, 4, 4}}, {{2, 8, 4, 4}}));
  EXPECT_EQ(concat.flops, 0);
  EXPECT_DOUBLE_EQ(concat.read_bytes(), concat.write_bytes());
  // nGraph's Slice reads only the window it copies.
  const KernelWork slice =
      AnalyzeKernel(Sig("Slice", {{7, 7, 576, 16}}, {{7, 7, 32, 16}}));
  EXPECT_DOUBLE_EQ(slice.input_bytes[0], 4.0 * 7 * 7 * 32 * 16);
}

TEST(OpFamilyTest, DtypesAndOddShapes) {
  v1::KernelSignature sig = Sig(ops::kReluFwd, {{10}}, {{10}});
  sig.mutable_inputs(0)->set_dtype(v1::DATA_TYPE_F16);
  sig.mutable_outputs(0)->set_dtype(v1::DATA_TYPE_BOOL);
  KernelWork work = AnalyzeKernel(sig);
  EXPECT_DOUBLE_EQ(work.input_bytes[0], 20);
  EXPECT_DOUBLE_EQ(work.output_bytes[0], 10);
  // A scalar is one element; a negative dim counts as empty.
  work = AnalyzeKernel(Sig(ops::kReluFwd, {{}}, {{-3, 2}}));
  EXPECT_DOUBLE_EQ(work.input_bytes[0], 4);
  EXPECT_DOUBLE_EQ(work.output_bytes[0], 0);
  // A conv with malformed operands falls back to an elementwise count.
  work = AnalyzeKernel(Sig(ops::kConvFwd, {{10}}, {{10}}));
  EXPECT_DOUBLE_EQ(work.flops, 10);
}

}  // namespace
}  // namespace autotm::costmodel
