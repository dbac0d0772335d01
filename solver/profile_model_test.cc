// Tests for ParseConfig/FormatConfig, ProfileModel, KernelCost and
// CheckCoverage.
#include "solver/profile_model.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "autotm/v1/graph.pb.h"
#include "autotm/v1/profile.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "solver/graph_model.h"
#include "solver/signature.h"
#include "solver/testing/test_graphs.h"

namespace autotm::solver {
namespace {

using ::autotm::solver::testing::FullTableProfile;
using ::autotm::solver::testing::GraphBuilder;
using ::autotm::solver::testing::MustGraph;
using ::autotm::solver::testing::MustProfile;
using ::autotm::solver::testing::OptaneBandwidths;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// ----- ParseConfig / FormatConfig -----

TEST(ConfigTest, FormatTwoInputsOneOutput) {
  EXPECT_EQ(FormatConfig(0b000, 2, 1), "FF|F");
  EXPECT_EQ(FormatConfig(0b001, 2, 1), "SF|F");
  EXPECT_EQ(FormatConfig(0b010, 2, 1), "FS|F");
  EXPECT_EQ(FormatConfig(0b100, 2, 1), "FF|S");
  EXPECT_EQ(FormatConfig(0b111, 2, 1), "SS|S");
}

TEST(ConfigTest, RoundTripsEveryMaskOfATwoInOneOutKernel) {
  for (ConfigMask mask = 0; mask < 8; ++mask) {
    const std::string text = FormatConfig(mask, 2, 1);
    ASSERT_EQ(text.size(), 4u) << text;
    EXPECT_EQ(text[2], '|') << text;
    absl::StatusOr<ConfigMask> parsed = ParseConfig(text, 2, 1);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, mask) << text;
  }
}

TEST(ConfigTest, RoundTripsOtherShapes) {
  const std::pair<int, int> shapes[] = {{0, 1}, {1, 0}, {3, 2}, {0, 3}, {4, 0}};
  for (const auto& [in, out] : shapes) {
    for (ConfigMask mask = 0; mask < (ConfigMask{1} << (in + out)); ++mask) {
      const std::string text = FormatConfig(mask, in, out);
      EXPECT_EQ(text.size(), static_cast<size_t>(in + out + 1)) << text;
      absl::StatusOr<ConfigMask> parsed = ParseConfig(text, in, out);
      ASSERT_TRUE(parsed.ok()) << parsed.status();
      EXPECT_EQ(*parsed, mask) << text;
    }
  }
}

TEST(ConfigTest, KernelWithoutOutputs) {
  EXPECT_EQ(FormatConfig(0b10, 2, 0), "FS|");
  absl::StatusOr<ConfigMask> parsed = ParseConfig("FS|", 2, 0);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, 0b10u);
}

TEST(ConfigTest, KernelWithoutInputs) {
  EXPECT_EQ(FormatConfig(0b1, 0, 1), "|S");
  absl::StatusOr<ConfigMask> parsed = ParseConfig("|S", 0, 1);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, 0b1u);
}

TEST(ConfigTest, KernelWithoutOperands) {
  EXPECT_EQ(FormatConfig(0, 0, 0), "|");
  absl::StatusOr<ConfigMask> parsed = ParseConfig("|", 0, 0);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, 0u);
}

TEST(ConfigTest, SixtyThreeOperandsParse) {
  const std::string text = std::string(40, 'S') + "|" + std::string(23, 'S');
  absl::StatusOr<ConfigMask> parsed = ParseConfig(text, 40, 23);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, (ConfigMask{1} << 63) - 1);
  EXPECT_EQ(FormatConfig(*parsed, 40, 23), text);
}

struct BadConfigCase {
  std::string name;
  std::string config;
  int num_inputs;
  int num_outputs;
  std::vector<std::string> substrings;
};

class BadConfigTest : public ::testing::TestWithParam<BadConfigCase> {};

TEST_P(BadConfigTest, ReportsCodeAndMessage) {
  const BadConfigCase& c = GetParam();
  absl::StatusOr<ConfigMask> parsed =
      ParseConfig(c.config, c.num_inputs, c.num_outputs);
  ASSERT_FALSE(parsed.ok()) << *parsed;
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument)
      << parsed.status();
  for (const std::string& substring : c.substrings) {
    EXPECT_THAT(parsed.status().message(), HasSubstr(substring));
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllErrors, BadConfigTest,
    ::testing::ValuesIn(std::vector<BadConfigCase>{
        {"NoBar", "FFF", 2, 1, {"\"FFF\"", "has no '|'"}},
        {"Empty", "", 0, 0, {"\"\"", "has no '|'"}},
        {"TooFewInputs",
         "F|F",
         2,
         1,
         {"\"F|F\"", "has 1 inputs and 1 outputs; the kernel has 2 and 1"}},
        {"TooManyOutputs",
         "FF|FF",
         2,
         1,
         {"\"FF|FF\"", "has 2 inputs and 2 outputs; the kernel has 2 and 1"}},
        {"MissingOutputs",
         "FF|",
         2,
         1,
         {"has 2 inputs and 0 outputs; the kernel has 2 and 1"}},
        {"BadLetter",
         "FX|F",
         2,
         1,
         {"\"FX|F\"", "has 'X'", "use F (fast) or S (slow)"}},
        {"LowercaseLetter", "fF|F", 2, 1, {"has 'f'"}},
        {"BadLetterInOutputs", "FF|s", 2, 1, {"has 's'"}},
        {"SecondBar", "F|F|", 1, 2, {"has '|'"}},
        {"SixtyFourOperands",
         std::string(40, 'F') + "|" + std::string(24, 'F'),
         40,
         24,
         {"has more than 63 operands"}},
    }),
    [](const ::testing::TestParamInfo<BadConfigCase>& info) {
      return info.param.name;
    });

// ----- ProfileModel::Create -----

v1::KernelSignature Signature(const std::string& op, int num_inputs,
                              int num_outputs) {
  v1::KernelSignature signature;
  signature.set_op(op);
  for (int i = 0; i < num_inputs; ++i) {
    v1::OperandSpec* spec = signature.add_inputs();
    spec->add_dims(i + 1);
    spec->set_dtype(v1::DATA_TYPE_F32);
  }
  for (int i = 0; i < num_outputs; ++i) {
    v1::OperandSpec* spec = signature.add_outputs();
    spec->add_dims(100 + i);
    spec->set_dtype(v1::DATA_TYPE_F32);
  }
  return signature;
}

void AddConfig(v1::KernelProfile* entry, const std::string& config,
               double time_us) {
  v1::ConfigTiming* timing = entry->add_configs();
  timing->set_config(config);
  timing->set_time_us(time_us);
}

// A valid profile:
//   kernels(0): "mul" 2 in / 1 out, a partial table (FF|F, SF|F, FS|F, SS|S),
//               listed out of mask order.
//   kernels(1): "sum" 3 in / 1 out, separable.
v1::Profile BaseProfile() {
  v1::Profile profile;
  profile.mutable_host_class()->set_name("optane-test");
  profile.mutable_host_class()->set_fingerprint("fp");
  *profile.mutable_bandwidths() = OptaneBandwidths();

  v1::KernelProfile* table = profile.add_kernels();
  *table->mutable_signature() = Signature("mul", 2, 1);
  AddConfig(table, "SS|S", 40);
  AddConfig(table, "FF|F", 10);
  AddConfig(table, "FS|F", 15);
  AddConfig(table, "SF|F", 12.5);

  v1::KernelProfile* separable = profile.add_kernels();
  *separable->mutable_signature() = Signature("sum", 3, 1);
  v1::SeparableCost* cost = separable->mutable_separable();
  cost->set_all_fast_time_us(100);
  cost->add_input_slow_penalty_us(1);
  cost->add_input_slow_penalty_us(2);
  cost->add_input_slow_penalty_us(4);
  cost->add_output_slow_penalty_us(8);
  return profile;
}

const std::string& MulKey() {
  static const std::string* key =
      new std::string(SignatureKey(Signature("mul", 2, 1)));
  return *key;
}

const std::string& SumKey() {
  static const std::string* key =
      new std::string(SignatureKey(Signature("sum", 3, 1)));
  return *key;
}

TEST(ProfileModelCreateTest, BaseProfileIsValid) {
  absl::StatusOr<ProfileModel> model = ProfileModel::Create(BaseProfile());
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->num_kernels(), 2);
  EXPECT_EQ(model->host_class().name(), "optane-test");
  EXPECT_EQ(model->host_class().fingerprint(), "fp");
  EXPECT_EQ(model->bandwidths().slow_to_fast_sync_gb_per_s(), 29);
  EXPECT_EQ(model->bandwidths().fast_to_slow_sync_gb_per_s(), 12);
  EXPECT_EQ(model->bandwidths().slow_to_fast_async_gb_per_s(), 2);
  EXPECT_EQ(model->bandwidths().fast_to_slow_async_gb_per_s(), 2.5);
  EXPECT_NE(model->Find(MulKey()), nullptr);
  EXPECT_NE(model->Find(SumKey()), nullptr);
  EXPECT_EQ(model->Find("nope()->()"), nullptr);
  EXPECT_EQ(model->Find(""), nullptr);
}

TEST(ProfileModelCreateTest, ProfileWithoutKernelsIsValid) {
  v1::Profile profile;
  *profile.mutable_bandwidths() = OptaneBandwidths();
  absl::StatusOr<ProfileModel> model = ProfileModel::Create(profile);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->num_kernels(), 0);
}

struct InvalidProfileCase {
  std::string name;
  std::function<void(v1::Profile&)> mutate;
  std::vector<std::string> substrings;
};

std::vector<InvalidProfileCase> InvalidProfileCases() {
  std::vector<InvalidProfileCase> cases;
  // Every bandwidth field, each bad value.
  using Setter = void (v1::CopyBandwidths::*)(double);
  const std::pair<const char*, Setter> fields[] = {
      {"slow_to_fast_sync_gb_per_s",
       &v1::CopyBandwidths::set_slow_to_fast_sync_gb_per_s},
      {"fast_to_slow_sync_gb_per_s",
       &v1::CopyBandwidths::set_fast_to_slow_sync_gb_per_s},
      {"slow_to_fast_async_gb_per_s",
       &v1::CopyBandwidths::set_slow_to_fast_async_gb_per_s},
      {"fast_to_slow_async_gb_per_s",
       &v1::CopyBandwidths::set_fast_to_slow_async_gb_per_s}};
  const std::pair<const char*, double> values[] = {
      {"Zero", 0.0},
      {"Negative", -1.0},
      {"NaN", kNaN},
      {"Inf", kInf},
      // Finite but absurd (issue 18): CBC aborts on the copy times these
      // give.
      {"Tiny", 1e-300},
      {"BelowMinimum", 0.999e-3},
      {"AboveMaximum", 1.001e6},
      {"Huge", 1e300}};
  for (const auto& [field, setter] : fields) {
    for (const auto& [value_name, value] : values) {
      cases.push_back({absl::StrCat("Bandwidth_", field, "_", value_name),
                       [setter = setter, value = value](v1::Profile& p) {
                         (p.mutable_bandwidths()->*setter)(value);
                       },
                       {absl::StrCat("profile bandwidths.", field, " is "),
                        "bandwidths must be finite numbers of GB/s between "
                        "0.001 and 1e+06"}});
    }
  }
  cases.push_back({"MissingBandwidths",
                   [](v1::Profile& p) { p.clear_bandwidths(); },
                   {"bandwidths.slow_to_fast_sync_gb_per_s is 0"}});

  std::vector<InvalidProfileCase> kernel_cases = {
      {"MissingSignature",
       [](v1::Profile& p) { p.mutable_kernels(1)->clear_signature(); },
       {"profile kernel #1 has no signature"}},
      {"SignatureWithEmptyOp",
       [](v1::Profile& p) {
         p.mutable_kernels(0)->mutable_signature()->set_op("");
       },
       {"profile kernel #0 has no signature"}},
      {"BothTableAndSeparable",
       [](v1::Profile& p) {
         p.mutable_kernels(0)->mutable_separable()->set_all_fast_time_us(1);
       },
       {"profile kernel " + MulKey() + ":",
        "has both a configuration table and a separable cost"}},
      {"BothTableAndEmptySeparable",
       [](v1::Profile& p) { p.mutable_kernels(0)->mutable_separable(); },
       {"profile kernel " + MulKey() + ":", "has both"}},
      {"NeitherTableNorSeparable",
       [](v1::Profile& p) { p.mutable_kernels(0)->clear_configs(); },
       {"profile kernel " + MulKey() + ":",
        "has neither a configuration table nor a separable cost"}},
      {"TableWithTooManyOperands",
       [](v1::Profile& p) {
         v1::KernelProfile* entry = p.add_kernels();
         *entry->mutable_signature() = Signature("wide", kMaxTableOperands, 1);
         AddConfig(entry, std::string(kMaxTableOperands, 'F') + "|F", 1);
       },
       {SignatureKey(Signature("wide", kMaxTableOperands, 1)),
        absl::StrCat("has ", kMaxTableOperands + 1, " operands"),
        absl::StrCat("limited to ", kMaxTableOperands, " operands"),
        "use a separable cost"}},
      {"MalformedConfigNoBar",
       [](v1::Profile& p) { AddConfig(p.mutable_kernels(0), "FFS", 1); },
       {"profile kernel " + MulKey() + ":", "\"FFS\"", "has no '|'"}},
      {"MalformedConfigWrongCounts",
       [](v1::Profile& p) { AddConfig(p.mutable_kernels(0), "S|S", 1); },
       {"profile kernel " + MulKey() + ":",
        "has 1 inputs and 1 outputs; the kernel has 2 and 1"}},
      {"MalformedConfigBadLetter",
       [](v1::Profile& p) { AddConfig(p.mutable_kernels(0), "SQ|S", 1); },
       {"profile kernel " + MulKey() + ":", "has 'Q'"}},
      {"NegativeTime",
       [](v1::Profile& p) {
         p.mutable_kernels(0)->mutable_configs(1)->set_time_us(-1);
       },
       {"profile kernel " + MulKey() + ":", "configuration FF|F time is -1 us",
        "kernel times must be finite, >= 0 and at most 1e+10 us"}},
      {"NaNTime",
       [](v1::Profile& p) {
         p.mutable_kernels(0)->mutable_configs(0)->set_time_us(kNaN);
       },
       {"configuration SS|S time is nan us", "kernel times must be finite"}},
      {"InfTime",
       [](v1::Profile& p) {
         p.mutable_kernels(0)->mutable_configs(2)->set_time_us(kInf);
       },
       {"configuration FS|F time is inf us", "kernel times must be finite"}},
      // Finite but absurd (issue 18): Clp asserted |objective| < 1e25 and
      // aborted the process on this.
      {"HugeTime",
       [](v1::Profile& p) {
         p.mutable_kernels(0)->mutable_configs(2)->set_time_us(1e308);
       },
       {"profile kernel " + MulKey() + ":",
        "configuration FS|F time is 1e+308 us", "at most 1e+10 us"}},
      {"TimeJustAboveMaximum",
       [](v1::Profile& p) {
         p.mutable_kernels(0)->mutable_configs(2)->set_time_us(1.0001e10);
       },
       {"configuration FS|F time is 1.0001e+10 us"}},
      {"DuplicateConfig",
       [](v1::Profile& p) { AddConfig(p.mutable_kernels(0), "FS|F", 99); },
       {"profile kernel " + MulKey() + ":",
        "configuration FS|F is listed twice"}},
      {"DuplicateSignature",
       [](v1::Profile& p) { *p.add_kernels() = p.kernels(0); },
       {"profile kernel " + MulKey() + ":", "appears twice in the profile"}},
      {"DuplicateSignatureTableThenSeparable",
       [](v1::Profile& p) {
         v1::KernelProfile* entry = p.add_kernels();
         *entry = p.kernels(1);
         *entry->mutable_signature() = p.kernels(0).signature();
         entry->mutable_separable()->clear_input_slow_penalty_us();
         entry->mutable_separable()->add_input_slow_penalty_us(1);
         entry->mutable_separable()->add_input_slow_penalty_us(1);
       },
       {"profile kernel " + MulKey() + ":", "appears twice in the profile"}},
      {"SeparableInputPenaltyCountMismatch",
       [](v1::Profile& p) {
         p.mutable_kernels(1)
             ->mutable_separable()
             ->mutable_input_slow_penalty_us()
             ->RemoveLast();
       },
       {"profile kernel " + SumKey() + ":",
        "separable cost has 2 input and 1 output penalties for 3 inputs and 1 "
        "outputs"}},
      {"SeparableOutputPenaltyCountMismatch",
       [](v1::Profile& p) {
         p.mutable_kernels(1)->mutable_separable()->add_output_slow_penalty_us(
             1);
       },
       {"separable cost has 3 input and 2 output penalties for 3 inputs and 1 "
        "outputs"}},
      {"NegativeInputPenalty",
       [](v1::Profile& p) {
         p.mutable_kernels(1)->mutable_separable()->set_input_slow_penalty_us(
             2, -0.5);
       },
       {"profile kernel " + SumKey() + ":",
        "separable slow penalty of operand 2 is -0.5 us",
        "kernel times must be finite, >= 0"}},
      {"NegativeOutputPenalty",
       [](v1::Profile& p) {
         p.mutable_kernels(1)->mutable_separable()->set_output_slow_penalty_us(
             0, -1);
       },
       {"separable slow penalty of operand 3 is -1 us"}},
      {"NaNPenalty",
       [](v1::Profile& p) {
         p.mutable_kernels(1)->mutable_separable()->set_input_slow_penalty_us(
             0, kNaN);
       },
       {"separable slow penalty of operand 0 is nan us"}},
      {"HugePenalty",
       [](v1::Profile& p) {
         p.mutable_kernels(1)->mutable_separable()->set_input_slow_penalty_us(
             1, 1e200);
       },
       {"separable slow penalty of operand 1 is 1e+200 us",
        "at most 1e+10 us"}},
      {"NegativeAllFastTime",
       [](v1::Profile& p) {
         p.mutable_kernels(1)->mutable_separable()->set_all_fast_time_us(-3);
       },
       {"profile kernel " + SumKey() + ":",
        "separable all_fast_time_us is -3 us"}},
      {"InfAllFastTime",
       [](v1::Profile& p) {
         p.mutable_kernels(1)->mutable_separable()->set_all_fast_time_us(kInf);
       },
       {"separable all_fast_time_us is inf us"}},
      {"HugeAllFastTime",
       [](v1::Profile& p) {
         p.mutable_kernels(1)->mutable_separable()->set_all_fast_time_us(1e20);
       },
       {"separable all_fast_time_us is 1e+20 us", "at most 1e+10 us"}},
  };
  for (InvalidProfileCase& c : kernel_cases) cases.push_back(std::move(c));
  return cases;
}

class InvalidProfileTest : public ::testing::TestWithParam<InvalidProfileCase> {
};

TEST_P(InvalidProfileTest, ReportsCodeAndMessage) {
  const InvalidProfileCase& c = GetParam();
  v1::Profile profile = BaseProfile();
  c.mutate(profile);
  absl::StatusOr<ProfileModel> model = ProfileModel::Create(profile);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument)
      << model.status();
  for (const std::string& substring : c.substrings) {
    EXPECT_THAT(model.status().message(), HasSubstr(substring));
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllRules, InvalidProfileTest, ::testing::ValuesIn(InvalidProfileCases()),
    [](const ::testing::TestParamInfo<InvalidProfileCase>& info) {
      return info.param.name;
    });

TEST(ProfileModelCreateTest, BandwidthErrorNamesOnlyTheBadField) {
  v1::Profile profile = BaseProfile();
  profile.mutable_bandwidths()->set_slow_to_fast_async_gb_per_s(-2);
  absl::StatusOr<ProfileModel> model = ProfileModel::Create(profile);
  ASSERT_FALSE(model.ok());
  EXPECT_THAT(model.status().message(),
              HasSubstr("slow_to_fast_async_gb_per_s is -2"));
  EXPECT_THAT(model.status().message(),
              Not(HasSubstr("slow_to_fast_sync_gb_per_s")));
}

TEST(ProfileModelCreateTest, DuplicateSignatureWithReorderedAttributes) {
  v1::Profile profile = BaseProfile();
  v1::KernelSignature first = Signature("attr", 1, 1);
  (*first.mutable_attributes())["a"] = "1";
  (*first.mutable_attributes())["b"] = "2";
  (*first.mutable_attributes())["c"] = "3";
  v1::KernelSignature second = Signature("attr", 1, 1);
  (*second.mutable_attributes())["c"] = "3";
  (*second.mutable_attributes())["b"] = "2";
  (*second.mutable_attributes())["a"] = "1";
  for (const v1::KernelSignature* signature : {&first, &second}) {
    v1::KernelProfile* entry = profile.add_kernels();
    *entry->mutable_signature() = *signature;
    AddConfig(entry, "F|F", 1);
  }
  absl::StatusOr<ProfileModel> model = ProfileModel::Create(profile);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(model.status().message(),
              HasSubstr("attr(f32[1])->(f32[100]){a=1,b=2,c=3}: appears "
                        "twice in the profile"));
}

TEST(ProfileModelCreateTest, TableAtTheOperandLimitIsAccepted) {
  v1::Profile profile = BaseProfile();
  v1::KernelProfile* entry = profile.add_kernels();
  *entry->mutable_signature() = Signature("wide", kMaxTableOperands - 1, 1);
  AddConfig(entry, std::string(kMaxTableOperands - 1, 'S') + "|F", 3);
  absl::StatusOr<ProfileModel> model = ProfileModel::Create(profile);
  ASSERT_TRUE(model.ok()) << model.status();
  const KernelCost* cost =
      model->Find(SignatureKey(Signature("wide", kMaxTableOperands - 1, 1)));
  ASSERT_NE(cost, nullptr);
  EXPECT_EQ(cost->TimeUs((ConfigMask{1} << (kMaxTableOperands - 1)) - 1), 3);
  EXPECT_EQ(cost->TimeUs(0), std::nullopt);
}

TEST(ProfileModelCreateTest, SeparableMayHaveManyOperands) {
  v1::Profile profile = BaseProfile();
  v1::KernelProfile* entry = profile.add_kernels();
  *entry->mutable_signature() = Signature("concat", 40, 1);
  v1::SeparableCost* cost = entry->mutable_separable();
  cost->set_all_fast_time_us(5);
  for (int i = 0; i < 40; ++i) cost->add_input_slow_penalty_us(1);
  cost->add_output_slow_penalty_us(100);
  absl::StatusOr<ProfileModel> model = ProfileModel::Create(profile);
  ASSERT_TRUE(model.ok()) << model.status();
  const KernelCost* found =
      model->Find(SignatureKey(Signature("concat", 40, 1)));
  ASSERT_NE(found, nullptr);
  EXPECT_TRUE(found->separable());
  EXPECT_EQ(found->num_inputs(), 40);
  // Inputs 0 and 39 and the output (position 40) slow.
  const ConfigMask mask =
      ConfigMask{1} | ConfigMask{1} << 39 | ConfigMask{1} << 40;
  EXPECT_EQ(found->TimeUs(mask), 5 + 1 + 1 + 100);
}

// BUG (solver/profile_model.cc, ProfileModel::Create / KernelCost::TimeUs):
// Create accepts a separable cost with more than 64 operands (the table limit
// kMaxTableOperands does not apply to separable costs and there is no other
// cap), but a ConfigMask has only 64 bits: TimeUs evaluates `mask >> p` for
// p >= 64, which is undefined behaviour (on x86-64 the shift count wraps mod
// 64). Input: separable "huge" with 65 inputs (penalty 1 each, 1000 for input
// #64) and 1 output (penalty 10000), all_fast_time_us 5. Expected:
// TimeUs(0b1) == 6 and TimeUs(0b10) == 6 (only operand 0 resp. 1 is slow), or
// Create rejecting the profile with InvalidArgument. Actual: Create succeeds,
// TimeUs(0b1) == 1006 and TimeUs(0b10) == 10006 (operands 64 and 65 are
// counted as slow too). schedule.cc and verifier.cc build masks with
// `ConfigMask{1} << p` for such kernels, which has the same problem.
// Disabled until fixed; it accepts either fix.
TEST(KernelCostTest, SeparableCostWithMoreThan63OperandsIsExact) {
  // DenseNet's concatenations have more operands than a 64-bit mask holds:
  // the per-operand API must price them exactly, and the mask API refuse.
  v1::Profile profile = BaseProfile();
  v1::KernelProfile* entry = profile.add_kernels();
  *entry->mutable_signature() = Signature("huge", 65, 1);
  v1::SeparableCost* cost = entry->mutable_separable();
  cost->set_all_fast_time_us(5);
  for (int i = 0; i < 65; ++i) {
    cost->add_input_slow_penalty_us(i < 64 ? 1 : 1000);
  }
  cost->add_output_slow_penalty_us(10000);
  absl::StatusOr<ProfileModel> model = ProfileModel::Create(profile);
  ASSERT_TRUE(model.ok()) << model.status();
  const KernelCost* found = model->Find(SignatureKey(Signature("huge", 65, 1)));
  ASSERT_NE(found, nullptr);
  std::vector<bool> slow(66, false);
  EXPECT_EQ(found->TimeUs(slow), 5);
  slow[0] = true;
  EXPECT_EQ(found->TimeUs(slow), 6);
  slow[0] = false;
  slow[64] = true;
  EXPECT_EQ(found->TimeUs(slow), 1005);
  slow[65] = true;
  EXPECT_EQ(found->TimeUs(slow), 11005);
  EXPECT_EQ(found->TimeUs(std::vector<bool>(3, false)), std::nullopt);
  EXPECT_EQ(found->TimeUs(ConfigMask{1}), std::nullopt);
}

TEST(ProfileModelCreateTest, ZeroTimesAreAllowed) {
  v1::Profile profile = BaseProfile();
  profile.mutable_kernels(0)->mutable_configs(0)->set_time_us(0);
  profile.mutable_kernels(1)->mutable_separable()->set_all_fast_time_us(0);
  profile.mutable_kernels(1)->mutable_separable()->set_input_slow_penalty_us(0,
                                                                             0);
  absl::StatusOr<ProfileModel> model = ProfileModel::Create(profile);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->Find(MulKey())->TimeUs(0b111), 0);
  EXPECT_EQ(model->Find(SumKey())->TimeUs(0b0001), 0);
}

// ----- KernelCost -----

TEST(KernelCostTest, TableIsSortedByMask) {
  const ProfileModel model = MustProfile(BaseProfile());
  const KernelCost* cost = model.Find(MulKey());
  ASSERT_NE(cost, nullptr);
  EXPECT_FALSE(cost->separable());
  EXPECT_EQ(cost->num_inputs(), 2);
  EXPECT_EQ(cost->num_outputs(), 1);
  EXPECT_THAT(cost->table(),
              ElementsAre(Pair(0b000u, 10.0), Pair(0b001u, 12.5),
                          Pair(0b010u, 15.0), Pair(0b111u, 40.0)));
}

TEST(KernelCostTest, TableLookups) {
  const ProfileModel model = MustProfile(BaseProfile());
  const KernelCost* cost = model.Find(MulKey());
  ASSERT_NE(cost, nullptr);
  EXPECT_EQ(cost->TimeUs(0b000), 10.0);  // FF|F
  EXPECT_EQ(cost->TimeUs(0b001), 12.5);  // SF|F
  EXPECT_EQ(cost->TimeUs(0b010), 15.0);  // FS|F
  EXPECT_EQ(cost->TimeUs(0b111), 40.0);  // SS|S
  // Configurations the table lacks.
  EXPECT_EQ(cost->TimeUs(0b011), std::nullopt);  // SS|F
  EXPECT_EQ(cost->TimeUs(0b100), std::nullopt);  // FF|S
  EXPECT_EQ(cost->TimeUs(0b110), std::nullopt);  // FS|S
  // Past the last entry and outside the operand range.
  EXPECT_EQ(cost->TimeUs(0b1000), std::nullopt);
  EXPECT_EQ(cost->TimeUs(~ConfigMask{0}), std::nullopt);
}

TEST(KernelCostTest, SeparableSumsPenaltiesOfSlowOperands) {
  const ProfileModel model = MustProfile(BaseProfile());
  const KernelCost* cost = model.Find(SumKey());
  ASSERT_NE(cost, nullptr);
  EXPECT_TRUE(cost->separable());
  EXPECT_EQ(cost->num_inputs(), 3);
  EXPECT_EQ(cost->num_outputs(), 1);
  EXPECT_TRUE(cost->table().empty());
  EXPECT_EQ(cost->all_fast_time_us(), 100);
  EXPECT_THAT(cost->slow_penalty_us(), ElementsAre(1, 2, 4, 8));
  // Penalties are powers of two, so time = 100 + mask.
  for (ConfigMask mask = 0; mask < 16; ++mask) {
    EXPECT_EQ(cost->TimeUs(mask), 100.0 + static_cast<double>(mask)) << mask;
  }
}

TEST(KernelCostTest, FullTableProfileMatchesItsTimingFunction) {
  const GraphModel graph =
      MustGraph(GraphBuilder("g")
                    .Tensor("x", 64, v1::TENSOR_ROLE_INPUT)
                    .Tensor("w", 128, v1::TENSOR_ROLE_WEIGHT)
                    .Tensor("a", 256)
                    .Kernel("k0", {"x", "w"}, {"a"})
                    .Kernel("k1", {"a", "a"}, {})
                    .graph());
  auto time = [](int kernel, ConfigMask mask) {
    return 1000.0 * kernel + static_cast<double>(mask);
  };
  const ProfileModel profile = MustProfile(FullTableProfile(graph, time));
  ASSERT_TRUE(CheckCoverage(graph, profile).ok());
  for (int k = 0; k < graph.num_kernels(); ++k) {
    const KernelCost* cost = profile.Find(graph.kernel(k).signature_key);
    ASSERT_NE(cost, nullptr);
    const int n = static_cast<int>(graph.kernel(k).operands.size());
    EXPECT_EQ(cost->table().size(), size_t{1} << n);
    for (ConfigMask mask = 0; mask < (ConfigMask{1} << n); ++mask) {
      EXPECT_EQ(cost->TimeUs(mask), time(k, mask));
    }
  }
}

// ----- Table collapse -----

// A one-kernel profile, "k" with `inputs` and `outputs` operands, listing
// the configurations for which `time_us` gives a time.
v1::Profile OneTableProfile(
    int inputs, int outputs,
    const std::function<std::optional<double>(ConfigMask)>& time_us) {
  v1::Profile profile;
  profile.mutable_host_class()->set_name("collapse-test");
  *profile.mutable_bandwidths() = OptaneBandwidths();
  v1::KernelProfile* entry = profile.add_kernels();
  *entry->mutable_signature() = Signature("k", inputs, outputs);
  for (ConfigMask mask = 0; mask < (ConfigMask{1} << (inputs + outputs));
       ++mask) {
    if (std::optional<double> time = time_us(mask)) {
      AddConfig(entry, FormatConfig(mask, inputs, outputs), *time);
    }
  }
  return profile;
}

const KernelCost& OnlyCost(const ProfileModel& model, int inputs, int outputs) {
  const KernelCost* cost =
      model.Find(SignatureKey(Signature("k", inputs, outputs)));
  EXPECT_NE(cost, nullptr);
  return *cost;
}

// base + the penalties of the slow operands: an exactly separable table.
double Separable(ConfigMask mask, double base,
                 const std::vector<double>& penalties) {
  double time = base;
  for (size_t p = 0; p < penalties.size(); ++p) {
    if (mask >> p & 1) time += penalties[p];
  }
  return time;
}

TEST(TableCollapseTest, ExactlySeparableTableBecomesItsSeparableCost) {
  // Batch-norm backward's shape: 10 operands, 1,024 configurations.
  const std::vector<double> penalties = {3.25, 0.1, 7,   0,  1.5,
                                         2,    11,  0.3, 40, 0.7};
  const v1::Profile proto = OneTableProfile(7, 3, [&](ConfigMask mask) {
    return std::optional<double>(Separable(mask, 123.456, penalties));
  });
  for (const TableCollapseOptions& options :
       {TableCollapseOptions(), TableCollapseOptions::ExactOnly()}) {
    const ProfileModel model = MustProfile(proto, options);
    const KernelCost& cost = OnlyCost(model, 7, 3);
    EXPECT_TRUE(cost.separable());
    EXPECT_TRUE(cost.collapsed());
    EXPECT_TRUE(cost.table().empty());
    EXPECT_LT(cost.collapse_residual_us(), 1e-9);
    EXPECT_NEAR(cost.all_fast_time_us(), 123.456, 1e-9);
    ASSERT_EQ(cost.slow_penalty_us().size(), penalties.size());
    for (size_t p = 0; p < penalties.size(); ++p) {
      EXPECT_NEAR(cost.slow_penalty_us()[p], penalties[p], 1e-9) << p;
      EXPECT_FALSE(cost.OnlyFast(static_cast<int>(p)));
    }
    for (ConfigMask mask = 0; mask < 1024; ++mask) {
      ASSERT_TRUE(cost.TimeUs(mask).has_value());
      EXPECT_NEAR(*cost.TimeUs(mask), Separable(mask, 123.456, penalties),
                  1e-9);
    }
    // No operand past the last, as in the table.
    EXPECT_EQ(cost.TimeUs(ConfigMask{1024}), std::nullopt);
  }
}

TEST(TableCollapseTest, DisabledKeepsEveryTable) {
  const v1::Profile proto = OneTableProfile(2, 1, [](ConfigMask mask) {
    return std::optional<double>(10.0 + static_cast<double>(mask));
  });
  const ProfileModel model =
      MustProfile(proto, TableCollapseOptions::Disabled());
  EXPECT_FALSE(model.table_collapse().enabled);
  const KernelCost& cost = OnlyCost(model, 2, 1);
  EXPECT_FALSE(cost.separable());
  EXPECT_FALSE(cost.collapsed());
  EXPECT_EQ(cost.table().size(), 8u);
}

TEST(TableCollapseTest, CreateCollapsesByDefault) {
  const v1::Profile proto = OneTableProfile(2, 1, [](ConfigMask mask) {
    return std::optional<double>(10.0 + static_cast<double>(mask));
  });
  absl::StatusOr<ProfileModel> model = ProfileModel::Create(proto);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_TRUE(model->table_collapse().enabled);
  EXPECT_EQ(model->table_collapse().relative_tolerance, 0.01);
  EXPECT_EQ(model->table_collapse().absolute_tolerance_us, 0.5);
  EXPECT_TRUE(OnlyCost(*model, 2, 1).collapsed());
}

// 100 us all fast, 50 per slow operand, plus `noise` on the configurations
// with an odd number of slow operands (a 3-factor interaction: orthogonal to
// every main effect, so the fit keeps 100 / 50 and the residual is exactly
// `noise`).
v1::Profile NoisyProfile(double noise) {
  return OneTableProfile(2, 1, [noise](ConfigMask mask) {
    return std::optional<double>(100.0 + 50.0 * std::popcount(mask) +
                                 (std::popcount(mask) % 2 ? noise : -noise));
  });
}

TEST(TableCollapseTest, NearlySeparableWithinToleranceCollapses) {
  // 1% of the 100 us all-fast time is 1 us.
  for (double noise : {0.2, 0.5, 0.9}) {
    const ProfileModel model = MustProfile(NoisyProfile(noise), {});
    const KernelCost& cost = OnlyCost(model, 2, 1);
    ASSERT_TRUE(cost.collapsed()) << noise;
    EXPECT_NEAR(cost.collapse_residual_us(), noise, 1e-9);
    EXPECT_NEAR(cost.all_fast_time_us(), 100, 1e-9);
    EXPECT_THAT(cost.slow_penalty_us(),
                ElementsAre(::testing::DoubleNear(50, 1e-9),
                            ::testing::DoubleNear(50, 1e-9),
                            ::testing::DoubleNear(50, 1e-9)));
    // Priced by the fit, not the table.
    EXPECT_NEAR(*cost.TimeUs(0b001), 150, 1e-9);
    // Exact only: the same table stays a table.
    EXPECT_FALSE(OnlyCost(MustProfile(NoisyProfile(noise),
                                      TableCollapseOptions::ExactOnly()),
                          2, 1)
                     .collapsed());
  }
}

TEST(TableCollapseTest, OutsideToleranceStaysATable) {
  const ProfileModel model = MustProfile(NoisyProfile(1.1), {});
  const KernelCost& cost = OnlyCost(model, 2, 1);
  EXPECT_FALSE(cost.collapsed());
  EXPECT_FALSE(cost.separable());
  EXPECT_EQ(cost.table().size(), 8u);
  EXPECT_NEAR(*cost.TimeUs(0b001), 151.1, 1e-9);
  // A custom tolerance admits it.
  TableCollapseOptions loose;
  loose.relative_tolerance = 0.02;
  EXPECT_TRUE(
      OnlyCost(MustProfile(NoisyProfile(1.1), loose), 2, 1).collapsed());
}

TEST(TableCollapseTest, AbsoluteToleranceCoversShortKernels) {
  // 2 us all fast: 1% is 0.02 us, but timings this short carry ~0.5 us of
  // noise.
  auto profile = [](double noise) {
    return OneTableProfile(1, 1, [noise](ConfigMask mask) {
      return std::optional<double>(
          2.0 + 3.0 * std::popcount(mask) +
          (mask == 0b11 || mask == 0 ? noise : -noise));
    });
  };
  EXPECT_TRUE(OnlyCost(MustProfile(profile(0.4), {}), 1, 1).collapsed());
  EXPECT_FALSE(OnlyCost(MustProfile(profile(0.6), {}), 1, 1).collapsed());
}

TEST(TableCollapseTest, NegativeEffectsAreClampedAtZero) {
  // A slow input that makes the kernel 0.4 us faster (noise, within the
  // 1 us tolerance): penalty 0, not -0.4.
  auto profile = [](double input_effect) {
    return OneTableProfile(1, 1, [input_effect](ConfigMask mask) {
      return std::optional<double>(100.0 + ((mask & 1) ? input_effect : 0) +
                                   ((mask & 2) ? 30.0 : 0));
    });
  };
  const ProfileModel small = MustProfile(profile(-0.4), {});
  const KernelCost& cost = OnlyCost(small, 1, 1);
  ASSERT_TRUE(cost.collapsed());
  EXPECT_EQ(cost.slow_penalty_us()[0], 0);
  EXPECT_NEAR(cost.slow_penalty_us()[1], 30, 1e-9);
  // The intercept refits to the mean: 100 - 0.2.
  EXPECT_NEAR(cost.all_fast_time_us(), 99.8, 1e-9);
  EXPECT_NEAR(cost.collapse_residual_us(), 0.2, 1e-9);
  for (ConfigMask mask = 0; mask < 4; ++mask) {
    EXPECT_GE(*cost.TimeUs(mask), *cost.TimeUs(0)) << mask;
  }
  // A real speed-up, beyond the tolerance, keeps the table (and with it
  // the faster slow configuration).
  EXPECT_FALSE(OnlyCost(MustProfile(profile(-5), {}), 1, 1).collapsed());
}

TEST(TableCollapseTest, OperandsNeverListedSlowStayFastOnly) {
  // PyTorch ops without an out= overload: the output is only ever fast.
  // The inputs' combinations are all listed.
  const v1::Profile proto = OneTableProfile(2, 1, [](ConfigMask mask) {
    if (mask & 0b100) return std::optional<double>();
    return std::optional<double>(10.0 + 2.0 * (mask & 1) + 5.0 * (mask >> 1));
  });
  const ProfileModel model = MustProfile(proto, {});
  const KernelCost& cost = OnlyCost(model, 2, 1);
  ASSERT_TRUE(cost.collapsed());
  EXPECT_FALSE(cost.OnlyFast(0));
  EXPECT_FALSE(cost.OnlyFast(1));
  EXPECT_TRUE(cost.OnlyFast(2));
  EXPECT_EQ(cost.slow_penalty_us()[2], 0);
  for (ConfigMask mask = 0; mask < 8; ++mask) {
    if (mask & 0b100) {
      // Omitted from the table, so never choosable.
      EXPECT_EQ(cost.TimeUs(mask), std::nullopt) << mask;
      std::vector<bool> slow = {(mask & 1) != 0, (mask & 2) != 0, true};
      EXPECT_EQ(cost.TimeUs(slow), std::nullopt) << mask;
    } else {
      EXPECT_NEAR(*cost.TimeUs(mask),
                  10.0 + 2.0 * (mask & 1) + 5.0 * (mask >> 1), 1e-9);
    }
  }
}

TEST(TableCollapseTest, OmissionsASeparableCostCannotExpressKeepTheTable) {
  struct Case {
    const char* name;
    std::function<bool(ConfigMask)> listed;
  };
  const Case cases[] = {
      // Input 0 and the output alias (in place): configurations that split
      // them are omitted.
      {"aliased", [](ConfigMask m) { return (m & 1) == (m >> 2 & 1); }},
      // One configuration missing (a failed measurement).
      {"one missing", [](ConfigMask m) { return m != 0b011; }},
      // Never all slow.
      {"no all-slow", [](ConfigMask m) { return m != 0b111; }},
      // Only the all-fast configuration: nothing to collapse.
      {"all-fast only", [](ConfigMask m) { return m == 0; }},
  };
  for (const Case& c : cases) {
    const v1::Profile proto = OneTableProfile(2, 1, [&](ConfigMask mask) {
      return c.listed(mask) ? std::optional<double>(10.0 + mask)
                            : std::optional<double>();
    });
    const ProfileModel model = MustProfile(proto, {});
    const KernelCost& cost = OnlyCost(model, 2, 1);
    EXPECT_FALSE(cost.collapsed()) << c.name;
    for (ConfigMask mask = 0; mask < 8; ++mask) {
      EXPECT_EQ(cost.TimeUs(mask).has_value(), c.listed(mask))
          << c.name << " " << mask;
    }
  }
}

TEST(TableCollapseTest, GivenSeparableCostsAreNotCollapsed) {
  const ProfileModel model = MustProfile(BaseProfile(), {});
  const KernelCost* sum = model.Find(SumKey());
  ASSERT_NE(sum, nullptr);
  EXPECT_TRUE(sum->separable());
  EXPECT_FALSE(sum->collapsed());
  // "mul" lists 4 of 8 configurations, not a product set: a table.
  EXPECT_FALSE(model.Find(MulKey())->collapsed());
}

TEST(TableCollapseTest, BadTolerancesAreInvalidArgument) {
  const std::pair<double, double> cases[] = {
      {-0.01, 0.5}, {0.01, -1}, {kNaN, 0.5}, {0.01, kInf}};
  for (const auto& [relative, absolute] : cases) {
    TableCollapseOptions options;
    options.relative_tolerance = relative;
    options.absolute_tolerance_us = absolute;
    absl::StatusOr<ProfileModel> model =
        ProfileModel::Create(BaseProfile(), options);
    EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(model.status().message(), HasSubstr("tolerances"));
  }
}

TEST(TableCollapseTest, SummaryCountsTheGraphsKernels) {
  const GraphModel graph = MustGraph(GraphBuilder("g")
                                         .Tensor("x", 64, v1::TENSOR_ROLE_INPUT)
                                         .Tensor("a", 64)
                                         .Tensor("b", 64)
                                         .Kernel("k0", {"x"}, {"a"})
                                         .Kernel("k1", {"a"}, {"b"})
                                         .graph());
  // k0 separable up to 0.25 us, k1 not at all.
  v1::Profile proto = FullTableProfile(graph, [](int k, ConfigMask mask) {
    if (k == 0) return 20.0 + 5.0 * std::popcount(mask) + (mask == 1 ? 1 : 0);
    return mask == 0b11 ? 100.0 : 10.0;
  });
  const ProfileModel model = MustProfile(proto, {});
  const TableCollapseSummary summary = SummarizeTableCollapse(graph, model);
  EXPECT_EQ(summary.collapsed_kernels, 1);
  EXPECT_EQ(summary.table_kernels, 1);
  EXPECT_NEAR(summary.max_residual_us, 0.25, 1e-9);
  const TableCollapseSummary off = SummarizeTableCollapse(
      graph, MustProfile(proto, TableCollapseOptions::Disabled()));
  EXPECT_EQ(off.collapsed_kernels, 0);
  EXPECT_EQ(off.table_kernels, 2);
  EXPECT_EQ(off.max_residual_us, 0);
}

// ----- Copy times -----

TEST(CopyTimeTest, OptaneBandwidths) {
  const ProfileModel model = MustProfile(BaseProfile());
  // 1 GB = 1e9 bytes; 1 s = 1e6 us.
  EXPECT_DOUBLE_EQ(model.SyncToFastUs(29'000'000'000), 1e6);  // 29 GB/s
  EXPECT_DOUBLE_EQ(model.SyncToSlowUs(12'000'000'000), 1e6);  // 12 GB/s
  EXPECT_DOUBLE_EQ(model.AsyncToFastUs(2'000'000'000), 1e6);  // 2 GB/s
  EXPECT_DOUBLE_EQ(model.AsyncToSlowUs(2'500'000'000), 1e6);  // 2.5 GB/s
  EXPECT_DOUBLE_EQ(model.SyncToFastUs(0), 0);
  EXPECT_DOUBLE_EQ(model.AsyncToSlowUs(0), 0);
}

TEST(CopyTimeTest, EachDirectionUsesItsOwnBandwidth) {
  v1::Profile profile = BaseProfile();
  v1::CopyBandwidths* bw = profile.mutable_bandwidths();
  bw->set_slow_to_fast_sync_gb_per_s(1);
  bw->set_fast_to_slow_sync_gb_per_s(2);
  bw->set_slow_to_fast_async_gb_per_s(4);
  bw->set_fast_to_slow_async_gb_per_s(8);
  const ProfileModel model = MustProfile(profile);
  const uint64_t bytes = 8'000'000;  // 8 MB
  EXPECT_DOUBLE_EQ(model.SyncToFastUs(bytes), 8000);
  EXPECT_DOUBLE_EQ(model.SyncToSlowUs(bytes), 4000);
  EXPECT_DOUBLE_EQ(model.AsyncToFastUs(bytes), 2000);
  EXPECT_DOUBLE_EQ(model.AsyncToSlowUs(bytes), 1000);
}

TEST(CopyTimeTest, LinearInBytes) {
  const ProfileModel model = MustProfile(BaseProfile());
  EXPECT_DOUBLE_EQ(model.SyncToFastUs(1) * 1e9,
                   model.SyncToFastUs(1'000'000'000));
  EXPECT_DOUBLE_EQ(model.AsyncToFastUs(1 << 20), (1 << 20) / 2e3);
}

// ----- CheckCoverage -----

TEST(CheckCoverageTest, OkWhenEverySignatureIsProfiled) {
  const GraphModel graph = MustGraph(GraphBuilder("g")
                                         .Tensor("x", 4, v1::TENSOR_ROLE_INPUT)
                                         .Tensor("a", 8)
                                         .Tensor("b", 8)
                                         .Kernel("k0", {"x"}, {"a"})
                                         .Kernel("k1", {"a", "x"}, {"b"})
                                         .graph());
  const ProfileModel profile =
      MustProfile(FullTableProfile(graph, [](int, ConfigMask) { return 1.0; }));
  EXPECT_TRUE(CheckCoverage(graph, profile).ok());
}

TEST(CheckCoverageTest, ExtraProfiledSignaturesAreFine) {
  const GraphModel graph = MustGraph(GraphBuilder("g")
                                         .Tensor("x", 4, v1::TENSOR_ROLE_INPUT)
                                         .Tensor("a", 8)
                                         .Kernel("k0", {"x"}, {"a"})
                                         .graph());
  v1::Profile proto =
      FullTableProfile(graph, [](int, ConfigMask) { return 1; });
  *proto.add_kernels() = BaseProfile().kernels(0);
  const ProfileModel profile = MustProfile(proto);
  EXPECT_TRUE(CheckCoverage(graph, profile).ok());
}

// Graph whose kernels k0..k{n-1} each read x and write their own tensor;
// kernels listed in `shared` get one common signature ("shared_op").
GraphModel ChainGraph(int n, const std::vector<int>& shared = {}) {
  GraphBuilder builder("chain");
  builder.Tensor("x", 4, v1::TENSOR_ROLE_INPUT);
  for (int k = 0; k < n; ++k) {
    builder.Tensor(absl::StrCat("t", k), 4);
    builder.Kernel(absl::StrCat("k", k), {"x"}, {absl::StrCat("t", k)});
  }
  v1::Graph graph = builder.graph();
  for (int k : shared) {
    v1::KernelSignature* signature =
        graph.mutable_kernels(k)->mutable_signature();
    signature->set_op("shared_op");
    signature->clear_attributes();
  }
  return MustGraph(graph);
}

std::string ChainKey(int k) {
  return absl::StrCat("test_op(f32[1])->(f32[1]){kernel=k", k, "}");
}

TEST(CheckCoverageTest, ListsEveryMissingSignatureOnceSorted) {
  // k1 and k3 share one signature; profile only k0 and k4.
  const GraphModel graph = ChainGraph(5, {1, 3});
  ASSERT_EQ(graph.kernel(1).signature_key, graph.kernel(3).signature_key);
  v1::Profile proto;
  proto.mutable_host_class()->set_name("host-a");
  *proto.mutable_bandwidths() = OptaneBandwidths();
  for (int k : {0, 4}) {
    v1::KernelProfile* entry = proto.add_kernels();
    v1::KernelSignature* signature = entry->mutable_signature();
    signature->set_op("test_op");
    (*signature->mutable_attributes())["kernel"] = absl::StrCat("k", k);
    signature->add_inputs()->add_dims(1);
    signature->mutable_inputs(0)->set_dtype(v1::DATA_TYPE_F32);
    signature->add_outputs()->add_dims(1);
    signature->mutable_outputs(0)->set_dtype(v1::DATA_TYPE_F32);
    AddConfig(entry, "F|F", 1);
  }
  const ProfileModel profile = MustProfile(proto);
  ASSERT_NE(profile.Find(ChainKey(0)), nullptr);
  ASSERT_NE(profile.Find(ChainKey(4)), nullptr);

  const absl::Status status = CheckCoverage(graph, profile);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  const std::string shared_key = "shared_op(f32[1])->(f32[1])";
  EXPECT_EQ(status.message(),
            absl::StrCat("profile 'host-a' lacks 2 kernel signature(s) of "
                         "graph 'chain':\n  ",
                         shared_key, "\n  ", ChainKey(2)));
  // Listed once each; sorted ("shared_op" < "test_op").
  const std::vector<std::string> lines = absl::StrSplit(status.message(), '\n');
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[1], "  " + shared_key);
  EXPECT_EQ(lines[2], "  " + ChainKey(2));
}

TEST(CheckCoverageTest, EmptyProfileListsAllSorted) {
  const GraphModel graph = ChainGraph(12);
  v1::Profile proto;
  proto.mutable_host_class()->set_name("empty");
  *proto.mutable_bandwidths() = OptaneBandwidths();
  const absl::Status status = CheckCoverage(graph, MustProfile(proto));
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(),
              HasSubstr("profile 'empty' lacks 12 kernel signature(s) of "
                        "graph 'chain'"));
  std::vector<std::string> lines = absl::StrSplit(status.message(), '\n');
  ASSERT_EQ(lines.size(), 13u);
  lines.erase(lines.begin());
  // Byte order of the keys: "k10}" < "k1}" because '0' < '}'.
  EXPECT_EQ(lines[0], "  " + ChainKey(0));
  EXPECT_EQ(lines[1], "  " + ChainKey(10));
  EXPECT_EQ(lines[2], "  " + ChainKey(11));
  EXPECT_EQ(lines[3], "  " + ChainKey(1));
  EXPECT_EQ(lines[4], "  " + ChainKey(2));
  EXPECT_TRUE(std::is_sorted(lines.begin(), lines.end()));
  EXPECT_THAT(status.message(), Not(HasSubstr("more")));
}

TEST(CheckCoverageTest, TwentyMissingAreAllShown) {
  const GraphModel graph = ChainGraph(20);
  v1::Profile proto;
  *proto.mutable_bandwidths() = OptaneBandwidths();
  const absl::Status status = CheckCoverage(graph, MustProfile(proto));
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("lacks 20 kernel signature(s)"));
  const std::vector<std::string> lines = absl::StrSplit(status.message(), '\n');
  EXPECT_EQ(lines.size(), 21u);
  EXPECT_THAT(status.message(), Not(HasSubstr("more")));
}

TEST(CheckCoverageTest, MoreThanTwentyMissingAreTruncated) {
  // 25 kernels; k0..k4 share one signature, so 21 distinct keys are missing.
  const GraphModel graph = ChainGraph(25, {0, 1, 2, 3, 4});
  v1::Profile proto;
  proto.mutable_host_class()->set_name("h");
  *proto.mutable_bandwidths() = OptaneBandwidths();
  const absl::Status status = CheckCoverage(graph, MustProfile(proto));
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(),
              HasSubstr("profile 'h' lacks 21 kernel signature(s) of graph "
                        "'chain'"));
  const std::vector<std::string> lines = absl::StrSplit(status.message(), '\n');
  // Header, 20 keys, the "... and N more" line.
  ASSERT_EQ(lines.size(), 22u);
  EXPECT_EQ(lines.back(), "  ... and 1 more");
  // Sorted: the shared key first, then k10, k11, ..., k24, k5, ... k8; the
  // last one in order (k9) is the one left out.
  EXPECT_EQ(lines[1], "  shared_op(f32[1])->(f32[1])");
  EXPECT_EQ(lines[2], "  " + ChainKey(10));
  EXPECT_EQ(lines[20], "  " + ChainKey(8));
  EXPECT_THAT(status.message(), Not(HasSubstr(ChainKey(9))));
}

TEST(CheckCoverageTest, ManyMissingReportsTheRemainder) {
  const GraphModel graph = ChainGraph(50);
  v1::Profile proto;
  *proto.mutable_bandwidths() = OptaneBandwidths();
  const absl::Status status = CheckCoverage(graph, MustProfile(proto));
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("lacks 50 kernel signature(s)"));
  EXPECT_THAT(status.message(), HasSubstr("\n  ... and 30 more"));
  const std::vector<std::string> lines = absl::StrSplit(status.message(), '\n');
  EXPECT_EQ(lines.size(), 22u);
}

}  // namespace
}  // namespace autotm::solver
