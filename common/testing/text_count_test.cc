#include "common/testing/text_count.h"

#include <string>

#include "gtest/gtest.h"

namespace autotm {
namespace {

using ::autotm::testing::CountOccurrences;

TEST(CountOccurrencesTest, CountsFromTheLeftWithoutOverlap) {
  EXPECT_EQ(CountOccurrences("<g><g/></g>", "<g"), 2);
  EXPECT_EQ(CountOccurrences("aaaaa", "aa"), 2);
  EXPECT_EQ(CountOccurrences("abcabc", "abc"), 2);
  EXPECT_EQ(CountOccurrences("abcabc", "cab"), 1);
}

TEST(CountOccurrencesTest, AbsentLongerOrEmptyNeedleIsZero) {
  EXPECT_EQ(CountOccurrences("svg", "path"), 0);
  EXPECT_EQ(CountOccurrences("ab", "abc"), 0);
  EXPECT_EQ(CountOccurrences("", "a"), 0);
  EXPECT_EQ(CountOccurrences("abc", ""), 0);
  EXPECT_EQ(CountOccurrences("", ""), 0);
}

TEST(CountOccurrencesTest, TakesStdStrings) {
  const std::string text = "x=1 x=2 y=3";
  const std::string needle = "x=";
  EXPECT_EQ(CountOccurrences(text, needle), 2);
}

}  // namespace
}  // namespace autotm
