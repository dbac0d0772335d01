// Tests of the --budgets list parser of `autotm sweep` (the command itself
// runs end to end in tests/e2e/sweep_test.sh).
#include "client/cli/cli_sweep.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "client/common/units.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace autotm::client {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kPeak = 1000 * kMiB + 12345;

uint64_t Percent(const char* text) { return *ParseBudget(text, kPeak); }

TEST(ParseBudgetListTest, ItemsAreBudgetsInAnyUnit) {
  absl::StatusOr<std::vector<uint64_t>> budgets =
      ParseBudgetList("10%, 512MiB,1GB,10%", kPeak);
  ASSERT_TRUE(budgets.ok()) << budgets.status();
  EXPECT_THAT(*budgets, ElementsAre(Percent("10%"), 512 * kMiB, 1000000000u,
                                    Percent("10%")));
}

TEST(ParseBudgetListTest, PercentRangesLandOnTheListsBytes) {
  absl::StatusOr<std::vector<uint64_t>> range =
      ParseBudgetList("10%:100%:10%", kPeak);
  absl::StatusOr<std::vector<uint64_t>> list =
      ParseBudgetList("10%,20%,30%,40%,50%,60%,70%,80%,90%,100%", kPeak);
  ASSERT_TRUE(range.ok() && list.ok());
  EXPECT_EQ(*range, *list);
  // STOP is left out when the steps skip it.
  EXPECT_THAT(*ParseBudgetList("10%:35%:10%", kPeak),
              ElementsAre(Percent("10%"), Percent("20%"), Percent("30%")));
}

TEST(ParseBudgetListTest, ByteRangesStepInBytes) {
  EXPECT_THAT(*ParseBudgetList("1MiB:3MiB:1MiB,8MiB", kPeak),
              ElementsAre(kMiB, 2 * kMiB, 3 * kMiB, 8 * kMiB));
  EXPECT_THAT(*ParseBudgetList("1MiB:2.5MiB:1MiB", kPeak),
              ElementsAre(kMiB, 2 * kMiB));
  // Mixed units step in bytes too.
  EXPECT_THAT(*ParseBudgetList("0.5GiB:1GiB:50%", kPeak).value().begin(),
              512 * kMiB);
}

TEST(ParseBudgetListTest, BadListsAreInvalidArgumentQuotingTheItem) {
  struct Case {
    const char* text;
    const char* says;
  };
  const Case cases[] = {
      {"", "empty item"},
      {"10%,,20%", "empty item"},
      {"10%,4G", "\"4G\""},
      {"10%:20%", "neither a budget nor a range"},
      {"10%:20%:0%", "zero step"},
      {"1MiB:2MiB:0", "zero step"},
      {"50%:10%:10%", "stops below its start"},
      {"10%:x:10%", "in range \"10%:x:10%\""},
      {"1B:100KiB:1B", "more than 1000 budgets"},
      {"0%", "\"0%\""},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::vector<uint64_t>> budgets =
        ParseBudgetList(c.text, kPeak);
    EXPECT_EQ(budgets.status().code(), absl::StatusCode::kInvalidArgument)
        << c.text;
    EXPECT_THAT(budgets.status().message(), HasSubstr(c.says)) << c.text;
  }
}

}  // namespace
}  // namespace autotm::client
