#include "profiler-agent/kernels.h"

#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/testing/scoped_temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace autotm::agent {
namespace {

using ::testing::HasSubstr;

v1::OperandSpec Spec(std::vector<int64_t> dims) {
  v1::OperandSpec s;
  for (int64_t d : dims) s.add_dims(d);
  s.set_dtype(v1::DATA_TYPE_F32);
  return s;
}

v1::KernelSignature Sig(const std::string& op,
                        std::vector<std::vector<int64_t>> in,
                        std::vector<std::vector<int64_t>> out,
                        std::map<std::string, std::string> attrs = {}) {
  v1::KernelSignature s;
  s.set_op(op);
  for (auto& d : in) *s.add_inputs() = Spec(d);
  for (auto& d : out) *s.add_outputs() = Spec(d);
  for (auto& [k, v] : attrs) (*s.mutable_attributes())[k] = v;
  return s;
}

class KernelsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    auto fast = MakeTier("numa:0");
    auto slow = MakeTier("file:" + dir_.path());
    ASSERT_TRUE(fast.ok() && slow.ok());
    fast_ = *std::move(fast);
    slow_ = *std::move(slow);
  }
  // Alternating configuration: operand p slow iff p is odd.
  std::vector<bool> Mixed(const v1::KernelSignature& s) {
    std::vector<bool> slow(s.inputs_size() + s.outputs_size());
    for (size_t p = 0; p < slow.size(); ++p) slow[p] = p % 2 == 1;
    return slow;
  }
  testing::ScopedTempDir dir_{"kernels_test"};
  std::unique_ptr<Tier> fast_, slow_;
};

struct Case {
  const char* name;
  v1::KernelSignature sig;
};

std::vector<Case> Cases() {
  const std::map<std::string, std::string> conv = {
      {"kernel", "3x3"}, {"stride", "1"}, {"pad", "1"}};
  const std::map<std::string, std::string> pool = {
      {"kernel", "2x2"}, {"stride", "2"}, {"pad", "0"}};
  return {
      {"conv_fwd", Sig("conv2d_fwd", {{2, 3, 8, 8}, {4, 3, 3, 3}, {4}},
                       {{2, 4, 8, 8}}, conv)},
      {"conv_fwd_stride2",
       Sig("conv2d_fwd", {{1, 3, 9, 9}, {4, 3, 3, 3}}, {{1, 4, 5, 5}},
           {{"kernel", "3x3"}, {"stride", "2"}, {"pad", "1"}})},
      {"conv_bwd_data", Sig("conv2d_bwd_data", {{2, 4, 8, 8}, {4, 3, 3, 3}},
                            {{2, 3, 8, 8}}, conv)},
      {"conv_bwd_weights",
       Sig("conv2d_bwd_weights", {{2, 3, 8, 8}, {2, 4, 8, 8}},
           {{4, 3, 3, 3}, {4}}, conv)},
      {"relu_fwd", Sig("relu_fwd", {{2, 3, 4, 4}}, {{2, 3, 4, 4}})},
      {"relu_bwd",
       Sig("relu_bwd", {{2, 3, 4, 4}, {2, 3, 4, 4}}, {{2, 3, 4, 4}})},
      {"maxpool_fwd", Sig("maxpool_fwd", {{2, 3, 8, 8}}, {{2, 3, 4, 4}}, pool)},
      {"maxpool_bwd",
       Sig("maxpool_bwd", {{2, 3, 4, 4}, {2, 3, 8, 8}}, {{2, 3, 8, 8}}, pool)},
      {"avgpool_fwd", Sig("avgpool_fwd", {{2, 3, 8, 8}}, {{2, 3, 4, 4}}, pool)},
      {"avgpool_bwd", Sig("avgpool_bwd", {{2, 3, 4, 4}}, {{2, 3, 8, 8}}, pool)},
      {"add", Sig("add", {{2, 3, 4, 4}, {2, 3, 4, 4}}, {{2, 3, 4, 4}})},
      {"concat", Sig("concat", {{2, 3, 4, 4}, {2, 5, 4, 4}}, {{2, 8, 4, 4}})},
      {"split", Sig("split", {{2, 8, 4, 4}}, {{2, 3, 4, 4}, {2, 5, 4, 4}})},
      {"matmul_fwd", Sig("matmul_fwd", {{4, 16}, {8, 16}, {8}}, {{4, 8}})},
      {"matmul_bwd_data", Sig("matmul_bwd_data", {{4, 8}, {8, 16}}, {{4, 16}})},
      {"matmul_bwd_weights",
       Sig("matmul_bwd_weights", {{4, 16}, {4, 8}}, {{8, 16}, {8}})},
      {"batchnorm_fwd", Sig("batchnorm_fwd", {{2, 3, 4, 4}, {3}, {3}},
                            {{2, 3, 4, 4}, {3}, {3}})},
      {"batchnorm_bwd",
       Sig("batchnorm_bwd", {{2, 3, 4, 4}, {2, 3, 4, 4}, {3}, {3}, {3}},
           {{2, 3, 4, 4}, {3}, {3}})},
      {"softmax_xent_fwd",
       Sig("softmax_xent_fwd", {{4, 10}, {4, 10}}, {{}, {4, 10}})},
      {"softmax_xent_bwd",
       Sig("softmax_xent_bwd", {{4, 10}, {4, 10}}, {{4, 10}})},
      {"sgd_update", Sig("sgd_update", {{8, 16}, {8, 16}}, {{8, 16}})},
      // Aliases (tests/testdata vocabulary).
      {"conv_bwd_filter", Sig("conv2d_bwd_filter", {{2, 3, 8, 8}, {2, 4, 8, 8}},
                              {{4, 3, 3, 3}}, conv)},
      {"maxpool2d_fwd",
       Sig("maxpool2d_fwd", {{2, 3, 8, 8}}, {{2, 3, 4, 4}}, pool)},
      {"maxpool2d_bwd", Sig("maxpool2d_bwd", {{2, 3, 4, 4}, {2, 3, 8, 8}},
                            {{2, 3, 8, 8}}, pool)},
  };
}

TEST_F(KernelsTest, EverySupportedOpRunsWithOperandsOnBothTiers) {
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    const std::vector<bool> slow = Mixed(c.sig);
    auto k = PreparedKernel::Create(c.sig, slow, *fast_, *slow_);
    ASSERT_TRUE(k.ok()) << k.status();
    absl::Status run = (*k)->Run();
    ASSERT_TRUE(run.ok()) << run;
    ASSERT_TRUE((*k)->VerifyPlacement().ok());
    for (int p = 0; p < (*k)->num_operands(); ++p) {
      const TierBuffer& b = (*k)->operand_buffer(p);
      Tier& expected = slow[p] ? *slow_ : *fast_;
      EXPECT_TRUE(expected.VerifyPlacement(b.data(), b.size()).ok())
          << "operand " << p;
      if (!slow[p]) {
        // A DRAM operand is not a file of the slow tier.
        EXPECT_FALSE(slow_->VerifyPlacement(b.data(), b.size()).ok());
      }
    }
    for (int p = c.sig.inputs_size(); p < (*k)->num_operands(); ++p) {
      auto out = (*k)->ReadOperand(p);
      ASSERT_TRUE(out.ok()) << out.status();
      for (float v : *out) ASSERT_TRUE(std::isfinite(v)) << "operand " << p;
    }
  }
  // Every op the agent claims is covered by a case above.
  std::set<std::string> tested;
  for (const Case& c : Cases()) tested.insert(c.sig.op());
  for (const std::string& op : SupportedOps()) {
    EXPECT_TRUE(tested.count(op)) << op;
  }
}

TEST_F(KernelsTest, ReluValuesAreRight) {
  auto sig = Sig("relu_fwd", {{2, 3}}, {{2, 3}});
  auto k = PreparedKernel::Create(sig, {true, false}, *fast_, *slow_);
  ASSERT_TRUE(k.ok()) << k.status();
  ASSERT_TRUE((*k)->WriteOperand(0, {-1, 2, -3, 4, 0, -0.5f}).ok());
  ASSERT_TRUE((*k)->Run().ok());
  auto y = (*k)->ReadOperand(1);
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(*y, (std::vector<float>{0, 2, 0, 4, 0, 0}));
}

TEST_F(KernelsTest, ReluBwdValuesAreRight) {
  auto sig = Sig("relu_bwd", {{4}, {4}}, {{4}});
  auto k = PreparedKernel::Create(sig, {false, true, true}, *fast_, *slow_);
  ASSERT_TRUE(k.ok()) << k.status();
  ASSERT_TRUE((*k)->WriteOperand(0, {1, 2, 3, 4}).ok());  // dy
  ASSERT_TRUE((*k)->WriteOperand(1, {0, 5, 0, 7}).ok());  // y
  ASSERT_TRUE((*k)->Run().ok());
  auto dx = (*k)->ReadOperand(2);
  ASSERT_TRUE(dx.ok());
  EXPECT_EQ(*dx, (std::vector<float>{0, 2, 0, 4}));
}

TEST_F(KernelsTest, AddValuesAreRight) {
  auto sig = Sig("add", {{2, 2}, {2, 2}, {2, 2}}, {{2, 2}});
  auto k =
      PreparedKernel::Create(sig, {true, false, true, true}, *fast_, *slow_);
  ASSERT_TRUE(k.ok()) << k.status();
  ASSERT_TRUE((*k)->WriteOperand(0, {1, 2, 3, 4}).ok());
  ASSERT_TRUE((*k)->WriteOperand(1, {10, 20, 30, 40}).ok());
  ASSERT_TRUE((*k)->WriteOperand(2, {100, 200, 300, 400}).ok());
  ASSERT_TRUE((*k)->Run().ok());
  auto y = (*k)->ReadOperand(3);
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(*y, (std::vector<float>{111, 222, 333, 444}));
}

TEST_F(KernelsTest, MatmulFwdValuesAreRight) {
  // y = x w^T + b with x [1,2], w [2,2], b [2].
  auto sig = Sig("matmul_fwd", {{1, 2}, {2, 2}, {2}}, {{1, 2}});
  auto k =
      PreparedKernel::Create(sig, {false, true, false, true}, *fast_, *slow_);
  ASSERT_TRUE(k.ok()) << k.status();
  ASSERT_TRUE((*k)->WriteOperand(0, {1, 2}).ok());
  ASSERT_TRUE((*k)->WriteOperand(1, {1, 0, 3, 4}).ok());
  ASSERT_TRUE((*k)->WriteOperand(2, {0.5f, -1}).ok());
  ASSERT_TRUE((*k)->Run().ok());
  auto y = (*k)->ReadOperand(3);
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(*y, (std::vector<float>{1.5f, 10}));
}

TEST_F(KernelsTest, UnknownOpIsUnimplementedAndNamed) {
  auto sig = Sig("fft_fwd", {{4}}, {{4}});
  auto k = PreparedKernel::Create(sig, {false, false}, *fast_, *slow_);
  EXPECT_EQ(k.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(k.status().message(), HasSubstr("fft_fwd"));
}

TEST_F(KernelsTest, NonF32IsUnimplemented) {
  auto sig = Sig("relu_fwd", {{4}}, {{4}});
  sig.mutable_inputs(0)->set_dtype(v1::DATA_TYPE_F16);
  auto k = PreparedKernel::Create(sig, {false, false}, *fast_, *slow_);
  EXPECT_EQ(k.status().code(), absl::StatusCode::kUnimplemented);
}

TEST_F(KernelsTest, BadShapesAreInvalidArgument) {
  auto sig = Sig("add", {{2, 2}, {2, 3}}, {{2, 2}});
  auto k = PreparedKernel::Create(sig, {false, false, false}, *fast_, *slow_);
  EXPECT_EQ(k.status().code(), absl::StatusCode::kInvalidArgument);
  auto conv = Sig("conv2d_fwd", {{1, 3, 8, 8}, {4, 3, 3, 3}}, {{1, 4, 8, 8}},
                  {{"groups", "2"}, {"pad", "1"}});
  EXPECT_EQ(PreparedKernel::Create(conv, {false, false, false}, *fast_, *slow_)
                .status()
                .code(),
            absl::StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace autotm::agent
