#include "solver/signature.h"

#include <vector>

#include "gtest/gtest.h"

namespace autotm::solver {
namespace {

v1::KernelSignature Conv() {
  v1::KernelSignature s;
  s.set_op("conv2d_fwd");
  v1::OperandSpec* x = s.add_inputs();
  x->set_dtype(v1::DATA_TYPE_F32);
  for (int d : {16, 3, 224, 224}) x->add_dims(d);
  v1::OperandSpec* w = s.add_inputs();
  w->set_dtype(v1::DATA_TYPE_F32);
  for (int d : {64, 3, 7, 7}) w->add_dims(d);
  v1::OperandSpec* y = s.add_outputs();
  y->set_dtype(v1::DATA_TYPE_F32);
  for (int d : {16, 64, 112, 112}) y->add_dims(d);
  (*s.mutable_attributes())["stride"] = "2";
  (*s.mutable_attributes())["pad"] = "3";
  return s;
}

TEST(SignatureKeyTest, CanonicalForm) {
  EXPECT_EQ(SignatureKey(Conv()),
            "conv2d_fwd(f32[16,3,224,224],f32[64,3,7,7])->"
            "(f32[16,64,112,112]){pad=3,stride=2}");
}

TEST(SignatureKeyTest, IndependentOfAttributeInsertionOrder) {
  v1::KernelSignature a = Conv();
  v1::KernelSignature b = Conv();
  b.mutable_attributes()->clear();
  (*b.mutable_attributes())["pad"] = "3";
  (*b.mutable_attributes())["stride"] = "2";
  EXPECT_EQ(SignatureKey(a), SignatureKey(b));
  (*b.mutable_attributes())["stride"] = "1";
  EXPECT_NE(SignatureKey(a), SignatureKey(b));
}

v1::Kernel KernelOf(std::vector<std::string> inputs,
                    std::vector<std::string> outputs) {
  v1::Kernel k;
  for (auto& i : inputs) k.add_inputs(i);
  for (auto& o : outputs) k.add_outputs(o);
  return k;
}

v1::Tier Free(const std::string&) { return v1::TIER_UNSPECIFIED; }

TEST(OperandUsageTest, DistinctFreeOperandsAllowEveryConfiguration) {
  const OperandUsage usage = UsageOf(KernelOf({"a", "b"}, {"c"}), Free);
  EXPECT_EQ(usage.first_position, (std::vector<int>{0, 1, 2}));
  for (uint64_t mask = 0; mask < 8; ++mask) {
    EXPECT_TRUE(UsageAllows(usage, mask)) << mask;
  }
}

TEST(OperandUsageTest, RepeatedInputSharesItsFirstPositionsTier) {
  // add(x, y, x) -> z: position 2 is the tensor of position 0.
  const OperandUsage usage = UsageOf(KernelOf({"x", "y", "x"}, {"z"}), Free);
  EXPECT_EQ(usage.first_position, (std::vector<int>{0, 1, 0, 3}));
  int allowed = 0;
  for (uint64_t mask = 0; mask < 16; ++mask) {
    const bool tied_agree = ((mask >> 0) & 1) == ((mask >> 2) & 1);
    EXPECT_EQ(UsageAllows(usage, mask), tied_agree) << mask;
    allowed += UsageAllows(usage, mask);
  }
  EXPECT_EQ(allowed, 8);  // 2^3 free choices
}

TEST(OperandUsageTest, PinnedTensorsStayInTheirTier) {
  // w pinned fast, y pinned slow: only x is free.
  const OperandUsage usage =
      UsageOf(KernelOf({"x", "w"}, {"y"}), [](const std::string& id) {
        return id == "w"   ? v1::TIER_FAST
               : id == "y" ? v1::TIER_SLOW
                           : v1::TIER_UNSPECIFIED;
      });
  std::vector<uint64_t> allowed;
  for (uint64_t mask = 0; mask < 8; ++mask) {
    if (UsageAllows(usage, mask)) allowed.push_back(mask);
  }
  // bit 0 = x (free), bit 1 = w (must be 0), bit 2 = y (must be 1).
  EXPECT_EQ(allowed, (std::vector<uint64_t>{0b100, 0b101}));
}

}  // namespace
}  // namespace autotm::solver
