#include "client/common/units.h"

#include <cstdint>
#include <limits>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace autotm::client {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = kKiB * 1024;
constexpr uint64_t kGiB = kMiB * 1024;
constexpr uint64_t kTiB = kGiB * 1024;

struct BytesCase {
  const char* text;
  uint64_t bytes;
};

TEST(ParseBytesTest, AcceptsNumbersWithAndWithoutUnits) {
  const BytesCase kCases[] = {
      {"0", 0},
      {"123", 123},
      {"123B", 123},
      {"123 b", 123},
      {"  7  ", 7},
      {"4KiB", 4 * kKiB},
      {"4kib", 4 * kKiB},
      {"1.5MiB", 3 * kMiB / 2},
      {"24GiB", 24 * kGiB},
      {"24 GIB", 24 * kGiB},
      {"2TiB", 2 * kTiB},
      {"1PiB", kTiB * 1024},
      {"10GB", 10'000'000'000},
      {"10gb", 10'000'000'000},
      {"3MB", 3'000'000},
      {"2KB", 2'000},
      {"1TB", 1'000'000'000'000},
      {"0.1GB", 100'000'000},
      {".5KiB", 512},
      {"1.KiB", 1024},
      {"1.0B", 1},
      {"1.3KiB", 1331},  // 1331.2 rounds to the nearest byte
      {"18446744073709551615", std::numeric_limits<uint64_t>::max()},
      {"16383.999999999999PiB", 18446744073709551615u - 1125},
  };
  for (const BytesCase& c : kCases) {
    absl::StatusOr<uint64_t> bytes = ParseBytes(c.text);
    ASSERT_TRUE(bytes.ok()) << c.text << ": " << bytes.status();
    EXPECT_EQ(*bytes, c.bytes) << c.text;
  }
}

struct ErrorCase {
  const char* text;
  const char* message;  // a substring the error must contain
};

TEST(ParseBytesTest, RejectsBadTextNamingIt) {
  const ErrorCase kCases[] = {
      {"", "empty"},
      {"   ", "empty"},
      {"-5GiB", "must not be negative"},
      {"-0", "must not be negative"},
      {"+5", "expected a number first"},
      {"GiB", "expected a number first"},
      {"abc", "expected a number first"},
      {".", "expected a number first"},
      {"1e9", "unexpected characters after the number"},
      {"0x10", "unexpected characters after the number"},
      {"4G", "unknown unit \"G\""},
      {"5 GiB of RAM", "unexpected characters after the number"},
      {"1.2.3", "unexpected characters after the number"},
      {"5GiB!", "unexpected characters after the number"},
      {"1.5B", "must be a whole number"},
      {"1.5", "must be a whole number"},
      {"18446744073709551616", "too large"},
      {"99999999999999999999999", "too large"},
      {"16384PiB", "too large"},
      {"19000000TB", "too large"},
  };
  for (const ErrorCase& c : kCases) {
    absl::StatusOr<uint64_t> bytes = ParseBytes(c.text);
    ASSERT_FALSE(bytes.ok()) << c.text << " parsed as " << *bytes;
    EXPECT_EQ(bytes.status().code(), absl::StatusCode::kInvalidArgument)
        << c.text;
    EXPECT_THAT(bytes.status().message(),
                AllOf(HasSubstr(absl::StrCat("\"", c.text, "\"")),
                      HasSubstr(c.message)))
        << c.text;
  }
}

TEST(ParseBytesTest, UnknownUnitMessageTeachesBothFamilies) {
  absl::StatusOr<uint64_t> bytes = ParseBytes("4G");
  ASSERT_FALSE(bytes.ok());
  EXPECT_THAT(bytes.status().message(),
              AllOf(HasSubstr("GiB"), HasSubstr("GB"), HasSubstr("1024"),
                    HasSubstr("1000")));
}

struct BudgetCase {
  const char* text;
  uint64_t peak;
  uint64_t bytes;
};

TEST(ParseBudgetTest, AcceptsBytesAndPercentages) {
  const BudgetCase kCases[] = {
      {"24GiB", 0, 24 * kGiB},
      {"24GiB", kGiB, 24 * kGiB},  // a budget above the peak is allowed
      {"100%", 1000, 1000},
      {"50%", 1000, 500},
      {"20%", 10 * kGiB, 2 * kGiB},
      {"12.5%", 800, 100},
      {" 25 % ", 1000, 250},
      {"33%", 1000, 330},
      {"33.3333%", 1000, 333},  // rounded down: never more than asked
      {"0.0001%", 1000, 0},
      {"100%", std::numeric_limits<uint64_t>::max(),
       std::numeric_limits<uint64_t>::max()},
  };
  for (const BudgetCase& c : kCases) {
    absl::StatusOr<uint64_t> bytes = ParseBudget(c.text, c.peak);
    ASSERT_TRUE(bytes.ok()) << c.text << ": " << bytes.status();
    EXPECT_EQ(*bytes, c.bytes) << c.text;
  }
}

TEST(ParseBudgetTest, RejectsBadBudgetsNamingThem) {
  const ErrorCase kCases[] = {
      {"0%", "must be in (0, 1000]"},
      {"1000.5%", "must be in (0, 1000]"},
      {"2500%", "must be in (0, 1000]"},
      {"-5%", "must not be negative"},
      {"%", "empty"},
      {"5GiB%", "expected a percentage"},
      {"20%%", "unexpected characters"},
      {"lots", "may also be a percentage"},
      {"4G", "unknown unit"},
  };
  for (const ErrorCase& c : kCases) {
    absl::StatusOr<uint64_t> bytes = ParseBudget(c.text, 1000);
    ASSERT_FALSE(bytes.ok()) << c.text << " parsed as " << *bytes;
    EXPECT_EQ(bytes.status().code(), absl::StatusCode::kInvalidArgument)
        << c.text;
    EXPECT_THAT(bytes.status().message(),
                AllOf(HasSubstr(absl::StrCat("\"", c.text, "\"")),
                      HasSubstr(c.message)))
        << c.text;
  }
}

struct DurationCase {
  const char* text;
  double seconds;
};

TEST(ParseDurationTest, AcceptsUnitsAndPlainSeconds) {
  const DurationCase kCases[] = {
      {"60s", 60},      {"60", 60},    {"1.5s", 1.5}, {"500ms", 0.5},
      {"500 MS", 0.5},  {"2min", 120}, {"2m", 120},   {"1h", 3600},
      {"250us", 25e-5}, {"0", 0},      {"10sec", 10}, {".25", 0.25},
  };
  for (const DurationCase& c : kCases) {
    absl::StatusOr<double> seconds = ParseDuration(c.text);
    ASSERT_TRUE(seconds.ok()) << c.text << ": " << seconds.status();
    EXPECT_DOUBLE_EQ(*seconds, c.seconds) << c.text;
  }
}

TEST(ParseDurationTest, RejectsBadDurationsNamingThem) {
  const ErrorCase kCases[] = {
      {"", "empty"},
      {"-1s", "must not be negative"},
      {"soon", "expected a number first"},
      {"5 days", "unknown unit \"days\""},
      {"1e3s", "unexpected characters"},
      {"5s later", "unexpected characters"},
      {"inf", "expected a number first"},
  };
  for (const ErrorCase& c : kCases) {
    absl::StatusOr<double> seconds = ParseDuration(c.text);
    ASSERT_FALSE(seconds.ok()) << c.text << " parsed as " << *seconds;
    EXPECT_EQ(seconds.status().code(), absl::StatusCode::kInvalidArgument)
        << c.text;
    EXPECT_THAT(seconds.status().message(),
                AllOf(HasSubstr(absl::StrCat("\"", c.text, "\"")),
                      HasSubstr(c.message)))
        << c.text;
  }
}

TEST(FormatBytesTest, UsesLargestBinaryUnit) {
  EXPECT_EQ(FormatBytes(0), "0 B");
  EXPECT_EQ(FormatBytes(1023), "1023 B");
  EXPECT_EQ(FormatBytes(1024), "1.00 KiB");
  EXPECT_EQ(FormatBytes(3 * kGiB / 2), "1.50 GiB");
  EXPECT_EQ(FormatBytes(24 * kGiB), "24.00 GiB");
  EXPECT_EQ(FormatBytes(5 * kTiB), "5.00 TiB");
  EXPECT_EQ(FormatBytes(std::numeric_limits<uint64_t>::max() - 1), "16.00 EiB");
  // The value byte sums saturate at (issue 18: 16,385 tensors of 1 PiB
  // printed "1.00 PiB" when the sum wrapped).
  EXPECT_EQ(FormatBytes(std::numeric_limits<uint64_t>::max()),
            "more than 16 EiB (overflow)");
}

TEST(FormatBytesTest, RoundTripsThroughParseBytes) {
  absl::StatusOr<uint64_t> bytes = ParseBytes(FormatBytes(3 * kGiB / 2));
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(*bytes, 3 * kGiB / 2);
}

TEST(FormatDurationTest, PicksAReadableUnit) {
  EXPECT_EQ(FormatDuration(0), "0 us");
  EXPECT_EQ(FormatDuration(850e-6), "850 us");
  EXPECT_EQ(FormatDuration(0.0123), "12.3 ms");
  EXPECT_EQ(FormatDuration(4.561), "4.56 s");
  EXPECT_EQ(FormatDuration(125), "2 min 05 s");
  EXPECT_EQ(FormatDuration(3720), "1 h 02 min");
  EXPECT_EQ(FormatDuration(-1), "-1 s");
}

}  // namespace
}  // namespace autotm::client
