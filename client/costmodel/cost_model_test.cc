#include "client/costmodel/cost_model.h"

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "client/zoo/ops.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "solver/graph_model.h"
#include "solver/profile_model.h"
#include "solver/signature.h"
#include "solver/testing/test_graphs.h"

namespace autotm::costmodel {
namespace {

namespace ops = ::autotm::zoo::ops;
using ::autotm::solver::ConfigMask;

v1::KernelSignature Sig(const std::string& op,
                        const std::vector<std::vector<int64_t>>& inputs,
                        const std::vector<std::vector<int64_t>>& outputs) {
  v1::KernelSignature sig;
  sig.set_op(op);
  for (const auto& dims : inputs) {
    v1::OperandSpec* spec = sig.add_inputs();
    for (int64_t d : dims) spec->add_dims(d);
    spec->set_dtype(v1::DATA_TYPE_F32);
  }
  for (const auto& dims : outputs) {
    v1::OperandSpec* spec = sig.add_outputs();
    for (int64_t d : dims) spec->add_dims(d);
    spec->set_dtype(v1::DATA_TYPE_F32);
  }
  return sig;
}

// A random kernel of an op of `family` (zoo vocabulary), NCHW shapes.
v1::KernelSignature RandomKernel(OpFamily family, std::mt19937_64& rng) {
  auto pick = [&rng](std::vector<int64_t> choices) {
    return choices[rng() % choices.size()];
  };
  const int64_t n = pick({1, 2, 16, 64});
  const int64_t c = pick({3, 32, 64, 256, 1024});
  const int64_t k = pick({16, 64, 128, 512});
  const int64_t hw = pick({7, 14, 28, 56, 112});
  const int64_t r = pick({1, 3, 7});
  switch (family) {
    case OpFamily::kConvFwd:
      return Sig(ops::kConvFwd, {{n, c, hw, hw}, {k, c, r, r}, {k}},
                 {{n, k, hw, hw}});
    case OpFamily::kConvBwdData:
      return Sig(ops::kConvBwdData, {{n, k, hw, hw}, {k, c, r, r}},
                 {{n, c, hw, hw}});
    case OpFamily::kConvBwdWeights:
      return Sig(ops::kConvBwdWeights, {{n, c, hw, hw}, {n, k, hw, hw}},
                 {{k, c, r, r}, {k}});
    case OpFamily::kBatchNorm:
      return Sig(ops::kBatchNormFwd, {{n, c, hw, hw}, {c}, {c}},
                 {{n, c, hw, hw}, {c}, {c}});
    case OpFamily::kBatchNormBwd:
      return Sig(ops::kBatchNormBwd,
                 {{n, c, hw, hw}, {n, c, hw, hw}, {c}, {c}, {c}},
                 {{n, c, hw, hw}, {c}, {c}});
    case OpFamily::kEltwise:
      return Sig(ops::kAdd, {{n, c, hw, hw}, {n, c, hw, hw}}, {{n, c, hw, hw}});
    case OpFamily::kPool:
      return Sig(ops::kMaxPoolBwd, {{n, c, hw, hw}, {n, c, 2 * hw, 2 * hw}},
                 {{n, c, 2 * hw, 2 * hw}});
    case OpFamily::kConcatSplit:
      return Sig(ops::kConcat,
                 {{n, c, hw, hw}, {n, k, hw, hw}, {n, 32, hw, hw}},
                 {{n, c + k + 32, hw, hw}});
    case OpFamily::kMatmul:
      return Sig(ops::kMatmulFwd, {{n, c * 4}, {k, c * 4}, {k}}, {{n, k}});
    case OpFamily::kOther:
      return Sig(ops::kSoftmaxXentFwd, {{n, k}, {n, k}}, {{}, {n, k}});
  }
  return {};
}

TEST(CostModelTest, Optane2019HostClassAndBandwidths) {
  const CostModel model = CostModel::Optane2019();
  EXPECT_EQ(model.host_class().name(), "optane-2019");
  EXPECT_NE(model.host_class().fingerprint().find(
                "synthetic cost model fitted on AutoTM's Optane DC "
                "measurements (2019)"),
            std::string::npos);
  EXPECT_EQ(model.bandwidths().slow_to_fast_sync_gb_per_s(), 29);
  EXPECT_EQ(model.bandwidths().fast_to_slow_sync_gb_per_s(), 12);
  EXPECT_EQ(model.bandwidths().slow_to_fast_async_gb_per_s(), 2);
  EXPECT_EQ(model.bandwidths().fast_to_slow_async_gb_per_s(), 2.5);
}

TEST(CostModelTest, LooksModelsUpByName) {
  EXPECT_EQ(CostModelNames(), std::vector<std::string>{"optane-2019"});
  const absl::StatusOr<CostModel> model = CostModelByName("optane-2019");
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->host_class().name(), "optane-2019");
  const absl::Status unknown = CostModelByName("cxl-2030").status();
  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(unknown.message().find("optane-2019"), absl::string_view::npos);
}

TEST(CostModelTest, CommittedFactorsAreNonNegativeAndFinite) {
  const CostModel model = CostModel::Optane2019();
  for (OpFamily family : AllOpFamilies()) {
    const FamilyFactors& f = model.factors(family);
    for (double v : {f.launch_us, f.input_time_share, f.output_time_share,
                     f.input_us_per_mb, f.output_us_per_mb, f.input_fixed_us,
                     f.output_fixed_us}) {
      EXPECT_TRUE(std::isfinite(v) && v >= 0) << OpFamilyName(family);
    }
    for (double v :
         {f.compute_efficiency, f.dram_efficiency, f.cache_efficiency}) {
      EXPECT_TRUE(std::isfinite(v) && v > 0) << OpFamilyName(family);
    }
    // PMM is slower than DRAM for every family.
    EXPECT_GT(f.output_us_per_mb + f.output_fixed_us, 0)
        << OpFamilyName(family);
  }
}

TEST(CostModelTest, MonotoneInTiersForEveryFamilyAndRandomShapes) {
  const CostModel model = CostModel::Optane2019();
  std::mt19937_64 rng(20200316);
  for (OpFamily family : AllOpFamilies()) {
    for (int trial = 0; trial < 25; ++trial) {
      const v1::KernelSignature sig = RandomKernel(family, rng);
      ASSERT_EQ(AnalyzeKernel(sig).family, family) << sig.op();
      const int operands = sig.inputs_size() + sig.outputs_size();
      for (ConfigMask mask = 0; mask < (ConfigMask{1} << operands); ++mask) {
        std::vector<bool> slow(operands);
        for (int p = 0; p < operands; ++p) slow[p] = mask >> p & 1;
        const absl::StatusOr<double> time = model.TimeUs(sig, slow);
        ASSERT_TRUE(time.ok()) << time.status();
        EXPECT_GT(*time, 0);
        for (int p = 0; p < operands; ++p) {
          if (slow[p]) continue;
          std::vector<bool> slower = slow;
          slower[p] = true;
          EXPECT_GE(*model.TimeUs(sig, slower), *time)
              << solver::SignatureKey(sig) << " operand " << p;
        }
      }
    }
  }
}

TEST(CostModelTest, SlowOutputsCostMoreThanSlowInputsForElementwise) {
  // The data's headline: outputs in PMM hurt far more than inputs.
  const CostModel model = CostModel::Optane2019();
  const v1::KernelSignature relu =
      Sig(ops::kReluFwd, {{16, 256, 56, 56}}, {{16, 256, 56, 56}});
  const double fast = *model.TimeUs(relu, {false, false});
  const double in_slow = *model.TimeUs(relu, {true, false});
  const double out_slow = *model.TimeUs(relu, {false, true});
  EXPECT_GT(in_slow, fast);
  EXPECT_GT(out_slow, 2 * in_slow);
}

TEST(CostModelTest, PenaltyFormulaWithHandFactors) {
  FamilyFactors f;
  f.launch_us = 5;
  f.input_time_share = 0.5;
  f.output_time_share = 2;
  f.input_us_per_mb = 10;
  f.output_us_per_mb = 100;
  f.input_fixed_us = 1;
  f.output_fixed_us = 50;
  std::array<FamilyFactors, kNumOpFamilies> factors;
  factors.fill(f);
  const CostModel model(RooflineConstants{}, factors, {}, {});
  // add: 2 inputs of 1 MB, one output of 1 MB; all far below the LLC.
  const v1::KernelSignature add =
      Sig(ops::kAdd, {{250000}, {250000}}, {{250000}});
  const double memory_us = (2e6 / 110.7 + 1e6 / 78.6) / 1e3;
  const double t = 5 + memory_us;
  EXPECT_DOUBLE_EQ(*model.TimeUs(add, {false, false, false}), t);
  EXPECT_DOUBLE_EQ(*model.TimeUs(add, {true, false, false}),
                   t + 0.5 * t * 0.5 + 10 * 1 + 1);
  EXPECT_DOUBLE_EQ(*model.TimeUs(add, {false, false, true}),
                   t + 2 * t * 1 + 100 * 1 + 50);
}

TEST(CostModelTest, RooflineUsesComputeOrMemoryWhicheverIsSlower) {
  const RooflineConstants roofline;
  const FamilyFactors ideal;  // efficiencies 1, no launch time
  // A big conv is compute-bound.
  const KernelWork conv =
      AnalyzeKernel(Sig(ops::kConvFwd, {{64, 256, 56, 56}, {256, 256, 3, 3}},
                        {{64, 256, 56, 56}}));
  EXPECT_DOUBLE_EQ(RooflineTimeUs(roofline, ideal, conv),
                   conv.flops / (roofline.peak_gflop_per_s * 1e3));
  // A big relu is memory-bound at DRAM bandwidth.
  const KernelWork relu = AnalyzeKernel(
      Sig(ops::kReluFwd, {{64, 256, 56, 56}}, {{64, 256, 56, 56}}));
  ASSERT_GT(relu.read_bytes() + relu.write_bytes(), roofline.llc_bytes);
  EXPECT_DOUBLE_EQ(
      RooflineTimeUs(roofline, ideal, relu),
      (relu.read_bytes() / 110.7 + relu.write_bytes() / 78.6) / 1e3);
}

TEST(CostModelTest, TimeUsRejectsAWrongConfigurationLength) {
  const absl::StatusOr<double> time =
      CostModel::Optane2019().TimeUs(Sig(ops::kReluFwd, {{4}}, {{4}}), {true});
  EXPECT_EQ(time.status().code(), absl::StatusCode::kInvalidArgument);
}

// A graph: x -> relu -> concat of many branches, so one kernel has more
// operands than a table allows.
v1::Graph ConcatGraph(int branches) {
  v1::Graph graph;
  graph.set_name("concat");
  auto tensor = [&graph](const std::string& id, uint64_t bytes,
                         v1::TensorRole role) {
    v1::Tensor* t = graph.add_tensors();
    t->set_id(id);
    t->set_size_bytes(bytes);
    t->set_role(role);
  };
  tensor("x", 4 * 2 * 8 * 14 * 14, v1::TENSOR_ROLE_INPUT);
  v1::Kernel* concat = nullptr;
  std::vector<v1::Kernel*> relus;
  for (int b = 0; b < branches; ++b) {
    const std::string out = absl::StrCat("r", b);
    tensor(out, 4 * 2 * 8 * 14 * 14, v1::TENSOR_ROLE_ACTIVATION);
    v1::Kernel* k = graph.add_kernels();
    k->set_id(absl::StrCat("relu", b));
    k->set_op(ops::kReluFwd);
    k->add_inputs("x");
    k->add_outputs(out);
    *k->mutable_signature() =
        Sig(ops::kReluFwd, {{2, 8, 14, 14}}, {{2, 8, 14, 14}});
  }
  tensor("y", 4 * 2 * 8 * branches * 14 * 14, v1::TENSOR_ROLE_ACTIVATION);
  concat = graph.add_kernels();
  concat->set_id("concat");
  concat->set_op(ops::kConcat);
  std::vector<std::vector<int64_t>> inputs;
  for (int b = 0; b < branches; ++b) {
    concat->add_inputs(absl::StrCat("r", b));
    inputs.push_back({2, 8, 14, 14});
  }
  concat->add_outputs("y");
  *concat->mutable_signature() =
      Sig(ops::kConcat, inputs, {{2, 8 * branches, 14, 14}});
  return graph;
}

TEST(SynthesizeProfileTest, TablesUpToTheThresholdSeparableBeyond) {
  const CostModel model = CostModel::Optane2019();
  const v1::Graph graph = ConcatGraph(12);
  const absl::StatusOr<v1::Profile> profile = SynthesizeProfile(graph, model);
  ASSERT_TRUE(profile.ok()) << profile.status();
  // The 12 relus share one signature.
  ASSERT_EQ(profile->kernels_size(), 2);
  EXPECT_EQ(profile->kernels(0).configs_size(), 4);
  EXPECT_FALSE(profile->kernels(0).has_separable());
  EXPECT_EQ(profile->kernels(1).configs_size(), 0);
  EXPECT_TRUE(profile->kernels(1).has_separable());
  EXPECT_EQ(profile->kernels(1).separable().input_slow_penalty_us_size(), 12);

  const solver::GraphModel graph_model = solver::testing::MustGraph(graph);
  const solver::ProfileModel profile_model =
      solver::testing::MustProfile(*profile);
  EXPECT_TRUE(solver::CheckCoverage(graph_model, profile_model).ok());
  // The separable entry gives the model's time.
  const v1::KernelSignature& concat = graph.kernels(12).signature();
  const solver::KernelCost* cost =
      profile_model.Find(solver::SignatureKey(concat));
  ASSERT_NE(cost, nullptr);
  std::vector<bool> slow(13, false);
  slow[3] = slow[12] = true;
  EXPECT_DOUBLE_EQ(*cost->TimeUs(slow), *model.TimeUs(concat, slow));
}

TEST(SynthesizeProfileTest, SeparableAndTableEntriesAgree) {
  const CostModel model = CostModel::Optane2019();
  // Batch-norm backward: 8 operands, a table by default.
  v1::Graph graph;
  graph.set_name("bn");
  const v1::KernelSignature sig =
      Sig(ops::kBatchNormBwd,
          {{16, 64, 28, 28}, {16, 64, 28, 28}, {64}, {64}, {64}},
          {{16, 64, 28, 28}, {64}, {64}});
  const std::vector<std::string> ins = {"dy", "x", "gamma", "mean", "var"};
  const std::vector<std::string> outs = {"dx", "dgamma", "dbeta"};
  for (const std::string& id : ins) {
    v1::Tensor* t = graph.add_tensors();
    t->set_id(id);
    t->set_size_bytes(id == "dy" || id == "x" ? 4 * 16 * 64 * 28 * 28 : 256);
    t->set_role(v1::TENSOR_ROLE_INPUT);
  }
  v1::Kernel* k = graph.add_kernels();
  k->set_id("bn.bwd");
  k->set_op(sig.op());
  for (const std::string& id : ins) k->add_inputs(id);
  for (const std::string& id : outs) {
    v1::Tensor* t = graph.add_tensors();
    t->set_id(id);
    t->set_size_bytes(id == "dx" ? 4 * 16 * 64 * 28 * 28 : 256);
    k->add_outputs(id);
  }
  *k->mutable_signature() = sig;

  const absl::StatusOr<v1::Profile> table = SynthesizeProfile(graph, model);
  SynthesisOptions separable_only;
  separable_only.max_table_operands = 0;
  const absl::StatusOr<v1::Profile> separable =
      SynthesizeProfile(graph, model, separable_only);
  ASSERT_TRUE(table.ok()) << table.status();
  ASSERT_TRUE(separable.ok()) << separable.status();
  ASSERT_EQ(table->kernels(0).configs_size(), 256);
  ASSERT_TRUE(separable->kernels(0).has_separable());

  const solver::ProfileModel table_model = solver::testing::MustProfile(*table);
  const solver::ProfileModel separable_model =
      solver::testing::MustProfile(*separable);
  const std::string key = solver::SignatureKey(sig);
  const solver::KernelCost* t = table_model.Find(key);
  const solver::KernelCost* s = separable_model.Find(key);
  ASSERT_NE(t, nullptr);
  ASSERT_NE(s, nullptr);
  EXPECT_FALSE(t->separable());
  EXPECT_TRUE(s->separable());
  for (ConfigMask mask = 0; mask < 256; ++mask) {
    ASSERT_TRUE(t->TimeUs(mask).has_value());
    EXPECT_EQ(*t->TimeUs(mask), *s->TimeUs(mask)) << mask;
  }
}

TEST(SynthesizeProfileTest, CoversRandomGraphs) {
  const CostModel model = CostModel::Optane2019();
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 20; ++trial) {
    const v1::Graph graph = solver::testing::RandomGraph(rng, 12, 10);
    const absl::StatusOr<v1::Profile> profile = SynthesizeProfile(graph, model);
    ASSERT_TRUE(profile.ok()) << profile.status();
    const solver::ProfileModel profile_model =
        solver::testing::MustProfile(*profile);
    EXPECT_TRUE(
        solver::CheckCoverage(solver::testing::MustGraph(graph), profile_model)
            .ok());
  }
}

TEST(SynthesizeProfileTest, CoversTheBundledExampleGraph) {
  const char* source_dir = std::getenv("AUTOTM_SOURCE_DIR");
  if (source_dir == nullptr) GTEST_SKIP() << "AUTOTM_SOURCE_DIR is not set";
  const std::string path =
      absl::StrCat(source_dir, "/tests/testdata/example_cnn.graph.json");
  std::ifstream file(path);
  ASSERT_TRUE(file) << path;
  std::stringstream text;
  text << file.rdbuf();
  v1::Graph graph;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(text.str(), &graph).ok());

  const absl::StatusOr<v1::Profile> profile =
      SynthesizeProfile(graph, CostModel::Optane2019());
  ASSERT_TRUE(profile.ok()) << profile.status();
  const solver::GraphModel graph_model = solver::testing::MustGraph(graph);
  const solver::ProfileModel profile_model =
      solver::testing::MustProfile(*profile);
  EXPECT_TRUE(solver::CheckCoverage(graph_model, profile_model).ok());
  absl::flat_hash_set<std::string> keys;
  for (const solver::KernelInfo& kernel : graph_model.kernels()) {
    keys.insert(kernel.signature_key);
  }
  EXPECT_EQ(profile->kernels_size(), static_cast<int>(keys.size()));
  EXPECT_EQ(profile->host_class().name(), "optane-2019");
}

TEST(SynthesizeProfileTest, RejectsBadGraphsAndOptions) {
  const CostModel model = CostModel::Optane2019();
  EXPECT_EQ(SynthesizeProfile(v1::Graph(), model).status().code(),
            absl::StatusCode::kInvalidArgument);

  v1::Graph graph = ConcatGraph(2);
  graph.mutable_kernels(0)->mutable_signature()->mutable_inputs(0)->set_dims(
      0, -2);
  const absl::Status negative = SynthesizeProfile(graph, model).status();
  EXPECT_EQ(negative.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(negative.message().find("relu0"), absl::string_view::npos);

  SynthesisOptions options;
  options.max_table_operands = solver::kMaxTableOperands + 1;
  EXPECT_EQ(SynthesizeProfile(ConcatGraph(2), model, options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace autotm::costmodel
